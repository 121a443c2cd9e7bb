"""The report config: reading and checking it, the notebooks and their parameters, variants and sweeps."""

from __future__ import annotations

import ast
import glob
import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml

from .. import datasets, io, scales

ROOT = Path(__file__).resolve().parents[3]
NOTEBOOKS = ROOT / "notebooks"
DEFAULT_CONFIG = ROOT / "config" / "report.yml"

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

#: What a config of one's own starts from instead of the bundled values: the bundled notebook parameters,
#: variants and sweeps belong to the bundled report, and the reports go to ``reports/`` beside the config.
OWN_CONFIG_DEFAULTS: dict[str, Any] = {"notebook_params": {}, "variants": {}, "sweeps": {}, "output": "reports"}

#: Notebook parameters that name a file, besides those whose default is a bundled data set (see
#: :func:`file_parameters`).
FILE_PARAMETERS = ("mapping",)

#: Tag of the cells of a bundled example that a notebook runs besides its data (JOBS II in 04, HELP in 05):
#: left out of the page, and of the files the report reads, when the example does not run.
EXAMPLE_TAG = "bundled-example"


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


class ConfigError(ValueError):
    """The report config is wrong; nothing has been run."""


def load_config(path: str | Path | None = None) -> dict:
    """Read and check a report config; relative paths are resolved against the config's folder.

    Keys the config leaves out take their values from the bundled ``config/report.yml``,
    except those of :data:`OWN_CONFIG_DEFAULTS`: the bundled notebook parameters, variants
    and sweeps belong to the bundled report (a config of one's own runs those it writes),
    and its reports go to ``reports/`` beside it.

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

    declared = papermill.inspect_notebook(str(notebook_path(name)))
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


def notebook_path(name: str) -> Path:
    """The file of notebook ``name`` (one of :func:`notebook_names`)."""
    return NOTEBOOKS / f"{name}.ipynb"
