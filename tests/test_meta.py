"""Tests for analysis.meta against metafor 3.8-1 (tests/reference/metafor_meta.R) and published numbers."""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis import datasets, meta, report  # noqa: E402
from analysis.plots import meta as meta_plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REF = json.loads((ROOT / "tests" / "reference" / "metafor_meta.json").read_text())
FITS = REF["fits"]
INT_ONLY = [key for key, fit in FITS.items() if REF["models"][fit["model"]]["mods"] is None]
TRIMFILLS = [(key, est) for key in INT_ONLY for est in FITS[key]["trimfill"]]
RANDOM = [key for key, fit in FITS.items() if fit["method"] not in meta.FIXED]
RTOL = 1e-4  # estimates, SEs, limits, tau2, I2, H2, QE, predictions, Egger, trim-and-fill, leave-one-out
RTOL_PROFILE = 1e-3  # Q-profile limits


def values(x) -> np.ndarray:
    """JSON values (None = R's NA/NULL) as a float array."""
    return np.array(np.atleast_1d(x), dtype=float)


def assert_close(ours, theirs, rtol=RTOL):
    np.testing.assert_allclose(values(ours), values(theirs), rtol=rtol, atol=1e-12, equal_nan=True)


def ref_data(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["datasets"][name])


@functools.cache
def fitted(key: str) -> meta.RmaResult:
    spec = FITS[key]
    model = REF["models"][spec["model"]]
    return meta.rma("yi", "vi", mods=model["mods"], data=ref_data(model["data"]), method=spec["method"],
                    test=spec["test"])


# --------------------------------------------------------------------------- parity with metafor


@pytest.mark.parametrize("key", list(FITS))
def test_coefficients_match_metafor(key):
    ref, fit = FITS[key], fitted(key)
    assert (fit.k, fit.p) == (ref["k"], ref["p"])
    assert len(fit.beta) == len(np.atleast_1d(ref["terms"])) and fit.beta.index[0] == "intrcpt"
    for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
        assert_close(getattr(fit, name), ref[name])


@pytest.mark.parametrize("key", list(FITS))
def test_heterogeneity_and_moderator_tests_match_metafor(key):
    ref, fit = FITS[key], fitted(key)
    for name in ("tau2", "se_tau2", "I2", "H2", "QE", "QEp", "QM", "QMp"):
        assert_close(getattr(fit, name), ref[name])
    assert_close(fit.R2 if fit.R2 is not None else np.nan, ref["R2"])


@pytest.mark.parametrize("key", RANDOM)
def test_q_profile_limits_match_confint(key):
    ref, fit = FITS[key], fitted(key)
    for name in ("tau2_ci", "I2_ci", "H2_ci"):
        assert_close(getattr(fit, name), ref[name], RTOL_PROFILE)


@pytest.mark.parametrize("key", list(FITS))
def test_prediction_and_prediction_interval_match_predict(key):
    ref, fit = FITS[key], fitted(key)
    newmods = REF["models"][ref["model"]].get("newmods")
    table = fit.predict(newmods=None if newmods is None else np.array(newmods, float))
    assert set(table.columns) == set(ref["predict"])  # no PI for FE/EE, as metafor
    for name, expected in ref["predict"].items():
        assert_close(table[name], expected)


@pytest.mark.parametrize("key", list(FITS))
def test_egger_matches_regtest(key):
    ref, egger = FITS[key]["egger"], fitted(key).egger()
    assert_close([egger.zval, egger.pval], [ref["zval"], ref["pval"]])
    assert egger.dof == ref["ddf"]
    for ours, theirs in ((egger.estimate, ref["est"]), (egger.ci_lb, ref["ci_lb"]), (egger.ci_ub, ref["ci_ub"])):
        assert_close(np.nan if ours is None else ours, theirs)


