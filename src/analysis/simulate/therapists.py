"""The optional third level: therapists (or therapy groups) and their effects on symptoms."""

from __future__ import annotations

import numpy as np


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
