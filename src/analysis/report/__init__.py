"""Run every notebook with papermill and keep the report folder up to date.

``run_reports(config)`` reads a YAML config, checks it (unknown or mistyped
parameters, keys written twice and files that do not exist are rejected before any
notebook starts) and brings the output folder up to date:

* **Incremental.** A report is executed again only when its inputs changed: the
  notebook file, its parameters, the content of the data and mapping files it reads
  (:func:`data_files`), the ``analysis`` package (its version and a hash of its
  source, :func:`source_hash`) and the versions of the computing libraries
  (:func:`library_versions`: numpy, scipy, pandas, statsmodels, pymc, pytensor, nutpie,
  arviz). Fingerprints are kept in ``manifest.json`` in the output folder;
  ``force=True`` reruns everything. Failed reports always run again.
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
* **Readable.** Every report page states the package version, the computing libraries'
  versions, the data hashes and the parameters, with the code hidden behind a toggle; the index shows per report
  its status, run time, data, key numbers and a thumbnail of its main figure (the
  first figure of a cell tagged ``main-figure``, else the first figure).
* **Into a paper.** A notebook writes its key tables (CSV, APA-style Word and LaTeX
  booktabs), figures (SVG, PDF) and a methods paragraph with :mod:`analysis.report.paper`;
  the index links them.
* **Offline.** Pages load nothing from the internet: formulas are rendered to MathML
  when the page is built, and no script comes from a CDN. Warnings in a notebook show
  as short notes in words (:func:`warnings_as_notes`), not as stderr with file paths.

Output folder::

    index.html  results.json  manifest.json
    NAME.html  NAME.ipynb              (NAME.failed.html, NAME.failed.ipynb)
    teaching/NAME.html  ...
    thumbnails/NAME.png                main figure of each report
    NAME_files/paper/                  its paper outputs: paper.docx, methods.md/.txt,
                                       tables/T.csv/.docx/.tex, figures/F.svg/.pdf/.png
    work/NAME/                         the kernel's working folder: files a notebook
                                       writes, e.g. 03's NetCDF draws, reused next time
    .staging/                          reports being executed
    .analysis.lock                     held by the run writing the folder (see analysis.lock)

Parts: :mod:`~analysis.report.config` (the config, notebooks and their parameters),
:mod:`~analysis.report.dependencies` (what a report depends on), :mod:`~analysis.report.runner`
(running and publishing), :mod:`~analysis.report.pages` (report pages), :mod:`~analysis.report.index`
(the index page), :mod:`~analysis.report.results` (``results.json`` and diffs),
:mod:`~analysis.report.folder` (the output folder), :mod:`~analysis.report.recording` (what a kernel
records), :mod:`~analysis.report.paper` and :mod:`~analysis.report.methods` (outputs for a paper).
"""

from __future__ import annotations

from . import config, methods, paper, runner
from .config import (CONFIG_KEYS, DEFAULT_CONFIG, EXAMPLE_TAG, FILE_PARAMETERS, NOTEBOOKS, OWN_CONFIG_DEFAULTS,
                     ROOT, ConfigError, file_parameters, load_config, notebook_names, notebook_parameters,
                     parameters_for, read_config_file, wants_bundled_examples)
from .dependencies import COMPUTING_LIBRARIES, data_files, fingerprint, library_versions, source_hash
from .folder import INDEX, MANIFEST, PAPER, RESULTS, STAGING, THUMBNAILS, WORK, paper_folder
from .index import write_index
from .pages import MAIN_FIGURE_TAG, THUMBNAIL_SIZE, latex_to_mathml, main_figure, render_html, versions_line
from .recording import CODE_WARNINGS, RESULT_MIME, record, recorded, warnings_as_notes
from .results import Change, NotebookRun, diff_results, load_results, write_results
from .runner import KERNEL_ARGUMENTS, SCHEDULER_TIMEOUT, kernel_arguments, run_notebook, run_reports

__all__ = [
    "CODE_WARNINGS", "COMPUTING_LIBRARIES", "CONFIG_KEYS", "DEFAULT_CONFIG", "EXAMPLE_TAG", "FILE_PARAMETERS",
    "INDEX", "KERNEL_ARGUMENTS", "MAIN_FIGURE_TAG", "MANIFEST", "NOTEBOOKS", "OWN_CONFIG_DEFAULTS", "PAPER",
    "RESULTS", "RESULT_MIME", "ROOT", "SCHEDULER_TIMEOUT", "STAGING", "THUMBNAILS", "THUMBNAIL_SIZE", "WORK",
    "Change", "ConfigError", "NotebookRun", "config", "data_files", "diff_results", "file_parameters", "fingerprint",
    "kernel_arguments", "latex_to_mathml", "library_versions", "load_config", "load_results", "main_figure",
    "methods", "notebook_names", "notebook_parameters", "paper", "paper_folder", "parameters_for",
    "read_config_file", "record", "recorded", "render_html", "run_notebook", "run_reports", "runner", "source_hash",
    "versions_line", "wants_bundled_examples", "warnings_as_notes", "write_index", "write_results",
]