@pytest.mark.parametrize(("key", "estimator"), TRIMFILLS)
def test_trimfill_matches_metafor(key, estimator):
    ref, tf = FITS[key]["trimfill"][estimator], fitted(key).trimfill(estimator=estimator)
    assert (tf.k0, tf.side, tf.fit.k) == (ref["k0"], ref["side"], ref["k"])
    assert_close([tf.se_k0, tf.fit.tau2, tf.fit.QE], [ref["se_k0"], ref["tau2"], ref["QE"]])
    for name in ("beta", "se", "ci_lb", "ci_ub"):
        assert_close(getattr(tf.fit, name).iloc[0], ref[name])
    assert_close(np.nan if tf.p_k0 is None else tf.p_k0, ref["p_k0"])
    assert tf.fill.sum() == tf.k0


@pytest.mark.parametrize("key", INT_ONLY)
def test_leave1out_matches_metafor(key):
    ref, table = FITS[key]["leave1out"], fitted(key).leave1out()
    names = {"ci.lb": "ci_lb", "ci.ub": "ci_ub"}
    assert len(table) == fitted(key).k
    for name, expected in ref.items():
        assert_close(table[names.get(name, name)], expected)


ESCALC_ARGS = {
    "bcg": {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
    "zeros": {"ai": "ai", "bi": "bi", "ci": "ci", "di": "di"},
    "molloy": {"ri": "ri", "ni": "ni"},
    "normand": {name: name for name in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")},
    "prepost": {name: name for name in ("m1i", "m2i", "sd1i", "sd2i", "ri", "ni")},
}


@pytest.mark.parametrize("case", list(REF["escalc"]))
def test_escalc_matches_metafor(case):
    ref = REF["escalc"][case]
    data = pd.DataFrame(REF["escalc_inputs"][ref["data"]])
    options = {"to": ref["to"], "drop00": ref["drop00"]} if "to" in ref else {}
    out = meta.escalc(ref["measure"], data=data, **ESCALC_ARGS[ref["data"]], **options)
    assert_close(out["yi"], ref["yi"], 1e-10)
    assert_close(out["vi"], ref["vi"], 1e-10)
    assert out.attrs["measure"] == ref["measure"]


def test_escalc_accepts_group_sizes_for_two_by_two_tables():
    bcg = datasets.load("dat_bcg")
    cells = meta.escalc("OR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    sizes = meta.escalc("OR", ai=bcg.tpos, n1i=bcg.tpos + bcg.tneg, ci=bcg.cpos, n2i=bcg.cpos + bcg.cneg)
    np.testing.assert_allclose(sizes["yi"], cells["yi"])
    assert list(sizes.columns) == ["yi", "vi"]


# --------------------------------------------------------------------------- published numbers


def bcg_data() -> pd.DataFrame:
    return meta.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=datasets.load("dat_bcg"))


def test_bcg_reproduces_viechtbauer_2010():
    """Viechtbauer (2010, JSS 36(3)), pp. 14-17 and 20: the BCG random-effects and meta-regression output."""
    dat = bcg_data()
    res = meta.rma("yi", "vi", data=dat)
    rr = res.predict(transf=np.exp).iloc[0]
    two = meta.rma("yi", "vi", mods="~ ablat + year", data=dat)
    knha = meta.rma("yi", "vi", mods="~ alloc + ablat", data=dat, test="knha")
    table = meta.against_published({
        "estimate": (res.beta.iloc[0], "-0.7145"), "se": (res.se.iloc[0], "0.1798"),
        "ci_lb": (res.ci_lb.iloc[0], "-1.0669"), "ci_ub": (res.ci_ub.iloc[0], "-0.3622"),
        "tau2": (res.tau2, "0.3132"), "se_tau2": (res.se_tau2, "0.1664"), "I2": (res.I2, "92.22"),
        "H2": (res.H2, "12.86"), "Q": (res.QE, "152.2330"), "RR": (rr.pred, "0.49"),
        "RR_ci_lb": (rr.ci_lb, "0.34"), "RR_ci_ub": (rr.ci_ub, "0.70"), "RR_pi_lb": (rr.pi_lb, "0.15"),
        "RR_pi_ub": (rr.pi_ub, "1.55"), "tau2_lb": (res.tau2_ci[0], "0.1197"), "tau2_ub": (res.tau2_ci[1], "1.1115"),
        "I2_lb": (res.I2_ci[0], "81.9177"), "I2_ub": (res.I2_ci[1], "97.6781"), "H2_lb": (res.H2_ci[0], "5.5303"),
        "ablat_year_ablat": (two.beta["ablat"], "-0.0280"), "ablat_year_year": (two.beta["year"], "0.0019"),
        "ablat_year_tau2": (two.tau2, "0.1108"), "ablat_year_QM": (two.QM, "12.2043"),
        "knha_ablat": (knha.beta["ablat"], "-0.0273"), "knha_F": (knha.QM, "3.4471"),
        "knha_ablat_p": (knha.pval["ablat"], "0.0186"),
    })
    assert table["matches"].all(), table[~table["matches"]]


def test_bcg_published_h2_upper_limit_differs_only_in_the_last_digit():
    """The JSS paper prints 43.0677 (metafor 1.4's root finder); metafor 3.8-1 and we give 43.0680."""
    res = meta.rma("yi", "vi", data=bcg_data())
    assert meta.against_published({"H2_ub": (res.H2_ci[1], "43.068")})["matches"].all()
    assert not meta.against_published({"H2_ub": (res.H2_ci[1], "43.0677")})["matches"].all()


def test_bcg_latitude_predictions_and_trimfill_reproduce_viechtbauer_2010():
    dat = bcg_data()
    ablat = meta.rma("yi", "vi", mods="~ ablat", data=dat)
    pred = ablat.predict(newmods=[10, 30, 50], transf=np.exp)
    published = {"RR at 10": (0, "0.96", "0.67", "1.39"), "RR at 30": (1, "0.54", "0.44", "0.66"),
                 "RR at 50": (2, "0.30", "0.21", "0.42")}
    rows = {}
    for name, (i, est, lb, ub) in published.items():
        rows |= {name: (pred.pred[i], est), f"{name} lb": (pred.ci_lb[i], lb), f"{name} ub": (pred.ci_ub[i], ub)}
    tf = meta.rma("yi", "vi", data=dat, method="FE").trimfill()
    rows |= {"FE trimfill k0": (tf.k0, "4"), "FE trimfill estimate": (tf.fit.beta.iloc[0], "-0.2910"),
             "FE trimfill se": (tf.fit.se.iloc[0], "0.0383"), "FE trimfill Q": (tf.fit.QE, "262.7316")}
    assert tf.side == "right"
    table = meta.against_published(rows)
    assert table["matches"].all(), table[~table["matches"]]


def test_molloy_reproduces_the_published_pooled_correlation():
    """Molloy et al. (2014), abstract: r = 0.15, 95% CI 0.09 to 0.21 (REML on Fisher's z, back-transformed)."""
    dat = meta.escalc("ZCOR", ri="ri", ni="ni", data=datasets.load("dat_molloy2014"))
    r = meta.rma("yi", "vi", data=dat).predict(transf=np.tanh).iloc[0]
    table = meta.against_published({"r": (r.pred, "0.15"), "lb": (r.ci_lb, "0.09"), "ub": (r.ci_ub, "0.21")})
    assert table["matches"].all(), table


def test_against_published_compares_to_the_printed_digits():
    table = meta.against_published({"a": (0.48942, "0.4894"), "b": (0.4896, "0.4894"), "c": (4.2, "4")})
    assert table["matches"].tolist() == [True, False, True]
    assert table.loc["a", "ours_rounded"] == "0.4894"


# --------------------------------------------------------------------------- interface


def test_moderators_as_formula_dataframe_or_array_agree():
    dat = bcg_data()
    by_formula = meta.rma("yi", "vi", mods="~ ablat + year", data=dat)
    by_frame = meta.rma(dat.yi, dat.vi, mods=dat[["ablat", "year"]])
    by_array = meta.rma(dat.yi.to_numpy(), dat.vi.to_numpy(), mods=dat[["ablat", "year"]].to_numpy())
    np.testing.assert_allclose(by_frame.beta, by_formula.beta)
    np.testing.assert_allclose(by_array.beta, by_formula.beta)
    assert list(by_frame.beta.index) == ["intrcpt", "ablat", "year"]
    assert list(by_array.beta.index) == ["intrcpt", "mods1", "mods2"]


def test_r_style_factor_in_moderator_formulas_is_categorical():
    dat = bcg_data()
    as_text = meta.rma("yi", "vi", mods="~ alloc + ablat", data=dat)
    as_factor = meta.rma("yi", "vi", mods="~ factor(alloc) + ablat", data=dat)
    np.testing.assert_allclose(as_factor.beta.to_numpy(), as_text.beta.to_numpy(), rtol=1e-12)
    assert list(as_factor.beta.index) == ["intrcpt", "factor(alloc)[T.random]", "factor(alloc)[T.systematic]", "ablat"]
    dat["decade"] = dat["year"] // 10 * 10  # numbers: a slope without factor(), one step per level with it
    by_decade = meta.rma("yi", "vi", mods="~ factor(decade)", data=dat)
    by_label = meta.rma("yi", "vi", mods="~ label", data=dat.assign(label=dat["decade"].astype(str)))
    assert by_decade.p == dat["decade"].nunique() == 5 and by_decade.QMdf == (4, None)
    np.testing.assert_allclose(by_decade.beta.to_numpy(), by_label.beta.to_numpy(), rtol=1e-12)
    assert by_decade.tau2 == pytest.approx(by_label.tau2, rel=1e-12)
    assert meta.rma("yi", "vi", mods="~ decade", data=dat).p == 2


def test_series_are_matched_by_index_never_by_position():
    dat = bcg_data()
    shuffled = dat.sample(frac=1, random_state=1)
    reference = meta.rma("yi", "vi", mods="~ ablat", data=dat)
    for fit in [meta.rma(dat.yi, shuffled.vi, mods=shuffled[["ablat"]]),  # put in the first one's order
                meta.rma(shuffled.yi, "vi", mods="~ ablat", data=dat),  # put in data's order
                meta.rma(shuffled.yi, shuffled.vi, mods="~ ablat", data=dat, slab=dat.author)]:
        np.testing.assert_allclose(fit.beta.to_numpy(), reference.beta.to_numpy(), rtol=1e-12)
        assert fit.tau2 == pytest.approx(reference.tau2, rel=1e-12)
    labelled = meta.rma(shuffled.yi, shuffled.vi, data=dat, slab=shuffled.author)
    by_column = meta.rma("yi", "vi", data=dat, slab="author")
    pd.testing.assert_series_equal(labelled.yi, by_column.yi)
    with pytest.raises(meta.MetaInputError, match=r"vi and yi have different indexes \(only in vi: 13; only in yi: 0\)"):
        meta.rma(dat.yi, dat.vi.set_axis(range(1, 14)))
    with pytest.raises(meta.MetaInputError, match=r"yi and data have different indexes \(only in data: 0\)"):
        meta.rma(dat.yi.iloc[1:], "vi", data=dat)
    with pytest.raises(meta.MetaInputError, match=r"mods and yi have different indexes \(only in yi: 1, 2, 3, 4, 5 \.\.\.; mods repeats labels\)"):
        meta.rma(dat.yi, dat.vi, mods=dat[["ablat"]].set_axis([0] * 13))


def test_escalc_matches_series_by_index():
    bcg = datasets.load("dat_bcg")
    shuffled = bcg.sample(frac=1, random_state=2)
    by_column = meta.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=bcg)
    by_series = meta.escalc("RR", ai=bcg.tpos, bi=shuffled.tneg, ci=shuffled.cpos, di=bcg.cneg)
    np.testing.assert_allclose(by_series[["yi", "vi"]].to_numpy(), by_column[["yi", "vi"]].to_numpy(), rtol=1e-15)
    with pytest.raises(meta.MetaInputError, match=r"bi and ai have different indexes \(only in ai: 0\)"):
        meta.escalc("RR", ai=bcg.tpos, bi=bcg.tneg.iloc[1:], ci=bcg.cpos, di=bcg.cneg)


def test_effect_sizes_take_a_tables_own_yi_and_vi():
    bcg = datasets.load("dat_bcg")
    computed = meta.effect_sizes(bcg, "rr", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert computed.attrs == {"measure": "RR", "precomputed": False,
                              "ni": tuple(bcg[["tpos", "tneg", "cpos", "cneg"]].sum(axis=1).astype(float))}
    sheet = computed[["author", "year", "yi", "vi"]].copy()  # an extraction sheet: effect sizes only
    given = meta.effect_sizes(sheet, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    assert given.attrs == {**computed.attrs, "precomputed": True} and given.equals(sheet)  # the sheet keeps ni
    fit, again = meta.rma("yi", "vi", data=given), meta.rma("yi", "vi", data=computed)
    assert fit.measure == "RR" and fit.beta.iloc[0] == again.beta.iloc[0]
    with pytest.raises(meta.MetaInputError, match="unknown measure 'LOGRR'"):
        meta.effect_sizes(sheet, "logRR")
    with pytest.raises(meta.MetaInputError, match=r"ai: column 'tpos' not in data"):
        meta.effect_sizes(sheet[["author", "yi"]], "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")


def test_formula_predictions_take_raw_factor_levels():
    fit = meta.rma("yi", "vi", mods="~ alloc + ablat", data=bcg_data())
    by_levels = fit.predict(newmods=pd.DataFrame({"alloc": ["random", "systematic"], "ablat": [40, 20]}))
    by_dummies = fit.predict(newmods=[[1, 0, 40], [0, 1, 20]])
    np.testing.assert_allclose(by_levels.to_numpy(), by_dummies.to_numpy())


def test_formula_without_intercept_fits_subgroup_means():
    dat = bcg_data()
    cells = meta.rma("yi", "vi", mods="~ 0 + alloc", data=dat, method="FE")
    for level in ("alternate", "random", "systematic"):
        sub = dat[dat.alloc == level]
        assert cells.beta[f"alloc[{level}]"] == pytest.approx(meta.rma(sub.yi, sub.vi, method="FE").beta.iloc[0])
    assert cells.QMdf == (3, None)
    assert cells.predict(newmods=[[0, 1, 0]]).pred.iloc[0] == pytest.approx(cells.beta["alloc[random]"])


def test_study_labels_index_the_results_and_are_made_unique():
    dat = bcg_data()
    fit = meta.rma("yi", "vi", data=dat, slab=["same"] * 12 + ["other"])
    assert list(fit.yi.index[:3]) == ["same", "same.1", "same.2"]
    assert list(fit.leave1out().index) == list(fit.yi.index)
    assert fit.weights.sum() == pytest.approx(100)


def test_confint_table_as_metafor_prints_it():
    table = meta.rma("yi", "vi", data=bcg_data()).confint()
    assert list(table.index) == ["tau^2", "tau", "I^2(%)", "H^2"]
    assert table.loc["tau", "ci_lb"] == pytest.approx(0.3460, abs=5e-5)  # Viechtbauer (2010), p. 14
    assert table.loc["tau", "ci_ub"] == pytest.approx(1.0543, abs=5e-5)
    with pytest.raises(meta.MetaInputError, match="no random-effects component"):
        meta.rma("yi", "vi", data=bcg_data(), method="FE").confint()


def test_tval_only_for_t_tests():
    dat = bcg_data()
    knha = meta.rma("yi", "vi", data=dat, test="knha")
    assert knha.tval is knha.zval and "tval" in knha.coefficients
    with pytest.raises(AttributeError, match="zval"):
        meta.rma("yi", "vi", data=dat).tval  # noqa: B018


def test_level_as_percent_or_proportion():
    dat = bcg_data()
    a, b = meta.rma("yi", "vi", data=dat, level=90), meta.rma("yi", "vi", data=dat, level=0.90)
    assert a.ci_lb.iloc[0] == pytest.approx(b.ci_lb.iloc[0])
    assert a.ci_lb.iloc[0] > meta.rma("yi", "vi", data=dat).ci_lb.iloc[0]


def test_summary_reads_like_metafor():
    text = meta.rma("yi", "vi", mods="~ ablat", data=bcg_data()).summary()
    for part in ("Mixed-Effects Model (k = 13; tau^2 estimator: REML)", "QE(df = 11) = 30.7331",
                 "Test of Moderators (coefficient 2):", "QM(df = 1) = 16.3571", "R^2", "ablat", "-0.0291",
                 "Q-profile CI for tau^2"):
        assert part in text
    assert "Egger" not in text
    assert "Limit Estimate" in meta.rma("yi", "vi", data=bcg_data()).egger().summary()


# --------------------------------------------------------------------------- problems stored, not hidden


def test_missing_values_are_omitted_and_named():
    dat = bcg_data()
    dat.loc[[2, 5], "yi"] = np.nan
    fit = meta.rma("yi", "vi", data=dat, slab="author")
    assert fit.k == 11
    assert any("2 studies with missing values omitted" in w and "Rosenthal et al" in w for w in fit.warnings)
    assert "Warnings:" in fit.summary()


def test_boundary_and_empty_profile_interval_are_reported():
    data = ref_data("homogeneous")
    fit = meta.rma("yi", "vi", data=data)
    assert fit.tau2 == 0 and fit.tau2_ci == (0.0, 0.0)
    assert any("lower bound 0" in w for w in fit.warnings)
    assert any("empty" in w for w in fit.warnings)


def test_knha_with_an_equal_effects_model_is_flagged():
    fit = meta.rma("yi", "vi", data=bcg_data(), method="FE", test="knha")
    assert any("Knapp-Hartung" in w for w in fit.warnings)


def test_extreme_variance_ratio_is_flagged():
    fit = meta.rma([0.1, 0.2, 0.3, 0.5], [1e-5, 0.1, 0.5, 200.0], method="DL")
    assert any("largest/smallest sampling variance" in w for w in fit.warnings)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.0, -0.02]}, r"vi: sampling variances must be positive — 2 rows: "
                                                         r"row 1: 0\.0, row 2: -0\.02"),
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02]}, r"differ in length: \{'yi': 3, 'vi': 2"),
    ({"yi": [0.1, 0.2, 0.4], "vi": [0.01, 0.02, 0.01], "mods": [[1, 2], [3, 5], [2, 2]]},
     r"3 studies cannot estimate 3 coefficients and tau2: at least 4"),
    ({"yi": [0.1], "vi": [0.01], "method": "FE", "mods": [2.0]}, r"1 study cannot estimate 2 coefficients: at least 2"),
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "method": "REM"}, r"unknown method 'REM'"),
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "test": "hksj"}, r"unknown test 'hksj'"),
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "level": 120}, r"level must be a number in \[0, 100\)"),
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "mods": [1, 2, 3, 4]}, r"mods has 4 rows but there are 3"),
    ({"yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03], "mods": "~ x"}, r"is a formula, but no data= was given"),
    ({"yi": ["0.1", "a lot", "0.3"], "vi": [0.01, 0.02, 0.03]}, r"yi: must be numeric — 1 row: row 1: 'a lot'"),
])
def test_bad_rma_input_raises_a_clear_error(kwargs, message):
    with pytest.raises(meta.MetaInputError, match=message):
        meta.rma(**kwargs)


