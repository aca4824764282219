"""A generic API fuzzer (Schemathesis) against this suite, fault by fault of the reference server.

The suite should find at least everything a generic fuzzer given the API's OpenAPI document
finds. For each fault of conformance/reference/faults.py (read at run time, so new faults are
included), and once without a fault:
- Schemathesis runs docs/openapi.yaml against an embedded reference server with that fault,
  authenticated by the open API key (a key that needs no token) as a fixed parameter value. Its
  checks: every standard one except negative_data_rejection (KeepCall answers invalid requests
  with an error in a 200 body, which that check flags on a conformant server), plus
  xml_well_formed from benchmarks/fuzz_checks.py. The fault-free line shows the checks are valid.
- The suite runs as a user runs it: `keepcall-conformance run --quick --seed 1 --level should
  --reference-fault NAME` (as `python -m conformance`, this interpreter's copy); exit 1 is a
  detection, fault-free it must exit 0.
Both are seeded; at most two runs at a time (the suite's runs are CPU bound). Requests per
second: Schemathesis's from its HAR log, the suite's from results.json. Run (repository root):
    pip install -e '.[bench]'
    python benchmarks/compare_fuzzers.py [--faults a,b] [--examples N] [--workers N]
The table is printed and written to reports/compare-fuzzers.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.reference import FAULTS, ReferenceServer, Switches

ROOT = Path(__file__).resolve().parent.parent
OPENAPI = ROOT / "docs" / "openapi.yaml"
HOOKS = ROOT / "benchmarks" / "fuzz_checks.py"
REPORT = ROOT / "reports" / "compare-fuzzers.md"
SEED = "1"
EXAMPLES = 100
WORKERS = 2
FUZZ_TIMEOUT = 600.0
SUITE_TIMEOUT = 900.0
NO_FAULT = "(none)"
# Nothing from the developer's shell: no credentials, no Hypothesis database of other runs.
_DROP = ("KEEPCALL_", "SCHEMATHESIS_", "HYPOTHESIS_")


@dataclass(frozen=True)
class Outcome:
    """One tool on one target. ``detected`` None: the run broke (``detail`` says how)."""

    detected: bool | None
    detail: str
    requests: int
    seconds: float

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "no", None: "ERROR"}[self.detected]

    @property
    def rate(self) -> str:
        return f"{self.requests / self.seconds:.0f}" if self.requests and self.seconds else "-"

    @property
    def volume(self) -> str:
        return f"{self.rate} ({self.requests} in {self.seconds:.1f} s)" if self.requests else "-"


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_DROP)}


def _run(args: Sequence[str], work: Path, timeout: float, **env: str) -> int | None:
    """Exit code of a child run in ``work`` (output kept there); None when it timed out."""
    with (work / "stdout.txt").open("wb") as out, (work / "stderr.txt").open("wb") as err:
        try:
            return subprocess.run(args, cwd=work, stdout=out, stderr=err, timeout=timeout,
                                  env={**_env(), **env}, check=False).returncode
        except subprocess.TimeoutExpired:
            return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


def _check_name(failure: dict[str, Any]) -> str:
    """A failure as Schemathesis titles it; a custom check by its name."""
    title = str(failure.get("title", failure.get("code", "?")))
    return title.removeprefix("Custom check failed: ").strip("`")


def run_schemathesis(fault: str | None, examples: int, work: Path) -> Outcome:
    with ReferenceServer(Switches(), {fault} if fault else ()) as server:
        key = json.dumps(server.open_api_key)  # a TOML basic string
        config = work / "schemathesis.toml"
        config.write_text(f'[parameters]\n"query.apiKey" = {key}\n"body.apiKey" = {key}\n',
                          encoding="utf-8")
        args = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run",
                str(OPENAPI), "--url", server.base_url, "--checks", "all",
                "--exclude-checks", "negative_data_rejection", "--max-examples", str(examples),
                "--workers", "1", "--seed", SEED, "--generation-database", "none", "--no-color",
                "--report", "json,har", "--report-json-path", str(work / "run.json"),
                "--report-har-path", str(work / "run.har")]
        code = _run(args, work, FUZZ_TIMEOUT, SCHEMATHESIS_HOOKS=str(HOOKS))
    report, har = _read_json(work / "run.json"), _read_json(work / "run.har")
    if code is None or report is None:
        return Outcome(None, "timed out" if code is None else f"no report (exit {code})", 0, 0)
    requests = len(har["log"]["entries"]) if har else 0
    seconds = float(report.get("running_time", 0))
    if report.get("errors"):
        return Outcome(None, f"{len(report['errors'])} errors (exit {code})", requests, seconds)
    failed = sorted({_check_name(f) for f in report.get("failures", [])})
    return Outcome(bool(failed), ", ".join(failed) or "-", requests, seconds)


def run_suite(fault: str | None, work: Path) -> Outcome:
    args = [sys.executable, "-m", "conformance", "run", "--quick", "--seed", SEED, "--level",
            "should", "--report-dir", str(work)] + (["--reference-fault", fault] if fault else [])
    code = _run(args, work, SUITE_TIMEOUT)
    results = _read_json(work / "results.json")
    if code is None or results is None or code not in (0, 1):
        return Outcome(None, "timed out" if code is None else f"exit {code}", 0, 0)
    failed = results["summary"]["failed_requirements"]
    return Outcome(code == 1, ", ".join(failed) or "-", results["target"]["requests_sent"],
                   results["suite"]["duration_seconds"])


@dataclass(frozen=True)
class Row:
    fault: str
    requirement: str
    fuzzer: Outcome
    suite: Outcome


def compare(faults: Sequence[str | None], examples: int, workers: int,
            keep: Path | None = None) -> list[Row]:
    """Both tools on every target, at most ``workers`` runs at a time; rows in ``faults`` order.
    Each run's output goes to a folder of ``keep`` (default: a temporary one)."""
    requirement = {f.name: f.requirement for f in FAULTS}
    with tempfile.TemporaryDirectory(prefix="compare-fuzzers-") as tmp:
        def job(tool: str, fault: str | None) -> Outcome:
            work = (keep or Path(tmp)) / f"{tool}-{fault or 'none'}"
            work.mkdir(parents=True, exist_ok=True)
            outcome = (run_schemathesis(fault, examples, work) if tool == "schemathesis"
                       else run_suite(fault, work))
            print(f"  {tool:<12} {fault or NO_FAULT:<32} detected: {outcome.verdict}",
                  file=sys.stderr, flush=True)
            return outcome

        with ThreadPoolExecutor(workers) as pool:
            fuzzed = [pool.submit(job, "schemathesis", f) for f in faults]
            suited = [pool.submit(job, "suite", f) for f in faults]
            return [Row(f or NO_FAULT, requirement.get(f or "", "-"), a.result(), b.result())
                    for f, a, b in zip(faults, fuzzed, suited, strict=True)]


