"""Tests for analysis.meta.rma_mh / rma_peto, escalc("SMCR"/"SMCC") against metafor 3.8 (tests/reference/metafor_mh.R),
and the subgroup forest, orchard and contour-enhanced funnel plots."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gammaln

from analysis import datasets, meta
from analysis.plots import meta as meta_plots

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "metafor_mh.json").read_text())
FITS = REF["fits"]
RTOL = 1e-8  # closed-form statistics: metafor agrees to ~1e-12
ESTIMATES = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2")
OR_TESTS = {"CMH": "MH", "CMHp": "MHp", "CO": "CO", "COp": "COp", "BD": "BD", "BDp": "BDp", "TA": "TA", "TAp": "TAp"}


def values(x) -> np.ndarray:
    """JSON values (None = R's NA) as a float array."""
    return np.array(np.atleast_1d(x), dtype=float)


def assert_close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(values(ours), values(theirs), rtol=rtol, atol=1e-14, equal_nan=True)


def table(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["tables"][name])


@functools.cache
def fitted(key: str) -> meta.RmaMhResult:
    spec = FITS[key]
    options = spec["options"] or {}
    if spec["measure"] == "PETO":
        return meta.rma_peto("ai", "bi", "ci", "di", data=table(spec["data"]), slab="trial", **options)
    return meta.rma_mh("ai", "bi", "ci", "di", measure=spec["measure"], data=table(spec["data"]), slab="trial",
                       **options)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- parity with metafor


@pytest.mark.parametrize("key", list(FITS))
def test_estimates_and_heterogeneity_match_metafor(key):
    ref, fit = FITS[key], fitted(key)
    assert (fit.k, fit.k_yi) == (ref["k"], ref["k_yi"])
    for name in ESTIMATES:
        assert_close(getattr(fit, name), ref[name])
    if ref["k_pos"] is not None:
        assert fit.k_pos == ref["k_pos"]
    study_level = values(ref["yi"])
    kept = ~np.isnan(study_level)
    assert_close(fit.yi, study_level[kept])
    assert_close(fit.vi, values(ref["vi"])[kept])


@pytest.mark.parametrize("key", [key for key, fit in FITS.items() if fit["measure"] == "OR"])
def test_cmh_breslow_day_and_tarone_match_metafor(key):
    ref, fit = FITS[key], fitted(key)
    for ours, theirs in OR_TESTS.items():
        assert_close(getattr(fit, ours), ref[theirs])


@pytest.mark.parametrize("measure", ["SMCR", "SMCC"])
def test_standardised_mean_change_matches_metafor(measure):
    data = pd.DataFrame(REF["prepost"])
    columns = {name: name for name in meta.MEASURES[measure]}
    out = meta.escalc(measure, data=data, **columns)
    assert_close(out["yi"], REF["smc"][measure]["yi"], 1e-10)
    assert_close(out["vi"], REF["smc"][measure]["vi"], 1e-10)
    assert out.attrs["measure"] == measure


def test_smcr_formula_by_hand():
    out = meta.escalc("SMCR", m1i=[12.0], m2i=[10.0], sd1i=[4.0], ni=[20], ri=[0.6])
    cmi = np.exp(gammaln(19 / 2) - gammaln(18 / 2)) / np.sqrt(19 / 2)  # c(m), m = n - 1 = 19
    assert cmi == pytest.approx(1 - 3 / (4 * 19 - 1), rel=1e-3)
    yi = cmi * 0.5
    assert out["yi"].iloc[0] == pytest.approx(yi, rel=1e-12)
    assert out["vi"].iloc[0] == pytest.approx(2 * 0.4 / 20 + yi**2 / 40, rel=1e-12)


@pytest.mark.parametrize("key", ["yusuf6_OR", "yusuf6_PETO", "bcg_RR"])
def test_summary_prints_metafors_numbers(key):
    text, printed = fitted(key).summary(), FITS[key]["printed"]
    for line in ("Test for Heterogeneity:", "Model Results"):
        assert line in text
    heterogeneity = re.search(r"Q\(df = \d+\) = [\d.]+, p-val [=<] ?[\d.]+", printed).group(0)
    assert heterogeneity in text
    scale = re.search(r"Model Results \((\w+) scale\):\n\nestimate +ci.lb +ci.ub \n +([-\d. ]+)", printed)
    assert f"Model Results ({scale.group(1)} scale):" in text
    for number in scale.group(2).split():
        assert number in text
    if key.endswith("OR"):
        for test in ("CMH", "X\\^2"):
            found = re.search(test + r" = +([\d.]+), df = (\d+), +p-val (= [\d.]+|< .0001)", printed)
            assert f"{found.group(1)}, df = {found.group(2)}, p-val {found.group(3)}" in text


# --------------------------------------------------------------------------- zero cells and missing tables


def test_tables_without_events_count_for_the_estimate_but_not_for_heterogeneity():
    fit = fitted("yusuf6_OR")
    assert fit.k == 21 and fit.k_yi == 18 and fit.dof == 17
    assert not {"Pitt", "Hutton", "Yusuf"} & set(fit.yi.index)
    assert "Gupta" in fit.yi.index  # one zero cell: corrected by 1/2, kept
    assert any("Pitt, Hutton, Yusuf" in w and "drop00" in w for w in fit.warnings)
    assert any("Snow 1" in w and "missing" in w for w in fit.warnings)
    gupta = table("yusuf6").set_index("trial").loc["Gupta"] + 0.5
    assert fit.yi["Gupta"] == pytest.approx(np.log(gupta.ai * gupta.di / (gupta.bi * gupta.ci)))
    # the pooled estimate uses the tables as given, whatever the correction of the study-level outcomes
    for key in ("yusuf6_OR_uncorrected", "yusuf6_OR_all"):
        assert fitted(key).beta.iloc[0] == fit.beta.iloc[0]
    assert fitted("yusuf6_OR_uncorrected").k_yi == 21


def test_mh_odds_ratio_by_hand_with_zero_cells():
    a, b, c, d = np.array([0, 3, 5]), np.array([10, 7, 5]), np.array([2, 1, 5]), np.array([8, 9, 5])
    n = a + b + c + d
    fit = meta.rma_mh(a, b, c, d)
    assert np.exp(fit.beta.iloc[0]) == pytest.approx(np.sum(a * d / n) / np.sum(b * c / n), rel=1e-13)
    rr = meta.rma_mh(a, b, c, d, measure="RR")
    assert np.exp(rr.beta.iloc[0]) == pytest.approx(np.sum(a * (c + d) / n) / np.sum(c * (a + b) / n), rel=1e-13)


def test_estimate_that_cannot_be_computed_is_nan_with_a_warning():
    fit = meta.rma_mh([0, 0], [10, 12], [2, 3], [8, 9])  # no treated events: sum(a d / N) = 0
    assert np.isnan(fit.beta.iloc[0]) and np.isnan(fit.TA)
    assert any("cannot be estimated" in w for w in fit.warnings)
    assert "Tarone's Test for Heterogeneity: test value not computable" in fit.summary()
    with pytest.raises(meta.MetaInputError, match="Peto's method cannot be used"):
        meta.rma_peto([0, 0], [10, 12], [0, 0], [8, 9])


def test_series_are_matched_by_index_and_slab_labels_the_studies():
    bcg = datasets.load("dat_bcg")
    shuffled = bcg.sample(frac=1, random_state=1)
    by_column = meta.rma_mh("tpos", "tneg", "cpos", "cneg", data=bcg, slab="author")
    by_series = meta.rma_mh(bcg.tpos, shuffled.tneg, shuffled.cpos, bcg.cneg)
    assert by_series.beta.iloc[0] == pytest.approx(by_column.beta.iloc[0], rel=1e-14)
    assert by_column.yi.index[0] == "Aronson" and list(by_column.tables.columns) == ["ai", "bi", "ci", "di"]
    pooled = by_column.predict(transf=np.exp)
    assert pooled["pred"].iloc[0] == pytest.approx(np.exp(FITS["bcg_OR"]["beta"]))
    assert "pi_lb" not in pooled  # a fixed-effect model has no prediction interval


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call, message", [
    (lambda: meta.rma_mh([3, -1], [10, 10], [2, 2], [9, 9]), r"ai: counts must not be negative"),
    (lambda: meta.rma_peto([3, 1], [10, 10], [2, 2], [9]), r"arguments differ in length"),
    (lambda: meta.rma_mh([3], [10], [2], [9], measure="SMD"), r"Mantel-Haenszel method takes measure"),
    (lambda: meta.rma_mh([3], [10], [2], [9], to="some"), r"to must be one of"),
    (lambda: meta.rma_mh([3], [10], [2], [9], level=120), r"level must be"),
    (lambda: meta.rma_mh("tpos", "tneg", "cpos", "cneg"), r"names a column, but no data"),
    (lambda: meta.rma_mh([np.nan], [1], [2], [3]), r"no complete 2x2 table"),
    (lambda: meta.rma_mh([3, 2], [10, 10], [2, 2], [9, 9], slab=["a"]), r"differ in length"),
])
def test_bad_input_raises_a_clear_error(call, message):
    with pytest.raises(meta.MetaInputError, match=message):
        call()


