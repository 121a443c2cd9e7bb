r"""Synthetic randomised trials with known truth: self-efficacy, depression, anxiety.

:func:`trial` simulates a multi-arm randomised trial measured at several waves, with
item-level GSE-10 (self-efficacy, SE), PHQ-9 (depression, the "symptom" scale) and
GAD-7 (anxiety) responses generated from latent person trajectories. Every random
step draws from one ``numpy.random.default_rng(seed)`` (the optional therapist
level from a child stream of the same seed), so the same seed gives the same
data. The returned ``truth`` dictionary holds every generating parameter and the
quantities an analysis should recover.

Generative model
----------------
Person :math:`i` is randomised to arm :math:`a = a(i)` (the first arm is the
reference) and measured at waves :math:`w = 0, \dots, W-1`, at
:math:`t_w = w \cdot` ``weeks_per_wave`` weeks. Everything is in the total-score
metric of each instrument (SE: GSE-10 total, D: PHQ-9 total, A: GAD-7 total) and
slopes are per week.

1. **Person level.** Intercepts are bivariate normal,
   :math:`(\alpha^S_i, \alpha^D_i) \sim N((\mu^S, \mu^D), \Sigma_\alpha)` with SDs
   ``se_intercept_sd``, ``symptom_intercept_sd`` and correlation
   ``intercept_corr``. Slopes are generated causally, so that treatment can act on
   symptoms through SE:

   .. math::

      \beta^S_i &= \beta^S_{ref} + \delta^S_a + u_i,
          \quad u_i \sim N(0, \sigma_{\beta S}^2) \\
      \beta^D_i &= \beta^D_{ref} + \delta^{dir}_a
          + b\,(\beta^S_i - \beta^S_{ref}) + r_i,
          \quad r_i \sim N(0, \sigma_{\beta D}^2 (1 - \rho_\beta^2)) \\
      b &= \rho_\beta\, \sigma_{\beta D} / \sigma_{\beta S}, \quad
      \delta^{ind}_a = b\, \delta^S_a, \quad
      \delta^{dir}_a = \delta^D_a - \delta^{ind}_a

   with :math:`\beta^S_{ref}` = ``se_slope_reference``, :math:`\beta^D_{ref}` =
   ``symptom_slope_reference``, :math:`\delta^S_a` = ``se_slope_effect[a]``,
   :math:`\delta^D_a` = ``symptom_slope_effect[a]`` (the *total* effect) and
   :math:`\rho_\beta` = ``slope_corr`` (0 for the reference arm's effects). Within
   an arm the slopes then have SDs :math:`\sigma_{\beta S}, \sigma_{\beta D}` and
   correlation :math:`\rho_\beta`, the mean symptom slope of arm :math:`a` is
   :math:`\beta^D_{ref} + \delta^D_a`, and the part :math:`\delta^{ind}_a` of the
   effect runs through the SE slope. Intercept-slope correlations are 0.

2. **Sources of self-efficacy** (0-10 ratings; for ``src_physiological`` higher
   means calmer, more favourable physiological and emotional states). For source
   :math:`k`,

   .. math::

      \mathrm{src}_{kiw} = m_{ki} + \gamma_{ka}\, t_w + \sigma_{src} z_{kiw}, \quad
      m_{ki} \sim N(\text{source\_mean}, \text{source\_person\_sd}^2), \quad
      z_{kiw} \sim N(0, 1)

   with arm trends :math:`\gamma_{ka}` = ``source_trends[a][k]`` and
   :math:`\sigma_{src}` = ``source_wave_sd``; the reported score is clipped to
   [0, 10] and rounded to 0.1. :math:`z_{kiw}` is source :math:`k`'s standardised
   within-person deviation from the person's expected source trajectory.

3. **Within-person dynamics** (RI-CLPM style VAR(1) over waves):

   .. math::

      w^S_{iw} &= \phi_S w^S_{i,w-1} + \lambda_{DS} w^D_{i,w-1}
          + \textstyle\sum_k c_k z_{kiw} + e^S_{iw} \\
      w^D_{iw} &= \phi_D w^D_{i,w-1} + \lambda_{SD} w^S_{i,w-1} + e^D_{iw}

   with :math:`\phi` = ``ar_se``, ``ar_sym``; :math:`\lambda_{SD}` =
   ``lag_se_to_sym``, :math:`\lambda_{DS}` = ``lag_sym_to_se``; :math:`c_k` =
   ``source_effects[k]``; innovations bivariate normal with SDs
   ``innovation_sd_se``, ``innovation_sd_sym`` and correlation
   ``innovation_corr``. Wave 0 starts from :math:`w_{i,-1} = 0`, i.e. the baseline
   deviations are one draw of the innovations (plus the source term).
   **Meaning of** :math:`c_k`: GSE-total points per 1 SD (``source_wave_sd``
   rating points) of source :math:`k`'s wave-to-wave deviation, other sources held
   fixed. Among people with the same expected source trajectory (e.g. with
   ``source_person_sd=0``, within an arm), the least-squares slope of the GSE
   total on the source score, adjusting for arm-specific time trends, is
   :math:`c_k / \sigma_{src}` per rating point (``truth["source_effects_per_point"]``),
   because the past and the person effects are independent of the current
   :math:`z`. Sources act on SE only through these deviations: arm differences in
   source trends do not move SE slopes, which ``se_slope_effect`` alone sets.

4. **Scores.** True totals are

   .. math::

      S^*_{iw} &= \alpha^S_i + \beta^S_i t_w + w^S_{iw}, \qquad
      D^*_{iw} = \alpha^D_i + \beta^D_i t_w + w^D_{iw} \\
      A^*_{iw} &= \lambda_A \kappa D^*_{iw} + g_i + v_{iw}, \quad
      g_i \sim N(\text{anxiety\_intercept}, \text{anxiety\_person\_sd}^2), \quad
      v_{iw} \sim N(0, \text{anxiety\_wave\_sd}^2)

   where :math:`\lambda_A` = ``anxiety_loading`` and :math:`\kappa` is the ratio of
   the GAD-7 to the PHQ-9 total range, which rescales depression to the GAD-7
   metric. The mean GAD-7 slope of arm :math:`a` is :math:`\lambda_A \kappa
   (\beta^D_{ref} + \delta^D_a)`. The observed integer total is
   :math:`Y = \mathrm{clip}(\mathrm{round}(T^* + \varepsilon))` to the total range,
   :math:`\varepsilon \sim N(0, \sigma_{me}^2)` with :math:`\sigma_{me}` =
   ``measurement_error_sd[scale]``. Its implied reliability at wave :math:`w`
   (within an arm, ignoring rounding and clipping) is
   :math:`\mathrm{Var}(T^*_w) / (\mathrm{Var}(T^*_w) + \sigma_{me}^2)`.
   The :math:`Y - n \cdot \text{item\_min}` points above the floor are spread over
   the items (``_split_items``): each item's share by its weight
   :math:`\exp(N(0, \text{item\_weight\_sd}^2))` (drawn once per item) plus
   :math:`N(0, \text{item\_noise\_sd}^2)` item noise, rounded so that items stay in
   range, differ in difficulty, correlate positively across people and sum exactly
   to :math:`Y`.

5. **Sessions.** In the interval before wave :math:`w \ge 1`, arm :math:`a` offers
   ``sessions_offered[a]`` sessions (arms offered none get missing session
   columns) and

   .. math::

      \text{attended}_{iw} \sim \mathrm{Binomial}(\text{offered}_a, p_{iw}), \quad
      \mathrm{logit}\, p_{iw} = \eta_0 + \eta_1 (Y^S_{i,w-1} - \bar Y^S_0) / s(Y^S_0)

   with :math:`\eta_0` = ``adherence_intercept``, :math:`\eta_1` =
   ``adherence_se_effect``, :math:`Y^S` the observed integer GSE total, and
   :math:`\bar Y^S_0, s(Y^S_0)` its sample mean and SD (ddof 1) at baseline (SD
   taken as 1 if all baseline totals are equal). Sessions do not feed back on
   the outcomes.

6. **Item missingness.** Each observed item response is missing independently
   with probability ``item_missing_rate``; totals are then scored with
   :func:`analysis.scales.score` (prorated when few items are missing).

7. **Dropout** (monotone). A participant present at wave :math:`w-1` drops out at
   wave :math:`w \ge 1` (and is absent from then on) with probability

   .. math::

      \mathrm{logit}\, h_{iw} = \mathrm{logit}(\pi) + \psi_{MAR} \tilde Y^D_{i,w-1}
          + \psi_{MNAR} \tilde D^*_{iw}

   with :math:`\pi` = ``dropout_rate``, :math:`\psi_{MAR}` = ``dropout_mar``,
   :math:`\psi_{MNAR}` = ``dropout_mnar``; :math:`\tilde Y^D` is the observed
   integer PHQ-9 total at the previous wave and :math:`\tilde D^*` the current
   (unobserved) true PHQ-9 score, each standardised by its baseline sample mean
   and SD. Positive :math:`\psi` means more symptomatic people leave more often.

8. **Remission** (optional, ``remission_threshold``): a binary end-of-treatment
   outcome from a probit model of the true PHQ-9 score at the last wave, with
   its natural effects through the SE slope in ``truth``
   (:mod:`analysis.simulate.remission`).

Therapists or therapy groups (a third level)
--------------------------------------------
Only when ``therapists_per_arm`` > 0. Every arm (under ``nesting="partial"``
every arm but the reference arm, whose participants then have no therapist) has
``therapists_per_arm`` therapists, or therapy groups with ``cluster="group"``.
An arm's participants, in the order of their identifiers, are shared among its
therapists in consecutive blocks whose sizes differ by at most one
(``n_per_arm / therapists_per_arm`` patients each when that divides); as arms are
allocated at random, so are therapists within an arm. Therapist :math:`t` shifts
the symptom intercept and slope of each of its patients (step 1):

.. math::

   \alpha^D_i \leftarrow \alpha^D_i + v_{0t(i)}, \quad
   \beta^D_i \leftarrow \beta^D_i + v_{1t(i)}, \quad
   v_{0t} \sim N(0, \tau_0^2), \quad v_{1t} \sim N(0, \tau_1^2)

independently, with :math:`\tau_0` = ``therapist_intercept_sd`` (PHQ-9 points)
and :math:`\tau_1` = ``therapist_slope_sd`` (PHQ-9 points per week). The level
is one of symptoms only: SE does not depend on the therapist, and GAD-7 follows
through its loading on the true PHQ-9 score. Arm mean slopes are unchanged (the
therapist effects have mean zero); within an arm with therapists the person
symptom intercepts have variance :math:`\sigma_{\alpha D}^2 + \tau_0^2` and the
slopes :math:`\sigma_{\beta D}^2 + \tau_1^2`, and ``truth["reliability"]``
counts the therapist effects as true-score variance. Two intra-class
correlations of therapist intercepts are reported in ``truth``:

.. math::

   \mathrm{ICC} = \frac{\tau_0^2}{\tau_0^2 + \sigma_{\alpha D}^2}, \qquad
   \mathrm{ICC}_0 = \frac{\tau_0^2}{\tau_0^2 + \sigma_{\alpha D}^2
       + \mathrm{Var}(w^D_{i0}) + \sigma_{me}^2}

``therapist_icc`` is the correlation of the symptom intercepts of two patients of
one therapist (the therapist share of the intercept variance);
``therapist_icc_baseline`` is the correlation of their baseline PHQ-9 totals
(ignoring rounding and clipping), what a one-way ANOVA of baseline totals by
therapist estimates. The therapist effects are drawn from a stream of their own,
``numpy.random.default_rng(numpy.random.SeedSequence(seed).spawn(1)[0])``, so that
adding the level leaves every other draw of the seed unchanged: with both SDs 0
the data are those of the same call without the level, plus the cluster column.

Covariates ``age`` (normal, rounded, clipped to 18-80) and ``sex`` are drawn
independently of everything else. The random draws happen in a fixed order with
fixed shapes that do not depend on the missing-data settings, so two calls that
differ only in ``item_missing_rate``, ``dropout_*`` or ``sessions_offered`` share
the same latent and complete data.

Modules
-------
``parameters`` (constants, defaults and argument checks), ``people`` (covariates,
person intercepts and slopes), ``therapists`` (the optional third level),
``scores`` (sources, within-person dynamics, true and observed totals, items),
``attendance`` (sessions and dropout), ``remission`` (the optional binary outcome
and its truth), ``truth`` (the returned ``truth`` and its descriptions) and
``generate`` (:func:`trial`, which draws the steps in order and assembles the data).
"""

from .generate import trial
from .parameters import (
    AGE_RANGE,
    CLUSTER_ARGUMENTS,
    CLUSTERS,
    DEFAULT_MEASUREMENT_ERROR_SD,
    DEFAULT_SE_SLOPE_EFFECT,
    DEFAULT_SOURCE_EFFECTS,
    DEFAULT_SOURCE_TRENDS,
    DEFAULT_SYMPTOM_SLOPE_EFFECT,
    NESTINGS,
    SCALES,
    SOURCE_RANGE,
    SOURCES,
)
from .truth import DESCRIPTIONS

__all__ = ["AGE_RANGE", "CLUSTER_ARGUMENTS", "CLUSTERS", "DEFAULT_MEASUREMENT_ERROR_SD", "DEFAULT_SE_SLOPE_EFFECT",
           "DEFAULT_SOURCE_EFFECTS", "DEFAULT_SOURCE_TRENDS", "DEFAULT_SYMPTOM_SLOPE_EFFECT", "DESCRIPTIONS",
           "NESTINGS", "SCALES", "SOURCE_RANGE", "SOURCES", "trial"]
