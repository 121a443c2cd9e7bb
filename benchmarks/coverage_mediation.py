"""Coverage of analysis.mediation.mediate's ACME intervals for each model form, on simulated trials.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/coverage_mediation.py [--replicates N]
[--n N] [--n-boot N] [--jobs N] [--forms NAME ...]``; a reduced run, e.g. ``--replicates 60``, takes
minutes). Each replicate of a generic form simulates a two-arm trial of ``--n`` people
(default 300): treatment ``T`` ~ Bernoulli(1/2), a baseline covariate ``X`` ~ N(0, 1), a mediator
and an outcome from the model form's generating equations (``FORMS``: a normal or a probit
mediator, a normal, probit or logit outcome, with or without a treatment x mediator term; a binary
outcome stands for remission). ``mediate`` fits the generating models with ``X`` as covariate and
bootstrapped percentile intervals; does the ACME(treated) interval cover the true population ACME?

The truth is computed once per form by brute-force simulation of the potential outcomes
(``TRUTH_DRAWS`` people; each person's mediator under both arms and outcome under every
combination, with the outcome noise drawn), independently of the package's integration formulas;
its Monte Carlo SE is reported and is far below the estimates' SEs.

The ``trial`` forms simulate with the suite's own simulator, :func:`analysis.simulate.trial`
(``TRIAL``: control vs CBT, ``--n`` people, baseline and week 10), with its binary remission
outcome (a probit threshold model of the true end-of-treatment PHQ-9 score). ``mediate`` fits
remission (probit or logit outcome model) on the GSE change from baseline (linear mediator) and
the arm, adjusting for the baseline PHQ-9 total, and the truth is the simulator's
``truth["remission_effects"]["cbt"]["acme_treated"]``, the natural indirect effect through the SE
slope on the probability scale (exact, from the generating model). The scenario makes the
observed GSE change measure the SE slope (no GSE measurement error, within-person SE deviation or
missing items, no dropout); only rounding to whole GSE points remains.

Coverage near 0.95 (within about two Monte Carlo SEs) says the intervals are honest for that form.
Results go to ``benchmarks/results/coverage_mediation.json``. Replicates draw their seeds from one
seed per form, so results do not depend on ``--jobs``.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import pandas as pd
from run import RESULTS

from analysis import mediation, simulate

SEED = 20240617
TRUTH_DRAWS = 2_000_000
#: name: (mediator model, outcome model, interaction, mediator coefficients (1, T, X),
#:        outcome coefficients (1, T, M, X, T:M))
FORMS = {
    "linear-linear": ("linear", "linear", False, (0.5, 0.4, 0.3), (0.2, 0.2, 0.5, 0.3, 0.0)),
    "linear-linear interaction": ("linear", "linear", True, (0.5, 0.4, 0.3), (0.2, 0.2, 0.5, 0.3, 0.3)),
    "linear-probit (remission)": ("linear", "probit", False, (0.5, 0.4, 0.3), (-0.3, 0.2, 0.5, 0.3, 0.0)),
    "linear-logit (remission)": ("linear", "logit", False, (0.5, 0.4, 0.3), (-0.5, 0.35, 0.8, 0.5, 0.0)),
    "probit-linear": ("probit", "linear", False, (-0.2, 0.6, 0.3), (0.2, 0.2, 0.5, 0.3, 0.0)),
}
#: analysis.simulate.trial arguments of the trial forms (n_per_arm from --n).
TRIAL = {"arms": ("control", "cbt"), "se_slope_effect": {"cbt": 0.35}, "symptom_slope_effect": {"cbt": -0.45},
         "source_trends": {}, "source_effects": {}, "waves": 2, "weeks_per_wave": 10.0, "se_intercept_sd": 3.0,
         "innovation_sd_se": 0.0, "lag_sym_to_se": 0.0, "measurement_error_sd": {"gse": 0.0, "phq9": 2.0, "gad7": 1.5},
         "item_missing_rate": 0.0, "dropout_rate": 0.0, "remission_threshold": 5.0, "remission_sd": 2.0}
#: name: outcome model of remission (the mediator model is linear, without interaction)
TRIAL_FORMS = {"trial linear-probit (remission)": "probit", "trial linear-logit (remission)": "logit"}
NOISE = {"linear": lambda rng, n: rng.normal(size=n), "probit": lambda rng, n: rng.normal(size=n),
         "logit": lambda rng, n: rng.logistic(size=n)}


def _mediator(form, t, x, noise):
    family, (c0, c1, c2) = FORMS[form][0], FORMS[form][3]
    latent = c0 + c1 * t + c2 * x + noise
    return latent if family == "linear" else (latent > 0).astype(float)


def _outcome(form, t, m, x, noise):
    family, (d0, d1, d2, d3, d4) = FORMS[form][1], FORMS[form][4]
    latent = d0 + d1 * t + d2 * m + d3 * x + d4 * t * m + noise
    return latent if family == "linear" else (latent > 0).astype(float)


def form_data(form: str, n: int, rng: np.random.Generator) -> pd.DataFrame:
    """One trial of ``n`` people from the form's generating equations."""
    t = rng.integers(0, 2, n).astype(float)
    x = rng.normal(size=n)
    m = _mediator(form, t, x, NOISE[FORMS[form][0]](rng, n))
    return pd.DataFrame({"treat": t.astype(int), "x": x, "m": m,
                         "y": _outcome(form, t, m, x, NOISE[FORMS[form][1]](rng, n))})


