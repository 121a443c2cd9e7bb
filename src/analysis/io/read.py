"""Reading files and mappings, recoding values and turning wide tables long.

Row numbers travel with the data: while a file is loaded, its table is indexed by
:data:`FILE_ROW`, the row number a spreadsheet (or, for a text file, an editor)
shows for each data row, with title rows, skipped rows and blank lines accounted
for. :func:`from_wide` keeps the wide row a long row came from, so that problems
found after reshaping still name the user's rows. Nothing here writes to a file.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections import Counter
from collections.abc import Hashable
from io import StringIO
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
import yaml

from .. import scales
from .errors import FIRST_ROW, SHOWN, DataFileError, DataValidationError, Problem

FILE_ROW = "file_row"  # index name: the file's row number of every row
MAPPING_SECTIONS = ("columns", "values", "wide", "time", "read", "instruments")
READ_KEYS = ("sep", "decimal", "thousands", "encoding", "sheet", "skiprows", "header", "na_values")
WIDE_KEYS = ("participant_id", "pattern", "columns", "time")
INSTRUMENT_KEYS = ("label", "items", "item_range", "total_range", "reverse", "higher_is_better",
                   "max_missing", "reliability")
_FORMAT_KEYS = {  # read: keys that apply to each kind of file
    "text": ("sep", "decimal", "thousands", "encoding", "skiprows", "header", "na_values"),
    "Excel": ("sheet", "decimal", "thousands", "skiprows", "header", "na_values"),
    "Parquet": ("na_values",),
}
_TEXT_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
_SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_DECIMAL_COMMA = re.compile(r"\s*[+-]?\d+,\d+\s*")
_DECIMAL_POINT = re.compile(r"\s*[+-]?\d+\.\d+\s*")
_SNIFFED_LINES = 50


# --------------------------------------------------------------------------- files


def read_table(path: str | Path, read: Mapping | None = None) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or Excel file into a DataFrame, as it is.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.tsv``/``.tab``/``.txt`` (separator sniffed), ``.parquet``/``.pq``
        or ``.xlsx``/``.xlsm``.
    read : mapping, optional
        How to read it (the mapping's ``read:`` section): ``sep``, ``decimal``,
        ``thousands``, ``encoding`` (text files); ``sheet`` (Excel: name, or number
        counted from 1); ``skiprows`` (rows above the column names, or a list of row
        numbers to skip), ``header`` (row number of the column names) and
        ``na_values`` (codes for missing, e.g. ``[-99, "."]``) for both. Text files are
        read as text (numbers with the ``decimal`` and ``thousands`` characters are
        rewritten in the ``1234.5`` form); rows with no value at all are dropped.

    Returns
    -------
    pandas.DataFrame
        With a default index (``load_trial`` keeps the file's row numbers).

    Raises
    ------
    DataFileError
        With a one-line reason: missing or unreadable file, empty file, binary
        content, a file needing ``read:`` options it was not given (another
        separator, decimal commas, title rows above the column names, text that is
        not UTF-8: the message holds the ``read: {...}`` line to add), an option that
        does not apply to the format, an absent sheet, or no data rows.
    DataValidationError
        An unknown or malformed ``read`` option (named ``read.KEY``).
    """
    return read_rows(path, _read_options(read)).reset_index(drop=True)


def read_rows(path: str | Path, options: Mapping) -> pd.DataFrame:
    """Like :func:`read_table` with checked options, indexed by the file's row numbers (:data:`FILE_ROW`)."""
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
    if suffix == ".xls":
        raise DataFileError(f"{path}: old-style .xls workbooks are not supported; save it as .xlsx or CSV")
    kind = "Parquet" if suffix in (".parquet", ".pq") else "Excel" if suffix in (".xlsx", ".xlsm") else "text"
    misplaced = [key for key in options if key not in _FORMAT_KEYS[kind]]
    if misplaced:
        raise DataFileError(f"{path}: read.{misplaced[0]} does not apply to {kind} files "
                            f"(read: keys for them: {list(_FORMAT_KEYS[kind])})")
    if kind == "Parquet":
        frame = _binary(path, pd.read_parquet, kind)
        frame.index = pd.RangeIndex(FIRST_ROW, FIRST_ROW + len(frame))
    elif kind == "Excel":
        frame = _read_excel(path, options)
    else:
        frame = _read_text(path, raw, options, _TEXT_SUFFIXES.get(suffix))
    frame = _missing_codes(_plain_numbers(frame, options), options.get("na_values", ()))
    frame = frame.dropna(how="all").rename_axis(FILE_ROW)
    if frame.empty:
        raise DataFileError(f"{path}: has a header but no data rows")
    return frame


