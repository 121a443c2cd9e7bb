"""Generate the bundled teaching meta-analysis of self-efficacy and symptoms (SIMULATED data).

Writes ``data/se_symptom_meta.csv``: one row per simulated study reporting the
correlation ``ri`` between a self-efficacy (SE) scale and a symptom scale in a sample
of ``ni`` people, with study-level moderators. None of these studies exist; the
file is for teaching meta-analysis (``analysis.meta``, notebook 06) with known truth.

Generating model (all values in :data:`TRUTH`)
---------------------------------------------
For each candidate study: disorder, therapy context and SE scale are drawn with the
probabilities in ``TRUTH``; the sample size is log-normal (median 110, clipped to
25-900); the study's true Fisher-z correlation is

    theta_i = mu[disorder] + shift[therapy] + shift[se_scale] + u_i,  u_i ~ N(0, tau^2),

and ``ri`` is the Pearson correlation of ``ni`` draws from a bivariate normal with
correlation ``tanh(theta_i)``, rounded to three decimals as journals print it.
Publication bias: a candidate with a non-significant correlation (two-sided
p >= .05) and fewer than 100 participants is "published" (kept) with probability
0.4; all others are kept. Funnel-plot asymmetry and Egger's test can therefore pick
up a real (simulated) small-study effect.

The output is byte-for-byte deterministic: fixed seed, fixed column order, ``\\n``
line ends.

Usage::

    .venv/bin/python scripts/make_meta_teaching.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

DATA_FILE = Path(__file__).resolve().parents[1] / "data" / "se_symptom_meta.csv"
SEED = 20240605
CANDIDATES = 52
TRUTH = {
    "mu": {"depression": -0.40, "anxiety": -0.33, "PTSD": -0.25},  # Fisher z at CBT, general SE scale
    "disorder_p": {"depression": 0.40, "anxiety": 0.35, "PTSD": 0.25},
    "therapy_shift": {"CBT": 0.0, "mindfulness": 0.04, "observational": 0.08},
    "therapy_p": {"CBT": 0.45, "mindfulness": 0.25, "observational": 0.30},
    "se_scale_shift": {"general": 0.0, "specific": -0.06},
    "se_scale_p": {"general": 0.5, "specific": 0.5},
    "tau": 0.08,
    "log_n_median": float(np.log(110)),
    "log_n_sd": 0.7,
    "n_range": (25, 900),
    "small_n": 100,
    "keep_small_nonsignificant": 0.4,
}


def _choice(rng: np.random.Generator, probabilities: dict[str, float], size: int) -> np.ndarray:
    return rng.choice(list(probabilities), size=size, p=list(probabilities.values()))


def simulate(seed: int = SEED) -> pd.DataFrame:
    """Simulate the candidate studies, apply the publication filter and return the kept ones.

    Parameters
    ----------
    seed : int
        Seed of the random generator (every random step uses it).

    Returns
    -------
    DataFrame
        Columns ``study``, ``year``, ``disorder``, ``therapy``, ``se_scale``,
        ``mean_age``, ``ni``, ``ri``; one row per kept study.
    """
    rng = np.random.default_rng(seed)
    disorder = _choice(rng, TRUTH["disorder_p"], CANDIDATES)
    therapy = _choice(rng, TRUTH["therapy_p"], CANDIDATES)
    se_scale = _choice(rng, TRUTH["se_scale_p"], CANDIDATES)
    low, high = TRUTH["n_range"]
    ni = np.clip(np.round(np.exp(rng.normal(TRUTH["log_n_median"], TRUTH["log_n_sd"], CANDIDATES))), low, high)
    year = rng.integers(1998, 2024, CANDIDATES)
    mean_age = np.round(np.clip(rng.normal(38, 10, CANDIDATES), 18, 75), 1)
    theta = (np.array([TRUTH["mu"][d] for d in disorder])
             + np.array([TRUTH["therapy_shift"][t] for t in therapy])
             + np.array([TRUTH["se_scale_shift"][s] for s in se_scale])
             + rng.normal(0, TRUTH["tau"], CANDIDATES))
    ri = np.empty(CANDIDATES)
    for i, (n, rho) in enumerate(zip(ni.astype(int), np.tanh(theta))):
        sample = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=n)
        ri[i] = np.corrcoef(sample.T)[0, 1]
    ri = np.round(ri, 3)
    t_stat = ri * np.sqrt((ni - 2) / (1 - ri**2))
    significant = 2 * stats.t.sf(np.abs(t_stat), ni - 2) < 0.05
    small = ni < TRUTH["small_n"]
    kept = significant | ~small | (rng.random(CANDIDATES) < TRUTH["keep_small_nonsignificant"])
    studies = pd.DataFrame({
        "year": year, "disorder": disorder, "therapy": therapy, "se_scale": se_scale,
        "mean_age": mean_age, "ni": ni.astype(int), "ri": ri,
    })[kept].sort_values(["year", "ni"], kind="stable").reset_index(drop=True)
    studies.insert(0, "study", [f"Study {i:02d}" for i in range(1, len(studies) + 1)])
    return studies


def write(path: Path = DATA_FILE) -> Path:
    """Simulate with :data:`SEED` and write the CSV; returns its path."""
    simulate().to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":
    print(f"wrote {write()}")
