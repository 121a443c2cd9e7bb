r"""Causal mediation analysis: how much of a treatment's effect runs through self-efficacy.

:func:`mediate` estimates the causal mediation quantities of Imai, Keele & Tingley
(2010) as R's ``mediation`` package does, for a linear (``lm``) or binary (logit or
probit ``glm``) mediator model and outcome model, with or without a
treatment x mediator interaction, optionally moderated by a pre-treatment
variable (:class:`MediationSet` with the index of moderated mediation). The
counterfactual predictions and estimands are in :mod:`.effects`: ACME and ADE
under control and treatment, their averages, the total effect and the proportions
mediated, on the probability scale for binary outcomes. For a linear mediator
model and a linear outcome model without interaction they reduce to products of
coefficients:

.. math::

   M &= \alpha_2 + a\, T + \xi_2' X + \varepsilon_2, \qquad
   Y = \alpha_3 + c'\, T + b\, M + \xi_3' X + \varepsilon_3 \\
   \text{ACME} &= a\, b\, (t_1 - t_0), \quad \text{ADE} = c'\, (t_1 - t_0), \quad
   \text{total} = \text{ACME} + \text{ADE}, \quad
   \text{prop. mediated} = \text{ACME} / \text{total}

for a change of treatment from ``control`` (:math:`t_0`) to ``treated``
(:math:`t_1`). Without an interaction the ACME and ADE are the same under treatment
and control, so, as ``mediation`` prints for such models, one averaged value is
reported (:data:`EFFECTS`); every other result has R's ten rows
(:data:`FULL_EFFECTS`). :func:`test_tm_interaction` is R's ``test.TMint``;
:func:`mediate_arms` runs one analysis per active arm of a multi-arm trial.

The treatment is a set of arms, as :func:`analysis.io.arm_factor` defines them
(numeric and boolean codes read as their canonical text, ``"0"``, ``"1"``, ``"2"``).
It enters both models as indicators of every arm but ``control``, so that
:math:`t_1 - t_0 = 1` (all rows are used, as ``mediation`` does with a factor; a
0/1 code is its own indicator, as ``lm`` fits it). ``control`` defaults to the
reference arm: a control-like arm (control, waitlist, TAU, ...), else the first
category, else the lowest code, so that a numeric treatment with two codes (0/1,
1/2, ``False``/``True``) compares the higher code with the lower one. A numeric
treatment with more than two codes (an arm coded 0/1/2) is never read as a linear
dose: both ``control`` and ``treated`` must be named.

Intervals come from the nonparametric bootstrap (rows resampled with replacement,
both models refitted), by the percentile method or the bias-corrected and
accelerated (BCa) method (Efron, 1987; bias from the share of replicates below the
estimate, acceleration from the jackknife, computed in closed form from the
leverages). Note that ``mediation``'s own ``boot.ci.type="bca"`` takes the
acceleration from the bootstrap replicates instead, so its BCa limits differ
slightly; percentile limits agree up to Monte Carlo error. p-values are
``mediation``'s: twice the share of replicates on the far side of zero. All
replicates are solved at once as batched least squares (or batched IRLS for
binary models). ``method="quasi-bayes"`` is R's quasi-Bayesian Monte Carlo
(:mod:`.inference`).

:func:`medsens` (also run by :func:`mediate`) is the sensitivity analysis for
sequential ignorability of Imai, Keele & Yamamoto (2010): :math:`\rho`, the
correlation of :math:`\varepsilon_2` and :math:`\varepsilon_3` induced by an
unmeasured mediator-outcome confounder, is 0 under the assumption. For fixed
:math:`\rho` the mediator and outcome equations are estimated jointly (R's
``medsens`` iterates feasible GLS to the fixed point, which has the closed form
used here):

.. math::

   b(\rho) = \hat b - \frac{\rho}{\sqrt{1-\rho^2}} \sqrt{\frac{RSS_Y}{RSS_M}}, \qquad
   \text{ACME}(\rho) = \hat a\, b(\rho),

with residual sums of squares of the two fitted models. ACME(:math:`\rho`) = 0 at
:math:`\rho = \tilde\rho`, the correlation of the mediator model's residuals with
those of the outcome regressed on treatment and covariates only. The
:math:`R^2` versions are :math:`R^{2*}_M R^{2*}_Y = \rho^2` (shares of the
*unexplained* variances explained by the confounder) and :math:`\tilde R^2_M \tilde
R^2_Y = \rho^2 (1 - R^2_M)(1 - R^2_Y)` (shares of the *total* variances).

Two longitudinal forms build on these:

* :func:`mediate_change`: treatment -> mediator change from baseline to
  mid-treatment -> outcome change from baseline to the end of treatment, one row
  per person, adjusted for the baseline mediator and outcome; the mediator is
  measured before the outcome's end point.
* :func:`mediate_multilevel`: all waves, two linear mixed models
  (:func:`analysis.mixed.fit_lmm`): the ``a`` path is the treatment's effect on the
  mediator's slope over time; the ``b`` path is the effect of the person-centred
  (within-person) mediator at one wave on the outcome at the next, adjusted for the
  mediator's person mean and the current within-person outcome
  (:func:`analysis.mixed.decompose`). With ``cluster=`` (e.g. ``"therapist"``)
  both models add a random intercept of the cluster in which people are nested.
  Intervals by the Monte Carlo (quasi-Bayesian) method, as ``mediation`` uses for
  mixed models.

The package's modules: :mod:`.design` (input checks, arms, model matrices),
:mod:`.models` (``lm`` and binary ``glm`` fits), :mod:`.effects` (counterfactual
predictions, estimands), :mod:`.inference` (bootstrap, jackknife, quasi-Bayes,
intervals), :mod:`.sensitivity` (``medsens``), :mod:`.single_level`
(:func:`mediate`), :mod:`.parallel` (:func:`mediate_parallel`, several mediators),
:mod:`.longitudinal` (change-score and multilevel forms),
:mod:`.result` (result objects, on the shared :class:`EffectsResult`).
"""

from .longitudinal import change_scores, mediate_change, mediate_multilevel
from .models import ols_table
from .parallel import ParallelMediationResult, mediate_parallel
from .result import CI_METHODS, EFFECTS, FULL_EFFECTS, EffectsResult, MediationResult, MediationSet, Sensitivity
from .sensitivity import medsens
from .single_level import mediate, mediate_arms, test_tm_interaction

__all__ = ["EffectsResult", "MediationResult", "MediationSet", "ParallelMediationResult", "Sensitivity", "mediate", "mediate_arms",
           "mediate_change", "mediate_multilevel", "mediate_parallel", "medsens", "ols_table", "test_tm_interaction",
           "change_scores", "CI_METHODS", "EFFECTS", "FULL_EFFECTS"]
