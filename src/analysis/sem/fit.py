r"""Fit measures as lavaan's ``fitMeasures()``.

* ``chisq`` :math:`= 2(\ell_{h1} - \ell)`, the likelihood-ratio test against the
  unrestricted (h1) model; ``df`` = sample moments - free parameters (moments of
  exogenous covariates fixed at their sample values do not count).
* baseline: the independence model, free means and variances (covariates saturated).
* ``cfi`` :math:`= 1 - \max(\chi^2 - df, 0) / \max(\chi^2 - df, \chi^2_b - df_b, 0)`,
  ``tli`` :math:`= (\chi^2_b/df_b - \chi^2/df) / (\chi^2_b/df_b - 1)`.
* ``rmsea`` :math:`= \sqrt{G}\sqrt{\max(\chi^2/(N\,df) - 1/N, 0)}` with the 90%
  interval from the noncentral chi-square.
* ``srmr``: lavaan's (Bentler's) standardized root mean square residual: per group the
  root mean square of the residual covariances scaled by the sample SDs, with the
  mean residuals when there is a mean structure; groups weighted by size.
* ``aic`` :math:`= -2\ell + 2k`, ``bic`` :math:`= -2\ell + k \log N`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = ["baseline_loglik", "fit_measures", "rmsea_interval", "srmr"]


def baseline_loglik(group, x_index: list) -> float:
    """Log-likelihood of the independence model in one group; ``x_index``: the fixed covariates.

    Each other variable has its own (observed) mean and ML variance; the covariates
    keep their sample covariance block (lavaan's baseline with ``fixed.x``).
    """
    values = group.values
    rest = [j for j in range(values.shape[1]) if j not in x_index]
    total = 0.0
    for column in values[:, rest].T:
        seen = column[~np.isnan(column)]
        total -= len(seen) / 2 * (np.log(2 * np.pi * seen.var()) + 1)
    if x_index:
        cov = group.cov[np.ix_(x_index, x_index)]
        total -= len(values) / 2 * (len(x_index) * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + len(x_index))
    return total


def rmsea_interval(chisq: float, df: float, n: int, groups: int, level: float = 0.90) -> tuple[float, float]:
    """lavaan's RMSEA confidence interval from the noncentral chi-square distribution."""
    if not df > 0:
        return np.nan, np.nan

    def bound(prob):
        if stats.chi2.cdf(chisq, df) < prob:
            return 0.0
        upper = max(chisq, 1.0)
        while stats.ncx2.cdf(chisq, df, upper) > prob:
            upper *= 2
        lam = optimize.brentq(lambda nc: stats.ncx2.cdf(chisq, df, nc) - prob, 1e-12, upper, xtol=1e-12)
        return np.sqrt(lam / (n * df)) * np.sqrt(groups)

    alpha = (1 - level) / 2
    lower = 0.0 if stats.chi2.cdf(chisq, df) < 1 - alpha else bound(1 - alpha)
    return lower, bound(alpha)


def srmr(groups, implied: list[tuple[np.ndarray, np.ndarray]], meanstructure: bool) -> float:
    """Bentler's SRMR (lavaan's ``srmr``), groups weighted by their size."""
    values = []
    for group, (mu, sigma) in zip(groups, implied):
        scale = 1 / np.sqrt(np.diag(group.cov))
        resid = (group.cov - sigma) * np.outer(scale, scale)
        squares = list(resid[np.tril_indices(len(resid))] ** 2)
        if meanstructure:
            squares += list(((group.mean - mu) * scale) ** 2)
        values.append(np.sqrt(np.mean(squares)))
    n = np.array([g.n for g in groups], float)
    return float(n @ np.array(values) / n.sum())


def fit_measures(loglik: float, h1_loglik: float, base_loglik: float, npar: int, moments: int,
                 base_npar: int, n: int, groups: int, srmr_value: float) -> pd.Series:
    """The fit measures of a model (see the module docstring).

    Parameters
    ----------
    loglik, h1_loglik, base_loglik : float
        Log-likelihoods of the model, the unrestricted and the independence model.
    npar, base_npar : int
        Free parameters of the model and of the baseline model.
    moments : int
        Sample moments the models reproduce (means when there is a mean structure).
    n, groups : int
        Cases in all and groups.
    srmr_value : float
    """
    chisq = max(2 * (h1_loglik - loglik), 0.0)
    df = moments - npar
    base_chisq = 2 * (h1_loglik - base_loglik)
    base_df = moments - base_npar
    denominator = max(chisq - df, base_chisq - base_df, 0.0)
    cfi = 1.0 if denominator == 0 else 1 - max(chisq - df, 0.0) / denominator
    tli = (base_chisq / base_df - chisq / df) / (base_chisq / base_df - 1) if df > 0 else np.nan
    rmsea = np.sqrt(max(chisq / (n * df) - 1 / n, 0.0)) * np.sqrt(groups) if df > 0 else np.nan
    lower, upper = rmsea_interval(chisq, df, n, groups)
    return pd.Series({
        "npar": npar, "chisq": chisq, "df": df, "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
        "baseline_chisq": base_chisq, "baseline_df": base_df, "cfi": cfi, "tli": tli,
        "logl": loglik, "unrestricted_logl": h1_loglik, "aic": -2 * loglik + 2 * npar,
        "bic": -2 * loglik + np.log(n) * npar, "ntotal": n, "rmsea": rmsea, "rmsea_ci_lower": lower,
        "rmsea_ci_upper": upper, "srmr": srmr_value,
    })
