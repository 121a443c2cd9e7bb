"""Speed of analysis.missing against mice, timed in the same run, on the bundled synthetic trial.

Run ``.venv/bin/python benchmarks/bench_missing.py [m]`` (default m = 50). Both sides impute the
wide layout of the bundled trial (450 participants, 3 arms, 6 waves: PHQ-9 and GSE totals at each
wave, age and sex) within each arm by chained equations (pmm and norm, maxit 5, mice's default
predictor matrix and visit sequence), m imputations, and pool the ANCOVA arm differences at the
last wave; the R side is ``mice()`` per arm then ``lm`` per completed table and ``pool.scalar``, as
in ``tests/reference/mice_impute.R``. Printed: best wall and CPU seconds of each side and their
ratio, and how far apart the pooled estimates are in units of their Monte Carlo SE,
``sqrt(b_mice / m + b_ours / m)``. Also timed (no R counterpart here): a tipping-point analysis
over 11 deltas and reference-based imputation (J2R) with the same m. Results go to
``benchmarks/results/missing.json``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from run import RESULTS, machine, measure, r_missing, run_r

from analysis import io, missing

DATA = "synthetic_trial"
OPTIONS = {"outcome": "phq9_total", "auxiliary": ["gse_total"], "covariates": ["age", "sex"]}
TERMS = {"armcbt": "cbt - control", "armmindfulness": "mindfulness - control"}

R_BODY = """
suppressPackageStartupMessages(library(mice))
m <- as.integer(args[3])
waves <- sort(unique(d$wave))
people <- unique(d[, c("participant_id", "arm", "age", "sex")])
wide <- people[order(people$participant_id), ]
for (w in waves) {
  at <- d[d$wave == w, c("participant_id", "phq9_total", "gse_total")]
  names(at) <- c("participant_id", paste0(c("phq9_total_", "gse_total_"), w))
  wide <- merge(wide, at, by = "participant_id", all.x = TRUE, sort = TRUE)
}
wide$sex <- factor(wide$sex, levels = c("female", "male"))
wide$arm <- factor(wide$arm, levels = c("control", "cbt", "mindfulness"))
vars <- c("age", "sex", as.vector(rbind(paste0("phq9_total_", waves), paste0("gse_total_", waves))))
last <- paste0("phq9_total_", max(waves))
first <- paste0("phq9_total_", min(waves))
analysis <- function(method) {
  imps <- lapply(levels(wide$arm), function(a) {
    rows <- wide[wide$arm == a, ]
    list(rows = rows, imp = mice(rows[, vars], m = m, maxit = 5, method = method, seed = 1, print = FALSE))
  })
  terms <- c("armcbt", "armmindfulness")
  est <- var <- matrix(NA, m, 2, dimnames = list(NULL, terms))
  for (i in seq_len(m)) {
    done <- do.call(rbind, lapply(imps, function(x) cbind(x$rows[, c("participant_id", "arm")],
                                                          complete(x$imp, i))))
    fit <- lm(reformulate(c("arm", first, "age", "sex"), last), data = done)
    est[i, ] <- coef(fit)[terms]
    var[i, ] <- diag(vcov(fit))[terms]
  }
  lapply(setNames(terms, terms), function(term) {
    p <- pool.scalar(est[, term], var[, term], n = nobs(fit), k = length(coef(fit)))
    list(qbar = p$qbar, b = p$b, t = p$t)
  })
}
out <- list()
for (method in c("pmm", "norm")) {
  run <- timed(function() analysis(method), 1)
  out[[method]] <- list(pooled = run$fit, timing = run$timing)
}
write_result(out)
"""


def ours(trial, m: int, method: str):
    """impute + the pooled ANCOVA (on the wide arrays, as tipping_point at delta 0 computes it)."""
    return missing.tipping_point(trial, [0.0], m=m, seed=1, method=method, **OPTIONS).table.set_index("term")


def main(m: int) -> dict:
    trial = io.load_trial(DATA)
    out = {"machine": machine(), "m": m, "data": DATA, "python": {}, "mice": {}, "ratio": {}, "mc_units": {}}
    for method in ("pmm", "norm"):
        timing = measure(lambda method=method: ours(trial, m, method), repeat=2)
        out["python"][method] = {"s": timing.s, "cpu_s": timing.cpu_s,
                                 "pooled": ours(trial, m, method)[["estimate", "b", "t"]].to_dict("index")}
    out["python"]["tipping_point_11_deltas_s"] = measure(lambda: missing.tipping_point(
        trial, np.linspace(0, 5, 11), m=m, seed=1, **OPTIONS), repeat=1).s
    out["python"]["reference_based_J2R_s"] = measure(lambda: missing.reference_based(
        trial, "J2R", m=m, seed=1, outcome="phq9_total", covariates=["age", "sex"]), repeat=1).s
    why = r_missing(("lme4", "lmerTest", "mice", "jsonlite"))
    if why:
        out["mice"] = {"skipped": why}
    else:
        with tempfile.TemporaryDirectory() as folder:
            result = run_r(R_BODY, trial, Path(folder), str(m))
        for method in ("pmm", "norm"):
            theirs = result[method]
            out["mice"][method] = {"s": theirs["timing"]["s"], "cpu_s": theirs["timing"]["cpu_s"],
                                   "pooled": theirs["pooled"]}
            out["ratio"][method] = theirs["timing"]["s"] / out["python"][method]["s"]
            out["mc_units"][method] = {
                term: (out["python"][method]["pooled"][label]["estimate"] - theirs["pooled"][term]["qbar"])
                / np.sqrt((theirs["pooled"][term]["b"] + out["python"][method]["pooled"][label]["b"]) / m)
                for term, label in TERMS.items()}
    _print(out)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "missing.json").write_text(json.dumps(out, indent=2) + "\n")
    return out


def _print(out: dict) -> None:
    print(f"{out['machine']}; m = {out['m']}, {out['data']}")
    for method in ("pmm", "norm"):
        line = f"impute({method}) + pool: {out['python'][method]['s']:.2f} s"
        if method in out["ratio"]:
            line += (f"; mice {out['mice'][method]['s']:.2f} s; mice / ours {out['ratio'][method]:.1f}x; "
                     "pooled estimates apart by "
                     + ", ".join(f"{v:+.2f} MC SE ({k})" for k, v in out["mc_units"][method].items()))
        print(line)
    print(f"tipping_point, 11 deltas: {out['python']['tipping_point_11_deltas_s']:.2f} s; "
          f"reference_based J2R: {out['python']['reference_based_J2R_s']:.2f} s")
    if "skipped" in out["mice"]:
        print(f"mice side skipped: {out['mice']['skipped']}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)
