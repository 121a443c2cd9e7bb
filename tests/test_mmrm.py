"""analysis.mixed.mmrm against R's mmrm (tests/reference/mmrm_reference.R), and its input checks."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, mixed

REFERENCE = Path(__file__).parent / "reference"
FORMULA = "y ~ base + arm * C(visit)"
ARMS = ["control", "cbt", "med"]
DDF = {"Kenward-Roger": "kenward-roger", "Satterthwaite": "satterthwaite", "Residual": "residual"}

#: Tolerances against mmrm (relative): mmrm stops L-BFGS-B at a relative change of the objective
#: of about 2e-9, so its optimum is itself only this close.
TOL = {"estimate": 1e-4, "se": 1e-3, "df": 1e-2, "loglik": 1e-3, "cov": 1e-3}


def _trial() -> pd.DataFrame:
    data = pd.read_csv(REFERENCE / "mmrm_trial.csv")
    data["arm"] = pd.Categorical(data["arm"], categories=ARMS)
    return data


TRIAL = _trial()
FITS = json.loads((REFERENCE / "mmrm_reference.json").read_text())["fits"]


def _label(ref: dict) -> str:
    extra = [] if ref["reml"] else ["ML"]
    extra += [f"by {ref['cov_by']}"] if ref.get("cov_by") else []
    extra += ["weights"] if ref["weights"] else []
    return "-".join([ref["cov"], ref["method"], *extra])


@cache
def _fit(number: int) -> mixed.MmrmResult:
    ref = FITS[number]
    return mixed.mmrm(TRIAL, FORMULA, "id", "visit", cov=ref["cov"], ddf=DDF[ref["method"]], reml=ref["reml"],
                      weights="w" if ref["weights"] else None, cov_by=ref.get("cov_by"))


def _r_name(name: str) -> str:
    """R's coefficient name of a patsy one: ``arm[T.cbt]:C(visit)[T.2]`` -> ``armcbt:visit2``."""
    if name == "Intercept":
        return "(Intercept)"
    parts = [re.sub(r"^C\(visit\)\[T\.(.+)\]$", r"visit\1", re.sub(r"^arm\[T\.(.+)\]$", r"arm\1", part))
             for part in name.split(":")]
    return ":".join(parts)


def _relative(ours, theirs, scale=None) -> float:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    scale = np.abs(theirs) if scale is None else scale
    return float(np.max(np.abs(ours - theirs) / scale))


CASES = [pytest.param(i, id=_label(ref)) for i, ref in enumerate(FITS)]


@pytest.mark.parametrize("number", CASES)
def test_fixed_effects_match_mmrm(number):
    ref, fit = FITS[number], _fit(number)
    assert fit.converged and ref["converged"], fit.warnings
    table = fit.fixed.rename(index=_r_name).loc[ref["terms"]]
    se = np.asarray(ref["se"])
    # estimates relative to their size, floored at their SE (a coefficient near 0)
    assert _relative(table["estimate"], ref["estimate"], np.maximum(np.abs(ref["estimate"]), se)) < TOL["estimate"]
    assert _relative(table["se"], se) < TOL["se"]
    assert _relative(table["df"], ref["df"]) < TOL["df"]
    assert _relative(table["p"], ref["p"], np.maximum(np.asarray(ref["p"]), 1e-3)) < 1e-2


@pytest.mark.parametrize("number", CASES)
def test_likelihood_and_covariance_match_mmrm(number):
    ref, fit = FITS[number], _fit(number)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=TOL["loglik"])
    assert fit.aic == pytest.approx(ref["aic"], rel=TOL["loglik"])
    assert fit.bic == pytest.approx(ref["bic"], rel=TOL["loglik"])
    assert (fit.n_obs, fit.n_subjects) == (ref["n_obs"], ref["n_subjects"])
    ours = fit.cov if isinstance(fit.cov, dict) else {None: fit.cov}
    theirs = ref["covariance"] if isinstance(ref["covariance"], dict) else {None: ref["covariance"]}
    assert list(map(str, ours)) == list(map(str, theirs))
    for (_, matrix), expected in zip(ours.items(), theirs.values()):
        expected = np.asarray(expected)
        assert _relative(matrix.to_numpy(), expected, np.abs(expected).max()) < TOL["cov"]


