"""The trial-data contract: validation, tidying and summaries of a long trial table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa

from .. import datasets, scales
from .arms import arm_factor
from .errors import FIRST_ROW, DataValidationError, Problem, _plain, _problem
from .read import (
    _recode,
    _value_key,
    _time_of_wave,
    decimal_comma_hint,
    file_rows,
    from_wide,
    read_mapping,
    read_rows,
    sheet_hint,
)

REQUIRED = ("participant_id", "wave", "arm")
SOURCES = ("src_mastery", "src_vicarious", "src_persuasion", "src_physiological")
COUNT_COLUMNS = ("sessions_attended", "sessions_offered")
NUMERIC_OPTIONAL = SOURCES + ("social_support",)
#: Optional third-level columns: constant within a participant, missing for participants without one.
CLUSTERS = ("therapist", "group")


def load_trial(path: str | Path | pd.DataFrame, mapping: str | Path | Mapping | None = None) -> pd.DataFrame:
    """Read a trial file, map its columns, validate it and score instruments.

    Parameters
    ----------
    path : str, Path or DataFrame
        CSV, TSV, Parquet or Excel file, a DataFrame already in memory, or the name of
        a bundled data set (:func:`analysis.datasets.names`), which comes with its own
        mapping (``data/mappings/NAME.yml``) when it needs one.
    mapping : dict, str or Path, optional
        Column mapping, inline or as a YAML file; see :func:`read_mapping`. Its
        ``read:`` section says how to read the file (it does not apply to a
        DataFrame or a bundled data set); its ``instruments:`` section defines
        instruments the registry lacks.

    Returns
    -------
    DataFrame
        Tidy long table sorted by participant and wave, with ``time`` filled in,
        ``arm`` categorical (a control-like level first), totals scored from items
        where absent, and ``attrs["instruments"]``: ``{key: Instrument}`` of the
        instruments found (use ``scales.get(key, data)``). Problems name the rows
        of the user's file, also for wide files.

    Raises
    ------
    DataFileError
        The file cannot be read at all.
    DataValidationError
        The data break the contract; ``.problems`` lists every problem.
    """
    if isinstance(path, pd.DataFrame):
        frame, source = path.copy(), None
    elif isinstance(path, str) and not Path(path).exists() and path in datasets.names():
        frame, source = datasets.load(path), path
        bundled = datasets.data_dir() / "mappings" / f"{path}.yml"
        mapping = mapping if mapping is not None or not bundled.exists() else bundled
    else:
        frame, source = None, str(path)
    spec = read_mapping(mapping)
    hint = ""
    if frame is None:
        frame = read_rows(path, spec["read"])
        hint = sheet_hint(path, spec["read"], [c for c in spec["columns"] if c not in frame.columns])
    frame = _apply_mapping(frame, spec["columns"], source, hint)
    early = {column: codes for column, codes in spec["values"].items() if column in frame.columns}
    frame = _recode(frame, early)
    if spec["wide"] is not None:
        frame = from_wide(frame, **spec["wide"])
    frame = _apply_mapping(frame, spec["item_columns"], source)
    frame = _recode(frame, {column: codes for column, codes in spec["values"].items() if column not in early})
    if spec["time"] is not None:
        frame["time"] = _time_of_wave(frame["wave"], spec["time"])
    arm_order = list((spec["values"].get("arm") or {}).values()) or None
    return validate(frame, source=source, arm_order=arm_order, instruments=spec["instruments"])


def _apply_mapping(frame: pd.DataFrame, columns: dict, source: str | None, hint: str = "") -> pd.DataFrame:
    problems = [
        Problem(name, f"named in the mapping but not in the file (columns are {list(frame.columns)}){hint}")
        for name in columns
        if name not in frame.columns
    ]
    targets = pd.Series(list(columns.values()))
    problems += [
        Problem(target, "two file columns are mapped onto it") for target in targets[targets.duplicated()].unique()
    ]
    clash = [t for s, t in columns.items() if t in frame.columns and t not in columns and s != t]
    problems += [Problem(t, "mapped onto, but the file already has a column of that name") for t in clash]
    if problems:
        raise DataValidationError(problems, source)
    return frame.rename(columns=columns)


def validate(frame: pd.DataFrame, source: str | None = None, *, arm_order: list | None = None,
             instruments: Mapping[str, scales.Instrument] | None = None) -> pd.DataFrame:
    """Hold a long table to the trial-data contract and return its tidy form.

    Parameters
    ----------
    frame : DataFrame
        Long table with contract column names (after any mapping). Problems name
        rows by its :data:`~analysis.io.read.FILE_ROW` index when it has one (as
        :func:`load_trial` and :func:`from_wide` give it), else 2, 3, ... in order.
    source : str, optional
        Name of the file, used in error messages.
    arm_order : list, optional
        Preferred order of the arm levels (the mapping's ``values: {arm: ...}``
        targets); the reference arm follows :func:`analysis.io.arms.arm_factor`.
    instruments : mapping, optional
        ``{key: Instrument}`` of instruments the registry lacks (the mapping's
        ``instruments:`` section); they are found, range-checked and scored like
        the registry's.

    Returns
    -------
    DataFrame
        See :func:`load_trial`. The input frame is not modified.

    Raises
    ------
    DataValidationError
        Listing every problem found, not only the first.
    """
    rows = file_rows(frame)
    frame = frame.reset_index(drop=True)
    problems = [Problem(c, "required column is missing") for c in REQUIRED if c not in frame.columns]
    instruments = _instruments_present(frame, problems, {**scales.INSTRUMENTS, **(instruments or {})})
    numeric, non_numeric = _to_numeric(frame, _numeric_columns(frame, instruments))
    problems += _missing_values(frame) + non_numeric
    if all(column in frame.columns for column in REQUIRED):
        problems += _schema_problems(frame, numeric, instruments)
        arm, arm_problems = _arm_levels(frame["arm"], arm_order)
        problems += arm_problems
    if problems:
        raise DataValidationError(_in_file_rows(problems, rows), source)
    return _tidy(frame.assign(arm=arm), numeric, instruments)


def _in_file_rows(problems: list[Problem], rows: np.ndarray) -> list[Problem]:
    """Problems with row numbers (2, 3, ... in table order) replaced by the file's own row numbers."""
    return [replace(p, rows=tuple(int(rows[r - FIRST_ROW]) for r in p.rows)) if p.unit == "row" else p
            for p in problems]


