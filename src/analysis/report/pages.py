"""Report pages: an executed notebook rendered to HTML that needs nothing from the internet, its header,
and the thumbnail of its main figure."""

from __future__ import annotations

import base64
import html
import re
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from .. import __version__
from .dependencies import library_versions, source_hash
from .folder import INDEX
from .results import NotebookRun

MAIN_FIGURE_TAG = "main-figure"
THUMBNAIL_SIZE = (360, 270)


def main_figure(executed: str | Path) -> bytes | None:
    """PNG bytes of an executed notebook's main figure: the first in a cell tagged ``main-figure``,
    else the first figure of the notebook; None when it has no figure."""
    import nbformat

    cells = nbformat.read(str(executed), as_version=4).cells
    tagged = [cell for cell in cells if MAIN_FIGURE_TAG in cell.metadata.get("tags", [])]
    for cell in tagged + cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                return base64.b64decode(png)
    return None


def _save_thumbnail(executed: Path, target: Path) -> bool:
    """Write a small PNG of the main figure to ``target``; False when the notebook drew none."""
    from PIL import Image

    png = main_figure(executed)
    if png is None:
        return False
    with Image.open(BytesIO(png)) as picture:
        picture.thumbnail(THUMBNAIL_SIZE)
        picture.save(target, format="PNG")
    return True


#: Code cells' inputs are hidden until the reader presses "Show code".
_CODE_TOGGLE_STYLE = """<style>
body:not(.show-code) .jp-CodeCell .jp-Cell-inputWrapper,
body:not(.show-code) .jp-CodeCell.jp-mod-noOutputs {display: none}
.report-meta {font-family: sans-serif; font-size: 85%; background: #f3f4f6; border-bottom: 1px solid #ccc;
  padding: .4em 1em; margin: 0 0 1em 0}
.report-meta p {margin: .25em 0}
.report-meta code {word-break: break-all}
</style>
"""
_CODE_TOGGLE = ('<button type="button" id="toggle-code" aria-pressed="false" onclick="'
                "var shown = document.body.classList.toggle('show-code');"
                "this.textContent = shown ? 'Hide code' : 'Show code';"
                "this.setAttribute('aria-pressed', shown)\">Show code</button>")


#: nbconvert's lab template without what it loads from the internet (require.js, MathJax, mermaid and
#: widget scripts from CDNs); formulas in Markdown and ``text/latex`` outputs become MathML when the page
#: is built (see :func:`latex_to_mathml`), which browsers show without any script.
_OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_latex scoped %}
<div class="jp-RenderedLatex jp-OutputArea-output {{ extra_class }}" data-mime-type="text/latex">
{{ output.data['text/latex'] | markdown2html }}
</div>
{%- endblock data_latex %}
"""


def latex_to_mathml(latex: str, display: bool = False) -> str:
    """A LaTeX formula (without its ``$`` delimiters) as a MathML ``<math>`` element.

    Parameters
    ----------
    latex : str
        The formula, e.g. ``r"\\tau^2"``.
    display : bool, default False
        A formula set apart on its own line (``$$...$$``) rather than in the text.

    Returns
    -------
    str
        The ``<math>`` element, which browsers lay out without any script.

    Raises
    ------
    ValueError
        The formula cannot be converted; the message quotes it.
    """
    from latex2mathml.converter import convert

    try:
        return convert(latex.strip(), display="block" if display else "inline")
    except Exception as exc:  # latex2mathml raises its own errors and plain ones (IndexError ...) on bad input
        raise ValueError(f"the formula {latex!r} cannot be rendered as MathML ({type(exc).__name__}: {exc})") from None


@lru_cache(maxsize=1)
def _offline_exporter_class() -> type:
    """nbconvert's HTML exporter on :data:`_OFFLINE_TEMPLATE`, its Markdown math rendered as MathML.

    Made on first use: nbconvert is imported only to render pages, not in every kernel that imports
    this module for :func:`record`.
    """
    from jinja2 import pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        def block_math(self, body: str) -> str:
            return latex_to_mathml(body, display=True)

        def inline_math(self, body: str) -> str:
            return latex_to_mathml(body)

        def latex_environment(self, name: str, body: str) -> str:
            return latex_to_mathml(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)

    class OfflineHTMLExporter(HTMLExporter):
        @pass_context
        def markdown2html(self, context, source: str) -> str:
            """As nbconvert's filter of the same name, with :class:`MathMLRenderer`."""
            cell = context.get("cell", {})
            renderer = MathMLRenderer(
                escape=False, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
                path=context.get("resources", {}).get("metadata", {}).get("path", ""),
                anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
                **self.lexer_options)
            return MarkdownWithMath(renderer=renderer).render(source)

    return OfflineHTMLExporter


def render_html(executed: Path, header: str = "", hide_tags: tuple[str, ...] = ()) -> Path:
    """Render an executed notebook to HTML beside it, code hidden behind a toggle; returns the page's path.

    The page needs nothing from the internet: formulas are MathML, and none of the scripts
    nbconvert's template fetches from CDNs are linked.

    Parameters
    ----------
    executed : Path
        Executed notebook.
    header : str, optional
        HTML shown at the top of the page (the runner states version, data and parameters there).
    hide_tags : tuple of str, optional
        Cells with any of these tags are left out of the page.
    """
    import nbformat
    from jinja2 import DictLoader
    from nbconvert.preprocessors import TagRemovePreprocessor

    executed = Path(executed)
    exporter = _offline_exporter_class()(
        template_file="offline.html.j2", extra_loaders=[DictLoader({"offline.html.j2": _OFFLINE_TEMPLATE})],
        exclude_input_prompt=True, exclude_output_prompt=True)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags=set(hide_tags)), enabled=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4),
                                          resources={"metadata": {"name": executed.stem}})
    bar = header or f'<div class="report-meta"><p>{_CODE_TOGGLE}</p></div>'
    body = body.replace("</head>", _CODE_TOGGLE_STYLE + "</head>", 1)
    body, found = re.subn(r"<body[^>]*>", lambda match: match.group(0) + "\n" + bar, body, count=1)
    if not found:
        raise ValueError(f"{executed}: the rendered page has no <body> tag")
    page = executed.with_suffix(".html")
    page.write_text(body, encoding="utf-8")
    return page


def _page_header(run: NotebookRun, parameters: dict) -> str:
    """Top of a report page: link to the index, code toggle, package version, computing libraries' versions,
    data hashes, parameters."""
    e = html.escape
    index = "../" * run.name.count("/") + INDEX
    data = "; ".join(f'<code>{e(Path(path).name)}</code> sha256 <code>{digest}</code>'
                     for path, digest in run.inputs.items()) or "none read from files"
    params = ", ".join(f"<code>{e(key)} = {e(repr(value))}</code>" for key, value in sorted(parameters.items()))
    return (f'<div class="report-meta">\n<p><a href="{index}">All reports</a> · {_CODE_TOGGLE}</p>\n'
            f"<p>Report <b>{e(run.name)}</b> · analysis {e(__version__)}, package source "
            f"<code>{source_hash()[:12]}</code></p>\n<p>Computed with {e(versions_line())}</p>\n"
            f"<p>Data: {data}</p>\n<p>Parameters: {params or 'none'}</p>\n</div>")


def versions_line() -> str:
    """The computing libraries and their versions in words: ``numpy 2.1.3, scipy 1.14.1, ...``."""
    return ", ".join(f"{name} {version}" for name, version in library_versions().items())
