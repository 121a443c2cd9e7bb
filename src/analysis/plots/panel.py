"""Figures of the cross-lagged report: path diagram, the cross-lagged directions, lags over waves.

Every function takes :class:`analysis.panel.PanelResult` objects (two or three
variables, one group or several) and returns a matplotlib ``Figure``.
"""

from __future__ import annotations

from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .. import panel
from .paths import Edge, Node, draw

__all__ = ["path_diagram", "cross_lags", "standardized_lags"]

#: Height of each variable's row of boxes in the path diagram, by number of variables.
ROWS = {2: (0.72, 0.3), 3: (0.8, 0.5, 0.2)}
#: Position and width of the random intercepts' ellipses, by number of variables (with three the
#: correlation of the outer two passes left of the middle one).
INTERCEPTS = {2: (0.1, 0.16), 3: (0.13, 0.12)}


def path_diagram(result, x_label: str | None = None, y_label: str | None = None, z_label: str | None = None,
                 group=None) -> plt.Figure:
    """Within-person lagged effects between waves, with the random intercepts' correlations.

    Parameters
    ----------
    result : PanelResult
        Two or three variables, one group or several.
    x_label, y_label, z_label : str, optional
        Display names (default the column names).
    group : optional
        Of a multi-group result, the group to draw (default: all groups, each
        arrow labelled with every group's estimate).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``result`` is not a :class:`~analysis.panel.PanelResult`.
    ValueError
        If ``group`` is not one of the result's groups.

    Notes
    -----
    Arrows carry the unstandardized lagged effects (labelled once when held equal
    over waves); solid arrows mark intervals (``conf_level``) that exclude 0. With several
    groups each label lists the groups, ``*`` marks a group whose interval
    excludes 0, and an arrow is solid when every group's interval does. For the
    RI-CLPM the random intercepts, which load 1 on every wave, are drawn with
    their correlations.
    """
    _check_result(result, "path_diagram")
    groups = _groups_drawn(result, group)
    names = result.labels(x_label, y_label, z_label)
    letters, waves = list(names), result.waves
    left = 0.28 if result.model == "RI-CLPM" else 0.1
    xs = np.linspace(left, 0.94, len(waves))
    width = min(0.14, 0.6 * (xs[1] - xs[0]))
    rows = dict(zip(letters, ROWS[len(letters)]))
    nodes = [Node(f"{a}{k}", xs[k], rows[a], f"{names[a]}\nwave {w}", width=width)
             for a in letters for k, w in enumerate(waves)]
    edges = []
    for k in range(1, len(waves)):
        labelled = k == 1 or not result.equal_lags
        for source in letters:
            for target in letters:
                effect = f"{target}_on_{source}"
                label, strong = _label(result, "lagged", effect if result.equal_lags else (effect, waves[k]), groups)
                edges.append(Edge(f"{source}{k - 1}", f"{target}{k}", label if labelled else "", strong=strong,
                                  **_lag_placement(letters, source, target, len(groups))))
    if result.model == "RI-CLPM":
        ri_x, ri_width = INTERCEPTS[len(letters)]
        nodes += [Node(f"ri{a}", ri_x, rows[a], f"RI {names[a]}", latent=True, width=ri_width) for a in letters]
        edges += _intercept_edges(result, letters, groups)
    lags = "equal over waves" if result.equal_lags else "free per wave"
    fit = result.fit
    ci = f"{result.conf_level:.0%} CI"
    significance = (f"solid: {ci} excludes 0" if len(groups) == 1
                    else f"*: {ci} excludes 0 in that group; solid: in every group")
    note = (f"Unstandardized within-person lagged effects ({lags}); {significance}. "
            f"Chi-square {fit['chisq']:.1f} (df {fit['df']:.0f}), CFI {fit['cfi']:.3f}, RMSEA {fit['rmsea']:.3f}")
    title = f"{result.model}: {_listing(list(names.values()))}" + _group_title(result, groups)
    height = (4.2 if len(letters) == 2 else 5.6) + 0.5 * (len(groups) - 1)
    return draw(nodes, edges, title=title, size=(2 + 1.6 * len(waves), height), note=note)


