"""Tests for analysis.meta.rma_mv, robust() and influence() against metafor 3.8-1 and clubSandwich 0.5.8.

Reference values: tests/reference/metafor_mv.R -> metafor_mv.json (data: data/dat_assink2016.csv,
tests/reference/dat_konstantopoulos2011.csv, tests/reference/dat_berkey1998.csv).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

from analysis import datasets, meta

ROOT = Path(__file__).resolve().parents[1]
REFDIR = ROOT / "tests" / "reference"
REF = json.loads((REFDIR / "metafor_mv.json").read_text())
RTOL = 1e-4  # estimates, SEs, statistics, sigma2, QE, QM, logLik, robust, influence
RTOL_DF = 1e-3  # CR2 Satterthwaite and HTZ df


def values(x) -> np.ndarray:
    """JSON values (None = R's NA/NULL) as a float array."""
    return np.array(np.atleast_1d(x), dtype=float)


def assert_close(ours, theirs, rtol=RTOL, atol=1e-12):
    np.testing.assert_allclose(values(ours), values(theirs), rtol=rtol, atol=atol, equal_nan=True)


@functools.cache
def dataset(name: str) -> pd.DataFrame:
    if name == "assink":
        return pd.read_csv(ROOT / "data" / "dat_assink2016.csv")
    if name == "konst":
        return pd.read_csv(REFDIR / "dat_konstantopoulos2011.csv")
    if name == "berkey":
        return pd.read_csv(REFDIR / "dat_berkey1998.csv")
    return pd.DataFrame(REF["datasets"][name])


def sampling_covariance(kind: str):
    if kind == "vi":
        return "vi"
    if kind == "vcalc":
        return meta.impute_covariance("vi", "study", 0.6, data=dataset("assink"))
    berkey = dataset("berkey")
    return scipy.linalg.block_diag(*[trial[["v1i", "v2i"]].to_numpy() for _, trial in berkey.groupby("trial")])


@functools.cache
def fitted(key: str) -> meta.RmaMvResult:
    spec = REF["mv"][key]
    return meta.rma_mv("yi", sampling_covariance(spec["V"]), data=dataset(spec["data"]), random=spec["random"],
                       mods=spec["mods"], method=spec["method"], test=spec["test"])


# --------------------------------------------------------------------------- rma_mv parity


@pytest.mark.parametrize("key", list(REF["mv"]))
def test_rma_mv_coefficients_match_metafor(key):
    ref, fit = REF["mv"][key], fitted(key)
    assert (fit.k, fit.p, fit.parms) == (ref["k"], ref["p"], ref["parms"])
    assert fit.beta.index[0] == ("intrcpt" if ref["mods"] is None or "0 +" not in ref["mods"] else fit.beta.index[0])
    for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
        assert_close(getattr(fit, name), ref[name])
    assert_close(fit.vb.to_numpy().ravel(), np.ravel(ref["vb"]))


@pytest.mark.parametrize("key", list(REF["mv"]))
def test_rma_mv_variance_components_and_tests_match_metafor(key):
    ref, fit = REF["mv"][key], fitted(key)
    assert list(fit.sigma2.index) == list(np.atleast_1d(ref["s_names"]))
    assert list(fit.sigma2_nlevels) == list(np.atleast_1d(ref["s_nlevels"]))
    assert_close(fit.sigma2, ref["sigma2"])
    for name in ("QE", "QEp", "QM", "QMp"):
        assert_close(getattr(fit, name), ref[name])
    assert fit.QMdf[0] == ref["QMdf"][0] and (fit.QMdf[1] is None) == (ref["QMdf"][1] is None)
    if fit.test == "t":
        assert fit.QMdf[1] == ref["QMdf"][1] == fit.k - fit.p


@pytest.mark.parametrize("key", list(REF["mv"]))
def test_rma_mv_fit_statistics_match_metafor(key):
    """logLik, deviance, AIC, BIC and AICc under both ML and REML, counted as metafor counts parameters."""
    ref, fit = REF["mv"][key], fitted(key)
    for column in ("ML", "REML"):
        assert_close(fit.fit_stats[column], ref["fit_stats"][column])
    stats = ref["fit_stats"][fit.method]
    assert_close([fit.loglik, fit.deviance, fit.aic, fit.bic, fit.aicc], stats)


@pytest.mark.parametrize("key", list(REF["mv"]))
def test_rma_mv_predict_and_i2_levels_match_metafor(key):
    ref, fit = REF["mv"][key], fitted(key)
    newmods = ref["newmods"]
    table = fit.predict(newmods=None if newmods is None else np.array(newmods, float))
    for name, expected in ref["predict"].items():
        assert_close(table[name], expected)
    assert list(fit.I2_levels.index) == [*fit.sigma2.index, "total"]
    assert_close(fit.I2_levels, ref["I2_levels"])
    assert fit.I2_levels["total"] == pytest.approx(fit.I2_levels.iloc[:-1].sum())


# --------------------------------------------------------------------------- Assink & Wibbelink (2016)

TUTORIAL = {"overall": {}, "novar2": {"sigma2": [0, None]}, "novar3": {"sigma2": [None, 0]},
            "deltype": {"mods": "~ deltype"}, "year": {"mods": "~ year"}, "both": {"mods": "~ deltype + year"}}


@functools.cache
def tutorial_fit(key: str) -> meta.RmaMvResult:
    """The tutorial's model: effects (``id``) and studies as two crossed terms, t tests, REML."""
    return meta.rma_mv("yi", "vi", data=dataset("assink"), random=["~ 1 | id", "~ 1 | study"], test="t",
                       **TUTORIAL[key])


@pytest.mark.parametrize("key", list(TUTORIAL))
def test_tutorial_models_with_fixed_components_and_moderators_match_metafor(key):
    ref, fit = REF["tutorial"][key], tutorial_fit(key)
    assert (fit.k, fit.p, fit.parms) == (ref["k"], ref["p"], ref["parms"])
    for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
        assert_close(getattr(fit, name), ref[name])
    assert_close(fit.sigma2, ref["sigma2"], atol=1e-10)
    assert list(fit.sigma2_fixed) == [value == 0 for value in TUTORIAL[key].get("sigma2", [None, None])]
    for name in ("QE", "QM", "QMp"):
        assert_close(getattr(fit, name), ref[name])
    assert_close(fit.fit_stats["REML"], ref["fit_stats"]["REML"])
    assert_close(fit.I2_levels, ref["I2_levels"], atol=1e-8)


@pytest.mark.parametrize("level, reduced", [("anova_level2", "novar2"), ("anova_level3", "novar3")])
def test_anova_tests_a_level_as_metafor(level, reduced):
    ref, table = REF["tutorial"][level], tutorial_fit("overall").anova(tutorial_fit(reduced))
    assert list(table.index) == ["Full", "Reduced"] and list(table["df"]) == ref["df"]
    for name in ("logLik", "AIC", "BIC", "AICc", "QE"):
        assert_close(table[name], ref[name])
    assert_close([table.loc["Reduced", "LRT"], table.loc["Reduced", "pval"]], [ref["LRT"], ref["pval"]])
    assert np.isnan(table.loc["Full", "LRT"])


def test_anova_and_sigma2_refuse_what_metafor_refuses():
    full, reduced = tutorial_fit("overall"), tutorial_fit("novar2")
    with pytest.raises(meta.MetaInputError, match="pass the fit with more parameters first"):
        reduced.anova(full)
    with pytest.raises(meta.MetaInputError, match="different fixed effects"):
        tutorial_fit("year").anova(reduced)
    with pytest.raises(meta.MetaInputError, match="same effects"):
        full.anova(fitted("konst_reml"))
    with pytest.raises(meta.MetaInputError, match="sigma2 has 1 entries but the model has 2"):
        meta.rma_mv("yi", "vi", data=dataset("assink"), random=["~ 1 | id", "~ 1 | study"], sigma2=[0])
    with pytest.raises(meta.MetaInputError, match=r"finite value >= 0; got \[-1.0\] for id"):
        meta.rma_mv("yi", "vi", data=dataset("assink"), random=["~ 1 | id", "~ 1 | study"], sigma2=[-1, None])


def test_impute_covariance_matches_vcalc_and_club_sandwich():
    ref = REF["vcalc"]
    assert ref["clubSandwich_equal"]
    expected = np.zeros((100, 100))
    expected[np.array(ref["rows"]) - 1, np.array(ref["cols"]) - 1] = ref["values"]
    assink = dataset("assink")
    dense = meta.impute_covariance("vi", "study", 0.6, data=assink)
    sparse = meta.impute_covariance(assink.vi, assink.study, 0.6, sparse=True)
    np.testing.assert_allclose(dense, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sparse.toarray(), dense, rtol=0, atol=0)
    by_sparse = meta.rma_mv("yi", sparse, data=assink, random="~ 1 | study/esid", mods="~ year")
    assert_close(by_sparse.beta, fitted("assink_vcalc").beta, rtol=1e-8)
    assert_close(by_sparse.sigma2, fitted("assink_vcalc").sigma2, rtol=1e-6)


def test_rma_mv_inputs_as_vectors_matrices_and_formulas_agree():
    assink = dataset("assink")
    reference = fitted("assink_deltype")
    dummies = pd.get_dummies(assink.deltype, drop_first=True).astype(float)
    by_frame = meta.rma_mv(assink.yi, np.diag(assink.vi), data=assink, random="~ 1 | study/esid", mods=dummies)
    assert_close(by_frame.beta.to_numpy(), reference.beta.to_numpy(), rtol=1e-7)
    assert_close(by_frame.sigma2, reference.sigma2, rtol=1e-6)
    t_fit = meta.rma_mv("yi", "vi", data=assink, random="~ 1 | study/esid", test="t")
    assert t_fit.dof == t_fit.k - t_fit.p and t_fit.QMdf == (1, 99)
    assert "Multivariate Meta-Analysis Model (k = 100; method: REML)" in reference.summary()
    assert "sigma^2.2" in reference.summary() and "Test of Moderators (coefficients 2, 3)" in reference.summary()


def test_rma_mv_forest_groups_effects_by_study():
    fig = fitted("konst_reml").forest()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "RE Model" in labels and any(label.startswith("district 11") for label in labels)
    matplotlib.pyplot.close(fig)


def test_rma_mv_is_fast_blockwise_for_many_studies():
    """2,000 studies x 5 effects with a correlated V: a few seconds, not minutes (metafor: ~5 min here)."""
    rng = np.random.default_rng(7)
    studies, per = 2000, 5
    study = np.repeat(np.arange(studies), per)
    vi = rng.uniform(0.01, 0.2, studies * per)
    errors = np.sqrt(vi) * (np.sqrt(0.5) * rng.normal(size=studies)[study] + np.sqrt(0.5) * rng.normal(size=vi.size))
    yi = 0.3 + rng.normal(0, 0.2, studies)[study] + rng.normal(0, 0.15, studies * per) + errors  # corr 0.5 in V
    data = pd.DataFrame({"study": study, "es_id": np.tile(np.arange(per), studies), "yi": yi, "vi": vi})
    V = meta.impute_covariance("vi", "study", 0.5, data=data, sparse=True)
    start = time.perf_counter()
    fit = meta.rma_mv("yi", V, data=data)
    assert time.perf_counter() - start < 10
    assert fit.converged and fit.blocks.largest == per and fit.blocks.n_blocks == studies
    assert fit.sigma2.iloc[0] == pytest.approx(0.04, rel=0.3)


# --------------------------------------------------------------------------- robust


def robust_fit(key: str):
    if key == "uni_assink":
        return meta.rma("yi", "vi", mods="~ year", data=dataset("assink"))
    if key == "uni_bcg":
        return meta.rma("yi", "vi", mods="~ ablat", data=dataset("bcg"))
    return fitted(key)


def robust_data(key: str) -> pd.DataFrame:
    return dataset({"konst_reml": "konst", "uni_bcg": "bcg"}.get(key, "assink"))


@pytest.mark.parametrize("key", list(REF["robust"]))
@pytest.mark.parametrize("kind", ["CR1", "CR2"])
def test_robust_matches_metafor_and_club_sandwich(key, kind):
    case = REF["robust"][key]
    ref = case[kind]
    rob = meta.robust(robust_fit(key), case["cluster"], clubsandwich=kind == "CR2", data=robust_data(key))
    assert rob.vcov_type == kind and rob.n_clusters == ref["n"]
    for name in ("beta", "se", "tval", "pval", "ci_lb", "ci_ub"):
        assert_close(getattr(rob, name), ref[name])
    assert_close(rob.vb.to_numpy().ravel(), np.ravel(ref["vb"]), atol=1e-14)
    assert_close(rob.df, np.broadcast_to(values(ref["df"]), rob.df.shape), RTOL_DF if kind == "CR2" else 0)
    assert_close(rob.QM, ref["QM"])
    assert_close(rob.QMp, ref["QMp"], RTOL_DF if kind == "CR2" else RTOL)
    assert rob.QMdf[0] == ref["QMdf"][0]
    assert_close(rob.QMdf[1], ref["QMdf"][1], RTOL_DF if kind == "CR2" else 0)
    if kind == "CR2":
        assert_close(rob.se, ref["coef_test"]["SE"])
        assert_close(rob.df, ref["coef_test"]["df"], RTOL_DF)
        if "wald_test" in ref:
            assert_close([rob.QM, rob.QMdf[1]], [ref["wald_test"]["Fstat"], ref["wald_test"]["df_denom"]], RTOL_DF)
    assert "Cluster-robust inference" in rob.summary()


def test_robust_cr1_allows_clusters_finer_than_the_random_effects_as_metafor():
    ref = REF["by_effect_CR1"]
    rob = meta.robust(fitted("assink_reml"), "id", data=dataset("assink"))
    assert_close([rob.se.iloc[0], rob.tval.iloc[0], rob.pval.iloc[0], rob.df.iloc[0]],
                 [ref["se"], ref["tval"], ref["pval"], ref["df"]])


def test_robust_cr2_refuses_random_effects_not_nested_in_clusters():
    """clubSandwich: 'Random effects are not nested within clustering variable.' (metafor passes it on)."""
    assert REF["not_nested_error"]["clubSandwich"] == "Random effects are not nested within clustering variable."
    with pytest.raises(meta.MetaInputError, match="Random effects are not nested within clustering variable"):
        meta.robust(fitted("assink_reml"), "id", clubsandwich=True, data=dataset("assink"))


def test_robust_cr2_with_one_effect_per_cluster_works_where_club_sandwich_does():
    """Every trial its own cluster in an rma fit: CR2 is defined (uni_bcg parity above); rma_mv: nesting error."""
    rob = meta.robust(robust_fit("uni_bcg"), "trial", clubsandwich=True, data=dataset("bcg"))
    assert (rob.cluster_sizes == 1).all() and np.isfinite(rob.df).all()


def test_robust_bad_clusters():
    fit = fitted("assink_reml")
    with pytest.raises(meta.MetaInputError, match="cluster has 99 values but the model was fitted to 100"):
        meta.robust(fit, np.arange(99))
    with pytest.raises(meta.MetaInputError, match="number of clusters \\(1\\) must be larger"):
        meta.robust(fit, np.zeros(100))
    with pytest.raises(meta.MetaInputError, match="missing values"):
        meta.robust(fit, np.r_[np.nan, np.arange(99.0)])


# --------------------------------------------------------------------------- influence


@functools.cache
def influence_fit(key: str) -> meta.RmaResult:
    spec = REF["influence"][key]
    return meta.rma("yi", "vi", mods=spec["mods"], data=dataset(spec["data"]), method=spec["method"],
                    test=spec["test"])


@pytest.mark.parametrize("key", list(REF["influence"]))
def test_influence_matches_metafor(key):
    ref, fit = REF["influence"][key], influence_fit(key)
    table = fit.influence()
    assert list(table.columns) == ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight",
                                   "inf"]
    assert list(table.index) == list(fit.yi.index)
    for name in ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight"):
        assert_close(table[name], ref[name])
    assert table["inf"].tolist() == ref["inf"]
    rs = fit.rstudent()
    assert_close(rs["resid"], ref["rstudent_resid"])
    assert_close(rs["se"], ref["rstudent_se"])
    assert_close(rs["z"], ref["rstudent_z"])
    assert_close(fit.cooks_distance(), ref["cooks_distance"])
    for column, expected in ref["dfbetas"].items():
        assert_close(fit.dfbetas()[column], expected)


