"""Every byte that leaves the process, redacted on its way out: files, and the terminal.

A target may echo what it was sent anywhere (an error page quoting the URL, a debug page dumping
the parameters and headers), and that text may reach any message, excerpt or signature. So
whatever the suite writes goes through this module, which passes the finished text through the
process's one redaction function (``redact.redact``) last, after serialisation: JSON escaping,
HTML escaping and pretty-printing cannot carry a secret past it. No other module of the package
writes a file or the standard streams (``tests/test_architecture.py`` checks it), and the CLI
and the plugin wrap ``sys.stdout`` and ``sys.stderr`` in ``RedactingStream`` for a run, so
pytest's own lines, warnings and tracebacks pass the same sink.

The largest files (cases.json.gz, junit.xml: megabytes for a full run) pass in blocks of about
``BLOCK_CHARS``, cut where no secret's form can run across (between a JSON document's values,
between two XML or HTML tags: a secret inside a string or a text is escaped there, so it never
spans the quote or the markup around it), so the whole text is never held two or three times.
A file this module wrote whole (``write_tagged``) is not read again by ``rewrite`` unless a
secret was learnt since.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final, Protocol, TextIO

from conformance.wire.redact import SECRETS, redact

BLOCK_CHARS: Final = 1 << 20  # what is redacted at once of a text written in blocks
_BETWEEN_TAGS: Final = b"><"  # where an XML or HTML file is cut into blocks (after the ">")


class Readable(Protocol):
    """A binary stream read in blocks (a file, a gzip stream, a BytesIO)."""

    def read(self, size: int, /) -> bytes: ...


# The files written whole here: the secrets' generation they were redacted with, and the file's
# modification time and size then (a file written again since is not taken for redacted).
_REDACTED_AT: Final[dict[Path, tuple[int, int, int]]] = {}


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``, redacted; the parent directory is made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(redact(text), encoding="utf-8")
    return path


def write_gzip(path: Path, text: str) -> Path:
    """Write ``text`` gzipped (reproducibly: no timestamp), redacted before it is packed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(redact(text).encode("utf-8"), compresslevel=6, mtime=0))
    return path


def write_gzip_pieces(path: Path, pieces: Iterable[str]) -> Path:
    """Write a text that comes in pieces gzipped, redacted a block of pieces at a time: the
    caller cuts its pieces where no secret's form can run across (between JSON values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               compresslevel=6, mtime=0) as packed:
        for block in _blocks(pieces):
            packed.write(redact(block).encode("utf-8"))
    return path


def _blocks(pieces: Iterable[str]) -> Iterator[str]:
    """The pieces joined into blocks of at least BLOCK_CHARS characters (the last one less)."""
    held: list[str] = []
    size = 0
    for piece in pieces:
        held.append(piece)
        size += len(piece)
        if size >= BLOCK_CHARS:
            yield "".join(held)
            held, size = [], 0
    if held:
        yield "".join(held)


def _tag_blocks(source: Readable) -> Iterator[bytes]:
    """An XML or HTML file in blocks of about BLOCK_CHARS bytes, each cut between two tags
    (">" never stands inside a UTF-8 sequence of more bytes)."""
    rest = b""
    while chunk := source.read(BLOCK_CHARS):
        rest += chunk
        cut = rest.rfind(_BETWEEN_TAGS) + 1
        if cut > 0:
            yield rest[:cut]
            rest = rest[cut:]
    if rest:
        yield rest


def redacted_bytes(data: bytes) -> bytes:
    """A UTF-8 document (XML, JSON, HTML) redacted; a gzipped one unpacked, redacted, packed."""
    if data[:2] == b"\x1f\x8b":
        return gzip.compress(redacted_bytes(gzip.decompress(data)), compresslevel=6, mtime=0)
    return redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


def write_bytes(path: Path, data: bytes) -> Path:
    """Write a UTF-8 document's bytes (or a gzipped one), redacted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(redacted_bytes(data))
    return path


def write_tagged(path: Path, sources: Iterable[Readable]) -> Path:
    """Write an XML or HTML file from streams of its bytes, one after another (each ending
    between two tags), redacted in blocks cut between tags: no block or file is held whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    generation = SECRETS.generation
    with path.open("wb") as out:
        for source in sources:
            for block in _tag_blocks(source):
                out.write(redacted_bytes(block))
    _REDACTED_AT[path.resolve()] = (generation, *_stamp(path))
    return path


def _stamp(path: Path) -> tuple[int, int]:
    """What tells a file written again: its modification time and size."""
    found = path.stat()
    return found.st_mtime_ns, found.st_size


def rewrite(path: Path) -> None:
    """Pass a file another writer made (pytest's junit.xml, pytest-html's page) through the
    sink, in place, in blocks cut between tags; a file that is not there is left so, and one
    ``write_tagged`` wrote with every secret known now is left as it is (read again, it would
    not change)."""
    with contextlib.suppress(FileNotFoundError):
        if _REDACTED_AT.get(path.resolve()) == (SECRETS.generation, *_stamp(path)):
            return
    redacting = path.with_name(path.name + ".redacting")
    changed = False
    with contextlib.suppress(FileNotFoundError):
        with path.open("rb") as source, redacting.open("wb") as out:
            for block in _tag_blocks(source):
                cleaned = redacted_bytes(block)
                changed = changed or cleaned != block
                out.write(cleaned)
        if changed:
            redacting.replace(path)
    redacting.unlink(missing_ok=True)


def echo(text: str, *, err: bool = False, end: str = "\n") -> None:
    """Print to the terminal, redacted."""
    stream = sys.stderr if err else sys.stdout
    stream.write(redact(text) + end)
    stream.flush()


class RedactingStream(io.TextIOBase):
    """A text stream that redacts each line before it passes it on.

    Text is held until a line ends (or the stream is flushed), so a secret written in pieces
    (pytest writes a report word by word) is still whole when it is redacted; a carriage return
    (the rewritten progress line) ends a piece too."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
        if cut >= 0:
            ready, self._pending = self._pending[:cut + 1], self._pending[cut + 1:]
            self.inner.write(redact(ready))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.inner.write(redact(self._pending))
            self._pending = ""
        self.inner.flush()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def fileno(self) -> int:
        return self.inner.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", "utf-8")

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def redacted_streams() -> Iterator[None]:
    """``sys.stdout`` and ``sys.stderr`` redacted for the block (a run); nested blocks add
    nothing."""
    saved = sys.stdout, sys.stderr
    wrap = [not isinstance(s, RedactingStream) for s in saved]
    if wrap[0]:
        sys.stdout = RedactingStream(saved[0])
    if wrap[1]:
        sys.stderr = RedactingStream(saved[1])
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = saved
