"""Tests for analysis.mediation.mediate_parallel against lm products of coefficients and lavaan's
bootstrap of defined parameters (tests/reference/mediation_parallel.R) on the synthetic trial."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, mediation

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "mediation_parallel.json").read_text())
MEDIATORS = ["gse_change", "gad7_change"]
N_BOOT = 4000
#: lavaan's defined parameters: our rows
ROWS = {"ind_gse": "ACME (gse_change)", "ind_gad7": "ACME (gad7_change)", "ind_total": "ACME (total)",
        "contrast": "ACME (gse_change) - ACME (gad7_change)", "direct": "ADE", "total": "Total Effect"}


@pytest.fixture(scope="module")
def people():
    """One row per person of cbt and control, as the reference script builds it."""
    trial = pd.read_csv(ROOT / "data" / "synthetic_trial.csv")
    trial = trial[trial["arm"].isin(["control", "cbt"])]
    wide = trial.pivot(index="participant_id", columns="wave", values=["gse_total", "gad7_total", "phq9_total"])
    first = trial[trial["wave"] == 0].set_index("participant_id")
    wide = wide.reindex(first.index)
    return pd.DataFrame({
        "treat": (first["arm"] == "cbt").astype(int), "age": first["age"],
        "gse_change": wide["gse_total"][3] - wide["gse_total"][0],
        "gad7_change": wide["gad7_total"][3] - wide["gad7_total"][0],
        "phq9_change": wide["phq9_total"][5] - wide["phq9_total"][0]}).dropna()


@pytest.fixture(scope="module")
def fit(people):
    return mediation.mediate_parallel(people, "treat", MEDIATORS, "phq9_change", ["age"], n_boot=N_BOOT, seed=3,
                                      ci="percentile")


def test_specific_indirect_effects_are_products_of_coefficients(fit):
    lm = REFERENCE["lm"]
    table = fit.table["estimate"]
    assert fit.nobs == REFERENCE["nobs"]
    for k, (key, mediator) in enumerate((("gse", "gse_change"), ("gad7", "gad7_change"))):
        assert table[f"ACME ({mediator})"] == pytest.approx(lm["products"][key], abs=1e-10)
        # a and b are unnamed in the JSON: (gse, gad7)
        assert fit.paths.loc[f"a ({mediator})", "estimate"] == pytest.approx(lm["a"][k], abs=1e-10)
        assert fit.paths.loc[f"b ({mediator})", "estimate"] == pytest.approx(lm["b"][k], abs=1e-10)
    assert table["ACME (total)"] == pytest.approx(sum(lm["products"].values()), abs=1e-10)
    assert table["ACME (gse_change) - ACME (gad7_change)"] == pytest.approx(
        lm["products"]["gse"] - lm["products"]["gad7"], abs=1e-10)
    assert table["ADE"] == pytest.approx(lm["direct"], abs=1e-10)
    assert table["Total Effect"] == pytest.approx(lm["direct"] + sum(lm["products"].values()), abs=1e-10)


def test_estimates_and_bootstrap_intervals_agree_with_lavaan(fit):
    ref = REFERENCE["lavaan"]
    for k, label in enumerate(ref["label"]):
        row = fit.table.loc[ROWS[label]]
        assert row["estimate"] == pytest.approx(ref["estimate"][k], abs=1e-6)  # lavaan's optimiser tolerance
        # standard error of a 2.5% quantile of a normal sample: 2.69 sd / sqrt(n), both runs
        se = 2.69 * ref["boot_sd"][k] * np.sqrt(1 / REFERENCE["boot"] + 1 / N_BOOT)
        assert abs(row["ci_low"] - ref["ci_low"][k]) < 4 * se, label
        assert abs(row["ci_high"] - ref["ci_high"][k]) < 4 * se, label
        assert fit.draws[ROWS[label]].std() == pytest.approx(ref["boot_sd"][k], rel=0.1)


def test_joint_bootstrap_keeps_sums_and_contrasts_consistent(fit):
    draws = fit.draws
    assert np.allclose(draws["ACME (total)"], draws["ACME (gse_change)"] + draws["ACME (gad7_change)"])
    assert np.allclose(draws["Total Effect"], draws["ADE"] + draws["ACME (total)"])
    assert set(fit.ci("bca").index) == set(fit.table.index)
    assert "ACME (gse_change)" in fit.summary()


def test_shares_the_interval_routine_of_mediate(fit, people):
    """One base (EffectsResult) and one ci(): the default method reproduces the table, as for mediate."""
    assert isinstance(fit, mediation.result.EffectsResult) and fit.ci().equals(fit.table[["ci_low", "ci_high"]])
    single = mediation.mediate(people, "treat", "gse_change", "phq9_change", ["age"], n_boot=200, seed=3)
    assert isinstance(single, mediation.result.EffectsResult)
    assert single.ci().equals(single.table[["ci_low", "ci_high"]])
    with pytest.raises(ValueError, match="method must be one of \\('bca', 'percentile'\\)"):
        fit.ci("normal")


def test_bad_input(people):
    with pytest.raises(ValueError, match="two or more distinct"):
        mediation.mediate_parallel(people, "treat", ["gse_change"], "phq9_change", n_boot=20)
    with pytest.raises(ValueError, match="also the outcome or covariates"):
        mediation.mediate_parallel(people, "treat", ["gse_change", "age"], "phq9_change", ["age"], n_boot=20)
    flat = people.assign(gad7_change=people["gad7_change"].where(people["treat"] == 1, 0.0))
    with pytest.raises(io.DataValidationError, match="gad7_change: mediate_parallel: the mediator is 0"):
        mediation.mediate_parallel(flat, "treat", MEDIATORS, "phq9_change", n_boot=20)


def test_change_scores_builds_the_rows_of_several_mediators(people):
    trial = pd.read_csv(ROOT / "data" / "synthetic_trial.csv")
    trial = trial[trial["arm"].isin(["control", "cbt"])]
    rows, waves = mediation.change_scores(trial, "arm", ["gse_total", "gad7_total"], "phq9_total", waves=(0, 3, 5),
                                          covariates=["age"])
    assert waves == (0, 3, 5)
    rows = rows.dropna()
    assert len(rows) == len(people)
    for ours, theirs in (("gse_total_change", "gse_change"), ("gad7_total_change", "gad7_change"),
                         ("phq9_total_change", "phq9_change")):
        assert np.allclose(rows[ours].to_numpy(), people.loc[rows.index, theirs].to_numpy())
    fit = mediation.mediate_parallel(rows.assign(treat=(rows["arm"] == "cbt").astype(int)), "treat",
                                     ["gse_total_change", "gad7_total_change"], "phq9_total_change", ["age"],
                                     n_boot=20)
    assert fit.table.loc["ACME (gse_total_change)", "estimate"] == pytest.approx(REFERENCE["lm"]["products"]["gse"],
                                                                                abs=1e-10)
