"""Tests for analysis.simulate: the simulator's truth is recoverable by simple estimators.

Each recovery test simulates a large trial, fits a simple model and checks that the
estimate lies within 4 standard errors of the generating value. Where a simple
estimator would be biased by some part of the model (measurement error, person
effects, within-person dynamics, clipping at the scale ends), that part is turned
off or made negligible in the scenario, and a comment says why.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from analysis import io, scales, simulate

ROOT = Path(__file__).resolve().parents[1]
Z = 4.0  # tolerance in standard errors
NO_MEASUREMENT_ERROR = {key: 0.0 for key in simulate.SCALES}


@pytest.fixture(scope="module")
def default_trial():
    return simulate.trial(seed=11)


def _cluster_ols(formula: str, data: pd.DataFrame):
    """Pooled OLS with participant-clustered standard errors."""
    groups = pd.factorize(data["participant_id"])[0]
    return smf.ols(formula, data).fit(cov_type="cluster", cov_kwds={"groups": groups})


def _close(estimate: float, truth: float, se: float) -> None:
    assert abs(estimate - truth) < Z * se, f"estimate {estimate:.4f}, truth {truth:.4f}, SE {se:.4f}"


def _with_previous(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Add ``<column>_prev``: the participant's value at the previous wave."""
    previous = data[["participant_id", "wave", *columns]].copy()
    previous["wave"] += 1
    return data.merge(previous, on=["participant_id", "wave"], suffixes=("", "_prev"))


# --------------------------------------------------------------------------- recovery


def test_arm_effects_on_slopes_recovered_by_pooled_ols():
    # Pooled OLS of the observed total on time x arm is unbiased for the mean slopes:
    # person effects, within-person deviations, measurement error, MCAR dropout and
    # prorated item missingness all have mean zero given arm and time. Only clipping at
    # the scale ends biases it, so the symptom mean starts at 15 and the person
    # spread is reduced to keep totals well inside 0-27 and 10-40.
    data, truth = simulate.trial(
        n_per_arm=3000, symptom_intercept_mean=15.0, se_intercept_sd=2.0,
        symptom_intercept_sd=2.0, innovation_sd_se=1.5, innovation_sd_sym=1.5,
        measurement_error_sd=1.0, seed=101,
    )
    for total, key in (("gse_total", "se_slope_effect"), ("phq9_total", "symptom_slope_effect")):
        fit = _cluster_ols(f"{total} ~ time * C(arm)", data.dropna(subset=[total]))
        for arm in truth["arms"][1:]:
            name = f"time:C(arm)[T.{arm}]"
            _close(fit.params[name], truth[key][arm], fit.bse[name])
    fit = _cluster_ols("phq9_total ~ time * C(arm)", data.dropna(subset=["phq9_total"]))
    _close(fit.params["time"], truth["symptom_slope_reference"], fit.bse["time"])


def _person_slopes(data: pd.DataFrame, total: str) -> pd.Series:
    times = data.pivot(index="participant_id", columns="wave", values="time").iloc[0]
    wide = data.pivot(index="participant_id", columns="wave", values=total)
    centred = times - times.mean()
    return wide @ centred.to_numpy() / (centred**2).sum()


@pytest.fixture(scope="module")
def slope_trial():
    # Per-person OLS slopes are exact up to rounding when there is no within-person
    # variation: innovations, source effects and measurement error are off. Rounding
    # to integers adds error of variance 1/12 per score, which inflates the variance
    # of each person's slope by (1/12) / Sxx but leaves covariances alone; the
    # estimators below subtract it. Small intercept SDs (and a symptom mean of 16)
    # keep totals away from the clipping bounds. No dropout: complete trajectories.
    data, truth = simulate.trial(
        n_per_arm=3000, se_intercept_sd=1.0, symptom_intercept_sd=1.0,
        symptom_intercept_mean=16.0, innovation_sd_se=0.0, innovation_sd_sym=0.0,
        source_effects={}, measurement_error_sd=NO_MEASUREMENT_ERROR,
        item_missing_rate=0.0, dropout_rate=0.0, seed=202,
    )
    times = np.asarray(truth["times"])
    rounding = (1 / 12) / ((times - times.mean()) ** 2).sum()
    arms = data.groupby("participant_id")["arm"].first()
    slopes = pd.DataFrame(
        {"se": _person_slopes(data, "gse_total"), "sym": _person_slopes(data, "phq9_total"), "arm": arms}
    )
    return slopes, rounding, truth


def _within_arm(slopes: pd.DataFrame) -> pd.DataFrame:
    columns = ["se", "sym"]
    return slopes[columns] - slopes.groupby("arm", observed=True)[columns].transform("mean")


