"""Report writers: results.json and the terminal summary (``page.py`` writes report.html).

They read only the ledger and the run's metadata, never secrets: the target URL is shown without
its query string and user info, and every piece of evidence was redacted when it was recorded.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

from conformance import DISTRIBUTION, __version__
from conformance.judging.consistency import CASE as READINGS_CASE
from conformance.judging.consistency import Readings
from conformance.judging.ledger import EXIT_CODES, Ledger
from conformance.judging.wording import Wording
from conformance.reports.expect import Expected, apply
from conformance.reports.expect import summary_lines as expected_lines
from conformance.wire import sink

SPEC = "KeepCall HTTP API page (keepcall-api.txt) with envelope-notes.md"
_VERDICT_ORDER = {"fail": 0, "not-tested": 1, "pass": 2, "observed": 3}


MAX_SHOWN_GROUPS = 20
RESULTS_SCHEMA = "results.schema.json"  # schemas/: what results.json holds
# The files a run writes in its report directory (page.PAGE_NAME beside them). cases.json.gz
# holds every case with its checks, and what merging parts of a run needs (compact JSON,
# gzipped: a full run's is about 10 MB as JSON, 150 KB gzipped).
RESULTS_NAME, JUNIT_NAME, PART_NAME = "results.json", "junit.xml", "cases.json.gz"

def public_url(url: str | None) -> str | None:
    """A URL without user info, query or fragment: safe to print anywhere."""
    if url is None:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def results(ledger: Ledger, level: str, suite: Mapping[str, Any],
            target: Mapping[str, Any], allow_untested: bool = False,
            transport_failures: int = 0) -> dict[str, Any]:
    """The results.json data. ``transport_failures`` is the client's count (every request of
    the run, control and probes too): the one the circuit breaker reads."""
    verdict = ledger.verdict(level, allow_untested)  # type: ignore[arg-type]
    untested = ledger.untested_gating(level)  # type: ignore[arg-type]
    summary = {"verdict": verdict, "exit_code": EXIT_CODES[verdict], "level": level,
               "allow_untested": allow_untested,
               "requirements": ledger.counts(), "cases": ledger.cases_run,
               "failed_requirements": [e.requirement.id for e in ledger.failed(
                   level)],  # type: ignore[arg-type]
               "untested_gating": untested,
               "untested_gating_requirements": untested,  # the older name, kept for readers
               "transport_failures": transport_failures, "aborted": ledger.aborted,
               "cut_short": ledger.cut_short,
               "internal_errors": ledger.internal_errors[:20],
               "suite_notes": ledger.suite_notes[:20], "searches": ledger.searches,
               "failed_cases": ledger.causes.failed_cases,
               "groups_total": len(ledger.causes.groups),
               "groups": [g.to_json() for g in ledger.causes.ordered()[:MAX_SHOWN_GROUPS]]}
    return {"suite": {"name": DISTRIBUTION, "version": __version__, "spec": SPEC,
                      **suite},
            "target": dict(target),
            "requirements": [e.to_json() for e in ledger.entries.values()],
            "summary": summary}


def finished(ledger: Ledger, wording: Wording, meta: Mapping[str, Any],
             expected: Sequence[Expected] = (), readings: Readings | None = None,
             ) -> dict[str, Any]:
    """The results.json data of a run, or of parts merged: the wording and the readings are
    compared over every answer first (run-wide checks); known failures (--expect) judged
    last."""
    found = wording.checks()
    if found:
        ledger.record("wording", found)
    if readings is not None:  # a case only where some answer showed a reading
        ledger.record(READINGS_CASE, readings.checks(), counted=bool(readings.seen))
    data = results(ledger, meta["level"], meta["suite"], meta["target"],
                   meta["allow_untested"], transport_failures=meta["transport_failures"])
    data["target"].update(per_case(data["target"], data["summary"]["cases"]))
    return apply(data, expected, datetime.now(UTC).date()) if expected else data


def per_case(target: Mapping[str, Any], cases: int) -> dict[str, float]:
    """Requests per case over the whole run, and per matrix case over the matrix cases alone
    (the searches, probes and stateful tests send many a "case"): of a run or of its parts
    merged, counted once, here."""
    sent, matrix = target.get("requests_sent"), target.get("matrix_cases")
    found = {"requests_per_case": round(sent / cases, 3)} if sent is not None and cases else {}
    if matrix:
        found["requests_per_matrix_case"] = round(target["matrix_requests"] / matrix, 3)
    return found


def write_part(path: Path, data: Mapping[str, Any]) -> None:
    """cases.json.gz, written as it is encoded: a full run's (10 MB of JSON) is never held
    whole, nor its redacted copy."""
    sink.write_gzip_pieces(path, json_pieces(data, PART_DEPTH))


PART_DEPTH: Final = 3  # a part's levels of objects written piece by piece: the ledger's cases


def json_pieces(value: Any, depth: int) -> Iterator[str]:
    """``json.dumps(value, separators=(",", ":"))`` in pieces: the members of objects down to
    ``depth`` levels one by one, each cut between two values (never inside a string)."""
    if depth <= 0 or not isinstance(value, Mapping) or not value:
        yield json.dumps(dict(value) if isinstance(value, Mapping) else value,
                         separators=(",", ":"))
        return
    separator = "{"
    for key, member in value.items():
        yield separator + json.dumps(str(key)) + ":"
        yield from json_pieces(member, depth - 1)
        separator = ","
    yield "}"


def load_part(path: Path) -> Any:
    """A part as written; OSError or ValueError (gzip's and JSON's) on a bad file."""
    return json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))


def write_results(path: Path, data: Mapping[str, Any]) -> None:
    sink.write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def summary_lines(data: Mapping[str, Any], limit: int = 40) -> list[str]:
    """A short per-requirement summary for the terminal: failures first, then gaps."""
    rows = sorted(data["requirements"], key=lambda r: (_VERDICT_ORDER[r["verdict"]], r["id"]))
    if data["summary"]["aborted"]:  # nothing was judged: the reason is the summary
        rows = [r for r in rows if r["verdict"] == "fail"]
    lines = [f"{r['verdict'].upper():<10} {r['level']:<7} {r['id']:<14} {r['title']}"
             + (f"  ({r['failed']}/{r['cases']} cases failed)" if r["failed"] else "")
             for r in rows if r["verdict"] in ("fail", "not-tested")][:limit]
    summary = data["summary"]
    counts = ", ".join(f"{n} {v}" for v, n in sorted(summary["requirements"].items()))
    lines.append(f"requirements: {counts}; cases: {summary['cases']}")
    if summary["untested_gating"] and not summary["aborted"]:
        lines.append(_untested_line(summary))
    if summary["aborted"]:
        lines.append(f"run aborted: {summary['aborted']}")
    if summary.get("cut_short"):
        lines.append(f"run cut short (never conformant): {summary['cut_short']}")
    if summary["internal_errors"]:
        heads = [error.split("\n", 1)[0] for error in summary["internal_errors"][:3]]
        lines.append(f"suite errors (the verdict cannot stand; tracebacks in results.json): "
                     f"{heads}")
    lines += expected_lines(data)
    for group in summary.get("groups", [])[:3]:
        lines.append(f"root cause ({group['cases']} cases): {group['cause']}; fails "
                     f"{', '.join(group['requirements'][:8])}")
    if summary.get("searches"):
        lines.append(searches_line(summary["searches"]))
    if summary.get("suite_notes"):
        lines.append(f"suite notes (the verdict stands): {summary['suite_notes'][:3]}")
    if requests := requests_line(data.get("target", {})):
        lines.append(requests)
    lines.append(f"VERDICT: {summary['verdict'].upper()} (level {summary['level']}, "
                 f"exit {summary['exit_code']})")
    return lines


def requests_line(target: Mapping[str, Any]) -> str | None:
    """What the run sent: requests per case, and per matrix case (issue 20's measure)."""
    if "requests_per_case" not in target:
        return None
    matrix = (f"; {target['requests_per_matrix_case']:.2f} per matrix case "
              f"({target['matrix_requests']} for {target['matrix_cases']})"
              if "requests_per_matrix_case" in target else "")
    return (f"requests: {target['requests_sent']}, {target['requests_per_case']:.2f} per case"
            f"{matrix}")


def searches_line(searches: Mapping[str, Mapping[str, float]]) -> str:
    """The property searches, the fuzzing among them: examples and seconds (--budget)."""
    shown = ", ".join(f"{name.rsplit('::', 1)[-1].removeprefix('test_')} "
                      f"{int(s['examples'])} in {s['seconds']:.1f} s"
                      for name, s in searches.items())
    total = sum(s["seconds"] for s in searches.values())
    return f"property searches ({total:.1f} s of the budget): {shown}"


def _untested_line(summary: Mapping[str, Any]) -> str:
    """Why a run is PARTIAL, or what --allow-untested let through: the gate's gaps, by ID."""
    ids = ", ".join(summary["untested_gating"])
    if summary["verdict"] == "partial":
        return (f"PARTIAL: no gating requirement failed, but these were not tested: {ids} "
                "(--allow-untested gates on what was tested)")
    allowed = " (--allow-untested: the verdict rests on what was tested)" \
        if summary.get("allow_untested") else ""
    return f"not tested at the gating level: {ids}{allowed}"
