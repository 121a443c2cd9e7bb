"""analysis.mixed.emmeans and contrast on GLMMs (link and response scale), and Dunnett's adjustment,
against emmeans (reference/emmeans_glmm.R -> emmeans_glmm.json)."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import mixed
from analysis.mixed import estimands

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((ROOT / "tests" / "reference" / "emmeans_glmm.json").read_text())

# Tolerances. GLMM estimates and SEs: relative to max(|estimate|, SE) of the row, as fit_glmm matches
# tight lme4 (1e-4); limits relative to max(|limit|, SE). Dunnett's p-values (relative) and limits (in units of the SE): 1e-4.
TOL = {"glmm": 1e-4, "z": 1e-4, "glmm_p": 1e-3, "dunnett_p": 1e-4, "dunnett_ci": 1e-4, "df": 1e-2}

# emmeans' column names (all scales) -> ours.
COLUMNS = {"emmean": "estimate", "prob": "estimate", "rate": "estimate", "estimate": "estimate",
           "odds.ratio": "estimate", "ratio": "estimate", "SE": "se", "df": "df",
           "lower.CL": "ci_low", "upper.CL": "ci_high", "asymp.LCL": "ci_low", "asymp.UCL": "ci_high",
           "t.ratio": "t", "z.ratio": "z", "p.value": "p"}


def sim_trial():
    data = pd.read_csv(ROOT / "tests" / "reference" / "lmm_sim.csv").dropna(subset=["phq9_total"])
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt", "mindfulness"])
    return data.assign(recovered=(data["phq9_total"] < 10).astype(float))


def counts():
    data = pd.read_csv(ROOT / "tests" / "reference" / "glmm_counts.csv")
    data["arm"] = pd.Categorical(data["arm"], ["control", "cbt"])
    return data.assign(log_days=np.log(data["days"]))


RECOVERED = "recovered ~ time * arm + (1 | participant_id)"
CASES = {
    "recovered": lambda: mixed.fit_glmm(sim_trial(), RECOVERED),
    "recovered_probit": lambda: mixed.fit_glmm(sim_trial(), RECOVERED, link="probit"),
    "attacks": lambda: mixed.fit_glmm(counts(), "attacks ~ time + arm + (1 | participant_id)", family="poisson",
                                      offset="log_days"),
    "sim_trial": lambda: mixed.fit_lmm(sim_trial(), "phq9_total ~ time * arm", "participant_id", "~time"),
}


@pytest.fixture(scope="module")
def fits():
    return {key: make() for key, make in CASES.items()}


def listed(value):
    """A JSON value as a list (jsonlite writes vectors of length one as scalars, NULL as null)."""
    return [] if value is None else list(np.atleast_1d(value))


def label(value):
    """A level as a comparable key: numbers as floats (R's "12" and our 12.0), the rest as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def entries(kind):
    return [(case, i) for case in CASES for i in range(len(listed(REFERENCE[case][kind])))]


def at(ref):
    return None if ref["at"] is None else {name: listed(values) for name, values in ref["at"].items()}


def differences(ours, ref, keys):
    """Rows matched by label; per column, our value minus emmeans', and emmeans' table."""
    table = ref["table"]
    expected_keys = list(zip(*(listed(table[k]) for k in keys)))
    index = ours.index.to_frame(index=False)
    assert [tuple(label(v) for v in row) for row in index[keys].itertuples(index=False)] == \
        [tuple(label(v) for v in row) for row in expected_keys]
    expected = {COLUMNS[name]: np.array(listed(values), dtype=float)
                for name, values in table.items() if name in COLUMNS}
    assert set(ours.columns) == set(expected)
    return {name: ours[name].to_numpy() - value for name, value in expected.items() if name != "df"}, expected


def assert_glmm_table(ours, ref, keys):
    """Estimates and SEs relative to max(|estimate|, SE), limits relative to max(|limit|, SE) (a ratio's
    upper limit may be many times the estimate)."""
    diff, expected = differences(ours, ref, keys)
    for name in ("estimate", "se", "ci_low", "ci_high"):
        scale = np.maximum(np.abs(expected["estimate" if name == "se" else name]), expected["se"])
        assert np.max(np.abs(diff[name]) / scale) < TOL["glmm"], (name, ours[name], expected[name])
    assert np.all(ours["df"] == np.inf) and np.all(expected["df"] == np.inf)
    if "z" in expected:
        assert np.max(np.abs(diff["z"]) / np.maximum(np.abs(expected["z"]), 1)) < TOL["z"]
        assert np.max(np.abs(diff["p"]) / expected["p"]) < TOL["glmm_p"]


def r_note(ref):
    """emmeans' footnotes, less its warning about interactions (a message, not a footnote)."""
    return [line for line in listed(ref["note"]) if not line.startswith("NOTE: Results may be misleading")]


# --- GLMMs: parity with emmeans ----------------------------------------------------------------

@pytest.mark.parametrize(("case", "i"), [entry for entry in entries("emmeans") if entry[0] != "sim_trial"])
def test_glmm_emmeans_match_r(fits, case, i):
    ref = REFERENCE[case]["emmeans"][i]
    ours = mixed.emmeans(fits[case], listed(ref["specs"]), at=at(ref), type=ref["type"])
    assert_glmm_table(ours, ref, listed(ref["specs"]) + listed(ref["by"]))
    assert ours.attrs["note"].split("\n") == r_note(ref)


@pytest.mark.parametrize(("case", "i"), [entry for entry in entries("contrasts") if entry[0] != "sim_trial"])
def test_glmm_contrasts_match_r(fits, case, i):
    ref = REFERENCE[case]["contrasts"][i]
    ours = mixed.contrast(fits[case], listed(ref["specs"]), at=at(ref), method=ref["method"],
                          adjust=ref["adjust"], type=ref["type"])
    assert list(ours.columns) == ["estimate", "se", "df", "z", "p", "ci_low", "ci_high"]
    assert_glmm_table(ours, ref, ["contrast"] + listed(ref["by"]))
    assert ours.attrs["note"].split("\n") == r_note(ref)


def test_response_scale_is_the_back_transformed_link_scale(fits):
    fit = fits["recovered"]
    link = mixed.emmeans(fit, "arm", at={"time": [0, 12]})
    response = mixed.emmeans(fit, "arm", at={"time": [0, 12]}, type="response")
    expit = 1 / (1 + np.exp(-link[["estimate", "ci_low", "ci_high"]]))
    assert np.allclose(response[["estimate", "ci_low", "ci_high"]], expit, rtol=1e-12)
    assert np.allclose(response["se"], link["se"] * expit["estimate"] * (1 - expit["estimate"]), rtol=1e-12)
    odds = mixed.contrast(fit, "arm", method="pairwise", type="response")
    log_odds = mixed.contrast(fit, "arm", method="pairwise")
    assert list(odds.index) == ["control / cbt", "control / mindfulness", "cbt / mindfulness"]
    assert np.allclose(odds[["estimate", "ci_low", "ci_high"]], np.exp(log_odds[["estimate", "ci_low", "ci_high"]]))
    assert (odds[["z", "p"]].to_numpy() == log_odds[["z", "p"]].to_numpy()).all()


def test_offset_enters_at_its_mean_or_as_given(fits):
    fit = fits["attacks"]
    beta = fit.fixed["estimate"]
    mean_time, mean_offset = fit.data["time"].mean(), fit.data["log_days"].mean()
    means = mixed.emmeans(fit, "arm")
    assert means.loc["control", "estimate"] == pytest.approx(
        beta["Intercept"] + beta["time"] * mean_time + mean_offset, rel=1e-12)
    per_day = mixed.emmeans(fit, "arm", at={"log_days": 0}, type="response")
    assert np.allclose(per_day["estimate"], np.exp(means["estimate"] - mean_offset), rtol=1e-12)
    by_exposure = mixed.contrast(fit, "arm", at={"log_days": [0, np.log(28)]})
    assert np.allclose(by_exposure["estimate"], beta["arm[T.cbt]"], rtol=1e-12)
    assert by_exposure.index.names == ["contrast", "log_days"]


def test_linear_model_is_the_same_on_both_scales(fits):
    fit = fits["sim_trial"]
    link = mixed.emmeans(fit, "arm", at={"time": 12})
    pd.testing.assert_frame_equal(link, mixed.emmeans(fit, "arm", at={"time": 12}, type="response"))


# --- Dunnett's adjustment (emmeans' dunnettx) --------------------------------------------------

@pytest.mark.parametrize("i", range(len(REFERENCE["sim_trial"]["contrasts"])))
def test_dunnett_contrasts_of_an_lmm_match_r(fits, i):
    ref = REFERENCE["sim_trial"]["contrasts"][i]
    ours = mixed.contrast(fits["sim_trial"], listed(ref["specs"]), at=at(ref), method=ref["method"],
                          adjust=ref["adjust"], type=ref["type"])
    diff, expected = differences(ours, ref, ["contrast"] + listed(ref["by"]))
    assert np.max(np.abs(diff["p"]) / expected["p"]) < TOL["dunnett_p"], (ours["p"], expected["p"])
    for name in ("ci_low", "ci_high"):
        assert np.max(np.abs(diff[name]) / expected["se"]) < TOL["dunnett_ci"], (name, ours[name], expected[name])
    assert np.max(np.abs(ours["df"].to_numpy() / expected["df"] - 1)) < TOL["df"]
    assert ours.attrs["note"].split("\n") == r_note(ref)


@pytest.mark.parametrize("entry", REFERENCE["dunnettx_quantiles"], ids=lambda e: f"k{e['k']}-df{e['df']}")
def test_dunnettx_matches_emmeans(entry):
    df = float(entry["df"])
    assert estimands._pdunnx(2.0, entry["k"], df) == pytest.approx(entry["pdunnx_at_2"], rel=1e-9)
    root = estimands._qdunnx(0.95, entry["k"], df)
    assert root == pytest.approx(entry["root"], rel=1e-9)
    # emmeans' uniroot (tol 5e-4) stops this close to the root
    assert root == pytest.approx(entry["emmeans"], rel=2e-5)


def test_dunnett_lies_between_unadjusted_and_bonferroni(fits):
    fit = fits["recovered"]
    tables = {adjust: mixed.contrast(fit, "arm", at={"time": 12}, adjust=adjust)
              for adjust in ("none", "dunnett", "bonferroni")}
    width = {adjust: table["ci_high"] - table["ci_low"] for adjust, table in tables.items()}
    assert (width["none"] < width["dunnett"]).all() and (width["dunnett"] < width["bonferroni"]).all()
    assert (tables["none"]["p"] < tables["dunnett"]["p"]).all()
    assert (tables["dunnett"]["p"] < tables["bonferroni"]["p"]).all()


def test_one_contrast_is_not_adjusted(fits):
    fit = fits["attacks"]
    plain, dunnett = mixed.contrast(fit, "arm"), mixed.contrast(fit, "arm", adjust="dunnett")
    assert np.allclose(plain[["p", "ci_low", "ci_high"]], dunnett[["p", "ci_low", "ci_high"]], rtol=1e-12)


# --- bad input ---------------------------------------------------------------------------------

def test_bad_type_is_refused(fits):
    for fit in (fits["recovered"], fits["sim_trial"]):
        with pytest.raises(ValueError, match=r"type must be one of \('link', 'response'\), got 'odds'"):
            mixed.emmeans(fit, "arm", type="odds")
        with pytest.raises(ValueError, match="type must be one of"):
            mixed.contrast(fit, "arm", type="ratio")


def test_glmm_takes_no_ddf_and_no_anova(fits):
    fit = fits["recovered"]
    for call in (lambda: mixed.emmeans(fit, "arm", ddf="kenward-roger"),
                 lambda: mixed.contrast(fit, "arm", ddf="kenward-roger")):
        with pytest.raises(ValueError, match=r"does not apply to a GLMM .* asymptotic z tests"):
            call()
    with pytest.raises(TypeError, match="for a GLMM .* likelihood-ratio"):
        mixed.anova(fit)