def test_bad_columns_and_collinear_moderators_are_named():
    dat = bcg_data()
    with pytest.raises(meta.MetaInputError, match=r"vi: column 'var' not in data"):
        meta.rma("yi", "var", data=dat)
    dat["ablat2"] = 2 * dat["ablat"]
    with pytest.raises(meta.MetaInputError, match=r"not of full rank: \['ablat2'\]"):
        meta.rma("yi", "vi", mods="~ ablat + ablat2", data=dat)
    with pytest.raises(meta.MetaInputError, match=r"mods \(column 'alloc'\): must be numeric"):
        meta.rma("yi", "vi", mods=dat[["alloc"]], data=dat)


def test_follow_ups_refuse_what_metafor_refuses():
    dat = bcg_data()
    plain, moderated = meta.rma("yi", "vi", data=dat), meta.rma("yi", "vi", mods="~ ablat", data=dat)
    with pytest.raises(meta.MetaInputError, match="no moderators"):
        plain.predict(newmods=[10])
    with pytest.raises(meta.MetaInputError, match="newmods has 2 columns but the model has 1"):
        moderated.predict(newmods=[[10, 1]])
    with pytest.raises(meta.MetaInputError, match="only to models without moderators"):
        moderated.trimfill()
    with pytest.raises(meta.MetaInputError, match="only to models without moderators"):
        moderated.leave1out()
    with pytest.raises(meta.MetaInputError, match="side must be"):
        plain.trimfill(side="up")


