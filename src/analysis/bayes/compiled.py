"""nutpie's compiled models, kept on disk between processes.

``nutpie.compile_pymc_model`` spends most of its time compiling, with numba, two C
callbacks that wrap PyTensor's log density and the function that expands draws into
every posterior quantity. PyTensor caches its own numba functions on disk
(``<base_compiledir>/numba``), but nutpie's callbacks are compiled again in every
process: numba keys a callback's cache by a hash of its closure, which holds a
dispatcher with a random id, so that key never repeats.

:func:`compile_nutpie` therefore has numba cache the callbacks under a key of its
own: the model's structure and parameter sizes (:attr:`Design.key`), the rank and
type of every data array, this package's source and the versions of every library
that shapes the compiled code. Data values are not in the key: they reach the
callbacks through nutpie's ``with_data``, as they do for a model reused in memory.
Entries live in ``<base_compiledir>/nutpie`` beside PyTensor's cache (``~/.pytensor``
unless ``PYTENSOR_FLAGS`` says otherwise), one index file per key; numba writes
each file under a temporary name and renames it, so processes compiling at once
never leave a half-written entry, and numba refuses an entry written by another
numba version or for another CPU. A process about to compile a key holds the
key's lock file (``<key>.lock``, an ``fcntl.flock``): others needing the same model
meanwhile (parallel report kernels, test processes) wait and then read it, instead
of each compiling it for a minute or more.

Every changed line of code or upgraded library makes new keys, so old entries would
pile up: each use of an entry marks its files as used now, and saving a new entry
removes those not used for :data:`UNUSED_DAYS` days (:func:`prune_cache`).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import pickle
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from .design import BUILDERS, Design, _values

#: SHA-256 of this package's source files: changed code neither reuses stored draws nor compiled models.
_SOURCE_HASH = hashlib.sha256(b"".join(path.name.encode() + path.read_bytes()
                                       for path in sorted(Path(__file__).parent.glob("*.py")))).hexdigest()
#: nutpie's callbacks (module, function name): the log density with its gradient, and the expansion of draws.
NUTPIE_CALLBACKS = {("nutpie.compile_pymc", "logp_numba"), ("nutpie.compile_pymc", "expand_numba")}
#: Libraries whose versions decide the compiled code.
COMPILERS = ("nutpie", "pymc", "pytensor", "numba", "llvmlite", "numpy")
#: Entries not used for this many days are removed when a new entry is saved.
UNUSED_DAYS = 30


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def compile_key(design: Design, model) -> str:
    """SHA-256 naming a design's compiled model: structure, sizes, data ranks and types, code and versions."""
    data = {name: [value.dtype.str, value.ndim] for name, value in sorted(_values(design, model).items())}
    described = {"key": repr(design.key), "data": data, "source": _SOURCE_HASH,
                 "versions": {name: _installed_version(name) for name in COMPILERS}}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def cache_folder() -> Path:
    """Where compiled models are kept: ``nutpie`` beside PyTensor's compile directories."""
    import pytensor

    return Path(pytensor.config.base_compiledir) / "nutpie"


def compile_nutpie(design: Design, model, folder: Path | None = None):
    """``nutpie.compile_pymc_model(model)`` with its numba callbacks cached on disk under :func:`compile_key`.

    On a miss the callbacks are compiled and saved by a child process, then read back
    here: numba's code read from disk and the code it has just compiled in memory can
    differ in the last bits of a result (in the growth model, draws moved by a few
    float32 units in the last place), so this process always runs the saved code and a
    fit gives the same draws whether its model was compiled now or in an earlier run.
    Where the folder cannot be written, or the child failed, the callbacks are
    compiled here, as nutpie does.

    Parameters
    ----------
    design : Design
    model : pymc.Model
        The design's model, holding its data.
    folder : Path, optional
        Where entries are kept; default :func:`cache_folder`.

    Returns
    -------
    compiled : nutpie.compile_pymc.CompiledPyMCModel
        Holding the model's current data.
    from_disk : bool
        True when both callbacks were found in the cache, before any compiling.
    """
    import nutpie

    folder = cache_folder() if folder is None else Path(folder)
    if not _writable(folder):
        return nutpie.compile_pymc_model(model, backend="numba"), False
    key = compile_key(design, model)
    with _compiling(folder, key):
        from_disk = _saved(folder, key)
        if from_disk:
            _mark_used(folder, key)
        else:
            subprocess.run([sys.executable, "-c", "from analysis.bayes.compiled import _compile_child; _compile_child()"],
                           input=pickle.dumps((design, folder, key)), capture_output=True, check=False)
            prune_cache(folder)
    return _compile_here(design, folder, key, model), from_disk


