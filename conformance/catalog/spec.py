"""The KeepCall API page as data: parameter names and the values it lists.

Every other module takes names and values from here, so that a reading of the spec lives in one
place. Source: the KeepCall API page and its envelope notes, quoted clause by clause in
conformance/catalog/requirements.py; the control protocol is docs/CONTROL-PROTOCOL.md.
"""

from __future__ import annotations

from typing import Final, Literal

API_PATH: Final = "/verba/api"
ACTION: Final = "KeepCall"
TOKEN_ACTION: Final = "RequestToken"

# Parameter names, as the page spells them.
P_ACTION: Final = "action"
P_API_KEY: Final = "apiKey"
P_TOKEN: Final = "token"
P_RESPONSE_TYPE: Final = "responseType"
P_CALL_ID: Final = "callID"
P_EXTENSION: Final = "extension"
P_STATUS: Final = "status"
P_TYPE: Final = "type"
P_UNMARK: Final = "unmark"
PARAMETERS: Final = (
    P_ACTION, P_API_KEY, P_TOKEN, P_RESPONSE_TYPE, P_CALL_ID, P_EXTENSION, P_STATUS, P_TYPE,
    P_UNMARK,
)
SECRET_PARAMETERS: Final = frozenset({P_API_KEY, P_TOKEN})

ResponseFormat = Literal["XML", "HTML", "TEXT"]
RESPONSE_TYPES: Final[tuple[ResponseFormat, ...]] = ("XML", "HTML", "TEXT")
DEFAULT_RESPONSE_TYPE: Final[ResponseFormat] = "XML"

# Single lookups and the two listed fallbacks, in the page's order of preference.
Lookup = Literal["ongoing", "next", "last"]
STATUS_LOOKUPS: Final[dict[str, tuple[Lookup, ...]]] = {
    "ongoing": ("ongoing",),
    "next": ("next",),
    "last": ("last",),
    "ongoing,next": ("ongoing", "next"),
    "last,ongoing": ("last", "ongoing"),
}
STATUS_VALUES: Final = tuple(STATUS_LOOKUPS)
NEXT_WINDOW_SECONDS: Final = 60

# Which flag a KeepCall changes, by `type` (None: no type given).
Flag = Literal["kept", "protected", "recording"]
FLAGS: Final[tuple[Flag, ...]] = ("kept", "protected", "recording")
TYPE_FLAGS: Final[dict[str | None, Flag]] = {
    None: "kept",
    "manualRecord": "recording",
    "do_not_delete": "protected",
}
TYPE_VALUES: Final = ("manualRecord", "do_not_delete")
UNMARK_VALUE: Final = "1"

# Envelope facts from the sibling pages.
XML_ROOT: Final = "VerbaApi"
XML_RESPONSE: Final = "Response"
XML_ERROR_MESSAGE: Final = "ErrorMessage"
SUCCESS_CODE: Final = "0"
SAMPLE_ERROR_CODE: Final = "2"
TOKEN_LIFETIME_SECONDS: Final = 3600
MAX_URL_LENGTH_HINT: Final = 4000

CallState = Literal["ongoing", "upcoming", "finished"]
CALL_STATES: Final[tuple[CallState, ...]] = ("ongoing", "upcoming", "finished")
# The call state each lookup searches.
LOOKUP_STATE: Final[dict[Lookup, CallState]] = {
    "ongoing": "ongoing",
    "next": "upcoming",
    "last": "finished",
}
# The status values whose lookups search a call in each state (the single lookup first).
STATUS_FINDING: Final[dict[CallState, tuple[str, ...]]] = {
    state: tuple(value for value, lookups in STATUS_LOOKUPS.items()
                 if any(LOOKUP_STATE[lookup] == state for lookup in lookups))
    for state in CALL_STATES
}
