"""Hostile loopback servers: test fixtures that misbehave the way a broken target might.

Each server runs on 127.0.0.1 on a free port in a daemon thread, speaks just enough HTTP/1.1
over raw sockets to misbehave precisely, and stops (closing every connection) when its context
manager exits. ``HOSTILE`` maps a behaviour name to a factory yielding the base URL, so other
tests (a kill matrix) can run every behaviour against whatever they test. ``Recorder`` servers
note every request they receive: they prove that nothing was fetched or followed.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import gzip
import html
import socket
import struct
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from urllib.parse import quote

Handler = Callable[[socket.socket, "Server"], None]

API_PATH = "/verba/api"
ECHO_CAP = 65_536  # the byte cap the hostile runs set (--max-response-bytes)
SUCCESS = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
           b'<VerbaApi><Response code="0" type="KeepCall"/></VerbaApi>')


@dataclass(frozen=True)
class Request:
    """A request as a recorder saw it."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    """A running server: its URL, a stop flag for slow handlers, and what it recorded."""

    url: str
    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    state: dict[str, int] = field(default_factory=dict)
    sockets: list[socket.socket] = field(default_factory=list)
    listener: socket.socket | None = None

    def close_listener(self) -> None:
        """Stop listening: new connections are refused from now on (a server gone)."""
        if self.listener is not None:
            with contextlib.suppress(OSError):  # wakes the thread blocked in accept()
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()

    @property
    def contacted(self) -> bool:
        return self.connections > 0

    def client_gone(self, index: int = -1) -> bool:
        """Whether the client has closed its end of a connection, asked without waiting.

        On loopback the client's FIN is queued here before its close() returns, so this
        tells what the client had done by the moment it is called.
        """
        try:
            return self.sockets[index].recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:  # reset by the client, or closed here after the client went away
            return True


# --- the socket machinery ---------------------------------------------------------------------

def read_request(conn: socket.socket, limit: int = 1 << 20) -> Request | None:
    """Read one request head and its Content-Length body; None when the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk or len(data) > limit:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method, target, headers, body)


def response(status: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    fields = {"Content-Length": str(len(body)), **(headers or {})}
    head = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode("latin-1") + body


@contextlib.contextmanager
def refusing() -> Iterator[str]:
    """The base URL of a loopback port that refuses connections: bound, never listening, and
    held until the block ends, so no other process can start listening there meanwhile (a
    port bound and released could be anyone's by the time it is used)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def serve(handler: Handler) -> Iterator[Server]:
    """Run ``handler`` for every connection on a fresh loopback port until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = Server(f"http://127.0.0.1:{listener.getsockname()[1]}", listener=listener)

    def handle(conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ValueError), conn:
            handler(conn, server)

    def accept_loop() -> None:
        while not server.stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if server.stop.is_set():
                conn.close()
                return
            server.connections += 1
            server.sockets.append(conn)
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    try:
        yield server
    finally:
        server.stop.set()
        server.close_listener()
        for conn in server.sockets:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


def _answer_each(answer: Callable[[Request, Server], bytes]) -> Handler:
    """A keep-alive handler answering each request it reads."""
    def handler(conn: socket.socket, server: Server) -> None:
        while (request := read_request(conn)) is not None:
            server.requests.append(request)
            conn.sendall(answer(request, server))
    return handler


def _after_request(then: Callable[[socket.socket, Server], None]) -> Handler:
    """Read the request, record it, then misbehave."""
    def handler(conn: socket.socket, server: Server) -> None:
        request = read_request(conn)
        if request is not None:
            server.requests.append(request)
            then(conn, server)
    return handler


# --- recorders --------------------------------------------------------------------------------

def recorder(body: bytes = SUCCESS, content_type: str = "text/xml; charset=UTF-8"
             ) -> ContextManager[Server]:
    """A well-behaved server that records every request (redirect and XXE targets, echo)."""
    return serve(_answer_each(lambda _r, _s: response(
        "200 OK", body, {"Content-Type": content_type})))


# --- misbehaviours ----------------------------------------------------------------------------

def xml_answer(body: bytes, status: str = "200 OK",
               content_type: str = "text/xml; charset=UTF-8") -> ContextManager[Server]:
    return serve(_answer_each(lambda _r, _s: response(status, body,
                                                      {"Content-Type": content_type})))


BILLION_LAUGHS = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE VerbaApi [\n<!ENTITY lol "lol">\n'
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<VerbaApi><Response code="2" type="KeepCall">'
    b"<ErrorMessage>&lol9;</ErrorMessage></Response></VerbaApi>"
)
QUADRATIC_BLOWUP = (
    b'<?xml version="1.0"?><!DOCTYPE VerbaApi [<!ENTITY a "' + b"x" * 50_000 + b'">]>'
    b'<VerbaApi><Response code="2" type="KeepCall"><ErrorMessage>'
    + b"&a;" * 20_000 + b"</ErrorMessage></Response></VerbaApi>"
)
DOCTYPE_DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE VerbaApi [<!ELEMENT VerbaApi ANY>]>\n'
    + SUCCESS.split(b"\n", 1)[1]
)
INVALID_UTF8 = (b'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi><Response code="2" '
                b'type="KeepCall"><ErrorMessage>Anruf \xff\xfe nicht</ErrorMessage>'
                b"</Response></VerbaApi>")
