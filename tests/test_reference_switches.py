"""Each switch changes what it says and nothing else.

A battery of probes, one or more per open point plus plain successes and errors in every format,
runs on the preferred-reading server and on a server with one switch changed; exactly the probes
the switch is about may differ, and the switched answers must show the reading it names. Finer
points of a reading (every spelling it accepts, what time does to a deferred change) have tables
of their own below.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urlencode

import pytest
from reference_helpers import (
    CLEAR,
    Api,
    Observation,
    Probe,
    aged_token,
    new_call,
    number,
    observe,
    on_calls,
    raw,
    running,
)

from conformance.catalog.spec import API_PATH
from conformance.reference import ReferenceServer, Switches, switch_choices
from conformance.reference.app import CONTROL_PREFIX

ONGOING = [("ongoing", 5)]
UPCOMING = [("upcoming", 3000)]
LATE = [("upcoming", 2)]  # starts 2 s after provisioning; the probe then waits 5 s
BY_ID = {"callID": "ID"}
EXT_ONGOING = {"extension": "EXT", "status": "ongoing"}


def ext(status: str) -> dict[str, str]:
    return {"extension": "EXT", "status": status}


def undecodable(value: str) -> Probe:
    """An ongoing call kept by callID, with ``type`` sent raw as ``value`` (bytes that are not
    UTF-8, a malformed escape): an error, or (left out) a plain keep."""
    def probe(api: Api) -> Observation:
        call = new_call("ongoing")
        api.provision(call)
        query = urlencode([("action", "KeepCall"), ("apiKey", api.server.api_key),
                           ("token", api.token), ("callID", call["callID"])])
        url = f"{api.server.api_url}?{query}&type={value}"
        return observe(api, Api._answer(api.client.get(url)), [call])
    return probe


def open_key(*pairs: tuple[str, str]) -> Probe:
    """A request with the open apiKey and an ongoing call's ID, built from scratch."""
    return raw(lambda api, i: [*pairs, ("apiKey", api.server.open_api_key), ("callID", i)])


BATTERY: dict[str, Probe] = {
    "success": on_calls(ONGOING, BY_ID),
    "error": on_calls(ONGOING, {"callID": "GUID"}),
    "case": on_calls(ONGOING, ext("Ongoing")),
    "comma": on_calls(ONGOING, ext("ongoing, next")),
    "tight": on_calls(ONGOING, ext("ongoing,next")),
    "comma_wide": on_calls(ONGOING, ext("ongoing , next")),
    "trailing": on_calls(ONGOING, ext("ongoing,")),
    "both": on_calls(ONGOING, {**BY_ID, **EXT_ONGOING}),
    "both_apart": on_calls(ONGOING, {"callID": "GUID", **EXT_ONGOING}),
    "status_id": on_calls([("finished", 5)], {**BY_ID, "status": "ongoing"}),
    "several": on_calls([("finished", 5), ("finished", 50)], ext("last")),
    "unknown_param": on_calls(ONGOING, {**BY_ID, "colour": "blue"}),
    "param_case": on_calls(ONGOING, {"callid": "ID"}),
    "duplicate": on_calls(ONGOING, [("callID", "ID"), ("callID", "GUID")]),
    "unknown_rt": on_calls(ONGOING, {**BY_ID, "responseType": "JSON"}),
    "token_open": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", api.server.open_api_key),
                                      ("token", "t" * 32), ("callID", i)]),
    "old_token": aged_token(3700),
    "uncontrolled": on_calls(ONGOING, {**BY_ID, "type": "manualRecord"}, controlled=False),
    "record_upcoming": on_calls(UPCOMING, {**BY_ID, "type": "manualRecord"}),
    "unmark_other": on_calls(ONGOING, {**BY_ID, "unmark": "yes"}),
    "unmark_number": on_calls(ONGOING, {**BY_ID, "unmark": "01"}),
    "keep_upcoming": on_calls(UPCOMING, BY_ID),
    "next_none": on_calls(ONGOING, ext("next")),
    "fallback_none": on_calls([("finished", 5)], ext("ongoing,next")),
    "late_ongoing": on_calls(LATE, ext("ongoing"), wait_before=5),
    "late_next": on_calls(LATE, ext("next"), wait_before=5),
    "boundary": on_calls([("upcoming", 60)], ext("next")),
    "spelling": on_calls(ONGOING, {"callID": "ID_UPPER"}),
    "post_form": on_calls(ONGOING, BY_ID, method="POST"),
    "post_query": on_calls(ONGOING, BY_ID, method="POST", in_query=True),
    "long_url": on_calls(ONGOING, {"callID": "L" * 4100}),
    "no_action": open_key(),
    "bad_action": open_key(("action", "Other<x")),
    "auth_text": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", api.server.api_key),
                                     ("callID", i), ("responseType", "TEXT")]),
    "html_ok": on_calls(ONGOING, {**BY_ID, "responseType": "HTML"}),
    "html_err": on_calls(ONGOING, {"callID": "GUID", "responseType": "HTML"}),
    "text_ok": on_calls(ONGOING, {**BY_ID, "responseType": "TEXT"}),
    "text_err": on_calls(ONGOING, {"callID": "GUID", "responseType": "TEXT"}),
    "wrong_login": lambda api: observe(api, api.request_token(auth=("intruder", "guess")), []),
    "not_utf8": undecodable("%FF"),
    "bad_escape": undecodable("%zz"),
    "no_token": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", api.server.api_key),
                                    ("callID", i)]),
    "bad_token": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", api.server.api_key),
                                     ("token", "t" * 32), ("callID", i)]),
}
XML_ERRORS = {"error", "case", "comma", "comma_wide", "trailing", "both_apart", "unknown_param",
              "param_case", "duplicate", "unknown_rt", "old_token", "uncontrolled", "unmark_other",
              "unmark_number", "next_none", "fallback_none", "late_next", "spelling", "long_url",
              "no_action", "bad_action", "wrong_login", "not_utf8", "bad_escape",
              "no_token", "bad_token"}