def test_influence_flags_molloy_outliers_as_metafor():
    table = influence_fit("molloy_fe").influence()
    assert table.index[table["inf"]].tolist() == ["2", "10"]


# --------------------------------------------------------------------------- bad input


def test_rma_mv_refuses_a_sampling_covariance_that_is_not_positive_definite():
    assink = dataset("assink")
    V = meta.impute_covariance("vi", "study", 1.0, data=assink)  # perfectly correlated: singular blocks
    with pytest.raises(meta.MetaInputError, match="V is not positive definite"):
        meta.rma_mv("yi", V, data=assink, random="~ 1 | study/esid")
    with pytest.raises(meta.MetaInputError, match="V is not positive definite"):
        meta.rma_mv("yi", assink.vi.where(assink.index != 3, -0.1), data=assink, random="~ 1 | study/esid")
    asymmetric = np.diag(assink.vi.to_numpy())
    asymmetric[0, 1] = 0.01
    with pytest.raises(meta.MetaInputError, match="V must be symmetric"):
        meta.rma_mv("yi", asymmetric, data=assink, random="~ 1 | study/esid")
    with pytest.raises(meta.MetaInputError, match="r must be a correlation"):
        meta.impute_covariance("vi", "study", 1.5, data=assink)


def test_rma_mv_refuses_mismatched_lengths_and_bad_terms():
    assink = dataset("assink")
    with pytest.raises(meta.MetaInputError, match="V is 99 x 99 but there are 100 outcomes"):
        meta.rma_mv("yi", np.eye(99), data=assink, random="~ 1 | study/esid")
    with pytest.raises(meta.MetaInputError, match="arguments differ in length"):
        meta.rma_mv("yi", np.ones(99), data=assink, random="~ 1 | study/esid")
    with pytest.raises(meta.MetaInputError, match="arguments differ in length"):
        meta.impute_covariance(np.ones(3), np.ones(4), 0.5)
    with pytest.raises(meta.MetaInputError, match="not a term"):
        meta.rma_mv("yi", "vi", data=assink, random="~ deltype | study")
    with pytest.raises(meta.MetaInputError, match="columns \\['school'\\] not in data"):
        meta.rma_mv("yi", "vi", data=assink, random="~ 1 | study/school")
    with pytest.raises(meta.MetaInputError, match="unknown method"):
        meta.rma_mv("yi", "vi", data=assink, random="~ 1 | study/esid", method="DL")
    with pytest.raises(meta.MetaInputError, match="missing values in \\['study'\\]"):
        meta.rma_mv("yi", "vi", data=assink.assign(study=assink.study.where(assink.index > 0)),
                    random="~ 1 | study/esid")


