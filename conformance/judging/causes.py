"""Failures grouped by root cause, so that one bug reads as one group.

One fault of a target fails many requirements at once: a server that matches only the calling
party fails the called-party clause and, through the same wrong answer, every status and type
clause whose cases look a call up by the called party. A case's cause is the ``Cause`` its first
failed check carries, set where the check was made (never read back from its wording): a wrong
outcome of any kind is one cause across requirements, any other cause is one per requirement.
Cases with the same cause form a group; a group carries every requirement its cases failed, its
count, and its first case as the representative exchange.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.catalog.requirements import CATALOG
from conformance.domain.model import Cause, Check

MAX_GROUPS: Final = 50
# What a target answered, as evidence shows it: the request, status, headers, body excerpt
# (redacted, at most EXCERPT characters), what was allowed, the flags before and after; built
# by the runner (``Result.answer``), described in schemas/results.schema.json.
Answer = dict[str, Any]
EXCERPT: Final = 2000
# The flags read back tell a wrong outcome (an error, a change where an error was due, another
# change, none): one bug shows every kind across cases, so they are one cause.
WRONG_OUTCOME: Final = "flags changed otherwise than the spec allows"
# Causes that are one group whatever requirement they fail, and what the group is called.
ACROSS_REQUIREMENTS: Final[dict[Cause, str]] = {
    Cause.ERROR_FOR_CHANGE: WRONG_OUTCOME, Cause.CHANGE_FOR_ERROR: WRONG_OUTCOME,
    Cause.OTHER_CHANGE: WRONG_OUTCOME, Cause.NO_CHANGE: WRONG_OUTCOME,
    Cause.SIDE_EFFECTS: Cause.SIDE_EFFECTS.value}
_ORDER: Final[dict[str, int]] = {r.id: i for i, r in enumerate(CATALOG)}


def cause(check: Check) -> str:
    """What went wrong in ``check``, the same for every case the same bug breaks."""
    return ACROSS_REQUIREMENTS.get(check.cause, f"{check.requirement}: {check.cause.value}")


def outcome_kind(check: Check) -> str:
    """The kind of wrong outcome a check tells, for the reader of a group ("" for none)."""
    return check.cause.value if ACROSS_REQUIREMENTS.get(check.cause) == WRONG_OUTCOME else ""


@dataclass
class Group:
    """Cases that failed for one cause, the requirements they failed, a representative."""

    cause: str
    requirements: dict[str, None] = field(default_factory=dict)  # ordered, first failed first
    cases: int = 0
    case: str = ""
    message: str = ""
    kind: str = ""  # the representative's kind of wrong outcome, if it is one
    curl: str = ""
    answer: Answer | None = None

    def to_json(self) -> dict[str, Any]:
        return {"cause": self.cause, "cases": self.cases, "requirements": list(self.requirements),
                "representative": {"case": self.case, "message": self.message,
                                   "kind": self.kind, "curl": self.curl,
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
            group.kind = outcome_kind(first)
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
