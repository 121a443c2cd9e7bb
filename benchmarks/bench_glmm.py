"""Speed, memory and parity of binomial GLMMs: :func:`analysis.mixed.fit_glmm` against lme4's ``glmer``.

Run with ``make bench`` (or ``python benchmarks/bench_glmm.py [participants]``). The data: a two-arm
trial from :func:`analysis.simulate.trial`, 10,000 participants x 6 waves (with its default
dropout), and two models fitted by the Laplace approximation:

* ``remission``: ``remission ~ time * arm + (1 | participant_id)``, remission the 0/1 indicator of a
  PHQ-9 total below 5, every observed wave;
* ``sessions``: ``sessions_attended`` out of ``sessions_offered`` (lme4's
  ``cbind(attended, offered - attended)``) ``~ time + (1 | participant_id)``, the waves of the
  treated arm with sessions offered.

Each fit is the best of ``REPEAT`` runs, wall and CPU time (CPU is the steadier on a shared
machine), of ``fit_glmm`` (everything it returns: the two-stage optimum, lme4's checks, the
Hessian-based covariance of the fixed effects, conditional modes) and of ``glmer`` with lme4's
defaults through ``Rscript``, in the same run. Peak memory: Python's traced allocations
(tracemalloc) and R's ``gc()`` maximum. Parity of fixed effects, SEs, the random-intercept variance
and logLik against ``glmer`` with its defaults and with ``glmerControl(tolPwrss = 1e-12)`` (PIRLS
converged fully, as ``fit_glmm`` converges it; lme4's default tolerance leaves its optimum a
little off). The R part is skipped, with the reason printed, when Rscript or lme4 is absent.
Results go to ``benchmarks/results/glmm.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from run import (
    RESULTS,
    differences,
    lme4_name,
    machine,
    measure,
    r_missing,
    run_r,
    variance_keys,
)

from analysis import mixed, simulate

PARTICIPANTS = 10_000
REPEAT = 3
#: name: (our formula, fit_glmm's trials column, the glmer formula)
MODELS = {
    "remission": ("remission ~ time * arm + (1 | participant_id)", None,
                  "remission ~ time * arm + (1 | participant_id)"),
    "sessions": ("sessions_attended ~ time + (1 | participant_id)", "sessions_offered",
                 "cbind(sessions_attended, sessions_offered - sessions_attended) ~ time + (1 | participant_id)"),
}
R_BODY = """
d$arm <- factor(d$arm, levels = c("control", "cbt"))
reps <- as.integer(args[3])
out <- list()
for (i in seq(4, length(args), by = 2)) {
  form <- as.formula(args[i + 1])
  fit <- timed(function() glmer(form, d, family = binomial), reps)
  tight <- glmer(form, d, family = binomial, control = glmerControl(tolPwrss = 1e-12))
  out[[args[i]]] <- c(fit$timing, estimates(fit$fit), list(tight = estimates(tight)))
}
write_result(out)
"""


def glmm_data(participants: int = PARTICIPANTS) -> pd.DataFrame:
    """Two arms, 6 waves, default dropout; remission where the PHQ-9 total is observed."""
    data, _ = simulate.trial(n_per_arm=participants // 2, arms=("control", "cbt"),
                             se_slope_effect={"cbt": 0.35}, symptom_slope_effect={"cbt": -0.45},
                             source_trends={"cbt": {"mastery": 0.15}}, seed=1)
    data["remission"] = np.where(data["phq9_total"].isna(), np.nan, (data["phq9_total"] < 5).astype(float))
    return data[["participant_id", "time", "arm", "remission", "sessions_attended", "sessions_offered"]]


def glmm_estimates(fit: mixed.GlmmResult) -> dict:
    """A :class:`analysis.mixed.GlmmResult` in the layout of R's ``estimates``, in lme4's names."""
    fixed = fit.fixed.rename(index=lme4_name)
    variance = {}
    for group, rows in fit.varcorr.groupby("grp", sort=False):
        names = list(dict.fromkeys(rows["var1"]))
        cov = pd.DataFrame(0.0, index=names, columns=names)
        for row in rows.itertuples():
            cov.loc[row.var1, row.var2 if isinstance(row.var2, str) else row.var1] = row.vcov
        variance |= variance_keys(group, cov + cov.T - np.diag(np.diag(cov)))
    return {"fixed": fixed["estimate"].to_dict(), "se": fixed["se"].to_dict(), "variance": variance,
            "loglik": fit.loglik}


def bench_model(name: str, data: pd.DataFrame) -> dict:
    formula, trials, _ = MODELS[name]
    fit = mixed.fit_glmm(data, formula, family="binomial", trials=trials)
    timing = measure(lambda: mixed.fit_glmm(data, formula, family="binomial", trials=trials), repeat=REPEAT)
    return {"model": name, "formula": formula, "trials": trials, "rows": fit.nobs,
            "groups": fit.ngroups["participant_id"], "ours_s": timing.s, "ours_cpu_s": timing.cpu_s,
            "ours_peak_mib": timing.peak_mib, "converged": fit.converged, "warnings": fit.warnings,
            "estimates": glmm_estimates(fit)}


def with_lme4(row: dict, r: dict) -> dict:
    """``row`` with glmer's times, ratios against ours and the parity of the estimates."""
    ours = row.pop("estimates")
    return row | {"lme4_s": r["s"], "lme4_cpu_s": r["cpu_s"], "lme4_peak_mib": r["peak_mib"],
                  "lme4_vs_ours": r["s"] / row["ours_s"], "lme4_vs_ours_cpu": r["cpu_s"] / row["ours_cpu_s"],
                  "parity_lme4": differences(ours, r), "parity_lme4_tight": differences(ours, r["tight"]),
                  "loglik_ours_minus_lme4": ours["loglik"] - r["loglik"],
                  "loglik_ours_minus_lme4_tight": ours["loglik"] - r["tight"]["loglik"]}


