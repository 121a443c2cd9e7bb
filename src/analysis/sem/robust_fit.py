r"""Scaled and robust fit indices of an MLR fit, as lavaan 0.6-14's ``fitMeasures()``.

*Scaled* indices put the Yuan-Bentler scaled statistics of the model
(:math:`T/c`) and of the baseline (independence) model (:math:`T_b/c_b`) into the
usual formulas (``cfi_scaled``, ``tli_scaled``). lavaan's ``rmsea_scaled`` keeps the
unscaled :math:`T` and takes :math:`\operatorname{tr}(U\Gamma) = c\,df` as its
degrees of freedom (its interval likewise).

*Robust* indices estimate the population values of the ML indices (Brosseau-Liard
& Savalei, 2014; Savalei, 2018): each :math:`df` becomes :math:`c\,df` in CFI and
TLI, RMSEA is :math:`\sqrt{G}\sqrt{\max(T/(N df) - c/N, 0)}` and its interval comes
from :math:`T/c` with the noncentrality multiplied by :math:`c`. With missing values
(FIML) they are the FIML-corrected versions (lavaan's ``lav_fit_fiml_corrected``,
version V3 of Savalei's): :math:`T` is the complete-data ML statistic of the FIML
estimates against the EM (unrestricted FIML) moments and

.. math::

   c = \operatorname{tr}(U W_m^{-1} W_c W_m^{-1} U \Gamma) / df, \qquad
   U = W_m - W_m \Delta (\Delta' W_m \Delta)^{-1} \Delta' W_m,

with :math:`W_m` the observed and :math:`J_m` the first-order information of the
unrestricted FIML model at the EM moments, :math:`W_c` the complete-data
information at those moments, :math:`\Gamma = W_m^{-1} J_m W_m^{-1}` and
:math:`\Delta` the derivatives of the moments in the parameters (of the model, or
of the baseline model for :math:`c_b`); groups are blocks weighted by
:math:`n_g/N`.

The baseline model has a mean (with a mean structure) and a variance per observed
variable; with missing values its FIML estimates are the available-case means and
(divisor n) variances. Models with fixed covariates (``fixed.x``) get no
baseline-based scaled or robust indices (NaN).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats

from .estimation import GroupData, Problem, jacobian
from .fit import cfi, rmsea, rmsea_interval, tli
from .robust import casewise_gradients, complete_information, h1_trace, score_sums

__all__ = ["baseline_trace", "fiml_corrected", "robust_indices", "robust_measures"]


def _baseline_moments(group: GroupData) -> tuple[np.ndarray, np.ndarray]:
    """Estimates of the independence model: available-case means and ML variances."""
    return np.nanmean(group.values, axis=0), np.nanvar(group.values, axis=0)


def _baseline_delta(p: int, meanstructure: bool) -> np.ndarray:
    """Derivatives of (mu, vech Sigma) in the baseline parameters (means, variances)."""
    rows, cols = np.tril_indices(p)
    diagonal = np.flatnonzero(rows == cols)
    offset = p if meanstructure else 0
    delta = np.zeros((offset + len(rows), offset + p))
    if meanstructure:
        delta[np.arange(p), np.arange(p)] = 1.0
    delta[offset + diagonal, offset + np.arange(p)] = 1.0
    return delta


def _baseline_information(group: GroupData, meanstructure: bool) -> tuple[np.ndarray, np.ndarray]:
    """Observed (Hessian) and first-order information per case of the baseline model at its estimates
    (the observed information is analytic with complete data, numerical with missing values)."""
    p = group.values.shape[1]
    mean, variance = _baseline_moments(group)

    def scores(params):
        mu = params[:p] if meanstructure else mean
        g_mu, g_sigma = casewise_gradients(group.values, mu, np.diag(params[-p:]))
        diagonal = np.diagonal(g_sigma, axis1=1, axis2=2)
        return np.hstack([g_mu, diagonal]) if meanstructure else diagonal

    start = np.concatenate([mean, variance]) if meanstructure else variance
    casewise = scores(start)
    if group.patterns is None:
        delta = _baseline_delta(p, meanstructure)
        observed = delta.T @ complete_information(mean, np.diag(variance), meanstructure) @ delta
    else:
        observed = -jacobian(lambda params: _score_sums(group, params, mean, meanstructure), start) / group.n
    return (observed + observed.T) / 2, casewise.T @ casewise / group.n


def _score_sums(group: GroupData, params: np.ndarray, mean: np.ndarray, meanstructure: bool) -> np.ndarray:
    """The baseline model's scores summed over cases (:func:`analysis.sem.robust.score_sums`)."""
    p = len(mean)
    d_mu, d_sigma = score_sums(group, params[:p] if meanstructure else mean, np.diag(params[-p:]))
    return np.concatenate([d_mu, np.diagonal(d_sigma)]) if meanstructure else np.diagonal(d_sigma).copy()


