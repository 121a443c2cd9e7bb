"""The report runner: config checks before anything runs, failures isolated, incremental and parallel
runs, sweeps, results.json and its diff, pages that say what they were made from, safe when killed."""

import base64
import hashlib
import html
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager, redirect_stdout, suppress
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import unquote

import nbformat
import pytest
import yaml
from PIL import Image

from analysis import __version__, browser, cli, datasets, io, meta, report


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
        ("data: nowhere.csv\n", "data: file not found: "),
        ("mapping: nowhere.yml\n", "mapping: file not found: "),
        ("notebook_params: {06_meta_analysis: {meta_data: studies.csv}}\n",
         "notebook_params.06_meta_analysis.meta_data: file not found: "),
        ("notebook_params: {04_mediation: {mapping: gone.yml}}\n", "notebook_params.04_mediation.mapping: file not found"),
        ("variants: {02_mixed_effects: {mine: {data: gone.csv}}}\n", "variants.02_mixed_effects.mine.data: file not found"),
        ("sweeps: {01_data_quality: {data: [gone.csv]}}\n", "sweeps.01_data_quality.data: file not found"),
        ("seed: 1\nquick: true\nseed: 2\n", "the key 'seed' is written twice: on line 1 and on line 3"),
        ("notebook_params:\n  01_data_quality: {seed: 1}\n  01_data_quality: {quick: true}\n",
         "the key '01_data_quality' is written twice: on line 2 and on line 3"),
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


def test_a_missing_file_is_named_with_its_key_and_full_path(tmp_path):
    (tmp_path / "sub").mkdir()
    config = tmp_path / "sub" / "mine.yml"
    config.write_text("notebook_params: {06_meta_analysis: {meta_data: ../studies.csv}}\n")
    with pytest.raises(report.ConfigError) as err:
        report.load_config(config)
    assert str(err.value) == (f"notebook_params.06_meta_analysis.meta_data: file not found: "
                              f"{(tmp_path / 'studies.csv').resolve()}")


def test_own_config_runs_only_the_variants_and_sweeps_it_writes_and_reports_beside_itself(tmp_path):
    own = report.load_config(write_config(tmp_path, "seed: 3\n"))
    assert (own["variants"], own["sweeps"]) == ({}, {})
    assert own["output"] == str((tmp_path / "reports").resolve())
    assert own["symptom_instruments"] == ["phq9", "gad7"] and own["seed"] == 3  # other keys: defaults
    written = report.load_config(write_config(
        tmp_path, "output: ../elsewhere\nvariants: {01_data_quality: {one: {seed: 1}}}\n"))
    assert written["output"] == str((tmp_path.parent / "elsewhere").resolve())
    assert written["variants"] == {"01_data_quality": {"one": {"seed": 1}}} and written["sweeps"] == {}
    bundled = report.load_config()
    assert set(bundled["variants"]["02_mixed_effects"]) == {"BtheB", "HELP", "therapists"}
    assert bundled["sweeps"] == {"02_mixed_effects": {"outcome": {"phq9": "phq9", "gad7": "gad7"}}}
    assert bundled["output"] == str(report.ROOT / "reports")
    assert report.load_config(report.DEFAULT_CONFIG) == bundled


def test_file_parameters_resolve_against_the_config_and_data_set_names_stay(tmp_path):
    (tmp_path / "studies.csv").write_text("yi,vi\n0.1,0.01\n")
    (tmp_path / "map.yml").write_text("ID: participant_id\n")
    config = report.load_config(write_config(
        tmp_path, "notebook_params: {06_meta_analysis: {meta_data: studies.csv}, 05_cross_lagged: {mapping: map.yml}}\n"
                  "variants: {06_meta_analysis: {bcg: {meta_data: dat_bcg}}, 04_mediation: {mine: {mapping: map.yml}}}\n"))
    assert config["notebook_params"]["06_meta_analysis"]["meta_data"] == str((tmp_path / "studies.csv").resolve())
    assert config["notebook_params"]["05_cross_lagged"]["mapping"] == str((tmp_path / "map.yml").resolve())
    assert config["variants"]["06_meta_analysis"]["bcg"]["meta_data"] == "dat_bcg"
    assert config["variants"]["04_mediation"]["mine"]["mapping"] == str((tmp_path / "map.yml").resolve())
    assert report.file_parameters("06_meta_analysis") == {"meta_data": True}
    assert report.file_parameters("01_data_quality") == {"data": True, "mapping": False}
    assert report.file_parameters("07_power") == {}


