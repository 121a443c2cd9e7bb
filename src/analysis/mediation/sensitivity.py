r"""Sensitivity of the ACME to a mediator-outcome confounder (R's ``medsens``).

Imai, Keele & Yamamoto (2010): :math:`\rho`, the correlation of the mediator and
outcome models' errors induced by an unmeasured mediator-outcome confounder, is 0
under sequential ignorability. For fixed :math:`\rho` both equations are
estimated jointly (``medsens`` iterates feasible GLS to the fixed point, which has
the closed form used here):

.. math::

   b(\rho) = \hat b - \frac{\rho}{\sqrt{1-\rho^2}} \sqrt{\frac{RSS_Y}{RSS_M}}, \qquad
   \text{ACME}(\rho) = \hat a\, b(\rho).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special, stats

from .design import _Coding, _Design, _design
from .models import _ols, _tss, fit_model
from .result import MediationResult, Sensitivity


def medsens(result: MediationResult, rho_by: float = 0.01, sims: int = 1000, seed: int = 0) -> Sensitivity:
    """Sensitivity of the ACME to violations of sequential ignorability (``medsens``).

    Parameters
    ----------
    result : MediationResult
        A single-level or change-score result of :func:`mediate` or
        :func:`mediate_change`: linear mediator and outcome models, or a linear
        mediator and a probit outcome model, without interaction or moderator.
    rho_by : float, default 0.01
        Step of the rho grid from ``-1 + rho_by`` to ``1 - rho_by`` (R's default is
        0.1).
    sims, seed : int
        Monte Carlo draws and their seed, for a probit outcome (R's ``sims``).

    Returns
    -------
    Sensitivity

    Raises
    ------
    ValueError
        For a multilevel result, other model combinations, or ``rho_by`` not in
        (0, 0.5].

    Notes
    -----
    For a probit outcome R's algorithm (Imai, Keele & Tingley, 2010, appendix) is
    followed: both models' coefficients and the mediator's residual SD are drawn,
    the error correlation implied by the fitted outcome model is removed and the
    one at each rho put in; ACME(control) and ACME(treated) at each rho are means
    over the draws, with quantile limits, and ``acme`` is their average.
    """
    if result.kind == "multilevel":
        raise ValueError("medsens needs linear (lm) mediator and outcome models; this result is "
                         "multilevel")
    families = (result.mediator_family, result.outcome_family)
    if families not in (("linear", "linear"), ("linear", "probit")) or result.interaction \
            or result.moderator is not None:
        raise ValueError("medsens is implemented for a linear mediator with a linear or probit outcome model "
                         f"without interaction or moderator; this result has a {result.mediator_family} mediator "
                         f"and a {result.outcome_family} outcome model"
                         + (" with an interaction" if result.interaction else "")
                         + (f" moderated by {result.moderator}" if result.moderator is not None else ""))
    if not 0 < rho_by <= 0.5:
        raise ValueError(f"rho_by must be in (0, 0.5], got {rho_by!r}")
    design = _design(result.data, _Coding(result.treatment, result.control, result.treated), result.mediator,
                     result.outcome, result.covariates)
    if families[1] == "probit":
        return _probit_outcome(result, design, _rho_grid(rho_by), sims, np.random.default_rng(seed))
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
    alpha = (1 - result.conf_level) / 2
    rows = []
    for r in rho:
        gamma = (-r + rho12 * np.sqrt((1 - r ** 2) / (1 - rho12 ** 2))) / sigma
        shift = (gamma * coef_m[:, k] / np.sqrt(gamma ** 2 * sigma ** 2 + 2 * gamma * r * sigma + 1))[:, None]
        d0 = (special.ndtr(linear[0] + shift) - special.ndtr(linear[0])).mean(axis=1)
        d1 = (special.ndtr(linear[1]) - special.ndtr(linear[1] - shift)).mean(axis=1)
        rows.append([f(d) for d in ((d0 + d1) / 2, d0, d1)
                     for f in (np.mean, lambda d: np.quantile(d, alpha), lambda d: np.quantile(d, 1 - alpha))])
    table = pd.DataFrame(rows, index=pd.Index(rho, name="rho"),
                         columns=[f"{name}{arm}" for arm in ("", "_control", "_treated")
                                  for name in ("acme", "ci_low", "ci_high")])
    r2_m = 1 - _ols(x_m, y_m).rss / _tss(y_m)
    latent = np.var(x_y @ fit_y.coef, ddof=1)
    r2_y = latent / (1 + latent)
    table["r2_star"], table["r2_tilde"] = rho ** 2, rho ** 2 * (1 - r2_m) * (1 - r2_y)
    zero = {arm: float(rho[np.argmin(np.abs(table[f"acme{arm}"].to_numpy()))]) for arm in ("", "_control", "_treated")}
    return Sensitivity(table, zero[""], zero[""] ** 2, zero[""] ** 2 * (1 - r2_m) * (1 - r2_y), float(r2_m),
                       float(r2_y), result.conf_level, (zero["_control"], zero["_treated"]))
