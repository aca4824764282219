"""The KeepCall and RequestToken semantics, step by step in docs/SEMANTICS.md's order.

Each step either returns what the next one needs or raises ApiError; an ApiError raised before
the effect step leaves every call untouched, which is how "an error changes nothing" holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial

from conformance.catalog.spec import (
    ACTION,
    P_ACTION,
    P_API_KEY,
    P_CALL_ID,
    P_EXTENSION,
    P_RESPONSE_TYPE,
    P_STATUS,
    P_TOKEN,
    P_TYPE,
    P_UNMARK,
    PARAMETERS,
    RESPONSE_TYPES,
    TOKEN_ACTION,
    TYPE_VALUES,
    UNMARK_VALUE,
    Lookup,
    ResponseFormat,
)
from conformance.reference import lookup
from conformance.reference.behaviour import Behaviour
from conformance.reference.params import Pairs, Params
from conformance.reference.render import RENDERERS, Result
from conformance.reference.state import CallRecord, Store
from conformance.reference.switches import Switches

_KNOWN = frozenset(PARAMETERS)
# How a status list is split, by the status_spelling switch.
_STATUS_SEPARATORS = {"tight": re.compile(","), "spaced": re.compile(", "),
                      "either": re.compile(r"\s*,\s*", re.ASCII)}
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
_TRUTHY_WORDS = frozenset({"true", "yes"})
# Errors raised before the action runs (pre_action_format=xml answers them in XML).
_PRE_ACTION_KINDS = frozenset({"action", "api-key", "token"})
_ALWAYS_XML_KINDS = frozenset({"url-too-long"})
_ACTION_STATUS = {"same": None, "405": 405, "501": 501}
Reply = tuple[int, str, bytes]
LOGIN_PAGE = (b"<!doctype html><html lang=\"en\"><head><title>HTTP Status 401 \xe2\x80\x93 "
              b"Unauthorized</title></head><body><h1>HTTP Status 401 \xe2\x80\x93 Unauthorized"
              b"</h1></body></html>")
StatusKey = tuple[str, ...]


class ApiError(Exception):
    """An application error: ``kind`` names the rule (faults may forgive kinds)."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Parsed:
    """A validated KeepCall request."""

    call_id: str | None
    extension: str | None
    lookups: tuple[Lookup, ...] | None
    type: str | None
    unmark: bool


