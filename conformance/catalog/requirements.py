"""The requirement catalog: every clause of the KeepCall page as a traceable record.

Levels: MUST gates certification by default, SHOULD gates with ``--level should``, OBSERVE is
where the spec is silent or ambiguous: the suite reports what the target chose and never fails it.
Each OBSERVE record names the readings the suite accepts (``readings``); the oracle enumerates
exactly those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Level = Literal["MUST", "SHOULD", "OBSERVE"]
# Every requirement ID, as a type: mypy checks each ID the code names against this list, and a
# test checks that the list is exactly the catalog's.
RequirementId = Literal[
    "KC-ACTION-001", "KC-ACTION-002", "KC-ACTION-003", "KC-AUTH-001", "KC-AUTH-002",
    "KC-AUTH-003", "KC-AUTH-004", "KC-AUTH-005", "KC-AUTH-006", "KC-AUTH-007",
    "KC-AUTH-008", "KC-AUTH-009", "KC-AUTH-010", "KC-AUTH-011", "KC-RT-001", "KC-RT-002",
    "KC-RT-003", "KC-RT-004", "KC-RT-005", "KC-RT-006", "KC-RT-007",
    "KC-RT-008", "KC-RT-009", "KC-RT-010", "KC-RT-011", "KC-XML-001",
    "KC-XML-002", "KC-XML-003", "KC-XML-004", "KC-XML-005", "KC-XML-006",
    "KC-XML-007", "KC-HTTP-001", "KC-HTTP-002", "KC-HTTP-003", "KC-HTTP-004",
    "KC-HTTP-005", "KC-HTTP-006", "KC-ID-001", "KC-ID-002", "KC-ID-003", "KC-ID-004",
    "KC-ID-005", "KC-EXT-001", "KC-EXT-002", "KC-EXT-003", "KC-EXT-004",
    "KC-EXT-005", "KC-EXT-006", "KC-STATUS-001", "KC-STATUS-002", "KC-STATUS-003",
    "KC-STATUS-004", "KC-STATUS-005", "KC-STATUS-006", "KC-STATUS-007", "KC-STATUS-008",
    "KC-STATUS-009", "KC-STATUS-010", "KC-STATUS-011", "KC-STATUS-012", "KC-STATUS-013",
    "KC-STATUS-014", "KC-TYPE-001", "KC-TYPE-002", "KC-TYPE-003", "KC-TYPE-004",
    "KC-TYPE-005", "KC-TYPE-006", "KC-TYPE-007", "KC-UNMARK-001", "KC-UNMARK-002",
    "KC-UNMARK-003", "KC-UNMARK-004", "KC-FLAG-001", "KC-FLAG-002", "KC-PARAM-001",
    "KC-PARAM-002", "KC-PARAM-003", "KC-PARAM-004", "KC-TIME-001", "KC-READ-001",
]

Gate = Literal["must", "should"]  # the level a run gates on: MUST, or MUST and SHOULD
LEVELS: Final[tuple[Level, ...]] = ("MUST", "SHOULD", "OBSERVE")

PAGE: Final = "keepcall-api.txt"
NOTES: Final = "envelope-notes.md"
CONTROL: Final = "docs/CONTROL-PROTOCOL.md"  # version 1.1, with its sentences verbatim
PAGE_AND_NOTES: Final = "keepcall-api.txt, envelope-notes.md"
QUOTE_SEPARATOR: Final = " [...] "


@dataclass(frozen=True)
class Requirement:
    id: RequirementId
    level: Level
    title: str
    clause: str
    source: str = PAGE
    readings: tuple[str, ...] = ()


def q(*sentences: str) -> str:
    """A clause made of exact quotes of the spec (a test checks each occurs there)."""
    return QUOTE_SEPARATOR.join(sentences)


def quotes(requirement: Requirement) -> tuple[str, ...]:
    """The exact sentences a MUST or SHOULD requirement rests on."""
    return tuple(requirement.clause.split(QUOTE_SEPARATOR))


def _r(id: RequirementId, level: Level, title: str, clause: str, source: str = PAGE,
       readings: tuple[str, ...] = ()) -> Requirement:
    return Requirement(id, level, title, clause, source, readings)


CATALOG: Final[tuple[Requirement, ...]] = (
    # --- action ---------------------------------------------------------------------------
    _r("KC-ACTION-001", "MUST", "action=KeepCall is served and answered as type KeepCall",
       q("Keeps the on-demand call.",
         "actionaction=KeepCallName of the HTTP API request.Mandatory")),
    _r("KC-ACTION-002", "MUST", "A request without action is answered with an error",
       q("actionaction=KeepCallName of the HTTP API request.Mandatory")),
    _r("KC-ACTION-003", "OBSERVE", "Letter case of the action name",
       "action=KeepCall (the page shows one spelling only)",
       readings=("case-sensitive", "case-insensitive")),
    # --- authentication -------------------------------------------------------------------
    _r("KC-AUTH-001", "MUST", "A request without apiKey is answered with an error",
       q("apiKeyapiKey=74c8eea0-50c6-40b2-9f3e-252ed501c3c8API key used to identify the "
         "application.Mandatory")),
    _r("KC-AUTH-002", "MUST", "A request with an unknown apiKey is answered with an error",
       q("API key used to identify the application.")),
    _r("KC-AUTH-003", "MUST",
       "With a key that requires authentication, a request without token is an error",
       q("Mandatory if authentication is configured for the given API key.")),
    _r("KC-AUTH-004", "MUST", "A request with an invalid token is answered with an error",
       q("After successful authentication, the API sends back a token, which has to be used "
         "for each request.")),
    _r("KC-AUTH-005", "MUST", "A valid apiKey and token are accepted",
       q("After successful authentication, the API sends back a token, which has to be used "
         "for each request.")),
    _r("KC-AUTH-006", "MUST", "RequestToken with valid Basic credentials returns a token",
       q("Where a key requires authentication, the client first calls "
         "`action=RequestToken&apiKey=...` with an `Authorization: Basic "
         "base64(login:password)` header", "The token is returned in the XML"), NOTES),
    _r("KC-AUTH-007", "MUST",
       "RequestToken with wrong credentials is an error and returns no token",
       q("Unique identifier for authenticated sessions. After successful authentication, the "
         "API sends back a token", "One `Response` element with `code` (0 = success;"),
       PAGE_AND_NOTES),
    _r("KC-AUTH-008", "MUST", "A token is rejected once more than one hour has passed",
       q("Tokens live 1 hour."), NOTES),
    _r("KC-AUTH-009", "SHOULD", "A token stays valid within its hour",
       q("Tokens live 1 hour."), NOTES),
    _r("KC-AUTH-010", "OBSERVE", "A token sent with a key that requires no authentication",
       "token ... Mandatory if authentication is configured for the given API key.",
       readings=("ignored", "rejected")),
    _r("KC-AUTH-011", "OBSERVE", "Whether the key requires a token (none declared)",
       "token ... Mandatory if authentication is configured for the given API key. (Whether "
       "it is configured is the target's own; a login existing does not say so.)",
       readings=("required", "not required")),
    # --- response type --------------------------------------------------------------------
    _r("KC-RT-001", "MUST", "Without responseType the response is XML",
       q("If the parameter is missing, it defaults to XML.")),
    _r("KC-RT-002", "MUST", "responseType=XML gives the XML envelope, for success and error",
       q("XML: the response is formatted and structured in XML, designed for applications")),
    _r("KC-RT-003", "MUST", "responseType=HTML gives an HTML answer, for success and error",
       q("HTML: the response is in human readable format and formatted using standard HTML; "
         "it can be directly displayed in any browser.")),
    _r("KC-RT-004", "MUST", "responseType=TEXT gives plain text, for success and error",
       q("TEXT: simple clear text based response")),
    _r("KC-RT-005", "OBSERVE", "An unlisted responseType value (JSON, unknown)",
       "The following valid values apply: XML, HTML, TEXT",
       readings=("error", "default to XML", "XML", "JSON")),
    _r("KC-RT-006", "OBSERVE", "Letter case of responseType values",
       "responseType=XML", readings=("case-sensitive", "case-insensitive")),
    _r("KC-RT-007", "OBSERVE", "Content-Type header of each response format",
       "The docs say nothing about HTTP status codes, Content-Type", NOTES,
       readings=("text/xml", "application/xml", "text/html", "text/plain",
                 "another media type", "no Content-Type", "unlabelled legacy charset")),
    _r("KC-RT-008", "SHOULD",
       "An error answered with a non-2xx HTTP status still comes in the requested format",
       q("The result of a request is carried in the body (`code` attribute), so a suite must "
         "judge by the body, not the HTTP status."), NOTES),
    _r("KC-RT-009", "OBSERVE",
       "Format of errors raised before the action runs (action, apiKey, token)",
       "The page says nothing about the format of authentication and action errors",
       readings=("requested format", "XML")),
    _r("KC-RT-010", "SHOULD", "HTML and TEXT answers tell success from error",
       q("HTML: the response is in human readable format", "TEXT: simple clear text based "
         "response")),
    _r("KC-RT-011", "OBSERVE", "Shape of HTML and TEXT answers",
       "HTML: a plain HTML document ... TEXT: plain text", NOTES,
       readings=("document", "XHTML", "fragment", "empty TEXT", "JSON-like TEXT",
                 "plain TEXT")),
    # --- XML envelope ---------------------------------------------------------------------
    _r("KC-XML-001", "MUST", "XML answers are well-formed UTF-8 XML",
       q("a conformant server sends well-formed UTF-8 XML."), NOTES),
    _r("KC-XML-002", "MUST", "XML answers are valid against schemas/keepcall-response.xsd",
       q("Root `VerbaApi`, no namespace. One `Response` element with `code`",
         "A schema must allow both and must not reject extra payload."), NOTES),
    _r("KC-XML-003", "MUST",
       "Response/@type of an answer to action=KeepCall is KeepCall (required on success)",
       q("and `type` (the action name, e.g. `KeepCall`)."), NOTES),
    _r("KC-XML-004", "MUST", "Response/@code is 0 on success and non-zero on error",
       q("One `Response` element with `code` (0 = success; 2 in every error sample; no table "
         "of codes exists)"), NOTES),
    _r("KC-XML-005", "MUST", "An error carries a non-empty ErrorMessage in Response",
       q("Errors: an `ErrorMessage` element inside `Response`"), NOTES),
    _r("KC-XML-006", "OBSERVE", "Error code values and the envelope's optional parts",
       "2 in every error sample; some versions add a description attribute; result data inside "
       "or after Response", NOTES,
       readings=("code 2", "other non-zero codes", "error without type",
                 "ErrorMessage on success")),
    _r("KC-XML-007", "OBSERVE", "DOCTYPE declaration in XML answers (never loaded)",
       "The notes show no DOCTYPE", NOTES, readings=("none", "DOCTYPE declared")),
    # --- HTTP -----------------------------------------------------------------------------
    _r("KC-HTTP-001", "MUST", "KeepCall is available by HTTP GET",
       q("The function is available as a HTTP GET or HTTP POST request.")),
    _r("KC-HTTP-002", "MUST", "KeepCall is available by HTTP POST in at least one encoding",
       q("The function is available as a HTTP GET or HTTP POST request.")),
    _r("KC-HTTP-003", "OBSERVE", "Which POST encodings are served",
       "The docs say nothing about ... how a POST body is encoded", NOTES,
       readings=("form body", "query string", "form body and query string")),
    _r("KC-HTTP-004", "SHOULD",
       "No 5xx, no redirect, no dropped request, and a success comes with a 2xx status",
       q("The result of a request is carried in the body (`code` attribute), so a suite must "
         "judge by the body, not the HTTP status."), NOTES),
    _r("KC-HTTP-005", "OBSERVE", "HTTP status of application errors",
       "The docs say nothing about HTTP status codes", NOTES,
       readings=("200 with the error body", "4xx with the error body",
                 "405/501 to an unknown action", "5xx with the error body")),
    _r("KC-HTTP-006", "OBSERVE",
       "Requests in shapes the page does not name (multipart, another charset, parameters "
       "split between query and body, HEAD, OPTIONS, no or another Content-Type)",
       "The function is available as a HTTP GET or HTTP POST request; nothing more is said",
       readings=("served", "refused")),
    # --- identification -------------------------------------------------------------------
    _r("KC-ID-001", "MUST", "callID of an existing call identifies that call",
       q("Defines the internal ID of the call.")),
    _r("KC-ID-002", "SHOULD", "An unknown callID is answered with an error",
       q("Defines the internal ID of the call.", "text such as \"Call cannot be found.\""),
       PAGE_AND_NOTES),
    _r("KC-ID-003", "MUST", "Neither callID nor extension is an error",
       q("Either the callID or either the number parameter is mandatory")),
    _r("KC-ID-004", "OBSERVE", "Both callID and extension given",
       "It does not say what happens when both `callID` and `extension` are given", NOTES,
       readings=("callID wins", "extension wins", "rejected")),
    _r("KC-ID-005", "OBSERVE", "status given together with callID",
       "whether `status` is read when only `callID` is given", NOTES,
       readings=("status ignored", "status applied to the call")),
    _r("KC-EXT-001", "MUST", "extension matches the calling party",
       q("where the number is either the calling party or the called party")),
    _r("KC-EXT-002", "MUST", "extension matches the called party",
       q("where the number is either the calling party or the called party")),
    _r("KC-EXT-003", "MUST", "extension matches whole numbers only, never a prefix or part",
       q("Defines the phone number that is a participant of the call.")),
    _r("KC-EXT-004", "MUST", "More than one matching ongoing call is an error",
       q("If the API, for some reason, finds more than 1 record, it will respond with error.")),
    _r("KC-EXT-005", "OBSERVE", "Several finished (last) or upcoming (next) calls on one number",
       "the last finished call / the next call ... finds more than 1 record, it will respond "
       "with error", readings=("error", "the most recent / the soonest call")),
    _r("KC-EXT-006", "MUST", "extension without status is an error",
       q("Mandatory if the number parameter is specified")),
    # --- status ---------------------------------------------------------------------------
    _r("KC-STATUS-001", "MUST", "status=ongoing finds the ongoing call, and only it",
       q("ongoing - the API will look for an ongoing call, where the number is either the "
         "calling party or the called party")),
    _r("KC-STATUS-002", "MUST", "status=next finds the call starting within the next minute",
       q("next - the API will look for the next call in the upcoming 1 minute time range "
         "after the API request")),
    _r("KC-STATUS-003", "MUST", "status=next ignores calls starting later than one minute",
       q("next - the API will look for the next call in the upcoming 1 minute time range "
         "after the API request")),
    _r("KC-STATUS-004", "MUST", "status=last finds the last finished call, and only it",
       q("last - the API will look for the last finished call")),
    _r("KC-STATUS-005", "MUST",
       "status=ongoing,next (in one of its spellings) prefers ongoing, falls back to next",
       q("ongoing, next - the API will look for an ongoing call, where the number is either "
         "the calling party or the called party; if no record was found, the API will look "
         "for the next call")),
    _r("KC-STATUS-006", "MUST",
       "status=last,ongoing (in one of its spellings) prefers last, falls back to ongoing",
       q("last, ongoing - the API will look for the last finished call, where the number is "
         "either the calling party or the called party; if no record was found, the API will "
         "look for an ongoing call")),
    _r("KC-STATUS-007", "SHOULD", "An unknown status value is an error",
       q("The following valid values and value combinations apply:")),
    _r("KC-STATUS-008", "SHOULD", "An unlisted combination of status values is an error",
       q("The following valid values and value combinations apply:")),
    _r("KC-STATUS-009", "OBSERVE", "Letter case of status and type values",
       "whether values are case-sensitive", NOTES,
       readings=("case-sensitive", "case-insensitive")),
    _r("KC-STATUS-010", "OBSERVE", "Spelling of a status list: with or without a space",
       "whether whitespace after the comma in `ongoing, next` is allowed", NOTES,
       readings=("accepted", "rejected", "spaced only")),
    _r("KC-STATUS-011", "OBSERVE", "A call starting exactly one minute after the request",
       "in the upcoming 1 minute time range", readings=("inside the window", "outside")),
    _r("KC-STATUS-012", "SHOULD", "No matching call (after any fallback) is an error",
       q("Keeps the on-demand call.", "text such as \"Call cannot be found.\""),
       PAGE_AND_NOTES),
    _r("KC-STATUS-013", "OBSERVE", "status=next when no call is known yet",
       "or what `next` does when no call has started yet", NOTES,
       readings=("error", "pending keep")),
    _r("KC-STATUS-014", "OBSERVE", "Empty parts of a status list (a trailing comma)",
       "Comma separated values can be specified.", readings=("rejected", "empty parts dropped")),
    # --- type, unmark and the flags -------------------------------------------------------
    _r("KC-TYPE-001", "MUST", "KeepCall without type marks the call to be kept",
       q("Keeps the on-demand call.", "A KeepCall without `type` sets `kept`"), CONTROL),
    _r("KC-TYPE-002", "MUST", "type=manualRecord starts recording of a controlled extension",
       q("manualRecord - start recording of a Controlled extension")),
    _r("KC-TYPE-003", "MUST", "type=do_not_delete sets the Protected flag",
       q("do_not_delete - set the Protected flag")),
    _r("KC-TYPE-004", "SHOULD", "An unknown type is an error",
       q("Instead of marking an on-demand call for recording, the following other types of "
         "data can be modified:")),
    _r("KC-TYPE-005", "OBSERVE", "type=manualRecord on a call with no controlled extension",
       "manualRecord - start recording of a Controlled extension",
       readings=("error", "recording started anyway")),
    _r("KC-TYPE-006", "OBSERVE", "type=manualRecord on a call that is not in progress",
       "manualRecord - start recording of a Controlled extension",
       readings=("allowed", "refused")),
    _r("KC-TYPE-007", "OBSERVE", "A change on an upcoming call: at once or when it starts",
       "or what `next` does when no call has started yet", NOTES,
       readings=("at once", "when the call starts")),
    _r("KC-UNMARK-001", "MUST", "unmark=1 without type takes the keep mark back",
       q("If unmark=1 is set, the system does quite the opposite of the normal opereation:")),
    _r("KC-UNMARK-002", "MUST", "unmark=1 with type=manualRecord stops recording",
       q("if type=manualRecord - stop recording of a Controlled extension")),
    _r("KC-UNMARK-003", "MUST", "unmark=1 with type=do_not_delete removes the Protected flag",
       q("if type=do_not_delete - remove the Protected flag")),
    _r("KC-UNMARK-004", "OBSERVE", "unmark values other than 1, and marks already in place",
       "If unmark=1 is set",
       readings=("ignored", "error", "unmark", "normal", "rejected", "success")),
    _r("KC-FLAG-001", "MUST", "A request answered with an error changes no flag of any call",
       q("A request answered with an error changes no flag of any call."), CONTROL),
    _r("KC-FLAG-002", "MUST", "A success changes only the flag it names, on only the call it "
       "identifies", q("A request changes only the flag it names, and only on the call it "
                       "identifies."), CONTROL),
    # --- parameters in general ------------------------------------------------------------
    _r("KC-PARAM-001", "OBSERVE", "Unknown parameters", "Parameters (the page's table)",
       readings=("ignored", "rejected")),
    _r("KC-PARAM-002", "OBSERVE", "Duplicated parameters", "Parameters (the page's table)",
       readings=("first wins", "last wins", "rejected")),
    _r("KC-PARAM-003", "OBSERVE",
       "Unusual values: empty ones, odd spellings of a callID or number, long URLs",
       "The overview says GET URLs should stay under about 4,000 characters.", NOTES,
       readings=("empty value means absent", "empty value is a value", "exact identifiers",
                 "normalized identifiers", "long URL refused", "exact values",
                 "trimmed values")),
    _r("KC-PARAM-004", "OBSERVE", "Letter case of parameter names",
       "Parameters (the page's table)", readings=("case-sensitive", "case-insensitive")),
    # --- time -----------------------------------------------------------------------------
    _r("KC-TIME-001", "OBSERVE", "What the target does when an upcoming call's start passes",
       "What the target does when time passes an upcoming call's start is **not** fixed by "
       "this protocol", CONTROL,
       readings=("becomes ongoing", "stays upcoming", "found by neither status")),
    # --- readings across a run ------------------------------------------------------------
    # The suite's own recommendation (docs/SEMANTICS.md): the notes list the open points; a
    # target may read each either way, but one way throughout a run
    # (conformance/judging/consistency.py).
    _r("KC-READ-001", "SHOULD", "A target takes one reading of each open point across a run",
       q("It does not say what happens when both `callID` and `extension` are given, whether "
         "`status` is read when only `callID` is given, whether values are case-sensitive, "
         "whether whitespace after the comma in `ongoing, next` is allowed, or what `next` "
         "does when no call has started yet."), NOTES),
)

BY_ID: Final[dict[str, Requirement]] = {r.id: r for r in CATALOG}


def requirement(id: str) -> Requirement:
    """Look a requirement up; an unknown ID is a programming error, so it raises."""
    return BY_ID[id]


# The requirement levels each gating level of a run gates on.
GATING_LEVELS: dict[str, frozenset[str]] = {"must": frozenset({"MUST"}),
                                            "should": frozenset({"MUST", "SHOULD"})}


def gating(level: Gate) -> frozenset[RequirementId]:
    """The requirement IDs whose failure makes a target not conformant at ``level``."""
    return frozenset(r.id for r in CATALOG if r.level in GATING_LEVELS[level])
