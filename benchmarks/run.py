"""Speed and memory of the suite's building blocks, as ratios against a baseline in the same run.

Run with ``make bench``. Results go to ``benchmarks/results/foundation.json`` and are printed.

* ``load_trial``: reading, validating and scoring a simulated trial file (item level, GSE-10, PHQ-9,
  GAD-7) against plain ``pandas.read_csv`` of the same file.
* ``simulate.trial``: generating that trial, against drawing the same number of normal
  variates with numpy (a floor for any simulator).

The helpers shared by the other benchmarks live here too: :func:`measure` (best wall and CPU time,
peak traced memory), :func:`machine`, and the lme4 side of the mixed-model benchmarks:
:func:`run_r` runs an R script (``R_PRELUDE`` and a body) on a data frame through ``Rscript``,
:func:`r_missing` says why that cannot run here, :func:`lmm_estimates` puts an
:func:`analysis.mixed.fit_lmm` fit in lme4's names and :func:`differences` measures parity.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis import io, simulate

RESULTS = Path(__file__).parent / "results"
SIZES = (1_000, 10_000)  # participants per arm


class Measured(NamedTuple):
    """Best wall time (s), peak traced memory (MiB) of one run, best CPU time (s) of the process."""

    s: float
    peak_mib: float
    cpu_s: float


def measure(func, repeat: int = 3) -> Measured:
    """Best wall and CPU time over ``repeat`` runs and peak traced memory (MiB) of one more run.

    The CPU time is the process's (all threads: numpy's BLAS may use several); on a machine shared
    with other work it is steadier than the wall time.
    """
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        func()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return Measured(min(times), peak, min(cpu))


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"


#: Loaded before each benchmark's R body: ``args`` (CSV in, JSON out, then the body's own), the
#: data ``d``, ``timed`` (best elapsed and CPU seconds of ``times`` calls of ``f``, and R's peak
#: memory over one more: the ``gc()`` maximum in MiB above what was in use before, as tracemalloc
#: counts from its start), ``estimates`` (a fit in the layout of
#: :func:`lmm_estimates`) and ``write_result``.
R_PRELUDE = """
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1])
timed <- function(f, times) {
  runs <- sapply(seq_len(times), function(i) {
    t <- system.time(f())
    c(t[["elapsed"]], t[["user.self"]] + t[["sys.self"]])
  })
  before <- sum(gc(reset = TRUE)[, 2])
  fit <- f()
  list(fit = fit, timing = list(s = min(runs[1, ]), cpu_s = min(runs[2, ]), peak_mib = sum(gc()[, 6]) - before))
}
estimates <- function(f) {
  vc <- as.data.frame(VarCorr(f))
  blank <- function(x) ifelse(is.na(x), "", x)
  co <- summary(f)$coefficients
  out <- list(fixed = as.list(co[, 1]), se = as.list(co[, 2]),
              variance = as.list(setNames(vc$vcov, trimws(paste(vc$grp, blank(vc$var1), blank(vc$var2))))),
              loglik = as.numeric(logLik(f)))
  if ("df" %in% colnames(co)) out$df <- as.list(co[, "df"])
  out
}
write_result <- function(x) writeLines(toJSON(x, digits = NA, auto_unbox = TRUE), args[2])
"""


def r_missing(packages: tuple[str, ...] = ("lme4", "lmerTest", "jsonlite"), library: str | None = None,
              hint: str = "") -> str | None:
    """Why R with ``packages`` cannot run here (no Rscript, or a package missing), or None.

    ``library`` is a folder searched first (packages built from source, e.g. mmrm);
    ``hint`` says how to get what is missing.
    """
    rscript = shutil.which("Rscript")
    if rscript is None:
        return "Rscript not found"
    first = f'.libPaths(c("{library}", .libPaths())); ' if library else ""
    check = first + f"for (p in c({', '.join(repr(p) for p in packages)})) library(p, character.only = TRUE)"
    if subprocess.run([rscript, "-e", check], capture_output=True, check=False).returncode != 0:
        return f"R lacks one of {', '.join(packages)}" + (f" ({hint})" if hint else "")
    return None


def run_r(body: str, data: pd.DataFrame, folder: Path, *args: str) -> dict:
    """Run ``R_PRELUDE`` + ``body`` on ``data`` (written to CSV) with ``args``; its JSON, and ``wall_s``
    (the whole Rscript run: R's start, reading the CSV, every fit)."""
    csv, script, out = folder / "data.csv", folder / "bench.R", folder / "result.json"
    data.to_csv(csv, index=False)
    script.write_text(R_PRELUDE + body)
    start = time.perf_counter()
    done = subprocess.run([shutil.which("Rscript"), str(script), str(csv), str(out), *args],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Rscript failed:\n{done.stderr}")
    result = json.loads(out.read_text())
    result["wall_s"] = time.perf_counter() - start
    return result


def lme4_name(term: str) -> str:
    """A patsy term in lme4's spelling: ``Intercept`` -> ``(Intercept)``, ``arm[T.cbt]`` -> ``armcbt``."""
    return "(Intercept)" if term == "Intercept" else re.sub(r"\[T\.([^\]]+)\]", r"\1", term)


def variance_keys(group: str, cov: pd.DataFrame) -> dict[str, float]:
    """Variances and covariances of one term as R's ``as.data.frame(VarCorr(fit))`` rows, keyed as
    ``estimates`` keys them (``"grp var1"``, ``"grp var1 var2"``)."""
    names = [lme4_name(n) for n in cov.index]
    values = cov.to_numpy()
    out = {f"{group} {names[i]}": float(values[i, i]) for i in range(len(names))}
    out |= {f"{group} {names[i]} {names[j]}": float(values[i, j])
            for i in range(len(names)) for j in range(i + 1, len(names))}
    return out


def lmm_estimates(fit) -> dict:
    """An :class:`analysis.mixed.LmmResult` in the layout of R's ``estimates``, in lme4's names."""
    covs = fit.re_cov if isinstance(fit.re_cov, dict) else {fit.group: fit.re_cov}
    variance = {}
    for group, cov in covs.items():
        variance |= variance_keys(group, cov)
    fixed = fit.fixed.rename(index=lme4_name)
    return {"fixed": fixed["estimate"].to_dict(), "se": fixed["se"].to_dict(), "df": fixed["df"].to_dict(),
            "variance": variance | {"Residual": fit.sigma2}, "loglik": fit.loglik}


def differences(ours: dict, other: dict) -> dict:
    """Parity of two fits in ``estimates``' layout: fixed effects as max |difference| / max(|estimate|, SE)
    of ``other``; SEs, variances (and Satterthwaite df where both have them) as max relative difference,
    variances that are 0 in ``other`` (a singular fit) as ``variance_abs_at_zero``; logLik as absolute
    difference."""
    def rel(key):
        return max((abs(ours[key][name] / value - 1) for name, value in other[key].items() if value != 0),
                   default=0.0)
    out = {"fixed": max(abs(ours["fixed"][name] - value) / max(abs(value), other["se"][name])
                        for name, value in other["fixed"].items()),
           "se_rel": rel("se"), "variance_rel": rel("variance"),
           "loglik_abs": abs(ours["loglik"] - other["loglik"])}
    zero = [abs(ours["variance"][name]) for name, value in other["variance"].items() if value == 0]
    if zero:
        out["variance_abs_at_zero"] = max(zero)
    if "df" in ours and "df" in other:
        out["df_rel"] = rel("df")
    return out


def bench_size(n_per_arm: int, folder: Path) -> dict:
    data, _ = simulate.trial(n_per_arm=n_per_arm, seed=1)
    path = folder / f"trial_{n_per_arm}.csv"
    data.to_csv(path, index=False)
    rows = len(data)
    sim_time, sim_mem, _ = measure(lambda: simulate.trial(n_per_arm=n_per_arm, seed=1), repeat=2)
    normals_time = measure(lambda: np.random.default_rng(1).standard_normal((rows, data.shape[1])), repeat=2).s
    load_time, load_mem, _ = measure(lambda: io.load_trial(path))
    csv_time, csv_mem, _ = measure(lambda: pd.read_csv(path))
    return {
        "participants": 3 * n_per_arm,
        "rows": rows,
        "load_trial_s": load_time,
        "read_csv_s": csv_time,
        "load_trial_vs_read_csv": load_time / csv_time,
        "load_trial_peak_mib": load_mem,
        "read_csv_peak_mib": csv_mem,
        "simulate_s": sim_time,
        "simulate_peak_mib": sim_mem,
        "simulate_vs_numpy_normals": sim_time / normals_time,
    }


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        runs = [bench_size(n, Path(tmp)) for n in SIZES]
    out = {"machine": machine(), "runs": runs}
    (RESULTS / "foundation.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']}")
    for r in runs:
        print(
            f"{r['participants']:>6} participants ({r['rows']} rows): load_trial {r['load_trial_s']:.2f} s "
            f"= {r['load_trial_vs_read_csv']:.1f}x read_csv, peak {r['load_trial_peak_mib']:.0f} MiB; "
            f"simulate {r['simulate_s']:.2f} s = {r['simulate_vs_numpy_normals']:.0f}x numpy normals"
        )


if __name__ == "__main__":
    main()
