"""``--workers N``: one run in N processes, then the part that needs the target alone.

The parallel part runs N shards of the matrix at once (``--shard I/N --part parallel``), each
numbering its calls in a block of its own; a case whose judging must move the target's clock
is deferred, since the other workers' calls share that clock. The property searches that move
no clock (generated requests, the fuzzer: marked ``parallel``) are dealt to the parallel
parts too. The exclusive part then runs alone: the stateful search, the time and token tests,
and the deferred cases. The parts' results are merged (``merge.py``) into the run's reports,
equal to a serial run's. Each part is a process forked from this one once it has imported the
suite (it starts warm); secrets reach it by environment variable, never on a command line.
The parts post their counts on a shared board; this process shows one progress line for the
whole run, and the time each phase took at the end.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import sys
import time
from argparse import Namespace
from collections.abc import Callable, Iterator, Mapping
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from conformance.domain.matrix import all_cases
from conformance.integration import progress
from conformance.integration.options import BY_NAME, OPTIONS
from conformance.integration.settings import Settings
from conformance.reports.merge import combine, join_junit, read_part
from conformance.reports.report import JUNIT_NAME, PART_NAME
from conformance.wire import sink
from conformance.wire.control import Control, ControlError
from conformance.wire.transport import Client

PARTS_DIR = "parts"
POLL_SECONDS = 0.2  # how often the parent looks at the board while parts run
# Forked: a part starts from this process's imports (the spawn method would start cold).
_FORK = multiprocessing.get_context("fork")
SUITE_MODULES = ("conformance.integration.plugin", "conformance.integration.search",
                 "conformance.suite.test_matrix",
                 "conformance.suite.test_methods", "conformance.suite.test_profile_calls",
                 "conformance.suite.test_properties", "conformance.suite.test_requests_fuzzed",
                 "conformance.suite.test_stateful", "conformance.suite.test_time",
                 "conformance.suite.test_tokens")
# Options each part is given by the parent, not passed through.
_OWN = frozenset({"workers", "shard", "part", "deferred", "report_dir", "rate", "max_duration",
                  "budget",  # one run's, divided among the parts
                  "expect",  # the parent judges the known failures on the merged run
                  "seed"})  # the run's, drawn once here when none was given


def child_argv(args: Namespace) -> list[str]:
    """The user's ``run`` options for a part, secrets left out (they go by environment)."""
    argv: list[str] = []
    for option in OPTIONS:
        value = getattr(args, option.name, None)
        if value is None or option.secret or option.name in _OWN:
            continue
        if option.parse is None:
            argv += [option.cli_flag] if value else []
        else:
            for each in value if isinstance(value, (list, tuple)) else [value]:
                argv += [option.cli_flag, str(each)]
    return argv + (["-k", args.select] if getattr(args, "select", None) else [])


