"""Which level of measurement invariance holds, by the change in approximate fit.

With a few hundred cases the chi-square difference test rejects trivial
non-invariance, so the usual rules judge each added level of constraints by how
much worse the approximate fit gets: CFI may drop by at most .01 (Cheung &
Rensvold, 2002; Chen, 2007) and RMSEA rise by at most .015 (Chen, 2007). The change
in SRMR is shown beside them (Chen's limits: .030 for metric, .010 for scalar and
strict invariance) as supporting evidence.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CFI_DROP", "RMSEA_RISE", "SRMR_RISE", "fit_warnings", "invariance_decisions", "supported_level"]

CFI_DROP = 0.01
RMSEA_RISE = 0.015
#: Chen's (2007) limit on the rise in SRMR by level.
SRMR_RISE = {"metric": 0.030, "scalar": 0.010, "strict": 0.010}


def invariance_decisions(table: pd.DataFrame, cfi_drop: float = CFI_DROP, rmsea_rise: float = RMSEA_RISE
                         ) -> pd.DataFrame:
    """Judge each level of an invariance table against the previous one.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`analysis.sem.invariance` output (index ``level``; columns ``cfi``,
        ``rmsea``, ``srmr``, ``cfi_diff``, ``rmsea_diff``).
    cfi_drop, rmsea_rise : float
        Largest acceptable drop in CFI and rise in RMSEA.

    Returns
    -------
    pandas.DataFrame
        Index ``level``: ``cfi_diff``, ``rmsea_diff``, ``srmr_diff``, ``srmr_limit``
        (Chen's), ``holds`` (True when CFI and RMSEA stay within the limits and
        every earlier level held; the first level is the baseline and holds).
    """
    missing = [c for c in ("cfi", "rmsea", "srmr", "cfi_diff", "rmsea_diff") if c not in table.columns]
    if missing:
        raise ValueError(f"invariance_decisions: the table lacks columns {missing}; pass sem.invariance's table")
    out = table[["cfi_diff", "rmsea_diff"]].copy()
    out["srmr_diff"] = table["srmr"].diff()
    out["srmr_limit"] = [SRMR_RISE.get(level, float("nan")) for level in table.index]
    within = (out["cfi_diff"] >= -cfi_drop) & (out["rmsea_diff"] <= rmsea_rise)
    within.iloc[0] = True
    out["holds"] = within.cummin().astype(bool)
    return out


def supported_level(table: pd.DataFrame, cfi_drop: float = CFI_DROP, rmsea_rise: float = RMSEA_RISE) -> str:
    """The most constrained level that holds (see :func:`invariance_decisions`)."""
    decisions = invariance_decisions(table, cfi_drop, rmsea_rise)
    return str(decisions.index[decisions["holds"]][-1])


def fit_warnings(fits: dict) -> list[str]:
    """The warnings of every level's model (``sem.invariance(..., return_fits=True)``), named by level.

    A level whose model did not converge has fit indices that cannot be compared: its
    row, and the decisions that use it, must not be trusted.
    """
    return [f"{level}: {message}" for level, result in fits.items() for message in result.warnings]
