"""The ``analysis`` command as a user meets it: exit codes and messages, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

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