ERRORS = XML_ERRORS | {"html_err", "text_err", "auth_text"}
UNDECODABLE = {"not_utf8", "bad_escape"}  # refused before the action is read
KEPT = {"success", "tight", "both", "status_id", "several", "token_open", "keep_upcoming",
        "late_ongoing", "boundary", "post_form", "post_query"}
SUCCESSES_ON_A_CALL = KEPT | {"record_upcoming"}
HTML = {"html_ok", "html_err"}
TEXT = {"text_ok", "text_err", "auth_text"}
XML = set(BATTERY) - HTML - TEXT
Check = Callable[[Observation], bool]


def ok(obs: Observation) -> bool:
    return 'code="0"' in obs[2] and obs[0] == 200 and any(obs[3] and f["kept"] for f in obs[3])


def error(obs: Observation) -> bool:
    return 'code="2"' in obs[2] and not any(any(f.values()) for f in obs[3])


def changed_nothing(obs: Observation) -> bool:
    """A success that leaves every flag clear (a pending or deferred keep, an unmark)."""
    return 'code="0"' in obs[2] and obs[0] == 200 and obs[3] == [CLEAR]


def body_has(text: str) -> Check:
    return lambda obs: text in obs[2]


def body_is(text: str) -> Check:
    return lambda obs: obs[2] == text


def status_is(status: int) -> Check:
    return lambda obs: obs[0] == status


def content_type_is(prefix: str) -> Check:
    return lambda obs: obs[1].startswith(prefix)


def all_of(*checks: Check) -> Check:
    return lambda obs: all(check(obs) for check in checks)


