"""Errors of reading and validating trial data, and how one problem is shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

SHOWN = 5  # offending rows and values shown per problem
FIRST_ROW = 2  # spreadsheet row number of the first data row


class DataFileError(ValueError):
    """A file that cannot be read as a table at all (one-line reason)."""


@dataclass(frozen=True)
class Problem:
    """One kind of contract violation in one column.

    Attributes
    ----------
    column : str
        Contract column (or the file's column) concerned.
    reason : str
        What is wrong, in words.
    rows : tuple
        The first few offending rows: spreadsheet numbering (header = row 1) for
        files, index labels for a DataFrame given to a model function.
    values : tuple
        The offending values in those rows.
    count : int
        How many rows have this problem in all.
    unit : str
        What ``rows`` are: "row" (spreadsheet rows) or "index" (DataFrame index labels).
    """

    column: str
    reason: str
    rows: tuple = ()
    values: tuple = ()
    count: int = 0
    unit: str = "row"

    def __str__(self) -> str:
        text = f"{self.column}: {self.reason}"
        if self.count:
            more = f" (first {len(self.rows)} shown)" if self.count > len(self.rows) else ""
            shown = ", ".join(f"{self.unit} {r}: {v!r}" for r, v in zip(self.rows, self.values))
            text += f" — {self.count} row{'s' if self.count != 1 else ''}{more}: {shown}"
        return text


class DataValidationError(ValueError):
    """The data break the trial-data contract; ``problems`` lists every problem."""

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = [f"{len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}{where}:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def _problem(column: str, reason: str, values: pd.Series, mask, *, by_index: bool = False) -> Problem:
    """A Problem for the rows where ``mask`` holds: spreadsheet rows, or index labels if ``by_index``."""
    idx = np.flatnonzero(np.asarray(mask))
    shown = idx[:SHOWN]
    rows = (tuple(_plain(label) for label in values.index[shown]) if by_index
            else tuple(int(i) + FIRST_ROW for i in shown))
    return Problem(
        column,
        reason,
        rows=rows,
        values=tuple(_plain(v) for v in values.iloc[shown]),
        count=len(idx),
        unit="index" if by_index else "row",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