def test_slope_sds_and_correlation_recovered(slope_trial):
    slopes, rounding, truth = slope_trial
    centred = _within_arm(slopes)
    n = len(centred)
    cov = centred.T @ centred / (n - len(truth["arms"]))
    var_se, var_sym = cov.loc["se", "se"] - rounding, cov.loc["sym", "sym"] - rounding
    corr = cov.loc["se", "sym"] / np.sqrt(var_se * var_sym)
    _close(np.arctanh(corr), np.arctanh(truth["slope_corr"]), 1 / np.sqrt(n - 3))
    _close(np.sqrt(var_se), truth["se_slope_sd"], truth["se_slope_sd"] / np.sqrt(2 * n))
    _close(np.sqrt(var_sym), truth["symptom_slope_sd"], truth["symptom_slope_sd"] / np.sqrt(2 * n))


def test_b_path_and_indirect_effect_recovered(slope_trial):
    slopes, rounding, truth = slope_trial
    arm, reference = "cbt", truth["reference_arm"]
    # b: within-arm regression of the symptom slope on the SE slope, with the
    # rounding variance removed from the SE slope variance (errors-in-variables)
    centred = _within_arm(slopes)
    n = len(centred)
    var_se = (centred["se"] ** 2).sum() / n - rounding
    b = (centred["se"] * centred["sym"]).sum() / n / var_se
    residual = centred["sym"] - b * centred["se"]
    se_b = residual.std() / np.sqrt(n * var_se)
    _close(b, truth["b_path"], se_b)
    # a: arm difference in mean SE slopes
    groups = slopes.groupby("arm", observed=True)["se"]
    a = groups.mean()[arm] - groups.mean()[reference]
    se_a = np.sqrt((groups.var() / groups.size())[[arm, reference]].sum())
    _close(a, truth["se_slope_effect"][arm], se_a)
    se_ab = np.sqrt(b**2 * se_a**2 + a**2 * se_b**2)  # delta method
    _close(a * b, truth["indirect_effect"][arm], se_ab)
    assert truth["indirect_effect"][arm] + truth["direct_effect"][arm] == pytest.approx(
        truth["total_effect"][arm]
    )


def test_cross_lagged_effects_recovered():
    # With no random intercepts or slopes and no measurement error, the observed total
    # is the arm's mean trajectory plus the within-person deviation (rounded), so a
    # pooled OLS of each total on both lagged totals with arm-by-wave means recovers
    # the VAR(1) coefficients. Random intercepts would bias the autoregression upward
    # and measurement error would attenuate it. Larger innovations make the rounding
    # error in the lagged predictors negligible; a symptom mean of 16 and four waves
    # keep totals away from the clipping bounds.
    data, truth = simulate.trial(
        n_per_arm=3000, waves=5, se_intercept_sd=0.0, symptom_intercept_sd=0.0,
        se_slope_sd=0.0, symptom_slope_sd=0.0, slope_corr=0.0, symptom_intercept_mean=16.0,
        innovation_sd_se=3.0, innovation_sd_sym=3.0, measurement_error_sd=NO_MEASUREMENT_ERROR,
        item_missing_rate=0.0, dropout_rate=0.0, seed=303,
    )
    lagged = _with_previous(data, ["gse_total", "phq9_total"])
    predictors = "gse_total_prev + phq9_total_prev + C(arm):C(wave)"
    sym = _cluster_ols(f"phq9_total ~ {predictors}", lagged)
    se = _cluster_ols(f"gse_total ~ {predictors}", lagged)
    _close(sym.params["gse_total_prev"], truth["lag_se_to_sym"], sym.bse["gse_total_prev"])
    _close(sym.params["phq9_total_prev"], truth["ar_sym"], sym.bse["phq9_total_prev"])
    _close(se.params["phq9_total_prev"], truth["lag_sym_to_se"], se.bse["phq9_total_prev"])
    _close(se.params["gse_total_prev"], truth["ar_se"], se.bse["gse_total_prev"])


def test_source_effects_recovered():
    # A pooled regression of the GSE total on the four sources is unbiased only when
    # the sources vary within persons alone: with source_person_sd > 0 the stable
    # between-person part of a source, which has no effect on SE, would dilute the
    # slope. Person effects, dynamics and measurement error of SE are independent of
    # the current source deviations and stay on. A smaller SE intercept SD keeps
    # totals off the clipping bounds.
    data, truth = simulate.trial(n_per_arm=3000, source_person_sd=0.0, se_intercept_sd=2.0, seed=404)
    sources = " + ".join(f"src_{k}" for k in simulate.SOURCES)
    fit = _cluster_ols(f"gse_total ~ {sources} + C(arm) * time", data.dropna(subset=["gse_total"]))
    for k in simulate.SOURCES:
        _close(fit.params[f"src_{k}"], truth["source_effects_per_point"][k], fit.bse[f"src_{k}"])
        assert truth["source_effects_per_point"][k] * truth["source_wave_sd"] == pytest.approx(
            truth["source_effects"][k]
        )


