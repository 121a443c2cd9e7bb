"""The report runner: config checks before anything runs, failures isolated, index written."""

from pathlib import Path

import nbformat
import pytest

from analysis import cli, report


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text, words",
    [
        ("sede: 3\n", "unknown config keys ['sede']"),
        ("seed: three\n", "seed must be int"),
        ("quick: 1\n", "quick must be bool"),
        ("seed: true\n", "seed must be int"),
        ("se_instrument: gse10\n", "unknown instrument 'gse10'"),
        ("data: nowhere.csv\n", "data file not found"),
        ("notebooks: [99_nothing]\n", "unknown notebooks ['99_nothing']"),
        ("notebook_params: {01_data_quality: {sed: 1}}\n", "has no parameter 'sed'"),
        ("notebook_params: {01_data_quality: {seed: '1'}}\n", "must be int"),
        ("[1, 2]\n", "must be a mapping"),
    ],
)
def test_bad_config_is_refused_before_any_notebook_runs(tmp_path, text, words):
    with pytest.raises(report.ConfigError) as err:
        report.load_config(write_config(tmp_path, text))
    assert words in str(err.value)


def test_defaults_fill_a_partial_config_and_paths_resolve_against_it(tmp_path):
    (tmp_path / "mine.csv").write_text("x\n1\n")
    config = report.load_config(write_config(tmp_path, "data: mine.csv\nseed: 7\n"))
    assert config["seed"] == 7 and config["quick"] is False
    assert config["data"] == str((tmp_path / "mine.csv").resolve())
    assert config["notebooks"] == report.notebook_names()


def test_parameters_passed_are_those_the_notebook_declares(tmp_path):
    config = report.load_config(write_config(tmp_path, "notebook_params: {01_data_quality: {seed: 5}}\n"))
    params = report.parameters_for("01_data_quality", config)
    assert params["seed"] == 5 and params["data"] == "synthetic_trial"
    assert set(params) <= set(report.notebook_parameters("01_data_quality"))


def tiny_notebook(path: Path, source: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("seed = 0", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_a_failing_notebook_does_not_stop_the_others(tmp_path, monkeypatch, capsys):
    books = tmp_path / "notebooks"
    books.mkdir()
    tiny_notebook(books / "a_fails.ipynb", "raise RuntimeError('boom')")
    tiny_notebook(books / "b_works.ipynb", "print(seed * 2)")
    monkeypatch.setattr(report, "NOTEBOOKS", books)
    out = tmp_path / "out"
    config = write_config(tmp_path, "variants: {}\n")
    code = cli.main(["run", "--config", str(config), "--output", str(out)])
    assert code == 1
    runs = {p.stem for p in out.glob("*.html")}
    assert runs == {"a_fails", "b_works", "index"}
    index = (out / "index.html").read_text()
    assert "failed: RuntimeError: boom" in index and 'href="b_works.html"' in index
    printed = capsys.readouterr().out
    assert "[1/2] a_fails FAILED" in printed and "[2/2] b_works ok" in printed
    html = (out / "b_works.html").read_text()
    assert "print(seed" not in html  # code hidden by default


def test_variants_run_a_notebook_again_with_other_parameters(tmp_path, monkeypatch):
    books = tmp_path / "notebooks"
    books.mkdir()
    tiny_notebook(books / "b_works.ipynb", "print('value', seed * 2)")
    monkeypatch.setattr(report, "NOTEBOOKS", books)
    config = write_config(tmp_path, "variants: {b_works: {three: {seed: 3}}}\n")
    runs = report.run_reports(config, output=tmp_path / "out")
    assert [(r.name, r.ok) for r in runs] == [("b_works", True), ("b_works-three", True)]
    assert "value 6" in (tmp_path / "out" / "b_works-three.html").read_text()
    assert "value 40481202" in (tmp_path / "out" / "b_works.html").read_text()  # config seed x 2
    for text, words in [("variants: {b_works: {three: {sed: 3}}}\n", "has no parameter 'sed'"),
                        ("variants: {b_works: {'a b': {seed: 3}}}\n", "letters, digits"),
                        ("variants: {zz: {a: {seed: 3}}}\n", "unknown notebooks ['zz']"),
                        ("variants: {b_works: {a: {data: nowhere.csv}}}\n", "has no parameter")]:
        with pytest.raises(report.ConfigError) as err:
            report.load_config(write_config(tmp_path, text))
        assert words in str(err.value)


@pytest.mark.slow
def test_data_quality_notebook_runs_on_the_bundled_trial(tmp_path):
    runs = report.run_reports(only=["01_data_quality"], output=tmp_path)
    assert [r.ok for r in runs] == [True], runs[0].error
    html = (tmp_path / "01_data_quality.html").read_text()
    assert "Reliable change" in html and "Traceback" not in html


@pytest.mark.slow
@pytest.mark.parametrize("data, extra, words", [
    ("synthetic_trial", {}, ["Feingold", "favours cbt", "src_mastery_within", "Convergence"]),
    ("BtheB", {"symptom_instruments": ["bdi"]}, ["BDI-II", "No time-varying predictor"]),
])
def test_mixed_effects_notebook_runs(tmp_path, data, extra, words):
    run = report.run_notebook("02_mixed_effects", {"data": data, "quick": True, **extra}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "02_mixed_effects.html").read_text()
    assert "Traceback" not in html
    for word in words:
        assert word in html
