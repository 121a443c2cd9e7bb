"""Tests for analysis.mediation.medsens with a probit outcome or a probit mediator against R's
mediation 4.5 medsens() (tests/reference/mediation_medsens_probit.R,
tests/reference/mediation_medsens_binary_mediator.R): ACME(control) and ACME(treated) per rho within
Monte Carlo error, R-squared values exactly, the rho at which each ACME is nearest 0 exactly, and
for a probit mediator the selection-corrected outcome fit at given mediator coefficients exactly."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis import datasets, mediation
from analysis.mediation import sensitivity as sensitivity_module
from analysis.mediation.design import _Coding, _design
from analysis.mediation.models import fit_model

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "mediation_medsens_probit.json").read_text())
BINARY_MEDIATOR = json.loads((ROOT / "tests" / "reference" / "mediation_medsens_binary_mediator.json").read_text())
SIMS = 4000
MEDIATOR_SIMS = 2000
COVARIATES = ["econ_hard", "sex", "age"]


@pytest.fixture(scope="module")
def sensitivity():
    jobs = datasets.load("jobs")
    jobs = jobs.assign(employed=(jobs["work1"] == "psyemp").astype(int))
    fit = mediation.mediate(jobs, "treat", "job_seek", "employed", ["econ_hard", "sex", "age"], n_boot=10,
                            outcome_model="probit")
    return mediation.medsens(fit, rho_by=0.1, sims=SIMS, seed=8)


def test_acme_per_rho_within_monte_carlo_error_of_medsens(sensitivity):
    table = sensitivity.table
    assert np.allclose(table.index, REFERENCE["rho"])
    _within_monte_carlo_error(table, REFERENCE, SIMS)
    assert np.allclose(table["acme"], (table["acme_control"] + table["acme_treated"]) / 2)


def test_thresholds_and_r_squared_as_medsens(sensitivity):
    assert sensitivity.rho_zero_by_arm == pytest.approx(tuple(REFERENCE["rho_zero"]))
    assert sensitivity.r2_mediator == pytest.approx(REFERENCE["r_square_m"], rel=1e-10)
    assert sensitivity.r2_outcome == pytest.approx(REFERENCE["r_square_y"], rel=1e-8)
    tilde = np.array(REFERENCE["rho_zero"]) ** 2 * (1 - REFERENCE["r_square_m"]) * (1 - REFERENCE["r_square_y"])
    assert np.allclose(tilde, REFERENCE["r2_tilde_zero"])
    assert "Rho at which ACME = 0" in sensitivity.summary()


def _within_monte_carlo_error(table, reference, sims):
    """ACME(control), ACME(treated) and their lower limits within 4 Monte Carlo SEs of R's."""
    width = 2 * stats.norm.ppf(0.975)
    for arm, key in (("control", "d0"), ("treated", "d1")):
        # SD of the draws from the width of R's 95% quantile interval; MC SE of both means
        sd = (np.array(reference[f"upper_{key}"]) - np.array(reference[f"lower_{key}"])) / width
        se = sd * np.sqrt(1 / reference["sims"] + 1 / sims)
        assert (np.abs(table[f"acme_{arm}"].to_numpy() - reference[key]) < 4 * se).all(), arm
        assert (np.abs(table[f"ci_low_{arm}"].to_numpy() - reference[f"lower_{key}"]) < 4 * 2.69 * se).all(), arm


def _binary_mediator_reference(model: str) -> dict:
    return {**BINARY_MEDIATOR[model], "sims": BINARY_MEDIATOR["sims"]}


@pytest.fixture(scope="module", params=["plain", "interaction"])
def mediator_sensitivity(request):
    jobs = datasets.load("jobs")
    fit = mediation.mediate(jobs, "treat", "job_dich", "depress2", COVARIATES, n_boot=10, mediator_model="probit",
                            interaction=request.param == "interaction")
    return request.param, mediation.medsens(fit, rho_by=0.1, sims=MEDIATOR_SIMS, seed=3)


def test_probit_mediator_acme_per_rho_within_monte_carlo_error_of_medsens(mediator_sensitivity):
    model, sensitivity = mediator_sensitivity
    reference, table = _binary_mediator_reference(model), sensitivity.table
    assert np.allclose(table.index, reference["rho"])
    _within_monte_carlo_error(table, reference, MEDIATOR_SIMS)
    if model == "plain":  # without interaction R's d0 and d1 are one quantity
        assert np.array_equal(table["acme_control"], table["acme_treated"])


