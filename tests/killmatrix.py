"""Running the CLI as a user would, and the kill matrix of the reference server's faults.

``run_cli`` starts ``keepcall-conformance run`` in a child process (isolated state, a seed, a
hang detector, the child's own peak RSS from ``wait4``) and reads back what it wrote.
``run_fault`` runs the user's suite (``run --quick``) with one fault of
``conformance.reference.faults`` and records whether the fault was caught: exit 1 and a failed
verdict on the requirement it breaks. tests/test_kill_matrix.py runs one test per fault.

``python tests/killmatrix.py`` regenerates docs/KILL-MATRIX.md (and reports/kill-matrix.*).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import bytecode_cache
from canary import scan
from stop_at_kill import PLUGIN, STOP_AT
from zygote import Zygote, command

from conformance.catalog.requirements import BY_ID, CATALOG
from conformance.reference.faults import FAULTS, Fault

ROOT = Path(__file__).resolve().parent.parent
WORKERS = max(1, min(2, os.cpu_count() or 1))
HANG_SECONDS = 240.0
# Every run a test starts is seeded: numbering and Hypothesis repeat, no verdict rests on a draw.
SEED = "1"
# The kill matrix bounds the Hypothesis part by examples (the faults are caught with this bound
# too: the matrix shows it), which makes each of the ~60 runs cheaper. Not by --budget: a time
# bound makes what a seeded run finds depend on how loaded the machine is.
KILL_HYPOTHESIS = ("--examples", "3")
# The user's quick suite on the preferred server at SHOULD level, bounded as the matrix's rows:
# a run several tests read (test_seam, test_report_browser, test_batch_verdicts), made once for
# them all (tests/shared_runs.py).
PREFERRED_QUICK = ("--quick", "--level", "should", *KILL_HYPOTHESIS)
# The env a child sees: no secrets from the developer's shell, no Hypothesis database.
_DROP = ("KEEPCALL_API_KEY", "KEEPCALL_TOKEN", "KEEPCALL_USERNAME", "KEEPCALL_PASSWORD",
         "KEEPCALL_OPEN_API_KEY")

# Canaries for embedded runs: the reference server takes them as its own secrets. Characters
# that every encoding changes (space, +, &, /, %, quotes, <, non-ASCII) catch a missed form.
API_KEY = "kc-canary-KEY/1+2 3&x=\u00e4"
OPEN_API_KEY = "kc-canary-OPEN%41;k"
USERNAME = "canary-admin"
PASSWORD = 'kc-canary-PW"<&>\''
SECRETS = (API_KEY, OPEN_API_KEY, PASSWORD)
LOGINS = ((USERNAME, PASSWORD),)
EMBEDDED_ENV = {"KEEPCALL_API_KEY": API_KEY, "KEEPCALL_OPEN_API_KEY": OPEN_API_KEY,
                "KEEPCALL_USERNAME": USERNAME, "KEEPCALL_PASSWORD": PASSWORD}


@dataclass
class CliRun:
    """What one ``keepcall-conformance`` child did and wrote."""

    args: list[str]
    exit_code: int | None
    stdout: str
    stderr: str
    max_rss_mb: float
    seconds: float
    report_dir: Path
    hung: bool = False
    results: dict[str, Any] | None = None

    @property
    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = (self.results or {}).get("summary", {})
        return summary

    @property
    def target(self) -> dict[str, Any]:
        target: dict[str, Any] = (self.results or {}).get("target", {})
        return target

    def verdict_of(self, requirement: str) -> str | None:
        for entry in (self.results or {}).get("requirements", []):
            if entry["id"] == requirement:
                return str(entry["verdict"])
        return None

    def requirement(self, requirement: str) -> dict[str, Any]:
        return next(e for e in (self.results or {})["requirements"] if e["id"] == requirement)

    def verdicts(self, verdict: str) -> list[str]:
        return [e["id"] for e in (self.results or {}).get("requirements", [])
                if e["verdict"] == verdict]

    def texts(self) -> dict[str, str | bytes]:
        """Printed output, for the canary scan."""
        return {"stdout": self.stdout, "stderr": self.stderr}

    def leaks(self, secrets: Iterable[str] = SECRETS,
              logins: Iterable[tuple[str, str]] = LOGINS) -> list[str]:
        """Every secret found in what the run wrote or printed."""
        return [str(leak) for leak in scan(self.report_dir, secrets, logins, self.texts())]

    def describe(self) -> str:
        return (f"exit {self.exit_code}{' (hung, killed)' if self.hung else ''}; "
                f"summary {json.dumps(self.summary)[:800]}; stderr: {self.stderr[-800:]}")


def run_cli(args: Sequence[str], report_dir: Path, *, env: Mapping[str, str] | None = None,
            timeout: float = HANG_SECONDS, in_process: bool = False) -> CliRun:
    """``keepcall-conformance run ARGS --report-dir REPORT_DIR`` in a child, killed on a hang.

    ``--seed`` defaults to ``SEED``: a run a test depends on never draws a random seed.
    ``in_process``: the embedded reference server is served inside the child, over httpx's
    ASGITransport (tests/zygote.py), for tests where the wire is not the subject.
    """
    argv = ["run", *seeded(args), "--report-dir", str(report_dir)]
    child_env = {k: v for k, v in os.environ.items() if k not in _DROP}
    child_env |= {"HYPOTHESIS_STORAGE_DIRECTORY": str(report_dir / ".hypothesis"),
                  **(env or {})}
    bytecode_cache.share(child_env)
    report_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        started = time.monotonic()
        status, rss_kb, hung = _spawn(argv, child_env, report_dir, (out, err),
                                      started + timeout, in_process)
        seconds = time.monotonic() - started
        run = CliRun(list(args), status, out.read_text("utf-8", "replace"),
                     err.read_text("utf-8", "replace"), rss_kb / 1024, seconds, report_dir,
                     hung)
    results = report_dir / "results.json"
    if results.is_file():
        run.results = json.loads(results.read_text(encoding="utf-8"))
    return run


_IDLE_ZYGOTES: list[Zygote] = []  # this process's zygotes between runs, started as needed
_ZYGOTES_LOCK = threading.Lock()


def _spawn(argv: list[str], env: dict[str, str], cwd: Path, output: tuple[Path, Path],
           deadline: float, in_process: bool) -> tuple[int | None, int, bool]:
    """The run forked from an idle zygote of this process (tests/zygote.py), a new one when
    every zygote is busy with another thread's run (a test that runs several at once); a
    plain child when a zygote cannot be had."""
    out, err = output
    with contextlib.suppress(RuntimeError, OSError, ValueError):
        zygote = _idle_zygote(env)
        try:
            done = zygote.run(argv, env, cwd, out, err, deadline, in_process)
        except (RuntimeError, OSError, ValueError):
            zygote.close()
        else:
            with _ZYGOTES_LOCK:
                _IDLE_ZYGOTES.append(zygote)
            return done
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command(argv, in_process), stdout=stdout, stderr=stderr,
                                env=env, cwd=cwd, start_new_session=True)
        return _wait_or_kill(proc, deadline)


def _idle_zygote(env: Mapping[str, str]) -> Zygote:
    """A live zygote no other thread is using, taken out of the idle list; or a new one."""
    with _ZYGOTES_LOCK:
        while _IDLE_ZYGOTES:
            zygote = _IDLE_ZYGOTES.pop()
            if zygote.alive:
                return zygote
    return Zygote(env)


def seeded(args: Sequence[str]) -> list[str]:
    """ARGS with ``--seed SEED`` added unless they name a seed."""
    return list(args) if "--seed" in args else [*args, "--seed", SEED]


def _wait_or_kill(proc: subprocess.Popen[bytes], deadline: float
                  ) -> tuple[int | None, int, bool]:
    """``_wait``, and the child's group killed if the wait itself is interrupted (a per-test
    timeout, Ctrl-C): no run outlives the test that started it."""
    try:
        return _wait(proc, deadline)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.wait4(proc.pid, 0)
        raise


def _wait(proc: subprocess.Popen[bytes], deadline: float) -> tuple[int | None, int, bool]:
    """Reap the child with ``wait4`` (its own peak RSS); kill its group past the deadline."""
    hung = False
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            hung = True
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
    return (None if hung else proc.returncode), usage.ru_maxrss, hung


# --- the kill matrix ------------------------------------------------------------------------

@dataclass
class Row:
    """One fault's run: was it caught, and what else failed."""

    fault: str
    requirement: str
    level: str
    description: str
    exit_code: int | None
    verdict: str | None
    other_failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    evidence: str = ""
    leaks: list[str] = field(default_factory=list)
    note: str = ""  # why a run was inconclusive: its abort reason or first suite error
    groups: int = 0  # root-cause groups of the failures (conformance/judging/causes.py)
    own_first: bool = False  # the fault's requirement is among the first group's

    @property
    def reads_as_one_bug(self) -> bool:
        """At most two groups, the fault's own requirement in the first (issue's measure)."""
        return self.own_first and self.groups <= 2

    @property
    def killed(self) -> bool:
        return self.exit_code == 1 and self.verdict == "fail"