def file_rows(frame: pd.DataFrame) -> np.ndarray:
    """The file's row number of every row: the :data:`FILE_ROW` index, else 2, 3, ... in order."""
    if frame.index.name == FILE_ROW:
        return frame.index.to_numpy(dtype=int)
    return np.arange(FIRST_ROW, FIRST_ROW + len(frame))


def decimal_comma_hint(values: pd.Series) -> str:
    """Advice for values that failed as numbers because they are written with decimal commas ('' if not)."""
    if not values.astype(str).str.fullmatch(_DECIMAL_COMMA.pattern).any():
        return ""
    return '; they look like numbers with decimal commas: add decimal: "," to the mapping\'s read: section'


def _binary(path: Path, reader, kind: str) -> pd.DataFrame:
    try:
        return reader(path)
    except Exception as exc:  # the readers raise many unrelated types
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataFileError(f"{path}: cannot be read as {kind} ({reason})") from None


def _skipped(options: Mapping) -> tuple[int, set[int]]:
    """Row number of the column names and the set of row numbers (from 1) that are not data."""
    skip = options.get("skiprows", 0)
    listed = set(range(1, skip + 1)) if isinstance(skip, int) else set(skip)
    header = options.get("header") or next(r for r in range(1, len(listed) + 2) if r not in listed)
    return header, listed | set(range(1, header))


def _numbered(count: int, header: int, skipped: set[int]) -> list[int]:
    """Row numbers of ``count`` data rows following the header, passing over skipped rows."""
    rows, row = [], header
    while len(rows) < count:
        row += 1
        if row not in skipped:
            rows.append(row)
    return rows


def _read_excel(path: Path, options: Mapping) -> pd.DataFrame:
    sheet = options.get("sheet", 1)
    header, skipped = _skipped(options)
    with _binary(path, lambda p: pd.ExcelFile(p, engine="openpyxl"), "Excel") as book:
        names = book.sheet_names
        if isinstance(sheet, int) and not 1 <= sheet <= len(names) or isinstance(sheet, str) and sheet not in names:
            raise DataFileError(f"{path}: read.sheet {sheet!r} is not in the workbook; its sheets are {names} "
                                "(a number counts from 1)")
        name = names[sheet - 1] if isinstance(sheet, int) else sheet
        top = _binary(path, lambda p: book.parse(name, header=None, nrows=_SNIFFED_LINES), "Excel")
        cells = [(n, [c for c in row if pd.notna(c)]) for n, row in enumerate(top.itertuples(index=False), start=1)]
        _ask_for(path, options, *_layout_needs(options, *_layout(cells, sep=None)))
        frame = _binary(path, lambda p: book.parse(name, header=0, skiprows=sorted(r - 1 for r in skipped)),
                        "Excel")
    frame.index = _numbered(len(frame), header, skipped)
    return frame


