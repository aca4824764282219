"""Client of the control protocol (docs/CONTROL-PROTOCOL.md).

A control failure is the target's harness breaking, not a KeepCall verdict, so it raises
``ControlError`` and the case that needed it becomes "not tested". A flags answer is held to
its shipped JSON Schema: a flag the answer leaves out or misspells must not be read as "clear"
and pass or fail a target on a guess. Many calls' flags are read with one ``POST /flags``
(protocol 1.2) where the target serves it; its first 404 or 405 is remembered, and from then
on the calls are read one by one with ``GET /calls/{id}``, as many in flight as the run allows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from functools import cache, partial
from typing import Any, Final

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from conformance.domain.model import Flags, Scenario
from conformance.wire.curl import RequestParts, render
from conformance.wire.exchange import Exchange, decode_json
from conformance.wire.safexml import schema_file
from conformance.wire.transport import JSON_TYPE, Client, Outbound

# The bodies of docs/CONTROL-PROTOCOL.md, as JSON Schemas in schemas/ (package data).
CALLS_SCHEMA: Final = "control-calls.schema.json"
FLAGS_SCHEMA: Final = "control-flags.schema.json"
CLOCK_SCHEMA: Final = "control-clock.schema.json"
ERROR_SCHEMA: Final = "control-error.schema.json"
FLAGS_REQUEST_SCHEMA: Final = "control-flags-request.schema.json"
MANY_FLAGS_SCHEMA: Final = "control-flags-many.schema.json"
MAX_FLAGS_IDS: Final = 1000  # callIDs in one POST /flags body, as the protocol allows
NOT_SERVED: Final = frozenset({404, 405})  # POST /flags where the target does not serve it
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
        self.many: bool | None = None  # POST /flags served; None until first asked

    def reset(self) -> None:
        """Replace everything the target holds with nothing: a clean slate for a run."""
        self._expect("PUT", "/fixtures", {"calls": [], "controlledExtensions": []}, 204)

    def add(self, scenario: Scenario) -> str:
        """Add the scenario's calls; returns the curl line that did it, for reproduction."""
        exchange = self._expect("POST", "/calls", scenario.to_control(), 204)
        return exchange.curl

    def add_many(self, scenarios: Sequence[Scenario]) -> None:
        """Add the calls of all ``scenarios`` with one request (a batch of cases)."""
        bodies = [s.to_control() for s in scenarios]
        controlled = dict.fromkeys(n for b in bodies for n in b["controlledExtensions"])
        self._expect("POST", "/calls", {"calls": [c for b in bodies for c in b["calls"]],
                                        "controlledExtensions": list(controlled)}, 204)

    def setup_line(self, scenario: Scenario) -> str:
        """The curl line that sets up ``scenario`` alone (a batched case's reproduction,
        rendered only when shown)."""
        body = json.dumps(scenario.to_control()).encode()
        parts = RequestParts("POST", self.base_url + "/calls",
                             headers={"Content-Type": JSON_TYPE}, raw_body=body)
        return render(parts, self._client.redactor, self._client.settings.verify)

    def flags(self, call_ids: Iterable[str]) -> dict[str, Flags]:
        """The flags of each call, read back; a ControlError on any answer that is not a
        200 with a flags body for that call."""
        read = self.read(list(call_ids))
        for value in read.values():
            if isinstance(value, ControlError):
                raise value
        return read  # type: ignore[return-value]  # no error among them

    def read(self, call_ids: Sequence[str]) -> dict[str, Flags | ControlError]:
        """Each call's flags, or the ControlError that reading it met: with POST /flags
        where served, else one GET per call (up to the run's concurrency in flight)."""
        ids = list(dict.fromkeys(call_ids))
        found: dict[str, Flags | ControlError] = {}
        for start in range(0, len(ids) if self.many is not False else 0, MAX_FLAGS_IDS):
            chunk = self._many(ids[start:start + MAX_FLAGS_IDS])
            if chunk is None:
                break
            found.update(chunk)
        rest = [i for i in ids if i not in found]
        if len(rest) == 1:  # the plain path, as a serial run reads
            found[rest[0]] = _caught(partial(self._flags, rest[0]))
        elif rest:
            answers = self._client.send_many(
                [Outbound("GET", f"{self.base_url}/calls/{i}") for i in rest], control=True)
            for call_id, (exchange, _) in zip(rest, answers, strict=True):
                found[call_id] = _caught(partial(_one, call_id, exchange, decode_json(exchange)))
        return {i: found[i] for i in ids}

    def _many(self, ids: list[str]) -> dict[str, Flags | ControlError] | None:
        """One POST /flags; None where the target does not serve it (first answer only)."""
        exchange, data = self._client.send_json("POST", f"{self.base_url}/flags",
                                                {"callIDs": ids})
        if exchange.status in NOT_SERVED and self.many is None:
            self.many = False
            return None
        self.many = True
        try:
            return _listed(ids, exchange, data)
        except ControlError as error:
            return dict.fromkeys(ids, error)

    def _flags(self, call_id: str) -> Flags:
        exchange, data = self._client.send_json("GET", f"{self.base_url}/calls/{call_id}", None)
        return _one(call_id, exchange, data)

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


