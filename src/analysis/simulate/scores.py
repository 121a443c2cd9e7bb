"""Sources, within-person dynamics, true and observed totals, items and missing items (steps 2-4, 6)."""

from __future__ import annotations

import numpy as np

from .. import scales
from .parameters import SOURCE_RANGE, SOURCES, _transition
from .people import _correlated_normals


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
