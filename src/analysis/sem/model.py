r"""Parameter table and model matrices, with lavaan's defaults.

:func:`parameter_table` turns parsed syntax into lavaan's parameter table: the user's
formulas, then the rows lavaan adds by itself (variances, covariances of exogenous
latent variables and of pure outcomes, intercepts when there is a mean structure),
with lavaan's rules for what is free (``auto.fix.first``, ``auto.var``,
``auto.cov.lv.x``, ``auto.cov.y``, ``int.ov.free``, ``int.lv.free``, ``fixed.x``,
``group.equal``) as ``lavaan::sem``, ``cfa`` and ``growth`` set them.

:class:`Structure` holds the model in RAM form: all observed and latent variables in
one vector :math:`v = A v + u`, with directed effects :math:`A` (loadings and
regressions), the symmetric (residual) covariances :math:`S` of :math:`u` and its
means :math:`m`. With :math:`B = (I - A)^{-1}` and :math:`F` selecting the observed
variables, the implied moments are :math:`\Sigma = F B S B' F'` and
:math:`\mu = F B m`; :meth:`Structure.derivatives` gives their derivatives in the
free parameters, from which the gradient and the information follow. The RAM form
is the same model as lavaan's LISREL matrices, so estimates agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from .syntax import Formula, ModelSyntaxError, ParsedModel

__all__ = ["FLAVOURS", "GROUP_EQUAL", "Names", "Options", "Structure", "fill_exo", "parameter_table", "variable_names"]

#: What each ``group.equal`` / invariance level holds equal: name -> row test.
GROUP_EQUAL = ("loadings", "intercepts", "means", "residuals", "residual.covariances", "lv.variances",
               "lv.covariances", "regressions")


@dataclass(frozen=True)
class Options:
    """lavaan's model-building switches (``lavOptions()`` names with ``_``)."""

    meanstructure: bool = False
    int_ov_free: bool = True
    int_lv_free: bool = False
    auto_fix_first: bool = True
    auto_fix_single: bool = True
    auto_var: bool = True
    auto_cov_lv_x: bool = True
    auto_cov_y: bool = True
    fixed_x: bool = True
    group_equal: tuple = ()


#: The defaults of lavaan's ``sem()``, ``cfa()``, ``growth()`` and the bare ``lavaan()`` (nothing
#: added by itself: unwritten variances fixed at 0, no automatic covariances or free intercepts).
FLAVOURS = {
    "sem": Options(),
    "cfa": Options(),
    "growth": Options(meanstructure=True, int_ov_free=False, int_lv_free=True),
    "lavaan": Options(int_ov_free=False, auto_fix_first=False, auto_fix_single=False, auto_var=False,
                      auto_cov_lv_x=False, auto_cov_y=False),
}


@dataclass(frozen=True)
class Names:
    """Variables of a model, in lavaan's order (``lav_partable_vnames``)."""

    ov: tuple
    lv: tuple
    ov_x: tuple
    lv_x: tuple
    lv_y: tuple
    ov_y: tuple

    @property
    def all(self) -> tuple:
        """Observed then latent variables: the order of the RAM matrices."""
        return self.ov + self.lv


def _unique(values) -> list:
    return list(dict.fromkeys(values))


def variable_names(formulas: tuple[Formula, ...]) -> Names:
    """Observed and latent variables and their roles, as lavaan classifies them.

    Latent variables are the left-hand sides of ``=~``; observed variables are the
    indicators, then outcomes and predictors of regressions, then variables named
    only in ``~~`` or ``~ 1``. Exogenous observed variables (``ov.x``: predictors
    that are never outcomes, indicators, or given a variance or intercept by the
    user) have their moments fixed to the sample values (``fixed.x``).
    """
    lv = _unique(f.lhs for f in formulas if f.op == "=~")
    indicators = _unique(f.rhs for f in formulas if f.op == "=~")
    eqs_y = _unique(f.lhs for f in formulas if f.op == "~")
    eqs_x = _unique(f.rhs for f in formulas if f.op == "~")
    ov_ind = [v for v in indicators if v not in lv]
    ov_y = [v for v in eqs_y if v not in lv and v not in ov_ind]
    ov_x = [v for v in eqs_x if v not in lv and v not in ov_ind and v not in ov_y]
    extra = _unique([f.lhs for f in formulas if f.op in ("~~", "~1")] + [f.rhs for f in formulas if f.op == "~~"])
    ov = _unique(ov_ind + ov_y + ov_x + [v for v in extra if v not in lv])
    user_moments = {f.lhs for f in formulas if f.op in ("~~", "~1")} | {f.rhs for f in formulas if f.op == "~~"}
    ov_x = [v for v in ov_x if v not in user_moments]
    lv_x = [v for v in lv if v not in indicators and v not in eqs_y]
    lv_y = [v for v in lv if v in eqs_y and v not in indicators and v not in eqs_x]
    ov_y_pure = [v for v in ov if v in eqs_y and v not in indicators and v not in eqs_x]
    return Names(tuple(ov), tuple(lv), tuple(ov_x), tuple(lv_x), tuple(lv_y), tuple(ov_y_pure))


