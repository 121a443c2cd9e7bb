"""fit_lmm with several random-effect terms against lme4/lmerTest (tests/reference/lme4_multilevel.R)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, mixed
from analysis.mixed import formula, lmm, sparse

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "lme4_multilevel.json").read_text())
THREE_LEVEL = "phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)"
# lme4 names -> ours: patsy's term names, and a nested factor a/b labelled a:b (lme4: b:a)
NAMES = {"(Intercept)": "Intercept", "armcbt": "arm[T.cbt]", "time:armcbt": "time:arm[T.cbt]",
         "participant_id:therapist": "therapist:participant_id"}


def therapists():
    data = pd.read_csv(ROOT / "tests" / "reference" / "therapists.csv")
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt"])
    return data


def penicillin():
    return pd.read_csv(ROOT / "tests" / "reference" / "penicillin.csv")


CASES = {
    "three_level": lambda: mixed.fit_lmm(therapists(), THREE_LEVEL),
    "three_level_ml": lambda: mixed.fit_lmm(therapists(), THREE_LEVEL, reml=False),
    "nested": lambda: mixed.fit_lmm(therapists(), "phq9_total ~ time * arm + (1 | therapist/participant_id)"),
    "crossed": lambda: mixed.fit_lmm(penicillin(), "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    "uncorrelated": lambda: mixed.fit_lmm(therapists(), "phq9_total ~ time * arm + (time || participant_id)"),
}


@pytest.fixture(scope="module")
def fits():
    return {key: make() for key, make in CASES.items()}


def rel(actual, expected):
    return np.max(np.abs(np.asarray(actual, float) / np.asarray(expected, float) - 1))


def named(values):
    return [NAMES.get(v, v) for v in values]


def reference_varcorr(key):
    table = pd.DataFrame(REFERENCE[key]["varcorr"])
    return table.assign(grp=named(table["grp"]), var1=named(table["var1"]), var2=named(table["var2"]))


def level(label):
    """lme4's level of an interaction b:a as ours, a:b."""
    return ":".join(reversed(label.split(":")))


