"""Judging one exchange: the answer and the flags it changed, against the oracle's expectation.

What the answer alone shows (its delivery, its HTTP status, its format and the ``code`` it
claims) is judged here; the claim and the flags read back are then compared with the allowed
outcomes (outcomes.py). Every comparison becomes a ``Check`` on one requirement, with the
evidence a reader needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.catalog.requirements import BY_ID, RequirementId
from conformance.catalog.spec import ACTION, MAX_URL_LENGTH_HINT, P_ACTION, P_RESPONSE_TYPE
from conformance.domain.model import (
    ERROR,
    Cause,
    Check,
    Expectation,
    KeepCallRequest,
    Outcome,
)
from conformance.judging.outcomes import Claim, FlagMap, gating, outcome_checks
from conformance.wire.transport import DROP_PATTERN, DROP_WINDOW, Exchange
from conformance.wire.validators import (
    code_is_zero,
    content_type_observation,
    is_envelope,
    sniff_format,
    validate_format,
    validate_xml,
)

METHOD_REQUIREMENT: dict[str, RequirementId] = {"GET": "KC-HTTP-001", "POST": "KC-HTTP-002"}
# The requirement a wrong format breaks, by the responseType asked for.
FORMAT_REQUIREMENT: dict[str | None, RequirementId] = {
    None: "KC-RT-001", "XML": "KC-RT-002", "HTML": "KC-RT-003", "TEXT": "KC-RT-004"}


@dataclass(frozen=True)
class Judgement:
    """The checks of one case, with what the answer was: its format and the outcome judged
    (None where it could not be told), for the run-level comparison of HTML/TEXT wording."""

    checks: list[Check]
    format: str | None = None
    outcome: Outcome | None = None


def judge(exchange: Exchange, request: KeepCallRequest, expectation: Expectation,
          before: FlagMap | None, after: FlagMap | None) -> list[Check]:
    """All checks for one case. ``before``/``after`` are None when flags cannot be read."""
    return judgement(exchange, request, expectation, before, after).checks


def judgement(exchange: Exchange, request: KeepCallRequest, expectation: Expectation,
              before: FlagMap | None, after: FlagMap | None) -> Judgement:
    return compared(reply_checks(exchange, request, expectation), expectation, before, after)


@dataclass(frozen=True)
class Reply:
    """What the answer alone shows, whatever the flags say, judged once: its checks, what its
    body claims, the format it was judged in, and whether the flags are compared with the
    allowed outcomes at all (not for no answer, or a request that was not served)."""

    checks: list[Check]
    claim: Claim = None
    format: str | None = None
    compared: bool = True

    @property
    def failed(self) -> bool:
        return any(c.verdict == "fail" for c in self.checks)


def compared(reply: Reply, expectation: Expectation, before: FlagMap | None,
             after: FlagMap | None) -> Judgement:
    """The answer's checks, then the flags (``after``) compared with the allowed outcomes."""
    if not reply.compared:
        return Judgement(reply.checks)
    found, outcome = outcome_checks(reply.claim, expectation, before, after)
    return Judgement(reply.checks + found, reply.format, outcome)


def reply_checks(exchange: Exchange, request: KeepCallRequest,
                 expectation: Expectation) -> Reply:
    """The answer to a request the page describes, judged apart from the flags."""
    available = availability(exchange, request)
    if not exchange.ok:
        why = f"no answer: {exchange.error}"
        untested = [Check(r, "not-tested", why) for r in expectation.trace]
        return Reply([*delivery_checks(exchange, available), *untested], compared=False)
    checks, refused = http_checks(exchange, request, expectation)
    checks += drop_checks(exchange, available)
    if refused:  # a redirect or a refused method: nothing else to judge
        return Reply(checks + [Check(r, "not-tested", "the request was not served")
                               for r in gating(expectation.trace)], compared=False)
    if front_end_refusal(exchange):
        return Reply([*checks, Check("KC-HTTP-006", "observed", "refused")], "error")
    format_found, claim, fmt = format_checks(exchange, request, expectation)
    checks += format_found
    if claim == "error":
        checks.append(Check("KC-HTTP-005", "observed", _status_reading(exchange.status)))
    return Reply(checks, claim, fmt)