def parameter_table(parsed: ParsedModel, n_groups: int = 1, options: Options = Options()) -> pd.DataFrame:
    """lavaan's parameter table: user formulas, then lavaan's default rows, per group.

    Parameters
    ----------
    parsed : ParsedModel
    n_groups : int
    options : Options

    Returns
    -------
    pandas.DataFrame
        One row per parameter and group: ``lhs``, ``op``, ``rhs``, ``group`` (1..G),
        ``user`` (written by the user), ``free`` (parameter number 0.. or -1 when
        fixed; rows sharing a label share the number), ``value`` (the fixed value;
        NaN for free rows and for ``exo`` rows, which take sample moments),
        ``label``, ``exo`` (moments of exogenous observed variables, ``fixed.x``).

    Raises
    ------
    ModelSyntaxError
        If ``c(...)`` gives a number of modifiers other than the number of groups.
    """
    names = variable_names(parsed.formulas)
    user = _unique((f.lhs, f.op, f.rhs) for f in parsed.formulas)
    modifiers = {(f.lhs, f.op, f.rhs): f.modifiers for f in parsed.formulas}
    rows = [(*key, True) for key in user]
    rows += [(*key, False) for key in _default_rows(names, options) if key not in modifiers
             and (key[2], key[1], key[0]) not in modifiers]
    base = pd.DataFrame(rows, columns=["lhs", "op", "rhs", "user"])
    tables = []
    for g in range(1, n_groups + 1):
        table = base.copy()
        table["group"] = g
        table["free"], table["value"], table["label"], table["exo"] = _defaults(table, names, options, g)
        for i, key in enumerate(zip(table.lhs, table.op, table.rhs)):
            if modifiers.get(key):
                _apply(table, i, _for_group(modifiers[key], g, n_groups, key))
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    table = _group_equal(table, names, options.group_equal)
    table["free"] = _numbering(table)
    return table[["lhs", "op", "rhs", "group", "user", "free", "value", "label", "exo"]]


def _default_rows(names: Names, options: Options) -> list[tuple]:
    """Rows lavaan adds by itself (``lav_partable_flat``), in its order."""
    nox = [v for v in names.ov if v not in names.ov_x]
    rows = [(v, "~~", v) for v in nox + list(names.lv)]
    if options.auto_cov_lv_x:
        rows += [(a, "~~", b) for a, b in combinations(names.lv_x, 2)]
    if options.auto_cov_y:
        rows += [(a, "~~", b) for a, b in combinations(names.lv_y + names.ov_y, 2)]
    x = names.ov_x
    rows += [(x[c], "~~", x[r]) for c in range(len(x)) for r in range(c, len(x))]
    if options.meanstructure:
        rows += [(v, "~1", "") for v in names.ov + names.lv]
    return rows


def _defaults(table: pd.DataFrame, names: Names, options: Options, group: int):
    """free flag, fixed value, label and exo flag of each row before the user's modifiers."""
    n = len(table)
    free = np.ones(n, bool)
    value = np.full(n, np.nan)
    exo = np.zeros(n, bool)
    lhs, op, rhs, user = table.lhs.to_numpy(), table.op.to_numpy(), table.rhs.to_numpy(), table.user.to_numpy()
    is_var = (op == "~~") & (lhs == rhs) & ~user
    if not options.auto_var:
        free[is_var], value[is_var] = False, 0.0
    if options.auto_fix_first:
        loadings = np.flatnonzero(op == "=~")
        first = loadings[~pd.Series(lhs[loadings]).duplicated().to_numpy()]
        free[first], value[first] = False, 1.0
    if options.auto_var and options.auto_fix_single:
        counts = pd.Series(lhs[op == "=~"]).value_counts()
        indicators = pd.Series(rhs[op == "=~"])
        single = [r for l, r in zip(lhs[op == "=~"], rhs[op == "=~"])
                  if counts[l] == 1 and l != r and (indicators == r).sum() == 1]
        fix = is_var & np.isin(lhs, single)
        free[fix], value[fix] = False, 0.0
    if options.meanstructure:
        intercepts = (op == "~1") & ~user
        for fixed_zero, pool in ((not options.int_ov_free, names.ov), (not options.int_lv_free, names.lv)):
            fix = intercepts & np.isin(lhs, pool) if fixed_zero else np.zeros(n, bool)
            free[fix], value[fix] = False, 0.0
        group_means = (group > 1 and not options.int_lv_free and "intercepts" in options.group_equal
                       and "means" not in options.group_equal)
        if group_means:
            lv_means = intercepts & np.isin(lhs, names.lv)
            free[lv_means], value[lv_means] = True, np.nan
    if options.fixed_x and names.ov_x:
        fix = ~user & (((op == "~~") & np.isin(lhs, names.ov_x) & np.isin(rhs, names.ov_x))
                       | ((op == "~1") & np.isin(lhs, names.ov_x)))
        free[fix], value[fix], exo[fix] = False, np.nan, True
    return free, value, np.full(n, "", dtype=object), exo


