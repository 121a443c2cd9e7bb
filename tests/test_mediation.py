"""Tests for analysis.mediation: R's lm and medsens algorithm (tests/reference/mediation_jobs.R),
the mediation package's published JOBS II output, and simulator truth."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import datasets, io, mediation, mixed, report, simulate
from analysis.plots import mediation as mediation_plots

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "mediation_jobs.json").read_text())
COVARIATES = ["econ_hard", "sex", "age"]
#: summary(mediate(med.fit, out.fit, treat = "treat", mediator = "job_seek")) for this
#: model, as published in the mediation package's vignette (Tingley et al., 2014,
#: J. Stat. Softw. 59(5)): estimates rounded to 4 decimals, ACME 95% CI about -0.040 to 0.01.
PUBLISHED = {"ACME": -0.0157, "ADE": -0.0403, "Total Effect": -0.0560, "Prop. Mediated": 0.28}
PUBLISHED_ACME_CI = (-0.040, 0.01)


@pytest.fixture(scope="module")
def jobs():
    return datasets.load("jobs")


@pytest.fixture(scope="module")
def jobs_fit(jobs):
    return mediation.mediate(jobs, "treat", "job_seek", "depress2", COVARIATES, n_boot=5000, seed=1,
                             ci="percentile")


def test_acme_is_the_product_of_the_path_coefficients(jobs_fit):
    med, out = REFERENCE["mediator_model"], REFERENCE["outcome_model"]
    a = med["estimate"][med["terms"].index("treat")]
    b = out["estimate"][out["terms"].index("job_seek")]
    table = jobs_fit.table["estimate"]
    assert abs(table["ACME"] - a * b) < 1e-8
    assert abs(table["ACME"] - REFERENCE["acme"]) < 1e-8
    assert abs(table["ADE"] - REFERENCE["ade"]) < 1e-8
    assert abs(table["Total Effect"] - REFERENCE["total"]) < 1e-8  # a b + c' = c for OLS
    assert abs(table["Prop. Mediated"] - REFERENCE["acme"] / REFERENCE["total"]) < 1e-8


def test_models_match_lm(jobs_fit):
    for ours, key in ((jobs_fit.mediator_model, "mediator_model"), (jobs_fit.outcome_model, "outcome_model")):
        ref = REFERENCE[key]
        assert sorted(ours.index) == sorted(ref["terms"])
        ours = ours.loc[ref["terms"]]
        assert np.allclose(ours["estimate"], ref["estimate"], rtol=0, atol=1e-10)
        assert np.allclose(ours["se"], ref["se"], rtol=1e-8)
    paths = jobs_fit.paths
    assert paths.loc["c", "estimate"] == pytest.approx(REFERENCE["total_model"]["estimate"][1], abs=1e-10)
    assert paths.loc["c", "se"] == pytest.approx(REFERENCE["total_model"]["se"][1], rel=1e-8)
    assert jobs_fit.nobs == REFERENCE["nobs"] and jobs_fit.n_dropped == 0


def test_table_agrees_with_published_mediation_output(jobs_fit):
    table = jobs_fit.table
    for effect, value in PUBLISHED.items():
        digits = 2 if effect == "Prop. Mediated" else 4
        assert round(table.loc[effect, "estimate"], digits) == value, effect
    low, high = table.loc["ACME", ["ci_low", "ci_high"]]
    assert abs(low - PUBLISHED_ACME_CI[0]) < 0.005 and abs(high - PUBLISHED_ACME_CI[1]) < 0.005
    assert 0.1 < table.loc["ACME", "p"] < 0.4  # published 0.2 (an interval covering 0)
    assert table.loc["ADE", "ci_low"] < 0 < table.loc["ADE", "ci_high"]


def test_vectorised_bootstrap_equals_refitting_each_resample(jobs):
    n_boot, seed = 20, 7
    fit = mediation.mediate(jobs, "treat", "job_seek", "depress2", COVARIATES, n_boot=n_boot, seed=seed)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(jobs), size=(n_boot, len(jobs)))  # as mediation._resample_counts
    design = np.column_stack([np.ones(len(jobs)), jobs[["treat", *COVARIATES]]])
    for k in (0, 9, 19):
        rows = draws[k]
        a = np.linalg.lstsq(design[rows], jobs["job_seek"].to_numpy()[rows], rcond=None)[0][1]
        out = np.linalg.lstsq(np.column_stack([design[rows], jobs["job_seek"].to_numpy()[rows]]),
                              jobs["depress2"].to_numpy()[rows], rcond=None)[0]
        assert fit.draws.loc[k, "ACME"] == pytest.approx(a * out[-1], abs=1e-10)
        assert fit.draws.loc[k, "ADE"] == pytest.approx(out[1], abs=1e-10)


def test_jackknife_equals_leaving_each_row_out(jobs):
    small = jobs.iloc[:60]
    fit = mediation.mediate(small, "treat", "job_seek", "depress2", COVARIATES, n_boot=50)
    for i in (0, 33, 59):
        rest = small.drop(index=small.index[i])
        again = mediation.mediate(rest, "treat", "job_seek", "depress2", COVARIATES, n_boot=50)
        assert np.allclose(fit.jackknife.iloc[i], again.table["estimate"], atol=1e-10)


def test_bca_matches_scipy_for_a_mean():
    """The BCa formula (bias from the replicates, acceleration from the jackknife)
    agrees with scipy.stats.bootstrap's BCa for a skewed sample mean."""
    rng = np.random.default_rng(11)
    sample = rng.exponential(size=60)
    draws = np.array([rng.choice(sample, sample.size).mean() for _ in range(40000)])
    jack = (sample.sum() - sample) / (sample.size - 1)
    ours = mediation.inference.bca(draws[:, None], np.array([sample.mean()]), jack[:, None], 0.95)
    theirs = stats.bootstrap((sample,), np.mean, method="BCa", n_resamples=40000, random_state=12)
    width = theirs.confidence_interval.high - theirs.confidence_interval.low
    assert abs(ours[0][0] - theirs.confidence_interval.low) < 0.02 * width
    assert abs(ours[1][0] - theirs.confidence_interval.high) < 0.02 * width
    percentile = np.quantile(draws, [0.025, 0.975])
    assert ours[0][0] > percentile[0] and ours[1][0] > percentile[1]  # BCa shifts right for right skew


