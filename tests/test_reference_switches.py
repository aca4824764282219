"""Each switch changes what it says and nothing else.

A battery of probes, one per open point plus plain successes and errors in every format, runs
on the preferred-reading server and on a server with one switch changed; exactly the probes the
switch is about may differ, and the switched answer must show the reading it names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from reference_helpers import Observation, Probe, on_calls, raw, running

from conformance.reference import Switches

ONGOING = [("ongoing", 5)]
BY_ID = {"callID": "ID"}
EXT_ONGOING = {"extension": "EXT", "status": "ongoing"}
BATTERY: dict[str, Probe] = {
    "success": on_calls(ONGOING, BY_ID),
    "error": on_calls(ONGOING, {"callID": "GUID"}),
    "case": on_calls(ONGOING, {"extension": "EXT", "status": "Ongoing"}),
    "comma": on_calls(ONGOING, {"extension": "EXT", "status": "ongoing, next"}),
    "both": on_calls(ONGOING, {**BY_ID, **EXT_ONGOING}),
    "status_id": on_calls([("finished", 5)], {**BY_ID, "status": "ongoing"}),
    "several": on_calls([("finished", 5), ("finished", 50)], {"extension": "EXT",
                                                              "status": "last"}),
    "unknown_param": on_calls(ONGOING, {**BY_ID, "colour": "blue"}),
    "duplicate": on_calls(ONGOING, [("callID", "ID"), ("callID", "GUID")]),
    "unknown_rt": on_calls(ONGOING, {**BY_ID, "responseType": "JSON"}),
    "token_open": raw(lambda api, i: [("action", "KeepCall"), ("apiKey", api.server.open_api_key),
                                      ("token", "t" * 32), ("callID", i)]),
    "uncontrolled": on_calls(ONGOING, {**BY_ID, "type": "manualRecord"}, controlled=False),
    "unmark_other": on_calls(ONGOING, {**BY_ID, "unmark": "yes"}),
    "html_ok": on_calls(ONGOING, {**BY_ID, "responseType": "HTML"}),
    "html_err": on_calls(ONGOING, {"callID": "GUID", "responseType": "HTML"}),
    "text_ok": on_calls(ONGOING, {**BY_ID, "responseType": "TEXT"}),
    "text_err": on_calls(ONGOING, {"callID": "GUID", "responseType": "TEXT"}),
    "boundary": on_calls([("upcoming", 60)], {"extension": "EXT", "status": "next"}),
    "spelling": on_calls(ONGOING, {"callID": "ID_UPPER"}),
}
XML_ERRORS = {"error", "case", "comma", "unknown_param", "duplicate", "unknown_rt",
              "uncontrolled", "unmark_other", "spelling"}
ERRORS = XML_ERRORS | {"html_err", "text_err"}
XML_SUCCESSES = {"success", "both", "status_id", "several", "token_open", "boundary"}
Check = Callable[[Observation], bool]


def ok(obs: Observation) -> bool:
    return 'code="0"' in obs[2] and obs[0] == 200 and any(obs[3] and f["kept"] for f in obs[3])


def error(obs: Observation) -> bool:
    return 'code="2"' in obs[2] and not any(any(f.values()) for f in obs[3])


def body_has(text: str) -> Check:
    return lambda obs: text in obs[2]


# switch change, probes that must differ, the probe to check, what it must show
ROWS: list[tuple[dict[str, object], set[str], str, Check]] = [
    ({"error_status": 404}, ERRORS, "error", lambda obs: obs[0] == 404),
    ({"payload_after_response": True}, XML_SUCCESSES, "success",
     body_has('type="KeepCall"/><CallID>')),
    ({"error_description": True}, XML_ERRORS, "error", body_has('description="Error"')),
    ({"case_insensitive": True}, {"case"}, "case", ok),
    ({"comma_space": True}, {"comma"}, "comma", ok),
    ({"both_ids": "reject"}, {"both"}, "both", error),
    ({"status_with_callid": "applied"}, {"status_id"}, "status_id", error),
    ({"several_last_next": "error"}, {"several"}, "several", error),
    ({"unknown_params": "ignore"}, {"unknown_param"}, "unknown_param", ok),
    ({"duplicates": "first"}, {"duplicate"}, "duplicate", ok),
    ({"duplicates": "last"}, {"duplicate"}, "duplicate", body_has("cannot be found")),
    ({"unknown_response_type": "xml"}, {"unknown_rt"}, "unknown_rt", ok),
    ({"token_on_open_key": "reject"}, {"token_open"}, "token_open", error),
    ({"manual_record_uncontrolled": "start"}, {"uncontrolled"}, "uncontrolled",
     lambda obs: 'code="0"' in obs[2] and obs[3][0]["recording"]),
    ({"unmark_other": "ignore"}, {"unmark_other"}, "unmark_other", ok),
    ({"pretty_xml": True}, set(BATTERY) - {"html_ok", "html_err", "text_ok", "text_err"},
     "success", body_has('\n  <Response code="0"')),
    ({"html_head": False}, {"html_ok", "html_err"}, "html_ok",
     lambda obs: "<head>" not in obs[2] and "<html>" in obs[2]),
    ({"text_style": "keyvalue"}, {"text_ok", "text_err"}, "text_err",
     body_has("code=2\n")),
    ({"next_boundary_inclusive": False}, {"boundary"}, "boundary", error),
    ({"normalize_identifiers": True}, {"spelling"}, "spelling", ok),
]


@pytest.fixture(scope="module")
def preferred() -> Iterator[dict[str, Observation]]:
    with running() as api:
        yield {name: probe(api) for name, probe in BATTERY.items()}


def test_the_preferred_reading_answers_the_battery_as_documented(
        preferred: dict[str, Observation]) -> None:
    assert all(error(preferred[name]) for name in XML_ERRORS)
    assert all(ok(preferred[name]) for name in XML_SUCCESSES)


@pytest.mark.parametrize(("change", "differing", "probe", "check"), ROWS,
                         ids=[",".join(f"{k}={v}" for k, v in r[0].items()) for r in ROWS])
def test_switch_changes_what_it_says_and_nothing_else(
        preferred: dict[str, Observation], change: dict[str, object], differing: set[str],
        probe: str, check: Check) -> None:
    with running(replace(Switches(), **change)) as api:  # type: ignore[arg-type]
        observed = {name: run(api) for name, run in BATTERY.items()}
    changed = {name for name in BATTERY if observed[name] != preferred[name]}
    assert changed == differing
    assert check(observed[probe]), observed[probe]


def test_every_switch_has_a_row() -> None:
    covered = {name for change, *_ in ROWS for name in change}
    assert covered == set(Switches.__dataclass_fields__)


@pytest.mark.parametrize(("items", "message"), [
    (["nope=1"], "unknown switch"), (["error_status=500"], "200 or 4xx"),
    (["error_status=x"], "whole number"), (["duplicates=random"], "must be one of"),
    (["pretty_xml=perhaps"], "true or false"), (["pretty_xml"], "NAME=VALUE"),
])
def test_parse_rejects_bad_input_in_one_line(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        Switches.parse(items)
    assert "\n" not in str(raised.value)


def test_parse_accepts_cli_spellings() -> None:
    parsed = Switches.parse(["error-status=404", "comma_space=yes", "both-ids=reject"])
    assert parsed == Switches(error_status=404, comma_space=True, both_ids="reject")
    assert parsed.non_default() == {"error_status": 404, "comma_space": True,
                                    "both_ids": "reject"}
