"""Paper outputs (analysis.report.paper, analysis.report.methods), computing libraries in the fingerprint,
and the package layout of analysis.report."""

import math
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from docx import Document  # noqa: E402

from analysis import __version__, mixed, report, simulate  # noqa: E402
from analysis.report import dependencies, methods, paper  # noqa: E402

MINUS = "\u2212"


# ---------------------------------------------------------------- fingerprints and versions

def test_library_versions_come_from_the_installed_metadata():
    versions = report.library_versions()
    assert list(versions) == list(report.COMPUTING_LIBRARIES)
    assert versions["numpy"] == metadata.version("numpy") and versions["pymc"] == metadata.version("pymc")


def test_a_changed_library_version_changes_the_fingerprint(monkeypatch):
    versions = report.library_versions()
    before = report.fingerprint("01_data_quality", {"seed": 1}, {}, "source", versions)
    assert before == report.fingerprint("01_data_quality", {"seed": 1}, {}, "source", dict(versions))
    assert before != report.fingerprint("01_data_quality", {"seed": 1}, {}, "source", {**versions, "numpy": "9.9.9"})
    # and through the metadata, as the runner reads it
    real = metadata.version
    monkeypatch.setattr(dependencies.metadata, "version",
                        lambda name: "0.0.1" if name == "scipy" else real(name))
    assert report.fingerprint("01_data_quality", {"seed": 1}, {}, "source", report.library_versions()) != before


def test_report_page_header_lists_the_computing_libraries():
    run = report.NotebookRun("x", True, 1.0)
    header = report.pages._page_header(run, {})
    for name, version in report.library_versions().items():
        assert f"{name} {version}" in header


def test_every_part_of_the_report_package_stays_small():
    for path in sorted(Path(report.__file__).parent.glob("*.py")):
        assert len(path.read_text().splitlines()) < 1000, path.name


# ---------------------------------------------------------------- formatting, tables, LaTeX

@pytest.mark.parametrize("value, column, text", [
    (-0.4159, "estimate", f"{MINUS}0.42"), (0.0004, "p", "< .001"), (0.04567, "p", ".046"), (1234, "nobs", "1,234"),
    (float("nan"), "se", "\u2014"), (True, "converged", "yes"), ("cbt - control", "contrast", "cbt - control"),
    (-0.001, "estimate", "0.00"),
])
def test_cells_are_formatted_as_apa_writes_them(value, column, text):
    assert paper.format_value(value, column) == text


def test_latex_escapes_every_special_character():
    assert paper.latex_escape("a_b & 5% #1 {x} $ ~^ \\ <") == (
        r"a\_b \& 5\% \#1 \{x\} \$ \textasciitilde{}\textasciicircum{} \textbackslash{} \textless{}")
    assert paper.latex_escape(f"{MINUS}0.42") == "$-$0.42"


def test_bad_names_and_tables_are_refused_with_the_name(tmp_path):
    paper.use_folder(tmp_path)
    with pytest.raises(ValueError, match="'bad name'"):
        paper.table("bad name", pd.DataFrame({"a": [1]}), "x")
    with pytest.raises(ValueError, match="'empty'.*non-empty"):
        paper.table("empty", pd.DataFrame(), "x")
    with pytest.raises(ValueError, match="'plot'.*matplotlib Figure"):
        paper.figure("plot", "not a figure", "x")
    with pytest.raises(ValueError, match="mixed-model results"):
        methods.mixed_models({"m": object()})


