"""Outputs for a paper: a report's key tables, figures and methods paragraph in forms a journal takes.

Called in a notebook, one line per output::

    from analysis.report import methods, paper
    paper.table("fixed_effects", growth.fixed, "Growth model of PHQ-9 by arm", note="Satterthwaite df.")
    paper.figure("trajectories", fig, "Mean PHQ-9 by arm and week")
    paper.methods(methods.mixed_models(fits, estimands=[contrasts]))

Each writes into the report's paper folder:

* ``tables/NAME.csv`` (the values in full), ``tables/NAME.docx`` (an APA-style Word table: number,
  title in italics, rules above and below the column heads and at the end, a note) and
  ``tables/NAME.tex`` (the same as a LaTeX ``table`` with booktabs rules; it needs
  ``\\usepackage{booktabs}``);
* ``figures/NAME.svg``, ``.pdf`` and ``.png`` (300 dpi);
* ``methods.md`` and ``methods.txt``: the paragraph with the software sentence
  (:func:`analysis.report.methods.software`) and the references;
* ``paper.docx``: the methods paragraph and references, then every table and figure in the order
  written, numbered as APA numbers them; rewritten by every call.

When the runner executes a report, the kernel writes into a staging folder the runner names
(:func:`use_folder`) and the files are published to ``NAME_files/paper/`` in the output folder; in
a notebook opened by hand they go to ``paper/`` in its working folder.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from .methods import MethodsText, combine, software

#: Column names of the ``analysis`` tables and their APA headings (CSV files keep the names).
HEADINGS = {"estimate": "Estimate", "se": "SE", "df": "df", "t": "t", "z": "z", "p": "p", "F": "F",
            "ci_low": "95% CI lower", "ci_high": "95% CI upper", "d": "d", "d_ci_low": "d 95% CI lower",
            "d_ci_high": "d 95% CI upper", "num_df": "df1", "den_df": "df2", "p_adjusted": "p adjusted",
            "nobs": "N obs", "logLik": "log L"}

#: Headings set in italics, as APA sets statistical symbols.
ITALIC = re.compile(r"^(b|SE|df|df1|df2|t|z|p|F|d|n|N)\b")

#: Columns holding p values: three decimals without the leading zero, ``< .001`` below.
P_COLUMN = re.compile(r"^(p|p_value|p_adjusted|p\.value|Pr\(>.*\))$")

MINUS, DASH = "\u2212", "\u2014"

#: The date written into Word files (zip entries, core properties): the zip format's first day.
FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass
class _Table:
    caption: str
    note: str
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]


@dataclass
class _Figure:
    caption: str
    note: str
    png: Path


@dataclass
class _Paper:
    """What the kernel has written so far (``paper.docx`` is rebuilt from it on each call)."""

    folder: Path | None = None
    methods: MethodsText | None = None
    tables: dict[str, _Table] = field(default_factory=dict)
    figures: dict[str, _Figure] = field(default_factory=dict)


_PAPER = _Paper()


def use_folder(path: str | Path) -> None:
    """Write this kernel's paper outputs into ``path`` (the runner calls it before a report runs)."""
    global _PAPER
    _PAPER = _Paper(Path(path))


def folder() -> Path:
    """Where the paper outputs go: the folder the runner named, else ``paper/`` in the working folder."""
    return _PAPER.folder if _PAPER.folder is not None else Path.cwd() / "paper"


