"""checks.judge on real exchanges: answers from a reference server (or a hostile one) on loopback.

The flags read back are the ground truth; to show that judge() catches a target that lies or
misbehaves, some tests hand it flags other than the ones the server reports, which is exactly
what a faulty target's control interface would report.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.catalog.requirements import RequirementId
from conformance.domain.model import (
    ERROR,
    Cause,
    Check,
    Expectation,
    Flags,
    KeepCallRequest,
    Scenario,
    merged,
)
from conformance.domain.oracle import expect
from conformance.domain.scenarios import Numbering, build
from conformance.judging.checks import invariant_judgement, judge
from conformance.reference import ReferenceServer
from conformance.running.runner import LONG_URL_REFUSED, SHAPE_REFUSED
from conformance.wire.control import Control
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, Exchange, TransportSettings

sys.path.insert(0, str(Path(__file__).parent))
import hostile

# Plain HTTP on loopback: no CA bundle to load (~20 ms of CPU a client).
PLAIN = TransportSettings(retries=0, verify=False)


@pytest.fixture(scope="module")
def target(reference: ReferenceServer) -> Iterator[Target]:
    credentials = Credentials(reference.api_key, None, reference.username, reference.password)
    with Client(PLAIN, credentials.redactor()) as client:
        yield Target(reference.api_url, credentials, client, Control(client,
                                                                     reference.control_url))


@pytest.fixture(scope="module")
def numbering() -> Numbering:
    """One numbering for the module: no two tests' calls share a number or a callID."""
    return Numbering(11)


def _send(target: Target, scenario: Scenario, params: tuple[tuple[str, str], ...],
          ) -> tuple[Exchange, KeepCallRequest, dict[str, Flags], dict[str, Flags]]:
    """Provision, send with real credentials, read flags back: one real exchange."""
    assert target.control is not None
    target.control.add(scenario)
    request = KeepCallRequest((("action", "KeepCall"), *params))
    credentials = target.credential_params(request)
    assert credentials is not None
    exchange = target.send(request, credentials)
    before = {c.call_id: c.flags for c in scenario.calls}
    return exchange, request, before, target.control.flags(before)


