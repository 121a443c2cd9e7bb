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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from . import scales

__all__ = ["CLUSTERS", "SCALES", "SOURCES", "trial"]

SOURCES = ("mastery", "vicarious", "persuasion", "physiological")
"""The four sources of self-efficacy; data columns are ``f"src_{source}"``."""

SCALES = ("gse", "phq9", "gad7")
"""Registry keys of the simulated instruments (SE, depression, anxiety)."""

CLUSTERS = ("therapist", "group")
"""Names the cluster column may take (``cluster=``); the same model either way."""

NESTINGS = ("full", "partial")
CLUSTER_ARGUMENTS = ("therapists_per_arm", "therapist_intercept_sd", "therapist_slope_sd", "nesting", "cluster")

SOURCE_RANGE = (0.0, 10.0)
AGE_RANGE = (18, 80)

DEFAULT_SE_SLOPE_EFFECT = MappingProxyType({"cbt": 0.35, "mindfulness": 0.25})
DEFAULT_SYMPTOM_SLOPE_EFFECT = MappingProxyType({"cbt": -0.45, "mindfulness": -0.3})
DEFAULT_SOURCE_EFFECTS = MappingProxyType(
    {"mastery": 0.8, "vicarious": 0.2, "persuasion": 0.4, "physiological": 0.5}
)
DEFAULT_SOURCE_TRENDS = MappingProxyType(
    {
        "cbt": MappingProxyType({"mastery": 0.15, "vicarious": 0.05, "persuasion": 0.1}),
        "mindfulness": MappingProxyType({"mastery": 0.05, "physiological": 0.15}),
    }
)
DEFAULT_MEASUREMENT_ERROR_SD = MappingProxyType({"gse": 2.0, "phq9": 2.0, "gad7": 1.5})


