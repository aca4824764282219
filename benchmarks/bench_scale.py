"""How the suite scales: its own cost over the server's floor, what --workers buys against a slow
target, and how much memory a full run and its report take; all measured in one run.

a. The full matrix (``run --seed 1``) against the embedded server, timed as a child process,
   beside a floor measured here: one keep-alive httpx client sending as many KeepCall GETs as
   the run sent, sequentially, to a reference server in this process. The ratio says what the
   suite adds to the requests it must send (goal <= 1.5); the difference per case is its own
   cost in ms.
b. A target 50 ms away (``--reference-switch latency=50``): the quick matrix serially and with
   --workers 4 and 16 (each worker starts its own embedded server, each answer delayed). The
   speedup of 16 workers is the goal (>= 12).
c. Peak memory (the child's max RSS, from wait4) of the full run (goal < 250 MB), and the time
   and peak memory of ``report`` rebuilding the page from the full run's results.json.
d. With ``--workers N``: the full matrix again with --workers N, its largest process's peak and
   the peak of all its processes' memory together (PSS, sampled: pages the forked parts share
   counted once).

The floor's CPU is measured too, and on a shared machine CPU seconds are the figures to read:
the suite's CPU over the floor's (goal <= 1.5) and the suite's own CPU per case (goal <= 3 ms).
The requests per matrix case (results.json) are printed beside them.

Prints a table with each goal, writes benchmarks/results/scale.json (with the machine), and
exits 0 when every goal is met, 1 when one is missed, 2 when a run broke (not conformant: its
timing would mean nothing). Peak RSS of a --workers run is its largest single process, not the
sum of them (part d reports the sum). Run from the repository root, with nothing else heavy
running (about 9 minutes in all, the full run 4-5 of them; --quick-only runs part b alone,
about 2 minutes; --full-only parts a and c):
    PYTHONPATH=. python benchmarks/bench_scale.py [--quick-only | --full-only] [--work-dir DIR]
        [--workers N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import httpx

from conformance.reference import ReferenceServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"
SEED = "1"
LATENCY_MS = 50
WORKERS = (4, 16)
MAX_RATIO = 1.5
MIN_SPEEDUP = 12.0
MAX_RSS_MB = 250.0
MAX_OWN_MS = 3.0  # the suite's own CPU per case, over the floor's
SAMPLE_SECONDS = 0.25  # how often the memory of a run's processes is summed
RUN_TIMEOUT = 3600.0
NOISY_CORES = 0.25  # other processes' CPU, in cores, above which a timing is skewed
PACKAGES = ("httpx", "pytest", "hypothesis", "lxml", "uvicorn", "h11", "jinja2")
# What the --workers parent prints of its two phases (conformance/integration/workers.py).
_PHASE = re.compile(r"(parallel part|exclusive part)[^:,;\n]*: ([0-9.]+) s")


@dataclass(frozen=True)
class Child:
    """One command as a child process: wall time, peak RSS and exit code, its output's end (to
    show why a run broke), and the CPU other processes took meanwhile, in cores: how noisy the
    timing is. Steal is recorded, not judged: on a VM it grows with our own thread hand-offs
    (every wake-up of a halted vCPU), not only with the neighbours' load."""

    argv: list[str]
    wall_s: float
    peak_rss_mb: float
    exit_code: int
    output_tail: str
    cpu_s: float
    others_cores: float
    steal_cores: float
    peak_pss_sum_mb: float  # all the child's processes together (PSS), sampled


@dataclass(frozen=True)
class SuiteRun:
    """A ``run`` measured, with what its results.json says it did."""

    child: Child
    report_dir: str
    requests_sent: int
    cases: int
    verdict: str
    phases_s: dict[str, float]
    requests_per_matrix_case: float = 0.0

    @property
    def ok(self) -> bool:
        return self.child.exit_code == 0 and self.verdict == "conformant"


@dataclass(frozen=True)
class Goal:
    """A figure against its goal."""

    name: str
    value: float
    goal: str
    met: bool


