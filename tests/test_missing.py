"""analysis.missing: Rubin's rules against mice (tests/reference/mice_pool.R), chained equations within
Monte Carlo error of mice (tests/reference/mice_impute.R), MNAR sensitivity (tipping point, J2R) on
simulated trials, and the errors of bad input."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from analysis import io, missing, mixed, simulate
from analysis.missing.ancova import ancova_arrays

ROOT = Path(__file__).resolve().parents[1]
POOL = json.loads((ROOT / "tests" / "reference" / "mice_pool.json").read_text())
IMPUTE = json.loads((ROOT / "tests" / "reference" / "mice_impute.json").read_text())
TOL = 1e-10
# mice names -> ours
POOLED = {"qbar": "estimate", "ubar": "ubar", "b": "b", "t": "t", "df": "df", "r": "riv", "lambda": "lambda",
          "fmi": "fmi"}
TERMS = {"armcbt": "cbt - control", "armmindfulness": "mindfulness - control"}
TWO_ARMS = {"arms": ("control", "cbt"), "se_slope_effect": {"cbt": 0.35}, "symptom_slope_effect": {"cbt": -0.45},
            "source_trends": {}, "sessions_offered": {"cbt": 2}}


@pytest.fixture(scope="module")
def trial():
    return io.load_trial("synthetic_trial")


@pytest.fixture(scope="module")
def mnar():
    """Two arms, 4 waves, dropout driven by the unobserved current PHQ-9 (MNAR), monotone."""
    data, _ = simulate.trial(n_per_arm=120, waves=4, dropout_rate=0.12, dropout_mnar=1.5, item_missing_rate=0,
                             seed=11, **TWO_ARMS)
    return data


def pooled_ancova(imps, covariates=("age",)):
    """Pooled ANCOVA at the last visit from the imputations' wide arrays (what tipping_point computes)."""
    wide, values = imps.layout, imps.values
    estimate, variance, df = ancova_arrays(values[..., -1, 0], values[..., 0, 0], np.asarray(wide.group.codes),
                                           wide.design, len(wide.levels))
    labels = [f"{level} - {wide.levels[0]}" for level in wide.levels[1:]]
    return missing.pool(pd.DataFrame(estimate, columns=labels), variance, df)


# ------------------------------------------------------------------------------------------- pool


@pytest.mark.parametrize("case", sorted(POOL["scalar"]))
def test_pool_equals_mice_pool_scalar(case):
    ref = POOL["scalar"][case]
    dfcom = None if ref["dfcom"] == "Inf" else ref["dfcom"]
    result = missing.pool(ref["Q"], ref["U"], dfcom)
    for theirs, ours in POOLED.items():
        assert result[ours] == pytest.approx(ref[theirs], rel=TOL, abs=TOL), theirs
    assert result["se"] == pytest.approx(np.sqrt(ref["t"]), rel=TOL)


def test_pool_several_parameters_is_a_table_of_the_single_ones():
    q = pd.DataFrame({"a": [1.0, 1.3, 0.8], "b": [-2.0, -2.5, -1.9]})
    u = np.array([[0.1, 0.2], [0.12, 0.22], [0.11, 0.19]])
    table = missing.pool(q, u, dfcom=[40, 60])
    assert list(table.index) == ["a", "b"]
    for k, name in enumerate(table.index):
        single = missing.pool(q[name], u[:, k], dfcom=[40, 60][k])
        pd.testing.assert_series_equal(table.loc[name].rename(None), single, check_names=False)


def test_with_imputations_equals_mice_pool_of_lm_fits():
    ref = POOL["nhanes"]
    completed = pd.DataFrame(ref["completed"])
    tables = [group for _, group in completed.groupby(".imp")]
    result = missing.with_imputations(tables, lambda t: smf.ols("chl ~ age + bmi + hyp", t).fit())
    summary = pd.DataFrame(ref["summary"]).set_index("term").rename(index={"(Intercept)": "Intercept"})
    pooled = pd.DataFrame(ref["pooled"]).set_index("term").rename(index={"(Intercept)": "Intercept"})
    assert list(result.index) == list(summary.index)
    columns = {"estimate": "estimate", "std.error": "se", "statistic": "statistic", "df": "df", "p.value": "p",
               "conf.low": "ci_low", "conf.high": "ci_high"}
    for theirs, ours in columns.items():
        np.testing.assert_allclose(result[ours], summary[theirs], rtol=TOL, atol=TOL, err_msg=theirs)
    for column in ["ubar", "b", "t", "dfcom", "riv", "lambda", "fmi"]:
        np.testing.assert_allclose(result[column], pooled[column], rtol=TOL, atol=TOL, err_msg=column)
    assert (result["dfcom"] == 21).all()  # from the model: 25 rows - 4 coefficients


