"""Run-to-run diff of two results.json files: what a release or a change of target changed.

A verdict says whether one run passed; a release pipeline also needs to know what got worse
than the last run it trusts (production, the previous release): a requirement that failed
there too is not news, one that newly fails or is no longer tested is. The two runs may
differ in target (staging against production) and in suite version (then some requirements
exist in one file only). ``diff`` is pure; ``text`` and ``markdown`` render it for a terminal
and a pull-request comment; ``main`` reads the files and sets the exit code.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from conformance.catalog.requirements import GATING_LEVELS
from conformance.reports.report import public_url
from conformance.wire import sink

EXIT_NO_REGRESSION, EXIT_REGRESSION, EXIT_BAD_INPUT = 0, 1, 2
TESTED = frozenset({"pass", "fail", "observed"})
DETAILS_AFTER = 10  # a Markdown section with more rows than this is collapsed
DETAIL_CHARS = 160
SHOWN_IDS = 10  # regressed IDs named in the conclusion line


@dataclass(frozen=True)
class Side:
    """One run as the diff names it: a label (its file), target, suite version and verdict."""

    label: str
    url: str | None
    version: str
    verdict: str
    level: str


@dataclass(frozen=True)
class Change:
    """One requirement in a section: its verdict in each run and a line about the new one."""

    id: str
    level: str
    title: str
    old: str
    new: str
    detail: str = ""


@dataclass(frozen=True)
class Observation:
    """An OBSERVE requirement whose readings differ: the readings only in one run."""

    id: str
    title: str
    appeared: tuple[str, ...]
    disappeared: tuple[str, ...]


@dataclass(frozen=True)
class Diff:
    """What changed from one run to the next; ``regressed`` is what fails a pipeline."""

    old: Side
    new: Side
    new_failures: tuple[Change, ...]
    fixed: tuple[Change, ...]
    still_failing: tuple[Change, ...]
    newly_untested: tuple[Change, ...]
    changed_observations: tuple[Observation, ...]
    only_old: tuple[Change, ...]  # requirements only the old run's catalog has
    only_new: tuple[Change, ...]

    @property
    def verdict_changed(self) -> bool:
        return self.old.verdict != self.new.verdict

    @property
    def regressions(self) -> tuple[Change, ...]:
        """New failures and newly untested requirements at the new run's gating level."""
        gate = GATING_LEVELS.get(self.new.level, GATING_LEVELS["must"])
        return tuple(c for c in (*self.new_failures, *self.newly_untested) if c.level in gate)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions)


# Each section: which (old verdict, new verdict) pairs belong to it.
SECTIONS: Mapping[str, Callable[[str, str], bool]] = {
    "new_failures": lambda old, new: new == "fail" and old != "fail",
    "fixed": lambda old, new: old == "fail" and new == "pass",
    "still_failing": lambda old, new: old == "fail" and new == "fail",
    "newly_untested": lambda old, new: old in TESTED and new == "not-tested",
}


def diff(old: Mapping[str, Any], new: Mapping[str, Any], *, old_label: str = "old",
         new_label: str = "new") -> Diff:
    """What changed from run ``old`` to run ``new``, requirement by requirement."""
    olds = {r["id"]: r for r in old["requirements"]}
    news = {r["id"]: r for r in new["requirements"]}
    both = [rid for rid in news if rid in olds]
    sections = {name: tuple(_change(olds[rid], news[rid]) for rid in both
                            if belongs(olds[rid]["verdict"], news[rid]["verdict"]))
                for name, belongs in SECTIONS.items()}
    observations = tuple(o for rid in both if (o := _observation(olds[rid], news[rid])))
    return Diff(_side(old, old_label), _side(new, new_label), **sections,
                changed_observations=observations,
                only_old=tuple(_change(r, None) for rid, r in olds.items() if rid not in news),
                only_new=tuple(_change(None, r) for rid, r in news.items() if rid not in olds))