@pytest.mark.parametrize("number", CASES)
def test_arm_difference_at_last_visit_matches_emmeans(number):
    ref, fit = FITS[number], _fit(number)
    table = mixed.contrast(fit, "arm", at={"visit": 5})
    expected = ref["contrast"]
    assert list(table.index) == expected["label"]
    assert _relative(table["estimate"], expected["estimate"], np.asarray(expected["se"])) < TOL["estimate"]
    assert _relative(table["se"], expected["se"]) < TOL["se"]
    assert _relative(table["df"], expected["df"]) < TOL["df"]
    assert f"Degrees-of-freedom method: {fit.ddf}" in table.attrs["note"]


def test_summary_is_laid_out_like_mmrm():
    text = _fit(0).summary()
    for line in ["mmrm fit", "Covariance:  unstructured (15 variance parameters)", "Method:      Kenward-Roger",
                 "Vcov Method: Kenward-Roger", "Inference:   REML", "Model selection criteria:", "Coefficients: ",
                 "Covariance estimate:", "arm[T.cbt]:C(visit)[T.5]"]:
        assert line in text


def test_other_ddf_pieces_of_one_fit():
    fit, satterthwaite = _fit(0), FITS[1]  # us by Kenward-Roger; mmrm's us fit by Satterthwaite
    assert (FITS[0]["cov"], FITS[0]["method"], satterthwaite["cov"], satterthwaite["method"]) == (
        "us", "Kenward-Roger", "us", "Satterthwaite")
    table = mixed.contrast(fit, "arm", at={"visit": 5}, ddf="satterthwaite")
    assert _relative(table["se"], satterthwaite["contrast"]["se"]) < TOL["se"]
    assert _relative(table["df"], satterthwaite["contrast"]["df"]) < TOL["df"]
    residual = mixed.contrast(fit, "arm", at={"visit": 5}, ddf="residual")
    assert (residual["df"] == fit.n_obs - len(fit.fixed)).all()
    assert set(mixed.anova(fit).index) == {"base", "arm", "C(visit)", "arm:C(visit)"}


# --- bad input ---------------------------------------------------------------------------------

def _small() -> pd.DataFrame:
    return TRIAL[TRIAL["id"].isin(TRIAL["id"].unique()[:60])].copy()


def test_unknown_cov_and_ddf_are_refused():
    with pytest.raises(ValueError, match="cov must be one of"):
        mixed.mmrm(TRIAL, FORMULA, "id", "visit", cov="unstructured")
    with pytest.raises(ValueError, match="ddf must be one of"):
        mixed.mmrm(TRIAL, FORMULA, "id", "visit", ddf="between-within")
    with pytest.raises(ValueError, match="needs a REML fit"):
        mixed.mmrm(TRIAL, FORMULA, "id", "visit", reml=False)


def test_visit_without_observations_in_an_arm_is_named():
    data = _small()
    data.loc[(data["arm"] == "cbt") & (data["visit"] == 5), "y"] = np.nan
    with pytest.raises(io.DataValidationError, match=r"arm\[T\.cbt\]:C\(visit\)\[T\.5\]"):
        mixed.mmrm(data, FORMULA, "id", "visit", cov="cs")


def test_more_covariance_parameters_than_the_data_support():
    data = _small()
    # visits 1 and 5 never observed in the same subject: their covariance is not estimable
    data.loc[data["id"].isin(data["id"].unique()[::2]) & (data["visit"] == 1), "y"] = np.nan
    data.loc[data["id"].isin(data["id"].unique()[1::2]) & (data["visit"] == 5), "y"] = np.nan
    with pytest.raises(io.DataValidationError, match="visits 1 and 5 are never observed in the same subject"):
        mixed.mmrm(data, "y ~ base + C(visit)", "id", "visit", cov="us")
    tiny = _small()[lambda d: d["id"].isin(d["id"].unique()[:3])]
    with pytest.raises(io.DataValidationError, match="the data support fewer"):
        mixed.mmrm(tiny, "y ~ base + C(visit)", "id", "visit", cov="us")


def test_duplicated_visits_and_changing_groups_are_named():
    data = _small()
    twice = pd.concat([data, data.iloc[[3]]])
    with pytest.raises(io.DataValidationError, match="appears more than once"):
        mixed.mmrm(twice, FORMULA, "id", "visit", cov="cs")
    data["site"] = np.where(np.arange(len(data)) % 7 == 0, "a", "b")
    with pytest.raises(io.DataValidationError, match="must be constant within id"):
        mixed.mmrm(data, FORMULA, "id", "visit", cov="cs", cov_by="site")
    with pytest.raises(io.DataValidationError, match="column not in the data"):
        mixed.mmrm(data, "y ~ base + arm * C(week)", "id", "visit", cov="cs")