def conclusion(rows: Sequence[Row]) -> str:
    faulty = [r for r in rows if r.fault != NO_FAULT]
    missed = [r.fault for r in faulty if r.fuzzer.detected and not r.suite.detected]
    found = [r.fault for r in faulty if r.fuzzer.detected]
    if missed:
        return f"every fault the generic fuzzer detects, we detect: no ({', '.join(missed)})"
    return f"every fault the generic fuzzer detects, we detect: yes ({', '.join(found) or '-'})"


def markdown(rows: Sequence[Row], examples: int, seconds: float) -> str:
    faulty = [r for r in rows if r.fault != NO_FAULT]
    counts = (f"Schemathesis detects {sum(1 for r in faulty if r.fuzzer.detected)} of "
              f"{len(faulty)} faults, the suite {sum(1 for r in faulty if r.suite.detected)}.")
    lines = ["# Schemathesis against the suite, fault by fault", "",
             "Generated by `python benchmarks/compare_fuzzers.py` (see docs/FUZZERS.md): "
             f"Schemathesis with docs/openapi.yaml, `--max-examples {examples} --seed {SEED}`; "
             f"the suite with `run --quick --seed {SEED} --level should`. "
             f"Took {seconds / 60:.1f} min.", "", counts, "",
             "| fault | requirement | Schemathesis | its failed checks | req/s (requests in time) "
             "| suite | its failed requirements | req/s (requests in time) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r.fault}` | {r.requirement} | {r.fuzzer.verdict} | "
                     f"{r.fuzzer.detail} | {r.fuzzer.volume} | {r.suite.verdict} | "
                     f"{r.suite.detail} | {r.suite.volume} |")
    return "\n".join([*lines, "", f"**{conclusion(rows)}**", ""])


def table(rows: Sequence[Row]) -> str:
    line = "{:<32} {:<13} {:<13} {:>6}   {:<6} {:>6}   {}"
    return "\n".join([line.format("fault", "requirement", "schemathesis", "req/s", "suite",
                                   "req/s", "schemathesis's failed checks"),
                      *(line.format(r.fault, r.requirement, r.fuzzer.verdict, r.fuzzer.rate,
                                    r.suite.verdict, r.suite.rate, r.fuzzer.detail)
                        for r in rows)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--faults", help="comma-separated fault names (default: every fault)")
    parser.add_argument("--examples", type=int, default=EXAMPLES,
                        help=f"Schemathesis --max-examples per operation (default {EXAMPLES})")
    parser.add_argument("--workers", type=int, default=WORKERS,
                        help=f"runs at a time (default {WORKERS})")
    parser.add_argument("--keep", type=Path, help="keep each run's output in this folder")
    args = parser.parse_args(argv)
    known = [f.name for f in FAULTS]
    chosen = args.faults.split(",") if args.faults else known
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}")
    # Quiet the servers' "Invalid HTTP request received": the fuzzer sends such requests.
    logging.getLogger("uvicorn.error").addFilter(lambda record: record.levelno > logging.WARNING)
    start = time.perf_counter()
    rows = compare([None, *chosen], args.examples, max(1, args.workers), args.keep)
    seconds = time.perf_counter() - start
    print(table(rows))
    print(conclusion(rows))
    print(f"took {seconds:.0f} s; details in {REPORT.relative_to(ROOT)}")
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(markdown(rows, args.examples, seconds), encoding="utf-8")
    fault_free = rows[0]
    return 0 if fault_free.fuzzer.detected is False and fault_free.suite.detected is False else 1


if __name__ == "__main__":
    raise SystemExit(main())