def gate_level(fault: Fault) -> str:
    """A SHOULD fault can only make the run fail when SHOULD gates it."""
    return "should" if BY_ID[fault.requirement].level == "SHOULD" else "must"


def fault_args(fault: Fault) -> list[str]:
    """The user's quick suite, gated at the fault's level: nothing hand-picked."""
    return ["--quick", "--level", gate_level(fault), "--reference-fault", fault.name,
            *KILL_HYPOTHESIS]


def run_fault(fault: Fault, base: Path, *, whole: bool = True, in_process: bool = True) -> Row:
    """The fault's run in ``base / fault.name``, as a row of the matrix. Not ``whole``: the run
    stops once the fault's requirement failed (tests/stop_at_kill.py), which settles whether it
    was killed but not what else failed. ``in_process``: the server in the run's own process
    (the wire is not what a row tests); over TCP otherwise."""
    stop = {} if whole else {"PYTEST_PLUGINS": PLUGIN, STOP_AT: fault.requirement}
    run = run_cli(fault_args(fault), base / fault.name, env=EMBEDDED_ENV | stop,
                  in_process=in_process)
    failed = run.summary.get("failed_requirements", [])
    evidence = ""
    if run.results is not None and run.verdict_of(fault.requirement) == "fail":
        shown = run.requirement(fault.requirement)["evidence"][:1]
        evidence = shown[0]["message"][:160] if shown else ""
    groups = run.summary.get("groups") or []
    return Row(fault.name, fault.requirement, gate_level(fault), fault.description,
               run.exit_code, run.verdict_of(fault.requirement),
               [r for r in failed if r != fault.requirement], round(run.seconds, 1), evidence,
               run.leaks(), _note(run), len(groups),
               bool(groups) and fault.requirement in groups[0]["requirements"])