def _for_group(modifiers: tuple, group: int, n_groups: int, key: tuple):
    if len(modifiers) == 1:
        return modifiers[0]
    if len(modifiers) != n_groups:
        raise ModelSyntaxError(f"formula '{' '.join(key)}': c(...) gives {len(modifiers)} modifiers "
                           f"for {n_groups} group{'s' if n_groups != 1 else ''}")
    return modifiers[group - 1]


def _apply(table: pd.DataFrame, i: int, modifier) -> None:
    if modifier.fixed is not None:
        table.loc[i, ["free", "value"]] = [False, modifier.fixed]
    elif modifier.free:
        table.loc[i, ["free", "value"]] = [True, np.nan]
    if modifier.label:
        table.loc[i, "label"] = modifier.label


def _category(lhs: str, op: str, rhs: str, names: Names) -> str:
    """The ``group.equal`` class of a row ('' when none)."""
    if op == "=~":
        return "loadings"
    if op == "~":
        return "regressions"
    if op == "~1":
        return "means" if lhs in names.lv else "intercepts"
    if op == "~~" and lhs in names.ov and rhs in names.ov:
        return "residuals" if lhs == rhs else "residual.covariances"
    if op == "~~" and lhs in names.lv and rhs in names.lv:
        return "lv.variances" if lhs == rhs else "lv.covariances"
    return ""


def _group_equal(table: pd.DataFrame, names: Names, group_equal: tuple) -> pd.DataFrame:
    """Label free rows of later groups as their first-group row, for each class in ``group_equal``."""
    unknown = set(group_equal) - set(GROUP_EQUAL)
    if unknown:
        raise ValueError(f"group_equal: unknown {sorted(unknown)}; choose from {list(GROUP_EQUAL)}")
    if not group_equal or table.group.max() == 1:
        return table
    table = table.copy()
    first = table[table.group == 1]
    keys = list(zip(first.lhs, first.op, first.rhs))
    for k, (i, row) in enumerate(first.iterrows()):
        if not row.free or _category(*keys[k], names) not in group_equal:
            continue
        label = row.label or f".p{i + 1}."
        table.loc[i, "label"] = label
        later = (table.group > 1) & (table.lhs == row.lhs) & (table.op == row.op) & (table.rhs == row.rhs)
        later &= table.free.astype(bool) & (table.label == "")
        table.loc[later, "label"] = label
    return table


def _numbering(table: pd.DataFrame) -> np.ndarray:
    """Parameter number of each free row (shared labels share one), -1 for fixed rows."""
    numbers, by_label = np.full(len(table), -1), {}
    count = 0
    for i, (free, label) in enumerate(zip(table.free.to_numpy(), table.label.to_numpy())):
        if not free:
            continue
        if label and label in by_label:
            numbers[i] = by_label[label]
            continue
        numbers[i] = count
        if label:
            by_label[label] = count
        count += 1
    return numbers