def test_p_values_follow_mediation():
    draws = np.array([[-1.0, 2.0], [1.0, 3.0], [2.0, 1.0], [3.0, -4.0]])
    p = mediation.inference.mediation_p(draws, np.array([1.5, 0.0]))
    assert p[0] == pytest.approx(2 * 1 / 4) and p[1] == 1.0


def test_ci_methods_and_seed(jobs, jobs_fit):
    bca = jobs_fit.ci("bca")
    assert (bca["ci_low"] < jobs_fit.table["estimate"]).all()
    assert not np.allclose(bca["ci_low"], jobs_fit.table["ci_low"])
    assert jobs_fit.ci("percentile").equals(jobs_fit.table[["ci_low", "ci_high"]])
    again = mediation.mediate(jobs, "treat", "job_seek", "depress2", COVARIATES, n_boot=5000, seed=1,
                              ci="percentile")
    assert again.draws.equals(jobs_fit.draws)
    other = mediation.mediate(jobs, "treat", "job_seek", "depress2", COVARIATES, n_boot=5000, seed=2)
    assert not np.allclose(other.draws["ACME"], jobs_fit.draws["ACME"])
    assert other.ci_method == "bca" and other.table[["ci_low", "ci_high"]].equals(other.ci("bca"))


def test_sensitivity_matches_medsens_algorithm(jobs_fit):
    """ACME(rho) and its variance from iterated feasible GLS in R equal the closed form."""
    sens = mediation.medsens(jobs_fit, rho_by=0.1)
    ref = REFERENCE["sensitivity"]
    assert np.allclose(sens.table.index, ref["rho"])
    assert np.max(np.abs(sens.table["acme"] - ref["acme"])) < 1e-9
    assert np.max(np.abs(sens.table["acme"] - ref["acme_medsens_tol"])) < 1e-4
    var = ((sens.table["ci_high"] - sens.table["acme"]) / stats.norm.ppf(0.975)) ** 2
    assert np.max(np.abs(var / ref["var"] - 1)) < 1e-8
    assert sens.rho_zero == pytest.approx(REFERENCE["rho_zero"], abs=1e-12)
    r2_m = REFERENCE["mediator_model"]["r_squared"]
    r2_y = REFERENCE["outcome_model"]["r_squared"]
    assert sens.r2_star_zero == pytest.approx(REFERENCE["rho_zero"] ** 2)
    assert sens.r2_tilde_zero == pytest.approx(REFERENCE["rho_zero"] ** 2 * (1 - r2_m) * (1 - r2_y))
    assert jobs_fit.sensitivity.table.loc[0.0, "acme"] == pytest.approx(REFERENCE["acme"])
    with pytest.raises(ValueError, match="rho_by"):
        mediation.medsens(jobs_fit, rho_by=0)


