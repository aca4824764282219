"""Each fault changes what the server observably does, compared with the fault-free server.

A probe provisions fresh calls, sends the one request where its fault shows, and returns what a
client sees (status, Content-Type, body with IDs and tokens masked, the calls' flags afterwards).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from reference_helpers import Answer, Api, new_call, number, running

from conformance.reference import FAULTS
from conformance.requirements import BY_ID, CATALOG

Observation = tuple[Any, ...]
Probe = Callable[[Api], Observation]
_MASKS = (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
          re.compile(r"\b[A-Za-z0-9]{32}\b"))


def _observe(api: Api, answer: Answer, calls: list[dict[str, Any]]) -> Observation:
    body = answer.text
    for mask in _MASKS:
        body = mask.sub("#", body)
    return answer.status, answer.content_type, body, [api.flags(c) for c in calls]


def on_calls(states: list[tuple[str, int]], params: dict[str, str], role: str = "caller",
             flags: dict[str, bool] | None = None, **send: Any) -> Probe:
    """Calls sharing one number (in ``role``), then KeepCall with EXT / ID / PREFIX filled in."""
    def probe(api: Api) -> Observation:
        extension = number()
        calls = [new_call(s, o, **{role: extension}, **(flags or {})) for s, o in states]
        api.provision(*calls, controlled=[extension])
        values = {"EXT": extension, "ID": calls[0]["callID"] if calls else "",
                  "PREFIX": extension[:-1], "GUID": str(uuid.uuid4())}
        answer = api.keepcall({k: values.get(v, v) for k, v in params.items()}, **send)
        return _observe(api, answer, calls)
    return probe


def raw(pairs: Callable[[Api, str], list[tuple[str, str]]]) -> Probe:
    """An ongoing call, then a request built from scratch (for credential and action faults)."""
    def probe(api: Api) -> Observation:
        call = new_call("ongoing")
        api.provision(call)
        return _observe(api, api.send(pairs(api, call["callID"])), [call])
    return probe


def token_probe(auth: tuple[str, str] | None) -> Probe:
    def probe(api: Api) -> Observation:
        return _observe(api, api.request_token(auth=auth), [])
    return probe


def aged_token(seconds: int) -> Probe:
    """A fresh token used after ``seconds`` on the server's clock."""
    def probe(api: Api) -> Observation:
        call = new_call("ongoing", 10)
        api.provision(call)
        token = str(api.request_token().response.get("token"))
        api.advance(seconds)
        pairs = [("action", "KeepCall"), ("apiKey", api.server.api_key), ("token", token),
                 ("callID", call["callID"])]
        return _observe(api, api.send(pairs), [call])
    return probe