def sheet_hint(path: str | Path, options: Mapping, columns: list[str]) -> str:
    """Where a workbook read without ``read: {sheet: ...}`` holds ``columns``, as the read line to add.

    Parameters
    ----------
    path : str or Path
        The file; anything but an Excel workbook gives "".
    options : mapping
        The mapping's ``read`` options (a ``sheet`` given there gives "").
    columns : list of str
        Column names the mapping expects but the first sheet lacks.

    Returns
    -------
    str
        E.g. ``"; they are on sheet 'Daten' (header in row 2): add this line to the
        mapping: read: {sheet: "Daten", skiprows: 1}"``, or "" when no sheet holds them.
    """
    path = Path(path)
    if path.suffix.lower() not in (".xlsx", ".xlsm") or "sheet" in options or not columns:
        return ""
    wanted = {str(c).strip() for c in columns}
    best = (0, "", 0)
    with _binary(path, lambda p: pd.ExcelFile(p, engine="openpyxl"), "Excel") as book:
        for name in book.sheet_names:
            top = book.parse(name, header=None, nrows=_SNIFFED_LINES)
            for row, values in enumerate(top.itertuples(index=False)):
                found = len(wanted & {str(v).strip() for v in values if pd.notna(v)})
                best = max(best, (found, name, row), key=lambda b: b[0])
    found, name, row = best
    if not found:
        return ""
    line = _read_line({**options, "sheet": name, **({"skiprows": row} if row else {})})
    return f"; they are on sheet {name!r} (header in row {row + 1}): add this line to the mapping: {line}"


def _read_text(path: Path, raw: bytes, options: Mapping, sep: str | None) -> pd.DataFrame:
    text, encoding_note = _decode(path, raw, options.get("encoding"))
    lines = text.splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, start=1) if line.strip()][:_SNIFFED_LINES]
    sniffed = options.get("sep") or _sniff_sep([line for _, line in numbered])
    sep = options.get("sep") or sep or sniffed
    needed, reasons = {}, []
    if encoding_note:
        needed["encoding"], reason = encoding_note
        reasons.append(reason)
    if sniffed != sep:
        needed["sep"] = sniffed
        reasons.append(f"columns are separated by {_SEPARATORS[sniffed]}s, not by the "
                       f"{_SEPARATORS[sep]}s a {path.suffix} file promises")
    fields = [(n, next(csv.reader([line], delimiter=sniffed))) for n, line in numbered]
    layout_needed, layout_reasons = _layout_needs(options, *_layout(fields, sniffed))
    _ask_for(path, options, {**needed, **layout_needed}, reasons + layout_reasons)
    header, skipped = _skipped(options)
    skipped |= {number for number, line in enumerate(lines, start=1) if not line.strip()}
    try:
        frame = pd.read_csv(StringIO(text), sep=sep, dtype=object, header=0, skiprows=sorted(r - 1 for r in skipped))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataFileError(f"{path}: cannot be parsed ({str(exc).splitlines()[0]})") from None
    header = next(r for r in range(header, len(lines) + 2) if r not in skipped)
    frame.index = _numbered(len(frame), header, skipped)
    return frame


def _sniff_sep(lines: list[str]) -> str:
    """The separator that splits most lines into the same number (above one) of fields; comma if none does."""
    best = (",", 0.0, 1)
    for candidate in _SEPARATORS:
        widths = [len(next(csv.reader([line], delimiter=candidate))) for line in lines]
        width, count = Counter(widths).most_common(1)[0]
        if width > 1 and (count / len(widths), width) > best[1:]:
            best = (candidate, count / len(widths), width)
    return best[0]


def _layout(rows: list[tuple[int, list]], sep: str | None) -> tuple[int, str | None]:
    """Row number of the column names, and an example of a decimal comma below them (None if none).

    ``rows`` are (row number, cells) of the first rows. The column names are on the first
    row with at least as many cells as most rows have; rows above (titles) have fewer.
    Decimal commas are text cells such as ``"2,5"`` when no cell is written ``"2.5"``
    (never in a comma-separated file).
    """
    widths = [len(cells) for _, cells in rows]
    usual = Counter(widths).most_common(1)[0][0]
    header_at = next(n for (n, _), width in zip(rows, widths) if width >= usual)
    text = [c for n, cells in rows if n > header_at for c in cells if isinstance(c, str)]
    commas = [c for c in text if _DECIMAL_COMMA.fullmatch(c)]
    points = any(_DECIMAL_POINT.fullmatch(c) for c in text)
    return header_at, commas[0] if commas and not points and sep != "," else None


def _layout_needs(options: Mapping, header_at: int, decimal: str | None) -> tuple[dict, list[str]]:
    """``read:`` options a file's layout needs but was not given, with the reasons."""
    needed, reasons = {}, []
    if "skiprows" not in options and "header" not in options and header_at > 1:
        needed["skiprows"] = header_at - 1
        reasons.append(f"the column names seem to be in row {header_at} (rows above have fewer columns)")
    if "decimal" not in options and decimal:
        needed["decimal"] = ","
        reasons.append(f"numbers are written with decimal commas (e.g. {decimal!r})")
    return needed, reasons