def test_sensitivity_recovers_the_acme_under_known_confounding():
    """With errors correlated at rho = 0.5 the naive ACME is biased; ACME(0.5) is not."""
    rng = np.random.default_rng(3)
    n, a, b, c, rho = 4000, 0.8, 0.5, 0.3, 0.5
    treat = rng.integers(0, 2, n)
    errors = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], n)
    mediator = a * treat + errors[:, 0]
    outcome = c * treat + b * mediator + errors[:, 1]
    data = pd.DataFrame({"t": treat, "m": mediator, "y": outcome})
    fit = mediation.mediate(data, "t", "m", "y", n_boot=200, ci="percentile")
    assert fit.table.loc["ACME", "ci_low"] > a * b  # biased upward by the confounding
    row = fit.sensitivity.table.loc[rho]
    assert row["ci_low"] < a * b < row["ci_high"]
    assert abs(row["acme"] - a * b) < 0.05


def test_categorical_treatment_equals_indicator_coding():
    data, _ = simulate.trial(n_per_arm=60, waves=2, seed=4)
    base = data[data["wave"] == 1]
    with pytest.raises(ValueError, match="name the treated level"):
        mediation.mediate(base, "arm", "gse_total", "phq9_total", n_boot=20)
    fit = mediation.mediate(base, "arm", "gse_total", "phq9_total", ["age"], treated="cbt", n_boot=20)
    coded = base.assign(cbt=(base["arm"] == "cbt").astype(float),
                        mindfulness=(base["arm"] == "mindfulness").astype(float))
    numeric = mediation.mediate(coded, "cbt", "gse_total", "phq9_total", ["mindfulness", "age"], n_boot=20)
    assert np.allclose(fit.table["estimate"], numeric.table["estimate"], atol=1e-12)
    assert "arm[T.mindfulness]" in fit.mediator_model.index and (fit.control, fit.treated) == ("control", "cbt")
    reverse = mediation.mediate(base, "arm", "gse_total", "phq9_total", ["age"], control="cbt",
                                treated="control", n_boot=20)
    assert reverse.table.loc["ACME", "estimate"] == pytest.approx(-fit.table.loc["ACME", "estimate"])


def test_numeric_treatment_contrast_scales_the_effects(jobs):
    one = mediation.mediate(jobs, "treat", "job_seek", "depress2", COVARIATES, n_boot=20)
    two = mediation.mediate(jobs.assign(treat=2 * jobs["treat"]), "treat", "job_seek", "depress2",
                            COVARIATES, n_boot=20, control=0, treated=2)
    assert np.allclose(one.table["estimate"], two.table["estimate"], atol=1e-12)
    assert two.paths.loc["a", "estimate"] == pytest.approx(one.paths.loc["a", "estimate"])


