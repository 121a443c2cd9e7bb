"""fit_lmm(weights=): lme4's prior weights against lme4/lmerTest (tests/reference/lme4_weights.R)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, mixed
from analysis.mixed import inference

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "lme4_weights.json").read_text())
GROWTH = "phq9_total ~ time * arm + (time | participant_id)"
NESTED = "phq9_total ~ time * arm + (1 | therapist/participant_id)"
# lme4 names -> ours (patsy's terms; a nested factor a/b labelled a:b, lme4: b:a)
NAMES = {"(Intercept)": "Intercept", "armcbt": "arm[T.cbt]", "armmindfulness": "arm[T.mindfulness]",
         "time:armcbt": "time:arm[T.cbt]", "time:armmindfulness": "time:arm[T.mindfulness]",
         "participant_id:therapist": "therapist:participant_id"}


def items(ids: pd.Series, step: pd.Series) -> pd.Series:
    """The R script's weight: PHQ-9 items answered, 4 + (id + step) %% 6 (id: P0001 -> 1)."""
    return 4 + (ids.str[1:].astype(int) + step) % 6


def sim():
    data = pd.read_csv(ROOT / "tests" / "reference" / "lmm_sim.csv").dropna(subset=["phq9_total"])
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt", "mindfulness"])
    return data.assign(items=items(data["participant_id"], data["time"] / 2))


def therapists():
    data = pd.read_csv(ROOT / "tests" / "reference" / "therapists.csv").dropna(subset=["phq9_total"])
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt"])
    return data.assign(items=items(data["participant_id"], data["time"]))


CASES = {
    "growth_reml": lambda: mixed.fit_lmm(sim(), GROWTH, weights="items"),
    "growth_ml": lambda: mixed.fit_lmm(sim(), GROWTH, reml=False, weights="items"),
    "nested_reml": lambda: mixed.fit_lmm(therapists(), NESTED, weights="items"),
    "nested_ml": lambda: mixed.fit_lmm(therapists(), NESTED, reml=False, weights="items"),
}


@pytest.fixture(scope="module")
def fits():
    return {key: make() for key, make in CASES.items()}


def rel(actual, expected):
    return np.max(np.abs(np.asarray(actual, float) / np.asarray(expected, float) - 1))


def named(values):
    return [NAMES.get(v, v) for v in np.atleast_1d(values)]


