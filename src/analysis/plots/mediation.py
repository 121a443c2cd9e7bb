"""Figures of the mediation report: path diagram, bootstrap distribution, sensitivity to rho, effects by arm.

Every function takes a :class:`analysis.mediation.MediationResult` (``effects_by``:
a :class:`analysis.mediation.MediationSet`) and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .paths import Edge, Node, draw

__all__ = ["path_diagram", "bootstrap_distribution", "sensitivity", "effects_by"]
#: Rows shown for results laid out with ACME and ADE per arm (R's ten rows).
AVERAGED = ("ACME (average)", "ADE (average)", "Total Effect")


def _interval(row) -> str:
    return f"{row['estimate']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]"


def _excludes_zero(row) -> bool:
    return bool(row["ci_low"] > 0 or row["ci_high"] < 0)


def path_diagram(result, labels: dict | None = None) -> plt.Figure:
    """Treatment -> mediator -> outcome triangle with the path estimates and intervals.

    Parameters
    ----------
    result : MediationResult
    labels : dict, optional
        Display names for ``"treatment"``, ``"mediator"``, ``"outcome"``.

    Notes
    -----
    Paths show the estimate with its 95% t interval (``result.paths``); solid
    arrows mark intervals that exclude 0. The ACME and ADE (their averages over
    the arms when they differ by arm) with their ``result.ci_method`` intervals are
    written underneath.
    """
    labels = {"treatment": f"{result.treatment}\n({result.treated} vs {result.control})",
              "mediator": result.mediator, "outcome": result.outcome, **(labels or {})}
    paths = result.paths
    nodes = [Node("t", 0.15, 0.3, labels["treatment"]), Node("m", 0.5, 0.78, labels["mediator"]),
             Node("y", 0.85, 0.3, labels["outcome"])]
    edges = [Edge("t", "m", f"a = {_interval(paths.loc['a'])}", strong=_excludes_zero(paths.loc["a"]),
                  offset=(-0.1, 0.04)),
             Edge("m", "y", f"b = {_interval(paths.loc['b'])}", strong=_excludes_zero(paths.loc["b"]),
                  offset=(0.1, 0.04)),
             Edge("t", "y", f"c' = {_interval(paths.loc['c_prime'])}",
                  strong=_excludes_zero(paths.loc["c_prime"]), offset=(0, -0.05))]
    table = result.table.rename(index=dict(zip(AVERAGED[:2], ("ACME", "ADE"))))
    note = (f"ACME = {_interval(table.loc['ACME'])}, ADE = {_interval(table.loc['ADE'])}, "
            f"total = {_interval(table.loc['Total Effect'])} ({result.ci_method} intervals, "
            f"{result.n_boot} replicates); solid arrows: 95% interval excludes 0")
    return draw(nodes, edges, title=f"Mediation ({result.kind})", note=note)


def bootstrap_distribution(result, effects: tuple | None = None) -> plt.Figure:
    """Histograms of the bootstrap (or Monte Carlo) replicates with estimate, interval and 0.

    Parameters
    ----------
    result : MediationResult
    effects : tuple of str, optional
        Columns of ``result.draws`` to show, one panel each; default ACME, ADE and
        total effect (their averages over the arms when they differ by arm).
    """
    if effects is None:
        effects = ("ACME", "ADE", "Total Effect") if "ACME" in result.table.index else AVERAGED
    fig, axes = plt.subplots(1, len(effects), figsize=(4 * len(effects), 3.2), squeeze=False)
    for ax, effect in zip(axes[0], effects):
        draws = result.draws[effect].to_numpy()
        row = result.table.loc[effect]
        sns.histplot(draws[np.isfinite(draws)], bins=60, ax=ax, color="#4c72b0", alpha=0.6)
        ax.axvline(row["estimate"], color="black", lw=1.5, label="estimate")
        for limit in (row["ci_low"], row["ci_high"]):
            ax.axvline(limit, color="#c44e52", ls="--", lw=1.2)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set(title=effect, xlabel=f"{effect} ({result.ci_method} interval dashed)")
    fig.suptitle(f"{len(result.draws)} {'bootstrap' if result.jackknife is not None else 'Monte Carlo'} "
                 "replicates")
    fig.tight_layout()
    return fig


def sensitivity(result) -> plt.Figure:
    """ACME as a function of the mediator-outcome error correlation rho (``plot(medsens)``).

    The vertical axis spans the intervals for |rho| <= 0.9, where R's default grid
    ends; the curve diverges as rho approaches -1 or 1.

    Parameters
    ----------
    result : MediationResult
        With ``result.sensitivity`` (single-level and change-score results).

    Raises
    ------
    ValueError
        If the result has no sensitivity analysis (multilevel).
    """
    sens = result.sensitivity
    if sens is None:
        raise ValueError(f"this {result.kind} result has no sensitivity analysis")
    table = sens.table
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.fill_between(table.index, table["ci_low"], table["ci_high"], color="0.85",
                    label=f"{100 * sens.conf_level:g}% interval")
    ax.plot(table.index, table["acme"], color="black", lw=1.5, label="ACME(rho)")
    ax.axhline(0, color="0.4", lw=0.8)
    ax.axvline(0, color="0.4", lw=0.8, ls=":")
    ax.axvline(sens.rho_zero, color="#c44e52", ls="--", lw=1.2,
               label=f"ACME = 0 at rho = {sens.rho_zero:.2f}")
    inner = table.loc[np.abs(table.index) <= 0.9]
    low, high = inner["ci_low"].min(), inner["ci_high"].max()
    ax.set(xlabel="sensitivity parameter rho (error correlation)", ylabel="ACME", xlim=(-1, 1),
           ylim=(low - 0.05 * (high - low), high + 0.05 * (high - low)),
           title="Sensitivity to mediator-outcome confounding")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def effects_by(results, effects: tuple = ("ACME (control)", "ACME (treated)")) -> plt.Figure:
    """Estimates and intervals of the effects per moderator value or per arm (forest layout).

    Parameters
    ----------
    results : MediationSet
        From :func:`analysis.mediation.mediate` with a moderator, or
        :func:`analysis.mediation.mediate_arms`.
    effects : tuple of str
        Rows of each result's table to show; ``"ACME"`` and ``"ACME (...)"`` both
        work for four-row tables.
    """
    rows = []
    for key, result in results.results.items():
        table = result.table
        for effect in effects:
            name = effect if effect in table.index else effect.split(" (")[0]
            rows.append((f"{results.by} = {key}: {effect}", table.loc[name]))
    fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(rows) + 1.2))
    for y, (label, row) in enumerate(reversed(rows)):
        ax.errorbar(row["estimate"], y, xerr=[[row["estimate"] - row["ci_low"]], [row["ci_high"] - row["estimate"]]],
                    fmt="o", color="black" if _excludes_zero(row) else "0.45", capsize=3)
    ax.set_yticks(range(len(rows)), [label for label, _ in reversed(rows)])
    ax.axvline(0, color="0.5", lw=0.8)
    ax.set(xlabel="effect (interval of each result's ci_method)", title=f"Mediation by {results.by}")
    fig.tight_layout()
    return fig
