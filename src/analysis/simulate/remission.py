r"""Binary remission at the end of treatment (optional, ``remission_threshold``; step 8).

Person :math:`i` remits when the true PHQ-9 score at the last wave, :math:`D^*_{i,W-1}`
(step 4, time :math:`T = t_{W-1}`), plus a person-specific threshold shift lies below
the threshold :math:`c` = ``remission_threshold``:

.. math::

   R_i = 1\{D^*_{i,W-1} + \sigma_R \epsilon_i < c\}, \quad \epsilon_i \sim N(0, 1), \qquad
   P(R_i = 1 \mid D^*_{i,W-1}) = \Phi\big((c - D^*_{i,W-1}) / \sigma_R\big),

a probit model of the true end-of-treatment score (:math:`\sigma_R` =
``remission_sd``; 0 gives a sharp threshold). The treatment reaches :math:`D^*_{i,W-1}`
through the SE slope (the path :math:`b`, step 1) and directly, so arm :math:`\to` SE
change :math:`\to` remission is a mediated path. The :math:`\epsilon_i` come from a
stream of their own, ``numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(2)[1])``,
so adding remission leaves every other column of the seed unchanged.

Truth: natural effects through the SE slope
--------------------------------------------
Write :math:`D^*(t, t')` for the last-wave true score of a person treated in arm :math:`t`
whose SE slope is the one they would have in arm :math:`t'` (step 1 with
:math:`\delta^{dir}_t` and :math:`\delta^S_{t'}`; the within-person deviations, intercepts
and slope residuals do not depend on the arm). It is normal with mean
:math:`\mu^D + T(\beta^D_{ref} + \delta^{dir}_t + b\,\delta^S_{t'})` and variance
:math:`V_t = \sigma_{\alpha D}^2 + T^2 \sigma_{\beta D}^2 + \mathrm{Var}(w^D_{W-1})`
(plus :math:`\tau_0^2 + T^2 \tau_1^2` in an arm with therapists), so

.. math::

   P(t, t') = P\big(R(t, S(t')) = 1\big) = \Phi\Big(\frac{c - E[D^*(t, t')]}{\sqrt{V_t + \sigma_R^2}}\Big)

and, for each active arm :math:`a` against the reference arm :math:`r`, on the
probability scale: ACME(treated) :math:`= P(a, a) - P(a, r)`, ACME(control)
:math:`= P(r, a) - P(r, r)`, ADE(treated) :math:`= P(a, a) - P(r, a)`, ADE(control)
:math:`= P(a, r) - P(r, r)`, total :math:`= P(a, a) - P(r, r)` (Imai, Keele & Tingley,
2010). These are the estimands of a mediation analysis of remission on the SE change
over the trial (the SE slope times :math:`T`); an analysis of the *observed* GSE change
recovers them when that change measures the slope (little measurement error and
within-person SE deviation), as in ``benchmarks/coverage_mediation.py``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from .people import _b_path

REMISSION_ARGUMENTS = ("remission_threshold", "remission_sd")


def _remission(true_phq9: np.ndarray, last_wave: np.ndarray, params: dict) -> np.ndarray:
    """Remission (1.0/0.0) per person from the last wave's true PHQ-9 score; NaN after dropout."""
    n, n_waves = true_phq9.shape
    rng = np.random.default_rng(np.random.SeedSequence(params["seed"]).spawn(2)[1])
    shift = params["remission_sd"] * rng.standard_normal(n)
    remits = (true_phq9[:, -1] + shift < params["remission_threshold"]).astype(float)
    return np.where(last_wave == n_waves - 1, remits, np.nan)


def _remission_truth(params: dict, var_w_sym_last: float) -> dict:
    """Remission probability by arm and the natural effects through the SE slope (closed form)."""
    arms, others = params["arms"], params["arms"][1:]
    end = (params["waves"] - 1) * params["weeks_per_wave"]
    b = _b_path(params)
    se_effect = {arms[0]: 0.0, **params["se_slope_effect"]}
    direct = {arms[0]: 0.0, **{a: params["symptom_slope_effect"][a] - b * se_effect[a] for a in others}}

    def probability(t: str, t_mediator: str) -> float:
        mean = params["symptom_intercept_mean"] + end * (
            params["symptom_slope_reference"] + direct[t] + b * se_effect[t_mediator])
        var = (params["symptom_intercept_sd"] ** 2 + end ** 2 * params["symptom_slope_sd"] ** 2
               + var_w_sym_last + params["remission_sd"] ** 2)
        if _has_therapists(t, params):
            var += params["therapist_intercept_sd"] ** 2 + end ** 2 * params["therapist_slope_sd"] ** 2
        if var == 0:
            return float(mean < params["remission_threshold"])
        return float(ndtr((params["remission_threshold"] - mean) / np.sqrt(var)))

    ref = arms[0]
    effects = {}
    for a in others:
        p = {(t, m): probability(t, m) for t in (ref, a) for m in (ref, a)}
        effects[a] = {
            "acme_control": p[ref, a] - p[ref, ref],
            "acme_treated": p[a, a] - p[a, ref],
            "ade_control": p[a, ref] - p[ref, ref],
            "ade_treated": p[a, a] - p[ref, a],
            "total": p[a, a] - p[ref, ref],
        }
    return {
        "remission_time": end,
        "remission_by_arm": {a: probability(a, a) for a in arms},
        "remission_effects": effects,
    }


def _has_therapists(arm: str, params: dict) -> bool:
    if not params["therapists_per_arm"]:
        return False
    return params["nesting"] == "full" or arm != params["arms"][0]
