"""The raw ASGI application: routing, body limits and decoding around the service.

No framework: the per-request path is a dict lookup, a strict decode, the service and one
send, which keeps the server far from being the suite's bottleneck. The latency switch holds
each answer back, API and control protocol alike, with ``asyncio.sleep``, never blocking the
loop: a hundred requests delayed 50 ms each are answered in about 50 ms, like a distant
server's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from conformance.catalog.spec import API_PATH
from conformance.reference.control import ControlApi
from conformance.reference.keepcall import ApiError, KeepCallService, Reply
from conformance.reference.params import BadEncoding, MalformedEscape, Pairs, decode_pairs

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

CONTROL_PREFIX = "/_conformance"
MAX_QUERY_BYTES = 8 * 1024
MAX_BODY_BYTES = 64 * 1024
MAX_CONTROL_BYTES = 16 * 1024 * 1024
_FORM_TYPES = frozenset({b"", b"application/x-www-form-urlencoded"})
# Where a POST's parameters come from (query string, body), by the post_encoding switch.
_POST_SOURCES = {"both": (True, True), "form": (False, True), "query": (True, False)}
_JSON = "application/json"


class TooLarge(Exception):
    """The request body is over its limit; the rest is never read."""


class ReferenceApp:
    """ASGI entry point: /verba/api to the service, /_conformance/... to the control API."""

    def __init__(self, service: KeepCallService, control: ControlApi) -> None:
        self.service = service
        self.control = control
        self.delay = service.switches.latency / 1000  # seconds each answer waits (API, control)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == API_PATH:
            await self._api(scope, receive, send)
        elif path.startswith(CONTROL_PREFIX + "/"):
            await self._control(scope, receive, send, path.removeprefix(CONTROL_PREFIX))
        else:
            await _send(send, 404, "text/plain; charset=utf-8", b"Not found\n")

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        auth = headers.get(b"authorization")
        authorization = None if auth is None else auth.decode("latin-1")
        status, content_type, body = await self._api_reply(scope, receive, headers, authorization)
        delay = self.delay + self.service.take_held()  # latency, and a next held (next_hold)
        if delay:
            await asyncio.sleep(delay)  # answered, then held back: other requests go on
        extra = [(b"allow", b"GET, POST")] if status == 405 else []
        if self.service.switches.echo:
            body, extra = _echo(body, content_type, scope["query_string"], auth, extra)
        await _send(send, status, content_type, body, extra)

    async def _api_reply(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes],
                         authorization: str | None) -> Reply:
        if self.service.switches.front_end == "proxy":
            refused = _front_end(scope, headers)
            if refused is not None:
                return refused
            try:
                return await self._app_reply(scope, receive, headers, authorization)
            except _Refused as page:
                return page.reply
        return await self._app_reply(scope, receive, headers, authorization)

    async def _app_reply(self, scope: Scope, receive: Receive, headers: dict[bytes, bytes],
                         authorization: str | None) -> Reply:
        method: str = "GET" if scope["method"] == "HEAD" and self._proxied else scope["method"]
        answer, switches = self.service.answer, self.service.switches
        if method == "GET" and 0 < switches.url_limit < _url_length(scope, headers):
            return answer([], authorization, ApiError("url-too-long", "The URL is too long.", 414))
        reads_query, reads_body = (_POST_SOURCES[switches.post_encoding] if method == "POST"
                                   else (True, False))
        try:
            pairs = _query_pairs(scope["query_string"], self._drops) if reads_query else []
        except BadEncoding as error:
            self._refuse(400, "Bad Request")
            return answer([], authorization, self._encoding_error(error))
        if method not in self.service.behaviour.methods:
            refused = ApiError("method", f"Method {method} is not allowed.", 405)
            return answer(pairs, authorization, refused)
        try:
            if method == "POST":
                body = await _form_pairs(headers, receive, self._drops)
                pairs = pairs + body if reads_body else pairs
        except (BadEncoding, TooLarge) as error:
            if not isinstance(error, WrongMediaType):
                self._refuse(413 if isinstance(error, TooLarge) else 400,
                             "Request Entity Too Large" if isinstance(error, TooLarge)
                             else "Bad Request")
            if reads_body:
                status = None if isinstance(error, TooLarge | WrongMediaType) else \
                    self._encoding_status(error)
                return answer(pairs, authorization, ApiError("body", str(error), status))
        return answer(pairs, authorization)

    @property
    def _drops(self) -> bool:
        """A parameter that cannot be decoded is left out, the rest read (Tomcat)."""
        return self.service.switches.undecodable == "absent"

    @property
    def _proxied(self) -> bool:
        return self.service.switches.front_end == "proxy"

    def _refuse(self, status: int, reason: str) -> None:
        """Behind a front end, what the container cannot decode never reaches the API."""
        if self._proxied:
            raise _Refused(front_end_page(status, reason))

    def _encoding_error(self, error: BadEncoding) -> ApiError:
        return ApiError("encoding", str(error), self._encoding_status(error))

    def _encoding_status(self, error: BadEncoding) -> int | None:
        behaviour = self.service.behaviour
        escape = behaviour.escape_error_status if isinstance(error, MalformedEscape) else None
        return escape or behaviour.encoding_error_status

    async def _control(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        try:
            body = await _read_body(receive, _content_length(dict(scope["headers"])),
                                    MAX_CONTROL_BYTES)
            status, data = self.control.handle(scope["method"], path, body)
        except TooLarge:
            status, data = 413, {"error": "body too large"}
        payload = b"" if data is None else _dumps(data)
        if self.delay:
            await asyncio.sleep(self.delay)  # a distant target's control answers wait too
        await _send(send, status, _JSON if data is not None else "", payload)


class _Refused(Exception):
    """The front end's own answer, before the application runs."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply[0])
        self.reply = reply


