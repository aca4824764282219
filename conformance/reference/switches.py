"""The spec's open choices as switches, each defaulting to the project's preferred reading.

Every value of every switch is a reading a conformant server may take (docs/SEMANTICS.md,
docs/CONTROL-PROTOCOL.md "Time and call states"), so the conformance suite must pass against any
combination; the project's tests run it against several. Each field's ``help`` (shown by
``keepcall-conformance serve --list``) says what its values do. ``latency`` is no reading: it
delays every answer (API and control protocol), so a run against a distant or slow target
can be measured (and sped up with ``--workers``) without one; the answers stay the same.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
URL_LIMIT_MIN = 4000  # the API overview: GET URLs should stay under about 4,000 characters
TOKEN_GRACE_MAX = 600
LATENCY_MAX = 10_000  # ms; beyond the suite's default timeouts every request would time out
CALLS_END_MIN = 60  # the suite lets a call set up as ongoing run at least a minute
NEXT_HOLD_MAX = 60  # next looks a minute ahead: a server may wait that long for the call
# Switches that are no reading to cross: when an answer leaves (latency), and a debug echo
# of the request's credentials that leaves every answer conformant (echo).
TIMING = frozenset({"latency", "echo"})


def _s(default: Any, help: str) -> Any:
    """A switch field: its preferred reading and what its values mean."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class Switches:
    """One reading per open point of the spec (see docs/SEMANTICS.md and each field's help)."""

    # --- lookup and parameters --------------------------------------------------------------
    both_ids: Literal["callid-wins", "reject", "extension-wins"] = _s(
        "callid-wins", "callID and extension both given: callID is used / error / the "
        "extension lookup is used (callID ignored)")
    status_with_callid: Literal["ignored", "applied"] = _s(
        "ignored", "status given with callID: ignored / the call's state must be one it lists")
    several_last_next: Literal["error", "pick"] = _s(
        "pick", "several calls found by last or next: error / the latest finished or soonest "
        "starting one")
    case_insensitive: bool = _s(False, "parameter values (action, status, type, "
                                       "responseType) in any letter case")
    param_names: Literal["exact", "case-insensitive"] = _s(
        "exact", "parameter names as the page spells them / in any letter case (callid, "
        "STATUS); a duplicate formed that way follows `duplicates`")
    status_spelling: Literal["tight", "spaced", "either"] = _s(
        "tight", "status lists: `ongoing,next` only / `ongoing, next` only (one space after the "
        "comma; the tight spelling is an unknown status) / both, any whitespace around the comma")
    trailing_comma: Literal["reject", "drop-empty"] = _s(
        "reject", "empty parts of a status list (`ongoing,`): unknown status / dropped "
        "(every empty part, so `ongoing,` and `,ongoing` mean `ongoing`)")
    unknown_params: Literal["reject", "ignore"] = _s(
        "reject", "parameters the page does not name: error / ignored")
    duplicates: Literal["reject", "first", "last"] = _s(
        "reject", "a parameter given twice: error / the first value / the last value")
    unmark_other: Literal["reject", "ignore", "truthy"] = _s(
        "reject", "unmark other than 0 and 1: error / normal operation / an integer where it "
        "parses (` 1`, `01`, `2`: unmark; `00`: normal), `true` and `yes`: unmark, anything "
        "else: normal operation")
    normalize_identifiers: bool = _s(
        False, "callID and extension compared leniently: GUID case, braces, spaces, + or 00 "
               "before a number")
    post_encoding: Literal["both", "form", "query"] = _s(
        "both", "POST parameters: form body and query string / the form body only (the query "
        "string is ignored) / the query string only (the body is ignored)")
    # --- semantics --------------------------------------------------------------------------
    manual_record_uncontrolled: Literal["error", "start"] = _s(
        "error", "type=manualRecord on a call without a controlled extension: error / recorded")
    manual_record_not_ongoing: Literal["allow", "refuse"] = _s(
        "allow", "type=manualRecord (with or without unmark) on an upcoming or finished call: "
        "flag changed / error, nothing changed")
    next_boundary_inclusive: bool = _s(
        True, "status=next finds a call starting in exactly 60 s")
    next_pending: bool = _s(
        False, "status=next (also the next step of ongoing,next, by extension) finding no call: "
               "error / success that changes nothing (a pending keep, never applied)")
    defer_upcoming: bool = _s(
        False, "a change on an upcoming call: applied at once / answered at once, applied when "
               "the server's clock passes the call's start (seen on the next read of the state)")
    upcoming_starts: Literal["ongoing", "stays-upcoming"] = _s(
        "ongoing", "an upcoming call whose start has passed: is ongoing / stays upcoming "
        "(a late call that has not begun; status=next finds it as if it started now)")
    token_on_open_key: Literal["ignore", "reject"] = _s(
        "ignore", "a token sent with an apiKey that needs none: ignored / error")
    token_grace: int = _s(
        0, "seconds an expired token is still accepted after its hour (a server that sweeps "
           "expired tokens every few minutes)")
    # --- answers ----------------------------------------------------------------------------
    error_status: int = _s(200, "HTTP status of error answers: 200 or any 4xx")
    unknown_action_status: Literal["same", "405", "501"] = _s(
        "same", "HTTP status of the error answer to a missing or unknown action: as other "
        "errors / 405 / 501 (the body is still the error envelope)")
    url_limit: int = _s(
        0, "GET requests whose full URL is longer than this many characters are answered 414 "
           "with an XML error envelope (0: no limit)")
    unknown_response_type: Literal["error", "xml"] = _s(
        "error", "an unknown responseType: error in XML / XML")
    pre_action_format: Literal["requested", "xml"] = _s(
        "requested", "errors raised before the action runs (action, apiKey, token): in the "
        "requested format / always in XML")
    content_type_charset: Literal["utf-8", "iso-8859-1"] = _s(
        "utf-8", "charset of every answer's Content-Type (the body stays UTF-8 and the XML "
        "declaration says UTF-8): utf-8 / ISO-8859-1 (a Java container's default)")
    error_type: Literal["keepcall", "absent", "as-sent"] = _s(
        "keepcall", "Response/@type of errors whose action is missing or unknown: KeepCall / "
        "no type / the action as sent (none when no action was sent)")
    pretty_xml: bool = _s(False, "XML indented on several lines")
    doctype: bool = _s(False, "XML answers carry <!DOCTYPE VerbaApi> after the declaration")
    payload: Literal["inside", "none", "after", "before"] = _s(
        "inside", "success payload: a CallID element inside Response / none / a CallID element "
                  "after Response / a <Server>reference</Server> element before Response "
                  "(on every XML answer)")
    error_description: bool = _s(False, "ErrorMessage carries description=\"Error\"")
    error_markup: bool = _s(False, "ErrorMessage holds markup (<b>Call</b> cannot be found.)")
    response_text: bool = _s(False, "a text node directly inside Response (a newline and OK, "
                                     "or Error)")
    html_style: Literal["document", "bare", "xhtml", "fragment"] = _s(
        "document", "HTML answers: a document with <head> / without <head> / an XHTML document "
        "with an XML declaration / a fragment without <html> (`Call kept.<br/>`, "
        "`Error: ...<br/>`)")
    text_style: Literal["plain", "keyvalue", "empty-success"] = _s(
        "plain", "TEXT answers: OK or ERROR: message / key=value lines / an empty body on "
        "success, ERROR: message on error")
    # --- timing -----------------------------------------------------------------------------
    latency: int = _s(
        0, "milliseconds every answer, API and control protocol alike, waits before it is "
           "sent, other requests served meanwhile: a distant or slow server (0: none)")
    # --- a debug page -----------------------------------------------------------------------
    echo: bool = _s(False, "every API answer quotes the request's query string and "
                           "Authorization header (raw, percent-encoded, as XML references, "
                           "base64), in a comment of an XML or HTML body, a last line of a "
                           "TEXT body and X-Echo headers: still conformant; a test that the "
                           "suite writes none of it")
    # --- deployment ---------------------------------------------------------------------------
    front_end: Literal["none", "proxy"] = _s(
        "none", "what answers before the application: nothing / a reverse proxy and a servlet "
        "container with their own pages: a GET URL over 4,000 characters 414, a query or body "
        "not UTF-8 400 and an over-long body 413 (HTML), OPTIONS a WADL document, other "
        "methods 405 (HTML), HEAD as GET without a body, a wrong Basic login 401 (HTML)")
    # --- time -------------------------------------------------------------------------------
    clock_resolution: Literal["fine", "whole-seconds"] = _s(
        "fine", "the server's clock: fractions of a second / whole seconds (times stored as "
                "whole seconds: an upcoming call counts as started from its start second on)")
    # --- answers (round 3) --------------------------------------------------------------------
    payload_named_response: bool = _s(
        False, "a success's payload inside Response holds <Calls><Response callID=\"...\"/>"
               "</Calls>: a payload element named Response")
    legacy_charset: bool = _s(
        False, "HTML and TEXT answers in ISO-8859-1 with no charset anywhere (no Content-Type "
               "parameter, no <meta>, no encoding in XHTML's declaration), signed \u00a9 reference")
    # --- time, round 3 ----------------------------------------------------------------------
    pending_applied: bool = _s(
        False, "with next_pending: a pending keep is applied to the next call set up on the "
               "number afterwards (the flag and value its type and unmark name)")
    calls_end: int = _s(
        0, "seconds after its set-up (or its start, if later) a call that is ongoing ends "
           "(0: ongoing calls run on)")
    next_hold: float = _s(
        0, "seconds status=next (and ongoing,next that reaches next) may hold its answer: "
           "until the call it found starts, or, finding none, this long while it waits for "
           "one (0: answered at once; the lookup is made when the request arrives)")
    # --- control protocol 1.2 -----------------------------------------------------------------
    flags_endpoint: Literal["served", "404", "405"] = _s(
        "served", "POST {control}/flags (many calls' flags in one request, optional): served / "
                  "answered 404 / answered 405, as by a target without it (the suite then "
                  "reads calls one by one)")
    # --- parameters, round 3 ----------------------------------------------------------------
    undecodable: Literal["error", "absent"] = _s(
        "error", "a parameter whose bytes are not UTF-8 or whose escape is malformed (%zz, a "
                 "lone %): the request is an error / that parameter is left out and the rest "
                 "read (Tomcat)")
    # --- authentication, round 3 --------------------------------------------------------------
    token: Literal["required", "optional"] = _s(
        "required", "the API key, which has a RequestToken login: a request without a token is "
                    "an error / served (a token sent is still checked: a wrong one is an error)")

    def __post_init__(self) -> None:
        for name, (valid, rule) in NUMBER_RULES.items():
            if not valid(getattr(self, name)):
                raise ValueError(f"{name} must be {rule}, not {getattr(self, name)}")
        for name, choices in switch_choices().items():
            value = getattr(self, name)
            if choices and str(value).lower() not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    @classmethod
    def parse(cls, items: Iterable[str]) -> Switches:
        """Build switches from ``NAME=VALUE`` strings (CLI form); ValueError on bad input."""
        changes: dict[str, Any] = {}
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"switch {item!r} is not NAME=VALUE")
            if name not in _HINTS:
                raise ValueError(f"unknown switch {name!r}; known: {', '.join(_HINTS)}")
            changes[name] = _convert(name, text.strip())
        return replace(cls(), **changes)

    def non_default(self) -> dict[str, Any]:
        """The switches that differ from the preferred reading (for printing)."""
        base = Switches()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(base, f.name)}


