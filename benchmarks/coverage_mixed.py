"""Coverage of the 95% intervals of analysis.mixed on simulated trials with known truth.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/coverage_mixed.py [--replicates N]
[--therapist-replicates N] [--jobs N]``). Two studies, each replicate from its own seed spawned
from one seed per study, so the results do not depend on ``--jobs`` (replicates run in that many
processes and are collected in order) nor on the other study's size.

Person level (``--replicates``, default 200): each replicate simulates a trial
(``analysis.simulate.trial``, 40 participants per arm, 6 waves) and fits

* the growth model of PHQ-9 (``mixed.growth``): do the intervals of ``time:arm[T.cbt]`` and
  ``time:arm[T.mindfulness]`` cover the true slope differences (``truth["total_effect"]``)?
* the within/between model (``mixed.within_between``) on a trial without measurement error, lags or
  sources, where the true within-person slope of symptoms on SE is
  ``innovation_corr * innovation_sd_sym / innovation_sd_se``.

Therapist level (``--therapist-replicates``, default 100; the issue's figure is 500, about half
an hour on two cores, see ``benchmarks/results/coverage_mixed.json`` for the last run's time):
each replicate simulates a two-arm trial with therapists (``THERAPIST_TRIAL``: 10 therapists per
arm with 8 patients each, 6 waves; therapist intercept SD 1 point, slope SD 0.1 point per week,
about 5% of the variance of the person slopes estimated from six waves) and fits the PHQ-9 growth
model twice:

* three-level, ``(time | participant_id) + (time || therapist)`` (the generating model: independent
  therapist intercepts and slopes), and
* two-level, ``(time | participant_id)``, which ignores the therapist.

Do the intervals of ``time:arm[T.cbt]`` cover the true slope difference? The two-level model
treats the patients of one therapist as independent and should undercover; its intervals' mean
SE over the SD of the estimates across replicates (``se_over_sd``) shows by how much they are too
narrow. Also reported: the median Satterthwaite df and the share of singular fits.

Coverage near 0.95 (within about two Monte Carlo SEs) says the Satterthwaite intervals are honest.
Results go to ``benchmarks/results/coverage_mixed.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from run import RESULTS

from analysis import mixed, simulate

SEED = 20240601
THERAPIST_SEED = 20240602
NO_SOURCES = dict.fromkeys(["mastery", "vicarious", "persuasion", "physiological"], 0.0)
#: Two arms, 10 therapists per arm x 8 patients x 6 waves, with therapist variance in the truth.
THERAPIST_TRIAL = {"n_per_arm": 80, "arms": ("control", "cbt"), "therapists_per_arm": 10,
                   "therapist_intercept_sd": 1.0, "therapist_slope_sd": 0.1,
                   "se_slope_effect": {"cbt": 0.35}, "symptom_slope_effect": {"cbt": -0.45},
                   "source_trends": {"cbt": {"mastery": 0.15}}}
THERAPIST_MODELS = {
    "three-level": "phq9_total ~ time * arm + (time | participant_id) + (time || therapist)",
    "two-level": "phq9_total ~ time * arm + (time | participant_id)",
}
EFFECT = "time:arm[T.cbt]"


def _child_seeds(seed: np.random.SeedSequence, n: int) -> list[int]:
    return [int(child.generate_state(1)[0]) for child in seed.spawn(n)]


def replicate(seed: np.random.SeedSequence) -> dict[str, bool]:
    """Whether each interval of one simulated trial (person level) covers its truth."""
    trial_seed, clean_seed = _child_seeds(seed, 2)
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


def therapist_replicate(seed: np.random.SeedSequence) -> dict[str, dict]:
    """The arm x time estimate of each model of ``THERAPIST_MODELS`` on one trial with therapists,
    and whether its interval covers the truth."""
    data, truth = simulate.trial(seed=_child_seeds(seed, 1)[0], **THERAPIST_TRIAL)
    effect = truth["total_effect"]["cbt"]
    out = {}
    for name, formula in THERAPIST_MODELS.items():
        fit = mixed.fit_lmm(data, formula)
        row = fit.fixed.loc[EFFECT]
        out[name] = {"covered": bool(row["ci_low"] < effect < row["ci_high"]), "estimate": float(row["estimate"]),
                     "se": float(row["se"]), "df": float(row["df"]), "singular": fit.singular}
    return out


def run_study(name: str, func: Callable, seed: int, replicates: int, jobs: int) -> list:
    """``func`` on ``replicates`` seeds spawned from ``seed``, in order, ``jobs`` processes; progress printed."""
    seeds = np.random.SeedSequence(seed).spawn(replicates)
    print(f"{name}: {replicates} replicates in {jobs} process(es)", flush=True)
    results = []
    with ProcessPoolExecutor(jobs) as pool:
        for i, result in enumerate(pool.map(func, seeds), 1):
            results.append(result)
            if i % 10 == 0:
                print(f"  {i}/{replicates} replicates", flush=True)
    return results


def coverage(values: list[bool]) -> dict:
    """Share covered, its Monte Carlo SE and the number of replicates."""
    p = float(np.mean(values))
    return {"coverage": p, "mc_se": float(np.sqrt(p * (1 - p) / len(values))), "replicates": len(values)}


def therapist_summary(results: list[dict]) -> dict:
    """Coverage of each model, with the mean SE over the SD of the estimates, median df, share singular."""
    summary = {}
    for name, formula in THERAPIST_MODELS.items():
        rows = [r[name] for r in results]
        estimates, ses = np.array([r["estimate"] for r in rows]), np.array([r["se"] for r in rows])
        summary[name] = coverage([r["covered"] for r in rows]) | {
            "formula": formula,
            "mean_estimate": float(estimates.mean()),
            "se_over_sd": float(ses.mean() / estimates.std(ddof=1)),
            "median_df": float(np.median([r["df"] for r in rows])),
            "singular_share": float(np.mean([r["singular"] for r in rows]))}
    return summary


def report(key: str, row: dict) -> str:
    text = (f"{key:32s} coverage {row['coverage']:.3f} (MC SE {row['mc_se']:.3f}, "
            f"{row['replicates']} replicates; nominal 0.95)")
    if "se_over_sd" in row:
        text += (f"; mean SE / SD of estimates {row['se_over_sd']:.2f}, median df {row['median_df']:.0f}, "
                 f"singular {row['singular_share']:.1%}")
    return text


def main(replicates: int, therapist_replicates: int, jobs: int) -> dict:
    """Run both studies, print and save coverage with Monte Carlo SEs."""
    out = {"seed": SEED, "therapist_seed": THERAPIST_SEED, "jobs": jobs, "coverage": {}}
    if replicates:
        start = time.perf_counter()
        results = run_study("person level", replicate, SEED, replicates, jobs)
        out["person_level_s"] = time.perf_counter() - start
        out["coverage"] = {key: coverage([r[key] for r in results]) for key in results[0]}
    if therapist_replicates:
        start = time.perf_counter()
        results = run_study("therapist level", therapist_replicate, THERAPIST_SEED, therapist_replicates, jobs)
        out["therapist_level_s"] = time.perf_counter() - start
        out["therapist_trial"] = THERAPIST_TRIAL
        out["coverage"] |= {f"{name} {EFFECT}": row for name, row in therapist_summary(results).items()}
    for key, row in out["coverage"].items():
        print(report(key, row))
    for key in ("person_level_s", "therapist_level_s"):
        if key in out:
            print(f"{key.removesuffix('_s').replace('_', ' ')}: {out[key]:.0f} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "coverage_mixed.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=200, help="person-level study (default 200)")
    parser.add_argument("--therapist-replicates", type=int, default=100,
                        help="therapist-level study (default 100; 500 for the issue's figure)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count(), help="processes (default: all cores)")
    args = parser.parse_args()
    main(args.replicates, args.therapist_replicates, args.jobs)