def test_adherence_effect_recovered_by_binomial_glm():
    # Attendance depends on the observed integer GSE total at the previous wave; with
    # no item missingness gse_total is exactly that total, so a binomial GLM on it,
    # standardised by the baseline sample mean and SD, is the generating model.
    data, truth = simulate.trial(n_per_arm=3000, item_missing_rate=0.0, seed=505)
    baseline = data.loc[data["wave"] == 0, "gse_total"]
    rows = _with_previous(data, ["gse_total"]).dropna(subset=["sessions_offered"])
    z = (rows["gse_total_prev"] - baseline.mean()) / baseline.std(ddof=1)
    attended = rows["sessions_attended"]
    counts = np.column_stack([attended, rows["sessions_offered"] - attended])
    fit = sm.GLM(counts, sm.add_constant(z.to_numpy()), family=sm.families.Binomial()).fit()
    _close(fit.params[0], truth["adherence_intercept"], fit.bse[0])
    _close(fit.params[1], truth["adherence_se_effect"], fit.bse[1])


def test_implied_reliability_matches_observed_baseline_variance():
    # Var(observed) = Var(true) + error^2 + 1/12 (rounding) = error^2 / (1 - reliability)
    # + 1/12 within an arm. No item missingness (prorating would add variance); the
    # PHQ-9 mean sits mid-scale so that clipping at 0 and 27 barely shrinks the variance.
    data, truth = simulate.trial(
        n_per_arm=3000, symptom_intercept_mean=13.5, item_missing_rate=0.0, dropout_rate=0.0, seed=606
    )
    baseline = data[data["wave"] == 0]
    for key in ("gse", "phq9"):
        total = scales.INSTRUMENTS[key].total
        centred = baseline[total] - baseline.groupby("arm", observed=True)[total].transform("mean")
        n = len(centred)
        implied = truth["measurement_error_sd"][key] ** 2 / (1 - truth["reliability"][key][0]) + 1 / 12
        observed = (centred**2).sum() / (n - len(truth["arms"]))
        _close(observed, implied, implied * np.sqrt(2 / n))


@pytest.fixture(scope="module")
def complete_last_wave():
    data, _ = simulate.trial(n_per_arm=3000, dropout_rate=0.0, seed=707)
    return data.loc[data["wave"] == data["wave"].max(), "phq9_total"].dropna()


@pytest.mark.parametrize("mnar, direction", [(1.0, -1), (0.0, 0), (-1.0, 1)])
def test_mnar_dropout_biases_observed_last_wave_mean(complete_last_wave, mnar, direction):
    # Same seed as the complete data: the latent data and the people are identical,
    # only who is still observed at the last wave differs. Positive dropout_mnar means
    # people whose current (unobserved) symptoms are high leave, so the observed mean
    # is too low; negative, too high; zero (MCAR dropout here), unbiased. The SE is
    # that of a random subset's mean against the full mean.
    data, truth = simulate.trial(n_per_arm=3000, dropout_rate=0.1, dropout_mnar=mnar, seed=707)
    observed = data.loc[data["wave"] == data["wave"].max(), "phq9_total"].dropna()
    diff = observed.mean() - complete_last_wave.mean()
    se = complete_last_wave.std() * np.sqrt(1 / len(observed) - 1 / len(complete_last_wave))
    if direction == 0:
        assert abs(diff) < Z * se
    else:
        assert direction * diff > Z * se
    assert all(0 < share < 1 for share in truth["dropout_by_arm"].values())