def reap(child: subprocess.Popen[bytes]) -> tuple[int, Any]:
    """The child's wait status and its own rusage (wait4), killed past RUN_TIMEOUT."""
    watchdog = threading.Timer(RUN_TIMEOUT, child.kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(child.pid, 0)
    finally:
        watchdog.cancel()
    return status, usage


def measure(argv: list[str]) -> Child:
    """Run ``argv`` from the repository root; its own rusage by wait4, so the peak RSS is the
    child's (or its largest reaped descendant's), not this process's."""
    with tempfile.TemporaryFile() as output:
        busy, steal = busy_seconds()
        run = watched(argv, output)
        usage, wall = run.usage, run.wall
        cpu, (busy_after, steal_after) = usage.ru_utime + usage.ru_stime, busy_seconds()
        output.seek(0)
        tail = output.read().decode("utf-8", "replace")[-4000:]
    return Child(argv, round(wall, 3), round(usage.ru_maxrss / 1024, 1), run.exit_code, tail,
                 round(cpu, 1), round(max(busy_after - busy - cpu, 0.0) / wall, 2),
                 round((steal_after - steal) / wall, 2), round(run.peak_sum_mb, 1))


@dataclass
class Watched:
    """A child run to its end: its exit code, rusage (wait4), wall seconds and the peak of its
    process tree's memory summed (PSS), sampled while it ran."""

    exit_code: int
    usage: Any
    wall: float
    peak_sum_mb: float


def watched(argv: list[str], output: IO[bytes], env: dict[str, str] | None = None) -> Watched:
    """Run ``argv`` from the repository root to its end, its output to ``output``, sampling
    its tree's memory meanwhile (one way for both benchmarks)."""
    peak, started = [0.0], time.perf_counter()
    child = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    done = threading.Event()
    sampler = threading.Thread(target=sample, args=(child.pid, done, peak), daemon=True)
    sampler.start()
    try:
        status, usage = reap(child)
    finally:
        done.set()
    wall = time.perf_counter() - started
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    return Watched(child.returncode, usage, wall, peak[0])


def tree_pss_mb(root: int) -> float:
    """The proportional memory (PSS: pages shared by forked parts counted once in all) of
    ``root`` and its descendants now, in MB."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(stat[1]), []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text(encoding="ascii")
        except OSError:
            continue
        found = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        total += int(found[1]) if found else 0
    return total / 1024


def sample(pid: int, done: threading.Event, peak: list[float]) -> None:
    """Keep in ``peak[0]`` the most memory ``pid`` and its descendants held together."""
    while not done.wait(SAMPLE_SECONDS):
        peak[0] = max(peak[0], tree_pss_mb(pid))


def busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has run processes (user, nice, system: less a process's
    own CPU, what others took) and has had stolen by the hypervisor, from /proc/stat. Interrupts
    are left out: loopback traffic is handled there, so they grow with our own requests."""
    with open("/proc/stat", encoding="ascii") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, _irq, _softirq, steal = (ticks + [0] * 8)[:8]
    hertz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system) / hertz, steal / hertz


