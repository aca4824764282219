"""``keepcall-conformance``: run the suite, gate a release on it, certify a target.

Commands: ``run`` (the suite; ``--expect`` known failures, ``--shard``/``--workers``), ``merge``
(shards joined), ``report`` (the page rebuilt), ``diff`` (two runs compared), ``replay`` (one
case again), ``certify`` (the locked profile, signed), ``verify`` and ``keygen`` (the bundle's
signature), ``serve`` (the reference server). Each one's exit codes are in ``EXITS`` and its
``--help``; a run's: 0 conformant, 1 not conformant, 2 usage or profile error, 3 inconclusive,
4 partial. The ``run`` options are built from ``conformance.options``, the table the pytest
plugin's ``--kc-*`` options come from too. Secrets given here reach the run's plugin object
directly, never through pytest's argument list, so no report or log can echo them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, sink
from conformance.certify import LOCKED
from conformance.entrypoint import NAME as ENTRY_POINT
from conformance.ledger import EXIT_CODES
from conformance.options import grouped, keywords
from conformance.page import PAGE_NAME
from conformance.report import JUNIT_NAME, RESULTS_NAME, RESULTS_SCHEMA
from conformance.settings import Settings, SettingsError, options_from, resolve

EXIT_USAGE = 2


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"keepcall-conformance: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="keepcall-conformance",
                             description=__doc__.split("\n")[0].replace("``", ""))
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = _command(commands, "run", "test a KeepCall endpoint (default: the embedded "
                   "reference server)")
    _run_options(run)
    run.add_argument("-k", dest="select", help="only cases matching this pytest expression")
    certify = _command(commands, "certify", "the locked certification profile (full matrix, "
                       "pinned seed and budget, --level should), sealed in a signed bundle")
    _run_options(certify, without=LOCKED)
    certify.add_argument("--private-key", type=Path, required=True,
                         help="the signer's Ed25519 private key (keepcall-conformance keygen)")
    certify.add_argument("--bundle", type=Path, required=True,
                         help="the evidence bundle's directory (new or empty)")
    verify = _command(commands, "verify", "check an evidence bundle offline: signature, "
                      "hashes, no file added or missing")
    verify.add_argument("bundle", type=Path, help="the bundle's directory")
    verify.add_argument("--public-key", type=Path, required=True,
                        help="the signer's public key, as published")
    keygen = _command(commands, "keygen", "make an Ed25519 key pair for certify and verify")
    keygen.add_argument("--private-key", type=Path, default=Path("keepcall-signing.pem"),
                        help="where the private key goes (default: keepcall-signing.pem)")
    keygen.add_argument("--public-key", type=Path, default=Path("keepcall-signing.pub.pem"),
                        help="where the public key goes (default: keepcall-signing.pub.pem)")
    replay = _command(commands, "replay", "set up one case of a run again, send it, and "
                      "print the new outcome beside the recorded one")
    replay.add_argument("results", type=Path, help="the run's results.json (its cases.json.gz "
                        "beside it)")
    replay.add_argument("case", help="the case id, as results.json, junit.xml or the page "
                        "name it")
    _run_options(replay, only=("target", "credentials", "transport", "reference"))
    replay.add_argument("--level", choices=("must", "should"), default="must",
                        help="the level whose failure makes exit 1 (default: must)")
    report = _command(commands, "report", "rebuild the compliance page from a results.json "
                      "(offline, nothing but the file is read)")
    report.add_argument("results", type=Path, help="a run's results.json")
    report.add_argument("-o", "--output", type=Path,
                        help=f"where to write it (default: {PAGE_NAME} beside results.json)")
    joined = _command(commands, "merge", "join the results of a run's shards (--shard I/N) "
                      "into one run's reports")
    joined.add_argument("results", type=Path, nargs="+",
                        help="each shard's results.json (its cases.json.gz beside it)")
    joined.add_argument("--report-dir", type=Path, default=Path("reports"),
                        help="where the joined reports go (default: reports)")
    joined.add_argument("--expect", type=Path, metavar="FILE",
                        help="known failures, judged on the joined run (as run --expect)")
    compared = _command(commands, "diff", "compare two runs' results.json (two releases, or "
                        "staging and production); exit 1 on a regression")
    compared.add_argument("old", type=Path, help="the earlier (or reference) results.json")
    compared.add_argument("new", type=Path, help="the later (or candidate) results.json")
    compared.add_argument("--markdown", type=Path, metavar="FILE",
                          help="also write the diff as Markdown (a pull-request comment)")
    serve = _command(commands, "serve", "run the reference server standalone")
    from conformance.reference.serve import add_arguments

    add_arguments(serve)
    return parser


# Every command's exit codes, shown in its --help (and the module's docstring).
RUN_EXITS = ("0 conformant, 1 not conformant, 2 usage error (an option, or a file or directory "
             "it names unusable: checked before any request), 3 inconclusive (target "
             "unreachable, run aborted or cut short, suite error), 4 partial (a gating "
             "requirement untested)")
EXITS: dict[str, str] = {
    "run": RUN_EXITS,
    "certify": RUN_EXITS + "; 2 also for an unusable --private-key or --bundle (new or empty, "
               "writable, not the --report-dir), checked before the run; the bundle is "
               "written whatever the verdict",
    "merge": RUN_EXITS + "; 2 also for parts of different runs, a part given twice or a "
             "shard missing (each one's cases.json.gz beside its results.json)",
    "report": "0 page written, 2 unusable results.json",
    "diff": "0 no regression, 1 a requirement regressed, 2 unusable input",
    "verify": "0 valid, 1 tampered (each problem printed), 2 unusable key or no bundle",
    "keygen": "0 written, 2 a key file exists already or cannot be written",
    "replay": "0 the case passes now, 1 it fails at --level, 2 no such case or unusable input, "
              "3 could not judge it (target unreachable, no answer, not set up: no "
              "--control-url, say; the reason is printed)",
    "serve": "0 stopped, 2 usage error"}


def _command(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=summary, epilog=f"exit codes: {EXITS[name]}")
    return parser


def _run_options(parser: argparse.ArgumentParser, without: frozenset[str] = frozenset(),
                 only: tuple[str, ...] | None = None) -> None:
    """The run options of the table (options.py), by group; -q for the commands that run."""
    for key, heading, options in grouped():
        if only is not None and key not in only:
            continue
        shown = [o for o in options if o.name not in without]
        if shown:
            group = parser.add_argument_group(heading)
            for option in shown:
                group.add_argument(option.cli_flag, **keywords(option))
    if only is None:
        parser.add_argument("-q", "--quiet", action="store_true",
                            help="no progress line (the summary and the verdict are printed)")


def run(args: argparse.Namespace) -> int:
    from conformance.plugin import KeepCallPlugin

    try:
        plugin = KeepCallPlugin(resolve(options_from(args)), console=True, quiet=args.quiet)
        writable(plugin.settings.report_dir, "--report-dir")
    except SettingsError as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        return _report_dir_error(error)
    if plugin.settings.workers:
        return _with_workers(args, plugin.settings)
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


def _with_workers(args: argparse.Namespace, settings: Settings) -> int:
    """``--workers``: an error writing the report directory is a usage error; any other
    error is the suite's (exit 3, its traceback on stderr), never a verdict."""
    from conformance import workers

    try:
        return _written(workers.run(args, settings, main), settings.report_dir)
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
_UNUSED = ("html", "html_fixtures", "metadata", "xdist", "xdist.looponfail", "timeout",
           "schemathesis", "randomly")


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