XML_START = '<?xml version="1.0" encoding="UTF-8"?>\n'
# switch change, probes that must differ, what the switched answers of some probes must show
ROWS: list[tuple[dict[str, Any], set[str], dict[str, Check]]] = [
    # lookup and parameters
    ({"both_ids": "reject"}, {"both", "both_apart"}, {"both": error}),
    ({"both_ids": "extension-wins"}, {"both_apart"}, {"both_apart": ok}),
    ({"status_with_callid": "applied"}, {"status_id"}, {"status_id": error}),
    ({"several_last_next": "error"}, {"several"}, {"several": error}),
    ({"case_insensitive": True}, {"case"}, {"case": ok}),
    ({"param_names": "case-insensitive"}, {"param_case"}, {"param_case": ok}),
    ({"status_spelling": "spaced"}, {"comma", "tight", "fallback_none"},
     {"comma": ok, "tight": error, "fallback_none": body_has("Unknown status")}),
    ({"status_spelling": "either"}, {"comma", "comma_wide"}, {"comma": ok, "comma_wide": ok}),
    ({"trailing_comma": "drop-empty"}, {"trailing"}, {"trailing": ok}),
    ({"unknown_params": "ignore"}, {"unknown_param", "param_case"}, {"unknown_param": ok}),
    ({"duplicates": "first"}, {"duplicate"}, {"duplicate": ok}),
    ({"duplicates": "last"}, {"duplicate"}, {"duplicate": body_has("cannot be found")}),
    ({"unmark_other": "ignore"}, {"unmark_other", "unmark_number"},
     {"unmark_other": ok, "unmark_number": ok}),
    ({"unmark_other": "truthy"}, {"unmark_other", "unmark_number"},
     {"unmark_other": changed_nothing, "unmark_number": changed_nothing}),
    ({"normalize_identifiers": True}, {"spelling"}, {"spelling": ok}),
    ({"post_encoding": "form"}, {"post_query"}, {"post_query": body_has("Missing action")}),
    ({"post_encoding": "query"}, {"post_form"}, {"post_form": body_has("Missing action")}),
    # semantics
    ({"manual_record_uncontrolled": "start"}, {"uncontrolled"},
     {"uncontrolled": lambda obs: 'code="0"' in obs[2] and obs[3][0]["recording"]}),
    ({"manual_record_not_ongoing": "refuse"}, {"record_upcoming"}, {"record_upcoming": error}),
    ({"next_boundary_inclusive": False}, {"boundary"}, {"boundary": error}),
    ({"next_pending": True}, {"next_none", "fallback_none", "late_next"},
     {"next_none": changed_nothing, "fallback_none": changed_nothing}),
    ({"defer_upcoming": True}, {"keep_upcoming", "record_upcoming", "boundary"},
     {"keep_upcoming": changed_nothing, "record_upcoming": changed_nothing}),
    ({"upcoming_starts": "stays-upcoming"}, {"late_ongoing", "late_next"},
     {"late_ongoing": error, "late_next": ok}),
    ({"token_on_open_key": "reject"}, {"token_open"}, {"token_open": error}),
    ({"token_grace": 300}, {"old_token"}, {"old_token": ok}),
    # answers
    ({"error_status": 404}, ERRORS, {"error": status_is(404), "html_err": status_is(404)}),
    ({"unknown_action_status": "405"}, {"no_action", "bad_action"},
     {"no_action": all_of(status_is(405), error), "bad_action": status_is(405)}),
    ({"unknown_action_status": "501"}, {"no_action", "bad_action"},
     {"no_action": all_of(status_is(501), error)}),
    ({"url_limit": 4000}, {"long_url"},
     {"long_url": all_of(status_is(414), error, content_type_is("text/xml"))}),
    ({"unknown_response_type": "xml"}, {"unknown_rt"}, {"unknown_rt": ok}),
    ({"pre_action_format": "xml"}, {"auth_text"},
     {"auth_text": all_of(content_type_is("text/xml"), error)}),
    ({"content_type_charset": "iso-8859-1"}, set(BATTERY),
     {"success": all_of(content_type_is("text/xml; charset=ISO-8859-1"),
                        body_has(XML_START)),
      "html_ok": content_type_is("text/html; charset=ISO-8859-1")}),
    ({"error_type": "absent"}, {"no_action", "bad_action", *UNDECODABLE},
     {"bad_action": all_of(error, lambda obs: "type=" not in obs[2])}),
    ({"error_type": "as-sent"}, {"no_action", "bad_action", *UNDECODABLE},
     {"bad_action": body_has('type="Other&lt;x"'),
      "no_action": all_of(error, lambda obs: "type=" not in obs[2])}),
    ({"pretty_xml": True}, XML, {"success": body_has('\n  <Response code="0"')}),
    ({"doctype": True}, XML, {"error": body_has(XML_START + "<!DOCTYPE VerbaApi>\n<VerbaApi>")}),
    ({"payload": "none"}, SUCCESSES_ON_A_CALL,
     {"success": body_has('<Response code="0" type="KeepCall"/></VerbaApi>')}),
    ({"payload": "after"}, SUCCESSES_ON_A_CALL, {"success": body_has('type="KeepCall"/><CallID>')}),
    ({"payload": "before"}, XML,
     {"error": body_has("<VerbaApi><Server>reference</Server><Response code=\"2\""),
      "success": body_has("<Server>reference</Server><Response code=\"0\" type=\"KeepCall\"/>")}),
    ({"error_description": True}, XML_ERRORS, {"error": body_has('description="Error"')}),
    ({"error_markup": True}, XML_ERRORS,
     {"error": body_has("<ErrorMessage><b>Call</b> cannot be found.</ErrorMessage>")}),
    ({"response_text": True}, XML,
     {"success": body_has('type="KeepCall">\nOK<CallID>'),
      "error": body_has('type="KeepCall">\nError<ErrorMessage>')}),
    ({"html_style": "bare"}, HTML,
     {"html_ok": lambda obs: "<head>" not in obs[2] and "<html>" in obs[2]}),
    ({"html_style": "xhtml"}, HTML,
     {"html_ok": all_of(body_has('<html xmlns="http://www.w3.org/1999/xhtml">'),
                        lambda obs: obs[2].startswith(XML_START)),
      "html_err": content_type_is("text/html")}),
    ({"html_style": "fragment"}, HTML,
     {"html_ok": body_is("Call kept.<br/>\n"),
      "html_err": body_is("Error: Call cannot be found.<br/>\n")}),
    ({"text_style": "keyvalue"}, TEXT, {"text_err": body_has("code=2\n")}),
    ({"text_style": "empty-success"}, {"text_ok"}, {"text_ok": body_is("")}),
    # timing: later answers, the same answers
    ({"latency": 1}, set(), {}),
    # a debug echo: every answer quotes the request, in a comment (XML, HTML) or a TEXT line
    ({"echo": True}, set(BATTERY),
     {"success": body_has("<!-- request: action=KeepCall"),
      "html_ok": body_has("<!-- request: "), "text_err": body_has("\nrequest: action=")}),
    # deployed behind a proxy and a container, which answer some requests on their own
    ({"front_end": "proxy"}, {"long_url", "wrong_login", "not_utf8", "bad_escape"},
     {"long_url": all_of(status_is(414), content_type_is("text/html")),
      "wrong_login": all_of(status_is(401), content_type_is("text/html"))}),
    # whole seconds: the battery's calls sit clear of every edge (finer point: test_runner_time)
    ({"clock_resolution": "whole-seconds"}, set(), {}),
    # a payload element named Response; HTML and TEXT in an unlabelled legacy charset
    ({"payload_named_response": True}, SUCCESSES_ON_A_CALL,
     {"success": body_has('<Calls><Response callID="#"/></Calls></Response>')}),
    ({"legacy_charset": True}, HTML | TEXT,
     {"text_ok": all_of(lambda obs: obs[1] == "text/plain", body_has("OK\n\ufffd reference")),
      "html_ok": all_of(lambda obs: obs[1] == "text/html", body_has("<!-- \ufffd reference"),
                        lambda obs: "charset" not in obs[2])}),
    # a pending keep applied to the next call set up on the number (finer point below)
    ({"next_pending": True, "pending_applied": True}, {"next_none", "fallback_none", "late_next"},
     {"next_none": changed_nothing, "fallback_none": changed_nothing}),
    # ongoing calls end 90 s after set-up: the battery is answered long before (finer point
    # below)
    ({"calls_end": 90}, set(), {}),
    # next held back until its call starts (at most 0.05 s here): later answers, the same
    # answers (finer point: test_runner_time)
    ({"next_hold": 0.05}, set(), {}),
    # POST {control}/flags not served: the API answers the same (finer point below)
    ({"flags_endpoint": "404"}, set(), {}),
    ({"flags_endpoint": "405"}, set(), {}),
    # a parameter that cannot be decoded is left out (Tomcat): the rest is a plain keep
    ({"undecodable": "absent"}, {"not_utf8", "bad_escape"},
     {"not_utf8": ok, "bad_escape": ok}),
    # the key works without a token although it has a login; a token sent is still checked
    ({"token": "optional"}, {"no_token", "auth_text"},
     {"no_token": ok, "auth_text": body_has("OK"), "bad_token": error}),
]