def test_yaml_keys_written_twice_are_refused_also_in_nested_mappings():
    assert io.load_yaml("a: 1\nb: {a: 2}\nbase: &b {x: 1}\nnew: {<<: *b, x: 2}\n") == {
        "a": 1, "b": {"a": 2}, "base": {"x": 1}, "new": {"x": 2}}  # a merge key may be overridden
    with pytest.raises(yaml.YAMLError, match="the key 'x' is written twice: on line 3 and on line 4"):
        io.load_yaml("a: 1\nb:\n  x: 1\n  x: 2\n")


def test_bundled_examples_run_on_bundled_data_or_when_asked(tmp_path):
    own = tmp_path / "mine.csv"
    own.write_text("x\n1\n")
    assert report.wants_bundled_examples(None, "synthetic_trial") and report.wants_bundled_examples(True, str(own))
    assert not report.wants_bundled_examples(None, str(own))
    assert not report.wants_bundled_examples(False, "synthetic_trial")
    with pytest.raises(TypeError, match="bundled_examples must be true, false or null, got 'yes'"):
        report.wants_bundled_examples("yes", str(own))
    for name, example in [("04_mediation", "jobs"), ("05_cross_lagged", "HELPfull")]:
        assert datasets.path(example) in report.data_files(name, {})
        assert datasets.path(example) not in report.data_files(name, {"data": str(own)})
        assert datasets.path(example) in report.data_files(name, {"data": str(own), "bundled_examples": True})


