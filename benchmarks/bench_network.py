"""A target across a network: the suite against a KeepCall server in another process whose every
answer, API and control protocol alike, waits ``latency`` ms (``keepcall-conformance serve
--switch latency=N``), at 0, 20 and 50 ms, full matrix and --quick, serially and with --workers.

For each run: the wall time, the CPU seconds of the suite's processes (the run and its forked
parts, from wait4) and of the server's, the requests per case (API and control: results.json's
``requests_sent`` over its cases), the peak RSS of the largest suite process and the peak of
their proportional sum (PSS, sampled every 0.25 s), and whether its verdicts are those of the
serial run of the same matrix and latency (requirement by requirement: verdict and failed cases;
untested counts and readings that differ are listed, since the searches' wall-clock budget may
move them). The other processes' CPU meanwhile is recorded too, as in bench_scale.py:
on a busy machine a timing is slower than on a quiet one.

Goals (issue 20, on 2 cores): the full matrix at 20 ms within 90 s and at 50 ms within 180 s;
--quick at 20 ms within 20 s; identical verdicts to a serial run in every configuration.
A full sweep is long (a serial full run at 20 ms sends ~90,000 requests: half an hour): choose
what to run. From the repository root:
    PYTHONPATH=. python benchmarks/bench_network.py [--latency 0,20,50] [--matrix quick,full]
        [--mode serial,workers] [--workers 8] [--quick-only] [--examples N] [--work-dir DIR]
Writes benchmarks/results/network.json (``--results`` elsewhere) with the machine; exits 0 when
every goal measured is met, 1 when one is missed, 2 when a run broke (exit code or verdict).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_scale import busy_seconds, machine, watched

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "network.json"
SEED = "1"
LATENCIES = (0, 20, 50)
WORKERS = 8
# (matrix, latency ms) -> the most seconds a run may take, in any mode (issue 20).
GOALS: dict[tuple[str, int], float] = {("full", 20): 90.0, ("full", 50): 180.0,
                                       ("quick", 20): 20.0}
_URL = re.compile(r"^(API URL|control URL)\s+(\S+)$", re.M)
_PHASE = re.compile(r"(parallel part|exclusive part)[^:,;\n]*: ([0-9.]+) s")


@dataclass(frozen=True)
class Target:
    """The server process: where it answers, its secrets (for the run's environment)."""

    api_url: str
    control_url: str
    env: dict[str, str] = field(repr=False)
    pid: int


@dataclass
class Measured:
    """One run of the suite against the target."""

    matrix: str
    latency_ms: int
    mode: str
    argv: list[str]
    wall_s: float = 0.0
    suite_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    peak_rss_sum_mb: float = 0.0
    exit_code: int = -1
    verdict: str = ""
    cases: int = 0
    requests: int = 0
    requests_per_case: float = 0.0
    counters: dict[str, Any] = field(default_factory=dict)
    phases_s: dict[str, float] = field(default_factory=dict)
    others_cores: float = 0.0
    same_verdicts_as_serial: bool | None = None
    # Beside the verdicts: untested counts and readings, which the property searches' wall-clock
    # budget may move (each part of a --workers run has its own; two serial runs may differ too).
    differences: dict[str, list[Any]] = field(default_factory=dict)
    verdicts: dict[str, list[Any]] = field(default_factory=dict, repr=False)
    output_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.verdict == "conformant"


@contextmanager
def serving(latency: int) -> Iterator[Target]:
    """``keepcall-conformance serve`` in its own process, on a free port, until the block ends."""
    env = dict(os.environ, KEEPCALL_API_KEY=secrets.token_hex(16), KEEPCALL_USERNAME="bench",
               KEEPCALL_PASSWORD=secrets.token_urlsafe(12))
    env["KEEPCALL_OPEN_API_KEY"] = open_key = secrets.token_hex(16)
    argv = [sys.executable, "-m", "conformance", "serve", "--port", "0",
            "--switch", f"latency={latency}", "--open-api-key", open_key]
    server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        banner = _banner(server)
        urls = dict(_URL.findall(banner))
        yield Target(urls["API URL"], urls["control URL"], env, server.pid)
    finally:
        server.terminate()
        server.wait(10)


def _banner(server: subprocess.Popen[str]) -> str:
    """The serve banner, up to its last line (the URLs are in it)."""
    assert server.stdout is not None
    lines = []
    for line in server.stdout:
        lines.append(line)
        if line.startswith("Ctrl-C"):
            return "".join(lines)
    raise RuntimeError("serve ended before it answered: " + "".join(lines)[-2000:])


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def suite_run(target: Target, run: Measured, report_dir: Path) -> Measured:
    """Run the suite as a child; fill ``run`` from its rusage, the samples and results.json."""
    argv = [sys.executable, "-m", "conformance", "run", "--seed", SEED, "-q", "--target",
            target.api_url, "--control-url", target.control_url, "--report-dir",
            str(report_dir), *run.argv]
    print(f"  {run.matrix} {run.latency_ms} ms {run.mode}: {' '.join(run.argv)}",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryFile() as output:
        (busy, _), server_cpu = busy_seconds(), cpu_of(target.pid)
        child = watched(argv, output, env=target.env)
        usage = child.usage
        run.wall_s, run.exit_code = round(child.wall, 2), child.exit_code
        run.suite_cpu_s = round(usage.ru_utime + usage.ru_stime, 1)
        run.server_cpu_s = round(cpu_of(target.pid) - server_cpu, 1)
        others = busy_seconds()[0] - busy - run.suite_cpu_s - run.server_cpu_s
        run.others_cores = round(max(others, 0.0) / run.wall_s, 2)
        run.peak_rss_mb = round(usage.ru_maxrss / 1024, 1)
        run.peak_rss_sum_mb = round(child.peak_sum_mb, 1)
        output.seek(0)
        run.output_tail = output.read().decode("utf-8", "replace")[-3000:]
    _read_results(run, report_dir / "results.json")
    print(f"    {run.wall_s:.1f} s, CPU {run.suite_cpu_s:.0f} + {run.server_cpu_s:.0f} s, "
          f"{run.requests_per_case:.2f} requests/case, {run.peak_rss_mb:.0f} MB "
          f"(sum {run.peak_rss_sum_mb:.0f}), {run.verdict}", file=sys.stderr, flush=True)
    return run


def _read_results(run: Measured, path: Path) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    summary, target = data.get("summary", {}), data.get("target", {})
    run.verdict, run.cases = str(summary.get("verdict")), int(summary.get("cases", 0))
    run.requests = int(target.get("requests_sent", 0))
    run.requests_per_case = round(run.requests / run.cases, 3) if run.cases else 0.0
    # Whatever request counters the run keeps (control requests, batches, ...), as they are.
    run.counters = {k: v for k, v in target.items() if "request" in k or "batch" in k}
    run.phases_s = {name: float(s) for name, s in _PHASE.findall(run.output_tail)}
    run.verdicts = {r["id"]: [r["verdict"], r["failed"], r.get("not_tested"),
                              sorted(r["observations"])] for r in data.get("requirements", [])}


def plan(args: argparse.Namespace) -> list[tuple[str, int, str, list[str]]]:
    """(matrix, latency, mode, options) of each run asked for; serial first in each group."""
    runs = []
    for latency in args.latency:
        for matrix in args.matrix:
            for mode in args.mode:
                options = (["--quick"] if matrix == "quick" else []) + (
                    ["--workers", str(args.workers)] if mode == "workers" else []) + (
                    ["--examples", str(args.examples)] if args.examples else [])
                runs.append((matrix, latency, mode, options))
    return runs


def measure_all(args: argparse.Namespace, work: Path) -> list[Measured]:
    """Every planned run, each against a fresh server (no run sees another's calls)."""
    done: list[Measured] = []
    for matrix, latency, mode, options in plan(args):
        with serving(latency) as target:
            run = Measured(matrix, latency, mode, options)
            done.append(suite_run(target, run, work / f"{matrix}-{latency}-{mode}"))
    for run in done:
        serial = next((r for r in done if (r.matrix, r.latency_ms, r.mode) ==
                       (run.matrix, run.latency_ms, "serial")), None)
        if serial is not None and run is not serial and serial.verdicts:
            run.same_verdicts_as_serial = _judged(run) == _judged(serial)
            run.differences = {rid: [serial.verdicts.get(rid), seen]
                               for rid, seen in run.verdicts.items()
                               if serial.verdicts.get(rid) != seen}
    return done


def _judged(run: Measured) -> dict[str, list[Any]]:
    """Each requirement's verdict and failed cases: what must not depend on how a run is split."""
    return {rid: found[:2] for rid, found in run.verdicts.items()}


def goals(runs: Sequence[Measured]) -> list[dict[str, Any]]:
    """Each run a goal applies to, against it; and every verdict comparison made."""
    checked = [{"name": f"{r.matrix} matrix at {r.latency_ms} ms, {r.mode}", "value": r.wall_s,
                "goal": f"<= {GOALS[(r.matrix, r.latency_ms)]:g} s",
                "met": r.wall_s <= GOALS[(r.matrix, r.latency_ms)]}
               for r in runs if (r.matrix, r.latency_ms) in GOALS]
    checked += [{"name": f"{r.matrix} matrix at {r.latency_ms} ms, {r.mode}: verdicts",
                 "value": float(bool(r.same_verdicts_as_serial)), "goal": "as serial",
                 "met": bool(r.same_verdicts_as_serial)}
                for r in runs if r.same_verdicts_as_serial is not None]
    return checked


def table(runs: Sequence[Measured], checked: Sequence[dict[str, Any]], host: dict[str, Any]
          ) -> str:
    lines = [f"machine: {host['nproc']} CPUs ({host['cpu_model']}), {host['memory_mb']} MB, "
             f"Python {host['python']}",
             f"{'run':28} {'wall s':>8} {'suite CPU':>9} {'server CPU':>10} {'req/case':>8} "
             f"{'peak MB':>7} {'sum MB':>7} {'others':>6}  verdict"]
    for r in runs:
        phases = ", ".join(f"{k} {v:.1f} s" for k, v in r.phases_s.items())
        lines.append(f"{f'{r.matrix} {r.latency_ms} ms {r.mode}':28} {r.wall_s:8.1f} "
                     f"{r.suite_cpu_s:9.1f} {r.server_cpu_s:10.1f} {r.requests_per_case:8.2f} "
                     f"{r.peak_rss_mb:7.0f} {r.peak_rss_sum_mb:7.0f} {r.others_cores:6.2f}  "
                     f"{r.verdict}{f' ({phases})' if phases else ''}")
    lines += [f"goal: {g['name']:42} {g['value']:8.2f}  {g['goal']:9}  "
              f"{'met' if g['met'] else 'MISSED'}" for g in checked]
    return "\n".join(lines)


def _csv(kind: type, allowed: Sequence[Any] | None = None) -> Any:
    def parse(text: str) -> list[Any]:
        values = [kind(v) for v in text.split(",") if v]
        if allowed is not None and any(v not in allowed for v in values):
            raise argparse.ArgumentTypeError(f"choose from {', '.join(map(str, allowed))}")
        return values
    return parse


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=_csv(int), default=list(LATENCIES),
                        help="ms each answer waits, comma-separated (default 0,20,50)")
    parser.add_argument("--matrix", type=_csv(str, ("quick", "full")),
                        default=["quick", "full"], help="quick,full (default both)")
    parser.add_argument("--mode", type=_csv(str, ("serial", "workers")),
                        default=["serial", "workers"], help="serial,workers (default both)")
    parser.add_argument("--quick-only", action="store_true", help="--matrix quick")
    parser.add_argument("--workers", type=int, default=WORKERS, help="N of --workers runs")
    parser.add_argument("--examples", type=int, help="pass --examples N to every run")
    parser.add_argument("--work-dir", type=Path, help="keep every run's reports here")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.quick_only:
        args.matrix = ["quick"]
    with tempfile.TemporaryDirectory(prefix="bench-network-") as scratch:
        work = args.work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        load = [round(x, 2) for x in os.getloadavg()]
        runs = measure_all(args, work)
    host, checked = machine(), goals(runs)
    results = {"when": started, "machine": host, "load_before": load,
               "load_after": [round(x, 2) for x in os.getloadavg()],
               "goals_s": {f"{m} {lat} ms": s for (m, lat), s in GOALS.items()},
               "runs": [{k: v for k, v in asdict(r).items() if k != "verdicts"} for r in runs],
               "checked": checked}
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(runs, checked, host))
    print(f"wrote {args.results}")
    broken = [r for r in runs if not r.ok]
    for run in broken:
        print(f"BROKEN RUN: {run.matrix} {run.latency_ms} ms {run.mode}: exit {run.exit_code}, "
              f"verdict {run.verdict}\n{run.output_tail[-1500:]}", file=sys.stderr)
    if broken:
        return 2
    return 0 if all(g["met"] for g in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
