"""Expected failures: known failures, each with a reason and an expiry date, for release gates.

A release may ship with a failure the team knows about (a vendor bug with a ticket), but the
gate must stay honest: a listed failure does not fail the run only while it still fails, still
matches the failing cases it names and has not expired. An entry that went stale (the target
passes now, the date passed, its case selector matches nothing) fails the run, so the file
shrinks as bugs are fixed instead of hiding the next one. A failure no entry covers fails the
run as before, and an aborted run or a suite error stays inconclusive whatever the file says.

``load`` reads the TOML file; ``apply`` and ``summary_lines`` are pure functions of the
results.json data.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from conformance.catalog.requirements import BY_ID, GATING_LEVELS
from conformance.judging.ledger import EXIT_CODES, RunVerdict, decide

KEYS = frozenset({"requirement", "reason", "link", "expires", "cases"})
REQUIRED = ("requirement", "reason", "expires")


class ExpectError(ValueError):
    """An expected-failures file that cannot be used: one line naming file, entry, problem."""


@dataclass(frozen=True)
class Expected:
    """One known failure: a requirement (optionally only its cases whose id contains
    ``cases``), why it fails, where the bug is tracked and the last day it is accepted."""

    requirement: str
    reason: str
    expires: date
    link: str | None = None
    cases: str | None = None

    def matches(self, case: str) -> bool:
        """Whether this entry covers a failing case (no selector covers every case)."""
        return self.cases is None or self.cases in case

    def to_json(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "reason": self.reason, "link": self.link,
                "expires": self.expires.isoformat(), "cases": self.cases}


# --- reading the file ------------------------------------------------------------------------

def load(path: Path) -> list[Expected]:
    """The entries of an expected-failures file; ExpectError (one line) on any problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ExpectError(f"{path}: cannot read: {error}") from None
    return parse(text, str(path))


