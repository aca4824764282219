"""The forms a secret takes once a target echoes it, and the patterns that find them.

A target may send back what it was sent in any encoding: percent-encoded, form-encoded, XML/HTML
or JSON-escaped, base64 at any alignment, split across lines. ``redact.py`` replaces secrets; this
module only knows what a secret can look like and how a text is searched for it: its literal
forms, the pattern of any mixture of encodings (``mixed_pattern``), a trie of many words in one
pattern (``trie``), whose cost follows a text's length, however many secrets there are, that
pattern for all the secrets at once (``Whole``), and the runs of a text where a form can stand
at all (``runs_of``).
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, quote_plus

MIN_SECRET_LEN: Final = 4
# A secret's base64 inside a longer base64 text is matched by its stable middle part, which is
# this many bytes shorter than the secret; shorter secrets' middles would match by chance.
MIN_BASE64_LEN: Final = 8
_PERCENT = re.compile(r"%[0-9A-F]{2}")
VALUE_END: Final = r"(?=[&;#\"'\s]|$)"
# Between two characters of a secret: a line break (real or JSON-escaped), maybe indented.
_GAP: Final = r"(?:[ \t]*(?:\r?\n|\r|(?:\\r)?\\n)[ \t]*)?"
_AMP: Final = "&(?:amp;)*"  # a reference escaped once more (or more) shows the same text
_NAMED: Final = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "(?:apos|#39)"}


def encoded_forms(secret: str) -> tuple[str, ...]:
    """The literal forms a secret takes in URLs, form bodies, headers, JSON and HTML, and its
    base64 (as is, and the middle parts that stand at any alignment), longest first."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
             json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             html.escape(secret), html.escape(secret, quote=False)}
    forms |= {_PERCENT.sub(lambda m: m.group(0).lower(), f) for f in forms}
    forms |= set(base64_forms(secret))
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


def base64_forms(secret: str) -> tuple[str, ...]:
    """The base64 of ``secret`` (standard and URL-safe alphabets): whole, and the middle part
    that stays the same at each of the three alignments inside a longer base64 text."""
    raw = secret.encode("utf-8")
    if len(raw) < MIN_BASE64_LEN:
        return ()
    found: set[str] = set()
    for shift in range(3):
        coded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        first = (0, 2, 3)[shift]  # the characters the padding bytes touch
        last = len(coded) - (4 if (shift + len(raw)) % 3 else 0)  # those the next bytes touch
        found.add(coded[first:last])
        if shift == 0:
            found.add(coded)
    found |= {f.replace("+", "-").replace("/", "_") for f in found}
    return tuple(sorted(found))


def _hex(value: int, width: int) -> str:
    """Hex digits of either case, as a pattern."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d
                   for d in f"{value:0{width}X}")


def _any_form(char: str) -> str:
    """One character as it may stand in any encoding: a pattern."""
    code = ord(char)
    forms = [re.escape(char), "".join(f"%{_hex(b, 2)}" for b in char.encode("utf-8")),
             f"{_AMP}#0*{code};", f"{_AMP}#[xX]0*{_hex(code, 1)};"]
    forms += [r"\+"] if char == " " else []
    forms += [f"{_AMP}{_NAMED[char]};"] if char in _NAMED else []
    forms += [r"\\u" + _hex(code, 4)] if code < 0x10000 else []
    forms += [re.escape("\\" + char)] if char in '"\\/' else []
    return "(?:" + "|".join(forms) + ")"


def mixed_pattern(text: str) -> str:
    """``text`` with each character in any encoding and a line break allowed between any two."""
    return _GAP.join(_any_form(c) for c in text)


@dataclass(frozen=True)
class Pieces:
    """What one secret adds to the patterns: its literal forms, and (for one long enough to be
    found anywhere) what its mixed forms read as once decoded (none for a short one)."""

    forms: tuple[str, ...]
    needles: tuple[str, ...]


def trie(words: Iterable[str]) -> str:
    """A pattern matching any of ``words``, the longest at a place first, as a trie: each
    character is tried once per branch, so it costs what the text's length does, however many
    words there are (an alternation of them tries each in turn)."""
    root: dict[str, dict[str, Any]] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _trie_node(root)


def _trie_node(node: dict[str, dict[str, Any]]) -> str:
    branches = [re.escape(char) + _trie_node(child) for char, child in sorted(node.items())
                if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if "" in node else body


def secret_pieces(secret: str) -> Pieces:
    """What one secret adds to the patterns (see ``Pieces``)."""
    if len(secret) < MIN_SECRET_LEN:
        return Pieces(url_forms(secret), ())
    return Pieces(encoded_forms(secret), (secret, *base64_forms(secret)))


@functools.lru_cache(maxsize=256)
def mixed(needles: tuple[str, ...]) -> re.Pattern[str]:
    """The pattern of a secret's mixed forms, compiled the first time one may hide somewhere."""
    return re.compile("|".join(mixed_pattern(m) for m in sorted(needles, key=len, reverse=True)))