UTF8_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi><Response code="2" '
              'type="KeepCall"><ErrorMessage>Anruf nicht gefunden \u2013 \u00fc</ErrorMessage>'
              "</Response></VerbaApi>").encode()
LATIN1_ERROR = UTF8_ERROR.decode().encode("latin-1", "replace")


def xxe_document(system_id: str) -> bytes:
    """An envelope whose ErrorMessage is an external entity (the text a resolver would fetch)."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE VerbaApi [<!ENTITY xxe SYSTEM "'
            + system_id.encode() + b'">]>\n<VerbaApi><Response code="2" type="KeepCall">'
            b"<ErrorMessage>&xxe;</ErrorMessage></Response></VerbaApi>")


def xxe_parameter_document(system_id: str) -> bytes:
    """An external parameter entity: fetched while reading the DTD itself, if ever."""
    return (b'<?xml version="1.0"?>\n<!DOCTYPE VerbaApi [<!ENTITY % ext SYSTEM "'
            + system_id.encode() + b'"> %ext;]>\n' + SUCCESS.split(b"\n", 1)[1])


@contextlib.contextmanager
def xxe_network() -> Iterator[tuple[Server, Server]]:
    """(hostile, witness): the hostile XML points at the witness, which records any fetch."""
    with recorder(b"stolen") as witness, xml_answer(
        xxe_document(f"{witness.url}/xxe")
    ) as hostile:
        yield hostile, witness


@contextlib.contextmanager
def redirect() -> Iterator[tuple[Server, Server]]:
    """(hostile, witness): a 302 to another port, echoing the request's query into Location."""
    with recorder() as witness:
        def answer(request: Request, _server: Server) -> bytes:
            query = request.target.partition("?")[2]
            return response("302 Found", b"", {"Location": f"{witness.url}/stolen?{query}"})
        with serve(_answer_each(answer)) as hostile:
            yield hostile, witness


def _stream_forever(head: bytes, chunk: bytes, frame: Callable[[bytes], bytes]) -> Handler:
    def then(conn: socket.socket, server: Server) -> None:
        conn.sendall(head)
        while not server.stop.is_set():
            conn.sendall(frame(chunk))
    return _after_request(then)


def huge_body(size: int = 50 * 1024 * 1024) -> ContextManager[Server]:
    """Declares and streams 50 MB (until the client hangs up)."""
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {size}\r\n\r\n"
            .encode())
    return serve(_stream_forever(head, b"<" * 65536, lambda c: c))


def endless_chunked() -> ContextManager[Server]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n"
    return serve(_stream_forever(head, b"x" * 8192, lambda c: b"%x\r\n%s\r\n" % (len(c), c)))


# --- decompression bombs ----------------------------------------------------------------------

BOMB_SIZE = 1 << 30  # what a bomb inflates to: a GiB of zeros
_MIB = 1 << 20
_GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, no time, best
_ZLIB_HEADER = b"\x78\xda"  # deflate, 32 KB window, best compression
_LAST_BLOCK = b"\x03\x00"  # an empty final block with fixed codes


