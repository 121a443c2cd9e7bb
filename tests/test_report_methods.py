"""Methods paragraphs of every report family (analysis.report.methods): each states the facts its results
record and changes when they change; every citation in a paragraph has its reference, in APA style."""

import dataclasses
import re
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from analysis import datasets, meta, mediation, missing, mixed, panel, power, scales, sem, simulate
from analysis.bayes import BayesResult
from analysis.bayes.design import Design
from analysis.bayes.diagnostics import diagnose
from analysis.report import methods, paper
from analysis.sem import data as sem_data

REF = Path(__file__).parent / "reference"


def citations(text: str) -> list[str]:
    """Every ``Author, year`` citation inside parentheses of ``text``."""
    found = []
    for group in re.findall(r"\(([^()]*)\)", text):
        found += [part.strip() for part in group.split(";") if re.search(r"\D, \d{4}$", part.strip())]
    return found


def check_citations(written: methods.MethodsText) -> None:
    """Each citation is a key of REFERENCES and its reference is listed; nothing listed is uncited."""
    keys = citations(written.text)
    assert keys, "no citation in the paragraph"
    unknown = sorted(set(keys) - set(methods.REFERENCES))
    assert not unknown, f"cited without a reference: {unknown}"
    assert set(written.references) == {methods.REFERENCES[key] for key in keys}


# ---------------------------------------------------------------- the package and its references

def test_every_former_name_imports_from_the_methods_package():
    from analysis.report.methods import (DF_METHODS, LIBRARY_CITATIONS, REFERENCES, MethodsText, cited,  # noqa: F401
                                         combine, mixed_models, software)

    assert DF_METHODS["satterthwaite"].startswith("Satterthwaite's approximation")
    for path in Path(methods.__file__).parent.glob("*.py"):
        assert len(path.read_text().splitlines()) < 400, path.name


def test_references_are_apa_entries_matching_their_keys_with_wellformed_dois():
    for key, reference in methods.REFERENCES.items():
        author, year = re.fullmatch(r"(.+?), (\d{4})", key).groups()
        first = re.split(r",| et al\.| &", author)[0].strip()
        assert reference.startswith(first), (key, reference)
        assert f"({year})." in reference, key
        doi = re.findall(r"https://doi\.org/\S+", reference)
        assert all(re.fullmatch(r"https://doi\.org/10\.\d{4,5}/\S+[^.]", d) for d in doi), reference
        assert reference.rstrip().endswith((".", doi[0] if doi else ".")), reference


def test_citations_are_found_in_the_text():
    assert citations("fitted by REML (REML; Viechtbauer, 2005), see (Egger et al., 1997; Rosenthal, 1979) "
                     "and (seed 2024)") == ["Viechtbauer, 2005", "Egger et al., 1997", "Rosenthal, 1979"]


# ---------------------------------------------------------------- fitted results, small

@pytest.fixture(scope="module")
def trial():
    data, _ = simulate.trial(n_per_arm=30, seed=3)
    return data


@pytest.fixture(scope="module")
def panels(trial):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"RI-CLPM": panel.riclpm(trial, "gse_total", "phq9_total"),
                "CLPM": panel.clpm(trial, "gse_total", "phq9_total")}


@pytest.fixture(scope="module")
def meta_fits():
    effects = meta.effect_sizes(datasets.load("se_symptom_meta"), "ZCOR", ri="ri", ni="ni")
    fit = meta.rma("yi", "vi", data=effects, method="REML", test="knha", slab="study")
    regression = meta.rma("yi", "vi", mods="~ disorder + therapy", data=effects, method="REML", test="knha")
    bias = [fit.egger(), fit.trimfill(), fit.selmodel(type="stepfun", steps=(0.025, 1), alternative="less"),
            meta.pet_peese(fit), meta.ranktest(fit), meta.fsn(fit.yi, fit.vi)]
    three = pd.read_csv(REF / "dat_konstantopoulos2011.csv")
    multilevel = meta.rma_mv("yi", "vi", data=three, random="~ 1 | district/school")
    robust = meta.robust(multilevel, cluster=three["district"], clubsandwich=True)
    return fit, regression, bias, multilevel, robust


