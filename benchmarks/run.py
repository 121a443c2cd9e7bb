"""Speed and memory of the suite's building blocks, as ratios against a baseline in the same run.

Run with ``make bench``. Results go to ``benchmarks/results/foundation.json`` and are printed.

* ``load_trial``: reading, validating and scoring a simulated trial file (item level, GSE-10, PHQ-9,
  GAD-7) against plain ``pandas.read_csv`` of the same file.
* ``simulate.trial``: generating that trial, against drawing the same number of normal
  variates with numpy (a floor for any simulator).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import io, simulate

RESULTS = Path(__file__).parent / "results"
SIZES = (1_000, 10_000)  # participants per arm


def measure(func, repeat: int = 3) -> tuple[float, float]:
    """Best wall time (s) over ``repeat`` runs and peak traced memory (MiB) of one run."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return min(times), peak


def bench_size(n_per_arm: int, folder: Path) -> dict:
    data, _ = simulate.trial(n_per_arm=n_per_arm, seed=1)
    path = folder / f"trial_{n_per_arm}.csv"
    data.to_csv(path, index=False)
    rows = len(data)
    sim_time, sim_mem = measure(lambda: simulate.trial(n_per_arm=n_per_arm, seed=1), repeat=2)
    normals_time, _ = measure(lambda: np.random.default_rng(1).standard_normal((rows, data.shape[1])), repeat=2)
    load_time, load_mem = measure(lambda: io.load_trial(path))
    csv_time, csv_mem = measure(lambda: pd.read_csv(path))
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
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    out = {"machine": machine, "runs": runs}
    (RESULTS / "foundation.json").write_text(json.dumps(out, indent=2))
    print(f"machine: {machine}")
    for r in runs:
        print(
            f"{r['participants']:>6} participants ({r['rows']} rows): load_trial {r['load_trial_s']:.2f} s "
            f"= {r['load_trial_vs_read_csv']:.1f}x read_csv, peak {r['load_trial_peak_mib']:.0f} MiB; "
            f"simulate {r['simulate_s']:.2f} s = {r['simulate_vs_numpy_normals']:.0f}x numpy normals"
        )


if __name__ == "__main__":
    main()
