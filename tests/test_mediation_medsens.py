"""Tests for analysis.mediation.medsens with a probit outcome against R's mediation 4.5 medsens()
(tests/reference/mediation_medsens_probit.R): ACME(control) and ACME(treated) per rho within Monte
Carlo error, R-squared values exactly, the rho at which each ACME is nearest 0 exactly."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from analysis import datasets, mediation

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "mediation_medsens_probit.json").read_text())
SIMS = 4000


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
    width = 2 * stats.norm.ppf(0.975)
    for arm, key in (("control", "d0"), ("treated", "d1")):
        # SD of the draws from the width of R's 95% quantile interval; MC SE of both means
        sd = (np.array(REFERENCE[f"upper_{key}"]) - np.array(REFERENCE[f"lower_{key}"])) / width
        se = sd * np.sqrt(1 / REFERENCE["sims"] + 1 / SIMS)
        assert (np.abs(table[f"acme_{arm}"].to_numpy() - REFERENCE[key]) < 4 * se).all(), arm
        assert (np.abs(table[f"ci_low_{arm}"].to_numpy() - REFERENCE[f"lower_{key}"]) < 4 * 2.69 * se).all(), arm
    assert np.allclose(table["acme"], (table["acme_control"] + table["acme_treated"]) / 2)


def test_thresholds_and_r_squared_as_medsens(sensitivity):
    assert sensitivity.rho_zero_by_arm == pytest.approx(tuple(REFERENCE["rho_zero"]))
    assert sensitivity.r2_mediator == pytest.approx(REFERENCE["r_square_m"], rel=1e-10)
    assert sensitivity.r2_outcome == pytest.approx(REFERENCE["r_square_y"], rel=1e-8)
    tilde = np.array(REFERENCE["rho_zero"]) ** 2 * (1 - REFERENCE["r_square_m"]) * (1 - REFERENCE["r_square_y"])
    assert np.allclose(tilde, REFERENCE["r2_tilde_zero"])
    assert "Rho at which ACME = 0" in sensitivity.summary()


def test_other_binary_models_are_refused():
    jobs = datasets.load("jobs")
    fit = mediation.mediate(jobs, "treat", "job_dich", "depress2", n_boot=10, mediator_model="probit")
    with pytest.raises(ValueError, match="linear mediator with a linear or probit outcome"):
        mediation.medsens(fit)
