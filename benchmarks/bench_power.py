"""Speed of simulation-based power on Dask: 1,000 simulated trials of 200 participants x 5 waves.

The issue's benchmark: :func:`analysis.power.power` for a two-arm design (100 per arm, 5 waves, 5%
dropout per wave), every trial refitted (two growth models by REML with Satterthwaite tests, and
the mediation test), on a local Dask cluster of ``WORKERS`` processes against a serial in-process
baseline (``scheduler="synchronous"``) measured in the same run on the same trials; the two
tables must be identical. The cluster is timed twice: from nothing (start, imports in the
workers, trials, close) and on a started cluster (trials alone). BLAS is pinned to one thread in
this process, as Dask pins it in each worker, so the ratio is the parallel speed-up. A profile of
``PROFILE_TRIALS`` trials in this process splits a trial's CPU time into simulation, the two
growth fits, and the rest (mediation test, tables). The CPU seconds of the workers and of the
serial run are recorded too: on a machine shared with other work the wall times grow, and
``ideal_cluster_s`` (start plus worker CPU over the workers) is what the cluster takes with its
cores to itself.

Run ``python benchmarks/bench_power.py [n_sims]``; results go to ``benchmarks/results/power.json``.
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import dataclasses  # noqa: E402  (after pinning BLAS threads)
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402

from analysis import mixed, power  # noqa: E402

RESULTS = Path(__file__).parent / "results"
DESIGN = power.TrialDesign(n_per_arm=100, arms=("control", "treatment"), waves=5)
N_SIMS = 1000
WORKERS = 2
SEED = 1
TARGET_S = 60.0
PROFILE_TRIALS = 20


def _import_analysis() -> bool:
    import analysis.power  # noqa: F401

    return True


def _cpu_seconds() -> float:
    return time.process_time()


def on_cluster(n_sims: int) -> tuple[pd.DataFrame, dict]:
    """The power table on a fresh local cluster; seconds from nothing and on the started cluster.

    Also the CPU seconds the workers spent on the trials: with the wall time they show whether
    the workers had their cores to themselves.
    """
    start = time.perf_counter()
    with power.dask_client(workers=WORKERS) as client:
        client.run(_import_analysis)
        cpu_before = sum(client.run(_cpu_seconds).values())
        ready = time.perf_counter()
        table = power.power(DESIGN, n_sims=n_sims, seed=SEED, scheduler=client, progress=False)
        done = time.perf_counter()
        cpu = sum(client.run(_cpu_seconds).values()) - cpu_before
    closed = time.perf_counter()
    return table, {"cluster_total_s": closed - start, "cluster_start_s": ready - start,
                   "cluster_trials_s": done - ready, "cluster_worker_cpu_s": cpu}


def serial(n_sims: int) -> tuple[pd.DataFrame, dict]:
    start, cpu = time.perf_counter(), time.process_time()
    table = power.power(DESIGN, n_sims=n_sims, seed=SEED, scheduler=power.SYNCHRONOUS,
                        progress=False)
    return table, {"serial_s": time.perf_counter() - start, "serial_cpu_s": time.process_time() - cpu}


def profile(trials: int = PROFILE_TRIALS) -> dict:
    """CPU milliseconds per trial: simulation, each growth fit, and the rest of the analysis."""
    timings = {"simulate": 0.0, "growth_symptoms": 0.0, "growth_self_efficacy": 0.0, "analyse": 0.0}
    for k in range(trials):
        data = power.simulate_trial(DESIGN, k)
        for name, step in (("simulate", lambda: power.simulate_trial(DESIGN, k)),
                           ("growth_symptoms", lambda: mixed.growth(data, "symptoms")),
                           ("growth_self_efficacy", lambda: mixed.growth(data, "self_efficacy")),
                           ("analyse", lambda: power.analyse_trial(data, DESIGN))):
            start = time.process_time()
            step()
            timings[name] += time.process_time() - start
    ms = {f"{name}_ms": 1000 * value / trials for name, value in timings.items()}
    ms["mediation_and_tables_ms"] = (ms["analyse_ms"] - ms["growth_symptoms_ms"]
                                     - ms["growth_self_efficacy_ms"])
    return ms


def main(n_sims: int = N_SIMS) -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    print(f"machine: {machine}")
    print(f"{n_sims} trials of {2 * DESIGN.n_per_arm} participants x {DESIGN.waves} waves", flush=True)
    parallel, times = on_cluster(n_sims)
    print(f"local cluster ({WORKERS} workers): {times['cluster_total_s']:.1f} s from nothing "
          f"(start and worker imports {times['cluster_start_s']:.1f} s, trials "
          f"{times['cluster_trials_s']:.1f} s)", flush=True)
    baseline, serial_times = serial(n_sims)
    pd.testing.assert_frame_equal(parallel, baseline)
    per_trial = profile()
    serial_s = serial_times["serial_s"]
    row = {"n_sims": n_sims, "participants": 2 * DESIGN.n_per_arm, "waves": DESIGN.waves,
           "workers": WORKERS, **times, **serial_times,
           "serial_vs_cluster_total": serial_s / times["cluster_total_s"],
           "serial_vs_cluster_trials": serial_s / times["cluster_trials_s"],
           "ideal_cluster_s": times["cluster_start_s"] + times["cluster_worker_cpu_s"] / WORKERS,
           "target_s": TARGET_S, "within_target": times["cluster_total_s"] < TARGET_S,
           "identical_tables": True, "per_trial": per_trial,
           "power": parallel.set_index("effect")["power"].to_dict(),
           "failed_growth_fits": int(parallel.loc[parallel["effect"] != "mediation", "n_failed"].sum())}
    print(f"serial in-process: {serial_s:.1f} s = {row['serial_vs_cluster_total']:.2f}x the cluster "
          f"from nothing, {row['serial_vs_cluster_trials']:.2f}x its trials alone; tables identical")
    print(f"CPU: workers {times['cluster_worker_cpu_s']:.1f} s, serial {serial_times['serial_cpu_s']:.1f} s; "
          f"with {WORKERS} cores to themselves the cluster would take {row['ideal_cluster_s']:.1f} s")
    print(f"target {TARGET_S:.0f} s from nothing: {'met' if row['within_target'] else 'NOT met'}")
    print("CPU per trial (ms, this process): " + ", ".join(f"{k[:-3]} {v:.1f}" for k, v in per_trial.items()))
    print(f"power: {row['power']}; growth fits failing the gradient check: {row['failed_growth_fits']}")
    (RESULTS / "power.json").write_text(json.dumps(
        {"machine": machine, "design": dataclasses.asdict(DESIGN), "runs": [row]}, indent=2))


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else N_SIMS)
