"""Figures of the meta-analysis: forest, subgroup forest, orchard and (contour-enhanced) funnel plots.

Every function takes a fitted model (:class:`analysis.meta.RmaResult`; funnel plots
also :class:`analysis.meta.RmaMhResult`, grouped forest plots
:class:`analysis.meta.RmaMvResult`) and returns a matplotlib ``Figure``. They draw
what metafor's ``forest.rma``, ``addpoly`` and ``funnel.rma`` draw: study estimates
with their confidence intervals (normal quantiles at the model's level), pooled
estimates as diamonds with their prediction intervals, the funnel of pseudo
confidence limits or the contours of significance; and the orchard plot of
Nakagawa et al. (2021) for effects by moderator level.

The pieces every figure shares (study rows, diamonds, value labels, the x axis) are
drawn by the private helpers below; the artists that tests and readers look for
carry a ``gid`` (``"diamond"``, ``"pi"``, ``"ci"``, ``"estimate"``, ``"effects"``,
``"contour"``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.patches import Patch, Polygon
from scipy import stats

from ..meta import MetaInputError, rma
from ..meta.result import _pval

__all__ = ["forest", "forest_mv", "forest_subgroups", "funnel", "orchard"]

#: metafor's shades of the contour-enhanced funnel (``level = c(90, 95, 99)``), innermost first,
#: and the background beyond the last contour (``back = "lightgray"``).
CONTOUR_SHADES = ("white", "0.55", "0.75")
CONTOUR_BACK = "0.83"


# --------------------------------------------------------------------------- shared pieces


def _identity(x: Any) -> Any:
    return x


def _interval_text(back: Callable[[Any], Any], estimate: float, lower: float, upper: float) -> str:
    """``estimate [lower, upper]`` on the back-transformed scale, two decimals."""
    return f"{back(estimate):.2f} [{back(lower):.2f}, {back(upper):.2f}]"


def _study_rows(ax: plt.Axes, yi: np.ndarray, sei: np.ndarray, rows: np.ndarray, crit: float, sizes: np.ndarray,
                back: Callable[[Any], Any] | None = None, lw: float = 1.0) -> list[str]:
    """Confidence intervals (one line collection) and squares of the studies; returns their value labels."""
    ax.hlines(rows, yi - crit * sei, yi + crit * sei, color="black", lw=lw)
    ax.scatter(yi, rows, s=sizes, marker="s", color=sns.color_palette("colorblind")[0], zorder=3)
    return [_interval_text(back or _identity, y, y - crit * s, y + crit * s) for y, s in zip(yi, sei)]


def _diamond(ax: plt.Axes, pred: float, lower: float, upper: float, row: float, height: float = 0.35,
             color: str = "black", alpha: float = 1.0) -> None:
    """A diamond spanning the confidence interval, its widest at the estimate's row."""
    ax.add_patch(Polygon([(lower, row), (pred, row + height), (upper, row), (pred, row - height)], closed=True,
                         color=color, alpha=alpha, gid="diamond"))


def _pooled(ax: plt.Axes, pooled: pd.Series, row: float, show_pi: bool) -> None:
    """A pooled estimate (a row of ``predict``): its diamond and, when asked and available, a dotted PI."""
    _diamond(ax, pooled.pred, pooled.ci_lb, pooled.ci_ub, row)
    if show_pi and "pi_lb" in pooled and np.isfinite(pooled.pi_lb):
        ax.hlines(row, pooled.pi_lb, pooled.pi_ub, color="black", lw=1, linestyles="dotted", gid="pi")


def _fitted_diamonds(ax: plt.Axes, fitted: pd.DataFrame, rows: np.ndarray) -> None:
    """Grey diamonds of the fitted values of a model with moderators, one per study row."""
    for row, (_, fit) in zip(rows, fitted.iterrows()):
        _diamond(ax, fit.pred, fit.ci_lb, fit.ci_ub, row, height=0.25, color="grey", alpha=0.5)


def _x_axis(ax: plt.Axes, transf: Callable[[Any], Any] | None, xlabel: str | None) -> None:
    """The reference line at 0 (no effect on the model's scale), back-transformed tick labels and the label."""
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    if transf is not None:
        ax.set_xticks(ax.get_xticks(), [f"{transf(t):.2f}" for t in ax.get_xticks()])
    ax.set_xlabel(xlabel or "Observed outcome")


