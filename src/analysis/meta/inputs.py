"""Arguments of the meta-analysis functions: checking, aligning by index, model matrices, and the names they accept.

Every public function of :mod:`analysis.meta` reads its arguments through these
helpers, so that a column name, an array and a pandas Series mean the same
everywhere, Series are matched by index (never silently by position), and a bad
value is reported with its argument, rows and values (:class:`MetaInputError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import patsy

__all__ = ["FIXED", "METHODS", "TESTS", "T_TESTS", "MetaInputError", "categorical_moderators"]

METHODS = ("FE", "EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
FIXED = ("FE", "EE")
TESTS = ("z", "t", "knha", "adhoc")
T_TESTS = ("t", "knha", "adhoc")
#: Eigenvalue tolerance of the full-rank check of the model matrix (metafor's ``control``).
EVTOL = 1e-7
SHOWN = 5  # offending rows shown in an error message

#: Names a moderator formula may use besides its columns: R's ``factor(x)`` treats ``x`` as categorical
#: (treatment-coded, first level the reference), like patsy's ``C(x)``.
FORMULA_NAMES: dict[str, Any] = {"factor": patsy.builtins.C}


class MetaInputError(ValueError):
    """Bad input to :func:`escalc` or :func:`rma`; the message names the argument, rows and values."""


# --------------------------------------------------------------------------- input helpers


def _problem(label: str, reason: str, values: pd.Series, mask: np.ndarray) -> MetaInputError:
    """An error naming the argument, the first offending rows (index labels) and their values."""
    rows = np.flatnonzero(mask)
    shown = ", ".join(f"row {_plain(values.index[i])!r}: {_plain(values.iloc[i])!r}" for i in rows[:SHOWN])
    more = f" (first {SHOWN} shown)" if len(rows) > SHOWN else ""
    return MetaInputError(f"{label}: {reason} — {len(rows)} row{'s' if len(rows) != 1 else ''}{more}: {shown}")


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, so that messages read ``0.5`` and not ``np.float64(0.5)``."""
    return value.item() if isinstance(value, np.generic) else value


def _series(name: str, value: Any, data: pd.DataFrame | None) -> tuple[pd.Series, str]:
    """The values of an argument given as a column name of ``data`` or as an array."""
    if isinstance(value, str):
        if data is None:
            raise MetaInputError(f"{name}={value!r} names a column, but no data= was given")
        if value not in data.columns:
            raise MetaInputError(f"{name}: column {value!r} not in data (columns: {list(data.columns)})")
        return data[value], f"{name} (column {value!r})"
    if isinstance(value, pd.Series):
        return value, name
    array = np.asarray(value)
    if array.ndim != 1:
        raise MetaInputError(f"{name}: expected a column name or a one-dimensional array, got shape {array.shape}")
    return pd.Series(array), name


def _numeric(name: str, value: Any, data: pd.DataFrame | None) -> tuple[np.ndarray, pd.Series, str]:
    """Float values of an argument, with the raw series and its label for error messages."""
    raw, label = _series(name, value, data)
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = (numbers.isna() & raw.notna()).to_numpy()
    if bad.any():
        raise _problem(label, "must be numeric", raw, bad)
    return numbers.to_numpy(float), raw, label


def _aligned(arguments: Mapping[str, Any], data: pd.DataFrame | None) -> dict[str, Any]:
    """The arguments with every pandas Series or DataFrame among them put in one row order, by index.

    The order is that of ``data``'s index when ``data`` is given, else that of the first
    pandas argument. A pandas argument whose index holds the same labels in another order
    is reordered; one whose labels differ is refused, because pairing its rows with the
    others by position would silently match different studies.

    Raises
    ------
    MetaInputError
        Naming the two arguments and labels that only one of them has.
    """
    pandas_args = {name: value for name, value in arguments.items() if isinstance(value, (pd.Series, pd.DataFrame))}
    if data is not None:
        reference_name, reference = "data", data.index
    elif pandas_args:
        reference_name, reference = next((name, value.index) for name, value in pandas_args.items())
    else:
        return dict(arguments)
    out = dict(arguments)
    for name, value in pandas_args.items():
        if value.index.equals(reference):
            continue
        same_rows = (len(value.index) == len(reference) and value.index.is_unique and reference.is_unique
                     and set(value.index) == set(reference))
        if not same_rows:
            raise MetaInputError(f"{name} and {reference_name} have different indexes "
                                 f"({_index_difference(value.index, reference, name, reference_name)}); "
                                 f"their rows cannot be matched by label: select the same studies in both, "
                                 f"or pass plain arrays to pair them by position")
        out[name] = value.reindex(reference)
    return out


def _index_difference(index: pd.Index, reference: pd.Index, name: str, reference_name: str) -> str:
    """What tells two indexes apart, in words: labels only one has, repeated labels, or lengths."""
    only = {name: [label for label in index if label not in reference],
            reference_name: [label for label in reference if label not in index]}
    parts = [f"only in {who}: {', '.join(repr(_plain(label)) for label in labels[:SHOWN])}"
             + (" ..." if len(labels) > SHOWN else "") for who, labels in only.items() if labels]
    parts += [f"{who} repeats labels" for who, labels in ((name, index), (reference_name, reference))
              if not labels.is_unique]
    return "; ".join(parts) or f"{len(index)} and {len(reference)} rows"


