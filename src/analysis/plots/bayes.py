"""Figures of the Bayesian models: posteriors, trajectories, predictive checks, priors, traces.

Every function takes a :class:`analysis.bayes.BayesResult` or a table made by
:mod:`analysis.bayes` and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import bayes
from ..bayes.diagnostics import _interval_names

__all__ = ["posterior", "trajectories", "predictive_check", "sensitivity", "trace", "forest"]


def posterior(result: bayes.BayesResult, name: str, reference: float = 0.0) -> plt.Figure:
    """Histogram of a scalar posterior with its credible interval and a reference line.

    Parameters
    ----------
    result : BayesResult
    name : str
        A scalar variable, e.g. ``"slope_corr"``.
    reference : float, default 0.0
        Value marked by a dashed line; the title gives the posterior probability
        below it.
    """
    row = result.table().loc[name]
    low, high = _interval_names(bayes.INTERVAL)
    draws = result.draws(name).values
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.hist(draws, bins=60, color=sns.color_palette("colorblind")[0], alpha=0.75)
    ax.axvspan(row[low], row[high], color="grey", alpha=0.2, label=f"{bayes.INTERVAL:.0%} interval")
    ax.axvline(row["mean"], color="black", lw=1.5, label=f"mean {row['mean']:.2f}")
    ax.axvline(reference, color="firebrick", ls="--", lw=1.2)
    below = result.probability(name, below=reference)
    ax.set(xlabel=name, ylabel="draws",
           title=f"{name}: {row['mean']:.2f} [{row[low]:.2f}, {row[high]:.2f}], P(< {reference:g}) = {below:.3f}")
    ax.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig


def trajectories(table: pd.DataFrame, observed: pd.DataFrame | None = None) -> plt.Figure:
    """Mean trajectories by arm with credible bands, one panel per outcome.

    Parameters
    ----------
    table : DataFrame
        From :func:`analysis.bayes.trajectories` (``outcome``, ``arm``, ``time``,
        ``mean`` and the band bounds).
    observed : DataFrame, optional
        Observed means to overlay: a :func:`analysis.bayes.predictive_summary` table
        grouped by ``["outcome", "arm", "time"]`` (its ``mean`` rows are drawn).
    """
    low, high = table.columns[-2], table.columns[-1]
    outcomes = list(pd.unique(table["outcome"]))
    arms = list(pd.unique(table["arm"]))
    palette = dict(zip(arms, sns.color_palette("colorblind", len(arms))))
    if observed is not None:
        observed = observed[observed["statistic"] == "mean"].astype({"arm": str})
    fig, axes = plt.subplots(1, len(outcomes), figsize=(5 * len(outcomes), 3.6), squeeze=False)
    for ax, outcome in zip(axes[0], outcomes):
        for arm in arms:
            part = table[(table["outcome"] == outcome) & (table["arm"] == arm)]
            ax.fill_between(part["time"], part[low], part[high], color=palette[arm], alpha=0.25)
            ax.plot(part["time"], part["mean"], color=palette[arm], lw=2, label=str(arm))
            if observed is not None:
                seen = observed[(observed["outcome"] == outcome) & (observed["arm"] == arm)]
                ax.plot(seen["time"], seen["observed"], "o", color=palette[arm], ms=4)
        ax.set(title=outcome, xlabel="time", ylabel=outcome)
    axes[0][0].legend(title="arm")
    fig.suptitle(f"Expected trajectories by arm with {low}-{high} credible bands"
                 + ("; dots: observed means" if observed is not None else ""))
    fig.tight_layout()
    return fig


def predictive_check(table: pd.DataFrame, statistic: str = "mean", x: str = "time") -> plt.Figure:
    """Observed statistics against their predictive intervals, one panel per variable.

    Parameters
    ----------
    table : DataFrame
        From :func:`analysis.bayes.predictive_summary` grouped by ``x`` (and
        optionally ``arm``).
    statistic : {"mean", "sd"}
    x : str, default "time"
        Grouping column on the horizontal axis.
    """
    rows = table[table["statistic"] == statistic]
    low, high = table.columns[table.columns.get_loc("predicted") + 1: table.columns.get_loc("p")]
    if "outcome" in rows:
        rows = rows.assign(variable=rows["outcome"])
    variables = list(pd.unique(rows["variable"]))
    groups = list(pd.unique(rows["arm"])) if "arm" in rows else [None]
    palette = sns.color_palette("colorblind", len(groups))
    fig, axes = plt.subplots(1, len(variables), figsize=(5 * len(variables), 3.4), squeeze=False)
    for ax, variable in zip(axes[0], variables):
        for k, (group, color) in enumerate(zip(groups, palette)):
            part = rows[rows["variable"] == variable]
            part = part if group is None else part[part["arm"] == group]
            shift = (k - (len(groups) - 1) / 2) * 0.15 * _spacing(part[x])
            ax.errorbar(part[x] + shift, part["predicted"],
                        yerr=[part["predicted"] - part[low], part[high] - part["predicted"]],
                        fmt="none", color=color, alpha=0.6, capsize=2)
            ax.plot(part[x] + shift, part["observed"], "o", color=color, ms=4,
                    label=str(group) if group is not None else "observed")
        ax.set(title=f"{variable}: {statistic}", xlabel=x)
    axes[0][0].legend(fontsize="small")
    fig.suptitle(f"Observed {statistic} (dots) and predictive {low}-{high} intervals (bars)")
    fig.tight_layout()
    return fig


def _spacing(values: pd.Series) -> float:
    steps = np.diff(np.unique(values.to_numpy(float)))
    return float(steps.min()) if steps.size else 1.0


def sensitivity(table: pd.DataFrame) -> plt.Figure:
    """Posterior means and intervals of each parameter under the narrower, default and wider priors.

    Parameters
    ----------
    table : DataFrame
        From :func:`analysis.bayes.prior_sensitivity`.
    """
    low, high = _interval_names(bayes.INTERVAL)
    parameters = list(pd.unique(table["parameter"]))
    priors = list(pd.unique(table["prior"]))
    palette = sns.color_palette("colorblind", len(priors))
    fig, axes = plt.subplots(len(parameters), 1, figsize=(6, 0.8 * len(parameters) + 0.8), squeeze=False)
    for ax, parameter in zip(axes[:, 0], parameters):
        part = table[table["parameter"] == parameter].set_index("prior")
        for k, (prior, color) in enumerate(zip(priors, palette)):
            ax.plot([part.loc[prior, low], part.loc[prior, high]], [k, k], color=color, lw=2)
            ax.plot(part.loc[prior, "mean"], k, "o", color=color, label=prior)
        ax.set_yticks([])
        ax.set_ylabel(parameter, rotation=0, ha="right", va="center", fontsize="small")
    axes[0, 0].legend(ncol=len(priors), fontsize="small", loc="lower center", bbox_to_anchor=(0.5, 1.0))
    fig.suptitle("Prior sensitivity: posterior mean and interval under each prior", y=1.0)
    fig.tight_layout()
    return fig


def trace(result: bayes.BayesResult, var_names: list[str] | None = None) -> plt.Figure:
    """Rank plots per chain of the reported variables (flat histograms: chains agree)."""
    first = result.idata.posterior.isel(chain=0, draw=0)
    names = var_names or [n for n in result.design.reported if first[n].size <= 4][:6]
    axes = az.plot_rank(result.idata, var_names=names, kind="bars", figsize=(10, 1.8 * len(names) + 1))
    fig = np.ravel(axes)[0].figure
    fig.suptitle("Rank plots by chain (uniform bars mean the chains sample the same distribution)")
    fig.tight_layout()
    return fig


def forest(result: bayes.BayesResult) -> plt.Figure:
    """Meta-analysis forest plot: observed effects with 95% CIs, shrunken study effects, mu and theta_new."""
    table = result.design.frame
    posterior = result.table()
    low, high = _interval_names(bayes.INTERVAL)
    k = len(table)
    fig, ax = plt.subplots(figsize=(6, 0.35 * (k + 3) + 1))
    half = 1.96 * np.sqrt(table["vi"].to_numpy())
    rows = np.arange(k)[::-1] + 2
    ax.errorbar(table["yi"], rows + 0.15, xerr=half, fmt="s", color="grey", ms=4, label="observed (95% CI)")
    theta = posterior.loc[[f"theta[{s}]" for s in table["study"]]]
    ax.errorbar(theta["mean"], rows - 0.15, xerr=[theta["mean"] - theta[low], theta[high] - theta["mean"]],
                fmt="o", color="C0", ms=4, label=f"shrunken ({bayes.INTERVAL:.0%})")
    for y, name, color in ((1, "mu", "black"), (0, "theta_new", "firebrick")):
        row = posterior.loc[name]
        ax.errorbar(row["mean"], y, xerr=[[row["mean"] - row[low]], [row[high] - row["mean"]]], fmt="D",
                    color=color, ms=5)
    ax.set_yticks([*rows, 1, 0], [*table["study"].astype(str), "mu", "new study"])
    ax.axvline(0, color="grey", lw=0.8, ls=":")
    ax.set(xlabel="effect size", title="Bayesian random-effects meta-analysis")
    ax.legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig
