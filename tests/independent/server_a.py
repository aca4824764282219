#!/usr/bin/env python3
"""Independent implementation "A" of the call recorder's KeepCall HTTP Business API.

Written from the specification alone (keepcall-api.txt, envelope-notes.md and the KeepCall
conformance control protocol 1.1).  Standard library only.

Endpoints (one port):
  /verba/api            GET, POST   actions KeepCall and RequestToken
  /control/fixtures     PUT         replace all calls and controlled extensions
  /control/calls        POST        add / replace calls
  /control/calls/{id}   GET         read a call's flags
  /control/clock        POST        advance the server clock

Run:  python3 server_a.py --host 127.0.0.1 --port 0
It prints one JSON line with the URLs and credentials, then serves until SIGTERM/SIGINT.
Choices made where the specification is open are listed in server_a.md.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import html
import json
import re
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote, urlsplit

API_PATH = "/verba/api"
CONTROL_BASE = "/control"
AUTH_API_KEY = "74c8eea0-50c6-40b2-9f3e-252ed501c3c8"   # requires a token
OPEN_API_KEY = "3f1d9b52-8c0e-4a6f-b7d4-5e2a91c06f18"   # no authentication configured
USERNAME = "apiadmin"
PASSWORD = "Rec0rder-Admin!"
TOKEN_LIFETIME = 3600.0          # seconds on the server clock
NEXT_WINDOW = 60.0               # "next" looks this many seconds ahead (inclusive)
MAX_BODY = 1 << 20               # 1 MiB
ERROR_CODE = 2
MAX_OFFSET = 10 ** 10            # seconds (~317 years); larger offsets/advances are refused

ALLOWED_STATUS = {("ongoing",), ("next",), ("last",), ("ongoing", "next"), ("last", "ongoing")}
TYPE_NAMES = {"manualrecord": "manualRecord", "do_not_delete": "do_not_delete"}
RESPONSE_TYPES = {"xml", "html", "text"}
_XML_BAD = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ApiError(Exception):
    """A request the API answers with an error envelope (code 2)."""


class BodyError(ValueError):
    """An unreadable request body; carries the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlError(Exception):
    """A control request answered with a JSON error and the given HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def clean(text: str, limit: int = 200) -> str:
    """Make a client-supplied value safe to echo: strip XML-illegal characters, truncate."""
    text = _XML_BAD.sub("\ufffd", text)
    return text if len(text) <= limit else text[:limit] + "..."


# ----------------------------------------------------------------------------- state

class Clock:
    """Server clock: wall time at start + elapsed monotonic time + control advances."""

    def __init__(self) -> None:
        self._base = time.time()
        self._m0 = time.monotonic()
        self._advance = 0.0

    def now(self) -> float:
        return self._base + (time.monotonic() - self._m0) + self._advance

    def advance(self, seconds: float) -> None:
        self._advance += seconds


@dataclass
class Call:
    call_id: str
    caller: str
    called: str
    start: float | None      # None for a finished call (start unknown / irrelevant)
    end: float | None        # None while not finished
    kept: bool = False
    protected: bool = False
    recording: bool = False

    def state(self, now: float) -> str:
        """Derived state: an upcoming call becomes ongoing once its start has passed."""
        if self.end is not None:
            return "finished"
        assert self.start is not None
        return "upcoming" if self.start > now else "ongoing"

    def flags(self) -> dict[str, Any]:
        return {"callID": self.call_id, "kept": self.kept,
                "protected": self.protected, "recording": self.recording}


class Store:
    """All mutable server state, guarded by one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clock = Clock()
        self.calls: dict[str, Call] = {}
        self.controlled: set[str] = set()
        self.tokens: dict[str, tuple[str, float]] = {}   # token -> (apiKey, expiry)

    # --- control ------------------------------------------------------------
    def parse_fixture(self, body: Any) -> tuple[list[Call], set[str]]:
        """Validate a fixture body completely before anything is changed."""
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object")
        raw_calls = body.get("calls", [])
        raw_ext = body.get("controlledExtensions", [])
        if not isinstance(raw_calls, list):
            raise ControlError(400, "'calls' must be an array")
        if not isinstance(raw_ext, list) or not all(isinstance(e, str) for e in raw_ext):
            raise ControlError(400, "'controlledExtensions' must be an array of strings")
        now = self.clock.now()
        calls: list[Call] = []
        seen: set[str] = set()
        for i, rc in enumerate(raw_calls):
            where = f"calls[{i}]"
            if not isinstance(rc, dict):
                raise ControlError(400, f"{where} must be an object")
            cid = rc.get("callID")
            if not isinstance(cid, str) or not cid:
                raise ControlError(400, f"{where}.callID must be a non-empty string")
            if cid in seen:
                raise ControlError(400, f"{where}.callID {cid!r} appears twice in the body")
            seen.add(cid)
            for party in ("caller", "called"):
                if not isinstance(rc.get(party), str) or not rc.get(party):
                    raise ControlError(400, f"{where}.{party} must be a non-empty string")
            state = rc.get("state")
            if state not in ("ongoing", "upcoming", "finished"):
                raise ControlError(400, f"{where}.state must be ongoing, upcoming or finished")
            off = rc.get("offsetSeconds")
            if isinstance(off, bool) or not isinstance(off, (int, float)) \
                    or not 0 <= off <= MAX_OFFSET or off != int(off):
                raise ControlError(400, f"{where}.offsetSeconds must be a whole number "
                                        f"between 0 and {MAX_OFFSET}")
            flags = {}
            for flag in ("kept", "protected", "recording"):
                val = rc.get(flag, False)
                if not isinstance(val, bool):
                    raise ControlError(400, f"{where}.{flag} must be a boolean")
                flags[flag] = val
            start: float | None = None
            end: float | None = None
            if state == "ongoing":
                start = now - off
            elif state == "upcoming":
                start = now + off
            else:
                end = now - off
            calls.append(Call(cid, rc["caller"], rc["called"], start, end, **flags))
        return calls, set(raw_ext)

    def put_fixtures(self, body: Any) -> None:
        with self.lock:
            calls, ext = self.parse_fixture(body)
            self.calls = {c.call_id: c for c in calls}
            self.controlled = ext

    def add_calls(self, body: Any) -> None:
        with self.lock:
            calls, ext = self.parse_fixture(body)
            for c in calls:
                self.calls[c.call_id] = c
            self.controlled |= ext

    def get_call(self, call_id: str) -> dict[str, Any] | None:
        with self.lock:
            call = self.calls.get(call_id)
            return call.flags() if call else None

    def advance(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise ControlError(400, "body must be a JSON object")
        sec = body.get("advanceSeconds")
        if isinstance(sec, bool) or not isinstance(sec, (int, float)) \
                or not 0 <= sec <= MAX_OFFSET:
            raise ControlError(400, f"advanceSeconds must be a number between 0 and {MAX_OFFSET}")
        with self.lock:
            self.clock.advance(float(sec))

    # --- API ------------------------------------------------------------------
    def issue_token(self, api_key: str) -> str:
        with self.lock:
            now = self.clock.now()
            self.tokens = {t: v for t, v in self.tokens.items() if v[1] > now}
            token = str(uuid.uuid4())
            self.tokens[token] = (api_key, now + TOKEN_LIFETIME)
            return token

    def token_valid(self, token: str, api_key: str) -> bool:
        with self.lock:
            entry = self.tokens.get(token)
            return entry is not None and entry[0] == api_key and self.clock.now() < entry[1]

    def _find_by_extension(self, ext: str, statuses: tuple[str, ...]) -> Call:
        now = self.clock.now()
        mine = [c for c in self.calls.values() if ext in (c.caller, c.called)]
        for status in statuses:
            if status == "ongoing":
                found = [c for c in mine if c.state(now) == "ongoing"]
            elif status == "next":
                window = [c for c in mine if c.state(now) == "upcoming"
                          and c.start is not None and c.start - now <= NEXT_WINDOW]
                first = min((c.start for c in window), default=None)
                found = [c for c in window if c.start == first]
            else:  # last
                done = [c for c in mine if c.state(now) == "finished"]
                latest = max((c.end for c in done if c.end is not None), default=None)
                found = [c for c in done if c.end == latest]
            if len(found) > 1:
                raise ApiError("More than one call was found.")
            if found:
                return found[0]
        raise ApiError("Call cannot be found.")

    def keep_call(self, call_id: str | None, ext: str | None, statuses: tuple[str, ...],
                  kind: str | None, unmark: bool) -> str:
        """Apply one KeepCall; returns the affected callID. Raises ApiError, changing nothing."""
        with self.lock:
            if call_id is not None:
                call = self.calls.get(call_id)
                if call is None:
                    raise ApiError("Call cannot be found.")
            else:
                assert ext is not None
                call = self._find_by_extension(ext, statuses)
            if kind == "manualRecord":
                parties = [ext] if call_id is None else [call.caller, call.called]
                if not any(p in self.controlled for p in parties):
                    raise ApiError("The extension is not a controlled extension.")
                call.recording = not unmark
            elif kind == "do_not_delete":
                call.protected = not unmark
            else:
                call.kept = not unmark
            return call.call_id


STORE = Store()


# ----------------------------------------------------------------------------- rendering

def render(rtype: str, action: str | None, code: int, fields: dict[str, str],
           error: str | None = None) -> tuple[str, bytes]:
    """Build (content type, body) for an API answer in XML, HTML or TEXT."""
    fields = {k: clean(v, 10_000) for k, v in fields.items()}
    error = clean(error, 10_000) if error is not None else None
    if rtype == "html":
        rows = [("Code", str(code))]
        if action is not None:
            rows.append(("Type", action))
        rows += list(fields.items())
        if error is not None:
            rows.append(("ErrorMessage", error))
        cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                        for k, v in rows)
        title = html.escape(action or "VerbaApi")
        doc = (f"<!DOCTYPE html>\n<html><head><meta charset=\"UTF-8\"><title>{title}</title>"
               f"</head><body><table>{cells}</table></body></html>\n")
        return "text/html; charset=UTF-8", doc.encode("utf-8")
    if rtype == "text":
        lines = [f"code={code}"]
        if action is not None:
            lines.append(f"type={action}")
        lines += [f"{k}={v}" for k, v in fields.items()]
        if error is not None:
            lines.append(f"error={error}")
        text = "\n".join(line.replace("\r", " ").replace("\n", " ") for line in lines) + "\n"
        return "text/plain; charset=UTF-8", text.encode("utf-8")
    attrs = f' code="{code}"'
    if action is not None:
        attrs += f' type="{html.escape(action, quote=True)}"'
    if "token" in fields:
        attrs += f' token="{html.escape(fields["token"], quote=True)}"'
    inner = "".join(f"<{k}>{html.escape(v, quote=False)}</{k}>"
                    for k, v in fields.items() if k != "token")
    if error is not None:
        inner += f"<ErrorMessage>{html.escape(error, quote=False)}</ErrorMessage>"
    resp = f"<Response{attrs}>{inner}</Response>" if inner else f"<Response{attrs}/>"
    doc = f'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi>\n{resp}\n</VerbaApi>\n'
    return "application/xml; charset=UTF-8", doc.encode("utf-8")


