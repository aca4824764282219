"""KeepCall HTTP API -- vendor-style WSGI application ("server C").

Written from three documents only: keepcall-api.txt (the vendor's KeepCall page),
envelope-notes.md (facts from sibling API pages) and control-protocol.md (the
conformance control protocol, version 1.2).  Design decisions on every point the
documents leave open are listed in server_c.md next to this file.

The code is laid out like a Java servlet webapp ported to Python:

    WebApplication (the "container glue": routing by context path, session cookie)
      -> ApiServlet            /verba/api          (front controller, dispatch by action)
           -> RequestTokenAction, KeepCallAction   (one class per action)
                -> AuthService, KeepCallService    (business logic)
                     -> Repository                 (all state, under one lock)
           -> XmlRenderer / HtmlRenderer / TextRenderer
      -> ControlServlet        /keepcall-control   (JSON conformance control protocol)

Python 3.11 standard library only.  The WSGI callable is ``application``.

Configuration (environment variables, read at import time):
    KEEPCALL_API_KEY        key that requires authentication (RequestToken + token)
    KEEPCALL_OPEN_API_KEY   key configured without authentication
    KEEPCALL_USERNAME       login accepted by RequestToken (HTTP Basic)
    KEEPCALL_PASSWORD       its password
    KEEPCALL_CONTROL        "1" (default) enables the control protocol, "0" disables it
    KEEPCALL_CONTROL_PATH   base path of the control protocol (default /keepcall-control)
    KEEPCALL_INSTANCE       opaque id shown by GET {control}; the launcher's readiness probe
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email.parser
import email.policy
import hmac
import html
import json
import os
import re
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import unquote

# --------------------------------------------------------------------------- config

API_CONTEXT = "/verba"
API_PATH = "/verba/api"
CONTROL_PATH = os.environ.get("KEEPCALL_CONTROL_PATH", "/keepcall-control").rstrip("/") or "/keepcall-control"
CONTROL_ENABLED = os.environ.get("KEEPCALL_CONTROL", "1") != "0"
INSTANCE = os.environ.get("KEEPCALL_INSTANCE", "")   # lets a launcher recognise its own server

AUTH_API_KEY = os.environ.get("KEEPCALL_API_KEY", "74c8eea0-50c6-40b2-9f3e-252ed501c3c8")
OPEN_API_KEY = os.environ.get("KEEPCALL_OPEN_API_KEY", "5b0f2a9e-3c1d-4e8f-9a7b-6c5d4e3f2a1b")
USERNAME = os.environ.get("KEEPCALL_USERNAME", "apiadmin")
PASSWORD = os.environ.get("KEEPCALL_PASSWORD", "Verba-Admin-1")

TOKEN_LIFETIME = 3600.0          # "Tokens live 1 hour."
NEXT_WINDOW = 60.0               # "the upcoming 1 minute time range"
SESSION_IDLE = 1800.0            # servlet container default session timeout (30 min)
MAX_SESSIONS = 10000
MAX_BODY = 1024 * 1024           # container's own limit; the proxy limits at 64k before us
MAX_FLAG_IDS = 1000

ERROR_CODE = 2                   # the only error code the documents show
SERVER_INFO = "KeepCall-C/1.0"

KNOWN_PARAMS = ("action", "apiKey", "token", "responseType", "callID", "extension",
                "status", "type", "unmark")

XML_CT = "text/xml;charset=UTF-8"
HTML_CT = "text/html;charset=UTF-8"
TEXT_CT = "text/plain;charset=UTF-8"
JSON_CT = "application/json"


# --------------------------------------------------------------------------- clock

class Clock:
    """Monotonic clock that the control protocol can move forward."""

    def __init__(self) -> None:
        self._advance = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return time.monotonic() + self._advance

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._advance += seconds


# --------------------------------------------------------------------------- model

ONGOING, UPCOMING, FINISHED = "ongoing", "upcoming", "finished"


@dataclass
class Call:
    call_id: str
    caller: str
    called: str
    start: float | None          # None: unknown (a finished call set up by its end only)
    end: float | None            # None: not ended
    kept: bool = False
    protected: bool = False
    recording: bool = False

    def state(self, now: float) -> str:
        # Decision: an upcoming call becomes ongoing when its start passes, and an ongoing
        # call never ends by itself (only a new set-up ends it).
        if self.end is not None and self.end <= now:
            return FINISHED
        if self.start is not None and self.start <= now:
            return ONGOING
        return UPCOMING

    def has_party(self, number: str) -> bool:
        return number == self.caller or number == self.called

    def flags(self) -> dict:
        return {"callID": self.call_id, "kept": self.kept,
                "protected": self.protected, "recording": self.recording}


@dataclass
class Token:
    value: str
    api_key: str
    expires: float


# --------------------------------------------------------------------------- repository

class Repository:
    """All mutable state.  Every read-modify-write runs under ``lock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.lock = threading.RLock()
        self.calls: dict[str, Call] = {}
        self.controlled: set[str] = set()
        self.tokens: dict[str, Token] = {}
        self.sessions: dict[str, float] = {}

    # calls -------------------------------------------------------------
    def replace_all(self, calls: list[Call], controlled: list[str]) -> None:
        with self.lock:
            self.calls = {c.call_id: c for c in calls}
            self.controlled = set(controlled)

    def add(self, calls: list[Call], controlled: list[str]) -> None:
        with self.lock:
            for c in calls:
                self.calls.pop(c.call_id, None)
                self.calls[c.call_id] = c
            self.controlled.update(controlled)

    def get(self, call_id: str) -> Call | None:
        with self.lock:
            return self.calls.get(call_id)

    def by_party(self, number: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls.values() if c.has_party(number)]

    def is_controlled(self, number: str) -> bool:
        with self.lock:
            return number in self.controlled

    # tokens ------------------------------------------------------------
    def store_token(self, tok: Token) -> None:
        with self.lock:
            now = self.clock.now()
            for k in [k for k, t in self.tokens.items() if t.expires <= now]:
                del self.tokens[k]
            self.tokens[tok.value] = tok

    def find_token(self, value: str) -> Token | None:
        with self.lock:
            return self.tokens.get(value)

    # sessions ----------------------------------------------------------
    def touch_session(self, sid: str | None) -> str | None:
        """Return a new session id if one had to be created, else None."""
        with self.lock:
            now = self.clock.now()
            if sid is not None:
                last = self.sessions.get(sid)
                if last is not None and now - last < SESSION_IDLE:
                    self.sessions[sid] = now
                    return None
                self.sessions.pop(sid, None)
            if len(self.sessions) >= MAX_SESSIONS:
                for k in [k for k, t in self.sessions.items() if now - t >= SESSION_IDLE]:
                    del self.sessions[k]
                while len(self.sessions) >= MAX_SESSIONS:
                    del self.sessions[next(iter(self.sessions))]
            new = secrets.token_hex(16).upper()
            self.sessions[new] = now
            return new