def test_notebooks_are_stored_without_outputs():
    for path in sorted(report.NOTEBOOKS.rglob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        assert [i for i, cell in enumerate(cells) if cell.cell_type == "code"
                and (cell.outputs or cell.execution_count is not None)] == [], path


def test_parameters_passed_are_those_the_notebook_declares(tmp_path):
    config = report.load_config(write_config(tmp_path, "notebook_params: {01_data_quality: {seed: 5}}\n"))
    params = report.parameters_for("01_data_quality", config)
    assert params["seed"] == 5 and params["data"] == "synthetic_trial"
    assert set(params) <= set(report.notebook_parameters("01_data_quality"))


def test_sweeps_expand_a_glob_of_files_and_lists_of_values(tmp_path):
    (tmp_path / "sites").mkdir()
    for site in ["site-a", "site_b"]:
        (tmp_path / "sites" / f"{site}.csv").write_text("x\n1\n")
    config = report.load_config(write_config(
        tmp_path, "sweeps: {01_data_quality: {data: 'sites/*.csv'}, 02_mixed_effects: {outcome: [phq9, gad7]}}\n"))
    assert config["sweeps"] == {
        "01_data_quality": {"data": {"site_a": str((tmp_path / "sites" / "site-a.csv").resolve()),
                                     "site_b": str((tmp_path / "sites" / "site_b.csv").resolve())}},
        "02_mixed_effects": {"outcome": {"phq9": "phq9", "gad7": "gad7"}},
    }


@pytest.mark.parametrize(
    "text, words",
    [
        ("sweeps: {99_nothing: {seed: [1]}}\n", "sweeps: unknown notebooks ['99_nothing']"),
        ("sweeps: {01_data_quality: {sed: [1]}}\n", "has no parameter 'sed'"),
        ("sweeps: {01_data_quality: {seed: [1, '2']}}\n", "01_data_quality.seed must be int"),
        ("sweeps: {01_data_quality: {seed: []}}\n", "sweeps.01_data_quality.seed must be a non-empty list"),
        ("sweeps: {01_data_quality: {data: 'nowhere/*.csv'}}\n", "sweeps.01_data_quality.data: no file matches"),
        ("sweeps: {01_data_quality: {seed: [-1, 1]}}\n", "label '1', already taken by -1"),
        ("sweeps: {01_data_quality: [seed]}\n", "sweeps.01_data_quality must map a parameter"),
        ("variants: {01_data_quality: {seed_1: {seed: 3}}}\nsweeps: {01_data_quality: {seed: [1]}}\n",
         "report names ['seed_1'] are also labels of variants.01_data_quality"),
    ],
)
def test_bad_sweeps_are_refused(tmp_path, text, words):
    with pytest.raises(report.ConfigError) as err:
        report.load_config(write_config(tmp_path, text))
    assert words in str(err.value)


def test_data_files_are_the_parameters_and_the_data_sets_the_code_names(tmp_path):
    own = tmp_path / "mine.csv"
    own.write_text("x\n1\n")
    data = datasets.data_dir()
    assert report.data_files("01_data_quality", {"data": str(own), "seed": 1}) == [own]
    assert report.data_files("05_cross_lagged", {"data": "BtheB"}) == sorted([
        data / "BtheB.csv", data / "mappings" / "BtheB.yml", data / "HELPfull.csv",
        data / "mappings" / "HELPfull.yml", data / "synthetic_trial.csv", data / datasets.TRUTH_FILE])
    assert report.data_files("teaching/bcg_vaccine", {}) == [data / "dat_bcg.csv"]


def tiny_notebook(path: Path, *sources: str, parameters: str = "seed = 0", main_figure: int | None = None) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]})]
    nb.cells += [nbformat.v4.new_code_cell(source, metadata={"tags": ["main-figure"]} if i == main_figure else {})
                 for i, source in enumerate(sources)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@contextmanager
def notebooks_and_data(books: Path, data: Path):
    """The runner (and the kernels it starts) use these notebooks and this data folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report.config, "NOTEBOOKS", books)
        patch.setenv(datasets.DATA_DIR_ENV, str(data))
        yield


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A small report set run twice into fresh folders: first through the CLI, then through run_reports."""
    root = tmp_path_factory.mktemp("small")
    books, data = root / "notebooks", root / "data"
    books.mkdir()
    data.mkdir()
    shutil.copy(datasets.path("dat_bcg"), data)
    tiny_notebook(books / "reads_bcg.ipynb",
                  "from analysis import datasets, report\n"
                  "report.record('trials', len(datasets.load('dat_bcg')))\n"
                  "report.record('eighth_seed', seed / 8)\n"
                  "open('written.txt', 'w').write('kernel working folder')")
    tiny_notebook(books / "draws.ipynb", "import matplotlib.pyplot as plt\nplt.plot([0, 1], [0, 1])\nplt.show()",
                  "plt.bar([0, 1], [2, 1])\nplt.show()", main_figure=1)
    tiny_notebook(books / "fails.ipynb", "from analysis import report\nreport.record('before', 1.5)\n"
                                         "raise RuntimeError('boom')")
    config = write_config(root, "variants: {reads_bcg: {three: {seed: 3}}}\nsweeps: {reads_bcg: {seed: [1, 2]}}\n")
    inputs = {path: sha256(path) for path in [*books.iterdir(), *data.iterdir()]}
    printed = StringIO()
    with notebooks_and_data(books, data):
        with redirect_stdout(printed):
            code = cli.main(["run", "--config", str(config), "--output", str(root / "first"), "--jobs", "2"])
        runs = report.run_reports(config, output=root / "second")
    return SimpleNamespace(root=root, books=books, data=data, config=config, first=root / "first",
                           second=root / "second", code=code, printed=printed.getvalue(), runs=runs, inputs=inputs)


def test_a_failing_notebook_does_not_stop_the_others(small):
    assert small.code == 1
    assert [(run.name, run.ok) for run in small.runs] == [
        ("draws", True), ("fails", False), ("reads_bcg", True), ("reads_bcg-three", True),
        ("reads_bcg-seed_1", True), ("reads_bcg-seed_2", True)]
    printed = small.printed.splitlines()
    assert printed[0] == "running 6 of 6 reports on 2 local workers"
    assert [line.split("] ")[0] for line in printed[1:7]] == [f"[{i}/6" for i in range(1, 7)]
    assert any(re.fullmatch(r"\[\d/6\] fails FAILED: RuntimeError: boom \(\d+\.\d s\)", line) for line in printed)
    assert any(re.fullmatch(r"\[\d/6\] reads_bcg-three ok \(\d+\.\d s\)", line) for line in printed)
    index = (small.first / "index.html").read_text()
    assert 'href="fails.failed.html"' in index and "failed: RuntimeError: boom" in index
    assert "Traceback" in (small.first / "fails.failed.html").read_text()  # the partial output shows the error
    assert not (small.first / "fails.html").exists()


def test_variants_and_sweep_items_run_with_their_parameters(small):
    results = json.loads((small.first / "results.json").read_text())
    assert {name: entry["values"].get("eighth_seed") for name, entry in results.items()} == {
        "draws": None, "fails": None, "reads_bcg": 2530075.1,  # 20240601 / 8 to 8 significant digits
        "reads_bcg-three": 0.375, "reads_bcg-seed_1": 0.125, "reads_bcg-seed_2": 0.25}


def test_results_json_is_sorted_and_identical_for_two_clean_runs(small):
    first = (small.first / "results.json").read_bytes()
    assert first == (small.second / "results.json").read_bytes()
    results = json.loads(first)
    assert list(results) == sorted(results)
    assert results["fails"] == {"status": "failed", "values": {"before": 1.5}}
    assert results["reads_bcg-seed_1"] == {"status": "ok", "values": {"eighth_seed": 0.125, "trials": 13}}


def test_index_shows_status_time_data_key_numbers_thumbnail_and_sweep_table(small):
    index = (small.first / "index.html").read_text()
    row = re.search(r'<tr class="ok"><td><a href="reads_bcg-seed_2.html">.*?</tr>', index).group(0)
    assert "dat_bcg.csv" in row and sha256(small.data / "dat_bcg.csv")[:12] in row
    assert "trials = 13" in row and "eighth_seed = 0.25" in row and re.search(r"<td>\d+\.\d s</td>", row)
    assert '<img src="thumbnails/draws.png"' in index
    with Image.open(small.first / "thumbnails" / "draws.png") as picture:
        assert picture.width <= report.THUMBNAIL_SIZE[0] and picture.height <= report.THUMBNAIL_SIZE[1]
    sweep = index.split("<h2>reads_bcg over seed</h2>")[1].split("</table>")[0]
    assert re.findall(r'<a href="(.*?)">(\d)</a></td><td>ok</td><td>13</td><td>(.*?)</td>', sweep) == [
        ("reads_bcg-seed_1.html", "1", "0.125"), ("reads_bcg-seed_2.html", "2", "0.25")]


def test_report_page_states_version_data_hash_parameters_and_hides_code(small):
    page = (small.first / "reads_bcg-seed_1.html").read_text()
    assert f"analysis {__version__}, package source <code>{report.source_hash()[:12]}" in page
    assert f"<code>dat_bcg.csv</code> sha256 <code>{sha256(small.data / 'dat_bcg.csv')}</code>" in page
    assert "Parameters: <code>seed = 1</code>" in page
    assert 'id="toggle-code"' in page and "body:not(.show-code) .jp-CodeCell .jp-Cell-inputWrapper" in page


def test_main_figure_is_the_tagged_one(small):
    executed = nbformat.read(small.first / "draws.ipynb", as_version=4)
    tagged = next(cell for cell in executed.cells if "main-figure" in cell.metadata.get("tags", []))
    png = next(output["data"]["image/png"] for output in tagged.outputs if "image/png" in output.get("data", {}))
    assert report.main_figure(small.first / "draws.ipynb") == base64.b64decode(png)


def test_kernels_work_in_their_own_folder_and_inputs_are_untouched(small):
    assert (small.first / "work" / "reads_bcg-seed_1" / "written.txt").read_text() == "kernel working folder"
    assert not (small.first / "work" / "draws").exists()  # nothing written: no empty folder left
    assert not (small.first / ".staging").exists()
    assert {path: sha256(path) for path in small.inputs} == small.inputs


def test_only_changed_reports_rerun(small, tmp_path):
    out, only, data = tmp_path / "reports", ["draws", "reads_bcg"], small.data / "dat_bcg.csv"
    shutil.copytree(small.first, out)
    original = data.read_bytes()
    try:
        with notebooks_and_data(small.books, small.data):
            start = time.perf_counter()
            again = report.run_reports(small.config, only=only, output=out)
            seconds = time.perf_counter() - start
            data.write_bytes(original + b"\n")  # same numbers, new content
            changed = report.run_reports(small.config, only=only, output=out)
    finally:
        data.write_bytes(original)
    assert all(run.reused for run in again) and seconds < 10
    assert [run.name for run in changed if not run.reused] == [
        "reads_bcg", "reads_bcg-three", "reads_bcg-seed_1", "reads_bcg-seed_2"]
    assert changed[0].name == "draws" and changed[0].reused and changed[0].values == again[0].values
    assert "up to date, not rerun" in (out / "index.html").read_text()


def linked(index: Path) -> list[Path]:
    return [index.parent / unquote(href) for href in re.findall(r'(?:href|src)="([^"#]+)"', index.read_text())]


def assert_intact(path: Path) -> None:
    assert path.is_file(), path
    if path.suffix == ".html":
        assert path.read_text().rstrip().endswith("</html>"), path
    elif path.suffix == ".ipynb":
        nbformat.validate(nbformat.read(path, as_version=4))
    elif path.suffix == ".png":
        with Image.open(path) as picture:
            picture.verify()
    else:
        json.loads(path.read_text())


def test_killing_a_run_midway_leaves_the_previous_reports_intact(tmp_path):
    books = tmp_path / "notebooks"
    books.mkdir()
    tiny_notebook(books / "draws.ipynb", "import matplotlib.pyplot as plt\nplt.plot([0, 1])\nplt.show()")
    tiny_notebook(books / "sleeps.ipynb", "import os, time\nopen('started', 'w').write(str(os.getpid()))\n"
                                          "time.sleep(pause)\nprint('slept')", parameters="pause = 0")
    out = tmp_path / "out"
    with notebooks_and_data(books, datasets.data_dir()):
        report.run_reports(write_config(tmp_path, "variants: {}\nsweeps: {}\n"), output=out)
    index, previous = (out / "index.html").read_bytes(), (out / "sleeps.html").read_bytes()
    assert {path.name for path in linked(out / "index.html")} == {
        "draws.html", "draws.ipynb", "draws.png", "sleeps.html", "sleeps.ipynb", "results.json"}
    slow = tmp_path / "slow.yml"
    slow.write_text("variants: {}\nsweeps: {}\nnotebook_params: {sleeps: {pause: 120}}\n")
    runner = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from analysis import report; "
                               "report.config.NOTEBOOKS = Path(sys.argv[1]); "
                               "report.run_reports(sys.argv[2], output=sys.argv[3])",
         str(books), str(slow), str(out)], start_new_session=True, stdout=subprocess.DEVNULL)
    started = out / "work" / "sleeps" / "started"
    started.unlink()  # left by the first run
    deadline = time.monotonic() + 120
    while not (started.exists() and started.read_text()) and time.monotonic() < deadline and runner.poll() is None:
        time.sleep(0.2)
    assert started.exists(), "the slow notebook never started"
    kernel = int(started.read_text())
    os.killpg(runner.pid, signal.SIGKILL)
    runner.wait()
    with suppress(ProcessLookupError):
        os.kill(kernel, signal.SIGKILL)
    assert (out / "index.html").read_bytes() == index
    for path in linked(out / "index.html"):
        assert_intact(path)
    assert (out / "sleeps.html").read_bytes() == previous
    assert list((out / ".staging").iterdir())  # the killed run's staging folder ...
    with notebooks_and_data(books, datasets.data_dir()):
        runs = report.run_reports(write_config(tmp_path, "variants: {}\nsweeps: {}\n"), output=out)
    assert all(run.reused for run in runs) and not (out / ".staging").exists()  # ... is cleared by the next run
    with notebooks_and_data(books, datasets.data_dir()):  # a failing run keeps the last good report
        runs = report.run_reports(write_config(tmp_path, "variants: {}\nsweeps: {}\n"
                                                         "notebook_params: {sleeps: {pause: -1}}\n"), output=out)
    assert (runs[1].ok, runs[1].html, runs[1].previous) == (False, "sleeps.failed.html", "sleeps.html")
    assert (out / "sleeps.html").read_bytes() == previous
    assert '<a href="sleeps.html">last good report</a>' in (out / "index.html").read_text()
    failed = [out / "sleeps.failed.html", out / "sleeps.failed.ipynb"]
    assert all(path.is_file() for path in failed)
    with notebooks_and_data(books, datasets.data_dir()):  # succeeding again removes the failed run's pages
        runs = report.run_reports(write_config(tmp_path, "variants: {}\nsweeps: {}\n"), output=out)
    assert (runs[1].ok, runs[1].reused) == (True, False) and not any(path.exists() for path in failed)
    failed[0].write_text("<html>left by a run killed before it wrote the manifest</html>")
    with notebooks_and_data(books, datasets.data_dir()):  # ... and so does a report that is up to date
        runs = report.run_reports(write_config(tmp_path, "variants: {}\nsweeps: {}\n"), output=out)
    assert runs[1].reused and not failed[0].exists()