@pytest.mark.parametrize(("measure", "kwargs", "message"), [
    ("COR", {"ri": [0.2, 1.3, -0.1], "ni": [20, 30, 40]},
     r"ri: correlations must lie in \[-1, 1\] — 1 row: row 1: 1\.3"),
    ("ZCOR", {"ri": [0.2, 0.3], "ni": [20, 3]}, r"ni: sample sizes must exceed 3 .* row 1: 3"),
    ("ZCOR", {"ri": [1.0, 0.3], "ni": [20, 30]}, r"Fisher's z is infinite"),
    ("RR", {"ai": [3, -1], "bi": [10, 10], "ci": [2, 2], "di": [9, 9]}, r"ai: counts must not be negative"),
    ("RR", {"ai": [3, 12], "n1i": [10, 10], "ci": [2, 2], "di": [9, 9]}, r"ai: events exceed the group size n1i"),
    ("RR", {"ai": [3, 2], "bi": [7, 8], "n1i": [10, 11], "ci": [2, 2], "di": [9, 9]}, r"n1i: must equal ai \+ bi"),
    ("SMD", {"m1i": [1], "m2i": [0], "sd1i": [-1], "sd2i": [1], "n1i": [10], "n2i": [10]}, r"sd1i: .*negative"),
    ("SMD", {"m1i": [1], "m2i": [0], "sd1i": [1], "n1i": [10], "n2i": [10]}, r"SMD needs .*missing \['sd2i'\]"),
    ("SMD", {"ri": [0.3]}, r"SMD takes .* unknown arguments \['ri'\]"),
    ("HR", {"ri": [0.3]}, r"unknown measure 'HR'"),
])
def test_bad_escalc_input_raises_a_clear_error(measure, kwargs, message):
    with pytest.raises(meta.MetaInputError, match=message):
        meta.escalc(measure, **kwargs)


