"""The outcome of each report (:class:`NotebookRun`), ``results.json``, and what moved between two runs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .folder import RESULTS, _write_atomic


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one report.

    Attributes
    ----------
    name : str
        Report name: the notebook's, or ``notebook-label`` for a variant or sweep item.
    ok : bool
        Whether every cell ran.
    seconds : float
        Run time (of the earlier run when ``reused``).
    error : str
        First line of the error of a failed run.
    html, ipynb : str
        The report page and executed notebook, relative to the output folder (the
        partial output ``NAME.failed.*`` for a failed run); empty when none was written.
    values : dict
        Key numbers the notebook recorded with :func:`record`.
    inputs : dict
        Data and mapping files the run read, each with its SHA-256.
    thumbnail : str
        Small picture of the report's main figure, relative path, or empty.
    previous : str
        For a failed run, the last good report still in place, or empty.
    reused : bool
        Up to date: taken from an earlier run instead of being executed.
    paper : list of str
        The paper outputs the report wrote (tables, figures, methods paragraph; see
        :mod:`analysis.report.paper`), relative to the output folder.
    """

    name: str
    ok: bool
    seconds: float
    error: str = ""
    html: str = ""
    ipynb: str = ""
    values: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    thumbnail: str = ""
    previous: str = ""
    reused: bool = False
    paper: list = field(default_factory=list)


def write_results(runs: list[NotebookRun], out: Path) -> Path:
    """Write ``results.json``: ``{report: {"status": "ok" or "failed", "values": {key: number}}}``.

    Keys are sorted and nothing that changes between runs (times, paths) is included,
    so two runs with the same inputs write identical files.
    """
    results = {run.name: {"status": "ok" if run.ok else "failed", "values": run.values} for run in runs}
    return _write_atomic(Path(out) / RESULTS, json.dumps(results, sort_keys=True, indent=2) + "\n")


@dataclass(frozen=True)
class Change:
    """One difference between two ``results.json``.

    Attributes
    ----------
    report : str
        Report name.
    key : str
        Recorded key, or ``"status"`` for a report's status.
    kind : str
        ``"moved"``, ``"appeared"``, ``"disappeared"`` or ``"status"``.
    old, new
        The values before and after (None where absent).
    """

    report: str
    key: str
    kind: str
    old: Any = None
    new: Any = None

    @property
    def absolute(self) -> float | None:
        """``new - old`` for a number that moved, else None."""
        return self.new - self.old if self.kind == "moved" and _numeric(self.old) and _numeric(self.new) else None

    @property
    def relative(self) -> float | None:
        """The absolute change over ``|old|`` (infinite from 0), or None when not a number."""
        if self.absolute is None:
            return None
        return self.absolute / abs(self.old) if self.old else math.copysign(math.inf, self.absolute)

    def __str__(self) -> str:
        where = f"{self.report}: {self.key}"
        if self.kind == "status":
            return f"{self.report}: status {self.old or 'absent'} -> {self.new or 'absent'}"
        if self.kind == "appeared":
            return f"{where} appeared ({self.new!r})"
        if self.kind == "disappeared":
            return f"{where} disappeared (was {self.old!r})"
        if self.absolute is None:
            return f"{where} {self.old!r} -> {self.new!r}"
        return f"{where} {self.old:.6g} -> {self.new:.6g} (change {self.absolute:+.4g}, {self.relative:+.2%})"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _moved(old: Any, new: Any, rtol: float) -> bool:
    if _numeric(old) and _numeric(new):
        both_nan = isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new)
        return not (both_nan or math.isclose(old, new, rel_tol=rtol, abs_tol=0.0))
    return old != new


def load_results(path: str | Path) -> dict:
    """Read a ``results.json``, given the file or the report folder that holds it.

    Raises
    ------
    FileNotFoundError
        Neither the file nor a folder holding one.
    ValueError
        The file is not JSON of the form ``{report: {"status": ..., "values": {...}}}``.
    """
    path = Path(path)
    file = path / RESULTS if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path}: no {RESULTS} there" if path.is_dir() else f"{path}: no such file")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    bad = [name for name, entry in results.items() if not isinstance(entry, dict)
           or not isinstance(entry.get("values", {}), dict)] if isinstance(results, dict) else ["(top level)"]
    if bad:
        raise ValueError(f"{file}: expected {{report: {{status, values}}}}; malformed entries {bad[:5]}")
    return results


def diff_results(old: dict, new: dict, rtol: float = 1e-6) -> list[Change]:
    """What moved between two runs' results (as read by :func:`load_results`).

    Parameters
    ----------
    old, new : dict
        ``{report: {"status": ..., "values": {key: value}}}``.
    rtol : float, default 1e-6
        Numbers whose relative difference is within ``rtol`` have not moved; other
        values (verdicts, counts as strings) move when they differ at all.

    Returns
    -------
    list of Change
        Status changes (a report that appeared or disappeared included), then keys that
        moved, appeared or disappeared, by report and key.
    """
    changes = []
    for report in sorted(set(old) | set(new)):
        before, after = old.get(report, {}), new.get(report, {})
        if before.get("status") != after.get("status"):
            changes.append(Change(report, "status", "status", before.get("status"), after.get("status")))
        was, now = before.get("values", {}), after.get("values", {})
        for key in sorted(set(was) | set(now)):
            if key not in now:
                changes.append(Change(report, key, "disappeared", old=was[key]))
            elif key not in was:
                changes.append(Change(report, key, "appeared", new=now[key]))
            elif _moved(was[key], now[key], rtol):
                changes.append(Change(report, key, "moved", was[key], now[key]))
    return changes