def suite_run(report_dir: Path, *options: str) -> SuiteRun:
    """``python -m conformance run --seed 1 -q`` with ``options``, into ``report_dir``."""
    argv = [sys.executable, "-m", "conformance", "run", "--seed", SEED, "-q",
            "--report-dir", str(report_dir), *options]
    print(f"  running: {' '.join(argv[1:])}", file=sys.stderr, flush=True)
    child = measure(argv)
    try:
        data = json.loads((report_dir / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    summary, target = data.get("summary", {}), data.get("target", {})
    phases = {name: float(seconds) for name, seconds in _PHASE.findall(child.output_tail)}
    run = SuiteRun(child, str(report_dir), int(target.get("requests_sent", 0)),
                   int(summary.get("cases", 0)), str(summary.get("verdict")), phases,
                   float(target.get("requests_per_matrix_case", 0.0)))
    print(f"    {child.wall_s:.1f} s, CPU {child.cpu_s:.0f} s, {child.peak_rss_mb:.0f} MB "
          f"(all processes {child.peak_pss_sum_mb:.0f} MB), {run.cases} cases, "
          f"{run.requests_sent} requests ({run.requests_per_matrix_case:.2f} per matrix case), "
          f"{run.verdict}", file=sys.stderr, flush=True)
    return run


def bare_loop(count: int) -> tuple[float, float, float, float]:
    """Seconds for ``count`` sequential keep-alive KeepCall GETs to a server in this process:
    what sending the run's requests costs with nothing else to do (the floor); the cores
    other processes and the hypervisor took meanwhile; and the CPU seconds the loop (client
    and server) took, the figure a busy machine changes least."""
    with ReferenceServer() as server, httpx.Client() as client:
        params = {"action": "KeepCall", "apiKey": server.open_api_key, "callID": "unknown"}
        client.get(server.api_url, params=params).raise_for_status()  # connected, warm
        (busy, steal), own = busy_seconds(), time.process_time()
        started = time.perf_counter()
        for _ in range(count):
            client.get(server.api_url, params=params)
        wall = time.perf_counter() - started
        cpu, (busy_after, steal_after) = time.process_time() - own, busy_seconds()
        return (wall, round(max(busy_after - busy - cpu, 0.0) / wall, 2),
                round((steal_after - steal) / wall, 2), cpu)


def full_matrix(work: Path) -> dict[str, Any]:
    """Part a (and the run part c reads): the full run against the floor."""
    run = suite_run(work / "full")
    print(f"  floor: {run.requests_sent} bare keep-alive GETs", file=sys.stderr, flush=True)
    floor, others, steal, cpu = bare_loop(run.requests_sent) if run.ok else (0.0,) * 4
    ratio = run.child.wall_s / floor if floor else 0.0
    own = (run.child.wall_s - floor) / run.cases * 1000 if run.cases else 0.0
    return {"run": asdict(run), "ok": run.ok, "bare_loop_s": round(floor, 3),
            "bare_loop_others_cores": others, "bare_loop_steal_cores": steal,
            "bare_loop_requests_per_s": round(run.requests_sent / floor) if floor else 0,
            "ratio": round(ratio, 3), "own_ms_per_case": round(own, 3),
            "bare_loop_cpu_s": round(cpu, 1),
            "cpu_ratio": round(run.child.cpu_s / cpu, 3) if cpu else 0.0,
            "own_cpu_ms_per_case": round((run.child.cpu_s - cpu) / run.cases * 1000, 3)
            if run.cases else 0.0}


def full_workers(work: Path, count: int) -> dict[str, Any]:
    """Part d: the full matrix with --workers ``count``: the largest process and the sum."""
    run = suite_run(work / f"full-workers-{count}", "--workers", str(count))
    return {"workers": count, "run": asdict(run), "ok": run.ok}


def latency_curve(work: Path) -> dict[str, Any]:
    """Part b: the quick matrix on a target LATENCY_MS away, serially and with workers."""
    switch = ("--reference-switch", f"latency={LATENCY_MS}")
    runs = {1: suite_run(work / "latency-1", "--quick", *switch)}
    for count in WORKERS:
        runs[count] = suite_run(work / f"latency-{count}", "--quick", *switch,
                                "--workers", str(count))
    serial = runs[1].child.wall_s
    return {"latency_ms": LATENCY_MS, "ok": all(run.ok for run in runs.values()),
            "runs": {str(count): asdict(run) for count, run in runs.items()},
            "speedup": {str(count): round(serial / runs[count].child.wall_s, 2)
                        for count in WORKERS}}


def report_rebuild(work: Path, results: Path) -> dict[str, Any]:
    """Part c: the page rebuilt from a full run's results.json, alone."""
    page = work / "rebuilt.html"
    child = measure([sys.executable, "-m", "conformance", "report", str(results), "-o",
                     str(page)])
    return {"child": asdict(child), "ok": child.exit_code == 0,
            "results_bytes": results.stat().st_size,
            "page_bytes": page.stat().st_size if page.is_file() else 0}


def machine() -> dict[str, Any]:
    """What the figures were measured on (they mean little without it)."""
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    meminfo = Path("/proc/meminfo").read_text(encoding="utf-8", errors="replace")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    memory = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(),
            "cpu_model": model.group(1).strip() if model else platform.processor(),
            "memory_mb": round(int(memory.group(1)) / 1024) if memory else None,
            "python": platform.python_version(), "platform": platform.platform(),
            "packages": versions, "commit": _commit()}


def _commit() -> str | None:
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                               capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip() + " (working tree may differ)"


def goals(results: dict[str, Any]) -> list[Goal]:
    """Each measured figure against its goal (a part not run has none)."""
    found = []
    if "full" in results:
        full = results["full"]
        found += [Goal("full run / bare loop (wall)", full["ratio"], f"<= {MAX_RATIO}",
                       0 < full["ratio"] <= MAX_RATIO),
                  Goal("full run / bare loop (CPU)", full["cpu_ratio"], f"<= {MAX_RATIO}",
                       0 < full["cpu_ratio"] <= MAX_RATIO),
                  Goal("own CPU per case (ms)", full["own_cpu_ms_per_case"],
                       f"<= {MAX_OWN_MS:g}", 0 < full["own_cpu_ms_per_case"] <= MAX_OWN_MS),
                  Goal("full run peak RSS (MB)", full["run"]["child"]["peak_rss_mb"],
                       f"< {MAX_RSS_MB:.0f}", full["run"]["child"]["peak_rss_mb"] < MAX_RSS_MB)]
    if "latency" in results:
        speedup = results["latency"]["speedup"][str(WORKERS[-1])]
        found.append(Goal(f"speedup of --workers {WORKERS[-1]} at {LATENCY_MS} ms", speedup,
                          f">= {MIN_SPEEDUP:g}", speedup >= MIN_SPEEDUP))
    return found


def table(results: dict[str, Any], checked: list[Goal]) -> str:
    """The figures, then the goals."""
    host = results["machine"]
    lines = [f"machine: {host['nproc']} CPUs ({host['cpu_model']}), {host['memory_mb']} MB, "
             f"Python {host['python']}; load {results['load_before']} -> "
             f"{results['load_after']}"]
    if "full" in results:
        full, run = results["full"], results["full"]["run"]
        lines += [
            f"full matrix   {run['cases']:6d} cases {run['requests_sent']:7d} requests  "
            f"suite {run['child']['wall_s']:7.1f} s  floor {full['bare_loop_s']:6.1f} s "
            f"({full['bare_loop_requests_per_s']} req/s)  ratio {full['ratio']:.2f}  "
            f"own {full['own_ms_per_case']:.2f} ms/case  peak {run['child']['peak_rss_mb']:.0f} MB"
            f"  {run['verdict']}",
            f"{'':14}CPU: suite {run['child']['cpu_s']:.1f} s, floor "
            f"{full['bare_loop_cpu_s']:.1f} s, ratio {full['cpu_ratio']:.2f}, own "
            f"{full['own_cpu_ms_per_case']:.2f} ms/case; "
            f"{run['requests_per_matrix_case']:.2f} requests per matrix case",
            f"{'':14}noise, in cores: others {run['child']['others_cores']:.2f} and "
            f"{full['bare_loop_others_cores']:.2f}, steal {run['child']['steal_cores']:.2f} and "
            f"{full['bare_loop_steal_cores']:.2f} (suite and floor)"]
    if "workers" in results:
        parted = results["workers"]["run"]
        lines.append(f"full, {results['workers']['workers']} workers  "
                     f"{parted['child']['wall_s']:7.1f} s  CPU {parted['child']['cpu_s']:.1f} s  "
                     f"peak {parted['child']['peak_rss_mb']:.0f} MB the largest process, "
                     f"{parted['child']['peak_pss_sum_mb']:.0f} MB all together  "
                     f"{parted['verdict']}")
    if "report" in results:
        rebuilt = results["report"]
        lines.append(f"report alone  {rebuilt['child']['wall_s']:7.1f} s  peak "
                     f"{rebuilt['child']['peak_rss_mb']:.0f} MB  results.json "
                     f"{rebuilt['results_bytes'] / 1e3:.0f} KB -> page "
                     f"{rebuilt['page_bytes'] / 1e3:.0f} KB")
    if "latency" in results:
        latency = results["latency"]
        for count, run in latency["runs"].items():
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in run["phases_s"].items())
            speedup = latency["speedup"].get(count)
            lines.append(
                f"{LATENCY_MS} ms, {'serial' if count == '1' else count + ' workers':>10}  "
                f"{run['cases']:4d} cases  {run['child']['wall_s']:7.1f} s"
                f"{f'  speedup {speedup:.2f}' if speedup else '':16}  {run['verdict']}"
                f"{f'  ({phases})' if phases else ''}  "
                f"(noise: others {run['child']['others_cores']:.2f}, steal "
                f"{run['child']['steal_cores']:.2f} cores)")
    lines += [f"goal: {g.name:40} {g.value:8.2f}  {g.goal:7}  {'met' if g.met else 'MISSED'}"
              for g in checked]
    if noisy := noise(results):
        lines.append(f"warning: other processes took more than {NOISY_CORES:g} of a core during "
                     f"{', '.join(noisy)}: those timings are slower than on a quiet machine")
    return "\n".join(lines)


