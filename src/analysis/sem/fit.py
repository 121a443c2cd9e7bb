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

__all__ = ["baseline_loglik", "cfi", "fit_measures", "rmsea", "rmsea_interval", "srmr", "tli"]


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


def cfi(chisq: float, df: float, base_chisq: float, base_df: float, c_hat: float = 1.0,
        c_hat_base: float = 1.0) -> float:
    """lavaan's ``lav_fit_cfi``; with scaling factors ``c_hat`` (model) and ``c_hat_base`` (baseline) the
    robust CFI of Brosseau-Liard & Savalei (2014): each ``df`` becomes ``c_hat * df``."""
    if np.isnan([chisq, df, base_chisq, base_df, c_hat, c_hat_base]).any():
        return np.nan
    if not (df > 0 and c_hat != 1 and c_hat_base != 1):
        c_hat = c_hat_base = 1.0
    t1 = max(chisq - c_hat * df, 0.0)
    t2 = max(chisq - c_hat * df, base_chisq - c_hat_base * base_df, 0.0)
    return 1.0 if np.isclose(t1, 0, rtol=0, atol=1.5e-8) and np.isclose(t2, 0, rtol=0, atol=1.5e-8) else 1 - t1 / t2


def tli(chisq: float, df: float, base_chisq: float, base_df: float, c_hat: float = 1.0,
        c_hat_base: float = 1.0) -> float:
    """lavaan's ``lav_fit_tli`` (robust with scaling factors, as :func:`cfi`)."""
    if np.isnan([chisq, df, base_chisq, base_df, c_hat, c_hat_base]).any():
        return np.nan
    if not (df > 0 and c_hat != 1 and c_hat_base != 1):
        c_hat = c_hat_base = 1.0
    t1 = (chisq - c_hat * df) * base_df
    t2 = (base_chisq - c_hat_base * base_df) * df
    return 1 - t1 / t2 if df > 0 and abs(t2) > 0 else (np.nan if not np.isfinite(t1 + t2) else 1.0)


def rmsea(chisq: float, df: float, n: int, groups: int, c_hat: float = 1.0) -> float:
    r"""lavaan's ``lav_fit_rmsea``: :math:`\sqrt{G}\sqrt{\max(\chi^2/(N\,df) - \hat c/N, 0)}` (NaN without df)."""
    if not df > 0:
        return np.nan
    return float(np.sqrt(max(chisq / (n * df) - c_hat / n, 0.0)) * np.sqrt(groups))


def rmsea_interval(chisq: float, df: float, n: int, groups: int, level: float = 0.90,
                   c_hat: float = 1.0) -> tuple[float, float]:
    """lavaan's RMSEA confidence interval from the noncentral chi-square distribution.

    ``df`` need not be whole (lavaan's scaled RMSEA uses tr(U Gamma)); ``c_hat``
    multiplies the noncentrality (the robust RMSEA's interval, Savalei 2018).
    """
    if not df > 0 or not np.isfinite(chisq):
        return np.nan, np.nan

    def bound(prob):
        if stats.chi2.cdf(chisq, df) < prob:
            return 0.0
        upper = max(chisq, 1.0)
        while stats.ncx2.cdf(chisq, df, upper) > prob:
            upper *= 2
        lam = optimize.brentq(lambda nc: stats.ncx2.cdf(chisq, df, nc) - prob, 1e-12, upper, xtol=1e-12)
        return np.sqrt(c_hat * lam / (n * df)) * np.sqrt(groups)

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
    tli_value = tli(chisq, df, base_chisq, base_df) if df > 0 else np.nan
    lower, upper = rmsea_interval(chisq, df, n, groups)
    return pd.Series({
        "npar": npar, "chisq": chisq, "df": df, "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
        "baseline_chisq": base_chisq, "baseline_df": base_df, "cfi": cfi(chisq, df, base_chisq, base_df),
        "tli": tli_value, "logl": loglik, "unrestricted_logl": h1_loglik, "aic": -2 * loglik + 2 * npar,
        "bic": -2 * loglik + np.log(n) * npar, "ntotal": n, "rmsea": rmsea(chisq, df, n, groups),
        "rmsea_ci_lower": lower, "rmsea_ci_upper": upper, "srmr": srmr_value,
    })
