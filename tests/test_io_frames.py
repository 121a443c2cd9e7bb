"""The one definition of an arm and the one preparation of model inputs (analysis.io.arms, io.frames)."""

import numpy as np
import pandas as pd
import pytest

from analysis import io


@pytest.mark.parametrize("values, levels", [
    (["cbt", "control", "mindfulness", "cbt"], ["control", "cbt", "mindfulness"]),
    (["CBT", "Waitlist"], ["Waitlist", "CBT"]),
    (["b", "a", "Usual Care"], ["Usual Care", "a", "b"]),
    ([2, 1, 1, 2], ["1", "2"]),
    ([1.0, 0.0, np.nan], ["0", "1"]),
    ([True, False, True], ["0", "1"]),
    ([10, 9, 2], ["2", "9", "10"]),  # numbers compared as numbers, not as text
])
def test_arm_factor_reference_rule(values, levels):
    arm = io.arm_factor(pd.Series(values))
    assert list(arm.categories) == levels
    assert io.reference_arm(arm) == levels[0]


@pytest.mark.parametrize("dtype", ["Int64", "Float64", "string[pyarrow]", "category", object])
def test_arm_factor_same_levels_for_every_dtype(dtype):
    arm = io.arm_factor(pd.Series([2, 1, None, 2]).astype(dtype))
    assert list(arm.categories) == ["1", "2"]
    assert pd.isna(arm[2]) and list(arm[[0, 1, 3]]) == ["2", "1", "2"]


def test_arm_factor_order_and_explicit_reference():
    values = pd.Series(["x", "y", "z"])
    assert list(io.arm_factor(values, order=["z", "x"]).categories) == ["z", "x", "y"]
    assert list(io.arm_factor(values, reference="y").categories) == ["y", "x", "z"]
    with pytest.raises(io.DataValidationError, match="reference arm 'w' is not in the data"):
        io.arm_factor(values, reference="w")


def test_arm_factor_refuses_case_and_space_variants_naming_both():
    with pytest.raises(io.DataValidationError) as info:
        io.arm_factor(pd.Series(["Control ", "control", "cbt"]))
    text = str(info.value)
    assert "'Control '" in text and "'control'" in text and "row 2" in text and "row 3" in text
    assert "values: {arm: {'Control ': 'control'}}" in text


def test_arm_factor_strips_a_lone_stray_space():
    assert list(io.arm_factor(pd.Series(["cbt ", "control"])).categories) == ["control", "cbt"]


def test_describe_arms():
    assert io.describe_arms(io.arm_factor(pd.Series(["cbt", "control"]))) == "arms: control (reference), cbt"
    assert io.describe_arms(io.arm_factor(pd.Series(["cbt"]))) == "single arm (cbt): no arm effects"


def _trial():
    return pd.DataFrame({
        "participant_id": [1, 1, 2, 2, 3, 3],
        "wave": [0, 1, 0, 1, 0, 1],
        "arm": [0, 0, 1, 1, 1, 1],
        "y": [1.0, 2.0, 3.0, np.nan, 5.0, 6.0],
    })


def test_model_frame_converts_nullable_dtypes_and_keeps_index_labels():
    data = _trial().set_axis(list("abcdef"))
    data["y"] = data["y"].astype("Float64")
    data["wave"] = data["wave"].astype("string[pyarrow]")
    frame = io.model_frame(data, numeric=["y"], arm="arm", group="participant_id", wave="wave")
    assert list(frame.data.index) == ["a", "b", "c", "e", "f"] and frame.n_dropped == 1
    assert frame.data["y"].dtype == np.float64 and frame.data["wave"].dtype == np.int64
    assert frame.levels == ["0", "1"] and frame.reference == "0" and frame.has_arms
    assert data["y"].dtype == "Float64"  # the input is not modified


def test_model_frame_names_arms_left_without_complete_rows():
    data = _trial()
    data.loc[data["arm"] == 1, "y"] = np.nan
    frame = io.model_frame(data, numeric=["y"], arm="arm", group="participant_id")
    assert frame.levels == ["0"] and not frame.has_arms
    assert frame.notes == ("arm '1' has no row with y all observed; it is left out of the model",)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.assign(wave=["w0", "w1"] * 3), "waves must be whole numbers >= 0 (text"),
    (lambda d: d.assign(wave=[0, 0.5, 0, 1, 0, 1]), "waves must be whole numbers >= 0"),
    (lambda d: d.assign(wave=[0, 0, 0, 1, 0, 1]), "participant_id, wave: appears more than once"),
    (lambda d: d.assign(arm=[0, 1, 1, 1, 1, 1]), "arm: must be constant within participant_id"),
    (lambda d: d.assign(y=["1", "x", 3, 4, 5, 6]), "y: values are not numbers"),
    (lambda d: d.assign(arm=[0, 0, None, None, 1, 1]), "arm: missing values"),
    (lambda d: d.assign(sessions_attended=[3, 3, 3, 3, 3, 3], sessions_offered=[4, 4, 2, 4, 4, 4]),
     "sessions_attended exceeds sessions_offered"),
    (lambda d: d.drop(columns="y"), "y: growth: column not in the data"),
])
def test_model_frame_refuses_with_column_and_rows(change, message):
    with pytest.raises(io.DataValidationError) as info:
        io.model_frame(change(_trial()), numeric=["y"], arm="arm", group="participant_id", wave="wave",
                       who="growth")
    assert message in str(info.value)


