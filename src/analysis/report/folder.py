"""The output folder: its layout, files replaced in one step, and the staging folders of running reports."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

MANIFEST, RESULTS, INDEX = "manifest.json", "results.json", "index.html"
STAGING, WORK, THUMBNAILS = ".staging", "work", "thumbnails"
#: Subfolder of a report's ``NAME_files/`` folder that holds its paper outputs (see :mod:`analysis.report.paper`).
PAPER = "paper"


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


def _remove_failed(out: Path, name: str) -> None:
    """Remove the partial output of an earlier failed run of report ``name``: it has succeeded since."""
    for stale in [f"{name}.failed.html", f"{name}.failed.ipynb", f"{THUMBNAILS}/{name}.failed.png"]:
        (out / stale).unlink(missing_ok=True)


def replace_whole(path: Path, write: Callable[[Path], object]) -> Path:
    """Have ``write`` fill a new temporary file beside ``path``, then move it over ``path`` in one step.

    Readers (and a run killed midway) see the old file or the new one, never part of one.
    """
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as handle:
        temporary = Path(handle.name)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def _write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` with :func:`replace_whole`."""
    return replace_whole(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))


def paper_folder(name: str) -> str:
    """Where report ``name``'s paper outputs go, relative to the output folder: ``NAME_files/paper``."""
    return f"{name}_files/{PAPER}"


def publish_folder(source: Path, target: Path) -> list[str]:
    """Put the folder ``source`` in the place of ``target`` (an earlier run's), or remove ``target`` when
    there is no ``source``; returns the files now under ``target``, relative to it and sorted."""
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.replace(target, old)
    if source.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
    shutil.rmtree(old, ignore_errors=True)
    return sorted(path.relative_to(target).as_posix() for path in target.rglob("*") if path.is_file())