def test_warnings_show_as_notes_in_words_and_never_as_stderr(tmp_path):
    books = tmp_path / "notebooks"
    books.mkdir()
    tiny_notebook(books / "warns.ipynb",
                  "import logging, warnings\nimport numpy as np\n"
                  "warnings.warn('only 3 studies', UserWarning)\n"
                  "warnings.warn('old API', DeprecationWarning)\n"
                  "np.corrcoef([1, 1, 1], [1, 2, 3])\n"  # 0/0 inside numpy's code: numpy's business
                  "np.zeros(1) / np.zeros(1)\n"  # ... but the notebook's own is shown
                  "logging.getLogger('pymc.sampling').info('Sampling 4 chains')\n"
                  "logging.getLogger('distributed').setLevel(logging.INFO)\n"  # as Dask sets its loggers
                  "logging.getLogger('distributed.scheduler').info('Register worker')\n"
                  "logging.getLogger('pymc.sampling').warning('The rhat statistic is larger than 1.01')")
    with notebooks_and_data(books, datasets.data_dir()):
        run = report.run_notebook("warns", {}, tmp_path / "out")
    assert run.ok, run.error
    outputs = nbformat.read(tmp_path / "out" / "warns.ipynb", as_version=4).cells[1].outputs
    assert [output for output in outputs if output.get("name") == "stderr"] == []
    notes = [re.sub(r"<[^>]+>", "", output["data"]["text/html"]) for output in outputs
             if "report-warning" in output.get("data", {}).get("text/html", "")]
    assert notes == ["Warning from the notebook: only 3 studies",
                     "Warning from the notebook: invalid value encountered in divide",
                     "Warning from pymc: The rhat statistic is larger than 1.01"]
    assert 'data-mime-type="application/vnd.jupyter.stderr"' not in (tmp_path / "out" / "warns.html").read_text()