def test_missing_rows_are_dropped_and_counted(jobs):
    holes = jobs.copy()
    holes.loc[[3, 10, 11], "job_seek"] = np.nan
    fit = mediation.mediate(holes, "treat", "job_seek", "depress2", COVARIATES, n_boot=20)
    assert (fit.nobs, fit.n_dropped) == (896, 3)
    assert "3 dropped for missing values" in fit.summary()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"mediator": "job_sek"}, io.DataValidationError, "job_sek: mediate: column not in the data"),
    ({"treatment": "control", "control": "placebo"}, ValueError, "control='placebo' is not a value"),
    ({"treatment": "control", "treated": "control"}, ValueError, "treated='control' is also the control arm"),
    ({"ci": "normal"}, ValueError, "ci must be one of"),
    ({"n_boot": 5}, ValueError, "n_boot"),
    ({"conf_level": 1.5}, ValueError, "conf_level"),
    ({"covariates": ["econ_hard", "econ_hard"]}, io.DataValidationError, "econ_hard: mediate: collinear"),
])
def test_bad_arguments_raise_clear_errors(jobs, kwargs, error, message):
    args = {"treatment": "treat", "mediator": "job_seek", "outcome": "depress2", "covariates": COVARIATES,
            "n_boot": 20, **kwargs}
    with pytest.raises(error, match=message):
        mediation.mediate(jobs, **args)


def test_non_numeric_values_are_listed_with_rows(jobs):
    bad = jobs.copy()
    bad["depress2"] = bad["depress2"].astype(object)
    bad.loc[[4, 8], "depress2"] = ["high", "?"]
    with pytest.raises(io.DataValidationError) as caught:
        mediation.mediate(bad, "treat", "job_seek", "depress2", n_boot=20)
    text = str(caught.value)
    assert "depress2: values are not numbers" in text and "index 4: 'high'" in text and "index 8: '?'" in text


# --- odd inputs: arm codings, pandas dtypes, designs the data cannot identify ---------------

def jobs_args(**kwargs):
    return {"mediator": "job_seek", "outcome": "depress2", "covariates": COVARIATES, "n_boot": 50, "seed": 3,
            **kwargs}


def same_numbers(first, second):
    for attribute in ("table", "paths", "draws", "jackknife"):
        pd.testing.assert_frame_equal(getattr(first, attribute), getattr(second, attribute), check_exact=True)
    pd.testing.assert_frame_equal(first.sensitivity.table, second.sensitivity.table, check_exact=True)


@pytest.mark.parametrize("codes, labels, term", [
    ({0: 1, 1: 2}, ("1", "2"), "treat[T.2]"),
    ({0: False, 1: True}, ("0", "1"), "treat"),
    ({0: 0.0, 1: 1.0}, ("0", "1"), "treat"),
])
def test_two_numeric_codes_compare_the_higher_with_the_lower(jobs, codes, labels, term):
    coded = mediation.mediate(jobs, "treat", **jobs_args())
    recoded = mediation.mediate(jobs.assign(treat=jobs["treat"].map(codes)), "treat", **jobs_args())
    same_numbers(coded, recoded)
    assert (recoded.control, recoded.treated) == labels and (coded.control, coded.treated) == ("0", "1")
    assert term in recoded.mediator_model.index and "treat" in coded.mediator_model.index
    assert f"Treatment arms: {labels[0]} (reference), {labels[1]}" in recoded.summary()
    assert f"treat ({labels[1]} vs {labels[0]})" in recoded.summary()


def test_control_and_treated_name_codes_as_numbers_or_text(jobs):
    coded = jobs.assign(treat=jobs["treat"] + 1)
    by_number = mediation.mediate(coded, "treat", **jobs_args(control=2, treated=1))
    by_text = mediation.mediate(coded, "treat", **jobs_args(control="2", treated="1"))
    same_numbers(by_number, by_text)
    default = mediation.mediate(coded, "treat", **jobs_args())
    assert by_number.table.loc["ACME", "estimate"] == pytest.approx(-default.table.loc["ACME", "estimate"])
    assert by_number.control == "2" and "Treatment arms: 2 (reference), 1" in by_number.summary()


def three_arms(seed=4):
    data, _ = simulate.trial(n_per_arm=60, waves=2, seed=seed)
    return data[data["wave"] == 1]


