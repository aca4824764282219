"""The runner and the target's clock: what a case may do to it, and what it reads back after.

Real exchanges with reference servers on loopback, each with the switches or the fault the test
is about; ``runner.run`` is what every matrix case goes through.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest
from reference_helpers import started

from conformance.catalog.spec import CallState
from conformance.domain.model import Call, Check, KeepCallRequest, Scenario
from conformance.domain.scenarios import Numbering, build
from conformance.domain.timeline import positions
from conformance.reference import ReferenceServer, Switches
from conformance.reference.state import CallRecord, Clock, Store
from conformance.running.runner import Result, run
from conformance.wire.control import Control
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, TransportSettings

KEEP = (("action", "KeepCall"),)
# Plain HTTP on loopback: no CA bundle to load (~20 ms of CPU a client).
NO_RETRIES = TransportSettings(retries=0, verify=False)


@contextmanager
def target_on(server: ReferenceServer, given_token: bool = False,
              settings: TransportSettings = NO_RETRIES) -> Iterator[Target]:
    """A target on ``server``: with a login (tokens renewed), or with a token given as is."""
    credentials = Credentials(server.api_key, None, server.username, server.password)
    with Client(settings, credentials.redactor()) as client:
        target = Target(server.api_url, credentials, client, Control(client, server.control_url))
        if given_token:
            token = target.token()
            credentials = Credentials(server.api_key, token)
            target = Target(server.api_url, credentials, client,
                            Control(client, server.control_url))
        yield target


def verdicts(checks: list[Check]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for check in checks:
        found.setdefault(check.verdict, set()).add(check.requirement)
    return found


def test_a_given_token_pins_the_clock_a_deferred_keep_is_not_tested() -> None:
    """N1: with --token a case that may wait for its call's start moves no clock; it is
    not tested, with the reason, and later cases still authenticate."""
    with started(ReferenceServer(Switches(defer_upcoming=True))) as server, \
            target_on(server, given_token=True) as target:
        assert target.clock_pinned is not None
        numbering = Numbering(3)
        clock = server.store.clock.now()
        for _ in range(3):
            scenario = build("upcoming-caller", numbering)
            request = KeepCallRequest((*KEEP, ("callID", scenario.call_id)))
            result = run(target, scenario, request)
            found = verdicts(result.checks)
            assert "fail" not in found, result.checks
            assert "KC-TYPE-001" in found["not-tested"]
            assert any("given token" in c.message for c in result.checks)
        assert server.store.clock.now() - clock < 60  # real time only: no clock moved
        scenario = build("ongoing-caller", numbering)
        after = run(target, scenario, KeepCallRequest((*KEEP, ("callID", scenario.call_id))))
        assert "fail" not in verdicts(after.checks) and after.after is not None
        assert after.after[scenario.call_id].kept


def test_a_deferral_not_tested_keeps_the_failures_time_cannot_explain() -> None:
    """P8: where the clock may not move, only the failures a change waiting for the call's
    start could explain are not tested; a wrong type in the same answer still fails."""
    with started(ReferenceServer(Switches(defer_upcoming=True),
                                 faults=frozenset({"wrong-type-attribute"}))) as server, \
            target_on(server, given_token=True) as target:
        scenario = build("upcoming-caller", Numbering(5))
        result = run(target, scenario, KeepCallRequest((*KEEP, ("callID", scenario.call_id))))
        found = verdicts(result.checks)
        assert found["fail"] == {"KC-XML-003"}, result.checks
        assert "KC-TYPE-001" in found["not-tested"]


def test_a_login_moves_the_clock_and_judges_the_deferred_keep() -> None:
    """The same case with a login: the clock moves past the start and the keep passes."""
    with started(ReferenceServer(Switches(defer_upcoming=True))) as server, \
            target_on(server) as target:
        assert target.clock_pinned is None
        scenario = build("upcoming-caller", Numbering(4))
        result = run(target, scenario, KeepCallRequest((*KEEP, ("callID", scenario.call_id))))
        found = verdicts(result.checks)
        assert "fail" not in found and "KC-TYPE-001" in found["pass"]
        assert "KC-TYPE-007" in found["observed"]


def _to_fraction(clock: Clock, fraction: float) -> None:
    """Move a fresh clock (no offset yet) on to ``fraction`` of its second: no real wait."""
    clock.advance((fraction - time.monotonic()) % 1)


@pytest.mark.parametrize(("whole", "state"), [(True, "ongoing"), (False, "upcoming")])
def test_a_whole_second_clock_starts_a_call_on_its_start_second(whole: bool,
                                                                state: str) -> None:
    """The clock_resolution switch: a call set up late in a second to start in 1 s has
    started a tenth of a second later, on the next second, on a whole-second clock."""
    store = Store(Clock(whole))
    _to_fraction(store.clock, 0.9)
    call = CallRecord("c", "1", "2", start=store.clock.now() + 1, upcoming=True)
    store.add([call], ())
    store.clock.advance(0.14)  # .04 into the next second
    assert call.state(store.clock.now()) == state


def test_a_keep_that_lands_on_an_earlier_cases_call_fails_flag_002() -> None:
    """P6: the earlier case's call is read back with the next case; its drift fails."""
    with started(ReferenceServer(faults=frozenset({"last-call-cache"}))) as server, \
            target_on(server) as target:
        numbering = Numbering(5)
        first = build("ongoing-caller", numbering)
        unmark = KeepCallRequest((*KEEP, ("callID", first.call_id), ("unmark", "1")))
        assert "fail" not in verdicts(run(target, first, unmark).checks)
        second = build("finished-caller", numbering)
        missing = KeepCallRequest((*KEEP, ("extension", second.extension), ("status", "ongoing")))
        failed = [c for c in run(target, second, missing).checks if c.verdict == "fail"]
        assert [c.requirement for c in failed] == ["KC-FLAG-002"]
        assert first.call_id in failed[0].message


