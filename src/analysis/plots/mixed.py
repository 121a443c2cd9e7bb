"""Figures for linear mixed models (:mod:`analysis.mixed`).

Each function takes an :class:`analysis.mixed.LmmResult` and returns a matplotlib
``Figure``: fixed effects with intervals, predicted trajectories by arm with
confidence bands, the within- and between-person parts of a time-varying predictor,
a caterpillar plot of random effects, and residual diagnostics.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from scipy import stats

from ..mixed import LmmResult
from ..mixed.formula import _formula_variables

__all__ = ["coefficients", "trajectories", "within_between", "caterpillar", "residuals"]


def coefficients(fit: LmmResult, intercept: bool = False) -> plt.Figure:
    """Fixed effects with their 95% intervals (Satterthwaite t), one row per term.

    Parameters
    ----------
    fit : LmmResult
    intercept : bool, default False
        Include the intercept (often on another scale than the rest).
    """
    table = fit.fixed if intercept else fit.fixed.drop(index="Intercept", errors="ignore")
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    ax.errorbar(table["estimate"], y, fmt="o", color="C0",
                xerr=[table["estimate"] - table["ci_low"], table["ci_high"] - table["estimate"]])
    ax.axvline(0, color="0.5", lw=0.8, ls="--")
    ax.set_yticks(y, table.index)
    ax.set_xlabel("estimate (95% CI)")
    ax.set_title(f"Fixed effects: {fit.formula}", fontsize=10)
    fig.tight_layout()
    return fig


def trajectories(fit: LmmResult, time: str = "time", arm: str = "arm",
                 points: int = 50) -> plt.Figure:
    """Model-predicted mean trajectory per arm with its 95% band, over observed means.

    Other covariates in the model are held at their mean (numeric) or first level.

    Parameters
    ----------
    fit : LmmResult
        A model with ``time`` (and usually ``arm``) as fixed effects.
    time, arm : str
        Columns of time and arm.
    points : int, default 50
        Grid points along time.
    """
    data = fit.data
    grid = _prediction_grid(fit, time, arm, points)
    predicted = fit.predict(grid)
    observed = data.groupby([arm, time], observed=True)[fit.outcome].agg(["mean", "sem"])
    fig, ax = plt.subplots(figsize=(7, 4.2))
    levels = list(grid[arm].cat.categories) if arm in grid else [None]
    for colour, level in zip(sns.color_palette(n_colors=len(levels)), levels):
        rows = predicted if level is None else predicted[predicted[arm] == level]
        label = "all" if level is None else str(level)
        ax.plot(rows[time], rows["estimate"], color=colour, label=label)
        ax.fill_between(rows[time], rows["ci_low"], rows["ci_high"], color=colour, alpha=0.2)
        means = observed if level is None else observed.loc[level]
        ax.errorbar(means.index.get_level_values(-1), means["mean"], yerr=1.96 * means["sem"],
                    fmt="o", color=colour, ms=4, alpha=0.8)
    ax.set_xlabel(time)
    ax.set_ylabel(fit.outcome)
    ax.set_title("Model-predicted means (lines, 95% bands) and observed means (points, 95% CI)",
                 fontsize=10)
    ax.legend(title=arm)
    fig.tight_layout()
    return fig


def within_between(fit: LmmResult, predictor: str) -> plt.Figure:
    """Between-person (person means) and within-person (deviations) association, side by side.

    Parameters
    ----------
    fit : LmmResult
        A fit of :func:`analysis.mixed.within_between` (terms ``{predictor}_within``
        and ``{predictor}_between``).
    predictor : str
        The decomposed predictor, e.g. ``"gse_total"``.
    """
    data, outcome = fit.data, fit.outcome
    people = data.groupby(fit.group, observed=True)[[f"{predictor}_between", outcome]].mean()
    deviation = data[outcome] - data.groupby(fit.group, observed=True)[outcome].transform("mean")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    panels = [
        (axes[0], people[f"{predictor}_between"], people[outcome], "between",
         f"person mean of {predictor}", f"person mean of {outcome}"),
        (axes[1], data[f"{predictor}_within"], deviation, "within",
         f"{predictor}: deviation from own mean", f"{outcome}: deviation from own mean"),
    ]
    for ax, x, y, part, xlabel, ylabel in panels:
        row = fit.fixed.loc[f"{predictor}_{part}"]
        ax.scatter(x, y, s=6, alpha=0.3, color="C0")
        line = np.linspace(x.min(), x.max(), 2)
        ax.plot(line, y.mean() + row["estimate"] * (line - x.mean()), color="C3")
        ax.set(xlabel=xlabel, ylabel=ylabel,
               title=f"{part}-person: {row['estimate']:.3f} "
                     f"[{row['ci_low']:.3f}, {row['ci_high']:.3f}] per point")
    fig.suptitle("Red lines: the model's adjusted coefficient (95% CI in the title)", fontsize=9)
    fig.tight_layout()
    return fig


def caterpillar(fit: LmmResult, term: str | None = None, group: str | None = None) -> plt.Figure:
    """Each participant's (or cluster's) random effect with its 95% conditional interval, sorted.

    Parameters
    ----------
    fit : LmmResult
    term : str, optional
        Random-effect term; default the last one (the slope when there is one).
    group : str, optional
        With several grouping factors, the factor shown; default the one with the
        most levels (the participants).
    """
    group, effects, effects_sd = _factor_effects(fit, group)
    term = term or effects.columns[-1]
    order = effects[term].sort_values().index
    modes = effects.loc[order, term]
    half = 1.96 * effects_sd.loc[order, term]
    apart = (modes - half > 0) | (modes + half < 0)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = np.arange(len(order))
    ax.vlines(x, modes - half, modes + half, color=np.where(apart, "C3", "0.6"), lw=0.8)
    ax.plot(x, modes, "o", color="C0", ms=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel=f"{group} (sorted)", ylabel=f"random effect: {term}",
           title=f"{term}: {int(apart.sum())} of {len(order)} intervals exclude 0 (red)")
    ax.set_xticks([])
    fig.tight_layout()
    return fig


def residuals(fit: LmmResult, group: str | None = None) -> plt.Figure:
    """Residuals against fitted values, and normal Q-Q plots of residuals and random effects.

    Parameters
    ----------
    fit : LmmResult
    group : str, optional
        With several grouping factors, the factor whose random effects are shown;
        default the one with the most levels (the participants).
    """
    _, effects, _ = _factor_effects(fit, group)
    terms = list(effects.columns)
    fig, axes = plt.subplots(1, 2 + len(terms), figsize=(4 * (2 + len(terms)), 3.8))
    axes[0].scatter(fit.fitted, fit.residuals, s=5, alpha=0.3)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(xlabel="fitted (conditional)", ylabel="residual", title="Residuals vs fitted")
    for ax, values, title in [(axes[1], fit.residuals, "residuals"),
                              *[(a, effects[t], f"random {t}")
                                for a, t in zip(axes[2:], terms)]]:
        stats.probplot(values, dist="norm", plot=ax)
        ax.set_title(f"Normal Q-Q: {title}")
        ax.get_lines()[0].set_markersize(3)
    fig.tight_layout()
    return fig


def _factor_effects(fit: LmmResult, group: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """A grouping factor, its conditional modes and their SDs (one factor, or chosen among several)."""
    if not isinstance(fit.random_effects, dict):
        return fit.group, fit.random_effects, fit.random_effects_sd
    if group is None:
        group = max(fit.ngroups, key=fit.ngroups.get)
    if group not in fit.random_effects:
        raise ValueError(f"group {group!r} is not a grouping factor of the fit: {list(fit.random_effects)}")
    return group, fit.random_effects[group], fit.random_effects_sd[group]


def _prediction_grid(fit: LmmResult, time: str, arm: str, points: int) -> pd.DataFrame:
    """Time grid (per arm when the model has one) with other covariates at typical values."""
    data = fit.data
    grid = pd.DataFrame({time: np.linspace(data[time].min(), data[time].max(), points)})
    variables = _formula_variables(fit.formula)[1:]
    if arm in variables:
        levels = pd.Categorical(data[arm]).remove_unused_categories().categories
        grid = grid.merge(pd.DataFrame({arm: pd.Categorical(levels, levels)}), how="cross")
    for name in variables:
        if name not in (time, arm):
            column = data[name]
            grid[name] = (column.mean() if pd.api.types.is_numeric_dtype(column)
                          else column.dropna().iloc[0])
    return grid
