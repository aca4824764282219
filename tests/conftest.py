"""Shared fixtures: a real reference server on loopback, and pytester for the plugin's tests.

One server per module is enough: every test provisions calls with fresh numbers and callIDs.
The hooks sort tests into lanes (tests/lanes.py: ``-m "not system"`` is the fast lane), bound
each test with pytest-timeout, and write the reports that sum up many system tests
(tests/session_reports.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bytecode_cache  # first: the imports below then read and write the shared cache
import pytest
import session_reports
from hypothesis import settings
from lanes import (
    EXHAUSTIVE_DESCRIPTION,
    SYSTEM,
    SYSTEM_DESCRIPTION,
    TEST_TIMEOUT,
    ChildProcessGuard,
    auto_workers,
    exhaustive_unasked,
    is_system,
)
from reference_helpers import REAPER, started

from conformance.reference import ReferenceServer

pytest_plugins = ["pytester"]

# The project's own Hypothesis tests run derandomized and without an example database, on a
# developer's machine as in CI: no test depends on an unseeded draw or on what an earlier run
# found. ``--hypothesis-profile explore`` searches afresh (random, with the database).
settings.register_profile("seeded", derandomize=True, database=None, deadline=None)
settings.register_profile("explore", deadline=None)
settings.load_profile("seeded")

_GUARD = ChildProcessGuard()
_GUARD.install()
bytecode_cache.share(os.environ)  # for every child of the session, not only run_cli's


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", SYSTEM_DESCRIPTION)
    config.addinivalue_line("markers", EXHAUSTIVE_DESCRIPTION)
    # The suite's own marker: tests/test_stateful_model.py imports a suite module, which a
    # run's plugin would otherwise have registered it for.
    config.addinivalue_line("markers", "requirement(*ids): the conformance suite's marker")
    session_reports.register(config)


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: more workers than cores for the system lane, whose tests mostly wait."""
    return auto_workers(config)


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the system lane; leave the exhaustive lane out unless asked for; bound every test
    by TEST_TIMEOUT unless it has its own timeout or the command line gives one (``--timeout 0``
    turns the bound off, e.g. to debug)."""
    if unasked := exhaustive_unasked(config, items):
        config.hook.pytest_deselected(items=unasked)
        left_out = set(unasked)
        items[:] = [item for item in items if item not in left_out]
    default = config.getoption("timeout", None) is None
    for item in items:
        if is_system(item):
            item.add_marker(SYSTEM)
        if default and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Tell the child-process guard which test is running (fixtures included)."""
    _GUARD.running = item
    try:
        return (yield)
    finally:
        _GUARD.running = None


@pytest.fixture(scope="module", autouse=True)
def _stopped_reference_servers() -> Iterator[None]:
    """Every server ``reference_helpers.running`` started in the module has stopped after it."""
    yield
    REAPER.join()


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceServer]:
    """A running reference server with the preferred readings and random credentials (a
    random password may start with "-": give it on a command line as ``--password=VALUE``);
    stopped in the background after the module."""
    with started(ReferenceServer()) as server:
        yield server


@dataclass(frozen=True)
class Run:
    """One finished ``keepcall-conformance run``: its exit code, output and report files."""

    code: int
    stdout: str
    stderr: str
    report_dir: Path

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report_dir / "results.json").read_text())
        return data


FAST = ("--examples", "10", "--budget", "5")  # bound the property-based part


def run_cli(*args: str, report_dir: Path, timeout: float = 120) -> Run:
    """Run the installed console script in a subprocess, as a user would (seeded unless the
    arguments name a seed)."""
    from killmatrix import seeded  # here: the fast lane's processes need not import it

    command = [str(Path(sys.executable).with_name("keepcall-conformance")), "run",
               "--report-dir", str(report_dir), *FAST, *seeded(args)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          cwd=report_dir.parent, env=clean_env())
    return Run(done.returncode, done.stdout, done.stderr, report_dir)


def clean_env() -> dict[str, str]:
    """The environment without KEEPCALL_* secrets that could leak in from the caller."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KEEPCALL_")}


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """``run --quick`` against the embedded server, once for every test that reads it."""
    return run_cli("--quick", report_dir=tmp_path_factory.mktemp("quick") / "reports")
