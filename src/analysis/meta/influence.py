r"""Refits of ``rma`` fits: leave-one-out, cumulative, permutation tests and case diagnostics, as metafor.

``leave1out``, ``cumul`` (the fits to the first 1, 2, ..., k studies in a given order)
and ``permutest`` (sign flips of the outcomes, or permutations of the moderators,
each refitted) all refit through one helper, as do the case diagnostics of
``influence.rma.uni``.

Every diagnostic compares the model with its refit :math:`(-i)` without study
:math:`i` (same estimator and test; metafor's ``rma.uni(..., subset = -i)``):

.. math::

   r_i^* = \frac{y_i - x_i'\hat\beta_{(-i)}}
                {\sqrt{s^2_{w(-i)}(v_i + \hat\tau^2_{(-i)}) + x_i' V_{(-i)} x_i}}, \qquad
   \mathrm{DFFITS}_i = \frac{x_i'\hat\beta - x_i'\hat\beta_{(-i)}}
                            {\sqrt{s^2_{w(-i)}\, h_i\, (v_i + \hat\tau^2_{(-i)})}},

Cook's distance :math:`D_i = (\hat\beta - \hat\beta_{(-i)})' V^{-1} (\hat\beta - \hat\beta_{(-i)})`,
the covariance ratio :math:`\det V_{(-i)} / \det V`, DFBETAS
:math:`(\hat\beta_j - \hat\beta_{j(-i)}) / \sqrt{s^2_{w(-i)}[(X'W_{(-i)}X)^{-1}]_{jj}}`
with :math:`W_{(-i)} = \mathrm{diag}(1/(v + \hat\tau^2_{(-i)}))` over all studies, the hat
values :math:`h_i = [X(X'WX)^{-1}X'W]_{ii}` and the percent weights. :math:`V` is the
covariance of :math:`\hat\beta` (including :math:`s^2_w` for Knapp-Hartung). A study is
flagged influential (metafor's ``*``) when :math:`|\mathrm{DFFITS}_i| > 3\sqrt{p/(k-p)}`,
:math:`P(\chi^2_p \le D_i) > 0.5`, :math:`h_i > 3p/k` or any :math:`|\mathrm{DFBETAS}| > 1`.
Refits that fail (too few studies, collinear moderators, Fisher scoring that does
not converge) give rows of NaN, as metafor's ``try()``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .inputs import FIXED, T_TESTS, MetaInputError
from .result import RmaResult, _omnibus_lines, _results_table, _transformed
from .uni import _fit
from .wls import wls

__all__ = ["PermutestResult", "cooks_distance", "cumul", "dfbetas", "influence", "leave1out", "permutest",
           "rstudent"]

INFLUENCE_COLUMNS = ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight", "inf"]


def _refit(fit: RmaResult, rows: np.ndarray | None = None, y: np.ndarray | None = None,
           X: np.ndarray | None = None) -> RmaResult | None:
    """The model refitted to the studies at ``rows`` (default all), outcomes ``y`` or model matrix ``X`` replaced.

    Same estimator, test and level. A single study is fitted as metafor's ``rma.uni``
    fits k = 1 (tau2 = 0, test "z"). None where the refit fails, as metafor's
    ``try()``: too few studies, collinear moderators, Fisher scoring that did not converge.
    """
    rows = np.arange(fit.k) if rows is None else np.asarray(rows)
    labels = fit.yi.index[rows]
    yi = pd.Series((fit.yi.to_numpy() if y is None else y)[rows], index=labels)
    Xi = pd.DataFrame((fit.X.to_numpy() if X is None else X)[rows], index=labels, columns=fit.X.columns)
    method, test = ("FE", "z") if len(rows) == 1 and fit.int_only else (fit.method, fit.test)
    try:
        refit = _fit(yi, fit.vi.iloc[rows], Xi, method, test, fit.level, profile=False)
    except (MetaInputError, np.linalg.LinAlgError):
        return None
    return None if any("did not converge" in message for message in refit.warnings) else refit


def _without(fit: RmaResult, position: int) -> RmaResult | None:
    """The model refitted without the study at ``position``; None where the refit fails."""
    return _refit(fit, np.flatnonzero(np.arange(fit.k) != position))


def _summary_table(fit: RmaResult, refits: list[RmaResult | None], index: pd.Index,
                   transf: Callable[[Any], Any] | None) -> pd.DataFrame:
    """One row per refit of an intercept-only model, metafor's ``list.rma`` columns (NaN for failed refits)."""
    rows = [[np.nan] * 11 if refit is None else
            [refit.beta.iloc[0], refit.se.iloc[0], refit.zval.iloc[0], refit.pval.iloc[0], refit.ci_lb.iloc[0],
             refit.ci_ub.iloc[0], refit.QE, refit.QEp, refit.tau2, refit.I2, refit.H2] for refit in refits]
    stat = "tval" if fit.test in T_TESTS else "zval"
    out = pd.DataFrame(rows, index=index,
                       columns=["estimate", "se", stat, "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2"])
    if fit.method in FIXED:
        out = out.drop(columns="tau2")
    return _transformed(out, transf, ("estimate", "ci_lb", "ci_ub"))