def test_probit_mediator_thresholds_and_r_squared_as_medsens(mediator_sensitivity):
    model, sensitivity = mediator_sensitivity
    reference = _binary_mediator_reference(model)
    # R's err.cr.d: one rho without interaction, (control, treated) with it. It is the grid rho
    # where the simulated ACME is nearest 0; where the ACME crosses 0 halfway between two grid
    # points (ACME(treated) with interaction: R 0.00339 at -0.4, -0.00353 at -0.3) Monte Carlo
    # error decides, so: R's rho brings our |ACME| within Monte Carlo error of its minimum, and
    # ours is R's or its grid neighbour.
    table = sensitivity.table
    width = 2 * stats.norm.ppf(0.975)
    for position, (arm, key) in enumerate((("control", "d0"), ("treated", "d1"))):
        theirs = np.resize(reference["rho_zero"], 2)[position]
        at = int(np.argmin(np.abs(table.index.to_numpy() - theirs)))
        se = (reference[f"upper_{key}"][at] - reference[f"lower_{key}"][at]) / width * np.sqrt(
            1 / reference["sims"] + 1 / MEDIATOR_SIMS)
        acme = np.abs(table[f"acme_{arm}"].to_numpy())
        assert acme[at] - acme.min() < 4 * se, arm
        assert abs(sensitivity.rho_zero_by_arm[position] - theirs) <= 0.1 + 1e-12, arm
    assert sensitivity.r2_mediator == pytest.approx(reference["r_square_m"], rel=1e-10)
    assert sensitivity.r2_outcome == pytest.approx(reference["r_square_y"], rel=1e-10)
    if model == "plain":
        assert sensitivity.rho_zero == pytest.approx(reference["rho_zero"])
        assert sensitivity.r2_tilde_zero == pytest.approx(reference["r2_tilde_zero"], rel=1e-10)


def test_probit_mediator_corrected_outcome_fit_as_medsens_iterates_it():
    # medsens' Step 2-2 stops when sigma changes by less than sqrt(machine eps), after
    # refitting with the previous sigma: the coefficients are R's to about 1e-8.
    jobs = datasets.load("jobs")
    fit = mediation.mediate(jobs, "treat", "job_dich", "depress2", COVARIATES, n_boot=10, mediator_model="probit")
    design = _design(fit.data, _Coding(fit.treatment, fit.control, fit.treated), fit.mediator, fit.outcome,
                     fit.covariates)
    m, y = design.values()
    probit = fit_model(design.mediator_matrix, m, "probit", "job_dich", "test")
    assert np.allclose(probit.coef, BINARY_MEDIATOR["mediator_coef"], rtol=0, atol=1e-10)
    mu = design.mediator_matrix @ probit.coef
    residual = sensitivity_module._generalised_residual(mu, m)
    order = [design.outcome_names.index(name) for name in
             ["(Intercept)", "treat", "job_dich", "econ_hard", "sex", "age"]]  # R's formula order
    for reference in BINARY_MEDIATOR["corrected"]:
        rho = reference["rho"]
        coef, vcov = sensitivity_module._corrected_outcome_fit(
            design.outcome_matrix, y, (rho * residual)[:, None], (1 - rho ** 2 * residual * (residual + mu))[:, None])
        assert np.allclose(coef[0][order], reference["coef"], rtol=0, atol=1e-7), rho
        assert np.allclose(vcov[0][np.ix_(order, order)], reference["vcov"], rtol=1e-9, atol=0), rho


@pytest.mark.parametrize("models, message", [
    ({"mediator_model": "probit", "outcome_model": "probit", "outcome": "employed"}, "medsens supports"),
    ({"mediator_model": "logit"}, "only valid for the probit link"),
    ({"outcome_model": "logit", "mediator": "job_seek", "outcome": "employed"}, "only valid for the probit link"),
    ({"mediator": "job_seek", "interaction": True}, "with an interaction"),
])
def test_other_models_are_refused(models, message):
    jobs = datasets.load("jobs")
    jobs = jobs.assign(employed=(jobs["work1"] == "psyemp").astype(int))
    arguments = {"mediator": "job_dich", "outcome": "depress2", **models}
    fit = mediation.mediate(jobs, "treat", arguments.pop("mediator"), arguments.pop("outcome"), n_boot=10,
                            **arguments)
    with pytest.raises(ValueError, match=message):
        mediation.medsens(fit)