# --------------------------------------------------------------------------- api model

class ApiError(Exception):
    """An error answered inside the envelope (code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ApiResponse:
    type: str
    code: int = 0
    attributes: list[tuple[str, str]] = field(default_factory=list)   # on <Response>
    elements: list[tuple[str, str]] = field(default_factory=list)     # inside <Response>
    error: str | None = None
    http_status: str = "200 OK"

    @classmethod
    def failure(cls, type_: str, message: str) -> "ApiResponse":
        return cls(type=type_, code=ERROR_CODE, error=message)


# --------------------------------------------------------------------------- renderers

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_CTRL = re.compile("[\x00-\x1f\x7f]")


def xml_escape(s: str, attr: bool = False) -> str:
    s = _XML_ILLEGAL.sub("\ufffd", s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if attr:
        s = s.replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;").replace("\r", "&#13;")
    return s


class XmlRenderer:
    content_type = XML_CT

    def render(self, r: ApiResponse) -> bytes:
        attrs = f'code="{r.code}" type="{xml_escape(r.type, True)}"'
        for name, value in r.attributes:
            attrs += f' {name}="{xml_escape(value, True)}"'
        inner = ""
        if r.error is not None:
            inner += f"<ErrorMessage>{xml_escape(r.error)}</ErrorMessage>\n"
        for name, value in r.elements:
            inner += f"<{name}>{xml_escape(value)}</{name}>\n"
        if inner:
            resp = f"<Response {attrs}>\n{inner}</Response>"
        else:
            resp = f"<Response {attrs}/>"
        doc = f'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n{resp}\n</VerbaApi>\n'
        return doc.encode("utf-8")


class HtmlRenderer:
    content_type = HTML_CT

    def render(self, r: ApiResponse) -> bytes:
        rows = [("Code", str(r.code)), ("Type", r.type)]
        rows += [(n, v) for n, v in r.attributes]
        if r.error is not None:
            rows.append(("ErrorMessage", r.error))
        rows += r.elements
        body = "".join(
            f"<tr><th>{html.escape(_XML_ILLEGAL.sub(chr(0xfffd), n))}</th>"
            f"<td>{html.escape(_XML_ILLEGAL.sub(chr(0xfffd), v))}</td></tr>\n"
            for n, v in rows)
        title = "Error" if r.code else "Success"
        doc = ("<!DOCTYPE html>\n<html>\n<head><meta charset=\"UTF-8\">"
               f"<title>{html.escape(r.type)} - {title}</title></head>\n"
               f"<body>\n<table border=\"1\">\n{body}</table>\n</body>\n</html>\n")
        return doc.encode("utf-8")


class TextRenderer:
    content_type = TEXT_CT

    def render(self, r: ApiResponse) -> bytes:
        lines = [f"code={r.code}", f"type={r.type}"]
        lines += [f"{n}={v}" for n, v in r.attributes]
        if r.error is not None:
            lines.append(f"error={r.error}")
        lines += [f"{n}={v}" for n, v in r.elements]
        return ("\n".join(_CTRL.sub(" ", ln) for ln in lines) + "\n").encode("utf-8")


RENDERERS = {"XML": XmlRenderer(), "HTML": HtmlRenderer(), "TEXT": TextRenderer()}


# --------------------------------------------------------------------------- parameters

class MalformedParameters(Exception):
    pass


_PCT_OK = re.compile(r"%[0-9A-Fa-f]{2}")


def _decode_component(raw: str, charset: str) -> str:
    """application/x-www-form-urlencoded decoding, strict about % escapes and charset."""
    if "%" in raw and raw.count("%") != len(_PCT_OK.findall(raw)):
        raise MalformedParameters("bad percent-encoding")
    raw = raw.replace("+", " ")
    # WSGI hands the raw query over as latin-1; raw (unescaped) bytes thus survive as is
    data = unquote(raw, encoding="latin-1").encode("latin-1", errors="replace")
    try:
        return data.decode(charset, errors="strict")
    except (UnicodeDecodeError, LookupError):
        raise MalformedParameters("bad character encoding")


def parse_urlencoded(raw: str, charset: str = "utf-8") -> tuple[list[tuple[str, str]], bool]:
    """Returns (pairs that decoded, whether any pair was malformed)."""
    pairs: list[tuple[str, str]] = []
    bad = False
    for part in raw.split("&"):
        if part == "":
            continue
        name, _, value = part.partition("=")
        try:
            pairs.append((_decode_component(name, charset), _decode_component(value, charset)))
        except MalformedParameters:
            bad = True
    return pairs, bad


def parse_multipart(body: bytes, content_type: str) -> list[tuple[str, str]]:
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise MalformedParameters("bad multipart body")
    pairs = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name is None or part.get_filename() is not None:
            continue
        payload = part.get_payload(decode=True) or b""
        cs = part.get_content_charset() or "utf-8"
        try:
            pairs.append((str(name), payload.decode(cs, errors="strict")))
        except (UnicodeDecodeError, LookupError):
            raise MalformedParameters("bad character encoding")
    return pairs


class Params:
    """Servlet-like request parameters (query string first, then the POST body)."""

    def __init__(self, pairs: list[tuple[str, str]], malformed: bool) -> None:
        self.pairs = pairs
        self.malformed = malformed

    def values(self, name: str) -> list[str]:
        return [v for n, v in self.pairs if n == name]

    def first(self, name: str) -> str | None:
        """First non-empty value (lenient: used only to pick the error format)."""
        for v in self.values(name):
            if v.strip() != "":
                return v
        return None

    def get(self, name: str) -> str | None:
        """The value; empty means absent; differing repeated values are an error."""
        vals = [v for v in self.values(name) if v != ""]
        if not vals:
            return None
        if any(v != vals[0] for v in vals[1:]):
            raise ApiError(f"Parameter {name} is given more than once with different values.")
        return vals[0]


# --------------------------------------------------------------------------- services

class AuthService:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        # apiKey -> requires authentication
        self.keys = {AUTH_API_KEY: True, OPEN_API_KEY: False}
        self.users = {USERNAME: PASSWORD}

    def check_key(self, api_key: str | None) -> bool:
        """Returns whether the key requires authentication; raises for bad keys."""
        if api_key is None:
            raise ApiError("Missing apiKey.")
        if api_key not in self.keys:
            raise ApiError("Invalid apiKey.")
        return self.keys[api_key]

    def check_token(self, api_key: str, token: str | None) -> None:
        if token is None:
            raise ApiError("Authentication required: missing token.")
        tok = self.repo.find_token(token)
        if tok is None or tok.api_key != api_key or tok.expires <= self.repo.clock.now():
            raise ApiError("Invalid or expired token.")

    def login(self, authorization: str | None) -> None:
        if not authorization:
            raise ApiError("Authentication failed: missing HTTP Basic credentials.")
        scheme, _, b64 = authorization.strip().partition(" ")
        if scheme.lower() != "basic" or not b64.strip():
            raise ApiError("Authentication failed: HTTP Basic credentials expected.")
        try:
            raw = base64.b64decode(b64.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("Authentication failed: malformed credentials.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        login, sep, password = text.partition(":")
        if not sep:
            raise ApiError("Authentication failed: malformed credentials.")
        expected = self.users.get(login)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise ApiError("Authentication failed: invalid login or password.")

    def issue_token(self, api_key: str, commit: bool) -> str:
        value = str(uuid.uuid4())
        if commit:
            self.repo.store_token(Token(value, api_key, self.repo.clock.now() + TOKEN_LIFETIME))
        return value


STATUS_COMBINATIONS = {
    ("ongoing",): ["ongoing"],
    ("next",): ["next"],
    ("last",): ["last"],
    ("ongoing", "next"): ["ongoing", "next"],
    ("last", "ongoing"): ["last", "ongoing"],
}
TYPES = {"manualrecord": "manualRecord", "do_not_delete": "do_not_delete"}


@dataclass
class KeepCallCommand:
    call_id: str | None
    extension: str | None
    statuses: list[str] | None
    type: str | None            # None (keep), "manualRecord", "do_not_delete"
    unmark: bool


class KeepCallService:
    def __init__(self, repo: Repository) -> None:
        self.repo = repo

    @staticmethod
    def parse(params: Params) -> KeepCallCommand:
        type_raw = params.get("type")
        type_ = None
        if type_raw is not None:
            type_ = TYPES.get(type_raw.strip().lower())
            if type_ is None:
                raise ApiError("Invalid type.")
        unmark_raw = params.get("unmark")
        if unmark_raw is None or unmark_raw.strip() == "0":
            unmark = False
        elif unmark_raw.strip() == "1":
            unmark = True
        else:
            raise ApiError("Invalid unmark value.")
        call_id = params.get("callID")
        extension = params.get("extension")
        if extension is not None and extension.startswith(" ") and extension.strip() != "":
            # an unescaped "+" of an international number arrives as a space (form decoding)
            extension = "+" + extension[1:]
        status_raw = params.get("status")
        statuses = None
        if status_raw is not None:
            items = tuple(s.strip().lower() for s in status_raw.split(","))
            statuses = STATUS_COMBINATIONS.get(items)
            if statuses is None:
                raise ApiError("Invalid status.")
        if call_id is not None and extension is not None:
            raise ApiError("Give either callID or extension, not both.")
        if call_id is None and extension is None:
            raise ApiError("Missing callID or extension.")
        if extension is not None and statuses is None:
            raise ApiError("Missing status: it is mandatory when extension is given.")
        return KeepCallCommand(call_id, extension, statuses, type_, unmark)

    def _find_by_extension(self, ext: str, statuses: list[str], now: float) -> Call:
        calls = self.repo.by_party(ext)
        for status in statuses:
            if status == "ongoing":
                found = [c for c in calls if c.state(now) == ONGOING]
                if len(found) > 1:
                    raise ApiError("More than one call found.")
            elif status == "next":
                window = [c for c in calls if c.state(now) == UPCOMING
                          and c.start is not None and now < c.start <= now + NEXT_WINDOW]
                found = []
                if window:
                    first = min(c.start for c in window)
                    found = [c for c in window if c.start == first]
                    if len(found) > 1:
                        raise ApiError("More than one call found.")
            else:  # last
                done = [c for c in calls if c.state(now) == FINISHED]
                found = []
                if done:
                    last = max(c.end for c in done)
                    found = [c for c in done if c.end == last]
                    if len(found) > 1:
                        raise ApiError("More than one call found.")
            if found:
                return found[0]
        raise ApiError("Call cannot be found.")

    def execute(self, cmd: KeepCallCommand, commit: bool) -> Call:
        with self.repo.lock:
            now = self.repo.clock.now()
            if cmd.call_id is not None:
                call = self.repo.get(cmd.call_id)
                if call is None:
                    raise ApiError("Call cannot be found.")
            else:
                call = self._find_by_extension(cmd.extension, cmd.statuses, now)
            value = not cmd.unmark
            if cmd.type == "manualRecord":
                if not (self.repo.is_controlled(call.caller) or self.repo.is_controlled(call.called)):
                    raise ApiError("The extension is not a controlled extension.")
                if call.state(now) == FINISHED:
                    raise ApiError("The call has finished; recording cannot be changed.")
                if commit:
                    call.recording = value
            elif cmd.type == "do_not_delete":
                if commit:
                    call.protected = value
            else:
                if commit:
                    call.kept = value
            return call


# --------------------------------------------------------------------------- actions

@dataclass
class RequestContext:
    params: Params
    api_key: str
    authorization: str | None
    commit: bool               # False for HEAD (dry run)


class RequestTokenAction:
    name = "RequestToken"
    needs_token = False

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    def execute(self, ctx: RequestContext) -> ApiResponse:
        self.auth.login(ctx.authorization)
        token = self.auth.issue_token(ctx.api_key, ctx.commit)
        return ApiResponse(type=self.name, attributes=[("token", token)])


class KeepCallAction:
    name = "KeepCall"
    needs_token = True

    def __init__(self, service: KeepCallService) -> None:
        self.service = service

    def execute(self, ctx: RequestContext) -> ApiResponse:
        cmd = self.service.parse(ctx.params)
        call = self.service.execute(cmd, ctx.commit)
        return ApiResponse(type=self.name, elements=[("CallID", call.call_id)])


# --------------------------------------------------------------------------- servlets

class HttpResponse:
    def __init__(self, status: str, content_type: str | None, body: bytes,
                 headers: list[tuple[str, str]] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = list(headers or [])
        self.is_api = False          # an envelope answer of the API servlet
        if content_type:
            self.headers.insert(0, ("Content-Type", content_type))


def container_page(status: str, message: str, headers=None) -> HttpResponse:
    """The servlet container's own error page (Tomcat-like)."""
    doc = ("<!DOCTYPE html>\n<html lang=\"en\"><head><title>HTTP Status "
           f"{html.escape(status)}</title></head>\n<body><h1>HTTP Status {html.escape(status)}</h1>"
           f"<p>{html.escape(message)}</p><hr><p>{SERVER_INFO}</p></body></html>\n")
    return HttpResponse(status, HTML_CT, doc.encode("utf-8"), headers)