def test_three_numeric_codes_are_arms_not_a_dose():
    base = three_arms()
    numbers = base.assign(arm=base["arm"].map({"control": 0, "cbt": 1, "mindfulness": 2}).astype(int))
    for named in ({}, {"treated": 2}, {"control": 0}):
        with pytest.raises(ValueError, match=r"3 numeric codes \['0', '1', '2'\]: they are read as arms, not as "
                                             "a linear dose; name the two arms compared with both control= and "
                                             "treated="):
            mediation.mediate(numbers, "arm", "gse_total", "phq9_total", n_boot=20, **named)
    fit = mediation.mediate(numbers, "arm", "gse_total", "phq9_total", ["age"], control=0, treated=2, n_boot=20)
    text = mediation.mediate(base, "arm", "gse_total", "phq9_total", ["age"], treated="mindfulness", n_boot=20)
    assert np.allclose(fit.table["estimate"], text.table["estimate"], rtol=0, atol=1e-12)
    assert list(fit.mediator_model.index[:3]) == ["(Intercept)", "arm[T.1]", "arm[T.2]"]
    assert (fit.control, fit.treated) == ("0", "2") and "arms: 0 (reference), 1, 2" in fit.summary()


def test_arm_spellings_that_differ_in_case_or_spaces_are_refused():
    base = three_arms()
    messy = base.assign(arm=base["arm"].astype(object).where(base.index != base.index[0], "Control "))
    messy.loc[messy["arm"] == "control", "arm"] = "control"
    with pytest.raises(io.DataValidationError, match="arm: one arm is spelled 2 ways .*'control'.*'Control '"):
        mediation.mediate(messy, "arm", "gse_total", "phq9_total", treated="cbt", n_boot=20)


def test_a_single_arm_is_refused():
    base = three_arms()
    with pytest.raises(ValueError, match="treatment 'arm' has a single arm \\['cbt'\\]"):
        mediation.mediate(base[base["arm"] == "cbt"], "arm", "gse_total", "phq9_total", n_boot=20)


def test_nullable_dtypes_give_the_same_numbers(jobs):
    plain = mediation.mediate(jobs, "control", **jobs_args())
    nullable = jobs.astype({"treat": "Int64", "sex": "Int64", "job_seek": "Float64", "depress2": "Float64",
                            "econ_hard": "Float64", "control": "string[pyarrow]"})
    same_numbers(plain, mediation.mediate(nullable, "control", **jobs_args()))
    same_numbers(mediation.mediate(jobs, "treat", **jobs_args()), mediation.mediate(nullable, "treat", **jobs_args()))
    assert (plain.control, plain.treated) == ("control", "treat")


def test_nullable_missing_values_are_dropped_like_nan(jobs):
    holes = jobs.astype({"job_seek": "Float64", "treat": "Int64"})
    holes.loc[[3, 10, 11], "job_seek"] = pd.NA
    as_nan = jobs.assign(job_seek=holes["job_seek"].astype(float))
    fit = mediation.mediate(holes, "treat", **jobs_args())
    same_numbers(fit, mediation.mediate(as_nan, "treat", **jobs_args()))
    assert (fit.nobs, fit.n_dropped) == (896, 3)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(site=1.0), r"site: mediate: constant \(1\) in every complete row"),
    (lambda d: d.assign(site=2 * d["age"] - d["econ_hard"]), r"mediate: collinear with other columns \(.*site"),
    (lambda d: d.assign(site=0.0, treat=d["treat"].astype("Int64").where(d.index != 5)),
     r"treat: missing values — 1 row: index 5: <NA>"),
])
def test_designs_the_data_cannot_identify_are_refused_by_column(jobs, change, message):
    with pytest.raises(io.DataValidationError, match=message):
        mediation.mediate(change(jobs), "treat", **jobs_args(covariates=[*COVARIATES, "site"]))


