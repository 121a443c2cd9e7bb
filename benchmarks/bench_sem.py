"""Speed and parity of :func:`analysis.sem.invariance` against lavaan, timed in the same run.

Run ``.venv/bin/python benchmarks/bench_sem.py [participants]`` (default 2,000). A simulated
three-arm trial (``analysis.simulate.trial``, 3 waves, the simulator's dropout and item
missingness) gives the GSE-10 items at waves 0-2 in wide format (30 variables); the longitudinal
invariance sequence configural, metric, scalar, strict (one factor per wave, same-item residuals
correlated across waves, equality by labels; :func:`analysis.sem.longitudinal_syntax`) is fitted by
FIML, as lavaan's ``cfa(..., missing = "ml", meanstructure = TRUE)`` fits the same four syntaxes.
Printed: wall and CPU seconds of each side for the whole sequence (one run each: a sequence takes
minutes) and their ratio,
and the parity of chi-square, df, CFI, RMSEA and SRMR. Results go to ``benchmarks/results/sem.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from run import RESULTS, machine, r_missing, run_r

from analysis import sem, simulate

ITEMS = [f"gse_{k}" for k in range(1, 11)]
WAVES = [0, 1, 2]
TEMPLATE = "SE =~ " + " + ".join(f"{item}_w{{wave}}" for item in ITEMS)
R_BODY = """
suppressPackageStartupMessages(library(lavaan))
syntax <- fromJSON(args[3])
fits <- NULL
run <- timed(function() {
  fits <<- lapply(syntax, function(s) cfa(s, data = d, missing = "ml", meanstructure = TRUE))
  fits
}, 1)
measures <- lapply(fits, function(f) as.list(fitMeasures(f, c("chisq", "df", "cfi", "rmsea", "srmr"))))
write_result(list(timing = run$timing, fit = measures))
"""


def wide_items(participants: int):
    """GSE items of waves 0-2, one row per participant (NaN where missing or dropped out)."""
    long, _ = simulate.trial(n_per_arm=participants // 3, waves=len(WAVES), seed=20240611)
    wide = long.pivot(index="participant_id", columns="wave", values=ITEMS)
    wide.columns = [f"{item}_w{wave}" for item, wave in wide.columns]
    return wide.reset_index(drop=True)


def fit(data):
    return sem.invariance(TEMPLATE, data, waves=WAVES)


def main(participants: int) -> dict:
    data = wide_items(participants)
    start, start_cpu = time.perf_counter(), time.process_time()
    table = fit(data)
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    out = {"machine": machine(), "participants": len(data), "variables": data.shape[1],
           "missing_share": float(data.isna().mean().mean()), "python": {"s": wall, "cpu_s": cpu},
           "fit": table[["chisq", "df", "cfi", "rmsea", "srmr"]].to_dict(orient="index")}
    why = r_missing(("lavaan", "jsonlite"))
    if why:
        out["lavaan"] = {"skipped": why}
        return out
    syntax = {level: sem.longitudinal_syntax(TEMPLATE, WAVES, level) for level in table.index}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "syntax.json"
        path.write_text(json.dumps(syntax))
        theirs = run_r(R_BODY, data, Path(folder), str(path))
    out["lavaan"] = {**theirs["timing"], "wall_s": theirs["wall_s"]}
    out["ratio"] = {"s": theirs["timing"]["s"] / wall, "cpu_s": theirs["timing"]["cpu_s"] / cpu}
    out["parity"] = {
        "chisq_rel": max(abs(table.loc[lv, "chisq"] / theirs["fit"][lv]["chisq"] - 1) for lv in table.index),
        "df_equal": all(table.loc[lv, "df"] == theirs["fit"][lv]["df"] for lv in table.index),
        **{c: max(abs(table.loc[lv, c] - theirs["fit"][lv][c]) for lv in table.index)
           for c in ("cfi", "rmsea", "srmr")}}
    return out


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sem.json").write_text(json.dumps(result, indent=2) + "\n")
    py = result["python"]
    print(f"SEM longitudinal invariance (4 levels, FIML), GSE-10 x {len(WAVES)} waves, "
          f"{result['participants']} participants, {result['missing_share']:.1%} missing")
    print(f"  ours    {py['s']:.2f} s wall, {py['cpu_s']:.2f} s CPU")
    if "ratio" in result:
        r = result["lavaan"]
        print(f"  lavaan  {r['s']:.2f} s wall, {r['cpu_s']:.2f} s CPU = {result['ratio']['s']:.2f}x / "
              f"{result['ratio']['cpu_s']:.2f}x ours (wall / CPU)")
        p = result["parity"]
        print(f"  parity: chi-square {p['chisq_rel']:.1e} relative, df equal {p['df_equal']}, CFI {p['cfi']:.1e}, "
              f"RMSEA {p['rmsea']:.1e}, SRMR {p['srmr']:.1e}")
    else:
        print(f"  lavaan skipped: {result['lavaan']['skipped']}")
