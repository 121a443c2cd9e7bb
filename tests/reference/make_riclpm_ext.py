"""Write the simulated trial panel that tests/reference/lavaan_riclpm_ext.R fits with lavaan.

Run from the repository root (the R script reads the CSV this writes):

    .venv/bin/python tests/reference/make_riclpm_ext.py
    Rscript tests/reference/lavaan_riclpm_ext.R

Writes ``tests/reference/riclpm_ext_panel.csv`` in long format from
``analysis.simulate.trial(n_per_arm=150, waves=4, seed=11)``: ``id`` (1..N in the
simulator's participant order), ``wave`` (1-4; the simulator's 0-3), ``arm``,
``x`` (GSE-10 total), ``y`` (PHQ-9 total), ``z`` (GAD-7 total), ``age`` and
``female`` (1 female, 0 male), with the simulator's dropout and item missingness
(NA where missing).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import simulate

OUT = Path(__file__).with_name("riclpm_ext_panel.csv")


def main() -> None:
    data, _ = simulate.trial(n_per_arm=150, waves=4, seed=11)
    ids = {pid: k for k, pid in enumerate(pd.unique(data["participant_id"]), start=1)}
    frame = pd.DataFrame({
        "id": data["participant_id"].map(ids), "wave": data["wave"] + 1, "arm": data["arm"],
        "x": data["gse_total"].round(6), "y": data["phq9_total"].round(6), "z": data["gad7_total"].round(6),
        "age": data["age"], "female": (data["sex"] == "female").astype(int),
    }).dropna(subset=["x", "y", "z"], how="all").sort_values(["id", "wave"])
    frame.to_csv(OUT, index=False, na_rep="NA")


if __name__ == "__main__":
    main()