def _right_labels(ax: plt.Axes, ticks: Sequence[float], labels: Sequence[str]) -> None:
    """Estimates and intervals printed on the right, as metafor's forest plots do."""
    right = ax.secondary_yaxis("right")
    right.set_yticks(list(ticks), list(labels))
    right.tick_params(length=0)


def _model_label(fit: Any) -> str:
    """metafor's label of a pooled row: "RE Model" or "FE Model"/"EE Model"."""
    return f"{fit.method} Model" if fit.method in ("FE", "EE") else "RE Model"


# --------------------------------------------------------------------------- forest plots


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
    sizes = 20 + 180 * result.weights.to_numpy() / result.weights.max()
    labels = _study_rows(ax, yi, sei, rows, crit, sizes, transf)
    ticks, ytick_labels = list(rows), list(map(str, result.yi.index))
    if result.int_only:
        pooled = result.predict().iloc[0]
        _pooled(ax, pooled, 0.0, show_pi)
        ticks.append(0.0)
        ytick_labels.append(_model_label(result))
        labels.append(_interval_text(transf or _identity, pooled.pred, pooled.ci_lb, pooled.ci_ub))
    else:
        _fitted_diamonds(ax, result.predict(), rows)
    ax.set_yticks(ticks, ytick_labels)
    ax.set_ylim(-1 if result.int_only else 1, k + 2)
    _right_labels(ax, ticks, labels)
    _x_axis(ax, transf, xlabel)
    ax.set_title(f"{result.model_name} (k = {k})")
    fig.tight_layout()
    return fig


