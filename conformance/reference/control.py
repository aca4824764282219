"""The conformance control protocol (docs/CONTROL-PROTOCOL.md): fixtures, calls, flags, clock;
and, where the ``flags_endpoint`` switch serves it, many calls' flags at once (1.2).

Bodies are validated completely before anything changes, so a 400 never leaves half a fixture.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from conformance.catalog.spec import CALL_STATES, FLAGS
from conformance.reference.state import CallRecord, Store

JsonReply = tuple[int, dict[str, Any] | None]
_CALL_FIELDS = frozenset({"callID", "caller", "called", "state", "offsetSeconds", *FLAGS})
_REQUIRED = ("callID", "caller", "called", "state", "offsetSeconds")
_BODY_FIELDS = frozenset({"calls", "controlledExtensions"})
_MAX_SECONDS = 10**9  # about 30 years; beyond that float time loses meaning
MAX_FLAGS_IDS = 1000  # callIDs one POST /flags may ask for


class Invalid(ValueError):
    """A control body the server cannot apply."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise Invalid("body is not JSON") from None
    if not isinstance(data, dict):
        raise Invalid("body is not a JSON object")
    return data


def _call(item: Any, now: float) -> CallRecord:
    if not isinstance(item, dict):
        raise Invalid("each call must be an object")
    if unknown := sorted(set(item) - _CALL_FIELDS):
        raise Invalid(f"unknown call field {unknown[0]!r}")
    if missing := [f for f in _REQUIRED if f not in item]:
        raise Invalid(f"call field {missing[0]!r} is missing")
    for name in ("callID", "caller", "called"):
        if not isinstance(item[name], str) or not item[name]:
            raise Invalid(f"{name} must be a non-empty string")
    if item["state"] not in CALL_STATES:
        raise Invalid(f"state must be one of {', '.join(CALL_STATES)}")
    offset = item["offsetSeconds"]
    if not _is_int(offset) or not 0 <= offset <= _MAX_SECONDS:
        raise Invalid(f"offsetSeconds must be a whole number from 0 to {_MAX_SECONDS}")
    if bad := [f for f in FLAGS if not isinstance(item.get(f, False), bool)]:
        raise Invalid(f"{bad[0]} must be true or false")
    return _record(item, now, offset)


def _record(item: dict[str, Any], now: float, offset: int) -> CallRecord:
    state = item["state"]
    start = {"ongoing": now - offset, "upcoming": now + offset}.get(state, now - offset - 60)
    return CallRecord(item["callID"], item["caller"], item["called"], start=start,
                      end=now - offset if state == "finished" else None,
                      upcoming=state == "upcoming",
                      **{f: item.get(f, False) for f in FLAGS})


def _fixtures(body: bytes, now: float) -> tuple[list[CallRecord], list[str]]:
    data = _object(body)
    if unknown := sorted(set(data) - _BODY_FIELDS):
        raise Invalid(f"unknown field {unknown[0]!r}")
    calls, controlled = data.get("calls", []), data.get("controlledExtensions", [])
    if not isinstance(calls, list):
        raise Invalid("calls must be a list")
    if not isinstance(controlled, list) or not all(isinstance(n, str) for n in controlled):
        raise Invalid("controlledExtensions must be a list of strings")
    records = [_call(item, now) for item in calls]
    if len({r.call_id for r in records}) != len(records):
        raise Invalid("a callID appears twice")
    return records, controlled


class ControlApi:
    """Routes control requests (path below the control prefix) to the store."""

    def __init__(self, store: Store, flags_endpoint: str = "served") -> None:
        """``flags_endpoint``: POST /flags served, or answered 404 or 405 (the switch)."""
        self.store = store
        self._routes: dict[tuple[str, str], Callable[[bytes], JsonReply]] = {
            ("PUT", "/fixtures"): self._put_fixtures,
            ("POST", "/calls"): self._post_calls,
            ("POST", "/clock"): self._post_clock,
        }
        if flags_endpoint == "served":
            self._routes["POST", "/flags"] = self._post_flags
        # Paths answered 405 to a method they do not serve (404: a path unknown).
        self._paths = {p for _, p in self._routes} | (
            {"/flags"} if flags_endpoint == "405" else set())

    def handle(self, method: str, path: str, body: bytes) -> JsonReply:
        route = self._routes.get((method, path))
        try:
            if route is not None:
                return route(body)
            if path.startswith("/calls/") and method == "GET":
                return self._get_call(path.removeprefix("/calls/"))
        except Invalid as invalid:
            return 400, {"error": str(invalid)}
        known = path in self._paths or path.startswith("/calls/")
        return (405, {"error": "method not allowed"}) if known else (404, {"error": "not found"})

    def _put_fixtures(self, body: bytes) -> JsonReply:
        self.store.replace_all(*_fixtures(body, self.store.clock.now()))
        return 204, None

    def _post_calls(self, body: bytes) -> JsonReply:
        self.store.add(*_fixtures(body, self.store.clock.now()))
        return 204, None

    def _get_call(self, call_id: str) -> JsonReply:
        self.store.settle()  # changes deferred to a call's start show once it has started
        call = self.store.calls.get(call_id)
        return (404, {"error": "no such call"}) if call is None else (200, call.flags_json())

    def _post_flags(self, body: bytes) -> JsonReply:
        data = _object(body)
        ids: Any = data.get("callIDs")
        if set(data) != {"callIDs"} or not isinstance(ids, list) or not all(
                isinstance(i, str) and i for i in ids):
            raise Invalid('body must be {"callIDs": [<callID>, ...]}')
        if len(ids) > MAX_FLAGS_IDS:
            raise Invalid(f"at most {MAX_FLAGS_IDS} callIDs")
        self.store.settle()  # as GET /calls/{callID}: deferred changes show once started
        calls = [self.store.calls.get(i) for i in ids]
        return 200, {"calls": [{"callID": i, "missing": True} if c is None else c.flags_json()
                               for i, c in zip(ids, calls, strict=True)]}

    def _post_clock(self, body: bytes) -> JsonReply:
        data = _object(body)
        seconds: Any = data.get("advanceSeconds")
        if set(data) != {"advanceSeconds"} or not _is_seconds(seconds):
            raise Invalid(f"body must be {{\"advanceSeconds\": <0 to {_MAX_SECONDS}>}}")
        self.store.clock.advance(float(seconds))
        return 204, None


def _is_seconds(value: Any) -> bool:
    number = _is_int(value) or (isinstance(value, float) and math.isfinite(value))
    return number and 0 <= value <= _MAX_SECONDS
