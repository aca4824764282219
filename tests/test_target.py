"""Token renewal: a token obtained by RequestToken is renewed before its hour is up, against the
real reference server on loopback. The target's clock is a fake one (injected), the server's is
moved through its control protocol, so hours pass in milliseconds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from conformance.catalog.spec import ACTION, P_ACTION, P_API_KEY, P_CALL_ID, P_TOKEN
from conformance.domain.scenarios import Numbering, build
from conformance.reference import ReferenceServer
from conformance.wire.control import Control
from conformance.wire.redact import Redactor
from conformance.wire.target import (
    TOKEN_RENEW_SECONDS,
    WRONG_FORMS,
    Credentials,
    Target,
    wrong_value,
)
from conformance.wire.transport import Client, TransportSettings
from conformance.wire.validators import validate_xml


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(reference: ReferenceServer) -> Iterator[Client]:
    login = Credentials(reference.api_key, None, reference.username, reference.password)
    with Client(TransportSettings(retries=0), login.redactor()) as client:
        yield client


def make_target(reference: ReferenceServer, client: Client, clock: FakeClock,
                token: str | None = None) -> Target:
    credentials = Credentials(reference.api_key, token, reference.username, reference.password)
    return Target(reference.api_url, credentials, client,
                  Control(client, reference.control_url), clock=clock)


def issued(reference: ReferenceServer) -> int:
    """How many tokens the server has handed out: each is one RequestToken that succeeded."""
    return len(reference.store.tokens)


def pass_time(target: Target, clock: FakeClock, seconds: int) -> None:
    """The same time passes for the suite and the server."""
    assert target.control is not None and target.control.advance(seconds)
    clock.now += seconds


def keeps(target: Target, token: str, numbering: Numbering) -> bool:
    """Whether the server keeps a fresh ongoing call for a request carrying ``token``."""
    assert target.control is not None
    scenario = build("ongoing-caller", numbering)
    target.control.add(scenario)
    params = [(P_ACTION, ACTION), (P_API_KEY, target.credentials.api_key or ""),
              (P_TOKEN, token), (P_CALL_ID, scenario.call_id)]
    exchange = target.client.send("GET", target.url, params)
    return validate_xml(exchange.body, None, ACTION).code == "0"


def test_a_token_is_cached_then_renewed_after_50_minutes(
        reference: ReferenceServer, client: Client, clock: FakeClock) -> None:
    target = make_target(reference, client, clock)
    first, before = target.token(), issued(reference)
    assert first
    clock.now += TOKEN_RENEW_SECONDS - 1
    assert target.token() == first and issued(reference) == before  # cached, not re-asked
    clock.now += 1
    second = target.token()
    assert second and second != first and issued(reference) == before + 1
    assert target.token() == second and issued(reference) == before + 1


def test_a_run_longer_than_an_hour_keeps_authenticating(
        reference: ReferenceServer, client: Client, clock: FakeClock) -> None:
    """Past the hour the first token is refused by the server; the renewed one is accepted."""
    target, numbering = make_target(reference, client, clock), Numbering(21)
    first = target.token()
    assert first and keeps(target, first, numbering)
    pass_time(target, clock, TOKEN_RENEW_SECONDS + 60)
    second = target.token()
    assert second and second != first
    pass_time(target, clock, 3600 - TOKEN_RENEW_SECONDS)  # first: 61 min old, second: 10
    assert target.token() == second
    assert keeps(target, second, numbering)
    assert not keeps(target, first, numbering)


def test_a_given_token_is_never_renewed(reference: ReferenceServer, client: Client,
                                        clock: FakeClock) -> None:
    """--token: the suite does not know its age and the user chose it; it is used as is."""
    target = make_target(reference, client, clock, token="given-by-the-user")
    before = issued(reference)
    clock.now += 2 * 3600
    assert target.token() == "given-by-the-user" and issued(reference) == before


def test_a_failed_renewal_keeps_the_old_token_and_tries_again(
        reference: ReferenceServer, client: Client, clock: FakeClock) -> None:
    """The old token still has minutes to live: better than none; the next use retries."""
    target = make_target(reference, client, clock)
    first = target.token()
    login = target.credentials
    target.credentials = replace(login, password="not-the-password")
    clock.now += TOKEN_RENEW_SECONDS
    assert target.token() == first
    target.credentials = login
    renewed = target.token()
    assert renewed and renewed != first


@pytest.mark.parametrize("form", list(WRONG_FORMS))
@pytest.mark.parametrize("real", ["Ab3dEf9hIjKlMn0pQrStUvWxYz123456",
                                  "74c8eea0-50c6-40b2-9f3e-252ed501c3c8"])
def test_a_wrong_secret_is_derived_from_the_real_one_and_never_shows_it(form: str,
                                                                        real: str) -> None:
    """Wrong, the same every time (a replay sends it again), and no run of three characters of
    the real one survives redaction: the secret is shown whole as its placeholder, or not at
    all."""
    wrong = wrong_value(real, form, "fixed")
    assert wrong != real and wrong == wrong_value(real, form, "fixed")
    redactor = Redactor()
    redactor.add(real, "$KEEPCALL_TOKEN")
    shown = redactor(f"token={wrong}&x=1").replace("$KEEPCALL_TOKEN", "")
    pieces = {real[i:i + 3] for i in range(len(real) - 2)} - {"-"}
    assert [p for p in pieces if p in shown and "-" not in p] == []


def test_a_short_or_absent_secret_gets_the_fixed_wrong_value() -> None:
    assert wrong_value(None, "longer", "fixed") == wrong_value("abc", "longer", "fixed") == "fixed"