def availability(exchange: Exchange, request: KeepCallRequest) -> RequirementId:
    """The clause that the function is available by the method sent; for a request beyond the
    page, KC-HTTP-004 alone (a SHOULD: a front end may refuse it)."""
    return "KC-HTTP-004" if beyond_the_page(exchange) else METHOD_REQUIREMENT[request.method]


def beyond_the_page(exchange: Exchange) -> bool:
    """A URL longer than the notes' "GET URLs should stay under about 4,000 characters" (a GET's,
    or a POST's whose parameters travel in the query string, which makes the same request line),
    or a POST body carrying more than that (the same parameters, sent another way): what a
    front end (a reverse proxy's body limit, a servlet container) may refuse before the
    application runs."""
    return max(len(exchange.url), len(exchange.request_body or "")) > MAX_URL_LENGTH_HINT


def front_end_refusal(exchange: Exchange) -> bool:
    """A request beyond what the page describes refused without the envelope: the front end's
    own page (nginx's 414, a container's 400), not the API's answer, judged only as an answer
    that is no success. A request the page describes gets the API's answer, whatever its
    status: a crash page there is no answer in the format asked for."""
    return beyond_the_page(exchange) and _refusal(exchange) and not is_envelope(exchange.body)


def invariant_judgement(exchange: Exchange, expectation: Expectation, before: FlagMap | None,
                        after: FlagMap | None) -> Judgement:
    return compared(invariant_reply(exchange), expectation, before, after)


def invariant_reply(exchange: Exchange) -> Reply:
    """What holds for any request, however odd its shape or bytes: an answer, no 5xx and no
    redirect; an XML answer well-formed, valid and with its ErrorMessage; flags changed only
    as one reading of the request allows (an error changes none). The format asked for is not
    judged: the page does not say whether a server reads parameters sent in such shapes, and
    an answer other than the envelope (a front end's page, a WADL to OPTIONS) is a refusal."""
    if not exchange.ok:
        unsent = not exchange.broken  # our client could not send it, or never reached it
        return Reply([Check("KC-HTTP-004", "not-tested" if unsent else "fail",
                            f"no answer: {exchange.error}", Cause.NO_ANSWER)], compared=False)
    status = exchange.status or 0
    # 405/501 refuse a method or an action, as for the matrix's unknown actions (KC-HTTP-005)
    broken = (status >= 500 and status not in _REFUSED) or 300 <= status < 400
    checks = [Check("KC-HTTP-004", "fail", f"HTTP {status}: {exchange.body_excerpt(300)}",
                    Cause.HTTP_STATUS) if broken else Check("KC-HTTP-004", "pass")]
    checks += drop_checks(exchange, "KC-HTTP-004")  # a shape the page never names: SHOULD alone
    claim, fmt = _status_claim(exchange), None
    if exchange.method != "HEAD" and is_envelope(exchange.body):
        verdict = validate_xml(exchange.body, exchange.headers.get("content-type"), None)
        failed = {f.requirement for f in verdict.findings}
        checks += [f for f in verdict.findings if f.requirement in _ANY_XML]
        zero = code_is_zero(verdict.code)
        claim, fmt = (claim if zero is None else "success" if zero else "error"), "XML"
        passed = _ANY_XML if claim == "error" else _ANY_XML[:2]
        checks += [Check(r, "pass") for r in passed if r not in failed]
    return Reply(checks, claim, fmt)


def delivery_checks(exchange: Exchange, available: RequirementId) -> list[Check]:
    """What the transport alone shows of a case, judged even where nothing else of it can be
    (its calls not read back): an answer that broke, and dropped attempts."""
    return [*broken_checks(exchange, available), *drop_checks(exchange, available)]


def broken_checks(exchange: Exchange, available: RequirementId) -> list[Check]:
    """A request that reached the target and got no whole answer (a stall after the headers,
    a drip, a reset, a bomb, bytes that are no HTTP) fails ``available``, the clause that the
    function is available (``availability``), with what came before it broke; one that never
    reached it is nobody's failure (nothing to judge)."""
    if not exchange.broken:
        return []
    got = (f"HTTP {exchange.status}, {len(exchange.body)} bytes of body, then "
           if exchange.status is not None else "")
    before = f" (retried after: {'; '.join(exchange.dropped)})" if exchange.dropped else ""
    return [Check(available, "fail",
                  f"{exchange.method} got no whole answer: {got}{exchange.error}{before}",
                  Cause.NO_ANSWER)]


