"""Speed of the Bayesian growth model: nutpie (compile + sampling) against PyMC's default NUTS.

The issue's benchmark: 400 participants x 6 waves (a simulated two-arm trial without dropout),
4 chains x 1000 draws after 1000 tuning steps, ``analysis.bayes.bivariate_growth`` with its
defaults, on the same PyMC model with both samplers. nutpie compiles the log density with numba,
PyMC's NUTS with PyTensor's C backend; both keep compiled code under PyTensor's base compile
directory (C modules in ``compiledir_*``, numba's cache of PyTensor's functions in ``numba``,
nutpie's compiled callbacks in ``nutpie``: :mod:`analysis.bayes.compiled`), so each sampler runs
twice in a fresh process: *cold* (an empty base directory of its own, as on a new machine) and
*warm* (the same directory again, as on a rerun). A warm nutpie compile still rewrites PyTensor's
graph (seconds), and the draws of the two runs are the same. The figures are the
ratios of wall times, PyMC over nutpie, and the minimum bulk ESS per second of each run (a faster
sampler is only better if it mixes as well).

Run ``python benchmarks/bench_bayes.py``; results go to ``benchmarks/results/bayes.json``.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
PARTICIPANTS, WAVES = 400, 6
SETTINGS = {"draws": 1000, "tune": 1000, "chains": 4, "seed": 1}
SAMPLERS = ("nutpie", "pymc")


def trial():
    """Two arms of 200, six waves, no dropout: 2400 rows."""
    from analysis import simulate

    data, _ = simulate.trial(n_per_arm=PARTICIPANTS // 2, arms=("control", "cbt"), waves=WAVES,
                             se_slope_effect={"cbt": 0.35}, symptom_slope_effect={"cbt": -0.45},
                             source_trends={"cbt": {"mastery": 0.15}}, dropout_rate=0.0, seed=2024)
    return data


def run(sampler: str) -> dict:
    """One fit in this process: wall time, nutpie's compile and sampling split, ESS and verdict."""
    from analysis import bayes

    data = trial()
    start = time.perf_counter()
    result = bayes.bivariate_growth(data, "gse_total", "phq9_total", sampler=sampler, **SETTINGS)
    wall = time.perf_counter() - start
    attrs, table = result.idata.posterior.attrs, result.table()
    return {
        "sampler": sampler,
        "wall_s": wall,
        "compile_s": attrs["compile_seconds"] if sampler == "nutpie" else None,
        "sampling_s": attrs["sampling_seconds"],
        "min_ess_bulk": float(table["ess_bulk"].min()),
        "min_ess_bulk_per_s": float(table["ess_bulk"].min() / wall),
        "max_r_hat": float(table["r_hat"].max()),
        "divergences": result.diagnostics.divergences,
        "verdict": result.verdict,
    }


def run_isolated(sampler: str, base_compiledir: Path) -> dict:
    """``run`` in a fresh Python process whose PyTensor base compile directory is ``base_compiledir``.

    The base directory, not ``compiledir``: PyTensor keeps its numba cache beside the C modules,
    in ``base_compiledir/numba``, so only a fresh base directory makes a cold nutpie run.
    """
    env = dict(os.environ, PYTENSOR_FLAGS=f"base_compiledir={base_compiledir}")
    done = subprocess.run([sys.executable, __file__, "--one", sampler], env=env, capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> dict:
    RESULTS.mkdir(exist_ok=True)
    load = os.getloadavg()[0]
    runs = []
    with tempfile.TemporaryDirectory() as folder:
        for phase in ("cold", "warm"):
            for sampler in SAMPLERS:
                runs.append({"phase": phase, **run_isolated(sampler, Path(folder) / sampler)})
    wall = {(r["phase"], r["sampler"]): r["wall_s"] for r in runs}
    out = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "load_average_at_start": load,
        "nutpie_backend": "numba",
        "data": {"participants": PARTICIPANTS, "rows": PARTICIPANTS * WAVES, "waves": WAVES},
        "settings": SETTINGS,
        "runs": runs,
        "pymc_over_nutpie_wall": {p: wall[p, "pymc"] / wall[p, "nutpie"] for p in ("cold", "warm")},
        "nutpie_under_60_s": {p: wall[p, "nutpie"] < 60 for p in ("cold", "warm")},
    }
    (RESULTS / "bayes.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {out['machine']} (load average {load:.1f} at start); nutpie backend: numba")
    print(f"data: {PARTICIPANTS} participants x {WAVES} waves; {SETTINGS['chains']} chains x {SETTINGS['draws']} "
          f"draws after {SETTINGS['tune']} tuning steps")
    print(f"{'phase':<6}{'sampler':<8}{'wall s':>8}{'compile s':>11}{'sample s':>10}{'min ESS':>9}{'ESS/s':>7}"
          f"{'R-hat':>7}{'div':>5}  verdict")
    for r in runs:
        compile_s = f"{r['compile_s']:.1f}" if r["compile_s"] is not None else "-"
        print(f"{r['phase']:<6}{r['sampler']:<8}{r['wall_s']:8.1f}{compile_s:>11}{r['sampling_s']:10.1f}"
              f"{r['min_ess_bulk']:9.0f}{r['min_ess_bulk_per_s']:7.1f}{r['max_r_hat']:7.3f}{r['divergences']:5d}"
              f"  {r['verdict']}")
    for phase, ratio in out["pymc_over_nutpie_wall"].items():
        print(f"{phase}: PyMC NUTS / nutpie wall time {ratio:.1f}x; nutpie compile + sampling "
              f"{'under' if out['nutpie_under_60_s'][phase] else 'OVER'} 60 s")
    return out


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(run(sys.argv[2])))
    else:
        main()
