"""Tests for analysis.bayes: inputs, diagnostics, storage, and fits against trusted numbers.

Reference values: tests/reference/metafor_bayes_ref.R (metafor REML and the exact posterior of
the Bayesian meta-analysis by numerical integration), statsmodels OLS/GLM on the same data, and
the known truth of analysis.simulate. Fits that compile a model are marked slow.
"""

import json
from pathlib import Path

import arviz as az
import matplotlib
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

matplotlib.use("Agg")

from analysis import bayes, datasets, io, mediation, meta, report, simulate  # noqa: E402
from analysis.plots import bayes as bayes_plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "metafor_bayes_ref.json").read_text())


def small_trial(n_per_arm=4, seed=5):
    data, _ = simulate.trial(n_per_arm=n_per_arm, waves=3, seed=seed)
    return data


def fake_idata(seed=0, chains=4, draws=500, shift=None, diverging=0, energy=None, rho=0.0):
    """A posterior of one scalar ``mu`` (AR(1) draws with coefficient rho) and sample stats."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((chains, draws))
    mu = np.empty_like(noise)
    mu[:, 0] = noise[:, 0]
    for t in range(1, draws):
        mu[:, t] = rho * mu[:, t - 1] + np.sqrt(1 - rho**2) * noise[:, t]
    if shift is not None:
        mu += np.asarray(shift)[:, None]
    flags = np.zeros((chains, draws), dtype=bool)
    flags.flat[:diverging] = True
    energy = rng.standard_normal((chains, draws)) if energy is None else energy
    return az.from_dict(posterior={"mu": mu, "other": rng.standard_normal((chains, draws))},
                        sample_stats={"diverging": flags, "energy": energy})


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs, words", [
    ({"draws": 0}, "draws must be a whole number >= 1, got 0"),
    ({"chains": 1.5}, "chains must be a whole number >= 1"),
    ({"sampler": "stan"}, "sampler must be one of ['nutpie', 'pymc', 'numpyro'], got 'stan'"),
    ({"target_accept": 1.2}, "target_accept must lie strictly between 0 and 1, got 1.2"),
    ({"tau_prior": "uniform"}, "tau_prior must be one of ['half_cauchy', 'half_normal']"),
    ({"tau_scale": -1}, "tau_scale must be a positive finite number, got -1"),
])
def test_bad_settings_raise_a_value_error_naming_the_argument(kwargs, words):
    with pytest.raises(bayes.BayesInputError) as err:
        bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], **kwargs)
    assert words in str(err.value)


def test_numpyro_without_jax_names_the_missing_packages():
    with pytest.raises(bayes.SamplerUnavailableError) as err:
        bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], sampler="numpyro")
    assert "jax, numpyro" in str(err.value) and "sampler='nutpie'" in str(err.value)
    assert isinstance(err.value, ImportError) and isinstance(err.value, ValueError)


def test_meta_analysis_bad_variances_are_listed_with_positions_and_values():
    vi = list(REFERENCE["vi"])
    vi[2], vi[5] = 0.0, -0.1
    with pytest.raises(io.DataValidationError) as err:
        bayes.meta_analysis(REFERENCE["yi"], vi)
    assert "vi: must be positive finite numbers — 2 rows: row 3: 0, row 6: -0.1" in str(err.value)
    with pytest.raises(bayes.BayesInputError, match="same length, got 13 and 12"):
        bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"][:12])


def test_growth_input_problems_name_column_rows_and_values():
    data = small_trial()
    with pytest.raises(io.DataValidationError, match="gse_totl: bayes.bivariate_growth: column not in the data"):
        bayes.bivariate_growth(data, "gse_totl", "phq9_total")
    with pytest.raises(io.DataValidationError, match=r"income: bayes.bivariate_growth: column not in the data "
                                                     r"\(argument covariates\)"):
        bayes.bivariate_growth(data, "gse_total", "phq9_total", covariates=["income"])
    bad = data.astype({"phq9_total": object})
    bad.loc[3, "phq9_total"] = "n/a"
    with pytest.raises(io.DataValidationError) as err:
        bayes.bivariate_growth(bad, "gse_total", "phq9_total")
    assert "phq9_total: values are not numbers — 1 row: index 3: 'n/a'" in str(err.value)
    moved = data.astype({"arm": str})
    moved.loc[1, "arm"] = "other"
    with pytest.raises(io.DataValidationError, match=r"arm: must be constant within participant_id: 1 "
                                                     r"participant\(s\) are in several arms \(P0001\)"):
        bayes.bivariate_growth(moved, "gse_total", "phq9_total")
    spelled = data.astype({"arm": str})
    spelled.loc[spelled["participant_id"] == "P0001", "arm"] = "Mindfulness "
    with pytest.raises(io.DataValidationError, match="arm: one arm is spelled 2 ways"):
        bayes.bivariate_growth(spelled, "gse_total", "phq9_total")
    twice = pd.concat([data, data.iloc[[4]]])
    with pytest.raises(io.DataValidationError, match=r"participant_id, wave: appears more than once .* — 2 rows: "
                                                     r"index 4: 'P0002, 1', index 4: 'P0002, 1'"):
        bayes.bivariate_growth(twice, "gse_total", "phq9_total")
    untimed = data.copy()
    untimed.loc[2, "time"] = np.nan
    with pytest.raises(io.DataValidationError, match="time: missing where an outcome is observed — 1 row: index 2"):
        bayes.bivariate_growth(untimed, "gse_total", "phq9_total")
    with pytest.raises(io.DataValidationError, match=r"time: bayes.bivariate_growth: constant \(2\) in every "
                                                     "complete row"):
        bayes.bivariate_growth(data.assign(time=2.0), "gse_total", "phq9_total")
    with pytest.raises(io.DataValidationError, match=r"phq9_total: bayes.bivariate_growth: the outcome is constant "
                                                     r"\(3\)"):
        bayes.bivariate_growth(data.assign(phq9_total=3), "gse_total", "phq9_total")
    with pytest.raises(bayes.BayesInputError, match="parameterization must be one of"):
        bayes.bivariate_growth(data, "gse_total", "phq9_total", parameterization="centered")
    with pytest.raises(bayes.BayesInputError, match=r"priors: unknown name\(s\) \['lkj'\]"):
        bayes.bivariate_growth(data, "gse_total", "phq9_total", priors={"lkj": 2})


def test_adherence_and_mediation_input_problems():
    data = small_trial()
    over = data.copy()
    row = over.index[over["sessions_offered"] > 0][0]
    over.loc[row, "sessions_attended"] = 5
    with pytest.raises(io.DataValidationError, match=rf"sessions_attended exceeds sessions_offered — 1 row: "
                                                     rf"index {row}: '5(\.0)? > 2(\.0)?'"):
        bayes.adherence(over)
    renamed = over.rename(columns={"sessions_attended": "came", "sessions_offered": "booked"})
    with pytest.raises(io.DataValidationError, match=rf"came, booked: came exceeds booked — 1 row: index {row}: '5 > 2'"):
        bayes.adherence(renamed, attended="came", offered="booked")
    halves = data.copy()
    halves.loc[row, "sessions_attended"] = 1.5
    with pytest.raises(io.DataValidationError, match="sessions_attended: session counts must be whole numbers >= 0"):
        bayes.adherence(halves)
    twice = pd.concat([data, data.iloc[[4]]], ignore_index=True)
    with pytest.raises(io.DataValidationError, match="participant_id, wave: appears more than once .* — 2 rows"):
        bayes.adherence(twice)
    with pytest.raises(io.DataValidationError, match=r"site=A: bayes.adherence: constant \(1\) in every"):
        bayes.adherence(data.assign(site="A"), covariates=["site"])
    jobs = datasets.load("jobs")
    with pytest.raises(io.DataValidationError, match="jobseek: bayes.mediation: column not in the data"):
        bayes.mediation(jobs, "treat", "jobseek", "depress2")
    with pytest.raises(io.DataValidationError, match=r"treat: bayes.mediation: constant \(1\) in every complete "
                                                     "row, so it is aliased with the intercept"):
        bayes.mediation(jobs.assign(treat=1), "treat", "job_seek", "depress2")
    with pytest.raises(io.DataValidationError, match=r"double_age: bayes.mediation: collinear with other columns "
                                                     r"\(double_age = \+2\*age\)"):
        bayes.mediation(jobs.assign(double_age=2 * jobs["age"]), "treat", "job_seek", "depress2",
                        ["age", "double_age"])


# --------------------------------------------------------------------------- designs


def test_growth_design_keeps_participants_with_missing_waves_and_outcomes():
    data = small_trial(n_per_arm=5)
    data.loc[data.index[:3], "phq9_total"] = np.nan  # first participant: SE only at waves 0-2
    data.loc[data.index[5], ["gse_total", "phq9_total"]] = np.nan  # a row with neither outcome
    design = bayes._growth_design(data, "gse_total", "phq9_total")
    assert len(design.coords["participant"]) == data["participant_id"].nunique()
    d = design.data
    assert len(d["x_value"]) == data["gse_total"].notna().sum()
    assert len(d["y_value"]) == data["phq9_total"].notna().sum()
    both = data.dropna(subset=["phq9_total"])["gse_total"].notna().to_numpy()
    np.testing.assert_array_equal(d["y_has_x"], both.astype(float))
    x_rows = data.loc[data["gse_total"].notna()].reset_index(drop=True)
    y_rows = data.loc[data["phq9_total"].notna()]
    paired = x_rows.loc[d["y_x_position"][both], ["participant_id", "wave"]].to_numpy()
    np.testing.assert_array_equal(paired, y_rows.loc[both, ["participant_id", "wave"]].to_numpy())
    assert design.notes == ("1 rows with neither gse_total nor phq9_total observed were left out",)
    assert design.coords["arm"] == ["control", "cbt", "mindfulness"]


def recoded(data, codes):
    """The trial with its arms recoded (control, cbt, mindfulness -> codes)."""
    return data.assign(arm=data["arm"].astype(str).map(dict(zip(["control", "cbt", "mindfulness"], codes))))


@pytest.mark.parametrize("codes, arms", [
    ([0, 1, 2], ["0", "1", "2"]),
    ([1.0, 2.0, 3.0], ["1", "2", "3"]),
    ([False, True, True], ["0", "1"]),
    (["control", "cbt", "mindfulness"], ["control", "cbt", "mindfulness"]),
    (["tau", "b_cbt", "a_mind"], ["tau", "a_mind", "b_cbt"]),
])
def test_growth_reads_any_arm_coding_and_states_the_reference(codes, arms):
    data = small_trial()
    design = bayes._growth_design(recoded(data, codes), "gse_total", "phq9_total")
    assert design.coords["arm"] == arms and design.coords["treatment_arm"] == arms[1:]
    assert f"arms: {arms[0]} (reference), {', '.join(arms[1:])}" in design.description
    canonical = [c if isinstance(c, str) else str(int(c)) for c in codes]  # 1.0 and True read "1"
    label = dict(zip(["control", "cbt", "mindfulness"], canonical))
    person_arm = (data.groupby("participant_id", observed=True)["arm"].first().astype(str)
                  .reindex(design.coords["participant"]).map(label).to_numpy())
    expected = np.column_stack([person_arm == a for a in arms[1:]]).astype(float)
    np.testing.assert_array_equal(design.data["arm_matrix"], expected)
    reference = bayes._growth_design(data, "gse_total", "phq9_total")
    for name in ("x_value", "y_value", "x_person", "y_time"):
        np.testing.assert_array_equal(design.data[name], reference.data[name])


def test_growth_reads_nullable_dtypes_and_a_categorical_order():
    data = small_trial()
    nullable = data.astype({"arm": "string", "gse_total": "Float64", "phq9_total": "Float64", "time": "Float64",
                            "wave": "Int64"})
    design = bayes._growth_design(nullable, "gse_total", "phq9_total")
    reference = bayes._growth_design(data, "gse_total", "phq9_total")
    assert design.coords == reference.coords
    for name, values in reference.data.items():
        np.testing.assert_array_equal(design.data[name], values)
    ordered = data.assign(arm=data["arm"].cat.reorder_categories(["cbt", "mindfulness", "control"]))
    assert bayes._growth_design(ordered, "gse_total", "phq9_total").coords["arm"][0] == "control"
    numbered = recoded(data, [2, 1, 3]).astype({"arm": pd.CategoricalDtype([3, 2, 1])})
    assert bayes._growth_design(numbered, "gse_total", "phq9_total").coords["arm"] == ["3", "2", "1"]


@pytest.mark.parametrize("subset, arm, arms, line", [
    ("all", None, ["all"], "no arm column: one mean slope per outcome"),
    ("cbt", "arm", ["cbt"], "single arm (cbt): no arm effects"),
])
@pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")
def test_growth_without_arm_effects_registers_no_arm_data(subset, arm, arms, line):
    data = small_trial()
    data = data if subset == "all" else data[data["arm"] == subset]
    design = bayes._growth_design(data, "gse_total", "phq9_total", arm=arm)
    assert design.structure == (False, False, "centred_levels") and design.coords["arm"] == arms
    assert "treatment_arm" not in design.coords and "arm_matrix" not in design.data
    assert "arm_effect" not in design.reported and design.description.endswith(line)
    model = bayes.growth._growth_model(design)
    values = bayes.design._values(design, model)
    # nothing the structure does not use is registered or passed on (nutpie's with_data refuses those)
    assert "prior_effect_sd" not in values and set(values) == {v.name for v in model.data_vars}
    assert "prior_effect_sd" in bayes.design._values(design)


@pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")
def test_growth_covariates_without_arms_build_one_effect_per_participant():
    data = small_trial()
    single = data[data["arm"] == "cbt"]
    design = bayes._growth_design(single, "gse_total", "phq9_total", covariates=["age", "sex"])
    assert design.structure[:2] == (False, True) and design.coords["covariate"] == ["age", "sex=male"]
    model = bayes.growth._growth_model(design)  # the person effects' means: one row per participant
    assert model["level_x"].eval().shape == (single["participant_id"].nunique(),)


def test_growth_refuses_constant_or_collinear_covariates_by_name():
    data = small_trial().assign(site="clinic", constant=7.0)
    data["older"] = data["age"] + 10.0
    with pytest.raises(io.DataValidationError, match=r"constant: bayes.bivariate_growth: constant \(7\)"):
        bayes.bivariate_growth(data, "gse_total", "phq9_total", covariates=["age", "constant"])
    with pytest.raises(io.DataValidationError, match=r"site=clinic: bayes.bivariate_growth: constant \(1\)"):
        bayes.bivariate_growth(data, "gse_total", "phq9_total", covariates=["site"])
    with pytest.raises(io.DataValidationError, match=r"older: bayes.bivariate_growth: collinear with other "
                                                     r"columns \(older = \+10\*Intercept \+1\*age\)"):
        bayes.bivariate_growth(data, "gse_total", "phq9_total", covariates=["age", "older"])
    moving = data.assign(age=data["age"] + data["wave"])
    with pytest.raises(io.DataValidationError, match="age: varies within a participant"):
        bayes.bivariate_growth(moving, "gse_total", "phq9_total", covariates=["age"])


def test_growth_notes_arms_and_participants_left_out():
    data = small_trial(n_per_arm=5)
    data.loc[data["arm"] == "mindfulness", ["gse_total", "phq9_total"]] = np.nan
    data["age"] = data["age"].where(data["wave"] == 0).astype("Float64")  # asked at baseline only
    data.loc[data["participant_id"] == "P0002", "age"] = np.nan
    design = bayes._growth_design(data, "gse_total", "phq9_total", covariates=["age"])
    assert design.coords["arm"] == ["control", "cbt"]
    assert len(design.coords["participant"]) == 9 and "P0002" not in design.coords["participant"]
    empty = int(data[["gse_total", "phq9_total"]].isna().all(axis=1).sum())
    assert design.notes == (f"{empty} rows with neither gse_total nor phq9_total observed were left out",
                            "1 participants with missing covariates were left out",
                            ("arm 'mindfulness' has no participant with gse_total or phq9_total observed and "
                             "covariates; it is left out of the model"))


@pytest.mark.filterwarnings("ignore:PyTensor could not link to a BLAS")
def test_lkj_construction_gives_lkj_correlations():
    import pymc as pm

    with pm.Model():
        factor = bayes.growth._lkj_cholesky("c", 2.0, 4)
    draws = pm.draw(factor @ factor.T, draws=3000, random_seed=1)
    np.testing.assert_allclose(np.diagonal(draws, axis1=1, axis2=2), 1.0)
    assert np.all(np.linalg.eigvalsh(draws) > 0)
    # LKJ(eta) in dimension d: every correlation is 2 * Beta(eta - 1 + d/2, same) - 1, variance 1/7 here
    off = draws[:, np.tril_indices(4, -1)[0], np.tril_indices(4, -1)[1]]
    np.testing.assert_allclose(off.var(axis=0), 1 / 7, atol=0.015)


def test_prior_scaling_widens_scales_and_loosens_concentrations():
    wider = bayes.sensitivity._scaled_priors(bayes.GROWTH_PRIORS, 2.0)
    assert wider["mean_sd"] == 2.0 and wider["lkj_eta"] == 1.0 and wider["resid_eta"] == 1.0
    narrower = bayes.sensitivity._scaled_priors(bayes.GROWTH_PRIORS, 0.5)
    assert narrower["re_sd_scale"] == 0.5 and narrower["lkj_eta"] == 4.0


# --------------------------------------------------------------------------- diagnostics


def test_diagnostics_pass_a_clean_sample_and_name_each_problem():
    clean = bayes.diagnose(fake_idata(), ["mu"])
    assert clean.verdict == "converged" and clean.converged
    row = clean.table.loc["mu"]
    assert row["r_hat"] < 1.01 and row["ess_bulk"] > 1500 and set(["5%", "95%"]) <= set(clean.table)
    stuck = bayes.diagnose(fake_idata(shift=[0, 0, 0, 1.5]), ["mu"])
    assert "R-hat above 1.01: mu (" in stuck.verdict
    sticky = bayes.diagnose(fake_idata(rho=0.97), ["mu"])
    assert "bulk ESS below 400: mu (" in sticky.verdict and "tail ESS below 400" in sticky.verdict
    divergent = bayes.diagnose(fake_idata(diverging=3), ["mu"])
    assert divergent.divergences == 3 and "3 divergent transitions of 2000 draws" in divergent.verdict
    walk = np.cumsum(np.random.default_rng(1).standard_normal((4, 500)), axis=1)
    low_energy = bayes.diagnose(fake_idata(energy=walk), ["mu"])
    assert "energy BFMI below 0.3" in low_energy.verdict
    with pytest.raises(bayes.BayesInputError, match=r"var_names not in the posterior: \['tau'\]"):
        bayes.diagnose(fake_idata(), ["tau"])


# --------------------------------------------------------------------------- storage


def test_fingerprint_changes_with_data_priors_and_settings():
    design = bayes._growth_design(small_trial(), "gse_total", "phq9_total")
    settings = bayes.sampling._settings(100, 100, 2, 1, "nutpie", 0.8)
    base = bayes.fitting._fingerprint(design, settings)
    assert base == bayes.fitting._fingerprint(bayes._growth_design(small_trial(), "gse_total", "phq9_total"), settings)
    other_data = bayes._growth_design(small_trial(seed=6), "gse_total", "phq9_total")
    assert bayes.fitting._fingerprint(other_data, settings) != base
    assert bayes.fitting._fingerprint(design.with_priors(lkj_eta=1.0), settings) != base
    assert bayes.fitting._fingerprint(design, {**settings, "seed": 2}) != base


def test_fit_reuses_netcdf_draws_only_while_the_fingerprint_matches(tmp_path, monkeypatch):
    design = bayes._growth_design(small_trial(), "gse_total", "phq9_total")
    settings = bayes.sampling._settings(500, 100, 4, 1, "nutpie", 0.8)
    stored = fake_idata()
    stored.posterior = stored.posterior.rename({"mu": "slope_corr"})
    for name in design.reported:
        stored.posterior[name] = stored.posterior["slope_corr"]
    stored.posterior.attrs["fingerprint"] = bayes.fitting._fingerprint(design, settings)
    path = bayes.save(stored, tmp_path / "fit.nc")
    assert bayes.load(path).posterior.attrs["fingerprint"] == stored.posterior.attrs["fingerprint"]
    sampled = []
    monkeypatch.setattr(bayes.fitting, "sample", lambda design, **kw: sampled.append(kw) or stored.copy())
    result = bayes.fit(design, netcdf=path, **settings)
    assert result.reused and not sampled
    single = stored.posterior["slope_corr"].astype("float32").astype("float64")  # stored in single precision
    np.testing.assert_array_equal(result.idata.posterior["slope_corr"], single)
    assert result.idata.posterior["slope_corr"].dtype == np.float64
    assert "draws read from NetCDF" in result.summary()
    changed = bayes.fit(design.with_priors(lkj_eta=4.0), netcdf=path, **settings)
    assert not changed.reused and len(sampled) == 1
    assert bayes.load(path).posterior.attrs["fingerprint"] != stored.posterior.attrs["fingerprint"]
    # a fresh fit and its reuse give the same numbers to the last digit
    again = bayes.fit(design.with_priors(lkj_eta=4.0), netcdf=path, **settings)
    assert again.reused and len(sampled) == 1
    np.testing.assert_array_equal(again.idata.posterior["slope_corr"], changed.idata.posterior["slope_corr"])
    assert again.table().equals(changed.table())


# --------------------------------------------------------------------------- meta-analysis (slow)


@pytest.fixture(scope="module")
def bcg():
    return bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], draws=2000, tune=1000, chains=4, seed=3)


def close_to_exact(table, name, exact_mean, k=4.0):
    row = table.loc[name]
    return abs(row["mean"] - exact_mean) <= k * row["mcse_mean"] + 0.002


@pytest.mark.slow
def test_meta_analysis_matches_the_exact_posterior_and_sits_near_reml(bcg):
    exact, reml, table = REFERENCE["exact"]["default"], REFERENCE["reml"], bcg.table()
    assert bcg.verdict == "converged"
    assert close_to_exact(table, "mu", exact["mu_mean"]) and close_to_exact(table, "tau", exact["tau_mean"])
    assert table.loc["mu", "sd"] == pytest.approx(exact["mu_sd_post"], rel=0.08)
    assert table.loc["tau", "sd"] == pytest.approx(exact["tau_sd_post"], rel=0.08)
    studies = [f"theta[{k}]" for k in range(1, 14)]
    assert all(close_to_exact(table, s, m) for s, m in zip(studies, exact["theta_mean"]))
    assert close_to_exact(table, "theta_new", exact["theta_new_mean"])
    assert table.loc["theta_new", "sd"] == pytest.approx(exact["theta_new_sd"], rel=0.08)
    # near REML, pulled slightly towards the prior mean 0, wider than REML (tau uncertainty integrated)
    assert abs(table.loc["mu", "mean"] - reml["mu"]) < 0.05
    assert reml["mu"] < table.loc["mu", "mean"] < 0 and table.loc["mu", "sd"] > reml["se"]
    # shrinkage: each study moves from its estimate towards mu, close to metafor's BLUPs
    theta = table.loc[studies, "mean"].to_numpy()
    yi, mu = np.array(REFERENCE["yi"]), table.loc["mu", "mean"]
    assert np.all(np.abs(theta - mu) <= np.abs(yi - mu))
    assert np.max(np.abs(theta - reml["blup"])) < 0.04
    assert bcg.idata.posterior["theta"].coords["study"].values.tolist() == [str(k) for k in range(1, 14)]
    fig = bayes_plots.forest(bcg)
    assert len(fig.axes[0].get_yticklabels()) == 15


@pytest.mark.slow
def test_compare_rma_puts_95_percent_posterior_intervals_beside_reml(bcg):
    reml = REFERENCE["reml"]
    data = pd.DataFrame({"yi": REFERENCE["yi"], "vi": REFERENCE["vi"]})
    comparison = bayes.compare_rma(bcg, meta.rma("yi", "vi", data=data)).set_index("parameter")
    assert comparison.index.tolist() == ["mu", "tau", "theta_new"]
    assert comparison.loc["mu", "rma_estimate"] == pytest.approx(reml["mu"], rel=1e-6)
    assert comparison.loc["tau", "rma_estimate"] == pytest.approx(reml["tau"], rel=1e-6)
    assert comparison.loc["theta_new", ["rma_ci_low", "rma_ci_high"]].tolist() == pytest.approx(
        [reml["pi_lb"], reml["pi_ub"]], rel=1e-6)
    mu = bcg.draws("mu").values
    assert comparison.loc["mu", ["bayes_2.5%", "bayes_97.5%"]].tolist() == pytest.approx(
        np.quantile(mu, [0.025, 0.975]))
    # tau uncertainty integrated out: the credible interval of mu is wider than REML's Wald interval
    bayes_width = comparison["bayes_97.5%"] - comparison["bayes_2.5%"]
    assert bayes_width["mu"] > (comparison["rma_ci_high"] - comparison["rma_ci_low"])["mu"]
    assert (comparison["difference_sd"].abs() < 0.5).all(), comparison["difference_sd"]
    with pytest.raises(bayes.BayesInputError, match="without moderators"):
        bayes.compare_rma(bcg, meta.rma("yi", "vi", mods=np.arange(13.0), data=data))
    with pytest.raises(bayes.BayesInputError, match="needs a result of mediation"):
        bayes.compare_mediate(bcg, None)


@pytest.mark.slow
def test_priors_are_data_so_refits_reuse_the_compiled_model(bcg):
    narrow = bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], mu_sd=0.1, draws=2000, seed=3)
    assert narrow.idata.posterior.attrs["compile_seconds"] < 0.5  # no compilation
    exact = REFERENCE["exact"]["narrow_mu"]
    assert close_to_exact(narrow.table(), "mu", exact["mu_mean"])
    assert close_to_exact(narrow.table(), "tau", exact["tau_mean"], k=5)
    half_normal = bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], tau_prior="half_normal", draws=2000,
                                      seed=3)
    assert half_normal.idata.posterior.attrs["compile_seconds"] > 0.05  # new structure: compiled or read from disk
    assert close_to_exact(half_normal.table(), "tau", REFERENCE["exact"]["half_normal"]["tau_mean"])
    sensitivity = bayes.prior_sensitivity(bcg, var_names=["mu", "tau"])
    assert sensitivity["parameter"].tolist() == ["mu", "tau"] * 3
    mu = sensitivity[sensitivity["parameter"] == "mu"].set_index("prior")
    assert mu.loc["narrower", "mean"] > mu.loc["default", "mean"] > mu.loc["wider", "mean"]  # 0 pulls harder
    assert mu.loc["default", "shift"] == 0 and set(sensitivity.attrs["verdicts"]) == {"narrower", "default", "wider"}
    assert sensitivity.attrs["priors"]["wider"] == {"tau_scale": 1.0, "mu_sd": 2.0}
    assert len(bayes_plots.sensitivity(sensitivity).axes) == 2
    with pytest.raises(bayes.BayesInputError, match=r"var_names: \['z'\] are not reported variables"):
        bayes.prior_sensitivity(bcg, var_names=["z"])


@pytest.mark.slow
def test_pymc_sampler_fallback_and_posterior_predictive(bcg):
    fallback = bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], sampler="pymc", draws=500, tune=500,
                                   chains=2, seed=1)
    assert abs(fallback.table().loc["mu", "mean"] - REFERENCE["exact"]["default"]["mu_mean"]) < 0.05
    assert fallback.diagnostics.treedepth_hits == 0 and len(fallback.diagnostics.bfmi) == 2
    predictive = bayes.posterior_predictive(bcg, seed=1)
    assert predictive.posterior_predictive["y_obs"].shape == (4, 2000, 13)
    check = bayes.predictive_summary(bcg, predictive).set_index("statistic")
    assert check.loc["mean", "observed"] == pytest.approx(np.mean(REFERENCE["yi"]))
    assert 0.05 < check.loc["mean", "p"] < 0.95
    again = bayes.posterior_predictive(bcg, seed=1)
    np.testing.assert_array_equal(again.posterior_predictive["y_obs"], predictive.posterior_predictive["y_obs"])


@pytest.mark.slow
def test_nutpie_failure_falls_back_to_pymc_and_says_so(monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("No module named 'nutpie'")

    monkeypatch.setattr(bayes.sampling, "_sample_nutpie", missing)
    result = bayes.meta_analysis(REFERENCE["yi"], REFERENCE["vi"], draws=300, tune=300, chains=2, seed=1)
    assert result.warnings[0] == ("nutpie could not sample this model (ImportError: No module named 'nutpie'); "
                                  "PyMC's NUTS was used instead")
    assert "PyMC's NUTS was used instead" in result.summary()
    assert abs(result.table().loc["mu", "mean"] - REFERENCE["exact"]["default"]["mu_mean"]) < 0.1


# --------------------------------------------------------------------------- growth (slow)


@pytest.fixture(scope="module")
def recovery():
    """A trial the model describes exactly (no within-person dynamics), 450 participants."""
    data, truth = simulate.trial(n_per_arm=150, ar_se=0.0, ar_sym=0.0, lag_se_to_sym=0.0, lag_sym_to_se=0.0,
                                 seed=1)
    result = bayes.bivariate_growth(data, "gse_total", "phq9_total", draws=1000, tune=1000, chains=4, seed=1)
    return data, truth, result


def covered(table, label, value):
    return table.loc[label, "5%"] <= value <= table.loc[label, "95%"]


@pytest.mark.slow
def test_growth_recovers_slope_correlation_means_and_slopes(recovery):
    data, truth, result = recovery
    table, diagnostics = result.table(), result.diagnostics
    assert diagnostics.divergences == 0
    assert (table["r_hat"] <= bayes.RHAT_MAX).all() and (table["ess_bulk"] >= bayes.ESS_MIN).all()
    assert result.verdict == "converged", result.verdict
    x, y = "gse_total", "phq9_total"
    assert covered(table, "slope_corr", truth["slope_corr"])
    assert covered(table, f"intercept_mean[{x}]", truth["se_intercept_mean"])
    assert covered(table, f"intercept_mean[{y}]", truth["symptom_intercept_mean"])
    for arm in truth["arms"]:
        assert covered(table, f"slope_mean[{arm}, {x}]", truth["se_slope_by_arm"][arm])
        assert covered(table, f"slope_mean[{arm}, {y}]", truth["symptom_slope_by_arm"][arm])
    for arm in truth["arms"][1:]:
        assert covered(table, f"arm_effect[{arm}, {x}]", truth["se_slope_effect"][arm])
        assert covered(table, f"arm_effect[{arm}, {y}]", truth["total_effect"][arm])
    assert result.probability("slope_corr", below=0) > 0.9
    fig = bayes_plots.posterior(result, "slope_corr")
    assert "P(< 0)" in fig.axes[0].get_title()


@pytest.mark.slow
def test_growth_agrees_with_separate_lme4_style_fits(recovery):
    comparison = bayes.compare_lmm(recovery[2]).set_index("parameter")
    assert len(comparison) == 2 * 7 and comparison.attrs["warnings"] == []
    # same fixed effects and random-effect structure per outcome: posteriors sit on the REML estimates
    assert (comparison["difference_sd"].abs() < 0.6).all(), comparison["difference_sd"]


@pytest.mark.slow
def test_growth_trajectories_and_predictive_checks(recovery):
    data, _, result = recovery
    paths = bayes.trajectories(result)
    assert len(paths) == 2 * 3 * 6 and paths["95%"].gt(paths["5%"]).all()
    baseline = paths[(paths["time"] == 0) & (paths["outcome"] == "gse_total")]["mean"]
    assert baseline.nunique() == 1  # randomised arms share the baseline mean
    predictive = bayes.posterior_predictive(result, seed=2)
    check = bayes.predictive_summary(result, predictive, by=["outcome", "arm", "time"])
    means = check[check["statistic"] == "mean"]
    assert len(means) == 2 * 3 * 6 and not means["extreme"].any()
    observed = data.groupby(["arm", "time"], observed=True)["gse_total"].mean()
    x_means = means[means["variable"] == "x_obs"].set_index(["arm", "time"])["observed"]
    np.testing.assert_allclose(x_means.to_numpy(), observed.to_numpy())
    assert len(bayes_plots.predictive_check(check).axes) == 2
    fig = bayes_plots.trajectories(paths, check)
    assert [ax.get_title() for ax in fig.axes] == ["gse_total", "phq9_total"] and len(fig.axes[0].lines) == 6
    prior = bayes.prior_predictive(result, draws=100, seed=1)
    assert prior.prior_predictive["y_obs"].shape[-1] == data["phq9_total"].notna().sum()


@pytest.mark.slow
def test_growth_refit_on_new_data_reuses_the_compiled_model_with_new_labels(recovery):
    data, _, _ = recovery
    other, _ = simulate.trial(n_per_arm=150, seed=2)
    other["participant_id"] = "Q" + other["participant_id"]
    refit = bayes.bivariate_growth(other, "gse_total", "phq9_total", draws=100, tune=100, chains=2, seed=1)
    assert refit.idata.posterior.attrs["compile_seconds"] < 0.5
    labels = refit.idata.posterior["z_slope_x"].coords["participant"].values
    assert labels[0].startswith("Q") and list(labels) == sorted(other["participant_id"].unique())
    assert "bulk ESS below 400" in refit.verdict  # 200 draws: the verdict says so


TINY = {"draws": 30, "tune": 30, "chains": 1, "seed": 1}  # the fit works; convergence is not checked


def own_export_trial():
    """The trial of tests/own_data.py's exports: its model is the one notebook 03 compiles for the wide export."""
    import own_data

    return own_data.trial()