def drop_checks(exchange: Exchange, available: RequirementId) -> list[Check]:
    """Dropped attempts are evidence, never absorbed: one that a retry recovered, or whose
    retry no longer reached the target, is a SHOULD finding (one whose retry broke too is a
    broken answer: ``broken_checks`` names both); a target that keeps dropping requests
    (DROP_PATTERN among the last DROP_WINDOW) fails ``available``, the clause that the
    function is available."""
    if not exchange.drops_nearby:  # this request was not dropped
        return []
    then = ("then answered on a retry" if exchange.ok
            else f"then the retry did not reach the target ({exchange.error})")
    found = [Check("KC-HTTP-004", "fail", f"dropped without an answer, {then}: "
                   f"{'; '.join(exchange.dropped)}", Cause.DROPPED)
             ] if exchange.dropped and not exchange.broken else []
    if exchange.drops_nearby >= DROP_PATTERN:
        found.append(Check(available, "fail",
                           f"the target dropped {exchange.drops_nearby} of the last "
                           f"{DROP_WINDOW} requests (reset or closed without an answer): a "
                           "pattern, not a blip", Cause.DROPPED))
    return found


_REFUSED: tuple[int, ...] = (405, 501)
# Judged on any XML answer (the type attribute only where the request named KeepCall).
_ANY_XML: tuple[RequirementId, ...] = ("KC-XML-001", "KC-XML-002", "KC-XML-005")


# --- HTTP -----------------------------------------------------------------------------------
def http_checks(exchange: Exchange, request: KeepCallRequest,
                expectation: Expectation) -> tuple[list[Check], bool]:
    """The status line: what it breaks, and whether the request was refused unanswered.

    The notes say to judge by the body: a 5xx or a 405 that carries the envelope is still an
    answer (KC-HTTP-004 is SHOULD); only a redirect, or a 405/501 with no envelope to a
    request naming KeepCall that had to succeed, means the method was not served (where an
    error is allowed, an odd value refused, the body is judged as usual)."""
    status = exchange.status or 0
    if 300 <= status < 400:
        where = exchange.headers.get("location", "?")
        redirected = f"HTTP {status} redirect to {where} (redirects are not followed)"
        return [Check("KC-HTTP-004", "fail", redirected, Cause.REDIRECT),
                Check(METHOD_REQUIREMENT[request.method], "fail",
                      f"{request.method} is not served at the target URL: {redirected}",
                      Cause.REDIRECT)], True
    if status in _REFUSED and (request.get(P_ACTION) != ACTION or ERROR in expectation.allowed):
        return [], False  # a missing or unknown action, an odd value: the body is judged
    if status in _REFUSED and sniff_format(exchange.body) != "XML":
        requirement = METHOD_REQUIREMENT[request.method]
        return [Check(requirement, "fail", f"{request.method} answered HTTP {status}",
                      Cause.METHOD_REFUSED)], True
    if status >= 500 or status < 200:
        return [Check("KC-HTTP-004", "fail", f"HTTP {status}: {exchange.body_excerpt(300)}",
                      Cause.HTTP_STATUS)], False
    return [Check("KC-HTTP-004", "pass")], False


def _status_reading(status: int | None) -> str:
    code = status or 0
    if code == 200:
        return "200 with the error body"
    if code in _REFUSED:
        return "405/501 to an unknown action"
    return "5xx with the error body" if code >= 500 else "4xx with the error body"