@pytest.mark.parametrize("kwargs, message", [
    ({"m1i": [1], "m2i": [0], "sd1i": [1], "sd2i": [1], "ni": [10], "ri": [0.5]}, r"SMCR takes .* unknown .*sd2i"),
    ({"m1i": [1], "m2i": [0], "sd1i": [-1], "ni": [10], "ri": [0.5]}, r"sd1i: standard deviations"),
    ({"m1i": [1], "m2i": [0], "sd1i": [1], "ni": [10], "ri": [1.5]}, r"ri: correlations must lie in \[-1, 1\]"),
    ({"m1i": [1], "m2i": [0], "sd1i": [1], "ni": [2], "ri": [0.5]}, r"ni: sample sizes must exceed 2"),
    ({"m1i": [1], "m2i": [0], "sd1i": [1], "ni": [10]}, r"SMCR needs .*missing \['ri'\]"),
])
def test_bad_smcr_input_raises_a_clear_error(kwargs, message):
    with pytest.raises(meta.MetaInputError, match=message):
        meta.escalc("SMCR", **kwargs)


# --------------------------------------------------------------------------- figures


@functools.cache
def bcg_fit(method: str = "REML") -> tuple[meta.RmaResult, pd.DataFrame]:
    data = meta.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=datasets.load("dat_bcg"))
    return meta.rma("yi", "vi", data=data, slab="author", method=method), data


