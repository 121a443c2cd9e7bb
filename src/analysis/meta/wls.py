r"""What every meta-analytic model shares once its weights are known: weighted least squares and the tests.

For outcomes :math:`y` with marginal covariance :math:`M` (diagonal,
:math:`v_i + \tau^2`, in ``rma``; block-diagonal by study in ``rma_mv``) and weights
:math:`W = M^{-1}`,

.. math::

   \hat\beta = (X'WX)^{-1} X'Wy, \qquad \mathrm{Var}(\hat\beta) = (X'WX)^{-1},

the Wald tests of the coefficients, :math:`z_j = \hat\beta_j / \mathrm{SE}_j`
(or :math:`t` with ``dof`` degrees of freedom), the omnibus test of the moderators
:math:`Q_M = \hat\beta_b' V_{bb}^{-1} \hat\beta_b` over the coefficients :math:`b`
(:math:`\chi^2_m`, or :math:`F = Q_M/m` on :math:`(m, \mathrm{dof})` df) and the
test of residual heterogeneity :math:`Q_E = y'Py`,
:math:`P = W_0 - W_0X(X'W_0X)^{-1}X'W_0` with :math:`W_0` the inverse sampling
covariance, referred to :math:`\chi^2_{k-p}`. ``rma``, ``rma_mv`` and ``robust``
all report their coefficients through :func:`coefficient_tests`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats


@dataclass(frozen=True)
class CoefficientTests:
    """Wald tests of the coefficients and the omnibus moderator test.

    Attributes
    ----------
    se, stat, pval, ci_lb, ci_ub : numpy.ndarray
        Standard errors, z or t statistics, two-sided p-values and confidence limits.
    crit : numpy.ndarray
        Critical value per coefficient (normal or t quantile).
    QM, QMp : float
        Omnibus statistic (chi-square, or F for t tests) and its p-value.
    QMdf : tuple
        ``(m, None)`` for z tests, ``(m, df)`` for t tests.
    """

    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    crit: np.ndarray
    QM: float
    QMp: float
    QMdf: tuple


def wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares with diagonal weights: :math:`\\hat\\beta` and :math:`(X'WX)^{-1}`."""
    inv = np.linalg.inv(X.T @ (X * w[:, None]))
    return inv @ (X.T @ (w * y)), inv


def moderator_index(names: Sequence[str]) -> np.ndarray:
    """metafor's default ``btt``: every coefficient but the intercept (the intercept alone if it is all)."""
    p = len(names)
    return np.arange(1, p) if p > 1 and "intrcpt" in names else np.arange(p)


def coefficient_tests(beta: np.ndarray, vb: np.ndarray, btt: np.ndarray, alpha: float,
                      dof: float | np.ndarray | None) -> CoefficientTests:
    r"""Wald z tests (``dof=None``) or t tests with ``dof`` df (a number or one per coefficient).

    The omnibus test of the coefficients ``btt`` is
    :math:`Q_M = \hat\beta_b' V_{bb}^{-1}\hat\beta_b` against :math:`\chi^2_m` for z tests,
    else :math:`F = Q_M/m` against :math:`F(m, \min \mathrm{dof}_b)` as metafor's
    ``rma.mv`` (``QMdf = c(m, min(ddf[btt]))``). Tests with no residual df give NaN.
    """
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    m = len(btt)
    qm = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
    if dof is None:
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = np.full(len(beta), stats.norm.isf(alpha / 2))
        return CoefficientTests(se, stat, pval, beta - crit * se, beta + crit * se, crit,
                                qm, float(stats.chi2.sf(qm, m)), (m, None))
    df = np.broadcast_to(np.asarray(dof, float), beta.shape)
    positive = df > 0
    with np.errstate(invalid="ignore"):
        pval = np.where(positive, 2 * stats.t.sf(np.abs(stat), np.where(positive, df, 1)), np.nan)
        crit = np.where(positive, stats.t.isf(alpha / 2, np.where(positive, df, 1)), np.nan)
    df_qm = df[btt].min()
    df_out = int(df_qm) if float(df_qm).is_integer() else float(df_qm)
    qmp = float(stats.f.sf(qm / m, m, df_qm)) if df_qm > 0 else np.nan
    return CoefficientTests(se, stat, pval, beta - crit * se, beta + crit * se, crit, qm / m, qmp, (m, df_out))


def q_test(qe: float, df: int) -> tuple[float, float]:
    """The test of (residual) heterogeneity: ``QE`` truncated at 0 and its chi-square p-value (``0, 1`` without df)."""
    if df <= 0:
        return 0.0, 1.0
    qe = max(0.0, float(qe))
    return qe, float(stats.chi2.sf(qe, df))


def series(values: np.ndarray, names: Sequence[str]) -> pd.Series:
    """Values as a float Series indexed by the coefficient names."""
    return pd.Series(np.asarray(values, float), index=list(names))