def _ask_for(path: Path, options: Mapping, needed: dict, reasons: list[str]) -> None:
    """Refuse a file that needs ``read:`` options it was not given, with the line to add."""
    if needed:
        raise DataFileError(f"{path}: {'; '.join(reasons)}; add this line to the mapping: "
                            f"{_read_line({**options, **needed})}")


def _decode(path: Path, raw: bytes, encoding: str | None) -> tuple[str, tuple[str, str] | None]:
    """The text, and (encoding to suggest, reason) when it is not UTF-8 and no encoding was given."""
    if encoding:
        try:
            return raw.decode(encoding), None
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: does not decode as read.encoding {encoding!r} (byte "
                                f"0x{raw[exc.start]:02x} at position {exc.start})") from None
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), ("utf-16", "the file is UTF-16 encoded")
    if b"\x00" in raw[:8192]:
        raise DataFileError(f"{path}: is not a text file (binary content); expected CSV, TSV, Parquet or Excel")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        reason = f"is not UTF-8 encoded (byte 0x{raw[exc.start]:02x} at position {exc.start})"
    try:
        text, guess = raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:  # bytes cp1252 leaves undefined; latin-1 decodes every byte
        text, guess = raw.decode("latin-1"), "latin-1"
    return text, (guess, f"{reason}; it reads as {guess} (or re-save it as UTF-8)")


def _read_line(options: Mapping) -> str:
    """A mapping's ``read:`` line in YAML flow style."""
    return "read: {" + ", ".join(f"{key}: {json.dumps(value)}" for key, value in options.items()) + "}"


def _plain_numbers(frame: pd.DataFrame, options: Mapping) -> pd.DataFrame:
    """Text numbers written with ``decimal``/``thousands`` characters rewritten as ``1234.5``."""
    decimal, thousands = options.get("decimal", "."), options.get("thousands")
    if decimal == "." and not thousands:
        return frame
    whole = rf"\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+" if thousands else r"\d+"
    number = re.compile(rf"\s*[+-]?(?:{whole})(?:{re.escape(decimal)}\d+)?\s*")

    def plain(value: Any) -> Any:
        if not isinstance(value, str) or not number.fullmatch(value):
            return value
        text = value.strip().replace(thousands, "") if thousands else value.strip()
        return text.replace(decimal, ".")

    return frame.apply(lambda column: column.map(plain) if column.dtype == object else column)


def _missing_codes(frame: pd.DataFrame, codes) -> pd.DataFrame:
    """Cells equal to one of the missing-value codes (``-99``, ``"-99"`` and ``-99.0`` alike) made missing."""
    if not codes:
        return frame
    keys = {_value_key(code) for code in codes}
    return frame.mask(frame.map(_value_key, na_action="ignore").isin(keys))


# --------------------------------------------------------------------------- mappings


