"""Write the simulated panels that tests/reference/lavaan_riclpm.R fits with lavaan.

Run from the repository root (the R script reads the CSV this writes):

    .venv/bin/python tests/reference/make_panels.py
    Rscript tests/reference/lavaan_riclpm.R

Writes ``tests/reference/riclpm_panels.csv`` in long format, one row per person and
wave with at least one of ``x``, ``y`` observed: ``panel``, ``id``, ``wave`` (1-5),
``x``, ``y`` (NA where missing), rounded to 6 decimals.

Panels
------
complete
    400 people from a random-intercept cross-lagged panel model (Hamaker et al.,
    2015) with 5 waves: random intercepts with covariance ``RI_COV``; within-person
    VAR(1) with lags ``LAGS`` (rows: x_t, y_t; columns: x_{t-1}, y_{t-1}), wave-1
    covariance ``WAVE1_COV`` and innovation covariance ``INNOVATION_COV``; wave
    means ``MEANS``. No missing values.
missing
    The same people with missing waves: monotone dropout after each wave with
    probability expit(-3 + 0.6 y_{t-1}) (missing at random given the observed
    y), then each remaining value missing with probability 0.08 on its own.
trial
    ``analysis.simulate.trial(n_per_arm=100, waves=5, seed=7)``: GSE-10 (x) and
    PHQ-9 (y) totals of all arms, waves 0-4 renumbered 1-5, with the simulator's
    dropout and item missingness. Its person-specific slopes make the RI-CLPM
    misspecified, as it is for real trial data.
help
    HELP (``analysis.io.load_trial("HELPfull")``): perceived social support (x,
    ``social_support``) and CES-D depression (y, ``cesd_total``) of 470 patients at
    waves 0-4 (baseline, 6, 12, 18, 24 months) renumbered 1-5; many missing waves.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import expit

from analysis import io, simulate

OUT = Path(__file__).with_name("riclpm_panels.csv")
SEED = 20240611
N, WAVES = 400, 5
RI_COV = np.array([[1.0, 0.3], [0.3, 0.8]])
WAVE1_COV = np.array([[1.0, -0.3], [-0.3, 1.2]])
LAGS = np.array([[0.4, -0.15], [-0.25, 0.3]])
INNOVATION_COV = np.array([[0.6, -0.15], [-0.15, 0.7]])
MEANS = np.array([[3.0 + 0.1 * t, 2.0 - 0.05 * t] for t in range(WAVES)])


def riclpm_panel(rng: np.random.Generator) -> np.ndarray:
    """Complete data, shape (N, WAVES, 2)."""
    intercepts = rng.multivariate_normal([0, 0], RI_COV, N)
    within = np.empty((N, WAVES, 2))
    within[:, 0] = rng.multivariate_normal([0, 0], WAVE1_COV, N)
    for t in range(1, WAVES):
        within[:, t] = within[:, t - 1] @ LAGS.T + rng.multivariate_normal([0, 0], INNOVATION_COV, N)
    return MEANS + intercepts[:, None, :] + within


def with_missing(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = values.copy()
    present = np.ones(N, bool)
    for t in range(1, WAVES):
        present &= rng.random(N) >= expit(-3 + 0.6 * values[:, t - 1, 1])
        out[~present, t] = np.nan
    out[rng.random(out.shape) < 0.08] = np.nan
    return out


def long(values: np.ndarray, panel: str) -> pd.DataFrame:
    n, waves, _ = values.shape
    frame = pd.DataFrame({
        "panel": panel,
        "id": np.repeat(np.arange(1, n + 1), waves),
        "wave": np.tile(np.arange(1, waves + 1), n),
        "x": values[..., 0].ravel(),
        "y": values[..., 1].ravel(),
    })
    return frame.dropna(subset=["x", "y"], how="all")


def trial_panel() -> pd.DataFrame:
    data, _ = simulate.trial(n_per_arm=100, waves=5, seed=7)
    ids = data["participant_id"].str[1:].astype(int)
    return pd.DataFrame({"panel": "trial", "id": ids, "wave": data["wave"] + 1,
                         "x": data["gse_total"], "y": data["phq9_total"]}).dropna(subset=["x", "y"], how="all")


def help_panel() -> pd.DataFrame:
    data = io.load_trial("HELPfull")
    return pd.DataFrame({"panel": "help", "id": data["participant_id"], "wave": data["wave"] + 1,
                         "x": data["social_support"], "y": data["cesd_total"]}).dropna(subset=["x", "y"], how="all")


def main() -> None:
    rng = np.random.default_rng(SEED)
    complete = riclpm_panel(rng)
    frames = [long(complete, "complete"), long(with_missing(complete, rng), "missing"), trial_panel(),
              help_panel()]
    pd.concat(frames).round(6).to_csv(OUT, index=False)


if __name__ == "__main__":
    main()
