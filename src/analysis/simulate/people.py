"""Participants: covariates and the person intercepts and slopes (step 1 of the model)."""

from __future__ import annotations

import numpy as np

from .parameters import AGE_RANGE


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
