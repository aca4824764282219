"""Each fault changes what the server observably does, compared with the fault-free server.

A probe provisions fresh calls, sends the one request where its fault shows, and returns what a
client sees (status, Content-Type, body with IDs and tokens masked, the calls' flags afterwards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
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

from conformance.catalog.requirements import BY_ID, CATALOG
from conformance.reference import FAULTS


def token_probe(auth: tuple[str, str] | None) -> Probe:
    def probe(api: Api) -> Observation:
        return observe(api, api.request_token(auth=auth), [])
    return probe


def not_utf8(api: Api) -> Observation:
    """A form body with a Latin-1 byte where UTF-8 was declared."""
    call = new_call("ongoing")
    api.provision(call)
    pairs = [("action", "KeepCall"), ("apiKey", api.server.open_api_key),
             ("callID", call["callID"])]
    body = urlencode(pairs).encode() + b"&colour=gr%FCn"
    response = api.client.post(api.server.api_url, content=body, headers={
        "content-type": "application/x-www-form-urlencoded; charset=UTF-8"})
    return observe(api, api._answer(response), [call])


def malformed_escape(api: Api) -> Observation:
    """A query with an escape that is no escape, sent raw."""
    call = new_call("ongoing")
    api.provision(call)
    query = urlencode([("action", "KeepCall"), ("apiKey", api.server.open_api_key),
                       ("callID", call["callID"])]) + "&type=%zz"
    return observe(api, api._answer(api.client.get(f"{api.server.api_url}?{query}")), [call])


ONGOING = [("ongoing", 5)]
BY_ID_ = {"callID": "ID"}
TEXT_ERROR = {"callID": "GUID", "responseType": "TEXT"}
def then_elsewhere(first: dict[str, str]) -> Probe:
    """An ongoing call (no controlled extension) named by ``first``, then a request on a number
    with no call: what the first answered, and the call's flags after the second."""
    def probe(api: Api) -> Observation:
        call = new_call("ongoing")
        api.provision(call)
        answer = api.keepcall({k: call["callID"] if v == "ID" else v for k, v in first.items()})
        api.keepcall({"extension": number(), "status": "ongoing"})
        return observe(api, answer, [call])
    return probe


def both_ids_twice(api: Api) -> Observation:
    """Twice: callID names one ongoing call, extension another; which call each kept."""
    calls: list[dict[str, Any]] = []
    for _ in range(2):
        by_id, by_number = new_call("ongoing"), new_call("ongoing")
        api.provision(by_id, by_number)
        answer = api.keepcall({"callID": by_id["callID"], "extension": by_number["caller"],
                               "status": "ongoing"})
        calls += [by_id, by_number]
    return observe(api, answer, calls)


