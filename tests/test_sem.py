"""analysis.sem against lavaan 0.6 (tests/reference/sem_lavaan.R -> sem_lavaan.json)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import io, sem

REF = Path(__file__).parent / "reference"
LAVAAN = json.loads((REF / "sem_lavaan.json").read_text())
HS = "visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nspeed =~ x7 + x8 + x9"
PD = """ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ ind60
dem65 ~ ind60 + dem60
y1 ~~ y5
y2 ~~ y4 + y6
y3 ~~ y7
y4 ~~ y8
y6 ~~ y8"""
DEFINED = """ind60 =~ x1 + x2 + x3
dem60 =~ y1 + y2 + y3 + y4
dem65 =~ y5 + y6 + y7 + y8
dem60 ~ a*ind60
dem65 ~ c*ind60 + b*dem60
indirect := a*b
total := c + a*b"""
WAVES = range(4)
ITEMS = [f"gse_{k}" for k in range(1, 6)]
LEVELS = ("configural", "metric", "scalar", "strict")
#: Tolerances of the issue: estimates 1e-4, standard errors 1e-3, fit indices 1e-4 (absolute,
#: relative for chi-square-sized numbers).
EST, SE, FIT = 1e-4, 1e-3, 1e-4


def _growth(variable: str) -> str:
    return (f"i{variable} =~ " + " + ".join(f"1*{variable}_w{w}" for w in WAVES) + "\n"
            f"s{variable} =~ " + " + ".join(f"{w}*{variable}_w{w}" for w in WAVES))


LINEAR = _growth("gse_total")
PARALLEL = LINEAR + "\n" + _growth("phq9_total")
ARM_MODEL = "SE =~ " + " + ".join(f"{item}_w0" for item in ITEMS)
WAVE_MODEL = "SE =~ " + " + ".join(f"{item}_{{wave}}" for item in ITEMS)


@pytest.fixture(scope="module")
def holzinger():
    return pd.read_csv(REF / "sem_holzinger.csv")


@pytest.fixture(scope="module")
def democracy():
    return pd.read_csv(REF / "sem_politicaldemocracy.csv")


@pytest.fixture(scope="module")
def trial():
    return pd.read_csv(REF / "sem_trial_wide.csv")


def _array(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], float)


def assert_matches(result: sem.SemResult, case: str, fit_keys=None) -> None:
    """Parameter table (rows, estimates, SEs, std.all) and fit measures against lavaan."""
    ref = LAVAAN[case]
    pe, got = ref["pe"], result.parameters
    assert list(got.lhs) == pe["lhs"] and list(got.op) == pe["op"] and list(got.rhs) == pe["rhs"]
    assert list(got.group) == pe["group"]
    assert list(got.label) == (pe["label"] or [""] * len(got))
    np.testing.assert_allclose(got.estimate, _array(pe["est"]), atol=EST, rtol=0)
    np.testing.assert_allclose(got.se, _array(pe["se"]), atol=SE, rtol=0)
    np.testing.assert_allclose(got.std_all, _array(pe["std_all"]), atol=EST, rtol=0)
    for key, value in ref["fit"].items():
        name = key.replace(".", "_")
        if fit_keys is not None and name not in fit_keys or name not in result.fit:
            continue
        assert result.fit[name] == pytest.approx(value, rel=FIT, abs=FIT), name
    assert result.converged


def test_cfa_holzinger_swineford(holzinger):
    result = sem.cfa(HS, holzinger)
    assert_matches(result, "hs_cfa")
    assert {"chisq", "df", "pvalue", "cfi", "tli", "rmsea", "rmsea_ci_lower", "rmsea_ci_upper", "srmr",
            "aic", "bic"} <= set(result.fit.index)
    assert result.fit["df"] == 24 and result.information == "expected"


def test_sem_political_democracy(democracy):
    assert_matches(sem.fit(PD, democracy), "pd_sem")


def test_fixed_covariate(holzinger):
    result = sem.cfa("visual =~ x1 + x2 + x3\ntextual =~ x4 + x5 + x6\nvisual + textual ~ sex", holzinger)
    assert_matches(result, "hs_covariate")
    assert result.parameters.set_index(["lhs", "op", "rhs"]).loc[("sex", "~~", "sex"), "se"] == 0


def test_defined_parameters(democracy):
    result = sem.fit(DEFINED, democracy)
    assert_matches(result, "pd_defined")
    indirect = result.parameters.set_index("lhs").loc["indirect"]
    assert indirect.op == ":=" and indirect.rhs == "a*b"


@pytest.mark.parametrize("case, equal", [("hs_groups", ()), ("hs_metric", ("loadings",)),
                                         ("hs_scalar", ("loadings", "intercepts")),
                                         ("hs_strict", ("loadings", "intercepts", "residuals"))])
def test_multigroup_group_equal(holzinger, case, equal):
    result = sem.cfa(HS, holzinger, group="school", group_equal=equal)
    assert_matches(result, case)
    assert result.groups == ["Pasteur", "Grant-White"]


def test_growth_free_residual_variances(trial):
    data = trial[[f"gse_total_w{w}" for w in WAVES]].dropna()
    result = sem.growth(LINEAR, data)
    assert_matches(result, "growth_linear")
    intercepts = result.parameters.query("op == '~1'").set_index("lhs")
    assert (intercepts.loc[[f"gse_total_w{w}" for w in WAVES], "se"] == 0).all()


def test_parallel_process_growth(trial):
    columns = [f"{v}_w{w}" for v in ("gse_total", "phq9_total") for w in WAVES]
    assert_matches(sem.growth(PARALLEL, trial[columns].dropna()), "growth_parallel")


@pytest.fixture(scope="module")
def wave_data(trial):
    return trial.dropna(subset=[f"{item}_w{w}" for w in range(3) for item in ITEMS])


def _assert_compare(table: pd.DataFrame, case: str) -> None:
    ref = LAVAAN[case]
    assert list(table.index) == ref["level"]
    np.testing.assert_array_equal(table["df"], ref["df"])
    np.testing.assert_array_equal(table["df_diff"].iloc[1:], ref["df_diff"][1:])
    np.testing.assert_allclose(table["chisq"], ref["chisq"], rtol=1e-6)
    np.testing.assert_allclose(table["chisq_diff"].iloc[1:], ref["chisq_diff"][1:], rtol=FIT)
    np.testing.assert_allclose(table["p_diff"].iloc[1:], ref["p_diff"][1:], atol=FIT)
    for column in ("cfi", "rmsea", "srmr"):
        np.testing.assert_allclose(table[column], ref[column], atol=FIT, rtol=0)


def test_longitudinal_invariance(wave_data):
    table, fits = sem.invariance(WAVE_MODEL, wave_data, waves=["w0", "w1", "w2"], return_fits=True)
    _assert_compare(table, "long_compare")
    assert table.loc["metric", "cfi_diff"] == pytest.approx(table.loc["metric", "cfi"] - table.loc["configural", "cfi"])
    for level in LEVELS:
        ref = LAVAAN[f"long_{level}"]
        got = fits[level].parameters.set_index(["lhs", "op", "rhs"])
        keys = list(zip(ref["pe"]["lhs"], ref["pe"]["op"], ref["pe"]["rhs"]))
        np.testing.assert_allclose(got.loc[keys, "estimate"], ref["pe"]["est"], atol=EST)
        np.testing.assert_allclose(got.loc[keys, "se"], ref["pe"]["se"], atol=SE)


def test_longitudinal_syntax_correlates_same_item_residuals():
    text = sem.longitudinal_syntax("F =~ a_{wave} + b_{wave}", ["t1", "t2", "t3"], "strict")
    lines = text.splitlines()
    assert "F_t1 =~ a_t1 + l_F_2*b_t1" in lines and "a_t1 ~~ a_t3" in lines and "b_t2 ~~ b_t3" in lines
    assert "a_t2 ~ n_F_1*1" in lines and "F_t2 ~ 1" in lines and "F_t1 ~ 1" not in lines
    assert "b_t3 ~~ r_F_2*b_t3" in lines


def test_group_invariance_between_arms(trial):
    data = trial.dropna(subset=[f"{item}_w0" for item in ITEMS])
    table, fits = sem.invariance(ARM_MODEL, data, group="arm", return_fits=True)
    _assert_compare(table, "arm_compare")
    for level in LEVELS:
        assert_matches(fits[level], f"arm_{level}")


def test_fiml_growth(trial):
    result = sem.growth(LINEAR, trial)
    assert result.missing == "fiml" and result.information == "observed"
    assert_matches(result, "growth_fiml")


def test_fiml_cfa_items(trial):
    assert_matches(sem.cfa(ARM_MODEL, trial), "items_fiml")


MLR_FIT = ["chisq", "df", "cfi", "rmsea", "srmr", "chisq_scaled", "df_scaled", "pvalue_scaled",
           "chisq_scaling_factor"]


def test_mlr_holzinger(holzinger):
    result = sem.cfa(HS, holzinger, estimator="MLR")
    assert_matches(result, "hs_mlr", MLR_FIT)
    assert result.fit["chisq_scaled"] == pytest.approx(LAVAAN["hs_mlr"]["fit"]["chisq.scaled"], rel=1e-6)


def test_mlr_multigroup(holzinger):
    result = sem.cfa(HS, holzinger, group="school", group_equal=("loadings",), estimator="MLR")
    assert_matches(result, "hs_groups_mlr", MLR_FIT)


def test_mlr_growth_complete_and_fiml(trial):
    data = trial[[f"gse_total_w{w}" for w in WAVES]].dropna()
    assert_matches(sem.growth(LINEAR, data, estimator="MLR"), "growth_mlr", MLR_FIT)
    assert_matches(sem.growth(LINEAR, trial, estimator="MLR"), "fiml_mlr", MLR_FIT)


def test_mlr_invariance_scaled_differences(wave_data):
    table = sem.invariance(WAVE_MODEL, wave_data, waves=["w0", "w1", "w2"], estimator="MLR",
                           levels=("configural", "metric"))
    ref = LAVAAN["long_compare_mlr"]
    assert table.loc["metric", "chisq_diff"] == pytest.approx(ref["chisq_diff"][1], rel=FIT)
    assert table.loc["metric", "p_diff"] == pytest.approx(ref["p_diff"][1], abs=FIT)


# --- bad input ---------------------------------------------------------------------

def test_variable_not_in_data(holzinger):
    with pytest.raises(io.DataValidationError, match="x10.*neither a column"):
        sem.cfa("f =~ x1 + x2 + x10", holzinger)


def test_more_parameters_than_moments(holzinger):
    with pytest.raises(sem.ModelIdentificationError, match="4 free parameters but only 3 sample moments"):
        sem.cfa("f =~ x1 + x2", holzinger)


def test_singular_information_names_parameters(holzinger):
    with pytest.raises(sem.ModelIdentificationError, match="information matrix is singular.*f=~"):
        sem.cfa("f =~ NA*x1 + x2 + x3 + x4", holzinger)


def test_sample_covariance_not_positive_definite(holzinger):
    data = holzinger.assign(x4=holzinger.x1 + holzinger.x2)
    with pytest.raises(ValueError, match="not positive definite.*x4"):
        sem.cfa("f =~ x1 + x2 + x3 + x4", data)


def test_group_with_too_few_cases(holzinger):
    data = holzinger.assign(school=np.where(np.arange(len(holzinger)) < 5, "tiny", holzinger.school))
    with pytest.raises(ValueError, match="group school = 'tiny': 5 cases for 9 observed variables"):
        sem.cfa(HS, data, group="school")


@pytest.mark.parametrize("model, message", [("f x1 + x2", "no operator"), ("f =~ x1 + 2a*x2", "modifier"),
                                            ("f =~ x1 + x2 + x3\nd := q*2", "label no parameter"),
                                            ("", "empty")])
def test_syntax_errors(holzinger, model, message):
    with pytest.raises(ValueError, match=message):
        sem.cfa(model, holzinger)


def test_invariance_arguments(holzinger):
    with pytest.raises(ValueError, match="either group= .* or waves="):
        sem.invariance(HS, holzinger)
    with pytest.raises(ValueError, match="order"):
        sem.invariance(HS, holzinger, group="school", levels=("metric", "configural"))


def test_parser_modifiers_and_layout():
    parsed = sem.parse("""# a comment
    f =~ NA*x1 + a*x2 +
         0.5*x3   ! lavaan's other comment sign
    y ~ c(b1, b2)*f; y ~ 1
    ab := a*b1""")
    by_rhs = {(f.lhs, f.op, f.rhs): f.modifiers for f in parsed.formulas}
    assert by_rhs[("f", "=~", "x1")][0].free and by_rhs[("f", "=~", "x2")][0].label == "a"
    assert by_rhs[("f", "=~", "x3")][0].fixed == 0.5
    assert [m.label for m in by_rhs[("y", "~", "f")]] == ["b1", "b2"]
    assert ("y", "~1", "") in by_rhs
    assert parsed.definitions[0].labels == ("a", "b1")


def test_summary_and_lookup(holzinger):
    result = sem.cfa(HS, holzinger)
    assert "CFI" in result.summary() and "visual" in result.summary()
    assert result.estimate("visual", "=~", "x2") == pytest.approx(LAVAAN["hs_cfa"]["pe"]["est"][1], abs=EST)


def test_a_stalled_scoring_run_restarts_and_reaches_lavaans_optimum():
    """Four items, three arms, FIML: from lavaan's simple start Fisher scoring ran one arm's loadings off
    to -200 (tests/reference/sem_restart.R); the BFGS restart reaches lavaan's optimum."""
    ref = json.loads((REF / "sem_restart.json").read_text())
    data = pd.read_csv(REF / "sem_gse4_baseline.csv")
    result = sem.cfa("SE =~ gse_1 + gse_2 + gse_3 + gse_4", data, group="arm")
    assert result.converged and not result.warnings
    got = result.parameters
    assert list(got.lhs) == ref["lhs"] and list(got.op) == ref["op"] and list(got.group) == ref["group"]
    np.testing.assert_allclose(got.estimate, _array(ref["est"]), atol=EST, rtol=0)
    np.testing.assert_allclose(got.se, _array(ref["se"]), atol=SE, rtol=0)
    for name in ("chisq", "df", "cfi", "rmsea", "srmr"):
        assert result.fit[name] == pytest.approx(ref["fit"][name], rel=FIT, abs=FIT), name
