"""The swappable pieces of the reference server's semantics, built once from the switches.

Each field is one small piece (a predicate, a lookup function, a table row, a style). The
fault-free server is ``default_behaviour(switches)``; a fault is ``dataclasses.replace`` of one
field (see faults.py), so no request path asks which faults are on.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from conformance.catalog.spec import (
    ACTION,
    DEFAULT_RESPONSE_TYPE,
    NEXT_WINDOW_SECONDS,
    RESPONSE_TYPES,
    STATUS_LOOKUPS,
    TOKEN_ACTION,
    TOKEN_LIFETIME_SECONDS,
    Flag,
    Lookup,
    ResponseFormat,
)
from conformance.reference import lookup
from conformance.reference.params import Pairs
from conformance.reference.render import Style, shown
from conformance.reference.state import CallRecord, Store
from conformance.reference.switches import Switches

KeyCheck = Callable[[Mapping[str, bool], "str | None"], "bool | None"]
TokenCheck = Callable[[Store, "str | None"], bool]
LoginCheck = Callable[["str | None", str, str], bool]
ApplyEffect = Callable[[Store, CallRecord, Flag, bool], None]
# What becomes of a change (of ``flag``) on a call that has not started yet.
OnUpcoming = Callable[[Store, CallRecord, Flag, Callable[[], None]], None]
OnNoMatch = Callable[[Store, str], None]
OnRefused = Callable[[Store, CallRecord], None]  # a change refused with an error
Effect = tuple[Flag, bool] | None

# (type, unmark) -> the flag set or cleared; types as the page names them.
EFFECTS: Mapping[tuple[str | None, bool], Effect] = {
    (None, False): ("kept", True),
    (None, True): ("kept", False),
    ("manualRecord", False): ("recording", True),
    ("manualRecord", True): ("recording", False),
    ("do_not_delete", False): ("protected", True),
    ("do_not_delete", True): ("protected", False),
}


@dataclass(frozen=True)
class Behaviour:
    """Everything a fault may replace; see default_behaviour for the fault-free values."""

    style: Style
    methods: frozenset[str]
    default_format: ResponseFormat
    formats: Mapping[ResponseFormat, ResponseFormat]
    actions: tuple[str, ...]
    missing_action: str | None
    key_check: KeyCheck
    token_ok: TokenCheck
    login_ok: LoginCheck
    issue_tokens: bool
    status_lookups: Mapping[str, tuple[Lookup, ...]]
    unknown_status: tuple[Lookup, ...] | None
    missing_status: tuple[Lookup, ...] | None
    id_match: lookup.InLookup
    candidates: lookup.Candidates
    in_lookup: Mapping[Lookup, lookup.InLookup]
    pickers: Mapping[Lookup, lookup.Picker]
    effects: Mapping[tuple[str | None, bool], Effect]
    apply_effect: ApplyEffect
    on_upcoming: OnUpcoming
    on_no_match: OnNoMatch
    unknown_params_status: int | None
    forgiven: frozenset[str]
    refusal_page: int | None = None  # a container's own page for errors before the action
    quote: Callable[[str], str] = shown  # how an error message quotes a client's value
    encoding_error_status: int | None = None  # HTTP status of a query or body not UTF-8
    crash_above: int | None = None  # a value longer than this is answered 500 (a fault)
    crash_on: Callable[[Pairs], bytes | None] | None = None  # a 500 page for these (a fault)
    on_refused: OnRefused = lambda store, call: None  # an error changes nothing (KC-FLAG-001)
    escape_error_status: int | None = None  # a malformed escape's status, if not the above
    # The both_ids reading a request with callID and extension gets: the switch's (a fault
    # may flip it from one request to the next).
    both_ids: Callable[[str], str] = lambda chosen: chosen


def known_key(keys: Mapping[str, bool], given: str | None) -> bool | None:
    """Whether the key requires authentication; None for a missing or unknown key."""
    return None if given is None else keys.get(given)


def tokens_living(lifetime: float) -> TokenCheck:
    def token_ok(store: Store, token: str | None) -> bool:
        age = None if token is None else store.token_age(token)
        return age is not None and age <= lifetime
    return token_ok


def basic_login(header: str | None, username: str, password: str) -> bool:
    """``Authorization: Basic base64(login:password)`` naming exactly the configured user."""
    scheme, _, encoded = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        login = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, sep, secret = login.partition(":")
    return bool(sep) and hmac.compare_digest(user.encode(), username.encode()) and \
        hmac.compare_digest(secret.encode(), password.encode())


def set_on_call(store: Store, call: CallRecord, flag: Flag, value: bool) -> None:
    call.set_flag(flag, value)


def apply_now(store: Store, call: CallRecord, flag: Flag, change: Callable[[], None]) -> None:
    change()


def apply_at_start(store: Store, call: CallRecord, flag: Flag,
                   change: Callable[[], None]) -> None:
    """The defer_upcoming switch: the change waits for the call's start."""
    store.defer(call, change)


def nothing_on_no_match(store: Store, number: str) -> None:
    """An error changes nothing (KC-FLAG-001)."""


def style_for(switches: Switches) -> Style:
    return Style(charset="ISO-8859-1" if switches.content_type_charset == "iso-8859-1"
                 else "utf-8",
                 pretty=switches.pretty_xml, doctype=switches.doctype, payload=switches.payload,
                 error_description=switches.error_description,
                 error_markup=switches.error_markup, response_text=switches.response_text,
                 html_style=switches.html_style, text_style=switches.text_style,
                 nested_response=switches.payload_named_response,
                 legacy_charset=switches.legacy_charset)


def pickers_for(switches: Switches) -> dict[Lookup, lookup.Picker]:
    pick = switches.several_last_next == "pick"
    return {
        "ongoing": lookup.only_one,
        "last": lookup.most_recently_finished if pick else lookup.only_one,
        "next": lookup.soonest_starting if pick else lookup.only_one,
    }


def default_behaviour(switches: Switches) -> Behaviour:
    """The fault-free server under ``switches``."""
    return Behaviour(
        style=style_for(switches),
        methods=frozenset({"GET", "POST"}),
        default_format=DEFAULT_RESPONSE_TYPE,
        formats={f: f for f in RESPONSE_TYPES},
        actions=(ACTION, TOKEN_ACTION),
        missing_action=None,
        key_check=known_key,
        token_ok=tokens_living(TOKEN_LIFETIME_SECONDS + switches.token_grace),
        login_ok=basic_login,
        issue_tokens=True,
        status_lookups=STATUS_LOOKUPS,
        unknown_status=None,
        missing_status=None,
        id_match=lookup.any_state,
        candidates=(lookup.either_party_normalized if switches.normalize_identifiers
                    else lookup.either_party),
        in_lookup={
            "ongoing": lookup.is_ongoing,
            "last": lookup.is_finished,
            "next": lookup.starts_within(NEXT_WINDOW_SECONDS, switches.next_boundary_inclusive),
        },
        pickers=pickers_for(switches),
        effects=EFFECTS,
        apply_effect=set_on_call,
        on_upcoming=apply_at_start if switches.defer_upcoming else apply_now,
        on_no_match=nothing_on_no_match,
        unknown_params_status=None,
        forgiven=frozenset(),
    )
