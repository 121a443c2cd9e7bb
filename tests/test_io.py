"""The trial-data contract: reading, mapping, wide-to-long, validation and scoring."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io

HERE = Path(__file__).parent / "data"
VALID = HERE / "valid"
MALFORMED = HERE / "malformed"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", ["small_long.csv", "small_long.tsv", "small_long.parquet", "small_long.xlsx"])
def test_every_format_reads_to_the_same_table(name):
    reference = io.load_trial(VALID / "small_long.csv")
    data = io.load_trial(VALID / name)
    pd.testing.assert_frame_equal(data, reference)


def test_tidy_table_scores_items_and_fills_time():
    data = io.load_trial(VALID / "small_long.csv")
    assert data.attrs["instruments"] == ["gse", "phq9"]
    # A3 answers 3 on every PHQ-9 item at wave 0, 2 at wave 1, 1 at wave 2.
    a3 = data[data.participant_id == "A3"].set_index("wave")["phq9_total"]
    assert a3.tolist() == [27.0, 18.0, 9.0]
    assert list(data["arm"].cat.categories) == ["control", "cbt"]  # control-like level first
    assert str(data["phq9_1"].dtype) == "Int64"
    assert data["time"].tolist()[:3] == [0.0, 2.0, 4.0]


def test_time_defaults_to_wave_when_absent():
    frame = pd.read_csv(VALID / "small_long.csv").drop(columns="time")
    data = io.load_trial(frame)
    assert (data["time"] == data["wave"]).all()


def test_mapping_from_yaml_and_dict_give_the_same_table():
    reference = io.load_trial(VALID / "small_long.csv")
    from_yaml = io.load_trial(VALID / "own_names.csv", mapping=VALID / "own_names.yml")
    from_dict = io.load_trial(
        VALID / "own_names.csv", mapping={"ID": "participant_id", "Visit": "wave", "Group": "arm", "GSE": "gse_total"}
    )
    pd.testing.assert_frame_equal(from_yaml, reference)
    pd.testing.assert_frame_equal(from_dict, reference)


def test_mapping_naming_absent_column_is_reported():
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(VALID / "own_names.csv", mapping={"Identifier": "participant_id"})
    assert err.value.problems[0].column == "Identifier"
    assert "not in the file" in err.value.problems[0].reason


def test_wide_file_converts_with_pattern_and_time():
    data = io.load_trial(VALID / "wide.csv", mapping=VALID / "wide.yml")
    long = io.load_trial(VALID / "small_long.csv")
    assert len(data) == 9
    assert data["time"].tolist()[:3] == [0.0, 4.0, 8.0]
    np.testing.assert_array_equal(data["gse_total"], long["gse_total"])


def test_from_wide_with_explicit_columns_numbers_participants():
    wide = pd.DataFrame({"treatment": ["TAU", "BtheB"], "bdi.pre": [30, 25], "bdi.2m": [20, np.nan]})
    long = io.from_wide(wide, columns={"bdi_total": {0: "bdi.pre", 1: "bdi.2m"}})
    assert long["participant_id"].tolist() == [1, 1, 2, 2]
    assert long["wave"].tolist() == [0, 1, 0, 1]
    assert long["bdi_total"].tolist()[:3] == [30, 20, 25]
    assert np.isnan(long["bdi_total"].iloc[3])


def test_from_wide_without_matching_columns_says_so():
    with pytest.raises(ValueError, match="no column matches"):
        io.from_wide(pd.DataFrame({"participant_id": [1], "x": [2]}))


MALFORMED_CASES = {
    # file: (column named in the problem, words in the reason, offending rows)
    "duplicate_wave.csv": ("participant_id, wave", "more than once", (6, 11)),
    "item_out_of_range.csv": ("phq9_3", "from 0 to 3", (4, 7)),
    "total_out_of_range.csv": ("gse_total", "from 10 to 40", (5, 8)),
    "nonnumeric_wave.csv": ("wave", "not numbers", (6, 9)),
    "missing_arm.csv": ("arm", "required column is missing", ()),
    "time_decreasing.csv": ("participant_id, wave, time", "time decreases", (4,)),
    "missing_id.csv": ("participant_id", "missing", (2,)),
    "incomplete_items.csv": ("phq9_4", "incomplete", ()),
    "no_instruments.csv": ("instruments", "no instrument columns", ()),
}


@pytest.mark.parametrize("name", sorted(MALFORMED_CASES))
def test_malformed_file_lists_the_problem_with_column_and_rows(name):
    column, words, rows = MALFORMED_CASES[name]
    before = digest(MALFORMED / name)
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(MALFORMED / name)
    problem = next(p for p in err.value.problems if p.column == column)
    assert words in problem.reason
    assert problem.rows == rows
    assert problem.count == len(rows)
    assert digest(MALFORMED / name) == before  # the input file is never modified


def test_every_problem_is_listed_not_only_the_first():
    frame = pd.read_csv(VALID / "small_long.csv")
    frame.loc[0, "gse_total"] = 50
    frame.loc[1, "phq9_2"] = 9
    frame.loc[2, "arm"] = None
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    columns = {p.column for p in err.value.problems}
    assert {"gse_total", "phq9_2", "arm"} <= columns
    assert "3 problems" in str(err.value)


def test_problem_shows_first_five_rows_and_the_count():
    frame = pd.read_csv(VALID / "small_long.csv")
    frame["gse_total"] = 99
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    (problem,) = err.value.problems
    assert problem.count == 9 and len(problem.rows) == 5 and problem.values == (99,) * 5
    assert "first 5 shown" in str(problem)


def test_total_that_disagrees_with_items_is_reported():
    frame = pd.read_csv(VALID / "small_long.csv")
    frame["phq9_total"] = frame[[f"phq9_{i}" for i in range(1, 10)]].sum(axis=1)
    frame.loc[3, "phq9_total"] += 1
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    (problem,) = err.value.problems
    assert problem.column == "phq9_total" and problem.rows == (5,)


def test_attended_more_than_offered_is_reported():
    frame = pd.read_csv(VALID / "small_long.csv").assign(sessions_offered=2, sessions_attended=1)
    frame.loc[4, "sessions_attended"] = 3
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    assert err.value.problems[0].rows == (6,)


@pytest.mark.parametrize(
    "name, words",
    [
        ("empty.csv", "empty"),
        ("header_only.csv", "no data rows"),
        ("binary.csv", "not a text file"),
        ("semicolon.csv", "semicolon"),
        ("latin1.csv", "not UTF-8"),
    ],
)
def test_unreadable_files_get_a_one_line_reason(name, words):
    with pytest.raises(io.DataFileError) as err:
        io.read_table(MALFORMED / name)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(io.DataFileError, match="no such file"):
        io.read_table(tmp_path / "absent.csv")
    with pytest.raises(io.DataFileError, match="directory"):
        io.read_table(tmp_path)


def test_validate_does_not_modify_the_frame():
    frame = pd.read_csv(VALID / "small_long.csv")
    copy = frame.copy()
    io.validate(frame)
    pd.testing.assert_frame_equal(frame, copy)


def test_summarise_counts_participants_waves_and_missingness():
    frame = pd.read_csv(VALID / "small_long.csv")
    frame = frame[~((frame.participant_id == "A3") & (frame.wave == 2))]  # A3 drops out
    summary = io.summarise(io.validate(frame))
    assert summary["participants"] == 3
    assert summary["waves"] == {0: 3, 1: 3, 2: 2}
    assert summary["arms"] == {"control": 1, "cbt": 2}
    assert summary["missing_by_wave"].loc[2, "gse_total"] == pytest.approx(33.3)
    assert summary["instruments"] == {"gse": "total", "phq9": "items"}


def test_bundled_name_loads_with_its_mapping():
    data = io.load_trial("BtheB")
    assert data["participant_id"].nunique() == 100
    assert set(data["arm"].cat.categories) == {"TAU", "BtheB"}
    assert data["arm"].cat.categories[0] == "TAU"


def test_a_non_numeric_wave_does_not_hide_other_problems_nor_repeat_itself():
    frame = pd.read_csv(VALID / "small_long.csv").astype({"wave": object})
    frame.loc[4, "wave"] = "baseline"
    frame.loc[0, "gse_total"] = 50
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    assert [(p.column, p.rows) for p in err.value.problems] == [("wave", (6,)), ("gse_total", (2,))]


def test_values_and_time_sections_recode_long_files():
    frame = pd.read_csv(VALID / "small_long.csv").astype({"wave": str})
    frame["wave"] = frame["wave"].map({"0": "0", "1": "6", "2": "12"})  # months, as text
    frame["arm"] = frame["arm"].map({"control": 0, "cbt": 1})
    mapping = {"values": {"wave": {0: 0, 6: 1, 12: 2}, "arm": {0: "usual care", 1: "clinic"}},
               "time": {0: 0.0, 1: 26.0, 2: 52.0}}
    data = io.load_trial(frame, mapping=mapping)
    assert data["wave"].tolist()[:3] == [0, 1, 2]
    assert data["time"].tolist()[:3] == [0.0, 26.0, 52.0]
    assert list(data["arm"].cat.categories) == ["usual care", "clinic"]


def test_values_section_naming_an_absent_column_is_reported():
    with pytest.raises(io.DataValidationError, match="values section"):
        io.load_trial(VALID / "small_long.csv", mapping={"values": {"group": {0: "a"}}})


def test_help_study_loads_through_its_bundled_mapping():
    data = io.load_trial("HELPfull")
    assert data.attrs["instruments"] == ["cesd"]
    assert data.groupby("wave")["participant_id"].nunique().tolist() == [470, 254, 217, 254, 277]
    assert sorted(data["time"].unique()) == [0.0, 26.0, 52.0, 78.0, 104.0]
    # Complete baseline CES-D items score to the study's own CES_D total (reverse keys applied).
    raw = pd.read_csv(Path(__file__).parents[1] / "data" / "HELPfull.csv", low_memory=False)
    raw = raw[raw.TIME == 0].set_index("ID")
    complete = data[(data.wave == 0)].set_index("participant_id")
    complete = complete[complete[[f"cesd_{i}" for i in range(1, 21)]].notna().all(axis=1)]
    np.testing.assert_array_equal(complete["cesd_total"], raw.loc[complete.index, "CES_D"])