def test_with_imputations_takes_the_suite_results(trial):
    imps = missing.impute(trial, m=3, outcome="phq9_total", covariates=["age"], seed=2)
    by_tables = missing.with_imputations(imps, lambda t: missing.ancova(t, "phq9_total", covariates=["age"]))
    by_arrays = pooled_ancova(imps)
    np.testing.assert_allclose(by_tables[["estimate", "se", "df"]], by_arrays[["estimate", "se", "df"]], rtol=1e-9)
    series = missing.with_imputations(imps, lambda t: missing.ancova(t, "phq9_total").iloc[0][["estimate", "se"]])
    assert list(series.index) == ["cbt - control"] and np.isinf(series["dfcom"]).all()
    fits = [mixed.growth(table, "phq9_total") for table in imps.tables[:2]]
    growth = missing.with_imputations(fits, lambda fit: fit)  # an LmmResult: its Satterthwaite df are dfcom
    effect = growth.loc["time:arm[T.cbt]"]
    assert effect["estimate"] == pytest.approx(np.mean([f.fixed.loc["time:arm[T.cbt]", "estimate"] for f in fits]))
    assert effect["dfcom"] == pytest.approx(np.median([f.fixed.loc["time:arm[T.cbt]", "df"] for f in fits]))


# ------------------------------------------------------------------------------------------ impute


@pytest.mark.parametrize("method", ["pmm", "norm"])
def test_impute_pool_within_monte_carlo_error_of_mice(trial, method):
    """mice per arm with m = 200 against impute with m = 100 on the same wide layout and model.

    The pooled estimates differ only by Monte Carlo error if the algorithms agree: their difference has
    SD sqrt(b_mice / m_mice + b_ours / m_ours); allowed 4 SD. The between-imputation variances b (m - 1
    df each, so log b has SD about sqrt(2 / (m - 1))) must agree within 4 SD of log(b_ours / b_mice);
    the within-imputation variances within 5%.
    """
    m = 100
    imps = missing.impute(trial, m=m, outcome="phq9_total", auxiliary=["gse_total"], covariates=["age", "sex"],
                          method=method, seed=7)
    ours = pooled_ancova(imps)
    for term, label in TERMS.items():
        ref = IMPUTE[method]["pooled"][term]
        mc = np.sqrt(ref["b"] / ref["m"] + ours.loc[label, "b"] / m)
        assert abs(ours.loc[label, "estimate"] - ref["qbar"]) < 4 * mc, (term, ours.loc[label, "estimate"], ref)
        spread = np.sqrt(2 / (m - 1) + 2 / (ref["m"] - 1))
        assert abs(np.log(ours.loc[label, "b"] / ref["b"])) < 4 * spread, (term, ours.loc[label, "b"], ref["b"])
        assert ours.loc[label, "ubar"] == pytest.approx(ref["ubar"], rel=0.05)
        assert ours.loc[label, "dfcom"] == IMPUTE[method]["dfcom"]


def test_impute_tables_keep_the_data_and_fill_every_visit(trial):
    imps = missing.impute(trial, m=3, outcome="phq9_total", auxiliary=["gse_total"], covariates=["age", "sex"],
                          seed=1)
    assert (imps.m, imps.method, imps.seed) == (3, "pmm", 1)
    people, waves = trial["participant_id"].nunique(), trial["wave"].nunique()
    observed = trial.set_index(["participant_id", "wave"])["phq9_total"].dropna()
    for table in imps:
        assert list(table.columns) == list(trial.columns) and len(table) == people * waves
        assert table[["phq9_total", "gse_total", "arm", "age", "sex", "time"]].notna().all().all()
        kept = table.set_index(["participant_id", "wave"])["phq9_total"].loc[observed.index]
        np.testing.assert_array_equal(kept, observed)
        assert (table.groupby("participant_id")["arm"].nunique() == 1).all()
    assert imps.imputed["phq9_total"].sum() == people * waves - len(observed)
    # pmm imputes values observed in the same arm and wave
    table = imps[0]
    donors = trial.dropna(subset=["phq9_total"]).groupby(["arm", "wave"], observed=True)["phq9_total"].agg(set)
    filled = table[imps.imputed["phq9_total"]]
    assert all(value in donors[(arm, wave)] for arm, wave, value in filled[["arm", "wave", "phq9_total"]].to_numpy())


