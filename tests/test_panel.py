"""Tests for analysis.panel against lavaan (tests/reference/lavaan_riclpm.R) and simulator truth."""

import json
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis import io, panel, report, simulate
from analysis.plots import panel as panel_plots
from analysis.sem import fitting as sem_fitting

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "lavaan_riclpm.json").read_text())
PANELS = pd.read_csv(ROOT / "tests" / "reference" / "riclpm_panels.csv")
CASES = sorted(k for k, v in REFERENCE.items() if isinstance(v, dict))
EFFECT = {("x", "x"): "x_on_x", ("x", "y"): "x_on_y", ("y", "x"): "y_on_x", ("y", "y"): "y_on_y"}


def fit_case(case):
    name, model, lags = case.split("_")
    function = panel.riclpm if model == "riclpm" else panel.clpm
    return function(PANELS[PANELS["panel"] == name], "x", "y", "id", "wave", equal_lags=lags == "equal")


@pytest.fixture(scope="module")
def fits():
    return {case: fit_case(case) for case in CASES}


def reference_parameters(case):
    ref = REFERENCE[case]
    rhs = ["" if op == "~1" else r for op, r in zip(ref["op"], ref["rhs"])]
    return pd.DataFrame({"lhs": ref["lhs"], "op": ref["op"], "rhs": rhs, "est": ref["est"], "se_ref": ref["se"]})


def test_reference_cases_cover_complete_and_missing_panels():
    assert {"complete_riclpm_equal", "missing_riclpm_equal", "complete_riclpm_free", "missing_riclpm_free",
            "complete_clpm_equal", "missing_clpm_equal", "trial_riclpm_equal"} <= set(CASES)
    missing = PANELS[PANELS["panel"] == "missing"]
    assert missing[["x", "y"]].isna().any().all() and missing.groupby("id").size().min() < 5
    assert set(PANELS["wave"]) == {1, 2, 3, 4, 5}


