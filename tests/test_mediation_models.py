"""Tests for analysis.mediation beyond linear models: binary mediator and outcome (logit,
probit), treatment x mediator interaction, quasi-Bayesian draws, moderated mediation and
multi-arm trials, against R's mediation 4.5 on JOBS II (tests/reference/mediation_models.R).

Deterministic quantities (coefficients, vcov, the effects at the fitted coefficients with
the mediator integrated out) must agree to 1e-8; R's quasi-Bayesian estimates are means of
simulations and agree within Monte Carlo error (4 combined standard errors)."""

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from analysis import datasets, io, mediation
from analysis.plots import mediation as mediation_plots

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "mediation_models.json").read_text())
COVARIATES = ["econ_hard", "sex", "age"]
ROWS = {"d0": "ACME (control)", "d1": "ACME (treated)", "z0": "ADE (control)", "z1": "ADE (treated)",
        "tau": "Total Effect"}
#: name: (mediator, outcome, mediate() options)
CASES = {
    "interaction": ("job_seek", "depress2", COVARIATES, {"interaction": True}),
    "outcome_probit": ("job_seek", "employed", COVARIATES, {"outcome_model": "probit"}),
    "outcome_logit": ("job_seek", "employed", COVARIATES, {"outcome_model": "logit"}),
    "mediator_probit": ("job_dich", "depress2", COVARIATES, {"mediator_model": "probit"}),
}
MODERATED = ("job_seek", "depress2", ["econ_hard", "age"], {"moderator": "sex", "moderator_values": [0, 1]})
SIMS = 4000


@pytest.fixture(scope="module")
def jobs():
    data = datasets.load("jobs")
    return data.assign(employed=(data["work1"] == "psyemp").astype(int))


def _run(jobs, case, **options):
    mediator, outcome, covariates, extra = case
    return mediation.mediate(jobs, "treat", mediator, outcome, covariates, **extra, **options)


@pytest.fixture(scope="module")
def point(jobs):
    """Bootstrap results (their estimates are the effects at the fitted coefficients)."""
    return {name: _run(jobs, case, n_boot=20, seed=1) for name, case in CASES.items()}


@pytest.fixture(scope="module")
def quasi_bayes(jobs):
    return {name: _run(jobs, case, method="quasi-bayes", sims=SIMS, seed=2) for name, case in CASES.items()}


def _key(term: str) -> str:
    return ":".join(sorted(term.split(":")))


def _coefficients(ours: pd.DataFrame, ref: dict):
    order = [ours.index.map(_key).get_loc(_key(t)) for t in ref["terms"]]
    return ours.iloc[order]


@pytest.mark.parametrize("name", list(CASES))
def test_models_match_lm_and_glm(point, name):
    result, ref = point[name], REFERENCE[name]
    for ours, key in ((result.mediator_model, "mediator_model"), (result.outcome_model, "outcome_model")):
        table = _coefficients(ours, ref[key])
        assert np.allclose(table["estimate"], ref[key]["estimate"], rtol=1e-8, atol=1e-10)
        assert np.allclose(table["se"], np.sqrt(np.diag(ref[key]["vcov"])), rtol=1e-7)


@pytest.mark.parametrize("name", list(CASES))
def test_effects_at_the_estimates_match_r_exactly(point, name):
    table, ref = point[name].table["estimate"], REFERENCE[name]["plugin"]
    for key, row in ROWS.items():
        assert table[row] == pytest.approx(ref[key], abs=1e-8), row
    assert table["Prop. Mediated (treated)"] == pytest.approx(ref["d1"] / ref["tau"], rel=1e-8)


@pytest.mark.parametrize("name", list(CASES))
def test_quasi_bayes_estimates_within_monte_carlo_error_of_r(quasi_bayes, name):
    result, ref = quasi_bayes[name], REFERENCE[name]["qb"]
    for key, row in ROWS.items():
        se = np.hypot(ref["sd"][key] / np.sqrt(ref["sims"]), result.draws[row].std() / np.sqrt(SIMS))
        assert abs(result.table.loc[row, "estimate"] - ref["estimate"][key]) < 4 * se, row
    assert result.ci_method == "monte carlo" and result.jackknife is None


@pytest.mark.parametrize("name", ["interaction", "outcome_probit", "outcome_logit"])
def test_quasi_bayes_intervals_within_monte_carlo_error_of_r(quasi_bayes, name):
    """A normal mediator: R's draws of the effects have the coefficients' spread only
    (its mediator draws share one error under both arms), so the limits agree."""
    result, ref = quasi_bayes[name], REFERENCE[name]["qb"]
    for key, row in ROWS.items():
        # standard error of a 2.5% quantile of a normal sample: sd sqrt(q (1 - q)) / phi(z_q) / sqrt(n)
        se = 2.69 * np.hypot(ref["sd"][key] / np.sqrt(ref["sims"]), result.draws[row].std() / np.sqrt(SIMS))
        assert abs(result.table.loc[row, "ci_low"] - ref["ci_low"][key]) < 4 * se, row
        assert abs(result.table.loc[row, "ci_high"] - ref["ci_high"][key]) < 4 * se, row


