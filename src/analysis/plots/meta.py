"""Figures of the meta-analysis: forest and funnel plots of :class:`analysis.meta.RmaResult`, grouped forest plots of :class:`analysis.meta.RmaMvResult`.

Both take a fitted model and return a matplotlib ``Figure``. They draw what metafor's
``forest.rma`` and ``funnel.rma`` draw: study estimates with their confidence
intervals (normal quantiles at the model's level), the pooled estimate as a diamond
with its prediction interval, and the funnel of pseudo confidence limits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Polygon
from scipy import stats

__all__ = ["forest", "forest_mv", "funnel"]


def forest(result: Any, transf: Callable[[Any], Any] | None = None, xlabel: str | None = None,
           show_pi: bool = True) -> plt.Figure:
    """Forest plot: one row per study, the pooled estimate (or fitted values) below.

    Parameters
    ----------
    result : analysis.meta.RmaResult
        Fitted model.
    transf : callable, optional
        Back-transformation for the tick labels and the printed estimates (e.g.
        ``np.exp`` for log risk ratios, ``np.tanh`` for Fisher's z); the axis itself
        stays on the model's scale, as metafor's ``atransf``.
    xlabel : str, optional
        Axis label (default "Observed outcome").
    show_pi : bool
        Draw the prediction interval under the pooled diamond (random-effects models).

    Returns
    -------
    matplotlib.figure.Figure
        Squares sized by the study weights; for models with moderators the fitted
        values are grey diamonds on the study rows instead of a pooled diamond.
    """
    k = result.k
    crit = stats.norm.isf(result.alpha / 2)
    yi, sei = result.yi.to_numpy(), np.sqrt(result.vi.to_numpy())
    rows = np.arange(k, 0, -1) + 1.0  # studies from the top; the pooled row sits at 0
    fig, ax = plt.subplots(figsize=(8, 0.32 * k + 2.2))
    color = sns.color_palette("colorblind")[0]
    ax.hlines(rows, yi - crit * sei, yi + crit * sei, color="black", lw=1)
    sizes = 20 + 180 * result.weights.to_numpy() / result.weights.max()
    ax.scatter(yi, rows, s=sizes, marker="s", color=color, zorder=3)
    back = transf or (lambda x: x)
    labels = [f"{back(y):.2f} [{back(lo):.2f}, {back(hi):.2f}]"
              for y, lo, hi in zip(yi, yi - crit * sei, yi + crit * sei)]
    if result.int_only:
        pooled = result.predict().iloc[0]
        ax.add_patch(Polygon([(pooled.ci_lb, 0), (pooled.pred, 0.35), (pooled.ci_ub, 0), (pooled.pred, -0.35)],
                             closed=True, color="black"))
        if show_pi and "pi_lb" in pooled:
            ax.hlines(0, pooled.pi_lb, pooled.pi_ub, color="black", lw=1, linestyles="dotted")
        ytick_labels = [*map(str, result.yi.index), "FE Model" if result.method in ("FE", "EE") else "RE Model"]
        ticks = [*rows, 0.0]
        labels.append(f"{back(pooled.pred):.2f} [{back(pooled.ci_lb):.2f}, {back(pooled.ci_ub):.2f}]")
    else:
        fitted = result.predict()
        for row, (_, fit) in zip(rows, fitted.iterrows()):
            ax.add_patch(Polygon([(fit.ci_lb, row), (fit.pred, row + 0.25), (fit.ci_ub, row),
                                  (fit.pred, row - 0.25)], closed=True, color="grey", alpha=0.5))
        ytick_labels, ticks = list(map(str, result.yi.index)), list(rows)
    ax.axvline(0, color="grey", lw=0.8, ls="--")  # no effect: 0 on the model scale (log ratios, z, differences)
    ax.set_yticks(ticks, ytick_labels)
    ax.set_ylim(-1 if result.int_only else 1, k + 2)
    right = ax.secondary_yaxis("right")
    right.set_yticks(ticks, labels)
    right.tick_params(length=0)
    if transf is not None:
        ax.set_xticks(ax.get_xticks(), [f"{transf(t):.2f}" for t in ax.get_xticks()])
    ax.set_xlabel(xlabel or "Observed outcome")
    ax.set_title(f"{result.model_name} (k = {k})")
    fig.tight_layout()
    return fig


def funnel(result: Any, fill: np.ndarray | None = None, xlabel: str | None = None) -> plt.Figure:
    """Funnel plot: outcomes (residuals for models with moderators) against their standard errors.

    Parameters
    ----------
    result : analysis.meta.RmaResult
        Fitted model.
    fill : array of bool, optional
        Studies imputed by trim-and-fill, drawn hollow (see
        :meth:`analysis.meta.TrimfillResult.funnel`).
    xlabel : str, optional
        Axis label (default "Observed outcome", or "Residual value" with moderators).

    Returns
    -------
    matplotlib.figure.Figure
        Standard error on the inverted vertical axis, a vertical line at the pooled
        estimate (0 for residuals) and the pseudo confidence region
        ``estimate ± z * SE`` at the model's level.
    """
    sei = np.sqrt(result.vi.to_numpy())
    x = (result.yi if result.int_only else result.residuals).to_numpy()
    centre = float(result.beta.iloc[0]) if result.int_only else 0.0
    crit = stats.norm.isf(result.alpha / 2)
    top = sei.max() * 1.05
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.fill([centre - crit * top, centre, centre + crit * top], [top, 0, top], color="0.93", zorder=0)
    ax.plot([centre - crit * top, centre, centre + crit * top], [top, 0, top], color="0.5", lw=0.8, ls="--")
    ax.axvline(centre, color="black", lw=1)
    observed = np.ones(len(x), bool) if fill is None else ~np.asarray(fill, bool)
    ax.scatter(x[observed], sei[observed], color="black", s=25, zorder=3, label="observed")
    if fill is not None and np.any(fill):
        ax.scatter(x[~observed], sei[~observed], facecolors="white", edgecolors="black", s=25, zorder=3,
                   label="filled in (trim-and-fill)")
        ax.legend(loc="lower right", fontsize="small")
    ax.set_ylim(top, 0)
    ax.set(xlabel=xlabel or ("Observed outcome" if result.int_only else "Residual value"),
           ylabel="Standard error", title="Funnel plot")
    fig.tight_layout()
    return fig


def forest_mv(result: Any, group: str | None = None, transf: Callable[[Any], Any] | None = None,
              xlabel: str | None = None, show_pi: bool = True) -> plt.Figure:
    """Forest plot of a multilevel model: the effects grouped by study, the pooled estimate below.

    Parameters
    ----------
    result : analysis.meta.RmaMvResult
        Fitted ``rma_mv`` model.
    group : str, optional
        Variance component whose levels group the rows (default the first, e.g.
        ``study``); groups are separated by thin lines and labelled once.
    transf : callable, optional
        Back-transformation of the printed estimates and tick labels (``np.exp``
        for log ratios); the axis stays on the model's scale.
    xlabel : str, optional
        Axis label (default "Observed outcome").
    show_pi : bool
        Draw the prediction interval (from the summed variance components) under
        the pooled diamond.

    Returns
    -------
    matplotlib.figure.Figure
        One row per effect (normal-quantile confidence intervals, squares sized by
        the inverse sampling variance), ordered by group; intercept-only models get
        the pooled diamond, models with moderators grey diamonds of the fitted values.
    """
    group = group or result.factors.columns[0]
    levels = result.factors[group]
    order = np.argsort(pd.Categorical(levels, categories=pd.unique(levels)).codes, kind="stable")
    yi, sei = result.yi.to_numpy()[order], np.sqrt(result.vi.to_numpy())[order]
    grouped = levels.to_numpy()[order]
    k = result.k
    crit = stats.norm.isf(result.alpha / 2)
    rows = np.arange(k, 0, -1) + 1.0
    fig, ax = plt.subplots(figsize=(8, 0.22 * k + 2.2))
    color = sns.color_palette("colorblind")[0]
    ax.hlines(rows, yi - crit * sei, yi + crit * sei, color="black", lw=0.8)
    precision = 1 / sei**2
    ax.scatter(yi, rows, s=10 + 80 * precision / precision.max(), marker="s", color=color, zorder=3)
    first = np.r_[True, grouped[1:] != grouped[:-1]]
    for row in rows[first][1:]:
        ax.axhline(row + 0.5, color="0.85", lw=0.6)
    ticks = list(rows[first])
    labels = [f"{group} {level}" for level in grouped[first]]
    if result.int_only:
        pooled = result.predict().iloc[0]
        ax.add_patch(Polygon([(pooled.ci_lb, 0), (pooled.pred, 0.35), (pooled.ci_ub, 0), (pooled.pred, -0.35)],
                             closed=True, color="black"))
        if show_pi and "pi_lb" in pooled:
            ax.hlines(0, pooled.pi_lb, pooled.pi_ub, color="black", lw=1, linestyles="dotted")
        back = transf or (lambda x: x)
        ticks.append(0.0)
        labels.append("RE Model")
        ax.text(1.01, 0, f"{back(pooled.pred):.2f} [{back(pooled.ci_lb):.2f}, {back(pooled.ci_ub):.2f}]",
                transform=ax.get_yaxis_transform(), va="center", fontsize="small")
    else:
        fitted = result.predict().iloc[order]
        for row, (_, fit) in zip(rows, fitted.iterrows()):
            ax.add_patch(Polygon([(fit.ci_lb, row), (fit.pred, row + 0.25), (fit.ci_ub, row),
                                  (fit.pred, row - 0.25)], closed=True, color="grey", alpha=0.5))
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_ylim(-1 if result.int_only else 1, k + 2)
    if transf is not None:
        ax.set_xticks(ax.get_xticks(), [f"{transf(t):.2f}" for t in ax.get_xticks()])
    ax.set_xlabel(xlabel or "Observed outcome")
    ax.set_title(f"Multilevel model (k = {k}; {result.factors[group].nunique()} {group} levels)")
    fig.tight_layout()
    return fig