@pytest.mark.parametrize(("state", "offset", "high", "ended"), [
    ("ongoing", 5, 30.0, set()), ("ongoing", 5, 60.0, set()), ("ongoing", 5, 125.0, {0, 65}),
    ("upcoming", 10, 60.0, set()), ("upcoming", 10, 100.0, {0, 30}),
    ("finished", 5, 300.0, set()),
])
def test_a_call_may_have_ended_only_once_it_may_have_run_a_minute(
        state: CallState, offset: int, high: float, ended: set[int]) -> None:
    """Control protocol 1.1: an ongoing call may end, but not within the minute the suite lets
    it run; past that, ended just now or as long ago as it may have (N6)."""
    call = Call("c", "1", "2", state, offset)
    found = {c.offset_seconds for c in positions(call, 0.0, high)
             if c.state == "finished" and state != "finished"}
    assert found == ended


def test_a_call_ends_some_time_after_its_set_up_or_its_start() -> None:
    """The calls_end switch: a call ongoing at set-up ends that long after it; an upcoming one
    that long after its start; a late call that stays upcoming never began, so never ends."""
    store, late = Store(calls_end=90), Store(late_calls_stay_upcoming=True, calls_end=90)
    now = store.clock.now()
    ongoing = CallRecord("o", "1", "2", start=now - 30)
    upcoming = CallRecord("u", "3", "4", start=now + 30, upcoming=True)
    waiting = CallRecord("w", "5", "6", start=late.clock.now() + 30, upcoming=True)
    store.add([ongoing, upcoming], ())
    late.add([waiting], ())
    states = []
    for seconds in (80, 20, 40):
        store.clock.advance(seconds)
        late.clock.advance(seconds)
        store.settle()
        late.settle()
        states.append((ongoing.state(store.clock.now()), upcoming.state(store.clock.now()),
                       waiting.state(late.clock.now())))
    assert states == [("ongoing", "ongoing", "upcoming"), ("finished", "ongoing", "upcoming"),
                      ("finished", "finished", "upcoming")]
    assert ongoing.end is not None and upcoming.end is not None
    # The ongoing call ends 90 s after its set-up, which follows `now` by a little.
    assert upcoming.end - ongoing.end == pytest.approx(30, abs=0.5)