def format_value(value, column: str, decimals: int = 2) -> str:
    """A table cell as APA writes it.

    Parameters
    ----------
    value
        The cell: a number, bool, string or missing.
    column : str
        The column's name: p values (:data:`P_COLUMN`) get three decimals without the
        leading zero, and ``< .001`` below that.
    decimals : int, default 2
        Decimals of other floats.

    Returns
    -------
    str
        Missing values as an em dash, negative numbers with a minus sign (U+2212),
        integers with thousands separators, bools as yes/no.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return DASH
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        text = f"{int(value):,}"
    elif isinstance(value, numbers.Real):
        if not math.isfinite(value):
            return "∞" if value > 0 else f"{MINUS}∞"
        if P_COLUMN.match(column):
            return "< .001" if value < 0.001 else f"{value:.3f}".removeprefix("0")
        text = f"{value:.{decimals}f}"
        text = text if float(text) != 0 else text.lstrip("-")  # no "-0.00"
    else:
        return str(value)
    return text.replace("-", MINUS)


def table(name: str, frame: pd.DataFrame, caption: str, note: str = "", decimals: int = 2,
          index: bool = True) -> dict[str, Path]:
    """Write a key table as CSV, APA-style Word and LaTeX (booktabs).

    Parameters
    ----------
    name : str
        File name without suffix: letters, digits, ``_`` and ``-``.
    frame : pandas.DataFrame
        The table; the CSV holds its values in full.
    caption : str
        The table's title (APA: in italics under "Table N").
    note : str, optional
        Text after "Note." under the table (abbreviations, df method, ...); its lines are
        joined with semicolons (the notes ``analysis`` tables carry in ``attrs["note"]`` fit).
    decimals : int, default 2
        Decimals of floats in the Word and LaTeX tables (p values get three).
    index : bool, default True
        Include the index as the first columns (their names, or "Term" for an index without one).

    Returns
    -------
    dict
        ``{"csv", "docx", "tex"}``: the files written.

    Raises
    ------
    ValueError
        ``name`` has other characters, or ``frame`` is not a non-empty DataFrame.
    """
    _check_name(name)
    if not isinstance(frame, pd.DataFrame) or frame.empty:
        raise ValueError(f"table {name!r}: needs a non-empty pandas DataFrame, got {type(frame).__name__}")
    if index:
        single = frame.index.nlevels == 1
        frame = frame.reset_index(names=[name or ("Term" if single else f"level {i}")
                                         for i, name in enumerate(frame.index.names)])
    columns = [str(column) for column in frame.columns]
    rows = [[format_value(value, column, decimals) for value, column in zip(row, columns)]
            for row in frame.itertuples(index=False)]
    numeric = [pd.api.types.is_numeric_dtype(frame[column]) for column in frame.columns]
    note = "; ".join(line.strip() for line in str(note).splitlines() if line.strip())
    entry = _Table(caption, note, [HEADINGS.get(column, column) for column in columns], rows, numeric)
    _PAPER.tables[name] = entry
    number = list(_PAPER.tables).index(name) + 1
    base = folder() / "tables" / name
    base.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(base.with_suffix(".csv"), index=False)
    base.with_suffix(".tex").write_text(latex_table(entry, number, name), encoding="utf-8")
    _save(_word(lambda document: _add_table(document, entry, number)), base.with_suffix(".docx"))
    _write_document()
    return {suffix: base.with_suffix(f".{suffix}") for suffix in ("csv", "docx", "tex")}


def figure(name: str, fig, caption: str, note: str = "") -> dict[str, Path]:
    """Write a figure as SVG, PDF and PNG (300 dpi), and add it to ``paper.docx``.

    Parameters
    ----------
    name : str
        File name without suffix: letters, digits, ``_`` and ``-``.
    fig : matplotlib.figure.Figure
        The figure (e.g. ``plt.gcf()`` before ``plt.show()``).
    caption : str
        Its title (APA: in italics under "Figure N").
    note : str, optional
        Text after "Note." under the figure.

    Returns
    -------
    dict
        ``{"svg", "pdf", "png"}``: the files written.

    Raises
    ------
    ValueError
        ``name`` has other characters, or ``fig`` is not a matplotlib figure.
    """
    from matplotlib.figure import Figure

    _check_name(name)
    if not isinstance(fig, Figure):
        raise ValueError(f"figure {name!r}: needs a matplotlib Figure, got {type(fig).__name__}")
    base = folder() / "figures" / name
    base.parent.mkdir(parents=True, exist_ok=True)
    # no dates in the files: the same figure gives the same file
    fig.savefig(base.with_suffix(".svg"), format="svg", bbox_inches="tight", metadata={"Date": None})
    fig.savefig(base.with_suffix(".pdf"), format="pdf", bbox_inches="tight", metadata={"CreationDate": None})
    fig.savefig(base.with_suffix(".png"), format="png", bbox_inches="tight", dpi=300)
    _PAPER.figures[name] = _Figure(caption, note, base.with_suffix(".png"))
    _write_document()
    return {suffix: base.with_suffix(f".{suffix}") for suffix in ("svg", "pdf", "png")}


def methods(*parts: str | MethodsText) -> MethodsText:
    """Write the methods paragraph: the parts, then the software sentence, with the references.

    Parameters
    ----------
    *parts : str or MethodsText
        Sentences, e.g. :func:`analysis.report.methods.mixed_models` of the report's fits.

    Returns
    -------
    MethodsText
        What was written to ``methods.md``, ``methods.txt`` and ``paper.docx``
        (show ``.markdown`` in the report).
    """
    text = combine(*parts, software())
    _PAPER.methods = text
    folder().mkdir(parents=True, exist_ok=True)
    (folder() / "methods.md").write_text(text.markdown + "\n", encoding="utf-8")
    (folder() / "methods.txt").write_text(text.plain + "\n", encoding="utf-8")
    _write_document()
    return text


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"paper output name {name!r}: use letters, digits, '_' and '-' (it names the files)")


def latex_escape(text: str) -> str:
    """``text`` for LaTeX's text mode: its special characters escaped, a minus sign as ``$-$``."""
    special = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
               "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
               "<": r"\textless{}", ">": r"\textgreater{}", MINUS: "$-$", DASH: "---", "∞": r"$\infty$"}
    return "".join(special.get(char, char) for char in text)