def _side(data: Mapping[str, Any], label: str) -> Side:
    summary = data["summary"]
    return Side(label, public_url(data.get("target", {}).get("url")),
                str(data["suite"]["version"]), summary["verdict"], summary["level"])


def _change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> Change:
    row = new if new is not None else old
    assert row is not None
    return Change(row["id"], row["level"], row["title"], old["verdict"] if old else "-",
                  new["verdict"] if new else "-", _detail(new) if new else "")


def _detail(row: Mapping[str, Any]) -> str:
    """Why the new run says what it says: an accepted expectation first (it must survive the
    cut), then the failed cases and the first one's message."""
    parts = []
    if expected := row.get("expected"):
        parts.append(f"expected until {expected['expires']}: {expected['reason']}")
    if row["verdict"] == "fail":
        parts.append(f"{row.get('failed', '?')}/{row.get('cases', '?')} cases failed")
        if row.get("evidence"):
            first = row["evidence"][0]
            parts.append(f"{first['case']}: {first['message']}")
    line = "; ".join(parts).replace("\n", " ")
    return line if len(line) <= DETAIL_CHARS else line[:DETAIL_CHARS - 3] + "..."


def _observation(old: Mapping[str, Any], new: Mapping[str, Any]) -> Observation | None:
    """The readings that appeared or disappeared; None where they did not change or the new
    run has none (then it is newly untested, listed there)."""
    if new["level"] != "OBSERVE" or new["verdict"] != "observed":
        return None
    before, after = set(old.get("observations", {})), set(new.get("observations", {}))
    if before == after:
        return None
    return Observation(new["id"], new["title"], tuple(sorted(after - before)),
                       tuple(sorted(before - after)))


# --- rendering -------------------------------------------------------------------------------

# Each requirement section: its attribute and its heading, in the order they are shown.
TITLES: tuple[tuple[str, str], ...] = (
    ("new_failures", "New failures"), ("newly_untested", "Newly untested"),
    ("fixed", "Fixed"), ("still_failing", "Still failing"),
    ("only_old", "Only in the old run's catalog"), ("only_new", "Only in the new run's catalog"),
)


def _sides(d: Diff) -> tuple[tuple[str, str, str], ...]:
    """The run-level rows shown for both runs: name, old, new."""
    return (("target", d.old.url or "-", d.new.url or "-"),
            ("suite version", d.old.version, d.new.version),
            ("gating level", d.old.level, d.new.level),
            ("verdict", d.old.verdict, d.new.verdict))


def _conclusion(d: Diff) -> str:
    if not d.regressed:
        return "No regression at the gating level."
    ids = [c.id for c in d.regressions]
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return (f"REGRESSED at the gating level ({d.new.level}): {len(ids)} requirements: "
            f"{', '.join(ids[:SHOWN_IDS])}{more}")


def text(d: Diff) -> str:
    """The diff for a terminal: both runs, one line per changed requirement, the outcome."""
    lines = [f"{'':<14}{d.old.label}  ->  {d.new.label}"]
    lines += [f"{name:<14}{old}  ->  {new}" for name, old, new in _sides(d)]
    for attr, title in TITLES:
        rows: Sequence[Change] = getattr(d, attr)
        if rows:
            lines.append(f"{title.upper()} ({len(rows)})")
        for c in rows:
            lines.append(f"  {c.level:<8}{c.id:<15}{c.old:>10} -> {c.new:<11}{c.title}")
            if c.detail:
                lines.append(f"{'':<25}{c.detail}")
    if d.changed_observations:
        lines.append(f"CHANGED OBSERVATIONS ({len(d.changed_observations)})")
        lines += [f"  {o.id:<15}{_readings(o)}" for o in d.changed_observations]
    lines.append(_conclusion(d))
    return "\n".join(lines) + "\n"


def _readings(o: Observation) -> str:
    return "; ".join([*(f"+ {r}" for r in o.appeared), *(f"- {r}" for r in o.disappeared)])