def test_escalc_names_missing_columns_and_zero_cells_are_corrected():
    with pytest.raises(meta.MetaInputError, match=r"ri: column 'r' not in data"):
        meta.escalc("ZCOR", ri="r", ni="ni", data=datasets.load("dat_molloy2014"))
    out = meta.escalc("OR", ai=[0, 5], bi=[10, 5], ci=[2, 5], di=[8, 5])
    assert out["vi"].iloc[0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 2.5 + 1 / 8.5)
    assert out["vi"].iloc[1] == pytest.approx(4 / 5)


# --------------------------------------------------------------------------- figures


def test_forest_draws_every_study_the_diamond_and_prediction_interval():
    fit = meta.rma("yi", "vi", data=bcg_data(), slab="author")
    fig = fit.forest(transf=np.exp, xlabel="Risk ratio")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[0] == "Aronson" and labels[-1] == "RE Model" and len(labels) == 14
    assert len(ax.patches) == 1  # the pooled diamond
    assert len(ax.collections[0].get_segments()) == 13  # study intervals
    assert ax.get_xlabel() == "Risk ratio"


def test_forest_with_moderators_shows_fitted_values():
    fig = meta.rma("yi", "vi", mods="~ ablat", data=bcg_data()).forest()
    assert len(fig.axes[0].patches) == 13


