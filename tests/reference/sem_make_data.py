"""Write the simulated trial that tests/reference/sem_lavaan.R fits with lavaan.

Run from the repository root (the R script reads the CSV this writes):

    .venv/bin/python tests/reference/sem_make_data.py
    Rscript tests/reference/sem_lavaan.R

Writes ``tests/reference/sem_trial_wide.csv``: ``analysis.simulate.trial(n_per_arm=100,
waves=4, seed=11)`` in wide format, one row per participant: ``participant_id``,
``arm``, ``gse_total_w0..w3``, ``phq9_total_w0..w3`` and the GSE items ``gse_1_w0`` ..
``gse_10_w2`` of waves 0-2; NA where a participant dropped out or an item is missing.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import simulate

OUT = Path(__file__).with_name("sem_trial_wide.csv")
ITEMS = [f"gse_{k}" for k in range(1, 11)]


def wide_trial(n_per_arm: int = 100, waves: int = 4, seed: int = 11, item_waves: int = 3) -> pd.DataFrame:
    """The trial in wide format (see the module docstring)."""
    long, _ = simulate.trial(n_per_arm=n_per_arm, waves=waves, seed=seed)
    wide = long.pivot(index="participant_id", columns="wave",
                      values=["gse_total", "phq9_total", *ITEMS])
    columns = {f"{v}_w{w}": wide[(v, w)] for v in ("gse_total", "phq9_total") for w in range(waves)}
    columns |= {f"{item}_w{w}": wide[(item, w)] for w in range(item_waves) for item in ITEMS}
    arm = long.groupby("participant_id")["arm"].first().astype(str)
    return pd.concat([arm, pd.DataFrame(columns)], axis=1).reset_index()


if __name__ == "__main__":
    wide_trial().to_csv(OUT, index=False, float_format="%.6g")
