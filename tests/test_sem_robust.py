"""MLR scaled and robust fit indices against lavaan 0.6-14 (tests/reference/sem_lavaan_robust.R -> .json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import sem
from analysis.sem.fit import cfi, rmsea

REF = Path(__file__).parent / "reference"
LAVAAN = json.loads((REF / "sem_lavaan_robust.json").read_text())
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
WAVES = range(4)
LINEAR = ("igse =~ " + " + ".join(f"1*gse_total_w{w}" for w in WAVES) + "\n"
          "sgse =~ " + " + ".join(f"{w}*gse_total_w{w}" for w in WAVES))
#: Measured differences are below 1e-5 relative (the FIML ones come from EM moments and numerical
#: information matrices); 1e-6 absolute for indices near 0.
REL, ABS = 1e-5, 1e-6


@pytest.fixture(scope="module")
def fits():
    holzinger = pd.read_csv(REF / "sem_holzinger.csv")
    trial = pd.read_csv(REF / "sem_trial_wide.csv")
    complete = trial[[f"gse_total_w{w}" for w in WAVES]].dropna()
    return {"hs_mlr": sem.cfa(HS, holzinger, estimator="MLR"),
            "growth_mlr": sem.growth(LINEAR, complete, estimator="MLR"),
            "fiml_mlr": sem.growth(LINEAR, trial, estimator="MLR")}


def test_reference_is_lavaan_0_6_14():
    assert LAVAAN["version"] == "0.6.14"


@pytest.mark.parametrize("case", ["hs_mlr", "growth_mlr", "fiml_mlr"])
def test_scaled_and_robust_indices_match_lavaan(fits, case):
    result = fits[case]
    for key, value in LAVAAN[f"fit_{case}"].items():
        name = key.replace(".", "_")
        assert result.fit[name] == pytest.approx(value, rel=REL, abs=ABS), name


def test_fiml_robust_indices_differ_from_the_naive_ones(fits):
    """With missing values the robust indices are the FIML-corrected ones, not the complete-data formulas
    applied to the FIML statistics."""
    fit = fits["fiml_mlr"].fit
    naive = rmsea(fit["chisq"], fit["df"], fit["ntotal"], 1, fit["chisq_scaling_factor"])
    assert abs(naive - LAVAAN["fit_fiml_mlr"]["rmsea.robust"]) > 1e-3
    assert fit["rmsea_robust"] == pytest.approx(LAVAAN["fit_fiml_mlr"]["rmsea.robust"], rel=REL)


def test_summary_shows_scaled_and_robust_indices(fits):
    text = fits["hs_mlr"].summary()
    fit = fits["hs_mlr"].fit
    assert f"Scaled: CFI {fit['cfi_scaled']:.3f}" in text
    assert f"Robust: CFI {fit['cfi_robust']:.3f}, TLI {fit['tli_robust']:.3f}, RMSEA {fit['rmsea_robust']:.3f}" in text
    assert "Robust (Huber-White) standard errors" in text


def test_ml_fit_has_no_robust_indices(fits):
    holzinger = pd.read_csv(REF / "sem_holzinger.csv")
    result = sem.cfa(HS, holzinger)
    assert "cfi_robust" not in result.fit and "Robust" not in result.summary()


def test_fixed_covariates_get_no_baseline_based_indices():
    holzinger = pd.read_csv(REF / "sem_holzinger.csv")
    result = sem.cfa("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual + textual ~ sex", holzinger,
                     estimator="MLR")
    assert np.isfinite(result.fit["chisq_scaled"])
    assert np.isnan(result.fit[["cfi_scaled", "cfi_robust", "rmsea_robust"]].astype(float)).all()


@pytest.mark.parametrize("args, expected", [((10.0, 5, 500.0, 10), 0.98979591836734693),
                                            ((3.0, 5, 500.0, 10), 1.0)])
def test_cfi_formula(args, expected):
    assert cfi(*args) == pytest.approx(expected, rel=1e-12)


def test_multigroup_scaled_and_robust_indices_match_lavaan():
    """Metric invariance across schools with MLR (the keys sem_lavaan.json holds for hs_groups_mlr)."""
    holzinger = pd.read_csv(REF / "sem_holzinger.csv")
    reference = json.loads((REF / "sem_lavaan.json").read_text())["hs_groups_mlr"]["fit"]
    result = sem.cfa(HS, holzinger, group="school", group_equal=("loadings",), estimator="MLR")
    keys = [k for k in reference if "scaled" in k or "robust" in k]
    assert len(keys) == 9
    for key in keys:
        assert result.fit[key.replace(".", "_")] == pytest.approx(reference[key], rel=REL, abs=ABS), key
