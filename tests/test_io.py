"""The trial-data contract: reading, mapping, wide-to-long, validation and scoring."""

import hashlib
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml

from analysis import io, scales

NAN = np.nan
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
    assert list(data.attrs["instruments"]) == ["gse", "phq9"]
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
    assert list(data.attrs["instruments"]) == ["cesd"]
    assert data.groupby("wave")["participant_id"].nunique().tolist() == [470, 254, 217, 254, 277]
    assert sorted(data["time"].unique()) == [0.0, 26.0, 52.0, 78.0, 104.0]
    # Complete baseline CES-D items score to the study's own CES_D total (reverse keys applied).
    raw = pd.read_csv(Path(__file__).parents[1] / "data" / "HELPfull.csv", low_memory=False)
    raw = raw[raw.TIME == 0].set_index("ID")
    complete = data[(data.wave == 0)].set_index("participant_id")
    complete = complete[complete[[f"cesd_{i}" for i in range(1, 21)]].notna().all(axis=1)]
    np.testing.assert_array_equal(complete["cesd_total"], raw.loc[complete.index, "CES_D"])


# --------------------------------------------------------------------------- real exports: the read: section

EXPORTS = HERE / "exports"


def reference_table() -> pd.DataFrame:
    return io.load_trial(VALID / "small_long.csv")