def diamonds(ax) -> list:
    return [patch for patch in ax.patches if patch.get_gid() == "diamond"]


def test_subgroup_forest_draws_a_block_and_diamond_per_level_and_the_overall_diamond():
    fit, data = bcg_fit()
    ax = meta_plots.forest_subgroups(fit, data["alloc"], transf=np.exp, xlabel="Risk ratio").axes[0]
    levels = list(pd.unique(data["alloc"]))
    assert len(diamonds(ax)) == len(levels) + 1
    assert len(ax.collections[0].get_segments()) == fit.k  # every study's interval
    labels = {t.get_text(): t for t in ax.get_yticklabels()}
    assert {f"RE Model for {level}" for level in levels} | {"RE Model", "Aronson"} <= set(labels)
    assert all(labels[level].get_fontweight() == "bold" for level in levels)
    random = meta.rma(fit.yi[data["alloc"].eq("random").to_numpy()], fit.vi[data["alloc"].eq("random").to_numpy()])
    y = labels["RE Model for random"].get_position()[1]
    diamond = next(d for d in diamonds(ax) if np.isclose(d.get_xy()[0, 1], y))
    np.testing.assert_allclose(diamond.get_xy()[:3, 0], [random.ci_lb.iloc[0], random.beta.iloc[0],
                                                          random.ci_ub.iloc[0]])
    overall = next(d for d in diamonds(ax) if np.isclose(d.get_xy()[0, 1], labels["RE Model"].get_position()[1]))
    np.testing.assert_allclose(overall.get_xy()[1, 0], fit.beta.iloc[0])
    moderated = meta.rma("yi", "vi", mods="~ C(alloc)", data=data)
    assert any(f"Q_M(df = 2) = {moderated.QM:.2f}" in t.get_text() for t in ax.texts)