def verdicts(checks: list[Check]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for check in checks:
        found.setdefault(check.verdict, set()).add(check.requirement)
    return found


def test_a_correct_answer_passes(target: Target, numbering: Numbering) -> None:
    scenario = build("ongoing-caller", numbering)
    exchange, request, before, after = _send(target, scenario, (("callID", scenario.call_id),))
    checks = judge(exchange, request, expect(request, scenario.calls, scenario.controlled),
                   before, after)
    found = verdicts(checks)
    assert "fail" not in found
    assert {"KC-HTTP-004", "KC-XML-001", "KC-XML-002", "KC-XML-003", "KC-XML-004",
            "KC-RT-001", "KC-ID-001", "KC-TYPE-001", "KC-FLAG-002"} <= found["pass"]
    assert after[scenario.call_id].kept


# (responseType asked, body the server sends, content type, requirement a wrong format fails)
WRONG_FORMATS = (
    (None, b"kept", "text/plain", "KC-RT-001"),
    ("XML", b"<html><body>kept</body></html>", "text/html", "KC-RT-002"),
    ("HTML", hostile.SUCCESS, "text/xml", "KC-RT-003"),
    ("TEXT", hostile.SUCCESS, "text/xml", "KC-RT-004"),
)


@pytest.mark.parametrize(("asked", "body", "content_type", "requirement"), WRONG_FORMATS)
def test_a_wrong_format_fails_the_format_requirement(
        target: Target, asked: str | None, body: bytes, content_type: str,
        requirement: str) -> None:
    scenario = build("ongoing-caller", Numbering(1))
    params = [("action", "KeepCall"), ("callID", scenario.call_id)]
    params += [("responseType", asked)] if asked else []
    request = KeepCallRequest(tuple(params))
    with hostile.recorder(body, content_type) as server, \
            Client(PLAIN, target.credentials.redactor()) as client:
        exchange = client.send("GET", server.url + hostile.API_PATH, request.params)
    checks = judge(exchange, request, expect(request, scenario.calls), None, None)
    assert requirement in verdicts(checks).get("fail", set())
    assert {c.requirement for c in checks if c.verdict == "fail"} == {requirement}
    assert {c.cause for c in checks if c.verdict == "fail"} == {Cause.WRONG_FORMAT}


def test_code_0_without_a_flag_change_fails(target: Target, numbering: Numbering) -> None:
    """A target that says success but keeps nothing breaks KC-XML-004 and the flag clause."""
    scenario = build("ongoing-caller", numbering)
    exchange, request, before, _ = _send(target, scenario, (("callID", scenario.call_id),))
    checks = judge(exchange, request, expect(request, scenario.calls), before, before)
    assert verdicts(checks)["fail"] == {"KC-XML-004", "KC-TYPE-001"}
    assert [c.cause for c in checks if c.verdict == "fail"] == [
        Cause.NO_CHANGE, Cause.CLAIM_CONTRADICTED]


def test_a_flag_changed_on_an_error_fails_flag_001(target: Target,
                                                   numbering: Numbering) -> None:
    scenario = build("ongoing-caller", numbering)
    exchange, request, before, after = _send(
        target, scenario, (("callID", scenario.call_id), ("type", "keepForever")))
    assert before == after  # the server did right: an error, nothing changed
    changed = {scenario.call_id: Flags(kept=True)}
    checks = judge(exchange, request, expect(request, scenario.calls), before, changed)
    assert "KC-FLAG-001" in verdicts(checks)["fail"]
    assert "KC-FLAG-001" in verdicts(judge(exchange, request, expect(request, scenario.calls),
                                           before, after))["pass"]


def test_two_flags_changed_fails_flag_002(target: Target, numbering: Numbering) -> None:
    scenario = build("ongoing-caller", numbering)
    exchange, request, before, _ = _send(target, scenario, (("callID", scenario.call_id),))
    both = {scenario.call_id: Flags(kept=True, protected=True)}
    checks = judge(exchange, request, expect(request, scenario.calls), before, both)
    found = verdicts(checks)
    assert "KC-FLAG-002" in found["fail"]
    assert "KC-TYPE-001" not in found["fail"]  # the named flag was set: the side effect fails
    assert {c.cause for c in checks if c.verdict == "fail"} == {Cause.SIDE_EFFECTS}


def test_a_wrong_call_blames_selection_not_the_flag(target: Target,
                                                    numbering: Numbering) -> None:
    """status=ongoing on an ongoing and an upcoming call, yet the upcoming one was kept."""
    scenario = build("ongoing-and-upcoming", numbering)
    exchange, request, before, _ = _send(
        target, scenario, (("extension", scenario.extension), ("status", "ongoing")))
    upcoming = next(c.call_id for c in scenario.calls if c.state == "upcoming")
    wrong = {**before, upcoming: Flags(kept=True)}
    checks = judge(exchange, request, expect(request, scenario.calls), before, wrong)
    failed = verdicts(checks)["fail"]
    assert "KC-STATUS-001" in failed
    assert not failed & {"KC-TYPE-001", "KC-FLAG-001", "KC-FLAG-002"}
    assert {c.cause for c in checks if c.verdict == "fail"} == {Cause.OTHER_CHANGE}


@pytest.mark.parametrize(("params", "claim"), [
    ((("callID", "{id}"),), "success"),
    ((("callID", "{id}"), ("type", "keepForever")), "error"),
])
def test_without_flags_nothing_about_flags_passes(target: Target, numbering: Numbering,
                                                  params: tuple[tuple[str, str], ...],
                                                  claim: str) -> None:
    """No control URL: a success claim leaves the effect not tested, never passed."""
    scenario = build("ongoing-caller", numbering)
    filled = tuple((k, v.format(id=scenario.call_id)) for k, v in params)
    exchange, request, _, _ = _send(target, scenario, filled)
    checks = judge(exchange, request, expect(request, scenario.calls), None, None)
    found = verdicts(checks)
    assert not found.get("pass", set()) & {"KC-FLAG-001", "KC-FLAG-002", "KC-TYPE-001"}
    assert "fail" not in found
    if claim == "success":
        assert {"KC-ID-001", "KC-TYPE-001"} <= found["not-tested"]
    else:
        assert "KC-TYPE-004" in found["pass"]  # claim-based: the error clause is judged


def test_a_wrong_claim_without_flags_fails(target: Target, numbering: Numbering) -> None:
    """Without flags the body's claim is still judged: success where an error was due."""
    scenario = build("ongoing-caller", numbering)
    exchange, request, _, _ = _send(target, scenario, (("callID", scenario.call_id),))
    wrong = KeepCallRequest((*request.params, ("type", "keepForever")))
    checks = judge(exchange, wrong, expect(wrong, scenario.calls), None, None)
    # KC-TYPE-004 is SHOULD: its deviation must not also fail KC-XML-004 (MUST) by the code.
    assert verdicts(checks)["fail"] == {"KC-TYPE-004"}


# (parameters, OBSERVE requirement, reading the reference server takes by default)
READINGS: tuple[tuple[tuple[tuple[str, str], ...], RequirementId, str], ...] = (
    ((("callID", "{id}"), ("foo", "bar")), "KC-PARAM-001", "rejected"),
    ((("extension", "{number}"), ("status", "ONGOING")), "KC-STATUS-009", "case-sensitive"),
)


@pytest.mark.parametrize(("params", "point", "reading"), READINGS)
def test_observations_name_the_reading_taken(target: Target, numbering: Numbering,
                                             params: tuple[tuple[str, str], ...],
                                             point: RequirementId,
                                             reading: str) -> None:
    scenario = build("ongoing-caller", numbering)
    filled = tuple((k, v.format(id=scenario.call_id, number=scenario.extension))
                   for k, v in params)
    exchange, request, before, after = _send(target, scenario, filled)
    checks = judge(exchange, request, expect(request, scenario.calls), before, after)
    assert Check(point, "observed", reading) in checks
    assert "fail" not in verdicts(checks)


def test_a_reset_fails_the_method_and_leaves_the_rest_untested(target: Target) -> None:
    """The target was reached and dropped the request: its failure, with the evidence."""
    scenario = build("ongoing-caller", Numbering(4))
    request = KeepCallRequest((("action", "KeepCall"), ("callID", scenario.call_id)))
    with hostile.SERVERS["reset"]() as server, \
            Client(PLAIN, target.credentials.redactor()) as client:
        exchange = client.send("GET", server.url + hostile.API_PATH, request.params)
    checks = judge(exchange, request, expect(request, scenario.calls), None, None)
    failed = [c for c in checks if c.verdict == "fail"]
    assert [c.requirement for c in failed] == ["KC-HTTP-001"], failed
    assert "reset" in failed[0].message and failed[0].cause == Cause.NO_ANSWER
    assert {c.verdict for c in checks if c not in failed} == {"not-tested"}


def test_an_unreached_target_is_not_tested(target: Target) -> None:
    """Nothing listens on port 1: the request never reached a server, nothing is judged."""
    scenario = build("ongoing-caller", Numbering(4))
    request = KeepCallRequest((("action", "KeepCall"), ("callID", scenario.call_id)))
    with Client(PLAIN, target.credentials.redactor()) as client:
        exchange = client.send("GET", "http://127.0.0.1:1/verba/api", request.params)
    assert exchange.error_kind == "connect" and not exchange.broken
    checks = judge(exchange, request, expect(request, scenario.calls), None, None)
    assert checks and {c.verdict for c in checks} == {"not-tested"}


TRACEBACK = (b"<html><head><title>500 Internal Server Error</title></head><body><pre>"
             b"Traceback (most recent call last):\nValueError: badly formed GUID</pre>"
             b"</body></html>")
PROXY_414 = (b"<html><head><title>414 Request-URI Too Large</title></head><body><center>"
             b"<h1>414 Request-URI Too Large</h1></center><hr><center>nginx</center></body>"
             b"</html>")


def _answered(target: Target, request: KeepCallRequest, body: bytes, status: str,
              content_type: str = "text/html", method: str = "GET") -> Exchange:
    with hostile.xml_answer(body, status, content_type) as server, \
            Client(PLAIN, target.credentials.redactor()) as client:
        return client.send(method, server.url + hostile.API_PATH, request.params)


def test_a_crash_page_to_a_described_request_fails_the_format_must(target: Target) -> None:
    """P0: a callID that is no GUID answered 500 with an HTML traceback is no answer in the
    format asked for, whatever the status: the format MUST fails, not only the SHOULDs."""
    scenario = build("no-call", Numbering(5))
    request = KeepCallRequest((("action", "KeepCall"), ("callID", "not-a-guid")))
    exchange = _answered(target, request, TRACEBACK, "500 Internal Server Error")
    checks = judge(exchange, request, expect(request, scenario.calls), None, None)
    assert {"KC-RT-001", "KC-RT-008", "KC-HTTP-004"} <= verdicts(checks)["fail"]


@pytest.mark.parametrize(("length", "refused"), [(100, False), (10_000, True)])
def test_a_front_end_page_is_accepted_beyond_the_page_only(target: Target, length: int,
                                                           refused: bool) -> None:
    """nginx's own 414 page to a GET past the notes' ~4,000 characters is the front end's
    refusal: an answer and no success, nothing else judged. The same page to a short GET is
    the API's answer, and no XML."""
    scenario = build("ongoing-caller", Numbering(6))
    request = KeepCallRequest((("action", "KeepCall"), ("callID", scenario.call_id),
                               ("pad", "x" * length)))
    exchange = _answered(target, request, PROXY_414, "414 Request-URI Too Large")
    expectation = merged([expect(request, scenario.calls), Expectation(
        {ERROR: (frozenset({LONG_URL_REFUSED}),)}, (), frozenset({"XML"}))])
    checks = judge(exchange, request, expectation, None, None)
    found = verdicts(checks)
    assert ("fail" not in found) is refused, found
    assert (Check("KC-HTTP-006", "observed", "refused") in checks) is refused


def test_a_405_to_an_odd_value_is_no_refused_method(target: Target) -> None:
    """N9: a 405 page to a request an error is due to is judged as an error answer (its
    format), not as GET being unavailable."""
    scenario = build("ongoing-caller", Numbering(7))
    request = KeepCallRequest((("action", "KeepCall"), ("callID", scenario.call_id),
                               ("type", "keepForever")))
    exchange = _answered(target, request, b"Method Not Allowed", "405 Method Not Allowed",
                         "text/plain")
    failed = verdicts(judge(exchange, request, expect(request, scenario.calls), None, None))
    assert "KC-HTTP-001" not in failed["fail"] and "KC-RT-001" in failed["fail"]


WADL = (b'<?xml version="1.0" encoding="UTF-8"?><application xmlns="http://wadl.dev.java.net/'
        b'2009/02"><resources base="http://x/"><resource path="verba/api"><method name="GET"'
        b' id="keep"/></resource></resources></application>')


def test_a_foreign_xml_document_to_an_unnamed_shape_is_a_refusal(target: Target) -> None:
    """N4: OPTIONS answered with Jersey's WADL: a refusal, not a broken envelope."""
    scenario = build("ongoing-caller", Numbering(8))
    request = KeepCallRequest((("action", "KeepCall"), ("callID", scenario.call_id)))
    exchange = _answered(target, request, WADL, "200 OK", "application/vnd.sun.wadl+xml",
                         method="OPTIONS")
    expectation = merged([expect(request, scenario.calls), SHAPE_REFUSED])
    before = {c.call_id: c.flags for c in scenario.calls}
    checks = invariant_judgement(exchange, expectation, before, before).checks
    assert "fail" not in verdicts(checks), checks
