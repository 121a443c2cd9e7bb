"""Coverage of the 95% intervals of analysis.mixed on simulated trials with known truth.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/coverage_mixed.py [--replicates N]``).
Each replicate simulates a trial (``analysis.simulate.trial``, 40 participants per arm, 6 waves,
seeds spawned from one seed) and fits

* the growth model of PHQ-9 (``mixed.growth``): do the intervals of ``time:arm[T.cbt]`` and
  ``time:arm[T.mindfulness]`` cover the true slope differences (``truth["total_effect"]``)?
* the within/between model (``mixed.within_between``) on a trial without measurement error, lags or
  sources, where the true within-person slope of symptoms on SE is
  ``innovation_corr * innovation_sd_sym / innovation_sd_se``.

Coverage near 0.95 (within about two Monte Carlo SEs) says the Satterthwaite intervals are honest.
Results go to ``benchmarks/results/coverage_mixed.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from analysis import mixed, simulate

RESULTS = Path(__file__).parent / "results"
SEED = 20240601
NO_SOURCES = dict.fromkeys(["mastery", "vicarious", "persuasion", "physiological"], 0.0)


def replicate(seed: np.random.SeedSequence) -> dict[str, bool]:
    """Whether each interval of one simulated trial covers its truth."""
    trial_seed, clean_seed = (int(child.generate_state(1)[0]) for child in seed.spawn(2))
    data, truth = simulate.trial(n_per_arm=40, seed=trial_seed)
    growth = mixed.growth(data, "phq9_total").fixed
    covered = {}
    for arm, effect in truth["total_effect"].items():
        row = growth.loc[f"time:arm[T.{arm}]"]
        covered[f"growth time:arm[T.{arm}]"] = bool(row["ci_low"] < effect < row["ci_high"])
    clean, truth = simulate.trial(
        n_per_arm=40, seed=clean_seed, measurement_error_sd=0.0, ar_se=0, ar_sym=0,
        lag_se_to_sym=0, lag_sym_to_se=0, se_slope_sd=0.0, slope_corr=0.0,
        source_effects=NO_SOURCES)
    effect = truth["innovation_corr"] * truth["innovation_sd_sym"] / truth["innovation_sd_se"]
    row = mixed.within_between(clean, "phq9_total", "gse_total").fixed.loc["gse_total_within"]
    covered["within-person SE effect"] = bool(row["ci_low"] < effect < row["ci_high"])
    return covered


def main(replicates: int) -> dict:
    """Run the study, print and save coverage with Monte Carlo SEs."""
    seeds = np.random.SeedSequence(SEED).spawn(replicates)
    hits: dict[str, list[bool]] = {}
    for i, seed in enumerate(seeds, 1):
        for key, value in replicate(seed).items():
            hits.setdefault(key, []).append(value)
        if i % 10 == 0:
            print(f"  {i}/{replicates} replicates", flush=True)
    summary = {}
    for key, values in hits.items():
        p = float(np.mean(values))
        summary[key] = {"coverage": p, "mc_se": float(np.sqrt(p * (1 - p) / len(values))),
                        "replicates": len(values)}
        print(f"{key:32s} coverage {p:.3f} (MC SE {summary[key]['mc_se']:.3f}, "
              f"{len(values)} replicates; nominal 0.95)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "coverage_mixed.json").write_text(json.dumps({"seed": SEED, "coverage": summary},
                                                            indent=2) + "\n")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200)
    main(parser.parse_args().replicates)
