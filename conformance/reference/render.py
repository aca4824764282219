"""Turning what a request came to (a Result) into XML, HTML or TEXT bytes.

The envelope's optional parts and every deviation a fault needs are fields of ``Style``, so a
fault changes data and the renderers stay single functions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape as html_escape
from typing import Literal
from xml.sax.saxutils import escape, quoteattr

from conformance.spec import (
    SAMPLE_ERROR_CODE,
    SUCCESS_CODE,
    XML_ERROR_MESSAGE,
    XML_RESPONSE,
    XML_ROOT,
    ResponseFormat,
)

# Characters XML 1.0 forbids; fixture strings could carry them, the envelope never does.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Rendered = tuple[str, bytes]


@dataclass(frozen=True)
class Result:
    """One answer: an error message, or a success with the call (and token) it concerns."""

    type_name: str
    error: str | None = None
    call_id: str | None = None
    token: str | None = None
    status: int | None = None


@dataclass(frozen=True)
class Style:
    """How answers look: the switches' presentation choices plus the fault-swappable parts."""

    root: str = XML_ROOT
    declared_encoding: str = "UTF-8"
    xml_content_type: str = "text/xml; charset=utf-8"
    success_code: str = SUCCESS_CODE
    error_code: str = SAMPLE_ERROR_CODE
    error_message: bool = True
    well_formed: bool = True
    type_names: Mapping[str, str] = field(default_factory=dict)
    pretty: bool = False
    payload_after: bool = False
    error_description: bool = False
    html_head: bool = True
    text_style: Literal["plain", "keyvalue"] = "plain"


def _text(value: str) -> str:
    return escape(_NOT_XML.sub("?", value))


def _attr(value: str) -> str:
    return quoteattr(_NOT_XML.sub("?", value))


def render_xml(result: Result, style: Style) -> Rendered:
    ind, nl = ("  ", "\n") if style.pretty else ("", "")
    type_name = style.type_names.get(result.type_name, result.type_name)
    failed = result.error is not None
    attrs = (f" code={_attr(style.error_code if failed else style.success_code)}"
             f" type={_attr(type_name)}")
    if result.token is not None:
        attrs += f" token={_attr(result.token)}"
    inner = []
    if result.error is not None and style.error_message:
        description = ' description="Error"' if style.error_description else ""
        inner.append(f"<{XML_ERROR_MESSAGE}{description}>{_text(result.error)}"
                     f"</{XML_ERROR_MESSAGE}>")
    payload = [f"<CallID>{_text(result.call_id)}</CallID>"] if result.call_id else []
    after = payload if style.payload_after else []
    inner += [] if style.payload_after else payload
    if inner:
        response = [f"{ind}<{XML_RESPONSE}{attrs}>", *(ind * 2 + i for i in inner),
                    f"{ind}</{XML_RESPONSE}>"]
    else:
        response = [f"{ind}<{XML_RESPONSE}{attrs}/>"]
    close = f"</{style.root}>" if style.well_formed else f"<{style.root}>"
    lines = [f"<{style.root}>", *response, *(ind + a for a in after), close]
    declaration = f'<?xml version="1.0" encoding="{style.declared_encoding}"?>\n'
    return style.xml_content_type, (declaration + nl.join(lines) + "\n").encode("utf-8")


def _rows(result: Result) -> list[tuple[str, str]]:
    code = SUCCESS_CODE if result.error is None else SAMPLE_ERROR_CODE
    rows = [("code", code), ("type", result.type_name)]
    optional = (("callID", result.call_id), ("token", result.token), ("message", result.error))
    return rows + [(k, v) for k, v in optional if v is not None]


def render_html(result: Result, style: Style) -> Rendered:
    head = "<head><meta charset=\"utf-8\"><title>KeepCall</title></head>" if style.html_head else ""
    cells = "".join(f"<tr><th>{k}</th><td>{html_escape(_NOT_XML.sub('?', v))}</td></tr>"
                    for k, v in _rows(result))
    body = f"<!DOCTYPE html>\n<html>{head}<body><table>{cells}</table></body></html>\n"
    return "text/html; charset=utf-8", body.encode("utf-8")


def render_text(result: Result, style: Style) -> Rendered:
    if style.text_style == "keyvalue":
        lines = [f"{k}={v}" for k, v in _rows(result)]
    elif result.error is not None:
        lines = [f"ERROR: {result.error}"]
    else:
        lines = ["OK"] + ([f"token={result.token}"] if result.token else [])
    return "text/plain; charset=utf-8", ("\n".join(lines) + "\n").encode("utf-8")


Renderer = Callable[[Result, Style], Rendered]
RENDERERS: Mapping[ResponseFormat, Renderer] = {
    "XML": render_xml,
    "HTML": render_html,
    "TEXT": render_text,
}