def latex_table(entry: _Table, number: int, name: str) -> str:
    """A table as a LaTeX ``table`` float with booktabs rules, the note under it."""
    def heading(text: str) -> str:
        return rf"\textit{{{latex_escape(text)}}}" if ITALIC.match(text) else latex_escape(text)

    spec = "".join("r" if numeric and i else "l" for i, numeric in enumerate(entry.numeric))
    lines = [f"% Table {number}; needs \\usepackage{{booktabs}} in the preamble",
             r"\begin{table}[htbp]", r"\centering",
             rf"\caption{{{latex_escape(entry.caption)}}}", rf"\label{{tab:{name}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
             " & ".join(heading(text) for text in entry.header) + r" \\", r"\midrule",
             *(" & ".join(latex_escape(cell) for cell in row) + r" \\" for row in entry.rows),
             r"\bottomrule", r"\end{tabular}"]
    if entry.note:
        lines += [r"\par\smallskip", rf"{{\small\textit{{Note.}} {latex_escape(entry.note)}}}"]
    return "\n".join(lines + [r"\end{table}"]) + "\n"


def _word(*fill):
    """A new Word document in APA's font, filled by each function of ``fill``."""
    from docx import Document
    from docx.shared import Pt

    document = Document()
    document.core_properties.created = document.core_properties.modified = datetime(*FIXED_DATE)
    document.core_properties.last_printed = datetime(*FIXED_DATE)
    style = document.styles["Normal"]
    style.font.name, style.font.size = "Times New Roman", Pt(12)
    for add in fill:
        add(document)
    return document


def _write_document() -> None:
    """Rebuild ``paper.docx``: methods and references, then the tables and figures in order."""
    folder().mkdir(parents=True, exist_ok=True)
    _save(_word(_add_methods, *[lambda d, e=entry, n=n: _add_table(d, e, n)
                                for n, entry in enumerate(_PAPER.tables.values(), start=1)],
                *[lambda d, f=entry, n=n: _add_figure(d, f, n)
                  for n, entry in enumerate(_PAPER.figures.values(), start=1)]), folder() / "paper.docx")


def _save(document, path: Path) -> None:
    """Save a Word document byte for byte the same on every run.

    python-docx stamps the time of saving into each zip entry (and a new document's core
    properties); the entries are rewritten with a fixed date, and the properties fixed in
    :func:`_word`.
    """
    import io
    import zipfile

    buffer = io.BytesIO()
    document.save(buffer)
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(zipfile.ZipInfo(info.filename, date_time=FIXED_DATE), source.read(info.filename),
                            compress_type=zipfile.ZIP_DEFLATED)


def _add_methods(document) -> None:
    if _PAPER.methods is None:
        return
    document.add_heading("Method", level=1)
    document.add_paragraph(_PAPER.methods.text)
    if _PAPER.methods.references:
        document.add_heading("References", level=1)
        for reference in _PAPER.methods.references:
            document.add_paragraph(reference)


def _label(document, kind: str, number: int, caption: str) -> None:
    """APA's label: "Table N" in bold, the title in italics on the next line."""
    document.add_paragraph().add_run(f"{kind} {number}").bold = True
    document.add_paragraph().add_run(caption).italic = True


def _add_note(document, note: str) -> None:
    if note:
        paragraph = document.add_paragraph()
        paragraph.add_run("Note.").italic = True
        paragraph.add_run(f" {note}")


def _add_table(document, entry: _Table, number: int) -> None:
    """An APA table: horizontal rules above and below the heads and at the bottom, no vertical ones."""
    from docx.enum.text import WD_ALIGN_PARAGRAPH

    _label(document, "Table", number, entry.caption)
    grid = document.add_table(rows=1 + len(entry.rows), cols=len(entry.header))
    _rules(grid._tbl.tblPr, "w:tblBorders", top="single", bottom="single", left="nil", right="nil",
           insideH="nil", insideV="nil")
    for row, cells in enumerate([entry.header, *entry.rows]):
        for col, text in enumerate(cells):
            cell = grid.cell(row, col)
            paragraph = cell.paragraphs[0]
            run = paragraph.add_run(text)
            run.italic = row == 0 and bool(ITALIC.match(text))
            if col:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            if row == 0:
                _rules(cell._tc.get_or_add_tcPr(), "w:tcBorders", bottom="single")
    _add_note(document, entry.note)


def _add_figure(document, entry: _Figure, number: int) -> None:
    from docx.shared import Inches

    _label(document, "Figure", number, entry.caption)
    document.add_picture(str(entry.png), width=Inches(6))
    _add_note(document, entry.note)


def _rules(properties, tag: str, **sides: str) -> None:
    """Set the borders ``sides`` (``single`` or ``nil``) of a table's or cell's properties element."""
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    borders = OxmlElement(tag)
    for side, value in sides.items():
        rule = OxmlElement(f"w:{side}")
        rule.set(qn("w:val"), value)
        if value != "nil":
            rule.set(qn("w:sz"), "8")
            rule.set(qn("w:space"), "0")
            rule.set(qn("w:color"), "000000")
        borders.append(rule)
    properties.append(borders)