# ----------------------------------------------------------------------------- HTTP

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return "KeepCallA/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        pass

    # --- plumbing -------------------------------------------------------------
    def _send(self, status: int, ctype: str | None, body: bytes,
              extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, "application/json", json.dumps(obj).encode("utf-8"), extra)

    def _read_body(self) -> bytes:
        """Read the request body (Content-Length or chunked); raises BodyError if bad."""
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            if te.strip().lower() != "chunked":
                self.close_connection = True
                raise BodyError(501, "unsupported Transfer-Encoding")
            data = bytearray()
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    self.close_connection = True
                    raise BodyError(400, "bad chunk size") from None
                if size < 0:
                    self.close_connection = True
                    raise BodyError(400, "bad chunk size")
                if len(data) + size > MAX_BODY:
                    self.close_connection = True
                    raise BodyError(413, "body too large")
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return bytes(data)
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        length_hdr = self.headers.get("Content-Length")
        if not length_hdr:
            return b""
        try:
            length = int(length_hdr)
        except ValueError:
            self.close_connection = True
            raise BodyError(400, "bad Content-Length") from None
        if length < 0:
            self.close_connection = True
            raise BodyError(400, "bad Content-Length")
        if length > MAX_BODY:
            self.close_connection = True
            raise BodyError(413, "body too large")
        return self.rfile.read(length)

    def _dispatch(self) -> None:
        try:
            path = urlsplit(self.path).path
            if path in (API_PATH, API_PATH + "/"):
                self._api()
            elif path == CONTROL_BASE or path.startswith(CONTROL_BASE + "/"):
                self._control(path[len(CONTROL_BASE):])
            else:
                try:
                    self._read_body()
                except BodyError:
                    pass
                self._send(404, "text/plain; charset=UTF-8", b"Not found\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # never let one request take the server down
            self.close_connection = True
            try:
                self._send(500, "text/plain; charset=UTF-8",
                           f"Internal error: {type(exc).__name__}\n".encode())
            except Exception:
                pass

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    # --- API --------------------------------------------------------------------
    def _api(self) -> None:
        try:
            body = self._read_body()
        except BodyError as exc:
            self._send(exc.status, "text/plain; charset=UTF-8", f"Bad request: {exc}\n".encode())
            return
        if self.command not in ("GET", "POST"):
            self._send(405, "text/plain; charset=UTF-8", b"Method not allowed\n",
                       {"Allow": "GET, POST"})
            return
        rtype, action, code, fields, error = "xml", None, 0, {}, None
        canonical = {"keepcall": "KeepCall", "requesttoken": "RequestToken"}
        try:
            params = self._api_params(body)
            raw_action = params.get("action")
            if raw_action is not None:
                action = canonical.get(raw_action.lower(), raw_action)
            rt = params.get("responseType")
            if rt is not None:
                if rt.lower() not in RESPONSE_TYPES:
                    raise ApiError(f"Invalid responseType: {clean(rt)}.")
                rtype = rt.lower()
            if raw_action is None:
                raise ApiError("Missing mandatory parameter: action.")
            if action not in canonical.values():
                raise ApiError(f"Unknown action: {clean(raw_action)}.")
            api_key = params.get("apiKey")
            if api_key is None:
                raise ApiError("Missing mandatory parameter: apiKey.")
            if api_key not in (AUTH_API_KEY, OPEN_API_KEY):
                raise ApiError("Invalid API key.")
            if action == "RequestToken":
                self._check_basic_auth()
                fields = {"token": STORE.issue_token(api_key)}
            else:
                if api_key == AUTH_API_KEY:
                    token = params.get("token")
                    if token is None:
                        raise ApiError("Authentication required: missing token.")
                    if not STORE.token_valid(token, api_key):
                        raise ApiError("Invalid or expired token.")
                fields = {"CallID": self._keep_call(params)}
        except ApiError as exc:
            code, fields, error = ERROR_CODE, {}, str(exc)
        if action is not None:
            action = clean(action, 100)
        ctype, payload = render(rtype, action, code, fields, error)
        self._send(200, ctype, payload)

    def _api_params(self, body: bytes) -> dict[str, str]:
        """Merge query-string and (POST) form-body parameters; empty values count as absent."""
        sources = [urlsplit(self.path).query]
        if self.command == "POST" and body:
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if ctype not in ("", "application/x-www-form-urlencoded"):
                raise ApiError("Unsupported Content-Type for a POST body; "
                               "use application/x-www-form-urlencoded.")
            try:
                sources.append(body.decode("utf-8"))
            except UnicodeDecodeError:
                raise ApiError("Malformed request body: not UTF-8.") from None
        params: dict[str, str] = {}
        for src in sources:
            try:
                pairs = parse_qsl(src, keep_blank_values=True, errors="strict")
            except (ValueError, UnicodeDecodeError):
                raise ApiError("Malformed request parameters.") from None
            for name, value in pairs:
                value = value.strip()
                if value == "":
                    continue
                if name in params and params[name] != value:
                    raise ApiError(f"Parameter {clean(name, 50)} is given more than once "
                                   f"with different values.")
                params[name] = value
        return params

    def _check_basic_auth(self) -> None:
        header = self.headers.get("Authorization")
        if not header:
            raise ApiError("Authentication failed: missing Authorization header.")
        scheme, _, encoded = header.strip().partition(" ")
        if scheme.lower() != "basic":
            raise ApiError("Authentication failed: Basic authentication expected.")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError("Authentication failed: malformed credentials.") from None
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            decoded = raw.decode("latin-1")
        login, sep, password = decoded.partition(":")
        if not sep or login != USERNAME or password != PASSWORD:
            raise ApiError("Authentication failed: invalid login or password.")

    def _keep_call(self, params: dict[str, str]) -> str:
        kind: str | None = None
        if "type" in params:
            kind = TYPE_NAMES.get(params["type"].lower())
            if kind is None:
                raise ApiError(f"Invalid type: {clean(params['type'])}.")
        unmark_raw = params.get("unmark", "0")
        if unmark_raw not in ("0", "1"):
            raise ApiError(f"Invalid unmark value: {clean(unmark_raw)}.")
        call_id = params.get("callID")
        ext = params.get("extension")
        statuses: tuple[str, ...] = ()
        if call_id is None:
            if ext is None:
                raise ApiError("Either callID or extension must be specified.")
            status = params.get("status")
            if status is None:
                raise ApiError("Parameter status is mandatory when extension is specified.")
            statuses = tuple(s.strip().lower() for s in status.split(","))
            if statuses not in ALLOWED_STATUS:
                raise ApiError(f"Invalid status: {clean(status)}.")
        return STORE.keep_call(call_id, ext if call_id is None else None, statuses, kind,
                               unmark_raw == "1")

    # --- control ----------------------------------------------------------------
    def _control(self, sub: str) -> None:
        try:
            raw = self._read_body()
        except BodyError as exc:
            self._json(exc.status, {"error": str(exc)})
            return
        routes: dict[str, dict[str, Callable[[Any], None]]] = {
            "/fixtures": {"PUT": STORE.put_fixtures},
            "/calls": {"POST": STORE.add_calls},
            "/clock": {"POST": STORE.advance},
        }
        if sub.startswith("/calls/") and len(sub) > len("/calls/"):
            if self.command != "GET":
                self._json(405, {"error": "method not allowed"}, {"Allow": "GET"})
                return
            flags = STORE.get_call(unquote(sub[len("/calls/"):], errors="replace"))
            if flags is None:
                self._json(404, {"error": "no such call"})
            else:
                self._json(200, flags)
            return
        methods = routes.get(sub.rstrip("/") if sub != "/" else sub)
        if methods is None:
            self._json(404, {"error": "no such control resource"})
            return
        func = methods.get(self.command)
        if func is None:
            self._json(405, {"error": "method not allowed"}, {"Allow": ", ".join(methods)})
            return
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            self._json(400, {"error": "body is not valid UTF-8 JSON"})
            return
        try:
            func(body)
        except ControlError as exc:
            self._json(exc.status, {"error": str(exc)})
            return
        self._send(204, None, b"")


# ----------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    host, port = server.server_address[:2]
    shown = f"[{host}]" if ":" in str(host) else str(host)
    base = f"http://{shown}:{port}"
    print(json.dumps({"api": base + API_PATH, "control": base + CONTROL_BASE,
                      "apiKey": AUTH_API_KEY, "openApiKey": OPEN_API_KEY,
                      "username": USERNAME, "password": PASSWORD}), flush=True)

    def stop(_signum: int, _frame: Any) -> None:
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