def _between_cluster_variance(values: np.ndarray, cluster: np.ndarray, stratum: np.ndarray):
    """One-way ANOVA estimate of the between-cluster variance, clusters nested in strata.

    For a balanced design with ``n`` members per cluster, ``k`` clusters and ``s``
    strata, (MSB - MSW) / n is unbiased for the between-cluster variance (MSB from
    cluster means around their stratum mean, k - s df; MSW within clusters, N - k df).
    Its large-sample standard error under normality is
    sqrt(2 / n^2 * (MSB^2 / (k - s) + MSW^2 / (N - k))) (Searle, Casella & McCulloch
    1992, section 3.6). Returns (estimate, standard error, MSW).
    """
    frame = pd.DataFrame({"y": values, "cluster": cluster, "stratum": stratum})
    sizes = frame.groupby("cluster")["y"].size()
    assert sizes.nunique() == 1, "the estimator below assumes equal caseloads"
    n, k, total = sizes.iloc[0], sizes.size, len(frame)
    df_between = k - frame["stratum"].nunique()
    cluster_mean = frame.groupby("cluster")["y"].transform("mean")
    stratum_mean = frame.groupby("stratum")["y"].transform("mean")
    msw = ((frame["y"] - cluster_mean) ** 2).sum() / (total - k)
    msb = ((cluster_mean - stratum_mean) ** 2).sum() / df_between
    se = np.sqrt(2 / n**2 * (msb**2 / df_between + msw**2 / (total - k)))
    return (msb - msw) / n, se, msw


def test_therapist_variance_components_recovered_by_anova():
    # 600 therapists with 10 patients each. Baseline PHQ-9 totals: patients of one
    # therapist share v0, so the ANOVA between-therapist variance estimates tau0^2 and
    # the within-therapist mean square the rest of the ICC denominator, plus 1/12 for
    # rounding to integers. Per-person OLS symptom slopes share v1: within an arm their
    # between-therapist variance is tau1^2 (slope noise from within-person dynamics and
    # measurement error is independent across patients). No dropout or missing items:
    # complete trajectories; a symptom mean of 16 with small person intercept SD keeps
    # totals off the clipping bounds. Tolerance: Z standard errors (module docstring).
    data, truth = simulate.trial(
        n_per_arm=2000, therapists_per_arm=200, therapist_intercept_sd=2.0, therapist_slope_sd=0.15,
        symptom_intercept_mean=16.0, symptom_intercept_sd=2.0, dropout_rate=0.0, item_missing_rate=0.0,
        seed=303,
    )
    baseline = data[data["wave"] == 0]
    tau0, se, msw = _between_cluster_variance(
        baseline["phq9_total"].to_numpy(), baseline["therapist"].to_numpy(), baseline["arm"].to_numpy()
    )
    _close(tau0, truth["therapist_intercept_var"], se)
    within = truth["symptom_intercept_sd"] ** 2 + truth["innovation_sd_sym"] ** 2 + 2.0**2
    _close(msw, within + 1 / 12, msw * np.sqrt(2 / (len(baseline) - 600)))
    assert truth["therapist_icc_baseline"] == pytest.approx(4.0 / (4.0 + within))
    people = data.groupby("participant_id")[["therapist", "arm"]].first()
    slopes = _person_slopes(data, "phq9_total").reindex(people.index)
    tau1, se, _ = _between_cluster_variance(slopes.to_numpy(), people["therapist"].to_numpy(),
                                            people["arm"].to_numpy())
    _close(tau1, truth["therapist_slope_var"], se)


# --------------------------------------------------------------------------- structure


def test_same_seed_identical_and_different_seed_differs():
    first, truth_1 = simulate.trial(n_per_arm=40, seed=5)
    second, truth_2 = simulate.trial(n_per_arm=40, seed=5)
    pd.testing.assert_frame_equal(first, second)
    assert truth_1 == truth_2
    other, _ = simulate.trial(n_per_arm=40, seed=6)
    assert not first.equals(other)


def test_columns_dtypes_and_long_format(default_trial):
    data, truth = default_trial
    items = [c for key in simulate.SCALES for c in scales.INSTRUMENTS[key].items]
    assert list(data.columns[:4]) == ["participant_id", "wave", "time", "arm"]
    expected = {
        *items, "gse_total", "phq9_total", "gad7_total", "src_mastery", "src_vicarious",
        "src_persuasion", "src_physiological", "sessions_offered", "sessions_attended", "age", "sex",
    }
    assert set(data.columns[4:]) == expected
    assert all(data[c].dtype == "Int64" for c in items)
    assert data["arm"].cat.ordered and list(data["arm"].cat.categories) == truth["arms"]
    assert data["participant_id"].str.fullmatch(r"P\d{4}").all()
    assert data["participant_id"].nunique() == 3 * truth["n_per_arm"]
    assert data["wave"].dtype == np.int64 and data["age"].dtype == np.int64
    assert set(data["sex"]) == {"female", "male"}
    assert np.allclose(data["time"], data["wave"] * truth["weeks_per_wave"])
    # monotone dropout: each participant has waves 0..k, none after a gap
    waves = data.groupby("participant_id")["wave"].agg(["min", "max", "size"])
    assert (waves["min"] == 0).all() and (waves["size"] == waves["max"] + 1).all()
    retained = data.groupby(["arm", "wave"], observed=True).size()
    for arm, counts in truth["retained_by_wave"].items():
        assert retained[arm].tolist() == counts
    sources = data[[f"src_{k}" for k in simulate.SOURCES]]
    assert sources.min().min() >= 0 and sources.max().max() <= 10


