"""Speed, memory and parity of the growth model ``y ~ time * arm + (time | id)`` (REML).

Run with ``make bench`` (or ``python benchmarks/bench_mixed.py [participants ...]``). At 1,000,
12,000 and 100,000 participants x 6 waves it times :func:`analysis.mixed.fit_lmm` (fast engine,
everything lmerTest's summary reports: Satterthwaite df, conditional modes and SDs), statsmodels'
``MixedLM.fit`` (skipped above ``STATSMODELS_MAX`` participants, where it takes over a minute here)
and lme4's ``lmer`` through ``Rscript`` (``system.time`` around ``lmer`` alone, and the wall time
of the whole Rscript run including R's start and reading the CSV; skipped, with the reason
printed, when Rscript or lme4 is absent). Ours and lme4's are the best of 3 runs (1 at 100,000),
wall and CPU time; the issue's target is lme4 at least ``TARGET`` times slower than ours at
12,000 participants, judged on both (on a machine shared with other work R's wall time, waiting
for a core, inflates the wall ratio; the CPU ratio is then the honest one). Peak memory: Python's traced allocations (tracemalloc) and R's ``gc()``
maximum above what was in use before the fit. Parity of fixed effects, SEs, variance components
and log-likelihood (see :func:`run.differences`) against lme4 and statsmodels at every size;
against lme4 also refitted with its optimizer run to tight tolerances (its defaults stop early
where the likelihood is flat, e.g. variances 1.5e-4 apart at 1,000 participants with a logLik
1e-6 below ours). Results go to ``benchmarks/results/mixed.json``; ratios are printed against
our engine.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from run import (
    RESULTS,
    differences,
    lme4_name,
    lmm_estimates,
    machine,
    measure,
    r_missing,
    run_r,
)

from analysis import mixed

SIZES = (1_000, 12_000, 100_000)
WAVES = 6
STATSMODELS_MAX = 12_000
TARGET = {12_000: 2.0}  # participants: lme4's time over ours, at least
FORMULA = "y ~ time * arm"
R_BODY = """
d$arm <- factor(d$arm, levels = c("control", "treated"))
fit <- timed(function() lmer(y ~ time * arm + (time | id), d, REML = TRUE), as.integer(args[3]))
# the same model with the optimizer run to tight tolerances: lme4's defaults stop early on flat surfaces
tight <- suppressWarnings(update(fit$fit, control = lmerControl(optCtrl = list(
  xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-14))))
