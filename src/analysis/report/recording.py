"""What a report's kernel records and shows: key numbers (:func:`record`) and warnings as notes in words.

Both run inside the notebook's kernel; :func:`recorded` reads the numbers back from the executed
notebook in the runner.
"""

from __future__ import annotations

import html
import logging
import math
import re
import warnings
from pathlib import Path

#: The ``analysis`` package's folder: warnings raised from files under it come from "analysis".
PACKAGE = Path(__file__).resolve().parents[1]

#: Warnings about code rather than results, left out of reports.
CODE_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
#: numpy's floating-point warnings. Raised inside another library they are that library's business (an
#: R-hat of a constant quantity is 0/0); what matters shows in the results and in the diagnostics and
#: warnings that the ``analysis`` results state.
_FLOATING_POINT = re.compile(r"(invalid value|divide by zero|overflow|underflow) encountered")


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

