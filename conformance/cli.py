"""``keepcall-conformance``: run the suite (``run``) or the reference server (``serve``).

Exit codes: 0 conformant, 1 not conformant, 2 usage or profile error, 3 target unreachable or
run inconclusive, 4 partial (nothing failed, but some gating requirement was not tested).
Secrets given here reach the plugin through the stash, never through pytest's argument list, so
no report or log can echo them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from conformance import __version__
from conformance.report import EXIT_CODES
from conformance.settings import Options, Settings, SettingsError, resolve

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
    run.add_argument("--target", help="full endpoint URL, e.g. https://host/verba/api")
    run.add_argument("--api-key", help="API key (or KEEPCALL_API_KEY)")
    auth = run.add_mutually_exclusive_group()
    auth.add_argument("--token", help="session token (or KEEPCALL_TOKEN)")
    auth.add_argument("--username", help="login for RequestToken (or KEEPCALL_USERNAME)")
    run.add_argument("--password", help="password for RequestToken (or KEEPCALL_PASSWORD)")
    run.add_argument("--open-api-key", help="a key that needs no token, if the target has one")
    run.add_argument("--control-url", help="base URL of the target's control protocol")
    run.add_argument("--profile", help="TOML target profile")
    run.add_argument("--report-dir", default="reports", help="where the reports go")
    run.add_argument("--quick", action="store_true", help="pairwise subset, for CI gates")
    run.add_argument("--level", choices=("must", "should"), default="must",
                     help="requirements at this level or above gate the verdict")
    run.add_argument("--allow-untested", action="store_true",
                     help="gate on what was tested: untested gating requirements do not make "
                          "the run partial (exit 4)")
    run.add_argument("--seed", type=int, default=0, help="repeat a run exactly")
    run.add_argument("--examples", type=int, default=100, help="Hypothesis examples each")
    run.add_argument("--budget", type=float, default=60.0,
                     help="seconds for the property-based part")
    run.add_argument("--ca-bundle", help="CA bundle for TLS verification")
    run.add_argument("--insecure", action="store_true", help="do not verify TLS")
    run.add_argument("--rate", type=float, help="at most this many requests per second")
    run.add_argument("--timeout", type=float, help="total seconds per request")
    run.add_argument("--connect-timeout", type=float, help="seconds to connect")
    run.add_argument("--read-timeout", type=float, help="seconds between bytes read")
    run.add_argument("--max-response-bytes", type=int, help="read at most this much")
    run.add_argument("--reference-switch", action="append", default=[], metavar="NAME=VALUE",
                     help="open choice of the embedded reference server")
    run.add_argument("--reference-fault", action="append", default=[], metavar="NAME",
                     help="inject a fault into the embedded reference server")
    run.add_argument("-k", dest="select", help="only cases matching this pytest expression")
    serve = commands.add_parser("serve", help="run the reference server standalone")
    from conformance.reference.serve import add_arguments

    add_arguments(serve)
    return parser


def _options(args: argparse.Namespace) -> Options:
    return Options(target=args.target, api_key=args.api_key, token=args.token,
                   username=args.username, password=args.password,
                   open_api_key=args.open_api_key, control_url=args.control_url,
                   profile=args.profile, report_dir=args.report_dir, quick=args.quick,
                   level=args.level, allow_untested=args.allow_untested, seed=args.seed,
                   examples=args.examples, budget=args.budget, ca_bundle=args.ca_bundle,
                   insecure=args.insecure, rate=args.rate, total_timeout=args.timeout,
                   connect_timeout=args.connect_timeout, read_timeout=args.read_timeout,
                   max_response_bytes=args.max_response_bytes,
                   reference_switches=tuple(args.reference_switch),
                   reference_faults=tuple(args.reference_fault))


class _Handoff:
    """A plugin object carrying the resolved settings into pytest's stash."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.verdict: str | None = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        from conformance.plugin import PROGRESS, SETTINGS

        config.stash[SETTINGS] = self.settings
        config.stash[PROGRESS] = True

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """Keep the run's verdict: only it tells a partial run from pytest's usage error."""
        from conformance.plugin import RESULTS

        data = config.stash.get(RESULTS, None)
        self.verdict = data["summary"]["verdict"] if data is not None else None


def _check_reference(settings: Settings) -> None:
    """Validate embedded-server switches and faults up front: a typo is a usage error."""
    from conformance.reference.faults import check_names
    from conformance.reference.switches import Switches

    try:
        Switches.parse(settings.reference_switches)
        check_names(settings.reference_faults)
    except (ValueError, KeyError) as error:
        raise SettingsError(str(error).strip("'\"")) from None


def run(args: argparse.Namespace) -> int:
    try:
        settings = resolve(_options(args))
        _check_reference(settings)
        settings.report_dir.mkdir(parents=True, exist_ok=True)
    except SettingsError as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"keepcall-conformance: error: --report-dir: {error.strerror}", file=sys.stderr)
        return EXIT_USAGE
    report_dir = settings.report_dir
    pytest_args = ["--pyargs", "conformance.suite", "-p", "no:terminal", "-p", "no:cacheprovider",
                   f"--junitxml={report_dir / 'junit.xml'}", "-o", "junit_family=xunit2",
                   "-o", "junit_logging=no", f"--html={report_dir / 'report.html'}",
                   "--self-contained-html", "-W", "ignore::pytest.PytestAssertRewriteWarning",
                   "--rootdir", str(Path.cwd())]
    if args.select:
        pytest_args += ["-k", args.select]
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(report_dir / ".hypothesis"))
    handoff = _Handoff(settings)
    code = pytest.main(pytest_args, plugins=[handoff])
    _announce(report_dir)
    return _exit_code(int(code), handoff.verdict)


def _exit_code(code: int, verdict: str | None) -> int:
    """pytest's code in this tool's terms; a partial verdict's 4 is pytest's USAGE_ERROR."""
    if verdict == "partial" and code == EXIT_CODES["partial"]:
        return code
    return _PYTEST_EXIT.get(pytest.ExitCode(code), code)


# pytest's own exit codes, in this tool's terms: 0, 1, 3 and 4 are the verdicts the plugin sets.
_PYTEST_EXIT: dict[pytest.ExitCode, int] = {
    pytest.ExitCode.USAGE_ERROR: EXIT_USAGE, pytest.ExitCode.INTERRUPTED: 3,
                pytest.ExitCode.INTERNAL_ERROR: 3, pytest.ExitCode.NO_TESTS_COLLECTED: 3}


def _announce(report_dir: Path) -> None:
    for name in ("results.json", "junit.xml", "report.html"):
        path = report_dir / name
        if path.exists():
            print(f"  wrote {path}")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        from conformance.reference.serve import run as serve

        return serve(args)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
