"""Generate the bundled synthetic trials and their ground truth.

Writes ``data/synthetic_trial.csv`` (long format, one row per participant and
observed wave) and ``data/synthetic_trial_truth.json`` (every generating parameter
and derived quantity, see :func:`analysis.simulate.trial`) at the repository root,
and the same pair for ``synthetic_therapists``: a partially nested trial whose
CBT and mindfulness patients are treated by therapists and whose control arm (a
waitlist) has none; and for ``synthetic_mnar``: a trial whose dropout depends on the
current, unobserved PHQ-9 score (missing not at random).
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
MNAR_SETTINGS = {"n_per_arm": 150, "waves": 6, "seed": 20240603, "dropout_rate": 0.08, "dropout_mnar": 1.5}
THERAPIST_SETTINGS = {"n_per_arm": 100, "waves": 6, "seed": 20240602, "therapists_per_arm": 10,
                      "therapist_intercept_sd": 1.5, "therapist_slope_sd": 0.1, "nesting": "partial"}
FLOAT_FORMAT = "%.10g"


def write(directory: Path = DATA_DIR, name: str = "synthetic_trial",
          settings: dict = SETTINGS) -> tuple[Path, Path]:
    """Simulate a trial with ``settings`` and write its data and truth to ``directory``.

    Parameters
    ----------
    directory : Path, default ``data/`` at the repository root
        Folder to write ``{name}.csv`` and ``{name}_truth.json`` to.
    name : str, default "synthetic_trial"
    settings : dict, default :data:`SETTINGS`
        Arguments of :func:`analysis.simulate.trial`.

    Returns
    -------
    tuple of Path
        The CSV file and the JSON file written.
    """
    data, truth = simulate.trial(**settings)
    directory = Path(directory)
    csv = directory / f"{name}.csv"
    data.to_csv(csv, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    truth_file = directory / f"{name}_truth.json"
    truth_file.write_text(json.dumps(truth, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return csv, truth_file


if __name__ == "__main__":
    for written in [*write(), *write(name="synthetic_therapists", settings=THERAPIST_SETTINGS),
                    *write(name="synthetic_mnar", settings=MNAR_SETTINGS)]:
        print(f"wrote {written}")
