"""The returned ``truth``: parameters, derived quantities, realised dropout and their descriptions."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .parameters import CLUSTER_ARGUMENTS, SCALES, _transition
from .people import _b_path
from .remission import REMISSION_ARGUMENTS, _remission_truth
from .scores import _anxiety_scale
from .therapists import _therapist_labels


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
    remission = params["remission_threshold"] is not None
    truth = {key: value for key, value in params.items()
             if (level or key not in CLUSTER_ARGUMENTS) and (remission or key not in REMISSION_ARGUMENTS)}
    truth["reference_arm"] = params["arms"][0]
    truth["times"] = list(np.arange(params["waves"]) * params["weeks_per_wave"])
    truth.update(_effects(params))
    truth["reliability"] = _reliability(params)
    truth["item_weights"] = {key: list(w) for key, w in weights.items()}
    truth.update(_realised(arm_idx, last_wave, params))
    if level:
        truth.update(_therapist_truth(params, therapist, therapist_effects, arm_idx))
    if remission:
        truth.update(_remission_truth(params, float(_within_variances(params)[1, -1])))
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
    "remission_threshold": "PHQ-9 threshold of remission: a person remits when the true PHQ-9 score at "
    "the last wave plus N(0, remission_sd^2) lies below it.",
    "remission_sd": "SD of the person-specific remission threshold shift (the probit's error, PHQ-9 points).",
    "remission_time": "Time (weeks) of the last wave, at which remission is assessed.",
    "remission_by_arm": "Population probability of remission per arm (no dropout).",
    "remission_effects": "Per active arm against the reference arm, natural effects on remission (probability "
    "scale) through the SE slope: acme_control, acme_treated, ade_control, ade_treated, total.",
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
