"""The trial generator: :func:`trial` draws the steps in order and assembles the long data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .. import scales
from .attendance import _dropout, _sessions
from .parameters import (
    DEFAULT_MEASUREMENT_ERROR_SD,
    DEFAULT_SE_SLOPE_EFFECT,
    DEFAULT_SOURCE_EFFECTS,
    DEFAULT_SOURCE_TRENDS,
    DEFAULT_SYMPTOM_SLOPE_EFFECT,
    SCALES,
    SOURCES,
    _normalise,
)
from .people import _covariates, _person_effects
from .remission import _remission
from .scores import _hide_items, _item_weights, _observed_total, _sources, _split_items, _true_scores, _within_person
from .therapists import _assign_therapists, _therapist_effects, _therapist_labels, _with_therapist_effects
from .truth import _truth


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
    remission_threshold: float | None = None,
    remission_sd: float = 2.0,
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
    remission_threshold : float or None, default None
        With a number (PHQ-9 points, e.g. 5, the usual PHQ-9 remission cut-off), a
        binary ``remission`` outcome: the person remits when the true PHQ-9 score
        at the last wave plus ``N(0, remission_sd^2)`` lies below it, a probit model
        of the true end-of-treatment score (:mod:`analysis.simulate.remission`).
        None: no remission column and no remission keys in ``truth``.
    remission_sd : float, default 2.0
        SD (PHQ-9 points) of the person-specific threshold shift, the probit's
        error; 0 gives a sharp threshold. Ignored without ``remission_threshold``.
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
        missing for participants without one) follows ``arm``. With
        ``remission_threshold`` the last column is ``remission`` (float 1.0/0.0,
        constant within participant, NaN for participants who dropped out before
        the last wave).
    truth : dict
        JSON-serialisable: every parameter (per-arm mappings completed with
        zeros), the derived quantities (``b_path``, ``indirect_effect``,
        ``direct_effect``, ``total_effect``, mean slopes by arm, implied
        reliability, item weights), the realised dropout and
        ``truth["descriptions"][key]``, a sentence per key. With a therapist
        level also its arguments, ``therapist_intercept_var``,
        ``therapist_slope_var``, ``therapist_icc``, ``therapist_icc_baseline``
        (see the module docstring) and ``therapists`` (per label: arm, number of
        patients, realised intercept and slope effects). With remission also its
        arguments, ``remission_time``, ``remission_by_arm`` (population remission
        probability per arm) and ``remission_effects`` (per active arm:
        ``acme_control``, ``acme_treated``, ``ade_control``, ``ade_treated`` and
        ``total`` of arm -> SE slope -> remission on the probability scale).

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
    if params["remission_threshold"] is not None:
        covariates["remission"] = _remission(true["phq9"], last_wave, params)
    data = _assemble(
        arm_idx, therapist, times, covariates, responses, sources, offered, attended, last_wave, params
    )
    return data, _truth(params, weights, arm_idx, last_wave, therapist, therapist_effects)


def _participant_ids(n: int) -> np.ndarray:
    width = max(4, len(str(n)))
    return np.array([f"P{i:0{width}d}" for i in range(1, n + 1)])


def _assemble(
    arm_idx, therapist, times, covariates, responses, sources, offered, attended, last_wave, params
) -> pd.DataFrame:
    """Long data frame of the observed waves; ``responses[key]`` is (items, missing)."""
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
    for name, values in covariates.items():  # person level: age, sex (and remission)
        frame[name] = values[person]
    return frame.loc[keep].reset_index(drop=True)
