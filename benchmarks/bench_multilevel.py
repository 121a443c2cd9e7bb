"""Speed, memory and parity of the three-level growth model, therapists over patients over waves.

Run with ``make bench`` (or ``python benchmarks/bench_multilevel.py [therapists ...]``). The model is
``phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)`` (REML), fitted by
:func:`analysis.mixed.fit_lmm` on its sparse path, on a two-arm trial from
:func:`analysis.simulate.trial` with 8 patients per therapist, 6 waves and no dropout: 1,500
therapists (12,000 patients, 72,000 rows; the issue's size) and 20 therapists (160 patients, the
coverage study's size in ``coverage_mixed.py``, where fixed costs dominate).

Our time is everything ``fit_lmm`` returns: the optimum, lme4's gradient check, the Satterthwaite df
of the fixed effects (the Hessian of the deviance by numerical derivatives), the conditional modes
and their SDs. It is compared with two fits in the same run through ``Rscript``: lme4's ``lmer``
(its own gradient check, no df) and lmerTest's ``lmer`` followed by ``summary`` (what lmerTest adds
for the Satterthwaite df; the like-for-like comparison). Each is the best of ``REPEAT`` runs, wall
and CPU time; on a shared machine the CPU ratio is the steadier one. Peak memory: Python's traced
allocations (tracemalloc; SciPy's SuperLU works outside it) and R's ``gc()`` maximum (CHOLMOD works
outside it). Parity of fixed effects, SEs, variance components and logLik against lme4, of the df
against lmerTest, and against lme4 refitted with its optimizer run to tight tolerances. The R part
is skipped, with the reason printed, when Rscript, lme4 or lmerTest is absent. Results go to
``benchmarks/results/multilevel.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import pandas as pd
from run import RESULTS, differences, lmm_estimates, machine, measure, r_missing, run_r

from analysis import mixed, simulate

SIZES = (20, 1_500)  # therapists
PATIENTS_PER_THERAPIST = 8
REPEAT = 3
FORMULA = "phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)"
R_BODY = """
d$arm <- factor(d$arm, levels = c("control", "cbt"))
form <- as.formula(args[3])
reps <- as.integer(args[4])
lme4_fit <- timed(function() lme4::lmer(form, d, REML = TRUE), reps)
lmertest_fit <- timed(function() {
  fit <- lmerTest::lmer(form, d, REML = TRUE)
  summary(fit)
  fit
}, reps)
tight <- suppressWarnings(lme4::lmer(form, d, REML = TRUE, control = lmerControl(optCtrl = list(
  xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, ftol_rel = 1e-14))))
write_result(list(lme4 = c(lme4_fit$timing, estimates(lme4_fit$fit)),
                  lmerTest = c(lmertest_fit$timing, estimates(lmertest_fit$fit)),
                  tight = estimates(tight)))
"""


def three_level_data(therapists: int) -> pd.DataFrame:
    """Two arms, ``therapists / 2`` therapists per arm, 8 patients each, 6 waves, no dropout."""
    patients = therapists * PATIENTS_PER_THERAPIST
    data, _ = simulate.trial(n_per_arm=patients // 2, arms=("control", "cbt"), therapists_per_arm=therapists // 2,
                             se_slope_effect={"cbt": 0.35}, symptom_slope_effect={"cbt": -0.45},
                             source_trends={"cbt": {"mastery": 0.15}}, dropout_rate=0.0, seed=1)
    return data[["participant_id", "therapist", "time", "arm", "phq9_total"]]


def bench_size(therapists: int, folder: Path) -> dict:
    data = three_level_data(therapists)
    fit = mixed.fit_lmm(data, FORMULA)
    estimates = lmm_estimates(fit)
    timing = measure(lambda: mixed.fit_lmm(data, FORMULA), repeat=REPEAT)
    row = {"therapists": therapists, "participants": therapists * PATIENTS_PER_THERAPIST, "rows": len(data),
           "ours_s": timing.s, "ours_cpu_s": timing.cpu_s, "ours_peak_mib": timing.peak_mib,
           "converged": fit.converged, "singular": fit.singular, "warnings": fit.warnings}
    reason = r_missing()
    if reason:
        row["lme4_note"] = f"skipped: {reason}"
        return row
    r = run_r(R_BODY, data, folder, FORMULA, str(REPEAT))
    for name in ("lme4", "lmerTest"):
        row |= {f"{name}_s": r[name]["s"], f"{name}_cpu_s": r[name]["cpu_s"],
                f"{name}_peak_mib": r[name]["peak_mib"],
                f"{name}_vs_ours": r[name]["s"] / timing.s, f"{name}_vs_ours_cpu": r[name]["cpu_s"] / timing.cpu_s}
    row |= {"r_wall_s": r["wall_s"], "parity_lme4": differences(estimates, r["lme4"]),
            "parity_lmerTest": differences(estimates, r["lmerTest"]),
            "parity_lme4_tight": differences(estimates, r["tight"]),
            "loglik_ours_minus_lme4": estimates["loglik"] - r["lme4"]["loglik"]}
    return row


def report(row: dict) -> str:
    text = (f"{row['therapists']:>5} therapists x {PATIENTS_PER_THERAPIST} patients ({row['rows']} rows): "
            f"ours {row['ours_s']:.2f} s (CPU {row['ours_cpu_s']:.2f} s), peak {row['ours_peak_mib']:.1f} MiB")
    if "lme4_note" in row:
        return f"{text}; lme4 {row['lme4_note']}"
    for name in ("lme4", "lmerTest"):
        text += (f"\n    {name} {row[f'{name}_s']:.2f} s (CPU {row[f'{name}_cpu_s']:.2f} s), peak "
                 f"{row[f'{name}_peak_mib']:.0f} MiB: ratio {name}/ours {row[f'{name}_vs_ours']:.2f} "
                 f"(CPU {row[f'{name}_vs_ours_cpu']:.2f})")
    return (f"{text}\n    parity vs lme4 {row['parity_lme4']}\n    vs lmerTest {row['parity_lmerTest']}"
            f"\n    vs lme4 at tight tolerances {row['parity_lme4_tight']}")


def main(sizes=SIZES) -> None:
    RESULTS.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for therapists in sizes:
            runs.append(bench_size(therapists, Path(tmp)))
            print(report(runs[-1]), flush=True)
    (RESULTS / "multilevel.json").write_text(json.dumps(
        {"machine": machine(), "formula": FORMULA, "repeat": REPEAT, "runs": runs}, indent=2))


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