def rendered(notebook: Path, **kwargs):
    """The HTML page of a notebook, parsed."""
    from bs4 import BeautifulSoup

    return BeautifulSoup(report.render_html(notebook, **kwargs).read_text(), "html.parser")


def online_references(page) -> list[str]:
    """Addresses on other hosts that scripts, style sheets, images or frames of a page would load."""
    return [url for tag in page.find_all(["script", "link", "img", "iframe"])
            for url in [tag.get("src") or tag.get("href") or ""] if re.match(r"(https?:)?//", url)]


def test_formulas_become_mathml_and_tagged_cells_can_be_left_out(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("Inline $\\tau^2$, code `$x$`, and\n\n$$\\frac{a}{b}$$"),
                nbformat.v4.new_markdown_cell("JOBS II example", metadata={"tags": [report.EXAMPLE_TAG]}),
                nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
                    "display_data", data={"text/latex": "$$\\alpha_k$$", "text/plain": "alpha_k"})])]
    nbformat.write(nb, tmp_path / "math.ipynb")
    page = rendered(tmp_path / "math.ipynb", hide_tags=(report.EXAMPLE_TAG,))
    formulas = page.find_all("math")
    assert [(m["display"], m.get_text()) for m in formulas] == [("inline", "τ2"), ("block", "ab"), ("block", "αk")]
    assert formulas[1].find("mfrac") is not None
    assert page.find("code").get_text() == "$x$" and "JOBS II" not in page.get_text()
    assert "JOBS II" in rendered(tmp_path / "math.ipynb").get_text()
    with pytest.raises(ValueError, match=r"the formula '\\\\left\( x' cannot be rendered as MathML"):
        report.latex_to_mathml("\\left( x")


