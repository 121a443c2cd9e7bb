"""Bootstrap standard errors (se="bootstrap") against lavaan 0.6-14.

Three checks, from exact to Monte Carlo:

* replicate by replicate: refitting on the rows lavaan drew (bootstrapLavaan(keep.idx = TRUE),
  tests/reference/sem_lavaan_bootidx.R) gives lavaan's replicate estimates;
* from lavaan's own replicates, the standard errors and percentile intervals are lavaan's;
* a full bootstrap with our resampling agrees with lavaan's 2,000-replicate bootstrap
  (tests/reference/sem_lavaan_robust.R) within Monte Carlo error.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import sem
from analysis.sem import bootstrap
from analysis.sem.parameters import parameter_estimates

REF = Path(__file__).parent / "reference"
REPLICATES = json.loads((REF / "sem_lavaan_bootidx.json").read_text())
FULL = json.loads((REF / "sem_lavaan_robust.json").read_text())
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
DEFINED = """ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
indirect := a*b
total := c + a*b"""
#: lavaan stops each replicate's fit at nlminb's tolerance (its full-data estimates differ from ours by up
#: to 1e-5); measured replicate differences are below 1e-4.
REPLICATE_TOL = 3e-4
#: Replicates of the full bootstrap run here (lavaan's reference used 2,000), and lavaan's replicates
#: refitted row for row (of the 30 or 20 stored), kept few for speed.
B = 100
REFITTED = 8


@pytest.fixture(scope="module")
def fits():
    holzinger = pd.read_csv(REF / "sem_holzinger.csv")
    democracy = pd.read_csv(REF / "sem_politicaldemocracy.csv")
    return {"hs_cfa": (sem.cfa(HS, holzinger), lambda **k: sem.cfa(HS, holzinger, **k)),
            "pd_defined": (sem.fit(DEFINED, democracy), lambda **k: sem.fit(DEFINED, democracy, **k)),
            "hs_groups": (sem.cfa(HS, holzinger, group="school"), None)}


def _matrix(rows) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], float)


@pytest.mark.parametrize("case", ["hs_cfa", "pd_defined", "hs_groups"])
def test_replicates_refit_as_lavaans(fits, case):
    ref = REPLICATES[case]
    result = fits[case][0]
    np.testing.assert_allclose(result.state.theta, ref["coef"], atol=1e-4)
    indices = [[np.asarray(ref["idx"][g][b]) - 1 for g in range(len(ref["idx"]))] for b in range(REFITTED)]
    estimates, failed = bootstrap.replicate_estimates(result.state, indices)
    assert failed == 0
    np.testing.assert_allclose(estimates, _matrix(ref["boot"][:REFITTED]), atol=REPLICATE_TOL, rtol=0)


@pytest.mark.parametrize("case", ["hs_cfa", "pd_defined"])
def test_standard_errors_and_percentile_intervals_from_lavaans_replicates(fits, case):
    """SD with divisor B for free parameters, B - 1 for defined ones; boot's norm.inter percentiles."""
    ref = REPLICATES[f"se_{case}"]
    draws = _matrix(ref["boot"])
    record = bootstrap.BootstrapRecord(len(draws), 0, None, draws)
    state = fits[case][0].state
    table = parameter_estimates(replace(state, vcov=record.vcov), 0.95, record)
    for column, key in [("se", "se"), ("ci_low", "ci_low"), ("ci_high", "ci_high")]:
        np.testing.assert_allclose(table[column], _matrix([ref[key]])[0], rtol=1e-10, atol=1e-12, err_msg=column)


@pytest.fixture(scope="module")
def booted(fits):
    return {case: fits[case][1](se="bootstrap", bootstrap=B, seed=3) for case in ("hs_cfa", "pd_defined")}


@pytest.mark.parametrize("case", ["hs_cfa", "pd_defined"])
def test_bootstrap_matches_lavaan_within_monte_carlo_error(fits, booted, case):
    """SEs differ from lavaan's (2,000 replicates) by less than 4 Monte Carlo SDs: sqrt(v / B + v / 2000) with
    v per replicate from the fourth moment of lavaan's replicates (SE^2 / 2 if they were normal)."""
    standard, result, ref = fits[case][0], booted[case], FULL[f"boot_{case}"]
    got = result.parameters
    np.testing.assert_array_equal(got.estimate, standard.parameters.estimate)
    np.testing.assert_allclose(got.estimate, _matrix([ref["est"]])[0], atol=1e-4)
    assert result.se == "bootstrap" and result.bootstrap.kept == B and ref["ok"] == ref["B"] == 2000
    rows = [*_free_rows(result), *np.flatnonzero(got.op == ":=")]
    mc_var = np.asarray(ref["mc_var"])[rows]
    z = (got.se.to_numpy()[rows] - np.asarray(ref["se"])[rows]) / np.sqrt(mc_var / B + mc_var / ref["ok"])
    assert np.max(np.abs(z)) < 4, z
    estimate = got.estimate.to_numpy()[rows]
    assert np.all(got.ci_low.to_numpy()[rows] < estimate) and np.all(got.ci_high.to_numpy()[rows] > estimate)