def trial(
    *,
    n_per_arm: int = 150,
    arms: Sequence[str] = ("control", "cbt", "mindfulness"),
    waves: int = 6,
    weeks_per_wave: float = 2.0,
    se_intercept_mean: float = 25.0,
    se_intercept_sd: float = 4.0,
    symptom_intercept_mean: float = 14.0,
    symptom_intercept_sd: float = 4.0,
    intercept_corr: float = -0.4,
    se_slope_reference: float = 0.1,
    symptom_slope_reference: float = -0.15,
    se_slope_effect: Mapping[str, float] = DEFAULT_SE_SLOPE_EFFECT,
    symptom_slope_effect: Mapping[str, float] = DEFAULT_SYMPTOM_SLOPE_EFFECT,
    se_slope_sd: float = 0.2,
    symptom_slope_sd: float = 0.25,
    slope_corr: float = -0.5,
    ar_se: float = 0.3,
    ar_sym: float = 0.3,
    lag_se_to_sym: float = -0.25,
    lag_sym_to_se: float = -0.1,
    innovation_sd_se: float = 2.0,
    innovation_sd_sym: float = 2.0,
    innovation_corr: float = -0.3,
    source_effects: Mapping[str, float] = DEFAULT_SOURCE_EFFECTS,
    source_trends: Mapping[str, Mapping[str, float]] = DEFAULT_SOURCE_TRENDS,
    source_mean: float = 5.0,
    source_person_sd: float = 1.0,
    source_wave_sd: float = 1.0,
    measurement_error_sd: float | Mapping[str, float] = DEFAULT_MEASUREMENT_ERROR_SD,
    anxiety_loading: float = 0.75,
    anxiety_intercept: float = 2.0,
    anxiety_person_sd: float = 2.0,
    anxiety_wave_sd: float = 1.5,
    item_weight_sd: float = 0.4,
    item_noise_sd: float = 0.5,
    item_missing_rate: float = 0.02,
    sessions_offered: int | Mapping[str, int] = 2,
    adherence_intercept: float = 1.0,
    adherence_se_effect: float = 0.5,
    dropout_rate: float = 0.05,
    dropout_mar: float = 0.0,
    dropout_mnar: float = 0.0,
    age_mean: float = 40.0,
    age_sd: float = 12.0,
    p_female: float = 0.6,
    therapists_per_arm: int = 0,
    therapist_intercept_sd: float = 1.0,
    therapist_slope_sd: float = 0.05,
    nesting: str = "full",
    cluster: str = "therapist",
    seed: int = 0,
) -> tuple[pd.DataFrame, dict]:
    """Simulate a multi-arm longitudinal trial with known generating parameters.

    The model is described, with its equations, in the module docstring
    (:mod:`analysis.simulate`). All slopes and effects are per week, in total-score
    points (GSE-10 for SE, PHQ-9 for symptoms).

    Parameters
    ----------
    n_per_arm : int, default 150
        Participants randomised to each arm (allocation order is random).
    arms : sequence of str, default ("control", "cbt", "mindfulness")
        Arm labels, at least two, unique; the first is the reference arm.
    waves : int, default 6
        Measurement occasions, numbered 0 (baseline) to ``waves - 1``; at least 2.
    weeks_per_wave : float, default 2.0
        Weeks between waves; wave ``w`` is at ``w * weeks_per_wave`` weeks.
    se_intercept_mean, se_intercept_sd : float, default 25.0, 4.0
        Mean and SD of the person's true GSE-10 total at baseline (scale 10-40).
    symptom_intercept_mean, symptom_intercept_sd : float, default 14.0, 4.0
        Mean and SD of the person's true PHQ-9 total at baseline (scale 0-27).
    intercept_corr : float, default -0.4
        Correlation of the SE and symptom intercepts.
    se_slope_reference, symptom_slope_reference : float, default 0.1, -0.15
        Mean SE and PHQ-9 slopes (points per week) in the reference arm.
    se_slope_effect : mapping of str to float, default {"cbt": 0.35, "mindfulness": 0.25}
        Effect of each non-reference arm on the mean SE slope (points per week,
        relative to the reference arm). Keys must be non-reference arms; arms not
        named have no effect.
    symptom_slope_effect : mapping of str to float, default {"cbt": -0.45, "mindfulness": -0.3}
        *Total* effect of each non-reference arm on the mean PHQ-9 slope; the part
        ``se_slope_effect[a] * b`` runs through the SE slope (see ``truth``).
    se_slope_sd, symptom_slope_sd : float, default 0.2, 0.25
        Within-arm SDs of the person slopes.
    slope_corr : float, default -0.5
        Within-arm correlation of the SE and symptom slopes; it sets the path
        ``b = slope_corr * symptom_slope_sd / se_slope_sd`` from SE slope to symptom
        slope. Must be 0 when either slope SD is 0.
    ar_se, ar_sym : float, default 0.3, 0.3
        Autoregressive coefficients of the within-person deviations.
    lag_se_to_sym, lag_sym_to_se : float, default -0.25, -0.1
        Cross-lagged coefficients: SE deviation at wave ``w-1`` on symptom deviation
        at wave ``w``, and symptom deviation on later SE deviation.
    innovation_sd_se, innovation_sd_sym : float, default 2.0, 2.0
        SDs of the within-person innovations (total-score points).
    innovation_corr : float, default -0.3
        Correlation of the SE and symptom innovations at the same wave.
    source_effects : mapping of str to float, default ``DEFAULT_SOURCE_EFFECTS``
        ``{"mastery": 0.8, "vicarious": 0.2, "persuasion": 0.4, "physiological": 0.5}``:
        GSE-total points per 1 SD (``source_wave_sd``) of each source's
        within-person deviation; keys from :data:`SOURCES`, unnamed sources 0.
    source_trends : mapping of str to mapping of str to float, default ``DEFAULT_SOURCE_TRENDS``
        ``{"cbt": {"mastery": 0.15, "vicarious": 0.05, "persuasion": 0.1},
        "mindfulness": {"mastery": 0.05, "physiological": 0.15}}``:
        per-arm linear trends of the source ratings (points per week); keys are
        arms (any arm) and sources, unnamed ones 0.
    source_mean, source_person_sd, source_wave_sd : float, default 5.0, 1.0, 1.0
        Mean and between-person SD of the person source means, and SD of the
        wave-to-wave source noise (the unit of ``source_effects``).
    measurement_error_sd : float or mapping of str to float, default {"gse": 2.0, "phq9": 2.0, "gad7": 1.5}
        SD of the error added to each true total before rounding; one value for
        all scales or a mapping naming each of :data:`SCALES`.
    anxiety_loading : float, default 0.75
        Loading of the true GAD-7 score on the true PHQ-9 score rescaled to the
        GAD-7 range.
    anxiety_intercept, anxiety_person_sd, anxiety_wave_sd : float, default 2.0, 2.0, 1.5
        Mean and SD of the person-specific part of the true GAD-7 score, and SD of
        its wave-specific part.
    item_weight_sd : float, default 0.4
        SD of the log item weights (item "difficulties") used to split totals into
        items; 0 makes all items of a scale alike.
    item_noise_sd : float, default 0.5
        SD (in item points) of the item-specific noise added to each item's share of
        the total before rounding; it sets internal consistency (default: alpha about
        0.8 to 0.9, as published for these instruments).
    item_missing_rate : float, default 0.02
        Probability that an item response is missing, independently; in [0, 1).
    sessions_offered : int or mapping of str to int, default 2
        Therapy sessions offered per wave interval: one number for every
        non-reference arm (the reference arm is offered none), or a mapping of
        arm to number (arms not named are offered none). Where none are offered,
        and at baseline, both session columns are missing.
    adherence_intercept, adherence_se_effect : float, default 1.0, 0.5
        Logit of the probability of attending an offered session, and its change
        per baseline SD of the observed GSE total at the previous wave.
    dropout_rate : float, default 0.05
        Per-wave probability of dropping out for a participant at the baseline
        mean; in [0, 1).
    dropout_mar : float, default 0.0
        Log-odds of dropping out per baseline SD of the observed PHQ-9 total at
        the previous wave (missing at random).
    dropout_mnar : float, default 0.0
        Log-odds of dropping out per baseline SD of the current, unobserved true
        PHQ-9 score (missing not at random).
    age_mean, age_sd : float, default 40.0, 12.0
        Age distribution (rounded, clipped to 18-80).
    p_female : float, default 0.6
        Probability that ``sex`` is ``"female"``.
    therapists_per_arm : int, default 0
        Therapists (or therapy groups) per arm that has them; 0 means no third
        level (no cluster column, no therapist keys in ``truth``, and the
        therapist arguments below are ignored). At most ``n_per_arm``; each
        therapist treats ``n_per_arm / therapists_per_arm`` patients, or as near
        as whole numbers allow (caseloads differ by at most one).
    therapist_intercept_sd, therapist_slope_sd : float, default 1.0, 0.05
        SDs of the therapist random intercepts (PHQ-9 points) and slopes (PHQ-9
        points per week), independent of each other. With the defaults the
        therapist takes about 6% of the symptom intercept variance and 4% of the
        symptom slope variance, near the 5% of outcome variance reported for
        therapist effects in psychotherapy trials (Baldwin & Imel 2013).
    nesting : {"full", "partial"}, default "full"
        ``"full"``: every arm has therapists. ``"partial"``: the reference arm (a
        waitlist or usual-care arm) has none, and its participants have a missing
        cluster column.
    cluster : {"therapist", "group"}, default "therapist"
        Name of the cluster column: ``"therapist"`` (labels ``T01``, ``T02``, ...)
        for individually treated patients, ``"group"`` (``G01``, ...) for therapy
        groups (e.g. mindfulness-based programmes delivered in groups). The
        generating model is the same.
    seed : int, default 0
        Seed of ``numpy.random.default_rng``; the same seed gives identical output.

    Returns
    -------
    data : pandas.DataFrame
        Long format, one row per participant and observed wave (waves after
        dropout are absent), sorted by participant and wave: ``participant_id``
        ("P0001", ...), ``wave`` (int), ``time`` (weeks), ``arm`` (ordered
        categorical in ``arms`` order), item columns ``gse_1..gse_10``,
        ``phq9_1..phq9_9``, ``gad7_1..gad7_7`` ("Int64", missing items NA), totals
        ``gse_total``, ``phq9_total``, ``gad7_total`` (float, from
        :func:`analysis.scales.score`), ``src_mastery``, ``src_vicarious``,
        ``src_persuasion``, ``src_physiological`` (0-10), ``sessions_offered``,
        ``sessions_attended`` (float, NaN where none offered), ``age`` (int) and
        ``sex`` ("female"/"male"). With ``therapists_per_arm`` > 0 the cluster
        column (``therapist`` or ``group``: text, constant within participant,
        missing for participants without one) follows ``arm``.
    truth : dict
        JSON-serialisable: every parameter (per-arm mappings completed with
        zeros), the derived quantities (``b_path``, ``indirect_effect``,
        ``direct_effect``, ``total_effect``, mean slopes by arm, implied
        reliability, item weights), the realised dropout and
        ``truth["descriptions"][key]``, a sentence per key. With a therapist
        level also its arguments, ``therapist_intercept_var``,
        ``therapist_slope_var``, ``therapist_icc``, ``therapist_icc_baseline``
        (see the module docstring) and ``therapists`` (per label: arm, number of
        patients, realised intercept and slope effects).

    Raises
    ------
    ValueError
        If an argument is out of range, a mapping names an unknown arm, source or
        scale, or the within-person dynamics are not stationary.

    Examples
    --------
    >>> from analysis import simulate
    >>> data, truth = simulate.trial(n_per_arm=20, waves=3, seed=1)
    >>> sorted(data["arm"].cat.categories) == sorted(truth["arms"])
    True
    """
    params = _normalise(dict(locals()))
    rng = np.random.default_rng(params["seed"])
    n_arms, n_waves = len(params["arms"]), params["waves"]
    arm_idx = rng.permutation(np.repeat(np.arange(n_arms), params["n_per_arm"]))
    times = np.arange(n_waves) * params["weeks_per_wave"]
    covariates = _covariates(rng, arm_idx.size, params)
    person = _person_effects(rng, arm_idx, params)
    therapist = _assign_therapists(arm_idx, params)
    therapist_effects = _therapist_effects(int(therapist.max()) + 1, params)
    person = _with_therapist_effects(person, therapist, therapist_effects)
    z, sources = _sources(rng, arm_idx, times, params)
    w_se, w_sym = _within_person(rng, z, params)
    true = _true_scores(rng, person, times, w_se, w_sym, params)
    observed = {key: _observed_total(rng, true[key], key, params) for key in SCALES}
    weights = {key: _item_weights(rng, key, params) for key in SCALES}
    items = {key: _split_items(rng, observed[key], key, weights[key], params["item_noise_sd"]) for key in SCALES}
    missing = {key: _hide_items(rng, items[key], params) for key in SCALES}
    offered, attended = _sessions(rng, arm_idx, observed["gse"], params)
    last_wave = _dropout(rng, observed["phq9"], true["phq9"], params)
    responses = {key: (items[key], missing[key]) for key in SCALES}
    data = _assemble(
        arm_idx, therapist, times, covariates, responses, sources, offered, attended, last_wave, params
    )
    return data, _truth(params, weights, arm_idx, last_wave, therapist, therapist_effects)