PROBES: dict[str, Probe] = {
    "wrong-default-format": on_calls(ONGOING, BY_ID_),
    "html-ignored": on_calls(ONGOING, {**BY_ID_, "responseType": "HTML"}),
    "text-ignored": on_calls(ONGOING, {**BY_ID_, "responseType": "TEXT"}),
    "xml-type-ignored": on_calls(ONGOING, {**BY_ID_, "responseType": "XML"}),
    "html-text-claim-success": on_calls(ONGOING, TEXT_ERROR),
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
    "container-refusal-page": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", "bogus"),
                                                  ("callID", i)]),
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
    "non-utf8-500": not_utf8,
    "long-value-crash": on_calls(ONGOING, {**BY_ID_, "colour": "x" * 10_000}, method="POST"),
    "echo-control-chars": on_calls(ONGOING, {**BY_ID_, "type": "odd\x01\x0b"}),
    "echo-unescaped": on_calls(ONGOING, {**BY_ID_, "type": "<odd & end>"}),
    "callid-ongoing-only": on_calls([("finished", 5)], BY_ID_),
    "unknown-callid-success": on_calls(ONGOING, {"callID": "GUID"}),
    "missing-id-accepted": on_calls(ONGOING, {}),
    "called-only": on_calls(ONGOING, {"extension": "EXT", "status": "ongoing"}),
    "caller-only": on_calls(ONGOING, {"extension": "EXT", "status": "ongoing"}, role="called"),
    "prefix-match": on_calls(ONGOING, {"extension": "PREFIX", "status": "ongoing"}),
    "suffix-match": on_calls(ONGOING, {"extension": "SUFFIX", "status": "ongoing"}),
    "inner-match": on_calls(ONGOING, {"extension": "INNER", "status": "ongoing"}),
    "ambiguity-not-error": on_calls([("ongoing", 5), ("ongoing", 9)],
                                    {"extension": "EXT", "status": "ongoing"}),
    "status-not-required": on_calls(ONGOING, {"extension": "EXT"}),
    "ongoing-matches-finished": on_calls([("finished", 5)],
                                         {"extension": "EXT", "status": "ongoing"}),
    "next-never-found": on_calls([("upcoming", 30)], {"extension": "EXT", "status": "next"}),
    "next-misses-imminent": on_calls([("upcoming", 2)], {"extension": "EXT", "status": "next"}),
    "next-window-58": on_calls([("upcoming", 59)], {"extension": "EXT", "status": "next"}),
    "next-window-5min": on_calls([("upcoming", 200)], {"extension": "EXT", "status": "next"}),
    "last-picks-oldest": on_calls([("finished", 5), ("finished", 50)],
                                  {"extension": "EXT", "status": "last"}),
    "last-misses-just-ended": on_calls([("finished", 1)], {"extension": "EXT", "status": "last"}),
    "no-fallback": on_calls([("upcoming", 10)], {"extension": "EXT", "status": "ongoing,next"}),
    "wrong-fallback-order": on_calls([("ongoing", 5), ("finished", 10)],
                                     {"extension": "EXT", "status": "last,ongoing"}),
    "unknown-status-accepted": on_calls(ONGOING, {"extension": "EXT", "status": "sometime"}),
    "unlisted-combination-accepted": on_calls(ONGOING,
                                              {"extension": "EXT", "status": "next,ongoing"}),
    "no-match-success": on_calls([("finished", 5)], {"extension": "EXT", "status": "ongoing"}),
    "keep-ignored": on_calls(ONGOING, BY_ID_),
    "defer-never-applied": on_calls([("upcoming", 30)], BY_ID_, wait_after=40),
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
    "crash-on-odd-callid": on_calls(ONGOING, {"callID": "not-a-guid"}),
    "sql-error-on-quote": on_calls(ONGOING, {"extension": "88'56", "status": "ongoing"}),
    "last-ongoing-no-fallback": on_calls(ONGOING, {"extension": "EXT", "status": "last,ongoing"}),
    "no-status-lists": on_calls(ONGOING, {"extension": "EXT", "status": "ongoing,next"}),
    "token-prefix-compared": raw(lambda api, i: [("action", "KeepCall"),
                                                 ("apiKey", api.server.api_key),
                                                 ("token", api.token + "0"), ("callID", i)]),
    "guid-token-accepted": raw(lambda api, i: [("action", "KeepCall"),
                                               ("apiKey", api.server.api_key),
                                               ("token", "6f1c2a9e-3b7d-4e8a-9c0f-1d2e3f4a5b6c"),
                                               ("callID", i)]),
    "last-call-cache": then_elsewhere({**BY_ID_, "unmark": "1"}),
    "error-applied-later": then_elsewhere({**BY_ID_, "type": "manualRecord"}),
    "wide-window-deferred": on_calls([("upcoming", 120)], {"extension": "EXT", "status": "next"},
                                     wait_after=130),
    "html-xml-lookalike": on_calls(ONGOING, {**BY_ID_, "responseType": "HTML"}),
    "dtd-defaulted-type": on_calls(ONGOING, BY_ID_),
    "malformed-escape-500": malformed_escape,
    "both-ids-in-turn": both_ids_twice,
    "html-text-unfound-as-success": on_calls(ONGOING, {"extension": "EXT", "status": "next",
                                                       "responseType": "TEXT"}),
}


# Each fault swaps a piece of the app's behaviour, not of the wire: the servers run in process
# (reference_helpers.InProcess), as the switch battery does (its TCP twin shows the seam
# changes no answer).
@pytest.fixture(scope="module")
def fault_free() -> Iterator[Api]:
    with running(inside=True) as api:
        yield api


@pytest.mark.parametrize("fault", [f.name for f in FAULTS])
def test_fault_changes_observable_behaviour(fault_free: Api, fault: str) -> None:
    probe = PROBES[fault]
    with running(faults=frozenset({fault}), inside=True) as faulty:
        assert probe(faulty) != probe(fault_free)


Check = Callable[[Observation], bool]


def _succeeded(obs: Observation) -> bool:
    return 'code="0"' in obs[2] and obs[3][0]["kept"]


def _not_found(obs: Observation) -> bool:
    return "cannot be found" in obs[2] and obs[3] == [CLEAR]


def _reads_as_success(obs: Observation) -> bool:
    return bool(obs[2] == "OK\n" and obs[3] == [CLEAR])


def _answered_but_never_kept(obs: Observation) -> bool:
    return 'code="0"' in obs[2] and obs[3] == [CLEAR]


# What the faulty server does with its fault's probe, beyond differing from the fault-free one.
SHOWS: dict[str, Check] = {
    "suffix-match": _succeeded,
    "inner-match": _succeeded,
    "last-misses-just-ended": _not_found,
    "next-misses-imminent": _not_found,
    "next-window-58": _not_found,
    "html-text-claim-success": _reads_as_success,
    "html-text-unfound-as-success": _reads_as_success,
    "defer-never-applied": _answered_but_never_kept,
}


@pytest.mark.parametrize("fault", sorted(SHOWS))
def test_fault_does_what_it_says(fault: str) -> None:
    with running(faults=frozenset({fault}), inside=True) as faulty:
        observed = PROBES[fault](faulty)
    assert SHOWS[fault](observed), observed


@pytest.mark.parametrize("response_type", ["XML", "HTML", "TEXT"])
def test_claimed_success_keeps_xml_errors_right_and_changes_nothing(response_type: str) -> None:
    with running(faults=frozenset({"html-text-claim-success"})) as faulty, running() as right:
        probe = on_calls(ONGOING, {**TEXT_ERROR, "responseType": response_type})
        success = on_calls(ONGOING, {**BY_ID_, "responseType": response_type})
        wrong, error = probe(faulty), probe(right)
        assert wrong[3] == error[3] == [CLEAR]
        assert (wrong == error) is (response_type == "XML")
        if response_type == "TEXT":
            assert wrong[2] == success(right)[2]


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
