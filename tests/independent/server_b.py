#!/usr/bin/env python3
"""Independent implementation "B" of the recorder's HTTP Business API action KeepCall.

Written from the KeepCall API page, the envelope notes and the control protocol 1.1 alone,
in the style of a port of a Java servlet-based recorder:

* ``ApiServlet``      -- ``/verba/api`` (GET and POST), dispatches by ``action``
                         (``RequestToken``, ``KeepCall``) to action handlers.
* ``KeepCallService`` -- the business logic over an in-memory ``CallRepository``.
* ``TokenService``    -- Basic-auth logins and 1-hour tokens on the server clock.
* ``ResponseWriter``  -- renders XML (default), HTML or TEXT answers, errors included.
* ``ControlServlet``  -- the JSON control interface (version 1.1) at ``/verba/test-control``.

Standard library only.  Run::

    python3 server_b.py --host 127.0.0.1 --port 0

It prints one line of JSON with the URLs, keys and credentials, then serves until
SIGTERM/SIGINT.  The choices made where the specification is silent are listed in
``server_b.md`` next to this file.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import html
import json
import re
import signal
import socketserver
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional
from urllib.parse import parse_qsl
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

API_PATH = "/verba/api"
CONTROL_PATH = "/verba/test-control"

AUTH_API_KEY = "74c8eea0-50c6-40b2-9f3e-252ed501c3c8"   # requires a token
OPEN_API_KEY = "5d0f3b9e-2c41-4e7a-9b8d-1f6a0c2e7d43"   # no authentication configured
API_USER = "apiadmin"                                   # administrator + supervisor roles
API_PASSWORD = "Verba-Api-2024!"

TOKEN_LIFETIME_SECONDS = 3600.0
NEXT_WINDOW_SECONDS = 60.0
MAX_BODY_BYTES = 1024 * 1024
ERROR_CODE = 2

VALID_STATUS = {("ongoing",), ("next",), ("last",), ("ongoing", "next"), ("last", "ongoing")}
TYPE_KEEP, TYPE_PROTECT, TYPE_RECORD = "keep", "do_not_delete", "manualrecord"

_XML_INVALID = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ApiError(Exception):
    """A business error, answered with code 2 and an ErrorMessage."""

    def __init__(self, message: str, code: int = ERROR_CODE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------- clock

class ServerClock:
    """Wall clock at start-up plus monotonic elapsed time plus control-set advances."""

    def __init__(self) -> None:
        self._wall0 = time.time()
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._wall0 + (time.monotonic() - self._mono0) + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


# --------------------------------------------------------------------------- model

@dataclass
class Call:
    call_id: str
    caller: str
    called: str
    start: float            # server-clock seconds
    end: Optional[float]    # None while not ended
    kept: bool = False
    protected: bool = False
    recording: bool = False

    def state_at(self, now: float) -> str:
        """'finished', 'ongoing' or 'upcoming'; an upcoming call is ongoing from its start on."""
        if self.end is not None and self.end <= now:
            return "finished"
        return "ongoing" if self.start <= now else "upcoming"

    def involves(self, number: str) -> bool:
        return number in (self.caller, self.called)

    def flags_json(self) -> dict[str, Any]:
        return {"callID": self.call_id, "kept": self.kept,
                "protected": self.protected, "recording": self.recording}


class CallRepository:
    """In-memory store of calls and controlled extensions.  Callers hold ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.calls: dict[str, Call] = {}
        self.controlled: set[str] = set()

    def find_by_id(self, call_id: str) -> Optional[Call]:
        return self.calls.get(call_id)

    def find_by_number(self, number: str) -> list[Call]:
        return [c for c in self.calls.values() if c.involves(number)]


# --------------------------------------------------------------------------- tokens