def test_defined_parameters_get_bootstrap_standard_errors(booted):
    result = booted["pd_defined"]
    defined = result.parameters[result.parameters.op == ":="]
    a, b, c = (result.bootstrap.estimates[:, k] for k in _labels(result, ["a", "b", "c"]))
    expected = np.column_stack([a * b, c + a * b])
    np.testing.assert_allclose(defined.se, expected.std(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(defined.ci_low, bootstrap.percentile_interval(expected, 0.95)[0], rtol=1e-12)
    assert "Bootstrap standard errors: 100 of 100 replicates (seed 3), percentile intervals" in result.summary()


def _labels(result, labels) -> list[int]:
    table = result.state.table
    return [int(table.loc[table.label == label, "free"].iat[0]) for label in labels]


def _free_rows(result) -> list[int]:
    """The first row of the parameter table of each free parameter, in parameter order."""
    free = result.state.table.free.to_numpy()
    return [int(np.flatnonzero(free == k)[0]) for k in range(result.state.theta.size)]


def test_seed_reproduces_and_resampling_is_within_groups(fits):
    refit = fits["hs_cfa"][1]
    first, again = (refit(se="bootstrap", bootstrap=3, seed=11) for _ in range(2))
    np.testing.assert_array_equal(first.bootstrap.estimates, again.bootstrap.estimates)
    other = refit(se="bootstrap", bootstrap=3, seed=12)
    assert not np.allclose(first.bootstrap.estimates, other.bootstrap.estimates)
    draws = list(bootstrap.draw_indices([156, 145], 3, seed=0))
    assert [len(rows) for rows in draws[0]] == [156, 145] and max(draws[0][1]) < 145


def test_failed_replicates_are_dropped_and_reported(fits, monkeypatch):
    calls = {"n": 0}
    optimise = bootstrap.optimise

    def sometimes_failing(problem, start):
        calls["n"] += 1
        if calls["n"] % 3 == 0:
            raise sem.ConvergenceFailure("simulated")
        if calls["n"] % 3 == 1:
            theta, _, iterations = optimise(problem, start)
            return theta, False, iterations
        return optimise(problem, start)

    monkeypatch.setattr(bootstrap, "optimise", sometimes_failing)
    result = fits["hs_cfa"][1](se="bootstrap", bootstrap=6, seed=2)
    assert result.bootstrap.failed == 4 and result.bootstrap.kept == 2
    assert any("4 of 6 bootstrap replicates failed" in w for w in result.warnings)
    se = result.bootstrap.estimates.std(axis=0, ddof=0)
    free = result.state.table.free.to_numpy()
    np.testing.assert_allclose(result.parameters.se[free >= 0], se[free[free >= 0]], rtol=1e-12)
    monkeypatch.setattr(bootstrap, "optimise", lambda problem, start: (_ for _ in ()).throw(
        sem.ConvergenceFailure("simulated")))
    with pytest.raises(sem.ConvergenceFailure, match="3 of 3 bootstrap replicates failed"):
        fits["hs_cfa"][1](se="bootstrap", bootstrap=3, seed=2)


def test_progress_bar(fits, capsys):
    fits["hs_cfa"][1](se="bootstrap", bootstrap=2, seed=0, progress=True)
    assert "bootstrap" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [({"se": "jackknife"}, "se must be one of"),
                                              ({"se": "bootstrap", "bootstrap": 1}, "at least 2"),
                                              ({"se": "bootstrap", "bootstrap": 10.5}, "whole number")])
def test_bad_standard_error_options(fits, options, message):
    with pytest.raises(ValueError, match=message):
        fits["hs_cfa"][1](**options)


def test_robust_standard_errors_with_ml_are_mlrs(fits):
    robust = fits["hs_cfa"][1](se="robust")
    mlr = fits["hs_cfa"][1](estimator="MLR")
    np.testing.assert_allclose(robust.parameters.se, mlr.parameters.se, rtol=1e-10)
    assert "chisq_scaled" not in robust.fit and robust.se == "robust"
