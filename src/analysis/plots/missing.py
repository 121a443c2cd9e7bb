"""Figures of the missing-data analyses: the tipping-point plot and the sensitivity comparison.

Every function takes a result of :mod:`analysis.missing` (or a table built from them)
and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ..missing import TippingPoint

__all__ = ["tipping_point", "sensitivity"]


def tipping_point(result: TippingPoint, unit: str = "points") -> plt.Figure:
    """Pooled effect and 95% interval against the MNAR shift delta, the tipping delta marked.

    Parameters
    ----------
    result : TippingPoint
        From :func:`analysis.missing.tipping_point`.
    unit : str, default "points"
        Unit of the outcome (and of delta), for the axis labels.
    """
    terms = list(result.tipping.index)
    fig, axes = plt.subplots(1, len(terms), figsize=(4.6 * len(terms), 3.6), sharey=True, squeeze=False)
    for ax, term, color in zip(axes[0], terms, sns.color_palette("colorblind", len(terms))):
        rows = result.table[result.table["term"] == term]
        ax.fill_between(rows["delta"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.25,
                        label=f"{100 * (1 - result.alpha):.0f}% interval")
        ax.plot(rows["delta"], rows["estimate"], marker="o", ms=3, color=color, label="pooled effect")
        ax.axhline(0, color="k", lw=0.8)
        tip = result.tipping.loc[term, "tipping_delta"]
        title = term
        if np.isfinite(tip):
            ax.axvline(tip, color="C3", ls="--", lw=1, label=f"tipping delta {tip:.2f}")
            title += f": tips at delta = {tip:.2f}"
        else:
            title += ": no tipping point in the grid"
        ax.set(xlabel=f"delta ({unit} added to imputed values, {result.shift} arms)", title=title)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel(f"arm difference ({unit})")
    fig.tight_layout()
    return fig


def sensitivity(table: pd.DataFrame, unit: str = "points") -> plt.Figure:
    """Estimates and intervals of the same contrast under several missing-data assumptions.

    Parameters
    ----------
    table : pandas.DataFrame
        Indexed by (assumption, contrast) or by assumption; columns ``estimate``,
        ``ci_low``, ``ci_high`` (e.g. the pooled tables of MAR, J2R, CR and the MMRM).
    unit : str, default "points"
    """
    table = table.reset_index()
    labels = table.iloc[:, : table.columns.get_loc("estimate")].astype(str).agg(": ".join, axis=1)
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    estimate, low, high = (table[name].to_numpy(float) for name in ("estimate", "ci_low", "ci_high"))
    ax.errorbar(estimate, y, xerr=[estimate - low, high - estimate], fmt="o", color="C0", capsize=3)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, labels)
    ax.set(xlabel=f"arm difference at the last visit ({unit}, 95% CI)", title="Sensitivity to the missing-data assumption")
    fig.tight_layout()
    return fig