def certify(args: argparse.Namespace) -> int:
    """The locked profile's run, then its reports sealed and signed, whatever the verdict."""
    from conformance import evidence
    from conformance.certify import configuration, locked

    args = locked(args)
    try:  # what sealing needs, checked before the run (minutes), as run checks its own inputs
        report_dir = resolve(options_from(args)).report_dir
        _sealable("--private-key", lambda: evidence.load_private_key(args.private_key))
        _sealable("--bundle", lambda: evidence.check_destination(args.bundle, report_dir))
    except SettingsError as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    code = run(args)
    if code == EXIT_USAGE:
        return code
    try:
        sealed = evidence.bundle(report_dir, args.bundle, configuration=configuration(args),
                                 private_key=args.private_key)
    except (evidence.EvidenceError, OSError) as error:
        print(f"keepcall-conformance: error: --bundle: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"  sealed {sealed} (verify: keepcall-conformance verify {sealed} --public-key KEY)")
    return code


def _sealable(flag: str, check: Callable[[], object]) -> None:
    """``check`` the input of ``flag``; a SettingsError naming it (one line) if it fails."""
    from conformance.evidence import EvidenceError

    try:
        check()
    except (EvidenceError, OSError) as error:
        raise SettingsError(f"{flag}: {error}") from None


def keygen(private: Path, public: Path) -> int:
    from conformance import evidence

    try:
        evidence.keygen(private, public)
    except (evidence.EvidenceError, OSError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"  wrote {private} (keep it secret) and {public} "
          f"(publish it; fingerprint {evidence.fingerprint(public)})")
    return 0


def replay(args: argparse.Namespace) -> int:
    from conformance.replay import ReplayError, replay

    try:
        settings = resolve(options_from(args))
        return replay(args.results, args.case, settings, sys.stdout)
    except (SettingsError, ReplayError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def merge(sources: Sequence[Path], report_dir: Path, expect: Path | None) -> int:
    """``merge``: the parts' results joined into one run's reports; exit as the run would."""
    from conformance.expect import ExpectError, load
    from conformance.merge import MergeError, combine, join_junit, read_part

    try:
        expected = load(expect) if expect else []
        data = combine([read_part(source) for source in sources], expected=expected)
        writable(report_dir, "--report-dir")
        join_junit([source.with_name(JUNIT_NAME) for source in sources],
                   report_dir / JUNIT_NAME)
    except (MergeError, ExpectError, SettingsError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return _written(data, report_dir)


def _written(data: dict[str, Any], report_dir: Path) -> int:
    """A run's results.json data written with its page, summed up; its exit code."""
    from conformance import page
    from conformance.report import summary_lines, write_results

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


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":  # the reference server prints its own keys: they are for you
        from conformance.reference.serve import run as serve

        return serve(args)
    with sink.redacted_streams():  # everything a command prints passes the redaction sink
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "report":
        return rebuild(args.results, args.output)
    if args.command == "certify":
        return certify(args)
    if args.command == "verify":
        from conformance import evidence

        return evidence.main_verify(args.bundle, args.public_key, sys.stdout)
    if args.command == "keygen":
        return keygen(args.private_key, args.public_key)
    if args.command == "replay":
        return replay(args)
    if args.command == "diff":
        from conformance import diff

        return diff.main(args.old, args.new, args.markdown, sys.stdout)
    if args.command == "merge":
        return merge(args.results, args.report_dir, args.expect)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
