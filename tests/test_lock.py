"""One writer per report folder: the folder lock on its own, through run_reports and the CLI, and two
``analysis run`` processes on one folder at once."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from analysis import cli, lock, report
from analysis.lock import LOCK_FILE, FolderBusy, FolderLock, Holder

from test_report import tiny_notebook, write_config

#: Holds a folder's lock in another process until its stdin closes (or it is killed).
HOLD = ("import sys; from analysis.lock import FolderLock; held = FolderLock(sys.argv[1]).acquire(); "
        "print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path``'s lock; ended (stdin closed) after the test."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    yield process
    if process.poll() is None:
        process.stdin.close()
        process.wait(timeout=10)


def dead_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_lock_file_names_the_holder_while_held_and_is_removed_after(tmp_path):
    with FolderLock(tmp_path) as held:
        assert held.held
        written = lock.read_holder(tmp_path / LOCK_FILE)
        assert (written.pid, written.host) == (os.getpid(), socket.gethostname())
        assert abs(written.since - time.time()) < 60
    assert not held.held and not (tmp_path / LOCK_FILE).exists()


def test_no_wait_refuses_naming_the_running_process(tmp_path, holder):
    messages = []
    with pytest.raises(FolderBusy) as busy:
        FolderLock(tmp_path, wait=False, notify=messages.append).acquire()
    text = str(busy.value)
    assert f"in use by process {holder.pid} on {socket.gethostname()}, running since " in text
    assert text.endswith("; not waiting") and busy.value.holder.pid == holder.pid
    assert messages == []  # the refusal is the message
    assert (tmp_path / LOCK_FILE).exists()  # the holder's lock is left alone


def test_a_second_lock_in_the_same_process_is_refused_too(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(FolderBusy, match=f"process {os.getpid()} "):
            FolderLock(tmp_path, wait=False).acquire()


def test_waiting_says_so_once_and_takes_the_lock_when_released(tmp_path):
    first, messages = FolderLock(tmp_path).acquire(), []
    threading.Timer(1.0, first.release).start()
    started = time.monotonic()
    with FolderLock(tmp_path, notify=messages.append):
        waited = time.monotonic() - started
        assert lock.read_holder(tmp_path / LOCK_FILE).pid == os.getpid()
    assert waited >= 0.9
    assert len(messages) == 1 and messages[0].endswith("; waiting for it to finish")
    assert f"in use by process {os.getpid()} on " in messages[0]


def test_waiting_gives_up_after_the_timeout(tmp_path, holder):
    messages = []
    with pytest.raises(FolderBusy, match="gave up after 0.5 s"):
        FolderLock(tmp_path, timeout=0.5, notify=messages.append).acquire()
    assert len(messages) == 1


def test_a_stale_lock_of_a_process_that_is_gone_is_taken_over(tmp_path):
    gone = Holder(dead_pid(), socket.gethostname(), time.time() - 3600)
    (tmp_path / LOCK_FILE).write_text(gone.to_json())
    messages = []
    with FolderLock(tmp_path, wait=False, notify=messages.append):
        assert lock.read_holder(tmp_path / LOCK_FILE).pid == os.getpid()
    assert len(messages) == 1
    assert messages[0].startswith(f"taking over the stale lock on the report folder {tmp_path}: ")
    assert messages[0].endswith(f"{gone.describe()} is no longer running")
    assert not (tmp_path / LOCK_FILE).exists()


def test_the_lock_of_a_killed_run_is_taken_over(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    assert lock.read_holder(tmp_path / LOCK_FILE).pid == holder.pid  # left behind ...
    messages = []
    with FolderLock(tmp_path, wait=False, notify=messages.append):  # ... but not held
        pass
    assert messages and f"process {holder.pid} on " in messages[0] and "no longer running" in messages[0]


def test_an_empty_lock_file_is_simply_taken(tmp_path):
    (tmp_path / LOCK_FILE).write_text("")
    messages = []
    with FolderLock(tmp_path, wait=False, notify=messages.append):
        pass
    assert messages == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_the_lock_is_released_on_errors_and_interrupts(tmp_path, error):
    with pytest.raises(error):
        with FolderLock(tmp_path):
            raise error("stop")
    assert not (tmp_path / LOCK_FILE).exists()
    with FolderLock(tmp_path, wait=False):
        pass


def test_releasing_twice_or_unheld_does_nothing_and_taking_twice_is_an_error(tmp_path):
    held = FolderLock(tmp_path)
    held.release()
    held.acquire()
    with pytest.raises(RuntimeError, match="already held"):
        held.acquire()
    held.release()
    held.release()
    assert not (tmp_path / LOCK_FILE).exists()


def test_run_reports_and_the_cli_refuse_a_busy_folder_without_waiting(tmp_path, holder, capsys):
    config = write_config(tmp_path, "notebooks: [06_meta_analysis]\nvariants: {}\nsweeps: {}\n")
    with pytest.raises(FolderBusy, match=f"process {holder.pid} "):
        report.run_reports(config, output=tmp_path, wait=False)
    capsys.readouterr()
    assert cli.main(["run", "--config", str(config), "--output", str(tmp_path), "--no-wait"]) == cli.EXIT_BAD_INPUT == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: the report folder {tmp_path} is in use by process {holder.pid} on ")
    assert not (tmp_path / "manifest.json").exists() and not (tmp_path / ".staging").exists()


def test_the_run_command_waits_by_default():
    assert cli.build_parser().parse_args(["run"]).wait is True
    assert cli.build_parser().parse_args(["run", "--no-wait"]).wait is False


#: ``analysis run`` with the runner's notebooks taken from a folder (argv[1]); the rest of argv is the CLI's.
RUN = ("import sys; from pathlib import Path; from analysis import cli, report; "
       "report.config.NOTEBOOKS = Path(sys.argv[1]); sys.exit(cli.main(sys.argv[2:]))")


def test_two_runs_on_one_folder_take_turns_and_leave_every_page_whole(tmp_path):
    books, out, log, go = tmp_path / "notebooks", tmp_path / "out", tmp_path / "log.txt", tmp_path / "go"
    books.mkdir()
    # each kernel logs its runner (its parent process) and when it ran; the first run's kernels hold on until
    # the test has seen the second process wait for the lock (the file `go`), however loaded the machine
    for name in ("one", "two"):
        tiny_notebook(books / f"{name}.ipynb",
                      "import os, time\nstart = time.time()\n"
                      "while run == 1 and not os.path.exists(go) and time.time() - start < 120:\n"
                      "    time.sleep(0.1)\n"
                      "from analysis import report\nreport.record('run', run)\n"
                      "with open(log, 'a') as f:\n    f.write(f'{os.getppid()} {start} {time.time()}\\n')",
                      parameters="log = ''\ngo = ''\nrun = 0")

    def analysis_run(second: int) -> subprocess.Popen:
        """``analysis run`` of both notebooks; the second run changes notebook two (so it runs again)."""
        config = write_config(tmp_path / f"{second}", "variants: {}\nsweeps: {}\nnotebook_params: "
                              f"{{one: {{log: '{log}', go: '{go}', run: 1}}, two: {{log: '{log}', go: '{go}', run: {second}}}}}\n")
        return subprocess.Popen([sys.executable, "-c", RUN, str(books), "run", "--config", str(config),
                                 "--output", str(out), "--jobs", "2"], stderr=subprocess.PIPE, text=True,
                                stdout=subprocess.DEVNULL)

    (tmp_path / "1").mkdir(), (tmp_path / "2").mkdir()
    first = analysis_run(1)
    deadline = time.monotonic() + 30
    while lock.read_holder(out / LOCK_FILE) is None and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    assert lock.read_holder(out / LOCK_FILE).pid == first.pid
    second = analysis_run(2)
    seen = []  # the second process's messages up to its wait (it ends early, closing stderr, if it does not wait)
    while not seen or "waiting for it to finish" not in seen[-1]:
        line = second.stderr.readline()
        if not line:
            break
        seen.append(line)
    go.touch()
    (_, first_err), (_, rest) = first.communicate(timeout=180), second.communicate(timeout=180)
    second_err = "".join(seen) + rest
    assert (first.returncode, second.returncode) == (0, 0), first_err + second_err
    assert second_err.count("waiting for it to finish") == 1
    assert f"is in use by process {first.pid} on {socket.gethostname()}, running since " in second_err
    ran = {}
    for line in log.read_text().splitlines():
        pid, start, end = line.split()
        ran.setdefault(int(pid), []).append((float(start), float(end)))
    # the second run reruns two, and one as well if the package's source changed meanwhile
    assert set(ran) == {first.pid, second.pid} and len(ran[first.pid]) == 2 and len(ran[second.pid]) in (1, 2)
    assert max(end for _, end in ran[first.pid]) <= min(start for start, _ in ran[second.pid])  # took turns
    results = json.loads((out / "results.json").read_text())
    assert results == {"one": {"status": "ok", "values": {"run": 1}},
                       "two": {"status": "ok", "values": {"run": 2}}}
    assert set(json.loads((out / "manifest.json").read_text())) == {"one", "two"}
    index = (out / "index.html").read_text()
    assert 'href="one.html"' in index and 'href="two.html"' in index
    for page in ("index.html", "one.html", "two.html"):
        assert (out / page).read_text().rstrip().endswith("</html>"), page
    for name in ("one", "two"):
        assert json.loads((out / f"{name}.ipynb").read_text())["cells"]
    assert not (out / LOCK_FILE).exists() and not (out / ".staging").exists()
