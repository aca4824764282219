"""A warm parent for the many CLI runs of the system tests: import once, fork per run.

A run of ``keepcall-conformance`` spends about a second importing pytest, Hypothesis, httpx,
lxml, xmlschema and the suite before it sends its first request; with ~120 runs per session that
was a fifth of the project's test time. The zygote (one per test process, started on first use)
imports them once while it has a single thread, so that forking is safe, then forks one child
per run. The child is a process of its own (pid, session, environment, working directory,
stdout and stderr files) that starts where a new interpreter would be after those imports, and
runs ``conformance.integration.cli.main`` on the run's arguments. The zygote reaps it and reports
its exit status and peak RSS. Any trouble with the zygote and the caller falls back to a plain child
(``python tests/zygote.py --run [--in-process] ARGS``: the same run, cold).

A job ``in_process`` serves the embedded reference server inside the run's own process
(``conformance.integration.plugin.serve_in_process``: httpx's ASGITransport, no socket, no server
thread), for the tests where the wire is not what they test; the CLI a user runs is unchanged.

Protocol on the zygote's stdin/stdout, one JSON object per line: a job
``{"argv", "env", "cwd", "out", "err", "in_process"}`` is answered ``{"pid"}`` at once, then
``{"status", "rss_kb"}`` when the child has ended (killed or not).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import select
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

PRELOAD = ("pytest", "hypothesis", "httpx", "httpcore", "anyio", "h11", "lxml.etree",
           "xmlschema", "jsonschema", "conformance.integration.cli",
           "conformance.integration.plugin", "conformance.integration.settings",
           "conformance.integration.search", "conformance.running.runner",
           "conformance.reports.report", "conformance.reference.server",
           "conformance.suite.test_matrix",
           "conformance.suite.test_properties", "conformance.suite.test_stateful",
           "conformance.suite.test_requests_fuzzed", "conformance.suite.test_tokens",
           "conformance.suite.test_methods", "conformance.suite.test_time",
           "conformance.suite.test_profile_calls", "_pytest.pytester", "xdist", "pytest_timeout")
EXIT_CRASHED = 70


# --- the zygote -------------------------------------------------------------------------------
def serve() -> None:
    """Import, then fork one child per job read from stdin until it closes."""
    for module in PRELOAD:
        importlib.import_module(module)
    from conformance.domain.matrix import all_cases

    all_cases(quick=True)  # the quick matrix every run builds first, built once here
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.flush()  # nothing buffered may be written twice by the child
        pid = os.fork()
        if pid == 0:
            _child(job)
        _reply({"pid": pid})
        _, status, usage = os.wait4(pid, 0)
        _reply({"status": os.waitstatus_to_exitcode(status), "rss_kb": usage.ru_maxrss})


def _reply(message: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child(job: Mapping[str, Any]) -> None:
    """Become the run: own session, environment, directory and output files; never return."""
    code = EXIT_CRASHED
    try:
        os.setsid()
        os.chdir(job["cwd"])
        os.environ.clear()
        os.environ.update(job["env"])
        for fd, path in ((1, job["out"]), (2, job["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        code = run(job["argv"], in_process=bool(job.get("in_process")))
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run(argv: Sequence[str], in_process: bool) -> int:
    """``keepcall-conformance ARGV``, with the embedded server in this process if asked."""
    from conformance.integration.cli import main
    from conformance.integration.plugin import serve_in_process

    sys.argv = ["keepcall-conformance", *argv]
    with serve_in_process() if in_process else contextlib.nullcontext():
        return main(argv)


def command(argv: Sequence[str], in_process: bool) -> list[str]:
    """The plain child's command line for a run (no zygote: cold, the same run)."""
    return [sys.executable, __file__, "--run", *(["--in-process"] if in_process else []), *argv]


def _main(args: list[str]) -> int:
    if args[:1] != ["--run"]:
        serve()
        return 0
    in_process = args[1:2] == ["--in-process"]
    return run(args[1 + in_process:], in_process)


# --- the caller -------------------------------------------------------------------------------
class Zygote:
    """The zygote of this process, as the tests use it: ``run`` one child at a time."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=dict(env))
        self._buffer = b""
        atexit.register(self.close)

    def run(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path, out: Path,
            err: Path, deadline: float, in_process: bool = False
            ) -> tuple[int | None, int, bool]:
        """(exit status or None when hung, peak RSS in KB, hung); killed past ``deadline``.
        If the wait is interrupted (a per-test timeout), the child is killed and the zygote
        closed: no run outlives the test that started it."""
        assert self.proc.stdin is not None
        job = {"argv": list(argv), "env": dict(env), "cwd": str(cwd), "out": str(out),
               "err": str(err), "in_process": in_process}
        self.proc.stdin.write(json.dumps(job).encode() + b"\n")
        self.proc.stdin.flush()
        pid = int(self._read(time.monotonic() + 30)["pid"])
        try:
            hung = False
            done = self._read(deadline)
            if not done:
                hung = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
                done = self._read(time.monotonic() + 30)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            self.close()
            raise
        return (None if hung else int(done["status"])), int(done["rss_kb"]), hung

    def _read(self, deadline: float) -> dict[str, Any]:
        """The next line as JSON, or {} at the deadline; RuntimeError if the zygote died."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return {}
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError("the zygote ended")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = json.loads(line)
        return message

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.alive:
            self.proc.kill()
            self.proc.wait()


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
