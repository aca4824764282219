"""The open points: where the page is silent, and the readings the oracle tries there.

Each is an OBSERVE requirement of the catalog (checked at import), the aspect of it met at one
place of the evaluation, and its readings; docs/SEMANTICS.md names each one in prose.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.catalog.requirements import BY_ID, RequirementId
from conformance.domain.model import Credential

# What a probe of the target's status-list spelling means as a reading of KC-STATUS-010.
SPELLING_READING = {"either": "accepted", "tight": "rejected", "spaced": "spaced only"}


@dataclass(frozen=True)
class OpenPoint:
    """A place where the page is silent: an OBSERVE requirement, the aspect of it met here, and
    the readings the oracle tries. Checked against the catalog at import, so a typo in an ID or
    a reading fails at once instead of vanishing from the observations."""

    requirement: RequirementId
    options: tuple[str, ...]
    aspect: str = ""

    def __post_init__(self) -> None:
        entry = BY_ID[self.requirement]
        unknown = set(self.options) - set(entry.readings)
        if entry.level != "OBSERVE" or unknown:
            raise ValueError(f"{self.requirement}: not an OBSERVE reading: {sorted(unknown)}")

    @property
    def key(self) -> str:
        return f"{self.requirement}:{self.aspect}" if self.aspect else self.requirement


_CASE = ("case-sensitive", "case-insensitive")
ACTION_CASE = OpenPoint("KC-ACTION-003", _CASE)
TOKEN_ON_OPEN_KEY = OpenPoint("KC-AUTH-010", ("ignored", "rejected"))
TOKEN_REQUIRED = OpenPoint("KC-AUTH-011", ("required", "not required"))
# The clause a missing or wrong token is judged under: the target answers it as the key's
# configuration (required or not) has it.
TOKEN_CLAUSE: dict[Credential, RequirementId] = {Credential.MISSING: "KC-AUTH-003",
                                                 Credential.INVALID: "KC-AUTH-004"}
RT_UNKNOWN = OpenPoint("KC-RT-005", ("error", "default to XML"))
RT_JSON = OpenPoint("KC-RT-005", ("XML", "JSON"), "json")
RT_CASE = OpenPoint("KC-RT-006", _CASE)
BOTH_IDS = OpenPoint("KC-ID-004", ("callID wins", "extension wins", "rejected"))
# status with callID: a value the page lists may be applied to the call or not, and one it does
# not list refused or not; a target may validate the value yet never apply it (two aspects).
_WITH_CALL_ID = ("status ignored", "status applied to the call")
STATUS_WITH_CALL_ID = OpenPoint("KC-ID-005", _WITH_CALL_ID, "listed")
UNLISTED_WITH_CALL_ID = OpenPoint("KC-ID-005", _WITH_CALL_ID, "unlisted")
SEVERAL_LAST_NEXT = OpenPoint("KC-EXT-005", ("error", "the most recent / the soonest call"))
TIE = OpenPoint("KC-EXT-005", ("error",), "tie")  # the tied callIDs are options too
STATUS_CASE = OpenPoint("KC-STATUS-009", _CASE, "status")
TYPE_CASE = OpenPoint("KC-STATUS-009", _CASE, "type")
SPELLING = OpenPoint("KC-STATUS-010", ("accepted", "rejected", "spaced only"))
WINDOW_EDGE = OpenPoint("KC-STATUS-011", ("inside the window", "outside"))
NEXT_NO_CALL = OpenPoint("KC-STATUS-013", ("error", "pending keep"))
EMPTY_PARTS = OpenPoint("KC-STATUS-014", ("rejected", "empty parts dropped"))
UNCONTROLLED = OpenPoint("KC-TYPE-005", ("error", "recording started anyway"))
# manualRecord on a finished call, on one not started yet: a target may refuse the first and
# allow the second (a recording can still begin), so they are two aspects.
NOT_IN_PROGRESS = OpenPoint("KC-TYPE-006", ("allowed", "refused"), "finished")
NOT_STARTED = OpenPoint("KC-TYPE-006", ("allowed", "refused"), "upcoming")
UNMARK_ZERO = OpenPoint("KC-UNMARK-004", ("normal", "rejected"), "zero")
UNMARK_OTHER = OpenPoint("KC-UNMARK-004", ("ignored", "error", "unmark"), "value")
ALREADY_SET = OpenPoint("KC-UNMARK-004", ("success", "rejected"), "already")
UNKNOWN_PARAMS = OpenPoint("KC-PARAM-001", ("ignored", "rejected"))
DUPLICATES = OpenPoint("KC-PARAM-002", ("first wins", "last wins", "rejected"))
EMPTY_VALUE = OpenPoint("KC-PARAM-003", ("empty value means absent", "empty value is a value"))
TRIMMED = OpenPoint("KC-PARAM-003", ("exact values", "trimmed values"), "trim")
_NORMAL = ("exact identifiers", "normalized identifiers")
NORMALIZED = {"id": OpenPoint("KC-PARAM-003", _NORMAL, "id"),
              "number": OpenPoint("KC-PARAM-003", _NORMAL, "number")}
NAME_CASE = OpenPoint("KC-PARAM-004", _CASE)
