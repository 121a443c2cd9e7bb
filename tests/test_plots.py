"""Figures draw what they say: one panel per arm, every item, the instrument's range."""

import matplotlib

matplotlib.use("Agg")

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
