"""A real Dask cluster: ``dask scheduler`` and ``dask worker`` processes (the ``distributed`` CLI) on
127.0.0.1 run ``analysis run --scheduler`` and ``analysis power --scheduler`` with the same results as
local runs; a worker killed during a run is survived (its report or trials rerun elsewhere); a report lost
with its workers fails alone, its last good page kept, and a power run whose trials are lost fails with a
clear message and writes nothing.

The processes have no dashboard, listen on free ports (the scheduler picks one and writes it to its
scheduler file) and are stopped when each test ends, whether it passed or not.
"""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace

import pytest
from distributed import Client

pytestmark = pytest.mark.slow

DASK = Path(sys.executable).with_name("dask")
#: Seconds to wait for the scheduler and its workers to come up.
START_TIMEOUT = 60
#: The same settings for the cluster's processes and the local runs (`make` exports these two).
ENV = {**os.environ, "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}

# Six trials of one size: six one-trial chunks, each about a second, so a worker has one in hand
# when it is killed.
POWER_CONFIG = """
design:
  arms: [control, cbt]
  waves: 4
  symptom_effect: -0.3
n_per_arm: [8]
n_sims: 6
seed: 3
"""
REPORT_CONFIG = "notebooks: [teaching/molloy2014]\nquick: true\nvariants: {}\nsweeps: {}\n"


def start(command: list, log: Path, env: dict = ENV) -> subprocess.Popen:
    with log.open("w") as handle:
        return subprocess.Popen([str(part) for part in command], stdout=handle, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """Terminate a process of the cluster (kill it when it does not exit within 10 s)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(ready, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {log.name}\n{log.read_text()[-2000:]}" for log in logs)
            raise TimeoutError(f"{what} did not come up within {START_TIMEOUT} s\n{tails}")
        time.sleep(0.2)


def scheduler_address(scheduler_file: Path) -> str | None:
    """The address in the scheduler's file, or None while it has not written the whole file."""
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (FileNotFoundError, ValueError, KeyError):
        return None


@contextmanager
def dask_cluster(folder: Path, workers: int = 2, allowed_failures: int | None = None):
    """``dask scheduler`` and ``workers`` one-thread ``dask worker`` processes (no nanny: killing the
    process kills the worker) on 127.0.0.1; yields the address, a client and the worker processes by name."""
    folder.mkdir()
    scheduler_file = folder / "scheduler.json"
    env = dict(ENV)
    if allowed_failures is not None:
        env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(allowed_failures)
    logs = [folder / "scheduler.log"] + [folder / f"worker-{i}.log" for i in range(workers)]
    with ExitStack() as stack:
        scheduler = start([DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                           "--scheduler-file", scheduler_file], logs[0], env)
        stack.callback(stop, scheduler)
        wait_for(lambda: scheduler_address(scheduler_file), "dask scheduler", logs[:1])
        processes = {}
        for i in range(workers):
            name = f"worker-{i}"
            processes[name] = start([DASK, "worker", "--scheduler-file", scheduler_file, "--host", "127.0.0.1",
                                     "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", name,
                                     "--local-directory", folder / name], logs[i + 1])
            stack.callback(stop, processes[name])
        address = scheduler_address(scheduler_file)
        client = stack.enter_context(Client(address, timeout=START_TIMEOUT))
        wait_for(lambda: len(client.scheduler_info()["workers"]) == workers, f"{workers} dask workers", logs)
        yield SimpleNamespace(address=address, client=client, workers=processes)


@pytest.fixture
def analysis():
    """Start ``analysis`` commands as processes; those still running when the test ends are stopped."""
    started = []

    def launch(*args) -> subprocess.Popen:
        started.append(subprocess.Popen([sys.executable, "-m", "analysis.cli", *map(str, args)], env=ENV,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield launch
    for process in started:
        stop(process)


def finished(process: subprocess.Popen, timeout: int = 300) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def kill_a_busy_worker(cluster: SimpleNamespace, run: subprocess.Popen) -> str:
    """SIGKILL the first of the cluster's worker processes seen running a task of ``run``; its name."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and run.poll() is None:
        workers = cluster.client.scheduler_info()["workers"]
        for address, tasks in cluster.client.processing().items():
            if tasks and address in workers:
                name = workers[address]["name"]
                process = cluster.workers[name]
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
                return name
        time.sleep(0.05)
    raise AssertionError("no worker ran a task of the run")


@pytest.fixture
def power_config(tmp_path):
    config = tmp_path / "power.yml"
    config.write_text(POWER_CONFIG)
    return config


@pytest.fixture
def local_power(tmp_path, power_config, analysis):
    """power.csv of the config run locally, in the command's own process (no cluster)."""
    result = finished(analysis("power", "--config", power_config, "--scheduler", "synchronous",
                               "--output", tmp_path / "local"))
    assert result.returncode == 0, result.stderr
    return (tmp_path / "local" / "power.csv").read_bytes()


@pytest.fixture
def report_config(tmp_path):
    config = tmp_path / "report.yml"
    config.write_text(REPORT_CONFIG)
    return config


def test_reports_on_the_cluster_are_those_of_a_local_run_even_when_a_worker_is_killed(tmp_path, report_config,
                                                                                     analysis):
    with dask_cluster(tmp_path / "cluster") as cluster:
        on_cluster = analysis("run", "--config", report_config, "--output", tmp_path / "on_cluster",
                              "--scheduler", cluster.address)
        killed = kill_a_busy_worker(cluster, on_cluster)
        local = finished(analysis("run", "--config", report_config, "--output", tmp_path / "local"))
        on_cluster = finished(on_cluster)
        survivors = [info["name"] for info in cluster.client.scheduler_info()["workers"].values()]
    assert on_cluster.returncode == 0, on_cluster.stderr
    assert local.returncode == 0, local.stderr
    assert survivors == [name for name in cluster.workers if name != killed]
    assert f"on the Dask scheduler at {cluster.address}" in on_cluster.stdout
    results = json.loads((tmp_path / "on_cluster" / "results.json").read_text())
    assert results["teaching/molloy2014"]["status"] == "ok" and results["teaching/molloy2014"]["values"]
    assert (tmp_path / "on_cluster" / "results.json").read_bytes() == (tmp_path / "local" / "results.json").read_bytes()
    assert (tmp_path / "on_cluster" / "teaching" / "molloy2014.html").stat().st_size > 0
    assert not (tmp_path / "on_cluster" / ".staging").exists()  # the killed worker's half-run report is gone


def test_a_report_lost_with_its_workers_fails_alone_and_keeps_the_last_good_page(tmp_path, report_config, analysis):
    out = tmp_path / "out"
    (out / "teaching").mkdir(parents=True)
    (out / "teaching" / "molloy2014.html").write_text("the last good page\n")
    with dask_cluster(tmp_path / "cluster", allowed_failures=0) as cluster:
        run = analysis("run", "--config", report_config, "--output", out, "--scheduler", cluster.address)
        kill_a_busy_worker(cluster, run)
        failed = finished(run)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr + failed.stdout
    assert ("teaching/molloy2014 FAILED: KilledWorker: the Dask workers running this report died, and the "
            "scheduler gave up on it (its setting distributed.scheduler.allowed-failures)") in failed.stdout
    assert json.loads((out / "results.json").read_text())["teaching/molloy2014"]["status"] == "failed"
    assert (out / "teaching" / "molloy2014.html").read_text() == "the last good page\n"
    assert not (out / ".staging").exists()


def test_power_on_the_cluster_is_the_local_run_even_when_a_worker_is_killed(tmp_path, power_config, local_power,
                                                                            analysis):
    with dask_cluster(tmp_path / "cluster") as cluster:
        whole = finished(analysis("power", "--config", power_config, "--scheduler", cluster.address,
                                  "--output", tmp_path / "whole"))
        assert whole.returncode == 0, whole.stderr
        run = analysis("power", "--config", power_config, "--scheduler", cluster.address,
                       "--output", tmp_path / "killed")
        killed = kill_a_busy_worker(cluster, run)
        survived = finished(run)
        assert survived.returncode == 0, survived.stderr
        assert [info["name"] for info in cluster.client.scheduler_info()["workers"].values()] == [
            name for name in cluster.workers if name != killed]
    assert (tmp_path / "whole" / "power.csv").read_bytes() == local_power
    assert (tmp_path / "killed" / "power.csv").read_bytes() == local_power


def test_trials_lost_with_their_worker_fail_the_run_clearly_and_write_nothing(tmp_path, power_config, analysis):
    out = tmp_path / "out"
    out.mkdir()
    (out / "power.csv").write_text("the last complete run's table\n")
    with dask_cluster(tmp_path / "cluster", allowed_failures=0) as cluster:
        run = analysis("power", "--config", power_config, "--scheduler", cluster.address, "--output", out)
        kill_a_busy_worker(cluster, run)
        failed = finished(run)
    assert failed.returncode == 1
    assert "Traceback" not in failed.stderr
    last_line = failed.stderr.strip().splitlines()[-1]
    assert last_line.startswith("error: the Dask workers running trials ")
    assert last_line.endswith("of n_per_arm=8 died, and the scheduler gave up on them (its setting "
                              "distributed.scheduler.allowed-failures); nothing was written")
    assert sorted(path.name for path in out.iterdir()) == ["power.csv"]
    assert (out / "power.csv").read_text() == "the last complete run's table\n"


# Stand-ins for SLURM's commands: `sbatch SCRIPT` starts the batch script in a session of its own on this
# machine and prints its process id as the job id; `scancel ID` stops that session.
SBATCH = """#!{python}
import subprocess, sys
job = subprocess.Popen(["bash", sys.argv[-1]], start_new_session=True, stdout=subprocess.DEVNULL,
                       stderr=open(sys.argv[-1] + ".log", "w"))
print(f"Submitted batch job {{job.pid}}")
"""
SCANCEL = """#!{python}
import os, signal, sys
for job in sys.argv[1:]:
    try:
        os.killpg(int(job), signal.SIGTERM)
    except ProcessLookupError:
        pass
"""


@pytest.fixture
def slurm(tmp_path, monkeypatch):
    """``sbatch`` and ``scancel`` stand-ins first on PATH."""
    folder = tmp_path / "slurm"
    folder.mkdir()
    for name, text in {"sbatch": SBATCH, "scancel": SCANCEL}.items():
        (folder / name).write_text(text.format(python=sys.executable))
        (folder / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return folder


def test_the_readme_slurm_recipe_runs_in_the_locks_environment(tmp_path, slurm, power_config, local_power):
    """README's dask-jobqueue recipe, with SLURM's commands stood in for: the batch job's workers run this
    environment's Python, and the power run on them writes the local run's table."""
    from dask_jobqueue import SLURMCluster

    from analysis import power

    python = str(Path(sys.executable).absolute())
    with SLURMCluster(cores=2, processes=2, memory="2GB", walltime="00:10:00", python=python,
                      scheduler_options={"host": "127.0.0.1", "dashboard_address": None},
                      log_directory=str(slurm)) as cluster, Client(cluster) as client:
        assert f"{python} -m distributed.cli.dask_worker" in cluster.job_script()
        cluster.scale(jobs=1)
        client.wait_for_workers(2, timeout=START_TIMEOUT)
        assert set(client.run(lambda: sys.executable).values()) == {python}
        power.run_config(power_config, scheduler=client, output=tmp_path / "slurm")
    assert (tmp_path / "slurm" / "power.csv").read_bytes() == local_power
