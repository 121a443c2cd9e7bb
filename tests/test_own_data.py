"""A corpus of realistic variations of a trial table, run through every model family.

Each variation is what real exports look like (arm codings, a single arm, pandas nullable
dtypes, constant and collinear columns, an arm without outcomes, two waves, duplicated
rows, text waves, attended > offered, ...). Every call must end in one of two ways:

* a result, and where the variation does not change the data's meaning (another arm
  coding, a nullable dtype, another index) the *same* numbers as the plain table;
* an error raised by the package itself (never from inside numpy, pandas, patsy,
  PyTensor or nutpie) whose message names the column concerned.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import numpy as np
import own_data
import pandas as pd
import pytest
import yaml

import analysis
from analysis import bayes, browser, cli, io, mediation, mixed, panel, power, simulate

PACKAGE = str(Path(analysis.__file__).parent)


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    data, _ = simulate.trial(n_per_arm=25, waves=4, seed=3)
    return data


def _two_arms(d):
    return d[d["arm"] != "mindfulness"].reset_index(drop=True)


def _recode_arm(d, codes, dtype=None):
    arm = d["arm"].astype(str).map(codes)
    return d.assign(arm=arm.astype(dtype) if dtype else arm)


# name -> (transformation, the column an error must name, or None when a result is expected,
#          whether the numbers must equal the plain table's)
SAME, RESULT = "same", "result"
VARIATIONS = {
    "plain": (lambda d: d, None, SAME),
    "arm_codes_0_1_2": (lambda d: _recode_arm(d, {"control": 0, "cbt": 1, "mindfulness": 2}), None, SAME),
    "arm_codes_1_2_3_Int64": (lambda d: _recode_arm(d, {"control": 1, "cbt": 2, "mindfulness": 3}, "Int64"),
                              None, SAME),
    "arm_text_codes": (lambda d: _recode_arm(d, {"control": "1", "cbt": "2", "mindfulness": "3"}), None, SAME),
    "arm_string_pyarrow": (lambda d: d.assign(arm=d["arm"].astype(str).astype("string[pyarrow]")), None, SAME),
    "arm_stray_spaces": (lambda d: d.assign(arm=d["arm"].astype(str) + " "), None, SAME),
    "arm_unused_category": (lambda d: d.assign(arm=d["arm"].cat.add_categories(["placebo_x"])), None, SAME),
    "nullable_outcomes": (lambda d: d.astype({"phq9_total": "Float64", "gse_total": "Float64",
                                              "sessions_attended": "Int64", "sessions_offered": "Int64",
                                              "wave": "Int64"}), None, SAME),
    "shuffled_index": (lambda d: d.sample(frac=1.0, random_state=1).set_axis(np.arange(len(d))[::-1] * 3),
                       None, SAME),
    "numeric_text_waves": (lambda d: d.assign(wave=d["wave"].astype(str)), None, SAME),
    "arm_case_variants": (lambda d: d.assign(arm=d["arm"].astype(str).where(
        d["participant_id"] != d["participant_id"].iloc[0], "Control")), "arm", None),
    "participant_in_two_arms": (lambda d: d.assign(arm=d["arm"].astype(str).where(
        d.index != 1, "cbt" if d["arm"].iloc[1] != "cbt" else "control")), "arm", None),
    "missing_arm": (lambda d: d.assign(arm=d["arm"].astype(object).where(d.index != 2, None)), "arm", None),
    "single_arm": (lambda d: d[d["arm"] == "cbt"].reset_index(drop=True), None, RESULT),
    "two_arms_bool": (lambda d: _two_arms(d).assign(arm=_two_arms(d)["arm"].astype(str) == "cbt"), None,
                      RESULT),
    "arm_without_outcomes": (lambda d: d.assign(phq9_total=d["phq9_total"].where(d["arm"] != "mindfulness")),
                             None, RESULT),
    "two_waves": (lambda d: d[d["wave"] <= 1].reset_index(drop=True), None, RESULT),
    "duplicated_rows": (lambda d: pd.concat([d, d.iloc[:3]], ignore_index=True), "participant_id, wave", None),
    "text_waves": (lambda d: d.assign(wave="w" + d["wave"].astype(str)), "wave", None),
    "attended_over_offered": (lambda d: d.assign(sessions_attended=d["sessions_attended"].where(
        d.index != 5, 9)), "sessions_attended", None),
    "outcome_not_numbers": (lambda d: d.assign(phq9_total=d["phq9_total"].astype(object).where(
        d.index != 4, "n/a")), "phq9_total", None),
    "outcome_all_missing": (lambda d: d.assign(phq9_total=np.nan), "phq9_total", None),
    "constant_outcome_source": (lambda d: d.assign(src_vicarious=3.0), "src_vicarious", None),
    "collinear_sources": (lambda d: d.assign(src_vicarious=2 * d["src_mastery"] + 1), "src_vicarious", None),
    "five_participants": (lambda d: d[d["participant_id"].isin(d["participant_id"].unique()[::15])]
                          .reset_index(drop=True), None, RESULT),
}


def _growth(d):
    return mixed.growth(d, "phq9_total").fixed["estimate"]


def _within(d):
    return mixed.within_between(d, "phq9_total", "gse_total").fixed["estimate"]


def _lagged(d):
    return mixed.lagged(d, "phq9_total", "gse_total").fixed["estimate"]


def _sources(d):
    return mixed.sources(d).fixed["estimate"]


def _adherence(d):
    return mixed.adherence(d).fixed["estimate"]


def _mediate(d):
    fit = mediation.mediate_change(d, "arm", "gse_total", "phq9_total", n_boot=30, seed=1,
                                   control=_levels(d)[0], treated=_active(d))
    return fit.table["estimate"]


def _multilevel(d):
    fit = mediation.mediate_multilevel(d, "arm", "gse_total", "phq9_total", n_sims=30, seed=1,
                                       control=_levels(d)[0], treated=_active(d))
    return fit.table["estimate"]


def _riclpm(d):
    return panel.riclpm(d, "gse_total", "phq9_total").lagged["estimate"]


def _bayes_design(d):
    return bayes._growth_design(d, "gse_total", "phq9_total").coords["arm"]


RENAMED = {"power": {"gse_total": "self_efficacy", "phq9_total": "symptoms"}}  # power's own column names


def _power(d):
    trial = d.rename(columns=RENAMED["power"])
    return power.analyse_trial(trial, power.TrialDesign(arms=tuple(_levels(d))))


def _levels(d):
    return list(io.arm_factor(d["arm"]).categories)


def _active(d):
    """The treated arm for mediation: 'cbt' under whatever coding the variation gave it."""
    levels = _levels(d)
    return levels[1] if len(levels) > 1 else levels[0]


FAMILIES = {"growth": _growth, "within_between": _within, "lagged": _lagged, "sources": _sources,
            "adherence": _adherence, "mediate_change": _mediate, "mediate_multilevel": _multilevel,
            "riclpm": _riclpm, "bayes_design": _bayes_design, "power": _power}
KEYS = {"participant_id", "wave", "participant_id, wave", "sessions_attended"}  # checked by every family
USES = {
    "growth": KEYS | {"arm", "phq9_total"},
    "within_between": KEYS | {"arm", "phq9_total", "gse_total"},
    "lagged": KEYS | {"arm", "phq9_total", "gse_total"},
    "sources": KEYS | {"arm", "gse_total", "src_vicarious"},
    "adherence": KEYS | {"arm", "gse_total"},
    "mediate_change": KEYS | {"arm", "phq9_total", "gse_total"},
    "mediate_multilevel": KEYS | {"arm", "phq9_total", "gse_total"},
    "riclpm": KEYS | {"phq9_total", "gse_total"},
    "bayes_design": KEYS | {"arm", "phq9_total", "gse_total"},
    "power": KEYS | {"arm", "phq9_total", "gse_total"},
}


def _outcome(family, data):
    try:
        return FAMILIES[family](data), None
    except Exception as exc:  # judged below: where it was raised and what it says
        return None, exc


def _assert_own_error(exc: Exception, column: str | None, key: str):
    where = traceback.extract_tb(exc.__traceback__)[-1].filename
    assert where.startswith(PACKAGE), f"{key}: {type(exc).__name__} raised inside {where}: {exc}"
    assert isinstance(exc, ValueError), f"{key}: {type(exc).__name__}: {exc}"
    if column is not None:
        assert column in str(exc), f"{key}: the error does not name {column!r}: {exc}"


@pytest.fixture(scope="module")
def plain_results(base):
    return {family: _outcome(family, base)[0] for family in FAMILIES}


@pytest.mark.parametrize("family", list(FAMILIES))
@pytest.mark.parametrize("variation", list(VARIATIONS))
def test_variation_gives_a_correct_result_or_a_clear_error(base, plain_results, family, variation):
    change, column, expect = VARIATIONS[variation]
    if column is not None and column not in USES[family]:  # a problem in a column the model does not use
        column, expect = None, SAME
    column = RENAMED.get(family, {}).get(column, column)
    data = change(base.copy())
    before = data.copy()
    result, exc = _outcome(family, data)
    key = f"{variation} x {family}"
    pd.testing.assert_frame_equal(data, before)  # the user's table is never modified
    if exc is not None:
        _assert_own_error(exc, column, key)
        assert expect != SAME, f"{key}: refused a table with the same meaning: {exc}"
        return
    assert column is None, f"{key}: accepted a table that should be refused (column {column!r})"
    if expect == SAME:
        _assert_same(plain_results[family], result, key)


def _assert_same(plain, result, key):
    """Equal numbers; row order can move an iterative optimum within its tolerance, hence rtol 1e-6."""
    if isinstance(plain, pd.Index) or isinstance(plain, list):
        assert len(plain) == len(result), key
        return
    if isinstance(plain, pd.DataFrame):
        np.testing.assert_allclose(result.select_dtypes("number").to_numpy(float),
                                   plain.select_dtypes("number").to_numpy(float), rtol=1e-6, err_msg=key)
        return
    np.testing.assert_allclose(np.asarray(result, float), np.asarray(plain, float), rtol=1e-6, atol=1e-10,
                               err_msg=key)


# --- end to end: two real-looking exports, validated, reported and opened in a browser ----------------

@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    data = own_data.trial()
    return {"wide": own_data.write_wide(folder, data), "sums": own_data.write_sums(folder, data)}


@pytest.mark.parametrize("kind, data", [("wide", "export.xlsx"), ("sums", "summen.csv")])
def test_validate_passes_with_the_read_line_and_suggests_it_without(exports, kind, data, capsys, tmp_path):
    folder = exports[kind].parent
    before = (folder / data).read_bytes()
    assert cli.main(["validate", str(folder / data), "--mapping", str(folder / "mapping.yml")]) == 0
    assert "valid" in capsys.readouterr().out
    mapping = io.load_yaml((folder / "mapping.yml").read_text(encoding="utf-8"))
    read = mapping.pop("read")
    bare = tmp_path / "mapping.yml"
    bare.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    assert cli.main(["validate", str(folder / data), "--mapping", str(bare)]) == 2
    message = capsys.readouterr()
    suggested = next(name for name in read if name != "na_values")
    assert "read: {" in message.out + message.err and suggested in message.out + message.err
    assert (folder / data).read_bytes() == before  # input files are never changed


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wide", "sums"])
def test_every_report_runs_on_the_export_and_passes_the_browser_check(exports, kind):
    config = exports[kind]
    assert cli.main(["run", "--config", str(config)]) == 0
    output = config.parent / "reports"  # the config's output: is relative to the config file
    results = json.loads((output / "results.json").read_text())
    expected = own_data.TRIAL_REPORTS if kind == "sums" else own_data.DATA_REPORTS
    assert set(own_data.DATA_REPORTS) >= {"01_data_quality", "03_bayesian_growth", "08_primary_analysis",
                                          "09_measurement"} and "06_meta_analysis" not in own_data.DATA_REPORTS
    assert sorted(results) == sorted(expected)
    assert {name: entry["status"] for name, entry in results.items()} == {name: "ok" for name in expected}
    check = browser.check_reports(output, screenshots=False)
    assert check.ok, check.problems
    quality = (output / "01_data_quality.html").read_text()
    assert ("Short well-being scale" in quality) == (kind == "wide")
    mixed_page = (output / "02_mixed_effects.html").read_text()
    reference = "waitlist (reference)" if kind == "wide" else "0 (reference)"
    assert reference in mixed_page