def read_mapping(mapping: str | Path | Mapping | None) -> dict:
    """Read a column mapping: a dict or a YAML file.

    The mapping is either flat (``{their_name: contract_name}``) or has sections:

    ``columns``
        ``{their_name: contract_name}``.
    ``values``
        ``{contract_column: {their_value: contract_value}}``, e.g. months to waves
        (``wave: {0: 0, 6: 1, 12: 2}``, also for the waves of a wide file) or arm
        codes (``arm: {0: usual care}``); values not listed stay as they are.
    ``wide``
        Arguments of :func:`from_wide` for files with one row per participant.
    ``time``
        ``{wave: weeks since baseline}``, applied after the above.
    ``read``
        How to read the file (see :func:`read_table`), e.g.
        ``{sep: ";", decimal: ",", encoding: cp1252, sheet: Daten, skiprows: 1,
        na_values: [-99, "."]}``.
    ``instruments``
        Instruments the registry lacks, ``{name: {label, items, item_range,
        total_range, reverse, higher_is_better, max_missing, reliability}}``; then
        ``name_1`` .. ``name_k`` and ``name_total`` are contract columns (see
        :func:`define_instrument`).

    Returns
    -------
    dict
        One entry per section (empty dict or None where absent); ``instruments``
        holds :class:`analysis.scales.Instrument` objects, and ``item_columns`` the
        renaming ``{file column: name_i}`` of instruments whose items are listed by
        column name.

    Raises
    ------
    DataFileError
        The file is absent or not YAML, or the mapping is not a dictionary.
    DataValidationError
        Unknown sections or keys, or malformed values, each named
        (``read.sep``, ``instruments.brs.reverse``, ...).
    """
    spec = {"columns": {}, "values": {}, "wide": None, "time": None, "read": {}, "instruments": {},
            "item_columns": {}}
    source = None
    if isinstance(mapping, (str, Path)):
        mapping, source = _load_yaml(Path(mapping)), str(mapping)
    if mapping is None:
        return spec
    if not isinstance(mapping, Mapping):
        raise DataFileError("mapping must be a dictionary of {file column: contract column}")
    if set(mapping) & set(MAPPING_SECTIONS):
        _refuse(_unknown(mapping, MAPPING_SECTIONS, "mapping", "sections"), source)
        spec.update({key: value for key, value in mapping.items() if value is not None})
    else:
        spec["columns"] = dict(mapping)
    bad = {k: v for k, v in spec["columns"].items() if not isinstance(v, str)}
    if bad:
        raise DataFileError(f"mapping targets must be column names (strings); got {bad}")
    spec["columns"] = {str(k): v for k, v in spec["columns"].items()}
    problems = _section_problems(spec["wide"], WIDE_KEYS, "wide")
    try:
        spec["read"] = _read_options(spec["read"])
    except DataValidationError as exc:
        problems += exc.problems
    spec["instruments"], spec["item_columns"], defined = _instruments(spec["instruments"])
    _refuse(problems + defined, source)
    return spec


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise DataFileError(f"{path}: mapping file not found")
    try:
        return load_yaml(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataFileError(f"{path}: mapping is not valid UTF-8 YAML ({str(exc).splitlines()[0]})") from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key written twice in one mapping (PyYAML keeps the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # ``<<: *anchor`` may be overridden by design
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if isinstance(key, Hashable) and key in lines:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is written twice: on line {lines[key]} and on line {line}",
                    key_node.start_mark)
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


def load_yaml(text: str) -> Any:
    """Parse YAML as ``yaml.safe_load`` does, but refuse a key written twice in one mapping.

    Raises
    ------
    yaml.YAMLError
        Invalid YAML; for a repeated key the first line of the message names the key
        and both lines.
    """
    return yaml.load(text, Loader=_UniqueKeyLoader)


def _refuse(problems: list[Problem], source: str | None = None) -> None:
    if problems:
        raise DataValidationError(problems, source)


def _unknown(section: Mapping, allowed: tuple, where: str, what: str = "keys") -> list[Problem]:
    unknown = sorted(set(map(str, section)) - set(allowed))
    return [Problem(where, f"unknown {what} {unknown}; allowed: {list(allowed)}")] if unknown else []


def _section_problems(section: Any, allowed: tuple, where: str) -> list[Problem]:
    if section is None:
        return []
    if not isinstance(section, Mapping):
        return [Problem(where, f"must be a dictionary of {list(allowed)}; got {section!r}")]
    return _unknown(section, allowed, where)


def _read_options(section: Mapping | None) -> dict:
    """The ``read:`` section checked key by key (values as given; ``na_values`` as a list)."""
    _refuse(_section_problems(section, READ_KEYS, "read"))
    section = dict(section or {})
    checks = {
        "sep": lambda v: isinstance(v, str) and len(v) == 1,
        "decimal": lambda v: v in (".", ","),
        "thousands": lambda v: v in (".", ",", " ", "'") and v != section.get("decimal", "."),
        "encoding": _known_encoding,
        "sheet": lambda v: isinstance(v, str) or _whole(v, 1),
        "skiprows": lambda v: _whole(v, 0) or isinstance(v, list) and v and all(_whole(r, 1) for r in v),
        "header": lambda v: _whole(v, 1),
        "na_values": lambda v: all(isinstance(c, (str, int, float)) for c in _as_list(v)),
    }
    wanted = {
        "sep": "one character, e.g. \";\" or \"\\t\"", "decimal": "\".\" or \",\"",
        "thousands": "one of \".\", \",\", \" \", \"'\" and not the decimal character",
        "encoding": "an encoding Python knows, e.g. cp1252, latin-1, utf-16",
        "sheet": "a sheet name or a sheet number counted from 1",
        "skiprows": "the number of rows above the column names, or a list of row numbers (from 1)",
        "header": "the row number (from 1) of the column names", "na_values": "a code or a list of codes",
    }
    problems = [Problem(f"read.{key}", f"must be {wanted[key]}; got {value!r}")
                for key, value in section.items() if not checks[key](value)]
    header, skip = section.get("header"), section.get("skiprows")
    if not problems and header and _whole(skip, 0) and skip >= header:
        problems.append(Problem("read.header", f"row {header} is among the {skip} rows skipped by read.skiprows"))
    _refuse(problems)
    if "na_values" in section:
        section["na_values"] = _as_list(section["na_values"])
    return section


def _whole(value: Any, low: int) -> bool:
    return _integer(value) and value >= low


def _as_list(value: Any) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _known_encoding(name: Any) -> bool:
    try:
        codecs.lookup(name)
    except (LookupError, TypeError):
        return False
    return True


# --------------------------------------------------------------------------- instruments


def _instruments(section: Mapping) -> tuple[dict, dict, list[Problem]]:
    """Instruments defined in a mapping, the renaming of listed item columns, and the problems."""
    if not isinstance(section, Mapping):
        return {}, {}, [Problem("instruments", f"must map instrument names to definitions; got {section!r}")]
    defined, renames, problems = {}, {}, []
    for key, spec in section.items():
        try:
            defined[key], columns = define_instrument(key, spec)
        except DataValidationError as exc:
            problems += exc.problems
            continue
        for column, target in columns.items():
            if column in renames:
                problems.append(Problem(f"instruments.{key}.items", f"column {column!r} is also an item of "
                                                                    f"{renames[column].rsplit('_', 1)[0]}"))
            renames[column] = target
    return defined, renames, problems


def define_instrument(key: str, spec: Mapping) -> tuple[scales.Instrument, dict[str, str]]:
    """An instrument the registry lacks, from a mapping's ``instruments:`` entry.

    Parameters
    ----------
    key : str
        Its name: letters, digits and underscores, starting with a letter, not a
        built-in key. Item columns are ``key_1`` .. ``key_k``, the total ``key_total``.
    spec : mapping
        ``label`` (display name; default ``key``); ``items`` (number of items, or a
        list of the file's item columns in item order; absent for a total-only
        instrument); ``item_range`` ``[low, high]`` (whole numbers; needed with
        items); ``total_range`` ``[low, high]`` (default: items times the item
        range; needed without items); ``reverse`` (reverse-keyed item numbers, from
        1); ``higher_is_better`` (required: true when higher totals mean better
        functioning); ``max_missing`` (most missing items for which a prorated total
        is scored; default 20% of the items, rounded down); ``reliability``
        (published alpha, used for reliable change when the items are absent).

    Returns
    -------
    Instrument
        With construct ``"other"``.
    dict
        ``{file column: key_i}`` when ``items`` lists column names, else empty.

    Raises
    ------
    DataValidationError
        Every problem of the entry, named ``instruments.KEY.FIELD`` with the value.
    """
    where = f"instruments.{key}"
    _refuse(_name_problems(key, spec, where))
    items, columns = _items(spec.get("items", 0), key, where)
    problems: list[Problem] = []
    item_range = _pair(spec, "item_range", where, problems, _integer)
    total_range = _pair(spec, "total_range", where, problems, _number)
    problems += _range_problems(spec, where, items, item_range, total_range)
    max_missing = spec.get("max_missing", int(0.2 * items))
    problems += _scoring_problems(spec, where, items, max_missing)
    _refuse(problems)
    low, high = item_range or (None, None)
    total_min, total_max = total_range or (items * low, items * high)
    instrument = scales.Instrument(
        key=key, name=str(spec.get("label", key)), n_items=items, item_min=low, item_max=high,
        total_min=total_min, total_max=total_max, reverse=tuple(_as_list(spec.get("reverse", []))),
        max_missing=max_missing if items else 0, construct="other", higher_is_better=spec["higher_is_better"],
        reference_alpha=spec.get("reliability"), citation="defined in the mapping",
    )
    return instrument, columns


def _name_problems(key: Any, spec: Any, where: str) -> list[Problem]:
    """The first problem of an entry's name or shape (the other checks depend on them)."""
    if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key):
        return [Problem(where, "an instrument name must be letters, digits and underscores, starting "
                               "with a letter (it names the columns NAME_1.. and NAME_total)")]
    if key in scales.INSTRUMENTS:
        return [Problem(where, f"is a built-in instrument ({scales.INSTRUMENTS[key].name}); "
                               "give your definition another name")]
    if not isinstance(spec, Mapping):
        return [Problem(where, f"must be a dictionary of {list(INSTRUMENT_KEYS)}; got {spec!r}")]
    return _unknown(spec, INSTRUMENT_KEYS, where)


