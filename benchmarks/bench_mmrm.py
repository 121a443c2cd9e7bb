"""Speed and parity of :func:`analysis.mixed.mmrm` against R's mmrm, timed in the same run.

Run ``.venv/bin/python benchmarks/bench_mmrm.py [participants]`` (default 1,000). A simulated
two-arm trial (``analysis.simulate.trial``, 6 waves, 5% dropout per wave) is analysed as a trial's
primary analysis: ``phq9_total ~ phq9_total_baseline + C(wave) * arm`` on the visits after
baseline, unstructured covariance, REML, Kenward-Roger df (mmrm's default ``method``). Printed:
best wall and CPU seconds and peak memory of each side and their ratio (mmrm's ``system.time``
around ``mmrm()`` alone, best of 3), and the largest differences of the fixed effects (relative to
max(|estimate|, SE)), their df and the logLik. R's mmrm is not on Debian: it is looked for on
``.libPaths()`` and in ``$R_MMRM_LIB`` (default ``/tmp/Rlib``, where
``tests/reference/mmrm_reference.R``'s header installs it); without it the R side is skipped with
the reason. Results go to ``benchmarks/results/mmrm.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

from run import RESULTS, machine, measure, r_missing, run_r

from analysis import mixed, simulate

WAVES = 6
FORMULA = "phq9_total ~ phq9_total_baseline + C(wave) * arm"
LIB = os.environ.get("R_MMRM_LIB", "/tmp/Rlib")
R_BODY = f"""
.libPaths(c("{LIB}", .libPaths()))
suppressPackageStartupMessages(library(mmrm))
d$arm <- factor(d$arm, levels = c("control", "cbt"))
d$wave <- factor(d$wave)
d$participant_id <- factor(d$participant_id)
run <- timed(function() mmrm(phq9_total ~ phq9_total_baseline + wave * arm + us(wave | participant_id),
                             data = d, method = "Kenward-Roger"), 3)
co <- summary(run$fit)$coefficients
write_result(list(timing = run$timing, fixed = as.list(co[, "Estimate"]), df = as.list(co[, "df"]),
                  loglik = as.numeric(logLik(run$fit))))
"""


def trial_rows(participants: int):
    """Post-baseline rows with the baseline score as a column (what :func:`mixed.primary` fits)."""
    data, _ = simulate.trial(n_per_arm=participants // 2, waves=WAVES, arms=("control", "cbt"),
                             se_slope_effect={"cbt": 0.3}, symptom_slope_effect={"cbt": -0.4}, source_trends={},
                             sessions_offered={"cbt": 2}, dropout_rate=0.05, seed=20240607)
    baseline = data[data["wave"] == 0].set_index("participant_id")["phq9_total"]
    rows = data[data["wave"] > 0].assign(phq9_total_baseline=lambda d: d["participant_id"].map(baseline))
    return rows.dropna(subset=["phq9_total", "phq9_total_baseline"])[
        ["participant_id", "wave", "arm", "phq9_total", "phq9_total_baseline"]]


def fit(rows):
    return mixed.mmrm(rows, FORMULA, "participant_id", "wave", cov="us", ddf="kenward-roger")


def r_name(term: str) -> str:
    """Our term in mmrm's spelling: ``C(wave)[T.3]:arm[T.cbt]`` -> ``wave3:armcbt``."""
    if term == "Intercept":
        return "(Intercept)"
    return term.replace("C(wave)[T.", "wave").replace("arm[T.", "arm").replace("]", "")


def main(participants: int) -> dict:
    rows = trial_rows(participants)
    ours = fit(rows)
    timing = measure(lambda: fit(rows))
    out = {"machine": machine(), "participants": participants, "rows": len(rows),
           "python": {"s": timing.s, "cpu_s": timing.cpu_s, "peak_mib": timing.peak_mib}}
    why = r_missing(("mmrm", "lme4", "jsonlite"), library=LIB,
                    hint=f"mmrm is not on Debian: build it as tests/reference/mmrm_reference.R says, into {LIB}")
    if why:
        out["mmrm"] = {"skipped": why}
        return out
    with tempfile.TemporaryDirectory() as folder:
        theirs = run_r(R_BODY, rows, Path(folder))
    scale = ours.fixed[["estimate", "se"]].abs().max(axis=1)
    out["mmrm"] = {**theirs["timing"], "wall_s": theirs["wall_s"]}
    out["ratio"] = {"s": theirs["timing"]["s"] / timing.s, "cpu_s": theirs["timing"]["cpu_s"] / timing.cpu_s}
    out["parity"] = {
        "fixed": max(abs(ours.fixed.loc[t, "estimate"] - theirs["fixed"][r_name(t)]) / scale[t] for t in scale.index),
        "df": max(abs(ours.fixed.loc[t, "df"] / theirs["df"][r_name(t)] - 1) for t in scale.index),
        "loglik": ours.loglik - theirs["loglik"]}
    return out


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mmrm.json").write_text(json.dumps(result, indent=2) + "\n")
    py = result["python"]
    print(f"MMRM (us, Kenward-Roger), {result['participants']} participants x {WAVES} waves ({result['rows']} rows)")
    print(f"  ours  {py['s']:.2f} s wall, {py['cpu_s']:.2f} s CPU, peak {py['peak_mib']:.0f} MiB")
    if "ratio" in result:
        r = result["mmrm"]
        print(f"  mmrm  {r['s']:.2f} s wall, {r['cpu_s']:.2f} s CPU = {result['ratio']['s']:.2f}x / "
              f"{result['ratio']['cpu_s']:.2f}x ours (wall / CPU)")
        p = result["parity"]
        print(f"  parity: fixed {p['fixed']:.1e} of max(|est|, SE), df {p['df']:.1e} relative, "
              f"logLik ours - mmrm {p['loglik']:+.1e}")
    else:
        print(f"  mmrm skipped: {result['mmrm']['skipped']}")