@pytest.mark.parametrize("source", sorted(report.NOTEBOOKS.rglob("*.ipynb")), ids=lambda path: path.stem)
def test_report_pages_show_formulas_as_mathml_and_load_nothing_from_the_internet(tmp_path, source):
    """Each notebook's page as stored (no outputs): every formula rendered, no script from a CDN."""
    copy = tmp_path / source.name
    shutil.copy(source, copy)
    page = rendered(copy)
    has_math = any("$" in cell.source for cell in nbformat.read(copy, as_version=4).cells
                   if cell.cell_type == "markdown")
    assert bool(page.find_all("math")) == has_math
    for code in page.select(".jp-MarkdownCell code"):
        code.decompose()
    text = " ".join(cell.get_text() for cell in page.select(".jp-MarkdownCell"))
    assert browser.RAW_LATEX.findall(text) == []
    assert online_references(page) == []
    assert not re.search(r"mathjax|require\.js|cdnjs|unpkg", str(page), re.IGNORECASE)


def test_diff_lists_what_moved_appeared_and_disappeared():
    old = {"a": {"status": "ok", "values": {"x": 1.0, "y": 2.0, "v": "converged", "gone": 3}},
           "b": {"status": "ok", "values": {}}, "c": {"status": "ok", "values": {"z": 0.0}}}
    new = {"a": {"status": "ok", "values": {"x": 1.0000001, "y": 2.5, "v": "low ESS", "new": 4}},
           "b": {"status": "failed", "values": {}}, "c": {"status": "ok", "values": {"z": 0.5}},
           "d": {"status": "ok", "values": {}}}
    changes = report.diff_results(old, new)
    assert [(c.report, c.key, c.kind) for c in changes] == [
        ("a", "gone", "disappeared"), ("a", "new", "appeared"), ("a", "v", "moved"), ("a", "y", "moved"),
        ("b", "status", "status"), ("c", "z", "moved"), ("d", "status", "status")]
    y = changes[3]
    assert (y.old, y.new, y.absolute, y.relative) == (2.0, 2.5, 0.5, 0.25)
    assert str(y) == "a: y 2 -> 2.5 (change +0.5, +25.00%)"
    assert str(changes[2]) == "a: v 'converged' -> 'low ESS'" and changes[2].absolute is None
    assert changes[5].relative == math.inf and str(changes[6]) == "d: status absent -> ok"
    assert [c.key for c in report.diff_results(old, new, rtol=0.3) if c.kind == "moved"] == ["v", "z"]
    assert report.diff_results(new, new) == []
    assert report.diff_results({"a": {"values": {"n": math.nan}}}, {"a": {"values": {"n": math.nan}}}) == []


