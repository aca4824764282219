"""Turning what a request came to (a Result) into XML, HTML or TEXT bytes.

The envelope's optional parts and every deviation a fault needs are fields of ``Style``, so a
fault changes data and the renderers stay single functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from html import escape as html_escape
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from conformance.catalog.spec import (
    SAMPLE_ERROR_CODE,
    SUCCESS_CODE,
    XML_ERROR_MESSAGE,
    XML_RESPONSE,
    XML_ROOT,
    ResponseFormat,
)

# Characters XML 1.0 forbids; fixture strings could carry them, the envelope never does.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MARKUP = re.compile("[<>&]")
_SAFE = re.compile(r"[^A-Za-z0-9 _.,:+@-]")
_XML_DECLARATION = '<?xml version="1.0" encoding="{}"?>\n'
_XHTML_DOCTYPE = ('<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
                  '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n')
SERVER_ELEMENT = "<Server>reference</Server>"
_DEFAULTED_TYPE = "KeepCall"
_DEFAULTS_SUBSET = (f'<!DOCTYPE {{}} [<!ATTLIST {XML_RESPONSE} type CDATA "{_DEFAULTED_TYPE}">]>'
                    "\n")

Rendered = tuple[str, bytes]
Payload = Literal["inside", "none", "after", "before"]
HtmlStyle = Literal["document", "bare", "xhtml", "fragment", "xml-lookalike"]
TextStyle = Literal["plain", "keyvalue", "empty-success"]


@dataclass(frozen=True)
class Result:
    """One answer: an error message, or a success with the call (and token) it concerns.

    ``type_name`` None: the answer names no action (Response without @type).
    """

    type_name: str | None
    error: str | None = None
    call_id: str | None = None
    token: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class Style:
    """How answers look: the switches' presentation choices plus the fault-swappable parts."""

    root: str = XML_ROOT
    declared_encoding: str = "UTF-8"
    charset: str = "utf-8"  # of every answer's Content-Type
    success_code: str = SUCCESS_CODE
    error_code: str = SAMPLE_ERROR_CODE
    error_message: bool = True
    well_formed: bool = True
    type_names: Mapping[str, str] = field(default_factory=dict)
    pretty: bool = False
    doctype: bool = False
    payload: Payload = "inside"
    error_description: bool = False
    error_markup: bool = False
    response_text: bool = False
    html_style: HtmlStyle = "document"
    text_style: TextStyle = "plain"
    errors_read_as_success: bool = False  # HTML and TEXT only (a fault)
    strip_forbidden: bool = True  # XML ErrorMessage: drop what XML 1.0 cannot carry (faults)
    escape_markup: bool = True
    defaulted_type: bool = False  # KeepCall's type only as a DTD subset's default (a fault)
    nested_response: bool = False  # success payload holds <Calls><Response callID=.../></Calls>
    legacy_charset: bool = False  # HTML and TEXT in Latin-1, labelled nowhere, signed
    read_as_success: frozenset[str] = frozenset()  # HTML/TEXT errors so worded (a fault)


def shown(value: str) -> str:
    """A client value made safe to quote in any format (no markup, ASCII, short)."""
    return repr(_SAFE.sub("?", value[:40]))


def echoed(value: str) -> str:
    """A client value quoted as sent (the echo faults)."""
    return f"'{value[:40]}'"


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("?", value))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("?", value))


def _content_type(media_type: str, style: Style) -> str:
    return f"{media_type}; charset={style.charset}"


# --- XML ------------------------------------------------------------------------------------
def _attributes(result: Result, style: Style) -> str:
    code = style.success_code if result.error is None else style.error_code
    attrs = f" code={_attr(code)}"
    if result.type_name is not None and not _defaulted(result, style):
        attrs += f" type={_attr(style.type_names.get(result.type_name, result.type_name))}"
    return attrs + (f" token={_attr(result.token)}" if result.token is not None else "")


def _defaulted(result: Result, style: Style) -> bool:
    return style.defaulted_type and result.type_name == _DEFAULTED_TYPE


def _error_message(error: str, style: Style) -> str:
    description = ' description="Error"' if style.error_description else ""
    first, space, rest = error.partition(" ")
    text = (f"<b>{_message(first, style)}</b>{space}{_message(rest, style)}"
            if style.error_markup else _message(error, style))
    return f"<{XML_ERROR_MESSAGE}{description}>{text}</{XML_ERROR_MESSAGE}>"


def _message(text: str, style: Style) -> str:
    kept = _NOT_XML.sub("?", text) if style.strip_forbidden else text
    return escape(kept) if style.escape_markup else kept


def _payload(result: Result, style: Style) -> tuple[list[str], list[str], list[str]]:
    """The payload elements before, inside and after Response."""
    call_id = [f"<CallID>{_text(result.call_id)}</CallID>"] if result.call_id else []
    places = {"none": ([], [], []), "inside": ([], call_id, []), "after": ([], [], call_id),
              "before": ([SERVER_ELEMENT], [], [])}
    before, inside, after = places[style.payload]
    nested = [f"<Calls><{XML_RESPONSE} callID={_attr(result.call_id)}/></Calls>"] if (
        style.nested_response and result.call_id) else []
    return before, inside + nested, after


def _response_content(result: Result, style: Style, inside: list[str]) -> list[str]:
    newline = "" if style.pretty else "\n"  # pretty XML puts each child on a line anyway
    word = "OK" if result.error is None else "Error"
    text = [newline + word] if style.response_text else []
    message = [_error_message(result.error, style)] if (
        result.error is not None and style.error_message) else []
    return text + message + inside


