"""Run every notebook with papermill and keep the report folder up to date.

``run_reports(config)`` reads a YAML config, checks it (unknown or mistyped
parameters, keys written twice and files that do not exist are rejected before any
notebook starts) and brings the output folder up to date:

* **Incremental.** A report is executed again only when its inputs changed: the
  notebook file, its parameters, the content of the data and mapping files it reads
  (:func:`data_files`), and the ``analysis`` package (its version and a hash of its
  source, :func:`source_hash`). Fingerprints are kept in ``manifest.json`` in the
  output folder; ``force=True`` reruns everything. Failed reports always run again.
* **Parallel.** Reports run at once on Dask: a local in-process cluster with one
  thread per job by default (each papermill run starts its own kernel process), or
  an existing scheduler that shares the file system.
* **Variants and sweeps.** ``variants`` run a notebook again with other parameters;
  ``sweeps`` run it once per value of one parameter (a list of values, or a glob of
  files), with a summary table across the items in the index.
* **Results you can diff.** Key numbers recorded with :func:`record` are collected
  into ``results.json`` (``{report: {"status", "values"}}``, sorted, with nothing that
  changes between runs); :func:`diff_results` compares two of them.
* **Safe.** Each report is executed in a staging folder and moved into place when
  complete; ``index.html``, ``results.json`` and the manifest are replaced
  atomically, so an interrupted run leaves the previous reports readable. A failed
  report's partial output is kept as ``NAME.failed.html`` and linked from the index
  with its error; the last good ``NAME.html`` stays. Inputs are only read.
* **Readable.** Every report page states the package version, the data hashes and
  the parameters, with the code hidden behind a toggle; the index shows per report
  its status, run time, data, key numbers and a thumbnail of its main figure (the
  first figure of a cell tagged ``main-figure``, else the first figure).
* **Offline.** Pages load nothing from the internet: formulas are rendered to MathML
  when the page is built, and no script comes from a CDN. Warnings in a notebook show
  as short notes in words (:func:`warnings_as_notes`), not as stderr with file paths.

Output folder::

    index.html  results.json  manifest.json
    NAME.html  NAME.ipynb              (NAME.failed.html, NAME.failed.ipynb)
    teaching/NAME.html  ...
    thumbnails/NAME.png                main figure of each report
    work/NAME/                         the kernel's working folder: files a notebook
                                       writes, e.g. 03's NetCDF draws, reused next time
    .staging/                          reports being executed
    .analysis.lock                     held by the run writing the folder (see analysis.lock)
"""

from __future__ import annotations

import ast
import asyncio
import base64
import contextvars
import glob
import hashlib
import html
import json
import logging
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import warnings
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, Iterator

import yaml

from . import __version__, datasets, io, scales
from .lock import FolderLock

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(__file__).resolve().parent
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_CONFIG = ROOT / "config" / "report.yml"

MANIFEST, RESULTS, INDEX = "manifest.json", "results.json", "index.html"
STAGING, WORK, THUMBNAILS = ".staging", "work", "thumbnails"
MAIN_FIGURE_TAG = "main-figure"
THUMBNAIL_SIZE = (360, 270)
SCHEDULER_TIMEOUT = 10  # seconds to reach a Dask scheduler given by address
#: Kernel options: figures drawn inline whatever MPLBACKEND the caller set, no log chatter (errors in the
#: notebook are in its output; a kernel that dies fails the report), and warnings as notes in words
#: (:func:`warnings_as_notes`) instead of red stderr boxes.
KERNEL_ARGUMENTS = ["--matplotlib=inline", "--IPKernelApp.log_level=CRITICAL",
                    "--IPKernelApp.exec_lines=import analysis.report; analysis.report.warnings_as_notes()"]
#: Warnings about code rather than results, left out of reports.
CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
#: numpy's floating-point warnings. Raised inside another library they are that library's business (an
#: R-hat of a constant quantity is 0/0); what matters shows in the results and in the diagnostics and
#: warnings that the ``analysis`` results state.
_FLOATING_POINT = re.compile(r"(invalid value|divide by zero|overflow|underflow) encountered")

#: ``ast.parse`` in several threads at once can fail in CPython 3.11 ("AST constructor recursion depth
#: mismatch", gh-106905); reports run in threads, so the runner's own parsing takes turns.
_AST_LOCK = threading.Lock()

#: Config keys, their types, and the notebook parameter each one feeds.
CONFIG_KEYS: dict[str, tuple[tuple[type, ...], str | None]] = {
    "data": ((str,), "data"),
    "mapping": ((str, type(None)), "mapping"),
    "se_instrument": ((str, type(None)), "se_instrument"),
    "symptom_instruments": ((list,), "symptom_instruments"),
    "seed": ((int,), "seed"),
    "quick": ((bool,), "quick"),
    "notebooks": ((list, type(None)), None),
    "output": ((str,), None),
    "notebook_params": ((dict,), None),
    "variants": ((dict,), None),
    "sweeps": ((dict,), None),
}

