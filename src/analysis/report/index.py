"""The index page: per report its status, run time, data, key numbers, main figure and paper outputs."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .. import __version__
from .config import _sweep_label
from .dependencies import source_hash
from .folder import INDEX, RESULTS, _title, _write_atomic, paper_folder
from .pages import versions_line
from .results import NotebookRun

_INDEX_STYLE = """body{font-family:sans-serif;max-width:90em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin-bottom:2em}td,th{padding:.4em .8em;text-align:left;vertical-align:top;
border-bottom:1px solid #ddd}tr.failed td.status{color:#a00}td.values,td.data,td.paper{font-size:85%}
td.figure img{max-width:360px;height:auto;border:1px solid #ddd}code{font-size:90%}"""


def write_index(runs: list[NotebookRun], out: Path, config: dict) -> Path:
    """Write ``index.html``: per report its status, run time, data, key numbers, main figure and paper outputs.

    A failed report links its partial output with the error, and the last good report
    when there is one; sweeps get a summary table of their recorded numbers.
    """
    ok = sum(run.ok for run in runs)
    reused = sum(run.reused for run in runs)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Self-efficacy analysis reports</title>
<style>{_INDEX_STYLE}</style></head><body>
<h1>Self-efficacy analysis reports</h1>
<p>Data: {html.escape(str(config["data"]))}; seed {config["seed"]}; quick mode {config["quick"]};
analysis {__version__} (package source <code>{source_hash()[:12]}</code>);
computed with {html.escape(versions_line())}.</p>
<p>{ok} of {len(runs)} reports ok{f", {len(runs) - ok} failed" if ok < len(runs) else ""};
{reused} up to date (not rerun). Key numbers of every report: <a href="{RESULTS}">{RESULTS}</a>.</p>
<table><tr><th>report</th><th>status</th><th>run time</th><th>data</th><th>key numbers</th><th>main figure</th>
<th>for a paper</th></tr>
{chr(10).join(_index_row(run) for run in runs)}
</table>
{_sweep_tables(runs, config)}
</body></html>
"""
    return _write_atomic(Path(out) / INDEX, page)


def _index_row(run: NotebookRun) -> str:
    e = html.escape
    links = [f'<a href="{e(run.html)}">{e(run.name)}</a>' if run.html else e(run.name)]
    links += [f'(<a href="{e(run.ipynb)}">notebook</a>)'] if run.ipynb else []
    links += [f'<br><a href="{e(run.previous)}">last good report</a>'] if run.previous else []
    status = ("ok" if run.ok else f"failed: {e(run.error)}") + ("<br>up to date, not rerun" if run.reused else "")
    data = "<br>".join(f'<span title="{e(path)}">{e(Path(path).name)}</span> <code>{digest[:12]}</code>'
                       for path, digest in run.inputs.items())
    values = "<br>".join(f"{e(key)} = {e(_format_value(value))}" for key, value in run.values.items())
    figure = (f'<a href="{e(run.html)}"><img src="{e(run.thumbnail)}" alt="main figure of {e(run.name)}"></a>'
              if run.thumbnail else "")
    css = "ok" if run.ok else "failed"
    return (f'<tr class="{css}"><td>{" ".join(links)}</td><td class="status">{status}</td>'
            f'<td>{run.seconds:.1f} s</td><td class="data">{data}</td><td class="values">{values}</td>'
            f'<td class="figure">{figure}</td><td class="paper">{_paper_links(run)}</td></tr>')


def _paper_links(run: NotebookRun) -> str:
    """Links to a report's paper outputs, one line per table, figure or text with its formats."""
    e = html.escape
    base = paper_folder(run.name) + "/"
    formats: dict[str, list[str]] = {}
    for path in run.paper:
        stem, _, suffix = path.removeprefix(base).rpartition(".")
        formats.setdefault(stem, []).append(f'<a href="{e(path)}">{e(suffix)}</a>')
    return "<br>".join(f"{e(stem)}: {' · '.join(links)}" for stem, links in formats.items())


def _format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _sweep_tables(runs: list[NotebookRun], config: dict) -> str:
    """One table per swept parameter: a row per value with its status and recorded numbers."""
    e = html.escape
    by_name = {run.name: run for run in runs}
    tables = []
    for name, swept in config["sweeps"].items():
        for param, items in swept.items():
            rows = [(value, by_name[_title(name, _sweep_label(param, label))]) for label, value in items.items()
                    if _title(name, _sweep_label(param, label)) in by_name]
            if not rows:
                continue
            keys = list(dict.fromkeys(key for _, run in rows for key in run.values))
            head = "".join(f"<th>{e(key)}</th>" for key in [param, "status", *keys])
            body = "\n".join(
                f'<tr><td><a href="{e(run.html)}">{e(_sweep_value(value))}</a></td>'
                f'<td>{"ok" if run.ok else "failed"}</td>'
                + "".join(f"<td>{e(_format_value(run.values[key])) if key in run.values else ''}</td>" for key in keys)
                + "</tr>" for value, run in rows)
            tables.append(f"<h2>{e(name)} over {e(param)}</h2>\n<table><tr>{head}</tr>\n{body}\n</table>")
    return ("<h2>Sweeps</h2>\n" + "\n".join(tables)) if tables else ""


def _sweep_value(value: Any) -> str:
    """How a sweep item shows in its summary: a file by its name, anything else as written."""
    return Path(value).name if isinstance(value, str) and Path(value).is_absolute() else str(value)

