r"""Robust maximum likelihood (MLR), as lavaan's ``estimator = "MLR"``.

Estimates are the ML estimates. Standard errors are Huber-White (sandwich):
:math:`\hat V = A^{-1} B A^{-1}` with :math:`A` the observed information (Hessian of
the log-likelihood) and :math:`B = \sum_i s_i s_i'` the outer product of the
casewise scores (each case's log-likelihood gradient at the estimates; with
missing values over its observed variables).

The test statistic is the Yuan-Bentler (Mplus variant) scaled chi-square,
:math:`T / c` with :math:`c = \operatorname{tr}(U\Gamma) / df` and

.. math::

   \operatorname{tr}(U\Gamma) = \sum_g \operatorname{tr}(A_{1g}^{-1} B_{1g})
       - \operatorname{tr}(E^{-1} \bar B_0),

where :math:`A_{1g}` and :math:`B_{1g}` are the observed and first-order
information (per case) of the unrestricted model of group :math:`g` at its
estimates, :math:`E` the observed information and :math:`\bar B_0` the first-order
information of the model per case (lavaan's ``lav_test_yuan_bentler_mplus_trace``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import linalg, stats

from .estimation import fiml_loglik, jacobian

__all__ = ["casewise_gradients", "complete_information", "score_sums", "h1_information", "h1_parts", "h1_trace",
           "mlr", "scaling_trace"]


def casewise_gradients(values: np.ndarray, mu: np.ndarray, sigma: np.ndarray):
    """Each case's log-likelihood gradient in mu (n, p) and in Sigma (n, p, p, full symmetric matrix).

    Missing values contribute nothing: a case's gradient involves only its observed variables.
    """
    n, p = values.shape
    g_mu, g_sigma = np.zeros((n, p)), np.zeros((n, p, p))
    observed = ~np.isnan(values)
    keys, inverse = np.unique(observed, axis=0, return_inverse=True)
    for k, key in enumerate(keys):
        rows = np.flatnonzero(inverse.ravel() == k)
        o = np.flatnonzero(key)
        if not o.size:
            continue
        inv = np.linalg.inv(sigma[np.ix_(o, o)])
        scaled = (values[np.ix_(rows, o)] - mu[o]) @ inv
        g_mu[np.ix_(rows, o)] = scaled
        block = -0.5 * (inv[None] - scaled[:, :, None] * scaled[:, None, :])
        g_sigma[np.ix_(rows, o, o)] = block
    return g_mu, g_sigma


def score_sums(group, mu: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sum over cases of :func:`casewise_gradients` (in mu, in Sigma) from the missingness patterns'
    sufficient statistics: the gradient of the FIML log-likelihood, without a pass over the cases."""
    _, d_sigma, d_mu = fiml_loglik(mu, sigma, group.patterns)
    return d_mu, d_sigma


def _vech_scores(g_mu: np.ndarray, g_sigma: np.ndarray, meanstructure: bool) -> np.ndarray:
    """Scores in the unrestricted parameters (mu, vech Sigma) from full-matrix gradients."""
    rows, cols = np.tril_indices(g_sigma.shape[1])
    vech = g_sigma[:, rows, cols] * np.where(rows == cols, 1.0, 2.0)
    return np.hstack([g_mu, vech]) if meanstructure else vech


def complete_information(mean: np.ndarray, cov: np.ndarray, meanstructure: bool) -> np.ndarray:
    """Normal-theory information per case of (mu, vech Sigma) at (mean, cov) with complete data.

    At the sample moments this is also the observed information of the unrestricted model.
    """
    p = len(mean)
    rows, cols = np.tril_indices(p)
    units = np.zeros((len(rows), p, p))
    units[np.arange(len(rows)), rows, cols] = 1.0
    units[np.arange(len(rows)), cols, rows] = 1.0
    inverse = np.linalg.inv(cov)
    sigma_block = 0.5 * np.einsum("kij,lji->kl", inverse @ units @ inverse, units)
    return linalg.block_diag(inverse, sigma_block) if meanstructure else sigma_block