def test_rma_mv_omits_missing_outcomes_and_fixes_single_level_factors():
    assink = dataset("assink")
    fit = meta.rma_mv("yi", "vi", data=assink.assign(yi=assink.yi.where(assink.index != 5)),
                      random="~ 1 | study/esid")
    assert fit.k == 99 and any("omitted" in w for w in fit.warnings)
    single = meta.rma_mv("yi", "vi", data=assink.assign(all=1), random=["~ 1 | all", "~ 1 | study/esid"])
    assert single.sigma2["all"] == 0 and single.sigma2_fixed["all"] and single.parms == 3
    assert_close(single.sigma2.iloc[1:], fitted("assink_reml").sigma2, rtol=1e-5)


@pytest.mark.slow
def test_meta_analysis_notebook_fits_the_three_level_model_for_several_effects_per_study(tmp_path):
    from analysis import report

    params = {"meta_data": "dat_assink2016", "measure": "SMD", "columns": {}, "cluster": "study",
              "moderators": None, "bayesian": False, "quick": True}
    run = report.run_notebook("06_meta_analysis", params, tmp_path)
    assert run.ok, run.error
    numbers = report.recorded(tmp_path / "06_meta_analysis.ipynb")
    data = datasets.load("dat_assink2016")
    fit = meta.rma_mv("yi", "vi", data=data.assign(es_id=range(len(data))), random="~ 1 | study/es_id")
    assert numbers["three_level_estimate"] == pytest.approx(fit.beta.iloc[0], rel=1e-7)
    html = (tmp_path / "06_meta_analysis.html").read_text()
    assert "three-level, CR2 robust" in html and "I² by level" in html and "Traceback" not in html