write_result(c(fit$timing, estimates(fit$fit), list(tight = estimates(tight))))
"""


def growth_data(participants: int, waves: int = WAVES, seed: int = 1) -> pd.DataFrame:
    """Two-arm growth data: correlated random intercepts and slopes, 10% of waves missing at random."""
    rng = np.random.default_rng(seed)
    treated = rng.integers(0, 2, participants)
    person = rng.multivariate_normal([0.0, 0.0], [[16.0, -0.5], [-0.5, 0.25]], participants)
    rows = np.repeat(np.arange(participants), waves)
    time_ = np.tile(np.arange(waves, dtype=float), participants)
    y = (14 + person[rows, 0] + (-0.2 - 0.4 * treated[rows] + person[rows, 1]) * time_
         + rng.normal(0.0, 2.0, rows.size))
    data = pd.DataFrame({"id": rows, "time": time_,
                         "arm": np.where(treated[rows] == 1, "treated", "control"), "y": y})
    return data[rng.random(rows.size) > 0.1].reset_index(drop=True)


def ours(data: pd.DataFrame) -> mixed.LmmResult:
    return mixed.fit_lmm(data, FORMULA, "id", "~time")


def statsmodels_fit(data: pd.DataFrame) -> dict:
    """statsmodels' REML fit in the layout of :func:`run.lmm_estimates` (lme4's names)."""
    fit = smf.mixedlm(FORMULA, data, groups=data["id"], re_formula="~time").fit(reml=True)
    cov = np.asarray(fit.cov_re)
    return {"fixed": {lme4_name(k): float(v) for k, v in fit.fe_params.items()},
            "se": {lme4_name(k): float(fit.bse[k]) for k in fit.fe_params.index},
            "variance": {"id (Intercept)": float(cov[0, 0]), "id time": float(cov[1, 1]),
                         "id (Intercept) time": float(cov[0, 1]), "Residual": float(fit.scale)},
            "loglik": float(fit.llf)}


def bench_size(participants: int, folder: Path) -> dict:
    data = growth_data(participants)
    row = {"participants": participants, "rows": len(data)}
    fit = ours(data)
    estimates = lmm_estimates(fit)
    repeat = 3 if participants < 100_000 else 1
    timing = measure(lambda: ours(data), repeat=repeat)
    row |= {"ours_s": timing.s, "ours_cpu_s": timing.cpu_s, "ours_peak_mib": timing.peak_mib,
            "converged": fit.converged}
    if participants <= STATSMODELS_MAX:
        start = time.perf_counter()
        sm = statsmodels_fit(data)
        row["statsmodels_s"] = time.perf_counter() - start
        row["statsmodels_vs_ours"] = row["statsmodels_s"] / row["ours_s"]
        row["parity_statsmodels"] = differences(estimates, sm)
    else:
        row["statsmodels_s"] = None
        row["statsmodels_note"] = f"skipped: over {STATSMODELS_MAX} participants it takes > 60 s here"
    reason = r_missing()
    if reason:
        row["lme4_note"] = f"skipped: {reason}"
        return row
    lme4 = run_r(R_BODY, data, folder, str(repeat))
    row |= {"lme4_s": lme4["s"], "lme4_cpu_s": lme4["cpu_s"], "lme4_wall_s": lme4["wall_s"],
            "lme4_peak_mib": lme4["peak_mib"], "lme4_vs_ours": lme4["s"] / timing.s,
            "lme4_vs_ours_cpu": lme4["cpu_s"] / timing.cpu_s,
            "parity_lme4": differences(estimates, lme4),
            "parity_lme4_tight": differences(estimates, lme4["tight"]),
            "loglik_ours_minus_lme4": estimates["loglik"] - lme4["loglik"]}
    if participants in TARGET:
        row["target_lme4_vs_ours"] = TARGET[participants]
        row["target_met"] = row["lme4_vs_ours"] >= TARGET[participants]
        row["target_met_cpu"] = row["lme4_vs_ours_cpu"] >= TARGET[participants]
    return row


def report(row: dict) -> str:
    text = (f"{row['participants']:>7} participants ({row['rows']} rows): ours {row['ours_s']:.2f} s "
            f"(CPU {row['ours_cpu_s']:.2f} s), peak {row['ours_peak_mib']:.0f} MiB")
    if row.get("statsmodels_s"):
        text += f"; statsmodels {row['statsmodels_s']:.1f} s = {row['statsmodels_vs_ours']:.1f}x ours"
    else:
        text += "; statsmodels skipped"
    if "lme4_note" in row:
        return f"{text}; lme4 {row['lme4_note']}"
    text += (f"\n    lme4 {row['lme4_s']:.2f} s (CPU {row['lme4_cpu_s']:.2f} s; Rscript wall {row['lme4_wall_s']:.1f} s), "
             f"peak {row['lme4_peak_mib']:.0f} MiB: ratio lme4/ours {row['lme4_vs_ours']:.2f} "
             f"(CPU {row['lme4_vs_ours_cpu']:.2f})")
    if "target_met" in row:
        verdicts = ["met" if row[key] else "NOT met" for key in ("target_met", "target_met_cpu")]
        text += f"; target >= {row['target_lme4_vs_ours']:g}: wall {verdicts[0]}, CPU {verdicts[1]}"
    return (f"{text}\n    parity vs lme4 {row['parity_lme4']}\n    vs lme4 at tight tolerances "
            f"{row['parity_lme4_tight']}; our logLik - lme4's: {row['loglik_ours_minus_lme4']:.2g}"
            + (f"\n    vs statsmodels {row['parity_statsmodels']}" if "parity_statsmodels" in row else ""))


def main(sizes=SIZES) -> None:
    RESULTS.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for participants in sizes:
            runs.append(bench_size(participants, Path(tmp)))
            print(report(runs[-1]), flush=True)
    (RESULTS / "mixed.json").write_text(json.dumps({"machine": machine(), "waves": WAVES,
                                                    "formula": f"{FORMULA} + (time | id)",
                                                    "runs": runs}, indent=2))


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