def _same_length(named: Mapping[str, np.ndarray]) -> None:
    lengths = {name: len(values) for name, values in named.items()}
    if len(set(lengths.values())) > 1:
        raise MetaInputError(f"arguments differ in length: {lengths}")


def _level(level: float) -> float:
    """metafor's ``.level``: 95 or 0.95 -> alpha = 0.05."""
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0 <= level < 100:
        raise MetaInputError(f"level must be a number in [0, 100), e.g. 95; got {level!r}")
    if level == 0:
        return 1.0
    return (100 - level) / 100 if level >= 1 else (1 - level if level > 0.5 else level)



def _unique(labels: np.ndarray) -> np.ndarray:
    """Study labels made unique as R's ``make.unique``: repeats get ``.1``, ``.2`` ..."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0)
        out.append(label if count == 0 else f"{label}.{count}")
        seen[label] = count + 1
    return np.array(out, dtype=object)


def _model_matrix(mods: Any, data: pd.DataFrame | None, k: int) -> tuple[pd.DataFrame, Any]:
    """Model matrix with the intercept named ``intrcpt`` first (NaN rows kept for omission)."""
    if mods is None:
        return pd.DataFrame({"intrcpt": np.ones(k)}), None
    if isinstance(mods, str):
        if data is None:
            raise MetaInputError(f"mods={mods!r} is a formula, but no data= was given")
        if not mods.strip().startswith("~"):
            raise MetaInputError(f"mods={mods!r}: a formula must start with '~', e.g. '~ ablat + year'")
        frame = data.reset_index(drop=True)
        try:
            matrix = patsy.dmatrix(mods, frame, NA_action="drop", return_type="dataframe",
                                   eval_env=patsy.EvalEnvironment.capture(0).with_outer_namespace(FORMULA_NAMES))
        except patsy.PatsyError as exc:
            raise MetaInputError(f"mods={mods!r}: {str(exc).splitlines()[0]}") from None
        design_info = matrix.design_info
        return matrix.reindex(frame.index).rename(columns={"Intercept": "intrcpt"}), design_info
    if isinstance(mods, pd.DataFrame):
        frame = mods.reset_index(drop=True)
    else:
        array = np.asarray(mods)
        if array.ndim == 1:
            frame = pd.DataFrame({"mods": array})
        elif array.ndim == 2:
            frame = pd.DataFrame(array, columns=[f"mods{j + 1}" for j in range(array.shape[1])])
        else:
            raise MetaInputError(f"mods must be one- or two-dimensional, got shape {array.shape}")
    if len(frame) != k:
        raise MetaInputError(f"mods has {len(frame)} rows but there are {k} outcomes")
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    for column in frame.columns:
        bad = (numeric[column].isna() & frame[column].notna()).to_numpy()
        if bad.any():
            raise _problem(f"mods (column {column!r})", "must be numeric (use a formula for factors)",
                           frame[column], bad)
    return pd.concat([pd.DataFrame({"intrcpt": np.ones(k)}), numeric.astype(float)], axis=1), None


def categorical_moderators(formula: str, data: pd.DataFrame) -> pd.DataFrame:
    """The categorical moderators of a formula and each row's level, for subgroup figures.

    Parameters
    ----------
    formula : str
        A moderator formula as :func:`analysis.meta.rma` takes it, e.g.
        ``"~ disorder + year"`` or ``"~ factor(year)"``.
    data : DataFrame
        The table the formula reads.

    Returns
    -------
    DataFrame
        One column per categorical moderator, named by its data column: text,
        categorical and boolean columns, and numeric ones written ``factor(x)`` or
        ``C(x)`` (as text); in the order of the formula, rows as ``data``.
        Interactions contribute their categorical parts; numeric moderators none.

    Raises
    ------
    MetaInputError
        The formula cannot be parsed or names a column ``data`` lacks.
    """
    try:
        terms = patsy.ModelDesc.from_formula(formula).rhs_termlist
    except patsy.PatsyError as exc:
        raise MetaInputError(f"mods={formula!r}: {str(exc).splitlines()[0]}") from None
    columns: dict[str, pd.Series] = {}
    for factor in (factor for term in terms for factor in term.factors):
        code = factor.name().replace(" ", "")
        wrapped = code.startswith(("factor(", "C(")) and code.endswith(")")
        name = code[code.index("(") + 1:-1] if wrapped else code
        if name not in data.columns:
            if wrapped or name.isidentifier():
                raise MetaInputError(f"mods={formula!r} names the column {name!r}, which the data lack")
            continue  # an expression such as np.log(x): numeric
        column = data[name]
        if wrapped:
            columns[name] = column.astype(str).where(column.notna())
        elif not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
            columns[name] = column
    return pd.DataFrame(columns, index=data.index)


def _check_rank(X: pd.DataFrame) -> None:
    """Raise naming the moderators that are linear combinations of the others."""
    values = X.to_numpy()
    eigen = np.linalg.eigvalsh(values.T @ values)
    if np.all(eigen > EVTOL):
        return
    kept: list[int] = []
    for j in range(values.shape[1]):  # like lm(): a column is redundant if the earlier ones span it
        if np.linalg.matrix_rank(values[:, kept + [j]]) > len(kept):
            kept.append(j)
    redundant = [X.columns[j] for j in range(values.shape[1]) if j not in kept] or list(X.columns)
    raise MetaInputError(f"the model matrix is not of full rank: {redundant} "
                         "are (near) linear combinations of the other columns")

