"""The control protocol client: lenient with 2xx, a clock answering 404 is "unsupported", and a
broken control endpoint (a clock too) or a flags answer off its schema is a ControlError (the
case becomes not tested), never a crash and never a guessed flag."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from conformance.domain.model import Flags
from conformance.domain.scenarios import Numbering, build
from conformance.wire.control import (
    CALLS_SCHEMA,
    CLOCK_SCHEMA,
    ERROR_SCHEMA,
    FLAGS_SCHEMA,
    MANY_FLAGS_SCHEMA,
    Control,
    ControlError,
    plain_check,
    schema_validator,
    violation,
)
from conformance.wire.redact import Redactor
from conformance.wire.transport import Client, TransportSettings

# Flags answers that break control-flags.schema.json, and the field the reason must name.
BAD_FLAGS = {
    "no-kept": (b'{"callID": "no-kept", "protected": false, "recording": false}', "'kept'"),
    "kept-yes": (b'{"callID": "kept-yes", "kept": "yes", "protected": false, '
                 b'"recording": false}', "$.kept"),
    "no-call-id": (b'{"kept": true, "protected": false, "recording": false}', "'callID'"),
    "a-list": (b'[true, false, false]', "$: "),
    "huge": (b'{"callID": "huge", "kept": "' + b"x\\n" * 5000 + b'", "protected": false, '
             b'"recording": false}', "$.kept"),
}
GOOD_FLAGS = b'{"callID": "good", "kept": true, "protected": false, "recording": true, "x": 1}'

# (method, path) -> (status, body) of a control interface that bends the protocol a little
ANSWERS = {("PUT", "/fixtures"): (200, b""), ("POST", "/calls"): (201, b"{}"),
           ("POST", "/clock"): (500, b"clock broke"),
           ("POST", "/closed/clock"): (0, b""),  # the connection closed, no answer
           ("GET", "/calls/broken"): (500, b"oops"),
           ("GET", "/calls/good"): (200, GOOD_FLAGS),
           ("GET", "/calls/other"): (200, GOOD_FLAGS),
           **{("GET", f"/calls/{name}"): (200, body) for name, (body, _) in BAD_FLAGS.items()}}


class _Handler(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        status, body = ANSWERS.get((self.command, self.path), (404, b""))
        if not status:
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_POST = _answer

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def control() -> Iterator[Control]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()  # shutdown() then waits 20 ms, not 0.5 s
    with Client(TransportSettings(total_timeout=5), Redactor()) as client:
        yield Control(client, f"http://127.0.0.1:{server.server_address[1]}/")
    server.shutdown()


def test_any_2xx_is_taken_as_done(control: Control) -> None:
    control.reset()
    assert "curl" in control.add(build("ongoing-caller", Numbering()))


def test_a_clock_answering_404_is_unsupported(control: Control) -> None:
    assert Control(control._client, control.base_url + "/none").advance(60) is False


@pytest.mark.parametrize(("where", "reason"), [("", "HTTP 500 clock broke"),
                                               ("/closed", "closed")])
def test_a_clock_that_fails_is_a_control_error_not_no_clock(control: Control, where: str,
                                                            reason: str) -> None:
    with pytest.raises(ControlError, match=f"POST /clock: expected 204 or 404, .*{reason}"):
        Control(control._client, control.base_url + where).advance(60)


@pytest.mark.parametrize("call_id", ["broken", "missing"])
def test_unreadable_flags_are_a_control_error(control: Control, call_id: str) -> None:
    with pytest.raises(ControlError, match=f"calls/{call_id}"):
        control.flags([call_id])


def test_a_flags_answer_is_read_with_extra_fields_ignored(control: Control) -> None:
    assert control.flags(["good"]) == {"good": Flags(kept=True, recording=True)}


@pytest.mark.parametrize(("call_id", "field"), [(k, f) for k, (_, f) in BAD_FLAGS.items()])
def test_a_flags_answer_off_its_schema_is_a_control_error_naming_the_field(
        control: Control, call_id: str, field: str) -> None:
    with pytest.raises(ControlError) as raised:
        control.flags([call_id])
    reason = str(raised.value)
    assert reason.startswith(f"GET calls/{call_id}: flags answer ") and field in reason
    assert "\n" not in reason and len(reason) < 250


def test_a_flags_answer_for_another_call_is_a_control_error(control: Control) -> None:
    with pytest.raises(ControlError, match="for callID 'good'"):
        control.flags(["other"])


def test_the_protocol_schemas_are_valid_draft_2020_12() -> None:
    for name in (CALLS_SCHEMA, FLAGS_SCHEMA, CLOCK_SCHEMA, ERROR_SCHEMA):
        Draft202012Validator.check_schema(schema_validator(name).schema)


# --- the plain reading of a schema: jsonschema's answer, faster -------------------------------
PLAIN = (FLAGS_SCHEMA, MANY_FLAGS_SCHEMA, ERROR_SCHEMA)
_KEYS = st.sampled_from(["callID", "kept", "protected", "recording", "missing", "calls",
                         "error", "x"])
_LEAVES = st.sampled_from([None, True, False, 0, 1, 1.5, "", "a", "good"])
# JSON bodies near the flags answers' shapes: their fields, right and wrong types, nested.
BODIES = st.recursive(_LEAVES, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(_KEYS, inner, max_size=6), max_leaves=20)


def _entry(*missing: str) -> dict[str, object]:
    flags: dict[str, object] = {"callID": "c", "kept": True, "protected": False,
                                "recording": False}
    return {k: v for k, v in flags.items() if k not in missing}


@pytest.mark.parametrize("name", PLAIN)
def test_the_flags_schemas_are_read_plainly(name: str) -> None:
    """The answers of every case take the fast path (and the schemas it cannot read do not)."""
    assert plain_check(name) is not None
    assert plain_check(CALLS_SCHEMA) is None


@pytest.mark.parametrize("name", PLAIN)
@given(body=BODIES | st.fixed_dictionaries({"calls": st.lists(
    st.sampled_from([_entry(), _entry("kept"), {"callID": "c", "missing": True},
                     {"callID": "", "missing": True}, {"callID": "c", "missing": 1}]),
    max_size=3)}) | st.sampled_from([_entry(), _entry("recording"), {**_entry(), "kept": 1}]))
@example(body={"calls": [{"callID": "c", "missing": 1}]})
@example(body={"calls": [{"callID": "c", "missing": False}, _entry()]})
@example(body={**_entry(), "callID": ""})
def test_a_plain_reading_answers_as_jsonschema_does(name: str, body: object) -> None:
    plain = plain_check(name)
    assert plain is not None and plain(body) == schema_validator(name).is_valid(body)
    assert (violation(name, body) is None) == plain(body)