@pytest.mark.slow
@pytest.mark.parametrize("trial, arm, codes, covariates, arms", [
    # Each distinct structure and size costs a numba compile of a minute or more, so the cases reuse models
    # compiled elsewhere: the single arm with covariates (the structure that broke it) and no arm column
    # with the same covariates are one model; arms coded 0/1 use the own-data export's trial (80 people, two
    # arms), whose model test_own_data's run of notebook 03 compiles too (analysis.bayes.compiled's lock
    # lets whichever comes second read it).
    (small_trial, "arm", ["cbt"] * 3, ["age", "sex"], ["cbt"]),
    (small_trial, None, None, ["age", "sex"], ["all"]),
    (own_export_trial, "arm", [0, 1], None, ["0", "1"]),
])
def test_growth_fits_with_coded_arms_without_arms_and_on_a_single_arm(trial, arm, codes, covariates, arms):
    data = recoded(trial(), codes) if codes else trial()
    result = bayes.bivariate_growth(data, "gse_total", "phq9_total", covariates=covariates, arm=arm, **TINY)
    posterior = result.idata.posterior
    assert posterior["slope_mean"].coords["arm"].values.tolist() == arms
    assert posterior["slope_mean"].shape == (1, 30, len(arms), 2)
    assert ("arm_effect" in posterior) == (len(arms) > 1)
    if len(arms) > 1:
        assert posterior["arm_effect"].coords["treatment_arm"].values.tolist() == arms[1:]
        assert "arms: 0 (reference), 1" in result.summary()
    if covariates:
        assert posterior["covariate_effect"].coords["covariate"].values.tolist() == ["age", "sex=male"]
    if arm is not None and covariates:
        assert "single arm (cbt): no arm effects" in result.summary()
    waves = data["wave"].nunique()
    assert np.isfinite(result.table()["mean"]).all() and len(bayes.trajectories(result)) == 2 * len(arms) * waves