def bayes_result(sampler="nutpie", draws=200, chains=2, diverging=0, tau_prior="half_cauchy"):
    """A Bayesian random-effects result built from independent normal draws (no sampling)."""
    rng = np.random.default_rng(1)
    flags = np.zeros((chains, draws), dtype=bool)
    flags.flat[:diverging] = True
    idata = az.from_dict(posterior={"mu": rng.normal(0.2, 0.05, (chains, draws)),
                                    "tau": np.abs(rng.normal(0.1, 0.02, (chains, draws)))},
                         sample_stats={"diverging": flags, "energy": rng.standard_normal((chains, draws))})
    table = pd.DataFrame({"study": ["a", "b"], "observed": [0.1, 0.3], "vi": [0.01, 0.02]})
    design = Design(model="meta_analysis", data={}, priors={"tau_scale": 0.5, "mu_sd": 1.0}, coords={},
                    structure=(tau_prior,), reported=("mu", "tau"), observed={"y_obs": table}, frame=table,
                    description=f"2 studies, tau ~ {tau_prior}(0.5), mu ~ N(0, 1^2)")
    settings = {"draws": draws, "tune": 300, "chains": chains, "seed": 11, "sampler": sampler, "target_accept": 0.9}
    return BayesResult("meta_analysis", idata, diagnose(idata, ["mu", "tau"]), design, settings)


# ---------------------------------------------------------------- one test per family

def test_bayesian_paragraph_states_sampler_settings_and_diagnostics():
    fit = bayes_result()
    written = methods.bayesian_models({"meta": fit})
    text = written.text
    d = fit.diagnostics
    assert "nutpie's implementation" in text and "2 chains of 200 draws after 300 warm-up steps" in text
    assert "target acceptance 0.9, seed 11" in text and "0 divergent transitions" in text
    assert f"largest R-hat {d.table['r_hat'].max():.3f}" in text and f"verdict {d.verdict}" in text
    assert "tau_scale = 0.5" in text and "half-cauchy prior (Gelman, 2006)" in text and "brms" in text
    check_citations(written)
    other = methods.bayesian_models({"meta": bayes_result("pymc", draws=300, chains=3, diverging=2,
                                                         tau_prior="half_normal")}).text
    assert "PyMC's implementation" in other and "3 chains of 300 draws" in other
    assert "2 divergent transitions" in other and "Gelman, 2006" not in other
    sensitivity = pd.DataFrame({"prior": ["narrower", "default", "wider"], "parameter": "mu", "mean": 0.2})
    sensitivity.attrs["verdicts"] = {"narrower": "converged", "default": "converged",
                                     "wider": "R-hat above 1.01: mu (1.02); bulk ESS below 400: mu (300)"}
    text = methods.bayesian_models({"meta": fit}, sensitivity, predictive_checks=True).text
    assert "priors narrower, default and wider" in text and "wider: 2 convergence problems" in text
    assert "posterior predictive checks" in text and "Gabry et al., 2019" in text
    with pytest.raises(ValueError, match=r"not Bayesian result.*\['x'\]"):
        methods.bayesian_models({"x": object()})


def test_cross_lagged_paragraph_states_estimator_fiml_and_fit(panels):
    written = methods.cross_lagged(panels)
    ri = panels["RI-CLPM"]
    text = written.text
    assert "maximum likelihood (ML)" in text and "FIML" in text and f"{ri.nobs:,} people" in text
    assert f"chi-square({ri.fit['df']:.0f}) = {ri.fit['chisq']:.2f}" in text and f"CFI {ri.fit['cfi']:.3f}" in text
    assert "Hamaker et al., 2015" in text and 'estimator = "ML"' in text
    check_citations(written)
    robust = dataclasses.replace(ri, estimator="MLR", fit=pd.concat([ri.fit, pd.Series({"chisq_scaled": 12.5})]))
    text = methods.cross_lagged({"RI-CLPM": robust}).text
    assert "Yuan–Bentler scaled chi-square (MLR" in text and "scaled 12.50" in text and 'estimator = "MLR"' in text