# --------------------------------------------------------------------------- arguments


def _normalise(params: dict) -> dict:
    """Validate the arguments of :func:`trial`; return them in plain, complete form."""
    arms = _check_arms(params["arms"])
    _check_sizes(params)
    _check_values(params)
    _check_cluster(params)
    others = arms[1:]
    params = dict(params, arms=arms)
    for name in ("se_slope_effect", "symptom_slope_effect"):
        params[name] = _complete(params[name], others, name, "non-reference arm")
    params["source_effects"] = _complete(params["source_effects"], SOURCES, "source_effects", "source")
    params["source_trends"] = _source_trends(params["source_trends"], arms)
    params["measurement_error_sd"] = _measurement_error(params["measurement_error_sd"])
    params["sessions_offered"] = _sessions_offered(params["sessions_offered"], arms)
    _check_slopes(params)
    _check_stationary(params)
    return params


def _check_arms(arms: Sequence[str]) -> list[str]:
    if isinstance(arms, str) or not all(isinstance(a, str) and a for a in arms):
        raise ValueError(f"arms must be a sequence of non-empty strings, got {arms!r}")
    arms = list(arms)
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ValueError(f"arms must hold at least two distinct labels, got {arms!r}")
    return arms


def _check_sizes(params: dict) -> None:
    for name, low in (("n_per_arm", 2), ("waves", 2), ("seed", 0)):
        value = params[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not _finite(params["weeks_per_wave"]) or params["weeks_per_wave"] <= 0:
        raise ValueError(f"weeks_per_wave must be positive, got {params['weeks_per_wave']!r}")


_SDS = (
    "se_intercept_sd", "symptom_intercept_sd", "se_slope_sd", "symptom_slope_sd",
    "innovation_sd_se", "innovation_sd_sym", "source_person_sd",
    "anxiety_person_sd", "anxiety_wave_sd", "item_weight_sd", "item_noise_sd", "age_sd",
    "therapist_intercept_sd", "therapist_slope_sd",
)
_CORRELATIONS = ("intercept_corr", "slope_corr", "innovation_corr")
_REALS = (
    "se_intercept_mean", "symptom_intercept_mean", "se_slope_reference",
    "symptom_slope_reference", "ar_se", "ar_sym", "lag_se_to_sym", "lag_sym_to_se",
    "source_mean", "anxiety_loading", "anxiety_intercept", "adherence_intercept",
    "adherence_se_effect", "dropout_mar", "dropout_mnar", "age_mean",
)
_RATES = ("item_missing_rate", "dropout_rate")


def _check_values(params: dict) -> None:
    for name in _REALS:
        if not _finite(params[name]):
            raise ValueError(f"{name} must be a finite number, got {params[name]!r}")
    for name in _SDS:
        if not _finite(params[name]) or params[name] < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {params[name]!r}")
    for name in _CORRELATIONS:
        if not _finite(params[name]) or abs(params[name]) > 1:
            raise ValueError(f"{name} must lie in [-1, 1], got {params[name]!r}")
    for name in _RATES:
        if not _finite(params[name]) or not 0 <= params[name] < 1:
            raise ValueError(f"{name} must lie in [0, 1), got {params[name]!r}")
    if not _finite(params["source_wave_sd"]) or params["source_wave_sd"] <= 0:
        raise ValueError(f"source_wave_sd must be positive, got {params['source_wave_sd']!r}")
    if not _finite(params["p_female"]) or not 0 <= params["p_female"] <= 1:
        raise ValueError(f"p_female must lie in [0, 1], got {params['p_female']!r}")


def _check_cluster(params: dict) -> None:
    """The therapist level's size and kind (its SDs are checked with the others)."""
    count = params["therapists_per_arm"]
    whole = isinstance(count, (int, np.integer)) and not isinstance(count, bool)
    if not whole or not 0 <= count <= params["n_per_arm"]:
        raise ValueError(f"therapists_per_arm must be an integer from 0 to n_per_arm, got {count!r}")
    for name, allowed in (("nesting", NESTINGS), ("cluster", CLUSTERS)):
        if params[name] not in allowed:
            raise ValueError(f"{name} must be one of {list(allowed)}, got {params[name]!r}")


def _finite(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool
    ) and bool(np.isfinite(value))


def _complete(mapping: Mapping[str, float], keys: Sequence[str], name: str, kind: str) -> dict:
    """``mapping`` over ``keys``, unnamed keys 0.0; unknown keys or bad values raise."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"{name} must be a mapping, got {mapping!r}")
    unknown = sorted(set(mapping) - set(keys))
    if unknown:
        raise ValueError(f"{name} names unknown {kind}(s) {unknown}; allowed: {list(keys)}")
    bad = {k: v for k, v in mapping.items() if not _finite(v)}
    if bad:
        raise ValueError(f"{name} values must be finite numbers, got {bad}")
    return {key: float(mapping.get(key, 0.0)) for key in keys}


def _source_trends(trends: Mapping[str, Mapping[str, float]], arms: list[str]) -> dict:
    if not isinstance(trends, Mapping):
        raise ValueError(f"source_trends must be a mapping of arm to mapping, got {trends!r}")
    unknown = sorted(set(trends) - set(arms))
    if unknown:
        raise ValueError(f"source_trends names unknown arm(s) {unknown}; arms: {arms}")
    return {a: _complete(trends.get(a, {}), SOURCES, f"source_trends[{a!r}]", "source") for a in arms}


def _measurement_error(sd: float | Mapping[str, float]) -> dict:
    if not isinstance(sd, Mapping):
        sd = dict.fromkeys(SCALES, sd)
    if set(sd) != set(SCALES):
        raise ValueError(
            f"measurement_error_sd must name exactly the scales {list(SCALES)}, got {sorted(sd)}"
        )
    bad = {k: v for k, v in sd.items() if not _finite(v) or v < 0}
    if bad:
        raise ValueError(f"measurement_error_sd values must be finite numbers >= 0, got {bad}")
    return {key: float(sd[key]) for key in SCALES}


def _sessions_offered(offered: int | Mapping[str, int], arms: list[str]) -> dict:
    if not isinstance(offered, Mapping):
        offered = dict.fromkeys(arms[1:], offered)
    unknown = sorted(set(offered) - set(arms))
    if unknown:
        raise ValueError(f"sessions_offered names unknown arm(s) {unknown}; arms: {arms}")
    bad = {k: v for k, v in offered.items()
           if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0}
    if bad:
        raise ValueError(f"sessions_offered must be whole numbers >= 0, got {bad}")
    return {a: int(offered.get(a, 0)) for a in arms}


def _check_slopes(params: dict) -> None:
    no_spread = params["se_slope_sd"] == 0 or params["symptom_slope_sd"] == 0
    if no_spread and params["slope_corr"] != 0:
        raise ValueError("slope_corr must be 0 when se_slope_sd or symptom_slope_sd is 0")


def _check_stationary(params: dict) -> None:
    radius = max(abs(np.linalg.eigvals(_transition(params))))
    if radius >= 1:
        raise ValueError(
            "within-person dynamics must be stationary: the VAR(1) matrix of ar_se, ar_sym, "
            f"lag_se_to_sym, lag_sym_to_se has spectral radius {radius:.3g} >= 1"
        )


def _transition(params: dict) -> np.ndarray:
    """VAR(1) matrix mapping (w_se, w_sym) at wave w-1 to their means at wave w."""
    return np.array(
        [[params["ar_se"], params["lag_sym_to_se"]], [params["lag_se_to_sym"], params["ar_sym"]]]
    )


# --------------------------------------------------------------------------- generation


def _b_path(params: dict) -> float:
    """Regression of the symptom slope on the SE slope within arm (0 without spread)."""
    if params["slope_corr"] == 0:
        return 0.0
    return params["slope_corr"] * params["symptom_slope_sd"] / params["se_slope_sd"]


def _correlated_normals(rng: np.random.Generator, size, sd1: float, sd2: float, corr: float):
    """Two zero-mean normal arrays with the given SDs and correlation."""
    first, second = rng.standard_normal((2, *np.atleast_1d(size)))
    return sd1 * first, sd2 * (corr * first + np.sqrt(1 - corr**2) * second)


def _covariates(rng: np.random.Generator, n: int, params: dict) -> dict:
    age = np.clip(np.rint(rng.normal(params["age_mean"], params["age_sd"], n)), *AGE_RANGE)
    female = rng.random(n) < params["p_female"]
    return {"age": age.astype(np.int64), "sex": np.where(female, "female", "male")}


def _person_effects(rng: np.random.Generator, arm_idx: np.ndarray, params: dict) -> dict:
    """Intercepts and slopes per person (step 1 of the model)."""
    n, others = arm_idx.size, params["arms"][1:]
    se_effect = np.array([0.0] + [params["se_slope_effect"][a] for a in others])[arm_idx]
    total = np.array([0.0] + [params["symptom_slope_effect"][a] for a in others])[arm_idx]
    b = _b_path(params)
    se_int, sym_int = _correlated_normals(
        rng, n, params["se_intercept_sd"], params["symptom_intercept_sd"], params["intercept_corr"]
    )
    se_dev = rng.normal(0.0, params["se_slope_sd"], n)
    residual = rng.normal(0.0, params["symptom_slope_sd"] * np.sqrt(1 - params["slope_corr"] ** 2), n)
    se_slope = params["se_slope_reference"] + se_effect + se_dev
    direct = total - b * se_effect
    se_part = b * (se_slope - params["se_slope_reference"])
    sym_slope = params["symptom_slope_reference"] + direct + se_part + residual
    return {
        "se_intercept": params["se_intercept_mean"] + se_int,
        "sym_intercept": params["symptom_intercept_mean"] + sym_int,
        "se_slope": se_slope,
        "sym_slope": sym_slope,
    }


def _assign_therapists(arm_idx: np.ndarray, params: dict) -> np.ndarray:
    """Therapist index of each participant, -1 for none: consecutive blocks within each arm."""
    therapist = np.full(arm_idx.size, -1)
    count = params["therapists_per_arm"]
    if count == 0:
        return therapist
    first = 1 if params["nesting"] == "partial" else 0
    for k, arm in enumerate(range(first, len(params["arms"]))):
        members = np.flatnonzero(arm_idx == arm)
        therapist[members] = k * count + np.arange(members.size) * count // members.size
    return therapist


def _therapist_effects(n_therapists: int, params: dict) -> np.ndarray:
    """Random intercept and slope of each therapist, (n_therapists, 2), from the seed's child stream."""
    if n_therapists == 0:
        return np.empty((0, 2))
    rng = np.random.default_rng(np.random.SeedSequence(params["seed"]).spawn(1)[0])
    sds = [params["therapist_intercept_sd"], params["therapist_slope_sd"]]
    return rng.normal(0.0, sds, (n_therapists, 2))


def _with_therapist_effects(person: dict, therapist: np.ndarray, effects: np.ndarray) -> dict:
    """Person effects with each patient's therapist intercept and slope added to the symptom ones."""
    if effects.size == 0:
        return person
    treated = therapist >= 0
    shift = np.zeros((therapist.size, 2))
    shift[treated] = effects[therapist[treated]]
    return dict(person, sym_intercept=person["sym_intercept"] + shift[:, 0],
                sym_slope=person["sym_slope"] + shift[:, 1])


def _therapist_labels(n_therapists: int, cluster: str) -> np.ndarray:
    """``T01``, ``T02``, ... (``G01``, ... for groups)."""
    width = max(2, len(str(n_therapists)))
    prefix = cluster[0].upper()
    return np.array([f"{prefix}{k:0{width}d}" for k in range(1, n_therapists + 1)], dtype=object)


def _sources(rng: np.random.Generator, arm_idx: np.ndarray, times: np.ndarray, params: dict):
    """Standardised within-person source deviations z (n, waves, 4) and the reported scores."""
    n, n_waves = arm_idx.size, times.size
    person_mean = rng.normal(params["source_mean"], params["source_person_sd"], (n, 1, len(SOURCES)))
    z = rng.standard_normal((n, n_waves, len(SOURCES)))
    trend = np.array([[params["source_trends"][a][k] for k in SOURCES] for a in params["arms"]])
    expected = person_mean + trend[arm_idx][:, None, :] * times[None, :, None]
    scores = np.round(np.clip(expected + params["source_wave_sd"] * z, *SOURCE_RANGE), 1)
    return z, scores


def _within_person(rng: np.random.Generator, z: np.ndarray, params: dict):
    """VAR(1) within-person deviations of SE and symptoms (step 3), each (n, waves)."""
    n, n_waves, _ = z.shape
    effects = np.array([params["source_effects"][k] for k in SOURCES])
    e_se, e_sym = _correlated_normals(
        rng, (n, n_waves), params["innovation_sd_se"], params["innovation_sd_sym"], params["innovation_corr"]
    )
    e_se = e_se + z @ effects
    transition = _transition(params)
    state = np.zeros((2, n))
    w = np.empty((2, n, n_waves))
    for wave in range(n_waves):
        state = transition @ state + np.stack([e_se[:, wave], e_sym[:, wave]])
        w[:, :, wave] = state
    return w[0], w[1]


def _anxiety_scale() -> float:
    """Ratio of the GAD-7 to the PHQ-9 total range (rescales depression to GAD-7)."""
    gad, phq = scales.INSTRUMENTS["gad7"], scales.INSTRUMENTS["phq9"]
    return (gad.total_max - gad.total_min) / (phq.total_max - phq.total_min)


def _true_scores(rng, person: dict, times: np.ndarray, w_se, w_sym, params: dict) -> dict:
    """True (error-free) totals per scale, each (n, waves) (step 4)."""
    n, n_waves = w_se.shape
    se = person["se_intercept"][:, None] + person["se_slope"][:, None] * times + w_se
    sym = person["sym_intercept"][:, None] + person["sym_slope"][:, None] * times + w_sym
    own = rng.normal(params["anxiety_intercept"], params["anxiety_person_sd"], (n, 1))
    wave_part = rng.normal(0.0, params["anxiety_wave_sd"], (n, n_waves))
    anxiety = params["anxiety_loading"] * _anxiety_scale() * sym + own + wave_part
    return {"gse": se, "phq9": sym, "gad7": anxiety}


def _observed_total(rng: np.random.Generator, true: np.ndarray, key: str, params: dict) -> np.ndarray:
    """Integer observed totals: true score plus measurement error, rounded and clipped."""
    inst = scales.INSTRUMENTS[key]
    noisy = true + rng.normal(0.0, params["measurement_error_sd"][key], true.shape)
    return np.clip(np.rint(noisy), inst.total_min, inst.total_max).astype(np.int64)


def _item_weights(rng: np.random.Generator, key: str, params: dict) -> np.ndarray:
    return np.exp(rng.normal(0.0, params["item_weight_sd"], scales.INSTRUMENTS[key].n_items))


def _split_items(
    rng: np.random.Generator, totals: np.ndarray, key: str, weights: np.ndarray, noise_sd: float
) -> np.ndarray:
    """Item responses (…, n_items) that sum exactly to ``totals``, each within the item range.

    Each item's target is its weighted share of the points above the floor
    (``total - n_items * item_min``) plus ``N(0, noise_sd^2)`` item-specific noise,
    re-centred so the targets sum to the points, and kept within the item's range.
    Targets are rounded down and the points still to place go, one at a time, to the
    item with the largest remainder that has room (a placed point lowers that
    item's remainder by one), so items sum exactly to the total.
    """
    inst = scales.INSTRUMENTS[key]
    capacity = inst.item_max - inst.item_min
    points = totals - inst.n_items * inst.item_min
    target = points[..., None] * (weights / weights.sum()) + rng.normal(0.0, noise_sd, (*totals.shape, inst.n_items))
    target -= (target.sum(axis=-1) - points)[..., None] / inst.n_items
    target = np.clip(target, 0.0, capacity)
    items = np.floor(target).astype(np.int64)
    remainder = target - items
    for _ in range(inst.n_items * capacity):
        short = points - items.sum(axis=-1)
        if not short.any():
            break
        up = np.where(items < capacity, remainder, -np.inf).argmax(axis=-1)
        down = np.where(items > 0, remainder, np.inf).argmin(axis=-1)
        step = np.sign(short)
        chosen = np.where(step > 0, up, down)[..., None]
        np.put_along_axis(items, chosen, np.take_along_axis(items, chosen, -1) + step[..., None], -1)
        np.put_along_axis(remainder, chosen, np.take_along_axis(remainder, chosen, -1) - step[..., None], -1)
    return items + inst.item_min


def _hide_items(rng: np.random.Generator, items: np.ndarray, params: dict) -> np.ndarray:
    """Mask of sporadically missing item responses, same shape as ``items`` (step 6)."""
    return rng.random(items.shape) < params["item_missing_rate"]


def _standardise(values: np.ndarray, baseline: np.ndarray) -> np.ndarray:
    """``values`` centred and scaled by the baseline sample mean and SD (SD 1 if 0)."""
    sd = baseline.std(ddof=1)
    return (values - baseline.mean()) / (sd if sd > 0 else 1.0)


def _sessions(rng: np.random.Generator, arm_idx: np.ndarray, gse: np.ndarray, params: dict):
    """Sessions offered and attended per wave (NaN at baseline and where none offered)."""
    n, n_waves = gse.shape
    offered = np.array([params["sessions_offered"][a] for a in params["arms"]])[arm_idx]
    previous = _standardise(gse[:, :-1], gse[:, 0])
    p = expit(params["adherence_intercept"] + params["adherence_se_effect"] * previous)
    attended = rng.binomial(np.broadcast_to(offered[:, None], p.shape), p)
    shown = np.full((n, n_waves), np.nan)
    offered_shown, attended_shown = shown.copy(), shown.copy()
    has = offered > 0
    offered_shown[has, 1:] = offered[has, None]
    attended_shown[has, 1:] = attended[has]
    return offered_shown, attended_shown


def _dropout(rng: np.random.Generator, phq: np.ndarray, phq_true: np.ndarray, params: dict) -> np.ndarray:
    """Last observed wave per person under the monotone logistic dropout hazard (step 7)."""
    n, n_waves = phq.shape
    u = rng.random((n, n_waves - 1))
    if params["dropout_rate"] == 0:
        return np.full(n, n_waves - 1)
    log_odds = (
        logit(params["dropout_rate"])
        + params["dropout_mar"] * _standardise(phq[:, :-1], phq[:, 0])
        + params["dropout_mnar"] * _standardise(phq_true[:, 1:], phq_true[:, 0])
    )
    leaves = u < expit(log_odds)
    first = np.argmax(leaves, axis=1)  # index j means dropout at wave j + 1
    return np.where(leaves.any(axis=1), first, n_waves - 1)


# --------------------------------------------------------------------------- output


def _participant_ids(n: int) -> np.ndarray:
    width = max(4, len(str(n)))
    return np.array([f"P{i:0{width}d}" for i in range(1, n + 1)])


def _assemble(
    arm_idx, therapist, times, covariates, responses, sources, offered, attended, last_wave, params
) -> pd.DataFrame:
    """Long data frame of the observed waves (step 8); ``responses[key]`` is (items, missing)."""
    n, n_waves = arm_idx.size, times.size
    wave = np.tile(np.arange(n_waves), n)
    person = np.repeat(np.arange(n), n_waves)
    keep = wave <= last_wave[person]
    columns = {
        "participant_id": _participant_ids(n)[person],
        "wave": wave,
        "time": times[wave],
        "arm": pd.Categorical.from_codes(arm_idx[person], categories=params["arms"], ordered=True),
    }
    if params["therapists_per_arm"]:
        labels = np.append(_therapist_labels(therapist.max() + 1, params["cluster"]), None)
        columns[params["cluster"]] = labels[therapist[person]]  # index -1: the None appended
    for key, (items, missing) in responses.items():
        for j, name in enumerate(scales.INSTRUMENTS[key].items):
            columns[name] = pd.arrays.IntegerArray(items[..., j].ravel(), missing[..., j].ravel())
    frame = pd.DataFrame(columns)
    for key in SCALES:
        frame[scales.INSTRUMENTS[key].total] = scales.score(frame, key)
    for k, source in enumerate(SOURCES):
        frame[f"src_{source}"] = sources[..., k].ravel()
    frame["sessions_offered"] = offered.ravel()
    frame["sessions_attended"] = attended.ravel()
    frame["age"] = covariates["age"][person]
    frame["sex"] = covariates["sex"][person]
    return frame.loc[keep].reset_index(drop=True)


def _within_variances(params: dict) -> np.ndarray:
    """Var(w_se), Var(w_sym) per wave implied by the VAR(1) started at zero, (2, waves)."""
    effects = np.array(list(params["source_effects"].values()))
    sd_se, sd_sym, corr = params["innovation_sd_se"], params["innovation_sd_sym"], params["innovation_corr"]
    cross = corr * sd_se * sd_sym
    shock = np.array([[sd_se**2 + effects @ effects, cross], [cross, sd_sym**2]])
    transition = _transition(params)
    cov, out = np.zeros((2, 2)), []
    for _ in range(params["waves"]):
        cov = transition @ cov @ transition.T + shock
        out.append(np.diag(cov))
    return np.array(out).T


def _reliability(params: dict) -> dict:
    """Implied reliability of each observed total per wave, within an arm (one with therapists, if any)."""
    times = np.arange(params["waves"]) * params["weeks_per_wave"]
    var_w_se, var_w_sym = _within_variances(params)
    var = {
        "gse": params["se_intercept_sd"] ** 2 + times**2 * params["se_slope_sd"] ** 2 + var_w_se,
        "phq9": params["symptom_intercept_sd"] ** 2 + times**2 * params["symptom_slope_sd"] ** 2 + var_w_sym,
    }
    if params["therapists_per_arm"]:
        var["phq9"] += params["therapist_intercept_sd"] ** 2 + times**2 * params["therapist_slope_sd"] ** 2
    loading = params["anxiety_loading"] * _anxiety_scale()
    var["gad7"] = loading**2 * var["phq9"] + params["anxiety_person_sd"] ** 2 + params["anxiety_wave_sd"] ** 2
    out = {}
    for key in SCALES:
        error = params["measurement_error_sd"][key] ** 2
        out[key] = [1.0 if error == 0 else float(v / (v + error)) for v in var[key]]
    return out


def _effects(params: dict) -> dict:
    """Slope effects and mean slopes by arm implied by the parameters."""
    b, others = _b_path(params), params["arms"][1:]
    indirect = {a: params["se_slope_effect"][a] * b for a in others}
    total = dict(params["symptom_slope_effect"])
    loading = params["anxiety_loading"] * _anxiety_scale()
    sym_slope = {a: params["symptom_slope_reference"] + total.get(a, 0.0) for a in params["arms"]}
    return {
        "b_path": b,
        "indirect_effect": indirect,
        "direct_effect": {a: total[a] - indirect[a] for a in others},
        "total_effect": total,
        "se_slope_by_arm": {
            a: params["se_slope_reference"] + params["se_slope_effect"].get(a, 0.0) for a in params["arms"]
        },
        "symptom_slope_by_arm": sym_slope,
        "anxiety_slope_by_arm": {a: loading * s for a, s in sym_slope.items()},
        "anxiety_intercept_mean": loading * params["symptom_intercept_mean"] + params["anxiety_intercept"],
        "anxiety_scale_factor": _anxiety_scale(),
        "source_effects_per_point": {
            k: c / params["source_wave_sd"] for k, c in params["source_effects"].items()
        },
    }


def _realised(arm_idx: np.ndarray, last_wave: np.ndarray, params: dict) -> dict:
    arms, n_waves = params["arms"], params["waves"]
    dropped = last_wave < n_waves - 1
    return {
        "n_participants": int(arm_idx.size),
        "dropout_by_arm": {a: float(dropped[arm_idx == i].mean()) for i, a in enumerate(arms)},
        "retained_by_wave": {
            a: [int((last_wave[arm_idx == i] >= w).sum()) for w in range(n_waves)] for i, a in enumerate(arms)
        },
    }


def _plain(value):
    """``value`` with numpy scalars turned into Python ones, recursively."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _therapist_truth(params: dict, therapist: np.ndarray, effects: np.ndarray, arm_idx: np.ndarray) -> dict:
    """Variance components, intra-class correlations and realised therapists of the third level."""
    tau0, tau1 = params["therapist_intercept_sd"] ** 2, params["therapist_slope_sd"] ** 2
    intercepts = tau0 + params["symptom_intercept_sd"] ** 2
    baseline = intercepts + _within_variances(params)[1, 0] + params["measurement_error_sd"]["phq9"] ** 2
    labels = _therapist_labels(effects.shape[0], params["cluster"])
    treated = therapist >= 0
    patients = np.bincount(therapist[treated], minlength=labels.size)
    arm_of = np.zeros(labels.size, dtype=int)
    arm_of[therapist[treated]] = arm_idx[treated]
    return {
        "therapist_intercept_var": tau0,
        "therapist_slope_var": tau1,
        "therapist_icc": tau0 / intercepts if intercepts > 0 else 0.0,
        "therapist_icc_baseline": tau0 / baseline if baseline > 0 else 0.0,
        "therapists": {
            label: {"arm": params["arms"][a], "patients": n, "intercept": v0, "slope": v1}
            for label, a, n, (v0, v1) in zip(labels, arm_of, patients, effects)
        },
    }


def _truth(params: dict, weights: dict, arm_idx: np.ndarray, last_wave: np.ndarray,
           therapist: np.ndarray, therapist_effects: np.ndarray) -> dict:
    level = params["therapists_per_arm"] > 0
    truth = {key: value for key, value in params.items() if level or key not in CLUSTER_ARGUMENTS}
    truth["reference_arm"] = params["arms"][0]
    truth["times"] = list(np.arange(params["waves"]) * params["weeks_per_wave"])
    truth.update(_effects(params))
    truth["reliability"] = _reliability(params)
    truth["item_weights"] = {key: list(w) for key, w in weights.items()}
    truth.update(_realised(arm_idx, last_wave, params))
    if level:
        truth.update(_therapist_truth(params, therapist, therapist_effects, arm_idx))
    truth = _plain(truth)
    truth["descriptions"] = {key: DESCRIPTIONS[key] for key in truth}
    return truth


DESCRIPTIONS = {
    "seed": "Seed of numpy.random.default_rng; the same seed reproduces data and truth.",
    "n_per_arm": "Participants randomised to each arm.",
    "arms": "Arm labels in order; the first is the reference arm.",
    "reference_arm": "Arm against which arm effects are defined (the first arm).",
    "waves": "Measurement occasions, waves 0 (baseline) to waves - 1.",
    "weeks_per_wave": "Weeks between consecutive waves.",
    "times": "Time of each wave in weeks since baseline (wave * weeks_per_wave).",
    "se_intercept_mean": "Mean true GSE-10 total at baseline (before within-person deviation).",
    "se_intercept_sd": "SD of the person SE intercepts (GSE-10 points).",
    "symptom_intercept_mean": "Mean true PHQ-9 total at baseline (before within-person deviation).",
    "symptom_intercept_sd": "SD of the person symptom intercepts (PHQ-9 points).",
    "intercept_corr": "Correlation of the SE and symptom intercepts; intercept-slope correlations "
    "are 0.",
    "se_slope_reference": "Mean SE slope (GSE-10 points per week) in the reference arm.",
    "symptom_slope_reference": "Mean symptom slope (PHQ-9 points per week) in the reference arm.",
    "se_slope_effect": "Arm effect on the mean SE slope vs the reference arm (points per week).",
    "symptom_slope_effect": "Total arm effect on the mean PHQ-9 slope vs the reference arm (points"
    " per week).",
    "se_slope_sd": "Within-arm SD of the person SE slopes.",
    "symptom_slope_sd": "Within-arm SD of the person symptom slopes.",
    "slope_corr": "Within-arm correlation of the person SE and symptom slopes.",
    "ar_se": "Autoregression of the within-person SE deviation from one wave to the next.",
    "ar_sym": "Autoregression of the within-person symptom deviation from one wave to the next.",
    "lag_se_to_sym": "Cross-lagged effect of the SE deviation at wave w-1 on the symptom deviation"
    " at wave w.",
    "lag_sym_to_se": "Cross-lagged effect of the symptom deviation at wave w-1 on the SE deviation"
    " at wave w.",
    "innovation_sd_se": "SD of the SE within-person innovation (excluding the source term).",
    "innovation_sd_sym": "SD of the symptom within-person innovation.",
    "innovation_corr": "Correlation of the SE and symptom innovations at the same wave.",
    "source_effects": "GSE-10 points per 1 SD (source_wave_sd) of each source's within-person "
    "deviation.",
    "source_effects_per_point": "source_effects / source_wave_sd: GSE-10 points per source rating "
    "point, the slope of GSE on a source among people with the same "
    "expected source trajectory.",
    "source_trends": "Per-arm linear trend of each source rating (points per week).",
    "source_mean": "Mean of the person source means (0-10 rating scale).",
    "source_person_sd": "SD of the person source means.",
    "source_wave_sd": "SD of the wave-to-wave source deviation (the unit of source_effects).",
    "measurement_error_sd": "SD of the error added to each true total before rounding and "
    "clipping.",
    "anxiety_loading": "Loading of the true GAD-7 score on the true PHQ-9 score rescaled to the "
    "GAD-7 range.",
    "anxiety_intercept": "Mean of the person-specific part of the true GAD-7 score.",
    "anxiety_person_sd": "SD of the person-specific part of the true GAD-7 score.",
    "anxiety_wave_sd": "SD of the wave-specific part of the true GAD-7 score.",
    "anxiety_scale_factor": "GAD-7 over PHQ-9 total range; rescales depression to the GAD-7 "
    "metric.",
    "anxiety_slope_by_arm": "Implied mean GAD-7 slope per arm (points per week).",
    "anxiety_intercept_mean": "Implied mean true GAD-7 total at baseline.",
    "item_weight_sd": "SD of the log item weights used to split totals into items.",
    "item_noise_sd": "SD (item points) of item-specific noise in the split of totals into items.",
    "item_weights": "Realised item weights per scale (higher weight: item takes more of the "
    "total).",
    "item_missing_rate": "Probability that an item response is missing, independently.",
    "sessions_offered": "Sessions offered per wave interval, by arm (0: session columns missing).",
    "adherence_intercept": "Logit of attending an offered session at the baseline-mean GSE total.",
    "adherence_se_effect": "Log-odds of attending per baseline SD of the observed GSE total at the"
    " previous wave.",
    "dropout_rate": "Per-wave dropout probability at the baseline-mean symptom level.",
    "dropout_mar": "Log-odds of dropout per baseline SD of the observed PHQ-9 total at the "
    "previous wave.",
    "dropout_mnar": "Log-odds of dropout per baseline SD of the current true (unobserved) PHQ-9 "
    "score.",
    "age_mean": "Mean age (years) before rounding and clipping to 18-80.",
    "age_sd": "SD of age (years) before rounding and clipping.",
    "p_female": "Probability that sex is female.",
    "therapists_per_arm": "Therapists (or therapy groups) per arm that has them; caseloads differ by at "
    "most one.",
    "therapist_intercept_sd": "SD of the therapist random intercepts on the PHQ-9 total (points).",
    "therapist_slope_sd": "SD of the therapist random slopes on the PHQ-9 total (points per week), "
    "independent of the intercepts.",
    "nesting": "full: every arm has therapists; partial: the reference arm has none (cluster column "
    "missing).",
    "cluster": "Name of the cluster column: therapist, or group for therapy groups.",
    "therapist_intercept_var": "Variance of the therapist intercepts, therapist_intercept_sd^2 (as "
    "lme4's VarCorr reports it); reliability counts it as true-score variance (arms with therapists).",
    "therapist_slope_var": "Variance of the therapist slopes, therapist_slope_sd^2.",
    "therapist_icc": "Intra-class correlation of therapist intercepts: therapist_intercept_var / "
    "(therapist_intercept_var + symptom_intercept_sd^2), the correlation of the symptom intercepts of "
    "two patients of one therapist (0 when both are 0).",
    "therapist_icc_baseline": "therapist_intercept_var / (therapist_intercept_var + "
    "symptom_intercept_sd^2 + innovation_sd_sym^2 + measurement_error_sd['phq9']^2): the correlation "
    "of the baseline PHQ-9 totals of two patients of one therapist, ignoring rounding and clipping "
    "(0 when the denominator is 0).",
    "therapists": "Per therapist (or group) label: its arm, number of patients and realised random "
    "intercept and slope (PHQ-9 points, points per week).",
    "b_path": "Within-arm regression of the symptom slope on the SE slope: slope_corr * "
    "symptom_slope_sd / se_slope_sd (0 when slope_corr is 0).",
    "indirect_effect": "Part of each arm's symptom-slope effect through the SE slope: "
    "se_slope_effect * b_path.",
    "direct_effect": "Part of each arm's symptom-slope effect not through SE: total_effect - "
    "indirect_effect.",
    "total_effect": "Total arm effect on the mean PHQ-9 slope (= symptom_slope_effect).",
    "se_slope_by_arm": "Mean SE slope per arm (points per week).",
    "symptom_slope_by_arm": "Mean PHQ-9 slope per arm (points per week).",
    "reliability": "Implied reliability of each observed total per wave within an arm: Var(true) /"
    " (Var(true) + measurement_error_sd^2), ignoring rounding and clipping.",
    "n_participants": "Participants randomised (all arms).",
    "dropout_by_arm": "Realised share of each arm's participants who dropped out before the last "
    "wave.",
    "retained_by_wave": "Realised participants observed at each wave, by arm.",
}