def baseline_trace(problem: Problem, parts: list) -> float:
    """tr(U Gamma) of the Yuan-Bentler (Mplus) test of the baseline model (groups are independent blocks).

    ``parts``: :func:`analysis.sem.robust.h1_parts` of the problem.
    """
    meanstructure = problem.structures[0].meanstructure
    model = 0.0
    for group in problem.groups:
        observed, first_order = _baseline_information(group, meanstructure)
        model += np.trace(np.linalg.solve(observed, first_order))
    return h1_trace(parts) - model


def _model_delta(structure, theta: np.ndarray) -> np.ndarray:
    """Derivatives of (mu, vech Sigma) of one group in the free parameters (moments x parameters)."""
    d_mu, d_sigma = structure.derivatives(theta)
    rows, cols = np.tril_indices(d_sigma.shape[1])
    return np.hstack([d_mu, d_sigma[:, rows, cols]]).T


def _complete_statistic(group: GroupData, mu: np.ndarray, sigma: np.ndarray) -> float:
    """n times the complete-data ML discrepancy of (mu, sigma) against the group's EM moments."""
    inverse = np.linalg.inv(sigma)
    dev = group.mean - mu
    value = (np.linalg.slogdet(sigma)[1] + np.sum(inverse * (group.cov + np.outer(dev, dev)))
             - np.linalg.slogdet(group.cov)[1] - len(mu))
    return group.n * value


def fiml_corrected(problem: Problem, theta: np.ndarray, df: float, base_df: float, parts: list) -> dict:
    """lavaan's FIML-corrected statistics (V3): ``chisq``, ``c_hat`` of the model and of the baseline.

    Parameters
    ----------
    problem : analysis.sem.estimation.Problem
        A FIML problem (mean structure).
    theta : numpy.ndarray
        The estimates.
    df, base_df : float
        Degrees of freedom of the model and of the baseline model.
    parts : list
        Each group's :func:`analysis.sem.robust.h1_information` (at the EM moments).
    """
    fractions = [g.n / problem.n_total for g in problem.groups]
    w_m, w_m_inv, w_c, gamma = [], [], [], []
    for fraction, group, (observed, first_order) in zip(fractions, problem.groups, parts):
        inverse = np.linalg.inv(observed)
        w_m.append(fraction * observed)
        w_m_inv.append(inverse / fraction)
        w_c.append(fraction * complete_information(group.mean, group.cov, True))
        gamma.append(inverse @ first_order @ inverse / fraction)
    w_m, w_m_inv, w_c, gamma = (linalg.block_diag(*blocks) for blocks in (w_m, w_m_inv, w_c, gamma))
    middle = w_m_inv @ w_c @ w_m_inv

    def trace(delta: np.ndarray) -> float:
        projected = w_m @ delta
        u = w_m - projected @ np.linalg.solve(delta.T @ projected, projected.T)
        return float(np.trace(u @ middle @ u @ gamma))

    delta = np.vstack([_model_delta(s, theta) for s in problem.structures])
    chisq = sum(_complete_statistic(g, *s.moments(theta)) for s, g in zip(problem.structures, problem.groups))
    p = problem.groups[0].values.shape[1]
    base_delta = linalg.block_diag(*[_baseline_delta(p, True)] * len(problem.groups))
    base_chisq = sum(_complete_statistic(g, m, np.diag(v))
                     for g in problem.groups for m, v in [_baseline_moments(g)])
    return {"chisq": chisq, "c_hat": trace(delta) / df, "base_chisq": base_chisq,
            "c_hat_base": trace(base_delta) / base_df}