def noise(results: dict[str, Any]) -> list[str]:
    """The measurements during which other processes took CPU enough to skew them."""
    measured: list[tuple[str, float]] = []
    if "full" in results:
        measured += [("the full run", results["full"]["run"]["child"]["others_cores"]),
                     ("the floor", results["full"]["bare_loop_others_cores"])]
    for count, run in results.get("latency", {}).get("runs", {}).items():
        measured.append((f"the {LATENCY_MS} ms run with {count} process(es)",
                         run["child"]["others_cores"]))
    return [f"{what} ({others:.2f})" for what, others in measured if others > NOISY_CORES]


def broken(results: dict[str, Any]) -> list[str]:
    """The runs whose figures cannot stand, with the end of their output."""
    runs = [results["full"]["run"]] if "full" in results else []
    runs += [results["workers"]["run"]] if "workers" in results else []
    runs += list(results["latency"]["runs"].values()) if "latency" in results else []
    problems = [f"{' '.join(r['child']['argv'][1:])}: exit {r['child']['exit_code']}, "
                f"verdict {r['verdict']}\n{r['child']['output_tail'][-1500:]}"
                for r in runs if not (r["child"]["exit_code"] == 0 and r["verdict"] ==
                                      "conformant")]
    if "report" in results and not results["report"]["ok"]:
        problems.append(f"report: exit {results['report']['child']['exit_code']}\n"
                        f"{results['report']['child']['output_tail'][-1500:]}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick-only", action="store_true",
                        help="only part b (the quick matrix at 50 ms latency), no full run")
    parser.add_argument("--full-only", action="store_true",
                        help="only parts a and c (the full run, its floor, the page), no part b")
    parser.add_argument("--workers", type=int, default=0,
                        help="part d too: the full matrix with --workers N (memory summed)")
    parser.add_argument("--work-dir", type=Path,
                        help="keep every run's reports here (default: a temporary directory)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as scratch:
        work = args.work_dir or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        results: dict[str, Any] = {
            "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(), "load_before": [round(x, 2) for x in os.getloadavg()],
            "goals": {"max_ratio": MAX_RATIO, "min_speedup": MIN_SPEEDUP,
                      "max_rss_mb": MAX_RSS_MB, "max_own_ms": MAX_OWN_MS}}
        if not args.quick_only:
            print("a. full matrix, then the floor", file=sys.stderr, flush=True)
            results["full"] = full_matrix(work)
            print("c. the page rebuilt from the full run", file=sys.stderr, flush=True)
            results["report"] = report_rebuild(work, work / "full" / "results.json")
            if args.workers:
                print(f"d. full matrix, --workers {args.workers}", file=sys.stderr, flush=True)
                results["workers"] = full_workers(work, args.workers)
        if not args.full_only:
            print(f"b. quick matrix at {LATENCY_MS} ms: serial, then workers", file=sys.stderr,
                  flush=True)
            results["latency"] = latency_curve(work)
        results["load_after"] = [round(x, 2) for x in os.getloadavg()]
    checked = goals(results)
    results["checked"] = [asdict(goal) for goal in checked]
    problems = broken(results)
    results["broken"] = problems
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(table(results, checked))
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    for problem in problems:
        print(f"BROKEN RUN (its figures cannot stand): {problem}", file=sys.stderr)
    if problems:
        return 2
    return 0 if all(goal.met for goal in checked) else 1


if __name__ == "__main__":
    sys.exit(main())
