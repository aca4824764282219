"""Single-fault deviations: each breaks one requirement by swapping one piece of Behaviour.

The registry is data: a fault's name (its CLI identifier), the requirement it should make the
suite fail, what it does, the Behaviour field it swaps and the function that swaps it. Running
the suite against a server with one fault on must fail that requirement, which tests the suite.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from conformance.catalog.spec import (
    NEXT_WINDOW_SECONDS,
    P_CALL_ID,
    P_EXTENSION,
    STATUS_LOOKUPS,
    TOKEN_ACTION,
    TOKEN_LIFETIME_SECONDS,
    Flag,
)
from conformance.reference import lookup
from conformance.reference.behaviour import Behaviour, apply_at_start, tokens_living
from conformance.reference.params import Pairs
from conformance.reference.render import echoed
from conformance.reference.state import CallRecord, Store

Change = Callable[[Behaviour], Behaviour]
_GUID = re.compile(r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")


@dataclass(frozen=True)
class Fault:
    name: str
    requirement: str
    description: str
    piece: str
    apply: Change


def _swap(piece: str, value: Any) -> tuple[str, Change]:
    return piece, lambda b: replace(b, **{piece: value})


def _merge(piece: str, entries: Mapping[Any, Any]) -> tuple[str, Change]:
    return piece, lambda b: replace(b, **{piece: {**getattr(b, piece), **entries}})


def _style(**changes: Any) -> tuple[str, Change]:
    return "style", lambda b: replace(b, style=replace(b.style, **changes))


def _echo(**style: bool) -> tuple[str, Change]:
    """Error messages quote the client's value as sent, rendered with ``style``."""
    return "quote", lambda b: replace(b, quote=echoed, style=replace(b.style, **style))


def _forgive(kind: str) -> tuple[str, Change]:
    return "forgiven", lambda b: replace(b, forgiven=b.forgiven | {kind})


def _any_key(keys: Mapping[str, bool], given: str | None) -> bool | None:
    return None if given is None else keys.get(given, False)


def _missing_key_ok(keys: Mapping[str, bool], given: str | None) -> bool | None:
    return False if given is None else keys.get(given)


def _set_on_number(store: Store, call: CallRecord, flag: Flag, value: bool) -> None:
    for other in {id(c): c for p in call.parties() for c in store.with_number(p)}.values():
        other.set_flag(flag, value)
    call.set_flag(flag, value)


def _keep_some_call(store: Store, number: str) -> None:
    for call in store.with_number(number)[:1]:
        call.kept = True


def _not_upcoming(call: CallRecord, now: float) -> bool:
    return call.state(now) != "upcoming"


def _keep_never_applied(store: Store, call: CallRecord, flag: Flag,
                        change: Callable[[], None]) -> None:
    """Changes of ``kept`` on a call that has not started are dropped; others apply."""
    if flag != "kept":
        change()


def _crash_page(title: str, trace: str) -> bytes:
    """What a framework shows when the application throws."""
    return (f"<html><head><title>500 {title}</title></head><body><h1>{title}</h1><pre>"
            f"Traceback (most recent call last):\n{trace}</pre></body></html>").encode()


def _odd_callid(pairs: Pairs) -> bytes | None:
    odd = any(n == P_CALL_ID and not _GUID.fullmatch(v) for n, v in pairs)
    return _crash_page("Internal Server Error", "ValueError: badly formed hexadecimal UUID "
                       "string") if odd else None


def _quote_in_extension(pairs: Pairs) -> bytes | None:
    quoted = any(n == P_EXTENSION and "'" in v for n, v in pairs)
    return _crash_page("Database Error", "sqlite3.OperationalError: near \"56\": syntax "
                       "error") if quoted else None


def _prefix_token_ok(store: Store, token: str | None) -> bool:
    """A token is accepted when it starts with a living one (a fixed-width comparison)."""
    living = tokens_living(TOKEN_LIFETIME_SECONDS)
    return token is not None and any(living(store, t) for t in store.tokens
                                     if token.startswith(t))


def _guid_token_ok(store: Store, token: str | None) -> bool:
    """A living token, or any GUID-shaped value (the docs' sample token is a GUID)."""
    guid = token is not None and _GUID.fullmatch(token) is not None
    return guid or tokens_living(TOKEN_LIFETIME_SECONDS)(store, token)


def _keep_last_found(store: Store, number: str) -> None:
    """A "last looked-up call" cache: a lookup finding nothing keeps the call found before."""
    if store.last_found is not None:
        store.last_found.kept = True


def _record_later(store: Store, call: CallRecord) -> None:
    """A refused recording is queued anyway, and started when the next request arrives."""
    store.later.append(lambda: call.set_flag("recording", True))