@pytest.mark.parametrize("key", list(CASES))
def test_fixed_effects_match_lmertest(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    fixed = fit.fixed.loc[named(np.atleast_1d(ref["terms"]))]
    assert rel(fixed["estimate"], ref["estimate"]) < 1e-4
    assert rel(fixed["se"], ref["se"]) < 1e-3
    assert rel(fixed["df"], ref["df"]) < 1e-2


@pytest.mark.parametrize("key", list(CASES))
def test_varcorr_matches_lme4(fits, key):
    ref, table = reference_varcorr(key), fits[key].varcorr
    assert list(table.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    for column in ["grp", "var1", "var2"]:
        assert table[column].fillna("").tolist() == ref[column].fillna("").tolist()
    variances = ref["var2"].isna().to_numpy()
    assert rel(table["vcov"][variances], ref["vcov"][variances]) < 1e-3
    assert rel(table["sdcor"][variances], ref["sdcor"][variances]) < 1e-3
    # covariances on the scale of their SDs: correlations within 1e-3
    assert np.all(np.abs(table["sdcor"][~variances] - ref["sdcor"][~variances]) < 1e-3)


@pytest.mark.parametrize("key", list(CASES))
def test_loglik_and_information_criteria_match_lme4(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    # at least lme4's logLik (lme4's default optimiser may stop short of the optimum), within 1e-3
    assert ref["loglik"] - 1e-6 <= fit.loglik < ref["loglik"] + 1e-3
    assert abs(fit.aic - ref["aic"]) < 2e-3 and abs(fit.bic - ref["bic"]) < 2e-3
    assert fit.npar == len(fit.fixed) + len(ref["theta"]) + 1
    assert fit.nobs == ref["nobs"]
    assert fit.ngroups == {NAMES.get(g, g): n for g, n in ref["ngrps"].items()}
    assert fit.converged and not fit.singular and fit.singular == ref["singular"]
    assert fit.warnings == []


def test_three_level_reaches_the_optimum_lme4_finds_with_tight_tolerances(fits):
    # lme4's default stops 8e-7 short in logLik on a flat ridge along the intercept-slope
    # covariance (correlation off by 1.5e-4); with tight tolerances it meets our optimum.
    ref, fit = reference_varcorr("three_level_tight"), fits["three_level"]
    assert fit.loglik > REFERENCE["three_level"]["loglik"]
    assert abs(fit.loglik - REFERENCE["three_level_tight"]["loglik"]) < 1e-7
    assert rel(fit.varcorr["vcov"], ref["vcov"]) < 1e-4
    fixed = fit.fixed.loc[named(REFERENCE["three_level_tight"]["terms"])]
    assert rel(fixed["df"], REFERENCE["three_level_tight"]["df"]) < 1e-3


@pytest.mark.parametrize("key", list(CASES))
def test_conditional_modes_and_fitted_values_match_lme4(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    assert set(fit.random_effects) == {NAMES.get(g, g) for g in ref["ranef"]}
    for group, modes in ref["ranef"].items():
        ours, sds = fit.random_effects[NAMES.get(group, group)], fit.random_effects_sd[NAMES.get(group, group)]
        labels = ours.index.astype(str)
        for term, label, mode, sd in zip(*(np.atleast_1d(modes[k]) for k in ["term", "level", "mode", "sd"])):
            row = labels.get_loc(level(label) if ":" in group else label)
            scale = np.abs(modes["mode"]).max()
            assert abs(ours[NAMES.get(term, term)].iloc[row] - mode) < 1e-3 * scale
            assert rel(sds[NAMES.get(term, term)].iloc[row], sd) < 1e-3
    assert rel(fit.fitted.iloc[:10], ref["fitted"]) < 1e-4
    assert np.allclose(fit.residuals, fit.data[fit.outcome] - fit.fitted)


def test_lrt_of_the_therapist_level_matches_lme4_anova(fits):
    ref = REFERENCE["lrt_therapist"]
    two_level = mixed.fit_lmm(therapists(), "phq9_total ~ time * arm + (time | participant_id)")
    table = mixed.lrt(two_level, fits["three_level"])
    assert list(table["npar"]) == ref["npar"]
    assert np.allclose(table["logLik"], ref["loglik"], atol=1e-3)
    assert abs(table["Chisq"].iloc[1] - ref["chisq"]) < 1e-3 and table["Df"].iloc[1] == ref["df"]
    assert rel(table["Pr(>Chisq)"].iloc[1], ref["p"]) < 1e-3


def test_one_term_formula_is_the_group_call():
    data = pd.read_csv(ROOT / "data" / "sleepstudy.csv")
    by_formula = mixed.fit_lmm(data, "Reaction ~ Days + (Days | Subject)")
    by_group = mixed.fit_lmm(data, "Reaction ~ Days", "Subject", "~Days")
    assert (by_formula.formula, by_formula.group, by_formula.re_formula) == ("Reaction ~ Days", "Subject", "~Days")
    pd.testing.assert_frame_equal(by_formula.fixed, by_group.fixed)
    assert by_formula.loglik == by_group.loglik and by_formula.ngroups == {"Subject": 18}


def test_sparse_path_with_one_term_equals_the_vectorised_path():
    # the general path run on a one-factor model reproduces the per-group path
    data = pd.read_csv(ROOT / "data" / "sleepstudy.csv")
    fast = mixed.fit_lmm(data, "Reaction ~ Days", "Subject", "~Days")
    text = "Reaction ~ Days + (Days | Subject)"
    general = lmm._fit_terms(data, formula.parse(text), text, True, "auto")
    assert abs(general.loglik - fast.loglik) < 1e-6
    assert rel(general.fixed["estimate"], fast.fixed["estimate"]) < 1e-6
    assert rel(general.fixed["se"], fast.fixed["se"]) < 1e-5
    assert rel(general.fixed["df"], fast.fixed["df"]) < 1e-3
    assert rel(general.re_cov["Subject"], fast.re_cov) < 1e-4
    assert np.allclose(general.random_effects["Subject"], fast.random_effects, rtol=1e-4, atol=1e-4)
    assert rel(general.random_effects_sd["Subject"], fast.random_effects_sd) < 1e-4
    pd.testing.assert_frame_equal(general.varcorr, fast.varcorr, rtol=1e-4)


def test_an_interaction_factor_alone_takes_the_sparse_path():
    # participant ids are unique across therapists: therapist:participant_id is participant_id
    data = therapists()
    alone = mixed.fit_lmm(data, "phq9_total ~ time * arm + (1 | therapist:participant_id)")
    plain = mixed.fit_lmm(data, "phq9_total ~ time * arm", "participant_id")
    assert alone.group is None and alone.ngroups == {"therapist:participant_id": 240}
    assert abs(alone.loglik - plain.loglik) < 1e-6
    assert rel(alone.fixed["df"], plain.fixed["df"]) < 1e-3
    assert rel(alone.random_effects_sd["therapist:participant_id"], plain.random_effects_sd) < 1e-4


def test_variance_pieces_rebuilt_from_a_fit_give_its_df(fits):
    fit = fits["three_level"]
    pieces = sparse._fit_variance_pieces(fit)
    assert rel(pieces.df(np.eye(len(fit.fixed))), fit.fixed["df"]) < 1e-6
    assert np.allclose(pieces.cov_beta, fit.cov_beta, rtol=1e-8)


def test_varcorr_of_a_single_factor_fit_is_laid_out_as_lme4s():
    data = pd.read_csv(ROOT / "data" / "sleepstudy.csv")
    fit = mixed.fit_lmm(data, "Reaction ~ Days", "Subject", "~Days")
    table = fit.varcorr
    assert table["grp"].tolist() == ["Subject", "Subject", "Subject", "Residual"]
    assert table["var1"].tolist()[:3] == ["Intercept", "Days", "Intercept"] and table["var2"][2] == "Days"
    assert table["var2"][[0, 1, 3]].isna().all() and table["var1"][[3]].isna().all()
    assert np.isclose(table["sdcor"][2], fit.re_sd_corr.iloc[1, 0])
    assert fit.npar == 6


def test_singular_fit_is_flagged():
    # therapist means removed: the therapist variance is estimated on its bound
    data = therapists().dropna()
    data["phq9_total"] -= data.groupby("therapist")["phq9_total"].transform("mean")
    fit = mixed.fit_lmm(data, "phq9_total ~ time + (time | participant_id) + (1 | therapist)")
    assert fit.singular and fit.converged
    assert fit.varcorr.set_index("grp").loc["therapist", "vcov"] < 1e-8
    assert any("singular" in w for w in fit.warnings)


def test_summary_lists_every_term_and_factor(fits):
    text = fits["three_level"].summary()
    assert f"Formula: {THREE_LEVEL}" in text
    assert "groups:  participant_id, 240; therapist, 24" in text
    lines = text.splitlines()
    start = lines.index("Random effects:")
    assert [line.split()[0] for line in lines[start + 2:start + 6]] == [
        "participant_id", "time", "therapist", "Residual"]


@pytest.mark.parametrize("text, column", [
    ("phq9_total ~ time + (time | patient)", "patient"),
    ("phq9_total ~ time + (weeks | participant_id) + (1 | therapist)", "weeks"),
])
def test_a_missing_column_is_named(text, column):
    with pytest.raises(io.DataValidationError, match=f"{column}: fit_lmm: column not in the data"):
        mixed.fit_lmm(therapists(), text)


def test_unidentified_terms_are_named():
    data = therapists().assign(site="A", baseline=1.0)
    with pytest.raises(io.DataValidationError, match=r"\(1 \| site\): grouping factor 'site' has 1 level"):
        mixed.fit_lmm(data, "phq9_total ~ time + (1 | participant_id) + (1 | site)")
    with pytest.raises(io.DataValidationError, match=r"\(baseline \| therapist\): random slope on 'baseline'"):
        mixed.fit_lmm(data, "phq9_total ~ time + (1 | participant_id) + (baseline | therapist)")
    with pytest.raises(io.DataValidationError, match=r"number of observations \(1121\) <= number of random"):
        mixed.fit_lmm(data.assign(wave=np.arange(len(data))), "phq9_total ~ time + (1 | wave) + (1 | therapist)")


@pytest.mark.parametrize("kwargs, message", [
    ({"formula": THREE_LEVEL, "group": "therapist"}, "not as group="),
    ({"formula": THREE_LEVEL, "re_formula": "~time"}, "not as group="),
    ({"formula": "phq9_total ~ time"}, "no random-effect term"),
    ({"formula": THREE_LEVEL, "engine": "statsmodels"}, "one grouping factor only"),
])
def test_conflicting_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        mixed.fit_lmm(therapists(), **kwargs)


def test_emmeans_contrast_and_anova_of_a_three_level_fit_match_emmeans_and_lmertest(fits):
    ref, fit = REFERENCE["estimands"], fits["three_level"]  # R's values from the tight-tolerance fit
    means = mixed.emmeans(fit, "arm", at={"time": 4})
    assert list(means.index) == ref["emmeans"]["arm"]
    assert rel(means["estimate"], ref["emmeans"]["estimate"]) < 1e-5
    assert rel(means["se"], ref["emmeans"]["se"]) < 1e-3
    assert rel(means["df"], ref["emmeans"]["df"]) < 1e-2
    difference = mixed.contrast(fit, "arm", at={"time": 4}).loc[ref["contrast"]["label"]]
    assert rel(difference["estimate"], ref["contrast"]["estimate"]) < 1e-5
    assert rel(difference["se"], ref["contrast"]["se"]) < 1e-3
    assert rel(difference["df"], ref["contrast"]["df"]) < 1e-2
    table = mixed.anova(fit)
    assert sorted(table.index) == sorted(ref["anova"]["term"])  # patsy's term order: arm before time
    table = table.loc[ref["anova"]["term"]]
    assert rel(table["den_df"], ref["anova"]["den_df"]) < 1e-2
    assert rel(table["F"], ref["anova"]["F"]) < 1e-2
