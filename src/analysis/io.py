"""Reading trial data and holding it to the trial-data contract.

The contract (see ``shared/DESIGN.md`` and the README) is a long table, one row per
participant and wave:

``participant_id``
    required, never missing.
``wave``
    required, whole number >= 0; (``participant_id``, ``wave``) unique.
``time``
    optional, weeks since baseline, defaults to ``wave``; never decreasing over a
    participant's waves.
``arm``
    required (a single level is allowed for single-arm studies).
instruments
    item columns (``gse_1`` .. ``gse_10``, ``phq9_1`` .. ``phq9_9``, ``gad7_1`` ..
    ``gad7_7``, ``cesd_1`` .. ``cesd_20``) and/or totals (``gse_total``,
    ``phq9_total``, ``gad7_total``, ``cesd_total``, ``bdi_total``, ``pcl5_total``);
    at least one instrument must be present. Totals are scored from items when
    absent (see :mod:`analysis.scales` for prorating).
optional
    ``sessions_attended``, ``sessions_offered``, the four sources of self-efficacy
    (``src_mastery``, ``src_vicarious``, ``src_persuasion``,
    ``src_physiological``), ``social_support`` and any covariates.

Row numbers in problem reports are those a spreadsheet shows: the header is row 1
and the first data row is row 2 (for a CSV file this is also the line number).
Nothing here ever writes to the input file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pandera.pandas as pa
import yaml

from . import datasets, scales

__all__ = [
    "DataFileError",
    "DataValidationError",
    "Problem",
    "load_trial",
    "read_table",
    "read_mapping",
    "validate",
    "from_wide",
    "summarise",
    "retention",
]

REQUIRED = ("participant_id", "wave", "arm")
SOURCES = ("src_mastery", "src_vicarious", "src_persuasion", "src_physiological")
COUNT_COLUMNS = ("sessions_attended", "sessions_offered")
NUMERIC_OPTIONAL = SOURCES + ("social_support",)
CONTROL_NAMES = ("control", "waitlist", "wait-list", "wait list", "tau", "usual care", "placebo")
SHOWN = 5  # offending rows and values shown per problem
FIRST_ROW = 2  # spreadsheet row number of the first data row


class DataFileError(ValueError):
    """A file that cannot be read as a table at all (one-line reason)."""


@dataclass(frozen=True)
class Problem:
    """One kind of contract violation in one column.

    Attributes
    ----------
    column : str
        Contract column (or the file's column) concerned.
    reason : str
        What is wrong, in words.
    rows : tuple of int
        The first few offending rows (spreadsheet numbering, header = row 1).
    values : tuple
        The offending values in those rows.
    count : int
        How many rows have this problem in all.
    """

    column: str
    reason: str
    rows: tuple = ()
    values: tuple = ()
    count: int = 0

    def __str__(self) -> str:
        text = f"{self.column}: {self.reason}"
        if self.count:
            more = f" (first {len(self.rows)} shown)" if self.count > len(self.rows) else ""
            shown = ", ".join(f"row {r}: {v!r}" for r, v in zip(self.rows, self.values))
            text += f" — {self.count} row{'s' if self.count != 1 else ''}{more}: {shown}"
        return text


class DataValidationError(ValueError):
    """The data break the trial-data contract; ``problems`` lists every problem."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}{where}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


# --------------------------------------------------------------------------- reading

_TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe", ",": "comma"}


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or Excel file into a DataFrame, as it is.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.tsv``/``.tab``/``.txt`` (tab or comma, sniffed), ``.parquet``/``.pq``
        or ``.xlsx``/``.xlsm``.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataFileError
        With a one-line reason: missing or unreadable file, empty file, binary
        content in a text file, text that is not UTF-8, a delimiter other than the
        one the extension promises, no data rows, or an unreadable Parquet/Excel file.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such file")
    if path.is_dir():
        raise DataFileError(f"{path}: is a directory, not a data file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not raw.strip():
        raise DataFileError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        frame = _read_binary(path, pd.read_parquet, "Parquet")
    elif suffix in (".xlsx", ".xlsm"):
        frame = _read_binary(path, lambda p: pd.read_excel(p, engine="openpyxl"), "Excel")
    elif suffix == ".xls":
        raise DataFileError(f"{path}: old-style .xls workbooks are not supported; save it as .xlsx or CSV")
    else:
        frame = _read_text(path, raw, _TEXT_SUFFIXES.get(suffix))
    if frame.empty:
        raise DataFileError(f"{path}: has a header but no data rows")
    return frame


def _read_binary(path: Path, reader, kind: str) -> pd.DataFrame:
    try:
        return reader(path)
    except Exception as exc:  # the readers raise many unrelated types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(f"{path}: cannot be read as {kind} ({reason})") from None


def _read_text(path: Path, raw: bytes, sep: str | None) -> pd.DataFrame:
    if b"\x00" in raw[:8192]:
        raise DataFileError(f"{path}: is not a text file (binary content); expected CSV, TSV, Parquet or Excel")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFileError(
            f"{path}: is not UTF-8 encoded (byte 0x{raw[exc.start]:02x} at position {exc.start}); "
            "re-save the file as UTF-8"
        ) from None
    header = text.splitlines()[0]
    if sep is None:
        sep = "\t" if "\t" in header else ","
    if sep not in header:
        found = [name for d, name in _OTHER_DELIMITERS.items() if d != sep and d in header]
        if found:
            expected = _OTHER_DELIMITERS[sep]
            raise DataFileError(
                f"{path}: the header has no {expected} but does have a {found[0]}; "
                f"the file seems to use a different delimiter than the {expected} its name promises"
            )
    try:
        return pd.read_csv(StringIO(text), sep=sep, dtype=object, keep_default_na=True)
    except pd.errors.ParserError as exc:
        raise DataFileError(f"{path}: cannot be parsed ({str(exc).splitlines()[0]})") from None


MAPPING_SECTIONS = ("columns", "values", "wide", "time")


def read_mapping(mapping: str | Path | Mapping | None) -> dict:
    """Read a column mapping: a dict or a YAML file.

    The mapping is either flat (``{their_name: contract_name}``) or has sections:

    ``columns``
        ``{their_name: contract_name}``.
    ``values``
        ``{contract_column: {their_value: contract_value}}``, e.g. months to waves
        (``wave: {0: 0, 6: 1, 12: 2}``) or arm codes (``arm: {0: usual care}``);
        values not listed stay as they are.
    ``wide``
        Arguments of :func:`from_wide` for files with one row per participant.
    ``time``
        ``{wave: weeks since baseline}``, applied after the above.

    Returns
    -------
    dict
        One entry per section (empty dict or None where absent).
    """
    spec = {"columns": {}, "values": {}, "wide": None, "time": None}
    if mapping is None:
        return spec
    if isinstance(mapping, (str, Path)):
        path = Path(mapping)
        if not path.is_file():
            raise DataFileError(f"{path}: mapping file not found")
        try:
            mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DataFileError(f"{path}: mapping is not valid UTF-8 YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(mapping, Mapping):
        raise DataFileError("mapping must be a dictionary of {file column: contract column}")
    if set(mapping) & set(MAPPING_SECTIONS):
        unknown = set(mapping) - set(MAPPING_SECTIONS)
        if unknown:
            raise DataFileError(f"mapping has unknown sections {sorted(unknown)}; allowed: {list(MAPPING_SECTIONS)}")
        spec.update({key: value for key, value in mapping.items() if value is not None})
    else:
        spec["columns"] = dict(mapping)
    bad = {k: v for k, v in spec["columns"].items() if not isinstance(v, str)}
    if bad:
        raise DataFileError(f"mapping targets must be column names (strings); got {bad}")
    spec["columns"] = {str(k): v for k, v in spec["columns"].items()}
    return spec


def _value_key(value: Any) -> str:
    """A value as text, with numbers in one canonical form (``"6"``, ``6``, ``6.0`` -> ``"6"``)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value).strip()
    return str(int(number)) if number.is_integer() else repr(number)


def _time_of_wave(wave: pd.Series, time: Mapping) -> pd.Series:
    """Weeks since baseline for each wave from a ``{wave: weeks}`` table (unlisted waves: missing)."""
    weeks = {_value_key(k): float(v) for k, v in time.items()}
    return wave.map(_value_key, na_action="ignore").map(weeks).astype(float)


def _recode(frame: pd.DataFrame, values: Mapping[str, Mapping]) -> pd.DataFrame:
    """Replace listed values column by column (the mapping's ``values`` section)."""
    absent = sorted(set(values) - set(frame.columns))
    if absent:
        raise DataValidationError([Problem(c, "named in the mapping's values section but not in the data")
                                   for c in absent])
    frame = frame.copy()
    for column, codes in values.items():
        table = {_value_key(k): v for k, v in codes.items()}
        keys = frame[column].map(_value_key, na_action="ignore")
        frame[column] = keys.map(table).where(keys.isin(list(table)), frame[column])
    return frame


# --------------------------------------------------------------------------- wide to long


def from_wide(
    data: pd.DataFrame,
    participant_id: str = "participant_id",
    pattern: str = r"^(?P<var>.+)_w(?P<wave>\d+)$",
    columns: Mapping[str, Mapping[int, str]] | None = None,
    time: Mapping[int, float] | None = None,
) -> pd.DataFrame:
    """Turn a one-row-per-participant table into the long contract layout.

    Parameters
    ----------
    data : DataFrame
        One row per participant.
    participant_id : str
        Column identifying participants. If it is absent, participants are numbered
        1..n in row order.
    pattern : str
        Regular expression with named groups ``var`` and ``wave`` recognising the
        time-varying columns (default: ``gse_total_w0``, ``phq9_3_w2``, ...). Ignored
        when ``columns`` is given.
    columns : mapping, optional
        Explicit ``{variable: {wave: column}}``, e.g. Beat the Blues'
        ``{"bdi_total": {0: "bdi.pre", 1: "bdi.2m", 2: "bdi.4m"}}``.
    time : mapping, optional
        ``{wave: weeks since baseline}``; without it ``time`` is left to default.

    Returns
    -------
    DataFrame
        Long table, one row per participant and wave, with the participant-level
        columns (arm, covariates) repeated on every row. Not yet validated: pass it to
        :func:`validate`.
    """
    data = data.copy()
    if participant_id not in data.columns:
        data.insert(0, participant_id, np.arange(1, len(data) + 1))
    if columns is None:
        regex = re.compile(pattern)
        columns = {}
        for name in data.columns:
            match = regex.match(str(name))
            if match:
                columns.setdefault(match["var"], {})[int(match["wave"])] = name
        if not columns:
            raise ValueError(f"no column matches the wide pattern {pattern!r}; columns are {list(data.columns)}")
    missing = sorted({c for waves in columns.values() for c in waves.values()} - set(data.columns))
    if missing:
        raise ValueError(f"wide columns not found in the data: {missing}")
    varying = {c for waves in columns.values() for c in waves.values()}
    constant = [c for c in data.columns if c not in varying]
    waves = sorted({w for by_wave in columns.values() for w in by_wave})
    parts = []
    for wave in waves:
        part = data[constant].copy()
        part["wave"] = wave
        for var, by_wave in columns.items():
            part[var] = data[by_wave[wave]] if wave in by_wave else np.nan
        parts.append(part)
    long = pd.concat(parts, ignore_index=True).rename(columns={participant_id: "participant_id"})
    if time is not None:
        long["time"] = _time_of_wave(long["wave"], time)
    return long.sort_values(["participant_id", "wave"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------- validation


def load_trial(path: str | Path | pd.DataFrame, mapping: str | Path | Mapping | None = None) -> pd.DataFrame:
    """Read a trial file, map its columns, validate it and score instruments.

    Parameters
    ----------
    path : str, Path or DataFrame
        CSV, TSV, Parquet or Excel file, a DataFrame already in memory, or the name of
        a bundled data set (:func:`analysis.datasets.names`), which comes with its own
        mapping (``data/mappings/NAME.yml``) when it needs one.
    mapping : dict, str or Path, optional
        Column mapping, inline or as a YAML file; see :func:`read_mapping`.

    Returns
    -------
    DataFrame
        Tidy long table sorted by participant and wave, with ``time`` filled in,
        ``arm`` categorical (a control-like level first), totals scored from items
        where absent, and ``attrs["instruments"]`` listing the instruments found.

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
        frame, source = read_table(path), str(path)
    spec = read_mapping(mapping)
    frame = _recode(_apply_mapping(frame, spec["columns"], source), spec["values"])
    if spec["wide"] is not None:
        frame = from_wide(frame, **spec["wide"])
    if spec["time"] is not None:
        frame["time"] = _time_of_wave(frame["wave"], spec["time"])
    return validate(frame, source=source)


def _apply_mapping(frame: pd.DataFrame, columns: dict, source: str | None) -> pd.DataFrame:
    problems = [
        Problem(name, f"named in the mapping but not in the file (columns are {list(frame.columns)})")
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


def validate(frame: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Hold a long table to the trial-data contract and return its tidy form.

    Parameters
    ----------
    frame : DataFrame
        Long table with contract column names (after any mapping).
    source : str, optional
        Name of the file, used in error messages.

    Returns
    -------
    DataFrame
        See :func:`load_trial`. The input frame is not modified.

    Raises
    ------
    DataValidationError
        Listing every problem found, not only the first.
    """
    frame = frame.reset_index(drop=True)
    problems = [Problem(c, "required column is missing") for c in REQUIRED if c not in frame.columns]
    instruments = _instruments_present(frame, problems)
    numeric, non_numeric = _to_numeric(frame, _numeric_columns(frame, instruments))
    problems += _missing_values(frame) + non_numeric
    if all(column in frame.columns for column in REQUIRED):
        problems += _schema_problems(frame, numeric, instruments)
    if problems:
        raise DataValidationError(problems, source)
    return _tidy(frame, numeric, instruments)


def _instruments_present(frame: pd.DataFrame, problems: list[Problem]) -> list[str]:
    found = []
    for key, inst in scales.INSTRUMENTS.items():
        items = [c for c in inst.items if c in frame.columns]
        if items and len(items) < inst.n_items:
            absent = [c for c in inst.items if c not in frame.columns]
            problems.append(Problem(absent[0], f"{inst.name} item columns incomplete: missing {absent}"))
        elif items or inst.total in frame.columns:
            found.append(key)
    if not found:
        names = ", ".join(f"{i.total}" + (f" or {i.items[0]}..{i.items[-1]}" if i.n_items else "")
                          for i in scales.INSTRUMENTS.values())
        problems.append(Problem("instruments", f"no instrument columns found; expected one of {names}"))
    return found


def _numeric_columns(frame: pd.DataFrame, instruments: list[str]) -> list[str]:
    cols = ["wave", "time", *COUNT_COLUMNS, *NUMERIC_OPTIONAL]
    for key in instruments:
        inst = scales.INSTRUMENTS[key]
        cols += [c for c in inst.items if c in frame.columns] + [inst.total]
    return [c for c in cols if c in frame.columns]


def _to_numeric(frame: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[Problem]]:
    """Numeric copies of ``columns``; values that are present but not numbers are problems."""
    numeric, problems = pd.DataFrame(index=frame.index), []
    for col in columns:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() & frame[col].notna()
        if bad.any():
            problems.append(_problem(col, "values are not numbers", frame[col], bad))
        numeric[col] = values.astype(float)
    return numeric, problems


def _missing_values(frame: pd.DataFrame) -> list[Problem]:
    """Empty cells in the columns that must always be filled."""
    columns = [c for c in (*REQUIRED, "time") if c in frame.columns]
    return [_problem(c, "missing values", frame[c], frame[c].isna()) for c in columns if frame[c].isna().any()]


def _problem(column: str, reason: str, values: pd.Series, mask: pd.Series) -> Problem:
    idx = np.flatnonzero(np.asarray(mask))
    shown = idx[:SHOWN]
    return Problem(
        column,
        reason,
        rows=tuple(int(i) + FIRST_ROW for i in shown),
        values=tuple(_plain(v) for v in values.iloc[shown]),
        count=len(idx),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _range_check(low: float, high: float, integer: bool) -> pa.Check:
    kind = "whole numbers " if integer else ""
    return pa.Check(
        lambda s: s.between(low, high) & ((s % 1 == 0) if integer else True),
        error=f"values must be {kind}from {low:g} to {high:g}",
    )


def _schema(frame: pd.DataFrame, instruments: list[str], row_checks: list) -> pa.DataFrameSchema:
    """The contract as a pandera schema over the numeric-converted table."""
    cols: dict[str, pa.Column] = {
        "wave": pa.Column(checks=pa.Check(lambda s: (s >= 0) & (s % 1 == 0), error="waves must be whole numbers >= 0")),
    }
    for key in instruments:
        inst = scales.INSTRUMENTS[key]
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


def _row_checks(frame: pd.DataFrame, instruments: list[str]) -> list[tuple[list[str], Any, str]]:
    """Checks across columns: (columns shown in the report, row-wise test, message)."""
    checks = [(["participant_id", "wave"], _unique_waves, "(participant_id, wave) appears more than once")]
    if "time" in frame.columns:
        checks.append((["participant_id", "wave", "time"], _time_non_decreasing,
                       "time decreases while wave increases for a participant"))
    if set(COUNT_COLUMNS) <= set(frame.columns):
        checks.append((list(COUNT_COLUMNS), _attended_within_offered, "sessions_attended exceeds sessions_offered"))
    for key in instruments:
        inst = scales.INSTRUMENTS[key]
        if inst.n_items and inst.total in frame.columns and set(inst.items) <= set(frame.columns):
            checks.append(([inst.total], _total_agrees(inst), f"{inst.total} disagrees with the sum of its items"))
    return checks


def _unique_waves(df: pd.DataFrame) -> pd.Series:
    return ~df.duplicated(["participant_id", "wave"], keep=False)


def _time_non_decreasing(df: pd.DataFrame) -> pd.Series:
    order = df.dropna(subset=["wave"]).sort_values(["participant_id", "wave"], kind="stable")
    step = order.groupby("participant_id", sort=False, dropna=False)["time"].diff()
    return (step.isna() | (step >= 0)).reindex(df.index, fill_value=True)


def _attended_within_offered(df: pd.DataFrame) -> pd.Series:
    return ~(df["sessions_attended"] > df["sessions_offered"])


def _total_agrees(inst: scales.Instrument):
    def agrees(df: pd.DataFrame) -> pd.Series:
        complete = df[inst.items].notna().all(axis=1) & df[inst.total].notna()
        diff = (scales.score(df[inst.items], inst) - df[inst.total]).abs()
        return ~complete | (diff < 1e-9)

    return agrees


def _schema_problems(frame: pd.DataFrame, numeric: pd.DataFrame, instruments: list[str]) -> list[Problem]:
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
            shown = frame[across[check]].apply(lambda row: ", ".join(str(_plain(v)) for v in row), axis=1)
            problems.append(_problem(", ".join(across[check]), check, shown, mask))
    return problems


def _tidy(frame: pd.DataFrame, numeric: pd.DataFrame, instruments: list[str]) -> pd.DataFrame:
    tidy = frame.copy()
    tidy[numeric.columns] = numeric
    tidy["wave"] = tidy["wave"].astype(int)
    if "time" not in tidy.columns:
        tidy["time"] = tidy["wave"].astype(float)
    for key in instruments:
        inst = scales.INSTRUMENTS[key]
        if inst.n_items and set(inst.items) <= set(tidy.columns):
            tidy[inst.items] = tidy[inst.items].astype("Int64")
            if inst.total not in tidy.columns:
                tidy[inst.total] = scales.score(tidy[inst.items], inst)
    tidy["arm"] = _arm_categorical(tidy["arm"])
    tidy = tidy.sort_values(["participant_id", "wave"], kind="stable").reset_index(drop=True)
    tidy.attrs["instruments"] = instruments
    return tidy


def _arm_categorical(arm: pd.Series) -> pd.Categorical:
    """Arms as a categorical; keeps a given order, else puts a control-like level first."""
    if isinstance(arm.dtype, pd.CategoricalDtype):
        return arm.cat.remove_unused_categories()
    levels = sorted(arm.astype(str).unique())
    controls = [lvl for lvl in levels if lvl.strip().lower() in CONTROL_NAMES]
    levels = controls[:1] + [lvl for lvl in levels if lvl not in controls[:1]]
    return pd.Categorical(arm.astype(str), categories=levels)


# --------------------------------------------------------------------------- summary


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
    totals = [scales.INSTRUMENTS[k].total for k in data.attrs.get("instruments", [])]
    observed = data.groupby("wave")[totals].count()
    missing = (100 * (1 - observed.div(n))).round(1)
    return {
        "participants": int(n),
        "rows": int(len(data)),
        "waves": {int(w): int(c) for w, c in per_wave.items()},
        "arms": {str(a): int(c) for a, c in arms.items()},
        "instruments": {
            k: "items" if set(scales.INSTRUMENTS[k].items) <= set(data.columns) and scales.INSTRUMENTS[k].n_items
            else "total"
            for k in data.attrs.get("instruments", [])
        },
        "missing_by_wave": missing,
    }


def retention(data: pd.DataFrame) -> pd.DataFrame:
    """Percent of each arm's baseline participants observed at every wave (rows waves, columns arms)."""
    counts = data.groupby(["wave", "arm"], observed=False)["participant_id"].nunique().unstack("arm")
    baseline = data.groupby("arm", observed=False)["participant_id"].nunique()
    return (100 * counts / baseline).round(1)