def test_quasi_bayes_proportions_are_medians_and_averages_as_r(quasi_bayes):
    result = quasi_bayes["outcome_probit"]
    draws, table = result.draws, result.table["estimate"]
    assert table["Prop. Mediated (control)"] == pytest.approx(draws["Prop. Mediated (control)"].median())
    assert table["Prop. Mediated (average)"] == pytest.approx(
        (table["Prop. Mediated (control)"] + table["Prop. Mediated (treated)"]) / 2)
    assert table["ACME (average)"] == pytest.approx(draws["ACME (average)"].mean())
    assert table["Total Effect"] == pytest.approx(draws["Total Effect"].mean())


def test_tm_interaction_as_test_tmint(point, quasi_bayes):
    ref = REFERENCE["interaction"]
    exact = mediation.test_tm_interaction(point["interaction"])
    assert exact["estimate"] == pytest.approx(ref["plugin"]["d1"] - ref["plugin"]["d0"], abs=1e-10)
    test = mediation.test_tm_interaction(quasi_bayes["interaction"])
    sd = (quasi_bayes["interaction"].draws["ACME (treated)"] - quasi_bayes["interaction"].draws["ACME (control)"]).std()
    assert abs(test["estimate"] - ref["tm_interaction"]["estimate"]) < 4 * sd * np.sqrt(1 / SIMS + 1 / 5000)
    assert abs(test["p"] - ref["tm_interaction"]["p"]) < 0.06
    assert test["ci_low"] < test["estimate"] < test["ci_high"]
    with pytest.raises(ValueError, match="interaction=True"):
        mediation.test_tm_interaction(point["outcome_probit"])


def test_issue_numbers(point):
    """The numbers quoted in issue 17 (R mediation on JOBS II), to their printed digits."""
    table = point["interaction"].table["estimate"]
    assert round(table["ACME (control)"], 3) == -0.020 and round(table["ACME (treated)"], 3) == -0.014
    probit = point["outcome_probit"].table["estimate"]
    assert abs(probit["ACME (treated)"] - 0.0029) < 0.0003 and abs(probit["Total Effect"] - 0.0569) < 0.0003


def test_moderated_mediation_matches_r(jobs):
    result = _run(jobs, MODERATED, n_boot=200, seed=3, ci="percentile")
    assert isinstance(result, mediation.MediationSet) and list(result.results) == [0.0, 1.0]
    for value, key in ((0.0, "sex0"), (1.0, "sex1")):
        ref = REFERENCE["moderated"][key]
        fit = result.results[value]
        assert fit.moderator == "sex" and fit.moderator_value == value
        table = _coefficients(fit.outcome_model, ref["outcome_model"])
        assert np.allclose(table["estimate"], ref["outcome_model"]["estimate"], rtol=1e-8, atol=1e-10)
        for k, row in ROWS.items():
            assert fit.table.loc[row, "estimate"] == pytest.approx(ref["plugin"][k], abs=1e-8)
    index = result.index.loc[("1 - 0", "ACME (treated)")]
    plugin = REFERENCE["moderated"]["sex1"]["plugin"]["d1"] - REFERENCE["moderated"]["sex0"]["plugin"]["d1"]
    assert index["estimate"] == pytest.approx(plugin, abs=1e-10)
    modmed = REFERENCE["moderated"]["modmed"]
    assert abs(index["estimate"] - modmed["estimate"]) < 4 * modmed["sd"] / np.sqrt(5000)
    assert index["ci_low"] < index["estimate"] < index["ci_high"]
    assert result.table.index.names == ["sex", "effect"]


def test_moderated_quasi_bayes_index_within_monte_carlo_error(jobs):
    result = _run(jobs, MODERATED, method="quasi-bayes", sims=SIMS, seed=4)
    modmed = REFERENCE["moderated"]["modmed"]
    index = result.index.loc[("1 - 0", "ACME (treated)")]
    se = modmed["sd"] * np.sqrt(1 / 5000 + 1 / SIMS)
    assert abs(index["estimate"] - modmed["estimate"]) < 4 * se
    assert abs(index["ci_low"] - modmed["ci_low"]) < 4 * 2.69 * se
    assert abs(index["ci_high"] - modmed["ci_high"]) < 4 * 2.69 * se


def test_linear_models_without_interaction_keep_four_rows(jobs):
    fit = mediation.mediate(jobs, "treat", "job_seek", "depress2", COVARIATES, n_boot=20, method="quasi-bayes",
                            sims=2000, seed=5)
    assert list(fit.table.index) == list(mediation.EFFECTS)
    assert fit.sensitivity is not None


