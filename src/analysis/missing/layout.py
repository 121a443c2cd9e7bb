r"""The wide layout that imputation models see, and the long tables they give back.

Every function of :mod:`analysis.missing` takes the suite's long table (one row per
participant and wave) and works on one wide layout of it, :class:`Layout`: per
participant, the outcome and any auxiliary variables at each visit (``values``,
participants x visits x variables, NaN where missing, including visits after dropout
for which the long table has no row), the baseline covariates as design columns
(numbers as they are, other columns as treatment dummies of their sorted levels,
as R's ``model.matrix`` codes a factor) and the group (arm) of each participant.
The data are checked by :func:`analysis.io.model_frame`, so that bad input gives
errors naming columns and rows.

:func:`skeleton` and :func:`completed_tables` turn completed wide values back into
long tables in the input's layout: the input's rows (its used columns converted as
:func:`analysis.io.model_frame` converts them) plus one row for each participant and
visit the input lacks, holding the participant's identifier, wave, time (the usual
time of that wave), group and covariates, the imputed values, and missing values in
every other column; sorted by participant and wave, with a fresh index.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import io

ID, WAVE, TIME = "participant_id", "wave", "time"


@dataclass(frozen=True, eq=False)
class Layout:
    """The wide layout of a long trial table.

    Attributes
    ----------
    rows : pandas.DataFrame
        The checked long rows (:func:`analysis.io.model_frame`'s ``data``: index
        labels as given, the outcome and auxiliaries as float64, ``wave`` int64,
        the group column categorical with its reference level first).
    ids : numpy.ndarray
        Participant identifiers, sorted; row ``i`` of every array below.
    group : pandas.Categorical or None
        Level of the group column (the arm) of each participant; None without one.
    group_column : str or None
        The group column.
    visits : tuple of int
        The waves laid side by side, ascending.
    variables : tuple of str
        The columns laid wide: the outcome first, then the auxiliaries.
    values : numpy.ndarray, shape (n, V, k)
        ``values[i, v, q]``: variable ``q`` of participant ``i`` at visit ``v``; NaN
        where missing (also where the long table has no row).
    design : numpy.ndarray, shape (n, d)
        Covariate design columns (no intercept).
    design_names : tuple of str
        Their names (a dummy reads ``"sex[T.male]"``, as patsy names it).
    covariates : tuple of str
        The covariate columns.
    attrs : dict
        The input's ``attrs`` (e.g. :func:`analysis.io.load_trial`'s instruments),
        given to the completed tables.
    """

    rows: pd.DataFrame
    ids: np.ndarray
    group: pd.Categorical | None
    group_column: str | None
    visits: tuple[int, ...]
    variables: tuple[str, ...]
    values: np.ndarray
    design: np.ndarray
    design_names: tuple[str, ...]
    covariates: tuple[str, ...]
    attrs: dict

    @property
    def outcome(self) -> str:
        """The outcome column (the first variable)."""
        return self.variables[0]

    @property
    def levels(self) -> list[str]:
        """Group levels, reference first (one level ``"all"`` without a group)."""
        return ["all"] if self.group is None else [str(c) for c in self.group.categories]

    def members(self) -> list[np.ndarray]:
        """Participant positions of each group level, in :attr:`levels` order."""
        if self.group is None:
            return [np.arange(len(self.ids))]
        codes = np.asarray(self.group.codes)
        return [np.flatnonzero(codes == k) for k in range(len(self.levels))]

    def matrix(self, values: np.ndarray | None = None) -> np.ndarray:
        """Design columns then, visit by visit, each variable: the matrix chained equations see.

        Parameters
        ----------
        values : numpy.ndarray, shape (..., n, V, k), optional
            Wide values (default :attr:`values`).

        Returns
        -------
        numpy.ndarray, shape (..., n, d + V k)
        """
        values = self.values if values is None else values
        flat = values.reshape(*values.shape[:-2], -1)
        design = np.broadcast_to(self.design, (*flat.shape[:-1], self.design.shape[1]))
        return np.concatenate([design, flat], axis=-1)

    @property
    def names(self) -> list[str]:
        """Column names of :meth:`matrix`: design names, then ``f"{variable}_{visit}"``."""
        return [*self.design_names, *(f"{v}_{w}" for w in self.visits for v in self.variables)]


def layout(data: pd.DataFrame, outcome: str, *, group: str | None = "arm", visits: Sequence[int] | None = None,
           auxiliary: Sequence[str] = (), covariates: Sequence[str] = (), who: str = "impute") -> Layout:
    """Check a long trial table and lay it out wide.

    Parameters
    ----------
    data : pandas.DataFrame
        Long table with ``participant_id``, ``wave``, the outcome and the other
        columns named; never modified.
    outcome : str
        The outcome column (e.g. ``"phq9_total"``).
    group : str or None, default "arm"
        Column constant within participant that splits them (the arm), or None.
    visits : sequence of int, optional
        Waves to lay out (default: every wave in the data). Rows of other waves are
        kept in the output tables untouched.
    auxiliary : sequence of str
        Further time-varying columns laid out beside the outcome (e.g. ``"gse_total"``).
    covariates : sequence of str
        Baseline columns, constant within participant and never missing.
    who : str
        The calling function, named in errors.

    Returns
    -------
    Layout

    Raises
    ------
    DataValidationError
        A column is absent, not numeric where it must be, a covariate varies within
        or is missing for a participant, or a visit is not in the data.
    """
    variables = list(dict.fromkeys([outcome, *auxiliary]))
    covariates = [c for c in dict.fromkeys(covariates) if c != group]
    attrs = dict(data.attrs) if isinstance(data, pd.DataFrame) else {}
    if attrs:  # pandas deep-copies attrs (load_trial's instruments) at every step: set them aside
        data = data.copy(deep=False)
        data.attrs = {}
    frame = io.model_frame(data, partial=variables, optional=covariates, arm=group, group=ID, wave=WAVE, who=who)
    rows = frame.data
    ids = _participants(rows[ID])
    visits = _visits(rows, visits, who)
    position = pd.Index(ids).get_indexer(rows[ID])
    visit = pd.Index(visits).get_indexer(rows[WAVE])
    values = np.full((len(ids), len(visits), len(variables)), np.nan)
    used = visit >= 0
    values[position[used], visit[used], :] = rows.loc[used, variables].to_numpy(dtype=float)
    people = rows.groupby(ID, sort=False).head(1).set_index(ID).loc[ids]
    _refuse(_covariate_problems(rows, covariates))
    design, names = _design(people, covariates)
    arm = None if group is None else pd.Categorical(people[group])
    return Layout(rows, ids, arm, group, tuple(visits), tuple(variables), values, design, tuple(names),
                  tuple(covariates), attrs)


def check_observed(wide: Layout, who: str) -> None:
    """Refuse a variable with no observed value at a visit within a group, naming them.

    Raises
    ------
    DataValidationError
        One problem per (variable, group level, visit) with nothing observed.
    """
    problems = []
    for level, members in zip(wide.levels, wide.members()):
        seen = ~np.isnan(wide.values[members])
        for v, q in zip(*np.nonzero(~seen.any(axis=0))):
            where = f" in {wide.group_column} {level!r}" if wide.group is not None else ""
            problems.append(io.Problem(wide.variables[q], f"{who}: no observed value at wave {wide.visits[v]}{where} "
                                                          f"({len(members)} participants), so there is nothing to "
                                                          "impute it from; leave the wave out of visits"))
    _refuse(problems)


def skeleton(wide: Layout) -> tuple[pd.DataFrame, np.ndarray]:
    """The long table completed tables are written into, and where each wide cell lies in it.

    Returns
    -------
    base : pandas.DataFrame
        The checked rows plus a row per missing (participant, visit), sorted by
        participant and wave, index 0..N-1 (see the module docstring).
    cells : numpy.ndarray of int, shape (n, V)
        Row position in ``base`` of participant ``i`` at visit ``v``.
    """
    rows = wide.rows
    present = pd.MultiIndex.from_arrays([rows[ID], rows[WAVE]])
    wanted = pd.MultiIndex.from_product([wide.ids, wide.visits], names=[ID, WAVE])
    absent = wanted[~wanted.isin(present)]
    keep = [c for c in dict.fromkeys([wide.group_column, *wide.covariates]) if c is not None]
    people = rows.groupby(ID, sort=False).head(1).set_index(ID)[keep]
    added = people.loc[absent.get_level_values(ID)].reset_index()
    added[WAVE] = np.asarray(absent.get_level_values(WAVE), dtype=np.int64)
    if TIME in rows.columns:
        usual = rows.groupby(WAVE)[TIME].median()
        added[TIME] = added[WAVE].map(usual).to_numpy(dtype=float)
    base = pd.concat([rows, added[[c for c in rows.columns if c in added.columns]]], ignore_index=True)
    order = np.lexsort((base[WAVE].to_numpy(), pd.Index(wide.ids).get_indexer(base[ID])))
    base = base.iloc[order].reset_index(drop=True)
    cells = pd.MultiIndex.from_arrays([base[ID], base[WAVE]]).get_indexer(wanted).reshape(len(wide.ids), -1)
    return base, cells


def completed_tables(wide: Layout, base: pd.DataFrame, cells: np.ndarray, completed: np.ndarray) -> list[pd.DataFrame]:
    """Long tables from completed wide values.

    Parameters
    ----------
    wide : Layout
    base, cells
        From :func:`skeleton`.
    completed : numpy.ndarray, shape (m, n, V, k)
        Completed wide values, one set per imputation.

    Returns
    -------
    list of pandas.DataFrame
        ``base`` with each variable's cells set from ``completed[j]``.
    """
    tables = []
    for values in completed:
        table = base.copy()
        for q, variable in enumerate(wide.variables):
            column = table[variable].to_numpy(dtype=float, copy=True)
            column[cells] = values[..., q]
            table[variable] = column
        table.attrs = wide.attrs
        tables.append(table)
    return tables


def imputed_mask(wide: Layout, base: pd.DataFrame, cells: np.ndarray) -> pd.DataFrame:
    """True where a table's value of a variable is imputed (index and rows as ``base``)."""
    mask = pd.DataFrame(False, index=base.index, columns=list(wide.variables))
    for q, variable in enumerate(wide.variables):
        column = np.zeros(len(base), dtype=bool)
        column[cells] = np.isnan(wide.values[..., q])
        mask[variable] = column
    return mask


