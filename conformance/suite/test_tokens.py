"""RequestToken and the token's one-hour life (KC-AUTH-006..009, envelope-notes.md).

These need the RequestToken login (--username/--password); the expiry tests also need the
control protocol's clock. Without them the requirements are "not tested".
"""

from __future__ import annotations

import secrets
from typing import NoReturn

import pytest

from conformance.catalog.requirements import RequirementId
from conformance.catalog.spec import ACTION, P_ACTION, P_API_KEY, P_CALL_ID, P_TOKEN, TOKEN_ACTION
from conformance.domain.model import ERROR, Check, Credential, Expectation, KeepCallRequest
from conformance.domain.scenarios import build
from conformance.integration.plugin import KeepCallSession
from conformance.running.runner import Result, run
from conformance.wire.control import ControlError
from conformance.wire.target import WRONG_FORMS
from conformance.wire.transport import Exchange
from conformance.wire.validators import code_is_zero, is_envelope, validate_xml


def _needs_login(kc: KeepCallSession) -> None:
    if not kc.target.can_request_tokens:
        kc.ledger.not_tested("tokens", ("KC-AUTH-006", "KC-AUTH-007", "KC-AUTH-008",
                                        "KC-AUTH-009"), "no RequestToken login given")
        pytest.skip("not tested: no RequestToken login (--username/--password)")


def _token_checks(exchange: Exchange, token: str | None, requirement: RequirementId,
                  want_token: bool) -> list[Check]:
    if not exchange.ok:
        return [Check(requirement, "not-tested", f"no answer: {exchange.error}")]
    if not want_token and exchange.status in (401, 403) and not is_envelope(exchange.body):
        # refused by HTTP Basic itself, before the API: empty, or the container's own page
        return [Check(requirement, "pass")]
    verdict = validate_xml(exchange.body, exchange.headers.get("content-type"), TOKEN_ACTION)
    checks = [Check(f.requirement, "fail", f"RequestToken: {f.message}")
              for f in verdict.findings]
    success = code_is_zero(verdict.code) is True
    if want_token and not (success and token):
        checks.append(Check(requirement, "fail", f"code {verdict.code}, token "
                            f"{'present' if token else 'missing'}"))
    elif not want_token and (success or token):
        checks.append(Check(requirement, "fail", f"wrong login accepted: code {verdict.code}"))
    if (status := exchange.status or 0) >= 500:
        checks.append(Check("KC-HTTP-004", "fail", f"RequestToken answered HTTP {status}"))
    return checks or [Check(requirement, "pass")]


def _result(kc: KeepCallSession, checks: list[Check], exchange: Exchange) -> Result:
    request = KeepCallRequest(((P_ACTION, TOKEN_ACTION),))
    expectation = Expectation({ERROR: (frozenset(),)}, (), frozenset({"XML"}))
    result = Result(build("no-call", kc.numbering), request, expectation, checks, exchange)
    return result


@pytest.mark.requirement("KC-AUTH-006")
def test_request_token_returns_a_token(kc: KeepCallSession) -> None:
    _needs_login(kc)
    exchange, token = kc.target.request_token()
    kc.record("tokens/valid-login", _result(kc, _token_checks(exchange, token, "KC-AUTH-006",
                                                              True), exchange))


@pytest.mark.requirement("KC-AUTH-007")
def test_request_token_refuses_a_wrong_password(kc: KeepCallSession) -> None:
    _needs_login(kc)
    exchange, token = kc.target.request_token(password="wrong-" + secrets.token_hex(8))
    kc.record("tokens/wrong-password", _result(kc, _token_checks(exchange, token,
                                                                 "KC-AUTH-007", False),
                                               exchange))


# (case, seconds to advance the clock, requirement, the token's standing by then).
# "Tokens live 1 hour." is all the notes say: a server that sweeps expired tokens every few
# minutes is correct, so "after" is two hours, wide of any sweep, and "within" is half an hour.
LIFETIME = (("within-the-hour", 1800, "KC-AUTH-009", Credential.VALID),
            ("after-the-hour", 7200, "KC-AUTH-008", Credential.INVALID))