def markdown(d: Diff) -> str:
    """The diff as a pull-request comment: both runs, a table per section, long ones folded."""
    out = [f"### KeepCall conformance: {_cell(d.old.label)} → {_cell(d.new.label)}", "",
           f"| | {_cell(d.old.label)} | {_cell(d.new.label)} |", "|---|---|---|"]
    out += [f"| {name} | {_cell(old)} | {_cell(new)} |" for name, old, new in _sides(d)]
    out += ["", f"**{_conclusion(d)}**"]
    for attr, title in TITLES:
        rows: Sequence[Change] = getattr(d, attr)
        if rows:
            out += _section(title, ["ID", "Level", "Requirement", "Old", "New", "Detail"],
                            [[c.id, c.level, c.title, c.old, c.new, c.detail] for c in rows])
    if d.changed_observations:
        out += _section("Changed observations", ["ID", "Requirement", "Appeared", "Disappeared"],
                        [[o.id, o.title, ", ".join(o.appeared), ", ".join(o.disappeared)]
                         for o in d.changed_observations])
    return "\n".join(out) + "\n"


def _section(title: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    table = [f"| {' | '.join(head)} |", f"|{'---|' * len(head)}",
             *(f"| {' | '.join(_cell(c) for c in row)} |" for row in rows)]
    if len(rows) <= DETAILS_AFTER:
        return ["", f"#### {title} ({len(rows)})", "", *table]
    return ["", f"#### {title} ({len(rows)})", "",
            f"<details><summary>{len(rows)} requirements</summary>", "", *table, "",
            "</details>"]


def _cell(value: str) -> str:
    """Text safe in a Markdown table cell: no pipe, no line break, no HTML."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("|", "\\|").replace("\n", " ")) or " "


# --- the command -------------------------------------------------------------------------------

# What diff reads of a results.json file: a path of keys, the type it must have, its name.
NEEDED: tuple[tuple[tuple[str, ...], type, str], ...] = (
    (("suite",), dict, "an object"), (("suite", "version"), str, "a string"),
    (("target",), dict, "an object"), (("requirements",), list, "a list"),
    (("summary",), dict, "an object"), (("summary", "verdict"), str, "a string"),
    (("summary", "level"), str, "a string"),
)
ROW_KEYS = ("id", "level", "title", "verdict")


def problem(data: object) -> str | None:
    """None if ``data`` has what ``diff`` reads; else the first missing or mistyped key."""
    for path, kind, name in NEEDED:
        value = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if not isinstance(value, kind):
            return f"{'.'.join(path)} is missing or not {name}"
    rows = data["requirements"] if isinstance(data, dict) else []
    for i, row in enumerate(rows):
        missing = [k for k in ROW_KEYS if not isinstance(row, dict) or k not in row]
        if missing:
            return f"requirements[{i}] misses {missing[0]!r}"
    return None


def read(path: Path) -> dict[str, Any]:
    """A results.json file, or ValueError with one line naming the problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ValueError(f"{path}: cannot read: {error.strerror or error}") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError
        raise ValueError(f"{path}: not JSON: {error}") from None
    if reason := problem(data):
        raise ValueError(f"{path} is no results.json: {reason}")
    result: dict[str, Any] = data
    return result


def main(old_path: Path, new_path: Path, markdown_path: Path | None, out: TextIO) -> int:
    """``keepcall-conformance diff OLD NEW [--markdown FILE]``: the diff on ``out``, the
    Markdown in a file; 1 if the new run regressed, 2 with one line on stderr for bad input."""
    try:
        d = diff(read(old_path), read(new_path), old_label=str(old_path),
                 new_label=str(new_path))
        if markdown_path is not None:
            sink.write_text(markdown_path, markdown(d))
    except (ValueError, OSError) as error:
        print(f"keepcall-conformance: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out.write(text(d))
    if markdown_path is not None:
        out.write(f"  wrote {markdown_path}\n")
    return EXIT_REGRESSION if d.regressed else EXIT_NO_REGRESSION