def _one(call_id: str, exchange: Exchange, data: object | None) -> Flags:
    """One call's flags from the answer of GET /calls/{id}."""
    if exchange.status != 200 or data is None:
        raise ControlError(f"GET calls/{call_id}: {_describe(exchange)}")
    if reason := violation(FLAGS_SCHEMA, data):
        raise ControlError(f"GET calls/{call_id}: flags answer {reason}")
    assert isinstance(data, dict)  # the schema says so
    if data["callID"] != call_id:
        raise ControlError(f"GET calls/{call_id}: flags answer is for callID "
                           f"{_short(repr(data['callID']))}")
    return Flags.from_json(data)


def _listed(ids: list[str], exchange: Exchange, data: object | None
            ) -> dict[str, Flags | ControlError]:
    """Each asked call's entry of a POST /flags answer, held to its schema and order; a
    ControlError for the whole answer where it breaks them."""
    if exchange.status != 200 or data is None:
        raise ControlError(f"POST /flags: expected 200, {_describe(exchange)}")
    if reason := violation(MANY_FLAGS_SCHEMA, data):
        raise ControlError(f"POST /flags: flags answer {reason}")
    assert isinstance(data, dict)  # the schema says so
    entries: list[dict[str, object]] = data["calls"]
    given = [e["callID"] for e in entries]
    if given != ids:
        raise ControlError(f"POST /flags: answer lists {len(given)} calls, not the "
                           f"{len(ids)} asked in their order")
    return {i: ControlError(f"POST /flags: call {i} is missing") if e.get("missing")
            else Flags.from_json(e) for i, e in zip(ids, entries, strict=True)}


def _caught(read: Callable[[], Flags]) -> Flags | ControlError:
    try:
        return read()
    except ControlError as error:
        return error


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """The validator of one body of the protocol, from its shipped schema."""
    return Draft202012Validator(json.loads(schema_file(name).read_text(encoding="utf-8")))


def violation(name: str, body: object) -> str | None:
    """None if ``body`` matches schema ``name``; else one line naming the field that breaks it
    (a JSON path, and the missing field's name for a required one). A body the schema's plain
    reading accepts is done there (every flags answer of a run: jsonschema's walk cost 0.2 ms
    a case); only one it refuses is walked by jsonschema, for the reason."""
    plain = plain_check(name)
    if plain is not None and plain(body):
        return None
    error = best_match(schema_validator(name).iter_errors(body))
    return None if error is None else f"{error.json_path}: {_short(error.message)}"


# The keywords ``plain_check`` reads, and the JSON types it knows (Python's, as json decodes).
_PLAIN_KEYWORDS: Final = frozenset({"$schema", "title", "description", "$defs", "$ref", "type",
                                    "required", "properties", "items", "minLength", "const",
                                    "if", "then", "else"})
_PLAIN_TYPES: Final = {"object": dict, "array": list, "string": str, "boolean": bool}


@cache
def plain_check(name: str) -> Callable[[object], bool] | None:
    """Whether a body matches schema ``name``, read directly: the same answer as jsonschema's
    for a schema written with only the keywords above (a test holds them to it), None for any
    other schema (jsonschema alone judges it)."""
    schema = schema_validator(name).schema
    if not isinstance(schema, dict) or not _plainly(schema, schema.get("$defs", {})):
        return None
    return partial(_plain, schema, schema)


def _plainly(schema: object, defs: dict[str, object]) -> bool:
    """Whether ``schema`` uses only what ``_plain`` reads (a boolean const, refs by name to
    the root's ``$defs``)."""
    if not isinstance(schema, dict) or not schema.keys() <= _PLAIN_KEYWORDS:
        return False
    subs = [*schema.get("$defs", {}).values(), *schema.get("properties", {}).values(),
            *(schema[k] for k in ("items", "if", "then", "else") if k in schema)]
    ref = schema.get("$ref")
    return (schema.get("type", "object") in _PLAIN_TYPES
            and isinstance(schema.get("const", True), bool)
            and (ref is None or (isinstance(ref, str) and ref.startswith("#/$defs/")
                 and ref[8:] in defs and "~" not in ref))
            and all(_plainly(sub, defs) for sub in subs))


def _plain(root: dict[str, Any], schema: dict[str, Any], value: object) -> bool:
    """``value`` against ``schema`` (``root`` holds the ``$defs``), as JSON Schema reads it."""
    if "$ref" in schema and not _plain(root, root["$defs"][schema["$ref"][8:]], value):
        return False
    if "type" in schema and not isinstance(value, _PLAIN_TYPES[schema["type"]]):
        return False
    if "const" in schema and not (isinstance(value, bool) and value is schema["const"]):
        return False
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        return False
    if isinstance(value, dict) and not (
            all(k in value for k in schema.get("required", ()))
            and all(_plain(root, sub, value[k]) for k, sub in schema.get("properties", {}).items()
                    if k in value)):
        return False
    if isinstance(value, list) and "items" in schema and not all(
            _plain(root, schema["items"], v) for v in value):
        return False
    if "if" in schema:
        branch = "then" if _plain(root, schema["if"], value) else "else"
        return _plain(root, schema.get(branch, {}), value)
    return True


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
