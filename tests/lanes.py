"""The two lanes of the project's tests: ``system`` tests start the CLI or another child
process, or make whole suite runs (in this process too); the rest (``pytest -m "not system"``)
run in seconds.

A test marks itself (``@pytest.mark.system`` or a module's ``pytestmark``); the few in modules
kept as others wrote them are listed here, by name or by the fixture that starts their runs.
A guard keeps the lanes honest: a test outside the system lane that starts a child process
fails and says so, so a new slow test cannot slip into the fast lane unmarked.

``exhaustive`` tests are the whole runs where the default lane stops early (the kill matrix's
rows); they run only when ``-m`` names the marker (``pytest -m exhaustive``: ``.ci/run``).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest

SYSTEM = "system"
SYSTEM_DESCRIPTION = (f"{SYSTEM}: starts the CLI or another child process, or makes whole "
                      f"suite runs (deselect with '-m \"not {SYSTEM}\"' for the fast lane)")
EXHAUSTIVE = "exhaustive"
EXHAUSTIVE_DESCRIPTION = (f"{EXHAUSTIVE}: whole runs where the default lane stops early; run "
                          f"only when -m names it ('-m {EXHAUSTIVE}', as .ci/run does)")
# Fixtures that run the CLI once for several tests (tests/conftest.py, tests/test_cli.py).
SYSTEM_FIXTURES = frozenset({"quick_run", "uncontrolled_runs"})
# Tests, by function name, that start a child themselves and carry no marker of their own.
SYSTEM_TESTS = frozenset({
    "test_the_script_exits_2_on_a_usage_error",  # test_cli: the console script
    "test_a_closed_port_is_inconclusive",  # test_cli: run_cli
    "test_python_m_conformance_help",  # test_cli: python -m conformance
    "test_secrets_never_reach_a_file_or_the_output",  # test_cli: run_cli
    "test_the_suite_runs_as_plain_pytest",  # test_plugin: runpytest_subprocess
    "test_curl_line_reproduces_the_request_without_secrets",  # test_curl: curl
    "test_curl_line_for_json_and_raw_bodies",  # test_curl: curl
})
# A generous bound per test (pytest-timeout); each child run has its own hang detector below it.
TEST_TIMEOUT = 900.0
# What starting a child process looks like to an audit hook (PEP 578).
_SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.spawn", "os.fork",
                           "os.forkpty", "os.exec", "os.system"})


# xdist workers per core for ``-n auto`` when the system lane runs: its tests mostly wait (held
# next answers, hostile servers' stalls, children starting and servers coming up, a run another
# test makes for both: tests/shared_runs.py), so twice the cores overlap the waits. The fast lane
# is mostly CPU, but about a third of its serial wall is designed waits (deadlines, held and
# slowed answers): one worker more than the cores fills them (on 2 cores, 21 s against 24 s
# with two workers, for 1.5 s more CPU: the third worker's start).
SYSTEM_WORKERS_PER_CORE = 2
FAST_EXTRA_WORKERS = 1


def auto_workers(config: pytest.Config) -> int:
    """What ``-n auto`` means here: one worker per core and one more when ``-m`` leaves the
    system lane out, twice the cores otherwise."""
    cores = len(os.sched_getaffinity(0)) or 1
    fast_only = f"not {SYSTEM}" in (config.getoption("markexpr", "") or "")
    return cores + FAST_EXTRA_WORKERS if fast_only else cores * SYSTEM_WORKERS_PER_CORE


def is_system(item: pytest.Item) -> bool:
    """Marked already, or listed here by name or by a fixture that runs the CLI."""
    fixtures = set(getattr(item, "fixturenames", ()))
    name = getattr(item, "originalname", item.name)
    return (item.get_closest_marker(SYSTEM) is not None or name in SYSTEM_TESTS
            or bool(fixtures & SYSTEM_FIXTURES))


def exhaustive_unasked(config: pytest.Config, items: list[pytest.Item]) -> list[pytest.Item]:
    """The exhaustive tests of ``items``, unless the ``-m`` expression names their marker."""
    if EXHAUSTIVE in (config.getoption("markexpr", "") or ""):
        return []
    return [item for item in items if item.get_closest_marker(EXHAUSTIVE) is not None]


class ChildProcessInFastLane(RuntimeError):
    """A test outside the system lane started a child process."""


@dataclass
class ChildProcessGuard:
    """Fails any child process started while a test outside the system lane runs."""

    running: pytest.Item | None = None

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        item = self.running
        if event in _SPAWN_EVENTS and item is not None and not is_system(item):
            raise ChildProcessInFastLane(
                f"{item.nodeid} starts a child process ({event} {str(args[:1])[:120]}): "
                f"mark it @pytest.mark.{SYSTEM} (or list it in tests/lanes.py)")

    def install(self) -> None:
        """Audit hooks cannot be removed; the hook does nothing between tests."""
        sys.addaudithook(self.audit)
