"""analysis.scales response frequencies (``reliability().response_freq``) against R's psych.

Reference values: tests/reference/psych_frequencies.R (psych 2.2.9) writing
tests/reference/psych_frequencies.json from tests/reference/bfi_items.csv
(psych's bfi, N1-N5 and A1-A5, with missing responses),
tests/reference/gse_wave0.csv (the synthetic trial's GSE items at wave 0) and
small item sets it stores itself. Observed differences from psych are below
1e-15.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import scales

REFERENCE = Path(__file__).resolve().parent / "reference"
PSYCH = json.loads((REFERENCE / "psych_frequencies.json").read_text())["cases"]
BFI = pd.read_csv(REFERENCE / "bfi_items.csv")
GSE = pd.read_csv(REFERENCE / "gse_wave0.csv")
STORED = {"bfi_n_a": BFI, "bfi_n_a_keyed": BFI, "gse_wave0": GSE}


def _items(name: str) -> pd.DataFrame:
    case = PSYCH[name]
    items = STORED[name] if name in STORED else pd.DataFrame(case["data"]).astype(float)
    return items[case["columns"]]


@pytest.mark.parametrize("name", sorted(PSYCH))
def test_response_frequencies_match_psych_alpha(name):
    case = PSYCH[name]
    table = scales.reliability(_items(name), check_keys=case["check_keys"]).response_freq
    if case["is_null"]:
        assert table is None
        return
    expected = case["response_freq"]
    assert table.index.tolist() == expected["index"]
    assert table.columns.tolist() == expected["columns"]
    np.testing.assert_allclose(table.to_numpy(), np.array(expected["values"], dtype=float), rtol=0, atol=1e-12)


def test_response_frequencies_count_every_row_towards_miss():
    items = _items("half_points")
    table = scales.response_frequencies(items)
    assert table.loc["h3", "miss"] == pytest.approx(2 / len(items), abs=1e-15)  # row 5 empty, h3 row 9
    np.testing.assert_allclose(table.drop(columns="miss").sum(axis=1), 1.0, atol=1e-15)


def test_listwise_reliability_tabulates_the_complete_rows():
    table = scales.reliability(GSE, missing="listwise").response_freq
    assert (table["miss"] == 0).all()
    np.testing.assert_allclose(table, scales.response_frequencies(GSE.dropna()), rtol=0, atol=0)


def test_one_item_within_the_range_limit_gets_its_own_row():
    items = pd.DataFrame({"a": [1, 2, 2, 3], "b": [20, 40, 60, 80], "c": [18, 30, 50, 70]})
    table = scales.response_frequencies(items)
    assert table.index.tolist() == ["a"] and table.columns.tolist() == ["1", "2", "3", "miss"]
    np.testing.assert_allclose(table.loc["a"], [0.25, 0.5, 0.25, 0.0])


@pytest.mark.parametrize(
    ("items", "kwargs", "message"),
    [
        (BFI.astype({"N1": str}), {}, "non-numeric.*N1"),
        (BFI, {"max_categories": 0}, "max_categories must be a positive integer"),
        (BFI, {"max_categories": 2.5}, "max_categories must be a positive integer"),
    ],
)
def test_bad_input_is_a_clear_error(items, kwargs, message):
    with pytest.raises(ValueError, match=message):
        scales.response_frequencies(items, **kwargs)