def cross_lags(results: dict, x_label: str | None = None, y_label: str | None = None,
               z_label: str | None = None) -> plt.Figure:
    """Standardized cross-lagged effects in every direction, per model (and group), with intervals.

    Parameters
    ----------
    results : dict of str to PanelResult
        Models to compare (e.g. ``{"RI-CLPM": ri, "CLPM": classic}``), fitted to
        the same variables and groups: two variables give the two directions,
        three the six (x -> y, y -> x, x -> z, z -> x, y -> z, z -> y).
    x_label, y_label, z_label : str, optional
        Display names (default the first result's column names).

    Returns
    -------
    matplotlib.figure.Figure
        One row per model and direction; with several groups one point per group
        in each row, coloured by group (legend).

    Raises
    ------
    TypeError
        If a value of ``results`` is not a :class:`~analysis.panel.PanelResult`.
    ValueError
        If ``results`` is empty or its models differ in variables or groups.

    Notes
    -----
    Each effect is the standardized lag (lavaan's ``std.all``) averaged over
    transitions, with a delta-method Wald interval (the result's ``conf_level``): the
    ``std`` columns of :func:`analysis.panel.directions` for each pair of variables.
    """
    first = _check_comparable(results)
    names = first.labels(x_label, y_label, z_label)
    table = pd.concat({name: _mean_standardized(result, names) for name, result in results.items()},
                      names=["model"])
    rows = list(dict.fromkeys(zip(table.index.get_level_values("model"), table.index.get_level_values("direction"))))
    groups = first.groups
    fig, ax = plt.subplots(figsize=(6.5, (0.35 + 0.2 * len(groups)) * len(rows) + 1.2))
    by_group = len(groups) > 1
    colors = sns.color_palette("colorblind", len(groups) if by_group else len(results))
    shifts = np.linspace(-0.25, 0.25, len(groups)) if by_group else [0.0]
    for k, (model, direction) in enumerate(rows):
        for g, (label, shift) in enumerate(zip(groups, shifts)):
            row = table.loc[(model, g, direction)]
            color = colors[g] if by_group else colors[list(results).index(model)]
            ax.errorbar(row["estimate"], k + shift, xerr=[[row["estimate"] - row["ci_low"]],
                                                          [row["ci_high"] - row["estimate"]]],
                        fmt="o", color=color, capsize=3, label=str(label) if by_group and k == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{model}: {direction}" for model, direction in rows])
    ax.axvline(0, color="0.5", lw=0.8)
    ax.invert_yaxis()
    if by_group:
        ax.legend(title="group", fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    levels = "/".join(sorted({f"{r.conf_level:.0%}" for r in results.values()}))
    ax.set(xlabel=f"standardized cross-lag (mean over transitions), {levels} CI",
           title="Which comes first? " + ("Both directions" if len(names) == 2 else "Every direction"))
    fig.tight_layout()
    return fig


def standardized_lags(result, x_label: str | None = None, y_label: str | None = None,
                      z_label: str | None = None) -> plt.Figure:
    """Standardized lagged effects (std.all) at every transition with 95% intervals.

    Parameters
    ----------
    result : PanelResult
        Two variables (four effects) or three (nine); several groups give one panel
        per group on a common scale.
    x_label, y_label, z_label : str, optional
        Display names (default the column names).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    TypeError
        If ``result`` is not a :class:`~analysis.panel.PanelResult`.
    """
    _check_result(result, "standardized_lags")
    names = result.labels(x_label, y_label, z_label)
    effects = {f"{out}_on_{pred}": f"{names[pred]} -> {names[out]}" for out in names for pred in names}
    groups = result.groups
    fig, axes = plt.subplots(1, len(groups), figsize=(1.5 + 4.5 * len(groups), 3.6), sharey=True, squeeze=False)
    colors = sns.color_palette("colorblind", len(effects))
    spread = np.linspace(-0.2, 0.2, len(effects))
    transitions = np.arange(len(result.waves) - 1)
    for ax, label in zip(axes[0], groups):
        table = result.standardized if label is None else result.standardized.loc[label]
        for (effect, name), color, shift in zip(effects.items(), colors, spread):
            part = table.loc[effect]
            ax.errorbar(transitions + shift, part["estimate"], yerr=[part["estimate"] - part["ci_low"],
                                                                     part["ci_high"] - part["estimate"]],
                        fmt="o-", color=color, capsize=2, label=name)
        ax.set_xticks(transitions, [f"{a}->{b}" for a, b in zip(result.waves, result.waves[1:])])
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set(xlabel="waves", title=f"{result.model}: lagged effects by transition" if label is None else str(label))
    axes[0, 0].set_ylabel("standardized effect")
    axes[0, -1].legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    if len(groups) > 1:
        fig.suptitle(f"{result.model}: lagged effects by transition, per group")
    fig.tight_layout()
    return fig


def _check_result(result, who: str) -> None:
    if not isinstance(result, panel.PanelResult):
        raise TypeError(f"{who}: needs a PanelResult of analysis.panel.riclpm or clpm, got {type(result).__name__}")


def _check_comparable(results: dict):
    """The first of several results fitted to the same variables and groups."""
    if not isinstance(results, dict) or not results:
        raise ValueError("cross_lags: needs a non-empty dict of model name -> PanelResult, "
                         f"got {results!r:.60}")
    for result in results.values():
        _check_result(result, "cross_lags")
    first_name, first = next(iter(results.items()))
    for name, other in results.items():
        if (other.x, other.y, other.z) != (first.x, first.y, first.z) or other.groups != first.groups:
            raise ValueError(f"cross_lags: models differ in variables or groups: {first_name!r} "
                             f"({_described(first)}) vs {name!r} ({_described(other)})")
    return first


def _described(result) -> str:
    variables = ", ".join(v for v in (result.x, result.y, result.z) if v)
    return variables + (f"; groups {result.groups}" if len(result.groups) > 1 else "")


def _listing(words: list) -> str:
    return ", ".join(words[:-1]) + f" and {words[-1]}"


def _groups_drawn(result, group) -> list:
    if group is None:
        return result.groups
    if group not in result.groups or len(result.groups) == 1:
        raise ValueError(f"path_diagram: group {group!r} is not a group of this result "
                         f"(groups: {result.groups if len(result.groups) > 1 else 'none, a single-group fit'})")
    return [group]


def _group_title(result, groups: list) -> str:
    if len(result.groups) == 1:
        return ""
    return f" ({groups[0]})" if len(groups) == 1 else f", groups {', '.join(map(str, groups))}"


def _excludes_zero(row) -> bool:
    return bool(row["ci_low"] > 0 or row["ci_high"] < 0)


def _label(result, table: str, key, groups: list, prefix: str = "") -> tuple[str, bool]:
    """Label and solidity of an arrow: the estimate (one line per group) and whether its CI excludes 0."""
    frame = getattr(result, table)
    rows = [(g, frame.loc[key] if g is None else frame.loc[g].loc[key]) for g in groups]
    if len(rows) == 1:
        return f"{prefix}{rows[0][1]['estimate']:.2f}", _excludes_zero(rows[0][1])
    lines = [f"{g}: {prefix}{row['estimate']:.2f}{'*' if _excludes_zero(row) else ''}" for g, row in rows]
    return "\n".join(lines), all(_excludes_zero(row) for _, row in rows)


def _lag_placement(letters: list, source: str, target: str, n_lines: int) -> dict:
    """Where a lag's label of ``n_lines`` lines sits: autoregressions beside their row (clear of the
    boxes), cross-lags near one end of the arrow."""
    if source == target:
        above = letters.index(source) < len(letters) - 1
        shift = 0.05 + 0.03 * (n_lines - 1)
        return {"position": 0.5, "offset": (0, shift if above else -shift)}
    adjacent = abs(letters.index(source) - letters.index(target)) == 1
    return {"position": 0.28 if adjacent else 0.78, "offset": (-0.03, 0)}


def _intercept_edges(result, letters: list, groups: list) -> list[Edge]:
    """The correlations of the random intercepts (nodes ``rix``, ``riy``, ...)."""
    edges = []
    for a, b in combinations(letters, 2):
        quantity = "corr" if len(letters) == 2 else f"corr_{a}{b}"
        label, strong = _label(result, "between", quantity, groups, prefix="r = ")
        far = abs(letters.index(a) - letters.index(b)) > 1
        edges.append(Edge(f"ri{a}", f"ri{b}", label, both=True, strong=strong, bend=0.55 if far else 0.3,
                          offset=(-0.11 if far else -0.07, 0)))
    return edges


def _mean_standardized(result, names: dict) -> pd.DataFrame:
    """Standardized cross-lags averaged over transitions, with their intervals, per group
    (:func:`analysis.panel.directions` of every pair of variables).

    Index ``(group, direction)``, ``group`` the position in ``result.groups``: the
    directions of every pair of variables (first ``a -> b``, then ``b -> a``).
    """
    labels = {f"{letter}_label": name for letter, name in names.items()}
    parts = []
    for pair in combinations(list(names), 2):
        table = panel.directions(result, pair=pair, **labels)
        table = table if len(result.groups) > 1 else pd.concat({result.groups[0]: table}, names=["group"])
        parts.append(table.drop(index="difference", level=-1)[["std", "std_low", "std_high"]])
    table = pd.concat(parts).rename(columns={"std": "estimate", "std_low": "ci_low", "std_high": "ci_high"})
    position = {group: k for k, group in enumerate(result.groups)}
    table.index = pd.MultiIndex.from_arrays([table.index.get_level_values(0).map(position),
                                             table.index.get_level_values(-1)], names=["group", "direction"])
    return table
