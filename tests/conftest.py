"""Test order for ``make test``'s two processes: the longest files first.

pytest-xdist's ``--dist loadfile`` hands each worker one test file at a time, in the
order collected (``--no-loadscope-reorder``; by default it would sort the files by
their number of tests). Starting the longest files first keeps both workers busy to
the end instead of leaving one long file running alone.
"""

from __future__ import annotations

#: Worker-seconds per file, measured on 2 cores with cold compile caches (``--durations=0``, 2026-12-02);
#: every other file is shorter and keeps the collected order after these.
LONGEST_FIRST = ["test_bayes.py", "test_own_data.py", "test_report.py", "test_power.py", "test_meta.py",
                 "test_mediation.py", "test_cluster.py", "test_bayes_compiled.py", "test_panel.py"]


def pytest_collection_modifyitems(items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order