def report(row: dict) -> str:
    text = (f"{row['model']} ({row['rows']} rows, {row['groups']} participants): ours {row['ours_s']:.2f} s "
            f"(CPU {row['ours_cpu_s']:.2f} s), peak {row['ours_peak_mib']:.0f} MiB")
    if "lme4_note" in row:
        return f"{text}; glmer {row['lme4_note']}"
    return (f"{text}\n    glmer {row['lme4_s']:.2f} s (CPU {row['lme4_cpu_s']:.2f} s), peak "
            f"{row['lme4_peak_mib']:.0f} MiB: ratio glmer/ours {row['lme4_vs_ours']:.2f} "
            f"(CPU {row['lme4_vs_ours_cpu']:.2f})\n    parity vs glmer {row['parity_lme4']}; our logLik - "
            f"glmer's {row['loglik_ours_minus_lme4']:.3g}\n    vs glmer(tolPwrss = 1e-12) "
            f"{row['parity_lme4_tight']}")


def main(participants: int = PARTICIPANTS) -> None:
    RESULTS.mkdir(exist_ok=True)
    print(f"machine: {machine()}")
    data = glmm_data(participants)
    runs = [bench_model(name, data) for name in MODELS]
    reason = r_missing()
    if reason:
        runs = [{k: v for k, v in row.items() if k != "estimates"} | {"lme4_note": f"skipped: {reason}"}
                for row in runs]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_r(R_BODY, data, Path(tmp), str(REPEAT),
                      *[part for name, (_, _, r_formula) in MODELS.items() for part in (name, r_formula)])
        runs = [with_lme4(row, r[row["model"]]) for row in runs]
    for row in runs:
        print(report(row), flush=True)
    (RESULTS / "glmm.json").write_text(json.dumps(
        {"machine": machine(), "participants": participants, "waves": 6, "repeat": REPEAT, "runs": runs},
        indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else PARTICIPANTS)