@pytest.mark.slow
def test_data_quality_notebook_runs_on_the_bundled_trial(tmp_path):
    runs = report.run_reports(only=["01_data_quality"], output=tmp_path)
    assert [r.ok for r in runs] == [True], runs[0].error
    html = (tmp_path / "01_data_quality.html").read_text()
    assert "Reliable change" in html and "Traceback" not in html


@pytest.mark.slow
@pytest.mark.parametrize("data, extra, words", [
    ("synthetic_therapists", {}, ["Feingold", "favours cbt", "src_mastery_within", "Convergence", "in_therapist",
                                  "as wide as it should be", "cbt - control", "den_df", "cbt / control"]),
    ("BtheB", {"symptom_instruments": ["bdi"]}, ["BDI-II", "No time-varying predictor", "two-level models only"]),
])
def test_mixed_effects_notebook_runs(tmp_path, data, extra, words):
    run = report.run_notebook("02_mixed_effects", {"data": data, "quick": True, **extra}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "02_mixed_effects.html").read_text()
    assert "Traceback" not in html
    for word in words:
        assert word in html


@pytest.mark.slow
@pytest.mark.parametrize("data, extra, words", [
    ("synthetic_mnar", {}, ["Kenward-Roger", "tipping_delta", "points worse than under MAR", "J2R", "odds_ratio", "fmi"]),
    ("BtheB", {"outcome": "bdi", "se_instrument": None}, ["BDI-II", "BtheB - TAU", "CR"]),
])
def test_primary_analysis_notebook_runs(tmp_path, data, extra, words):
    run = report.run_notebook("08_primary_analysis", {"data": data, "quick": True, **extra}, tmp_path)
    assert run.ok, run.error
    html = (tmp_path / "08_primary_analysis.html").read_text()
    assert "Traceback" not in html
    for word in words:
        assert word in html