def test_funnel_marks_filled_in_studies():
    tf = meta.rma("yi", "vi", data=bcg_data(), method="FE").trimfill()
    ax = tf.funnel().axes[0]
    observed, filled = ax.collections[-2], ax.collections[-1]
    assert len(observed.get_offsets()) == 13 and len(filled.get_offsets()) == 4
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # standard error grows downwards
    moderated = meta_plots.funnel(meta.rma("yi", "vi", mods="~ ablat", data=bcg_data()))
    assert moderated.axes[0].get_xlabel() == "Residual value"


# --------------------------------------------------------------------------- teaching data and notebooks


def test_teaching_data_regenerate_identically_and_are_registered():
    spec = importlib.util.spec_from_file_location("make_meta_teaching", ROOT / "scripts" / "make_meta_teaching.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    bundled = datasets.load("se_symptom_meta")
    pd.testing.assert_frame_equal(script.simulate(), bundled)
    assert "SIMULATED" in datasets.describe("se_symptom_meta")
    assert set(bundled["disorder"]) == {"depression", "anxiety", "PTSD"}
    assert bundled["ri"].between(-1, 1).all() and (bundled["ni"] >= 25).all()


def test_back_transform_by_measure():
    assert meta.back_transform("ZCOR") == (np.tanh, "correlation")
    assert meta.back_transform("rr")[0] is np.exp
    assert meta.back_transform("SMD") == (None, "SMD")


@pytest.mark.slow
def test_meta_analysis_notebook_runs(tmp_path):
    run = report.run_notebook("06_meta_analysis", {"quick": True}, tmp_path)
    assert run.ok, run.error
    numbers = report.recorded(tmp_path / "06_meta_analysis.ipynb")
    reml = meta.rma("yi", "vi", data=meta.escalc("ZCOR", data=datasets.load("se_symptom_meta"), ri="ri", ni="ni"))
    assert numbers["pooled"] == pytest.approx(np.tanh(reml.beta.iloc[0]), rel=1e-7)
    assert abs(numbers["bayes_mu"] - reml.beta.iloc[0]) < 0.02 and numbers["k"] == reml.k
    html = (tmp_path / "06_meta_analysis.html").read_text()
    for part in ("Forest plot", "Prediction interval", "Meta-regression", "Egger", "Trim-and-fill",
                 "Leave-one-out", "pooled correlation", "SIMULATED", "Bayesian random-effects", "theta_new",
                 "Fail-safe N", "PET-PEESE", "stepfun selection", "One effect per study"):
        assert part in html
    assert "Traceback" not in html


@pytest.mark.slow
@pytest.mark.parametrize("name", ["assink2016", "bcg_vaccine", "molloy2014"])
def test_teaching_notebooks_reproduce_the_published_numbers(tmp_path, name):
    (tmp_path / "teaching").mkdir()
    run = report.run_notebook(f"teaching/{name}", {}, tmp_path)
    assert run.ok, run.error  # each notebook ends by asserting every published number is matched
    html = (tmp_path / "teaching" / f"{name}.html").read_text()
    assert "matches" in html and "Traceback" not in html


def test_categorical_moderators_names_the_factors_of_a_formula():
    data = datasets.load("dat_assink2016")
    found = meta.categorical_moderators("~ deltype * year + factor(pubstatus) + np.log(vi)", data)
    assert list(found.columns) == ["deltype", "pubstatus"]
    assert found["pubstatus"].tolist() == data["pubstatus"].astype(str).tolist()
    assert meta.categorical_moderators("~ year", data).shape == (len(data), 0)
    with pytest.raises(meta.MetaInputError, match="names the column 'nope'"):
        meta.categorical_moderators("~ deltype + factor(nope)", data)
