"""The reference server against each row of the KeepCall page, over real HTTP on loopback."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from typing import Any

import pytest
from reference_helpers import CLEAR, Api, CallFlags, new_call, number, running


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with running() as api:
        yield api


# --- lookup by callID -------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "offset"), [("ongoing", 5), ("upcoming", 3000),
                                               ("finished", 3000)])
def test_callid_finds_a_call_in_any_state(api: Api, state: str, offset: int) -> None:
    call = new_call(state, offset)
    api.provision(call)
    answer = api.keepcall({"callID": call["callID"]})
    assert answer.ok and answer.response.get("type") == "KeepCall"
    assert api.flags(call) == {**CLEAR, "kept": True}


@pytest.mark.parametrize("call_id", ["a8343631-9f35-4a3a-83f0-9e81592339fb", "not-a-guid", ""])
def test_unknown_callid_is_an_error(api: Api, call_id: str) -> None:
    answer = api.keepcall({"callID": call_id})
    assert answer.status == 200 and answer.code == "2" and answer.error_message


# --- lookup by extension ----------------------------------------------------------------------
@pytest.mark.parametrize("party", ["caller", "called"])
def test_extension_matches_either_party(api: Api, party: str) -> None:
    call = new_call("ongoing")
    api.provision(call)
    assert api.keepcall({"extension": call[party], "status": "ongoing"}).ok
    assert api.flags(call)["kept"]


def test_extension_matches_whole_numbers_only(api: Api) -> None:
    call = new_call("ongoing")
    api.provision(call)
    assert not api.keepcall({"extension": call["caller"][:-1], "status": "ongoing"}).ok
    assert api.flags(call) == CLEAR


LOOKUPS = [  # status, the states present (offsets), which of them is found (None: error)
    ("ongoing", [("ongoing", 5)], 0),
    ("ongoing", [("finished", 5), ("upcoming", 10)], None),
    ("next", [("upcoming", 30)], 0),
    ("next", [("upcoming", 60)], 0),
    ("next", [("upcoming", 90)], None),
    ("next", [("ongoing", 5)], None),
    ("last", [("finished", 100)], 0),
    ("last", [("ongoing", 5), ("upcoming", 5)], None),
    ("ongoing,next", [("ongoing", 5), ("upcoming", 10)], 0),
    ("ongoing,next", [("upcoming", 10), ("finished", 5)], 0),
    ("ongoing,next", [("finished", 5)], None),
    ("last,ongoing", [("ongoing", 5), ("finished", 10)], 1),
    ("last,ongoing", [("ongoing", 5), ("upcoming", 10)], 0),
    ("last,ongoing", [("upcoming", 10)], None),
    ("ongoing,next", [("ongoing", 5), ("ongoing", 9), ("upcoming", 10)], None),
    ("last", [("finished", 5), ("finished", 50)], 0),
    ("next", [("upcoming", 50), ("upcoming", 20)], 1),
]


@pytest.mark.parametrize(("status", "states", "found"), LOOKUPS)
def test_status_lookups_and_fallbacks(api: Api, status: str, states: list[tuple[str, int]],
                                      found: int | None) -> None:
    extension = number()
    calls = [new_call(state, offset, caller=extension) for state, offset in states]
    api.provision(*calls)
    answer = api.keepcall({"extension": extension, "status": status})
    assert answer.ok is (found is not None)
    kept = [api.flags(c)["kept"] for c in calls]
    assert kept == [i == found for i in range(len(calls))]


def test_more_than_one_ongoing_call_is_an_error(api: Api) -> None:
    extension = number()
    calls = [new_call("ongoing", 5, caller=extension), new_call("ongoing", 9, called=extension)]
    api.provision(*calls)
    answer = api.keepcall({"extension": extension, "status": "ongoing"})
    assert not answer.ok and answer.error_message
    assert [api.flags(c) for c in calls] == [CLEAR, CLEAR]


# --- parameter errors -------------------------------------------------------------------------
@pytest.mark.parametrize("params", [
    {}, {"extension": "1234"}, {"extension": "1234", "status": "sometime"},
    {"extension": "1234", "status": "next,ongoing"}, {"extension": "1234", "status": "Ongoing"},
    {"extension": "1234", "status": "ongoing, next"}, {"callID": "x", "type": "other"},
    {"callID": "x", "unmark": "2"}, {"callID": "x", "responseType": "JSON"},
    {"callID": "x", "colour": "blue"}, [("callID", "x"), ("callID", "y")],
])
def test_invalid_requests_are_errors(api: Api, params: Any) -> None:
    call = new_call("ongoing", 5, caller="1234")
    api.provision(call)
    params = [(k, call["callID"] if v == "x" else v) for k, v in (
        params.items() if isinstance(params, dict) else params)]
    answer = api.keepcall(params)
    assert answer.status == 200 and answer.code == "2" and answer.error_message
    assert api.flags(call) == CLEAR


@pytest.mark.parametrize("params", [
    [("apiKey", "k")], [("action", "keepcall"), ("apiKey", "k")], [("action", "Other")],
])
def test_action_errors(api: Api, params: list[tuple[str, str]]) -> None:
    pairs = [(k, api.server.open_api_key if v == "k" else v) for k, v in params]
    answer = api.send(pairs)
    assert answer.code == "2" and answer.response.get("type") == "KeepCall"


# --- type and unmark --------------------------------------------------------------------------
EFFECTS: list[tuple[str | None, str | None, CallFlags, dict[str, bool]]] = [
    # type, unmark, flags before, flags after
    (None, None, {}, {"kept": True}),
    (None, "1", {"kept": True}, {}),
    (None, "0", {}, {"kept": True}),
    ("do_not_delete", None, {}, {"protected": True}),
    ("do_not_delete", "1", {"protected": True, "kept": True}, {"kept": True}),
    ("manualRecord", None, {}, {"recording": True}),
    ("manualRecord", "1", {"recording": True}, {}),
    (None, None, {"kept": True}, {"kept": True}),
    (None, "1", {}, {}),
]


@pytest.mark.parametrize(("type_", "unmark", "before", "after"), EFFECTS)
def test_type_and_unmark_change_one_flag(api: Api, type_: str | None, unmark: str | None,
                                         before: CallFlags, after: dict[str, bool]) -> None:
    call, neighbour = new_call("ongoing", **before), new_call("ongoing", **before)
    neighbour["caller"] = call["caller"]
    api.provision(call, neighbour, controlled=[call["called"]])
    params = {"callID": call["callID"], **({"type": type_} if type_ else {}),
              **({"unmark": unmark} if unmark else {})}
    assert api.keepcall(params).ok
    assert api.flags(call) == {**CLEAR, **after}
    assert api.flags(neighbour) == {**CLEAR, **before}


def test_manual_record_on_an_uncontrolled_call_is_an_error(api: Api) -> None:
    call = new_call("ongoing")
    api.provision(call)
    assert not api.keepcall({"callID": call["callID"], "type": "manualRecord"}).ok
    assert api.flags(call) == CLEAR


# --- authentication ---------------------------------------------------------------------------
def test_request_token_returns_32_alphanumerics(api: Api) -> None:
    answer = api.request_token()
    assert answer.ok and answer.response.get("type") == "RequestToken"
    assert re.fullmatch(r"[A-Za-z0-9]{32}", answer.response.get("token"))


@pytest.mark.parametrize("auth", [("conformance", "wrong"), ("someone", "x"), None])
def test_request_token_with_bad_credentials_is_an_error(api: Api, auth: Any) -> None:
    params = {"action": "RequestToken", "apiKey": api.server.api_key}
    wrong = auth if auth is None else (auth[0], auth[1])
    response = api.client.get(api.server.api_url, params=params, auth=wrong)
    answer = api._answer(response)
    assert answer.code == "2" and answer.response.get("token") is None


@pytest.mark.parametrize(("key", "token"), [
    (None, "valid"), ("unknown", "valid"), ("valid", None), ("valid", "unknown"),
    ("valid", ""),
])
def test_bad_credentials_are_errors(api: Api, key: str | None, token: str | None) -> None:
    call = new_call("ongoing")
    api.provision(call)
    values = {"valid": {"key": api.server.api_key, "token": api.token},
              "unknown": {"key": "74c8eea0-50c6-40b2-9f3e-252ed501c3c8", "token": "x" * 32}}
    pairs = [("action", "KeepCall"), ("callID", call["callID"])]
    pairs += [("apiKey", values[key]["key"])] if key else []
    pairs += [("token", values.get(token, {"token": ""})["token"])] if token is not None else []
    assert api.send(pairs).code == "2"
    assert api.flags(call) == CLEAR


def test_open_key_needs_no_token_and_ignores_one(api: Api) -> None:
    call = new_call("ongoing")
    api.provision(call)
    assert api.keepcall({"callID": call["callID"]}, auth=False).ok
    assert api.keepcall({"callID": call["callID"], "token": "anything"}, auth=False).ok


def test_tokens_expire_after_an_hour() -> None:
    with running() as api:
        call = new_call("ongoing", 10)
        api.provision(call)
        assert api.token  # issued now
        api.advance(3590)
        assert api.keepcall({"callID": call["callID"]}).ok
        api.advance(20)
        assert api.keepcall({"callID": call["callID"]}).code == "2"


# --- response types ---------------------------------------------------------------------------
@pytest.mark.parametrize("good", [True, False])
@pytest.mark.parametrize(("response_type", "content_type"), [
    (None, "text/xml; charset=utf-8"), ("XML", "text/xml; charset=utf-8"),
    ("HTML", "text/html; charset=utf-8"), ("TEXT", "text/plain; charset=utf-8"),
])
def test_response_types(api: Api, response_type: str | None, content_type: str,
                        good: bool) -> None:
    call = new_call("ongoing")
    api.provision(call)
    params = {"callID": call["callID"] if good else "nope",
              **({"responseType": response_type} if response_type else {})}
    answer = api.keepcall(params)
    assert answer.content_type == content_type
    if content_type.startswith("text/xml"):
        assert answer.text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
        assert answer.ok is good
    elif content_type.startswith("text/html"):
        assert "<html>" in answer.text and "VerbaApi" not in answer.text
    else:
        assert "<" not in answer.text and (answer.text.startswith("OK") is good)


# --- HTTP methods -----------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "in_query"), [("GET", True), ("POST", False), ("POST", True)])
def test_get_and_post(api: Api, method: str, in_query: bool) -> None:
    call = new_call("ongoing")
    api.provision(call)
    assert api.keepcall({"callID": call["callID"]}, method, in_query=in_query).ok
    assert api.flags(call)["kept"]


def test_post_body_params_follow_query_params(api: Api) -> None:
    call = new_call("ongoing")
    api.provision(call)
    query = {"action": "KeepCall", "apiKey": api.server.api_key, "token": api.token}
    response = api.client.post(api.server.api_url, params=query,
                               data={"callID": call["callID"], "responseType": "TEXT"})
    assert response.text == "OK\n"
    duplicated = api.client.post(api.server.api_url, params=query,
                                 data={**query, "callID": call["callID"]})
    assert "<ErrorMessage>" in duplicated.text  # duplicates are rejected by default


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_refused_without_a_server_error(api: Api, method: str) -> None:
    response = api.client.request(method, api.server.api_url)
    assert response.status_code == 405


# --- odd input --------------------------------------------------------------------------------
@pytest.mark.parametrize("query", [b"action=%zz", b"action=%4", b"callID=%ff%fe", b"a" * 9000])
def test_undecodable_or_oversized_queries_are_xml_errors(api: Api, query: bytes) -> None:
    response = api.client.get(api.server.api_url + "?" + query.decode())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert 'code="2"' in response.text


@pytest.mark.parametrize("size", [20_000, 100_000])
def test_very_long_urls_are_not_server_errors(api: Api, size: int) -> None:
    # httpx refuses URLs over 64 KiB, so http.client sends these.
    connection = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=10)
    try:
        connection.request("GET", "/verba/api?callID=" + "x" * size)
        assert connection.getresponse().status < 500
    finally:
        connection.close()


def test_oversized_body_is_an_error_in_the_requested_format(api: Api) -> None:
    response = api.client.post(api.server.api_url + "?responseType=TEXT",
                               content=b"callID=" + b"x" * 70_000,
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and response.text.startswith("ERROR:")


def test_oversized_chunked_body_is_an_error(api: Api) -> None:
    def chunks() -> Iterator[bytes]:
        yield b"callID="
        for _ in range(40):
            yield b"x" * 4096

    response = api.client.post(api.server.api_url, content=chunks(),
                               headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200 and 'code="2"' in response.text


@pytest.mark.parametrize(("body", "content_type"), [
    (b"callID=%ff", "application/x-www-form-urlencoded"), (b'{"callID": 1}', "application/json"),
])
def test_bad_bodies_are_xml_errors(api: Api, body: bytes, content_type: str) -> None:
    response = api.client.post(api.server.api_url, content=body,
                               headers={"content-type": content_type})
    assert response.status_code == 200 and 'code="2"' in response.text


def test_unknown_paths_are_404(api: Api) -> None:
    response = api.client.get(api.server.api_url.replace("/verba/api", "/verba/other"))
    assert response.status_code == 404
