r"""Counterfactual predictions and the estimands of Imai, Keele & Tingley (2010).

For treatment values :math:`t, t' \in \{0, 1\}` (control, treated),
:math:`Q(t, t')` is the mean over the model rows of
:math:`E[Y(t, M(t'))]`, the outcome model's mean (probability scale for
logit/probit) with the treatment at :math:`t` and the mediator drawn from the
mediator model at :math:`t'`. R's ``mediate`` estimates this expectation by
drawing the mediator; here it is integrated exactly: a Bernoulli mean for a binary
mediator, and for a normal (linear) mediator with mean :math:`\mu` and SD
:math:`\sigma` the identity (linear outcome), :math:`\Phi((\eta_0 + \gamma\mu) /
\sqrt{1 + \gamma^2\sigma^2})` (probit outcome) or the trapezoidal rule over the
standard normal (logit outcome; its error falls exponentially with the number of
nodes for this analytic integrand, below 1e-8 at the step used), where the
outcome's linear predictor is :math:`\eta_0 + \gamma M`.
Then

.. math::

   \delta(1) = Q(1,1) - Q(1,0), \quad \delta(0) = Q(0,1) - Q(0,0), \quad
   \zeta(1) = Q(1,1) - Q(0,1), \quad \zeta(0) = Q(1,0) - Q(0,0),

the total effect :math:`\tau = (\delta(0) + \delta(1) + \zeta(0) + \zeta(1)) / 2`
and the proportions mediated :math:`\delta(t) / \tau`.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from .design import _Design
from .models import mean_function

#: Trapezoidal rule for a normal mediator under a logit outcome: standard normal
#: nodes in [-RANGE, RANGE], step STEP / max(1, largest |slope x sigma|).
QUADRATURE_RANGE = 9.0
QUADRATURE_STEP = 0.5
#: d0, d1, z0, z1: ACME and ADE under control and treatment.
BASIC = ("d0", "d1", "z0", "z1")


def basic_effects(design: _Design, families: tuple[str, str], coef_m: np.ndarray, coef_y: np.ndarray,
                  sigma_m, weights: np.ndarray | None = None, moderator: float | None = None) -> np.ndarray:
    """d0, d1, z0, z1 (columns) for each row of coefficients.

    Parameters
    ----------
    design : _Design
    families : (str, str)
        Mediator and outcome model families.
    coef_m, coef_y : numpy.ndarray
        Coefficients, one row per fit or draw.
    sigma_m : float or numpy.ndarray or None
        Residual SD of a linear mediator model (per row or common).
    weights : numpy.ndarray, optional
        Row weights of each fit (bootstrap counts) for the average over rows;
        default equal.
    moderator : float, optional
        Moderator value every row is set to.
    """
    q = expected_outcomes(design, families, coef_m, coef_y, sigma_m, weights, moderator)
    return np.column_stack([q[:, 0, 1] - q[:, 0, 0], q[:, 1, 1] - q[:, 1, 0],
                            q[:, 1, 0] - q[:, 0, 0], q[:, 1, 1] - q[:, 0, 1]])


def expected_outcomes(design: _Design, families: tuple[str, str], coef_m, coef_y, sigma_m, weights=None,
                      moderator=None) -> np.ndarray:
    """Q[:, t, t']: mean over rows of E[Y(t, M(t'))] for each row of coefficients."""
    mediator_family, outcome_family = families
    sigma = None if sigma_m is None else np.reshape(np.asarray(sigma_m, float), (-1, 1))
    mediator_means = [mean_function(mediator_family)(coef_m @ design.mediator_rows(t, moderator).T)
                      for t in (0, 1)]
    q = np.empty((len(coef_y), 2, 2))
    for t in (0, 1):
        base = coef_y @ design.outcome_rows(t, 0, moderator).T
        slope = coef_y @ design.outcome_rows(t, 1, moderator).T - base
        for t_m in (0, 1):
            expected = _integrate(base, slope, mediator_means[t_m], sigma, mediator_family, outcome_family)
            q[:, t, t_m] = (expected.mean(axis=1) if weights is None
                            else np.einsum("bn,bn->b", weights, expected) / weights.sum(axis=1))
    return q


def _integrate(base, slope, mean_m, sigma, mediator_family: str, outcome_family: str) -> np.ndarray:
    """E[g(base + slope M)] over the mediator's distribution (Bernoulli or normal)."""
    g = mean_function(outcome_family)
    if mediator_family != "linear":
        return mean_m * g(base + slope) + (1 - mean_m) * g(base)
    eta = base + slope * mean_m
    if outcome_family == "linear":
        return eta
    if outcome_family == "probit":
        return special.ndtr(eta / np.sqrt(1 + (slope * sigma) ** 2))
    spread = slope * sigma
    step = QUADRATURE_STEP / max(1.0, float(np.nanmax(np.abs(spread), initial=0.0)))
    nodes = np.arange(-QUADRATURE_RANGE, QUADRATURE_RANGE + step / 2, step)
    weights = step * np.exp(-nodes ** 2 / 2) / np.sqrt(2 * np.pi)
    return sum(w * g(eta + spread * node) for node, w in zip(nodes, weights))


def full_effects(basic: np.ndarray) -> np.ndarray:
    """The ten rows of :data:`analysis.mediation.FULL_EFFECTS` from d0, d1, z0, z1."""
    d0, d1, z0, z1 = basic.T
    tau = (d0 + d1 + z0 + z1) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        n0, n1 = d0 / tau, d1 / tau
    return np.column_stack([d0, d1, z0, z1, tau, n0, n1, (d0 + d1) / 2, (z0 + z1) / 2, (n0 + n1) / 2])


def compact_effects(basic: np.ndarray) -> np.ndarray:
    """ACME, ADE, total, proportion mediated (no interaction: the arms' values agree)."""
    full = full_effects(basic)
    return full[:, [7, 8, 4, 9]]


def product_effects(acme: np.ndarray, ade: np.ndarray) -> np.ndarray:
    """ACME, ADE, total and proportion mediated from ACME and ADE (one value for both arms)."""
    return compact_effects(np.column_stack([acme, acme, ade, ade]))