ONGOING = [("ongoing", 5)]
BY_ID_ = {"callID": "ID"}
PROBES: dict[str, Probe] = {
    "wrong-default-format": on_calls(ONGOING, BY_ID_),
    "html-ignored": on_calls(ONGOING, {**BY_ID_, "responseType": "HTML"}),
    "text-ignored": on_calls(ONGOING, {**BY_ID_, "responseType": "TEXT"}),
    "xml-type-ignored": on_calls(ONGOING, {**BY_ID_, "responseType": "XML"}),
    "xml-not-well-formed": on_calls(ONGOING, BY_ID_),
    "wrong-charset": on_calls(ONGOING, BY_ID_),
    "xml-wrong-root": on_calls(ONGOING, BY_ID_),
    "wrong-type-attribute": on_calls(ONGOING, BY_ID_),
    "error-as-success": on_calls(ONGOING, {"callID": "GUID"}),
    "no-error-message": on_calls(ONGOING, {"callID": "GUID"}),
    "keepcall-not-served": on_calls(ONGOING, BY_ID_),
    "missing-action-accepted": raw(lambda api, i: [("apiKey", api.server.open_api_key),
                                                   ("callID", i)]),
    "missing-apikey-accepted": raw(lambda api, i: [("action", "KeepCall"), ("callID", i)]),
    "apikey-not-checked": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", "bogus"),
                                              ("callID", i)]),
    "auth-not-enforced": raw(lambda api, i: [("action", "KeepCall"),
                                             ("apiKey", api.server.api_key), ("callID", i)]),
    "invalid-token-accepted": raw(lambda api, i: [("action", "KeepCall"),
                                                  ("apiKey", api.server.api_key),
                                                  ("token", "x" * 32), ("callID", i)]),
    "valid-token-rejected": on_calls(ONGOING, BY_ID_),
    "token-not-returned": token_probe(None),
    "any-credentials-accepted": token_probe(("intruder", "guess")),
    "token-never-expires": aged_token(3700),
    "token-expires-early": aged_token(120),
    "get-refused": on_calls(ONGOING, BY_ID_),
    "post-refused": on_calls(ONGOING, BY_ID_, method="POST"),
    "server-error-on-odd-input": on_calls(ONGOING, {**BY_ID_, "colour": "blue"}),
    "callid-ongoing-only": on_calls([("finished", 5)], BY_ID_),
    "unknown-callid-success": on_calls(ONGOING, {"callID": "GUID"}),
    "missing-id-accepted": on_calls(ONGOING, {}),
    "called-only": on_calls(ONGOING, {"extension": "EXT", "status": "ongoing"}),
    "caller-only": on_calls(ONGOING, {"extension": "EXT", "status": "ongoing"}, role="called"),
    "prefix-match": on_calls(ONGOING, {"extension": "PREFIX", "status": "ongoing"}),
    "ambiguity-not-error": on_calls([("ongoing", 5), ("ongoing", 9)],
                                    {"extension": "EXT", "status": "ongoing"}),
    "status-not-required": on_calls(ONGOING, {"extension": "EXT"}),
    "ongoing-matches-finished": on_calls([("finished", 5)],
                                         {"extension": "EXT", "status": "ongoing"}),
    "next-never-found": on_calls([("upcoming", 30)], {"extension": "EXT", "status": "next"}),
    "next-window-5min": on_calls([("upcoming", 200)], {"extension": "EXT", "status": "next"}),
    "last-picks-oldest": on_calls([("finished", 5), ("finished", 50)],
                                  {"extension": "EXT", "status": "last"}),
    "no-fallback": on_calls([("upcoming", 10)], {"extension": "EXT", "status": "ongoing,next"}),
    "wrong-fallback-order": on_calls([("ongoing", 5), ("finished", 10)],
                                     {"extension": "EXT", "status": "last,ongoing"}),
    "unknown-status-accepted": on_calls(ONGOING, {"extension": "EXT", "status": "sometime"}),
    "unlisted-combination-accepted": on_calls(ONGOING,
                                              {"extension": "EXT", "status": "next,ongoing"}),
    "no-match-success": on_calls([("finished", 5)], {"extension": "EXT", "status": "ongoing"}),
    "keep-ignored": on_calls(ONGOING, BY_ID_),
    "manual-record-ignored": on_calls(ONGOING, {**BY_ID_, "type": "manualRecord"}),
    "do-not-delete-sets-kept": on_calls(ONGOING, {**BY_ID_, "type": "do_not_delete"}),
    "unknown-type-accepted": on_calls(ONGOING, {**BY_ID_, "type": "other"}),
    "unmark-ignored": on_calls(ONGOING, {**BY_ID_, "unmark": "1"}, flags={"kept": True}),
    "unmark-record-ignored": on_calls(ONGOING, {**BY_ID_, "type": "manualRecord", "unmark": "1"},
                                      flags={"recording": True}),
    "unmark-protect-ignored": on_calls(ONGOING, {**BY_ID_, "type": "do_not_delete",
                                                 "unmark": "1"}, flags={"protected": True}),
    "flag-on-error": on_calls([("finished", 5)], {"extension": "EXT", "status": "ongoing"}),
    "flag-on-wrong-call": on_calls([("ongoing", 5), ("finished", 5)], BY_ID_),
}


@pytest.fixture(scope="module")
def fault_free() -> Iterator[Api]:
    with running() as api:
        yield api


@pytest.mark.parametrize("fault", [f.name for f in FAULTS])
def test_fault_changes_observable_behaviour(fault_free: Api, fault: str) -> None:
    probe = PROBES[fault]
    with running(faults=frozenset({fault})) as faulty:
        assert probe(faulty) != probe(fault_free)


def test_every_fault_names_a_real_requirement_and_has_a_probe() -> None:
    assert {f.requirement for f in FAULTS} <= set(BY_ID)
    assert set(PROBES) == {f.name for f in FAULTS}
    assert len({f.name for f in FAULTS}) == len(FAULTS)


def test_every_gating_requirement_has_a_fault() -> None:
    gating = {r.id for r in CATALOG if r.level in ("MUST", "SHOULD")}
    assert gating <= {f.requirement for f in FAULTS}


def test_unknown_fault_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        running(faults=frozenset({"no-such-fault"})).__enter__()