def test_a_treated_arm_without_outcomes_says_so():
    base = three_arms()
    lost = base.assign(phq9_total=base["phq9_total"].where(base["arm"] != "cbt"))
    rows = (base["arm"] == "cbt").sum()
    message = rf"arm: mediate: the treated arm 'cbt' has no complete rows \(phq9_total missing in all its {rows} rows\)"
    with pytest.raises(io.DataValidationError, match=message):
        mediation.mediate(lost, "arm", "gse_total", "phq9_total", treated="cbt", n_boot=20)
    two = lost[lost["arm"] != "mindfulness"]
    with pytest.raises(io.DataValidationError, match=message):
        mediation.mediate(two, "arm", "gse_total", "phq9_total", n_boot=20)


def test_an_other_arm_without_outcomes_is_left_out_and_named():
    base = three_arms()
    lost = base.assign(phq9_total=base["phq9_total"].where(base["arm"] != "mindfulness"))
    fit = mediation.mediate(lost, "arm", "gse_total", "phq9_total", treated="cbt", n_boot=20)
    alone = mediation.mediate(base[base["arm"] != "mindfulness"], "arm", "gse_total", "phq9_total", n_boot=20)
    assert np.allclose(fit.table["estimate"], alone.table["estimate"], rtol=0, atol=1e-12)
    assert "arm[T.mindfulness]" not in fit.mediator_model.index
    assert any("arm 'mindfulness' has no row" in note for note in fit.notes)
    assert fit.n_dropped == (base["arm"] == "mindfulness").sum() + alone.n_dropped


def test_change_form_refuses_duplicated_rows_and_codes_arms_like_mediate():
    data, _ = simulate.trial(n_per_arm=30, waves=3, seed=9)
    with pytest.raises(io.DataValidationError, match="participant_id, wave: appears more than once"):
        mediation.mediate_change(pd.concat([data, data.iloc[[4]]]), "arm", "gse_total", "phq9_total",
                                 treated="cbt", n_boot=20)
    two = data[data["arm"] != "mindfulness"]
    text = mediation.mediate_change(two, "arm", "gse_total", "phq9_total", n_boot=20)
    coded = two.assign(arm=(two["arm"] == "cbt").map({False: 1, True: 2}).astype("Int64"),
                       gse_total=two["gse_total"].astype("Float64"))
    numbers = mediation.mediate_change(coded, "arm", "gse_total", "phq9_total", n_boot=20)
    assert np.allclose(text.table["estimate"], numbers.table["estimate"], rtol=0, atol=1e-12)
    assert (numbers.control, numbers.treated) == ("1", "2") and numbers.kind == "change"
    three = data.assign(arm=data["arm"].map({"control": 0, "cbt": 1, "mindfulness": 2}).astype(int))
    with pytest.raises(ValueError, match="3 numeric codes"):
        mediation.mediate_change(three, "arm", "gse_total", "phq9_total", treated=1, n_boot=20)


def test_multilevel_form_codes_arms_like_mediate_and_takes_nullable_dtypes():
    data, _ = simulate.trial(n_per_arm=30, waves=4, seed=9)
    two = data[data["arm"] != "mindfulness"]
    text = mediation.mediate_multilevel(two, "arm", "gse_total", "phq9_total", n_sims=200)
    coded = two.assign(arm=(two["arm"] == "cbt").map({False: 1, True: 2}).astype("Int64"),
                       gse_total=two["gse_total"].astype("Float64"),
                       participant_id=two["participant_id"].astype("string[pyarrow]"))
    numbers = mediation.mediate_multilevel(coded, "arm", "gse_total", "phq9_total", n_sims=200)
    pd.testing.assert_frame_equal(text.table, numbers.table, check_exact=False, rtol=0, atol=1e-10)
    assert (numbers.control, numbers.treated) == ("1", "2") and "arms: 1 (reference), 2" in numbers.summary()