def test_impute_is_deterministic_with_the_seed(trial):
    first, again, other = (missing.impute(trial, m=2, outcome="phq9_total", covariates=["age"], seed=seed)
                           for seed in (5, 5, 6))
    for a, b in zip(first, again):
        pd.testing.assert_frame_equal(a, b)
    assert not first[0]["phq9_total"].equals(other[0]["phq9_total"])


# ------------------------------------------------------------------------------- MNAR sensitivity


def test_tipping_point_moves_the_effect_monotonically(mnar):
    result = missing.tipping_point(mnar, np.arange(0, 12.5, 1.0), outcome="phq9_total", covariates=["age"], m=10,
                                   seed=5)
    table = result.table[result.table["term"] == "cbt - control"]
    assert (np.diff(table["estimate"]) > 0).all()  # imputed treated dropouts worse: the benefit shrinks
    assert table["significant"].iloc[0] and not table["significant"].iloc[4]
    tip = result.tipping.loc["cbt - control"]
    assert tip["first_delta"] - 1 < result.tipping_delta < tip["first_delta"]
    inside = table["delta"] < result.tipping_delta
    assert table.loc[inside, "significant"].all() and not table.loc[~inside, "significant"].iloc[0]
    # every arm shifted: the arms' imputed shares differ little, so the effect moves far less
    both = missing.tipping_point(mnar, [0.0, 6.0], outcome="phq9_total", covariates=["age"], m=10, seed=5,
                                 shift="both").table
    moved = table.set_index("delta")["estimate"]
    assert abs(both["estimate"].diff().iloc[1]) < abs(moved[6.0] - moved[0.0]) / 2


def test_tipping_point_with_a_user_fit_equals_the_default(mnar):
    default = missing.tipping_point(mnar, [0.0, 3.0], outcome="phq9_total", covariates=["age"], m=3, seed=2)
    user = missing.tipping_point(mnar, [0.0, 3.0], outcome="phq9_total", covariates=["age"], m=3, seed=2,
                                 fit=lambda t: missing.ancova(t, "phq9_total", covariates=["age"]))
    np.testing.assert_allclose(user.table[["estimate", "se", "p"]], default.table[["estimate", "se", "p"]], rtol=1e-9)


def test_jump_to_reference_shrinks_the_arm_effect(mnar):
    estimates = {method: pooled_ancova(missing.reference_based(mnar, method, outcome="phq9_total",
                                                               covariates=["age"], m=10, seed=6))
                 for method in ("MAR", "J2R", "CIR")}
    mar, j2r, cir = (estimates[k].loc["cbt - control", "estimate"] for k in ("MAR", "J2R", "CIR"))
    assert mar < cir < j2r < 0  # toward zero: CIR keeps the increments gained, J2R loses them
    fcs = pooled_ancova(missing.impute(mnar, m=10, outcome="phq9_total", covariates=["age"], method="norm", seed=6))
    assert abs(mar - fcs.loc["cbt - control", "estimate"]) < 2 * fcs.loc["cbt - control", "se"]


def test_reference_based_handles_intermittent_missing_under_mar(trial):
    imps = missing.reference_based(trial, "J2R", outcome="phq9_total", m=2, seed=1, burnin=20, thin=2)
    assert imps.method == "J2R" and imps.settings["reference"] == "control"
    assert all(table["phq9_total"].notna().all() for table in imps)
    again = missing.reference_based(trial, "J2R", outcome="phq9_total", m=2, seed=1, burnin=20, thin=2)
    pd.testing.assert_frame_equal(imps[1], again[1])


# ------------------------------------------------------------------------------------- bad input


def test_m_below_two_is_refused(trial):
    with pytest.raises(ValueError, match="m must be a whole number >= 2"):
        missing.impute(trial, m=1, outcome="phq9_total")
    with pytest.raises(ValueError, match="m must be"):
        missing.reference_based(trial, m=1, outcome="phq9_total")
    with pytest.raises(ValueError, match="m must be"):
        missing.pool([1.0], [0.1])
    with pytest.raises(ValueError, match="m must be"):
        missing.with_imputations([trial], lambda t: None)


def test_a_visit_unobserved_in_one_arm_is_named(trial):
    data = trial.copy()
    data.loc[(data["arm"] == "cbt") & (data["wave"] == 3), "phq9_total"] = np.nan
    for call in (lambda: missing.impute(data, m=2, outcome="phq9_total"),
                 lambda: missing.reference_based(data, m=2, outcome="phq9_total")):
        with pytest.raises(io.DataValidationError, match=r"phq9_total: .*no observed value at wave 3 in arm 'cbt'"):
            call()