def parse(text: str, source: str = "<expected failures>") -> list[Expected]:
    """The entries of a TOML text; ``source`` names it in errors."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExpectError(f"{source}: not TOML: {error}") from None
    unknown = sorted(set(document) - {"expected"})
    if unknown:
        raise ExpectError(f"{source}: unknown top-level key {unknown[0]!r} "
                          "(write entries as [[expected]])")
    tables = document.get("expected", [])
    if not isinstance(tables, list):
        raise ExpectError(f"{source}: 'expected' must be an array of tables ([[expected]])")
    entries: list[Expected] = []
    seen: dict[tuple[str, str | None], int] = {}
    for index, table in enumerate(tables):
        where = f"{source}: entry {index} ([[expected]] number {index + 1})"
        if not isinstance(table, dict):
            raise ExpectError(f"{where}: not a table")
        try:
            entry = _entry(table)
        except ValueError as error:
            raise ExpectError(f"{where}: {error}") from None
        key = (entry.requirement, entry.cases)
        if key in seen:
            raise ExpectError(f"{where}: duplicates entry {seen[key]} ({entry.requirement}"
                              + (f", cases {entry.cases!r}" if entry.cases else "") + ")")
        seen[key] = index
        entries.append(entry)
    return entries


def _entry(table: Mapping[str, object]) -> Expected:
    """One entry, checked; ValueError says the problem."""
    unknown = sorted(set(table) - KEYS)
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    missing = [k for k in REQUIRED if k not in table]
    if missing:
        raise ValueError(f"missing {missing[0]!r}")
    requirement = _text(table, "requirement")
    known = BY_ID.get(requirement)
    if known is None:
        raise ValueError(f"unknown requirement ID {requirement!r}")
    if known.level == "OBSERVE":
        raise ValueError(f"{requirement} is OBSERVE: it is never failed, so never expected to")
    link = _text(table, "link") if "link" in table else None
    cases = _text(table, "cases") if "cases" in table else None
    return Expected(requirement, _text(table, "reason"), _date(table["expires"]), link, cases)


def _text(table: Mapping[str, object], key: str) -> str:
    value = table[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string, not {value!r}")
    return value.strip()


def _date(value: object) -> date:
    """A TOML date (``expires = 2027-01-31``), or the same date quoted."""
    if isinstance(value, datetime):
        raise ValueError(f"'expires' must be a date, not a date-time ({value.isoformat()})")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"bad date in 'expires': {value!r} (write it as 2027-01-31)")


# --- applying it to a run ------------------------------------------------------------------

@dataclass(frozen=True)
class _Finding:
    """What one status of an entry means: whether it fails the run, and what to say."""

    stale: bool
    message: str  # format fields: id, expires, cases, failing

    def say(self, entry: Expected, failing: Sequence[str] = ()) -> str:
        return self.message.format(id=entry.requirement, expires=entry.expires.isoformat(),
                                   cases=repr(entry.cases),
                                   failing=", ".join(failing[:3]) or "none recorded")


# Each status an entry can have: whether it fails the run, and the message. "not-tested" does
# not fail it: the run cannot tell whether the failure is still there, and its gap already
# decides the verdict (partial, or what --allow-untested allows).
FINDINGS: Mapping[str, _Finding] = {
    "still-failing": _Finding(False, "{id} still fails as expected"),
    "not-tested": _Finding(False, "{id} was not tested in this run: cannot tell whether it "
                                  "still fails"),
    "passes": _Finding(True, "{id} passes now: remove it"),
    "expired": _Finding(True, "{id} expired on {expires}: fix it, or renew it with a reason"),
    "no-match": _Finding(True, "{id}: cases {cases} matches no failure (failing cases: "
                               "{failing})"),
    "absent": _Finding(True, "{id} is not in this run's requirements: remove it"),
}


def _status(entry: Expected, row: Mapping[str, Any] | None, today: date) -> str:
    """What the run says about an entry; "passes" before "expired" (the better advice), and
    an expired entry is stale even where the run could not test it."""
    if row is None:
        return "absent"
    if row["verdict"] in ("pass", "observed"):
        return "passes"
    if today > entry.expires:  # the expiry day itself is still accepted
        return "expired"
    if row["verdict"] != "fail":
        return "not-tested"
    return "still-failing" if _fails(entry, row) else "no-match"


def _fails(entry: Expected, row: Mapping[str, Any]) -> bool:
    """Whether the requirement failed in a case the entry names (any case, without one)."""
    return row["verdict"] == "fail" and (entry.cases is None
                                         or any(map(entry.matches, _cases(row))))


def _cases(row: Mapping[str, Any]) -> list[str]:
    """The failing case ids a run recorded for a requirement (its evidence: at most five)."""
    return [e["case"] for e in row.get("evidence", [])]


def apply(data: Mapping[str, Any], expected: Sequence[Expected], today: date) -> dict[str, Any]:
    """A copy of ``data`` judged with ``expected`` failures; the summary gains
    ``expected_failures``, ``new_failures`` and ``stale_expectations`` and a verdict and
    exit code recomputed from them (``failed_requirements`` stays as the run found it)."""
    result = copy.deepcopy(dict(data))
    rows = {r["id"]: r for r in result["requirements"]}
    for r in rows.values():  # judged afresh: a file applied before leaves nothing behind
        r.pop("expected", None)
    summary = result["summary"]
    findings = [(e, _status(e, rows.get(e.requirement), today)) for e in expected]
    accepted = [(e, s) for e, s in findings if not FINDINGS[s].stale]
    stale = [(e, s) for e, s in findings if FINDINGS[s].stale]
    still = [e for e, s in accepted if s == "still-failing"]
    for rid in _covered(rows, still):
        entry = min((e for e in still if e.requirement == rid), key=lambda e: e.expires)
        rows[rid]["expected"] = {"reason": entry.reason, "link": entry.link,
                                 "expires": entry.expires.isoformat()}
    summary["expected_failures"] = [
        {**e.to_json(), "status": s, "message": FINDINGS[s].say(e),
         "matched_cases": [c for c in _cases(rows[e.requirement]) if e.matches(c)]
         if s == "still-failing" else []}
        for e, s in accepted]
    summary["stale_expectations"] = [
        {**e.to_json(), "status": s,
         "message": FINDINGS[s].say(e, _cases(rows.get(e.requirement, {})))}
        for e, s in stale]
    # A failure an expired entry still describes is stale, not new: it is listed once.
    known = _covered(rows, still + [e for e, s in stale if s == "expired" and
                                    _fails(e, rows[e.requirement])])
    summary["new_failures"] = [rid for rid in summary["failed_requirements"]
                               if rid not in known]
    verdict = _verdict(result, rows, bool(stale))
    summary["verdict"], summary["exit_code"] = verdict, EXIT_CODES[verdict]
    return result


def _covered(rows: Mapping[str, Mapping[str, Any]], entries: Sequence[Expected]) -> set[str]:
    """Requirements whose every recorded failing case some still-failing entry matches: a
    failing case no selector matches is a failure nobody expected."""
    return {rid for rid in {e.requirement for e in entries}
            if all(any(e.matches(case) for e in entries if e.requirement == rid)
                   for case in _cases(rows[rid]))}


def _verdict(data: Mapping[str, Any], rows: Mapping[str, Mapping[str, Any]],
             stale: bool) -> RunVerdict:
    """The ledger's rule (``decide``) on the data: a stale entry or an unexpected failure
    fails the run, expected failures do not."""
    summary = data["summary"]
    gate = GATING_LEVELS[summary["level"]]
    return decide(broken=bool(summary["aborted"] or summary["internal_errors"]),
                  failed=stale or bool(summary["new_failures"]),
                  cut_short=bool(summary.get("cut_short")),
                  judged=any(r["verdict"] in ("pass", "fail") for r in rows.values()
                             if r["level"] in gate),
                  untested=bool(summary["untested_gating"]),
                  allow_untested=summary.get("allow_untested", False))


# --- the terminal ----------------------------------------------------------------------------

def summary_lines(data: Mapping[str, Any]) -> list[str]:
    """Expected failures apart from new failures and stale entries, for the terminal (nothing
    when the run was judged without an expected-failures file)."""
    summary = data["summary"]
    if "expected_failures" not in summary:
        return []
    rows = {r["id"]: r for r in data["requirements"]}
    lines = [_line(LABELS[e["status"]], e["requirement"], _expected_detail(e))
             for e in summary["expected_failures"]]
    lines += [_line("NEW FAIL", rid, _new_detail(rows.get(rid), summary))
              for rid in summary["new_failures"]]
    lines += [_line("STALE", e["requirement"], e["message"])
              for e in summary["stale_expectations"]]
    still = sum(e["status"] == "still-failing" for e in summary["expected_failures"])
    lines.append(f"expected failures: {still} still failing"
                 f"{_unconfirmed(summary)}; new failures: {len(summary['new_failures'])}; "
                 f"stale expectations: {len(summary['stale_expectations'])}"
                 + (" (each fails the run)" if summary["stale_expectations"] else ""))
    return lines


# The terminal's label of an accepted entry, by its status.
LABELS = {"still-failing": "EXPECTED", "not-tested": "UNCONFIRMED"}


def _line(label: str, rid: str, detail: str) -> str:
    return f"{label:<13}{rid:<15}{detail}"


def _expected_detail(entry: Mapping[str, Any]) -> str:
    selector = f" [cases {entry['cases']!r}]" if entry["cases"] else ""
    link = f" ({entry['link']})" if entry["link"] else ""
    said = "still fails" if entry["status"] == "still-failing" else "not tested"
    return f"{said}{selector}, accepted until {entry['expires']}: {entry['reason']}{link}"


def _new_detail(row: Mapping[str, Any] | None, summary: Mapping[str, Any]) -> str:
    """The requirement's title and failed cases, and for a requirement with an entry, which
    failing cases no entry matched."""
    if row is None:
        return "failed"
    matched = {c for e in summary["expected_failures"] if e["requirement"] == row["id"]
               for c in e["matched_cases"]}
    unmatched = [c for c in _cases(row) if c not in matched]
    extra = (f"; no entry matches {', '.join(unmatched[:3])}" if matched and unmatched else "")
    return f"{row['title']} ({row['failed']}/{row['cases']} cases failed){extra}"


def _unconfirmed(summary: Mapping[str, Any]) -> str:
    n = sum(e["status"] == "not-tested" for e in summary["expected_failures"])
    return f", {n} not tested" if n else ""
