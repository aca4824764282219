"""One CLI run for the tests that make the same run, across pytest-xdist's workers.

Some tests need a run another test makes too (tests/test_seam.py's in-process readings run is
a row of tests/test_readings.py). The first test to ask makes it, holding a file lock in the
session's temporary directory, which every worker of the session shares; a test asking later
waits on that lock, then reads what the run wrote. Runs are the same when their arguments,
environment and way to the server are.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from killmatrix import CliRun, run_cli

RUN_FILE = "run.json"  # a finished run's CliRun, without its results (results.json has them)
# pytest makes the base directory on first asking, and two threads asking at once collide.
_BASETEMP = threading.Lock()


def session_dir(factory: pytest.TempPathFactory) -> Path:
    """The temporary directory all workers of this session share (xdist gives each worker a
    directory of its own inside it)."""
    with _BASETEMP:
        base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_run(factory: pytest.TempPathFactory, args: Sequence[str], *,
               env: Mapping[str, str], in_process: bool) -> CliRun:
    """``run_cli(args, ...)`` made once per session, whichever test asks first."""
    key = json.dumps([list(args), sorted(env.items()), in_process])
    home = session_dir(factory) / "shared-runs" / hashlib.sha256(key.encode()).hexdigest()[:16]
    home.mkdir(parents=True, exist_ok=True)
    with (home / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or its process dies
        saved = home / RUN_FILE
        if saved.is_file():
            return _read(saved)
        run = run_cli(args, home / "reports", env=env, in_process=in_process)
        fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)
                  if f.name != "results"} | {"report_dir": str(run.report_dir)}
        saved.write_text(json.dumps(fields), encoding="utf-8")
        return run


def _read(saved: Path) -> CliRun:
    run = CliRun(**json.loads(saved.read_text(encoding="utf-8")))
    run.report_dir = Path(run.report_dir)
    results = run.report_dir / "results.json"
    if results.is_file():
        run.results = json.loads(results.read_text(encoding="utf-8"))
    return run