def _row_id(row: tuple[dict[str, Any], set[str], dict[str, Check]]) -> str:
    return ",".join(f"{k}={v}" for k, v in row[0].items())


# The battery runs in process (reference_helpers.InProcess): the readings are the subject, not
# the wire, which the finer tables below and tests/test_reference_server.py keep on TCP.
@pytest.fixture(scope="module")
def preferred() -> Iterator[dict[str, Observation]]:
    with running(inside=True) as api:
        yield {name: probe(api) for name, probe in BATTERY.items()}


def test_the_preferred_reading_answers_the_battery_as_documented(
        preferred: dict[str, Observation]) -> None:
    assert {name for name in XML_ERRORS if not error(preferred[name])} == set()
    assert {name for name in KEPT if not ok(preferred[name])} == set()
    assert preferred["record_upcoming"][3][0]["recording"]


def test_the_battery_is_answered_alike_over_tcp(preferred: dict[str, Observation]) -> None:
    """The battery in process is the battery on the wire: the seam changes no answer."""
    with running() as api:
        assert {name: probe(api) for name, probe in BATTERY.items()} == preferred


@pytest.mark.parametrize(("change", "differing", "checks"), ROWS, ids=map(_row_id, ROWS))
def test_switch_changes_what_it_says_and_nothing_else(
        preferred: dict[str, Observation], change: dict[str, Any], differing: set[str],
        checks: dict[str, Check]) -> None:
    with running(replace(Switches(), **change), inside=True) as api:
        observed = {name: run(api) for name, run in BATTERY.items()}
    changed = {name for name in BATTERY if observed[name] != preferred[name]}
    assert changed == differing
    failed = {name: observed[name] for name, check in checks.items() if not check(observed[name])}
    assert failed == {}


