"""``keepcall-conformance``: run the suite, gate a release on it, certify a target.

Commands: ``run`` (the suite; ``--expect`` known failures, ``--shard``/``--workers``), ``merge``
(shards joined), ``report`` (the page rebuilt), ``diff`` (two runs compared), ``replay`` (one
case again), ``certify`` (the locked profile, signed), ``verify`` and ``keygen`` (the bundle's
signature), ``serve`` (the reference server): one row each of ``COMMANDS``. Each one's exit
codes are in ``_EXITS`` and its ``--help``; a run's: 0 conformant, 1 not conformant, 2 usage
or profile error, 3 inconclusive, 4 partial. The ``run`` options are built from
``conformance.integration.options``, the table the pytest plugin's ``--kc-*`` options come from too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from conformance import __version__
from conformance.integration import launch
from conformance.integration.certify import LOCKED
from conformance.integration.launch import EXIT_USAGE
from conformance.integration.options import grouped, keywords
from conformance.integration.settings import SettingsError, options_from, resolve
from conformance.reports.page import PAGE_NAME
from conformance.reports.report import JUNIT_NAME, RESULTS_SCHEMA
from conformance.wire import sink


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"keepcall-conformance: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


@dataclass(frozen=True)
class Command:
    """One command: its name, what it does, its exit codes (in its --help), its arguments and
    what it does with them; ``redacted``: what it prints passes the redaction sink."""

    name: str
    summary: str
    arguments: Callable[[argparse.ArgumentParser], None]
    action: Callable[[argparse.Namespace], int]
    redacted: bool = True


def _parser() -> argparse.ArgumentParser:
    parser = _ArgumentParser(prog="keepcall-conformance",
                             description=__doc__.split("\n")[0].replace("``", ""))
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.arguments(commands.add_parser(
            command.name, help=command.summary, description=command.summary,
            epilog=f"exit codes: {_EXITS[command.name]}"))
    return parser


# Every command's exit codes, shown in its --help (and the module's docstring).
RUN_EXITS = ("0 conformant, 1 not conformant, 2 usage error (an option, or a file or directory "
             "it names unusable: checked before any request), 3 inconclusive (target "
             "unreachable, run aborted or cut short, suite error), 4 partial (a gating "
             "requirement untested)")
_EXITS: dict[str, str] = {
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


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    _run_options(parser)
    parser.add_argument("-k", dest="select", help="only cases matching this pytest expression")


def _certify_arguments(parser: argparse.ArgumentParser) -> None:
    _run_options(parser, without=LOCKED)
    parser.add_argument("--private-key", type=Path, required=True,
                        help="the signer's Ed25519 private key (keepcall-conformance keygen)")
    parser.add_argument("--bundle", type=Path, required=True,
                        help="the evidence bundle's directory (new or empty)")


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bundle", type=Path, help="the bundle's directory")
    parser.add_argument("--public-key", type=Path, required=True,
                        help="the signer's public key, as published")


def _keygen_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--private-key", type=Path, default=Path("keepcall-signing.pem"),
                        help="where the private key goes (default: keepcall-signing.pem)")
    parser.add_argument("--public-key", type=Path, default=Path("keepcall-signing.pub.pem"),
                        help="where the public key goes (default: keepcall-signing.pub.pem)")


def _replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="the run's results.json (its cases.json.gz "
                        "beside it)")
    parser.add_argument("case", help="the case id, as results.json, junit.xml or the page "
                        "name it")
    _run_options(parser, only=("target", "credentials", "transport", "reference"))
    parser.add_argument("--level", choices=("must", "should"), default="must",
                        help="the level whose failure makes exit 1 (default: must)")


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="a run's results.json")
    parser.add_argument("-o", "--output", type=Path,
                        help=f"where to write it (default: {PAGE_NAME} beside results.json)")


def _merge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, nargs="+",
                        help="each shard's results.json (its cases.json.gz beside it)")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"),
                        help="where the joined reports go (default: reports)")
    parser.add_argument("--expect", type=Path, metavar="FILE",
                        help="known failures, judged on the joined run (as run --expect)")


def _diff_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", type=Path, help="the earlier (or reference) results.json")
    parser.add_argument("new", type=Path, help="the later (or candidate) results.json")
    parser.add_argument("--markdown", type=Path, metavar="FILE",
                        help="also write the diff as Markdown (a pull-request comment)")


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    from conformance.reference.serve import add_arguments

    add_arguments(parser)


def rebuild(results: Path, output: Path | None) -> int:
    """The compliance page from ``results`` alone; exit 2 with one line on a bad file."""
    from conformance.reports import page
    from conformance.wire.control import violation

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
    from conformance.integration.certify import configuration, locked
    from conformance.reports import evidence
    from conformance.reports.signing import EvidenceError, load_private_key

    args = locked(args)
    try:  # what sealing needs, checked before the run (minutes), as run checks its own inputs
        report_dir = resolve(options_from(args)).report_dir
        _sealable("--private-key", lambda: load_private_key(args.private_key))
        _sealable("--bundle", lambda: evidence.check_destination(args.bundle, report_dir))
    except SettingsError as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    code = launch.run(args, main)
    if code == EXIT_USAGE:
        return code
    try:
        sealed = evidence.bundle(report_dir, args.bundle, configuration=configuration(args),
                                 private_key=args.private_key)
    except (EvidenceError, OSError) as error:
        print(f"keepcall-conformance: error: --bundle: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"  sealed {sealed} (verify: keepcall-conformance verify {sealed} --public-key KEY)")
    return code


def _sealable(flag: str, check: Callable[[], object]) -> None:
    """``check`` the input of ``flag``; a SettingsError naming it (one line) if it fails."""
    from conformance.reports.signing import EvidenceError

    try:
        check()
    except (EvidenceError, OSError) as error:
        raise SettingsError(f"{flag}: {error}") from None


def keygen(private: Path, public: Path) -> int:
    from conformance.reports import signing

    try:
        signing.keygen(private, public)
    except (signing.EvidenceError, OSError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"  wrote {private} (keep it secret) and {public} "
          f"(publish it; fingerprint {signing.fingerprint(public)})")
    return 0


def replay(args: argparse.Namespace) -> int:
    from conformance.integration.replay import ReplayError, replay

    try:
        settings = resolve(options_from(args))
        return replay(args.results, args.case, settings, sys.stdout)
    except (SettingsError, ReplayError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def merge(sources: Sequence[Path], report_dir: Path, expect: Path | None) -> int:
    """``merge``: the parts' results joined into one run's reports; exit as the run would."""
    from conformance.reports.expect import ExpectError, load
    from conformance.reports.merge import MergeError, combine, join_junit, read_part

    try:
        expected = load(expect) if expect else []
        data = combine([read_part(source) for source in sources], expected=expected)
        launch.writable(report_dir, "--report-dir")
        join_junit([source.with_name(JUNIT_NAME) for source in sources],
                   report_dir / JUNIT_NAME)
    except (MergeError, ExpectError, SettingsError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    return launch.written(data, report_dir)


def _verify(args: argparse.Namespace) -> int:
    from conformance.reports import verification

    return verification.main_verify(args.bundle, args.public_key, sys.stdout)


def _diff(args: argparse.Namespace) -> int:
    from conformance.reports import diff

    return diff.main(args.old, args.new, args.markdown, sys.stdout)


def _serve(args: argparse.Namespace) -> int:
    from conformance.reference.serve import run as serve

    return serve(args)


COMMANDS: tuple[Command, ...] = (
    Command("run", "test a KeepCall endpoint (default: the embedded reference server)",
            _run_arguments, lambda args: launch.run(args, main)),
    Command("certify", "the locked certification profile (full matrix, pinned seed and "
            "budget, --level should), sealed in a signed bundle", _certify_arguments, certify),
    Command("verify", "check an evidence bundle offline: signature, hashes, no file added or "
            "missing", _verify_arguments, _verify),
    Command("keygen", "make an Ed25519 key pair for certify and verify", _keygen_arguments,
            lambda args: keygen(args.private_key, args.public_key)),
    Command("replay", "set up one case of a run again, send it, and print the new outcome "
            "beside the recorded one", _replay_arguments, replay),
    Command("report", "rebuild the compliance page from a results.json (offline, nothing but "
            "the file is read)", _report_arguments,
            lambda args: rebuild(args.results, args.output)),
    Command("merge", "join the results of a run's shards (--shard I/N) into one run's reports",
            _merge_arguments, lambda args: merge(args.results, args.report_dir, args.expect)),
    Command("diff", "compare two runs' results.json (two releases, or staging and "
            "production); exit 1 on a regression", _diff_arguments, _diff),
    # the reference server prints its own keys: they are for you
    Command("serve", "run the reference server standalone", _serve_arguments, _serve,
            redacted=False),
)
_BY_NAME: dict[str, Command] = {c.name: c for c in COMMANDS}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = _BY_NAME[args.command]
    if not command.redacted:
        return command.action(args)
    with sink.redacted_streams():  # everything a command prints passes the redaction sink
        return command.action(args)


if __name__ == "__main__":
    raise SystemExit(main())