def forest_subgroups(result: Any, groups: Any, transf: Callable[[Any], Any] | None = None, xlabel: str | None = None,
                     show_pi: bool = True) -> plt.Figure:
    """Forest plot with subgroups: the studies in blocks by moderator level, a diamond per block and overall.

    Each block is headed by its level and closed by the pooled estimate of an
    :func:`analysis.meta.rma` fitted to its studies alone, with the method, test and
    level of ``result`` (a block of a single study gets an equal-effects fit, its
    own estimate); the overall diamond is ``result``'s, as metafor's
    ``forest(res); addpoly(rma(..., subset = ...))`` draws them. Below, the test for
    subgroup differences, :math:`Q_M` of the model with the levels as moderators.

    Parameters
    ----------
    result : analysis.meta.RmaResult
        Intercept-only model of all studies.
    groups : array-like
        The moderator level of each study of ``result``, in the order of
        ``result.yi`` (e.g. ``data["alloc"]`` when no study was omitted). Blocks
        follow the order of a categorical's categories, else of first appearance.
    transf, xlabel, show_pi
        As :func:`forest`; ``show_pi`` draws the prediction intervals of the
        random-effects diamonds.

    Returns
    -------
    matplotlib.figure.Figure
        One block per level (bold header, studies, a diamond labelled
        "RE Model for <level>"), then the overall diamond.

    Raises
    ------
    MetaInputError
        A model with moderators, or ``groups`` of the wrong length.
    """
    if not result.int_only:
        raise MetaInputError("forest_subgroups takes an intercept-only model; the subgroups come from `groups`")
    level_of, levels = _levels(result, groups)
    crit = stats.norm.isf(result.alpha / 2)
    blocks = [np.flatnonzero(level_of == level) for level in levels]
    n_rows = sum(len(block) + 3 for block in blocks) + 1  # header, studies, diamond, gap; overall
    order = np.concatenate(blocks)
    study_rows, header_rows, diamond_rows = [], [], []
    row = float(n_rows)
    for block in blocks:
        header_rows.append(row)
        study_rows.extend(row - 1 - np.arange(len(block)))
        diamond_rows.append(row - 1 - len(block))
        row -= len(block) + 3
    study_rows = np.array(study_rows)
    yi, sei = result.yi.to_numpy()[order], np.sqrt(result.vi.to_numpy())[order]
    fig, ax = plt.subplots(figsize=(8, 0.3 * n_rows + 2.0))
    weights = result.weights.to_numpy()[order]
    labels = _study_rows(ax, yi, sei, study_rows, crit, 20 + 180 * weights / weights.max(), transf)
    ticks, ytick_labels = list(study_rows), [str(label) for label in result.yi.index[order]]
    back = transf or _identity
    for level, block, diamond_row in zip(levels, blocks, diamond_rows):
        fit = _subgroup_fit(result, block)
        pooled = fit.predict().iloc[0]
        _pooled(ax, pooled, diamond_row, show_pi)
        ticks.append(diamond_row)
        ytick_labels.append(f"{_model_label(fit)} for {level}")
        labels.append(_interval_text(back, pooled.pred, pooled.ci_lb, pooled.ci_ub))
    overall = result.predict().iloc[0]
    _pooled(ax, overall, 1.0, show_pi)
    ticks += [1.0, *header_rows]
    ytick_labels += [_model_label(result), *map(str, levels)]
    labels += [_interval_text(back, overall.pred, overall.ci_lb, overall.ci_ub), *([""] * len(levels))]
    ax.set_yticks(ticks, ytick_labels)
    ax.set_ylim(0, n_rows + 1)
    for tick in ax.get_yticklabels():
        if tick.get_position()[1] in header_rows:
            tick.set_fontweight("bold")
    _right_labels(ax, ticks, labels)
    _x_axis(ax, transf, xlabel)
    ax.set_title(f"{result.model_name} by subgroup (k = {result.k}; {len(levels)} subgroups)")
    difference = _subgroup_test(result, level_of)
    if difference:
        ax.text(0.0, -0.08, difference, transform=ax.transAxes, va="top", fontsize="small")
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
    precision = 1 / sei**2
    _study_rows(ax, yi, sei, rows, crit, 10 + 80 * precision / precision.max(), lw=0.8)
    first = np.r_[True, grouped[1:] != grouped[:-1]]
    for row in rows[first][1:]:
        ax.axhline(row + 0.5, color="0.85", lw=0.6)
    ticks = list(rows[first])
    labels = [f"{group} {level}" for level in grouped[first]]
    if result.int_only:
        pooled = result.predict().iloc[0]
        _pooled(ax, pooled, 0.0, show_pi)
        ticks.append(0.0)
        labels.append("RE Model")
        ax.text(1.01, 0, _interval_text(transf or _identity, pooled.pred, pooled.ci_lb, pooled.ci_ub),
                transform=ax.get_yaxis_transform(), va="center", fontsize="small")
    else:
        _fitted_diamonds(ax, result.predict().iloc[order], rows)
    ax.set_yticks(ticks, labels, fontsize="small")
    ax.set_ylim(-1 if result.int_only else 1, k + 2)
    _x_axis(ax, transf, xlabel)
    ax.set_title(f"Multilevel model (k = {k}; {result.factors[group].nunique()} {group} levels)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- subgroups and moderator levels


def _levels(result: Any, groups: Any) -> tuple[np.ndarray, list]:
    """The level of each study (as given) and the levels in display order (categories', else first appearance)."""
    values = np.asarray(groups, dtype=object)
    if values.ndim != 1 or len(values) != result.k:
        raise MetaInputError(f"groups must give one level per study of the fit ({result.k}), got shape {values.shape}")
    if pd.isna(values).any():
        raise MetaInputError("groups has missing levels; drop those studies from the fit first")
    if isinstance(getattr(groups, "dtype", None), pd.CategoricalDtype):
        present = set(values)
        return values, [level for level in pd.Categorical(groups).categories if level in present]
    return values, list(pd.unique(values))


def _subgroup_fit(result: Any, rows: np.ndarray) -> Any:
    """``rma`` on the studies ``rows`` with ``result``'s method, test and level (equal effects for one study)."""
    method = result.method if len(rows) > 1 else "EE"
    return rma(result.yi.iloc[rows], result.vi.iloc[rows], method=method, test=result.test, level=result.level)


def _moderator_fit(result: Any, level_of: np.ndarray, formula: str) -> Any:
    """``rma`` of ``result``'s studies with the levels as a categorical moderator ``C(level)``."""
    frame = pd.DataFrame({"yi": result.yi.to_numpy(), "vi": result.vi.to_numpy(), "level": level_of.astype(str)})
    return rma("yi", "vi", mods=formula, data=frame, method=result.method, test=result.test, level=result.level)


def _subgroup_test(result: Any, level_of: np.ndarray) -> str:
    """The test for subgroup differences in words (empty when the model cannot be fitted)."""
    try:
        fit = _moderator_fit(result, level_of, "~ C(level)")
    except MetaInputError:
        return ""
    df = f"{fit.QMdf[0]}" + (f", {fit.QMdf[1]}" if fit.QMdf[1] is not None else "")
    stat = "F" if fit.QMdf[1] is not None else "Q_M"
    return f"Test for subgroup differences: {stat}(df = {df}) = {fit.QM:.2f}, p {_pval(fit.QMp, True)}"


def orchard(result: Any, groups: Any, transf: Callable[[Any], Any] | None = None, xlabel: str | None = None,
            seed: int = 0) -> plt.Figure:
    r"""Orchard plot (Nakagawa et al. 2021): the effects by moderator level, each level's estimate, CI and PI.

    The level estimates come from one model with the levels as moderators and no
    intercept (``rma(yi, vi, mods = ~ 0 + level)``, with ``result``'s method, test and
    level; one :math:`\tau^2` shared by the levels), as the orchaRd package computes
    them: per level the estimate (the "trunk", a large point), its confidence
    interval (thick "branch") and prediction interval
    :math:`\hat\mu_j \pm c\sqrt{\mathrm{SE}_j^2 + \tau^2}` (thin "twig"; none for
    equal-effects models), over the study effects (the "fruit"), jittered
    vertically and sized by their precision :math:`1/\sqrt{v_i}`.

    Parameters
    ----------
    result : analysis.meta.RmaResult
        A model of the studies (its moderators are not used).
    groups : array-like
        The moderator level of each study, in the order of ``result.yi``. Levels
        are drawn top to bottom in the order of a categorical's categories, else of
        first appearance.
    transf : callable, optional
        Back-transformation of the tick labels (the axis stays on the model's scale).
    xlabel : str, optional
        Axis label (default "Observed outcome").
    seed : int
        Seed of the vertical jitter.

    Returns
    -------
    matplotlib.figure.Figure
        Artists with ``gid`` ``"effects"`` (one scatter per level), ``"ci"`` and
        ``"pi"`` (one line collection each, a segment per level) and ``"estimate"``;
        the number of studies is printed by each level.

    Raises
    ------
    MetaInputError
        ``groups`` of the wrong length, or too few studies for the model.
    """
    level_of, levels = _levels(result, groups)
    fit = _moderator_fit(result, level_of, "~ 0 + C(level)")
    predicted = fit.predict(newmods=pd.DataFrame({"level": [str(level) for level in levels]}))
    rows = np.arange(len(levels), 0, -1).astype(float)
    rng = np.random.default_rng(seed)
    palette = sns.color_palette("colorblind", len(levels))
    precision = 1 / np.sqrt(result.vi.to_numpy())
    sizes = 15 + 150 * precision / precision.max()
    fig, ax = plt.subplots(figsize=(7, 1.1 * len(levels) + 1.6))
    for row, level, colour in zip(rows, levels, palette):
        mine = level_of == level
        ax.scatter(result.yi.to_numpy()[mine], row + rng.uniform(-0.3, 0.3, mine.sum()), s=sizes[mine],
                   color=colour, alpha=0.45, edgecolors="none", gid="effects")
        ax.annotate(f"k = {mine.sum()}", (0.01, row + 0.32), xycoords=("axes fraction", "data"), fontsize="small")
    if "pi_lb" in predicted:
        ax.hlines(rows, predicted.pi_lb, predicted.pi_ub, color="black", lw=1.2, gid="pi", zorder=4)
    ax.hlines(rows, predicted.ci_lb, predicted.ci_ub, color="black", lw=5, gid="ci", zorder=5)
    ax.scatter(predicted.pred, rows, s=120, color=palette, edgecolors="black", linewidths=1.2, zorder=6,
               gid="estimate")
    ax.set_yticks(rows, [str(level) for level in levels])
    ax.set_ylim(0.4, len(levels) + 0.6)
    _x_axis(ax, transf, xlabel)
    ax.set_title(f"Orchard plot ({_model_label(fit)}; k = {result.k})")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- funnel plots


def _funnel_region(ax: plt.Axes, centre: float, crit: float, top: float, **style: Any) -> Polygon:
    """The triangle ``centre ± crit * SE`` from SE 0 to ``top``, filled."""
    return ax.fill([centre - crit * top, centre, centre + crit * top], [top, 0, top], zorder=0, **style)[0]


def funnel(result: Any, fill: np.ndarray | None = None, xlabel: str | None = None,
           contours: Sequence[float] | None = None, shade: Sequence[str] | None = None,
           refline: float | None = None) -> plt.Figure:
    """Funnel plot: outcomes (residuals for models with moderators) against their standard errors.

    Parameters
    ----------
    result : analysis.meta.RmaResult or analysis.meta.RmaMhResult
        Fitted model.
    fill : array of bool, optional
        Studies imputed by trim-and-fill, drawn hollow (see
        :meth:`analysis.meta.TrimfillResult.funnel`).
    xlabel : str, optional
        Axis label (default "Observed outcome", or "Residual value" with moderators).
    contours : sequence of float, optional
        Confidence levels in percent, e.g. ``(90, 95, 99)``: a contour-enhanced
        funnel (Peters et al. 2008) as metafor's ``funnel(res, level = c(90, 95, 99),
        shade = ..., refline = 0)``. The region ``refline ± z_{(1+L)/2} SE`` of each
        level is shaded, so that a study's shade tells its two-sided p-value against
        the reference line: white :math:`p > 0.10`, then
        :math:`0.05 < p \\le 0.10`, :math:`0.01 < p \\le 0.05`, and the background
        :math:`p \\le 0.01`; a legend says which is which.
    shade : sequence of str, optional
        Colours of the contour regions, innermost (lowest level) first (default
        :data:`CONTOUR_SHADES`, metafor's example).
    refline : float, optional
        Centre of the funnel: default the pooled estimate (0 for residuals), but 0
        (no effect) for contours.

    Returns
    -------
    matplotlib.figure.Figure
        Standard error on the inverted vertical axis, a vertical line at the centre
        and either the pseudo confidence region ``centre ± z * SE`` at the model's
        level or the significance contours (patches with ``gid="contour"``).
    """
    sei = np.sqrt(result.vi.to_numpy())
    x = (result.yi if result.int_only else result.residuals).to_numpy()
    if refline is None:
        refline = 0.0 if contours is not None or not result.int_only else float(result.beta.iloc[0])
    top = sei.max() * 1.05
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    handles: list[Any] = []
    if contours is None:
        crit = stats.norm.isf(result.alpha / 2)
        _funnel_region(ax, refline, crit, top, color="0.93")
        ax.plot([refline - crit * top, refline, refline + crit * top], [top, 0, top], color="0.5", lw=0.8, ls="--")
    else:
        handles = _contours(ax, refline, top, contours, shade)
        widest = stats.norm.isf((1 - max(contours) / 100) / 2) * top
        ax.set_xlim(min(refline - 1.1 * widest, np.nanmin(x)), max(refline + 1.1 * widest, np.nanmax(x)))
    ax.axvline(refline, color="black", lw=1)
    observed = np.ones(len(x), bool) if fill is None else ~np.asarray(fill, bool)
    ax.scatter(x[observed], sei[observed], color="black", s=25, zorder=3, label="observed")
    if fill is not None and np.any(fill):
        handles.append(ax.scatter(x[~observed], sei[~observed], facecolors="white", edgecolors="black", s=25,
                                  zorder=3, label="filled in (trim-and-fill)"))
    if handles:
        ax.legend(handles=handles, loc="upper right" if contours is not None else "lower right", fontsize="small")
    ax.set_ylim(top, 0)
    ax.set(xlabel=xlabel or ("Observed outcome" if result.int_only else "Residual value"),
           ylabel="Standard error", title="Contour-enhanced funnel plot" if contours is not None else "Funnel plot")
    fig.tight_layout()
    return fig


def _contours(ax: plt.Axes, centre: float, top: float, levels: Sequence[float],
              shade: Sequence[str] | None) -> list[Any]:
    """Shade the significance regions of ``levels`` (percent), widest first; legend handles, innermost first."""
    levels = sorted(float(level) for level in levels)
    if not levels or any(not 0 < level < 100 for level in levels):
        raise MetaInputError(f"contours must be confidence levels in (0, 100), e.g. (90, 95, 99); got {levels}")
    shade = list(shade) if shade is not None else list(CONTOUR_SHADES[:len(levels)])
    if len(shade) < len(levels):
        raise MetaInputError(f"shade gives {len(shade)} colours for {len(levels)} contours")
    alphas = [1 - level / 100 for level in levels]
    labels = [f"{low:.2f} < p \u2264 {high:.2f}" for low, high in zip(alphas, [1.0, *alphas[:-1]])]
    ax.set_facecolor(CONTOUR_BACK)
    for level, colour, label in reversed(list(zip(levels, shade, labels))):
        _funnel_region(ax, centre, stats.norm.isf((1 - level / 100) / 2), top, color=colour, label=label,
                       gid="contour")
    back = Patch(facecolor=CONTOUR_BACK, edgecolor="0.5", label=f"0.00 < p \u2264 {alphas[-1]:.2f}")
    return [Patch(facecolor=colour, edgecolor="0.5", label=label) for colour, label in zip(shade, labels)] + [back]