def test_meta_paragraph_states_estimator_test_robust_and_bias_analyses(meta_fits):
    fit, regression, bias, multilevel, robust = meta_fits
    written = methods.meta_analysis(fit, regression=regression, multilevel=multilevel, robust=robust, bias=bias)
    text = written.text
    assert f"Fisher's r-to-z transformed correlations of {fit.k} studies" in text and "restricted maximum likelihood (REML" in text
    assert "Knapp–Hartung adjustment" in text and f"Q({fit.dof}) = {fit.QE:.2f}" in text
    assert "meta-regression on disorder and therapy" in text and "CR2" in text
    assert f"over {robust.n_clusters} clusters" in text and "Konstantopoulos, 2011" in text
    assert "stepfun selection model" in text and "0.025 and 1" in text and "L0 estimator" in text
    assert 'rma(method = "REML", test = "knha")' in text and "robust(clubSandwich = TRUE)" in text
    check_citations(written)
    dl = meta.rma("yi", "vi", data=pd.DataFrame({"yi": fit.yi.to_numpy(), "vi": fit.vi.to_numpy()}), method="DL")
    text = methods.meta_analysis(dl).text
    assert "DerSimonian–Laird" in text and "Wald z tests" in text and "Knapp" not in text and "Egger" not in text
    with pytest.raises(ValueError, match="not bias analyses.*str"):
        methods.meta_analysis(fit, bias=["egger"])


def test_meta_paragraph_describes_the_bayesian_model_too(meta_fits):
    text = methods.meta_analysis(meta_fits[0], bayesian=bayes_result()).text
    assert "also fitted as a Bayesian model" in text and "2 chains of 200 draws" in text


def test_mediation_paragraph_states_method_draws_and_interval(trial):
    change = mediation.mediate_change(trial, "arm", "gse_total", "phq9_total", n_boot=40, seed=1, treated="cbt")
    end = trial[trial["wave"] == trial["wave"].max()]
    quasi = mediation.mediate(end, "arm", "gse_total", "phq9_total", n_boot=30, seed=2, treated="cbt",
                              method="quasi-bayes")
    written = methods.mediation_analyses({"change": change, "end": quasi})
    text = written.text
    assert "40 nonparametric bootstrap replicates, bias-corrected and accelerated (BCa)" in text
    assert "30 quasi-Bayesian Monte Carlo draws" in text and "seed 2 (end)" in text
    assert f"from wave {change.waves[0]} to {change.waves[1]}" in text and "boot = TRUE" in text
    assert f"{change.sensitivity.rho_zero:.2f}" in text and "medsens()" in text
    check_citations(written)
    percentile = methods.mediation_analyses({"change": dataclasses.replace(change, ci_method="percentile")}).text
    assert "percentile intervals" in percentile and "BCa" not in percentile and "Efron" not in percentile


def test_mediation_paragraph_describes_sets_parallel_and_multilevel_analyses(trial):
    end = trial[trial["wave"] == trial["wave"].max()]
    by_age = mediation.mediate(end, "arm", "gse_total", "phq9_total", n_boot=20, seed=1, treated="cbt",
                               moderator="age", moderator_values=[30, 50])
    people, _ = mediation.change_scores(trial, "arm", ["gse_total", "gad7_total"], "phq9_total")
    both = mediation.mediate_parallel(people, "arm", ["gse_total_change", "gad7_total_change"], "phq9_total_change",
                                      n_boot=20, seed=1, treated="cbt")
    multilevel = mediation.mediate_multilevel(trial, "arm", "gse_total", "phq9_total", treated="cbt", n_sims=50, seed=3)
    written = methods.mediation_analyses({"by age": by_age, "parallel": both, "multilevel": multilevel})
    text = written.text
    assert "one analysis per age (30.0 and 50.0)" in text and "effects at age" not in text
    assert "parallel mediators gse_total_change and gad7_total_change" in text
    assert "multilevel (2-1-1) mediation" in text and "50 quasi-Bayesian Monte Carlo draws" in text
    assert "seed 3 (multilevel)" in text and "lme4's lmer" in text
    check_citations(written)