def test_every_value_of_every_switch_has_a_row() -> None:
    covered = {(name, str(value).lower()) for change, *_ in ROWS for name, value in change.items()}
    defaults = Switches()
    wanted = {(name, value) for name, values in switch_choices().items() for value in values
              if value != str(getattr(defaults, name)).lower()}
    assert wanted - covered == set()
    assert {name for name, _ in covered} == set(Switches.__dataclass_fields__)


# --- finer points of some readings ----------------------------------------------------------
@pytest.fixture(scope="module")
def servers() -> Iterator[Callable[..., Api]]:
    """One running server per switch combination asked for, shared by the module's tables."""
    started: dict[tuple[tuple[str, Any], ...], Api] = {}
    with ExitStack() as stack:
        def server(**change: Any) -> Api:
            key = tuple(sorted(change.items()))
            if key not in started:
                started[key] = stack.enter_context(running(replace(Switches(), **change)))
            return started[key]

        yield server


@pytest.mark.parametrize(("reading", "status", "found"), [
    ("tight", "last,ongoing", True), ("tight", "last, ongoing", False),
    ("spaced", "last, ongoing", True), ("spaced", "last,ongoing", False),
    ("spaced", "last,  ongoing", False), ("spaced", "last ,ongoing", False),
    ("either", "last,ongoing", True), ("either", "last , ongoing", True),
    ("either", "last\t,  ongoing", True), ("either", " last,ongoing", False),
])
def test_status_spellings(servers: Callable[..., Api], reading: str, status: str,
                          found: bool) -> None:
    api = servers(status_spelling=reading)
    call = new_call("ongoing", 5)
    api.provision(call)
    assert api.keepcall({"extension": call["caller"], "status": status}).ok is found


@pytest.mark.parametrize(("spelling", "status", "found"), [
    ("tight", "ongoing,", True), ("tight", ",ongoing", True), ("tight", "ongoing,,next", True),
    ("tight", ",", False), ("spaced", "ongoing, ", True), ("spaced", "ongoing,", False),
    ("either", "ongoing , ", True),
])
def test_trailing_commas_dropped(servers: Callable[..., Api], spelling: str, status: str,
                                 found: bool) -> None:
    api = servers(trailing_comma="drop-empty", status_spelling=spelling)
    call = new_call("ongoing", 5)
    api.provision(call)
    assert api.keepcall({"extension": call["caller"], "status": status}).ok is found


@pytest.mark.parametrize(("value", "kept"), [
    (" 1", False), ("01", False), ("2", False), ("-1", False), ("true", False), ("yes", False),
    ("0", True), ("00", True), (" 0 ", True), ("TRUE", True), ("no", True), ("", True),
    ("1.0", True), ("\u0661", True),
])
def test_truthy_unmark(servers: Callable[..., Api], value: str, kept: bool) -> None:
    """Unmark where the value reads as true: the flag set before is cleared, else kept."""
    api = servers(unmark_other="truthy")
    call = new_call("ongoing", 5)
    api.provision(call)
    api.keepcall({"callID": call["callID"]})
    assert api.keepcall({"callID": call["callID"], "unmark": value}).ok
    assert api.flags(call)["kept"] is kept


