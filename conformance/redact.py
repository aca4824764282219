"""Replace secrets (API key, token, password, Basic credentials) by placeholder names.

Everything a run writes (URLs, headers, bodies, curl lines, error messages) goes through one
``Redactor``. A secret is replaced in every form it can take on the wire: as is, percent-encoded
(upper- and lower-case hex), form-encoded (``quote_plus``), and, for Basic credentials, as the
base64 of ``user:password``. Credential headers no registered secret matched are masked whole:
a credential we did not give (a target's cookie, a proxy's) is still a credential.

Secrets shorter than ``MIN_SECRET_LEN`` characters are too likely to occur by chance (a key
``"a"`` would turn every ``a`` of a page into a placeholder), so they are replaced only as a
whole parameter value: after ``=`` and before ``&``, ``;``, ``#``, a quote, whitespace or the
end. Empty secrets are ignored: there is nothing to leak.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, quote_plus

MIN_SECRET_LEN: Final = 4
BASIC_PLACEHOLDER: Final = "$KEEPCALL_BASIC"
USERNAME_PLACEHOLDER: Final = "$KEEPCALL_USERNAME"
PASSWORD_PLACEHOLDER: Final = "$KEEPCALL_PASSWORD"
SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
MASK: Final = "[redacted]"

_PERCENT = re.compile(r"%[0-9A-F]{2}")
_VALUE_END: Final = r"(?=[&;#\"'\s]|$)"


@dataclass(frozen=True)
class Segment:
    """A piece of redacted text: literal text, or a placeholder that stood for a secret."""

    text: str
    placeholder: bool
    encoded: bool = False  # the secret stood there percent- or form-encoded


@dataclass(frozen=True)
class BasicCredential:
    """The placeholders a curl line uses for a registered Basic credential (``-u``)."""

    username: str
    password: str


def encoded_forms(secret: str) -> tuple[str, ...]:
    """The forms a secret takes in URLs, form bodies and headers, longest first."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms |= {_PERCENT.sub(lambda m: m.group(0).lower(), f) for f in forms}
    return tuple(sorted(forms, key=len, reverse=True))


class Redactor:
    """Replaces every registered secret, in all its encodings, by its placeholder."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets: dict[str, str] = {}
        self._basic: dict[str, BasicCredential] = {}
        self._pattern: re.Pattern[str] | None = None
        self._lookup: dict[str, str] = {}
        for secret, placeholder in (secrets or {}).items():
            self.add(secret, placeholder)

    def add(self, secret: str, placeholder: str) -> None:
        """Register a secret learnt during the run (e.g. a token); empty secrets are ignored."""
        if secret:
            self._secrets[secret] = placeholder
            self._pattern = None

    def add_basic(
        self, username: str, password: str, *, placeholder: str = BASIC_PLACEHOLDER,
        username_placeholder: str = USERNAME_PLACEHOLDER,
        password_placeholder: str = PASSWORD_PLACEHOLDER,
    ) -> str:
        """Register Basic credentials; returns the header value to send (``Basic <base64>``).

        The base64 of ``user:password`` becomes ``placeholder`` (so the whole header reads
        ``Basic $KEEPCALL_BASIC``) and the password becomes ``password_placeholder``.
        """
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self.add(token, placeholder)
        self.add(password, password_placeholder)
        self._basic[token] = BasicCredential(username_placeholder, password_placeholder)
        return f"Basic {token}"

    def basic_credential(self, authorization: str) -> BasicCredential | None:
        """The placeholders for an ``Authorization: Basic`` value registered with add_basic."""
        scheme, _, token = authorization.strip().partition(" ")
        return self._basic.get(token.strip()) if scheme.lower() == "basic" else None

    def segments(self, text: str) -> list[Segment]:
        """Split text into literal pieces and placeholders (curl lines quote them differently)."""
        pattern = self._compiled()
        if pattern is None:
            return [Segment(text, False)] if text else []
        out: list[Segment] = []
        position = 0
        for match in pattern.finditer(text):
            if match.start() > position:
                out.append(Segment(text[position:match.start()], False))
            found = match.group(0)
            out.append(Segment(self._lookup[found], True, found not in self._secrets))
            position = match.end()
        if position < len(text):
            out.append(Segment(text[position:], False))
        return out

    def __call__(self, text: str) -> str:
        return "".join(s.text for s in self.segments(text))

    def header(self, name: str, value: str) -> str:
        """A header value redacted; a credential header no secret matched is masked."""
        redacted = self(value)
        if name.lower() in SENSITIVE_HEADERS and redacted == value:
            scheme = value.split(" ", 1)[0] if " " in value else ""
            return f"{scheme} {MASK}".strip()
        return redacted

    def headers(self, items: Iterable[tuple[str, str]]) -> dict[str, str]:
        """Headers as an exchange records them: lower-case names, values redacted."""
        return {name.lower(): self.header(name, value) for name, value in items}

    def _compiled(self) -> re.Pattern[str] | None:
        if self._pattern is None and self._secrets:
            self._lookup = {}
            long_forms: list[str] = []
            short_forms: list[str] = []
            for secret, placeholder in self._secrets.items():
                for form in encoded_forms(secret):
                    self._lookup.setdefault(form, placeholder)
                    target = long_forms if len(secret) >= MIN_SECRET_LEN else short_forms
                    target.append(form)
            self._pattern = re.compile("|".join(_alternatives(long_forms, short_forms)))
        return self._pattern


def _alternatives(long_forms: list[str], short_forms: list[str]) -> list[str]:
    """Long secrets anywhere, longest first; short ones only as a whole parameter value."""
    ordered = sorted(set(long_forms), key=len, reverse=True)
    alternatives = [re.escape(form) for form in ordered]
    alternatives += [
        f"(?<==){re.escape(form)}{_VALUE_END}"
        for form in sorted(set(short_forms), key=len, reverse=True)
    ]
    return alternatives