@dataclass(frozen=True)
class Structure:
    """RAM matrices of one group and where the free parameters sit in them.

    Attributes
    ----------
    names : Names
    n_par : int
        Free parameters (all groups).
    fixed_a, fixed_s, fixed_m : numpy.ndarray
        Directed effects, (residual) covariances and means with the fixed values
        filled in and free cells 0.
    kind, row, col, par : numpy.ndarray
        One entry per free matrix cell: ``kind`` 0 (A), 1 (S, both triangles), 2 (m).
    meanstructure : bool
    """

    names: Names
    n_par: int
    fixed_a: np.ndarray
    fixed_s: np.ndarray
    fixed_m: np.ndarray
    kind: np.ndarray
    row: np.ndarray
    col: np.ndarray
    par: np.ndarray
    meanstructure: bool

    @classmethod
    def build(cls, table: pd.DataFrame, names: Names, group: int, meanstructure: bool) -> Structure:
        """The matrices of ``group`` from a parameter table whose ``exo`` values are filled."""
        index = {v: i for i, v in enumerate(names.all)}
        size = len(index)
        a, s, m = np.zeros((size, size)), np.zeros((size, size)), np.zeros(size)
        kind, row, col, par = [], [], [], []
        n_par = int(table.free.max()) + 1
        for lhs, op, rhs, free, value in table.loc[table.group == group, ["lhs", "op", "rhs", "free", "value"]] \
                .itertuples(index=False):
            code, i, j = _cell(lhs, op, rhs, index)
            if free >= 0:
                kind.append(code), row.append(i), col.append(j), par.append(free)
            elif code == 0:
                a[i, j] = value
            elif code == 1:
                s[i, j] = s[j, i] = value
            else:
                m[i] = value
        arrays = (np.array(v, dtype=int) for v in (kind, row, col, par))
        return cls(names, n_par, a, s, m, *arrays, meanstructure)

    @property
    def p(self) -> int:
        return len(self.names.ov)

    def matrices(self, theta: np.ndarray):
        """A, S, m at the parameter vector ``theta``."""
        a, s, m = self.fixed_a.copy(), self.fixed_s.copy(), self.fixed_m.copy()
        values = theta[self.par]
        for code, target in ((0, a), (1, s)):
            sel = self.kind == code
            target[self.row[sel], self.col[sel]] = values[sel]
        sel = self.kind == 1
        s[self.col[sel], self.row[sel]] = values[sel]
        sel = self.kind == 2
        m[self.row[sel]] = values[sel]
        return a, s, m

    def implied(self, theta: np.ndarray):
        """Implied moments of all variables: ``B``, covariance and mean (observed first)."""
        a, s, m = self.matrices(theta)
        b = np.linalg.inv(np.eye(len(a)) - a)
        return b, b @ s @ b.T, b @ m

    def moments(self, theta: np.ndarray):
        """Implied mean and covariance of the observed variables."""
        _, cov, mean = self.implied(theta)
        p = self.p
        return mean[:p], cov[:p, :p]

    def derivatives(self, theta: np.ndarray):
        """d mu / d theta (n_par, p) and d Sigma / d theta (n_par, p, p) of the observed variables."""
        b, cov, mean = self.implied(theta)
        p = self.p
        fb = b[:p]
        first = fb[:, self.row].T
        second = np.where((self.kind == 0)[:, None], cov[:p, self.col].T, fb[:, self.col].T)
        weight = np.where((self.kind == 1) & (self.row == self.col), 0.5, 1.0)
        weight = np.where(self.kind == 2, 0.0, weight)
        cells = weight[:, None, None] * (first[:, :, None] * second[:, None, :])
        cells = cells + cells.transpose(0, 2, 1)
        d_mu_cells = np.where((self.kind == 0)[:, None], first * mean[self.col][:, None],
                              np.where((self.kind == 2)[:, None], first, 0.0))
        d_sigma = np.zeros((self.n_par, p, p))
        d_mu = np.zeros((self.n_par, p))
        np.add.at(d_sigma, self.par, cells)
        np.add.at(d_mu, self.par, d_mu_cells)
        return d_mu, d_sigma


def _cell(lhs: str, op: str, rhs: str, index: dict) -> tuple[int, int, int]:
    """(matrix code, row, column) of a parameter-table row."""
    if op == "=~":
        return 0, index[rhs], index[lhs]
    if op == "~":
        return 0, index[lhs], index[rhs]
    if op == "~~":
        return 1, index[lhs], index[rhs]
    return 2, index[lhs], 0


def fill_exo(table: pd.DataFrame, names: Names, groups: list) -> pd.DataFrame:
    """Fixed moments of exogenous covariates take their sample values (``fixed.x``)."""
    table = table.copy()
    index = {v: i for i, v in enumerate(names.ov)}
    for i in np.flatnonzero(table.exo.to_numpy()):
        data = groups[table.group.iat[i] - 1]
        lhs, rhs = index[table.lhs.iat[i]], index.get(table.rhs.iat[i])
        table.loc[table.index[i], "value"] = data.mean[lhs] if table.op.iat[i] == "~1" else data.cov[lhs, rhs]
    return table
