r"""Sensitivity of the ACME to a mediator-outcome confounder (R's ``medsens``).

Imai, Keele & Yamamoto (2010): :math:`\rho`, the correlation of the mediator and
outcome models' errors induced by an unmeasured mediator-outcome confounder, is 0
under sequential ignorability. For fixed :math:`\rho` both equations are
estimated jointly (``medsens`` iterates feasible GLS to the fixed point, which has
the closed form used here):

.. math::

   b(\rho) = \hat b - \frac{\rho}{\sqrt{1-\rho^2}} \sqrt{\frac{RSS_Y}{RSS_M}}, \qquad
   \text{ACME}(\rho) = \hat a\, b(\rho).

A probit outcome (R's case "bo") and a probit mediator (case "bm") follow R's
simulation algorithms (Imai, Keele & Tingley, 2010, appendix; Imai, Keele &
Yamamoto, 2010); see :func:`medsens`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from .design import _Coding, _Design, _design
from .models import _ols, _tss, fit_model
from .result import MediationResult, Sensitivity


def medsens(result: MediationResult, rho_by: float = 0.01, sims: int = 1000, seed: int = 0) -> Sensitivity:
    r"""Sensitivity of the ACME to violations of sequential ignorability (``medsens``).

    Parameters
    ----------
    result : MediationResult
        A single-level or change-score result of :func:`mediate` or
        :func:`mediate_change` without moderator, with the model pairs R's
        ``medsens`` supports: linear mediator and linear outcome, linear mediator
        and probit outcome (both without interaction), or probit mediator and
        linear outcome (with or without the treatment x mediator interaction).
    rho_by : float, default 0.01
        Step of the rho grid from ``-1 + rho_by`` to ``1 - rho_by`` (R's default is
        0.1).
    sims, seed : int
        Monte Carlo draws and their seed, for a probit outcome or mediator (R's
        ``sims``).

    Returns
    -------
    Sensitivity

    Raises
    ------
    ValueError
        For a multilevel or moderated result, a logit model (``medsens`` is only
        valid for the probit link), a probit mediator with a probit outcome, an
        interaction with a linear or probit outcome model beside a linear
        mediator, or ``rho_by`` not in (0, 0.5].

    Notes
    -----
    For a probit outcome R's algorithm (Imai, Keele & Tingley, 2010, appendix) is
    followed: both models' coefficients and the mediator's residual SD are drawn,
    the error correlation implied by the fitted outcome model is removed and the
    one at each rho put in; ACME(control) and ACME(treated) at each rho are means
    over the draws, with quantile limits, and ``acme`` is their average.

    For a probit mediator R's case "bm" is followed: the mediator model's
    coefficients are drawn; for each draw and rho the outcome model is refitted
    by weighted least squares with the correction term :math:`\rho \sigma
    \lambda_i` (:math:`\lambda_i` the probit's generalised residual, weights
    :math:`1 - \rho^2 \lambda_i(\lambda_i + \mu_i)`) at the fixed point of
    :math:`\sigma`, which ``medsens`` iterates to and which is solved here in
    closed form; one outcome coefficient vector is drawn from that fit, and
    ACME(t) is its mediator coefficient (plus the interaction for t = treated)
    times the mean change in the probability of the mediator. Without an
    interaction ACME(control) = ACME(treated) and ``rho_zero_by_arm`` holds the
    same rho twice; the mediator's R-squared is that of its latent variable.
    """
    _check_supported(result)
    if not 0 < rho_by <= 0.5:
        raise ValueError(f"rho_by must be in (0, 0.5], got {rho_by!r}")
    design = _design(result.data, _Coding(result.treatment, result.control, result.treated), result.mediator,
                     result.outcome, result.covariates, interaction=result.interaction)
    if result.outcome_family == "probit":
        return _probit_outcome(result, design, _rho_grid(rho_by), sims, np.random.default_rng(seed))
    if result.mediator_family == "probit":
        return _probit_mediator(result, design, _rho_grid(rho_by), sims, np.random.default_rng(seed))
    y_m, y_y = design.values()
    x_m, x_y = design.mediator_matrix, design.outcome_matrix
    fit_m, fit_y = _ols(x_m, y_m), _ols(x_y, y_y)
    reduced = _ols(x_m, y_y)
    n = len(y_m)
    a = fit_m.coef[design.mediator_index]
    b = fit_y.coef[design.mediator_column]
    rho = _rho_grid(rho_by)
    kappa = rho / np.sqrt(1 - rho ** 2) * np.sqrt(fit_y.rss / fit_m.rss)
    acme = a * (b - kappa)
    var = np.array([_sensitivity_variance(r, x_m, x_y, fit_m.rss, fit_y.rss, n, design, a, b - k)
                    for r, k in zip(rho, kappa)])
    half = stats.norm.ppf((1 + result.conf_level) / 2) * np.sqrt(var)
    r2_m = 1 - fit_m.rss / _tss(y_m)
    r2_y = 1 - fit_y.rss / _tss(y_y)
    rho_zero = float(np.corrcoef(fit_m.resid, reduced.resid)[0, 1])
    table = pd.DataFrame({"acme": acme, "ci_low": acme - half, "ci_high": acme + half,
                          "r2_star": rho ** 2, "r2_tilde": rho ** 2 * (1 - r2_m) * (1 - r2_y)},
                         index=pd.Index(rho, name="rho"))
    return Sensitivity(table, rho_zero, rho_zero ** 2, rho_zero ** 2 * (1 - r2_m) * (1 - r2_y),
                       float(r2_m), float(r2_y), result.conf_level)


def _check_supported(result: MediationResult) -> None:
    """Refuse the model pairs R's ``medsens`` does not support, naming what the result has."""
    if result.kind == "multilevel":
        raise ValueError("medsens needs single-level mediator and outcome models (lm or glm); this result is "
                         "multilevel")
    families = (result.mediator_family, result.outcome_family)
    if "logit" in families:
        raise ValueError("medsens is only valid for the probit link; this result has a "
                         f"{result.mediator_family} mediator and a {result.outcome_family} outcome model")
    interaction_ok = families == ("probit", "linear")
    if families == ("probit", "probit") or result.moderator is not None or (result.interaction and not interaction_ok):
        raise ValueError("medsens supports a linear mediator with a linear or probit outcome model without "
                         "interaction, or a probit mediator with a linear outcome model; this result has a "
                         f"{result.mediator_family} mediator and a {result.outcome_family} outcome model"
                         + (" with an interaction" if result.interaction else "")
                         + (f" moderated by {result.moderator}" if result.moderator is not None else ""))