def _participants(ids: pd.Series) -> np.ndarray:
    unique = pd.unique(ids)
    try:
        return np.asarray(sorted(unique), dtype=object)
    except TypeError:  # mixed types: keep the order of appearance
        return np.asarray(unique, dtype=object)


def _visits(rows: pd.DataFrame, visits: Sequence[int] | None, who: str) -> list[int]:
    present = sorted(int(w) for w in rows[WAVE].unique())
    if visits is None:
        return present
    visits = sorted(dict.fromkeys(int(w) for w in visits))
    absent = [w for w in visits if w not in present]
    if absent:
        _refuse([io.Problem(WAVE, f"{who}: visits {absent} are not in the data (waves are {present})")])
    if len(visits) < 1:
        raise ValueError(f"{who}: visits is empty")
    return visits


def _covariate_problems(rows: pd.DataFrame, covariates: list[str]) -> list[io.Problem]:
    """Covariates missing, or varying within a participant (they must be baseline values)."""
    problems = []
    for column in covariates:
        values = rows[column]
        if values.isna().any():
            problems.append(io._problem(column, "missing values (a covariate must be observed for every "
                                                "participant; impute it or leave it out)", values, values.isna(),
                                        by_index=True))
        varies = values.groupby(rows[ID]).transform("nunique") > 1
        if varies.any():
            shown = rows[ID].astype(str) + ": " + values.astype(str)
            problems.append(io._problem(column, f"varies within {ID} (a covariate is a baseline value, the same at "
                                                "every row of a participant)", shown, varies, by_index=True))
    return problems


def _design(people: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Numeric covariates as they are; others as treatment dummies of their sorted levels."""
    columns, names = [], []
    for column in covariates:
        values = people[column]
        if pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype):
            columns.append(values.to_numpy(dtype=float))
            names.append(column)
            continue
        factor = pd.Categorical(values.astype(object)) if not isinstance(values.dtype, pd.CategoricalDtype) \
            else values.cat.remove_unused_categories().array
        for k, level in enumerate(factor.categories[1:], start=1):
            columns.append((np.asarray(factor.codes) == k).astype(float))
            names.append(f"{column}[T.{level}]")
    design = np.column_stack(columns) if columns else np.empty((len(people), 0))
    return design, names


def _refuse(problems: list[io.Problem]) -> None:
    if problems:
        raise io.DataValidationError(problems)