def test_sessions_missing_where_none_offered(default_trial):
    data, truth = default_trial
    none = (data["arm"] == truth["reference_arm"]) | (data["wave"] == 0)
    assert data.loc[none, ["sessions_offered", "sessions_attended"]].isna().all().all()
    active = data.loc[~none]
    assert (active["sessions_offered"] == 2).all()
    assert active["sessions_attended"].between(0, active["sessions_offered"]).all()


def test_items_in_range_and_sum_to_totals(default_trial):
    data, _ = default_trial
    for key in simulate.SCALES:
        inst = scales.INSTRUMENTS[key]
        items = data[inst.items]
        assert ((items >= inst.item_min) & (items <= inst.item_max)).fillna(True).all().all()
        complete = items.notna().all(axis=1)
        sums = items[complete].sum(axis=1).astype(float)
        assert np.allclose(sums, data.loc[complete, inst.total])
        assert data[inst.total].dropna().between(inst.total_min, inst.total_max).all()
        assert 0 < (~complete).mean() < 0.3  # sporadic missing items are present
        # items differ and correlate positively across people
        corr = items[complete].astype(float).corr().to_numpy()
        assert corr[np.triu_indices(inst.n_items, 1)].min() > 0
        assert items.mean().std() > 0.05


def test_data_meet_the_trial_data_contract(default_trial):
    data, _ = default_trial
    assert len(io.validate(data)) == len(data)


def test_truth_is_plain_json_and_described(default_trial):
    _, truth = default_trial
    assert json.loads(json.dumps(truth)) == truth
    assert set(truth["descriptions"]) == set(truth) - {"descriptions"}
    assert all(isinstance(text, str) and text for text in truth["descriptions"].values())
    assert truth["b_path"] == pytest.approx(-0.5 * 0.25 / 0.2)
    assert truth["symptom_slope_by_arm"]["cbt"] == pytest.approx(-0.15 - 0.45)
    assert truth["anxiety_slope_by_arm"]["cbt"] == pytest.approx(0.75 * 21 / 27 * -0.6)
    assert all(0 < r < 1 for rel in truth["reliability"].values() for r in rel)


def test_missing_data_settings_leave_latent_data_alone():
    full, _ = simulate.trial(n_per_arm=30, dropout_rate=0.0, item_missing_rate=0.0, seed=9)
    thinned, _ = simulate.trial(n_per_arm=30, dropout_rate=0.2, dropout_mar=0.5, seed=9)
    merged = thinned.merge(full, on=["participant_id", "wave"], suffixes=("", "_full"))
    assert len(merged) == len(thinned) < len(full)
    shown = merged["gse_1"].notna()
    assert (merged.loc[shown, "gse_1"] == merged.loc[shown, "gse_1_full"]).all()
    assert (merged["src_mastery"] == merged["src_mastery_full"]).all()


def test_bundled_synthetic_trial_is_reproducible(tmp_path):
    spec = importlib.util.spec_from_file_location("make_synthetic", ROOT / "scripts" / "make_synthetic.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for name, settings in [("synthetic_trial", script.SETTINGS), ("synthetic_therapists", script.THERAPIST_SETTINGS),
                           ("synthetic_mnar", script.MNAR_SETTINGS)]:
        csv, truth = script.write(tmp_path, name, settings)
        assert csv.read_bytes() == (ROOT / "data" / f"{name}.csv").read_bytes()
        # The truth holds derived floats (e.g. item loadings) whose last digit follows the
        # NumPy build's summation order: equal to 1e-13, not byte for byte.
        _assert_close(json.loads(truth.read_text()), json.loads((ROOT / "data" / f"{name}_truth.json").read_text()))


def _assert_close(new, old, where="truth"):
    if isinstance(old, dict):
        assert list(new) == list(old), where
        for key in old:
            _assert_close(new[key], old[key], f"{where}.{key}")
    elif isinstance(old, list):
        assert len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old)):
            _assert_close(a, b, f"{where}[{i}]")
    elif isinstance(old, float):
        assert new == pytest.approx(old, rel=1e-13, abs=1e-15), where
    else:
        assert new == old, where


# --------------------------------------------------------------------------- therapists and groups


def test_no_therapist_level_by_default(default_trial):
    data, truth = default_trial
    assert not {"therapist", "group"} & set(data.columns)
    assert not [key for key in truth if key.startswith("therapist")]
    assert "nesting" not in truth and "cluster" not in truth


