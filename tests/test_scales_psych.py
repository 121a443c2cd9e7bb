"""analysis.scales item statistics, key check, ICC and split-half against R's psych.

Reference values: tests/reference/psych_items.R (psych 2.2.9) writing
tests/reference/psych_items.json from tests/reference/bfi_items.csv (psych's bfi,
N1-N5 and A1-A5) and tests/reference/gse_wave0.csv (the synthetic trial's GSE
items at wave 0). Observed differences from psych are below 1e-13 throughout.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import scales

REFERENCE = Path(__file__).resolve().parent / "reference"
PSYCH = json.loads((REFERENCE / "psych_items.json").read_text())
BFI = pd.read_csv(REFERENCE / "bfi_items.csv")
GSE = pd.read_csv(REFERENCE / "gse_wave0.csv")
NEURO, AGREE = [f"N{i}" for i in range(1, 6)], [f"A{i}" for i in range(1, 6)]
ITEM_DATA = {
    "bfi_agree": BFI[AGREE],
    "bfi_neuro": BFI[NEURO],
    "bfi_n_a": BFI,
    "bfi_odd": BFI[NEURO + ["A1", "A2"]],
    "gse_wave0": GSE,
}
ICC_DATA = {"sf": np.array(PSYCH["sf"], dtype=float), "gse_raters": GSE.iloc[:, :4]}
ITEM_COLUMNS = ["raw_r", "std_r", "r_cor", "r_drop", "alpha_if_dropped", "mean", "sd"]
ICC_COLUMNS = ["icc", "F", "df1", "df2", "p", "ci_low", "ci_high"]


@pytest.fixture(scope="module", params=sorted(ITEM_DATA))
def item_case(request):
    return request.param, ITEM_DATA[request.param], PSYCH["items"][request.param]


@pytest.mark.parametrize(("check_keys", "key"), [(False, "alpha"), (True, "alpha_keyed")])
def test_item_statistics_match_psych_alpha(item_case, check_keys, key):
    _, items, case = item_case
    expected = case[key]
    result = scales.reliability(items, check_keys=check_keys)
    assert result.item_stats.index.tolist() == case["columns"]
    for column in ITEM_COLUMNS:
        np.testing.assert_allclose(result.item_stats[column], expected[column], rtol=0, atol=1e-8,
                                   err_msg=column)
    for attribute, name in [("alpha", "raw_alpha"), ("std_alpha", "std_alpha"), ("g6", "g6"),
                            ("average_r", "average_r")]:
        assert getattr(result, attribute) == pytest.approx(expected[name], abs=1e-8), attribute


def test_flagged_items_are_psychs(item_case):
    _, items, case = item_case
    assert list(scales.reliability(items).flagged) == case["flagged"]
    assert list(scales.split_half(items).flagged) == case["flagged"]


def test_check_keys_flags_and_reverses_a1():
    plain = scales.reliability(BFI[AGREE])
    keyed = scales.reliability(BFI[AGREE], check_keys=True)
    assert plain.flagged == keyed.flagged == ("A1",)
    assert keyed.alpha > plain.alpha
    # psych's rule: min + max over all items (1 + 6) minus the response.
    assert keyed.item_stats.loc["A1", "mean"] == pytest.approx(7 - BFI["A1"].mean(), abs=1e-12)
    assert "reversed   A1" in keyed.summary()


def test_check_keys_false_keeps_existing_values():
    plain = scales.reliability(GSE)
    keyed = scales.reliability(GSE, check_keys=True)  # nothing flagged: identical
    assert plain.flagged == ()
    assert (keyed.alpha, keyed.omega) == (plain.alpha, plain.omega)
    pd.testing.assert_frame_equal(keyed.item_stats, plain.item_stats)


def test_split_half_matches_psych(item_case):
    name, items, case = item_case
    expected = case["split_half"]
    result = scales.split_half(items)
    assert not result.sampled
    assert result.n_splits == {10: 126, 5: 5, 7: 18}[items.shape[1]], name
    for attribute in ("max", "min", "mean"):
        assert getattr(result, attribute) == pytest.approx(expected[attribute], abs=1e-6), attribute


def test_split_half_samples_large_enumerations_within_the_exact_range():
    exact = scales.split_half(GSE)
    sampled = scales.split_half(GSE, n_sample=50, seed=1)
    assert sampled.sampled and sampled.n_splits == 50
    # A sampled half and its complement are the same split (equal up to rounding).
    assert exact.min - 1e-12 <= sampled.min <= sampled.mean <= sampled.max <= exact.max + 1e-12
    assert scales.split_half(GSE, n_sample=50, seed=1) == sampled


@pytest.mark.parametrize("name", sorted(ICC_DATA))
def test_icc_matches_psych(name):
    expected = PSYCH["icc"][name]
    table = scales.icc(ICC_DATA[name])
    assert table.index.tolist() == expected["index"] == list(scales.ICC_FORMS)
    assert table.attrs["n"] == expected["n_used"]
    assert table.attrs["n_dropped"] == expected["n_rows"] - expected["n_used"]
    for column in ICC_COLUMNS:
        np.testing.assert_allclose(table[column], expected[column], rtol=1e-8, atol=1e-8,
                                   err_msg=column)


def test_icc_agrees_with_psychs_lmer_default_to_its_optimiser_tolerance():
    expected = PSYCH["icc"]["sf_lmer"]
    table = scales.icc(ICC_DATA["sf"])
    np.testing.assert_allclose(table["icc"], expected["icc"], rtol=0, atol=1e-5)


def test_icc_shrout_fleiss_published_values():
    # Shrout & Fleiss (1979), Table 4: .17, .29, .71, .44, .62, .91.
    table = scales.icc(ICC_DATA["sf"])
    np.testing.assert_allclose(table["icc"], [0.17, 0.29, 0.71, 0.44, 0.62, 0.91], atol=0.005)


@pytest.mark.parametrize(
    ("function", "data", "message"),
    [
        (scales.reliability, pd.DataFrame({"a": [1.0, 2.0], "b": [2.0, 1.0]}), "at least 3 columns"),
        (scales.split_half, pd.DataFrame({"a": [1.0, 2.0, 3.0]}), "at least 2 columns"),
        (scales.split_half, pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 2.0, 2.0]}),
         r"no variance.*\['b'\]"),
        (lambda x: scales.reliability(x, check_keys=True),
         pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 1.0, 3.0], "c": [4.0, 4.0, 4.0]}),
         r"no variance.*\['c'\]"),
        (scales.icc, pd.DataFrame({"r1": [1.0, 2.0, 3.0]}), "at least 2 raters"),
        (scales.icc, pd.DataFrame({"r1": [1.0, np.nan], "r2": [2.0, 3.0]}), "at least 2 subjects"),
        (scales.icc, pd.DataFrame({"r1": [2.0, 2.0], "r2": [2.0, 2.0]}), "no variance"),
        (scales.icc, pd.DataFrame({"r1": [1.0, 2.0], "r2": ["x", "y"]}), r"non-numeric.*\['r2'\]"),
        (lambda x: scales.icc(x, level=95), ICC_DATA["sf"], "level"),
        (lambda x: scales.split_half(x, n_sample=0), GSE, "n_sample"),
    ],
)
def test_bad_input_is_a_clear_error(function, data, message):
    with pytest.raises(ValueError, match=message):
        function(data)
