"""Figures draw what they say: one panel per arm, every item, the instrument's range."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import io, plots  # noqa: E402

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
