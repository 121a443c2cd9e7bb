"""Time to regenerate every report (``make report``) from nothing, against a rerun with nothing changed.

Run with ``make bench`` (or ``python benchmarks/bench_report.py``). Runs the bundled config
(every notebook, variant and sweep item, full mode) into a fresh temporary folder with
``analysis run``'s runner on all cores, then again with nothing changed (the incremental
baseline: every report is up to date, so only fingerprints are checked). Prints both times, the
ratio and the slowest reports; results go to ``benchmarks/results/report.json``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from analysis import report
from run import RESULTS


def timed_run(output: Path) -> tuple[float, list[report.NotebookRun]]:
    start = time.perf_counter()
    runs = report.run_reports(output=output)
    return time.perf_counter() - start, runs


def main() -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}"
    with tempfile.TemporaryDirectory() as tmp:
        full_s, runs = timed_run(Path(tmp))
        unchanged_s, again = timed_run(Path(tmp))
    slowest = sorted(runs, key=lambda r: r.seconds, reverse=True)[:5]
    result = {"machine": machine, "reports": len(runs), "failed": [r.name for r in runs if not r.ok],
              "full_s": full_s, "unchanged_s": unchanged_s, "full_vs_unchanged": full_s / unchanged_s,
              "rerun_after_unchanged": [r.name for r in again if not r.reused],
              "slowest": {r.name: round(r.seconds, 1) for r in slowest}}
    (RESULTS / "report.json").write_text(json.dumps(result, indent=2))
    print(f"machine: {machine}")
    print(f"{len(runs)} reports from nothing: {full_s:.0f} s; again with nothing changed: {unchanged_s:.1f} s "
          f"({result['full_vs_unchanged']:.0f}x faster); failed: {result['failed'] or 'none'}")
    print("slowest: " + ", ".join(f"{name} {s} s" for name, s in result["slowest"].items()))


if __name__ == "__main__":
    main()