def _sensitivity_variance(rho, x_m, x_y, rss_m, rss_y, n, design: _Design, a, b) -> float:
    """Delta-method variance of ACME(rho) from the joint (SUR) fit at fixed rho, as medsens."""
    s_m = np.sqrt(rss_m / (n - 1))
    s_y = np.sqrt(rss_y / ((n - 1) * (1 - rho ** 2)))
    omega = np.array([[s_m ** 2, rho * s_m * s_y], [rho * s_m * s_y, s_y ** 2]])
    w = np.linalg.inv(omega)
    p_m = x_m.shape[1]
    info = np.block([[w[0, 0] * x_m.T @ x_m, w[0, 1] * x_m.T @ x_y],
                     [w[1, 0] * x_y.T @ x_m, w[1, 1] * x_y.T @ x_y]])
    cov = np.linalg.inv(info)
    k = design.mediator_index
    var_a = cov[k, k]
    var_b = cov[p_m + design.mediator_column, p_m + design.mediator_column]
    return float(a ** 2 * var_b + b ** 2 * var_a)



def _rho_grid(rho_by: float) -> np.ndarray:
    return np.round(np.arange(-1 + rho_by, 1 - rho_by / 2, rho_by), 10)


def _probit_outcome(result: MediationResult, design: _Design, rho: np.ndarray, sims: int,
                    rng: np.random.Generator) -> Sensitivity:
    """``medsens`` for a linear mediator and a probit outcome (R's case "bo")."""
    y_m, y_y = design.values()
    x_m, x_y = design.mediator_matrix, design.outcome_matrix
    fit_m = fit_model(x_m, y_m, "linear", design.mediator, "medsens")
    fit_y = fit_model(x_y, y_y, "probit", design.outcome, "medsens")
    k, column = design.mediator_index, design.mediator_column
    coef_m = rng.multivariate_normal(fit_m.coef, fit_m.vcov, size=sims, method="cholesky")
    dof = len(y_m) - x_m.shape[1]
    sigma = np.sqrt(1 / rng.gamma(dof / 2, 1 / (dof / 2 * fit_m.sigma ** 2), size=sims))
    coef_y = rng.multivariate_normal(fit_y.coef, fit_y.vcov, size=sims, method="cholesky")
    gamma_tilde = coef_y[:, column]
    rho12 = sigma * gamma_tilde / (1 + np.sqrt(sigma ** 2 * gamma_tilde ** 2))
    direct = (np.delete(coef_y, column, axis=1) * np.sqrt(1 - rho12 ** 2)[:, None]
              + coef_m * (rho12 / sigma)[:, None])
    linear = [direct @ design.mediator_rows(t).T for t in (0, 1)]
    acme = {"_control": [], "_treated": []}
    for r in rho:
        gamma = (-r + rho12 * np.sqrt((1 - r ** 2) / (1 - rho12 ** 2))) / sigma
        shift = (gamma * coef_m[:, k] / np.sqrt(gamma ** 2 * sigma ** 2 + 2 * gamma * r * sigma + 1))[:, None]
        acme["_control"].append((special.ndtr(linear[0] + shift) - special.ndtr(linear[0])).mean(axis=1))
        acme["_treated"].append((special.ndtr(linear[1]) - special.ndtr(linear[1] - shift)).mean(axis=1))
    r2_m = 1 - _ols(x_m, y_m).rss / _tss(y_m)
    return _simulated_sensitivity(result, rho, acme, float(r2_m), _latent_r2(x_y, fit_y.coef))