def _arm_levels(arm: pd.Series, order: list | None) -> tuple[pd.Categorical | None, list[Problem]]:
    """The arm as :func:`analysis.io.arms.arm_factor` defines it, or its problems."""
    try:
        return arm_factor(arm, order=order), []
    except DataValidationError as exc:
        return None, exc.problems


def _instruments_present(frame: pd.DataFrame, problems: list[Problem],
                         known: Mapping[str, scales.Instrument]) -> dict[str, scales.Instrument]:
    """The instruments whose items (all of them) or total are columns; incomplete item sets are problems."""
    found = {}
    for key, inst in known.items():
        items = [c for c in inst.items if c in frame.columns]
        if items and len(items) < inst.n_items:
            absent = [c for c in inst.items if c not in frame.columns]
            problems.append(Problem(absent[0], f"{inst.name} item columns incomplete: missing {absent}"))
        elif items or inst.total in frame.columns:
            found[key] = inst
    if not found:
        names = ", ".join(f"{i.total}" + (f" or {i.items[0]}..{i.items[-1]}" if i.n_items else "")
                          for i in known.values())
        problems.append(Problem("instruments", f"no instrument columns found; expected one of {names}"))
    return found


def _numeric_columns(frame: pd.DataFrame, instruments: Mapping[str, scales.Instrument]) -> list[str]:
    cols = ["wave", "time", *COUNT_COLUMNS, *NUMERIC_OPTIONAL]
    for inst in instruments.values():
        cols += [c for c in inst.items if c in frame.columns] + [inst.total]
    return [c for c in cols if c in frame.columns]


