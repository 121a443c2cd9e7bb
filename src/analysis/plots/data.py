"""Figures of the data-quality report: trajectories, retention, item and total distributions.

Every function takes plain tables and returns a matplotlib ``Figure`` so that the
notebooks can show it and tests can inspect it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import scales

__all__ = ["trajectories", "retention", "item_distributions", "total_distributions"]


def trajectories(data: pd.DataFrame, outcome: str, n_spaghetti: int = 25, seed: int = 0) -> plt.Figure:
    """Individual trajectories (spaghetti) and the mean with a 95% interval, one panel per arm.

    Parameters
    ----------
    data : DataFrame
        Validated trial table (``participant_id``, ``time``, ``arm`` and ``outcome``).
    outcome : str
        Column to draw, e.g. ``"gse_total"``.
    n_spaghetti : int
        Participants drawn per arm (a seeded random sample) behind the mean.
    seed : int
        Seed for that sample.
    """
    arms = list(data["arm"].cat.categories)
    fig, axes = plt.subplots(1, len(arms), figsize=(4 * len(arms), 3.4), sharey=True, squeeze=False)
    rng = np.random.default_rng(seed)
    palette = dict(zip(arms, sns.color_palette("colorblind", len(arms))))
    for ax, arm in zip(axes[0], arms):
        in_arm = data[data["arm"] == arm]
        ids = in_arm["participant_id"].unique()
        shown = rng.choice(ids, size=min(n_spaghetti, len(ids)), replace=False)
        for _, person in in_arm[in_arm["participant_id"].isin(shown)].groupby("participant_id"):
            ax.plot(person["time"], person[outcome], color=palette[arm], alpha=0.25, lw=0.8)
        sns.lineplot(data=in_arm, x="time", y=outcome, errorbar=("ci", 95), n_boot=1000, seed=seed,
                     color=palette[arm], lw=2.5, marker="o", ax=ax)
        ax.set_title(f"{arm} (n = {len(ids)})")
        ax.set_xlabel("weeks since baseline")
    axes[0][0].set_ylabel(outcome)
    fig.suptitle(f"{outcome}: individual trajectories and mean with 95% CI")
    fig.tight_layout()
    return fig


def retention(table: pd.DataFrame) -> plt.Figure:
    """Percent of each arm's baseline sample observed at every wave.

    Parameters
    ----------
    table : DataFrame
        Rows ``wave``, columns arms, values percent retained (see
        :func:`analysis.io.retention`).
    """
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for arm, color in zip(table.columns, sns.color_palette("colorblind", table.shape[1])):
        ax.plot(table.index, table[arm], marker="o", label=str(arm), color=color)
    ax.set(xlabel="wave", ylabel="% of baseline sample observed", ylim=(0, 105), title="Retention by arm")
    ax.legend(title="arm")
    fig.tight_layout()
    return fig


def item_distributions(data: pd.DataFrame, instrument: str, wave: int = 0) -> plt.Figure:
    """Stacked bars of the response proportions of every item of an instrument at one wave."""
    inst = scales.get(instrument)
    answers = data.loc[data["wave"] == wave, inst.items]
    levels = range(inst.item_min, inst.item_max + 1)
    shares = pd.DataFrame({lvl: (answers == lvl).sum() for lvl in levels}).div(answers.notna().sum(), axis=0)
    fig, ax = plt.subplots(figsize=(6, 0.3 * inst.n_items + 1.5))
    shares.plot.barh(stacked=True, ax=ax, colormap="viridis", width=0.8)
    ax.invert_yaxis()
    ax.set(xlabel="share of answers", title=f"{inst.name} item responses at wave {wave}")
    ax.legend(title="response", bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig


def total_distributions(data: pd.DataFrame, instrument: str) -> plt.Figure:
    """Box plots of an instrument's total by wave and arm, with its possible range marked."""
    inst = scales.get(instrument)
    fig, ax = plt.subplots(figsize=(7, 3.4))
    sns.boxplot(data=data, x="wave", y=inst.total, hue="arm", palette="colorblind", ax=ax, fliersize=2)
    ax.set_ylim(inst.total_min - 1, inst.total_max + 1)
    ax.set(title=f"{inst.name} total by wave and arm (possible range {inst.total_min}–{inst.total_max})")
    fig.tight_layout()
    return fig