def test_bootstrap_of_a_binary_model_refits_each_resample(jobs):
    fit = _run(jobs, CASES["outcome_probit"], n_boot=30, seed=6, ci="percentile")
    assert len(fit.draws) == 30 and fit.draws.notna().all().all()
    assert fit.draws["ACME (treated)"].std() > 0
    assert (fit.ci("bca")["ci_low"] <= fit.table["estimate"]).all()


def test_binary_outcome_fitted_linearly_says_so(jobs):
    fit = mediation.mediate(jobs, "treat", "job_seek", "employed", COVARIATES, n_boot=20)
    assert any("linear probability model" in note for note in fit.notes)


def test_three_arms_give_one_analysis_per_active_arm(jobs):
    rng = np.random.default_rng(7)
    three = jobs.assign(arm=pd.Categorical(rng.choice(["control", "cbt", "mindfulness"], len(jobs)),
                                           categories=["control", "cbt", "mindfulness"]))
    arms = mediation.mediate_arms(three, "arm", "job_seek", "depress2", COVARIATES, n_boot=20, seed=1)
    assert list(arms.results) == ["cbt", "mindfulness"] and arms.by == "treated arm"
    single = mediation.mediate(three, "arm", "job_seek", "depress2", COVARIATES, n_boot=20, seed=1,
                               treated="mindfulness")
    assert arms.results["mindfulness"].table.equals(single.table)
    assert arms.table.loc[("cbt", "ACME"), "estimate"] == arms.results["cbt"].table.loc["ACME", "estimate"]
    coded = three.assign(arm=three["arm"].cat.codes)
    with pytest.raises(ValueError, match="not as a linear dose"):
        mediation.mediate(coded, "arm", "job_seek", "depress2", n_boot=20)
    named = mediation.mediate(coded, "arm", "job_seek", "depress2", n_boot=20, treat_value=2, control_value=0)
    assert (named.control, named.treated) == ("0", "2")


def test_bad_input_gives_clear_errors(jobs):
    constant = jobs.assign(job_seek=jobs["job_seek"].where(jobs["treat"] == 1, 3.0))
    with pytest.raises(io.DataValidationError, match=r"job_seek: mediate: the mediator is 3 in all .* control"):
        mediation.mediate(constant, "treat", "job_seek", "depress2", n_boot=20)
    coded = jobs.assign(employed=jobs["employed"].mask(jobs.index == 5, 2))
    with pytest.raises(io.DataValidationError, match=r"employed: mediate: a probit model needs 0/1 values.*5: 2"):
        mediation.mediate(coded, "treat", "job_seek", "employed", outcome_model="probit", n_boot=20)
    with pytest.raises(ValueError, match=r"moderator_values: 2 is outside the values of 'sex' in the data \(0 to 1\)"):
        mediation.mediate(jobs, "treat", "job_seek", "depress2", moderator="sex", moderator_values=[0, 2],
                          n_boot=20)
    with pytest.raises(ValueError, match="moderator_values="):
        mediation.mediate(jobs, "treat", "job_seek", "depress2", moderator="sex", n_boot=20)
    with pytest.raises(ValueError, match="outcome_model must be one of"):
        mediation.mediate(jobs, "treat", "job_seek", "depress2", outcome_model="poisson", n_boot=20)
    with pytest.raises(ValueError, match="method must be one of"):
        mediation.mediate(jobs, "treat", "job_seek", "depress2", method="bayes", n_boot=20)
    with pytest.raises(ValueError, match="name the same arm"):
        mediation.mediate(jobs, "treat", "job_seek", "depress2", treated=1, treat_value=1, n_boot=20)
    separated = jobs.assign(employed=jobs["treat"])
    with pytest.raises(io.DataValidationError, match="separates"):
        mediation.mediate(separated, "treat", "job_seek", "employed", outcome_model="logit", n_boot=20)
    with pytest.raises(ValueError, match="medsens is only valid for the probit link"):
        mediation.medsens(mediation.mediate(jobs, "treat", "job_seek", "employed", outcome_model="logit",
                                            n_boot=20))


def test_figures_and_summaries_of_full_tables(point, jobs):
    result = point["outcome_probit"]
    assert "Models: mediator linear, outcome probit" in result.summary()
    assert "ACME (treated)" in result.summary()
    for figure in (mediation_plots.path_diagram(result), mediation_plots.bootstrap_distribution(result)):
        assert figure.axes
    moderated = _run(jobs, MODERATED, n_boot=20, seed=1)
    assert "Index of moderated mediation" in moderated.summary()
    assert len(mediation_plots.effects_by(moderated).axes[0].get_yticklabels()) == 4