def test_therapists_share_each_arm_in_blocks_differing_by_at_most_one():
    data, truth = simulate.trial(n_per_arm=31, waves=3, therapists_per_arm=3, seed=4)
    assert list(data.columns[:5]) == ["participant_id", "wave", "time", "arm", "therapist"]
    people = data.groupby("participant_id")[["arm", "therapist"]].nunique()
    assert (people == 1).all().all()  # constant within participant, never missing
    first = data.groupby("participant_id")[["arm", "therapist"]].first()
    caseloads = first.groupby("therapist").agg(arm=("arm", "first"), patients=("arm", "size"),
                                               arms=("arm", "nunique"))
    assert list(caseloads.index) == [f"T0{k}" for k in range(1, 10)]
    assert (caseloads["arms"] == 1).all()
    assert caseloads.groupby("arm", observed=True)["patients"].apply(sorted).tolist() == [[10, 10, 11]] * 3
    recorded = {label: (t["arm"], t["patients"]) for label, t in truth["therapists"].items()}
    assert recorded == {label: (row.arm, row.patients) for label, row in caseloads.iterrows()}


def test_equal_caseloads_when_therapists_divide_the_arm():
    data, _ = simulate.trial(n_per_arm=40, waves=2, therapists_per_arm=8, dropout_rate=0.0, seed=4)
    patients = data.groupby("therapist")["participant_id"].nunique()
    assert len(patients) == 24 and (patients == 5).all()


def test_partial_nesting_leaves_the_reference_arm_without_groups():
    data, truth = simulate.trial(n_per_arm=30, waves=3, therapists_per_arm=3, nesting="partial",
                                 cluster="group", seed=4)
    assert "therapist" not in data.columns
    control = data["arm"] == truth["reference_arm"]
    assert data.loc[control, "group"].isna().all() and data.loc[~control, "group"].notna().all()
    assert sorted(data["group"].dropna().unique()) == [f"G0{k}" for k in range(1, 7)]
    assert {t["arm"] for t in truth["therapists"].values()} == {"cbt", "mindfulness"}
    assert truth["nesting"] == "partial" and truth["cluster"] == "group"
    assert len(io.validate(data)) == len(data)  # the contract keeps the missing groups


def test_therapist_effects_come_from_their_own_stream():
    # The therapist level draws from a child stream of the seed: without therapist
    # variance the data are those of the two-level trial plus the column, and with
    # it only the symptom side (PHQ-9, GAD-7 through its loading, dropout) changes.
    plain, _ = simulate.trial(n_per_arm=40, waves=3, dropout_rate=0.0, seed=8)
    silent, _ = simulate.trial(n_per_arm=40, waves=3, dropout_rate=0.0, therapists_per_arm=4,
                               therapist_intercept_sd=0.0, therapist_slope_sd=0.0, seed=8)
    pd.testing.assert_frame_equal(silent.drop(columns="therapist"), plain)
    varied, _ = simulate.trial(n_per_arm=40, waves=3, dropout_rate=0.0, therapists_per_arm=4,
                               therapist_intercept_sd=3.0, seed=8)
    symptoms = [inst.total for inst in (scales.INSTRUMENTS["phq9"], scales.INSTRUMENTS["gad7"])]
    symptoms += [*scales.INSTRUMENTS["phq9"].items, *scales.INSTRUMENTS["gad7"].items]
    same = plain.columns.drop(symptoms)
    pd.testing.assert_frame_equal(varied[same], plain[same])
    assert not varied["phq9_total"].equals(plain["phq9_total"])


def test_therapist_trial_is_deterministic_per_seed():
    kwargs = {"n_per_arm": 30, "waves": 3, "therapists_per_arm": 5}
    first, truth_1 = simulate.trial(**kwargs, seed=12)
    second, truth_2 = simulate.trial(**kwargs, seed=12)
    pd.testing.assert_frame_equal(first, second)
    assert truth_1 == truth_2
    _, other = simulate.trial(**kwargs, seed=13)
    assert other["therapists"]["T01"]["intercept"] != truth_1["therapists"]["T01"]["intercept"]