class TokenService:
    def __init__(self, clock: ServerClock, auth_keys: set[str], open_keys: set[str],
                 users: dict[str, str]) -> None:
        self._clock = clock
        self._auth_keys = auth_keys
        self._open_keys = open_keys
        self._users = users
        self._tokens: dict[str, tuple[str, float]] = {}   # token -> (apiKey, expiry)
        self._lock = threading.Lock()

    def check_api_key(self, api_key: Optional[str]) -> bool:
        """Validates the key; returns True when the key requires a token."""
        if not api_key:
            raise ApiError("Missing mandatory parameter: apiKey.")
        if api_key in self._auth_keys:
            return True
        if api_key in self._open_keys:
            return False
        raise ApiError("Invalid API key.")

    def login(self, api_key: str, authorization: Optional[str]) -> str:
        if not authorization:
            raise ApiError("Authentication required: missing Basic Authorization header.")
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "basic" or not value.strip():
            raise ApiError("Authentication failed: Basic authorization expected.")
        try:
            raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ApiError("Authentication failed: malformed credentials.") from None
        login, sep, password = raw.partition(":")
        if not sep or self._users.get(login) != password:
            raise ApiError("Authentication failed: invalid login or password.")
        token = str(uuid.uuid4())
        with self._lock:
            now = self._clock.now()
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (api_key, now + TOKEN_LIFETIME_SECONDS)
        return token

    def validate(self, api_key: str, token: Optional[str]) -> None:
        if not token:
            raise ApiError("Missing mandatory parameter: token (authentication is required).")
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[0] != api_key or self._clock.now() >= entry[1]:
            raise ApiError("Invalid or expired token.")


# --------------------------------------------------------------------------- KeepCall

class KeepCallService:
    def __init__(self, repo: CallRepository, clock: ServerClock) -> None:
        self._repo = repo
        self._clock = clock

    @staticmethod
    def parse_status(value: str) -> tuple[str, ...]:
        parts = tuple(p.strip().lower() for p in value.split(","))
        if parts not in VALID_STATUS:
            raise ApiError("Invalid status value: valid values are ongoing, next, last, "
                           "'ongoing,next' and 'last,ongoing'.")
        return parts

    @staticmethod
    def parse_type(value: Optional[str]) -> str:
        if not value:
            return TYPE_KEEP
        v = value.lower()
        if v in (TYPE_PROTECT, TYPE_RECORD):
            return v
        raise ApiError("Invalid type value: valid values are manualRecord and do_not_delete.")

    @staticmethod
    def parse_unmark(value: Optional[str]) -> bool:
        if not value or value == "0":
            return False
        if value == "1":
            return True
        raise ApiError("Invalid unmark value: valid values are 0 and 1.")

    def keep_call(self, call_id: Optional[str], extension: Optional[str],
                  status: Optional[str], type_: Optional[str], unmark: Optional[str]) -> Call:
        kind = self.parse_type(type_)
        off = self.parse_unmark(unmark)
        statuses: tuple[str, ...] = ()
        if not call_id:
            if not extension:
                raise ApiError("Either the callID or the extension parameter is mandatory.")
            if not status:
                raise ApiError("Missing mandatory parameter: status (required with extension).")
            statuses = self.parse_status(status)
        with self._repo.lock:
            now = self._clock.now()
            if call_id:
                call = self._repo.find_by_id(call_id)
                if call is None:
                    raise ApiError("Call cannot be found.")
            else:
                assert extension is not None
                call = self._lookup(extension, statuses, now)
            if kind == TYPE_RECORD:
                numbers = [extension] if not call_id else [call.caller, call.called]
                if not any(n in self._repo.controlled for n in numbers):
                    raise ApiError("The extension is not a controlled extension.")
                if call.state_at(now) == "finished":
                    raise ApiError("Recording cannot be started or stopped on a finished call.")
                call.recording = not off
            elif kind == TYPE_PROTECT:
                call.protected = not off
            else:
                call.kept = not off
            return call

    def _lookup(self, number: str, statuses: tuple[str, ...], now: float) -> Call:
        for status in statuses:
            found = self._candidates(number, status, now)
            if len(found) > 1:
                raise ApiError("More than one call found.")
            if found:
                return found[0]
        raise ApiError("Call cannot be found.")

    def _candidates(self, number: str, status: str, now: float) -> list[Call]:
        calls = self._repo.find_by_number(number)
        if status == "ongoing":
            return [c for c in calls if c.state_at(now) == "ongoing"]
        if status == "next":
            window = [c for c in calls
                      if c.state_at(now) == "upcoming" and c.start - now <= NEXT_WINDOW_SECONDS]
            if not window:
                return []
            first = min(c.start for c in window)
            return [c for c in window if c.start == first]
        finished = [c for c in calls if c.state_at(now) == "finished"]
        if not finished:
            return []
        last = max(c.end for c in finished if c.end is not None)
        return [c for c in finished if c.end == last]


# --------------------------------------------------------------------------- rendering

def _clean(text: str) -> str:
    return _XML_INVALID.sub("?", text)