def _probit_mediator(result: MediationResult, design: _Design, rho: np.ndarray, sims: int,
                     rng: np.random.Generator) -> Sensitivity:
    """``medsens`` for a probit mediator and a linear outcome (R's case "bm")."""
    y_m, y_y = design.values()
    x_m, x_y = design.mediator_matrix, design.outcome_matrix
    fit_m = fit_model(x_m, y_m, "probit", design.mediator, "medsens")
    coef_m = rng.multivariate_normal(fit_m.coef, fit_m.vcov, size=sims, method="cholesky")
    mu = x_m @ coef_m.T
    residual = _generalised_residual(mu, y_m[:, None])
    curvature = residual * (residual + mu)
    mediator_shift = (special.ndtr(design.mediator_rows(1) @ coef_m.T)
                      - special.ndtr(design.mediator_rows(0) @ coef_m.T)).mean(axis=0)
    acme = {"_control": [], "_treated": []}
    for r in rho:
        draws = _corrected_outcome_draws(x_y, y_y, r * residual, 1 - r ** 2 * curvature, rng)
        b_control = draws[:, design.mediator_column]
        b_treated = b_control + (draws[:, design.mediator_column + 1] if design.interaction else 0.0)
        acme["_control"].append(b_control * mediator_shift)
        acme["_treated"].append(b_treated * mediator_shift)
    r2_y = 1 - _ols(x_y, y_y).rss / _tss(y_y)
    return _simulated_sensitivity(result, rho, acme, _latent_r2(x_m, fit_m.coef), float(r2_y))