def test_subgroup_forest_single_study_level_and_refusals():
    fit, data = bcg_fit()
    groups = np.where(data["author"] == "Aronson", "alone", "rest")
    ax = meta_plots.forest_subgroups(fit, groups).axes[0]
    assert "EE Model for alone" in [t.get_text() for t in ax.get_yticklabels()]
    with pytest.raises(meta.MetaInputError, match="one level per study"):
        meta_plots.forest_subgroups(fit, groups[1:])
    with pytest.raises(meta.MetaInputError, match="intercept-only"):
        meta_plots.forest_subgroups(meta.rma("yi", "vi", mods="~ ablat", data=data), groups)


def test_orchard_draws_effects_by_level_with_estimate_ci_and_pi():
    fit, data = bcg_fit()
    ax = meta_plots.orchard(fit, pd.Categorical(data["alloc"], ["systematic", "random", "alternate"])).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["systematic", "random", "alternate"]
    effects = [c for c in ax.collections if c.get_gid() == "effects"]
    assert [len(c.get_offsets()) for c in effects] == [4, 7, 2]
    sizes = effects[0].get_sizes()
    assert sizes.min() < sizes.max()  # sized by precision
    model = meta.rma("yi", "vi", mods="~ 0 + C(alloc)", data=data)
    expected = model.predict(newmods=pd.DataFrame({"alloc": ["systematic", "random", "alternate"]}))
    by_gid = {c.get_gid(): c for c in ax.collections}
    ci = np.array([seg[:, 0] for seg in by_gid["ci"].get_segments()])
    pi = np.array([seg[:, 0] for seg in by_gid["pi"].get_segments()])
    np.testing.assert_allclose(ci, expected[["ci_lb", "ci_ub"]].to_numpy())
    np.testing.assert_allclose(pi, expected[["pi_lb", "pi_ub"]].to_numpy())
    np.testing.assert_allclose(by_gid["estimate"].get_offsets()[:, 0], expected["pred"].to_numpy())
    fixed = meta_plots.orchard(bcg_fit("FE")[0], data["alloc"]).axes[0]
    assert "pi" not in {c.get_gid() for c in fixed.collections}  # no prediction interval without tau2


def test_contour_enhanced_funnel_shades_the_significance_regions():
    fit, _ = bcg_fit()
    ax = meta_plots.funnel(fit, contours=(90, 95, 99)).axes[0]
    regions = [patch for patch in ax.patches if patch.get_gid() == "contour"]
    assert len(regions) == 3
    top = ax.get_ylim()[0]
    half_widths = sorted(patch.get_xy()[:, 0].max() / top for patch in regions)
    np.testing.assert_allclose(half_widths, stats.norm.isf([0.05, 0.025, 0.005]))
    assert all(np.isclose(patch.get_xy()[1, 0], 0) for patch in regions)  # centred on no effect
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "0.10 < p \u2264 1.00", "0.05 < p \u2264 0.10", "0.01 < p \u2264 0.05", "0.00 < p \u2264 0.01"]
    assert len(ax.collections[-1].get_offsets()) == fit.k
    plain = meta_plots.funnel(fit).axes[0]
    assert not [patch for patch in plain.patches if patch.get_gid() == "contour"]
    with pytest.raises(meta.MetaInputError, match="confidence levels"):
        meta_plots.funnel(fit, contours=(0.9, 95, 150))


def test_funnel_of_a_mantel_haenszel_fit():
    fit = fitted("yusuf6_OR")
    ax = fit.funnel(contours=(90, 95, 99)).axes[0]
    assert len(ax.collections[-1].get_offsets()) == fit.k_yi