#: What a config of one's own starts from instead of the bundled values: the bundled variants and sweeps
#: belong to the bundled report, and the reports go to ``reports/`` beside the config.
OWN_CONFIG_DEFAULTS: dict[str, Any] = {"variants": {}, "sweeps": {}, "output": "reports"}

#: Notebook parameters that name a file, besides those whose default is a bundled data set (see
#: :func:`file_parameters`).
FILE_PARAMETERS = ("mapping",)

#: Tag of the cells of a bundled example that a notebook runs besides its data (JOBS II in 04, HELP in 05):
#: left out of the page, and of the files the report reads, when the example does not run.
EXAMPLE_TAG = "bundled-example"


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
        The number or verdict; numpy scalars are converted, NaN and infinities
        stored as None (JSON has neither).
    """
    from IPython.display import display

    # the empty HTML part keeps notebook front ends and nbconvert from showing or warning about it
    display({RESULT_MIME: {"name": str(name), "value": _plain(value)}, "text/html": ""}, raw=True)


def wants_bundled_examples(requested: bool | None, data: str) -> bool:
    """Whether a notebook runs its bundled examples (cells tagged :data:`EXAMPLE_TAG`) besides ``data``.

    Parameters
    ----------
    requested : bool or None
        The notebook's ``bundled_examples`` parameter; None: only when ``data`` is a
        bundled data set (a report on one's own data is about those data).
    data : str
        The notebook's ``data`` parameter.

    Returns
    -------
    bool

    Raises
    ------
    TypeError
        ``requested`` is neither a bool nor None.
    """
    if requested is None:
        return data in datasets.names()
    if not isinstance(requested, bool):
        raise TypeError(f"bundled_examples must be true, false or null, got {requested!r}")
    return requested


def _hidden_tags(parameters: dict) -> tuple[str, ...]:
    """Tags of the cells that a run with these (effective) parameters leaves out: examples not run."""
    if "bundled_examples" not in parameters:
        return ()
    return () if wants_bundled_examples(parameters["bundled_examples"], parameters.get("data")) else (EXAMPLE_TAG,)


def warnings_as_notes() -> None:
    """Show warnings and logged problems in this kernel as short notes in words, without file paths.

    The runner calls it in every report's kernel before the notebook runs (see
    :data:`KERNEL_ARGUMENTS`), so that a report shows no red stderr box with a path into
    the virtual environment. Warnings about code (:data:`CODE_WARNINGS`) are left out, and
    so are numpy's floating-point warnings raised inside other libraries; any other
    warning, and every one from the ``analysis`` package or the notebook itself, shows
    under its cell as "Warning from SOURCE: first line of the message". Log records of
    level WARNING and above show the same way (with the logger's package as the source);
    lower ones (progress messages) are dropped.
    """
    for category in CODE_WARNINGS:
        warnings.filterwarnings("ignore", category=category)
    warnings.showwarning = _show_warning
    logging.basicConfig(level=logging.WARNING, handlers=[_NoteHandler(logging.WARNING)], force=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for :func:`warnings_as_notes`."""
    source = _warning_source(str(filename))
    if (issubclass(category, RuntimeWarning) and _FLOATING_POINT.search(str(message))
            and source not in ("analysis", "the notebook")):
        return
    _note(source, str(message))


def _warning_source(filename: str) -> str:
    """Who raised a warning: an installed package's name, ``analysis``, the notebook, or a module's name."""
    path = Path(filename)
    if "site-packages" in path.parts[:-1]:
        return Path(path.parts[path.parts.index("site-packages") + 1]).stem
    if path.is_relative_to(PACKAGE):
        return "analysis"
    return "the notebook" if "ipykernel_" in filename or filename.startswith("<") else path.stem


def _note(source: str, message: str) -> None:
    """Show "Warning from SOURCE: first line of message" under the running cell, set apart but not red."""
    from IPython.display import HTML, display

    text = next((line.strip() for line in message.splitlines() if line.strip()), "(no message)")
    display(HTML(f'<div class="report-warning" style="border-left: 4px solid #c90; background: #fff8e5; '
                 f'padding: .3em .6em">Warning from {html.escape(source)}: {html.escape(text)}</div>'))


class _NoteHandler(logging.Handler):
    """Log records as notes (see :func:`warnings_as_notes`); its level holds back those of loggers set lower."""

    def emit(self, record: logging.LogRecord) -> None:
        _note(record.name.split(".")[0], record.getMessage())


def _plain(value):
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        return float(f"{value:.8g}") if math.isfinite(value) else None  # JSON has no NaN or infinity
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
    """Outcome of one report.

    Attributes
    ----------
    name : str
        Report name: the notebook's, or ``notebook-label`` for a variant or sweep item.
    ok : bool
        Whether every cell ran.
    seconds : float
        Run time (of the earlier run when ``reused``).
    error : str
        First line of the error of a failed run.
    html, ipynb : str
        The report page and executed notebook, relative to the output folder (the
        partial output ``NAME.failed.*`` for a failed run); empty when none was written.
    values : dict
        Key numbers the notebook recorded with :func:`record`.
    inputs : dict
        Data and mapping files the run read, each with its SHA-256.
    thumbnail : str
        Small picture of the report's main figure, relative path, or empty.
    previous : str
        For a failed run, the last good report still in place, or empty.
    reused : bool
        Up to date: taken from an earlier run instead of being executed.
    """

    name: str
    ok: bool
    seconds: float
    error: str = ""
    html: str = ""
    ipynb: str = ""
    values: dict = field(default_factory=dict)
    inputs: dict = field(default_factory=dict)
    thumbnail: str = ""
    previous: str = ""
    reused: bool = False


@dataclass(frozen=True)
class _Job:
    """One planned report: a notebook, its label (variant or sweep item) and its parameters."""

    notebook: str
    label: str
    parameters: dict

    @property
    def name(self) -> str:
        return _title(self.notebook, self.label)


def load_config(path: str | Path | None = None) -> dict:
    """Read and check a report config; relative paths are resolved against the config's folder.

    Keys the config leaves out take their values from the bundled ``config/report.yml``,
    except those of :data:`OWN_CONFIG_DEFAULTS`: the bundled variants and sweeps belong
    to the bundled report (a config of one's own runs those it writes), and its reports
    go to ``reports/`` beside it.

    Parameters
    ----------
    path : str or Path, optional
        YAML file; the bundled ``config/report.yml`` when omitted.

    Returns
    -------
    dict
        The config with every key of :data:`CONFIG_KEYS` filled in; ``output`` and every
        file (``data``, ``mapping``, notebook parameters naming files, see
        :func:`file_parameters`) as absolute paths; ``sweeps`` expanded to
        ``{notebook: {parameter: {label: value}}}``.

    Raises
    ------
    ConfigError
        A key written twice, unknown keys, values of the wrong type, unknown
        instruments, a file that does not exist (the message names the key and the
        path), unknown notebooks, notebook parameters that the notebook does not
        declare or of the wrong type, or a sweep glob matching nothing.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    config = read_config_file(path, ConfigError)
    defaults = read_config_file(DEFAULT_CONFIG, ConfigError)
    if path.resolve() != DEFAULT_CONFIG.resolve():
        defaults.update(OWN_CONFIG_DEFAULTS)
    config = {**defaults, **config}
    _check_types(config, path)
    _check_values(config, path.parent)
    return config


def read_config_file(path: Path, error: type[Exception]) -> dict:
    """A YAML config file as a dict (empty file: ``{}``).

    Raises ``error`` for a missing or unreadable file, invalid YAML, a key written twice
    in one mapping (named, with its line: see :func:`analysis.io.load_yaml`) or a file that is not a
    mapping.
    """
    if not path.is_file():
        raise error(f"{path}: config file not found")
    try:
        config = io.load_yaml(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise error(f"{path}: the config must be a mapping of keys to values")
    return config


def _check_instruments(config: dict) -> None:
    """The instruments named exist: built in, or defined in the mapping's ``instruments:`` section."""
    defined = dict(scales.INSTRUMENTS)
    if config["mapping"] is not None:
        try:
            defined.update(io.read_mapping(config["mapping"])["instruments"])
        except (io.DataFileError, io.DataValidationError) as exc:
            raise ConfigError(f"mapping: {exc}") from None
    named = [("se_instrument", config["se_instrument"])] if config["se_instrument"] is not None else []
    named += [("symptom_instruments", key) for key in config["symptom_instruments"]]
    for where, key in named:
        if key not in defined:
            raise ConfigError(f"{where}: unknown instrument {key!r}; known: {sorted(defined)} (define your own "
                              "in the mapping's instruments: section)")


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
    if config["data"] not in datasets.names():
        config["data"] = _existing(base, config["data"], "data")
    if config["mapping"] is not None:
        config["mapping"] = _existing(base, config["mapping"], "mapping")
    _check_instruments(config)
    config["output"] = str((base / config["output"]).resolve())
    available = notebook_names()
    chosen = config["notebooks"] or available
    missing = sorted(set(chosen) - set(available)) + sorted(set(config["notebook_params"]) - set(available))
    if missing:
        raise ConfigError(f"unknown notebooks {missing}; available: {available}")
    config["notebooks"] = chosen
    for name, params in config["notebook_params"].items():
        _check_notebook_params(name, params, base, f"notebook_params.{name}")
    _check_variants(config, base, available)
    _check_sweeps(config, base, available)


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
            _check_notebook_params(name, params, base, f"variants.{name}.{label}")


def _check_sweeps(config: dict, base: Path, available: list[str]) -> None:
    """Sweeps: ``{notebook: {parameter: [values] or "glob"}}``, one report per value.

    Each value runs as ``notebook-parameter_label``, the label being the value itself
    (a file's stem for files) with other characters than letters, digits and
    underscores replaced by ``_``. A string is a glob of files relative to the config.
    """
    unknown = sorted(set(config["sweeps"]) - set(available))
    if unknown:
        raise ConfigError(f"sweeps: unknown notebooks {unknown}; available: {available}")
    expanded = {}
    for name, swept in config["sweeps"].items():
        if not isinstance(swept, dict) or not swept:
            raise ConfigError(f"sweeps.{name} must map a parameter to a list of values or a glob of files, "
                              f"got {swept!r}")
        expanded[name] = {param: _sweep_items(name, param, values, base) for param, values in swept.items()}
        labels = {_sweep_label(param, label) for param, items in expanded[name].items() for label in items}
        clash = sorted(labels & set(config["variants"].get(name, {})))
        if clash:
            raise ConfigError(f"sweeps.{name}: report names {clash} are also labels of variants.{name}")
    config["sweeps"] = expanded


def _sweep_items(name: str, param: str, values: Any, base: Path) -> dict[str, Any]:
    """The values of one swept parameter, by label."""
    where = f"sweeps.{name}.{param}"
    if isinstance(values, str):
        pattern = values
        values = [str(Path(p).resolve()) for p in sorted(glob.glob(os.path.join(base, pattern))) if Path(p).is_file()]
        if not values:
            raise ConfigError(f"{where}: no file matches {pattern!r} (relative to {base})")
    elif not isinstance(values, list) or not values:
        raise ConfigError(f"{where} must be a non-empty list of values or a glob of files, got {values!r}")
    items: dict[str, Any] = {}
    for value in values:
        params = {param: value}
        _check_notebook_params(name, params, base, f"sweeps.{name}")
        resolved = params[param]
        is_file = isinstance(resolved, str) and Path(resolved).is_absolute()
        label = re.sub(r"[^A-Za-z0-9_]+", "_", Path(resolved).stem if is_file else str(value)).strip("_")
        if not label or label in items:
            raise ConfigError(f"{where}: value {value!r} gives the report label {label!r}, "
                              f"{'empty' if not label else 'already taken by ' + repr(items[label])}")
        items[label] = resolved
    return items


def _sweep_label(param: str, label: str) -> str:
    return f"{param}_{label}"


def _existing(base: Path, value: str, key: str) -> str:
    """The absolute path of a file named in the config, relative to its folder; a missing one is refused."""
    path = (base / value).resolve()
    if not path.exists():
        raise ConfigError(f"{key}: file not found: {path}")
    return str(path)


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
    with _AST_LOCK:
        return {key: ast.literal_eval(info["default"]) for key, info in declared.items()}


def file_parameters(name: str) -> dict[str, bool]:
    """The parameters of a notebook that name a file.

    Those whose default is a bundled data set's name (``data``, ``meta_data``) take a data
    set's name or a file; those in :data:`FILE_PARAMETERS` take a file. The config's
    files are resolved against its folder and checked before any notebook starts.

    Returns
    -------
    dict
        ``{parameter: whether a bundled data set's name may stand for the file}``.
    """
    return {key: default in datasets.names() for key, default in notebook_parameters(name).items()
            if key in FILE_PARAMETERS or (isinstance(default, str) and default in datasets.names())}


def _check_notebook_params(name: str, params: Any, base: Path, where: str) -> None:
    """Check parameters given to a notebook at ``where`` in the config, and resolve the files they name.

    Files are resolved against ``base`` (the config's folder) and must exist.
    """
    if not isinstance(params, dict):
        raise ConfigError(f"{where} must be a mapping of parameter to value")
    declared = notebook_parameters(name)
    for key, value in params.items():
        if key not in declared:
            raise ConfigError(f"{name} has no parameter {key!r}; it declares {sorted(declared)}")
        default = declared[key]
        if default is not None and value is not None and type(value) is not type(default):
            raise ConfigError(
                f"{name}.{key} must be {type(default).__name__} like its default {default!r}, got {value!r}"
            )
    for key, takes_data_set in file_parameters(name).items():
        value = params.get(key)
        if isinstance(value, str) and not (takes_data_set and value in datasets.names()):
            params[key] = _existing(base, value, f"{where}.{key}")


def parameters_for(name: str, config: dict) -> dict[str, Any]:
    """The papermill parameters of one notebook: config values it declares, then its overrides."""
    declared = notebook_parameters(name)
    params = {param: config[key] for key, (_, param) in CONFIG_KEYS.items() if param in declared}
    params.update(config["notebook_params"].get(name, {}))
    return params


def _plan(names: list[str], config: dict) -> list[_Job]:
    """Every report of the chosen notebooks: the plain run, then its variants, then its sweep items."""
    jobs = []
    for name in names:
        params = parameters_for(name, config)
        jobs.append(_Job(name, "", params))
        jobs += [_Job(name, label, {**params, **overrides})
                 for label, overrides in config["variants"].get(name, {}).items()]
        jobs += [_Job(name, _sweep_label(param, label), {**params, param: value})
                 for param, items in config["sweeps"].get(name, {}).items() for label, value in items.items()]
    return jobs


def data_files(name: str, parameters: dict) -> list[Path]:
    """The data and mapping files a run of a notebook reads, as far as can be told before running it.

    A parameter value (passed, or the notebook's default) naming a bundled data set or
    an absolute path to a file counts, and so does a bundled data set named anywhere in
    the notebook's code outside the ``parameters`` cell and the cells of bundled examples
    that do not run (:func:`wants_bundled_examples`); a bundled data set brings its
    mapping (``data/mappings/NAME.yml``) when it has one, and ``load_truth`` the
    synthetic trial's truth file. Naming counts as reading: a notebook that names a
    data set only in a branch it does not take is rerun when that file changes too.

    Parameters
    ----------
    name : str
        Notebook name, one of :func:`notebook_names`.
    parameters : dict
        The papermill parameters of the run (the others keep their defaults).

    Returns
    -------
    list of Path
        Sorted, without duplicates.
    """
    effective = {**notebook_parameters(name), **parameters}
    named, truth = _named_in_code(NOTEBOOKS / f"{name}.ipynb", _hidden_tags(effective))
    strings = [value for value in effective.values() if isinstance(value, str)] + named
    files = {datasets.data_dir() / datasets.TRUTH_FILE} if truth else set()
    for value in strings:
        if value in datasets.names():
            mapping = datasets.data_dir() / "mappings" / f"{value}.yml"
            files |= {datasets.path(value)} | ({mapping} if mapping.is_file() else set())
        elif Path(value).is_absolute() and Path(value).is_file():
            files.add(Path(value))
    return sorted(files)


def _named_in_code(notebook: Path, skipped: tuple[str, ...] = ()) -> tuple[list[str], bool]:
    """String constants that name a bundled data set in a notebook's code, and whether it calls ``load_truth``.

    Cells tagged ``parameters`` or with a tag in ``skipped`` (examples that do not run) are not read.
    """
    import nbformat

    names, truth = set(datasets.names()), False
    found = []
    for cell in nbformat.read(str(notebook), as_version=4).cells:
        if cell.cell_type != "code" or {"parameters", *skipped} & set(cell.metadata.get("tags", [])):
            continue
        try:
            with _AST_LOCK:
                tree = ast.parse(cell.source)
        except SyntaxError:  # IPython magics: fall back to the quoted words
            found += [word for word in re.findall(r"[\"'](\w+)[\"']", cell.source) if word in names]
            truth = truth or "load_truth" in cell.source
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names:
                found.append(node.value)
            truth = truth or (isinstance(node, ast.Attribute) and node.attr == "load_truth") or (
                isinstance(node, ast.Name) and node.id == "load_truth")
    return sorted(set(found)), truth


def source_hash() -> str:
    """SHA-256 of the ``analysis`` package source: every ``.py`` file under it, with its path.

    The version string stays the same between commits; this hash does not.
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    """SHA-256 of a file's content (``"missing"`` when there is none), cached while the file is unchanged."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return "missing"
    return _sha256_of(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=512)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _inputs(name: str, parameters: dict) -> dict[str, str]:
    return {str(path): _sha256(path) for path in data_files(name, parameters)}


def _fingerprint(job: _Job, inputs: dict[str, str], source: str) -> str:
    """Hash of everything a report depends on: notebook, parameters, data, package version and source."""
    payload = {"notebook": _sha256(NOTEBOOKS / f"{job.notebook}.ipynb"), "parameters": job.parameters,
               "inputs": inputs, "analysis": __version__, "source": source}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def run_reports(config_path: str | Path | None = None, only: list[str] | None = None,
                output: str | Path | None = None, force: bool = False, jobs: int | None = None,
                scheduler: str | None = None, wait: bool = True) -> list[NotebookRun]:
    """Bring the output folder up to date: run the reports whose inputs changed, then write the index.

    One run writes to a folder at a time: the run holds the folder's lock
    (``.analysis.lock``, see :class:`analysis.lock.FolderLock`) from before it reads the
    manifest until the index is written, and releases it however it ends.

    Parameters
    ----------
    config_path : str or Path, optional
        Report config (see :func:`load_config`).
    only : list of str, optional
        Run only these notebooks (with their variants and sweeps).
    output : str or Path, optional
        Output folder (relative to the working folder); overrides the config's ``output``.
    force : bool, default False
        Run every report, even those whose inputs are unchanged.
    jobs : int, optional
        Reports run at once on the local Dask cluster; default ``os.cpu_count()``.
    scheduler : str, optional
        Address of an existing Dask scheduler (its workers must see the same files and
        have ``analysis`` installed); ``jobs`` is then up to the cluster.
    wait : bool, default True
        When another run holds the output folder, wait for it (saying once which
        process it is); when False, raise :class:`analysis.lock.FolderBusy` instead.

    Returns
    -------
    list of NotebookRun
        One per report, in run order (notebooks, each followed by its variants and sweep items).

    Raises
    ------
    ConfigError
        The config is wrong, a notebook is unknown, or the scheduler cannot be reached.
    analysis.lock.FolderBusy
        Another run holds the output folder and ``wait`` is False.
    """
    config = load_config(config_path)
    names = only or config["notebooks"]
    unknown = sorted(set(names) - set(notebook_names()))
    if unknown:
        raise ConfigError(f"unknown notebooks {unknown}; available: {notebook_names()}")
    out = Path(output or config["output"])
    out = out if out.is_absolute() else Path.cwd() / out
    out.mkdir(parents=True, exist_ok=True)
    with FolderLock(out, wait=wait):
        return _run_locked(names, config, out, force, jobs, scheduler)


def _run_locked(names: list[str], config: dict, out: Path, force: bool, jobs: int | None,
                scheduler: str | None) -> list[NotebookRun]:
    """:func:`run_reports` once it holds the output folder's lock."""
    planned = _plan(names, config)
    manifest = _read_manifest(out)
    source = source_hash()
    progress = _Progress(len(planned))
    runs, todo = {}, {}
    for job in planned:
        fingerprint = _fingerprint(job, _inputs(job.notebook, job.parameters), source)
        entry = manifest.get(job.name, {})
        if not force and _up_to_date(entry, fingerprint, out):
            _remove_failed(out, job.name)
            runs[job.name] = progress.done(NotebookRun(**{**entry["run"], "reused": True}))
        else:
            todo[job.name] = (job, fingerprint)
    _clear_stale_staging(out)
    workers = jobs or os.cpu_count() or 1
    if todo:
        where = f"the Dask scheduler at {scheduler}" if scheduler else f"{workers} local workers"
        print(f"running {len(todo)} of {len(planned)} reports on {where}", flush=True)
    seconds = {name: entry.get("run", {}).get("seconds", 0) for name, entry in manifest.items()}
    for run in _execute([job for job, _ in todo.values()], out, workers, scheduler, seconds):
        manifest[run.name] = {"fingerprint": todo[run.name][1], "run": asdict(run)}
        _write_atomic(out / MANIFEST, json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")
        runs[run.name] = progress.done(run)
    for folder in (out / STAGING, out / WORK):  # no report is running now
        _prune(folder)
    ordered = [runs[job.name] for job in planned]
    write_results(ordered, out)
    write_index(ordered, out, config)
    print(f"index: {out / INDEX}", flush=True)
    return ordered


def _read_manifest(out: Path) -> dict:
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def _up_to_date(entry: dict, fingerprint: str, out: Path) -> bool:
    """The manifest entry is a successful run with this fingerprint whose files are all in place."""
    run = entry.get("run", {})
    files = [run.get("html"), run.get("ipynb")] + ([run["thumbnail"]] if run.get("thumbnail") else [])
    return (entry.get("fingerprint") == fingerprint and run.get("ok") is True
            and all(f and (out / f).is_file() for f in files))


class _Progress:
    """One line per finished report, with a counter: ``[3/10] 02_mixed_effects ok (8.2 s)``."""

    def __init__(self, total: int):
        self.total, self.count = total, 0

    def done(self, run: NotebookRun) -> NotebookRun:
        self.count += 1
        if run.reused:
            status = "up to date"
        else:
            status = ("ok" if run.ok else f"FAILED: {run.error}") + f" ({run.seconds:.1f} s)"
        print(f"[{self.count}/{self.total}] {run.name} {status}", flush=True)
        return run


def _execute(jobs: list[_Job], out: Path, workers: int, scheduler: str | None,
             seconds: dict[str, float]) -> Iterator[NotebookRun]:
    """Run the jobs on Dask, longest (by their last run time) first, and yield each report as it finishes."""
    if not jobs:
        return
    from distributed import Client, LocalCluster, as_completed

    with ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout=SCHEDULER_TIMEOUT))
            except (OSError, TimeoutError) as exc:
                raise ConfigError(f"cannot reach the Dask scheduler at {scheduler!r} ({exc})") from None
        else:
            # no dashboard; the scheduler's own small web server on a free local port, not 8787
            cluster = stack.enter_context(LocalCluster(processes=False, n_workers=1, threads_per_worker=workers,
                                                       dashboard_address="127.0.0.1:0",
                                                       scheduler_kwargs={"dashboard": False}))
            client = stack.enter_context(Client(cluster))
        futures = [client.submit(_run_in_worker, job.notebook, job.parameters, out, job.label, pure=False,
                                 priority=round(seconds.get(job.name, 0))) for job in jobs]
        for future in as_completed(futures):
            yield future.result()


