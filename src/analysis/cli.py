"""The ``analysis`` command: ``validate`` a trial file, ``run`` the reports."""

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
    from .report import ConfigError, run_reports

    try:
        results = run_reports(args.config, only=args.only, output=args.output)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


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
    run.set_defaults(func=_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``analysis`` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