def test_non_monotone_pattern_is_refused_for_reference_based(mnar):
    data = mnar.copy()
    gap = (data["participant_id"] == "P0003") & (data["wave"] == 1)
    data.loc[gap, "phq9_total"] = np.nan
    with pytest.raises(io.DataValidationError, match=r"not monotone.*participant P0003: 'o\.oo'"):
        missing.reference_based(data, m=2, outcome="phq9_total", intermittent="error")


@pytest.mark.parametrize("call, message", [
    (lambda d: missing.impute(d, m=2, outcome="phq9_total", method="mean"), "unknown method 'mean'"),
    (lambda d: missing.reference_based(d, "LOCF", m=2, outcome="phq9_total"), "unknown method 'LOCF'"),
    (lambda d: missing.reference_based(d, m=2, outcome="phq9_total", intermittent="drop"), "unknown intermittent"),
    (lambda d: missing.tipping_point(d, [0, 1], outcome="phq9_total", shift="control"), "unknown shift"),
    (lambda d: missing.tipping_point(d, [], outcome="phq9_total"), "deltas must be"),
])
def test_unknown_choices_are_refused(mnar, call, message):
    with pytest.raises(ValueError, match=message):
        call(mnar)


def test_bad_columns_are_named(mnar):
    with pytest.raises(io.DataValidationError, match="phq9_totl: impute: column not in the data"):
        missing.impute(mnar, m=2, outcome="phq9_totl")
    data = mnar.copy()
    data.loc[data["participant_id"] == "P0002", "age"] = np.nan
    with pytest.raises(io.DataValidationError, match="age: missing values"):
        missing.impute(data, m=2, outcome="phq9_total", covariates=["age"])
    with pytest.raises(io.DataValidationError, match="reference arm 'waitlist' is not in the data"):
        missing.reference_based(mnar, m=2, outcome="phq9_total", reference="waitlist")


# --- who is missing: patterns, dropout hazard; the primary MMRM ---------------------------------

def test_patterns_count_participants_by_observed_visits(trial):
    table = missing.patterns(trial, "phq9_total")
    observed = trial.dropna(subset=["phq9_total"])
    complete = observed.groupby("participant_id")["wave"].nunique().eq(trial["wave"].nunique())
    assert table.loc["oooooo", "total"] == complete.sum()
    assert table["total"].sum() == trial["participant_id"].nunique()
    assert table.loc["oooo..", "monotone"] and not table.loc["ooo.oo", "monotone"]
    assert (table[["control", "cbt", "mindfulness"]].sum(axis=1) == table["total"]).all()


def test_dropout_hazard_is_the_logistic_model_of_leaving_after_a_visit(mnar):
    table = missing.dropout(mnar, "phq9_total", ["gse_total"])
    rows = mnar.dropna(subset=["phq9_total", "gse_total"])
    last = mnar.dropna(subset=["phq9_total"]).groupby("participant_id")["wave"].max()
    rows = rows[rows["wave"] < mnar["wave"].max()].assign(
        dropped=lambda d: (d["wave"] == d["participant_id"].map(last)).astype(int))
    by_hand = smf.logit("dropped ~ gse_total + phq9_total + C(arm, Treatment('control'))", rows).fit(disp=0)
    assert np.allclose(table["estimate"].to_numpy(), by_hand.params.to_numpy()[[0, 2, 3, 1]], rtol=1e-6)
    assert np.isclose(table.loc["phq9_total", "odds_ratio"], np.exp(by_hand.params["phq9_total"]))
    assert table.attrs["n_at_risk"] == len(rows) and table.attrs["n_dropped"] == rows["dropped"].sum()
    assert table.loc["phq9_total", "ci_low"] > 1  # MNAR on the current score shows through the observed one
    with pytest.raises(io.DataValidationError, match="nothing to model"):
        missing.dropout(mnar[mnar["participant_id"].isin(last[last == last.max()].index)], "phq9_total")


def test_primary_mmrm_adjusts_for_baseline_on_the_later_visits(trial):
    fit = mixed.primary(trial, "phq9_total", covariates=["age"])
    baseline = trial[trial["wave"] == 0].set_index("participant_id")["phq9_total"]
    later = trial[(trial["wave"] > 0)].assign(phq9_total_baseline=lambda d: d["participant_id"].map(baseline))
    later = later.dropna(subset=["phq9_total", "phq9_total_baseline"])
    by_hand = mixed.mmrm(later, "phq9_total ~ phq9_total_baseline + age + C(wave) * arm", "participant_id", "wave")
    pd.testing.assert_frame_equal(fit.fixed, by_hand.fixed)
    end = mixed.contrast(fit, "arm", at={"wave": 5})
    assert list(end.index) == ["cbt - control", "mindfulness - control"] and (end["estimate"] < 0).all()
