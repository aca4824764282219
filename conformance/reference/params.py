"""Strict decoding of query strings and form bodies, and a view that resolves duplicates.

urllib's parsers silently keep malformed escapes and replace bad UTF-8; the reference server
must instead answer those inputs with an error, so it decodes by hand.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal
from urllib.parse import unquote_to_bytes

Pairs = list[tuple[str, str]]
DuplicatePolicy = Literal["reject", "first", "last"]

_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")


class BadEncoding(ValueError):
    """A query string or body that is not valid percent-encoded UTF-8."""


class MalformedEscape(BadEncoding):
    """A ``%`` not followed by two hex digits (``%zz``, a lone ``%``)."""


def decode_pairs(raw: bytes, drop_undecodable: bool = False) -> Pairs:
    """``a=1&b=2`` -> [("a", "1"), ("b", "2")]; BadEncoding on any malformed piece, or with
    ``drop_undecodable`` that piece left out and the rest read (Tomcat: "Character decoding
    failed ... has been ignored")."""
    if _BAD_ESCAPE.search(raw) and not drop_undecodable:
        raise MalformedEscape("Malformed percent-encoding in the parameters.")
    pairs: Pairs = []
    for piece in raw.split(b"&"):
        if not piece:
            continue
        try:
            pairs.append(_pair(piece))
        except BadEncoding:
            if not drop_undecodable:
                raise
    return pairs


def _pair(piece: bytes) -> tuple[str, str]:
    if _BAD_ESCAPE.search(piece):
        raise MalformedEscape("Malformed percent-encoding in the parameters.")
    name, _, value = piece.partition(b"=")
    return _decode(name), _decode(value)


def _decode(part: bytes) -> str:
    try:
        return unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        raise BadEncoding("The parameters are not valid UTF-8.") from None


class Params:
    """The request's parameters in order; one value per name under a duplicate policy.

    ``spellings`` (lower-case spelling -> name) folds the letter case of the names it knows, so
    that ``callid`` is read as ``callID`` (and counts as a duplicate of it).
    """

    def __init__(self, pairs: Pairs, duplicates: DuplicatePolicy,
                 spellings: Mapping[str, str] | None = None) -> None:
        self.pairs = pairs
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            known = name if spellings is None else spellings.get(name.lower(), name)
            self._values.setdefault(known, []).append(value)
        self._index = -1 if duplicates == "last" else 0

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[self._index] if values else None

    def names(self) -> set[str]:
        return set(self._values)

    def duplicated(self) -> list[str]:
        return [name for name, values in self._values.items() if len(values) > 1]
