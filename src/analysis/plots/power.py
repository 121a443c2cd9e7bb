"""Figures of simulation-based power (:mod:`analysis.power`).

Each function takes a table made by :mod:`analysis.power` and returns a
matplotlib ``Figure``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

__all__ = ["curve"]


def curve(table: pd.DataFrame, target: float = 0.8) -> plt.Figure:
    """Power against participants per arm, one line per effect, with Monte Carlo 95% bands.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`analysis.power.power_curve` (or :func:`analysis.power.power`):
        ``effect``, ``arm``, ``n_per_arm``, ``n_sims``, ``power``, ``ci_low``,
        ``ci_high``.
    target : float, default 0.8
        Power marked by a dashed line.
    """
    groups = list(table.groupby(["effect", "arm"], sort=False))
    colours = sns.color_palette("colorblind", n_colors=len(groups))
    several_arms = table["arm"].nunique() > 1
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for colour, ((effect, arm), rows) in zip(colours, groups):
        rows = rows.sort_values("n_per_arm")
        label = f"{effect.replace('_', ' ')} ({arm})" if several_arms else effect.replace("_", " ")
        ax.plot(rows["n_per_arm"], rows["power"], "o-", color=colour, label=label)
        ax.fill_between(rows["n_per_arm"], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2)
    ax.axhline(target, color="0.4", ls="--", lw=1)
    ax.set(xlabel="participants per arm", ylabel="power", ylim=(0, 1.02))
    sims = table["n_sims"].unique()
    per_size = f"{sims[0]} simulated trials per size" if len(sims) == 1 else "simulated trials"
    ax.set_title(f"Power by sample size ({per_size}; bands: Monte Carlo 95% intervals; "
                 f"dashed: {target:.0%})", fontsize=10)
    ax.legend(title="effect", fontsize="small")
    fig.tight_layout()
    return fig
