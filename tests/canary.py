"""Secret canaries: find any secret a run used in the files it wrote or the text it printed.

A redactor that misses one encoding leaks the secret in exactly that encoding, so each secret is
looked for in every form it can take on the wire or in a report: as is, percent-encoded (upper-
and lower-case hex, with and without ``/`` kept), form-encoded, JSON- and HTML-escaped, and, for a
login, as the base64 of ``user:password`` that an ``Authorization: Basic`` header carries.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

_HEX = re.compile(r"%[0-9A-F]{2}")
PREFIX_FROM = 16  # secrets this long are looked for by their first half too


@dataclass(frozen=True)
class Leak:
    """A secret found: where, and in which form."""

    where: str
    form: str

    def __str__(self) -> str:
        return f"{self.form} form found in {self.where}"


def forms(secret: str) -> dict[str, bytes]:
    """Every form of ``secret`` worth looking for, by name (forms equal to others collapse)."""
    shown = {"raw": secret, "percent": quote(secret, safe=""), "percent-path": quote(secret),
             "form": quote_plus(secret), "json": json.dumps(secret)[1:-1],
             "html": html.escape(secret)}
    shown |= {f"{name}-lower": _HEX.sub(lambda m: m.group(0).lower(), text)
              for name, text in list(shown.items()) if _HEX.search(text)}
    if len(secret) >= PREFIX_FROM:  # a secret cut in two (an excerpt, the byte cap)
        shown["first-half"] = secret[:len(secret) // 2]
    return {name: text.encode() for name, text in shown.items()}


def basic_forms(username: str, password: str) -> dict[str, bytes]:
    """The Basic credential as sent (base64 of ``user:password``), and its URL forms."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {f"basic-{name}": text for name, text in forms(token).items()}


def needles(secrets: Iterable[str], logins: Iterable[tuple[str, str]] = ()
            ) -> dict[str, bytes]:
    """All the byte strings to look for, labelled ``secret #i: form``."""
    found: dict[str, bytes] = {}
    for i, secret in enumerate(secrets):
        found |= {f"secret #{i} {form}": text for form, text in forms(secret).items()}
    for i, (username, password) in enumerate(logins):
        found |= {f"login #{i} {form}": text
                  for form, text in basic_forms(username, password).items()}
    return found


def _files(directory: Path) -> Iterator[Path]:
    yield from (p for p in sorted(directory.rglob("*")) if p.is_file())


def _content(path: Path) -> bytes:
    """A file's bytes as a reader gets them: a gzipped one (cases.json.gz) unpacked, so a
    secret inside cannot hide behind the compression."""
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def scan(directory: Path | None, secrets: Iterable[str], logins: Iterable[tuple[str, str]] = (),
         texts: dict[str, str | bytes] | None = None) -> list[Leak]:
    """Every leak of ``secrets`` in the files under ``directory`` (recursively) and ``texts``."""
    wanted = needles(secrets, logins)
    places: list[tuple[str, bytes]] = [(str(p), _content(p))
                                       for p in (_files(directory) if directory else ())]
    places += [(name, text.encode() if isinstance(text, str) else text)
               for name, text in (texts or {}).items()]
    return [Leak(where, label) for where, data in places for label, needle in wanted.items()
            if needle and needle in data]


def assert_no_leak(directory: Path | None, secrets: Iterable[str],
                   logins: Iterable[tuple[str, str]] = (),
                   texts: dict[str, str | bytes] | None = None) -> None:
    """Fail naming each leak, and make sure the scan looked at something."""
    leaks = scan(directory, secrets, logins, texts)
    assert not leaks, "secrets leaked: " + "; ".join(map(str, leaks[:10]))
    if directory is not None:
        assert any(_files(directory)), f"nothing was written to {directory}"