def read_body(environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    if length > MAX_BODY:
        raise OverflowError
    if length > 0:
        return stream.read(length)
    if "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        data = stream.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            raise OverflowError
        return data
    return b""


class ApiServlet:
    ALLOW = "GET, HEAD, POST, OPTIONS"

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self.auth = AuthService(repo)
        self.actions = {a.name.lower(): a for a in (
            RequestTokenAction(self.auth), KeepCallAction(KeepCallService(repo)))}

    def service(self, environ) -> HttpResponse:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "OPTIONS":
            return HttpResponse("200 OK", None, b"", [("Allow", self.ALLOW)])
        if method not in ("GET", "HEAD", "POST"):
            return container_page("405 Method Not Allowed",
                                  f"The method {method} is not supported by this resource.",
                                  [("Allow", self.ALLOW)])
        try:
            params = self._params(environ, method)
        except OverflowError:
            return container_page("413 Payload Too Large", "The request body is too large.")
        api = self._handle(params, environ, commit=(method != "HEAD"))
        return api

    # -- parameters -----------------------------------------------------------
    def _params(self, environ, method: str) -> Params:
        pairs, bad = parse_urlencoded(environ.get("QUERY_STRING", ""))
        if method == "POST":
            body = read_body(environ)
            ctype = environ.get("CONTENT_TYPE", "")
            mime = ctype.split(";")[0].strip().lower()
            charset = "utf-8"
            m = re.search(r";\s*charset\s*=\s*\"?([^\";\s]+)", ctype, re.I)
            if m:
                charset = m.group(1)
                try:
                    codecs.lookup(charset)
                except LookupError:
                    bad = True
                    charset = "utf-8"
            if mime == "application/x-www-form-urlencoded":
                more, bad2 = parse_urlencoded(body.decode("latin-1"), charset)
                pairs += more
                bad = bad or bad2
            elif mime == "multipart/form-data" and body:
                try:
                    pairs += parse_multipart(body, ctype)
                except MalformedParameters:
                    bad = True
                except Exception:
                    bad = True
            # any other body type: ignored, as a servlet's getParameter() ignores it
        return Params(pairs, bad)

    # -- dispatch -------------------------------------------------------------
    def _handle(self, params: Params, environ, commit: bool) -> HttpResponse:
        # Pick the output format first (leniently), so every error honours it when it can.
        rt_raw = params.first("responseType")
        fmt = "XML"
        rt_error = None
        if rt_raw is not None:
            cand = rt_raw.strip().upper()
            if cand in RENDERERS:
                fmt = cand
            else:
                rt_error = "Invalid responseType."
        act_raw = params.first("action")
        action = self.actions.get(act_raw.strip().lower()) if act_raw is not None else None
        type_name = action.name if action else "Unknown"
        try:
            if params.malformed:
                raise ApiError("Malformed request parameters (bad percent-encoding or character encoding).")
            if rt_error:
                raise ApiError(rt_error)
            params.get("responseType")       # differing repeated values -> error
            for name in KNOWN_PARAMS:
                params.get(name)
            if params.get("action") is None:
                raise ApiError("Missing action.")
            if action is None:
                raise ApiError("Unknown action.")
            api_key = params.get("apiKey")
            needs_auth = self.auth.check_key(api_key)
            if action.needs_token and needs_auth:
                self.auth.check_token(api_key, params.get("token"))
            ctx = RequestContext(params, api_key, environ.get("HTTP_AUTHORIZATION"), commit)
            result = action.execute(ctx)
        except ApiError as e:
            result = ApiResponse.failure(type_name, e.message)
        except Exception:  # pragma: no cover - defensive
            result = ApiResponse.failure(type_name, "Internal error.")
            result.http_status = "500 Internal Server Error"
        renderer = RENDERERS[fmt]
        resp = HttpResponse(result.http_status, renderer.content_type, renderer.render(result),
                            [("Cache-Control", "no-store")])
        resp.is_api = True
        return resp


class ControlServlet:
    """JSON conformance control protocol, version 1.2."""

    def __init__(self, repo: Repository, base: str) -> None:
        self.repo = repo
        self.base = base

    @staticmethod
    def _json(status: str, obj=None, headers=None) -> HttpResponse:
        if obj is None:
            return HttpResponse(status, None, b"", headers)
        return HttpResponse(status, JSON_CT, json.dumps(obj).encode("utf-8"), headers)

    def _error(self, status: str, why: str, headers=None) -> HttpResponse:
        return self._json(status, {"error": why}, headers)

    def service(self, environ, raw_path: str) -> HttpResponse:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        rest = raw_path[len(self.base):]
        segs = [s for s in rest.split("/")]
        if segs and segs[0] == "":
            segs = segs[1:]
        if segs and segs[-1] == "" and len(segs) > 0:
            segs = segs[:-1]
        try:
            if not segs:
                return self._allow(method, "GET", lambda: self._json(
                    "200 OK", {"protocol": "keepcall-control", "version": "1.2", "instance": INSTANCE,
                               "endpoints": ["PUT fixtures", "POST calls", "GET calls/{callID}",
                                             "POST flags", "POST clock"]}))
            if segs == ["fixtures"]:
                return self._allow(method, "PUT", lambda: self._load(environ, replace=True))
            if segs == ["calls"]:
                return self._allow(method, "POST", lambda: self._load(environ, replace=False))
            if len(segs) == 2 and segs[0] == "calls":
                call_id = unquote(segs[1], errors="strict")
                return self._allow(method, "GET", lambda: self._get_call(call_id))
            if segs == ["flags"]:
                return self._allow(method, "POST", lambda: self._flags(environ))
            if segs == ["clock"]:
                return self._allow(method, "POST", lambda: self._clock(environ))
        except UnicodeDecodeError:
            return self._error("400 Bad Request", "bad percent-encoding in path")
        except OverflowError:
            return self._error("413 Payload Too Large", "body too large")
        return self._error("404 Not Found", "no such control resource")

    def _allow(self, method: str, allowed: str, fn) -> HttpResponse:
        allow = allowed + (", HEAD" if allowed == "GET" else "")
        if method == allowed or (allowed == "GET" and method == "HEAD"):
            return fn()
        return self._error("405 Method Not Allowed", f"use {allowed}", [("Allow", allow)])

    def _body(self, environ):
        data = read_body(environ)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise ValueError(f"body is not JSON: {e}")

    def _parse_calls(self, body, now: float) -> tuple[list[Call], list[str]]:
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        raw_calls = body.get("calls", [])
        controlled = body.get("controlledExtensions", [])
        if not isinstance(raw_calls, list):
            raise ValueError("calls must be an array")
        if not isinstance(controlled, list) or not all(isinstance(x, str) for x in controlled):
            raise ValueError("controlledExtensions must be an array of strings")
        calls: list[Call] = []
        seen: set[str] = set()
        for i, rc in enumerate(raw_calls):
            if not isinstance(rc, dict):
                raise ValueError(f"calls[{i}] must be an object")
            cid = rc.get("callID")
            if not isinstance(cid, str) or cid == "":
                raise ValueError(f"calls[{i}].callID must be a non-empty string")
            if cid in seen:
                raise ValueError(f"calls[{i}].callID {cid!r} appears twice")
            seen.add(cid)
            for k in ("caller", "called"):
                if not isinstance(rc.get(k), str):
                    raise ValueError(f"calls[{i}].{k} must be a string")
            state = rc.get("state")
            if state not in (ONGOING, UPCOMING, FINISHED):
                raise ValueError(f"calls[{i}].state must be ongoing, upcoming or finished")
            off = rc.get("offsetSeconds", 0)
            if isinstance(off, bool) or not isinstance(off, (int, float)) or off < 0 \
                    or (isinstance(off, float) and not off.is_integer()):
                raise ValueError(f"calls[{i}].offsetSeconds must be a whole number >= 0")
            flags = {}
            for k in ("kept", "protected", "recording"):
                v = rc.get(k, False)
                if not isinstance(v, bool):
                    raise ValueError(f"calls[{i}].{k} must be true or false")
                flags[k] = v
            if state == ONGOING:
                start, end = now - off, None
            elif state == UPCOMING:
                start, end = now + off, None
            else:
                start, end = None, now - off
            calls.append(Call(cid, rc["caller"], rc["called"], start, end, **flags))
        return calls, controlled

    def _load(self, environ, replace: bool) -> HttpResponse:
        try:
            body = self._body(environ)
            with self.repo.lock:
                calls, controlled = self._parse_calls(body, self.repo.clock.now())
                if replace:
                    self.repo.replace_all(calls, controlled)
                else:
                    self.repo.add(calls, controlled)
        except ValueError as e:
            return self._error("400 Bad Request", str(e))
        return self._json("204 No Content")

    def _get_call(self, call_id: str) -> HttpResponse:
        with self.repo.lock:
            call = self.repo.get(call_id)
            if call is None:
                return self._error("404 Not Found", "no such call")
            return self._json("200 OK", call.flags())

    def _flags(self, environ) -> HttpResponse:
        try:
            body = self._body(environ)
            if not isinstance(body, dict) or not isinstance(body.get("callIDs"), list):
                raise ValueError("body must be an object with a callIDs array")
            ids = body["callIDs"]
            if len(ids) > MAX_FLAG_IDS:
                raise ValueError(f"at most {MAX_FLAG_IDS} callIDs")
            if not all(isinstance(x, str) for x in ids):
                raise ValueError("callIDs must be strings")
        except ValueError as e:
            return self._error("400 Bad Request", str(e))
        out = []
        with self.repo.lock:
            for cid in ids:
                call = self.repo.get(cid)
                out.append(call.flags() if call else {"callID": cid, "missing": True})
        return self._json("200 OK", {"calls": out})

    def _clock(self, environ) -> HttpResponse:
        try:
            body = self._body(environ)
            adv = body.get("advanceSeconds") if isinstance(body, dict) else None
            if isinstance(adv, bool) or not isinstance(adv, (int, float)) or adv < 0 \
                    or adv != adv or adv == float("inf"):
                raise ValueError("advanceSeconds must be a number >= 0")
        except ValueError as e:
            return self._error("400 Bad Request", str(e))
        self.repo.clock.advance(float(adv))
        return self._json("204 No Content")


# --------------------------------------------------------------------------- web application

class WebApplication:
    """Container glue: maps paths to servlets, manages the JSESSIONID session cookie."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.repo = Repository(self.clock)
        self.api = ApiServlet(self.repo)
        self.control = ControlServlet(self.repo, CONTROL_PATH) if CONTROL_ENABLED else None

    @staticmethod
    def _raw_path(environ) -> str:
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
        if raw:
            if "://" in raw.split("?", 1)[0]:                 # absolute-form request target
                raw = "/" + raw.split("://", 1)[1].partition("/")[2]
            return raw.split("?", 1)[0]
        return environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")

    @staticmethod
    def _cookie_session(environ) -> str | None:
        for part in environ.get("HTTP_COOKIE", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "JSESSIONID" and value:
                return value.strip('"')
        return None

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET").upper()
        raw_path = self._raw_path(environ)
        # servlet-style path parameters (";jsessionid=...") are not part of the path
        path_params = {}
        segs = []
        for seg in raw_path.split("/"):
            seg, _, pp = seg.partition(";")
            segs.append(seg)
            for p in pp.split(";") if pp else []:
                k, _, v = p.partition("=")
                path_params[k.lower()] = v
        path = "/".join(segs)
        try:
            decoded = unquote(path, errors="strict")
        except UnicodeDecodeError:
            decoded = None

        if decoded == API_PATH:
            resp = self.api.service(environ)
            if resp.is_api:
                sid = self._cookie_session(environ) or path_params.get("jsessionid")
                new = self.repo.touch_session(sid)
                if new:
                    resp.headers.append(("Set-Cookie", f"JSESSIONID={new}; Path={API_CONTEXT}; HttpOnly"))
        elif self.control is not None and (path == CONTROL_PATH or path.startswith(CONTROL_PATH + "/")):
            resp = self.control.service(environ, path)
        elif decoded is None:
            resp = container_page("400 Bad Request", "The request path is not valid.")
        else:
            resp = container_page("404 Not Found", "The requested resource is not available.")

        body = resp.body
        headers = resp.headers + [("Content-Length", str(len(body)))]
        if resp.status.startswith(("204", "304")):
            headers = [h for h in headers if h[0] != "Content-Length"]
            body = b""
        start_response(resp.status, headers)
        if method == "HEAD":
            return [b""]
        return [body]


application = WebApplication()


if __name__ == "__main__":  # development only: wsgiref on 127.0.0.1:8080
    from wsgiref.simple_server import make_server
    with make_server("127.0.0.1", int(os.environ.get("PORT", "8080")), application) as srv:
        srv.serve_forever()