def prune_cache(folder: Path | None = None, unused_days: float = UNUSED_DAYS) -> list[str]:
    """Remove the compiled models not used for ``unused_days`` days.

    :func:`compile_nutpie` calls this whenever it saves a new entry. An entry's last
    use is the newest modification time of its files (each use marks them).

    Parameters
    ----------
    folder : Path, optional
        The cache; default :func:`cache_folder`.
    unused_days : float, default :data:`UNUSED_DAYS`
        Entries used more recently are kept; 0 removes every entry.

    Returns
    -------
    list of str
        The keys removed, sorted.
    """
    folder = cache_folder() if folder is None else Path(folder)
    cutoff = time.time() - unused_days * 86400
    files: dict[str, list[Path]] = {}
    for _, name in NUTPIE_CALLBACKS:
        for path in folder.glob(f"{name}-*.nb[ic]"):
            files.setdefault(path.name[len(name) + 1:].split(".", 1)[0], []).append(path)
    for path in folder.glob("*.lock"):
        files.setdefault(path.stem, []).append(path)
    stale = sorted(key for key, paths in files.items() if _last_use(paths) < cutoff)
    for key in stale:
        for path in files[key]:
            path.unlink(missing_ok=True)
    return stale


def _last_use(paths: list[Path]) -> float:
    """Newest modification time of ``paths`` (infinity when one went away meanwhile: another process's)."""
    try:
        return max(path.stat().st_mtime for path in paths)
    except FileNotFoundError:
        return float("inf")


def _mark_used(folder: Path, key: str) -> None:
    """Set the modification time of ``key``'s index files to now (see :func:`prune_cache`)."""
    for _, name in NUTPIE_CALLBACKS:
        try:
            os.utime(folder / f"{name}-{key}.nbi")
        except OSError:  # removed by another process meanwhile, or not ours to touch: it is only a mark
            pass


@contextmanager
def _compiling(folder: Path, key: str):
    """Hold ``key``'s lock file in ``folder`` (waiting while another process holds it: it is compiling ``key``)."""
    with open(folder / f"{key}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, or its process ends in any way
        yield


def _compile_child() -> None:
    """Compile and save the callbacks of the pickled ``(design, folder, key)`` read from standard input."""
    design, folder, key = pickle.loads(sys.stdin.buffer.read())
    _compile_here(design, folder, key)


def _writable(folder: Path) -> bool:
    """Whether ``folder`` exists or can be made, and can be written to."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def _saved(folder: Path, key: str) -> bool:
    """Whether both of nutpie's callbacks have an entry under ``key`` in ``folder``."""
    return all((folder / f"{name}-{key}.nbi").is_file() for _, name in sorted(NUTPIE_CALLBACKS))


def _compile_here(design: Design, folder: Path, key: str, model=None):
    """nutpie's compiled model of ``design`` in this process, its callbacks cached in ``folder`` under ``key``."""
    import nutpie

    model = BUILDERS[design.model](design) if model is None else model
    with _callbacks_cached_under(folder, key):
        return nutpie.compile_pymc_model(model, backend="numba", cache=True)


@contextmanager
def _callbacks_cached_under(folder: Path, key: str):
    """While active, nutpie's numba callbacks (:data:`NUTPIE_CALLBACKS`) are cached in ``folder`` under ``key``.

    numba builds a callback's cache in ``CFunc.enable_caching``; this replaces that
    method for the duration (numba compiles under one process-wide lock, and other
    callbacks keep numba's own cache).
    """
    from numba.core import ccallback

    original = ccallback.CFunc.enable_caching

    def enable_caching(callback):
        if (callback._pyfunc.__module__, callback._pyfunc.__name__) not in NUTPIE_CALLBACKS:
            original(callback)  # another library's callback, compiled meanwhile: numba's own cache
            return
        callback._cache = _keyed_cache(callback._pyfunc, folder, key)

    ccallback.CFunc.enable_caching = enable_caching
    try:
        yield
    finally:
        ccallback.CFunc.enable_caching = original


def _keyed_cache(function, folder: Path, key: str):
    """A numba function cache for ``function`` in ``folder``, keyed by ``key`` instead of its closure."""
    from numba.core import caching

    class _KeyedCache(caching.FunctionCache):
        def __init__(self):
            super().__init__(function)
            self._cache_path = str(folder)
            self._cache_file = caching.IndexDataCacheFile(
                cache_path=str(folder), filename_base=f"{function.__name__}-{key}",
                source_stamp=self._impl.locator.get_source_stamp())

        def _index_key(self, sig, codegen):
            return (sig, codegen.magic_tuple(), key)

    return _KeyedCache()