def test_model_frame_reports_index_labels_of_offending_rows():
    data = _trial().assign(wave=[0, 1, 0, 0, 0, 1]).set_axis([10, 11, 12, 13, 14, 15])
    with pytest.raises(io.DataValidationError) as info:
        io.model_frame(data, numeric=["y"], group="participant_id", wave="wave")
    assert "index 12: '2, 0', index 13: '2, 0'" in str(info.value)


def test_check_design_names_zero_constant_and_collinear_columns():
    x = np.arange(10.0)
    with pytest.raises(io.DataValidationError, match="z: m: the model-matrix column is zero"):
        io.check_design(np.column_stack([np.ones(10), x, np.zeros(10)]), ["Intercept", "x", "z"], who="m")
    with pytest.raises(io.DataValidationError, match=r"c: m: constant \(3\) in every complete row"):
        io.check_design(np.column_stack([np.ones(10), x, np.full(10, 3.0)]), ["Intercept", "x", "c"], who="m")
    with pytest.raises(io.DataValidationError, match=r"b = \+1\*Intercept \+2\*x"):
        io.check_design(np.column_stack([np.ones(10), x, 2 * x + 1]), ["Intercept", "x", "b"], who="m")
    with pytest.raises(io.DataValidationError, match="3 coefficients but only 2 complete rows"):
        io.check_design(np.ones((2, 3)), ["a", "b", "c"])
    io.check_design(np.column_stack([np.ones(10), x, x ** 2]), ["Intercept", "x", "x2"])


def test_validate_refuses_a_participant_in_several_arms():
    data = io.load_trial("synthetic_trial")
    first = data["participant_id"] == data["participant_id"].iloc[0]
    data["arm"] = data["arm"].astype(str)
    data.loc[first & (data["wave"] == 1), "arm"] = "cbt" if data["arm"].iloc[0] != "cbt" else "control"
    with pytest.raises(io.DataValidationError, match="arm must be constant within a participant"):
        io.validate(data)


def test_load_trial_takes_the_reference_order_from_the_mapping(tmp_path):
    data = pd.DataFrame({"id": [1, 1, 2, 2], "visit": [0, 1, 0, 1], "group": [1, 1, 2, 2],
                         "phq": [10, 8, 12, 6]})
    path = tmp_path / "trial.csv"
    data.to_csv(path, index=False)
    mapping = {"columns": {"id": "participant_id", "visit": "wave", "group": "arm", "phq": "phq9_total"},
               "values": {"arm": {2: "active", 1: "sham"}}}
    assert list(io.load_trial(path, mapping)["arm"].cat.categories) == ["active", "sham"]
    mapping["values"]["arm"] = {1: "usual care", 2: "active"}
    assert list(io.load_trial(path, mapping)["arm"].cat.categories) == ["usual care", "active"]


def test_model_frame_refuses_a_cluster_that_changes_within_participant():
    data = _trial().assign(therapist=["T1", "T2", None, None, "T3", None]).set_axis([10, 11, 12, 13, 14, 15])
    with pytest.raises(io.DataValidationError) as info:
        io.model_frame(data, numeric=["y"], optional=["therapist"], group="participant_id", wave="wave",
                       clusters=["therapist"], who="growth")
    (problem,) = info.value.problems
    assert problem.column == "therapist" and problem.unit == "index"
    assert "must be constant within participant_id" in problem.reason and "(1, 3)" in problem.reason
    # ties go to the label sorted first: "<missing>" for participant 3
    assert problem.rows == (11, 14) and problem.values == ("1: T2 (else T1)", "3: T3 (else <missing>)")


def test_model_frame_keeps_a_partially_nested_cluster_and_needs_group():
    data = _trial().assign(therapist=[None, None, "T1", "T1", "T1", "T1"])
    frame = io.model_frame(data, numeric=["y"], optional=["therapist"], group="participant_id",
                           clusters=["therapist"])
    assert frame.data["therapist"].isna().sum() == 2 and len(frame.data) == 5
    with pytest.raises(TypeError, match="need group"):
        io.model_frame(data, numeric=["y"], clusters=["therapist"])
    with pytest.raises(io.DataValidationError, match="therapist: model: column not in the data"):
        io.model_frame(data.drop(columns="therapist"), numeric=["y"], group="participant_id",
                       clusters=["therapist"])


def test_arm_constant_checks_read_codes_as_arm_factor_does():
    data = _trial().assign(arm=[0, "0.0", 1, 1, "1", 1.0])
    frame = io.model_frame(data, numeric=["y"], arm="arm", group="participant_id")
    assert frame.levels == ["0", "1"]
    long = data.assign(phq9_total=[5, 6, 7, 8, 9, 10]).drop(columns="y")
    assert list(io.validate(long)["arm"].cat.categories) == ["0", "1"]


def test_text_covariates_that_are_numbers_become_numbers_as_read_csv_reads_them():
    data = pd.DataFrame({"participant_id": [1, 2, 3], "age": ["36.5", "41", None], "site": ["A", "B", "A"]})
    frame = io.model_frame(data, other=["site"], optional=["age"], group="participant_id")
    assert frame.data["age"].dtype == float and frame.data["age"].tolist()[:2] == [36.5, 41.0]
    assert frame.data["site"].tolist() == ["A", "B", "A"]
    assert data["age"].tolist() == ["36.5", "41", None]  # the input is not changed
