"""Reading files and mappings, recoding values and turning wide tables long."""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

from .errors import DataFileError, DataValidationError, Problem

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