class KeepCallService:
    """Answers API requests against a store, under switches and a (possibly faulty) behaviour."""

    def __init__(self, store: Store, switches: Switches, behaviour: Behaviour,
                 keys: Mapping[str, bool], username: str, password: str) -> None:
        self.store, self.switches, self.behaviour = store, switches, behaviour
        self.held = 0.0  # seconds the last answer is held back (see take_held)
        self.keys, self.username, self.password = keys, username, password
        fold = switches.case_insensitive
        self._actions = _vocabulary(behaviour.actions, fold)
        self._formats: dict[str, ResponseFormat] = {
            (f.lower() if fold else f): f for f in RESPONSE_TYPES}
        self._statuses: dict[StatusKey, str] = {
            _fold_parts(key.split(","), fold): key for key in behaviour.status_lookups}
        self._types = _vocabulary(TYPE_VALUES, fold)
        self._fold = fold
        self._spellings = ({name.lower(): name for name in PARAMETERS}
                           if switches.param_names == "case-insensitive" else None)
        self._xml_kinds = _ALWAYS_XML_KINDS | (
            _PRE_ACTION_KINDS if switches.pre_action_format == "xml" else frozenset())

    def answer(self, pairs: Pairs, authorization: str | None,
               failure: ApiError | None = None) -> Reply:
        """The status, Content-Type and body for one request (``failure``: fail regardless);
        ``held`` then says how long the answer waits (the next_hold switch)."""
        self.held = 0.0
        crash = self.behaviour.crash_above
        if crash is not None and any(len(v) > crash for _, v in pairs):
            return 500, "text/plain; charset=utf-8", b"Internal Server Error"
        crashed = self.behaviour.crash_on(pairs) if self.behaviour.crash_on else None
        if crashed is not None:
            return 500, "text/html; charset=utf-8", crashed
        params = Params(pairs, self.switches.duplicates, self._spellings)
        type_name = self._type_name(params)
        fmt = self._format(params)
        try:
            if failure is not None:
                raise failure
            result = self._evaluate(params, authorization)
        except ApiError as error:
            forgiven = error.kind in self.behaviour.forgiven
            result = Result(type_name) if forgiven else Result(
                type_name, error=error.message, status=error.status)
            fmt = self.behaviour.formats["XML"] if error.kind in self._xml_kinds else fmt
            if error.kind == "login" and self.switches.front_end == "proxy":
                return 401, "text/html", LOGIN_PAGE  # the container's Basic authentication
            page = self.behaviour.refusal_page
            if page is not None and error.kind in _PRE_ACTION_KINDS:
                return page, "text/plain; charset=utf-8", b"Unauthorized"
        return self._reply(fmt, result)

    def take_held(self) -> float:
        """How long the answer just made waits before it is sent; read once."""
        held, self.held = self.held, 0.0
        return held

    def _quote(self, value: str) -> str:
        return self.behaviour.quote(value)

    def _type_name(self, params: Params) -> str | None:
        """Response/@type: the action, or for a missing or unknown one the error_type reading."""
        action = self._action_of(params)
        if action is not None:
            return action
        readings = {"keepcall": ACTION, "absent": None, "as-sent": params.get(P_ACTION)}
        return readings[self.switches.error_type]

    def _reply(self, fmt: ResponseFormat, result: Result) -> Reply:
        content_type, body = RENDERERS[fmt](result, self.behaviour.style)
        status = result.status or (200 if result.error is None else self.switches.error_status)
        return status, content_type, body

    def _canon(self, value: str, vocabulary: Mapping[str, str]) -> str | None:
        return vocabulary.get(value.lower() if self._fold else value)

    def _format(self, params: Params) -> ResponseFormat:
        raw = params.get(P_RESPONSE_TYPE)
        if raw is None:
            return self.behaviour.default_format
        canon = self._formats.get(raw.lower() if self._fold else raw)
        return "XML" if canon is None else self.behaviour.formats[canon]

    def _action_of(self, params: Params) -> str | None:
        """The action as the service names it; None for a missing or unknown one."""
        raw = params.get(P_ACTION)
        return self.behaviour.missing_action if raw is None else self._canon(raw, self._actions)

    # -- the steps -------------------------------------------------------------------------
    def _evaluate(self, params: Params, authorization: str | None) -> Result:
        self.store.run_later()
        action = self._require_action(params)
        requires_auth = self._require_key(params)
        if action == TOKEN_ACTION:
            self._check_shape(params)
            return self._request_token(authorization)
        self._require_token(params, requires_auth)
        self._check_shape(params)
        parsed = self._validate(params)
        self.store.settle()
        call = self._lookup(parsed)
        if call is None:  # a pending keep (next_pending): success, nothing changes yet
            self._pend(parsed)
            return Result(ACTION)
        self.store.last_found = call
        self._apply(call, parsed)
        return Result(ACTION, call_id=call.call_id)

    def _require_action(self, params: Params) -> str:
        action = self._action_of(params)
        if action is None:
            raw = params.get(P_ACTION)
            raise ApiError("action", "Missing action." if raw is None
                           else f"Unknown action {self._quote(raw)}.",
                           _ACTION_STATUS[self.switches.unknown_action_status])
        return action

    def _require_key(self, params: Params) -> bool:
        requires_auth = self.behaviour.key_check(self.keys, params.get(P_API_KEY))
        if requires_auth is None:
            raise ApiError("api-key", "Missing or unknown apiKey.")
        return requires_auth

    def _require_token(self, params: Params, requires_auth: bool) -> None:
        token = params.get(P_TOKEN)
        optional = token is None and self.switches.token == "optional"
        if requires_auth and not optional and not self.behaviour.token_ok(self.store, token):
            raise ApiError("token", "Missing, invalid or expired token.")
        if not requires_auth and token is not None and self.switches.token_on_open_key == "reject":
            raise ApiError("token", "This apiKey does not use tokens.")

    def _request_token(self, authorization: str | None) -> Result:
        if not self.behaviour.login_ok(authorization, self.username, self.password):
            raise ApiError("login", "Authentication failed.")
        token = self.store.issue_token() if self.behaviour.issue_tokens else None
        return Result(TOKEN_ACTION, token=token)

    def _check_shape(self, params: Params) -> None:
        duplicated = params.duplicated()
        if duplicated and self.switches.duplicates == "reject":
            raise ApiError("duplicate", f"Duplicated parameter {self._quote(duplicated[0])}.")
        unknown = sorted(params.names() - _KNOWN)
        if unknown and self.behaviour.unknown_params_status is not None:
            raise ApiError("unknown-param", "Internal error.", self.behaviour.unknown_params_status)
        if unknown and self.switches.unknown_params == "reject":
            raise ApiError("unknown-param", f"Unknown parameter {self._quote(unknown[0])}.")
        raw = params.get(P_RESPONSE_TYPE)
        bad_format = raw is not None and self._canon(raw, self._formats) is None
        if bad_format and self.switches.unknown_response_type == "error":
            raise ApiError("response-type", f"Unknown responseType {self._quote(raw or '')}.")

    def _validate(self, params: Params) -> Parsed:
        call_id, extension = params.get(P_CALL_ID), params.get(P_EXTENSION)
        if call_id is None and extension is None:
            raise ApiError("no-id", "Either callID or extension is required.")
        both = call_id is not None and extension is not None
        rule = self.behaviour.both_ids(self.switches.both_ids) if both else None
        if rule == "reject":
            raise ApiError("both-ids", "Give callID or extension, not both.")
        if rule == "extension-wins":
            call_id = None
        by_id = call_id is not None
        status_read = not by_id or self.switches.status_with_callid == "applied"
        lookups = self._lookups(params.get(P_STATUS), not by_id) if status_read else None
        return Parsed(call_id, None if by_id else extension, lookups,
                      self._type(params.get(P_TYPE)), self._unmark(params.get(P_UNMARK)))

    def _lookups(self, raw: str | None, required: bool) -> tuple[Lookup, ...] | None:
        if raw is None:
            if required and self.behaviour.missing_status is None:
                raise ApiError("missing-status", "status is required with extension.")
            return self.behaviour.missing_status if required else None
        canon = self._statuses.get(self._status_key(raw))
        if canon is not None:
            return self.behaviour.status_lookups[canon]
        if self.behaviour.unknown_status is None:
            raise ApiError("unknown-status", f"Unknown status {self._quote(raw)}.")
        return self.behaviour.unknown_status

    def _status_key(self, raw: str) -> StatusKey:
        """The status list's parts (status_spelling, trailing_comma, case_insensitive)."""
        parts = _STATUS_SEPARATORS[self.switches.status_spelling].split(raw)
        if self.switches.trailing_comma == "drop-empty":
            parts = [part for part in parts if part]
        return _fold_parts(parts, self._fold)

    def _type(self, raw: str | None) -> str | None:
        canon = None if raw is None else self._canon(raw, self._types)
        if raw is not None and canon is None:
            raise ApiError("unknown-type", f"Unknown type {self._quote(raw)}.")
        return canon

    def _unmark(self, raw: str | None) -> bool:
        if raw is None or raw in ("0", UNMARK_VALUE):
            return raw == UNMARK_VALUE
        if self.switches.unmark_other == "reject":
            raise ApiError("unmark", f"Unknown unmark value {self._quote(raw)}.")
        return self.switches.unmark_other == "truthy" and _truthy(raw)

    def _lookup(self, parsed: Parsed) -> CallRecord | None:
        """The call the request identifies; None for a pending keep (next_pending)."""
        now = self.store.clock.now()
        if parsed.call_id is not None:
            return self._by_id(parsed.call_id, parsed.lookups, now)
        number = parsed.extension or ""
        candidates = self.behaviour.candidates(self.store, number)
        for name in parsed.lookups or ():
            found = [c for c in candidates if self.behaviour.in_lookup[name](c, now)]
            if found:
                call = self._pick(name, found)
                self._hold(call.start - now if name == "next" else 0.0)
                return call
        if "next" in (parsed.lookups or ()):
            self._hold(self.switches.next_hold)  # waits for a call to appear
        if self.switches.next_pending and "next" in (parsed.lookups or ()):
            return None
        self.behaviour.on_no_match(self.store, number)
        raise ApiError("no-match", "Call cannot be found.")

    def _hold(self, seconds: float) -> None:
        """The answer waits up to next_hold seconds (until the call found starts)."""
        self.held = min(max(seconds, 0.0), float(self.switches.next_hold))

    def _by_id(self, call_id: str, lookups: Iterable[Lookup] | None, now: float) -> CallRecord:
        call = self.store.calls.get(call_id)
        if call is None and self.switches.normalize_identifiers:
            wanted = lookup.normal_call_id(call_id)
            call = next((c for c in self.store.calls.values()
                         if lookup.normal_call_id(c.call_id) == wanted), None)
        if call is None or not self.behaviour.id_match(call, now):
            raise ApiError("unknown-call", "Call cannot be found.")
        in_lookup = self.behaviour.in_lookup
        if lookups is not None and not any(in_lookup[name](call, now) for name in lookups):
            raise ApiError("no-match", "Call cannot be found with that status.")
        return call

    def _pick(self, name: Lookup, found: list[CallRecord]) -> CallRecord:
        call = self.behaviour.pickers[name](found)
        if call is None:
            raise ApiError("several", "More than one call found.")
        return call

    def _pend(self, parsed: Parsed) -> None:
        """Under pending_applied, the pending keep waits for the next call on the number."""
        effect = self.behaviour.effects.get((parsed.type, parsed.unmark))
        if not (self.switches.pending_applied and effect and parsed.extension):
            return
        flag, value = effect
        self.store.pend(parsed.extension,
                        lambda call: self.behaviour.apply_effect(self.store, call, flag, value))

    def _apply(self, call: CallRecord, parsed: Parsed) -> None:
        now = self.store.clock.now()
        if parsed.type == "manualRecord":
            self._check_recordable(call, now)
        effect = self.behaviour.effects.get((parsed.type, parsed.unmark))
        if effect is None:
            return
        change = partial(self.behaviour.apply_effect, self.store, call, *effect)
        if call.before_start(now):
            self.behaviour.on_upcoming(self.store, call, effect[0], change)
        else:
            change()

    def _check_recordable(self, call: CallRecord, now: float) -> None:
        uncontrolled = not self.store.is_controlled(call)
        if uncontrolled and self.switches.manual_record_uncontrolled == "error":
            self.behaviour.on_refused(self.store, call)
            raise ApiError("uncontrolled", "The call has no controlled extension.")
        not_ongoing = call.state(now) != "ongoing"
        if not_ongoing and self.switches.manual_record_not_ongoing == "refuse":
            raise ApiError("not-ongoing", "Recording can only change on an ongoing call.")


def _vocabulary(choices: Iterable[str], fold: bool) -> dict[str, str]:
    """Accepted spelling -> canonical value (every letter case when ``fold``)."""
    return {(c.lower() if fold else c): c for c in choices}


def _fold_parts(parts: Iterable[str], fold: bool) -> StatusKey:
    return tuple(part.lower() if fold else part for part in parts)


def _truthy(raw: str) -> bool:
    """unmark under the truthy reading: a non-zero integer, or true / yes."""
    return int(raw) != 0 if _INTEGER.fullmatch(raw) else raw in _TRUTHY_WORDS
