"""Run every notebook with papermill and render the reports.

``run_reports(config)`` reads a YAML config, checks it (unknown or mistyped
parameters are rejected before any notebook starts), executes each notebook in
``notebooks/`` into the output folder (executed ``.ipynb`` plus HTML with the code
hidden), and writes ``index.html`` linking every report with its status and run time.
A failing notebook does not stop the others; its partial output is still rendered.
"""

from __future__ import annotations

import ast
import html
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import __version__, datasets, scales

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_CONFIG = ROOT / "config" / "report.yml"

#: Config keys, their types, and the notebook parameter each one feeds.
CONFIG_KEYS: dict[str, tuple[tuple[type, ...], str | None]] = {
    "data": ((str,), "data"),
    "mapping": ((str, type(None)), "mapping"),
    "se_instrument": ((str,), "se_instrument"),
    "symptom_instruments": ((list,), "symptom_instruments"),
    "seed": ((int,), "seed"),
    "quick": ((bool,), "quick"),
    "notebooks": ((list, type(None)), None),
    "output": ((str,), None),
    "notebook_params": ((dict,), None),
    "variants": ((dict,), None),
}


#: MIME type of the key numbers a notebook records with :func:`record` (papermill/scrapbook-style glue).
RESULT_MIME = "application/vnd.analysis.result+json"


def record(name: str, value) -> None:
    """Record one key number of a report (for ``reports/results.json`` and ``analysis diff``).

    Call it in a notebook cell; it shows nothing in the report. Floats are stored to 8
    significant digits so that reruns with the same inputs compare equal.

    Parameters
    ----------
    name : str
        Short stable key, e.g. ``"cbt_x_time"`` or ``"slope_corr"``.
    value : float, int, str, bool or None
        The number or verdict; numpy scalars are converted.
    """
    from IPython.display import display

    # the empty HTML part keeps notebook front ends and nbconvert from showing or warning about it
    display({RESULT_MIME: {"name": str(name), "value": _plain(value)}, "text/html": ""}, raw=True)


def _plain(value):
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.8g}")
    if value is None or isinstance(value, (bool, int, str)):
        return value
    raise TypeError(f"record() takes a number, string, bool or None, got {type(value).__name__}")


def recorded(executed: str | Path) -> dict:
    """The key numbers an executed notebook recorded with :func:`record`, in recording order."""
    import nbformat

    values = {}
    for cell in nbformat.read(str(executed), as_version=4).cells:
        for output in cell.get("outputs", []):
            item = output.get("data", {}).get(RESULT_MIME)
            if item is not None:
                values[item["name"]] = item["value"]
    return values


class ConfigError(ValueError):
    """The report config is wrong; nothing has been run."""


@dataclass(frozen=True)
class NotebookRun:
    """Outcome of one notebook: name, whether it succeeded, seconds, error text, output files."""

    name: str
    ok: bool
    seconds: float
    error: str = ""
    html: str = ""
    ipynb: str = ""


