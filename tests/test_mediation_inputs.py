"""Odd input to every public mediation function: arm codings, nullable dtypes, degenerate
covariates, empty categories, duplicated rows, too few waves; the input is never modified.

Small data and few replicates: what is checked is that equivalent inputs give the same
numbers (exactly, for the same seed) and that bad ones give a clear error naming the column."""

import numpy as np
import pandas as pd
import pytest

from analysis import io, mediation, simulate

ARMS = {"text": {"control": "control", "cbt": "cbt"}, "0/1": {"control": 0, "cbt": 1},
        "1/2": {"control": 1, "cbt": 2}, "bool": {"control": False, "cbt": True}}
TOL = dict(check_exact=False, rtol=0, atol=1e-10)


def people(n: int = 80, seed: int = 3) -> pd.DataFrame:
    """One row per person: arm, mediators m, m2, binary mb, outcome y, binary yb, covariate x, moderator w."""
    rng = np.random.default_rng(seed)
    t = np.repeat([0, 1], n // 2)
    x = rng.normal(size=n)
    w = rng.integers(0, 2, n)
    m = 0.5 * t + 0.3 * x + rng.normal(size=n)
    m2 = 0.4 * t - 0.2 * x + rng.normal(size=n)
    y = 0.4 * m + 0.2 * m2 + 0.3 * t + 0.2 * x + rng.normal(size=n)
    return pd.DataFrame({
        "arm": np.where(t == 1, "cbt", "control"), "m": m.round(3), "m2": m2.round(3),
        "mb": (m + rng.normal(size=n) > 0.4).astype(int), "y": y.round(3),
        "yb": (y + rng.normal(size=n) > 0.5).astype(int), "x": x.round(3), "w": w,
    }, index=pd.RangeIndex(100, 100 + n))


def trial(n_per_arm: int = 25, waves: int = 4) -> pd.DataFrame:
    data, _ = simulate.trial(n_per_arm=n_per_arm, waves=waves, seed=11)
    return data.loc[data["arm"] != "mindfulness",
                    ["participant_id", "arm", "wave", "time", "age", "gse_total", "phq9_total"]]


def _mediate(data, covariates=("x",), **options):
    return mediation.mediate(data, "arm", "m", "y", list(covariates), n_boot=40, seed=1, ci="percentile",
                             **options).table


#: name: (data maker, mediator, outcome, run(data, covariates) -> table)
SINGLE = {
    "mediate": lambda d, c=("x",): _mediate(d, c),
    "mediate-logit-outcome": lambda d, c=("x",): mediation.mediate(
        d, "arm", "m", "yb", list(c), n_boot=40, seed=1, ci="percentile", outcome_model="logit").table,
    "mediate-probit-mediator": lambda d, c=("x",): mediation.mediate(
        d, "arm", "mb", "y", list(c), n_boot=40, seed=1, ci="percentile", mediator_model="probit").table,
    "mediate-interaction": lambda d, c=("x",): _mediate(d, c, interaction=True),
    "mediate-moderated": lambda d, c=("x",): _mediate(d, c, moderator="w", moderator_values=[0, 1]),
    "mediate-quasi-bayes": lambda d, c=("x",): mediation.mediate(
        d, "arm", "m", "y", list(c), method="quasi-bayes", sims=40, seed=1).table,
    "mediate_arms": lambda d, c=("x",): mediation.mediate_arms(
        d, "arm", "m", "y", list(c), n_boot=40, seed=1, ci="percentile").table.droplevel(0),
    "mediate_parallel": lambda d, c=("x",): mediation.mediate_parallel(
        d, "arm", ["m", "m2"], "y", list(c), n_boot=40, seed=1, ci="percentile").table,
    "test_tm_interaction": lambda d, c=("x",): mediation.test_tm_interaction(
        mediation.mediate(d, "arm", "m", "y", list(c), n_boot=40, seed=1, interaction=True)).to_frame(),
}
LONG = {
    "mediate_change": lambda d, c=("age",): mediation.mediate_change(
        d, "arm", "gse_total", "phq9_total", covariates=list(c), n_boot=40, seed=1, ci="percentile").table,
    "mediate_multilevel": lambda d, c=("age",): pd.concat([mediation.mediate_multilevel(
        d, "arm", "gse_total", "phq9_total", covariates=list(c), n_sims=40, seed=1).paths]),
}
ALL = {**{k: (people, v) for k, v in SINGLE.items()}, **{k: (trial, v) for k, v in LONG.items()}}


@pytest.fixture(scope="module")
def plain():
    """Each function's result on plain text arms and float columns."""
    return {name: run(make()) for name, (make, run) in ALL.items()}


def recode(data: pd.DataFrame, coding: str) -> pd.DataFrame:
    return data.assign(arm=data["arm"].map(ARMS[coding]))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("coding", ["0/1", "1/2", "bool"])
def test_numeric_and_boolean_arm_codes_give_the_numbers_of_text_labels(plain, name, coding):
    make, run = ALL[name]
    pd.testing.assert_frame_equal(run(recode(make(), coding)), plain[name], **TOL)


def with_gaps(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The data with missing values in the models' columns: float64 with NaN, and nullable with pd.NA
    (Float64; Int64 for whole numbers; 0/1 columns as boolean)."""
    numbers = [c for c in data.columns if c not in ("arm", "participant_id")]
    gaps = data.astype({c: float for c in numbers})
    missing = ({"gse_total": [3], "phq9_total": [20]} if "gse_total" in data
               else {"m": [3], "mb": [3], "y": [50], "yb": [50], "x": [7]})
    for column, positions in missing.items():
        gaps.loc[gaps.index[positions], column] = np.nan
    nullable = data.copy()
    for column in numbers:
        values = gaps[column]
        whole = (values.dropna() % 1 == 0).all()
        binary = values.dropna().isin([0, 1]).all()
        kind = "boolean" if binary else "Int64" if whole else "Float64"
        nullable[column] = values.astype("Float64").astype(kind)
    return gaps, nullable


@pytest.mark.parametrize("name", ALL)
def test_nullable_dtypes_and_pd_na_give_the_numbers_of_plain_dtypes(name):
    make, run = ALL[name]
    gaps, nullable = with_gaps(make())
    assert nullable.isna().sum().sum() == gaps.isna().sum().sum() > 0
    coded = nullable.assign(arm=nullable["arm"].map(ARMS["bool"]).astype("boolean"))
    numbers = nullable.assign(arm=nullable["arm"].map(ARMS["0/1"]).astype("Int64"))
    texts = nullable.astype({"arm": "string", **({"participant_id": "string"} if "participant_id" in gaps else {})})
    expected = run(gaps)
    for variant in (texts, coded, numbers):
        pd.testing.assert_frame_equal(run(variant), expected, **TOL)


@pytest.mark.parametrize("name", ALL)
def test_input_frame_is_unchanged(name):
    make, run = ALL[name]
    data = with_gaps(make())[1].assign(arm=lambda d: d["arm"].map(ARMS["1/2"]).astype("Int64"))
    before = data.copy(deep=True)
    run(data)
    pd.testing.assert_frame_equal(data, before, check_exact=True)


@pytest.mark.parametrize("name", ALL)
def test_a_single_arm_is_refused(name):
    make, run = ALL[name]
    data = make()
    with pytest.raises(ValueError, match="arm.*single arm"):
        run(data[data["arm"] == "control"])


@pytest.mark.parametrize("name", ALL)
def test_an_empty_arm_category_is_ignored(plain, name):
    make, run = ALL[name]
    data = make()
    data["arm"] = pd.Categorical(data["arm"], categories=["control", "cbt", "mindfulness"])
    pd.testing.assert_frame_equal(run(data), plain[name], **TOL)


@pytest.mark.parametrize("name", ALL)
def test_a_constant_covariate_is_refused_by_name(name):
    make, run = ALL[name]
    data = make().assign(site=5.0)
    covariate = "age" if name in LONG else "x"
    with pytest.raises(io.DataValidationError, match="site: .*constant"):
        run(data, (covariate, "site"))


@pytest.mark.parametrize("name", ALL)
def test_collinear_covariates_are_refused_by_name(name):
    make, run = ALL[name]
    data = make()
    covariate = "age" if name in LONG else "x"
    data = data.assign(doubled=2 * data[covariate] + 1)
    with pytest.raises(io.DataValidationError, match="doubled: .*collinear"):
        run(data, (covariate, "doubled"))


@pytest.mark.parametrize("name", SINGLE)
def test_a_categorical_covariate_with_an_empty_level_drops_the_level(name):
    _, run = ALL[name]
    data = people()
    site = np.where(np.arange(len(data)) % 3 == 0, "a", "b")
    text = data.assign(site=site)
    categorical = data.assign(site=pd.Categorical(site, categories=["a", "b", "c"]))
    pd.testing.assert_frame_equal(run(categorical, ("x", "site")), run(text, ("x", "site")), **TOL)


@pytest.mark.parametrize("name", SINGLE)
def test_a_string_covariate_with_pd_na_gives_the_numbers_of_object_text(name):
    _, run = ALL[name]
    data = people()
    site = pd.Series(np.where(np.arange(len(data)) % 3 == 0, "a", "b"), index=data.index, dtype=object)
    site.iloc[[4, 9]] = np.nan
    expected = run(data.assign(site=site), ("x", "site"))
    pd.testing.assert_frame_equal(run(data.assign(site=site.astype("string")), ("x", "site")), expected, **TOL)


@pytest.mark.parametrize("name", SINGLE)
def test_duplicated_rows_count_as_units(name):
    """Single-level data have no id column: a repeated row is another unit, as in R's lm."""
    _, run = ALL[name]
    data = people()
    twice = pd.concat([data, data.iloc[[0]]])
    relabelled = twice.set_axis(pd.RangeIndex(len(twice)))
    pd.testing.assert_frame_equal(run(twice), run(relabelled), **TOL)
    assert not run(twice).equals(run(data))


@pytest.mark.parametrize("name", LONG)
def test_duplicated_person_waves_are_refused(name):
    _, run = ALL[name]
    data = trial()
    with pytest.raises(io.DataValidationError, match="participant_id, wave: appears more than once"):
        run(pd.concat([data, data.iloc[[2]]]))


@pytest.mark.parametrize("name", LONG)
def test_two_waves_are_refused(name):
    _, run = ALL[name]
    data = trial(waves=2)
    with pytest.raises(ValueError, match="wave.*(3 waves|at least 3)"):
        run(data)