def test_power_paragraph_states_the_simulation_settings():
    design = power.TrialDesign(n_per_arm=20, dropout=0.1)
    curve = power.power_curve(design, [10, 20], n_sims=3, seed=7, scheduler="synchronous", progress=False)
    written = methods.power_simulation(design, curve, power.sample_size(curve, target=0.9), target=0.9)
    text = written.text
    assert "At each of 10 and 20 participants per arm, 3 trials were simulated (seed 7" in text
    assert "10% before each wave" in text and "alpha = 0.05" in text and "reaching 90% power" in text
    growth = curve[curve["effect"] != "mediation"]
    assert f"failing the gradient check ({growth['n_failed'].sum()})" in text
    assert f"singular fits ({growth['n_singular'].sum()})" in text
    check_citations(written)
    other = methods.power_simulation(dataclasses.replace(design, alpha=0.01), curve).text
    assert "alpha = 0.01" in other and "reaching" not in other
    with pytest.raises(ValueError, match="lacks the power-table columns.*n_sims"):
        methods.power_simulation(design, curve.drop(columns="n_sims"))


def test_primary_paragraph_states_mmrm_imputations_and_deltas(trial):
    fit = mixed.primary(trial, "phq9_total")
    mar = missing.impute(trial, 3, outcome="phq9_total", seed=4, auxiliary=["gse_total"])
    tipping = missing.tipping_point(trial, [0, 4], outcome="phq9_total", m=2, seed=4)
    reference = {"J2R": missing.reference_based(trial, "J2R", outcome="phq9_total", m=2, seed=4, burnin=10, thin=2)}
    written = methods.primary_analysis(fit, mar, tipping, reference)
    text = written.text
    assert f"{fit.formula}, with an unstructured covariance" in text and "Kenward & Roger, 1997" in text
    assert f"{fit.n_obs:,} observations of {fit.n_subjects:,} participants" in text
    assert "predictive mean matching with 5 donors" in text and "3 imputations, seed 4" in text
    assert "auxiliary variables gse_total" in text and "shifted by each of 0 and 4 points" in text
    assert "jump to reference" in text and "10 burn-in and 2 thinning" in text and "Barnard & Rubin" in text
    check_citations(written)
    satterthwaite = mixed.primary(trial, "phq9_total", cov="cs", ddf="satterthwaite")
    text = methods.primary_analysis(satterthwaite).text
    assert "compound symmetry" in text and "Satterthwaite's degrees of freedom" in text and "Kenward" not in text
    assert "imputed" not in text and 'method = "Satterthwaite"' in text


def test_measurement_paragraph_states_reliability_invariance_and_growth(trial):
    gse = scales.get("gse", trial)
    baseline = scales.reverse_keyed(trial[trial["wave"] == 0], gse)
    reliability = {"GSE": scales.reliability(baseline)}
    omega = {"GSE": scales.omega(baseline.dropna(), nfactors=2)}
    halves = {"GSE": scales.split_half(baseline, n_sample=50, seed=1)}
    items = gse.items[:4]
    wide = sem_data.wide(trial.assign(**scales.reverse_keyed(trial, gse)), items, keep=["arm"])
    model = "SE =~ " + " + ".join(f"{item}_{{wave}}" for item in items)
    _, fits = sem.invariance(model, wide, waves=[sem_data.wave_label(w) for w in (0, 1)],
                             levels=("configural", "metric"), estimator="MLR", return_fits=True)
    written = methods.measurement(reliability, omega, halves, invariance={"across waves": fits})
    text = written.text
    assert f"n = {reliability['GSE'].n:,}" in text and "Feldt 95%" in text and "2 group factors" in text
    assert "a random sample of 50 splits" in text and "configural and metric models" in text
    assert "MLR" in text and "Satorra–Bentler scaled" in text and "CFI dropped by at most 0.01" in text
    check_citations(written)
    ml = {level: dataclasses.replace(fit, estimator="ML") for level, fit in fits.items()}
    text = methods.measurement({}, invariance={"across waves": ml}).text
    assert "maximum likelihood (ML)" in text and "Satorra" not in text and "alpha" not in text
    with pytest.raises(ValueError, match="at least one analysis"):
        methods.measurement({})


def test_a_family_paragraph_is_written_by_paper_methods(tmp_path, panels):
    paper.use_folder(tmp_path)
    written = paper.methods(methods.cross_lagged(panels))
    saved = (tmp_path / "methods.txt").read_text()
    assert saved.startswith(written.text) and methods.REFERENCES["Hamaker et al., 2015"] in saved