# Timeouts shorter than the target's hold of a next (0.75 s: next_hold, below the 2 s to the
# start of the call found), yet roomy for the other requests on a busy machine.
SHORT = replace(NO_RETRIES, read_timeout=0.25, total_timeout=0.5)
HOLD = 0.75


HELD = [("upcoming-now", "next"), ("no-call", "ongoing,next"), ("ongoing-caller", "next")]


def _held_next(scenario: str, status: str) -> Result:
    with started(ReferenceServer(Switches(next_hold=HOLD))) as server, \
            target_on(server, settings=SHORT) as target:
        built = build(scenario, Numbering(5))
        request = KeepCallRequest((*KEEP, ("extension", built.extension), ("status", status)))
        return run(target, built, request)


@pytest.fixture(scope="module")
def held_nexts() -> dict[tuple[str, str], Result]:
    """The cases of HELD at once, each on its own server: they mostly wait (seconds each)."""
    with ThreadPoolExecutor(len(HELD)) as pool:
        return dict(zip(HELD, pool.map(lambda row: _held_next(*row), HELD), strict=True))


@pytest.mark.parametrize(("scenario", "status"), HELD)
def test_a_next_held_past_the_timeouts_is_an_answer(
        held_nexts: dict[tuple[str, str], Result], scenario: str, status: str) -> None:
    """N3: a target that holds next until the call starts (or waits for one) answers past the
    client's timeouts; the request's own deadline allows it, and the case passes."""
    result = held_nexts[scenario, status]
    assert result.exchange is not None and result.exchange.error is None
    assert "fail" not in verdicts(result.checks), result.checks


# Every answer slower than the whole deadline (the token's too): what times out cannot depend on
# how busy the machine is.
SLOWER_THAN_DEADLINE = (replace(NO_RETRIES, read_timeout=0.1, total_timeout=0.2),
                        Switches(latency=300))


def test_only_a_next_gets_the_longer_deadline() -> None:
    """Any other request keeps the client's timeouts: a slow answer is still a timeout."""
    settings, switches = SLOWER_THAN_DEADLINE
    with started(ReferenceServer(switches)) as server, \
            target_on(server, settings=settings) as target:
        built = build("ongoing-caller", Numbering(6))
        ongoing, held = (KeepCallRequest((*KEEP, ("extension", built.extension),
                                          ("status", status))) for status in ("ongoing", "next"))
        late = target.send(ongoing, target.credential_params(ongoing) or [])
        assert (late.error or "").startswith("timeout")
        assert target.send(held, target.credential_params(held) or []).error is None


def test_static_profile_calls_age_with_the_wall_clock() -> None:
    """N15: a profile's upcoming call 30 s out, listed 40 s before the request, may have
    started: a target that no longer finds it by ``next`` is not failed; told the offsets hold
    now, the same answer fails (the suite then assumes the call is still 30 s out)."""
    call = Call(str(uuid.uuid4()), "4711", "+3612345678", "upcoming", 30)
    with started(ReferenceServer()) as server:
        control = f"{server.control_url}"
        assert httpx.put(f"{control}/fixtures", json={"calls": [call.to_control()],
                                                      "controlledExtensions": []}
                         ).status_code == 204
        assert httpx.post(f"{control}/clock", json={"advanceSeconds": 40}).status_code == 204
        credentials = Credentials(server.api_key, None, server.username, server.password)
        request = KeepCallRequest((*KEEP, ("extension", "4711"), ("status", "next")))
        scenario = Scenario("profile", (), call.caller, call.call_id)
        found = {}
        with Client(NO_RETRIES, credentials.redactor()) as client:
            for valid_at in (time.time() - 40, None):
                target = Target(server.api_url, credentials, client, static_calls=(call,),
                                calls_valid_at=valid_at)
                result = run(target, scenario, request, fresh=False)
                found[valid_at is None] = verdicts(result.checks).get("fail", set())
    assert found == {False: set(), True: found[True]} and found[True], found
