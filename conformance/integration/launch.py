"""One run of the suite from the command line: pytest on ``conformance.suite`` with the run's
plugin object, or ``--workers`` parts joined; the reports it writes, and its exit code.

Secrets reach the plugin object directly, never pytest's argument list, so no report or log can
echo them. Hypothesis's caches go to a scratch directory removed on every way out.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.integration.entrypoint import NAME as ENTRY_POINT
from conformance.integration.settings import Settings, SettingsError, options_from, resolve
from conformance.judging.ledger import EXIT_CODES
from conformance.reports.page import PAGE_NAME
from conformance.reports.report import JUNIT_NAME, RESULTS_NAME

EXIT_USAGE = 2
# The CLI's main, handed down for --workers (each part runs it in a child): no import back.
Main = Callable[[Sequence[str] | None], int]


def run(args: argparse.Namespace, main: Main) -> int:
    """The suite on the target the options name; exit as the verdict says."""
    from conformance.integration.plugin import KeepCallPlugin

    try:
        plugin = KeepCallPlugin(resolve(options_from(args)), console=True, quiet=args.quiet)
        writable(plugin.settings.report_dir, "--report-dir")
    except SettingsError as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        return _report_dir_error(error)
    if plugin.settings.workers:
        return _with_workers(args, plugin.settings, main)
    report_dir = plugin.settings.report_dir
    with _hypothesis_storage():
        code = pytest.main(_pytest_args(report_dir, args.select), plugins=[plugin])
    _announce(report_dir)
    return _exit_code(int(code), plugin.verdict)


@contextlib.contextmanager
def _hypothesis_storage() -> Iterator[None]:
    """Hypothesis's files (the caches it writes; the suite keeps no example database) go to a
    scratch directory removed on every way out of the run. A directory the user chose
    (HYPOTHESIS_STORAGE_DIRECTORY) is theirs: it is used and stays."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    from hypothesis.configuration import set_hypothesis_home_dir

    with tempfile.TemporaryDirectory(prefix="keepcall-hypothesis-") as scratch:
        set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            set_hypothesis_home_dir(None)


def _with_workers(args: argparse.Namespace, settings: Settings, main: Main) -> int:
    """``--workers``: an error writing the report directory is a usage error; any other
    error is the suite's (exit 3, its traceback on stderr), never a verdict."""
    from conformance.integration import workers

    try:
        return written(workers.run(args, settings, main), settings.report_dir)
    except OSError as error:
        if _within(error.filename, settings.report_dir):
            return _report_dir_error(error)
        return _suite_error(settings)
    except Exception:  # a bug of the suite: exit 1 would read as the target's failure
        return _suite_error(settings)


def _within(filename: object, report_dir: Path) -> bool:
    """Whether an OSError's file is the report directory, in it, or on the way to it."""
    if not isinstance(filename, (str, os.PathLike)):
        return False
    where, root = Path(os.path.abspath(filename)), Path(os.path.abspath(report_dir))
    return where == root or root in where.parents or where in root.parents


def _report_dir_error(error: OSError) -> int:
    print(f"keepcall-conformance: error: --report-dir: {error.strerror}", file=sys.stderr)
    return EXIT_USAGE


def _suite_error(settings: Settings) -> int:
    """The traceback of the exception being handled, redacted, on stderr; exit 3."""
    trace = settings.credentials.redactor()(traceback.format_exc())
    print(f"keepcall-conformance: suite error (the run is inconclusive):\n{trace}",
          file=sys.stderr, flush=True)
    return EXIT_CODES["inconclusive"]


# Plugins of the environment a conformance run has no use for (pytest-html's page is replaced by
# report.html; the others are the project's own test tools): each costs import time per run.
# Plugins a run has no use for. ``logging`` captured every item's log records around its setup,
# call and teardown (0.8% of a full run) for reports that never show them (junit_logging=no, no
# terminal); the reference server's uvicorn logs through its own handlers.
_UNUSED = ("html", "html_fixtures", "metadata", "xdist", "xdist.looponfail", "timeout",
           "schemathesis", "randomly", "logging")


def _pytest_args(report_dir: Path, select: str | None) -> list[str]:
    """The suite, with this tool's plugin object instead of the entry point's; junit.xml as
    xunit1, the family that allows each case's ``requirements`` property."""
    # --noconftest: run from a checkout, pytest would load the project's own tests/conftest.py
    # (it looks in test* folders of the current directory); the shipped suite needs none.
    args = ["--pyargs", "conformance.suite", "--noconftest", "-p", f"no:{ENTRY_POINT}",
            "-p", "no:terminal",
            # its collection at exit costs a full gc of a large heap (5% of a quick run)
            "-p", "no:unraisableexception",
            "-p", "no:cacheprovider", *[arg for name in _UNUSED for arg in ("-p", f"no:{name}")],
            f"--junitxml={report_dir / JUNIT_NAME}",
            "-o", "junit_family=xunit1", "-o", "junit_logging=no",
            # no assertion rewriting: verdicts are pytest.fail/skip, and rewriting the plugins'
            # packages (hypothesis, the suite) on import costs seconds per run
            "--assert=plain", "--rootdir", str(Path.cwd())]
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


def writable(directory: Path, flag: str) -> None:
    """``directory`` made if need be, and a file created and removed in it: a command that
    could not write its reports fails before its first request, not after its last."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError as error:
        raise SettingsError(f"{flag} {directory}: cannot write a file there "
                            f"({error.strerror or error})") from None


def written(data: dict[str, Any], report_dir: Path) -> int:
    """A run's results.json data written with its page, summed up; its exit code."""
    from conformance.reports import page
    from conformance.reports.report import summary_lines, write_results

    write_results(report_dir / RESULTS_NAME, data)
    page.write(data, report_dir / PAGE_NAME)
    print("\n".join(summary_lines(data)), flush=True)
    _announce(report_dir)
    return int(data["summary"]["exit_code"])


def _announce(report_dir: Path) -> None:
    for name in (RESULTS_NAME, JUNIT_NAME, PAGE_NAME):
        path = report_dir / name
        if path.exists():
            print(f"  wrote {path}")