def test_multilevel_form_checks_its_input():
    data, _ = simulate.trial(n_per_arm=30, waves=4, seed=9)
    with pytest.raises(io.DataValidationError, match="participant_id, wave: appears more than once"):
        mediation.mediate_multilevel(pd.concat([data, data.iloc[[4]]]), "arm", "gse_total", "phq9_total",
                                     treated="cbt", n_sims=20)
    lost = data.assign(gse_total=data["gse_total"].where(data["arm"] != "cbt"))
    with pytest.raises(io.DataValidationError, match="the treated arm 'cbt' has no complete rows \\(gse_total "
                                                     "missing in all its"):
        mediation.mediate_multilevel(lost, "arm", "gse_total", "phq9_total", treated="cbt", n_sims=20)
    with pytest.raises(io.DataValidationError, match="wave: waves must be whole numbers"):
        mediation.mediate_multilevel(data.assign(wave="w" + data["wave"].astype(str)), "arm", "gse_total",
                                     "phq9_total", treated="cbt", n_sims=20)


def change_trial(seed):
    """Person slopes well measured (no measurement error, small within-person noise),
    so that changes between waves carry the slopes through which treatment acts."""
    return simulate.trial(n_per_arm=150, waves=5, weeks_per_wave=3, se_slope_sd=0.5, symptom_slope_sd=0.5,
                          se_intercept_sd=2, symptom_intercept_sd=2, se_intercept_mean=22,
                          symptom_intercept_mean=18, innovation_sd_se=0.3, innovation_sd_sym=0.3,
                          source_effects={}, measurement_error_sd=0, item_missing_rate=0, seed=seed)


def test_change_form_covers_the_true_indirect_effect():
    data, truth = change_trial(20240601)
    fit = mediation.mediate_change(data, "arm", "gse_total", "phq9_total", treated="cbt", n_boot=2000, seed=1)
    span = truth["times"][4] - truth["times"][0]  # outcome change from baseline to the end (wave 4)
    for effect, key in (("ACME", "indirect_effect"), ("ADE", "direct_effect"), ("Total Effect", "total_effect")):
        row = fit.table.loc[effect]
        assert row["ci_low"] < truth[key]["cbt"] * span < row["ci_high"], (effect, row["estimate"])
    assert fit.paths.loc["a", "ci_low"] < truth["se_slope_effect"]["cbt"] * truth["times"][2] \
        < fit.paths.loc["a", "ci_high"]
    assert fit.kind == "change" and fit.sensitivity is not None and fit.waves == (0, 2, 4)


def test_change_form_builds_one_row_per_person():
    data, _ = simulate.trial(n_per_arm=30, waves=4, seed=9)
    fit = mediation.mediate_change(data, "arm", "gse_total", "phq9_total", treated="mindfulness",
                                   waves=(0, 1, 3), covariates=["age"], n_boot=20)
    wide = data.pivot(index="participant_id", columns="wave", values=["gse_total", "phq9_total"])
    person = "P0007"
    row = fit.data.loc[person]
    assert row["gse_total_change"] == pytest.approx(wide.loc[person, ("gse_total", 1)]
                                                    - wide.loc[person, ("gse_total", 0)])
    assert row["phq9_total_change"] == pytest.approx(wide.loc[person, ("phq9_total", 3)]
                                                     - wide.loc[person, ("phq9_total", 0)])
    assert row["phq9_total_baseline"] == wide.loc[person, ("phq9_total", 0)]
    complete = wide[[("gse_total", 0), ("gse_total", 1), ("phq9_total", 0), ("phq9_total", 3)]].dropna()
    assert fit.nobs == len(complete) and fit.nobs + fit.n_dropped == data["participant_id"].nunique()
    assert "gse_total_baseline" in fit.mediator_model.index
    with pytest.raises(ValueError, match="waves must be"):
        mediation.mediate_change(data, "arm", "gse_total", "phq9_total", treated="cbt", waves=(0, 3, 1))
    moving = data.assign(age=data["age"] + data["wave"])
    with pytest.raises(ValueError, match="'age' must be constant within a person"):
        mediation.mediate_change(moving, "arm", "gse_total", "phq9_total", treated="cbt", covariates=["age"])


