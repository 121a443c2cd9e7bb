"""The ``analysis`` command: ``validate`` a trial file, ``run`` the reports, ``diff`` two runs' results."""

from __future__ import annotations

import argparse
import sys

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _validate(args: argparse.Namespace) -> int:
    from .io import DataFileError, DataValidationError, load_trial, summarise

    try:
        data = load_trial(args.path, mapping=args.mapping)
    except (DataFileError, DataValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(format_summary(summarise(data), args.path))
    return EXIT_OK


def format_summary(summary: dict, path: str) -> str:
    """Plain-text summary of a valid trial file, as ``analysis validate`` prints it."""
    lines = [
        f"{path}: valid",
        f"participants: {summary['participants']} ({summary['rows']} rows)",
        "arms: " + ", ".join(f"{arm} ({n})" for arm, n in summary["arms"].items()),
        "participants per wave: " + ", ".join(f"{w}: {n}" for w, n in summary["waves"].items()),
        "instruments: " + ", ".join(f"{k} (from {how})" for k, how in summary["instruments"].items()),
        "missing totals by wave (% of participants):",
        summary["missing_by_wave"].to_string(),
    ]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    from .lock import FolderBusy
    from .report import ConfigError, run_reports

    try:
        results = run_reports(args.config, only=args.only, output=args.output, force=args.force,
                              jobs=args.jobs, scheduler=args.scheduler, wait=args.wait)
    except (ConfigError, FolderBusy) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


def _diff(args: argparse.Namespace) -> int:
    from .report import diff_results, load_results

    try:
        old, new = load_results(args.old), load_results(args.new)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    changes = diff_results(old, new, rtol=args.rtol)
    for change in changes:
        print(change)
    print(f"{len(changes)} change(s)" if changes else "nothing moved", f"beyond rtol {args.rtol:g}")
    return EXIT_FAILED if changes else EXIT_OK


def _power(args: argparse.Namespace) -> int:
    from .power import PowerConfigError, PowerRunError, run_config

    try:
        curve = run_config(args.config, scheduler=args.scheduler, workers=args.workers,
                           output=args.output)
    except (PowerConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except PowerRunError as exc:
        print(f"error: {exc}; nothing was written", file=sys.stderr)
        return EXIT_FAILED
    columns = ["effect", "arm", "n_per_arm", "power", "ci_low", "ci_high", "n_failed", "n_singular"]
    print(curve[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return EXIT_OK


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for the ``analysis`` command."""
    parser = argparse.ArgumentParser(prog="analysis", description="Self-efficacy trial analysis suite.")
    parser.add_argument("--version", action="version", version=f"analysis {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    validate = sub.add_parser("validate", help="check a trial file against the data contract")
    validate.add_argument("path", help="CSV, TSV, Parquet or Excel file")
    validate.add_argument("--mapping", help="YAML file mapping your column names onto the contract")
    validate.set_defaults(func=_validate)

    run = sub.add_parser("run", help="execute every notebook into reports/")
    run.add_argument("--config", default=None, help="YAML config (default: the bundled synthetic trial)")
    run.add_argument("--only", nargs="+", default=None, help="run only these notebooks (names without .ipynb)")
    run.add_argument("--output", default=None, help="report folder (default: reports/ or the config's output)")
    run.add_argument("--force", action="store_true", help="rerun every report, even those whose inputs are unchanged")
    run.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                     help="reports run at once on the local Dask cluster (default: the number of cores)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="run on an existing Dask scheduler, e.g. tcp://host:8786 (workers must share the files)")
    run.add_argument("--wait", action=argparse.BooleanOptionalAction, default=True,
                     help="when another run is writing the report folder, wait for it (default); "
                          "--no-wait exits with status 2 instead")
    run.set_defaults(func=_run)

    diff = sub.add_parser("diff", help="what moved between two runs' results.json; exit 1 when anything did")
    diff.add_argument("old", help="earlier results.json, or the report folder holding it")
    diff.add_argument("new", help="later results.json, or the report folder holding it")
    diff.add_argument("--rtol", type=_tolerance, default=1e-6,
                      help="relative change below which a number has not moved (default 1e-6)")
    diff.set_defaults(func=_diff)

    power = sub.add_parser("power", help="simulation-based power curve of a planned trial (Dask)")
    power.add_argument("--config", required=True, help="YAML power config (see config/power.yml)")
    power.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="an existing Dask scheduler, e.g. tcp://host:8786 (default: a local cluster)")
    power.add_argument("--workers", type=_positive_int, default=None, metavar="N",
                       help="worker processes of the local cluster (default: the number of cores)")
    power.add_argument("--output", default=None,
                       help="folder for power.csv and power_curve.png (default: the config's output)")
    power.set_defaults(func=_power)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``analysis`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
