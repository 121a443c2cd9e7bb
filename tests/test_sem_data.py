"""analysis.sem.data (long trial data to the engine's wide layout, growth syntax) and
analysis.sem.criteria (which invariance level holds).

Parity: the wide table of ``simulate.trial(n_per_arm=100, waves=4, seed=11)`` is the
table lavaan fitted in tests/reference/sem_lavaan.R (tests/reference/sem_trial_wide.csv,
written by tests/reference/sem_make_data.py), and the parallel-process growth model
written by :func:`growth_syntax` and fitted on it reproduces lavaan's ``growth_parallel``
case of tests/reference/sem_lavaan.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, sem, simulate
from analysis.sem import criteria
from analysis.sem import data as sem_data

REF = Path(__file__).parent / "reference"
ITEMS = [f"gse_{k}" for k in range(1, 11)]


@pytest.fixture(scope="module")
def long():
    data, _ = simulate.trial(n_per_arm=100, waves=4, seed=11)
    return data


@pytest.fixture(scope="module")
def reference():
    return pd.read_csv(REF / "sem_trial_wide.csv").set_index("participant_id")


def test_wide_is_the_table_lavaan_fitted(long, reference):
    totals = sem_data.wide(long, ["gse_total", "phq9_total"], keep=["arm"])
    items = sem_data.wide(long, ITEMS, waves=[0, 1, 2])
    assert list(totals.index) == list(reference.index)
    assert list(totals.columns[:3]) == ["arm", "gse_total_w0", "phq9_total_w0"]
    assert (totals["arm"].astype(str) == reference["arm"]).all()
    for frame in (totals, items):
        columns = [c for c in frame.columns if c != "arm"]
        np.testing.assert_allclose(frame[columns].to_numpy(float), reference[columns].to_numpy(float),
                                   rtol=1e-6, atol=0)
    assert items.columns[-1] == "gse_10_w2" and items.shape == (len(reference), 30)


def test_growth_syntax_fits_lavaans_parallel_process_model(long):
    lavaan = json.loads((REF / "sem_lavaan.json").read_text())["growth_parallel"]
    model = "\n".join(sem_data.growth_syntax(v, range(4), range(4)) for v in ("gse_total", "phq9_total"))
    assert model.splitlines()[1] == "sgse_total =~ 0*gse_total_w0 + 1*gse_total_w1 + 2*gse_total_w2 + 3*gse_total_w3"
    result = sem.growth(model, sem_data.wide(long, ["gse_total", "phq9_total"]).dropna())
    estimates = np.array([np.nan if v is None else v for v in lavaan["pe"]["est"]], float)
    np.testing.assert_allclose(result.parameters.estimate, estimates, atol=1e-4, rtol=0)
    for key in ("chisq", "cfi", "rmsea", "srmr"):
        assert result.fit[key] == pytest.approx(lavaan["fit"][key], rel=1e-4, abs=1e-4), key


def test_growth_syntax_names_and_times():
    text = sem_data.growth_syntax("phq9_total", [0, 2.5], [0, 3], name="SY")
    assert text == "iSY =~ 1*phq9_total_w0 + 1*phq9_total_w3\nsSY =~ 0*phq9_total_w0 + 2.5*phq9_total_w3"
    with pytest.raises(ValueError, match="one time per wave"):
        sem_data.growth_syntax("phq9_total", [0, 1, 2], [0, 1])


def test_wide_bad_input_is_named(long):
    with pytest.raises(io.DataValidationError, match="gse_99"):
        sem_data.wide(long, ["gse_99"])
    with pytest.raises(ValueError, match=r"waves \[7\] are not in column 'wave'"):
        sem_data.wide(long, ["gse_total"], waves=[0, 7])
    with pytest.raises(ValueError, match="at least one variable"):
        sem_data.wide(long, [])
    twice = pd.concat([long, long.iloc[[0]]])
    with pytest.raises(io.DataValidationError, match="participant_id"):
        sem_data.wide(twice, ["gse_total"])
    moved = long.assign(age=np.arange(len(long)))
    with pytest.raises(io.DataValidationError, match="age"):
        sem_data.wide(moved, ["gse_total"], keep=["age"])


def _table(cfi, rmsea, srmr) -> pd.DataFrame:
    table = pd.DataFrame({"cfi": cfi, "rmsea": rmsea, "srmr": srmr},
                         index=pd.Index(["configural", "metric", "scalar", "strict"], name="level"))
    return table.assign(cfi_diff=table.cfi.diff(), rmsea_diff=table.rmsea.diff())


def test_decisions_follow_the_cfi_and_rmsea_rules():
    # metric: CFI drops .009 (within .01); scalar: CFI drops .011 (fails); strict would pass on its own
    table = _table([0.990, 0.981, 0.970, 0.970], [0.040, 0.054, 0.050, 0.050], [0.03, 0.05, 0.06, 0.06])
    decisions = criteria.invariance_decisions(table)
    assert decisions["holds"].tolist() == [True, True, False, False]
    assert decisions.loc["metric", "srmr_diff"] == pytest.approx(0.02)
    assert decisions.loc["scalar", "srmr_limit"] == 0.01 and np.isnan(decisions.loc["configural", "srmr_limit"])
    assert criteria.supported_level(table) == "metric"
    # RMSEA rising by more than .015 fails a level even when CFI holds
    assert criteria.supported_level(_table([0.99] * 4, [0.02, 0.036, 0.036, 0.036], [0.03] * 4)) == "configural"
    assert criteria.supported_level(table, cfi_drop=0.02) == "strict"


def test_decisions_need_an_invariance_table():
    with pytest.raises(ValueError, match=r"lacks columns \['srmr'"):
        criteria.invariance_decisions(pd.DataFrame({"cfi": [1.0], "rmsea": [0.0]}))