def mapping_of(path: Path) -> dict:
    """A mapping file as the dict a user would write inline."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def cp1252_cells(path: Path, column: str) -> list[str]:
    """A column of the European fixture as raw text, read without the package."""
    lines = [line for line in path.read_bytes().decode("cp1252").splitlines()[1:] if line.strip()]
    header, *rows = [line.split(";") for line in lines]
    return [row[header.index(column)] for row in rows]


def test_european_csv_reads_with_its_read_section():
    before = digest(EXPORTS / "european.csv")
    data = io.load_trial(EXPORTS / "european.csv", mapping=EXPORTS / "european.yml")
    pd.testing.assert_frame_equal(data.drop(columns="weight_kg"), reference_table())
    raw = cp1252_cells(EXPORTS / "european.csv", "Körpergewicht")
    coded = [cell in ("-99", ".") for cell in raw]
    assert any(coded) and not all(coded)
    weight = pd.to_numeric(data["weight_kg"])
    assert weight.isna().tolist() == coded  # -99 and "." are missing
    assert weight[~weight.isna()].tolist() == [float(c.replace(",", ".")) for c in raw if c not in ("-99", ".")]
    assert digest(EXPORTS / "european.csv") == before  # the input file is never modified


def test_european_csv_without_read_section_gets_the_line_to_add():
    spec = mapping_of(EXPORTS / "european.yml")
    with pytest.raises(io.DataFileError) as err:
        io.load_trial(EXPORTS / "european.csv", mapping={"columns": spec["columns"]})
    message = str(err.value)
    assert "\n" not in message and "not UTF-8" in message and "semicolon" in message
    suggested = yaml.safe_load(message.split("add this line to the mapping: ")[1])["read"]
    assert {key: suggested[key] for key in ("sep", "decimal", "encoding", "skiprows")} == {
        key: spec["read"][key] for key in ("sep", "decimal", "encoding", "skiprows")}
    # The suggested line alone reads the file; only the weights' missing codes need na_values.
    data = io.load_trial(EXPORTS / "european.csv", mapping={"columns": spec["columns"], "read": suggested})
    pd.testing.assert_frame_equal(data.drop(columns="weight_kg"), reference_table())


@pytest.mark.parametrize("missing, words", [
    ("decimal", "decimal commas"),
    ("skiprows", "column names seem to be in row 2"),
    ("encoding", "not UTF-8"),
    ("sep", "semicolons"),
])
def test_each_missing_read_option_is_named_and_suggested(missing, words):
    spec = mapping_of(EXPORTS / "european.yml")
    read = {key: value for key, value in spec["read"].items() if key != missing}
    with pytest.raises(io.DataFileError) as err:
        io.load_trial(EXPORTS / "european.csv", mapping={"columns": spec["columns"], "read": read})
    assert words in str(err.value)
    suggested = yaml.safe_load(str(err.value).split("add this line to the mapping: ")[1])["read"]
    assert suggested[missing] == spec["read"][missing]


def test_rows_of_a_european_csv_are_its_line_numbers(tmp_path):
    text = (EXPORTS / "european.csv").read_bytes().decode("cp1252")
    lines = text.split("\r\n")
    line = next(i for i, row in enumerate(lines) if row.startswith("A3;0;"))  # below the blank line
    cells = lines[line].split(";")
    cells[4] = "41"  # GSE above its range 10..40
    lines[line] = ";".join(cells)
    bad = tmp_path / "bad.csv"
    bad.write_bytes("\r\n".join(lines).encode("cp1252"))
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(bad, mapping=EXPORTS / "european.yml")
    (problem,) = err.value.problems
    assert problem.column == "gse_total" and problem.rows == (line + 1,) and problem.values == (41,)


def test_utf16_text_gets_the_encoding_to_add(tmp_path):
    path = tmp_path / "utf16.csv"
    path.write_text((VALID / "small_long.csv").read_text(), encoding="utf-16")
    with pytest.raises(io.DataFileError, match='encoding: "utf-16"'):
        io.read_table(path)
    pd.testing.assert_frame_equal(io.load_trial(path, {"read": {"encoding": "utf-16"}}), reference_table())


def test_excel_sheet_by_name_or_number_below_a_title_row():
    reference = reference_table()
    spec = mapping_of(EXPORTS / "workbook.yml")
    for sheet in ("Daten", 2):
        data = io.load_trial(EXPORTS / "workbook.xlsx", mapping={**spec, "read": {**spec["read"], "sheet": sheet}})
        pd.testing.assert_frame_equal(data.drop(columns="age"), reference)
    raw = pd.read_excel(EXPORTS / "workbook.xlsx", sheet_name="Daten", skiprows=1)
    assert data["age"].isna().tolist() == (raw["Alter"] == -99).tolist()


def test_excel_absent_sheet_lists_the_sheets():
    with pytest.raises(io.DataFileError) as err:
        io.read_table(EXPORTS / "workbook.xlsx", read={"sheet": "Data"})
    assert "'Data'" in str(err.value) and str(pd.ExcelFile(EXPORTS / "workbook.xlsx").sheet_names) in str(err.value)
    with pytest.raises(io.DataFileError, match="read.sheet 3"):
        io.read_table(EXPORTS / "workbook.xlsx", read={"sheet": 3})


def test_excel_title_row_and_decimal_comma_text_are_suggested():
    spec = mapping_of(EXPORTS / "workbook.yml")
    with pytest.raises(io.DataFileError) as err:
        io.load_trial(EXPORTS / "workbook.xlsx", mapping={"columns": spec["columns"], "read": {"sheet": "Daten"}})
    suggested = yaml.safe_load(str(err.value).split("add this line to the mapping: ")[1])["read"]
    assert suggested == {key: spec["read"][key] for key in ("sheet", "skiprows", "decimal")}


def test_decimal_comma_text_given_as_a_frame_is_explained():
    frame = pd.read_csv(VALID / "small_long.csv", dtype=object)
    frame.loc[1, "time"] = "2,5"
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    (problem,) = err.value.problems
    assert problem.column == "time" and problem.rows == (3,) and 'decimal: ","' in problem.reason


def test_rows_of_an_excel_sheet_are_its_row_numbers(tmp_path):
    book = openpyxl.load_workbook(EXPORTS / "workbook.xlsx")
    sheet = book["Daten"]
    header = [cell.value for cell in sheet[2]]
    target = next(row for row in sheet.iter_rows(min_row=3) if row[0].value == "A2" and row[1].value == 1)
    target[header.index("PHQ_3")].value = 7  # PHQ-9 items run 0..3
    bad = tmp_path / "bad.xlsx"
    book.save(bad)
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(bad, mapping=EXPORTS / "workbook.yml")
    (problem,) = err.value.problems
    assert problem.column == "phq9_3" and problem.rows == (target[0].row,) and problem.values == (7,)


def test_thousands_and_missing_codes_in_text(tmp_path):
    frame = pd.read_csv(VALID / "small_long.csv").assign(income="1.250,5")
    frame.loc[2, "income"] = "NA"
    frame.loc[3, "income"] = "-99"
    path = tmp_path / "income.csv"
    frame.to_csv(path, sep=";", index=False)
    data = io.load_trial(path, {"read": {"sep": ";", "decimal": ",", "thousands": ".", "na_values": -99}})
    income = pd.to_numeric(data["income"])
    assert income.isna().tolist() == [i in (2, 3) for i in range(len(frame))]
    assert set(income.dropna()) == {1250.5}


@pytest.mark.parametrize("read, words", [
    ({"delimiter": ";"}, "unknown keys ['delimiter']; allowed: ['sep', "),
    ({"sep": ";;"}, "read.sep: must be one character"),
    ({"decimal": ";"}, "read.decimal"),
    ({"encoding": "klingon"}, "read.encoding"),
    ({"skiprows": -1}, "read.skiprows"),
    ({"header": 1, "skiprows": 2}, "read.header: row 1 is among the 2 rows skipped"),
    ({"decimal": ",", "thousands": ","}, "read.thousands"),
])
def test_malformed_read_options_are_named(read, words):
    with pytest.raises(io.DataValidationError) as err:
        io.read_mapping({"read": read})
    assert words in str(err.value)


def test_read_options_that_do_not_apply_to_the_format_are_refused():
    with pytest.raises(io.DataFileError, match="read.sheet does not apply to text files"):
        io.read_table(VALID / "small_long.csv", read={"sheet": 1})
    with pytest.raises(io.DataFileError, match="read.encoding does not apply to Excel files"):
        io.read_table(VALID / "small_long.xlsx", read={"encoding": "cp1252"})


def test_header_row_and_skipped_rows_count_as_the_file_shows_them(tmp_path):
    lines = (VALID / "small_long.csv").read_text().splitlines()
    lines = ["exported 2024-03-01", "by the study database"] + lines[:1] + ["(units row)"] + lines[1:]
    lines[7] = lines[7].replace(",cbt,23,", ",cbt,55,")  # gse_total out of range on line 8
    path = tmp_path / "titled.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(path, {"read": {"header": 3, "skiprows": [4]}})
    assert [(p.column, p.rows) for p in err.value.problems] == [("gse_total", (8,))]


# --------------------------------------------------------------------------- wide files


def test_wide_file_problems_name_the_wide_rows(tmp_path):
    lines = (VALID / "wide.csv").read_text().splitlines()
    lines = ["wide export of the trial", *lines]
    target = next(i for i, line in enumerate(lines) if line.startswith("A2,"))
    lines[target] = lines[target].replace(",24,", ",99,")  # gse_total at wave 1 out of range
    path = tmp_path / "wide.csv"
    path.write_text("\n".join(lines) + "\n")
    mapping = {**mapping_of(VALID / "wide.yml"), "read": {"skiprows": 1}}
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(path, mapping=mapping)
    (problem,) = err.value.problems
    assert problem.column == "gse_total" and problem.rows == (target + 1,) and problem.values == (99,)


def test_from_wide_keeps_the_row_each_long_row_came_from():
    wide = pd.read_csv(VALID / "wide.csv")
    long = io.from_wide(wide)
    assert long.index.name == "file_row"
    for pid, rows in long.groupby("participant_id").groups.items():
        assert set(rows) == {wide.index[wide.participant_id == pid][0] + 2}


def test_wide_pattern_that_matches_nothing_says_what_it_saw():
    wide = pd.read_csv(VALID / "wide.csv")
    wide.columns = [c.replace("_w", "_T") for c in wide.columns]
    with pytest.raises(io.DataValidationError) as err:
        io.from_wide(wide)
    (problem,) = err.value.problems
    assert problem.column == "wide.pattern"
    assert r"'^(?P<var>.+)_w(?P<wave>\\d+)$'" in problem.reason  # the pattern
    assert str(list(wide.columns)) in problem.reason  # the columns present
    suggestion = problem.reason.split("the pattern ")[1].split(" would match")[0].strip("'").replace("\\\\", "\\")
    long = io.from_wide(wide, pattern=suggestion)
    assert sorted(long["wave"].unique()) == [0, 1, 2]


def test_wide_waves_in_months_recode_through_the_values_section():
    wide = pd.read_csv(VALID / "wide.csv")
    wide.columns = [c.replace("_w1", "_m6").replace("_w2", "_m12").replace("_w0", "_m0") for c in wide.columns]
    mapping = {"wide": {"pattern": r"^(?P<var>.+)_m(?P<wave>\d+)$"}, "values": {"wave": {0: 0, 6: 1, 12: 2}}}
    data = io.load_trial(wide, mapping=mapping)
    assert sorted(data["wave"].unique()) == [0, 1, 2]
    np.testing.assert_array_equal(data["gse_total"], reference_table()["gse_total"])


def test_unknown_wide_keys_are_refused():
    with pytest.raises(io.DataValidationError, match=r"wide: unknown keys \['patern'\]"):
        io.read_mapping({"wide": {"patern": "x"}})


# --------------------------------------------------------------------------- instruments a mapping defines

BRS_ITEMS = [f"res{i}" for i in range(1, 7)]  # the file's names of the Brief Resilience Scale items


def brs_mapping(**changes) -> dict:
    """The issue's instruments: example, with the items under the file's own names."""
    brs = mapping_of(EXPORTS / "contract_example.yml")["instruments"]["brs"]
    return {"instruments": {"brs": {**brs, "items": BRS_ITEMS, **changes}}}


def brs_trial(answers: list[list[float]]) -> pd.DataFrame:
    """small_long's first rows with BRS answers (one list per row) under the file's names."""
    frame = pd.read_csv(VALID / "small_long.csv").head(len(answers))
    return frame.join(pd.DataFrame(answers, columns=BRS_ITEMS, index=frame.index))


def test_contract_example_defines_the_instrument_as_written():
    written = mapping_of(EXPORTS / "contract_example.yml")["instruments"]["brs"]
    brs = io.read_mapping(EXPORTS / "contract_example.yml")["instruments"]["brs"]
    assert (brs.name, brs.n_items, brs.reverse, brs.higher_is_better) == (
        written["label"], written["items"], tuple(written["reverse"]), written["higher_is_better"])
    assert [brs.item_min, brs.item_max] == written["item_range"]
    assert [brs.total_min, brs.total_max] == written["total_range"]
    assert (brs.max_missing, brs.reference_alpha) == (written["max_missing"], written["reliability"])
    assert brs.items == [f"brs_{i}" for i in range(1, 7)] and brs.total == "brs_total"


def test_custom_instrument_is_scored_with_reverse_keys_and_prorating():
    data = io.load_trial(brs_trial([
        [1, 1, 1, 1, 1, 1],      # items 2, 4, 6 reverse: 6 - 1 = 5 each -> 3 * 1 + 3 * 5 = 18
        [5, 5, 5, 5, 5, 5],      # 3 * 5 + 3 * 1 = 18
        [5, 1, 5, 1, 5, 1],      # resilient answers throughout: 6 * 5 = 30
        [2, 4, 3, 2, 5, NAN],    # 1 missing (max_missing 1): 2 + 2 + 3 + 4 + 5 = 16 over 5 -> 16 / 5 * 6 = 19.2
        [2, 4, 3, 2, NAN, NAN],  # 2 missing: no total
    ]), mapping=brs_mapping())
    assert data["brs_total"].iloc[:4].tolist() == pytest.approx([18, 18, 30, 19.2])
    assert np.isnan(data["brs_total"].iloc[4])
    assert data.attrs["instruments"]["brs"] is scales.get("brs", data)
    assert io.summarise(data)["instruments"]["brs"] == "items"


def test_custom_instrument_answers_out_of_range_are_refused():
    answers = [[1, 2, 3, 4, 5, 1], [1, 2, 6, 4, 5, 1], [0, 2, 3, 4, 5, 1]]
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(brs_trial(answers), mapping=brs_mapping())
    found = {p.column: (p.rows, p.values) for p in err.value.problems}
    assert found == {"brs_3": ((3,), (6,)), "brs_1": ((4,), (0,))}
    assert all("from 1 to 5" in p.reason for p in err.value.problems)


def test_file_total_beside_too_few_items_is_flagged():
    frame = brs_trial([[1, 1, 1, 1, 1, 1], [2, 4, 3, 2, NAN, NAN], [NAN] * 6, [2, 4, 3, 2, 5, NAN]])
    frame["brs_total"] = [18, 11, 20, 19]  # row 3: 2 of 6 missing, max_missing 1; row 4: no items, kept
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(frame, mapping=brs_mapping())
    (problem,) = err.value.problems
    assert problem.column == "brs_total" and problem.rows == (3,) and problem.values == (11,)
    assert "more than 1 of its 6 items are missing" in problem.reason


def test_prorated_file_total_agrees_up_to_rounding_else_it_is_flagged():
    frame = brs_trial([[2, 4, 3, 2, 5, NAN]] * 3)  # prorated total 19.2
    frame["brs_total"] = [19.2, 19, 21]
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(frame, mapping=brs_mapping())
    (problem,) = err.value.problems
    assert problem.rows == (4,) and "disagrees" in problem.reason


def test_custom_total_only_instrument_is_range_checked():
    mapping = {"instruments": {"wellbeing": {"label": "WHO-5", "total_range": [0, 25], "higher_is_better": True}}}
    frame = pd.read_csv(VALID / "small_long.csv").assign(wellbeing_total=12)
    frame.loc[5, "wellbeing_total"] = 26
    with pytest.raises(io.DataValidationError) as err:
        io.load_trial(frame, mapping=mapping)
    (problem,) = err.value.problems
    assert problem.column == "wellbeing_total" and problem.rows == (7,) and "from 0 to 25" in problem.reason
    data = io.load_trial(frame.drop(index=5), mapping=mapping)
    assert io.summarise(data)["instruments"]["wellbeing"] == "total"


@pytest.mark.parametrize("change, column, words", [
    ({"reverse": [7]}, "instruments.brs.reverse", "1..6"),
    ({"item_range": [5, 1]}, "instruments.brs.item_range", "lowest < highest"),
    ({"total_range": [1, 5]}, "instruments.brs.total_range", "must be [6, 30]"),
    ({"max_missing": 6}, "instruments.brs.max_missing", "0..5"),
    ({"higher_is_better": "yes"}, "instruments.brs.higher_is_better", "'yes'"),
    ({"reliability": 1.2}, "instruments.brs.reliability", "between 0 and 1"),
    ({"items": ["res1", "res1"]}, "instruments.brs.items", "distinct"),
    ({"scoring": "mean"}, "instruments.brs", "unknown keys ['scoring']"),
])
def test_malformed_instrument_definitions_are_named(change, column, words):
    with pytest.raises(io.DataValidationError) as err:
        io.read_mapping(brs_mapping(**change))
    (problem,) = err.value.problems
    assert problem.column == column and words in problem.reason


def test_a_definition_may_not_replace_a_built_in_instrument():
    with pytest.raises(io.DataValidationError, match="instruments.gse: is a built-in instrument"):
        io.read_mapping({"instruments": {"gse": {"total_range": [10, 40], "higher_is_better": True}}})


# --------------------------------------------------------------------------- therapist and group (a third level)


@pytest.mark.parametrize("cluster", ["therapist", "group"])
def test_cluster_column_is_read_as_text_and_kept_missing_where_partially_nested(cluster):
    frame = pd.read_csv(VALID / "small_long.csv")
    frame[cluster] = [NAN] * 3 + [7.0] * 6  # A1 (control) has none; A2 and A3 share therapist 7
    data = io.validate(frame)
    assert data[cluster].tolist()[3:] == ["7"] * 6
    assert data[cluster].iloc[:3].isna().all()


def test_categorical_cluster_column_is_kept_as_given():
    frame = pd.read_csv(VALID / "small_long.csv")
    frame["therapist"] = pd.Categorical(["T1"] * 3 + ["T2"] * 6, categories=["T2", "T1"])
    assert list(io.validate(frame)["therapist"].cat.categories) == ["T2", "T1"]


@pytest.mark.parametrize("cluster", ["therapist", "group"])
def test_cluster_changing_within_a_participant_is_refused_naming_column_rows_and_values(cluster):
    frame = pd.read_csv(VALID / "small_long.csv")
    frame[cluster] = ["T1"] * 3 + ["T2", "T3", "T2"] + ["T4"] * 3  # A2 sees two therapists
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    (problem,) = err.value.problems
    assert problem.column == f"participant_id, {cluster}"
    assert f"{cluster} must be constant within a participant" in problem.reason
    assert problem.rows == (5, 6, 7) and problem.values == ("A2, T2", "A2, T3", "A2, T2")


def test_cluster_recorded_at_some_waves_only_is_refused():
    # Partially nested designs leave a participant without a therapist at every wave;
    # a therapist missing at one wave of a treated participant is a gap in the data.
    frame = pd.read_csv(VALID / "small_long.csv")
    frame["therapist"] = ["T1"] * 3 + ["T2", None, "T2"] + [None] * 3
    with pytest.raises(io.DataValidationError) as err:
        io.validate(frame)
    (problem,) = err.value.problems
    assert problem.rows == (5, 6, 7) and "missing at every wave" in problem.reason
