"""The oracle against docs/SEMANTICS.md: one table row per rule of the written reading.

Each row names the calls a target holds, the request, and the outcomes the reading allows; the
oracle must allow exactly those. A row for an open point must allow every listed reading, and the
readings attached to the outcomes must name that point's OBSERVE requirement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

import pytest

from conformance.catalog.requirements import BY_ID, RequirementId
from conformance.catalog.spec import FLAGS
from conformance.domain.model import (
    ERROR,
    PENDING,
    Call,
    Credential,
    Expectation,
    Flags,
    KeepCallRequest,
    Outcome,
)
from conformance.domain.oracle import OpenPoint, TargetAuth, expect

N = "61234567"  # the case's number
OTHER = "+3670000001"


def _call(call_id: str, state: str, offset: int, party: str = "caller",
          number: str = N, **flags: bool) -> Call:
    caller, called = (number, OTHER) if party == "caller" else (OTHER, number)
    return Call(call_id, caller, called, state, offset, Flags(**flags))  # type: ignore[arg-type]


ONGOING = _call("A", "ongoing", 30)
ONGOING_CALLED = _call("A", "ongoing", 30, "called")
UPCOMING = _call("U", "upcoming", 30)
LATE = _call("L", "upcoming", 150)
BOUNDARY = _call("B", "upcoming", 60)
FINISHED = _call("F", "finished", 300)
DECOY = _call("D", "ongoing", 30, number=N + "0")  # N is a prefix of the decoy's number
PART = _call("P", "ongoing", 30, number="9" + N)  # N is a suffix of this one
ALL_STATES = (ONGOING, UPCOMING, FINISHED)
MARKED = _call("A", "ongoing", 30, kept=True, protected=True, recording=True)


@dataclass(frozen=True)
class Row:
    id: str
    calls: tuple[Call, ...]
    params: tuple[tuple[str, str], ...]
    allowed: frozenset[str]  # "error", "kept+A" (set kept on A), "kept-A" (clear it)
    points: frozenset[str] = frozenset()  # OBSERVE requirements the readings must name
    decided_by: frozenset[str] = frozenset()  # requirements blame() must return
    api_key: Credential = Credential.VALID
    token: Credential = Credential.VALID
    token_required: bool | None = True
    controlled: tuple[str, ...] = (N,)
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())
    spelling: str | None = "tight"  # the status-list spelling a probe found


def row(id: str, calls: tuple[Call, ...] | Call, params: str, allowed: str,
        points: str = "", by: str = "", **kwargs: object) -> Row:
    """A table row from short strings: ``params`` is a query string, the rest space lists."""
    pairs = tuple(tuple(p.split("=", 1)) for p in params.split("&") if p)
    return Row(id, calls if isinstance(calls, tuple) else (calls,),
               pairs, frozenset(allowed.split()),  # type: ignore[arg-type]
               frozenset(points.split()), frozenset(by.split()), **kwargs)  # type: ignore


K = "action=KeepCall"
CID = f"{K}&callID=A"
EXT = f"{K}&extension={N}&status="


def outcome(text: str) -> Outcome:
    if text == "error":
        return ERROR
    if text == "pending":
        return PENDING
    sign = "+" if "+" in text else "-"
    flag, call_id = text.split(sign)
    assert flag in FLAGS
    return Outcome(call_id, flag, sign == "+")



ROWS = (
    # --- 1. action ---------------------------------------------------------------------------
    row("action-keepcall", ONGOING, CID, "kept+A", by="KC-ID-001 KC-TYPE-001"),
    row("action-missing", ONGOING, "callID=A", "error", by="KC-ACTION-002"),
    row("action-other", ONGOING, "action=KeepCalls&callID=A", "error", by="KC-ACTION-001"),
    row("action-requesttoken", ONGOING, "action=RequestToken&callID=A", "error"),
    row("action-case", ONGOING, "action=keepcall&callID=A", "error kept+A", "KC-ACTION-003"),
    # --- 2./3. authentication --------------------------------------------------------------
    row("apikey-missing", ONGOING, CID, "error", by="KC-AUTH-001", api_key=Credential.MISSING),
    row("apikey-invalid", ONGOING, CID, "error", by="KC-AUTH-002", api_key=Credential.INVALID),
    row("token-missing", ONGOING, CID, "error", by="KC-AUTH-003", token=Credential.MISSING),
    row("token-invalid", ONGOING, CID, "error", by="KC-AUTH-004", token=Credential.INVALID),
    row("open-key-no-token", ONGOING, CID, "kept+A", token=Credential.MISSING,
        token_required=False),
    row("open-key-token", ONGOING, CID, "error kept+A", "KC-AUTH-010", token_required=False),
    row("open-key-bad-token", ONGOING, CID, "error kept+A", "KC-AUTH-010",
        token=Credential.INVALID, token_required=False),
    # N14: nothing declared of the key (a login given): required or not, one way a run
    row("undeclared-no-token", ONGOING, CID, "error kept+A", "KC-AUTH-011", by="KC-AUTH-003",
        token=Credential.MISSING, token_required=None),
    row("undeclared-bad-token", ONGOING, CID, "error kept+A", "KC-AUTH-011", by="KC-AUTH-004",
        token=Credential.INVALID, token_required=None),
    row("undeclared-token", ONGOING, CID, "kept+A", by="KC-ID-001", token_required=None),
    # --- 5. callID -------------------------------------------------------------------------
    row("callid-ongoing", ONGOING, CID, "kept+A", by="KC-ID-001"),
    row("callid-upcoming-late", LATE, f"{K}&callID=L", "kept+L", by="KC-ID-001"),
    row("callid-finished", FINISHED, f"{K}&callID=F", "kept+F", by="KC-ID-001"),
    row("callid-unknown", ALL_STATES, f"{K}&callID=X", "error", by="KC-ID-002"),
    row("neither", ONGOING, f"{K}&status=ongoing", "error", by="KC-ID-003"),
    row("both-agree", ONGOING, f"{CID}&extension={N}&status=ongoing", "error kept+A",
        "KC-ID-004"),
    row("both-callid-wins", (ONGOING, _call("Z", "ongoing", 30, number="69999999")),
        f"{K}&callID=Z&extension={N}&status=ongoing", "error kept+Z kept+A", "KC-ID-004"),
    row("status-with-callid-mismatch", FINISHED, f"{K}&callID=F&status=ongoing",
        "error kept+F", "KC-ID-005"),
    row("status-with-callid-match", ONGOING, f"{CID}&status=ongoing", "kept+A"),
    # --- 5. extension ----------------------------------------------------------------------
    row("ext-caller", ONGOING, EXT + "ongoing", "kept+A", by="KC-EXT-001 KC-STATUS-001"),
    row("ext-called", ONGOING_CALLED, EXT + "ongoing", "kept+A", by="KC-EXT-002"),
    row("ext-prefix-decoy", DECOY, EXT + "ongoing", "error", by="KC-EXT-003 KC-STATUS-012"),
    row("ext-part-decoy", PART, EXT + "ongoing", "error", by="KC-EXT-003"),
    row("ext-decoy-beside-match", (DECOY, ONGOING), EXT + "ongoing", "kept+A",
        by="KC-EXT-003"),
    row("ext-without-status", ONGOING, f"{K}&extension={N}", "error", by="KC-EXT-006"),
    row("status-ongoing", ALL_STATES, EXT + "ongoing", "kept+A", by="KC-STATUS-001"),
    row("status-next", ALL_STATES, EXT + "next", "kept+U", by="KC-STATUS-002"),
    row("status-last", ALL_STATES, EXT + "last", "kept+F", by="KC-STATUS-004"),
    row("ongoing-ignores-others", (UPCOMING, FINISHED), EXT + "ongoing", "error",
        by="KC-STATUS-012"),
    row("next-inside", UPCOMING, EXT + "next", "kept+U"),
    row("next-outside", LATE, EXT + "next", "error pending", "KC-STATUS-013",
        by="KC-STATUS-003 KC-STATUS-012"),
    row("next-boundary", BOUNDARY, EXT + "next", "error kept+B pending", "KC-STATUS-011"),
    row("ongoing-none", LATE, EXT + "ongoing", "error", by="KC-STATUS-012"),
    row("fallback-ongoing-first", (UPCOMING, ONGOING), EXT + "ongoing,next", "kept+A",
        by="KC-STATUS-005"),
    row("fallback-to-next", UPCOMING, EXT + "ongoing,next", "kept+U", by="KC-STATUS-005"),
    row("fallback-next-late", LATE, EXT + "ongoing,next", "error pending", "KC-STATUS-013",
        by="KC-STATUS-012"),
    row("fallback-last-first", (ONGOING, FINISHED), EXT + "last,ongoing", "kept+F",
        by="KC-STATUS-006"),
    row("fallback-to-ongoing", ONGOING, EXT + "last,ongoing", "kept+A", by="KC-STATUS-006"),
    row("two-ongoing", (_call("A", "ongoing", 90, "called"), _call("A2", "ongoing", 30)),
        EXT + "ongoing", "error", by="KC-EXT-004"),
    row("two-ongoing-no-fallback", (_call("A", "ongoing", 90), _call("A2", "ongoing", 30),
                                    UPCOMING), EXT + "ongoing,next", "error", by="KC-EXT-004"),
    row("two-finished", (_call("F", "finished", 600), _call("F2", "finished", 60, "called")),
        EXT + "last", "error kept+F2", "KC-EXT-005"),
    row("two-upcoming", (_call("U", "upcoming", 40, "called"), _call("U2", "upcoming", 10)),
        EXT + "next", "error kept+U2", "KC-EXT-005"),
    row("two-finished-no-fallback", (_call("F", "finished", 600), _call("F2", "finished", 60),
                                     ONGOING), EXT + "last,ongoing", "error kept+F2",
        "KC-EXT-005"),
    # --- 4. status values ------------------------------------------------------------------
    row("status-unknown", ALL_STATES, EXT + "bogus", "error", by="KC-STATUS-007"),
    row("status-empty-list-item", ONGOING, EXT + "ongoing,", "error kept+A", "KC-STATUS-014"),
    row("status-unlisted-pair", ALL_STATES, EXT + "next,ongoing", "error", by="KC-STATUS-008"),
    row("status-ongoing-last", ALL_STATES, EXT + "ongoing,last", "error", by="KC-STATUS-008"),
    row("status-three", ALL_STATES, EXT + "ongoing,next,last", "error", by="KC-STATUS-008"),
    row("status-case", ONGOING, EXT + "ONGOING", "error kept+A", "KC-STATUS-009"),
    row("status-space", UPCOMING, EXT + "ongoing, next", "error kept+U", "KC-STATUS-010",
        spelling=None),
    row("status-space-probed-tight", UPCOMING, EXT + "ongoing, next", "error",
        by="KC-STATUS-010"),
    row("status-tight-probed-spaced", UPCOMING, EXT + "ongoing,next", "error",
        by="KC-STATUS-010", spelling="spaced"),
    row("status-space-probed-spaced", UPCOMING, EXT + "ongoing, next", "kept+U",
        spelling="spaced"),
    row("status-tight-unprobed", UPCOMING, EXT + "ongoing,next", "error kept+U",
        "KC-STATUS-010", spelling=None),
    row("status-space-case", FINISHED, EXT + "Last, Ongoing", "error kept+F",
        "KC-STATUS-009 KC-STATUS-010"),
    # A target taking only the spaced spelling refuses a tight list in any letter case: its
    # error is the spelling's, not a reading of the letter case (KC-READ-001 compares those).
    row("status-tight-case-probed-spaced", FINISHED, EXT + "Last,Ongoing", "error",
        by="KC-STATUS-010", spelling="spaced"),
    # --- 6. type and unmark ----------------------------------------------------------------
    row("type-none", ONGOING, CID, "kept+A", by="KC-TYPE-001"),
    row("type-manualrecord", ONGOING, f"{CID}&type=manualRecord", "recording+A",
        by="KC-TYPE-002"),
    row("type-do-not-delete", ONGOING, f"{CID}&type=do_not_delete", "protected+A",
        by="KC-TYPE-003"),
    row("type-unknown", ONGOING, f"{CID}&type=keepForever", "error", by="KC-TYPE-004"),
    row("type-case", ONGOING, f"{CID}&type=DO_NOT_DELETE", "error protected+A",
        "KC-STATUS-009"),
    row("unmark-kept", MARKED, f"{CID}&unmark=1", "kept-A", by="KC-UNMARK-001"),
    row("unmark-recording", MARKED, f"{CID}&type=manualRecord&unmark=1", "recording-A",
        by="KC-UNMARK-002"),
    row("unmark-protected", MARKED, f"{CID}&type=do_not_delete&unmark=1", "protected-A",
        by="KC-UNMARK-003"),
    row("unmark-0", ONGOING, f"{CID}&unmark=0", "error kept+A", "KC-UNMARK-004"),
    row("unmark-2", ONGOING, f"{CID}&unmark=2", "error kept+A kept-A", "KC-UNMARK-004"),
    row("manualrecord-finished", FINISHED, f"{K}&callID=F&type=manualRecord",
        "error recording+F", "KC-TYPE-006"),
    row("param-name-case", ONGOING, f"{K}&callid=A", "error kept+A", "KC-PARAM-004"),
    row("manualrecord-uncontrolled", ONGOING, f"{CID}&type=manualRecord",
        "error recording+A", "KC-TYPE-005", controlled=()),
    row("manualrecord-called-controlled", ONGOING_CALLED, f"{CID}&type=manualRecord",
        "recording+A"),
    row("stop-recording-uncontrolled", MARKED, f"{CID}&type=manualRecord&unmark=1",
        "error recording-A", "KC-TYPE-005", controlled=()),  # open both ways (9457c9d)
    row("already-marked", MARKED, CID, "error kept+A", "KC-UNMARK-004"),
    # --- parameters in general ----------------------------------------------------------------
    row("duplicate-status", (ONGOING, UPCOMING), EXT + "ongoing&status=next",
        "error kept+A kept+U", "KC-PARAM-002"),
    row("duplicate-callid", (ONGOING, FINISHED), f"{CID}&callID=F", "error kept+A kept+F",
        "KC-PARAM-002"),
    row("empty-callid", ONGOING, f"{K}&callID=", "error"),
    row("empty-type", ONGOING, f"{CID}&type=", "error kept+A", "KC-PARAM-003"),
    row("empty-unmark", ONGOING, f"{CID}&unmark=", "error kept+A kept-A", "KC-PARAM-003"),
    row("unknown-param", ONGOING, f"{CID}&foo=bar", "error kept+A", "KC-PARAM-001"),
    # --- responseType ------------------------------------------------------------------------
    row("rt-xml", ONGOING, f"{CID}&responseType=XML", "kept+A"),
    row("rt-html", ONGOING, f"{CID}&responseType=HTML", "kept+A"),
    row("rt-unknown", ONGOING, f"{CID}&responseType=PDF", "error kept+A", "KC-RT-005"),
    row("rt-case", ONGOING, f"{CID}&responseType=text", "error kept+A", "KC-RT-006"),
)


def _expect(r: Row) -> Expectation:
    request = KeepCallRequest(r.params, api_key=r.api_key, token=r.token)
    return expect(request, r.calls, r.controlled, TargetAuth(r.token_required, r.spelling))


def params(marks: bool = False, when: Callable[[Row], bool] = lambda r: True,
           ) -> list[pytest.ParameterSet]:
    """The table as pytest params; the known-bug marks belong to the outcome test only."""
    return [pytest.param(r, id=r.id, marks=r.marks if marks else ()) for r in ROWS if when(r)]


@pytest.mark.parametrize("r", params(marks=True))
def test_allowed_outcomes(r: Row) -> None:
    """The oracle allows exactly what docs/SEMANTICS.md allows."""
    expectation = _expect(r)
    assert expectation.outcomes == {outcome(o) for o in r.allowed}


@pytest.mark.parametrize("r", params())
def test_readings_name_the_open_point(r: Row) -> None:
    """Each outcome of an open point is reached through a reading of its OBSERVE requirement."""
    expectation = _expect(r)
    named = {point for readings in expectation.allowed.values()
             for reading in readings for point, _, _ in reading}
    assert r.points <= named
    for readings in expectation.allowed.values():
        for reading in readings:
            for point, value, _ in reading:
                assert BY_ID[point].level == "OBSERVE"
                assert value in BY_ID[point].readings, (point, value)
    if r.points and len(r.allowed) > 1:  # each outcome names the point's own reading
        for readings in expectation.allowed.values():
            assert all({p for p, _, _ in reading} & r.points for reading in readings)


@pytest.mark.parametrize("r", params(when=lambda r: bool(r.decided_by)))
def test_blame_names_the_deciding_requirements(r: Row) -> None:
    expectation = _expect(r)
    assert r.decided_by <= set(expectation.blame(expectation.outcomes))


def test_an_undeclared_key_answered_without_a_token_meets_its_clause() -> None:
    """Undeclared, a success without a token is the "not required" reading: KC-AUTH-003 is
    met (the key evidently needs none), and the error is the "required" one."""
    request = KeepCallRequest((("action", "KeepCall"), ("callID", "A")), token=Credential.MISSING)
    expectation = expect(request, (ONGOING,), (N,), TargetAuth(token_required=None))
    kept = outcome("kept+A")
    assert "KC-AUTH-003" in expectation.blame([kept])
    assert {c.option for r in expectation.allowed[kept] for c in r
            if c.requirement == "KC-AUTH-011"} == {"not required"}
    assert {c.option for r in expectation.allowed[ERROR] for c in r
            if c.requirement == "KC-AUTH-011"} == {"required"}


def test_blame_of_a_success_is_not_the_blame_of_the_error() -> None:
    """blame() is per outcome: the error of an open point is not blamed on the success path."""
    request = KeepCallRequest((("action", "KeepCall"), ("extension", N), ("status", "next")))
    expectation = expect(request, (BOUNDARY,), (N,))
    assert "KC-STATUS-012" in expectation.blame([ERROR])
    assert "KC-STATUS-012" not in expectation.blame([outcome("kept+B")])
    assert "KC-TYPE-001" in expectation.blame([outcome("kept+B")])


def test_tied_calls_are_an_open_point_of_their_own() -> None:
    """Two finished calls ended at the same time: error, or either one; nothing else."""
    calls = (_call("F", "finished", 60), _call("F2", "finished", 60, "called"))
    request = KeepCallRequest((("action", "KeepCall"), ("extension", N), ("status", "last")))
    assert expect(request, calls).outcomes == {ERROR, outcome("kept+F"), outcome("kept+F2")}


def test_tied_readings_are_listed_readings() -> None:
    calls = (_call("F", "finished", 60), _call("F2", "finished", 60, "called"))
    request = KeepCallRequest((("action", "KeepCall"), ("extension", N), ("status", "last")))
    for readings in expect(request, calls).allowed.values():
        for reading in readings:
            assert all(v in BY_ID[p].readings for p, v, _ in reading), sorted(reading)


# (responseType values, formats the answer may come in)
FORMATS = (
    ((), {"XML"}),
    (("XML",), {"XML"}),
    (("HTML",), {"HTML"}),
    (("TEXT",), {"TEXT"}),
    (("html",), {"HTML", "XML"}),  # case-insensitive, or unknown and rendered in XML
    (("PDF",), {"XML"}),
    (("",), {"XML"}),
    (("HTML", "TEXT"), {"HTML", "TEXT", "XML"}),
    (("JSON",), {"XML", "JSON"}),
)


@pytest.mark.parametrize(("values", "formats"), FORMATS)
def test_response_formats(values: tuple[str, ...], formats: set[str]) -> None:
    params = (("action", "KeepCall"), ("callID", "A"), *(("responseType", v) for v in values))
    assert expect(KeepCallRequest(params), (ONGOING,)).formats == formats


@pytest.mark.parametrize("r", params(when=lambda r: r.allowed == {"error"}))
def test_errors_render_in_the_requested_format(r: Row) -> None:
    """Errors found before responseType is read still come in the format asked for."""
    request = KeepCallRequest((*r.params, ("responseType", "TEXT")), api_key=r.api_key,
                              token=r.token)
    expectation = expect(request, r.calls, r.controlled, TargetAuth(r.token_required))
    assert expectation.formats == {"TEXT"}


def test_many_open_points_terminate_in_few_paths() -> None:
    """Readings are enumerated only where the request reaches them: paths stay countable."""
    params = (("action", "keepcall"), ("action", "KEEPCALL"), ("callID", "A"),
              ("extension", N), ("status", "Ongoing, Next"), ("status", "last"),
              ("type", "Do_Not_Delete"), ("unmark", "2"), ("responseType", "xml"),
              ("foo", ""), ("bar", "1"))
    calls = (ONGOING, BOUNDARY, _call("F", "finished", 60), _call("F2", "finished", 60))
    expectation = expect(KeepCallRequest(params), calls, (),
                         TargetAuth(token_required=False))
    paths = sum(len(readings) for readings in expectation.allowed.values())
    # 11 binary-or-ternary points if every combination were tried: > 10,000 paths.
    assert 1 < paths < 2_000
    assert ERROR in expectation.outcomes and expectation.successes


def test_an_open_point_outside_the_catalog_fails_at_once() -> None:
    with pytest.raises(ValueError, match="KC-STATUS-009"):
        OpenPoint("KC-STATUS-009", ("case-sensitive", "case-insensitiv"))
    with pytest.raises(ValueError, match="KC-TYPE-001"):
        OpenPoint("KC-TYPE-001", ())
    with pytest.raises(KeyError):
        OpenPoint(cast(RequirementId, "KC-TYPO-001"), ())