def child_env(settings: Settings, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a part: the resolved secrets under their variables."""
    env = dict(os.environ if base is None else base)
    credentials = settings.credentials
    for name, value in (("api_key", credentials.api_key), ("token", credentials.token),
                        ("password", credentials.password),
                        ("open_api_key", credentials.open_api_key),
                        ("username", credentials.username)):
        variable = BY_NAME[name].env
        if value and variable:
            env[variable] = value
    return env


# The CLI's main, handed in by the CLI (a part is one ``run`` of it): no import back.
Main = Callable[[list[str]], int]


def run(args: Namespace, settings: Settings, main: Main) -> dict[str, Any]:
    """Both parts, then the merged results.json data (the reports written in report_dir)."""
    count = settings.workers or 1
    base = ["run", *child_argv(args), "--seed", str(settings.seed), "-q"]
    env = child_env(settings)
    started = time.monotonic()
    _reset(settings)
    _warm(settings)
    print(f"keepcall-conformance: {count} workers, then the exclusive part; seed "
          f"{settings.seed}", flush=True)
    watch = _Watch(progress.Board(count + 1),
                   progress.Progress(show=not getattr(args, "quiet", False)))
    with _stopped_at_exit() as running:
        data = _parts(settings, base, env, started, running, watch, main)
    watch.line.last = float("-inf")  # the run's last count, shown whenever the last line was
    watch.board.show(watch.line)
    watch.line.finish()
    print("  " + ", ".join(f"{what}: {seconds:.1f} s" for what, seconds in watch.phases),
          flush=True)
    return data


class _Watch:
    """The parts' board, the parent's one progress line, and each phase's time."""

    def __init__(self, board: progress.Board, line: progress.Progress) -> None:
        self.board, self.line = board, line
        self.phases: list[tuple[str, float]] = []

    def wait(self, children: list[BaseProcess], what: str) -> None:
        """Until every child has ended, the run's line every so often; then the phase's time."""
        started = time.monotonic()
        for child in children:
            while child.is_alive():
                child.join(POLL_SECONDS)
                self.board.show(self.line)
        self.board.show(self.line)
        self.phases.append((what, time.monotonic() - started))


def _parts(settings: Settings, base: list[str], env: Mapping[str, str], started: float,
           running: list[BaseProcess], watch: _Watch, main: Main) -> dict[str, Any]:
    """The parallel part, then the exclusive one, merged; each part started is in ``running``."""
    count, report_dir = settings.workers or 1, settings.report_dir
    parts = report_dir / PARTS_DIR
    parallel = [parts / str(i) for i in range(1, count + 1)]
    watch.wait([_start([*base, "--shard", f"{i}/{count}", "--part", "parallel",
                        *_bounds(settings, started, count)], where, env, running,
                       main, watch.board.slot(i - 1))
                for i, where in enumerate(parallel, start=1)], "parallel part")
    deferred = sorted({case for where in parallel if (where / PART_NAME).is_file()
                       for case in read_part(where)["deferred"]})
    exclusive = parts / "exclusive"
    exclusive.mkdir(parents=True, exist_ok=True)
    listed = exclusive / "deferred.txt"
    sink.write_text(listed, "".join(f"{case}\n" for case in deferred))
    watch.wait([_start([*base, "--shard", f"{count}/{count}", "--part", "exclusive",
                        "--deferred", str(listed), *_bounds(settings, started, 1)], exclusive,
                       env, running, main, watch.board.slot(count))],
               f"exclusive part ({len(deferred)} deferred cases)")
    done = [*parallel, exclusive]
    missing = [f"the part in {where} wrote no {PART_NAME} (see its stderr.txt)"
               for where in done if not (where / PART_NAME).is_file()]
    data = combine([read_part(where) for where in done if (where / PART_NAME).is_file()],
                   problems=missing, expected=settings.expected)
    data["suite"]["duration_seconds"] = round(time.monotonic() - started, 3)
    data["suite"]["budget"] = settings.budget  # the run's, which the parts shared
    join_junit([where / JUNIT_NAME for where in done], report_dir / JUNIT_NAME)
    return data


def _reset(settings: Settings) -> None:
    """A clean slate on the target once, as a serial run starts with (its parts do not reset:
    the others' calls live there). A target the reset fails on is the parts' to report."""
    if settings.embedded or settings.control_url is None:
        return  # each part's embedded server starts empty
    with Client(settings.transport, settings.credentials.redactor()) as client:
        try:
            Control(client, settings.control_url).reset()
        except ControlError as error:
            print(f"  control reset failed: {error}", file=sys.stderr, flush=True)


def _bounds(settings: Settings, started: float, sharing: int) -> list[str]:
    """--rate shared by the parts running at once; what is left of --max-duration; each
    part's share of the run's --budget (the seconds of its searches): the parallel parts'
    searches run at once, so one run's budget is divided among them, not given to each.
    The exclusive part gets the same share (it runs the stateful search, which a serial run
    gives what the other searches left), and the parts of one run stay alike (merge.py)."""
    rate, bound = settings.transport.rate, settings.max_duration
    left = None if bound is None else max(bound - (time.monotonic() - started), 0.001)
    return ([*(["--rate", f"{rate / sharing:g}"] if rate else []),
             *(["--max-duration", f"{left:.3f}"] if left is not None else []),
             "--budget", f"{settings.budget / (settings.workers or 1):g}"])


def _warm(settings: Settings) -> None:
    """Import the suite and build the matrix here, once: each part is forked from this
    process and starts warm (a cold start costs a second or two of CPU per part)."""
    for name in SUITE_MODULES:
        importlib.import_module(name)
    all_cases(settings.quick)


@contextlib.contextmanager
def _stopped_at_exit() -> Iterator[list[BaseProcess]]:
    """The parts started; any still running when the run ends (an error, an interrupt) is
    stopped and reaped: nothing of a run outlives it."""
    running: list[BaseProcess] = []
    try:
        yield running
    finally:
        for child in running:
            if child.is_alive():
                child.terminate()
            child.join()


def _start(argv: list[str], where: Path, env: Mapping[str, str], running: list[BaseProcess],
           main: Main, post: Callable[[int, int, int], None]) -> BaseProcess:
    where.mkdir(parents=True, exist_ok=True)
    child = _FORK.Process(target=_part,
                          args=([*argv, "--report-dir", str(where)], where, env, main, post))
    child.start()
    running.append(child)
    return child


def _part(argv: list[str], where: Path, env: Mapping[str, str], main: Main,
          post: Callable[[int, int, int], None]) -> None:
    """A part, in the forked child: its own environment (the secrets), output to its dir,
    its counts to the parent's board."""
    progress.post_as_part(post)
    os.environ.clear()
    os.environ.update(env)
    with (where / "stderr.txt").open("wb") as err, open(os.devnull, "wb") as out:
        os.dup2(err.fileno(), 2)
        os.dup2(out.fileno(), 1)
    code = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)

