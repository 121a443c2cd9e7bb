"""What a report depends on: the files it reads, the package source, the computing libraries' versions.

A report is executed again only when its fingerprint (:func:`fingerprint`) changes.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from .. import __version__, datasets
from .config import _AST_LOCK, _hidden_tags, notebook_parameters, notebook_path
from .recording import PACKAGE

#: The libraries that compute the numbers of the reports: their versions are part of every fingerprint
#: and stated on every report page.
COMPUTING_LIBRARIES = ("numpy", "scipy", "pandas", "statsmodels", "pymc", "pytensor", "nutpie", "arviz")


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
    named, truth = _named_in_code(notebook_path(name), _hidden_tags(effective))
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


def library_versions() -> dict[str, str]:
    """Installed versions of the :data:`COMPUTING_LIBRARIES`, read from their metadata (nothing is imported).

    Returns
    -------
    dict
        ``{library: version}`` in the order of :data:`COMPUTING_LIBRARIES`; ``"not installed"``
        for a library that is absent.
    """
    versions = {}
    for name in COMPUTING_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def fingerprint(notebook: str, parameters: dict, inputs: dict[str, str], source: str,
                versions: dict[str, str]) -> str:
    """Hash of everything a report depends on.

    Parameters
    ----------
    notebook : str
        Notebook name (its file's content counts).
    parameters : dict
        The papermill parameters of the run.
    inputs : dict
        ``{file: SHA-256}`` of the data and mapping files it reads (see :func:`data_files`).
    source : str
        :func:`source_hash` of the ``analysis`` package (its version counts too).
    versions : dict
        :func:`library_versions`: a new numpy or PyMC reruns every report.

    Returns
    -------
    str
        SHA-256 hex digest.
    """
    payload = {"notebook": _sha256(notebook_path(notebook)), "parameters": parameters, "inputs": inputs,
               "analysis": __version__, "source": source, "libraries": versions}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
