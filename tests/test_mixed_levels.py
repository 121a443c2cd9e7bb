"""Model families with a third level (therapists, groups) and binary outcomes: growth(cluster=),
cluster_icc, level_ignored, remission and adherence as GLMMs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import datasets, io, mixed

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "lme4_partial.json").read_text())
LME4_NAMES = {"(Intercept)": "Intercept", "time": "time", "armcbt": "arm[T.cbt]",
              "armmindfulness": "arm[T.mindfulness]", "time:armcbt": "time:arm[T.cbt]",
              "time:armmindfulness": "time:arm[T.mindfulness]"}


@pytest.fixture(scope="module")
def trial() -> pd.DataFrame:
    return io.load_trial("synthetic_therapists")


@pytest.fixture(scope="module")
def fits(trial):
    return {"three": mixed.growth(trial, "phq9_total", cluster="therapist"),
            "two": mixed.growth(trial, "phq9_total")}


def _fixed(ref: dict) -> pd.DataFrame:
    return pd.DataFrame({k: ref[k] for k in ("estimate", "se", "df")},
                        index=[LME4_NAMES[t] for t in ref["terms"]])


def test_partially_nested_growth_matches_lme4(fits):
    ref, fit = REFERENCE["three_level"], fits["three"]
    assert "(0 + in_therapist + in_therapist:time | therapist)" in fit.formula
    expected = _fixed(ref).loc[fit.fixed.index]
    for column, tol in (("estimate", 1e-4), ("se", 1e-3), ("df", 1e-2)):
        assert np.allclose(fit.fixed[column], expected[column], rtol=tol), column
    assert np.allclose(fit.varcorr["vcov"], ref["varcorr"]["vcov"], rtol=1e-3)
    assert list(fit.varcorr["var1"].fillna("")) == [LME4_NAMES.get(v, v) if v else "" for v in ref["varcorr"]["var1"]]
    assert fit.loglik >= ref["loglik"] - 1e-3
    assert fit.ngroups == {"participant_id": 300, "therapist": 21}  # 20 therapists and the waitlist's "(none)"
    assert fit.arms.startswith("arms: control (reference)")


def test_level_ignored_compares_the_arm_terms_with_the_two_level_model(fits):
    table = mixed.level_ignored(fits["three"], fits["two"])
    two = _fixed(REFERENCE["two_level"]).loc[table.index]
    assert list(table.index) == ["arm[T.cbt]", "arm[T.mindfulness]", "time:arm[T.cbt]", "time:arm[T.mindfulness]"]
    assert np.allclose(table["se_ignored"], two["se"], rtol=1e-3)
    assert np.allclose(table["se_ratio"], table["se"] / table["se_ignored"])
    assert (table["se_ratio"] > 1.2).all() and (table["df"] < table["df_ignored"] / 5).all()


def test_cluster_icc_is_the_therapist_share_of_the_variance(fits):
    fit = fits["three"]
    icc = mixed.cluster_icc(fit, "therapist", at=[0.0, 4.0])
    g = fit.re_cov["therapist"].to_numpy()
    p = fit.re_cov["participant_id"].to_numpy()
    z = np.array([1.0, 4.0])
    cluster, person = z @ g @ z, z @ p @ z
    assert np.isclose(icc.loc[4.0, "cluster_var"], cluster) and np.isclose(icc.loc[4.0, "participant_var"], person)
    assert np.isclose(icc.loc[4.0, "icc"], cluster / (cluster + person + fit.sigma2))
    assert np.isclose(icc.loc[0.0, "icc"], g[0, 0] / (g[0, 0] + p[0, 0] + fit.sigma2))
    assert list(mixed.cluster_icc(fit, "therapist").index) == [0.0, fit.data["time"].max()]
    with pytest.raises(ValueError, match="'site'"):
        mixed.cluster_icc(fit, "site")
    with pytest.raises(ValueError, match="therapist"):
        mixed.cluster_icc(fits["two"], "therapist")


def test_fully_nested_growth_is_the_lme4_formula(trial):
    nested = trial[trial["arm"] != "control"].copy()
    fit = mixed.growth(nested, "phq9_total", cluster="therapist", random_slope=False)
    by_hand = mixed.fit_lmm(nested.assign(arm=nested["arm"].cat.remove_unused_categories()),
                            "phq9_total ~ time * arm + (1 | participant_id) + (1 | therapist)")
    assert fit.formula == by_hand.formula
    pd.testing.assert_frame_equal(fit.fixed, by_hand.fixed)


def test_partial_nesting_refuses_stray_missing_clusters(trial):
    stray = trial.copy()
    stray["therapist"] = stray["therapist"].astype(object)
    stray.loc[stray["participant_id"] == stray.loc[stray["arm"] == "cbt", "participant_id"].iloc[0], "therapist"] = None
    with pytest.raises(io.DataValidationError, match="therapist.*only a whole arm may have none"):
        mixed.growth(stray, "phq9_total", cluster="therapist")
    with pytest.raises(io.DataValidationError, match="no participant has a therapist"):
        mixed.growth(trial.assign(therapist=None), "phq9_total", cluster="therapist")
    changed = trial.copy()
    changed.loc[changed.index[changed["arm"] == "cbt"][1], "therapist"] = "T99"
    with pytest.raises(io.DataValidationError, match="therapist"):
        mixed.growth(changed, "phq9_total", cluster="therapist")


def test_remission_is_the_binomial_glmm_of_scores_below_the_threshold(trial):
    fit = mixed.remission(trial, "phq9_total", 5)
    rows = trial.dropna(subset=["phq9_total"])
    by_hand = mixed.fit_glmm(rows.assign(remitted=(rows["phq9_total"] < 5).astype(int)),
                             "remitted ~ time * arm + (1 | participant_id)")
    pd.testing.assert_frame_equal(fit.fixed, by_hand.fixed)
    assert fit.nobs == len(rows) and fit.n_dropped == len(trial) - len(rows)
    assert fit.arms.startswith("arms: control (reference)")
    with pytest.raises(io.DataValidationError):
        mixed.remission(trial, "phq9_total", 100)  # every score below: a constant response
    nested = mixed.remission(trial, "phq9_total", 5, cluster="therapist")
    assert nested.formula == "remitted ~ time * arm + (1 | participant_id) + (0 + in_therapist | therapist)"
    assert nested.ngroups == {"participant_id": 300, "therapist": 21}


def test_model_table_takes_glmm_and_three_level_fits(trial, fits):
    table = mixed.model_table({"three": fits["three"], "remission": mixed.remission(trial, "phq9_total", 5)})
    assert table.loc["three", "random"] == ("(time | participant_id) + "
                                            "(0 + in_therapist + in_therapist:time | therapist)")
    assert table.loc["three", "groups"] == "participant_id, 300; therapist, 21"
    assert table.loc["remission", "random"] == "(1 | participant_id)"


def test_bundled_therapist_trial_is_partially_nested():
    data = datasets.load("synthetic_therapists")
    has = data["therapist"].notna().groupby(data["arm"]).mean()
    assert has.to_dict() == {"cbt": 1.0, "control": 0.0, "mindfulness": 1.0}
    assert data.groupby("arm")["therapist"].nunique().to_dict() == {"cbt": 10, "control": 0, "mindfulness": 10}