# --- format ---------------------------------------------------------------------------------
def format_checks(exchange: Exchange, request: KeepCallRequest,
                  expectation: Expectation) -> tuple[list[Check], Claim, str | None]:
    """Checks of the body's format, what the body claims (success, error or unknown), and the
    format it was judged in. Each allowed format is tried: HTML and TEXT are checked for what
    the page implies and no more, so a body may pass as either."""
    formats = expectation.formats | expectation.error_formats
    sniffed = sniff_format(exchange.body)
    asked = request.get(P_RESPONSE_TYPE)
    rt_requirement = FORMAT_REQUIREMENT.get(asked, "KC-RT-005")
    content_type = exchange.headers.get("content-type")
    checks = [Check("KC-RT-007", "observed", content_type_observation(content_type))]
    if sniffed == "JSON" and "JSON" in formats:  # responseType=JSON; its shape is undocumented
        return [*checks, Check("KC-RT-005", "observed", "JSON")], _status_claim(exchange), "JSON"
    if sniffed == "XML" and "XML" in formats:
        xml_checks, claim = _xml_checks(exchange, request, rt_requirement)
        if "XML" not in expectation.formats:  # allowed for errors raised before the action
            xml_checks.append(Check("KC-RT-009", "observed", "XML") if claim == "error" else
                              Check(rt_requirement, "fail", f"asked for {asked}, got XML that "
                                    f"is no error: {exchange.body_excerpt(200)}",
                                    Cause.WRONG_FORMAT))
        return checks + xml_checks, claim, "XML"
    tried: list[Check] = []
    for fmt in sorted(formats & {"HTML", "TEXT"}, key=lambda f: f != sniffed):
        findings, observations = validate_format(fmt, exchange.body, content_type)
        if not findings:
            found = list(observations)
            passed = [Check(r, "pass") for r in (rt_requirement, "KC-RT-008") if r in BY_ID]
            return checks + found + passed, _status_claim(exchange), fmt
        tried += findings
    return checks + _wrong_format(exchange, rt_requirement, sniffed, formats, tried), (
        _status_claim(exchange) or ("error" if _refusal(exchange) else None)), None


def _wrong_format(exchange: Exchange, rt_requirement: RequirementId, sniffed: str,
                  formats: frozenset[str], tried: list[Check]) -> list[Check]:
    """A body in no allowed format fails the format asked for, whatever the status: the page
    says what format the answer is in, the notes say to judge by the body, and a crash page
    (an HTML traceback on HTTP 500) is no answer in it. On a non-2xx status it fails
    KC-RT-008 too, the suite's own SHOULD that an error keeps the format."""
    expected = "XML" if "XML" in formats or not formats else sorted(formats)[0]
    why = tried[0].message if tried else (f"asked for {expected}, got {sniffed}: "
                                          f"{exchange.body_excerpt(200)}")
    found = [Check(rt_requirement, "fail", why, Cause.WRONG_FORMAT)]
    if _refusal(exchange):
        found.append(Check("KC-RT-008", "fail", f"HTTP {exchange.status}: {why}",
                           Cause.WRONG_FORMAT))
    return found


def _refusal(exchange: Exchange) -> bool:
    return not 200 <= (exchange.status or 0) < 300


def _xml_checks(exchange: Exchange, request: KeepCallRequest,
                rt_requirement: RequirementId) -> tuple[list[Check], Claim]:
    expected_type = ACTION if request.get(P_ACTION) == ACTION else None
    verdict = validate_xml(exchange.body, exchange.headers.get("content-type"), expected_type)
    checks = [*verdict.findings, *verdict.observations]
    failed = {f.requirement for f in verdict.findings}
    checks += [Check(r, "pass") for r in ("KC-XML-001", "KC-XML-002", "KC-XML-003")
               if r not in failed]
    checks += [Check(r, "pass") for r in (rt_requirement, "KC-RT-008") if r in BY_ID]
    zero = code_is_zero(verdict.code)
    claim: Claim = None if zero is None else "success" if zero else "error"
    if claim == "error":
        reading = "code 2" if (verdict.code or "").strip() == "2" else "other non-zero codes"
        checks.append(Check("KC-XML-006", "observed", reading))
        if "KC-XML-005" not in failed:
            checks.append(Check("KC-XML-005", "pass"))
    if claim == "success" and _refusal(exchange):
        checks.append(Check("KC-HTTP-004", "fail", f"code 0 with HTTP {exchange.status}",
                            Cause.HTTP_STATUS))
    return checks, claim


def _status_claim(exchange: Exchange) -> Claim:
    """HTML and TEXT bodies do not say how a request ended; a 4xx or 5xx status does."""
    return "error" if (exchange.status or 0) >= 400 else None
