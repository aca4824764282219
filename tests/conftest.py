"""Shared fixtures: a real reference server on loopback, and pytester for the plugin's tests.

One server per module is enough: every test provisions calls with fresh numbers and callIDs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from conformance.reference import ReferenceServer

pytest_plugins = ["pytester"]

# CI runs the project's own Hypothesis tests derandomized and without an example database.
settings.register_profile("ci", derandomize=True, database=None, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="module")
def reference() -> Iterator[ReferenceServer]:
    """A running reference server with the preferred readings and random credentials."""
    with ReferenceServer() as server:
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
    """Run the installed console script in a subprocess, as a user would."""
    command = [str(Path(sys.executable).with_name("keepcall-conformance")), "run",
               "--report-dir", str(report_dir), *FAST, *args]
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