@pytest.mark.slow
@pytest.mark.parametrize("notebook, heading, example_key, example", [
    ("04_mediation", "JOBS II: job-search self-efficacy and depression", "jobs_acme", "jobs"),
    ("05_cross_lagged", "HELP: social support and depression", "help_y_on_x", "HELPfull"),
])
def test_own_data_reports_leave_out_the_bundled_examples(tmp_path, notebook, heading, example_key, example):
    shutil.copy(datasets.path("synthetic_trial"), tmp_path / "mytrial.csv")
    runs = report.run_reports(write_config(tmp_path, f"data: mytrial.csv\nquick: true\nnotebooks: [{notebook}]\n"))
    assert [(run.name, run.ok) for run in runs] == [(notebook, True)], runs[0].error
    page = (tmp_path / "reports" / f"{notebook}.html").read_text()  # the output folder is beside the config
    assert heading not in page and "is not part of a report on your own data" in page
    assert example_key not in runs[0].values and len(runs[0].values) >= 3
    assert str((tmp_path / "mytrial.csv").resolve()) in runs[0].inputs
    assert str(datasets.path(example)) not in runs[0].inputs


@pytest.mark.slow
def test_meta_analysis_takes_precomputed_effect_sizes_and_factor_moderators(tmp_path):
    studies = meta.escalc("RR", ai="tpos", bi="tneg", ci="cpos", di="cneg", data=datasets.load("dat_bcg"))
    studies["decade"] = studies["year"] // 10 * 10
    studies[["author", "year", "decade", "yi", "vi"]].to_csv(tmp_path / "studies.csv", index=False)
    config = write_config(tmp_path, "quick: true\nnotebooks: [06_meta_analysis]\noutput: out\nnotebook_params:\n"
                                    "  06_meta_analysis: {meta_data: studies.csv, measure: RR, study_label: author,\n"
                                    "                     moderators: '~ factor(decade)'}\n")
    runs = report.run_reports(config)
    assert runs[0].ok, runs[0].error
    page = (tmp_path / "out" / "06_meta_analysis.html").read_text()
    assert "06 · Meta-analysis: studies.csv" in page and "self-efficacy and symptoms</h1>" not in page
    assert "effect sizes from the file's <code>yi</code> and <code>vi</code> columns" in html.unescape(page)
    assert "factor(decade)[T.1980]" in page
    assert runs[0].values["k"] == 13
    assert runs[0].values["pooled"] == pytest.approx(0.4894, abs=5e-5)  # exp(-0.7145), Viechtbauer (2010)
