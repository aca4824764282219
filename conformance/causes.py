"""Failures grouped by root cause, so that one bug reads as one group.

One fault of a target fails many requirements at once: a server that matches only the calling
party fails the called-party clause and, through the same wrong answer, every status and type
clause whose cases look a call up by the called party. A case's cause is what its first failed
check says, with what varies from case to case taken out (IDs, numbers, the expected list): the
kind of wrong outcome ("an error where a change was expected"), or the envelope or HTTP defect
as its message words it. Cases with the same cause form a group; a group carries every
requirement its cases failed, its count, and its first case as the representative exchange.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.model import Check
from conformance.requirements import CATALOG

MAX_GROUPS: Final = 50
# What a target answered, as evidence shows it: the request, status, headers, body excerpt
# (redacted, at most EXCERPT characters), what was allowed, the flags before and after; built
# by the runner (``Result.answer``), described in schemas/results.schema.json.
Answer = dict[str, Any]
EXCERPT: Final = 2000
# The flags read back tell a wrong outcome (an error, a change where an error was due, another
# change): one bug shows all three kinds across cases, so they are one cause.
WRONG_OUTCOME: Final = "flags changed otherwise than the spec allows"
_ORDER: Final[dict[str, int]] = {r.id: i for i, r in enumerate(CATALOG)}
_VOLATILE: Final = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\+?\d+(?:\.\d+)?", re.I)
_OUTCOME: Final = re.compile(r"^expected (?P<expected>.*), target did: (?P<did>.*)$", re.S)
_CHANGE: Final = re.compile(r"(set|clear) (\w+) on ")
_CONTEXT: Final = re.compile(r"^[A-Z]\w+: ")
_FORMAT: Final = re.compile(r"asked for \w+, got (the XML envelope|XML that is no error|\w+)")
# Messages whose wording varies with the calls: what they mean, once. A success that changed
# no flag where a change was due is a wrong outcome like the others.
_FIXED: Final = (("code 0 but no flag changed", WRONG_OUTCOME),
                 ("one request changed", "one request changed several flags"))


def cause(check: Check) -> str:
    """What went wrong in ``check``, the same for every case the same bug breaks."""
    if _OUTCOME.match(check.message):
        return WRONG_OUTCOME
    for start, said in _FIXED:
        if check.message.startswith(start):
            return said
    message = _CONTEXT.sub("", check.message)  # "RequestToken: " and the like
    wrong_format = _FORMAT.search(message)  # the body shown after it differs case by case
    if wrong_format:
        message = wrong_format[0]
    return f"{check.requirement}: {_VOLATILE.sub('#', message)[:160]}"


def outcome_kind(message: str) -> str:
    """The kind of wrong outcome a message tells, for the reader of a group."""
    if message.startswith("code 0 but no flag changed"):
        return "a success that changed no flag where a change was expected"
    outcome = _OUTCOME.match(message)
    if outcome is None:
        return ""
    if outcome["did"].startswith("error"):
        return "an error where a change was expected"
    expected = outcome["expected"].replace("error or ", "")
    if "error" in outcome["expected"] and not _CHANGE.search(expected):
        return "a change where an error was expected"
    return "another change than expected"


@dataclass
class Group:
    """Cases that failed for one cause, the requirements they failed, a representative."""

    cause: str
    requirements: dict[str, None] = field(default_factory=dict)  # ordered, first failed first
    cases: int = 0
    case: str = ""
    message: str = ""
    curl: str = ""
    answer: Answer | None = None

    def to_json(self) -> dict[str, Any]:
        return {"cause": self.cause, "cases": self.cases, "requirements": list(self.requirements),
                "representative": {"case": self.case, "message": self.message,
                                   "kind": outcome_kind(self.message), "curl": self.curl,
                                   "answer": self.answer}}


class Causes:
    """The run's groups, by cause; a case joins the group of its first failed check."""

    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}
        self.failed_cases = 0  # every case with a failed check, grouped or past MAX_GROUPS

    def add(self, case: str, checks: Iterable[Check], curl: str, lead: bool = False,
            answer: Answer | None = None) -> None:
        failed = [c for c in checks if c.verdict == "fail"]
        if not failed:
            return
        self.failed_cases += 1
        first = failed[0]
        key = cause(first)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_GROUPS:
                return
            group = self.groups[key] = Group(key)
        group.cases += 1
        group.requirements.update(dict.fromkeys(c.requirement for c in failed))
        if not group.case or (answer is not None and (lead or group.answer is None)):
            group.case, group.message, group.curl = case, first.message, curl
            group.answer = answer

    def state(self) -> dict[str, Any]:
        """Every group, in full, and the count of failed cases: what a shard hands on."""
        return {"failed_cases": self.failed_cases,
                "groups": [vars(g) | {"requirements": list(g.requirements)}
                           for g in self.groups.values()]}

    def merge(self, state: dict[str, Any]) -> None:
        """Another shard's groups: one cause is one group, its counts summed."""
        self.failed_cases += state["failed_cases"]
        for found in state["groups"]:
            group = self.groups.get(found["cause"])
            if group is None:
                if len(self.groups) >= MAX_GROUPS:
                    continue
                group = self.groups[found["cause"]] = Group(**(found | {
                    "requirements": {}, "cases": 0}))
            group.cases += found["cases"]
            group.requirements.update(dict.fromkeys(found["requirements"]))

    def ordered(self) -> list[Group]:
        """Largest first; ties by the catalog's order of their requirements (an action or
        authentication defect comes before what it makes fail later)."""
        return sorted(self.groups.values(),
                      key=lambda g: (-g.cases, min(_ORDER.get(r, 0) for r in g.requirements)))