def trial_data(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """One simulated trial of ``n`` people, one row each: treat, se_change, remission, phq9_baseline."""
    data, _ = simulate.trial(n_per_arm=n // 2, **TRIAL, seed=int(rng.integers(2 ** 31)))
    gse = data.pivot(index="participant_id", columns="wave", values="gse_total")
    baseline = data[data["wave"] == 0].set_index("participant_id")
    return pd.DataFrame({"treat": (baseline["arm"] == "cbt").astype(int), "se_change": gse[1] - gse[0],
                         "remission": baseline["remission"], "phq9_baseline": baseline["phq9_total"]})


def trial_truth() -> tuple[float, float]:
    """The simulator's ACME(treated) of CBT on remission through the SE slope (exact: Monte Carlo SE 0)."""
    _, truth = simulate.trial(n_per_arm=2, **TRIAL)
    return truth["remission_effects"]["cbt"]["acme_treated"], 0.0


def truth(form: str, seed: int) -> tuple[float, float]:
    """Population ACME(treated) = E[Y(1, M(1)) - Y(1, M(0))] by simulation, and its Monte Carlo SE."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=TRUTH_DRAWS)
    noise_m = NOISE[FORMS[form][0]](rng, TRUTH_DRAWS)
    m1, m0 = (_mediator(form, t, x, noise_m) for t in (1.0, 0.0))
    noise_y = NOISE[FORMS[form][1]](rng, TRUTH_DRAWS)
    ones = np.ones(TRUTH_DRAWS)
    diff = _outcome(form, ones, m1, x, noise_y) - _outcome(form, ones, m0, x, noise_y)
    return float(diff.mean()), float(diff.std() / np.sqrt(TRUTH_DRAWS))


def replicate(seed: np.random.SeedSequence, form: str, n: int, n_boot: int, effect: float) -> dict:
    rng = np.random.default_rng(seed)
    if form in TRIAL_FORMS:
        fit = mediation.mediate(trial_data(n, rng), "treat", "se_change", "remission", ["phq9_baseline"],
                                n_boot=n_boot, seed=int(rng.integers(2 ** 31)), ci="percentile",
                                outcome_model=TRIAL_FORMS[form])
    else:
        mediator_model, outcome_model, interaction = FORMS[form][:3]
        fit = mediation.mediate(form_data(form, n, rng), "treat", "m", "y", ["x"], n_boot=n_boot,
                                seed=int(rng.integers(2 ** 31)), ci="percentile", mediator_model=mediator_model,
                                outcome_model=outcome_model, interaction=interaction)
    row = fit.table.loc["ACME (treated)" if "ACME (treated)" in fit.table.index else "ACME"]
    return {"covered": bool(row["ci_low"] < effect < row["ci_high"]), "estimate": float(row["estimate"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--forms", nargs="+", choices=[*FORMS, *TRIAL_FORMS], default=[*FORMS, *TRIAL_FORMS],
                        help="model forms to run (default: all)")
    args = parser.parse_args()
    out = {"replicates": args.replicates, "n": args.n, "n_boot": args.n_boot, "forms": {}}
    start = time.time()
    for k, form in enumerate([*FORMS, *TRIAL_FORMS]):
        if form not in args.forms:
            continue
        effect, effect_se = trial_truth() if form in TRIAL_FORMS else truth(form, SEED + 1000 + k)
        seeds = np.random.SeedSequence(SEED + k).spawn(args.replicates)
        with ProcessPoolExecutor(args.jobs) as pool:
            rows = list(pool.map(partial(replicate, form=form, n=args.n, n_boot=args.n_boot, effect=effect), seeds))
        covered = np.mean([r["covered"] for r in rows])
        estimates = np.array([r["estimate"] for r in rows])
        out["forms"][form] = {"true_acme": effect, "true_acme_mc_se": effect_se, "coverage": float(covered),
                              "mc_se": float(np.sqrt(covered * (1 - covered) / len(rows))),
                              "mean_estimate": float(estimates.mean()), "sd_estimate": float(estimates.std(ddof=1))}
        print(f"{form:32s} true ACME {effect:.4f} (MC SE {effect_se:.1e}); coverage {covered:.3f} "
              f"(MC SE {out['forms'][form]['mc_se']:.3f}); mean estimate {estimates.mean():.4f}", flush=True)
    out["seconds"] = round(time.time() - start, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "coverage_mediation.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
