"""Sessions attended and monotone dropout (steps 5 and 7)."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit


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
