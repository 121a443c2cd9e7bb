"""The data a model sees: one preparation and one design check for every model function.

Every model function of the suite takes a DataFrame from the user, who may have
loaded it with :func:`analysis.io.load_trial` or built it by hand. Before any
matrix is formed, :func:`model_frame` holds it to what the model needs (the
columns exist; numbers are numbers, pandas nullable dtypes included; waves are
whole numbers; one row per participant and wave; sessions attended never exceed
sessions offered; each participant in one arm) and keeps the complete rows, with
the arm as :func:`analysis.io.arms.arm_factor` defines it and arms left without
complete rows dropped and named. :func:`check_design` then refuses a model matrix
whose columns are zero, constant beside the intercept, or collinear, naming them.
Problems are raised as :class:`DataValidationError`, naming the column, the
DataFrame index labels of the offending rows and their values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .arms import arm_factor, describe_arms
from .errors import SHOWN, DataValidationError, Problem, _plain, _problem
from .read import _value_key

#: Relative tolerance of the pivoted QR rank decision (lme4's ``rankMatrix`` default).
RANK_TOL = 1e-7
COUNTS = ("sessions_attended", "sessions_offered")
MISSING = "<missing>"  # how a missing cluster label is shown


@dataclass(frozen=True)
class ModelFrame:
    """Complete rows ready for a model, and what was done to get them.

    Attributes
    ----------
    data : pandas.DataFrame
        The complete rows (index labels as given), numeric columns as float64,
        ``wave`` as int64, the arm (when given) as a categorical whose first level
        is the reference.
    arm : str or None
        The arm column, or None when the model has no arm.
    n_dropped : int
        Rows dropped for a missing value in a used column.
    notes : tuple of str
        What a result should report (arms dropped for lack of complete rows).
    """

    data: pd.DataFrame
    arm: str | None
    n_dropped: int
    notes: tuple[str, ...] = ()

    @property
    def levels(self) -> list[str]:
        """Arm levels, reference first (empty without an arm)."""
        return [] if self.arm is None else [str(c) for c in self.data[self.arm].cat.categories]

    @property
    def reference(self) -> str | None:
        """The reference arm, or None without an arm."""
        return self.levels[0] if self.levels else None

    @property
    def has_arms(self) -> bool:
        """True when at least two arms remain, so that arm effects are estimable."""
        return len(self.levels) > 1

    def describe(self) -> str:
        """The arms line for summaries (see :func:`analysis.io.arms.describe_arms`)."""
        return describe_arms(self.data[self.arm]) if self.arm is not None else "no arm"


def model_frame(data: pd.DataFrame, *, numeric: Sequence[str] = (), other: Sequence[str] = (),
                partial: Sequence[str] = (), optional: Sequence[str] = (), arm: str | None = None,
                group: str | None = None, clusters: Sequence[str] = (),
                wave: str | None = None, counts: tuple[str, str] = COUNTS, weights: str | None = None,
                who: str = "model") -> ModelFrame:
    """Check and prepare the columns a model uses, keeping the complete rows.

    Parameters
    ----------
    data : pandas.DataFrame
        The user's table; never modified.
    numeric : sequence of str
        Columns that must hold numbers (outcomes, time, covariates).
    other : sequence of str
        Further columns used as they are (factors, covariates); pandas nullable
        dtypes become plain NumPy ones, text whose every value is a number (a
        file's ``"36.5"``) becomes numbers, as R's ``read.csv`` reads it (write
        ``C(x)`` in a formula for a factor coded by numbers), and categories
        without complete rows are dropped.
    partial : sequence of str
        Numeric columns checked and converted like ``numeric`` whose missing values
        do not drop the row (e.g. an outcome lagged or modelled where observed).
    optional : sequence of str
        Columns used as they are, like ``other``, whose missing values do not drop
        the row (e.g. a covariate recorded at baseline only).
    arm : str, optional
        Arm column: constant within ``group``, never missing, prepared by
        :func:`analysis.io.arms.arm_factor`.
    group : str, optional
        Participant (or cluster) column; never missing.
    clusters : sequence of str
        Columns of a level above ``group`` (``therapist``, ``group``): constant
        within ``group``, a missing value counting as a value of its own (a
        participant has the same one at every row, or none at every row, as in a
        partially nested trial). Only checked: name them also in ``other`` (rows
        missing them are dropped) or ``optional`` (kept). Needs ``group``.
    wave : str, optional
        Wave column: whole numbers >= 0 (numbers written as text are read as
        numbers); (``group``, ``wave``) must be unique.
    counts : (str, str), default ("sessions_attended", "sessions_offered")
        Session counts (attended, offered): where the data have both, whole numbers
        >= 0, attended never above offered, whether or not the model uses them.
    weights : str, optional
        Prior-weights column: numbers > 0 (a zero weight, an infinite residual
        variance, is refused: drop the row instead); a missing weight drops the row.
    who : str
        The calling function, named in errors.

    Returns
    -------
    ModelFrame

    Raises
    ------
    DataValidationError
        Every problem found, each naming the column, rows (index labels) and values.
    """
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{who}: data must be a pandas DataFrame, got {type(data).__name__}")
    _check_names(who, group=group, wave=wave, arm=arm, weights=weights, numeric=numeric, other=other,
                 partial=partial, optional=optional, clusters=clusters)
    if weights is not None and weights not in numeric:
        numeric = [*numeric, weights]
    if clusters and group is None:
        raise TypeError(f"{who}: clusters {list(clusters)} need group (the column they are constant within)")
    keys = [c for c in (group, wave, arm) if c is not None]
    columns = list(dict.fromkeys([*keys, *numeric, *other]))
    converted = list(dict.fromkeys([*columns, *partial, *optional]))
    checked = list(dict.fromkeys([*converted, *clusters]))
    _refuse(_absent(data, checked, who) + _duplicated_columns(data, checked))
    frame = data.loc[:, converted].copy()
    problems = []
    for column in [*numeric, *partial]:
        frame[column], bad = _numbers(data[column], column)
        problems += bad
    if weights is not None:
        problems += _weight_problems(data[weights], frame[weights], weights)
    for column in [*other, *optional]:
        if column not in keys and column not in numeric:
            frame[column] = _as_read(data[column])
    if wave is not None:
        frame[wave], bad = _waves(data[wave], wave)
        problems += bad
    problems += _key_problems(data, frame, group, wave, arm) + _count_problems(data, counts)
    problems += [p for cluster in clusters
                 for p in _changes_within(data, group, cluster, f" (the same {cluster} at every row, or missing at "
                                                                "every row)", "have several", missing_is_label=True)]
    _refuse(problems)
    if arm is not None:
        frame[arm] = pd.Series(arm_factor(data[arm], column=arm, by_index=True), index=frame.index)
    keep = frame[columns].notna().all(axis=1).to_numpy()
    if not keep.any():
        raise DataValidationError([Problem(", ".join(columns), f"{who}: no row has all of these columns "
                                                               f"observed ({len(frame)} rows in the data)")])
    complete = frame[keep]
    notes = _dropped_arms(frame, complete, arm, [c for c in columns if c not in keys])
    complete = complete.apply(_drop_unused)
    if wave is not None:
        complete = complete.astype({wave: "int64"})
    result = data[keep].copy()
    for column in complete.columns:
        result[column] = complete[column]
    return ModelFrame(result, arm, int(len(data) - keep.sum()), tuple(notes))


def check_design(X: np.ndarray, names: Sequence[str], *, who: str = "model",
                 intercept: str = "Intercept") -> None:
    """Refuse a model matrix that does not identify its coefficients, naming the columns.

    Parameters
    ----------
    X : array, shape (n, p)
        Model matrix of the complete rows.
    names : sequence of str
        Column names (patsy's, e.g. ``time:arm[T.cbt]``).
    who : str
        The calling function, named in errors.
    intercept : str
        Name of the intercept column (constant columns are aliased with it).

    Raises
    ------
    DataValidationError
        Fewer rows than columns, a column that is zero or constant in every row
        (aliased with the intercept), or a set of collinear columns (the equation
        is given, as lme4 names the columns it drops).
    """
    X = np.asarray(X, dtype=float)
    names = list(names)
    n, p = X.shape
    if n < p:
        raise DataValidationError([Problem(", ".join(names), f"{who}: {p} coefficients but only {n} complete "
                                                              "rows")])
    problems = [_constant_problem(X[:, j], name, intercept in names, who)
                for j, name in enumerate(names) if name != intercept and np.ptp(X[:, j]) == 0]
    _refuse([p for p in problems if p is not None])
    _refuse(_collinear(X, names, who))


def _check_names(who: str, **arguments) -> None:
    """Column arguments are names, or lists of names (a list where a name belongs is a misplaced argument)."""
    for argument, value in arguments.items():
        single = argument in ("group", "wave", "arm", "weights")
        names = [value] if single else value
        if isinstance(names, str) or not all(n is None or isinstance(n, (str, int)) for n in names):
            wanted = "a column name" if single else "a list of column names"
            raise TypeError(f"{who}: {argument} must be {wanted}, got {value!r}")


def _refuse(problems: list[Problem]) -> None:
    if problems:
        raise DataValidationError(problems)


def _absent(data: pd.DataFrame, columns: list[str], who: str) -> list[Problem]:
    present = list(map(str, data.columns))
    return [Problem(c, f"{who}: column not in the data (columns are {present})") for c in columns
            if c not in data.columns]


def _duplicated_columns(data: pd.DataFrame, columns: list[str]) -> list[Problem]:
    twice = data.columns[data.columns.duplicated()]
    return [Problem(c, "the data have two columns of this name") for c in columns if c in set(twice)]


def _numbers(values: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    """Float64 copy of a column (nullable, boolean and numeric-text dtypes too) and its problems."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_bool_dtype(values.dtype):
        values = values.astype("Float64")
    converted = pd.to_numeric(values.astype(object) if _is_text(values) else values, errors="coerce")
    numbers = pd.Series(np.asarray(converted.astype("Float64").to_numpy(dtype=float, na_value=np.nan)),
                        index=values.index)
    bad = numbers.isna() & values.notna() | np.isinf(numbers)
    problems = [_problem(column, "values are not numbers", values, bad, by_index=True)] if bad.any() else []
    return numbers.where(~np.isinf(numbers)), problems


def _is_text(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values.dtype)


def _as_read(values: pd.Series) -> pd.Series:
    """A factor or covariate column as a model takes it: text whose every value is a number (a file's
    ``"36.5"``) as numbers, as R's ``read.csv`` reads it; else :func:`_plain_dtype`."""
    plain = _plain_dtype(values)
    if _is_text(plain) and plain.notna().any():
        numbers, problems = _numbers(plain, str(values.name))
        if not problems:
            return numbers
    return plain


def _plain_dtype(values: pd.Series) -> pd.Series:
    """Nullable numeric dtypes as numpy's (integers keep their numpy integer type where none is missing,
    else float64) and string dtypes as object, as patsy expects; a group coded 0/1/2 keeps its labels 0, 1, 2."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values
    if pd.api.types.is_extension_array_dtype(values.dtype) and pd.api.types.is_numeric_dtype(values.dtype) \
            and not pd.api.types.is_bool_dtype(values.dtype):
        whole = pd.api.types.is_integer_dtype(values.dtype) and values.notna().all()
        return pd.Series(values.to_numpy(dtype=values.dtype.numpy_dtype) if whole
                         else values.to_numpy(dtype=float, na_value=np.nan), index=values.index)
    if pd.api.types.is_string_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype):
        return values.astype(object).where(values.notna(), None)
    return values


def _drop_unused(values: pd.Series) -> pd.Series:
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.remove_unused_categories()
    return values


def _waves(values: pd.Series, column: str) -> tuple[pd.Series, list[Problem]]:
    """Waves as numbers; text such as ``"w0"`` is refused (``"10"`` is read as 10, not sorted as text)."""
    numbers, problems = _numbers(values, column)
    if problems:
        problem = problems[0]
        problems = [Problem(column, "waves must be whole numbers >= 0 (text such as 'w1' cannot be ordered; "
                                    "recode it in the mapping's values section, e.g. values: "
                                    f"{{{column}: {{w0: 0, w1: 1}}}})", problem.rows, problem.values,
                            problem.count, problem.unit)]
    wrong = numbers.notna() & ((numbers < 0) | (numbers % 1 != 0))
    if wrong.any():
        problems.append(_problem(column, "waves must be whole numbers >= 0", values, wrong, by_index=True))
    return numbers, problems


def _weight_problems(values: pd.Series, numbers: pd.Series, column: str) -> list[Problem]:
    """Weights that are not > 0 (lme4 refuses negative weights; a zero weight makes its criterion infinite)."""
    wrong = numbers <= 0
    if not wrong.any():
        return []
    return [_problem(column, "weights must be > 0 (lme4 refuses negative weights, and a zero weight makes "
                             "its criterion infinite; drop rows that should not count)", values, wrong,
                     by_index=True)]


def _key_problems(data: pd.DataFrame, frame: pd.DataFrame, group, wave, arm) -> list[Problem]:
    """Missing keys, duplicated (group, wave), arm changing within group."""
    problems = [_problem(c, "missing values", data[c], data[c].isna(), by_index=True)
                for c in (group, arm) if c is not None and data[c].isna().any()]
    if group is not None and wave is not None:
        twice = frame.duplicated([group, wave], keep=False) & frame[wave].notna()
        if twice.any():
            shown = frame[group].astype(str) + ", " + frame[wave].map(_plain).astype(str)
            problems.append(_problem(f"{group}, {wave}", "appears more than once (one row per participant and "
                                                         "wave; remove the duplicated rows)", shown, twice,
                                     by_index=True))
    if group is not None and arm is not None and data[arm].notna().any():
        problems += _changes_within(data, group, arm, "", "are in several arms")
    return problems


def _count_problems(data: pd.DataFrame, counts: tuple[str, str]) -> list[Problem]:
    """Session counts that are not whole numbers >= 0, and attended above offered."""
    if not all(c in data.columns for c in counts):
        return []
    (attended, bad_attended), (offered, bad_offered) = (_numbers(data[c], c) for c in counts)
    problems = bad_attended + bad_offered
    for column, values in zip(counts, (attended, offered)):
        wrong = values.notna() & ((values < 0) | (values % 1 != 0))
        if wrong.any():
            problems.append(_problem(column, "session counts must be whole numbers >= 0", data[column], wrong,
                                     by_index=True))
    over = attended > offered
    if over.any():
        shown = attended.map(lambda v: str(_plain(v))) + " > " + offered.map(lambda v: str(_plain(v)))
        problems.append(_problem(", ".join(counts), f"{counts[0]} exceeds {counts[1]}", shown, over,
                                 by_index=True))
    return problems


def _changes_within(data: pd.DataFrame, group: str, column: str, rule: str, several_what: str,
                    missing_is_label: bool = False) -> list[Problem]:
    """Participants recorded with more than one label of ``column`` (codes 1 and 1.0 alike).

    With ``missing_is_label`` (a therapist, missing for an untreated participant) a missing
    label counts as a label of its own; otherwise missing values are judged elsewhere.
    """
    labels = data[column].astype(object).map(_value_key, na_action="ignore")
    if missing_is_label:
        labels = labels.fillna(MISSING)
    ids = data[group].astype(object)
    per = labels.groupby(ids, sort=False).nunique()
    several = per.index[per > 1]
    if not len(several):
        return []
    involved = ids.isin(several)
    usual = labels[involved].groupby(ids[involved], sort=False).transform(
        lambda s: s.mode().iloc[0]).reindex(labels.index)
    mask = involved & (labels != usual)
    shown = (data[group].astype(str) + ": " + labels.fillna("").astype(str)
             + " (else " + usual.fillna("").astype(str) + ")")
    return [_problem(column, f"must be constant within {group}{rule}: {len(several)} participant(s) {several_what} "
                             f"({', '.join(map(str, several[:SHOWN]))})", shown, mask, by_index=True)]


def _dropped_arms(frame: pd.DataFrame, complete: pd.DataFrame, arm: str | None, used: list[str]) -> list[str]:
    if arm is None:
        return []
    lost = [lvl for lvl in frame[arm].cat.categories if not (complete[arm] == lvl).any()]
    return [f"arm {lvl!r} has no row with {', '.join(used)} all observed; it is left out of the model"
            for lvl in lost]


def _constant_problem(column: np.ndarray, name: str, has_intercept: bool, who: str) -> Problem | None:
    value = _plain(column[0]) if len(column) else None
    if value == 0:
        return Problem(name, f"{who}: the model-matrix column is zero in every complete row, so its coefficient "
                             "is not identified (e.g. an arm or level with no complete rows, or no variation "
                             "after dropping incomplete rows)")
    if has_intercept:
        return Problem(name, f"{who}: constant ({value!r}) in every complete row, so it is aliased with the "
                             "intercept; remove it from the model")
    return None


def _collinear(X: np.ndarray, names: list[str], who: str) -> list[Problem]:
    """Columns that are linear combinations of earlier ones (pivoted QR, lme4's tolerance)."""
    from scipy.linalg import qr

    scale = np.where(np.abs(X).max(axis=0) > 0, np.abs(X).max(axis=0), 1.0)
    _, r, pivot = qr(X / scale, mode="economic", pivoting=True)
    diag = np.abs(np.diag(r))
    rank = int(np.sum(diag > RANK_TOL * diag[0])) if len(diag) else 0
    if rank == X.shape[1]:
        return []
    kept = sorted(pivot[:rank])
    problems = []
    for j in sorted(pivot[rank:]):
        coef, *_ = np.linalg.lstsq(X[:, kept], X[:, j], rcond=None)
        terms = [f"{c:+.3g}*{names[k]}" for c, k in zip(coef, kept) if abs(c) > 1e-8]
        problems.append(Problem(names[j], f"{who}: collinear with other columns ({names[j]} = "
                                          f"{' '.join(terms) or '0'}), so its coefficient is not identified; "
                                          "remove one of them"))
    return problems