def render_xml(result: Result, style: Style) -> Rendered:
    ind, nl = ("  ", "\n") if style.pretty else ("", "")
    attrs = _attributes(result, style)
    before, inside, after = _payload(result, style)
    content = _response_content(result, style, inside)
    if content:
        response = [f"{ind}<{XML_RESPONSE}{attrs}>", *(ind * 2 + c for c in content),
                    f"{ind}</{XML_RESPONSE}>"]
    else:
        response = [f"{ind}<{XML_RESPONSE}{attrs}/>"]
    close = f"</{style.root}>" if style.well_formed else f"<{style.root}>"
    lines = [f"<{style.root}>", *(ind + b for b in before), *response, *(ind + a for a in after),
             close]
    prolog = _XML_DECLARATION.format(style.declared_encoding)
    prolog += f"<!DOCTYPE {style.root}>\n" if style.doctype else ""
    prolog += _DEFAULTS_SUBSET.format(style.root) if style.defaulted_type else ""
    body = prolog + nl.join(lines) + "\n"
    return _content_type("text/xml", style), body.encode("utf-8")


# --- HTML and TEXT --------------------------------------------------------------------------
def _as_shown(result: Result, style: Style) -> Result:
    """What HTML and TEXT show: the result, or (a fault) an error worded as a success."""
    if result.error is not None and (style.errors_read_as_success
                                     or result.error in style.read_as_success):
        return replace(result, error=None)
    return result


def _rows(result: Result) -> list[tuple[str, str]]:
    code = SUCCESS_CODE if result.error is None else SAMPLE_ERROR_CODE
    optional = (("type", result.type_name), ("callID", result.call_id),
                ("token", result.token), ("message", result.error))
    return [("code", code)] + [(k, v) for k, v in optional if v is not None]


def _table(result: Result) -> str:
    cells = "".join(f"<tr><th>{k}</th><td>{html_escape(_NOT_XML.sub('?', v))}</td></tr>"
                    for k, v in _rows(result))
    return f"<table>{cells}</table>"


def _summary(result: Result) -> str:
    """One line saying what happened (HTML fragments)."""
    if result.error is not None:
        return f"Error: {result.error}"
    return "Call kept." if result.token is None else f"Token: {result.token}"


_HEAD = "<head><meta charset=\"utf-8\"><title>KeepCall</title></head>"
_XHTML_HEAD = ('<head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8"/>'
               "<title>KeepCall</title></head>")
_HTML: Mapping[HtmlStyle, Callable[[Result], str]] = {
    "document": lambda r: f"<!DOCTYPE html>\n<html>{_HEAD}<body>{_table(r)}</body></html>\n",
    "bare": lambda r: f"<!DOCTYPE html>\n<html><body>{_table(r)}</body></html>\n",
    "xhtml": lambda r: (_XML_DECLARATION.format("UTF-8") + _XHTML_DOCTYPE
                        + f'<html xmlns="http://www.w3.org/1999/xhtml">{_XHTML_HEAD}'
                        f"<body>{_table(r)}</body></html>\n"),
    "fragment": lambda r: f"{html_escape(_NOT_XML.sub('?', _summary(r)))}<br/>\n",
    # XML that borrows HTML's names (code, title) and nothing else of HTML (a fault)
    "xml-lookalike": lambda r: "<result>" + "".join(
        f"<{k}>{html_escape(_NOT_XML.sub('?', v))}</{k}>" for k, v in _rows(r)) + "</result>\n",
}


# What a page in a legacy code page carries: no label, and a character UTF-8 cannot read.
LEGACY_SIGNATURE = "\u00a9 reference"
_LABELS = re.compile(r'<meta charset="utf-8">|<meta http-equiv="Content-Type"[^>]*/>'
                     r'| encoding="UTF-8"')


def _legacy(media_type: str, body: str, signed: str) -> Rendered:
    """Latin-1 bytes with no charset anywhere (the legacy_charset switch)."""
    return media_type, _LABELS.sub("", body + signed).encode("latin-1", "replace")


def render_html(result: Result, style: Style) -> Rendered:
    body = _HTML[style.html_style](_as_shown(result, style))
    if style.legacy_charset:
        return _legacy("text/html", body, f"<!-- {LEGACY_SIGNATURE} -->\n")
    return _content_type("text/html", style), body.encode("utf-8")


def _plain_lines(result: Result) -> list[str]:
    if result.error is not None:
        return [f"ERROR: {result.error}"]
    return ["OK"] + ([f"token={result.token}"] if result.token else [])


_TEXT: Mapping[TextStyle, Callable[[Result], list[str]]] = {
    "plain": _plain_lines,
    "keyvalue": lambda r: [f"{k}={_MARKUP.sub('?', v)}" for k, v in _rows(r)],
    "empty-success": lambda r: [] if r.error is None else _plain_lines(r),
}


def render_text(result: Result, style: Style) -> Rendered:
    lines = _TEXT[style.text_style](_as_shown(result, style))
    body = "".join(line + "\n" for line in lines)
    if style.legacy_charset:
        return _legacy("text/plain", body, LEGACY_SIGNATURE + "\n" if body else "")
    return _content_type("text/plain", style), body.encode("utf-8")


Renderer = Callable[[Result, Style], Rendered]
RENDERERS: Mapping[ResponseFormat, Renderer] = {
    "XML": render_xml,
    "HTML": render_html,
    "TEXT": render_text,
}