def front_end_page(status: int, reason: str) -> Reply:
    """A reverse proxy's or a servlet container's own error page."""
    page = (f"<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>"
            f"{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
            "</html>\r\n")
    return status, "text/html", page.encode("ascii")


WADL = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<application xmlns='
        b'"http://wadl.dev.java.net/2009/02"><resources base="/verba/"><resource path="api">'
        b'<method name="GET" id="get"/><method name="POST" id="post"/></resource></resources>'
        b'</application>')
_FRONT_END_URL_LIMIT = 4000


def _front_end(scope: Scope, headers: dict[bytes, bytes]) -> Reply | None:
    """What a proxy and a container answer on their own: long URLs, OPTIONS, other methods."""
    method: str = scope["method"]
    if method == "OPTIONS":
        return 200, "application/vnd.sun.wadl+xml", WADL
    if method not in ("GET", "POST", "HEAD"):
        return front_end_page(405, "Not Allowed")
    if method == "GET" and _url_length(scope, headers) > _FRONT_END_URL_LIMIT:
        return front_end_page(414, "Request-URI Too Large")
    return None


class WrongMediaType(BadEncoding):
    """A body that is not a form: refused like bad encoding, but it is no encoding error."""


def _url_length(scope: Scope, headers: dict[bytes, bytes]) -> int:
    """Characters of the full URL as the client sent it: scheme://host/path?query."""
    host = headers.get(b"host", b"")
    path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope["query_string"]
    return len(scope["scheme"]) + 3 + len(host) + len(path) + (len(query) + 1 if query else 0)


def _query_pairs(query: bytes, drop_undecodable: bool) -> Pairs:
    if len(query) > MAX_QUERY_BYTES:
        raise BadEncoding("The query string is too long.")
    return decode_pairs(query, drop_undecodable)


async def _form_pairs(headers: dict[bytes, bytes], receive: Receive,
                      drop_undecodable: bool) -> Pairs:
    body = await _read_body(receive, _content_length(headers), MAX_BODY_BYTES)
    media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if body and media_type not in _FORM_TYPES:
        raise WrongMediaType("The body must be application/x-www-form-urlencoded.")
    return decode_pairs(body, drop_undecodable)


def _content_length(headers: dict[bytes, bytes]) -> int:
    value = headers.get(b"content-length", b"0")
    return int(value) if value.isdigit() else 0


async def _read_body(receive: Receive, declared: int, limit: int) -> bytes:
    """The whole body, or TooLarge as soon as it (or its declared length) passes ``limit``."""
    if declared > limit:
        raise TooLarge("The request body is too large.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise TooLarge("The request body is too large.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


_NOT_XML_TEXT = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd]|-(?=-)|-$")


def _echo(body: bytes, content_type: str, query: bytes, authorization: bytes | None,
          headers: list[tuple[bytes, bytes]]) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The answer with the request's query string and Authorization header quoted, as a
    debug page quotes them: in a comment (XML, HTML) or a last line (TEXT), and headers."""
    quoted = [query, *([authorization] if authorization else [])]
    text = _NOT_XML_TEXT.sub("?", " ".join(form for q in quoted for form in (
        q.decode("latin-1"), urllib.parse.unquote(q.decode("latin-1")),
        "".join(f"&#{b};" for b in q), base64.b64encode(q).decode("ascii"))))
    headers = [*headers, (b"x-echo-query", query),
               *([(b"x-echo-authorization", authorization)] if authorization else [])]
    if content_type.startswith("text/plain"):
        return body + b"\nrequest: " + text.encode("utf-8"), headers
    comment = b"<!-- request: " + text.encode("utf-8") + b" -->"
    declaration, end, rest = body.partition(b"?>")
    return (declaration + end + comment + rest if end else comment + body), headers


def _dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode("utf-8")


async def _send(send: Send, status: int, content_type: str, body: bytes,
                extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-length", str(len(body)).encode("ascii")), *(extra or [])]
    if content_type:
        headers.append((b"content-type", content_type.encode("ascii")))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