def check_latex(text: str, columns: int) -> None:
    """LaTeX syntax a table must have: environments balanced, booktabs rules in order, specials escaped,
    as many cells in each row as columns."""
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", text):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack and stack.pop() == name, f"\\end{{{name}}} does not close the open environment"
    assert not stack, f"unclosed environments {stack}"
    body = re.sub(r"\\[{}]", "", "\n".join(line for line in text.splitlines() if not line.startswith("%")))
    depth = 0
    for char in body:
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0, "a closing brace without its opening one"
    assert depth == 0, "unbalanced braces"
    rules = [line for line in text.splitlines() if line in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules == [r"\toprule", r"\midrule", r"\bottomrule"] and r"\hline" not in text
    rows = text.split(r"\midrule")[1].split(r"\bottomrule")[0].strip().splitlines()
    for row in [text.split(r"\toprule")[1].split(r"\midrule")[0].strip(), *rows]:
        assert row.endswith(r"\\")
        cells = re.split(r"(?<!\\)&", row[:-2])
        assert len(cells) == columns, row
        for cell in cells:  # no unescaped specials outside the $-$ of a minus sign
            bare = re.sub(r"\$-\$|\$\\infty\$|\\[&%$#_{}]", "", cell)
            assert not re.search(r"[%$#_^~]", bare), cell


def compile_latex(tex, folder):
    """Compile a table in a minimal document with pdflatex, where TeX is installed."""
    document = folder / "check.tex"
    document.write_text("\\documentclass{article}\n\\usepackage[T1]{fontenc}\n\\usepackage{booktabs}\n"
                        f"\\begin{{document}}\n\\input{{{tex}}}\n\\end{{document}}\n")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", document.name],
                          cwd=folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:]


def word_tables(path):
    """Each table of a Word file as a list of rows of cell texts."""
    return [[[cell.text for cell in row.cells] for row in table.rows] for table in Document(str(path)).tables]


def number(text: str) -> float:
    """A Word cell's number back as a float (APA's minus sign, thousands separators, p values)."""
    text = text.replace(MINUS, "-").replace(",", "")
    return float(text[2:]) if text.startswith("< ") else float(text)


def check_word_table_equals_csv(rows, csv_path, decimals=2):
    """The Word table holds the CSV's values: strings equal, numbers to the decimals shown."""
    frame = pd.read_csv(csv_path, keep_default_na=False, na_values=[""])
    assert len(rows) == len(frame) + 1
    for (_, values), cells in zip(frame.iterrows(), rows[1:]):
        for column, value, cell in zip(frame.columns, values, cells):
            if isinstance(value, str):
                assert cell == {"True": "yes", "False": "no"}.get(value, value)
            elif isinstance(value, float) and math.isnan(value):
                assert cell == "\u2014"
            elif cell.startswith("< "):
                assert value < 0.001
            else:
                shown = 3 if paper.P_COLUMN.match(column) else decimals if "." in cell else 0
                assert abs(number(cell) - value) <= 0.5 * 10 ** -shown + 1e-12, (column, value, cell)


def test_table_writes_csv_word_and_latex_that_read_back_equal(tmp_path):
    paper.use_folder(tmp_path)
    frame = pd.DataFrame({"estimate": [-0.41594, 12.5], "se": [0.1, math.nan], "p": [0.00002, 0.0456],
                          "note": ["a_b & c", "50%"], "n": [1200, 3]}, index=pd.Index(["time:arm[T.cbt]", "x"]))
    files = paper.table("demo", frame, "A demo of 100% & more", note="Satterthwaite df; p < .05.")
    rows = word_tables(files["docx"])[0]
    assert rows[0] == ["Term", "Estimate", "SE", "p", "note", "n"]
    assert rows[1] == ["time:arm[T.cbt]", f"{MINUS}0.42", "0.10", "< .001", "a_b & c", "1,200"]
    check_word_table_equals_csv(rows, files["csv"])
    tex = files["tex"].read_text()
    check_latex(tex, 6)
    assert r"\caption{A demo of 100\% \& more}" in tex and r"\textit{Note.} Satterthwaite df; p \textless{} .05." in tex
    document = Document(str(files["docx"]))
    texts = [p.text for p in document.paragraphs]
    assert texts[:2] == ["Table 1", "A demo of 100% & more"] and "Note. Satterthwaite df; p < .05." in texts
    assert document.paragraphs[0].runs[0].bold and document.paragraphs[1].runs[0].italic
    if shutil.which("pdflatex"):
        compile_latex("tables/demo.tex", tmp_path)