def h1_information(group, meanstructure: bool):
    """Observed (A1) and first-order (B1) information per case of the unrestricted model at its estimates.

    With complete data A1 is analytic (:func:`complete_information` at the sample moments); with
    missing values it is the numerical Hessian of the FIML log-likelihood at the EM estimates.
    """
    scores = _vech_scores(*casewise_gradients(group.values, group.mean, group.cov), meanstructure)
    first_order = scores.T @ scores / group.n
    if group.patterns is None:
        return complete_information(group.mean, group.cov, meanstructure), first_order
    p = len(group.mean)
    rows, cols = np.tril_indices(p)

    def total_scores(params):
        mu = params[:p] if meanstructure else group.mean
        vech = params[p:] if meanstructure else params
        sigma = np.zeros((p, p))
        sigma[rows, cols] = vech
        sigma[cols, rows] = vech
        d_mu, d_sigma = score_sums(group, mu, sigma)
        return _vech_scores(d_mu[None], d_sigma[None], meanstructure)[0]

    start = np.concatenate([group.mean, group.cov[rows, cols]]) if meanstructure else group.cov[rows, cols]
    observed = -jacobian(total_scores, start) / group.n
    return (observed + observed.T) / 2, first_order


def _model_scores(problem, theta: np.ndarray) -> list[np.ndarray]:
    """Casewise scores of the model parameters, per group (n_g, n_par)."""
    out = []
    for structure, group in zip(problem.structures, problem.groups):
        mu, sigma = structure.moments(theta)
        if not structure.meanstructure:
            mu = group.mean
        d_mu, d_sigma = structure.derivatives(theta)
        g_mu, g_sigma = casewise_gradients(group.values, mu, sigma)
        scores = np.einsum("kpq,npq->nk", d_sigma, g_sigma)
        if structure.meanstructure:
            scores += g_mu @ d_mu.T
        out.append(scores)
    return out


def h1_parts(problem) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`h1_information` of each group (computed once per fit: MLR's test and robust indices share it)."""
    meanstructure = problem.structures[0].meanstructure
    return [h1_information(group, meanstructure) for group in problem.groups]


def h1_trace(parts: list) -> float:
    """The unrestricted model's part of tr(U Gamma): the sum over groups of tr(A1^-1 B1).

    ``parts``: :func:`h1_parts` of the problem.
    """
    return float(sum(np.trace(np.linalg.solve(a1, b1)) for a1, b1 in parts))


def scaling_trace(parts: list, e_inv: np.ndarray, b0: np.ndarray) -> float:
    """tr(U Gamma) of lavaan's Yuan-Bentler (Mplus) test (``parts`` as in :func:`h1_trace`)."""
    return h1_trace(parts) - np.trace(b0 @ e_inv)


def mlr(fitted, information: np.ndarray, kind: str, measures: pd.Series, parts: list):
    """Sandwich covariance of the estimates and the scaled test statistic.

    Parameters
    ----------
    fitted : analysis.sem.fitting.Fitted
    information : numpy.ndarray
        Information matrix of the ML fit (all cases).
    kind : str
        Its kind; MLR uses the observed information (recomputed if ``"expected"``).
    measures : pandas.Series
        ML fit measures (``chisq``, ``df``).
    parts : list
        :func:`h1_parts` of the problem (shared with the robust fit indices).

    Returns
    -------
    vcov : numpy.ndarray
    scaled : pandas.Series
        ``chisq_scaled``, ``df_scaled``, ``pvalue_scaled``, ``chisq_scaling_factor``.
    """
    problem, theta = fitted.problem, fitted.theta
    n = problem.n_total
    if kind != "observed":
        information = n / 2 * problem.observed_hessian(theta)
    scores = np.vstack(_model_scores(problem, theta))
    meat = scores.T @ scores
    bread = np.linalg.inv(information)
    vcov = bread @ meat @ bread
    chisq, df = measures["chisq"], measures["df"]
    if df > 0:
        factor = scaling_trace(parts, bread * n, meat / n) / df
        scaled = chisq / factor
        pvalue = stats.chi2.sf(scaled, df)
    else:
        factor, scaled, pvalue = np.nan, np.nan, np.nan
    return vcov, pd.Series({"chisq_scaled": scaled, "df_scaled": df, "pvalue_scaled": pvalue,
                            "chisq_scaling_factor": factor})