@pytest.mark.slow
def test_multilevel_form_uses_fit_lmm_paths():
    data, truth = simulate.trial(n_per_arm=80, waves=5, seed=21)
    fit = mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", treated="cbt",
                                       n_sims=4000, seed=3)
    long = mixed.decompose(data, "gse_total", "participant_id")
    term = "C(arm, Treatment('control'))"
    a_fit = mixed.fit_lmm(long, f"gse_total ~ time * {term}", "participant_id", "~time")
    assert fit.paths.loc["a", "estimate"] == pytest.approx(a_fit.fixed.loc[f"time:{term}[T.cbt]", "estimate"])
    assert fit.paths.loc["a", "ci_low"] < truth["se_slope_effect"]["cbt"] < fit.paths.loc["a", "ci_high"]
    assert fit.table.loc["ACME", "estimate"] == pytest.approx(fit.paths.loc["a", "estimate"]
                                                              * fit.paths.loc["b", "estimate"])
    assert fit.paths.loc["b", "estimate"] < 0  # a within-person rise in SE precedes fewer symptoms
    assert fit.ci_method == "monte carlo" and fit.sensitivity is None
    assert fit.draws.shape == (4000, 4) and "within-person" in fit.summary()
    with pytest.raises(ValueError, match="BCa"):
        fit.ci("bca")


def test_figures(jobs_fit):
    fig = mediation_plots.path_diagram(jobs_fit, {"mediator": "job-search SE"})
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "job-search SE" in texts and any(t.startswith("a = 0.0656") for t in texts)
    fig = mediation_plots.bootstrap_distribution(jobs_fit)
    assert [ax.get_title() for ax in fig.axes] == ["ACME", "ADE", "Total Effect"]
    fig = mediation_plots.sensitivity(jobs_fit)
    assert "-0.27" in fig.axes[0].get_legend().get_texts()[-1].get_text()


def test_summary_reads_like_mediation(jobs_fit):
    text = jobs_fit.summary()
    for piece in ("Nonparametric Bootstrap Confidence Intervals with the Percentile Method", "ACME",
                  "Prop. Mediated", "Sample Size Used: 899", "Simulations: 5000", "Rho at which ACME = 0",
                  "proportion mediated is unstable"):
        assert piece in text


@pytest.mark.slow
def test_mediation_notebook_runs_in_quick_mode(tmp_path):
    run = report.run_notebook("04_mediation", {"quick": True}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "04_mediation.html").read_text()
    assert "JOBS II" in html and "Rho at which ACME = 0" in html and "Traceback" not in html
    assert "Bayesian mediation" in html and "Posterior probability that the ACME is negative" in html
    numbers = report.recorded(tmp_path / "04_mediation.ipynb")
    assert numbers["jobs_acme"] == pytest.approx(-0.0157, abs=5e-5)  # mediation package's published ACME
    assert abs(numbers["jobs_bayes_acme"] - numbers["jobs_acme"]) < 0.01
    assert {"change_acme_cbt", "change_acme_mindfulness", "multilevel_acme"} <= set(numbers)
    assert "Moderated mediation" in html and "ACME (treated)" in html and "Quasi-Bayesian" in html
    assert "Parallel mediation" in html and "ACME (gse_total_change) - ACME (gad7_total_change)" in html
    # the effects at the estimates are deterministic (R: tests/reference/mediation_models.json)
    assert numbers["jobs_interaction_acme_control"] == pytest.approx(-0.019778, abs=1e-6)
    assert numbers["jobs_interaction_acme_treated"] == pytest.approx(-0.014034, abs=1e-6)
    assert 0 < numbers["jobs_employment_acme"] < 0.006


def test_mediate_change_takes_covariates_recorded_at_baseline_only():
    data, _ = simulate.trial(n_per_arm=30, waves=4, seed=5)
    data = data[data["arm"] != "mindfulness"]
    everywhere = mediation.mediate_change(data, "arm", "gse_total", "phq9_total", covariates=["age"],
                                          n_boot=20, seed=1)
    baseline_only = data.assign(age=data["age"].where(data["wave"] == 0))
    fit = mediation.mediate_change(baseline_only, "arm", "gse_total", "phq9_total", covariates=["age"],
                                   n_boot=20, seed=1)
    pd.testing.assert_frame_equal(fit.table, everywhere.table)
