"""mediate_multilevel with a therapist level: parity with lme4/lmerTest (tests/reference/mediation_multilevel.R)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, mediation

REFERENCE_DIR = Path(__file__).parent / "reference"
REFERENCE = json.loads((REFERENCE_DIR / "mediation_multilevel.json").read_text())
TERM = "C(arm, Treatment('control'))"
#: lme4's term names as fit_lmm spells them.
NAMES = {"(Intercept)": "Intercept", "armcbt": f"{TERM}[T.cbt]", "time:armcbt": f"time:{TERM}[T.cbt]",
         "time_next:armcbt": f"time_next:{TERM}[T.cbt]", "gse_within": "gse_total_within",
         "gse_between": "gse_total_between", "phq9_within": "phq9_total_within"}
CASES = ["therapist", "therapist_age"]


def trial() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "mediation_multilevel.csv")


@pytest.fixture(scope="module")
def fits():
    data = trial()
    return {key: mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", cluster="therapist",
                                              covariates=REFERENCE[key]["covariates"], n_sims=2000, seed=5)
            for key in CASES}


def rel(actual, expected):
    return np.max(np.abs(np.asarray(actual, float) / np.asarray(expected, float) - 1))


@pytest.mark.parametrize("key", CASES)
def test_paths_and_acme_match_lme4(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    for path in ("a", "b", "c_prime"):
        assert rel(fit.paths.loc[path, "estimate"], ref["paths"]["estimate"][path]) < 1e-4, path
        assert rel(fit.paths.loc[path, "se"], ref["paths"]["se"][path]) < 1e-4, path
    assert rel(fit.table.loc["ACME", "estimate"], ref["acme"]) < 1e-4
    assert fit.table.loc["ADE", "estimate"] == fit.paths.loc["c_prime", "estimate"]
    assert fit.table.loc["ACME", "estimate"] == pytest.approx(fit.paths.loc["a", "estimate"]
                                                              * fit.paths.loc["b", "estimate"], rel=1e-14)


@pytest.mark.parametrize("key", CASES)
@pytest.mark.parametrize("model", ["mediator_model", "outcome_model"])
def test_both_models_match_lmertest(fits, key, model):
    ref, table = REFERENCE[key][model], getattr(fits[key], model)
    ours = table.loc[[NAMES.get(t, t) for t in ref["terms"]]]
    assert len(table) == len(ref["terms"])
    assert rel(ours["estimate"], ref["estimate"]) < 1e-4
    assert rel(ours["se"], ref["se"]) < 1e-4
    assert rel(ours["df"], ref["df"]) < 1e-4
    assert not ref["singular"] and ref["lme4_messages"] == []


def test_monte_carlo_intervals_are_deterministic_for_a_seed(fits):
    data = trial()
    again = mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", cluster="therapist",
                                         n_sims=2000, seed=5)
    other = mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", cluster="therapist",
                                         n_sims=2000, seed=6)
    pd.testing.assert_frame_equal(again.table, fits["therapist"].table, check_exact=True)
    assert not np.allclose(other.table["ci_low"], again.table["ci_low"])
    assert again.cluster == "therapist" and "random intercept of therapist (8 levels)" in again.summary()
    assert again.warnings == [] and again.nobs == REFERENCE["therapist"]["outcome_model"]["nobs"]


def test_the_therapist_level_changes_the_paths():
    data = trial()
    plain = mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", n_sims=200)
    nested = mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", cluster="therapist", n_sims=200)
    assert plain.cluster is None and "therapist" not in " ".join(plain.notes)
    assert rel(plain.paths.loc["c_prime", "se"], nested.paths.loc["c_prime", "se"]) > 1e-3


def test_refuses_a_person_who_changes_therapist():
    data = trial()
    moved = data.copy()
    moved.loc[moved.index[1], "therapist"] = "T01" if moved.loc[moved.index[1], "therapist"] != "T01" else "T02"
    with pytest.raises(io.DataValidationError, match="therapist: must be constant within participant_id"):
        mediation.mediate_multilevel(moved, "arm", "gse_total", "phq9_total", cluster="therapist", n_sims=20)


def test_refuses_a_single_therapist_and_missing_therapists():
    data = trial()
    with pytest.raises(io.DataValidationError, match="a single therapist \\('T01'\\) in all rows"):
        mediation.mediate_multilevel(data.assign(therapist="T01"), "arm", "gse_total", "phq9_total",
                                     cluster="therapist", n_sims=20)
    partial = data.assign(therapist=data["therapist"].where(data["arm"] == "cbt"))
    with pytest.raises(io.DataValidationError, match="missing therapist \\(every person needs one"):
        mediation.mediate_multilevel(partial, "arm", "gse_total", "phq9_total", cluster="therapist", n_sims=20)
    with pytest.raises(io.DataValidationError, match="therapists: mediate_multilevel: column not in the data"):
        mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", cluster="therapists", n_sims=20)


def test_therapist_codes_and_nullable_dtypes_give_the_same_fit(fits):
    data = trial()
    codes = {label: k for k, label in enumerate(sorted(data["therapist"].unique()), start=1)}
    coded = data.assign(therapist=data["therapist"].map(codes).astype("Int64"),
                        participant_id=data["participant_id"].astype("string"),
                        arm=(data["arm"] == "cbt").astype("boolean"), gse_total=data["gse_total"].astype("Float64"))
    before = coded.copy(deep=True)
    fit = mediation.mediate_multilevel(coded, "arm", "gse_total", "phq9_total", cluster="therapist", n_sims=2000,
                                       seed=5)
    pd.testing.assert_frame_equal(coded, before, check_exact=True)
    reference = fits["therapist"]
    assert (fit.control, fit.treated) == ("0", "1")
    pd.testing.assert_frame_equal(fit.paths, reference.paths, check_exact=False, rtol=1e-8)
    pd.testing.assert_frame_equal(fit.table, reference.table, check_exact=False, rtol=1e-8)
    with pytest.raises(ValueError, match="cluster='participant_id' is the person column"):
        mediation.mediate_multilevel(data, "arm", "gse_total", "phq9_total", cluster="participant_id")
