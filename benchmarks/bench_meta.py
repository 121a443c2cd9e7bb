"""Speed and parity of :func:`analysis.meta.rma_mv` against metafor's ``rma.mv``, timed in the same run.

Run ``.venv/bin/python benchmarks/bench_meta.py [studies]`` (default 2,000 studies x 5 effects).
A simulated three-level meta-analysis (study variance 0.04, effect variance 0.0225, sampling
variances uniform on [0.01, 0.2]) is fitted with ``random = ~ 1 | study/es_id`` by REML, with
independent sampling errors (a variance vector). metafor fits the same model with
``rma.mv(yi, vi, random = ~ 1 | study/es_id, sparse = TRUE)`` (``system.time`` around ``rma.mv``
alone, once: it takes minutes). Printed: both times, their ratio, peak memory of ours, and the
largest relative differences of beta, its SE and sigma2. Without R or metafor the R side is
skipped with the reason. Results go to ``benchmarks/results/meta.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from run import RESULTS, machine, measure, r_missing, run_r

from analysis import meta

PER_STUDY = 5
R_BODY = """
suppressPackageStartupMessages(library(metafor))
t <- system.time(fit <- rma.mv(yi, vi, random = ~ 1 | study/es_id, data = d, sparse = TRUE))
write_result(list(s = t[["elapsed"]], cpu_s = t[["user.self"]] + t[["sys.self"]], beta = as.numeric(fit$beta),
                  se = fit$se, sigma2 = fit$sigma2, loglik = as.numeric(logLik(fit))))
"""


def studies_table(studies: int) -> pd.DataFrame:
    """A simulated three-level meta-analysis with ``PER_STUDY`` effects per study (seed 7)."""
    rng = np.random.default_rng(7)
    study = np.repeat(np.arange(studies), PER_STUDY)
    vi = rng.uniform(0.01, 0.2, study.size)
    yi = 0.3 + rng.normal(0, 0.2, studies)[study] + rng.normal(0, 0.15, study.size) + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"study": study, "es_id": np.tile(np.arange(PER_STUDY), studies), "yi": yi, "vi": vi})


def main(studies: int) -> dict:
    data = studies_table(studies)
    fit = meta.rma_mv("yi", "vi", data=data, random="~ 1 | study/es_id")
    timing = measure(lambda: meta.rma_mv("yi", "vi", data=data, random="~ 1 | study/es_id"))
    out = {"machine": machine(), "studies": studies, "effects": len(data),
           "python": {"s": timing.s, "cpu_s": timing.cpu_s, "peak_mib": timing.peak_mib}}
    why = r_missing(("metafor", "lme4", "jsonlite"))
    if why:
        out["metafor"] = {"skipped": why}
        return out
    with tempfile.TemporaryDirectory() as folder:
        theirs = run_r(R_BODY, data, Path(folder))
    out["metafor"] = theirs
    out["ratio"] = {"s": theirs["s"] / timing.s, "cpu_s": theirs["cpu_s"] / timing.cpu_s}
    out["parity"] = {"beta": abs(fit.beta.iloc[0] / theirs["beta"] - 1), "se": abs(fit.se.iloc[0] / theirs["se"] - 1),
                     "sigma2": float(np.max(np.abs(fit.sigma2.to_numpy() / np.asarray(theirs["sigma2"]) - 1))),
                     "loglik": fit.loglik - theirs["loglik"]}
    return out


if __name__ == "__main__":
    result = main(int(sys.argv[1]) if len(sys.argv) > 1 else 2_000)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "meta.json").write_text(json.dumps(result, indent=2) + "\n")
    py = result["python"]
    print(f"rma_mv, {result['studies']} studies x {PER_STUDY} effects, ~ 1 | study/es_id, REML")
    print(f"  ours     {py['s']:.2f} s wall, {py['cpu_s']:.2f} s CPU, peak {py['peak_mib']:.0f} MiB")
    if "ratio" in result:
        r = result["metafor"]
        print(f"  metafor  {r['s']:.1f} s wall, {r['cpu_s']:.1f} s CPU = {result['ratio']['s']:.0f}x / "
              f"{result['ratio']['cpu_s']:.0f}x ours (wall / CPU)")
        p = result["parity"]
        print(f"  parity: beta {p['beta']:.1e}, se {p['se']:.1e}, sigma2 {p['sigma2']:.1e} relative; "
              f"logLik ours - metafor {p['loglik']:+.1e}")
    else:
        print(f"  metafor skipped: {result['metafor']['skipped']}")
