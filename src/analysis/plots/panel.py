"""Figures of the cross-lagged report: path diagram, the two directions, lags over waves.

Every function takes :class:`analysis.panel.PanelResult` objects and returns a
matplotlib ``Figure``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .. import panel
from .paths import Edge, Node, draw

__all__ = ["path_diagram", "cross_lags", "standardized_lags"]


def _lag_row(result, effect: str, wave):
    return result.lagged.loc[effect] if result.equal_lags else result.lagged.loc[(effect, wave)]


def path_diagram(result, x_label: str | None = None, y_label: str | None = None) -> plt.Figure:
    """Within-person lagged effects between waves, with the random intercepts' correlation.

    Parameters
    ----------
    result : PanelResult
    x_label, y_label : str, optional
        Display names (default the column names).

    Notes
    -----
    Arrows carry the unstandardized lagged effects (labelled once when held equal
    over waves); solid arrows mark 95% intervals that exclude 0. For the RI-CLPM
    the random intercepts, which load 1 on every wave, are drawn with their
    correlation.
    """
    x_label, y_label = x_label or result.x, y_label or result.y
    waves = result.waves
    left = 0.28 if result.model == "RI-CLPM" else 0.1
    xs = np.linspace(left, 0.94, len(waves))
    width = min(0.14, 0.6 * (xs[1] - xs[0]))
    nodes = [Node(f"x{k}", xs[k], 0.72, f"{x_label}\nwave {w}", width=width) for k, w in enumerate(waves)]
    nodes += [Node(f"y{k}", xs[k], 0.3, f"{y_label}\nwave {w}", width=width) for k, w in enumerate(waves)]
    edges = []
    for k in range(1, len(waves)):
        labelled = k == 1 or not result.equal_lags
        for effect, (source, target) in {"x_on_x": ("x", "x"), "y_on_y": ("y", "y"),
                                         "y_on_x": ("x", "y"), "x_on_y": ("y", "x")}.items():
            row = _lag_row(result, effect, waves[k])
            strong = bool(row["ci_low"] > 0 or row["ci_high"] < 0)
            cross = source != target
            edges.append(Edge(f"{source}{k - 1}", f"{target}{k}", f"{row['estimate']:.2f}" if labelled else "",
                              strong=strong, position=0.28 if cross else 0.5,
                              offset=(-0.03, 0) if cross else (0, 0.05 if target == "x" else -0.05)))
    if result.model == "RI-CLPM":
        corr = result.between.loc["corr"]
        nodes += [Node("rix", 0.1, 0.72, f"RI {x_label}", latent=True),
                  Node("riy", 0.1, 0.3, f"RI {y_label}", latent=True)]
        edges.append(Edge("rix", "riy", f"r = {corr['estimate']:.2f}", both=True,
                          strong=bool(corr["ci_low"] > 0 or corr["ci_high"] < 0), bend=0.3,
                          offset=(-0.07, 0)))
    lags = "equal over waves" if result.equal_lags else "free per wave"
    fit = result.fit
    note = (f"Unstandardized within-person lagged effects ({lags}); solid: 95% CI excludes 0. "
            f"Chi-square {fit['chisq']:.1f} (df {fit['df']:.0f}), CFI {fit['cfi']:.3f}, RMSEA {fit['rmsea']:.3f}")
    return draw(nodes, edges, title=f"{result.model}: {x_label} and {y_label}", size=(2 + 1.6 * len(waves), 4.2),
                note=note)


def cross_lags(results: dict, x_label: str | None = None, y_label: str | None = None) -> plt.Figure:
    """Standardized cross-lagged effects in both directions, per model, with intervals.

    Parameters
    ----------
    results : dict of str to PanelResult
        Models to compare (e.g. ``{"RI-CLPM": ri, "CLPM": classic}``), fitted to
        the same two variables.
    x_label, y_label : str, optional
        Display names (default the first result's column names).
    """
    first = next(iter(results.values()))
    x_label, y_label = x_label or first.x, y_label or first.y
    rows = []
    for name, result in results.items():
        table = panel.directions(result, x_label, y_label)
        for direction in table.index[:2]:
            rows.append((name, direction, *table.loc[direction, ["std", "std_low", "std_high"]]))
    fig, ax = plt.subplots(figsize=(6.5, 0.6 * len(rows) + 1.2))
    colors = dict(zip(results, sns.color_palette("colorblind", len(results))))
    for k, (name, direction, est, low, high) in enumerate(rows):
        ax.errorbar(est, k, xerr=[[est - low], [high - est]], fmt="o", color=colors[name], capsize=3)
    ax.set_yticks(range(len(rows)), [f"{name}: {direction}" for name, direction, *_ in rows])
    ax.axvline(0, color="0.5", lw=0.8)
    ax.invert_yaxis()
    ax.set(xlabel="standardized cross-lagged effect (mean over transitions) with 95% CI",
           title="Which comes first? Both directions")
    fig.tight_layout()
    return fig


def standardized_lags(result) -> plt.Figure:
    """Standardized lagged effects (std.all) at every transition with 95% intervals."""
    table = result.standardized.reset_index()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = {"x_on_x": f"{result.x} -> {result.x}", "y_on_y": f"{result.y} -> {result.y}",
             "y_on_x": f"{result.x} -> {result.y}", "x_on_y": f"{result.y} -> {result.x}"}
    for (effect, part), color in zip(table.groupby("effect", sort=False), sns.color_palette("colorblind", 4)):
        position = np.arange(len(part)) + 0.06 * list(names).index(effect)
        ax.errorbar(position, part["estimate"], yerr=[part["estimate"] - part["ci_low"],
                                                      part["ci_high"] - part["estimate"]],
                    fmt="o-", color=color, capsize=2, label=names[effect])
    ax.set_xticks(np.arange(len(result.waves) - 1), [f"{a}->{b}" for a, b in zip(result.waves, result.waves[1:])])
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="waves", ylabel="standardized effect", title=f"{result.model}: lagged effects by transition")
    ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    fig.tight_layout()
    return fig
