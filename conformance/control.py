"""Client of the control protocol (docs/CONTROL-PROTOCOL.md).

A control failure is the target's harness breaking, not a KeepCall verdict, so it raises
``ControlError`` and the case that needed it becomes "not tested". A flags answer is held to
its shipped JSON Schema: a flag the answer leaves out or misspells must not be read as "clear"
and pass or fail a target on a guess.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from conformance.model import Flags, Scenario
from conformance.transport import Client, Exchange
from conformance.validators import schema_file

# The bodies of docs/CONTROL-PROTOCOL.md, as JSON Schemas in schemas/ (package data).
CALLS_SCHEMA: Final = "control-calls.schema.json"
FLAGS_SCHEMA: Final = "control-flags.schema.json"
CLOCK_SCHEMA: Final = "control-clock.schema.json"
ERROR_SCHEMA: Final = "control-error.schema.json"
REASON_CHARS: Final = 160
NO_CLOCK: Final = 404  # POST /clock's answer where the target does not support it


class ControlError(Exception):
    """The control interface did not do what the case needed."""


class Control:
    """The suite's side of the protocol, on the run's one client (so its requests are paced,
    redacted and reproducible like every other)."""

    def __init__(self, client: Client, base_url: str) -> None:
        self._client = client
        self.base_url = base_url.rstrip("/")

    def reset(self) -> None:
        """Replace everything the target holds with nothing: a clean slate for a run."""
        self._expect("PUT", "/fixtures", {"calls": [], "controlledExtensions": []}, 204)

    def add(self, scenario: Scenario) -> str:
        """Add the scenario's calls; returns the curl line that did it, for reproduction."""
        exchange = self._expect("POST", "/calls", scenario.to_control(), 204)
        return exchange.curl

    def flags(self, call_ids: Iterable[str]) -> dict[str, Flags]:
        """The flags of each call, read back; a ControlError on any answer that is not a
        200 with a flags body for that call."""
        return {call_id: self._flags(call_id) for call_id in call_ids}

    def _flags(self, call_id: str) -> Flags:
        exchange, data = self._client.send_json("GET", f"{self.base_url}/calls/{call_id}", None)
        if exchange.status != 200 or data is None:
            raise ControlError(f"GET calls/{call_id}: {_describe(exchange)}")
        if reason := violation(FLAGS_SCHEMA, data):
            raise ControlError(f"GET calls/{call_id}: flags answer {reason}")
        assert isinstance(data, dict)  # the schema says so
        if data["callID"] != call_id:
            raise ControlError(f"GET calls/{call_id}: flags answer is for callID "
                               f"{_short(repr(data['callID']))}")
        return Flags.from_json(data)

    def advance(self, seconds: int) -> bool:
        """Move the target's clock; False where it has none (404, the protocol's "not
        supported": the tests that need the clock are then not tested). Any other answer, or
        none, is a ControlError: a clock that fails is not a clock that is absent."""
        exchange, _ = self._client.send_json("POST", f"{self.base_url}/clock",
                                             {"advanceSeconds": seconds})
        if exchange.status == NO_CLOCK:
            return False
        if not _success(exchange):
            raise ControlError(f"POST /clock: expected 204 or {NO_CLOCK}, {_describe(exchange)}")
        return True

    def _expect(self, method: str, path: str, payload: object, status: int) -> Exchange:
        """The protocol names ``status``; any 2xx is taken as done, to be lenient with it."""
        exchange, _ = self._client.send_json(method, self.base_url + path, payload)
        if not _success(exchange):
            raise ControlError(f"{method} {path}: expected {status}, {_describe(exchange)}")
        return exchange


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """The validator of one body of the protocol, from its shipped schema."""
    return Draft202012Validator(json.loads(schema_file(name).read_text(encoding="utf-8")))


def violation(name: str, body: object) -> str | None:
    """None if ``body`` matches schema ``name``; else one line naming the field that breaks it
    (a JSON path, and the missing field's name for a required one)."""
    error = best_match(schema_validator(name).iter_errors(body))
    return None if error is None else f"{error.json_path}: {_short(error.message)}"


def _short(text: str) -> str:
    """One line of at most REASON_CHARS: a hostile answer must not flood a report."""
    line = re.sub(r"\s+", " ", text)
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 3] + "..."


def _success(exchange: Exchange) -> bool:
    return exchange.status is not None and 200 <= exchange.status < 300


def _describe(exchange: Exchange) -> str:
    if exchange.error:
        return exchange.error
    return f"HTTP {exchange.status} {exchange.body_excerpt(200)}"
