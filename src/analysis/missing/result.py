"""Multiply imputed data: :class:`Imputations`, what :func:`impute` and :func:`reference_based` return."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .layout import Layout, completed_tables, imputed_mask, skeleton


@dataclass(frozen=True, eq=False)
class Imputations:
    """m completed long tables and how they were made.

    Iterating gives the tables; ``imps[j]`` is table ``j``; ``len(imps)`` is ``m``.

    Attributes
    ----------
    tables : list of pandas.DataFrame
        The completed long tables, in the input's layout: the input's rows plus a
        row for each participant and visit it lacks (identifier, wave, usual time of
        the wave, arm and covariates filled in; other columns missing), sorted by
        participant and wave, index 0..N-1, the same rows in every table.
    imputed : pandas.DataFrame
        Boolean, rows as each table, one column per imputed variable: True where the
        value was imputed.
    method : str
        ``"pmm"``, ``"norm"`` (:func:`impute`) or ``"J2R"``, ``"CR"``, ``"CIR"``,
        ``"MAR"`` (:func:`reference_based`).
    seed : int
        Seed of ``numpy.random.SeedSequence`` all draws came from (the entropy drawn
        when None was given), so that the same call gives the same tables.
    outcome : str
        The imputed outcome column.
    visits : tuple of int
        The waves imputed.
    group : str or None
        Column the imputation models were fitted within (the arm), or None.
    settings : dict
        The other settings (``maxit``, ``donors``, ``burnin``, ...).
    layout : Layout
        The wide layout of the input (:class:`analysis.missing.layout.Layout`).
    values : numpy.ndarray, shape (m, n, V, k)
        The completed wide values the tables were written from (participants, visits
        and variables as in ``layout``): what :func:`tipping_point` shifts.
    """

    tables: list[pd.DataFrame]
    imputed: pd.DataFrame
    method: str
    seed: int
    outcome: str
    visits: tuple[int, ...]
    group: str | None
    settings: dict = field(default_factory=dict)
    layout: Layout | None = field(default=None, repr=False)
    values: np.ndarray | None = field(default=None, repr=False)

    @property
    def m(self) -> int:
        """Number of imputations."""
        return len(self.tables)

    def __len__(self) -> int:
        return self.m

    def __iter__(self):
        return iter(self.tables)

    def __getitem__(self, j: int) -> pd.DataFrame:
        return self.tables[j]

    def long(self) -> pd.DataFrame:
        """All tables stacked with an ``.imp`` column 1..m (mice's ``complete(imp, "long")``)."""
        return pd.concat([t.assign(**{".imp": j}) for j, t in enumerate(self.tables, start=1)], ignore_index=True)


def from_values(wide: Layout, completed: np.ndarray, method: str, seed: int, settings: dict) -> Imputations:
    """:class:`Imputations` from completed wide values of shape (m, n, V, k)."""
    base, cells = skeleton(wide)
    return Imputations(completed_tables(wide, base, cells, completed), imputed_mask(wide, base, cells), method,
                       seed, wide.outcome, wide.visits, wide.group_column, dict(settings), wide, completed)


def check_m(m: int, who: str) -> int:
    """m as an int >= 2 (Rubin's rules need a between-imputation variance)."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 2:
        raise ValueError(f"{who}: m must be a whole number >= 2 (Rubin's rules need at least two imputations "
                         f"for the between-imputation variance), got {m!r}")
    return int(m)


def check_choice(name: str, value, choices: tuple, who: str) -> None:
    """Refuse an argument outside its choices, listing them."""
    if value not in choices:
        raise ValueError(f"{who}: unknown {name} {value!r}; choose one of {', '.join(map(repr, choices))}")


def seed_sequence(seed: int | None) -> np.random.SeedSequence:
    """The SeedSequence of a seed (fresh entropy when None, recorded as the seed)."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"seed must be a whole number >= 0 or None, got {seed!r}")
    return np.random.SeedSequence(seed)