def _note(run: CliRun) -> str:
    errors = run.summary.get("internal_errors") or []
    return str(run.summary.get("aborted") or (f"suite error: {errors[0]}" if errors else ""))


def kill_matrix(faults: Iterable[Fault], base: Path, workers: int = WORKERS) -> list[Row]:
    """Every fault's row, in catalog order, run ``workers`` at a time (for ``main``; the tests
    run one fault each, in parallel under pytest-xdist)."""
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda f: run_fault(f, base), faults))


def gaps(rows: Iterable[Row]) -> list[str]:
    """MUST and SHOULD requirements no fault made fail (with exit 1)."""
    failing = {r for row in rows if row.exit_code == 1
               for r in ([row.requirement] if row.verdict == "fail" else []) + row.other_failed}
    return [r.id for r in CATALOG if r.level != "OBSERVE" and r.id not in failing]


def undefended(faults: Iterable[Fault] = FAULTS) -> list[str]:
    """MUST and SHOULD requirements that have no fault of their own in the catalog."""
    targeted = {f.requirement for f in faults}
    return [r.id for r in CATALOG if r.level != "OBSERVE" and r.id not in targeted]


def to_json(rows: Sequence[Row]) -> dict[str, Any]:
    return {"rows": [asdict(r) | {"killed": r.killed} for r in rows],
            "killed": sum(r.killed for r in rows), "faults": len(rows),
            "missed": [r.fault for r in rows if not r.killed], "gaps": gaps(rows),
            "without_fault": undefended()}


def to_markdown(rows: Sequence[Row]) -> str:
    killed = sum(r.killed for r in rows)
    lines = [
        "# Kill matrix", "",
        "Generated by `python tests/killmatrix.py` and by the `exhaustive` lane",
        "(`pytest -m exhaustive`, which `.ci/run` runs). Each row runs the suite a user runs",
        "(`keepcall-conformance run --quick`, with `--level should` for SHOULD faults) against",
        "the embedded reference server with one fault of `conformance/reference/faults.py`",
        "(served in the run's own process over httpx's ASGITransport: the wire is not what a",
        "row tests; `tests/test_seam.py` shows the verdicts equal over TCP),",
        f"seeded (`--seed {SEED}`), its Hypothesis part bounded (`{' '.join(KILL_HYPOTHESIS)}`):",
        "each fault is caught with less search than a user's run does.",
        "A fault is **killed** when the run exits 1 with a failed verdict on the requirement",
        "the fault breaks.", "",
        f"**{killed} of {len(rows)} faults killed.** Root causes "
        "(`conformance/judging/causes.py`): the failures of "
        f"{sum(r.reads_as_one_bug for r in rows)} of {len(rows)} faults read as at most two "
        "groups with the fault's own requirement in the first.", "",
        "| fault | requirement | level | killed | verdict | exit | other failed requirements "
        "| note | groups | own first |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [f"| `{r.fault}` | {r.requirement} | {r.level} | {'yes' if r.killed else '**NO**'}"
              f" | {r.verdict} | {r.exit_code} | {', '.join(r.other_failed) or '-'}"
              f" | {r.note.replace('|', '/') or '-'} | {r.groups}"
              f" | {'yes' if r.own_first else 'no'} |" for r in rows]
    missing = gaps(rows)
    lines += ["", "## Gaps", "",
              "MUST and SHOULD requirements that no fault makes fail:", ""]
    lines += [f"- {g}: {BY_ID[g].title}" for g in missing] or ["- none"]
    lines += ["", "Requirements without a fault of their own (possibly failed by others):", ""]
    lines += [f"- {g}: {BY_ID[g].title}" for g in undefended()] or ["- none"]
    return "\n".join(lines) + "\n"


def write(rows: Sequence[Row], directory: Path, markdown_to: Path | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kill-matrix.json").write_text(json.dumps(to_json(rows), indent=2) + "\n",
                                                encoding="utf-8")
    markdown = to_markdown(rows)
    (directory / "kill-matrix.md").write_text(markdown, encoding="utf-8")
    if markdown_to is not None:
        markdown_to.write_text(markdown, encoding="utf-8")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kill-matrix-") as base:
        rows = kill_matrix(FAULTS, Path(base))
    write(rows, ROOT / "reports", ROOT / "docs" / "KILL-MATRIX.md")
    print(to_markdown(rows))
    return 0 if all(r.killed for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
