"""The control protocol: strict validation (400, nothing changed) and the clock."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from reference_helpers import CLEAR, Api, new_call, running


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with running() as api:
        yield api


def _valid(**changes: Any) -> dict[str, Any]:
    return {**new_call("ongoing"), **changes}


BAD_BODIES: list[Any] = [
    b"{not json", b"[]", b'"calls"', b"", b"\xff\xfe",
    {"calls": {}}, {"calls": [1]}, {"calls": [], "colour": 1},
    {"controlledExtensions": "8856"}, {"controlledExtensions": [8856]},
    {"calls": [_valid(state="paused")]}, {"calls": [_valid(offsetSeconds=-1)]},
    {"calls": [_valid(offsetSeconds=1.5)]}, {"calls": [_valid(offsetSeconds="30")]},
    {"calls": [_valid(offsetSeconds=True)]}, {"calls": [_valid(offsetSeconds=10**12)]},
    {"calls": [_valid(kept="yes")]}, {"calls": [_valid(callID=7)]},
    {"calls": [_valid(caller="")]}, {"calls": [_valid(extra=1)]},
    {"calls": [{k: v for k, v in _valid().items() if k != "called"}]},
    {"calls": [_valid(), _valid(callID="dup"), _valid(callID="dup")]},
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
    assert isinstance(response.json()["error"], str)
    assert api.flags(existing) == {**CLEAR, "kept": True}


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
    assert response.status_code == status and "error" in response.json()


@pytest.mark.parametrize("body", [
    {"advanceSeconds": -1}, {"advanceSeconds": "60"}, {"advanceSeconds": None}, {},
    {"advanceSeconds": 1, "x": 2}, {"advanceSeconds": 10**12}, {"advanceSeconds": True}, [],
])
def test_bad_clock_bodies_are_400(api: Api, body: Any) -> None:
    response = api.client.post(api.server.control_url + "/clock", json=body)
    assert response.status_code == 400 and "error" in response.json()


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