_HINTS: dict[str, Any] = typing.get_type_hints(Switches)
# Free-form number switches: what makes a value valid, in words for the error.
NUMBER_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "error_status": (lambda v: v == 200 or 400 <= v <= 499, "200 or 4xx"),
    "token_grace": (lambda v: 0 <= v <= TOKEN_GRACE_MAX, f"0 to {TOKEN_GRACE_MAX}"),
    "url_limit": (lambda v: v == 0 or v >= URL_LIMIT_MIN, f"0 or at least {URL_LIMIT_MIN}"),
    "latency": (lambda v: 0 <= v <= LATENCY_MAX, f"0 to {LATENCY_MAX}"),
    "calls_end": (lambda v: v == 0 or v >= CALLS_END_MIN, f"0 or at least {CALLS_END_MIN}"),
    "next_hold": (lambda v: 0 <= v <= NEXT_HOLD_MAX, f"0 to {NEXT_HOLD_MAX}"),
}


def switch_choices() -> dict[str, tuple[str, ...]]:
    """Each reading switch's accepted values as text (empty for free-form ints); the TIMING
    switches are left out, since the readings tests cross readings, not delays."""
    return {name: _choices(hint) for name, hint in _HINTS.items() if name not in TIMING}


def switch_help() -> dict[str, str]:
    """Each switch's values as one line: choices or rule, default, meaning."""
    defaults = Switches()
    lines = {}
    for f in fields(Switches):
        values = (", ".join(_choices(_HINTS[f.name]))
                  or f"{_NUMBERS[_HINTS[f.name]]}, {NUMBER_RULES[f.name][1]}")
        default = str(getattr(defaults, f.name)).lower()
        lines[f.name] = f"{values} (default {default}): {f.metadata['help']}"
    return lines


def _choices(hint: Any) -> tuple[str, ...]:
    if hint is bool:
        return ("true", "false")
    return tuple(str(v) for v in typing.get_args(hint))


def _convert(name: str, text: str) -> Any:
    hint = _HINTS[name]
    if hint is bool:
        return _to_bool(name, text)
    if hint in _NUMBERS:
        try:
            return hint(text)
        except ValueError:
            raise ValueError(f"switch {name} needs {_NUMBERS[hint]}, not {text!r}") from None
    if text not in typing.get_args(hint):
        raise ValueError(f"switch {name} must be one of {', '.join(_choices(hint))}, not {text!r}")
    return text


# The free-form switches' types, as their help and errors name them (next_hold takes fractions,
# so that a test of a held next need not wait whole seconds).
_NUMBERS: dict[type, str] = {int: "a whole number", float: "a number"}


def _to_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ValueError(f"switch {name} needs true or false, not {text!r}")