def test_therapist_truth_is_plain_json_and_described():
    _, truth = simulate.trial(n_per_arm=20, waves=3, therapists_per_arm=2, therapist_intercept_sd=2.0,
                              therapist_slope_sd=0.1, seed=3)
    assert json.loads(json.dumps(truth)) == truth
    assert set(truth["descriptions"]) == set(truth) - {"descriptions"}
    assert truth["therapist_intercept_var"] == pytest.approx(4.0)
    assert truth["therapist_slope_var"] == pytest.approx(0.01)
    assert truth["therapist_icc"] == pytest.approx(4.0 / (4.0 + 16.0))
    assert truth["therapist_icc_baseline"] == pytest.approx(4.0 / (4.0 + 16.0 + 4.0 + 4.0))
    _, plain = simulate.trial(n_per_arm=20, waves=3, seed=3)
    # the therapist effects are true-score variance: PHQ-9 reliability rises, GSE's does not
    assert all(a > b for a, b in zip(truth["reliability"]["phq9"], plain["reliability"]["phq9"]))
    assert truth["reliability"]["gse"] == plain["reliability"]["gse"]


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_per_arm": 1}, "n_per_arm"),
        ({"n_per_arm": 10.5}, "n_per_arm"),
        ({"waves": 1}, "waves"),
        ({"seed": -1}, "seed"),
        ({"weeks_per_wave": 0}, "weeks_per_wave"),
        ({"arms": ("control",)}, "arms"),
        ({"arms": ("a", "a")}, "arms"),
        ({"arms": "cbt"}, "arms"),
        ({"se_intercept_sd": -1}, "se_intercept_sd"),
        ({"slope_corr": 1.5}, "slope_corr"),
        ({"intercept_corr": float("nan")}, "intercept_corr"),
        ({"ar_se": None}, "ar_se"),
        ({"item_missing_rate": 1.0}, "item_missing_rate"),
        ({"dropout_rate": -0.1}, "dropout_rate"),
        ({"p_female": 2}, "p_female"),
        ({"source_wave_sd": 0}, "source_wave_sd"),
        ({"se_slope_effect": {"control": 0.1}}, "non-reference arm"),
        ({"symptom_slope_effect": {"yoga": -0.2}}, "symptom_slope_effect"),
        ({"se_slope_effect": {"cbt": "big"}}, "finite"),
        ({"source_effects": {"luck": 1.0}}, "source_effects"),
        ({"source_trends": {"yoga": {}}}, "source_trends"),
        ({"source_trends": {"cbt": {"luck": 0.1}}}, "source_trends"),
        ({"measurement_error_sd": {"gse": 1.0}}, "measurement_error_sd"),
        ({"measurement_error_sd": -1.0}, "measurement_error_sd"),
        ({"sessions_offered": -1}, "sessions_offered"),
        ({"sessions_offered": {"yoga": 2}}, "sessions_offered"),
        ({"se_slope_sd": 0.0}, "slope_corr must be 0"),
        ({"ar_se": 0.9, "ar_sym": 0.9, "lag_se_to_sym": 0.5, "lag_sym_to_se": 0.5}, "stationary"),
        ({"arms": ("waitlist", "cbt")}, "mindfulness"),
        ({"therapists_per_arm": -1}, "therapists_per_arm"),
        ({"therapists_per_arm": 2.5}, "therapists_per_arm"),
        ({"therapists_per_arm": 151}, "therapists_per_arm"),
        ({"therapists_per_arm": 5, "therapist_intercept_sd": -1.0}, "therapist_intercept_sd"),
        ({"therapists_per_arm": 5, "therapist_slope_sd": float("inf")}, "therapist_slope_sd"),
        ({"therapists_per_arm": 5, "nesting": "crossed"}, "nesting"),
        ({"therapists_per_arm": 5, "cluster": "site"}, "cluster"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate.trial(**kwargs)


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        simulate.trial(150)


def test_items_have_realistic_internal_consistency():
    """Published alphas: GSE-10 about 0.86, PHQ-9 0.89, GAD-7 0.92; the defaults land near them."""
    data, _ = simulate.trial(n_per_arm=300, seed=5)
    for key in ("gse", "phq9", "gad7"):
        alpha = scales.reliability_by_wave(data, key)["alpha"]
        assert alpha.between(0.78, 0.95).all(), (key, alpha.round(3).tolist())


# --------------------------------------------------------------------------- remission


REMISSION = {"arms": ("control", "cbt"), "se_slope_effect": {"cbt": 0.35}, "symptom_slope_effect": {"cbt": -0.45},
             "source_trends": {"cbt": simulate.DEFAULT_SOURCE_TRENDS["cbt"]},
             "waves": 3, "weeks_per_wave": 5.0, "dropout_rate": 0.0, "item_missing_rate": 0.0,
             "remission_threshold": 5.0, "remission_sd": 2.0}


def test_remission_is_opt_in_and_leaves_the_other_columns_alone():
    plain, plain_truth = simulate.trial(n_per_arm=40, dropout_rate=0.2, seed=5)
    data, truth = simulate.trial(n_per_arm=40, dropout_rate=0.2, remission_threshold=5.0, seed=5)
    assert "remission" not in plain and not [key for key in plain_truth if key.startswith("remission")]
    assert data.columns[-1] == "remission"
    pd.testing.assert_frame_equal(data.drop(columns="remission"), plain)
    assert {key: truth[key] for key in plain_truth if key != "descriptions"} == {
        key: value for key, value in plain_truth.items() if key != "descriptions"}
    # person level: constant within participant, missing exactly for those who dropped out
    per_person = data.groupby("participant_id")["remission"]
    assert (per_person.nunique(dropna=False) == 1).all()
    completed = data.groupby("participant_id")["wave"].max() == truth["waves"] - 1
    assert per_person.first().notna().eq(completed).all() and not completed.all()
    assert set(data["remission"].dropna()) == {0.0, 1.0}
    assert set(truth["descriptions"]) == set(truth) - {"descriptions"}


def test_remission_rate_and_natural_effects_match_brute_force_potential_outcomes():
    # Brute force through the generator itself: the same seed draws the same people,
    # allocation and remission thresholds, so a run with the SE-slope effect moved into
    # the direct effect gives each person's R(t, S(t')) for the other mediator arm.
    n = 15000
    factual, truth = simulate.trial(n_per_arm=n, **REMISSION, seed=31)
    b, effect = truth["b_path"], truth["remission_effects"]["cbt"]
    no_se_path = dict(REMISSION, se_slope_effect={"cbt": 0.0}, symptom_slope_effect={"cbt": -0.45 - b * 0.35})
    treated_control_se, _ = simulate.trial(n_per_arm=n, **no_se_path, seed=31)
    shifted = dict(REMISSION, symptom_slope_reference=-0.15 + b * 0.35)  # control arm given cbt's SE slope
    control_treated_se, _ = simulate.trial(n_per_arm=n, **shifted, seed=31)

    def person_level(data, arm):
        rows = data[(data["wave"] == 0) & (data["arm"] == arm)]
        return rows.set_index("participant_id")["remission"]

    r11, r10 = person_level(factual, "cbt"), person_level(treated_control_se, "cbt")
    r00, r01 = person_level(factual, "control"), person_level(control_treated_se, "control")
    for arm, observed in (("cbt", r11), ("control", r00)):
        p = truth["remission_by_arm"][arm]
        _close(observed.mean(), p, np.sqrt(p * (1 - p) / n))
    paired = {"acme_treated": r11 - r10, "acme_control": r01 - r00}
    for key, diff in paired.items():
        _close(diff.mean(), effect[key], diff.std(ddof=1) / np.sqrt(n))
    for key, (treated, control) in {"ade_control": (r10, r00), "ade_treated": (r11, r01), "total": (r11, r00)}.items():
        se = np.sqrt(treated.var(ddof=1) / n + control.var(ddof=1) / n)
        _close(treated.mean() - control.mean(), effect[key], se)
    assert effect["acme_treated"] + effect["ade_control"] == pytest.approx(effect["total"])
    assert effect["acme_treated"] > 0.05  # a real mediated path


@pytest.mark.parametrize("kwargs, message", [({"remission_threshold": "low"}, "remission_threshold"),
                                             ({"remission_threshold": float("nan")}, "remission_threshold"),
                                             ({"remission_threshold": 5.0, "remission_sd": -1.0}, "remission_sd")])
def test_invalid_remission_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simulate.trial(n_per_arm=5, **kwargs)


def test_package_keeps_the_module_names():
    from analysis.simulate import (AGE_RANGE, CLUSTER_ARGUMENTS, CLUSTERS, DEFAULT_MEASUREMENT_ERROR_SD,  # noqa: F401
                                   DEFAULT_SE_SLOPE_EFFECT, DEFAULT_SOURCE_EFFECTS, DEFAULT_SOURCE_TRENDS,
                                   DEFAULT_SYMPTOM_SLOPE_EFFECT, DESCRIPTIONS, NESTINGS, SCALES, SOURCE_RANGE,
                                   SOURCES, trial)
    assert simulate.trial is trial
    assert sorted(simulate.__all__) == sorted(["AGE_RANGE", "CLUSTER_ARGUMENTS", "CLUSTERS",
                                               "DEFAULT_MEASUREMENT_ERROR_SD", "DEFAULT_SE_SLOPE_EFFECT",
                                               "DEFAULT_SOURCE_EFFECTS", "DEFAULT_SOURCE_TRENDS",
                                               "DEFAULT_SYMPTOM_SLOPE_EFFECT", "DESCRIPTIONS", "NESTINGS", "SCALES",
                                               "SOURCE_RANGE", "SOURCES", "trial"])