@pytest.mark.parametrize(("seconds", "requirement", "standing"),
                         [pytest.param(s, r, c, id=i, marks=pytest.mark.requirement(r))
                          for i, s, r, c in LIFETIME])
def test_token_lifetime(kc: KeepCallSession, seconds: int, requirement: RequirementId,
                        standing: Credential) -> None:
    """A token obtained now, used after ``seconds`` on the target's clock."""
    _needs_login(kc)
    target = kc.target
    if target.control is None:
        _untested(kc, requirement, "the token lifetime needs the control protocol's clock")
    _, token = target.request_token()
    if not token:
        _untested(kc, requirement, "RequestToken gave no token")
    try:
        supported = target.control.advance(seconds)
    except ControlError as error:
        _untested(kc, requirement, f"control protocol: {error}")
    target.forget_token()
    if not supported:
        _untested(kc, requirement, "the target's control protocol has no clock")
    scenario = build("ongoing-caller", kc.numbering)
    request = KeepCallRequest(((P_ACTION, ACTION), (P_CALL_ID, scenario.call_id)),
                              token=standing)
    credentials = [(P_API_KEY, target.credentials.api_key or ""), (P_TOKEN, token or "")]
    # Whatever decides this keep's outcome here is the token's age: the lifetime clause.
    result = run(target, scenario, request, credentials=credentials, decided_by=requirement)
    kc.record(f"tokens/{requirement}", result)


def _untested(kc: KeepCallSession, requirement: RequirementId, why: str) -> NoReturn:
    kc.ledger.not_tested("tokens/lifetime", (requirement,), why)
    pytest.skip(f"not tested: {why}")


# (secret, requirement): a wrong one of each, in every form derived from the real one.
WRONG = (("key", "KC-AUTH-002"), ("token", "KC-AUTH-004"))


@pytest.mark.parametrize(("secret", "requirement", "form"), [
    pytest.param(s, r, f, id=f"{s}-{f.replace(' ', '-')}", marks=pytest.mark.requirement(r))
    for s, r in WRONG for f in WRONG_FORMS])
def test_a_wrong_secret_near_the_real_one_is_refused(kc: KeepCallSession, secret: str,
                                                     requirement: RequirementId,
                                                     form: str) -> None:
    """A key or token one step from the real one (longer, prefixed, its shape, a GUID, empty)
    is as wrong as any: a target comparing by prefix or by shape accepts one of them."""
    scenario = build("ongoing-caller", kc.numbering)
    key, token = ((Credential.INVALID, Credential.VALID) if secret == "key" else
                  (Credential.VALID, Credential.INVALID))
    request = KeepCallRequest(((P_ACTION, ACTION), (P_CALL_ID, scenario.call_id)),
                              api_key=key, token=token)
    if secret == "token" and kc.target.token_required is False:
        kc.ledger.not_tested(f"tokens/wrong-{secret}", (requirement,), "the key needs no token")
        pytest.skip("not tested: the key needs no token")
    credentials = kc.target.credential_params(request, form=form)
    result = run(kc.target, scenario, request, credentials=credentials)
    kc.record(f"tokens/wrong-{secret}/{form.replace(' ', '-')}", result)


@pytest.mark.requirement("KC-AUTH-003", "KC-AUTH-011", "KC-READ-001")
def test_a_request_without_a_token_is_answered_as_the_key_is_declared(
        kc: KeepCallSession) -> None:
    """A valid key and no token, in XML on a call the keep changes: an error where the key is
    declared to need a token, a keep where it is declared not to; undeclared, either, and the
    answer tells the run's reading of KC-AUTH-011 (the wrong tokens above must agree with it:
    KC-READ-001). The matrix's such cases may all be in HTML or TEXT, which tell no reading."""
    scenario = build("ongoing-caller", kc.numbering)
    request = KeepCallRequest(((P_ACTION, ACTION), (P_CALL_ID, scenario.call_id)),
                              token=Credential.MISSING)
    credentials = kc.target.credential_params(request)
    kc.record("tokens/missing-token", run(kc.target, scenario, request, credentials=credentials))