def _run_in_worker(name: str, parameters: dict, out: Path, label: str) -> NotebookRun:
    """:func:`run_notebook` in a Dask worker thread, on an event loop of its own.

    nbclient keeps its event loop in a context variable (jupyter_core's), which Dask copies
    from the submitting thread into its worker threads: in the context they bring, reports
    running at once, or after a run in the caller's thread, would share one loop.
    """
    from jupyter_core.utils import ensure_event_loop

    def run() -> NotebookRun:
        try:
            return run_notebook(name, parameters, out, label)
        finally:  # the loop nbclient made for this run (the thread runs none of its own)
            ensure_event_loop().close()
            asyncio.set_event_loop(None)

    return contextvars.Context().run(run)


def run_notebook(name: str, parameters: dict, out: str | Path, label: str = "") -> NotebookRun:
    """Execute one notebook with papermill and move its report into ``out`` when complete.

    The notebook runs in a staging folder under ``out/.staging`` with ``out/work/NAME``
    as the kernel's working folder (files the notebook writes there, such as NetCDF
    draws, stay for the next run). With a ``label`` (a config variant or sweep item)
    the outputs are named ``{name}-{label}``. A failed run's partial output becomes
    ``NAME.failed.html``/``.ipynb`` and the last good ``NAME.html`` is left in place.
    Never raises for a failing notebook: the error is in the returned run.
    """
    import papermill

    out = Path(out)
    title = _title(name, label)
    inputs = _inputs(name, parameters)
    work = out / WORK / title
    work.mkdir(parents=True, exist_ok=True)
    stage = _staging_folder(out)
    executed = stage / f"{Path(title).name}.ipynb"
    start = time.perf_counter()
    error = ""
    try:
        papermill.execute_notebook(
            str(NOTEBOOKS / f"{name}.ipynb"), str(executed), parameters=parameters,
            kernel_name="python3", progress_bar=False, extra_arguments=KERNEL_ARGUMENTS,
            # the kernel's working folder, given to nbclient: papermill's own ``cwd`` changes this
            # process's working folder, which threads running other reports share
            resources={"metadata": {"path": str(work)}},
        )
    except Exception as exc:  # papermill raises its own and the kernel's errors
        error = _first_line(exc)
    run = NotebookRun(title, not error, time.perf_counter() - start, error, inputs=inputs)
    try:
        effective = {**notebook_parameters(name), **parameters}
        return _publish(executed, out, run, effective) if executed.exists() else run
    except Exception as exc:  # a report that cannot be rendered is a failed report, not a failed run
        return replace(run, ok=False, error=f"rendering the report failed: {_first_line(exc)}")
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _prune(folder: Path) -> None:
    """Remove the empty folders under ``folder``, deepest first, and ``folder`` itself if it ends up empty."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True) + [folder]:
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()


def _title(name: str, label: str) -> str:
    """Report name of a notebook run: ``name``, or ``name-label`` for a config variant or sweep item."""
    return f"{name}-{label}" if label else name


def _staging_folder(out: Path) -> Path:
    """A new folder under ``out/.staging`` named after this host and process (see :func:`_clear_stale_staging`)."""
    (out / STAGING).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{socket.gethostname()}-{os.getpid()}-", dir=out / STAGING))


def _clear_stale_staging(out: Path) -> None:
    """Remove staging folders left by killed runs on this host (their process is gone)."""
    host = socket.gethostname()
    for folder in (out / STAGING).glob(f"{host}-*-*"):
        pid = folder.name[len(host) + 1:].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _publish(executed: Path, out: Path, run: NotebookRun, parameters: dict) -> NotebookRun:
    """Render the staged notebook (its page states ``parameters``, defaults included) and move its files
    into ``out``, the page itself last."""
    stem = run.name if run.ok else f"{run.name}.failed"
    page = render_html(executed, header=_page_header(run, parameters), hide_tags=_hidden_tags(parameters))
    picture = executed.with_suffix(".png")
    thumbnail = f"{THUMBNAILS}/{stem}.png" if _save_thumbnail(executed, picture) else ""
    values = recorded(executed)
    moves = ([(picture, thumbnail)] if thumbnail else []) + [(executed, f"{stem}.ipynb"), (page, f"{stem}.html")]
    for source, target in moves:
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, out / target)
    if run.ok:
        _remove_failed(out, run.name)
    previous = f"{run.name}.html" if not run.ok and (out / f"{run.name}.html").is_file() else ""
    return replace(run, html=f"{stem}.html", ipynb=f"{stem}.ipynb", values=values, thumbnail=thumbnail,
                   previous=previous)


def _remove_failed(out: Path, name: str) -> None:
    """Remove the partial output of an earlier failed run of report ``name``: it has succeeded since."""
    for stale in [f"{name}.failed.html", f"{name}.failed.ipynb", f"{THUMBNAILS}/{name}.failed.png"]:
        (out / stale).unlink(missing_ok=True)


def _first_line(exc: Exception) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return f"{ename}: {str(evalue).strip().splitlines()[0] if str(evalue).strip() else ''}"


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
    """Top of a report page: link to the index, code toggle, package version, data hashes, parameters."""
    e = html.escape
    index = "../" * run.name.count("/") + INDEX
    data = "; ".join(f'<code>{e(Path(path).name)}</code> sha256 <code>{digest}</code>'
                     for path, digest in run.inputs.items()) or "none read from files"
    params = ", ".join(f"<code>{e(key)} = {e(repr(value))}</code>" for key, value in sorted(parameters.items()))
    return (f'<div class="report-meta">\n<p><a href="{index}">All reports</a> · {_CODE_TOGGLE}</p>\n'
            f"<p>Report <b>{e(run.name)}</b> · analysis {e(__version__)}, package source "
            f"<code>{source_hash()[:12]}</code></p>\n<p>Data: {data}</p>\n"
            f"<p>Parameters: {params or 'none'}</p>\n</div>")


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to a temporary file beside ``path``, then move it over ``path`` in one step."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".tmp", delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o644)
    os.replace(handle.name, path)
    return path


def write_results(runs: list[NotebookRun], out: Path) -> Path:
    """Write ``results.json``: ``{report: {"status": "ok" or "failed", "values": {key: number}}}``.

    Keys are sorted and nothing that changes between runs (times, paths) is included,
    so two runs with the same inputs write identical files.
    """
    results = {run.name: {"status": "ok" if run.ok else "failed", "values": run.values} for run in runs}
    return _write_atomic(Path(out) / RESULTS, json.dumps(results, sort_keys=True, indent=2) + "\n")


_INDEX_STYLE = """body{font-family:sans-serif;max-width:90em;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin-bottom:2em}td,th{padding:.4em .8em;text-align:left;vertical-align:top;
border-bottom:1px solid #ddd}tr.failed td.status{color:#a00}td.values,td.data{font-size:85%}
td.figure img{max-width:360px;height:auto;border:1px solid #ddd}code{font-size:90%}"""


def write_index(runs: list[NotebookRun], out: Path, config: dict) -> Path:
    """Write ``index.html``: per report its status, run time, data, key numbers and main figure.

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
analysis {__version__} (package source <code>{source_hash()[:12]}</code>).</p>
<p>{ok} of {len(runs)} reports ok{f", {len(runs) - ok} failed" if ok < len(runs) else ""};
{reused} up to date (not rerun). Key numbers of every report: <a href="{RESULTS}">{RESULTS}</a>.</p>
<table><tr><th>report</th><th>status</th><th>run time</th><th>data</th><th>key numbers</th><th>main figure</th></tr>
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
            f'<td class="figure">{figure}</td></tr>')


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


@dataclass(frozen=True)
class Change:
    """One difference between two ``results.json``.

    Attributes
    ----------
    report : str
        Report name.
    key : str
        Recorded key, or ``"status"`` for a report's status.
    kind : str
        ``"moved"``, ``"appeared"``, ``"disappeared"`` or ``"status"``.
    old, new
        The values before and after (None where absent).
    """

    report: str
    key: str
    kind: str
    old: Any = None
    new: Any = None

    @property
    def absolute(self) -> float | None:
        """``new - old`` for a number that moved, else None."""
        return self.new - self.old if self.kind == "moved" and _numeric(self.old) and _numeric(self.new) else None

    @property
    def relative(self) -> float | None:
        """The absolute change over ``|old|`` (infinite from 0), or None when not a number."""
        if self.absolute is None:
            return None
        return self.absolute / abs(self.old) if self.old else math.copysign(math.inf, self.absolute)

    def __str__(self) -> str:
        where = f"{self.report}: {self.key}"
        if self.kind == "status":
            return f"{self.report}: status {self.old or 'absent'} -> {self.new or 'absent'}"
        if self.kind == "appeared":
            return f"{where} appeared ({self.new!r})"
        if self.kind == "disappeared":
            return f"{where} disappeared (was {self.old!r})"
        if self.absolute is None:
            return f"{where} {self.old!r} -> {self.new!r}"
        return f"{where} {self.old:.6g} -> {self.new:.6g} (change {self.absolute:+.4g}, {self.relative:+.2%})"


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _moved(old: Any, new: Any, rtol: float) -> bool:
    if _numeric(old) and _numeric(new):
        both_nan = isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new)
        return not (both_nan or math.isclose(old, new, rel_tol=rtol, abs_tol=0.0))
    return old != new


def load_results(path: str | Path) -> dict:
    """Read a ``results.json``, given the file or the report folder that holds it.

    Raises
    ------
    FileNotFoundError
        Neither the file nor a folder holding one.
    ValueError
        The file is not JSON of the form ``{report: {"status": ..., "values": {...}}}``.
    """
    path = Path(path)
    file = path / RESULTS if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path}: no {RESULTS} there" if path.is_dir() else f"{path}: no such file")
    try:
        results = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{file}: not valid JSON ({exc})") from None
    bad = [name for name, entry in results.items() if not isinstance(entry, dict)
           or not isinstance(entry.get("values", {}), dict)] if isinstance(results, dict) else ["(top level)"]
    if bad:
        raise ValueError(f"{file}: expected {{report: {{status, values}}}}; malformed entries {bad[:5]}")
    return results


def diff_results(old: dict, new: dict, rtol: float = 1e-6) -> list[Change]:
    """What moved between two runs' results (as read by :func:`load_results`).

    Parameters
    ----------
    old, new : dict
        ``{report: {"status": ..., "values": {key: value}}}``.
    rtol : float, default 1e-6
        Numbers whose relative difference is within ``rtol`` have not moved; other
        values (verdicts, counts as strings) move when they differ at all.

    Returns
    -------
    list of Change
        Status changes (a report that appeared or disappeared included), then keys that
        moved, appeared or disappeared, by report and key.
    """
    changes = []
    for report in sorted(set(old) | set(new)):
        before, after = old.get(report, {}), new.get(report, {})
        if before.get("status") != after.get("status"):
            changes.append(Change(report, "status", "status", before.get("status"), after.get("status")))
        was, now = before.get("values", {}), after.get("values", {})
        for key in sorted(set(was) | set(now)):
            if key not in now:
                changes.append(Change(report, key, "disappeared", old=was[key]))
            elif key not in was:
                changes.append(Change(report, key, "appeared", new=now[key]))
            elif _moved(was[key], now[key], rtol):
                changes.append(Change(report, key, "moved", was[key], now[key]))
    return changes