def _generalised_residual(mu: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The probit's generalised residual E[error | M, X] (inverse Mills ratio), R's ``lambda``."""
    density = np.exp(-mu ** 2 / 2) / np.sqrt(2 * np.pi)
    return np.where(m == 1, density / special.ndtr(mu), -density / special.ndtr(-mu))


def _corrected_outcome_draws(x: np.ndarray, y: np.ndarray, adjustment: np.ndarray, weights: np.ndarray,
                             rng: np.random.Generator) -> np.ndarray:
    """One draw of the outcome coefficients per column of ``adjustment`` (and ``weights``), (sims, p)."""
    coef, vcov = _corrected_outcome_fit(x, y, adjustment, weights)
    return coef + np.einsum("kij,kj->ki", np.linalg.cholesky(vcov), rng.standard_normal(coef.shape))


def _corrected_outcome_fit(x: np.ndarray, y: np.ndarray, adjustment: np.ndarray,
                           weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outcome coefficients (k, p) and their covariance (k, p, p) refitted with the selection correction.

    Column j of ``adjustment`` and ``weights`` gives R's fit of ``Y - sigma * adjustment[:, j] ~ X``
    with weights ``weights[:, j]``, at the sigma that equals that fit's residual standard error
    (medsens iterates to it): with weighted residuals
    e_Y, e_adj of Y and the adjustment on X, sigma^2 (n - p) = A - 2 B sigma + C sigma^2
    (A, B, C the weighted sums of e_Y^2, e_Y e_adj, e_adj^2), the positive root.
    """
    n, p = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, p * p)
    xtwx_inv = np.linalg.inv((weights.T @ outer).reshape(-1, p, p))
    weighted_y, weighted_adj = weights * y[:, None], weights * adjustment
    xtwy, xtwa = weighted_y.T @ x, weighted_adj.T @ x
    beta_y = np.einsum("kij,kj->ki", xtwx_inv, xtwy)
    beta_adj = np.einsum("kij,kj->ki", xtwx_inv, xtwa)
    # weighted residual sums of squares and products, without forming the residuals
    a = y ** 2 @ weights - (beta_y * xtwy).sum(1)
    b = y @ weighted_adj - (beta_y * xtwa).sum(1)
    c = (weighted_adj * adjustment).sum(0) - (beta_adj * xtwa).sum(1)
    dof = n - p - c
    sigma = (-b + np.sqrt(b ** 2 + a * dof)) / dof
    return beta_y - sigma[:, None] * beta_adj, sigma[:, None, None] ** 2 * xtwx_inv


def _latent_r2(x: np.ndarray, coef: np.ndarray) -> float:
    """R-squared of a probit model's latent variable, var(fitted) / (1 + var(fitted)), as ``medsens``."""
    latent = np.var(x @ coef, ddof=1)
    return float(latent / (1 + latent))


def _simulated_sensitivity(result: MediationResult, rho: np.ndarray, acme: dict, r2_m: float,
                           r2_y: float) -> Sensitivity:
    """The table and thresholds from ACME(control) and ACME(treated) draws per rho (mean, quantiles)."""
    alpha = (1 - result.conf_level) / 2
    draws = {"": [(d0 + d1) / 2 for d0, d1 in zip(acme["_control"], acme["_treated"])], **acme}
    table = pd.DataFrame({f"{name}{arm}": [f(d) for d in draws[arm]]
                          for arm in ("", "_control", "_treated")
                          for name, f in (("acme", np.mean), ("ci_low", lambda d: np.quantile(d, alpha)),
                                          ("ci_high", lambda d: np.quantile(d, 1 - alpha)))},
                         index=pd.Index(rho, name="rho"))
    table["r2_star"], table["r2_tilde"] = rho ** 2, rho ** 2 * (1 - r2_m) * (1 - r2_y)
    zero = {arm: float(rho[np.argmin(np.abs(table[f"acme{arm}"].to_numpy()))]) for arm in draws}
    return Sensitivity(table, zero[""], zero[""] ** 2, zero[""] ** 2 * (1 - r2_m) * (1 - r2_y), r2_m, r2_y,
                       result.conf_level, (zero["_control"], zero["_treated"]))