@pytest.mark.parametrize("case", CASES)
def test_estimates_and_standard_errors_match_lavaan(fits, case):
    fit, ref = fits[case], reference_parameters(case)
    merged = fit.parameters.merge(ref, on=["lhs", "op", "rhs"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all(), merged.loc[merged["_merge"] != "both", ["lhs", "op", "rhs"]]
    assert len(merged) == len(ref)
    lags_and_variances = merged[merged["op"].isin(["~", "~~"])]
    assert np.max(np.abs(lags_and_variances["estimate"] - lags_and_variances["est"])) < 1e-3
    assert np.max(np.abs(merged["estimate"] - merged["est"])) < 1e-3
    assert np.max(np.abs(merged["se"] / merged["se_ref"] - 1)) < 1e-2
    assert fit.converged and REFERENCE[case]["converged"]


@pytest.mark.parametrize("case", CASES)
def test_fit_measures_match_lavaan(fits, case):
    fit, ref = fits[case].fit, REFERENCE[case]["fit"]
    assert abs(fit["chisq"] - ref["chisq"]) < 1e-2
    assert (fit["df"], fit["npar"], fit["nobs"], fit["baseline_df"]) == (
        ref["df"], ref["npar"], ref["ntotal"], ref["baseline.df"])
    assert abs(fit["baseline_chisq"] - ref["baseline.chisq"]) < 1e-2
    assert abs(fit["loglik"] - ref["logl"]) < 1e-3
    assert abs(fit["unrestricted_loglik"] - ref["unrestricted.logl"]) < 1e-3
    for ours, theirs in (("cfi", "cfi"), ("tli", "tli"), ("rmsea", "rmsea"), ("pvalue", "pvalue")):
        assert abs(fit[ours] - ref[theirs]) < 1e-4, ours
    assert abs(fit["aic"] - ref["aic"]) < 1e-2 and abs(fit["bic"] - ref["bic"]) < 1e-2


@pytest.mark.parametrize("case", CASES)
def test_standardized_lags_match_lavaan_std_all(fits, case):
    ref = REFERENCE[case]
    index = pd.MultiIndex.from_tuples([(EFFECT[(lhs[1], rhs[1])], int(lhs[2:]))
                                       for lhs, rhs in zip(ref["std_lhs"], ref["std_rhs"])],
                                      names=["effect", "wave"])
    expected = pd.DataFrame({"est": ref["std_est"], "se_ref": ref["std_se"]}, index=index)
    merged = fits[case].standardized.join(expected, how="inner")
    assert len(merged) == len(expected) == 16
    assert np.max(np.abs(merged["estimate"] - merged["est"])) < 1e-3
    assert np.max(np.abs(merged["se"] / merged["se_ref"] - 1)) < 1e-2


def test_tables_are_consistent_with_the_parameter_table(fits):
    fit = fits["missing_riclpm_equal"]
    params = fit.parameters.set_index(["lhs", "op", "rhs"])
    assert fit.lagged.loc["y_on_x", "estimate"] == params.loc[("wy3", "~", "wx2"), "estimate"]
    assert fit.lagged.loc["x_on_y", "se"] == params.loc[("wx2", "~", "wy1"), "se"]
    assert fit.between.loc["var_x", "estimate"] == params.loc[("RIx", "~~", "RIx"), "estimate"]
    corr = fit.between.loc["cov", "estimate"] / np.sqrt(fit.between.loc["var_x", "estimate"]
                                                        * fit.between.loc["var_y", "estimate"])
    assert fit.between.loc["corr", "estimate"] == pytest.approx(corr)
    assert fit.within.loc[("cov", 4), "estimate"] == params.loc[("wx4", "~~", "wy4"), "estimate"]
    assert fit.means.loc[("y", 5), "estimate"] == params.loc[("y5", "~1", ""), "estimate"]
    row = fit.lagged.loc["y_on_x"]
    assert row["ci_low"] < row["estimate"] < row["ci_high"]
    assert row["z"] == pytest.approx(row["estimate"] / row["se"])
    free = fits["missing_riclpm_free"].lagged
    assert free.index.names == ["effect", "wave"] and len(free) == 16
    assert fits["complete_clpm_equal"].between.empty


def test_random_intercepts_matter_on_data_with_stable_differences(fits):
    """The panels have stable between-person differences: the CLPM fits much worse and
    inflates the autoregressions (stable differences read as carry-over)."""
    ri, classic = fits["complete_riclpm_equal"], fits["complete_clpm_equal"]
    table = panel.compare(ri, classic)
    assert list(table.index) == ["RI-CLPM", "CLPM"]
    assert table.loc["CLPM", "chisq"] > table.loc["RI-CLPM", "chisq"] + 100
    assert table.loc["CLPM", "x_on_x"] > table.loc["RI-CLPM", "x_on_x"] + 0.2
    with pytest.raises(ValueError, match="differ"):
        panel.compare(ri, fits["trial_riclpm_equal"])


def test_directions_compare_the_two_cross_lags(fits):
    fit = fits["complete_riclpm_equal"]
    table = panel.directions(fit, "SE", "symptoms")
    assert list(table.index) == ["SE -> symptoms", "symptoms -> SE", "difference"]
    assert table.loc["SE -> symptoms", "estimate"] == pytest.approx(fit.lagged.loc["y_on_x", "estimate"])
    assert table.loc["SE -> symptoms", "ci_low"] == pytest.approx(fit.lagged.loc["y_on_x", "ci_low"], abs=1e-6)
    std = fit.standardized.xs("x_on_y", level="effect")["estimate"].mean()
    assert table.loc["symptoms -> SE", "std"] == pytest.approx(std)
    diff = table.loc["SE -> symptoms", "std"] - table.loc["symptoms -> SE", "std"]
    assert table.loc["difference", "std"] == pytest.approx(diff)
    assert table.loc["difference", "std_low"] < diff < table.loc["difference", "std_high"]


def test_true_cross_lags_fall_inside_intervals_on_simulator_data():
    """simulate.trial's within-person VAR(1) is an RI-CLPM when person slopes and
    measurement error are switched off (integer rounding remains)."""
    data, truth = simulate.trial(n_per_arm=200, waves=5, se_slope_sd=0, symptom_slope_sd=0, slope_corr=0,
                                 se_slope_effect={}, symptom_slope_effect={}, measurement_error_sd=0,
                                 item_missing_rate=0, seed=20240601)
    fit = panel.riclpm(data, "gse_total", "phq9_total")
    assert fit.n_patterns > 1  # the simulator's dropout leaves missing waves
    for effect, key in (("y_on_x", "lag_se_to_sym"), ("x_on_y", "lag_sym_to_se"),
                        ("x_on_x", "ar_se"), ("y_on_y", "ar_sym")):
        row = fit.lagged.loc[effect]
        assert row["ci_low"] < truth[key] < row["ci_high"], (effect, row["estimate"], truth[key])
    assert fit.converged and fit.warnings == []


def test_same_input_gives_the_same_numbers():
    data = PANELS[PANELS["panel"] == "missing"]
    first = panel.riclpm(data, "x", "y", "id", "wave")
    second = panel.riclpm(data.sample(frac=1, random_state=3), "x", "y", "id", "wave")
    assert np.allclose(first.parameters["estimate"], second.parameters["estimate"], atol=1e-8)
    assert first.fit["chisq"] == pytest.approx(second.fit["chisq"], abs=1e-8)


def test_people_without_data_are_dropped_and_reported():
    data = PANELS[PANELS["panel"] == "complete"].copy()
    empty = data["id"].isin([1, 2])
    data.loc[empty, ["x", "y"]] = np.nan
    fit = panel.riclpm(data, "x", "y", "id", "wave")
    assert (fit.nobs, fit.n_dropped) == (398, 2)
    assert any("2 people" in w for w in fit.warnings)
    assert "2 with no observed value dropped" in fit.summary()


def test_no_stable_differences_gives_a_boundary_warning():
    rng = np.random.default_rng(5)
    n, waves = 300, 4
    within = np.zeros((n, waves, 2))
    within[:, 0] = rng.normal(size=(n, 2))
    for t in range(1, waves):
        within[:, t] = within[:, t - 1] @ np.array([[0.5, 0.0], [0.0, 0.5]]).T + rng.normal(size=(n, 2))
    data = pd.DataFrame({"id": np.repeat(np.arange(n), waves), "wave": np.tile(np.arange(waves), n),
                         "x": within[..., 0].ravel(), "y": within[..., 1].ravel()})
    fit = panel.riclpm(data, "x", "y", "id", "wave")
    assert any("random-intercept variance" in w for w in fit.warnings), fit.warnings
    assert "Warnings:" in fit.summary()


@pytest.mark.parametrize("change, message", [
    (lambda d: d.drop(columns="y"), "y: riclpm: column not in the data"),
    (lambda d: d.assign(x=d["x"].astype(object).where(d.index != d.index[3], "n/a")), "x: values are not numbers"),
    (lambda d: pd.concat([d, d.iloc[[0]]]), "id, wave: appears more than once"),
    (lambda d: d[d["wave"] <= 2], "at least 3 waves"),
    (lambda d: d.assign(y=d["y"].where(d["wave"] != 4)), "y at wave 4: 0"),
])
def test_bad_input_raises_a_clear_error(change, message):
    data = PANELS[PANELS["panel"] == "complete"]
    with pytest.raises(ValueError, match=message):
        panel.riclpm(change(data), "x", "y", "id", "wave")


def test_bad_input_names_rows_and_values():
    data = PANELS[PANELS["panel"] == "complete"].copy()
    data["x"] = data["x"].astype(object)
    data.loc[data.index[7], "x"] = "seven"
    with pytest.raises(io.DataValidationError) as caught:
        panel.riclpm(data, "x", "y", "id", "wave")
    assert f"index {data.index[7]}: 'seven'" in str(caught.value)
    with pytest.raises(ValueError, match="conf_level"):
        panel.riclpm(PANELS[PANELS["panel"] == "complete"], "x", "y", "id", "wave", conf_level=95)


def test_nullable_dtypes_and_numeric_text_waves_give_the_same_numbers(fits):
    data = PANELS[PANELS["panel"] == "missing"]
    nullable = data.astype({"x": "Float64", "y": "Float64", "id": "string[pyarrow]"}).assign(
        wave=data["wave"].astype(str))
    fit = panel.riclpm(nullable, "x", "y", "id", "wave")
    reference = fits["missing_riclpm_equal"]
    assert fit.waves == reference.waves == [1, 2, 3, 4, 5]
    assert np.allclose(fit.parameters["estimate"], reference.parameters["estimate"], atol=1e-8)
    assert fit.fit["chisq"] == pytest.approx(reference.fit["chisq"], abs=1e-8)


@pytest.mark.parametrize("function", [panel.riclpm, panel.clpm])
def test_a_handful_of_people_says_how_many_are_needed(function):
    data = PANELS[PANELS["panel"] == "complete"]
    few = data[data["id"].isin(data["id"].unique()[:5])]
    with pytest.raises(ValueError, match=f"{function.__name__}: 5 people with data, but x and y at 5 waves "
                                         r"\(10 variables\) need at least 11 people"):
        function(few, "x", "y", "id", "wave")


def test_x_equal_to_y_is_refused():
    data = PANELS[PANELS["panel"] == "complete"]
    with pytest.raises(ValueError, match="x and y are both 'x'"):
        panel.riclpm(data, "x", "x", "id", "wave")
    copy = data.assign(z=2 * data["y"] + 1)
    with pytest.raises(io.DataValidationError, match=r"z at wave 1: riclpm: collinear .*\+2\*y at wave 1"):
        panel.riclpm(copy, "z", "y", "id", "wave")


@pytest.mark.parametrize("function", [panel.riclpm, panel.clpm])
def test_a_constant_wave_is_named(function):
    data = PANELS[PANELS["panel"] == "missing"]
    flat = data.assign(y=data["y"].where(data["wave"] != 3, 2.0).where(data["y"].notna()))
    with pytest.raises(io.DataValidationError, match=f"y: {function.__name__}: constant at wave 3"):
        function(flat, "x", "y", "id", "wave")


def test_text_waves_are_refused():
    data = PANELS[PANELS["panel"] == "complete"]
    with pytest.raises(io.DataValidationError, match="wave: waves must be whole numbers"):
        panel.riclpm(data.assign(wave="w" + data["wave"].astype(str)), "x", "y", "id", "wave")


def test_a_singular_covariance_matrix_is_reported_in_words():
    """A wave that copies the previous one among people who miss another wave (no one is
    observed at every wave, so the design check cannot see it): no LinAlgError escapes."""
    data = PANELS[PANELS["panel"] == "complete"].copy()
    rng = np.random.default_rng(1)
    skipped = data.groupby("id")["wave"].transform(lambda w: rng.choice(w.to_numpy())) == data["wave"]
    first = data[data["wave"] == 1].set_index("id")["x"]
    data.loc[data["wave"] == 2, "x"] = data.loc[data["wave"] == 2, "id"].map(first).to_numpy()
    data.loc[skipped, ["x", "y"]] = np.nan
    with pytest.raises(ValueError, match="riclpm: the model is not identified on these data") as caught:
        panel.riclpm(data, "x", "y", "id", "wave")
    assert not isinstance(caught.value, np.linalg.LinAlgError) and caught.value.__cause__ is None


def test_summary_reports_fit_and_effects(fits):
    text = fits["missing_riclpm_equal"].summary()
    for piece in ("RI-CLPM", "Chi-square", "CFI", "RMSEA", "y_on_x", "Between person", "missingness patterns"):
        assert piece in text


def test_figures(fits):
    ri, classic = fits["complete_riclpm_equal"], fits["complete_clpm_equal"]
    fig = panel_plots.path_diagram(ri, "SE", "symptoms")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert f"{ri.lagged.loc['y_on_x', 'estimate']:.2f}" in texts
    assert any(t.startswith("r = ") for t in texts)
    assert not any(t.startswith("r = ") for t in
                   [t.get_text() for t in panel_plots.path_diagram(classic).axes[0].texts])
    fig = panel_plots.cross_lags({"RI-CLPM": ri, "CLPM": classic}, "SE", "symptoms")
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()][0] == "RI-CLPM: SE -> symptoms"
    fig = panel_plots.standardized_lags(fits["missing_riclpm_free"])
    assert len(fig.axes[0].get_legend().get_texts()) == 4


@pytest.mark.slow
def test_cross_lagged_notebook_runs_in_quick_mode(tmp_path):
    run = report.run_notebook("05_cross_lagged", {"quick": True}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "05_cross_lagged.html").read_text()
    assert "RI-CLPM" in html and "HELP" in html and "std_high" in html and "Traceback" not in html
    # the third process (MLR, scaled chi-square) and the lags per arm
    assert "Adherence as a third process" in html and "chisq_scaling_factor" in html
    assert all(arm in html.split("differ by arm?")[1] for arm in ("control", "cbt", "mindfulness"))
    assert re.search(r"Lags equal across arms\?</strong> chi-square difference \d+\.\d\d on 8 df, p = 0\.\d{3}", html)
    assert {"trial_lags_equal_across_arms_chisq_diff", "trial_lags_equal_across_arms_p"} <= set(run.values)


def test_the_model_is_the_mulder_hamaker_syntax_fitted_by_the_sem_engine(fits):
    """panel.syntax is the lavaan syntax of tests/reference/lavaan_riclpm.R; the engine fitted
    from a start with every variance doubled reaches the same optimum."""
    fit = fits["missing_riclpm_equal"]
    model = panel.syntax("xy", 5)
    assert "RIx =~ 1*x1 + 1*x2 + 1*x3 + 1*x4 + 1*x5" in model
    assert "wy3 ~ y_on_x*wx2 + y_on_y*wy2" in model and "wx5 ~~ wy5" in model
    long = PANELS[PANELS["panel"] == "missing"].pivot(index="id", columns="wave", values=["x", "y"])
    wide = pd.DataFrame({f"{v}{w}": long[(v, w)] for v, w in long.columns})
    variances = fit.parameters[(fit.parameters["op"] == "~~") & (fit.parameters["lhs"] == fit.parameters["rhs"])]
    start = {(lhs, "~~", lhs): 2 * value for lhs, value in zip(variances["lhs"], variances["estimate"])}
    again = sem_fitting.lavaan(model, wide, meanstructure=True, int_ov_free=True, information="observed",
                               start=start)
    free = again.state.table["free"].to_numpy() >= 0
    assert np.allclose(again.parameters["estimate"][free], fit.parameters["estimate"], atol=1e-6)
    assert fit.sem.fit["chisq"] == pytest.approx(fit.fit["chisq"])


EXT = json.loads((ROOT / "tests" / "reference" / "lavaan_riclpm_ext.json").read_text())
EXT_PANEL = pd.read_csv(ROOT / "tests" / "reference" / "riclpm_ext_panel.csv")
#: Case of lavaan_riclpm_ext.R -> (function, arguments).
EXT_CASES = {
    "covariates": (panel.riclpm, {"covariates": ["age", "female"]}),
    "covariates_clpm": (panel.clpm, {"covariates": ["age", "female"]}),
    "groups": (panel.riclpm, {"groups": "arm"}),
    "mlr": (panel.riclpm, {"estimator": "MLR"}),
    "three": (panel.riclpm, {"z": "z"}),
    "three_clpm": (panel.clpm, {"z": "z", "estimator": "MLR"}),
}
#: lavaan stops where the likelihood is flat (its log-likelihood is up to 1e-6 below ours): estimates
#: agree to 1e-4 relative to max(1, |estimate|), except in the three-group model (1e-3 relative).
EXT_ESTIMATE_TOL = {"groups": 2e-3}


@pytest.fixture(scope="module")
def ext_fits():
    return {case: function(EXT_PANEL, "x", "y", "id", "wave", **kwargs)
            for case, (function, kwargs) in EXT_CASES.items()}


@pytest.mark.parametrize("case", list(EXT_CASES))
def test_covariates_groups_mlr_and_a_third_variable_match_lavaan(ext_fits, case):
    assert_matches_lavaan(ext_fits[case], EXT[case], EXT_ESTIMATE_TOL.get(case, 1.5e-4))


@pytest.mark.parametrize("case, estimator", [("lrt_groups", "ML"), ("lrt_groups_mlr", "MLR")])
def test_lags_equal_across_groups_and_their_test_match_lavaan(ext_fits, case, estimator):
    groups = {"group": "id", "wave": "wave", "groups": "arm", "estimator": estimator}
    free = ext_fits["groups"] if estimator == "ML" else panel.riclpm(EXT_PANEL, "x", "y", **groups)
    equal = panel.riclpm(EXT_PANEL, "x", "y", equal_groups=True, **groups)
    ref = EXT[case]
    assert_matches_lavaan(equal, ref["equal"], 2e-3)
    assert equal.equal_groups and "equal across groups" in equal.summary()
    lags = equal.lagged["estimate"].unstack("group")
    assert np.allclose(lags.to_numpy(), lags.iloc[:, [0]].to_numpy(), rtol=0, atol=1e-12)  # one value per lag
    test = panel.lrt(free, equal)
    assert test["df_diff"] == ref["df_diff"] == 8
    assert abs(test["chisq_diff"] - ref["chisq_diff"]) < 2e-3 and abs(test["p_diff"] - ref["p_diff"]) < 1e-4
    assert "lags equal across groups" in panel.compare(free, equal).index[1]
    with pytest.raises(ValueError, match="give the freer model first"):
        panel.lrt(equal, free)


def test_groups_coded_as_nullable_integers_keep_their_codes_as_labels(ext_fits):
    codes = {level: k for k, level in enumerate(sorted(EXT_PANEL["arm"].unique()))}
    coded = EXT_PANEL.assign(arm=EXT_PANEL["arm"].map(codes).astype("Int64"))
    fit = panel.riclpm(coded, "x", "y", "id", "wave", groups="arm")
    text = ext_fits["groups"]
    expected = [codes[g] for g in text.groups]  # in the order the groups appear, as lavaan's
    assert fit.groups == expected and all(isinstance(g, (int, np.integer)) for g in fit.groups)
    assert fit.lagged.index.get_level_values("group").unique().tolist() == expected
    np.testing.assert_allclose(fit.lagged["estimate"].to_numpy(), text.lagged["estimate"].to_numpy(), rtol=1e-6)


def test_lrt_and_equal_groups_refuse_what_they_cannot_test(ext_fits):
    with pytest.raises(ValueError, match="differ in variables, people, waves, groups or estimator"):
        panel.lrt(ext_fits["groups"], ext_fits["covariates"])
    with pytest.raises(ValueError, match=r"equal_groups holds the lags equal across groups; give the groups"):
        panel.riclpm(EXT_PANEL, "x", "y", "id", "wave", equal_groups=True)
    one_arm = EXT_PANEL[EXT_PANEL["arm"] == EXT_PANEL["arm"].iloc[0]]
    fits = [panel.riclpm(one_arm, "x", "y", "id", "wave", groups="arm", equal_groups=equal) for equal in (False, True)]
    with pytest.raises(ValueError, match="both models have 17 df, so neither constrains the other"):
        panel.lrt(*fits)
    assert "c(x_on_y_g1, x_on_y_g2)*wy2" in panel.syntax("xy", 3, n_groups=2)
    assert "x_on_y*wy2" in panel.syntax("xy", 3, n_groups=2, equal_groups=True)
    assert "x_on_y_t3*wy2" in panel.syntax("xy", 3, equal_lags=False, n_groups=2, equal_groups=True)
    assert "_on_" not in panel.syntax("xy", 3, equal_lags=False, n_groups=2)  # free per wave and group


def assert_matches_lavaan(fit, ref, estimate_tol):
    """Parameters, standard errors and fit measures of ``fit`` are lavaan's (a case of lavaan_riclpm_ext.R)."""
    expected = pd.DataFrame({"lhs": ref["lhs"], "op": ref["op"],
                             "rhs": ["" if op == "~1" else r for op, r in zip(ref["op"], ref["rhs"])],
                             "group": ref["group"], "est": ref["est"], "se_ref": ref["se"]})
    merged = fit.parameters.merge(expected, on=["lhs", "op", "rhs", "group"], how="outer", indicator=True)
    assert (merged["_merge"] == "both").all() and len(merged) == len(expected)
    scale = np.maximum(1, np.abs(merged["est"]))
    assert np.max(np.abs(merged["estimate"] - merged["est"]) / scale) < estimate_tol
    se_tol = 1e-4 if fit.estimator == "MLR" else 1e-3
    assert np.max(np.abs(merged["se"] / merged["se_ref"] - 1)) < se_tol
    measures, theirs = fit.fit, ref["fit"]
    assert 0 <= measures["loglik"] - theirs["logl"] < 1e-5
    assert (measures["df"], measures["npar"], measures["nobs"]) == (theirs["df"], theirs["npar"], theirs["ntotal"])
    assert abs(measures["chisq"] - theirs["chisq"]) < 1e-4
    for name in ("cfi", "tli", "rmsea", "srmr"):
        assert abs(measures[name] - theirs[name]) < 1e-4, name
    if fit.estimator == "MLR":
        assert abs(measures["chisq_scaled"] - theirs["chisq.scaled"]) < 1e-4
        assert abs(measures["chisq_scaling_factor"] - theirs["chisq.scaling.factor"]) < 1e-4
    assert fit.converged and ref["converged"] and fit.warnings == []


@pytest.mark.parametrize("case", ["groups", "three_clpm"])
def test_extended_standardized_lags_match_lavaan(ext_fits, case):
    fit, ref = ext_fits[case], EXT[case]
    labels = fit.groups
    keys = [((labels[g - 1],) if len(labels) > 1 else ()) + (f"{lhs[1]}_on_{rhs[1]}", int(lhs[2:]))
            for lhs, rhs, g in zip(ref["std_lhs"], ref["std_rhs"], ref["std_group"])]
    table = fit.standardized.loc[keys]
    scale = np.maximum(1, np.abs(ref["std_est"]))
    assert np.max(np.abs(table["estimate"].to_numpy() - ref["std_est"]) / scale) < EXT_ESTIMATE_TOL.get(case, 1e-4)
    assert np.max(np.abs(table["se"].to_numpy() / ref["std_se"] - 1)) < 1e-3


def test_tables_of_the_extensions(ext_fits):
    groups, three, covariates = ext_fits["groups"], ext_fits["three"], ext_fits["covariates"]
    assert groups.groups == EXT["groups"]["group_labels"]
    assert groups.lagged.index.names == ["group", "effect"] and len(groups.lagged) == 12
    assert list(groups.between.loc[groups.groups[0]].index) == ["var_x", "var_y", "cov", "corr"]
    by_arm = panel.directions(groups)
    assert list(by_arm.index.get_level_values("group").unique()) == groups.groups
    assert list(three.lagged.index) == ["x_on_x", "x_on_y", "x_on_z", "y_on_x", "y_on_y", "y_on_z",
                                        "z_on_x", "z_on_y", "z_on_z"]
    assert list(three.between.index) == ["var_x", "var_y", "var_z", "cov_xy", "cov_xz", "cov_yz",
                                         "corr_xy", "corr_xz", "corr_yz"]
    assert three.means.index.get_level_values("variable").unique().tolist() == ["x", "y", "z"]
    row = covariates.covariates.loc[("RIy", "female")]
    params = covariates.parameters.set_index(["lhs", "op", "rhs"])
    assert row["estimate"] == params.loc[("RIy", "~", "female"), "estimate"]
    assert "Covariates:" in covariates.summary() and "Scaled chi-square" in ext_fits["mlr"].summary()


@pytest.mark.parametrize("change, z, message", [
    (lambda d: d.assign(age=d["age"] + d["wave"]), "z", "age: riclpm: changes within a person"),
    (lambda d: d.assign(age=d["age"].where(d["id"] != 3)), "z", r"age: riclpm: missing for 1 person \(e.g. id 3\)"),
    (lambda d: d, "x", "z is 'x', which is already x or y"),
    (lambda d: d.assign(z=d["x"]), "z", r"z at wave 2: riclpm: collinear .*\+1\*x at wave 2"),
])
def test_bad_extension_input_is_named(change, z, message):
    with pytest.raises(ValueError, match=message):
        panel.riclpm(change(EXT_PANEL), "x", "y", "id", "wave", covariates=["age"], z=z)


def test_an_inadmissible_small_panel_is_reported_not_refused():
    """80 people at four visits (the own-data example): the likelihood runs into negative random-intercept
    variances and the information is indefinite there. The estimates come back with the trouble named and no
    standard errors (as lavaan, which cannot compute them), instead of an error that stops the report."""
    import own_data

    result = panel.riclpm(own_data.trial(), "gse_total", "phq9_total")
    assert any("not positive definite" in w and "no standard errors" in w for w in result.warnings)
    assert any("inadmissible" in w for w in result.warnings)
    assert result.lagged["estimate"].notna().all() and result.lagged["se"].isna().all()
