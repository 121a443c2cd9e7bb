"""Generate the bundled synthetic trial and its ground truth.

Writes ``data/synthetic_trial.csv`` (long format, one row per participant and
observed wave) and ``data/synthetic_trial_truth.json`` (every generating parameter
and derived quantity, see :func:`analysis.simulate.trial`) at the repository root.
The output is byte-for-byte deterministic: fixed seed, fixed float format, no
index, ``\\n`` line ends, JSON with sorted keys.

Usage::

    .venv/bin/python scripts/make_synthetic.py
"""

from __future__ import annotations

import json
from pathlib import Path

from analysis import simulate

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
SETTINGS = {"n_per_arm": 150, "waves": 6, "seed": 20240601}
FLOAT_FORMAT = "%.10g"


def write(directory: Path = DATA_DIR) -> tuple[Path, Path]:
    """Simulate the trial with :data:`SETTINGS` and write data and truth to ``directory``.

    Parameters
    ----------
    directory : Path, default ``data/`` at the repository root
        Folder to write ``synthetic_trial.csv`` and ``synthetic_trial_truth.json`` to.

    Returns
    -------
    tuple of Path
        The CSV file and the JSON file written.
    """
    data, truth = simulate.trial(**SETTINGS)
    directory = Path(directory)
    csv = directory / "synthetic_trial.csv"
    data.to_csv(csv, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    truth_file = directory / "synthetic_trial_truth.json"
    truth_file.write_text(json.dumps(truth, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return csv, truth_file


if __name__ == "__main__":
    for written in write():
        print(f"wrote {written}")