def url_forms(secret: str) -> tuple[str, ...]:
    """A short secret's forms as a parameter value (only there is it replaced)."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret)}
    forms |= {_PERCENT.sub(lambda m: m.group(0).lower(), f) for f in forms}
    return tuple(sorted(forms, key=lambda f: (-len(f), f)))


def alternatives(long_forms: list[str], short_forms: list[str]) -> list[str]:
    """Long secrets anywhere, longest first; short ones only as a whole parameter value."""
    ordered = sorted(set(long_forms), key=len, reverse=True)
    alternatives = [re.escape(form) for form in ordered]
    alternatives += [
        f"(?<==){re.escape(form)}{VALUE_END}"
        for form in sorted(set(short_forms), key=len, reverse=True)
    ]
    return alternatives


@dataclass(frozen=True)
class Whole:
    """Every secret's literal forms in one pattern, and their needles (what a mixed form reads
    as decoded) in another, each of which names its secret."""

    forms: re.Pattern[str]
    needles: re.Pattern[str] | None
    secret_of: dict[str, str]

    def hiding(self, views: Iterable[str]) -> list[str]:
        """The secrets whose needles stand in any of ``views``: the longest needle found at
        each place, and every needle that starts it (a shorter secret's stands there too)."""
        if self.needles is None:
            return []
        found = {m.group(0) for view in views for m in starts(self.needles, view)}
        return list(dict.fromkeys(self.secret_of[f[:length]] for f in found
                                  for length in range(1, len(f) + 1)
                                  if f[:length] in self.secret_of))


def alphabet_of(pieces: Iterable[Pieces]) -> re.Pattern[str] | None:
    """A run of the characters the secrets' literal forms are made of, as long as the shortest
    form or longer; None when a short secret (a parameter value only) is among them."""
    forms: list[str] = []
    for piece in pieces:
        if not piece.needles:
            return None
        forms += piece.forms
    return runs_of(forms)


def runs_of(words: list[str]) -> re.Pattern[str] | None:
    """A run of the characters ``words`` are made of, as long as the shortest word or longer:
    where one of them may stand (None: no word)."""
    if not words:
        return None
    chars = "".join(re.escape(c) for c in sorted(set("".join(words))))
    return re.compile(f"(?<![{chars}])[{chars}]{{{min(map(len, words))},}}")


def starts(pattern: re.Pattern[str], text: str, start: int = 0, end: int | None = None
            ) -> Iterator[re.Match[str]]:
    """Every match of ``pattern`` in ``text`` (between ``start`` and ``end``), the longest at
    each place where one starts, those that start inside another too (two secrets' forms may
    overlap: both are found)."""
    for found in pattern.finditer(text, start, len(text) if end is None else end):
        yield found
        for place in range(found.start() + 1, found.end()):
            if (inner := pattern.match(text, place)) is not None:
                yield inner