def robust_indices(problem: Problem, theta: np.ndarray, measures: pd.Series, covariates: bool,
                   parts: list) -> pd.Series:
    """The scaled and robust indices of an MLR fit (NaN without df, or with fixed covariates).

    Parameters
    ----------
    problem : analysis.sem.estimation.Problem
    theta : numpy.ndarray
        The estimates.
    measures : pandas.Series
        The ML measures and :func:`analysis.sem.robust.mlr`'s ``chisq_scaling_factor``.
    covariates : bool
        Whether the model has fixed covariates (``fixed.x``).
    parts : list
        :func:`analysis.sem.robust.h1_parts` of the problem.
    """
    df, base_df = measures["df"], measures["baseline_df"]
    if covariates or not df > 0:
        return robust_measures(measures, np.nan, np.nan, len(problem.groups))
    base_factor = baseline_trace(problem, parts) / base_df
    fiml = fiml_corrected(problem, theta, df, base_df, parts) if problem.fiml else None
    return robust_measures(measures, measures["chisq_scaling_factor"], base_factor, len(problem.groups), fiml)


def robust_measures(measures: pd.Series, factor: float, base_factor: float, groups: int,
                    fiml: dict | None = None) -> pd.Series:
    """The scaled and robust indices (module docstring) from the ML measures and the scaling factors.

    Parameters
    ----------
    measures : pandas.Series
        ML fit measures (``chisq``, ``df``, ``baseline_chisq``, ``baseline_df``, ``ntotal``).
    factor, base_factor : float
        Yuan-Bentler scaling factors of the model and of the baseline model.
    groups : int
    fiml : dict, optional
        :func:`fiml_corrected` output where the data have missing values.
    """
    chisq, df, n = measures["chisq"], measures["df"], measures["ntotal"]
    base_chisq, base_df = measures["baseline_chisq"], measures["baseline_df"]
    scaled, base_scaled = chisq / factor, base_chisq / base_factor
    if fiml is None:
        fiml = {"chisq": chisq, "c_hat": factor, "base_chisq": base_chisq, "c_hat_base": base_factor}
    x3, c3 = fiml["chisq"], fiml["c_hat"]
    lower_scaled, upper_scaled = rmsea_interval(chisq, factor * df, n, groups)
    lower_robust, upper_robust = rmsea_interval(x3 / c3, df, n, groups, c_hat=c3)
    return pd.Series({
        "baseline_chisq_scaled": base_scaled, "baseline_df_scaled": base_df,
        "baseline_pvalue_scaled": stats.chi2.sf(base_scaled, base_df),
        "baseline_chisq_scaling_factor": base_factor,
        "cfi_scaled": cfi(scaled, df, base_scaled, base_df), "tli_scaled": tli(scaled, df, base_scaled, base_df),
        "cfi_robust": cfi(x3, df, fiml["base_chisq"], base_df, c3, fiml["c_hat_base"]),
        "tli_robust": tli(x3, df, fiml["base_chisq"], base_df, c3, fiml["c_hat_base"]),
        "rmsea_scaled": rmsea(chisq, factor * df, n, groups), "rmsea_ci_lower_scaled": lower_scaled,
        "rmsea_ci_upper_scaled": upper_scaled, "rmsea_robust": rmsea(x3, df, n, groups, c3),
        "rmsea_ci_lower_robust": lower_robust, "rmsea_ci_upper_robust": upper_robust,
    })
