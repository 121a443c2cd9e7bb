"""Figures draw what they say: one panel per arm, every item, the instrument's range."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch  # noqa: E402

from analysis import io, plots  # noqa: E402
from analysis.plots import panel as panel_plots  # noqa: E402

TRIAL = io.load_trial("synthetic_trial")


def test_trajectories_has_a_panel_per_arm_with_spaghetti_and_mean():
    fig = plots.trajectories(TRIAL, "gse_total", n_spaghetti=10, seed=1)
    axes = fig.axes
    assert [ax.get_title().split(" (")[0] for ax in axes] == ["control", "cbt", "mindfulness"]
    assert len(axes[0].lines) >= 11  # ten people and the mean


def test_retention_plots_each_arm():
    fig = plots.retention(io.retention(TRIAL))
    assert len(fig.axes[0].lines) == 3


def test_item_and_total_distributions_cover_items_and_range():
    fig = plots.item_distributions(TRIAL, "phq9")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == [f"phq9_{i}" for i in range(1, 10)]
    fig = plots.total_distributions(TRIAL, "phq9")
    assert fig.axes[0].get_ylim() == (-1, 28)


def test_tipping_point_plot_marks_the_tipping_delta():
    from analysis import missing, simulate
    from analysis.plots import missing as missing_plots

    data, _ = simulate.trial(n_per_arm=60, waves=4, arms=("control", "cbt"), se_slope_effect={"cbt": 0.3},
                             symptom_slope_effect={"cbt": -0.4}, source_trends={}, sessions_offered={"cbt": 2},
                             dropout_rate=0.15, seed=3)
    result = missing.tipping_point(data, [0, 4, 8, 12], outcome="phq9_total", m=3, seed=1)
    fig = missing_plots.tipping_point(result)
    ax = fig.axes[0]
    tip = result.tipping.loc["cbt - control", "tipping_delta"]
    assert len(ax.lines[0].get_xdata()) == 4
    assert (np.isfinite(tip) and any(np.allclose(line.get_xdata(), tip) for line in ax.lines[1:])) or "no tipping" in ax.get_title()
    at_zero = result.table[result.table["delta"] == 0].set_index("term")[["estimate", "ci_low", "ci_high"]]
    table = pd.concat({"MAR": at_zero}, names=["analysis"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one row: no pandas FutureWarning from float() on a Series
        fig = missing_plots.sensitivity(table)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["MAR: cbt - control"]
    x, y = fig.axes[0].lines[0].get_data()
    assert np.allclose(x, table["estimate"]) and list(y) == [0]


# --- cross-lagged panel figures: two and three variables, one group and several -----------------

PANEL_WAVES = 4


def small_panel(n_per_group=100, seed=5):
    """Two groups of a random-intercept VAR(1) of x, y, z at four waves (the y_on_x lag differs by group)."""
    rng = np.random.default_rng(seed)
    frames = []
    for g, name in enumerate(["a", "b"]):
        lags = np.array([[0.4, 0.15, 0.1], [-0.2 - 0.15 * g, 0.35, 0.0], [0.1, -0.1, 0.3]])  # outcome x predictor
        stable = rng.multivariate_normal(np.zeros(3), [[1, 0.3, 0.2], [0.3, 1, 0.1], [0.2, 0.1, 1]], n_per_group)
        within = rng.normal(size=(n_per_group, 3))
        for wave in range(PANEL_WAVES):
            if wave:
                within = within @ lags.T + rng.normal(0, 0.8, (n_per_group, 3))
            values = 10 + stable + within
            frames.append(pd.DataFrame({"id": np.arange(n_per_group) + g * n_per_group, "wave": wave, "arm": name,
                                        "x": values[:, 0], "y": values[:, 1], "z": values[:, 2]}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def panel_fits():
    from analysis import panel

    data = small_panel()
    return {"two": panel.riclpm(data, "x", "y", "id", "wave"), "classic": panel.clpm(data, "x", "y", "id", "wave"),
            "three": panel.riclpm(data, "x", "y", "id", "wave", z="z"),
            "arms": panel.riclpm(data, "x", "y", "id", "wave", groups="arm")}


def diagram_parts(fig):
    ax = fig.axes[0]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    return arrows, boxes, ellipses, [t.get_text() for t in ax.texts]


def points(ax):
    """x of every point drawn with an interval, in drawing order."""
    return np.array([c.lines[0].get_xdata()[0] for c in ax.containers])


def test_panel_path_diagram_of_two_variables_draws_every_lag_and_the_intercept_correlation(panel_fits):
    two = panel_fits["two"]
    arrows, boxes, ellipses, texts = diagram_parts(panel_plots.path_diagram(two, "SE", "symptoms"))
    assert (len(arrows), len(boxes), len(ellipses)) == (4 * (PANEL_WAVES - 1) + 1, 2 * PANEL_WAVES, 2)
    for effect in ["x_on_x", "x_on_y", "y_on_x", "y_on_y"]:
        assert f"{two.lagged.loc[effect, 'estimate']:.2f}" in texts
    assert f"r = {two.between.loc['corr', 'estimate']:.2f}" in texts
    lag = two.lagged.loc["y_on_x"]  # the second arrow: x at wave 1 -> y at wave 2; solid when its CI excludes 0
    assert arrows[1].get_linewidth() == (1.6 if lag["ci_low"] > 0 or lag["ci_high"] < 0 else 0.9)
    plt.close("all")


def test_panel_cross_lags_of_two_variables_are_the_directions_standardized_effects(panel_fits):
    from analysis import panel

    two, classic = panel_fits["two"], panel_fits["classic"]
    ax = panel_plots.cross_lags({"RI-CLPM": two, "CLPM": classic}, "SE", "symptoms").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "RI-CLPM: SE -> symptoms", "RI-CLPM: symptoms -> SE", "CLPM: SE -> symptoms", "CLPM: symptoms -> SE"]
    expected = [panel.directions(fit, "SE", "symptoms")["std"].iloc[:2] for fit in (two, classic)]
    assert np.allclose(points(ax), np.concatenate(expected), rtol=1e-8, atol=0)
    plt.close("all")


def test_panel_figures_of_three_variables_show_all_six_cross_lags(panel_fits):
    from analysis import panel

    three = panel_fits["three"]
    arrows, boxes, ellipses, texts = diagram_parts(panel_plots.path_diagram(three, z_label="sessions"))
    assert (len(arrows), len(boxes), len(ellipses)) == (9 * (PANEL_WAVES - 1) + 3, 3 * PANEL_WAVES, 3)
    for effect, row in three.lagged.iterrows():
        assert f"{row['estimate']:.2f}" in texts, effect
    for pair in ["xy", "xz", "yz"]:
        assert f"r = {three.between.loc[f'corr_{pair}', 'estimate']:.2f}" in texts
    assert "sessions\nwave 0" in texts
    ax = panel_plots.cross_lags({"RI-CLPM": three}, z_label="sessions").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        f"RI-CLPM: {d}" for d in ["x -> y", "y -> x", "x -> sessions", "sessions -> x", "y -> sessions",
                                  "sessions -> y"]]
    assert np.allclose(points(ax)[:2], panel.directions(three)["std"].iloc[:2], rtol=1e-8, atol=0)
    for k, pair in enumerate([("x", "z"), ("y", "z")]):  # the plot's other pairs are directions(pair=...)
        table = panel.directions(three, z_label="sessions", pair=pair)
        assert list(table.index) == [f"{pair[0]} -> sessions", f"sessions -> {pair[0]}", "difference"]
        means = [three.standardized.loc[effect, "estimate"].mean() for effect in (f"z_on_{pair[0]}", f"{pair[0]}_on_z")]
        np.testing.assert_allclose(table["std"].iloc[:2], means, rtol=1e-10)
        assert np.allclose(points(ax)[2 + 2 * k:4 + 2 * k], table["std"].iloc[:2], rtol=1e-8, atol=0)
    for bad in [("x", "x"), ("x", "w"), "xy"]:
        with pytest.raises(ValueError, match="pair must be two different processes of the model"):
            panel.directions(three, pair=bad)
    with pytest.raises(ValueError, match=r"from \['x', 'y'\]; got \('x', 'z'\)"):
        panel.directions(panel_fits["two"], pair=("x", "z"))
    ax = panel_plots.standardized_lags(three).axes[0]
    assert len(ax.get_legend().get_texts()) == 9 and len(ax.containers) == 9
    assert all(len(c.lines[0].get_xdata()) == PANEL_WAVES - 1 for c in ax.containers)
    plt.close("all")


def test_panel_figures_of_several_groups_show_every_group(panel_fits):
    from analysis import panel

    arms = panel_fits["arms"]
    arrows, _, ellipses, texts = diagram_parts(panel_plots.path_diagram(arms, "SE", "symptoms"))
    assert (len(arrows), len(ellipses)) == (4 * (PANEL_WAVES - 1) + 1, 2)
    rows = [arms.lagged.loc[(g, "y_on_x")] for g in arms.groups]
    assert "\n".join(f"{g}: {row['estimate']:.2f}{'*' if row['ci_low'] > 0 or row['ci_high'] < 0 else ''}"
                     for g, row in zip(arms.groups, rows)) in texts
    fig = panel_plots.path_diagram(arms, "SE", "symptoms", group="b")
    assert f"{arms.lagged.loc[('b', 'y_on_x'), 'estimate']:.2f}" in diagram_parts(fig)[3]
    assert fig.axes[0].get_title().endswith("(b)")
    ax = panel_plots.cross_lags({"RI-CLPM": arms}, "SE", "symptoms").axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    directions = panel.directions(arms, "SE", "symptoms")["std"]
    expected = [directions.loc[(g, d)] for d in ["SE -> symptoms", "symptoms -> SE"] for g in arms.groups]
    assert np.allclose(points(ax), expected, rtol=1e-8, atol=0)
    fig = panel_plots.standardized_lags(arms)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"]
    plt.close("all")


def test_panel_figures_refuse_what_they_cannot_draw(panel_fits):
    two, three, arms = panel_fits["two"], panel_fits["three"], panel_fits["arms"]
    with pytest.raises(ValueError, match=r"group 'c' is not a group of this result \(groups: \['a', 'b'\]\)"):
        panel_plots.path_diagram(arms, group="c")
    with pytest.raises(ValueError, match="single-group fit"):
        panel_plots.path_diagram(two, group="a")
    with pytest.raises(ValueError, match="non-empty dict"):
        panel_plots.cross_lags({})
    with pytest.raises(ValueError, match=r"differ in variables or groups: 'two' \(x, y\) vs 'three' \(x, y, z\)"):
        panel_plots.cross_lags({"two": two, "three": three})
    with pytest.raises(ValueError, match=r"'arms' \(x, y; groups \['a', 'b'\]\)"):
        panel_plots.cross_lags({"two": two, "arms": arms})
    with pytest.raises(TypeError, match="path_diagram: needs a PanelResult .* got DataFrame"):
        panel_plots.path_diagram(two.lagged)
    with pytest.raises(TypeError, match="cross_lags: needs a PanelResult"):
        panel_plots.cross_lags({"RI-CLPM": "x"})