@pytest.mark.parametrize(("pairs", "duplicates", "found"), [
    ([("CALLID", "ID")], "reject", True), ([("callID", "ID"), ("callid", "GUID")], "reject", False),
    ([("callID", "ID"), ("callid", "GUID")], "first", True),
    ([("callid", "GUID"), ("CallId", "ID")], "last", True),
    ([("Extension", "EXT"), ("STATUS", "ongoing")], "reject", True),
])
def test_parameter_names_in_any_case(servers: Callable[..., Api], pairs: list[tuple[str, str]],
                                     duplicates: str, found: bool) -> None:
    api = servers(param_names="case-insensitive", duplicates=duplicates)
    call = new_call("ongoing", 5)
    api.provision(call)
    values = {"ID": call["callID"], "EXT": call["caller"], "GUID": "no-such-call"}
    assert api.keepcall([(k, values.get(v, v)) for k, v in pairs]).ok is found
    assert api.flags(call)["kept"] is found


def test_manual_record_is_refused_on_calls_not_ongoing(servers: Callable[..., Api]) -> None:
    api = servers(manual_record_not_ongoing="refuse")
    calls = [new_call(state, 30, recording=True) for state in ("upcoming", "finished", "ongoing")]
    api.provision(*calls, controlled=[c["caller"] for c in calls])
    answers = [api.keepcall({"callID": c["callID"], "type": "manualRecord", "unmark": "1"}).ok
               for c in calls]
    assert answers == [False, False, True]
    assert [api.flags(c)["recording"] for c in calls] == [True, True, False]


@pytest.mark.parametrize("upcoming_starts", ["ongoing", "stays-upcoming"])
def test_deferred_changes_apply_in_order_once_the_call_starts(
        upcoming_starts: Literal["ongoing", "stays-upcoming"]) -> None:
    with running(Switches(defer_upcoming=True, upcoming_starts=upcoming_starts)) as api:
        call, other = new_call("upcoming", 30), new_call("upcoming", 30, kept=True)
        api.provision(call, other)
        for params in ({"callID": call["callID"]}, {"callID": call["callID"], "type":
                       "do_not_delete"}, {"callID": other["callID"], "unmark": "1"}):
            assert api.keepcall(params).ok
        assert (api.flags(call), api.flags(other)) == (CLEAR, {**CLEAR, "kept": True})
        api.advance(20)
        assert (api.flags(call), api.flags(other)) == (CLEAR, {**CLEAR, "kept": True})
        api.advance(20)
        assert api.flags(call) == {**CLEAR, "kept": True, "protected": True}
        assert api.flags(other) == CLEAR


def test_a_replaced_call_drops_its_deferred_changes() -> None:
    with running(Switches(defer_upcoming=True)) as api:
        call = new_call("upcoming", 30)
        api.provision(call)
        assert api.keepcall({"callID": call["callID"]}).ok
        api.provision(call)
        api.advance(40)
        assert api.flags(call) == CLEAR


def test_a_late_call_stays_upcoming_and_next_finds_it() -> None:
    with running(Switches(upcoming_starts="stays-upcoming")) as api:
        late, ongoing = new_call("upcoming", 30), new_call("ongoing", 30)
        api.provision(late, ongoing)
        api.advance(600)
        for status, ok_ in (("ongoing", False), ("last", False), ("next", True)):
            assert api.keepcall({"extension": late["caller"], "status": status}).ok is ok_
        assert api.keepcall({"extension": ongoing["caller"], "status": "ongoing"}).ok


def test_a_pending_keep_is_never_applied() -> None:
    with running(Switches(next_pending=True)) as api:
        extension = number()
        assert api.keepcall({"extension": extension, "status": "next"}).ok
        call = new_call("upcoming", 10, caller=extension)
        api.provision(call)
        api.advance(20)
        assert api.flags(call) == CLEAR
        by_id = api.keepcall({"callID": "no-such-call", "status": "next"})
        assert not by_id.ok  # a callID lookup is not a pending keep


def test_a_pending_keep_applies_to_the_next_call_on_the_number() -> None:
    with running(Switches(next_pending=True, pending_applied=True)) as api:
        extension, other = number(), number()
        for params in ({"type": "do_not_delete"}, {}):
            assert api.keepcall({"extension": extension, "status": "next", **params}).ok
        assert api.keepcall({"extension": other, "status": "ongoing,next", "unmark": "1"}).ok
        first, second = new_call("upcoming", 500, called=extension), new_call("ongoing", 5,
                                                                             caller=extension)
        api.provision(first)
        api.provision(second)
        assert api.flags(first) == {**CLEAR, "protected": True, "kept": True}
        assert api.flags(second) == CLEAR  # each pending keep lands once
        unmarked = new_call("upcoming", 500, caller=other, kept=True)
        api.provision(unmarked)
        assert api.flags(unmarked) == CLEAR


