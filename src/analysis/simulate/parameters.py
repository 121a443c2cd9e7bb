"""Arguments of :func:`analysis.simulate.trial`: named constants, defaults and their checks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np

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


def _normalise(params: dict) -> dict:
    """Validate the arguments of :func:`trial`; return them in plain, complete form."""
    arms = _check_arms(params["arms"])
    _check_sizes(params)
    _check_values(params)
    _check_cluster(params)
    _check_remission(params)
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
    "therapist_intercept_sd", "therapist_slope_sd", "remission_sd",
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


def _check_remission(params: dict) -> None:
    """The remission threshold: None (no remission outcome) or a finite number of PHQ-9 points."""
    threshold = params["remission_threshold"]
    if threshold is not None and not _finite(threshold):
        raise ValueError(f"remission_threshold must be None or a finite number, got {threshold!r}")


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