def _to_numeric(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """Numeric copies of ``columns``; values that are present but not numbers are problems."""
    numeric, problems = pd.DataFrame(index=frame.index), []
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            reason = "values are not numbers" + decimal_comma_hint(frame.loc[bad, col])
            problems.append(_problem(col, reason, frame[col], bad))
        numeric[col] = values.astype(float)
    return numeric, problems


def _missing_values(frame: pd.DataFrame) -> list[Problem]:
    """Empty cells in the columns that must always be filled."""
    columns = [c for c in (*REQUIRED, "time") if c in frame.columns]
    return [_problem(c, "missing values", frame[c], frame[c].isna()) for c in columns if frame[c].isna().any()]




def _range_check(low: float, high: float, integer: bool) -> pa.Check:
    kind = "whole numbers " if integer else ""
    return pa.Check(
        lambda s: s.between(low, high) & ((s % 1 == 0) if integer else True),
        error=f"values must be {kind}from {low:g} to {high:g}",
    )


def _schema(frame: pd.DataFrame, instruments: Mapping[str, scales.Instrument], row_checks: list) -> pa.DataFrameSchema:
    """The contract as a pandera schema over the numeric-converted table."""
    cols: dict[str, pa.Column] = {
        "wave": pa.Column(checks=pa.Check(lambda s: (s >= 0) & (s % 1 == 0), error="waves must be whole numbers >= 0")),
    }
    for inst in instruments.values():
        for item in (c for c in inst.items if c in frame.columns):
            cols[item] = pa.Column(checks=_range_check(inst.item_min, inst.item_max, True))
        if inst.total in frame.columns:
            cols[inst.total] = pa.Column(checks=_range_check(inst.total_min, inst.total_max, False))
    for col in COUNT_COLUMNS:
        if col in frame.columns:
            cols[col] = pa.Column(checks=_range_check(0, np.inf, True))
    checks = [
        pa.Check(func, error=message, name=", ".join(columns))
        for columns, func, message in row_checks
    ]
    for column in cols.values():  # missing values are judged by _missing_values, not by pandera
        column.nullable = True
    return pa.DataFrameSchema(cols, checks=checks, strict=False, coerce=False)


def _row_checks(frame: pd.DataFrame, instruments: Mapping[str, scales.Instrument]) -> list[tuple[list[str], Any, str]]:
    """Checks across columns: (columns shown in the report, row-wise test, message)."""
    checks = [(["participant_id", "wave"], _unique_waves, "(participant_id, wave) appears more than once")]
    if "time" in frame.columns:
        checks.append((["participant_id", "wave", "time"], _time_non_decreasing,
                       "time decreases while wave increases for a participant"))
    if set(COUNT_COLUMNS) <= set(frame.columns):
        checks.append((list(COUNT_COLUMNS), _attended_within_offered, "sessions_attended exceeds sessions_offered"))
    checks.append((["participant_id", "arm"], _constant_within_participant("arm", missing_is_label=False),
                   "arm must be constant within a participant (a participant is in several arms)"))
    for cluster in (c for c in CLUSTERS if c in frame.columns):
        message = (f"{cluster} must be constant within a participant (the same {cluster} at every wave, "
                   "or missing at every wave for a participant without one)")
        checks.append((["participant_id", cluster], _constant_within_participant(cluster, missing_is_label=True),
                       message))
    for inst in instruments.values():
        if inst.total in frame.columns and scales.has_items(frame, inst):
            checks.append(([inst.total], _total_agrees(inst),
                           f"{inst.total} disagrees with the (prorated) sum of its items"))
            checks.append(([inst.total], _total_scorable(inst),
                           (f"{inst.total} is present although more than {inst.max_missing} of its "
                            f"{inst.n_items} items are missing, so the prorating rule gives no total")))
    return checks


def _unique_waves(df: pd.DataFrame) -> pd.Series:
    return ~df.duplicated(["participant_id", "wave"], keep=False)


def _time_non_decreasing(df: pd.DataFrame) -> pd.Series:
    order = df.dropna(subset=["wave"]).sort_values(["participant_id", "wave"], kind="stable")
    step = order.groupby("participant_id", sort=False, dropna=False)["time"].diff()
    return (step.isna() | (step >= 0)).reindex(df.index, fill_value=True)


def _constant_within_participant(column: str, missing_is_label: bool):
    """Check: one label of ``column`` per participant (codes 1 and 1.0 alike); a missing label counts
    as a label of its own when ``missing_is_label`` (therapists), else missing values are judged elsewhere."""
    def constant(df: pd.DataFrame) -> pd.Series:
        labels = df[column].astype(object).map(_value_key, na_action="ignore")
        per = labels.groupby(df["participant_id"].astype(object), dropna=False)
        return per.transform("nunique", dropna=not missing_is_label) <= 1

    return constant


def _attended_within_offered(df: pd.DataFrame) -> pd.Series:
    return ~(df["sessions_attended"] > df["sessions_offered"])


def _total_agrees(inst: scales.Instrument):
    """Check: a total recorded beside its items equals their sum, or their prorated sum up to rounding."""
    def agrees(df: pd.DataFrame) -> pd.Series:
        scored = scales.score(df[inst.items], inst)
        tolerance = np.where(df[inst.items].notna().all(axis=1), 1e-9, 0.5 + 1e-9)
        return ~(scored.notna() & df[inst.total].notna()) | ((scored - df[inst.total]).abs() <= tolerance)

    return agrees


def _total_scorable(inst: scales.Instrument):
    """Check: no total beside answered items too few to score (a total with no item answered is kept)."""
    def scorable(df: pd.DataFrame) -> pd.Series:
        missing = df[inst.items].isna().sum(axis=1)
        return ~(df[inst.total].notna() & (missing > inst.max_missing) & (missing < inst.n_items))

    return scorable


def _schema_problems(frame: pd.DataFrame, numeric: pd.DataFrame,
                     instruments: Mapping[str, scales.Instrument]) -> list[Problem]:
    table = frame.copy()
    table[numeric.columns] = numeric
    row_checks = _row_checks(table, instruments)
    try:
        _schema(table, instruments, row_checks).validate(table, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _problems_from_failures(exc.failure_cases, table, row_checks)
    return []


def _problems_from_failures(failures: pd.DataFrame, frame: pd.DataFrame, row_checks: list) -> list[Problem]:
    """One Problem per column and check from pandera's failure table, in the file's terms."""
    across = {message: columns for columns, _, message in row_checks}
    problems = []
    failures = failures.dropna(subset=["index"])
    for (check, column), rows in failures.groupby(["check", "column"], sort=False):
        mask = frame.index.isin(rows["index"].astype(int))
        if check not in across:
            problems.append(_problem(column, check, frame[column], mask))
        elif column == across[check][0]:  # pandera repeats a frame-wide failure for every column
            shown = frame[column] if len(across[check]) == 1 else frame[across[check]].apply(
                lambda row: ", ".join(str(_plain(v)) for v in row), axis=1)
            problems.append(_problem(", ".join(across[check]), check, shown, mask))
    return problems


def _tidy(frame: pd.DataFrame, numeric: pd.DataFrame, instruments: Mapping[str, scales.Instrument]) -> pd.DataFrame:
    tidy = frame.copy()
    tidy[numeric.columns] = numeric
    tidy["wave"] = tidy["wave"].astype(int)
    for cluster in (c for c in CLUSTERS if c in tidy.columns):
        tidy[cluster] = _cluster_labels(tidy[cluster])
    if "time" not in tidy.columns:
        tidy["time"] = tidy["wave"].astype(float)
    for inst in instruments.values():
        if scales.has_items(tidy, inst):
            tidy[inst.items] = tidy[inst.items].astype("Int64")
            if inst.total not in tidy.columns:
                tidy[inst.total] = scales.score(tidy[inst.items], inst)
    tidy = tidy.sort_values(["participant_id", "wave"], kind="stable").reset_index(drop=True)
    tidy.attrs["instruments"] = dict(instruments)
    return tidy


def _cluster_labels(values: pd.Series) -> pd.Series:
    """A therapist or group column as text (codes 3 and 3.0 both read ``"3"``), categoricals as given."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values
    return values.astype(object).map(_value_key, na_action="ignore")


def summarise(data: pd.DataFrame) -> dict:
    """Describe a validated trial table: participants, waves, arms, missingness, instruments.

    Returns
    -------
    dict
        ``participants``, ``rows``, ``waves`` (participants observed per wave),
        ``arms`` (participants per arm), ``instruments`` (with whether scored from
        items), ``missing_by_wave`` (DataFrame: percent of the baseline sample with
        no total, per instrument and wave; dropout counts as missing).
    """
    n = data["participant_id"].nunique()
    per_wave = data.groupby("wave")["participant_id"].nunique()
    arms = data.groupby("arm", observed=False)["participant_id"].nunique()
    instruments = {key: scales.get(key, data) for key in data.attrs.get("instruments", ())}
    observed = data.groupby("wave")[[inst.total for inst in instruments.values()]].count()
    missing = (100 * (1 - observed.div(n))).round(1)
    return {
        "participants": int(n),
        "rows": int(len(data)),
        "waves": {int(w): int(c) for w, c in per_wave.items()},
        "arms": {str(a): int(c) for a, c in arms.items()},
        "instruments": {key: "items" if scales.has_items(data, inst) else "total" for key, inst in instruments.items()},
        "missing_by_wave": missing,
    }


def retention(data: pd.DataFrame) -> pd.DataFrame:
    """Percent of each arm's baseline participants observed at every wave (rows waves, columns arms)."""
    counts = data.groupby(["wave", "arm"], observed=False)["participant_id"].nunique().unstack("arm")
    baseline = data.groupby("arm", observed=False)["participant_id"].nunique()
    return (100 * counts / baseline).round(1)