@functools.cache
def zeros_coded(coding: str, size: int = BOMB_SIZE) -> bytes:
    """``size`` zero bytes (whole MiB) in ``gzip`` or ``deflate``, built in a fraction of a second.

    Compressing a GiB takes seconds, but after a full flush every MiB of zeros compresses to
    the same bytes: the stream is a header, that segment repeated, a last block, the checksum.
    """
    zeros, count = bytes(_MIB), size // _MIB
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    blocks = (compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)) * count
    if coding == "deflate":  # Adler-32 of n zeros: a stays 1, b sums n ones
        return _ZLIB_HEADER + blocks + _LAST_BLOCK + struct.pack(">I", (size % 65521) << 16 | 1)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    return _GZIP_HEADER + blocks + _LAST_BLOCK + struct.pack("<II", crc, size & 0xFFFFFFFF)


def bomb_body(codings: tuple[str, ...], size: int = BOMB_SIZE) -> bytes:
    """Zeros with ``codings`` applied in order: a GiB is about 1 MB in one layer, 2 KB in two."""
    data = zeros_coded(codings[0], size)
    for coding in codings[1:]:
        data = gzip.compress(data, mtime=0) if coding == "gzip" else zlib.compress(data, 9)
    return data


def coded_answer(body: bytes, *codings: str) -> ContextManager[Server]:
    """Answers every request with ``body`` (already coded), its codings named as HTTP says."""
    answer = response("200 OK", body,
                      {"Content-Type": "text/xml", "Content-Encoding": ", ".join(codings)})
    return serve(_answer_each(lambda _r, _s: answer))


def bomb(*codings: str) -> ContextManager[Server]:
    """A decompression bomb for every request: a GiB of zeros in ``codings``."""
    return coded_answer(bomb_body(codings), *codings)


# A trickle's pace: bytes keep coming well within --read-timeout (between bytes), a few of them
# within a short total deadline (tests/test_hostile_targets.py), the answer never whole in it.
TRICKLE_SECONDS = 0.1


def _trickle(data: bytes, conn: socket.socket, server: Server,
             interval: float = TRICKLE_SECONDS) -> None:
    for byte in data:
        if server.stop.wait(interval):
            return
        conn.sendall(bytes([byte]))


def trickle(headers_too: bool = True, interval: float = TRICKLE_SECONDS
            ) -> ContextManager[Server]:
    """One byte per ``interval``: of the whole answer, or of the body after prompt headers."""
    body = SUCCESS * 10
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    def then(conn: socket.socket, server: Server) -> None:
        if not headers_too:
            conn.sendall(head)
        _trickle((head if headers_too else b"") + body, conn, server, interval)
    return serve(_after_request(then))