def _items(items: Any, key: str, where: str) -> tuple[int, dict[str, str]]:
    """Number of items and the renaming of listed item columns (malformed: refused, as the rest depends on it)."""
    if _whole(items, 0):
        return items, {}
    if isinstance(items, list) and items and all(isinstance(c, str) for c in items) and len(set(items)) == len(items):
        return len(items), {column: f"{key}_{i}" for i, column in enumerate(items, start=1)}
    raise DataValidationError([Problem(f"{where}.items", "must be a number of items or a list of distinct column "
                                                         f"names; got {items!r}")])


def _pair(spec: Mapping, field: str, where: str, problems: list[Problem], number) -> tuple | None:
    """A ``[low, high]`` range, or None (absent, or malformed: then a problem is added)."""
    value = spec.get(field)
    if value is None:
        return None
    if isinstance(value, list) and len(value) == 2 and all(map(number, value)) and value[0] < value[1]:
        return tuple(value)
    kind = "whole numbers " if number is _integer else ""
    problems.append(Problem(f"{where}.{field}", f"must be [lowest, highest] with {kind}lowest < highest; got {value!r}"))
    return None


def _range_problems(spec: Mapping, where: str, items: int, item_range: tuple | None,
                    total_range: tuple | None) -> list[Problem]:
    """Ranges that are needed but absent, given without items, or at odds with summing the items."""
    if not items:
        problems = [Problem(f"{where}.{field}", "applies to items, but items are not given")
                    for field in ("item_range", "reverse", "max_missing") if field in spec]
        if "total_range" not in spec:
            problems.append(Problem(f"{where}.total_range", "is needed without items: [lowest, highest] total"))
        return problems
    if "item_range" not in spec:
        return [Problem(f"{where}.item_range", "is needed with items: [lowest, highest] answer")]
    summed = [items * item_range[0], items * item_range[1]] if item_range else None
    if summed and total_range and list(total_range) != summed:
        return [Problem(f"{where}.total_range", f"totals are scored as sums of the {items} items, so it must be "
                                                f"{summed}; got {list(total_range)}")]
    return []


