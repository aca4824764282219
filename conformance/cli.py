"""``keepcall-conformance``: run the suite (``run``) or the reference server (``serve``).

Exit codes: 0 conformant, 1 not conformant, 2 usage or profile error, 3 target unreachable or
run inconclusive, 4 partial (nothing failed, but some gating requirement was not tested).
The ``run`` options are built from ``conformance.options``, the table the pytest plugin's
``--kc-*`` options come from too. Secrets given here reach the run's plugin object directly,
never through pytest's argument list, so no report or log can echo them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__
from conformance.entrypoint import NAME as ENTRY_POINT
from conformance.options import grouped, keywords
from conformance.page import PAGE_NAME
from conformance.report import EXIT_CODES, RESULTS_SCHEMA
from conformance.settings import SettingsError, options_from, resolve

EXIT_USAGE = 2


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"keepcall-conformance: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="keepcall-conformance", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="certify a KeepCall endpoint (default: the embedded "
                              "reference server)")
    for _, heading, options in grouped():
        group = run.add_argument_group(heading)
        for option in options:
            group.add_argument(option.cli_flag, **keywords(option))
    run.add_argument("-k", dest="select", help="only cases matching this pytest expression")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress line (the summary and the verdict are printed)")
    report = commands.add_parser("report", help="rebuild the compliance page from a "
                                 "results.json (offline, nothing but the file is read)")
    report.add_argument("results", type=Path, help="a run's results.json")
    report.add_argument("-o", "--output", type=Path,
                        help=f"where to write it (default: {PAGE_NAME} beside results.json)")
    joined = commands.add_parser("merge", help="join the results of a run's shards "
                                 "(--shard I/N) into one run's reports")
    joined.add_argument("results", type=Path, nargs="+",
                        help="each shard's results.json (its cases.json beside it)")
    joined.add_argument("--report-dir", type=Path, default=Path("reports"),
                        help="where the joined reports go (default: reports)")
    serve = commands.add_parser("serve", help="run the reference server standalone")
    from conformance.reference.serve import add_arguments

    add_arguments(serve)
    return parser


def run(args: argparse.Namespace) -> int:
    from conformance.plugin import KeepCallPlugin

    try:
        plugin = KeepCallPlugin(resolve(options_from(args)), console=True, quiet=args.quiet)
        plugin.settings.report_dir.mkdir(parents=True, exist_ok=True)
        if plugin.settings.workers:
            from conformance import workers

            return _written(workers.run(args, plugin.settings), plugin.settings.report_dir)
    except SettingsError as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"keepcall-conformance: error: --report-dir: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    report_dir = plugin.settings.report_dir
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(report_dir / ".hypothesis"))
    code = pytest.main(_pytest_args(report_dir, args.select), plugins=[plugin])
    _announce(report_dir)
    return _exit_code(int(code), plugin.verdict)


def _pytest_args(report_dir: Path, select: str | None) -> list[str]:
    """The suite, with this tool's plugin object instead of the entry point's; junit.xml as
    xunit1, the family that allows each case's ``requirements`` property."""
    # --noconftest: run from a checkout, pytest would load the project's own tests/conftest.py
    # (it looks in test* folders of the current directory); the shipped suite needs none.
    args = ["--pyargs", "conformance.suite", "--noconftest", "-p", f"no:{ENTRY_POINT}",
            "-p", "no:terminal",
            # its collection at exit costs a full gc of a large heap (5% of a quick run)
            "-p", "no:unraisableexception",
            "-p", "no:cacheprovider", "-p", "no:html", "-p", "no:html_fixtures",
            f"--junitxml={report_dir / 'junit.xml'}",
            "-o", "junit_family=xunit1", "-o", "junit_logging=no",
            "-W", "ignore::pytest.PytestAssertRewriteWarning", "--rootdir", str(Path.cwd())]
    return [*args, "-k", select] if select else args


def _exit_code(code: int, verdict: str | None) -> int:
    """pytest's code in this tool's terms; a partial verdict's 4 is pytest's USAGE_ERROR."""
    if verdict == "partial" and code == EXIT_CODES["partial"]:
        return code
    return _PYTEST_EXIT.get(pytest.ExitCode(code), code)


# pytest's own exit codes, in this tool's terms: 0, 1, 3 and 4 are the verdicts the plugin sets.
_PYTEST_EXIT: dict[pytest.ExitCode, int] = {
    pytest.ExitCode.USAGE_ERROR: EXIT_USAGE, pytest.ExitCode.INTERRUPTED: 3,
                pytest.ExitCode.INTERNAL_ERROR: 3, pytest.ExitCode.NO_TESTS_COLLECTED: 3}


def rebuild(results: Path, output: Path | None) -> int:
    """The compliance page from ``results`` alone; exit 2 with one line on a bad file."""
    from conformance import page
    from conformance.control import violation

    try:
        data = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"keepcall-conformance: error: {results}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if reason := violation(RESULTS_SCHEMA, data):
        print(f"keepcall-conformance: error: {results} is no results.json: {reason}",
              file=sys.stderr)
        return EXIT_USAGE
    written = page.write(data, output or results.with_name(PAGE_NAME))
    print(f"  wrote {written}")
    return 0


def merge(sources: Sequence[Path], report_dir: Path) -> int:
    """``merge``: the parts' results joined into one run's reports; exit as the run would."""
    from conformance.merge import JUNIT_NAME, MergeError, combine, join_junit, read_part

    try:
        data = combine([read_part(source) for source in sources])
        report_dir.mkdir(parents=True, exist_ok=True)
    except (MergeError, OSError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    join_junit([source.with_name(JUNIT_NAME) for source in sources], report_dir / JUNIT_NAME)
    return _written(data, report_dir)


def _written(data: dict[str, Any], report_dir: Path) -> int:
    """A run's results.json data written with its page, summed up; its exit code."""
    from conformance import page
    from conformance.report import summary_lines, write_results

    write_results(report_dir / "results.json", data)
    page.write(data, report_dir / PAGE_NAME)
    print("\n".join(summary_lines(data)), flush=True)
    _announce(report_dir)
    return int(data["summary"]["exit_code"])


def _announce(report_dir: Path) -> None:
    for name in ("results.json", "junit.xml", PAGE_NAME):
        path = report_dir / name
        if path.exists():
            print(f"  wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "report":
        return rebuild(args.results, args.output)
    if args.command == "merge":
        return merge(args.results, args.report_dir)
    if args.command == "serve":
        from conformance.reference.serve import run as serve

        return serve(args)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
