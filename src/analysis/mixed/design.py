"""Model matrices of the complete rows: y, X (fixed) and Z (random), and lme4's checks that they
identify the model.

One grouping factor: dense Z and per-group blocks (``_design``). Several random-effect terms
(``_terms_design``): the sparse Z of all terms and the pattern of the relative covariance
factor Lambda(theta), built as lme4's ``mkReTrms`` builds them (Bates et al. 2015, section 2.3).
Prior weights (``_weighted``) scale the rows of y, X and Z by sqrt(w), as lme4 does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import patsy
from scipy import sparse

from .. import io
from .formula import LmerFormula, RandomTerm, _formula_variables


def _require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in data: {', '.join(map(repr, missing))}")


def _model_frame(data: pd.DataFrame, formula: str, re_formula: str, group: str,
                 weights: str | None = None) -> io.ModelFrame:
    """The complete rows of the columns a model uses; the response (and weights) must be numeric."""
    outcome = _formula_variables(formula.split("~")[0] + "~ 1")
    used = _formula_variables(formula) + _formula_variables(re_formula)
    return io.model_frame(data, numeric=outcome, other=[c for c in used if c not in outcome],
                          group=group, weights=weights, who="fit_lmm")


def _frame_weights(frame: io.ModelFrame, weights: str | None) -> np.ndarray | None:
    """The prior weights of the complete rows (float64), or None without weights."""
    return None if weights is None else frame.data[weights].to_numpy(dtype=float)


def _weighted(design: _Design | _TermsDesign, weights: np.ndarray | None) -> _Design | _TermsDesign:
    """The design with its rows scaled by sqrt(w) (lme4's prior weights); itself without weights.

    With residual variances sigma^2 / w_i the scaled rows have residual variance sigma^2,
    so the unweighted algebra applies to them; the likelihood of the data differs from
    theirs only by log|W^(1/2)| (see :func:`_log_weights`).
    """
    if weights is None:
        return design
    root = np.sqrt(weights)
    scaled = {"y": design.y * root, "X": design.X * root[:, None]}
    if isinstance(design, _Design):
        return replace(design, Z=design.Z * root[:, None], **scaled)
    return replace(design, terms=[replace(t, X=t.X * root[:, None]) for t in design.terms], **scaled)


def _log_weights(weights: np.ndarray | None) -> float:
    """sum(log w), which lme4 subtracts from the deviance of the scaled rows (``ldW`` in ``devCrit``)."""
    return 0.0 if weights is None else float(np.log(weights).sum())


def _check_random(design: _Design, re_formula: str, group: str) -> None:
    """lme4's checks of the random effects: more rows than random effects, slopes on varying columns."""
    n, q, groups = len(design.y), len(design.re_names), len(design.groups)
    problems = []
    if n <= q * groups:
        problems.append(io.Problem(
            f"({re_formula[1:]} | {group})", f"number of observations ({n}) <= number of random effects "
            f"({q * groups}): the random-effects parameters and the residual variance are not identified "
            "(e.g. a random slope with two waves per participant); use random intercepts (re_formula='~1')"))
    problems += [io.Problem(name, f"random slope on a column that does not vary ({design.Z[0, j]:g} in "
                                  "every complete row): not identified")
                 for j, name in enumerate(design.re_names) if name != "Intercept" and np.ptp(design.Z[:, j]) == 0]
    if problems:
        raise io.DataValidationError(problems)


@dataclass(frozen=True)
class _Design:
    """Model matrices in data-row order and each row's group (index into ``groups``)."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    codes: np.ndarray
    groups: pd.Index
    exog_names: list[str]
    re_names: list[str]
    design_info: patsy.DesignInfo


def _design(data: pd.DataFrame, formula: str, group: str, re_formula: str) -> _Design:
    """Build y, X (fixed) and Z (random) with patsy; groups sorted as statsmodels sorts them."""
    y, X = patsy.dmatrices(formula, _text_as_categorical(data, formula), NA_action="raise", return_type="matrix")
    Z = patsy.dmatrix(re_formula, data, NA_action="raise", return_type="matrix")
    codes, labels = pd.factorize(data[group], sort=True)
    return _Design(y=np.asarray(y, dtype=float)[:, 0], X=np.asarray(X, dtype=float),
                   Z=np.asarray(Z, dtype=float), codes=codes,
                   groups=pd.Index(labels, name=group), exog_names=X.design_info.column_names,
                   re_names=Z.design_info.column_names, design_info=X.design_info)


def _text_as_categorical(data: pd.DataFrame, formula: str) -> pd.DataFrame:
    """The text columns a formula uses as pandas Categoricals with sorted levels, patsy's own order.

    patsy then reads a factor's levels at once instead of testing every value for a
    missing value in Python (a third of a 65,000-row growth fit); the design is the same.
    """
    text = [c for c in _formula_variables(formula)
            if c in data.columns and pd.api.types.infer_dtype(data[c], skipna=False) == "string"]
    return data.assign(**{c: pd.Categorical(data[c]) for c in text}) if text else data


# --- several random-effect terms: Z and Lambda(theta) as lme4's mkReTrms builds them ---------------


@dataclass(frozen=True)
class _ReTerm:
    """One random-effect term's model matrix and grouping factor (Bates et al. 2015, section 2.3).

    Attributes
    ----------
    term : RandomTerm
        The term as :func:`analysis.mixed.formula.parse` expanded it.
    X : numpy.ndarray
        The term's raw model matrix (n x k), e.g. columns ``Intercept``, ``time``.
    names : list of str
        Its column names (patsy's).
    codes : numpy.ndarray
        Each row's level (index into ``levels``).
    levels : pandas.Index
        The grouping factor's levels, sorted; an interaction's labelled ``"a:b"``.
    """

    term: RandomTerm
    X: np.ndarray
    names: list[str]
    codes: np.ndarray
    levels: pd.Index

    @property
    def k(self) -> int:
        """Random effects per level."""
        return self.X.shape[1]

    @property
    def q(self) -> int:
        """Random effects of the term (levels x k)."""
        return self.k * len(self.levels)


@dataclass(frozen=True)
class _TermsDesign:
    """y, X (fixed) and the random-effect terms in lme4's order, for the complete rows."""

    y: np.ndarray
    X: np.ndarray
    exog_names: list[str]
    design_info: patsy.DesignInfo
    terms: list[_ReTerm]


def _terms_frame(data: pd.DataFrame, parsed: LmerFormula, weights: str | None = None) -> io.ModelFrame:
    """The complete rows of the columns an lme4 formula uses; the response (and weights) must be numeric."""
    outcome = _formula_variables(parsed.response + " ~ 1")
    used = _formula_variables(parsed.fixed) + [name for term in parsed.random for name in
                                               _formula_variables("~ " + term.expr) + term.factors]
    return io.model_frame(data, numeric=outcome, other=[c for c in dict.fromkeys(used) if c not in outcome],
                          weights=weights, who="fit_lmm")


def _terms_design(data: pd.DataFrame, parsed: LmerFormula) -> _TermsDesign:
    """y and X with patsy, and each random-effect term, ordered as lme4 orders them."""
    y, X = patsy.dmatrices(parsed.fixed, _text_as_categorical(data, parsed.fixed), NA_action="raise",
                           return_type="matrix")
    terms = [_re_term(data, term) for term in parsed.random]
    return _TermsDesign(y=np.asarray(y, dtype=float)[:, 0], X=np.asarray(X, dtype=float),
                        exog_names=X.design_info.column_names, design_info=X.design_info,
                        terms=[terms[i] for i in _lme4_order([len(t.levels) for t in terms])])


def _re_term(data: pd.DataFrame, term: RandomTerm) -> _ReTerm:
    """The term's model matrix and its grouping factor (levels sorted; interactions joined by ``:``)."""
    X = patsy.dmatrix("~ " + term.expr, data, NA_action="raise", return_type="matrix")
    factors = data[term.factors]
    keys = factors.iloc[:, 0] if len(term.factors) == 1 else pd.MultiIndex.from_frame(factors)
    codes, levels = pd.factorize(keys, sort=True)
    if len(term.factors) > 1:
        levels = pd.Index([":".join(map(str, level)) for level in levels])
    return _ReTerm(term=term, X=np.asarray(X, dtype=float), names=X.design_info.column_names,
                   codes=codes, levels=pd.Index(levels, name=term.group))


def _lme4_order(levels: list[int]) -> list[int]:
    """lme4's term order: by decreasing number of levels, ``rev(order(nl))``, when not already so."""
    if not np.any(np.diff(levels) > 0):
        return list(range(len(levels)))
    return list(np.argsort(levels, kind="stable")[::-1])


def _check_terms(terms: list[_ReTerm], n: int) -> None:
    """lme4's checks of each term: two or more levels, more rows than random effects, varying slopes."""
    problems = []
    for re_term in terms:
        label, levels = str(re_term.term), len(re_term.levels)
        if levels < 2:
            problems.append(io.Problem(label, f"grouping factor {re_term.term.group!r} has {levels} level: "
                                              "a random effect needs at least two"))
        elif n <= re_term.q:
            problems.append(io.Problem(label, f"number of observations ({n}) <= number of random effects "
                                              f"({re_term.q}): the random-effects parameters and the residual "
                                              "variance are not identified"))
        problems += [io.Problem(label, f"random slope on {name!r}, which does not vary ({re_term.X[0, j]:g} "
                                       "in every complete row): not identified")
                     for j, name in enumerate(re_term.names)
                     if name != "Intercept" and np.ptp(re_term.X[:, j]) == 0]
    if problems:
        raise io.DataValidationError(problems)


def _z_matrix(terms: list[_ReTerm]) -> sparse.csc_matrix:
    """Z (n x q), one block of columns per term, a term's random effects level by level (lme4's Zt')."""
    blocks = []
    for re_term in terms:
        n, k = re_term.X.shape
        rows = np.repeat(np.arange(n), k)
        cols = (re_term.codes[:, None] * k + np.arange(k)).ravel()
        blocks.append(sparse.csc_matrix((re_term.X.ravel(), (rows, cols)), shape=(n, re_term.q)))
    return sparse.hstack(blocks, format="csc")


def _lambda_pattern(terms: list[_ReTerm]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lambda's non-zeros: rows, columns and the theta element each holds (lme4's ``Lind``).

    Lambda is block diagonal: per term and level, the lower triangle of a k x k
    matrix whose theta elements run column by column (lme4's order), the same for
    every level of the term; theta holds the terms one after another.
    """
    rows, cols, index = [], [], []
    offset = start = 0
    for re_term in terms:
        row, col = _lower_triangle(re_term.k)
        firsts = offset + re_term.k * np.arange(len(re_term.levels))[:, None]
        rows.append((firsts + row).ravel())
        cols.append((firsts + col).ravel())
        index.append(np.tile(start + np.arange(len(row)), len(re_term.levels)))
        offset += re_term.q
        start += len(row)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(index)


def _lower_triangle(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of a k x k lower triangle, column by column (lme4's theta order)."""
    col, row = np.triu_indices(k)
    return row, col


def _varcorr_labels(terms: list[_ReTerm]) -> list[str]:
    """The ``grp`` labels of lme4's VarCorr: the grouping factors, made unique as R's ``make.names``."""
    groups = [re_term.term.group for re_term in terms]
    if len(set(groups)) == len(groups):
        return groups
    names = [re.sub(r"[^A-Za-z0-9._]", ".", group) for group in groups]
    seen: dict[str, int] = {}
    labels = []
    for name in names:
        labels.append(name if name not in seen else f"{name}.{seen[name]}")
        seen[name] = seen.get(name, 0) + 1
    return labels