def _scoring_problems(spec: Mapping, where: str, items: int, max_missing: Any) -> list[Problem]:
    """Problems of ``reverse``, ``max_missing``, ``higher_is_better`` and ``reliability``."""
    problems = []
    reverse = _as_list(spec.get("reverse", []))
    if items and not all(_whole(i, 1) and i <= items for i in reverse):
        problems.append(Problem(f"{where}.reverse", f"must list item numbers 1..{items}; got {spec['reverse']!r}"))
    if items and not (_whole(max_missing, 0) and max_missing < items):
        problems.append(Problem(f"{where}.max_missing", f"must be a whole number 0..{items - 1}; got {max_missing!r}"))
    if not isinstance(spec.get("higher_is_better"), bool):
        problems.append(Problem(f"{where}.higher_is_better", "must be true (higher totals are better, as for "
                                                             "self-efficacy) or false (as for symptoms); got "
                                                             f"{spec.get('higher_is_better')!r}"))
    alpha = spec.get("reliability")
    if alpha is not None and not (_number(alpha) and 0 < alpha < 1):
        problems.append(Problem(f"{where}.reliability", f"must be a number between 0 and 1; got {alpha!r}"))
    return problems


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# --------------------------------------------------------------------------- recoding


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
        columns (arm, covariates) repeated on every row, indexed by
        :data:`FILE_ROW`: the row of ``data`` each row came from (its own
        :data:`FILE_ROW` index, else 2, 3, ... as a spreadsheet numbers them), so that
        :func:`validate` names the user's rows. Not yet validated.

    Raises
    ------
    DataValidationError
        ``pattern`` is not a regular expression with groups ``var`` and ``wave`` or
        matches no column (the message shows the columns that look close and a
        pattern that would match them), or ``columns`` names absent columns.
    """
    data = data.copy()
    data.index = pd.Index(file_rows(data), name=FILE_ROW)
    if participant_id not in data.columns:
        data.insert(0, participant_id, np.arange(1, len(data) + 1))
    columns = _wide_columns(data, pattern) if columns is None else columns
    varying = {c for waves in columns.values() for c in waves.values()}
    missing = sorted(varying - set(data.columns), key=str)
    if missing:
        raise DataValidationError([Problem(str(c), "named in the wide columns but not in the data "
                                                   f"(columns are {list(data.columns)})") for c in missing])
    constant = [c for c in data.columns if c not in varying]
    waves = sorted({w for by_wave in columns.values() for w in by_wave})
    parts = []
    for wave in waves:
        part = data[constant].copy()
        part["wave"] = wave
        for var, by_wave in columns.items():
            part[var] = data[by_wave[wave]] if wave in by_wave else np.nan
        parts.append(part)
    long = pd.concat(parts).rename(columns={participant_id: "participant_id"})
    if time is not None:
        long["time"] = _time_of_wave(long["wave"], time)
    return long.sort_values(["participant_id", "wave"], kind="stable")


def _wide_columns(data: pd.DataFrame, pattern: str) -> dict[str, dict[int, str]]:
    """``{variable: {wave: column}}`` of the columns the pattern recognises."""
    try:
        regex = re.compile(pattern)
    except (re.error, TypeError) as exc:
        _refuse([Problem("wide.pattern", f"is not a regular expression ({exc}); got {pattern!r}")])
    if not {"var", "wave"} <= set(regex.groupindex):
        _refuse([Problem("wide.pattern", f"needs the named groups (?P<var>...) and (?P<wave>...); got {pattern!r}")])
    columns: dict[str, dict[int, str]] = {}
    for name in data.columns:
        match = regex.match(str(name))
        if match:
            columns.setdefault(match["var"], {})[int(match["wave"])] = name
    if not columns:
        _refuse([Problem("wide.pattern", _unmatched(pattern, [str(c) for c in data.columns]))])
    return columns


def _unmatched(pattern: str, names: list[str]) -> str:
    """What a wide pattern that matches nothing was up against, and what would match."""
    reason = f"no column matches the wide pattern {pattern!r}"
    ignoring_case = [n for n in names if re.match(pattern, n, re.IGNORECASE)]
    if ignoring_case:
        reason += f"; ignoring case it would match {ignoring_case[:SHOWN]}"
    numbered = [n for n in names if re.search(r"\d$", n)]
    markers = Counter(re.fullmatch(r"(.*?)([._-]?[A-Za-z]*)(\d+)", n).group(2) for n in numbered)
    if numbered:
        reason += f"; columns ending in a number (the waves?): {numbered[:SHOWN]}"
        suggestion = rf"^(?P<var>.+){re.escape(markers.most_common(1)[0][0])}(?P<wave>\d+)$"
        matched = [n for n in names if re.match(suggestion, n)]
        if len(matched) > 1:
            reason += f"; the pattern {suggestion!r} would match {len(matched)} of them"
    return reason + f"; columns are {names}"