def _wide_window_deferred(behaviour: Behaviour) -> Behaviour:
    """status=next looks 300 s ahead and the change waits for the call's start."""
    return replace(behaviour, on_upcoming=apply_at_start, in_lookup={
        **behaviour.in_lookup, "next": lookup.starts_within(300, True)})


def _both_ids_in_turn(behaviour: Behaviour) -> Behaviour:
    """callID and extension both given: callID wins, then the extension, in turn (each answer
    is an allowed reading; together they are no reading at all)."""
    turns = itertools.cycle(("callid-wins", "extension-wins"))
    return replace(behaviour, both_ids=lambda chosen: next(turns))


def _f(name: str, requirement: str, description: str, how: tuple[str, Change]) -> Fault:
    return Fault(name, requirement, description, *how)


FAULTS: tuple[Fault, ...] = (
    _f("wrong-default-format", "KC-RT-001", "no responseType is answered in HTML",
       _swap("default_format", "HTML")),
    _f("html-ignored", "KC-RT-003", "responseType=HTML is answered in XML",
       _merge("formats", {"HTML": "XML"})),
    _f("text-ignored", "KC-RT-004", "responseType=TEXT is answered in XML",
       _merge("formats", {"TEXT": "XML"})),
    _f("xml-type-ignored", "KC-RT-002", "responseType=XML is answered in TEXT",
       _merge("formats", {"XML": "TEXT"})),
    _f("html-text-claim-success", "KC-RT-010",
       "HTML and TEXT errors are worded as successes (XML errors stay right, nothing changes)",
       _style(errors_read_as_success=True)),
    _f("xml-not-well-formed", "KC-XML-001", "the closing </VerbaApi> is written as <VerbaApi>",
       _style(well_formed=False)),
    _f("wrong-charset", "KC-XML-001", "UTF-8 bytes declared and served as ISO-8859-1",
       _style(declared_encoding="ISO-8859-1", charset="iso-8859-1")),
    _f("xml-wrong-root", "KC-XML-002", "the root element is VerbaResponse",
       _style(root="VerbaResponse")),
    _f("wrong-type-attribute", "KC-XML-003", "Response/@type is KeepCallResponse",
       _style(type_names={"KeepCall": "KeepCallResponse"})),
    _f("error-as-success", "KC-XML-004", "errors carry code 0", _style(error_code="0")),
    _f("no-error-message", "KC-XML-005", "errors carry no ErrorMessage",
       _style(error_message=False)),
    _f("keepcall-not-served", "KC-ACTION-001", "action=KeepCall is an unknown action",
       _swap("actions", (TOKEN_ACTION,))),
    _f("missing-action-accepted", "KC-ACTION-002", "a request without action is a KeepCall",
       _swap("missing_action", "KeepCall")),
    _f("missing-apikey-accepted", "KC-AUTH-001", "no apiKey acts as a key without auth",
       _swap("key_check", _missing_key_ok)),
    _f("apikey-not-checked", "KC-AUTH-002", "an unknown apiKey acts as a key without auth",
       _swap("key_check", _any_key)),
    _f("auth-not-enforced", "KC-AUTH-003", "a missing or invalid token is accepted",
       _swap("token_ok", lambda store, token: True)),
    _f("invalid-token-accepted", "KC-AUTH-004", "any token value is accepted",
       _swap("token_ok", lambda store, token: token is not None)),
    _f("valid-token-rejected", "KC-AUTH-005", "every token is rejected",
       _swap("token_ok", lambda store, token: False)),
    _f("token-not-returned", "KC-AUTH-006", "RequestToken succeeds without a token",
       _swap("issue_tokens", False)),
    _f("any-credentials-accepted", "KC-AUTH-007", "RequestToken ignores the Basic credentials",
       _swap("login_ok", lambda header, user, password: True)),
    _f("token-never-expires", "KC-AUTH-008", "tokens are accepted after their hour",
       _swap("token_ok", tokens_living(math.inf))),
    _f("token-expires-early", "KC-AUTH-009", "tokens expire after 60 s",
       _swap("token_ok", tokens_living(60))),
    _f("get-refused", "KC-HTTP-001", "GET is answered 405", _swap("methods", frozenset({"POST"}))),
    _f("post-refused", "KC-HTTP-002", "POST is answered 405", _swap("methods", frozenset({"GET"}))),
    _f("server-error-on-odd-input", "KC-HTTP-004", "unknown parameters are answered 500",
       _swap("unknown_params_status", 500)),
    _f("non-utf8-500", "KC-HTTP-004", "a query or body that is not UTF-8 is answered 500",
       _swap("encoding_error_status", 500)),
    _f("long-value-crash", "KC-HTTP-004", "a value of 10,000 characters crashes the request (500)",
       _swap("crash_above", 8000)),
    _f("echo-control-chars", "KC-XML-001",
       "an error message echoes the value sent, with characters XML 1.0 cannot carry",
       _echo(strip_forbidden=False)),
    _f("echo-unescaped", "KC-XML-001", "an error message echoes the value sent without escaping",
       _echo(escape_markup=False)),
    _f("container-refusal-page", "KC-RT-008",
       "errors before the action are answered 401 with a plain page, whatever the format",
       _swap("refusal_page", 401)),
    _f("callid-ongoing-only", "KC-ID-001", "callID finds ongoing calls only",
       _swap("id_match", lookup.is_ongoing)),
    _f("unknown-callid-success", "KC-ID-002", "an unknown callID is a success on no call",
       _forgive("unknown-call")),
    _f("missing-id-accepted", "KC-ID-003", "neither callID nor extension is a success",
       _forgive("no-id")),
    _f("called-only", "KC-EXT-001", "extension is matched against the called party only",
       _swap("candidates", lookup.called_only)),
    _f("caller-only", "KC-EXT-002", "extension is matched against the calling party only",
       _swap("candidates", lookup.caller_only)),
    _f("prefix-match", "KC-EXT-003", "extension matches a party that starts with it",
       _swap("candidates", lookup.prefix_of_party)),
    _f("suffix-match", "KC-EXT-003", "extension matches a party that ends with it",
       _swap("candidates", lookup.suffix_of_party)),
    _f("inner-match", "KC-EXT-003", "extension matches a party that contains it",
       _swap("candidates", lookup.inside_party)),
    _f("ambiguity-not-error", "KC-EXT-004", "two ongoing calls: the first is picked",
       _merge("pickers", {"ongoing": lookup.first})),
    _f("status-not-required", "KC-EXT-006", "extension without status is read as ongoing",
       _swap("missing_status", ("ongoing",))),
    _f("ongoing-matches-finished", "KC-STATUS-001", "status=ongoing also finds finished calls",
       _merge("in_lookup", {"ongoing": _not_upcoming})),
    _f("next-never-found", "KC-STATUS-002", "status=next finds no call",
       _merge("in_lookup", {"next": lookup.never})),
    _f("next-misses-imminent", "KC-STATUS-002", "status=next ignores calls starting within 5 s",
       _merge("in_lookup", {"next": lookup.starts_within(NEXT_WINDOW_SECONDS, True, 5)})),
    _f("next-window-58", "KC-STATUS-002", "status=next looks 58 s ahead, not 60",
       _merge("in_lookup", {"next": lookup.starts_within(58, True)})),
    _f("next-window-5min", "KC-STATUS-003", "status=next looks 300 s ahead",
       _merge("in_lookup", {"next": lookup.starts_within(300, True)})),
    _f("last-picks-oldest", "KC-STATUS-004", "several finished calls: the oldest is picked",
       _merge("pickers", {"last": lookup.least_recently_finished})),
    _f("last-misses-just-ended", "KC-STATUS-004",
       "status=last ignores calls that ended less than 5 s ago",
       _merge("in_lookup", {"last": lookup.finished_at_least(5)})),
    _f("no-fallback", "KC-STATUS-005", "ongoing,next behaves like ongoing",
       _merge("status_lookups", {"ongoing,next": ("ongoing",)})),
    _f("wrong-fallback-order", "KC-STATUS-006", "last,ongoing tries ongoing first",
       _merge("status_lookups", {"last,ongoing": ("ongoing", "last")})),
    _f("unknown-status-accepted", "KC-STATUS-007", "an unknown status is read as ongoing",
       _swap("unknown_status", ("ongoing",))),
    _f("unlisted-combination-accepted", "KC-STATUS-008", "next,ongoing and ongoing,last work",
       _merge("status_lookups", {"next,ongoing": ("next", "ongoing"),
                                 "ongoing,last": ("ongoing", "last")})),
    _f("no-match-success", "KC-STATUS-012", "no matching call is a success on no call",
       _forgive("no-match")),
    _f("keep-ignored", "KC-TYPE-001", "KeepCall without type succeeds but sets nothing",
       _merge("effects", {(None, False): None})),
    _f("defer-never-applied", "KC-TYPE-001",
       "KeepCall on an upcoming call succeeds but kept never changes, even after it starts",
       _swap("on_upcoming", _keep_never_applied)),
    _f("manual-record-ignored", "KC-TYPE-002", "type=manualRecord succeeds but records nothing",
       _merge("effects", {("manualRecord", False): None})),
    _f("do-not-delete-sets-kept", "KC-TYPE-003", "type=do_not_delete sets kept, not protected",
       _merge("effects", {("do_not_delete", False): ("kept", True)})),
    _f("unknown-type-accepted", "KC-TYPE-004", "an unknown type is a success on no call",
       _forgive("unknown-type")),
    _f("unmark-ignored", "KC-UNMARK-001", "unmark=1 without type sets kept",
       _merge("effects", {(None, True): ("kept", True)})),
    _f("unmark-record-ignored", "KC-UNMARK-002", "unmark=1 with manualRecord starts recording",
       _merge("effects", {("manualRecord", True): ("recording", True)})),
    _f("unmark-protect-ignored", "KC-UNMARK-003", "unmark=1 with do_not_delete sets protected",
       _merge("effects", {("do_not_delete", True): ("protected", True)})),
    _f("flag-on-error", "KC-FLAG-001", "a lookup finding nothing still keeps a call of the number",
       _swap("on_no_match", _keep_some_call)),
    _f("flag-on-wrong-call", "KC-FLAG-002", "the flag is set on every call sharing a number",
       _swap("apply_effect", _set_on_number)),
    _f("crash-on-odd-callid", "KC-RT-001",
       "a callID that is not a GUID is answered 500 with an HTML traceback",
       _swap("crash_on", _odd_callid)),
    _f("sql-error-on-quote", "KC-RT-001",
       "a quote in the extension is answered 500 with an SQL error page",
       _swap("crash_on", _quote_in_extension)),
    _f("last-ongoing-no-fallback", "KC-STATUS-006", "last,ongoing behaves like last",
       _merge("status_lookups", {"last,ongoing": ("last",)})),
    _f("no-status-lists", "KC-STATUS-005", "a status list is an unknown status value",
       _swap("status_lookups", {k: v for k, v in STATUS_LOOKUPS.items() if "," not in k})),
    _f("token-prefix-compared", "KC-AUTH-004",
       "a token is accepted when it starts with a living one", _swap("token_ok", _prefix_token_ok)),
    _f("guid-token-accepted", "KC-AUTH-004", "any GUID-shaped token is accepted",
       _swap("token_ok", _guid_token_ok)),
    _f("last-call-cache", "KC-FLAG-002",
       "an extension lookup finding nothing answers the error but keeps the call the last "
       "request found (another case's)", _swap("on_no_match", _keep_last_found)),
    _f("error-applied-later", "KC-FLAG-001",
       "manualRecord refused on an uncontrolled call (error) starts recording anyway when the "
       "next request arrives", _swap("on_refused", _record_later)),
    _f("wide-window-deferred", "KC-FLAG-002",
       "status=next looks 300 s ahead, and the keep waits for the call's start (answered as "
       "if pending)", ("in_lookup", _wide_window_deferred)),
    _f("html-xml-lookalike", "KC-RT-003",
       "responseType=HTML is answered with XML elements (result, code, type, message) that "
       "borrow one HTML tag's name", _style(html_style="xml-lookalike")),
    _f("dtd-defaulted-type", "KC-XML-003",
       "KeepCall answers carry no type attribute, only an internal DTD subset defaulting it",
       _style(defaulted_type=True)),
    _f("malformed-escape-500", "KC-HTTP-004",
       "a malformed percent-escape sent raw (%zz, a lone %) is answered 500",
       _swap("escape_error_status", 500)),
    _f("both-ids-in-turn", "KC-READ-001",
       "callID and extension both given: the callID's call on one request, the extension's on "
       "the next, in turn", ("both_ids", _both_ids_in_turn)),
    _f("html-text-unfound-as-success", "KC-RT-010",
       "HTML and TEXT answers to a lookup that finds no call are worded as successes (the XML "
       "twin's error stays right, nothing changes)",
       _style(read_as_success=frozenset({"Call cannot be found."}))),
)

BY_NAME: dict[str, Fault] = {f.name: f for f in FAULTS}


def check_names(names: Iterable[str]) -> frozenset[str]:
    """The names as a set; ValueError naming the first unknown one."""
    unknown = sorted(set(names) - set(BY_NAME))
    if unknown:
        raise ValueError(f"unknown fault {unknown[0]!r}; known: {', '.join(BY_NAME)}")
    return frozenset(names)


def with_faults(behaviour: Behaviour, names: Iterable[str]) -> Behaviour:
    """``behaviour`` with each named fault applied, in registry order."""
    chosen = check_names(names)
    for fault in FAULTS:
        if fault.name in chosen:
            behaviour = fault.apply(behaviour)
    return behaviour