def test_an_ongoing_call_ends_some_time_after_its_set_up() -> None:
    with running(Switches(calls_end=90)) as api:
        call = new_call("ongoing", 5)
        api.provision(call)
        api.advance(100)
        found = {status: api.keepcall({"extension": call["caller"], "status": status}).ok
                 for status in ("ongoing", "last")}
        assert found == {"ongoing": False, "last": True}


@pytest.mark.parametrize(("grace", "late", "accepted"), [
    (0, 1, False), (300, 299, True), (300, 301, False), (600, 590, True),
])
def test_token_grace(grace: int, late: int, accepted: bool) -> None:
    with running(Switches(token_grace=grace)) as api:
        call = new_call("ongoing", 10)
        api.provision(call)
        assert api.token
        api.advance(3600 + late)
        assert api.keepcall({"callID": call["callID"]}).ok is accepted


def _get(api: Api, target: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        connection.close()


def test_url_limit_counts_the_full_url(servers: Callable[..., Api]) -> None:
    api = servers(url_limit=4000)
    call = new_call("ongoing", 10)
    api.provision(call)
    target = (f"/verba/api?action=KeepCall&apiKey={api.server.open_api_key}"
              f"&callID={call['callID']}&pad=")
    prefix = f"http://127.0.0.1:{api.server.port}"
    padding = 4000 - len(prefix + target)
    status, body = _get(api, target + "x" * padding)
    assert status == 200 and "Unknown parameter" in body
    status, body = _get(api, target + "x" * (padding + 1))
    assert status == 414 and body.startswith(XML_START) and 'code="2"' in body
    posted = api.keepcall([("callID", call["callID"]), ("pad", "x" * 5000)], "POST",
                          in_query=True)
    assert posted.status == 200 and "Unknown parameter" in posted.text  # POST is not limited


@pytest.mark.parametrize(("text_style", "html_style"), [("plain", "document"),
                                                        ("empty-success", "fragment")])
def test_html_and_text_tell_success_from_error(servers: Callable[..., Api], text_style: str,
                                               html_style: str) -> None:
    api = servers(text_style=text_style, html_style=html_style)
    call = new_call("ongoing", 10)
    api.provision(call)
    for response_type in ("HTML", "TEXT"):
        success = api.keepcall({"callID": call["callID"], "responseType": response_type})
        failure = api.keepcall({"callID": "nope", "responseType": response_type})
        assert success.text != failure.text


@pytest.mark.parametrize(("items", "message"), [
    (["nope=1"], "unknown switch"), (["error_status=500"], "200 or 4xx"),
    (["error_status=x"], "whole number"), (["duplicates=random"], "must be one of"),
    (["pretty_xml=perhaps"], "true or false"), (["pretty_xml"], "NAME=VALUE"),
    (["token_grace=601"], "0 to 600"), (["token_grace=-1"], "0 to 600"),
    (["url_limit=100"], "0 or at least 4000"), (["payload=maybe"], "must be one of"),
    (["latency=-1"], "0 to 10000"), (["latency=10001"], "0 to 10000"),
    (["latency=0.5"], "whole number"), (["next_hold=soon"], "needs a number"),
    (["next_hold=61"], "0 to 60"),
])
def test_parse_rejects_bad_input_in_one_line(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Switches.parse(items)
    assert "\n" not in str(raised.value)


def test_parse_accepts_cli_spellings() -> None:
    parsed = Switches.parse(["error-status=404", "next_pending=yes", "both-ids=extension-wins",
                             "status-spelling=either", "token_grace=300", "next_hold=0.5"])
    assert parsed == Switches(error_status=404, next_pending=True, both_ids="extension-wins",
                              status_spelling="either", token_grace=300, next_hold=0.5)
    assert parsed.non_default() == {"error_status": 404, "next_pending": True,
                                    "both_ids": "extension-wins", "status_spelling": "either",
                                    "token_grace": 300, "next_hold": 0.5}


# --- latency: when an answer leaves --------------------------------------------------------
# The app is driven on an event loop of the test's own, so what is asserted is how requests
# interleave on the loop (deterministic), never how long anything took on this machine.
LATENCY_MS = 50
CONCURRENT = 8


@dataclass
class Exchange:
    """One request through the ASGI app: loop times it began and its answer started."""

    began: float
    status: int | None = None
    answered: float | None = None


def _scope(path: str, query: str = "") -> dict[str, Any]:
    return {"type": "http", "method": "GET", "scheme": "http", "path": path,
            "query_string": query.encode("ascii"), "headers": [(b"host", b"127.0.0.1")]}


def _api_scope(server: ReferenceServer) -> dict[str, Any]:
    return _scope(API_PATH, f"action=KeepCall&apiKey={server.open_api_key}&callID=unknown")


async def _exchange(server: ReferenceServer, scope: dict[str, Any]) -> Exchange:
    """Send one bodiless request to the server's app (never started: no socket, no thread)."""
    loop = asyncio.get_running_loop()
    exchange = Exchange(loop.time())

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            exchange.status, exchange.answered = message["status"], loop.time()

    await server.app(scope, receive, send)
    return exchange


@pytest.mark.parametrize("latency", [0, LATENCY_MS])
def test_latency_delays_the_api_and_the_control_protocol(latency: int) -> None:
    """After one step of the loop, without latency both requests have been answered (they
    waited on nothing); with it both are waiting, each for the whole latency: a distant
    target's control answers travel as far as its API answers."""
    server = ReferenceServer(Switches(latency=latency))

    async def both() -> tuple[tuple[bool, bool], Exchange, Exchange]:
        api = asyncio.create_task(_exchange(server, _api_scope(server)))
        control = asyncio.create_task(_exchange(server, _scope(CONTROL_PREFIX + "/calls/none")))
        await asyncio.sleep(0)  # each task runs until it first waits
        return (api.done(), control.done()), await api, await control

    done_after_one_step, api, control = asyncio.run(both())
    assert done_after_one_step == (latency == 0, latency == 0)
    assert (api.status, control.status) == (200, 404)
    # A lower bound only (a busy machine makes it longer, never shorter); 1 ms for the loop's
    # clock resolution, which may fire a timer that much early.
    for exchange in (api, control):
        assert exchange.answered is not None
        assert exchange.answered - exchange.began >= latency / 1000 - 0.001


def test_delayed_api_requests_wait_together_not_in_turn() -> None:
    """Every one of the concurrent requests has begun before any is answered: their waits
    overlap on the loop, so together they take one latency, not CONCURRENT of them."""
    server = ReferenceServer(Switches(latency=LATENCY_MS))

    async def together() -> list[Exchange]:
        return await asyncio.gather(*(_exchange(server, _api_scope(server))
                                      for _ in range(CONCURRENT)))

    exchanges = asyncio.run(together())
    assert [e.status for e in exchanges] == [200] * CONCURRENT
    assert max(e.began for e in exchanges) < min(e.answered or 0.0 for e in exchanges)


def test_latency_reaches_the_server_over_http() -> None:
    """The switch as a client meets it: the same answer, not sooner than the latency."""
    with running(Switches(latency=LATENCY_MS)) as api, running() as prompt:
        started = time.monotonic()
        delayed = api.keepcall({"callID": "unknown"}, auth=False)
        elapsed = time.monotonic() - started
        assert delayed == prompt.keepcall({"callID": "unknown"}, auth=False)
    assert elapsed >= LATENCY_MS / 1000 - 0.001  # a lower bound, as above


# --- POST {control}/flags: many calls' flags in one request (control protocol 1.2) ----------
@pytest.mark.parametrize("served", ["served", "404", "405"])
def test_flags_of_many_calls(servers: Callable[..., Api], served: str) -> None:
    """Served: each asked call as GET gives it, in the order asked, an unknown one missing;
    switched off: the status a target without the endpoint answers."""
    api = servers(flags_endpoint=served)
    kept, plain = new_call("ongoing", 5, kept=True), new_call("finished", 5)
    api.provision(kept, plain)
    asked = [plain["callID"], "no-such-call", kept["callID"]]
    response = api.client.post(f"{api.server.control_url}/flags", json={"callIDs": asked})
    if served != "served":
        assert response.status_code == int(served)
        return
    assert response.status_code == 200
    assert response.json() == {"calls": [
        {"callID": plain["callID"], **api.flags(plain)}, {"callID": "no-such-call",
                                                           "missing": True},
        {"callID": kept["callID"], **api.flags(kept)}]}


@pytest.mark.parametrize("body", [{"callIDs": "x"}, {"callIDs": [1]}, {"ids": []},
                                  {"callIDs": ["a"] * 1001}, [1]])
def test_flags_of_many_calls_refuses_a_body_it_cannot_read(servers: Callable[..., Api],
                                                          body: object) -> None:
    api = servers()
    response = api.client.post(f"{api.server.control_url}/flags", json=body)
    assert response.status_code == 400 and response.json()["error"]
