"""The ``analysis`` command as a user meets it: exit codes and messages, never a traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis import cli

DATA = Path(__file__).parent / "data"
MALFORMED = sorted((DATA / "malformed").iterdir())


def analysis(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_valid_file_prints_summary_and_exits_0():
    result = analysis("validate", str(DATA / "valid" / "small_long.csv"))
    assert result.returncode == 0, result.stderr
    assert "participants: 3 (9 rows)" in result.stdout
    assert "arms: control (1), cbt (2)" in result.stdout
    assert "phq9 (from items)" in result.stdout


def test_mapping_option():
    result = analysis("validate", str(DATA / "valid" / "own_names.csv"), "--mapping", str(DATA / "valid" / "own_names.yml"))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("path", MALFORMED, ids=[p.name for p in MALFORMED])
def test_every_malformed_file_exits_2_with_a_reason_and_no_traceback(path):
    before = path.read_bytes()
    result = analysis("validate", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr + result.stdout
    assert path.read_bytes() == before


def test_missing_file_and_missing_mapping_exit_2(tmp_path):
    result = analysis("validate", str(tmp_path / "nope.csv"))
    assert result.returncode == 2 and "no such file" in result.stderr
    result = analysis("validate", str(DATA / "valid" / "small_long.csv"), "--mapping", str(tmp_path / "m.yml"))
    assert result.returncode == 2 and "mapping file not found" in result.stderr


def test_unreadable_file_exits_2(tmp_path, monkeypatch, capsys):
    # Tests run as root here, where file permissions are not enforced; simulate the denial.
    from analysis import cli, io  # noqa: F401  (imported before the patch below)

    locked = tmp_path / "locked.csv"
    locked.write_text("a,b\n1,2\n")

    real = Path.read_bytes

    def denied(self):
        if self == locked:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    assert cli.main(["validate", str(locked)]) == 2
    assert "cannot be read (Permission denied)" in capsys.readouterr().err


def write_results(path: Path, values: dict, status: str = "ok") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps({"02_mixed_effects": {"status": status, "values": values}}))
    return path


def test_diff_exits_0_when_nothing_moved_and_1_with_each_change_listed(tmp_path, capsys):
    old = write_results(tmp_path / "old", {"phq9_cbt_x_time": -0.4159, "verdict": "converged"})
    same = write_results(tmp_path / "same", {"phq9_cbt_x_time": -0.41590001, "verdict": "converged"})
    moved = write_results(tmp_path / "moved", {"phq9_cbt_x_time": -0.2, "verdict": "low ESS"}, status="failed")
    assert cli.main(["diff", str(old), str(same / "results.json")]) == 0
    assert "nothing moved beyond rtol 1e-06" in capsys.readouterr().out
    assert cli.main(["diff", str(old), str(moved)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "02_mixed_effects: status ok -> failed",
        "02_mixed_effects: phq9_cbt_x_time -0.4159 -> -0.2 (change +0.2159, +51.91%)",
        "02_mixed_effects: verdict 'converged' -> 'low ESS'",
        "3 change(s) beyond rtol 1e-06",
    ]
    assert cli.main(["diff", str(old), str(same), "--rtol", "0"]) == 1


def test_diff_and_run_refuse_bad_arguments_with_exit_2(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert cli.main(["diff", str(tmp_path / "nowhere"), str(tmp_path)]) == 2
    assert "nowhere: no such file" in capsys.readouterr().err
    assert cli.main(["diff", str(tmp_path / "bad.json"), str(tmp_path / "bad.json")]) == 2
    assert "expected {report: {status, values}}" in capsys.readouterr().err
    for args, words in [(["diff", "a", "b", "--rtol", "-1"], "--rtol: must be a number of at least 0"),
                        (["run", "--jobs", "0"], "--jobs: must be a whole number of at least 1")]:
        with pytest.raises(SystemExit) as exit_:
            cli.main(args)
        assert exit_.value.code == 2 and words in capsys.readouterr().err


def test_unreachable_scheduler_exits_2_before_running(tmp_path, capsys, monkeypatch):
    from analysis import report

    monkeypatch.setattr(report.runner, "SCHEDULER_TIMEOUT", 1)
    config = tmp_path / "config.yml"
    config.write_text("notebooks: [teaching/molloy2014]\nvariants: {}\nsweeps: {}\n")
    code = cli.main(["run", "--config", str(config), "--output", str(tmp_path / "out"),
                     "--scheduler", "tcp://127.0.0.1:9"])
    assert code == 2 and "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in capsys.readouterr().err


@pytest.mark.parametrize("text, message", [
    ("notebook_params: {06_meta_analysis: {meta_data: studies.csv}}\n",
     "notebook_params.06_meta_analysis.meta_data: file not found: {folder}/studies.csv"),
    ("data: mytrial.csv\nmapping: mapping.yml\n", "data: file not found: {folder}/mytrial.csv"),
    ("seed: 1\nquick: true\nseed: 2\n",
     "{folder}/mine.yml: not valid YAML (the key 'seed' is written twice: on line 1 and on line 3)"),
])
def test_run_refuses_a_config_with_one_line_naming_the_key_before_anything_runs(tmp_path, capsys, text, message):
    config = tmp_path / "mine.yml"
    config.write_text(text)
    assert cli.main(["run", "--config", str(config)]) == 2
    assert capsys.readouterr().err == f"error: {message.format(folder=tmp_path.resolve())}\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.yml"]  # no report folder was made