def _reset(conn: socket.socket, _server: Server) -> None:
    """Close with SO_LINGER 0: the peer sees a TCP RST."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()


def reset() -> ContextManager[Server]:
    return serve(_after_request(_reset))


def close_without_answer() -> ContextManager[Server]:
    return serve(_after_request(lambda conn, _s: conn.shutdown(socket.SHUT_RDWR)))


def not_http() -> ContextManager[Server]:
    return serve(_after_request(lambda conn, _s: conn.sendall(b"SSH-2.0-OpenSSH\r\n\r\n")))


def retry_after(seconds: int = 1, times: int = 1) -> ContextManager[Server]:
    """429 with Retry-After for the first ``times`` requests, then the success envelope."""
    def answer(_request: Request, server: Server) -> bytes:
        server.state["seen"] = server.state.get("seen", 0) + 1
        if server.state["seen"] <= times:
            return response("429 Too Many Requests", b"slow down",
                            {"Retry-After": str(seconds), "Content-Type": "text/plain"})
        return response("200 OK", SUCCESS, {"Content-Type": "text/xml; charset=UTF-8"})
    return serve(_answer_each(answer))


def post_silent() -> ContextManager[Server]:
    """Answers every GET (with an error envelope) and never a POST: alternating GET and POST
    cases never make the run's breaker's failures in a row (conformance/domain/breaker.py)."""
    def handler(conn: socket.socket, server: Server) -> None:
        while (request := read_request(conn)) is not None:
            server.requests.append(request)
            if request.method == "POST":
                server.stop.wait()  # hold the connection, unanswered, until the end
                return
            conn.sendall(response("200 OK", UTF8_ERROR,
                                  {"Content-Type": "text/xml; charset=UTF-8"}))
    return serve(handler)


def stall_after_headers() -> ContextManager[Server]:
    """Headers at once, announcing a body, then silence until the end."""
    head = response("200 OK", b"", {"Content-Type": "text/xml", "Content-Length": "1000"})

    def then(conn: socket.socket, server: Server) -> None:
        conn.sendall(head)
        server.stop.wait()
    return serve(_after_request(then))


def reset_every(nth: int = 3) -> ContextManager[Server]:
    """Answers with the success envelope and closes, but resets every ``nth`` connection
    without an answer: a retry recovers each, so only the pattern shows."""
    def handler(conn: socket.socket, server: Server) -> None:
        request = read_request(conn)
        if request is None:
            return
        server.requests.append(request)
        if server.connections % nth == 0:
            _reset(conn, server)
            return
        conn.sendall(response("200 OK", SUCCESS, {"Content-Type": "text/xml; charset=UTF-8",
                                                  "Connection": "close"}))
    return serve(handler)


# --- a server that echoes what it was sent ---------------------------------------------------

ECHO_TOKEN = "kc-canary-echo-TOKEN<&>'\"/+ =9"  # what its RequestToken hands out
ECHO_CUT_EVERY = 4  # every 4th answer is long enough to be cut by the byte cap on a secret


def echo_forms(secret: str) -> list[str]:
    """``secret`` in every form a server might echo it in, as text."""
    half = len(secret) // 2
    coded = base64.b64encode(secret.encode()).decode()
    return [secret, quote(secret, safe=""), "".join(f"&#{ord(c)};" for c in secret),
            "".join(f"&#x{ord(c):x};" for c in secret), html.escape(secret),
            coded, base64.b64encode(b"pad" + secret.encode() + b"!").decode(),
            "\n".join(coded[i:i + 8] for i in range(0, len(coded), 8)),
            secret[:half] + "\n   " + secret[half:],
            "".join(f"\\u{ord(c):04x}" for c in secret)]


def _echoed(request: Request) -> list[str]:
    """The secrets a request carried: apiKey and token wherever sent, the Authorization
    header, and the password inside a Basic one."""
    query = request.target.partition("?")[2]
    body = request.body.decode("utf-8", "replace")
    params = dict(urllib.parse.parse_qsl(query)) | dict(urllib.parse.parse_qsl(body))
    found = [params[name] for name in ("apiKey", "token") if params.get(name)]
    authorization = request.headers.get("authorization", "")
    if authorization:
        found.append(authorization)
        with contextlib.suppress(ValueError, UnicodeError):
            found.append(base64.b64decode(authorization.partition(" ")[2]).decode()
                         .partition(":")[2])
    return found


def _echo_body(request: Request, secrets: list[str], cap: int, count: int,
               server: Server) -> tuple[bytes, str]:
    """The answer in the asked format (XML by default), every form of every secret in it.
    RequestToken hands out a token; from its second call on, its answer is cut by the cap
    too (a failure whose evidence holds the echoed password and Basic header)."""
    query = request.target.partition("?")[2] + "&" + request.body.decode("utf-8", "replace")
    params = dict(urllib.parse.parse_qsl(query))
    forms = [form for secret in secrets for form in echo_forms(secret)]
    shown = " ".join(html.escape(f) for f in forms if not f.startswith("&#"))
    refs = " ".join(form for form in forms if form.startswith("&#"))  # left for the parser
    if params.get("action") == "RequestToken":
        server.state["tokens"] = server.state.get("tokens", 0) + 1
        text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi><Response code="0" '
                f'type="RequestToken" token="{html.escape(ECHO_TOKEN)}"><Echo>{shown} {refs}'
                "</Echo></Response></VerbaApi>")
        return _cut(text, secrets, cap) if server.state["tokens"] > 1 else text.encode(), (
            "text/xml; charset=UTF-8")
    kind = params.get("responseType", "XML")
    if kind == "HTML":
        text, media = f"<html><body><p>{' '.join(forms)}</p></body></html>", "text/html"
    elif kind == "TEXT":
        text, media = "Error: " + " ".join(forms), "text/plain"
    else:
        attribute = html.escape(secrets[0]) if secrets else ""
        text = (f'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi><Response code="2" '
                f'type="KeepCall" echo="{attribute}"><ErrorMessage>{shown} {refs}'
                f"</ErrorMessage></Response></VerbaApi>")
        media = "text/xml; charset=UTF-8"
    return _cut(text, secrets, cap) if count % ECHO_CUT_EVERY == 0 else text.encode(), media


def _cut(text: str, secrets: list[str], cap: int) -> bytes:
    """``text`` padded so that the last secret straddles the byte cap: the answer kept ends
    in the secret's first half."""
    if not secrets:
        return text.encode()
    last = secrets[-1].encode()
    return text.encode() + b" " * (cap - len(text.encode()) - len(last) // 2) + last


def echo(cap: int) -> ContextManager[Server]:
    """Answers every request (RequestToken included) with what it carried, in every form, in
    the body and in headers: an error page or a debug page that quotes the request."""
    def answer(request: Request, server: Server) -> bytes:
        server.state["seen"] = server.state.get("seen", 0) + 1
        secrets = _echoed(request)
        body, media = _echo_body(request, secrets, cap, server.state["seen"], server)
        headers = {"Content-Type": media}
        for i, secret in enumerate(secrets):
            headers[f"X-Echo-{i}"] = quote(secret, safe="")
            headers[f"X-Echo-{i}-B64"] = base64.b64encode(secret.encode()).decode()
            with contextlib.suppress(UnicodeError):
                secret.encode("latin-1")
                headers[f"X-Echo-{i}-Raw"] = secret
        return response("200 OK", body, headers)
    return serve(_answer_each(answer))


def _url_only(factory: Callable[[], ContextManager[Server]]) -> Callable[[], ContextManager[str]]:
    @contextlib.contextmanager
    def run() -> Iterator[str]:
        with factory() as server:
            yield server.url
    return run


def _first(factory: Callable[[], ContextManager[tuple[Server, Server]]]
           ) -> Callable[[], ContextManager[Server]]:
    @contextlib.contextmanager
    def run() -> Iterator[Server]:
        with factory() as (hostile, _witness):
            yield hostile
    return run


SERVERS: dict[str, Callable[[], ContextManager[Server]]] = {
    "billion-laughs": lambda: xml_answer(BILLION_LAUGHS),
    "quadratic-blowup": lambda: xml_answer(QUADRATIC_BLOWUP),
    "xxe-file": lambda: xml_answer(xxe_document("file:///etc/passwd")),
    "xxe-network": _first(xxe_network),
    "huge-body": huge_body,
    "endless-chunked": endless_chunked,
    "trickle-all": trickle,
    "trickle-body": lambda: trickle(headers_too=False),
    "reset": reset,
    "close-without-answer": close_without_answer,
    "not-http": not_http,
    "html-500": lambda: xml_answer(b"<html><body><h1>Internal Server Error</h1></body></html>",
                                   "500 Internal Server Error", "text/html"),
    "latin1-declared-utf8-body": lambda: xml_answer(UTF8_ERROR,
                                                    content_type="text/xml; charset=iso-8859-1"),
    "utf8-declared-latin1-body": lambda: xml_answer(LATIN1_ERROR,
                                                    content_type="text/xml; charset=utf-8"),
    "redirect": _first(redirect),
    "doctype": lambda: xml_answer(DOCTYPE_DOCUMENT),
    "invalid-utf8": lambda: xml_answer(INVALID_UTF8),
    "retry-after": retry_after,
    "gzip-bomb": lambda: bomb("gzip", "gzip"),
    "post-silent": post_silent,
    "deflate-bomb": lambda: bomb("deflate"),
    "stall-after-headers": stall_after_headers,
    "reset-every-3rd": reset_every,
    "echo": lambda: echo(ECHO_CAP),
}
"""Every hostile behaviour, yielding the running server (URL, recorded requests)."""

HOSTILE: dict[str, Callable[[], ContextManager[str]]] = {
    name: _url_only(factory) for name, factory in SERVERS.items()
}
"""Every hostile behaviour, yielding the base URL: the table a kill matrix iterates."""

