"""The control protocol (docs/CONTROL-PROTOCOL.md): strict validation (400, nothing changed),
the clock, and the JSON Schemas of schemas/: the reference server's answers validate, the bodies
the suite sends validate, and the bodies the server refuses break the schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from reference_helpers import CLEAR, Api, CallFlags, new_call, running

from conformance.domain.model import Flags
from conformance.domain.scenario_plans import ScenarioPlan, scenario_plans
from conformance.domain.scenarios import ALL_SCENARIOS, Numbering, build
from conformance.wire.control import (
    CALLS_SCHEMA,
    CLOCK_SCHEMA,
    ERROR_SCHEMA,
    FLAGS_SCHEMA,
    Control,
    violation,
)
from conformance.wire.redact import Redactor
from conformance.wire.transport import Client, TransportSettings


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with running() as api:
        yield api


def _valid(**changes: Any) -> dict[str, Any]:
    return {**new_call("ongoing"), **changes}


# What a JSON Schema cannot say: a callID twice in one body, an offset past the server's clock.
BEYOND_THE_SCHEMA: list[Any] = [
    {"calls": [_valid(offsetSeconds=10**12)]},
    {"calls": [_valid(), _valid(callID="dup"), _valid(callID="dup")]},
]
BAD_BODIES: list[Any] = [
    *BEYOND_THE_SCHEMA,
    b"{not json", b"[]", b'"calls"', b"", b"\xff\xfe",
    {"calls": {}}, {"calls": [1]}, {"calls": [], "colour": 1},
    {"controlledExtensions": "8856"}, {"controlledExtensions": [8856]},
    {"calls": [_valid(state="paused")]}, {"calls": [_valid(offsetSeconds=-1)]},
    {"calls": [_valid(offsetSeconds=1.5)]}, {"calls": [_valid(offsetSeconds="30")]},
    {"calls": [_valid(offsetSeconds=True)]},
    {"calls": [_valid(kept="yes")]}, {"calls": [_valid(callID=7)]},
    {"calls": [_valid(caller="")]}, {"calls": [_valid(extra=1)]},
    {"calls": [{k: v for k, v in _valid().items() if k != "called"}]},
]


@pytest.mark.parametrize("path", ["/fixtures", "/calls"])
@pytest.mark.parametrize("body", BAD_BODIES)
def test_bad_bodies_are_400_and_change_nothing(api: Api, path: str, body: Any) -> None:
    existing = new_call("ongoing", kept=True)
    api.provision(existing)
    content = body if isinstance(body, bytes) else None
    response = api.client.request("PUT" if path == "/fixtures" else "POST",
                                  api.server.control_url + path, content=content,
                                  json=None if content is not None else body)
    assert response.status_code == 400
    assert violation(ERROR_SCHEMA, response.json()) is None
    assert api.flags(existing) == {**CLEAR, "kept": True}


@pytest.mark.parametrize("body", [b for b in BAD_BODIES[len(BEYOND_THE_SCHEMA):]
                                  if not isinstance(b, bytes)])
def test_bodies_the_server_refuses_break_the_calls_schema(body: Any) -> None:
    assert violation(CALLS_SCHEMA, body) is not None


def test_put_fixtures_replaces_everything(api: Api) -> None:
    old, new = new_call("ongoing"), new_call("finished", recording=True)
    api.provision(old, controlled=[old["caller"]])
    response = api.client.put(api.server.control_url + "/fixtures", json={"calls": [new]})
    assert response.status_code == 204
    assert api.client.get(f"{api.server.control_url}/calls/{old['callID']}").status_code == 404
    assert api.flags(new) == {**CLEAR, "recording": True}


def test_post_calls_replaces_a_call_with_the_same_id(api: Api) -> None:
    call = new_call("ongoing", kept=True)
    api.provision(call)
    api.provision({**call, "kept": False, "protected": True})
    assert api.flags(call) == {**CLEAR, "protected": True}


def test_controlled_extensions_accumulate(api: Api) -> None:
    first, second = new_call("ongoing"), new_call("ongoing")
    api.provision(first, controlled=[first["caller"]])
    api.provision(second, controlled=[second["caller"]])
    for call in (first, second):
        assert api.keepcall({"callID": call["callID"], "type": "manualRecord"}).ok


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/calls/unknown", 404), ("GET", "/fixtures", 405), ("DELETE", "/calls", 405),
    ("GET", "/nothing", 404),
])
def test_unknown_routes(api: Api, method: str, path: str, status: int) -> None:
    response = api.client.request(method, api.server.control_url + path)
    assert response.status_code == status
    assert violation(ERROR_SCHEMA, response.json()) is None


@pytest.mark.parametrize("body", [
    {"advanceSeconds": -1}, {"advanceSeconds": "60"}, {"advanceSeconds": None}, {},
    {"advanceSeconds": 1, "x": 2}, {"advanceSeconds": 10**12}, {"advanceSeconds": True}, [],
])
def test_bad_clock_bodies_are_400_and_break_the_schema(api: Api, body: Any) -> None:
    response = api.client.post(api.server.control_url + "/clock", json=body)
    assert response.status_code == 400
    assert violation(ERROR_SCHEMA, response.json()) is None
    if body != {"advanceSeconds": 10**12}:  # the server's limit, not the protocol's
        assert violation(CLOCK_SCHEMA, body) is not None


def test_the_clock_moves_calls_between_states() -> None:
    with running() as api:
        upcoming = new_call("upcoming", 30)
        api.provision(upcoming)
        extension = upcoming["caller"]
        assert not api.keepcall({"extension": extension, "status": "ongoing"}, auth=False).ok
        api.advance(31)
        assert api.keepcall({"extension": extension, "status": "ongoing"}, auth=False).ok


def test_an_upcoming_call_enters_the_next_window_as_the_clock_moves() -> None:
    with running() as api:
        later = new_call("upcoming", 120)
        api.provision(later)
        query = {"extension": later["caller"], "status": "next"}
        assert not api.keepcall(query, auth=False).ok
        api.advance(70)
        assert api.keepcall(query, auth=False).ok


# --- the schemas, against what the server answers and what the suite sends ----------------
@pytest.mark.parametrize("state", ["ongoing", "upcoming", "finished"])
@pytest.mark.parametrize("flags", [{}, {"kept": True}, {"protected": True, "recording": True}])
def test_flags_answers_validate(api: Api, state: str, flags: CallFlags) -> None:
    call = new_call(state, **flags)
    api.provision(call)
    response = api.client.get(f"{api.server.control_url}/calls/{call['callID']}")
    assert response.status_code == 200
    assert violation(FLAGS_SCHEMA, response.json()) is None


SCHEMA_OF = {("PUT", "/fixtures"): CALLS_SCHEMA, ("POST", "/calls"): CALLS_SCHEMA,
             ("POST", "/clock"): CLOCK_SCHEMA}


@pytest.fixture
def sent(api: Api, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Control, list[Any]]]:
    """The suite's own control client on the reference server, recording what it sends."""
    bodies: list[Any] = []
    with Client(TransportSettings(total_timeout=5), Redactor()) as client:
        send_json = client.send_json

        def recording(method: str, url: str, payload: object | None) -> Any:
            path = url.removeprefix(api.server.control_url)
            bodies.append((method, path, payload))
            return send_json(method, url, payload)

        monkeypatch.setattr(client, "send_json", recording)
        yield Control(client, api.server.control_url), bodies


def test_the_bodies_the_suite_sends_validate(sent: tuple[Control, list[Any]]) -> None:
    control, bodies = sent
    control.reset()
    numbering = Numbering(7)
    for name in ALL_SCENARIOS:
        for controlled in (True, False):
            scenario = build(name, numbering, Flags(kept=True, recording=True), controlled)
            control.add(scenario)
            assert control.flags(c.call_id for c in scenario.calls)
    assert control.advance(60)
    for method, path, payload in bodies:
        schema = SCHEMA_OF.get((method, path))
        assert schema is None or violation(schema, payload) is None, (method, path, payload)
    assert {schema for key, schema in SCHEMA_OF.items()
            if any(b[:2] == key for b in bodies)} == {CALLS_SCHEMA, CLOCK_SCHEMA}


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=scenario_plans())
def test_generated_scenarios_validate(plan: ScenarioPlan) -> None:
    scenario = plan.instantiate(Numbering(1)).scenario
    assert violation(CALLS_SCHEMA, scenario.to_control()) is None
