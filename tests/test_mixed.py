"""Tests for analysis.mixed against lme4/lmerTest (tests/reference/lme4_mixed.R)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import mixed, simulate

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "lme4_mixed.json").read_text())
BTHEB_FORMULA = "bdi ~ bdi_pre + time + treatment + drug + length"
# lme4 term names -> patsy term names
TERMS = {
    "(Intercept)": "Intercept", "bdi.pre": "bdi_pre", "treatmentTAU": "treatment[T.TAU]",
    "drugYes": "drug[T.Yes]", "length>6m": "length[T.>6m]", "armcbt": "arm[T.cbt]",
    "armmindfulness": "arm[T.mindfulness]", "time:armcbt": "time:arm[T.cbt]",
    "time:armmindfulness": "time:arm[T.mindfulness]",
}


def sleepstudy():
    return pd.read_csv(ROOT / "data" / "sleepstudy.csv")


def btheb_long():
    """Beat the Blues follow-ups in long form, as in lme4_mixed.R."""
    wide = pd.read_csv(ROOT / "data" / "BtheB.csv")
    wide["subject"] = np.arange(1, len(wide) + 1)
    long = wide.melt(id_vars=["subject", "treatment", "drug", "length", "bdi.pre"],
                     value_vars=[f"bdi.{m}m" for m in (2, 4, 6, 8)],
                     var_name="wave", value_name="bdi")
    long["time"] = long["wave"].str.extract(r"(\d)", expand=False).astype(float)
    long = long.rename(columns={"bdi.pre": "bdi_pre"}).dropna(subset=["bdi"])
    return long.sort_values(["subject", "time"]).reset_index(drop=True)


def sim_trial():
    data = pd.read_csv(ROOT / "tests" / "reference" / "lmm_sim.csv")
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt", "mindfulness"])
    return data


CASES = {
    "sleepstudy_reml": lambda: mixed.fit_lmm(sleepstudy(), "Reaction ~ Days", "Subject", "~Days"),
    "sleepstudy_ml": lambda: mixed.fit_lmm(sleepstudy(), "Reaction ~ Days", "Subject", "~Days",
                                           reml=False),
    "sleepstudy_ri_ml": lambda: mixed.fit_lmm(sleepstudy(), "Reaction ~ Days", "Subject",
                                              reml=False),
    "btheb_ri": lambda: mixed.fit_lmm(btheb_long(), BTHEB_FORMULA, "subject"),
    "btheb_slope": lambda: mixed.fit_lmm(btheb_long(), BTHEB_FORMULA, "subject", "~time"),
    "sim_trial": lambda: mixed.fit_lmm(sim_trial(), "phq9_total ~ time * arm",
                                       "participant_id", "~time"),
}


@pytest.fixture(scope="module")
def fits():
    return {key: make() for key, make in CASES.items()}


def rel(actual, expected):
    return np.max(np.abs(np.asarray(actual, float) / np.asarray(expected, float) - 1))


@pytest.mark.parametrize("key", list(CASES))
def test_fixed_effects_match_lmertest(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    fixed = fit.fixed.loc[[TERMS.get(t, t) for t in ref["terms"]]]
    # 1e-4 relative, or 1e-4 SE for coefficients smaller than their SE: lme4's
    # default optimiser stops ~2e-8 log-likelihood short of the optimum for
    # btheb_slope, moving the near-zero length>6m estimate by 3e-4 relative.
    scale = np.maximum(np.abs(ref["estimate"]), ref["se"])
    assert np.max(np.abs(fixed["estimate"] - ref["estimate"]) / scale) < 1e-4
    assert rel(fixed["se"], ref["se"]) < 1e-3
    assert rel(fixed["t"], ref["t"]) < 1e-3
    assert rel(fixed["df"], ref["df"]) < 1e-3
    assert rel(fixed["p"], ref["p"]) < 1e-2
    assert (fixed["ci_low"] < fixed["estimate"]).all() and (fixed["estimate"] < fixed["ci_high"]).all()


@pytest.mark.parametrize("key", list(CASES))
def test_variance_components_and_fit_match_lme4(fits, key):
    ref, fit = REFERENCE[key], fits[key]
    cov = np.asarray(ref["re_cov"], float).reshape(len(fit.re_cov), -1)
    assert np.allclose(fit.re_cov.to_numpy(), cov, rtol=1e-3, atol=1e-8 * np.abs(cov).max())
    assert rel(np.diag(fit.re_sd_corr.to_numpy()), ref["re_sd"]) < 1e-3
    corr = np.asarray(ref["re_corr"], float).reshape(cov.shape)
    assert np.allclose(fit.re_sd_corr.to_numpy()[np.tril_indices(len(cov), -1)],
                       corr[np.tril_indices(len(cov), -1)], atol=1e-3)
    assert rel(np.sqrt(fit.sigma2), ref["sigma"]) < 1e-3
    assert abs(fit.loglik - ref["loglik"]) < 1e-3
    assert abs(fit.aic - ref["aic"]) < 2e-3 and abs(fit.bic - ref["bic"]) < 2e-3
    assert (fit.nobs, fit.ngroups, fit.singular) == (ref["nobs"], ref["ngroups"], ref["singular"])
    assert fit.converged and fit.warnings == []
    assert len(fit.random_effects) == fit.ngroups


def test_missing_rows_are_dropped_and_counted(fits):
    raw = pd.read_csv(ROOT / "tests" / "reference" / "lmm_sim.csv")
    assert fits["sim_trial"].n_dropped == raw["phq9_total"].isna().sum() > 0


def test_lrt_matches_lme4_anova():
    data = sleepstudy()
    small = mixed.fit_lmm(data, "Reaction ~ Days", "Subject")
    large = mixed.fit_lmm(data, "Reaction ~ Days", "Subject", "~Days")
    table = mixed.lrt(small, large)
    ref = REFERENCE["lrt_sleepstudy"]
    assert abs(table["Chisq"].iloc[1] - ref["chisq"]) < 1e-3
    assert table["Df"].iloc[1] == ref["df"]
    assert list(table["npar"]) == ref["npar"]
    assert np.allclose(table["logLik"], ref["loglik"], atol=1e-3)
    assert rel(table["Pr(>Chisq)"].iloc[1], ref["p"]) < 1e-3
    assert "ML" in table.attrs["note"]


def test_singular_fit_is_flagged():
    data, _ = simulate.trial(n_per_arm=60, se_slope_sd=0, symptom_slope_sd=0, slope_corr=0,
                             ar_se=0, ar_sym=0, lag_se_to_sym=0, lag_sym_to_se=0, seed=0)
    fit = mixed.fit_lmm(data, "phq9_total ~ time * arm", "participant_id", "~time")
    assert fit.singular
    assert any("singular" in w for w in fit.warnings)
    assert "singular" in fit.summary()


def test_summary_reads_like_lmertest(fits):
    text = fits["sleepstudy_reml"].summary()
    for part in ["REML criterion", "Random effects:", "Std.Dev.", "Corr", "Residual",
                 "Fixed effects:", "Std. Error", "Pr(>|t|)",
                 "Satterthwaite's method for denominator df (numerical derivatives)"]:
        assert part in text


def test_missing_columns_are_named():
    data = sleepstudy()
    with pytest.raises(ValueError, match="'Subjekt'"):
        mixed.fit_lmm(data, "Reaction ~ Days", "Subjekt")
    with pytest.raises(ValueError, match="'Dayz'"):
        mixed.fit_lmm(data, "Reaction ~ Dayz", "Subject")
    with pytest.raises(ValueError, match="'slope'"):
        mixed.fit_lmm(data, "Reaction ~ Days", "Subject", "~slope")


def test_decompose_by_hand():
    data = pd.DataFrame({"id": [1, 1, 1, 2, 2], "x": [1.0, 3.0, np.nan, 10.0, 14.0]})
    out = mixed.decompose(data, "x", "id")
    assert out["x_between"].tolist() == [2.0, 2.0, 2.0, 12.0, 12.0]
    assert out["x_within"].tolist()[:2] == [-1.0, 1.0] and np.isnan(out["x_within"][2])
    assert out["x_within"].tolist()[3:] == [-2.0, 2.0]
    assert "x_between" not in data
    with pytest.raises(ValueError, match="'y'"):
        mixed.decompose(data, "y", "id")
