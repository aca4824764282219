"""Curl lines that reproduce a request, every secret written as a shell variable.

Pure: from the parts of a request to one line of shell. A secret the redactor knows becomes
``$KEEPCALL_API_KEY`` inside double quotes, so the line runs as is once those variables are
exported, and nothing else in it means anything to the shell. Parameters go in as curl sends
them (``--data-urlencode``, with ``-G`` for a query), so the line reads like the request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from urllib.parse import quote_plus, urlencode

from conformance.wire.redact import Redactor

_PLACEHOLDER = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_IDENT_CHAR = re.compile(r"[A-Za-z0-9_]")
# A secret that stood percent-encoded in raw bytes: POSIX tools encode every byte of it, so
# the line stays exact for the server (which decodes %74 and t alike) without the secret in it.
_PERCENT_ENCODED = "$(printf %s \"${}\" | od -An -tx1 -v | tr -d ' \\n' | sed 's/../%&/g')"


@dataclass(frozen=True)
class RequestParts:
    """A request as its sender described it: the client sends these, the curl line shows them.

    ``query`` goes after ``url``'s own query, then ``raw_query`` verbatim; the body is the
    form-encoded ``form``, then ``raw_body``, joined by ``&``.
    """

    method: str
    url: str
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_query: bytes | None = None
    raw_body: bytes | None = None


def join_query(url: str, encoded: str, raw: bytes | None) -> str:
    """``url`` with an encoded query and raw query bytes appended, before any fragment."""
    base, _, fragment = url.partition("#")
    parts = [p for p in (encoded, raw.decode("latin-1") if raw else "") if p]
    if not parts:
        return url
    separator = "&" if "?" in base and not base.endswith(("?", "&")) else ""
    joined = base + ("" if "?" in base else "?") + separator + "&".join(parts)
    return joined + ("#" + fragment if fragment else "")


def render(parts: RequestParts, redactor: Redactor, verify: bool | str = True) -> str:
    """One line of shell that sends the same request with curl."""
    word = partial(_shell_word, redactor=redactor)
    get_mode = bool(parts.query) and parts.raw_body is None
    words = ["curl", "-sS"]
    data = _data(parts, get_mode)
    if parts.method == "HEAD":  # -X HEAD would wait for the body a HEAD answer never has
        words.append("-I")
    elif parts.method != "GET" or (data and not get_mode):  # curl posts whenever it has data
        words += ["-X", word(parts.method)]
    if get_mode:
        words.append("-G")
    words += _tls(verify, word)
    words.append(word(_url(parts, get_mode)))
    words += _headers(parts.headers, redactor, word)
    words += [f"{option} {word(value)}" for option, value in data]
    if _needs_stdin(parts):  # an argument cannot carry NUL: the body comes from printf
        return f"printf %b {word(_for_printf(parts.raw_body or b''))} | " + " ".join(words)
    return " ".join(words)


def _needs_stdin(parts: RequestParts) -> bool:
    return bool(parts.raw_body and b"\x00" in parts.raw_body)


def _for_printf(body: bytes) -> str:
    """The body as printf's %b reads it: backslashes doubled, NUL as an octal escape."""
    text = body.decode("utf-8", "surrogateescape")
    return text.replace("\\", "\\\\").replace("\x00", "\\0000")


def _url(parts: RequestParts, get_mode: bool) -> str:
    """The URL curl is given: with the query when it cannot come from ``-G`` (curl would move
    a raw body into the query too)."""
    url = parts.url
    if parts.query and not get_mode:
        url = join_query(url, urlencode(parts.query), None)
    return join_query(url, "", parts.raw_query)


def _data(parts: RequestParts, get_mode: bool) -> list[tuple[str, str]]:
    pairs = parts.query if get_mode else parts.form
    data = [_data_urlencode(name, value) for name, value in pairs]
    if parts.raw_body is not None:
        body = "@-" if _needs_stdin(parts) else parts.raw_body.decode("utf-8", "surrogateescape")
        data.append(("--data-binary", body))
    return data


def _data_urlencode(name: str, value: str) -> tuple[str, str]:
    """curl encodes only the value of name=value: names needing encoding go in pre-encoded."""
    if quote_plus(name) == name:
        return "--data-urlencode", f"{name}={value}"
    return "--data", f"{quote_plus(name)}={quote_plus(value)}"


def _tls(verify: bool | str, word: Callable[[str], str]) -> list[str]:
    if verify is False:
        return ["-k"]
    return ["--cacert", word(verify)] if isinstance(verify, str) else []


def _headers(headers: Mapping[str, str], redactor: Redactor,
             word: Callable[[str], str]) -> list[str]:
    """``-H`` per header; registered Basic credentials as ``-u`` with their placeholders."""
    words: list[str] = []
    for name, value in headers.items():
        is_auth = name.lower() == "authorization"
        basic = redactor.basic_credential(value) if is_auth else None
        if basic is not None:
            words += ["-u", f'"{basic.username}:{basic.password}"']
        elif not value:  # "Name:" makes curl send no such header (not even its default)
            words += ["-H", word(f"{name}:")]
        else:
            words += ["-H", word(f"{name}: {redactor.header(name, value)}")]
    return words


def _shell_word(text: str, redactor: Redactor) -> str:
    """One double-quoted shell word: placeholders stay shell references, the rest literal."""
    pieces = [(("enc" if s.encoded else "var"), s.text[1:])
              if s.placeholder and _PLACEHOLDER.fullmatch(s.text)
              else ("lit", s.text) for s in redactor.segments(text)]
    return _render_word(pieces)


def _render_word(pieces: Sequence[tuple[str, str]]) -> str:
    """``$NAME``, or ``${NAME}`` when a name character follows; literals escaped."""
    out = ['"']
    for index, (kind, text) in enumerate(pieces):
        if kind == "enc":  # stood encoded in raw bytes: the shell encodes it (every byte)
            out.append(_PERCENT_ENCODED.format(text))
        elif kind == "var":
            after = pieces[index + 1] if index + 1 < len(pieces) else ("var", "")
            braced = after[0] == "lit" and _IDENT_CHAR.match(after[1][:1]) is not None
            out.append(f"${{{text}}}" if braced else f"${text}")
        else:
            out.append("".join(_escape_char(c) for c in text))
    out.append('"')
    return "".join(out)


def _escape_char(char: str) -> str:
    """Escape for double quotes; control and undecodable bytes leave the quotes as $'\\xHH'."""
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a raw byte kept by surrogateescape
        return f"\"$'\\x{code - 0xDC00:02x}'\""
    if code < 0x20 or code == 0x7F:
        return f"\"$'\\x{code:02x}'\""
    return "\\" + char if char in '\\"$`' else char
