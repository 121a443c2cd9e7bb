"""Speed, memory and parity of the growth model ``y ~ time * arm + (time | id)`` (REML).

Run with ``make bench`` (or ``python benchmarks/bench_mixed.py [participants ...]``). At 1,000,
10,000 and 100,000 participants x 6 waves it times :func:`analysis.mixed.fit_lmm` (fast engine,
everything lmerTest's summary reports: Satterthwaite df, conditional modes and SDs), statsmodels'
``MixedLM.fit`` (skipped above ``STATSMODELS_MAX`` participants, where it takes over a minute here)
and lme4's ``lmer`` through ``Rscript`` (``system.time`` around ``lmer`` alone, and the wall time
including R's start and reading the CSV; skipped when Rscript or lme4 is absent). Peak memory:
Python's traced allocations (tracemalloc) and R's ``gc()`` maximum. Parity of fixed effects,
variance components and log-likelihood against lme4 and statsmodels at every size; against lme4
also refitted with its optimizer run to tight tolerances (its defaults stop early where the
likelihood is flat, e.g. variances 1.5e-4 apart at 1,000 participants with a logLik 1e-6 below
ours). Results go to
``benchmarks/results/mixed.json``; ratios are printed against our engine.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf

from analysis import mixed
from run import RESULTS, measure

SIZES = (1_000, 10_000, 100_000)
WAVES = 6
STATSMODELS_MAX = 10_000
FORMULA = "y ~ time * arm"
#: Our (patsy) order of the fixed effects, in lme4's names.
LME4_TERMS = ["(Intercept)", "armtreated", "time", "time:armtreated"]
R_SCRIPT = """
suppressPackageStartupMessages(library(lme4))
suppressPackageStartupMessages(library(jsonlite))
args <- commandArgs(TRUE)
d <- read.csv(args[1])
d$arm <- factor(d$arm, levels = c("control", "treated"))
invisible(gc(reset = TRUE))
elapsed <- system.time(fit <- lmer(y ~ time * arm + (time | id), d, REML = TRUE))[["elapsed"]]
mem <- sum(gc()[, 6])
# the same model with the optimizer run to tight tolerances: lme4's defaults stop early on flat surfaces
tight <- suppressWarnings(update(fit, control = lmerControl(optCtrl = list(
  xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-14))))
estimates <- function(f) list(fixed = as.list(fixef(f)), re_var = unname(diag(VarCorr(f)[[1]])),
                              sigma2 = sigma(f)^2, loglik = as.numeric(logLik(f)))
writeLines(toJSON(c(list(fit_s = elapsed, peak_mib = mem), estimates(fit), list(tight = estimates(tight))),
                  digits = NA, auto_unbox = TRUE), args[2])
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


def ours(data: pd.DataFrame) -> dict:
    fit = mixed.fit_lmm(data, FORMULA, "id", "~time")
    return {"fixed": fit.fixed["estimate"].tolist(), "re_var": np.diag(fit.re_cov).tolist(),
            "sigma2": fit.sigma2, "loglik": fit.loglik, "converged": fit.converged}


def statsmodels_fit(data: pd.DataFrame) -> dict:
    fit = smf.mixedlm(FORMULA, data, groups=data["id"], re_formula="~time").fit(reml=True)
    return {"fixed": fit.fe_params.tolist(), "re_var": np.diag(fit.cov_re).tolist(),
            "sigma2": float(fit.scale), "loglik": float(fit.llf)}


def lme4_fit(data: pd.DataFrame, folder: Path) -> dict | None:
    """lme4's fit via Rscript, or None when Rscript or lme4 is missing."""
    rscript = shutil.which("Rscript")
    if rscript is None or subprocess.run([rscript, "-e", "library(lme4)"],
                                         capture_output=True).returncode != 0:
        return None
    csv, script, out = folder / "growth.csv", folder / "fit.R", folder / "lme4.json"
    data.to_csv(csv, index=False)
    script.write_text(R_SCRIPT)
    start = time.perf_counter()
    subprocess.run([rscript, str(script), str(csv), str(out)], check=True, capture_output=True)
    result = json.loads(out.read_text())
    for fit in (result, result["tight"]):
        fit["fixed"] = [fit["fixed"][term] for term in LME4_TERMS]
    result["wall_s"] = time.perf_counter() - start
    return result


def differences(a: dict, b: dict) -> dict:
    """Max relative differences of fixed effects and variances, absolute of logLik."""
    def rel(x, y):
        return float(np.max(np.abs(np.asarray(x) / np.asarray(y) - 1)))
    return {"fixed_rel": rel(a["fixed"], b["fixed"]),
            "variance_rel": rel(a["re_var"] + [a["sigma2"]], b["re_var"] + [b["sigma2"]]),
            "loglik_abs": abs(a["loglik"] - b["loglik"])}


def bench_size(participants: int, folder: Path) -> dict:
    data = growth_data(participants)
    row = {"participants": participants, "rows": len(data)}
    estimates = ours(data)
    row["ours_s"], row["ours_peak_mib"] = measure(lambda: ours(data),
                                                  repeat=3 if participants < 100_000 else 1)
    row["converged"] = estimates["converged"]
    if participants <= STATSMODELS_MAX:
        start = time.perf_counter()
        sm = statsmodels_fit(data)
        row["statsmodels_s"] = time.perf_counter() - start
        row["statsmodels_vs_ours"] = row["statsmodels_s"] / row["ours_s"]
        row["parity_statsmodels"] = differences(estimates, sm)
    else:
        row["statsmodels_s"] = None
        row["statsmodels_note"] = f"skipped: over {STATSMODELS_MAX} participants it takes > 60 s here"
    lme4 = lme4_fit(data, folder)
    if lme4 is None:
        row["lme4_note"] = "skipped: Rscript with lme4 not found"
    else:
        row.update(lme4_s=lme4["fit_s"], lme4_wall_s=lme4["wall_s"], lme4_peak_mib=lme4["peak_mib"],
                   lme4_vs_ours=lme4["fit_s"] / row["ours_s"],
                   parity_lme4=differences(estimates, lme4),
                   parity_lme4_tight=differences(estimates, lme4["tight"]),
                   loglik_ours_minus_lme4=estimates["loglik"] - lme4["loglik"])
    return row


def report(row: dict) -> str:
    text = (f"{row['participants']:>7} participants ({row['rows']} rows): ours {row['ours_s']:.2f} s, "
            f"peak {row['ours_peak_mib']:.0f} MiB")
    if row.get("statsmodels_s"):
        text += f"; statsmodels {row['statsmodels_s']:.1f} s = {row['statsmodels_vs_ours']:.1f}x ours"
    else:
        text += "; statsmodels skipped"
    if "lme4_s" in row:
        text += (f"; lme4 {row['lme4_s']:.2f} s (wall {row['lme4_wall_s']:.1f} s) = "
                 f"{row['lme4_vs_ours']:.2f}x ours; vs lme4: {row['parity_lme4']}; vs lme4 at tight "
                 f"tolerances: {row['parity_lme4_tight']}; our logLik - lme4's: {row['loglik_ours_minus_lme4']:.2g}")
    return text


def main(sizes=SIZES) -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    print(f"machine: {machine}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for participants in sizes:
            runs.append(bench_size(participants, Path(tmp)))
            print(report(runs[-1]), flush=True)
    (RESULTS / "mixed.json").write_text(json.dumps({"machine": machine, "waves": WAVES,
                                                    "formula": f"{FORMULA} + (time | id)",
                                                    "runs": runs}, indent=2))


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