# --------------------------------------------------------------------------- adherence and mediation (slow)


@pytest.mark.slow
def test_adherence_recovers_the_simulated_se_effect_and_matches_a_glm():
    trial, truth = io.load_trial("synthetic_trial"), datasets.load_truth()
    result = bayes.adherence(trial, draws=1000, tune=1000, chains=2, seed=2)
    table = result.table()
    assert covered(table, "intercept", truth["adherence_intercept"])
    assert covered(table, "se_effect", truth["adherence_se_effect"])
    assert (table.loc[["intercept", "se_effect"], "r_hat"] <= 1.01).all()
    rows = result.design.frame
    z = result.design.data["predictor"]
    attended, offered = rows["sessions_attended"], rows["sessions_offered"]
    glm = sm.GLM(np.column_stack([attended, offered - attended]),
                 sm.add_constant(z), family=sm.families.Binomial()).fit()
    assert table.loc["se_effect", "mean"] == pytest.approx(glm.params[1], abs=0.03)
    assert table.loc["intercept", "mean"] == pytest.approx(glm.params[0], abs=0.06)


@pytest.mark.slow
def test_mediation_matches_ols_on_the_jobs_data():
    jobs = datasets.load("jobs")
    covariates = ["econ_hard", "sex", "age"]
    result = bayes.mediation(jobs, "treat", "job_seek", "depress2", covariates, draws=1000, chains=2, seed=2)
    rhs = " + ".join(covariates)
    a = smf.ols(f"job_seek ~ treat + {rhs}", jobs).fit()
    b = smf.ols(f"depress2 ~ treat + job_seek + {rhs}", jobs).fit()
    table = result.table()
    for name, estimate, se in (("a_path", a.params["treat"], a.bse["treat"]),
                               ("b_path", b.params["job_seek"], b.bse["job_seek"]),
                               ("ade", b.params["treat"], b.bse["treat"])):
        assert abs(table.loc[name, "mean"] - estimate) < 0.1 * se, name
        assert table.loc[name, "sd"] == pytest.approx(se, rel=0.1), name
    assert table.loc["acme", "mean"] == pytest.approx(a.params["treat"] * b.params["job_seek"], abs=0.002)
    effects = result.idata.posterior["covariate_effect"].sel(equation="outcome").mean(("chain", "draw"))
    np.testing.assert_allclose(effects.values, b.params[covariates].to_numpy(), atol=0.1 * b.bse[covariates].max())
    boot = mediation.mediate(jobs, "treat", "job_seek", "depress2", covariates, n_boot=300, seed=2,
                             ci="percentile")
    comparison = bayes.compare_mediate(result, boot).set_index("parameter")
    assert comparison.index.tolist() == ["acme", "ade", "total_effect", "prop_mediated"]
    assert comparison.loc["acme", "boot_estimate"] == pytest.approx(boot.table.loc["ACME", "estimate"])
    assert comparison.loc["acme", "bayes_mean"] == pytest.approx(table.loc["acme", "mean"])
    assert (comparison.loc[["acme", "ade", "total_effect"], "difference_sd"].abs() < 0.2).all()


# --------------------------------------------------------------------------- notebook (slow)


@pytest.mark.slow
def test_bayesian_growth_notebook_runs_in_quick_mode(tmp_path):
    run = report.run_notebook("03_bayesian_growth", {"quick": True, "seed": 1}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "03_bayesian_growth.html").read_text()
    assert "Traceback" not in html
    assert "slope_corr" in html and "Verdict" in html and "P(slope_corr" in html
    assert (tmp_path / "work" / "03_bayesian_growth" / "03_bayesian_growth_gse_total_phq9_total.nc").is_file()
