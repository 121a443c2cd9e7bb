"""Running the reports: planning, skipping those up to date, executing on Dask, publishing into the folder."""

from __future__ import annotations

import asyncio
import contextvars
import json
import os
import shutil
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterator

from ..lock import FolderLock
from .config import (ConfigError, _hidden_tags, _sweep_label, load_config, notebook_names, notebook_parameters,
                     notebook_path, parameters_for)
from .dependencies import _inputs, fingerprint, library_versions, source_hash
from .folder import (INDEX, MANIFEST, PAPER, STAGING, THUMBNAILS, WORK, _clear_stale_staging, _prune, _remove_failed,
                     _staging_folder, _title, _write_atomic, paper_folder, publish_folder)
from .index import write_index
from .pages import _page_header, _save_thumbnail, render_html
from .recording import recorded
from .results import NotebookRun, write_results

SCHEDULER_TIMEOUT = 10  # seconds to reach a Dask scheduler given by address
#: Kernel options: figures drawn inline whatever MPLBACKEND the caller set, no log chatter (errors in the
#: notebook are in its output; a kernel that dies fails the report), and warnings as notes in words
#: (:func:`analysis.report.warnings_as_notes`) instead of red stderr boxes. :func:`kernel_arguments` adds
#: where the report's paper outputs go.
KERNEL_ARGUMENTS = ["--matplotlib=inline", "--IPKernelApp.log_level=CRITICAL",
                    "--IPKernelApp.exec_lines=import analysis.report; analysis.report.warnings_as_notes()"]


@dataclass(frozen=True)
class _Job:
    """One planned report: a notebook, its label (variant or sweep item) and its parameters."""

    notebook: str
    label: str
    parameters: dict

    @property
    def name(self) -> str:
        return _title(self.notebook, self.label)


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
    source, versions = source_hash(), library_versions()
    progress = _Progress(len(planned))
    runs, todo = {}, {}
    for job in planned:
        digest = fingerprint(job.notebook, job.parameters, _inputs(job.notebook, job.parameters), source, versions)
        entry = manifest.get(job.name, {})
        if not force and _up_to_date(entry, digest, out):
            _remove_failed(out, job.name)
            runs[job.name] = progress.done(NotebookRun(**{**entry["run"], "reused": True}))
        else:
            todo[job.name] = (job, digest)
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
    _clear_stale_staging(out)  # those of local workers that died during this run
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


def _up_to_date(entry: dict, digest: str, out: Path) -> bool:
    """The manifest entry is a successful run with this fingerprint whose files are all in place."""
    run = entry.get("run", {})
    files = [run.get("html"), run.get("ipynb"), *run.get("paper", [])]
    files += [run["thumbnail"]] if run.get("thumbnail") else []
    return (entry.get("fingerprint") == digest and run.get("ok") is True
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
        futures = {client.submit(_run_in_worker, job.notebook, job.parameters, out, job.label, pure=False,
                                 priority=round(seconds.get(job.name, 0))): job for job in jobs}
        for future in as_completed(futures):
            yield _outcome(future, futures[future], out)


def _outcome(future, job: _Job, out: Path) -> NotebookRun:
    """The report a finished future ran, or a failed one when the workers running it died.

    A worker that dies costs only time: the scheduler reruns its report on another worker,
    up to ``distributed.scheduler.allowed-failures`` times (3 by default); after that the
    report fails like any other, its last good page kept, and the other reports go on.
    """
    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker:
        error = ("KilledWorker: the Dask workers running this report died, and the scheduler gave up on it "
                 "(its setting distributed.scheduler.allowed-failures)")
        previous = f"{job.name}.html" if (out / f"{job.name}.html").is_file() else ""
        return NotebookRun(job.name, False, 0.0, error, inputs=_inputs(job.notebook, job.parameters),
                           previous=previous)


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
    The tables, figures and methods paragraph the notebook writes with
    :mod:`analysis.report.paper` go to ``NAME_files/paper/`` when it succeeds.
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
            str(notebook_path(name)), str(executed), parameters=parameters,
            kernel_name="python3", progress_bar=False, extra_arguments=kernel_arguments(stage / PAPER),
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


def kernel_arguments(paper: Path) -> list[str]:
    """:data:`KERNEL_ARGUMENTS`, the kernel also told to write the report's paper outputs into ``paper``
    (see :mod:`analysis.report.paper`)."""
    *others, exec_lines = KERNEL_ARGUMENTS
    return [*others, f"{exec_lines}; analysis.report.paper.use_folder({str(paper)!r})"]


def _publish(executed: Path, out: Path, run: NotebookRun, parameters: dict) -> NotebookRun:
    """Render the staged notebook (its page states ``parameters``, defaults included) and move its files
    into ``out``, the page itself last."""
    stem = run.name if run.ok else f"{run.name}.failed"
    page = render_html(executed, header=_page_header(run, parameters), hide_tags=_hidden_tags(parameters))
    picture = executed.with_suffix(".png")
    thumbnail = f"{THUMBNAILS}/{stem}.png" if _save_thumbnail(executed, picture) else ""
    values = recorded(executed)
    paper = publish_folder(executed.parent / PAPER, out / paper_folder(run.name)) if run.ok else []
    moves = ([(picture, thumbnail)] if thumbnail else []) + [(executed, f"{stem}.ipynb"), (page, f"{stem}.html")]
    for source, target in moves:
        (out / target).parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, out / target)
    if run.ok:
        _remove_failed(out, run.name)
    previous = f"{run.name}.html" if not run.ok and (out / f"{run.name}.html").is_file() else ""
    return replace(run, html=f"{stem}.html", ipynb=f"{stem}.ipynb", values=values, thumbnail=thumbnail,
                   previous=previous, paper=[f"{paper_folder(run.name)}/{path}" for path in paper])


def _first_line(exc: Exception) -> str:
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    return f"{ename}: {str(evalue).strip().splitlines()[0] if str(evalue).strip() else ''}"