def load_config(path: str | Path | None = None) -> dict:
    """Read and check a report config; relative paths are resolved against the config's folder.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; the bundled ``config/report.yml`` when omitted.

    Returns
    -------
    dict
        The config with every key of :data:`CONFIG_KEYS` filled in.

    Raises
    ------
    ConfigError
        Unknown keys, values of the wrong type, unknown instruments, a data file or
        mapping that does not exist, unknown notebooks, or notebook parameters that the
        notebook does not declare or of the wrong type.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values")
    defaults = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config = {**defaults, **config}
    _check_types(config, path)
    _check_values(config, path.parent)
    return config


def _check_types(config: dict, path: Path) -> None:
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown config keys {unknown}; allowed: {sorted(CONFIG_KEYS)}")
    for key, (types, _) in CONFIG_KEYS.items():
        value = config[key]
        if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise ConfigError(f"{path}: {key} must be {names}, got {value!r}")


def _check_values(config: dict, base: Path) -> None:
    for key in [config["se_instrument"], *config["symptom_instruments"]]:
        if key not in scales.INSTRUMENTS:
            raise ConfigError(f"unknown instrument {key!r}; known: {sorted(scales.INSTRUMENTS)}")
    if config["data"] not in datasets.names():
        config["data"] = _existing(base / config["data"], "data file")
    if config["mapping"] is not None:
        config["mapping"] = _existing(base / config["mapping"], "mapping file")
    available = notebook_names()
    chosen = config["notebooks"] or available
    missing = sorted(set(chosen) - set(available)) + sorted(set(config["notebook_params"]) - set(available))
    if missing:
        raise ConfigError(f"unknown notebooks {missing}; available: {available}")
    config["notebooks"] = chosen
    for name, params in config["notebook_params"].items():
        _check_notebook_params(name, params)
    _check_variants(config, base, available)


def _check_variants(config: dict, base: Path, available: list[str]) -> None:
    """Variants: ``{notebook: {label: {parameter: value}}}``, each run as ``notebook-label``."""
    unknown = sorted(set(config["variants"]) - set(available))
    if unknown:
        raise ConfigError(f"variants: unknown notebooks {unknown}; available: {available}")
    for name, labelled in config["variants"].items():
        if not isinstance(labelled, dict):
            raise ConfigError(f"variants.{name} must map a label to notebook parameters")
        for label, params in labelled.items():
            if not re.fullmatch(r"[A-Za-z0-9_]+", str(label)):
                raise ConfigError(f"variants.{name}: label {label!r} may hold only letters, "
                                  f"digits and underscores (it names the report file)")
            _check_notebook_params(name, params)
            if isinstance(params.get("data"), str) and params["data"] not in datasets.names():
                params["data"] = _existing(base / params["data"], "data file")
            if isinstance(params.get("mapping"), str):
                params["mapping"] = _existing(base / params["mapping"], "mapping file")


def _existing(path: Path, what: str) -> str:
    if not path.exists():
        raise ConfigError(f"{what} not found: {path}")
    return str(path.resolve())


def notebook_names() -> list[str]:
    """Names (without ``.ipynb``) of the notebooks the runner executes, in run order.

    Notebooks in ``notebooks/`` come first, then the teaching notebooks as
    ``teaching/NAME`` (reports under ``teaching/`` in the output folder).
    """
    return ([p.stem for p in sorted(NOTEBOOKS.glob("*.ipynb"))]
            + [f"teaching/{p.stem}" for p in sorted(NOTEBOOKS.glob("teaching/*.ipynb"))])


def notebook_parameters(name: str) -> dict[str, Any]:
    """Parameters a notebook declares in its ``parameters`` cell, with their defaults."""
    import papermill

    declared = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    return {key: ast.literal_eval(info["default"]) for key, info in declared.items()}


def _check_notebook_params(name: str, params: Any) -> None:
    if not isinstance(params, dict):
        raise ConfigError(f"notebook_params.{name} must be a mapping of parameter to value")
    declared = notebook_parameters(name)
    for key, value in params.items():
        if key not in declared:
            raise ConfigError(f"{name} has no parameter {key!r}; it declares {sorted(declared)}")
        default = declared[key]
        if default is not None and value is not None and type(value) is not type(default):
            raise ConfigError(
                f"{name}.{key} must be {type(default).__name__} like its default {default!r}, got {value!r}"
            )


def parameters_for(name: str, config: dict) -> dict[str, Any]:
    """The papermill parameters of one notebook: config values it declares, then its overrides."""
    declared = notebook_parameters(name)
    params = {param: config[key] for key, (_, param) in CONFIG_KEYS.items() if param in declared}
    params.update(config["notebook_params"].get(name, {}))
    return params


def run_reports(config_path: str | Path | None = None, only: list[str] | None = None,
                output: str | Path | None = None) -> list[NotebookRun]:
    """Execute the configured notebooks into the output folder and write its index.

    Parameters
    ----------
    config_path : str or Path, optional
        Report config (see :func:`load_config`).
    only : list of str, optional
        Run only these notebooks.
    output : str or Path, optional
        Output folder; overrides the config's ``output``.

    Returns
    -------
    list of NotebookRun
        One per notebook, in run order.
    """
    config = load_config(config_path)
    names = only or config["notebooks"]
    unknown = sorted(set(names) - set(notebook_names()))
    if unknown:
        raise ConfigError(f"unknown notebooks {unknown}; available: {notebook_names()}")
    out = Path(output or config["output"])
    out = out if out.is_absolute() else Path.cwd() / out
    out.mkdir(parents=True, exist_ok=True)
    jobs = []
    for name in names:
        params = parameters_for(name, config)
        jobs.append((name, "", params))
        jobs += [(name, label, {**params, **overrides})
                 for label, overrides in config["variants"].get(name, {}).items()]
    runs = []
    for i, (name, label, params) in enumerate(jobs, 1):
        title = _title(name, label)
        print(f"[{i}/{len(jobs)}] {title} ...", flush=True)
        run = run_notebook(name, params, out, label)
        status = "ok" if run.ok else f"FAILED: {run.error}"
        print(f"[{i}/{len(jobs)}] {title} {status} ({run.seconds:.1f} s)", flush=True)
        runs.append(run)
    write_index(runs, out, config)
    print(f"index: {out / 'index.html'}", flush=True)
    return runs


def run_notebook(name: str, parameters: dict, out: Path, label: str = "") -> NotebookRun:
    """Execute one notebook with papermill into ``out`` and render its HTML.

    With a ``label`` (a config variant) the outputs are named ``{name}-{label}``.
    """
    import papermill

    title = _title(name, label)
    executed = out / f"{title}.ipynb"
    executed.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = ""
    try:
        with _inline_figures():
            papermill.execute_notebook(
                str(NOTEBOOKS / f"{name}.ipynb"), str(executed), parameters=parameters,
                kernel_name="python3", progress_bar=False, cwd=str(out),
            )
    except Exception as exc:  # papermill raises its own and the kernel's errors
        error = _first_line(exc)
    seconds = time.perf_counter() - start
    if not executed.exists():
        return NotebookRun(title, False, seconds, error)
    render_html(executed)
    return NotebookRun(title, not error, seconds, error, f"{title}.html", f"{title}.ipynb")


def _title(name: str, label: str) -> str:
    """Report name of a notebook run: ``name``, or ``name-label`` for a config variant."""
    return f"{name}-{label}" if label else name


@contextmanager
def _inline_figures():
    """Kernels started inside draw figures into the notebook, whatever MPLBACKEND the caller set."""
    before = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        yield
    finally:
        if before is None:
            del os.environ["MPLBACKEND"]
        else:
            os.environ["MPLBACKEND"] = before


def _first_line(exc: Exception) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return f"{ename}: {str(evalue).strip().splitlines()[0] if str(evalue).strip() else ''}"


def render_html(executed: Path) -> Path:
    """Render an executed notebook to HTML beside it, code hidden; returns the page's path."""
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    page = executed.with_suffix(".html")
    page.write_text(body, encoding="utf-8")
    return page


def write_index(runs: list[NotebookRun], out: Path, config: dict) -> Path:
    """Write ``index.html`` linking each report with its status and run time."""
    rows = []
    for run in runs:
        link = f'<a href="{html.escape(run.html)}">{html.escape(run.name)}</a>' if run.html else html.escape(run.name)
        source = f' (<a href="{html.escape(run.ipynb)}">notebook</a>)' if run.ipynb else ""
        status = "ok" if run.ok else f"failed: {html.escape(run.error)}"
        css = "ok" if run.ok else "failed"
        rows.append(f'<tr class="{css}"><td>{link}{source}</td><td>{status}</td><td>{run.seconds:.1f} s</td></tr>')
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Self-efficacy analysis reports</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em 1em;text-align:left}}
tr.failed td{{color:#a00}}</style></head><body>
<h1>Self-efficacy analysis reports</h1>
<p>Data: {html.escape(str(config["data"]))}; seed {config["seed"]}; quick mode {config["quick"]};
analysis {__version__}.</p>
<table><tr><th>report</th><th>status</th><th>run time</th></tr>
{chr(10).join(rows)}
</table></body></html>
"""
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