def _xml_escape(text: str) -> str:
    return html.escape(_clean(text), quote=True)


class ResponseWriter:
    """Renders (code, type, payload fields | error message) as XML, HTML or TEXT."""

    CONTENT_TYPES = {"XML": "application/xml; charset=UTF-8",
                     "HTML": "text/html; charset=UTF-8",
                     "TEXT": "text/plain; charset=UTF-8"}

    def render(self, fmt: str, action: str, code: int, elements: list[tuple[str, str]],
               attributes: list[tuple[str, str]], error: Optional[str]) -> tuple[str, bytes]:
        if fmt == "HTML":
            body = self._html(action, code, elements + attributes, error)
        elif fmt == "TEXT":
            body = self._text(action, code, elements + attributes, error)
        else:
            fmt = "XML"
            body = self._xml(action, code, elements, attributes, error)
        return self.CONTENT_TYPES[fmt], body.encode("utf-8", "replace")

    @staticmethod
    def _xml(action: str, code: int, elements: list[tuple[str, str]],
             attributes: list[tuple[str, str]], error: Optional[str]) -> str:
        attrs = f' code="{code}" type="{_xml_escape(action)}"'
        if error is not None:
            attrs += ' description="Error"'
        attrs += "".join(f' {n}="{_xml_escape(v)}"' for n, v in attributes)
        inner = "".join(f"<{n}>{_xml_escape(v)}</{n}>\n" for n, v in elements)
        if error is not None:
            inner += f"<ErrorMessage>{_xml_escape(error)}</ErrorMessage>\n"
        resp = f"<Response{attrs}>\n{inner}</Response>" if inner else f"<Response{attrs}/>"
        return f'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n{resp}\n</VerbaApi>\n'

    @staticmethod
    def _html(action: str, code: int, fields: list[tuple[str, str]], error: Optional[str]) -> str:
        rows = [("Code", str(code)), ("Type", action), ("Result", "Error" if error else "Success")]
        rows += fields
        if error is not None:
            rows.append(("ErrorMessage", error))
        cells = "".join(f"<tr><th>{_xml_escape(k)}</th><td>{_xml_escape(v)}</td></tr>\n"
                        for k, v in rows)
        title = _xml_escape(action or "VerbaApi")
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\">"
                f"<title>{title}</title></head>\n<body>\n<table>\n{cells}</table>\n</body></html>\n")

    @staticmethod
    def _text(action: str, code: int, fields: list[tuple[str, str]], error: Optional[str]) -> str:
        lines = [f"code={code}", f"type={action}",
                 "result=" + ("ERROR" if error is not None else "OK")]
        lines += [f"{k}={v}" for k, v in fields]
        if error is not None:
            lines.append(f"error={error}")
        return "".join(_clean(line).replace("\r", " ").replace("\n", " ") + "\n" for line in lines)


# --------------------------------------------------------------------------- WSGI helpers

StartResponse = Callable[..., Any]


def _bytes_to_text(raw: str) -> str:
    """WSGI hands over request-line text as latin-1; re-read it as UTF-8."""
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    if length > MAX_BODY_BYTES:
        raise ValueError("request body too large")
    try:
        body = environ["wsgi.input"].read(length)
    except OSError:
        raise ValueError("request body could not be read") from None
    if len(body) < length:
        raise ValueError("request body shorter than Content-Length")
    return body