def test_word_files_are_the_same_bytes_on_every_run(tmp_path, monkeypatch):
    """python-docx stamps the saving time into the zip and a new document's properties: fixed here."""
    frame = pd.DataFrame({"estimate": [0.5, 1.5]}, index=["a", "b"])
    written = []
    for run, moment in enumerate((1_000_000_000, 1_700_000_000)):
        monkeypatch.setattr("time.time", lambda moment=moment: float(moment))
        paper.use_folder(tmp_path / str(run))
        files = paper.table("demo", frame, "A demo")
        written.append((files["docx"].read_bytes(), (tmp_path / str(run) / "paper.docx").read_bytes()))
    assert written[0] == written[1]


def test_figures_are_written_as_svg_pdf_and_png_and_collected_in_paper_docx(tmp_path):
    paper.use_folder(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    files = paper.figure("line", fig, "A line")
    plt.close(fig)
    svg = files["svg"].read_text()
    assert svg.lstrip().startswith(("<?xml", "<svg")) and "<dc:date>" not in svg
    assert files["pdf"].read_bytes().startswith(b"%PDF") and b"CreationDate" not in files["pdf"].read_bytes()
    document = Document(str(tmp_path / "paper.docx"))
    assert "Figure 1" in [p.text for p in document.paragraphs] and len(document.inline_shapes) == 1


# ---------------------------------------------------------------- methods paragraph

@pytest.fixture(scope="module")
def fits():
    data, _ = simulate.trial(n_per_arm=30, seed=3)
    data.loc[data.sample(frac=0.05, random_state=1).index, "phq9_total"] = math.nan
    growth = mixed.growth(data, "phq9_total")
    end = float(growth.data["time"].max())
    kenward = mixed.contrast(growth, "arm", at={"time": end}, ddf="kenward-roger")
    return {"growth": growth}, [mixed.emmeans(growth, "arm", at={"time": end}), kenward]


def test_methods_paragraph_is_written_from_the_fits(fits):
    models, estimands = fits
    growth = models["growth"]
    text = methods.mixed_models(models).text
    assert "restricted maximum likelihood (REML)" in text and "L-BFGS-B" in text
    assert f"{growth.nobs:,} observations" in text and f"growth: {growth.formula} + (time | participant_id)" in text
    assert f"growth: {growth.n_dropped:,}" in text and growth.n_dropped > 0 and "missing at random" in text
    assert "Satterthwaite's approximation" in text and "Kenward" not in text
    assert "all models converged without singular fits" in text or "singular fit" in text
    with_kr = methods.mixed_models(models, estimands)
    assert "Kenward–Roger approximation" in with_kr.text and "estimated marginal means" in with_kr.text
    assert any(ref.startswith("Kenward, M. G., & Roger") for ref in with_kr.references)
    ml = methods.mixed_models({"growth ML": mixed.growth(growth.data, "phq9_total", reml=False)})
    assert "fitted by maximum likelihood" in ml.text and "REML = FALSE" in ml.text


def test_software_sentence_names_the_libraries_in_use_with_their_versions():
    sentence = methods.software({"numpy": None, "statsmodels": None}).text
    assert f"numpy {metadata.version('numpy')} (Harris et al., 2020)" in sentence
    assert f"statsmodels {metadata.version('statsmodels')}" in sentence and "pymc" not in sentence
    assert f"analysis suite {__version__}" in sentence


def test_methods_files_hold_the_paragraph_and_every_reference_cited(tmp_path, fits):
    paper.use_folder(tmp_path)
    written = paper.methods(methods.mixed_models(*fits), "Extra sentence.")
    for key in ["Bates et al., 2015", "Kuznetsova et al., 2017", "Satterthwaite, 1946", "Little & Rubin, 2019"]:
        assert key in written.text
        assert methods.REFERENCES[key] in written.references
    assert "Extra sentence. Analyses were run in Python" in written.text
    assert (tmp_path / "methods.md").read_text().startswith(written.text)
    assert "**References**" in (tmp_path / "methods.md").read_text()
    assert "**" not in (tmp_path / "methods.txt").read_text()
    assert written.text in [p.text for p in Document(str(tmp_path / "paper.docx")).paragraphs]


# ---------------------------------------------------------------- report 02 end to end (issue 19: Must show)

@pytest.fixture(scope="module")
def mixed_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("paper02")
    run = report.run_notebook("02_mixed_effects", {"quick": True}, out)
    assert run.ok, run.error
    return out, run


def test_report_02_writes_its_tables_figure_and_methods_into_its_paper_folder(mixed_report):
    out, run = mixed_report
    expected = {f"tables/{name}.{suffix}" for name in ["fixed_effects", "effect_sizes", "end_means", "end_contrasts",
                                                       "models"] for suffix in ["csv", "docx", "tex"]}
    expected |= {f"figures/trajectories.{suffix}" for suffix in ["svg", "pdf", "png"]}
    expected |= {"methods.md", "methods.txt", "paper.docx"}
    assert set(run.paper) == {f"{report.paper_folder('02_mixed_effects')}/{path}" for path in expected}
    assert all((out / path).is_file() for path in run.paper)
    assert not (out / report.STAGING).exists() or not any((out / report.STAGING).iterdir())


def test_report_02_word_tables_read_back_equal_to_the_csv(mixed_report):
    out, _ = mixed_report
    folder = out / report.paper_folder("02_mixed_effects")
    for name in ["fixed_effects", "effect_sizes", "end_contrasts"]:
        (rows,) = word_tables(folder / "tables" / f"{name}.docx")
        check_word_table_equals_csv(rows, folder / "tables" / f"{name}.csv")
    combined = word_tables(folder / "paper.docx")
    assert len(combined) == 5 and combined[0] == word_tables(folder / "tables" / "fixed_effects.docx")[0]
    fixed = pd.read_csv(folder / "tables" / "fixed_effects.csv")
    assert list(fixed.columns[:3]) == ["term", "estimate", "se"] and "time" in set(fixed["term"])


def test_report_02_latex_tables_are_well_formed(mixed_report, tmp_path):
    out, _ = mixed_report
    folder = out / report.paper_folder("02_mixed_effects")
    for tex in sorted((folder / "tables").glob("*.tex")):
        columns = len(pd.read_csv(tex.with_suffix(".csv")).columns)
        check_latex(tex.read_text(), columns)
        if shutil.which("pdflatex"):
            shutil.copy(tex, tmp_path / tex.name)
            compile_latex(tex.name, tmp_path)


def test_report_02_methods_names_the_versions_and_the_df_method_used(mixed_report):
    out, _ = mixed_report
    folder = out / report.paper_folder("02_mixed_effects")
    text = (folder / "methods.txt").read_text()
    for name in ["numpy", "scipy", "pandas", "statsmodels"]:
        assert f"{name} {metadata.version(name)}" in text
    assert "Degrees-of-freedom method: satterthwaite" in (folder / "tables" / "end_contrasts.tex").read_text()
    paragraph = text.split("References")[0]
    assert "Satterthwaite's approximation (Satterthwaite, 1946)" in paragraph and "Kenward" not in paragraph
    assert f"Python {sys.version.split()[0]}" in text and "REML" in text and "L-BFGS-B" in text
    page = (out / "02_mixed_effects.html").read_text()
    assert "Analyses were run in Python" in page and f"numpy {metadata.version('numpy')}" in page


def test_the_index_links_every_paper_output(mixed_report, tmp_path):
    _, run = mixed_report
    report.write_index([run], tmp_path, report.load_config())
    index = (tmp_path / report.INDEX).read_text()
    for path in run.paper:
        assert f'href="{path}"' in index
    assert "for a paper" in index and re.search(r"methods: <a [^>]+>md</a> · <a [^>]+>txt</a>", index)
    assert f"computed with {report.versions_line()}" in index


def test_citation_file_is_valid_cff_and_in_step_with_the_package():
    import tomllib

    import yaml

    root = report.ROOT
    citation = yaml.safe_load((root / "CITATION.cff").read_text(encoding="utf-8"))
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert citation["cff-version"] == "1.2.0" and citation["type"] == "software"
    assert {"message", "title", "authors"} <= set(citation) and citation["authors"]
    assert str(citation["version"]) == project["version"] and citation["license"] == project["license"]
    for reference in citation["references"]:
        assert {"type", "title", "authors", "year", "doi"} <= set(reference), reference.get("title")
