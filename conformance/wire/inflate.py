"""A response body kept within the byte cap, decoded without ever inflating past it.

The client asks for ``Accept-Encoding: identity``, so a conformant target never compresses,
but a hostile one may answer with a decompression bomb: a few KB of gzip inside gzip that
inflate to gigabytes. httpx decodes each network read in one call, so a single read could
become gigabytes before any cap is checked. Here the raw bytes are decoded in pieces of at
most ``PIECE`` bytes, pulled one at a time through the stack of codings, and the cap is
checked on every piece: memory stays within the cap, a piece per coding and the read in
hand.

A plain body longer than the cap is cut and flagged ``truncated``: its start is still judged.
A coded body that inflates past the cap raises ``TooLarge``: the target sent compression it
was not asked for, and what lies past the cap of a bomb is no answer to judge. A body in a
coding this module does not undo (br, zstd, a misspelt name) is kept as received, as httpx
does for codings it lacks.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

PIECE: Final = 64 * 1024
# A compressed body is at most a little longer than what it encodes (stored blocks add 5
# bytes per 64 KB): more raw bytes than this many caps means padding meant to keep us reading.
RAW_CAPS: Final = 2
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
DECODED: Final = frozenset({"gzip", "x-gzip", "deflate"})


class TooLarge(Exception):
    """The coded body inflates (or, still compressed, runs) past the cap."""


def content_codings(values: Iterable[str]) -> tuple[str, ...]:
    """The codings of Content-Encoding header values, in the order they were applied."""
    listed = (part.strip().lower() for value in values for part in value.split(","))
    return tuple(coding for coding in listed if coding and coding != "identity")


class CappedBody:
    """The body read so far: at most ``cap`` bytes, decoded when it came coded."""

    def __init__(self, codings: Sequence[str], cap: int) -> None:
        self.codings = tuple(codings) if set(codings) <= DECODED else ()
        self.cap = cap
        self.data = bytearray()
        self.truncated = False
        self._raw = 0
        self._stages = [_Stage(coding) for coding in reversed(self.codings)]

    def add(self, raw: bytes) -> bool:
        """Take one network read; True once nothing more is wanted (stop reading).

        Raises ``TooLarge`` past the cap, ``zlib.error`` for data its coding cannot decode.
        """
        if not self._stages:
            return self._keep(raw)
        self._raw += len(raw)
        if self._raw > RAW_CAPS * self.cap:
            raise TooLarge(f"{self._named()} body sends more than {RAW_CAPS * self.cap} "
                           "bytes still compressed")
        for piece in _undo(self._stages, raw):
            self._keep_decoded(piece)
        return self._stages[0].ended

    def _keep(self, piece: bytes) -> bool:
        """Keep what fits; True when the piece did not fit (the body is cut there)."""
        room = self.cap - len(self.data)
        self.data += piece[:room]
        self.truncated = len(piece) > room
        return self.truncated

    def _keep_decoded(self, piece: bytes) -> None:
        if self._keep(piece):
            raise TooLarge(f"{self._named()} body inflates past the cap of {self.cap} bytes "
                           "(max_response_bytes)")

    def _named(self) -> str:
        return ", ".join(self.codings)


class _Stage:
    """One coding, undone in pieces of at most ``PIECE`` bytes; data after its end is dropped.

    ``deflate`` is meant to be zlib-wrapped (RFC 9110), but some servers send it raw: the
    first two bytes tell which, so they are held until both are known.
    """

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._held = b""
        self._inflater: zlib._Decompress | None = None

    @property
    def ended(self) -> bool:
        return self._inflater is not None and self._inflater.eof

    def pieces(self, data: bytes) -> Iterator[bytes]:
        inflater = self._started(data)
        if inflater is None:
            return
        data, self._held = self._held, b""
        more = True
        while more and not inflater.eof:
            piece = inflater.decompress(data, PIECE)
            data = inflater.unconsumed_tail
            more = bool(data) or len(piece) == PIECE  # a full piece may leave output pending
            if piece:
                yield piece

    def _started(self, data: bytes) -> zlib._Decompress | None:
        """The decompressor, created once the stream's first bytes tell its wrapper."""
        self._held += data
        if self._inflater is None and (self._coding != "deflate" or len(self._held) >= 2):
            self._inflater = zlib.decompressobj(_wbits(self._coding, self._held))
        return self._inflater


def _wbits(coding: str, head: bytes) -> int:
    if coding != "deflate":
        return _GZIP_WBITS
    wrapped = head[0] & 0x0F == 8 and int.from_bytes(head[:2], "big") % 31 == 0
    return zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS


def _undo(stages: Sequence[_Stage], data: bytes) -> Iterator[bytes]:
    """Pull ``data`` through the stages, outermost coding first, one piece at a time."""
    if not stages:
        yield data
        return
    for piece in stages[0].pieces(data):
        yield from _undo(stages[1:], piece)
