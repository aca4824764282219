"""Hypothesis fuzzing of the API: never a 5xx, XML answers parse, errors change no flag."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from reference_helpers import Api, new_call, running

from conformance.catalog.spec import PARAMETERS, RESPONSE_TYPES, STATUS_VALUES, TYPE_VALUES


class World:
    """A server with a few calls on two numbers, and a snapshot of their flags."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.calls = [new_call("ongoing", 5, caller="8856"), new_call("upcoming", 30,
                                                                       called="8856"),
                      new_call("finished", 5, caller="8856"), new_call("ongoing", 9,
                                                                        caller="4242")]
        api.provision(*self.calls, controlled=["4242"])
        # The flags as the last request left them: read once per example, after it (the next
        # example's "before"), not twice; only this test's requests reach the server.
        self.snapshot = self.flags()

    def flags(self) -> list[dict[str, Any]]:
        """Every call's flags in one request (POST {control}/flags), not one GET each."""
        response = self.api.client.post(f"{self.api.server.control_url}/flags",
                                        json={"callIDs": [c["callID"] for c in self.calls]})
        assert response.status_code == 200, response.text
        calls: list[dict[str, Any]] = response.json()["calls"]
        assert [c.get("missing") for c in calls] == [None] * len(self.calls)
        return calls

    def value(self, token: str) -> str:
        symbols: dict[str, str] = {"@ID": self.calls[0]["callID"], "@ID4": self.calls[3]["callID"],
                   "@KEY": self.api.server.api_key, "@OPEN": self.api.server.open_api_key,
                   "@TOKEN": self.api.token}
        return symbols.get(token, token)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running() as api:
        yield World(api)


names = st.sampled_from([*PARAMETERS, "colour", "", "Action", "callid"]) | st.text(max_size=8)
values = st.sampled_from(["@ID", "@ID4", "@KEY", "@OPEN", "@TOKEN", "KeepCall", "RequestToken",
                          "8856", "4242", "1", "0", "", *STATUS_VALUES, *TYPE_VALUES,
                          *RESPONSE_TYPES]) | st.text(max_size=30) | st.text(min_size=300,
                                                                              max_size=600)
# Half the sets start from valid credentials, so that successes are fuzzed too.
BASES = [[], [("action", "KeepCall"), ("apiKey", "@OPEN")],
         [("action", "KeepCall"), ("apiKey", "@KEY"), ("token", "@TOKEN")]]
param_sets = st.tuples(st.sampled_from(BASES), st.lists(st.tuples(names, values), max_size=8)
                       ).map(lambda parts: parts[0] + parts[1])
requests = st.one_of(
    st.tuples(st.just("params"), st.sampled_from(["GET", "POST"]), param_sets),
    st.tuples(st.just("raw"), st.sampled_from(["GET", "POST"]),
              st.tuples(st.binary(max_size=200), st.binary(max_size=200))),
)


def send(world: World, kind: str, method: str, payload: Any) -> Any:
    api = world.api
    if kind == "params":
        pairs = [(k, world.value(v)) for k, v in payload]
        return api.send(pairs, method)
    query, body = payload
    # Control bytes and non-ASCII are escaped (httpx refuses them raw); '%' stays, so
    # malformed escapes and invalid UTF-8 still reach the server.
    url = api.server.api_url + "?" + quote_from_bytes(query, safe="%&=+;/:@,$!*'()~")
    response = api.client.request(method, url, content=body if method == "POST" else None)
    return api._answer(response)


@settings(max_examples=200, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=requests)
def test_fuzzed_requests_never_break_the_server(world: World, request: Any) -> None:
    before = world.snapshot
    try:
        answer = send(world, *request)
    finally:
        world.snapshot = world.flags()
    assert answer.status < 500
    if answer.content_type.startswith("text/xml"):
        root = etree.fromstring(answer.text.encode("utf-8"))
        assert root.tag == "VerbaApi"
        response = root.find("Response")
        assert response is not None
        if response.get("code") != "0":
            assert world.snapshot == before