def leave1out(fit: RmaResult, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
    """The model refitted with each study left out in turn (``metafor::leave1out``).

    Parameters
    ----------
    fit : RmaResult
        An intercept-only model.
    transf : callable, optional
        Applied to the estimate and the limits (the standard error becomes NaN).

    Returns
    -------
    DataFrame
        One row per left-out study: ``estimate``, ``se``, ``zval`` (``tval``),
        ``pval``, ``ci_lb``, ``ci_ub``, ``Q``, ``Qp``, ``tau2`` (not for FE/EE),
        ``I2``, ``H2``.
    """
    if not fit.int_only:
        raise MetaInputError("leave-one-out applies only to models without moderators")
    return _summary_table(fit, [_without(fit, i) for i in range(fit.k)], fit.yi.index, transf)


def cumul(fit: RmaResult, order: Any = None, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
    r"""Cumulative meta-analysis (``metafor::cumul``): the model refitted to the first 1, 2, ..., k studies.

    Row :math:`i` is the fit (same estimator, test and level) to the :math:`i` studies
    that come first in ``order``; the first, a single study, is fitted as metafor does
    (:math:`\hat\mu = y_1`, :math:`\tau^2 = 0`, z test).

    Parameters
    ----------
    fit : RmaResult
        An intercept-only model.
    order : array-like or Series, optional
        Values to sort the studies by (ascending; ties and missing values as R's
        ``order``: stable, missing last), one per study of the fit, e.g. the
        publication year; a Series indexed by the fit's study labels is matched by
        label. Default: the order of the data.
    transf : callable, optional
        Applied to the estimate and the limits (the standard error becomes NaN).

    Returns
    -------
    DataFrame
        Indexed by the study added in each row: ``estimate``, ``se``, ``zval``
        (``tval``), ``pval``, ``ci_lb``, ``ci_ub``, ``Q``, ``Qp``, ``tau2`` (not for
        FE/EE), ``I2``, ``H2``.
    """
    if not fit.int_only:
        raise MetaInputError("cumulative meta-analysis applies only to models without moderators")
    positions = _ordering(fit, order)
    refits = [_refit(fit, positions[: i + 1]) for i in range(fit.k)]
    return _summary_table(fit, refits, fit.yi.index[positions], transf)


def _ordering(fit: RmaResult, order: Any) -> np.ndarray:
    """Positions of the studies sorted by ``order`` (stable, missing values last)."""
    if order is None:
        return np.arange(fit.k)
    if isinstance(order, pd.Series):
        if set(order.index) != set(fit.yi.index) or not order.index.is_unique:
            raise MetaInputError("order: a Series must be indexed by the fit's study labels "
                                 f"({list(fit.yi.index[:5])} ...); pass .to_numpy() to order by position")
        order = order.reindex(fit.yi.index)
    values = pd.to_numeric(pd.Series(np.asarray(order).ravel()), errors="coerce").to_numpy(float)
    if len(values) != fit.k:
        raise MetaInputError(f"order has {len(values)} values but the model has {fit.k} studies")
    return np.argsort(values, kind="stable")


def hat_values(fit: RmaResult) -> np.ndarray:
    """Diagonal of the hat matrix :math:`X(X'WX)^{-1}X'W`, :math:`w_i = 1/(v_i + \\hat\\tau^2)` (``hatvalues.rma.uni``)."""
    X = fit.X.to_numpy(float)
    w = 1 / (fit.vi.to_numpy(float) + fit.tau2)
    inv = wls(X, np.zeros(fit.k), w)[1]
    return np.einsum("ij,jk,ik->i", X, inv, X) * w


def _diagnostics(fit: RmaResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every case diagnostic of ``influence.rma.uni`` (without the flag) and the DFBETAS."""
    k, p = fit.k, fit.p
    X, y, v = fit.X.to_numpy(float), fit.yi.to_numpy(float), fit.vi.to_numpy(float)
    beta, vb = fit.beta.to_numpy(), fit.vb.to_numpy()
    hat = hat_values(fit)
    fitted = X @ beta
    vb_inv = np.linalg.inv(vb)
    rows = np.full((k, 8), np.nan)  # resid, se_resid, dffits, cook, cov_r, tau2_del, QE_del, ...
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        refit = _without(fit, i)
        if refit is None:
            continue
        b_del = refit.beta.to_numpy()
        pred_del = X[i] @ b_del
        vpred_del = X[i] @ refit.vb.to_numpy() @ X[i]
        resid = y[i] - pred_del
        resid = 0.0 if abs(resid) < 100 * np.finfo(float).eps else resid
        se_resid = np.sqrt(v[i] * refit.s2w + vpred_del + refit.tau2 * refit.s2w)
        dffits = (fitted[i] - pred_del) / np.sqrt(refit.s2w * hat[i] * (refit.tau2 + v[i]))
        change = beta - b_del
        vb_del = wls(X, y, 1 / (v + refit.tau2))[1]
        dfbs[i] = change / np.sqrt(refit.s2w * np.diag(vb_del))
        cook = change @ vb_inv @ change
        cov_r = np.linalg.det(refit.vb.to_numpy()) / np.linalg.det(vb)
        rows[i] = [resid, se_resid, dffits, cook, cov_r, refit.tau2, refit.QE, np.nan]
    table = pd.DataFrame({"resid": rows[:, 0], "se": rows[:, 1], "rstudent": rows[:, 0] / rows[:, 1],
                          "dffits": rows[:, 2], "cook_d": rows[:, 3], "cov_r": rows[:, 4],
                          "tau2_del": rows[:, 5], "QE_del": rows[:, 6], "hat": hat,
                          "weight": fit.weights.to_numpy()}, index=fit.yi.index)
    return table, pd.DataFrame(dfbs, index=fit.yi.index, columns=fit.X.columns)


def influence(fit: RmaResult) -> pd.DataFrame:
    """Case diagnostics of a fitted model, as ``influence.rma.uni``.

    Parameters
    ----------
    fit : RmaResult

    Returns
    -------
    DataFrame
        Indexed by study: ``rstudent`` (externally studentized residual),
        ``dffits``, ``cook_d``, ``cov_r``, ``tau2_del`` and ``QE_del`` (tau2 and QE
        without the study), ``hat``, ``weight`` (percent) and ``inf`` (True where
        metafor prints ``*``: see the module notes). For FE/EE models ``tau2_del``
        is 0.
    """
    table, dfbs = _diagnostics(fit)
    k, p = fit.k, fit.p
    with np.errstate(invalid="ignore", divide="ignore"):
        flagged = ((np.abs(table["dffits"]) > 3 * np.sqrt(p / (k - p)))
                   | (stats.chi2.cdf(table["cook_d"], df=p) > 0.5)
                   | (table["hat"] > 3 * p / k)
                   | (np.abs(dfbs) > 1).any(axis=1))
    out = table.drop(columns=["resid", "se"])
    out["inf"] = flagged.fillna(False).astype(bool)
    return out[INFLUENCE_COLUMNS]


def rstudent(fit: RmaResult) -> pd.DataFrame:
    """Externally studentized residuals (``rstudent.rma.uni``): ``resid``, ``se`` and ``z`` per study."""
    table = _diagnostics(fit)[0]
    return pd.DataFrame({"resid": table["resid"], "se": table["se"], "z": table["rstudent"]})


def cooks_distance(fit: RmaResult) -> pd.Series:
    """Cook's distances (``cooks.distance.rma.uni``), indexed by study."""
    return _diagnostics(fit)[0]["cook_d"].rename("cook_d")


def dfbetas(fit: RmaResult) -> pd.DataFrame:
    """DFBETAS (``dfbetas.rma.uni``): the change of each coefficient in its leave-one-out standard errors."""
    return _diagnostics(fit)[1]


# --------------------------------------------------------------------------- permutation tests

#: metafor's ``comptol``: a permuted statistic counts as extreme if within this of the observed one.
COMPTOL = float(np.finfo(float).eps ** 0.5)
MAX_EXACT = 100_000  # most refits of an exact test


@dataclass(frozen=True, eq=False)
class PermutestResult:
    """Permutation tests of a fitted model (``permutest.rma.uni``).

    Attributes
    ----------
    pval : pandas.Series
        Two-sided permutation p-value of each coefficient: the share of permutations
        with :math:`|z^*_j| \\ge |z_j|` (t values for t-type tests).
    QM, QMp : float
        The omnibus statistic of the fit and its permutation p-value, the share with
        :math:`Q_M^* \\ge Q_M`.
    QMdf : tuple
    exact : bool
        Whether every permutation was used.
    iter : int
        Number of permutations (of which failed refits are left out).
    coefficients : pandas.DataFrame
        The fit's coefficient table with the permutation p-values.
    zval_perm : pandas.DataFrame
        Test statistics of every permutation (NaN where the refit failed).
    QM_perm : numpy.ndarray
    """

    pval: pd.Series
    QM: float
    QMp: float
    QMdf: tuple
    exact: bool
    iter: int
    coefficients: pd.DataFrame
    zval_perm: pd.DataFrame = field(repr=False)
    QM_perm: np.ndarray = field(repr=False)
    int_only: bool = True
    t_test: bool = False

    def summary(self) -> str:
        """Text laid out like metafor's ``print.permutest.rma.uni``."""
        lines = [f"{'Exact' if self.exact else 'Approximate'} permutation test ({self.iter} permutations)"]
        if not self.int_only:
            btt = np.arange(1, len(self.pval))
            lines += _omnibus_lines(self.QM, self.QMp, self.QMdf, btt, self.t_test)
            lines[-1] = lines[-1].replace("p-val", "p-val*")
        lines += _results_table(self.coefficients, self.pval, self.int_only)
        return "\n".join([*lines, "", "p-values (pval) from the permutation distribution"])


def permutest(fit: RmaResult, iter: int = 1000, seed: int | None = 0, exact: bool | None = None) -> PermutestResult:
    r"""Permutation tests of the coefficients and of the moderators, as ``permutest.rma.uni``.

    Intercept-only models: the signs of the outcomes are flipped (:math:`2^k`
    arrangements); models with moderators: the rows of the model matrix are permuted
    against the outcomes (:math:`k!/\prod_g m_g!` distinct arrangements for rows repeated
    :math:`m_g` times). Every arrangement is refitted (same estimator, test and level) and

    .. math::

       p_j = \frac{\#\{|z^*_j| \ge |z_j| - \epsilon\}}{N}, \qquad
       p_{Q_M} = \frac{\#\{Q_M^* \ge Q_M - \epsilon\}}{N},

    :math:`\epsilon = \sqrt{\text{machine eps}}`, over the :math:`N` refits that succeeded
    (metafor's ``na.rm``).

    Parameters
    ----------
    fit : RmaResult
    iter : int
        Number of random permutations (the observed arrangement counts as the first).
    seed : int or None
        Seed of NumPy's generator for the random permutations (deterministic for a
        given seed; R's random numbers are not reproduced).
    exact : bool, optional
        Use every arrangement. As metafor, the test is exact whenever their number
        is at most ``iter``, whatever ``exact`` says.

    Returns
    -------
    PermutestResult

    Raises
    ------
    MetaInputError
        ``iter`` below 2; an exact test that would need more than 100,000 refits.
    """
    iter = round(float(iter))
    if iter < 2:
        raise MetaInputError(f"iter must be at least 2, got {iter}")
    X = fit.X.to_numpy(float)
    unique_rows, groups = np.unique(X, axis=0, return_inverse=True)
    groups = groups.ravel()
    exact_iter = 2**fit.k if fit.int_only else _arrangement_count(groups)
    exact = bool(exact) or exact_iter <= iter
    if exact and exact_iter > MAX_EXACT:
        raise MetaInputError(f"an exact permutation test needs {exact_iter:.3g} refits (at most {MAX_EXACT}); "
                             "use exact=False with a number of iterations")
    rng = np.random.default_rng(seed)
    y = fit.yi.to_numpy(float)
    if fit.int_only:
        signs = (np.array(list(itertools.product((1.0, -1.0), repeat=fit.k))) if exact
                 else np.vstack([np.ones(fit.k), rng.choice((-1.0, 1.0), size=(iter - 1, fit.k))]))
        refits = [_refit(fit, y=s * y) for s in signs]
    else:
        orders = (list(_arrangements(np.bincount(groups).tolist())) if exact
                  else [groups] + [groups[rng.permutation(fit.k)] for _ in range(iter - 1)])
        refits = [_refit(fit, X=unique_rows[np.asarray(order)]) for order in orders]
    z_perm = np.array([np.full(fit.p, np.nan) if r is None else r.zval.to_numpy() for r in refits])
    qm_perm = np.array([np.nan if r is None else r.QM for r in refits])
    z = fit.zval.to_numpy()
    pval = np.minimum(1.0, np.nanmean(np.where(np.isnan(z_perm), np.nan, np.abs(z_perm) >= np.abs(z) - COMPTOL),
                                      axis=0))
    qmp = float(np.nanmean(np.where(np.isnan(qm_perm), np.nan, qm_perm >= fit.QM - COMPTOL)))
    pval = pd.Series(pval, index=fit.beta.index)
    return PermutestResult(pval, fit.QM, qmp, fit.QMdf, exact, len(refits), fit.coefficients.assign(pval=pval),
                           pd.DataFrame(z_perm, columns=fit.beta.index), qm_perm, fit.int_only,
                           fit.test in T_TESTS)


def _arrangement_count(groups: np.ndarray) -> int:
    """Number of distinct orderings of a multiset, :math:`k!/\\prod_g m_g!`."""
    return math.factorial(len(groups)) // math.prod(math.factorial(m) for m in np.bincount(groups))


def _arrangements(counts: list[int]) -> Iterator[tuple[int, ...]]:
    """Every distinct ordering of a multiset given as counts per group (lexicographic)."""
    if not any(counts):
        yield ()
        return
    for g, count in enumerate(counts):
        if count:
            counts[g] -= 1
            for rest in _arrangements(counts):
                yield (g, *rest)
            counts[g] += 1
