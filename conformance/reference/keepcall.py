"""The KeepCall and RequestToken semantics, step by step in docs/SEMANTICS.md's order.

Each step either returns what the next one needs or raises ApiError; an ApiError raised before
the effect step leaves every call untouched, which is how "an error changes nothing" holds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from conformance.reference import lookup
from conformance.reference.behaviour import Behaviour
from conformance.reference.params import Pairs, Params
from conformance.reference.render import RENDERERS, Result
from conformance.reference.state import CallRecord, Store
from conformance.reference.switches import Switches
from conformance.spec import (
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

_KNOWN = frozenset(PARAMETERS)
_COMMA_SPACE = re.compile(r",\s+")
_SAFE = re.compile(r"[^A-Za-z0-9 _.,:+@-]")
Reply = tuple[int, str, bytes]


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


def shown(value: str) -> str:
    """A client value made safe to quote in any format (no markup, ASCII, short)."""
    return repr(_SAFE.sub("?", value[:40]))


class KeepCallService:
    """Answers API requests against a store, under switches and a (possibly faulty) behaviour."""

    def __init__(self, store: Store, switches: Switches, behaviour: Behaviour,
                 keys: Mapping[str, bool], username: str, password: str) -> None:
        self.store, self.switches, self.behaviour = store, switches, behaviour
        self.keys, self.username, self.password = keys, username, password
        fold = switches.case_insensitive
        self._actions = _vocabulary(behaviour.actions, fold)
        self._formats: dict[str, ResponseFormat] = {
            (f.lower() if fold else f): f for f in RESPONSE_TYPES}
        self._statuses = _vocabulary(behaviour.status_lookups, fold)
        self._types = _vocabulary(TYPE_VALUES, fold)
        self._fold = fold

    def answer(self, pairs: Pairs, authorization: str | None,
               failure: ApiError | None = None) -> Reply:
        """The status, Content-Type and body for one request (``failure``: fail regardless)."""
        params = Params(pairs, self.switches.duplicates)
        type_name = TOKEN_ACTION if self._action_of(params) == TOKEN_ACTION else ACTION
        try:
            if failure is not None:
                raise failure
            result = self._evaluate(params, authorization)
        except ApiError as error:
            forgiven = error.kind in self.behaviour.forgiven
            result = Result(type_name) if forgiven else Result(
                type_name, error=error.message, status=error.status)
        return self._reply(self._format(params), result)

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
        raw = params.get(P_ACTION)
        return self.behaviour.missing_action if raw is None else self._canon(raw, self._actions)

    # -- the steps -------------------------------------------------------------------------
    def _evaluate(self, params: Params, authorization: str | None) -> Result:
        action = self._require_action(params)
        requires_auth = self._require_key(params)
        if action == TOKEN_ACTION:
            self._check_shape(params)
            return self._request_token(authorization)
        self._require_token(params, requires_auth)
        self._check_shape(params)
        parsed = self._validate(params)
        call = self._lookup(parsed)
        self._apply(call, parsed)
        return Result(ACTION, call_id=call.call_id)

    def _require_action(self, params: Params) -> str:
        action = self._action_of(params)
        if action is None:
            raw = params.get(P_ACTION)
            raise ApiError("action", "Missing action." if raw is None
                           else f"Unknown action {shown(raw)}.")
        return action

    def _require_key(self, params: Params) -> bool:
        requires_auth = self.behaviour.key_check(self.keys, params.get(P_API_KEY))
        if requires_auth is None:
            raise ApiError("api-key", "Missing or unknown apiKey.")
        return requires_auth

    def _require_token(self, params: Params, requires_auth: bool) -> None:
        token = params.get(P_TOKEN)
        if requires_auth and not self.behaviour.token_ok(self.store, token):
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
            raise ApiError("duplicate", f"Duplicated parameter {shown(duplicated[0])}.")
        unknown = sorted(params.names() - _KNOWN)
        if unknown and self.behaviour.unknown_params_status is not None:
            raise ApiError("unknown-param", "Internal error.", self.behaviour.unknown_params_status)
        if unknown and self.switches.unknown_params == "reject":
            raise ApiError("unknown-param", f"Unknown parameter {shown(unknown[0])}.")
        raw = params.get(P_RESPONSE_TYPE)
        bad_format = raw is not None and self._canon(raw, self._formats) is None
        if bad_format and self.switches.unknown_response_type == "error":
            raise ApiError("response-type", f"Unknown responseType {shown(raw or '')}.")

    def _validate(self, params: Params) -> Parsed:
        call_id, extension = params.get(P_CALL_ID), params.get(P_EXTENSION)
        if call_id is None and extension is None:
            raise ApiError("no-id", "Either callID or extension is required.")
        if call_id is not None and extension is not None and self.switches.both_ids == "reject":
            raise ApiError("both-ids", "Give callID or extension, not both.")
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
        value = _COMMA_SPACE.sub(",", raw) if self.switches.comma_space else raw
        canon = self._canon(value, self._statuses)
        if canon is not None:
            return self.behaviour.status_lookups[canon]
        if self.behaviour.unknown_status is None:
            raise ApiError("unknown-status", f"Unknown status {shown(raw)}.")
        return self.behaviour.unknown_status

    def _type(self, raw: str | None) -> str | None:
        canon = None if raw is None else self._canon(raw, self._types)
        if raw is not None and canon is None:
            raise ApiError("unknown-type", f"Unknown type {shown(raw)}.")
        return canon

    def _unmark(self, raw: str | None) -> bool:
        if raw is None or raw in ("0", UNMARK_VALUE):
            return raw == UNMARK_VALUE
        if self.switches.unmark_other == "reject":
            raise ApiError("unmark", f"Unknown unmark value {shown(raw)}.")
        return False

    def _lookup(self, parsed: Parsed) -> CallRecord:
        now = self.store.clock.now()
        if parsed.call_id is not None:
            return self._by_id(parsed.call_id, parsed.lookups, now)
        number = parsed.extension or ""
        candidates = self.behaviour.candidates(self.store, number)
        for name in parsed.lookups or ():
            found = [c for c in candidates if self.behaviour.in_lookup[name](c, now)]
            if found:
                return self._pick(name, found)
        self.behaviour.on_no_match(self.store, number)
        raise ApiError("no-match", "Call cannot be found.")

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

    def _apply(self, call: CallRecord, parsed: Parsed) -> None:
        uncontrolled = parsed.type == "manualRecord" and not self.store.is_controlled(call)
        if uncontrolled and self.switches.manual_record_uncontrolled == "error":
            raise ApiError("uncontrolled", "The call has no controlled extension.")
        effect = self.behaviour.effects.get((parsed.type, parsed.unmark))
        if effect is not None:
            self.behaviour.apply_effect(self.store, call, *effect)


def _vocabulary(choices: Iterable[str], fold: bool) -> dict[str, str]:
    """Accepted spelling -> canonical value (every letter case when ``fold``)."""
    return {(c.lower() if fold else c): c for c in choices}