class ApiServlet:
    """``/verba/api``: parameter parsing, authentication, dispatch by action."""

    def __init__(self, tokens: TokenService, keep_calls: KeepCallService) -> None:
        self._tokens = tokens
        self._keep_calls = keep_calls
        self._writer = ResponseWriter()
        self._actions: dict[str, Callable[[dict[str, str], dict[str, Any], str],
                                          tuple[list[tuple[str, str]], list[tuple[str, str]]]]] = {
            "requesttoken": self._request_token,
            "keepcall": self._keep_call,
        }
        self._action_names = {"requesttoken": "RequestToken", "keepcall": "KeepCall"}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        params: dict[str, str] = {}
        fmt, action_name, status = "XML", "", "200 OK"
        headers: list[tuple[str, str]] = []
        elements: list[tuple[str, str]] = []
        attributes: list[tuple[str, str]] = []
        error: Optional[str] = None
        code = 0
        try:
            params = self._parameters(environ, method)
            action = params.get("action", "")
            action_name = self._action_names.get(action.lower(), action)
            handler = self._actions.get(action.lower())
            fmt = self._response_type(params)      # may raise; fmt stays XML then
            if method not in ("GET", "POST"):
                status = "405 Method Not Allowed"
                headers.append(("Allow", "GET, POST"))
                raise ApiError("HTTP method not supported; use GET or POST.")
            if not action:
                raise ApiError("Missing mandatory parameter: action.")
            if handler is None:
                raise ApiError("Unknown action.")
            api_key = params.get("apiKey", "")
            needs_token = self._tokens.check_api_key(api_key)
            if needs_token and action.lower() != "requesttoken":
                self._tokens.validate(api_key, params.get("token"))
            elements, attributes = handler(params, environ, api_key)
        except ApiError as exc:
            code, error = exc.code, exc.message
        except ValueError as exc:                  # malformed body / too many fields
            code, error = ERROR_CODE, f"Malformed request: {exc}."
        except Exception:                          # never crash the worker
            code, error = ERROR_CODE, "Internal error."
        ctype, body = self._writer.render(fmt, action_name, code, elements, attributes, error)
        headers += [("Content-Type", ctype), ("Content-Length", str(len(body))),
                    ("Cache-Control", "no-store")]
        start_response(status, headers)
        return [body]

    @staticmethod
    def _parameters(environ: dict[str, Any], method: str) -> dict[str, str]:
        """Servlet semantics: query string first, then a form body; first value wins."""
        pairs = parse_qsl(_bytes_to_text(environ.get("QUERY_STRING", "")), keep_blank_values=True,
                          encoding="utf-8", errors="replace", max_num_fields=1000)
        if method == "POST":
            body = _read_body(environ)
            ctype = environ.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
            if body and ctype == "application/x-www-form-urlencoded":
                pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True,
                                   encoding="utf-8", errors="replace", max_num_fields=1000)
        params: dict[str, str] = {}
        for name, value in pairs:
            value = value.strip()
            if value and name not in params:     # empty value == parameter absent
                params[name] = value
        return params

    @staticmethod
    def _response_type(params: dict[str, str]) -> str:
        value = params.get("responseType", "XML").upper()
        if value not in ResponseWriter.CONTENT_TYPES:
            raise ApiError("Invalid responseType value: valid values are XML, HTML and TEXT.")
        return value

    def _request_token(self, params: dict[str, str], environ: dict[str, Any], api_key: str
                       ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        token = self._tokens.login(api_key, environ.get("HTTP_AUTHORIZATION"))
        return [], [("token", token)]

    def _keep_call(self, params: dict[str, str], environ: dict[str, Any], api_key: str
                   ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        call = self._keep_calls.keep_call(params.get("callID"), params.get("extension"),
                                          params.get("status"), params.get("type"),
                                          params.get("unmark"))
        return [("CallID", call.call_id)], []


# --------------------------------------------------------------------------- control

class ControlError(Exception):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ControlServlet:
    """JSON control interface, protocol version 1.1."""

    def __init__(self, repo: CallRepository, clock: ServerClock) -> None:
        self._repo = repo
        self._clock = clock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = _bytes_to_text(environ.get("PATH_INFO", ""))[len(CONTROL_PATH):]
        try:
            if path == "/fixtures":
                self._require(method, "PUT")
                self._apply(self._json(environ), replace=True)
                return self._answer(start_response, "204 No Content", None)
            if path == "/calls":
                self._require(method, "POST")
                self._apply(self._json(environ), replace=False)
                return self._answer(start_response, "204 No Content", None)
            if path == "/clock":
                self._require(method, "POST")
                self._advance(self._json(environ))
                return self._answer(start_response, "204 No Content", None)
            if path.startswith("/calls/") and len(path) > len("/calls/"):
                self._require(method, "GET")
                with self._repo.lock:
                    call = self._repo.find_by_id(path[len("/calls/"):])
                    if call is None:
                        raise ControlError("404 Not Found", "no such call")
                    return self._answer(start_response, "200 OK", call.flags_json())
            raise ControlError("404 Not Found", "unknown control resource")
        except ControlError as exc:
            return self._answer(start_response, exc.status, {"error": exc.message})
        except Exception as exc:                   # never crash the worker
            return self._answer(start_response, "400 Bad Request", {"error": str(exc)})

    @staticmethod
    def _require(method: str, expected: str) -> None:
        if method != expected:
            raise ControlError("405 Method Not Allowed", f"use {expected}")

    @staticmethod
    def _answer(start_response: StartResponse, status: str, payload: Optional[dict[str, Any]]
                ) -> Iterable[bytes]:
        if payload is None:
            start_response(status, [])
            return []
        body = json.dumps(payload).encode("utf-8")
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def _json(environ: dict[str, Any]) -> dict[str, Any]:
        try:
            data = json.loads(_read_body(environ).decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ControlError("400 Bad Request", f"body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ControlError("400 Bad Request", "body must be a JSON object")
        return data

    def _advance(self, data: dict[str, Any]) -> None:
        seconds = data.get("advanceSeconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
                or not 0 <= seconds < 1e9:
            raise ControlError("400 Bad Request", "advanceSeconds must be a number >= 0")
        self._clock.advance(float(seconds))

    def _apply(self, data: dict[str, Any], replace: bool) -> None:
        raw_calls = data.get("calls", [])
        raw_ext = data.get("controlledExtensions", [])
        if not isinstance(raw_calls, list):
            raise ControlError("400 Bad Request", "calls must be a list")
        if not isinstance(raw_ext, list) or not all(isinstance(e, str) for e in raw_ext):
            raise ControlError("400 Bad Request", "controlledExtensions must be a list of strings")
        now = self._clock.now()
        calls = [self._parse_call(item, i, now) for i, item in enumerate(raw_calls)]
        ids = [c.call_id for c in calls]
        if len(set(ids)) != len(ids):
            raise ControlError("400 Bad Request", "duplicate callID in body")
        with self._repo.lock:                      # validated: apply atomically
            if replace:
                self._repo.calls.clear()
                self._repo.controlled.clear()
            for call in calls:
                self._repo.calls[call.call_id] = call
            self._repo.controlled.update(raw_ext)

    @staticmethod
    def _parse_call(item: Any, index: int, now: float) -> Call:
        def bad(why: str) -> ControlError:
            return ControlError("400 Bad Request", f"calls[{index}]: {why}")
        if not isinstance(item, dict):
            raise bad("must be an object")
        for name in ("callID", "caller", "called"):
            if not isinstance(item.get(name), str) or not item[name]:
                raise bad(f"{name} must be a non-empty string")
        state, offset = item.get("state"), item.get("offsetSeconds")
        if state not in ("ongoing", "upcoming", "finished"):
            raise bad("state must be ongoing, upcoming or finished")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise bad("offsetSeconds must be a whole number >= 0")
        flags = {}
        for name in ("kept", "protected", "recording"):
            value = item.get(name, False)
            if not isinstance(value, bool):
                raise bad(f"{name} must be a boolean")
            flags[name] = value
        if state == "ongoing":
            start, end = now - offset, None
        elif state == "upcoming":
            start, end = now + offset, None
        else:
            start = end = now - offset
        return Call(item["callID"], item["caller"], item["called"], start, end, **flags)


# --------------------------------------------------------------------------- application

class RecorderApplication:
    """Top-level WSGI application: routes by path to the two servlets."""

    def __init__(self) -> None:
        self.clock = ServerClock()
        self.repo = CallRepository()
        self.tokens = TokenService(self.clock, {AUTH_API_KEY}, {OPEN_API_KEY},
                                   {API_USER: API_PASSWORD})
        self.api = ApiServlet(self.tokens, KeepCallService(self.repo, self.clock))
        self.control = ControlServlet(self.repo, self.clock)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == API_PATH:
            return self.api(environ, start_response)
        if path.startswith(CONTROL_PATH + "/"):
            return self.control(environ, start_response)
        body = b"Not Found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=UTF-8"),
                                         ("Content-Length", str(len(body)))])
        return [body]


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class QuietHandler(WSGIRequestHandler):
    timeout = 30  # seconds of socket inactivity before a stalled client is dropped

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (servlet-style name)
        pass


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="KeepCall API server (independent impl. B)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, RecorderApplication(),
                         server_class=ThreadingWSGIServer, handler_class=QuietHandler)
    host, port = server.server_address[:2]
    base = f"http://{host}:{port}"
    print(json.dumps({"api": base + API_PATH, "control": base + CONTROL_PATH,
                      "apiKey": AUTH_API_KEY, "openApiKey": OPEN_API_KEY,
                      "username": API_USER, "password": API_PASSWORD}), flush=True)

    def stop(signum: int, frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