@pytest.mark.parametrize("key", list(CASES))
def test_fixed_effects_match_lmertest(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    fixed = fit.fixed.loc[named(ref["terms"])]
    assert rel(fixed["estimate"], ref["estimate"]) < 1e-6
    assert rel(fixed["se"], ref["se"]) < 1e-4
    assert rel(fixed["df"], ref["df"]) < 1e-3


@pytest.mark.parametrize("key", list(CASES))
def test_variance_components_and_likelihood_match_lme4(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    table = fit.varcorr
    assert named(table["grp"]) == named(ref["varcorr"]["grp"])
    assert rel(table["vcov"], ref["varcorr"]["vcov"]) < 1e-4
    assert rel(np.sqrt(fit.sigma2), ref["sigma"]) < 1e-4
    assert fit.nobs == ref["nobs"] and fit.reml == ref["reml"]
    # lme4's criterion subtracts sum(log w) (devCrit's ldW): the density of the data, not the scaled rows
    assert abs(fit.loglik - ref["loglik"]) < 1e-4
    assert abs(fit.aic - ref["aic"]) < 2e-4 and abs(fit.bic - ref["bic"]) < 2e-4
    assert fit.converged and not fit.singular and not fit.warnings


@pytest.mark.parametrize("key", list(CASES))
def test_fitted_values_and_conditional_modes_match_lme4(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    assert rel(fit.fitted.iloc[:10], ref["fitted"]) < 1e-5
    for factor, modes in ref["ranef"].items():
        labels = [":".join(reversed(level.split(":"))) for level in modes["level"]]
        ours, sds = (table(fit, NAMES.get(factor, factor), name).stack()
                     for name in ("random_effects", "random_effects_sd"))
        keys = list(zip(labels, named(modes["term"])))
        assert np.max(np.abs(ours.loc[keys].to_numpy() - modes["mode"])) < 1e-5
        assert rel(sds.loc[keys], modes["sd"]) < 1e-5


def table(fit, group, name):
    """A grouping factor's table of ``fit.<name>`` (a dict with several terms)."""
    tables = getattr(fit, name)
    return tables[group] if isinstance(tables, dict) else tables


@pytest.mark.parametrize("key", ["growth_reml", "nested_ml"])
def test_satterthwaite_pieces_rebuild_the_weighted_design(fits, key):
    """The estimands rebuild the design from fit.data: the weights must come with it."""
    fit = fits[key]
    pieces = inference._fit_variance_pieces(fit)
    np.testing.assert_allclose(pieces.cov_beta, fit.cov_beta.to_numpy(), rtol=1e-10)
    np.testing.assert_allclose(pieces.df(np.eye(len(fit.fixed))), fit.fixed["df"], rtol=1e-8)


def test_weights_are_aligned_with_the_rows_fitted(fits):
    fit = fits["growth_reml"]
    assert isinstance(fit.weights, np.ndarray) and fit.weights.dtype == float
    np.testing.assert_array_equal(fit.weights, fit.data["items"].to_numpy(dtype=float))


@pytest.mark.parametrize("formula", [GROWTH, NESTED])
def test_unit_weights_give_the_unweighted_fit(formula):
    data = therapists().assign(one=1)
    plain, ones = mixed.fit_lmm(data, formula), mixed.fit_lmm(data, formula, weights="one")
    assert plain.weights is None
    np.testing.assert_array_equal(ones.weights, np.ones(plain.nobs))
    pd.testing.assert_frame_equal(ones.fixed, plain.fixed)
    pd.testing.assert_frame_equal(ones.varcorr, plain.varcorr)
    pd.testing.assert_series_equal(ones.fitted, plain.fitted)
    assert (ones.loglik, ones.aic, ones.bic) == (plain.loglik, plain.aic, plain.bic)


def test_missing_weights_drop_their_rows():
    data = sim()
    data.loc[data.index[[3, 10, 20]], "items"] = np.nan
    fit = mixed.fit_lmm(data, "phq9_total ~ time * arm + (1 | participant_id)", weights="items")
    complete = mixed.fit_lmm(data.dropna(subset=["items"]), "phq9_total ~ time * arm + (1 | participant_id)",
                             weights="items")
    assert fit.n_dropped == 3 and fit.nobs == len(data) - 3
    pd.testing.assert_frame_equal(fit.fixed, complete.fixed)
    assert fit.loglik == complete.loglik


@pytest.mark.parametrize("value, reason", [(0, "weights must be > 0"), (-2, "weights must be > 0"),
                                           ("many", "values are not numbers")])
def test_bad_weights_are_named_with_their_rows(value, reason):
    data = sim()
    data["items"] = data["items"].astype(object)
    data.loc[data.index[[5, 7]], "items"] = value
    for formula in [GROWTH, "phq9_total ~ time * arm + (time || participant_id)"]:  # one factor, several terms
        with pytest.raises(io.DataValidationError, match=reason) as caught:
            mixed.fit_lmm(data, formula, weights="items")
        (problem,) = caught.value.problems
        assert problem.column == "items"
        assert problem.rows == tuple(data.index[[5, 7]]) and problem.count == 2


def test_weights_column_must_exist_and_be_a_name():
    with pytest.raises(io.DataValidationError, match="nitems: fit_lmm: column not in the data"):
        mixed.fit_lmm(sim(), GROWTH, weights="nitems")
    with pytest.raises(TypeError, match="weights must be a column name"):
        mixed.fit_lmm(sim(), GROWTH, weights=["items"])


def test_statsmodels_engine_refuses_weights():
    with pytest.raises(ValueError, match="engine='statsmodels' cannot fit prior weights"):
        mixed.fit_lmm(sim(), "phq9_total ~ time", "participant_id", weights="items", engine="statsmodels")


def test_lrt_refits_weighted_fits_by_ml(fits):
    smaller = mixed.fit_lmm(sim(), "phq9_total ~ time * arm + (1 | participant_id)", weights="items")
    table = mixed.lrt(smaller, fits["growth_reml"])
    assert abs(table.loc["larger", "logLik"] - REFERENCE["growth_ml"]["loglik"]) < 1e-4
    assert table.loc["larger", "Df"] == 2 and table.loc["larger", "Chisq"] > 0


def test_lrt_refuses_fits_with_different_weights(fits):
    data = sim()
    unweighted = mixed.fit_lmm(data, "phq9_total ~ time * arm + (1 | participant_id)", reml=False)
    other = mixed.fit_lmm(data.assign(items=data["items"] + 1), "phq9_total ~ time * arm + (1 | participant_id)",
                          reml=False, weights="items")
    for smaller in (unweighted, other):
        with pytest.raises(ValueError, match="different prior weights"):
            mixed.lrt(smaller, fits["growth_ml"])
