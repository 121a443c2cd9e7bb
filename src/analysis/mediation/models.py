"""The mediator and outcome fits: least squares (``lm``) and binary GLMs (``glm``, logit or probit).

Binary models are fitted by iteratively reweighted least squares (Fisher scoring,
as R's ``glm``); their covariance is the inverse expected information, R's
``vcov``. :func:`fit_batch` fits one model to many row weightings at once
(bootstrap resamples as frequency weights, leave-one-out weights), returning NaN
coefficients for a weighting that does not identify the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from .. import io

FAMILIES = ("linear", "logit", "probit")
#: Replicates whose cross-product matrix has a larger condition number are dropped.
CONDITION_LIMIT = 1e12
#: IRLS stops when the largest coefficient change is below this.
IRLS_TOLERANCE = 1e-11
IRLS_ITERATIONS = 100
#: A linear predictor beyond this (in absolute value) means a fitted probability of 0 or 1.
SEPARATION_LIMIT = 15.0


def mean_function(family: str):
    """The inverse link: identity, logistic or standard normal distribution function."""
    return {"linear": lambda eta: eta, "logit": special.expit, "probit": special.ndtr}[family]


def _mu_eta(family: str, eta: np.ndarray) -> np.ndarray:
    if family == "logit":
        p = special.expit(eta)
        return p * (1 - p)
    return stats.norm.pdf(eta)


# --- single fits -----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Ols:
    coef: np.ndarray
    resid: np.ndarray
    rss: float
    xtx_inv: np.ndarray


def _ols(x: np.ndarray, y: np.ndarray) -> _Ols:
    xtx_inv = np.linalg.inv(x.T @ x)
    coef = xtx_inv @ x.T @ y
    resid = y - x @ coef
    return _Ols(coef, resid, float(resid @ resid), xtx_inv)


def _tss(y: np.ndarray) -> float:
    return float(((y - y.mean()) ** 2).sum())


@dataclass(frozen=True)
class Fit:
    """One fitted model: coefficients, their covariance (R's ``vcov``) and, for ``lm``, sigma."""

    family: str
    coef: np.ndarray
    vcov: np.ndarray
    sigma: float | None


def fit_model(x: np.ndarray, y: np.ndarray, family: str, column: str, who: str) -> Fit:
    """Fit a linear or binary model to all rows.

    Raises
    ------
    analysis.io.DataValidationError
        A binary model whose fitted probabilities reach 0 or 1 (separation) or whose
        IRLS does not converge, naming ``column``.
    """
    if family == "linear":
        fit = _ols(x, y)
        sigma2 = fit.rss / (len(y) - x.shape[1])
        return Fit(family, fit.coef, sigma2 * fit.xtx_inv, float(np.sqrt(sigma2)))
    coef, converged = _irls(x, y, np.ones((1, len(y))), family)
    eta = x @ coef[0]
    if not converged[0] or np.max(np.abs(eta)) > SEPARATION_LIMIT:
        raise io.DataValidationError([io.Problem(column, f"{who}: the {family} model of {column!r} does not "
                                                         "converge: fitted probabilities reach 0 or 1 "
                                                         "(a predictor separates the 0s from the 1s)")])
    weight = _mu_eta(family, eta) ** 2 / _variance(family, eta)
    return Fit(family, coef[0], np.linalg.inv(x.T @ (x * weight[:, None])), None)


def _variance(family: str, eta: np.ndarray) -> np.ndarray:
    p = mean_function(family)(eta)
    return np.maximum(p * (1 - p), np.finfo(float).tiny)


def model_table(x: np.ndarray, y: np.ndarray, names: list[str], family: str = "linear") -> pd.DataFrame:
    """Coefficient table as ``summary(lm(...))`` (t) or ``summary(glm(...))`` (z, ``df`` infinite)."""
    if family == "linear":
        return ols_table(x, y, names)
    fit = fit_model(x, y, family, names[0], "mediate")
    return _t_table(fit.coef, np.sqrt(np.diag(fit.vcov)), np.inf, pd.Index(names, name="term"))


def ols_table(x: np.ndarray, y: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Coefficient table as ``summary(lm(...))`` gives it, with t intervals.

    Parameters
    ----------
    x : numpy.ndarray
        Design matrix (intercept column included).
    y : numpy.ndarray
        Outcome.
    names : list of str
        Column names of ``x``.

    Returns
    -------
    pandas.DataFrame
        ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``, ``ci_high`` per term.
    """
    fit = _ols(x, y)
    df = len(y) - x.shape[1]
    se = np.sqrt(np.diag(fit.xtx_inv) * fit.rss / df)
    return _t_table(fit.coef, se, df, pd.Index(names, name="term"))


def _t_table(estimate, se, df, index) -> pd.DataFrame:
    estimate, se, df = np.asarray(estimate, float), np.asarray(se, float), np.broadcast_to(df, np.shape(estimate))
    t = estimate / se
    half = stats.t.ppf(0.975, df) * se
    return pd.DataFrame({"estimate": estimate, "se": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df),
                         "ci_low": estimate - half, "ci_high": estimate + half}, index=index)


# --- batched fits ----------------------------------------------------------------------------

def fit_batch(x: np.ndarray, y: np.ndarray, weights: np.ndarray, family: str):
    """Coefficients (rows: weightings) and, for ``lm``, residual SDs; NaN where not identified.

    Parameters
    ----------
    x, y : numpy.ndarray
        Design matrix and response of all rows.
    weights : numpy.ndarray
        Frequency weights, one row per fit.
    family : {"linear", "logit", "probit"}

    Returns
    -------
    coef : numpy.ndarray
        Shape (fits, columns).
    sigma : numpy.ndarray or None
        Residual SD with ``sum(weights) - columns`` degrees of freedom (linear only).
    """
    if family == "linear":
        coef = _weighted_ols(x, y, weights)
        resid = y[None, :] - coef @ x.T
        dof = weights.sum(axis=1) - x.shape[1]
        return coef, np.sqrt(np.einsum("bn,bn->b", weights, resid ** 2) / dof)
    coef, converged = _irls(x, y, weights, family)
    coef[~converged] = np.nan
    return coef, None


def _cross_products(x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    n, p = x.shape
    return (weights @ (x[:, :, None] * x[:, None, :]).reshape(n, p * p)).reshape(-1, p, p)


def _weighted_ols(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Least squares for each row of ``weights`` (frequency weights); NaN where singular."""
    p = x.shape[1]
    xtx = _cross_products(x, weights)
    xty = weights @ (x * y[:, None])
    singular = ~(np.linalg.cond(xtx) < CONDITION_LIMIT)
    xtx[singular], xty[singular] = np.eye(p), 0.0
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]
    coef[singular] = np.nan
    return coef


def _irls(x: np.ndarray, y: np.ndarray, weights: np.ndarray, family: str):
    """Fisher scoring for each row of ``weights``; coefficients and whether each converged.

    Starts, as ``glm``, from fitted means ``(y + 0.5) / 2``. A fit is not converged
    when its cross-product matrix is singular, its coefficients do not settle, or a
    linear predictor of a weighted row passes :data:`SEPARATION_LIMIT`.
    """
    size, p = weights.shape[0], x.shape[1]
    start = special.logit((y + 0.5) / 2) if family == "logit" else special.ndtri((y + 0.5) / 2)
    eta = np.broadcast_to(start, weights.shape).copy()
    coef = np.zeros((size, p))
    active = np.ones(size, bool)
    converged = np.zeros(size, bool)
    for _ in range(IRLS_ITERATIONS):
        mu, d = mean_function(family)(eta[active]), _mu_eta(family, eta[active])
        w = weights[active] * d ** 2 / _variance(family, eta[active])
        z = eta[active] + (y - mu) / np.maximum(d, np.finfo(float).tiny)
        xtx = _cross_products(x, w)
        singular = ~(np.linalg.cond(xtx) < CONDITION_LIMIT)
        xtx[singular] = np.eye(p)
        new = np.linalg.solve(xtx, ((w * z) @ x)[..., None])[..., 0]
        change = np.max(np.abs(new - coef[active]), axis=1)
        index = np.flatnonzero(active)
        coef[index] = new
        eta[index] = new @ x.T
        done = (change < IRLS_TOLERANCE * (1 + np.max(np.abs(new), axis=1))) & ~singular
        converged[index[done]] = True
        active[index[done | singular]] = False
        if not active.any():
            break
    separated = np.max(np.abs(eta) * (weights > 0), axis=1) > SEPARATION_LIMIT
    return coef, converged & ~separated
