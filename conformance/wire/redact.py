"""Replace secrets (API key, token, password, Basic credentials) by placeholder names.

Everything a run writes or prints goes through the process's one ``Redactor``, ``SECRETS``
(``sink.py`` writes files and the terminal through it; a secret learnt during the run, a token,
joins it). A target may echo what it was sent in any form, so a secret is replaced in every form
it can take: as is; percent-encoded (either hex case, whole or in part) or form-encoded;
XML/HTML-escaped (named or numeric references, any mixture); JSON-escaped; split across lines
(a line break, optionally indented, between any two characters, as pretty-printing or MIME
wrapping leaves it); and base64-encoded at any alignment inside a longer base64 text. For Basic
credentials, the base64 of ``user:password`` too. Credential headers no registered secret
matched are masked whole: a credential we did not give (a target's cookie, a proxy's) is still
a credential. A text cut short (an excerpt, a body cut at the byte cap) that ends in the first
characters of a secret has that start masked too (``excerpt``).

The literal forms are matched by one fast alternation on every string; the pattern that allows
any mixture of encodings and line breaks runs only on texts that hold a sign of one (``&``,
``%``, a backslash, a line break), which keeps the cost per exchange near nothing. A long text
(a result file: megabytes, and a run that learnt hundreds of tokens) is searched once by one
pattern of every secret's forms, a trie (``secret_forms.trie``), and once more for what the
mixed forms read as decoded: its cost follows the text's length, not the length times the
secrets. The literal forms are looked for only in the runs of the characters they are made of,
as long as the shortest form at least (one quick pattern finds them): a result file's case ids
and requirement ids are cut by their ``|`` or too short, and are not tried against each form.

Secrets shorter than ``MIN_SECRET_LEN`` characters are too likely to occur by chance (a key
``"a"`` would turn every ``a`` of a page into a placeholder), so they are replaced only as a
whole parameter value: after ``=`` and before ``&``, ``;``, ``#``, a quote, whitespace or the
end. Empty secrets are ignored: there is nothing to leak.
"""

from __future__ import annotations

import base64
import html
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import unquote, unquote_plus

from conformance.wire.secret_forms import (
    MIN_SECRET_LEN,
    VALUE_END,
    Pieces,
    Whole,
    alphabet_of,
    alternatives,
    mixed,
    runs_of,
    secret_pieces,
    starts,
    trie,
)

CHUNK: Final = 8  # secrets a literal pattern holds
HEAD: Final = MIN_SECRET_LEN  # needles are looked up by this many first characters
MEMO_CHARS: Final = 256  # texts up to this long are remembered redacted ...
MEMO_TEXTS: Final = 4096  # ... this many of them at most (then forgotten all at once)
# From this many characters on, a text is searched by one pattern of all the secrets (compiled
# once for them: a few tenths of a second for a thousand tokens) instead of one per chunk.
LONG_TEXT: Final = 1 << 16
BASIC_PLACEHOLDER: Final = "$KEEPCALL_BASIC"
USERNAME_PLACEHOLDER: Final = "$KEEPCALL_USERNAME"
PASSWORD_PLACEHOLDER: Final = "$KEEPCALL_PASSWORD"
SENSITIVE_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie"})
MASK: Final = "[redacted]"
CUT_MARK: Final = "..."

# Signs that a text may hold a secret in a mixed encoding or split across lines.
_MIXED_SIGNS: Final = re.compile(r"[&%\\\r\n]")
_LINE_BREAK: Final = re.compile(r"[ \t]*(?:\r?\n|\r|(?:\\r)?\\n)[ \t]*")
_JSON_ESCAPE: Final = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/])")
_JSON_SHORT: Final = {'"': '"', "\\": "\\", "/": "/"}
_REFERENCE: Final = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|amp|lt|gt|quot|apos);")
_UNESCAPE_DEPTH: Final = 4  # references escaped this many times over are still decoded


@dataclass(frozen=True)
class Segment:
    """A piece of redacted text: literal text, or a placeholder that stood for a secret."""

    text: str
    placeholder: bool
    encoded: bool = False  # the secret stood there in another form (percent-encoded, ...)


@dataclass(frozen=True)
class BasicCredential:
    """The placeholders a curl line uses for a registered Basic credential (``-u``)."""

    username: str
    password: str


class Redactor:
    """Replaces every registered secret, in all its forms, by its placeholder."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self._secrets: dict[str, str] = {}
        self._basic: dict[str, BasicCredential] = {}
        self._literal: list[re.Pattern[str]] | None = None
        # The literal patterns of each CHUNK secrets in turn, kept: a secret added later
        # recompiles only its own chunk's.
        self._chunks: dict[tuple[str, ...], re.Pattern[str]] = {}
        self._lookup: dict[str, str] = {}
        # Each secret's forms, made once: a run that learns a token a case (a target whose
        # RequestToken answers cannot be read) must not rebuild them all each time.
        self._pieces: dict[str, Pieces] = {}
        self._whole: Whole | None = None  # the one pattern of all, for long texts
        self._alphabet: re.Pattern[str] | None = None  # a run of the forms' characters
        self._needle_runs: re.Pattern[str] | None = None  # a run of the needles' characters
        # Short texts redacted with the secrets registered now: every exchange records the
        # same few header values (most of its redaction), and no secret was added since.
        self._memo: dict[str, str] = {}
        self._heads: dict[str, list[tuple[str, str]]] | None = None  # needles, by their start
        # One process-wide redactor serves every thread (a test's targets in threads, each
        # learning its token): a secret is added, and what is built of the secrets read,
        # under this lock, so no text is redacted with half of what was added.
        self._lock = threading.RLock()
        # Secrets registered or changed so far: a text redacted when it was this is redacted
        # still (a file written whole need not be read again).
        self.generation = 0
        for secret, placeholder in (secrets or {}).items():
            self.add(secret, placeholder)

    def add(self, secret: str, placeholder: str) -> None:
        """Register a secret learnt during the run (e.g. a token); empty secrets are ignored."""
        with self._lock:
            if secret and self._secrets.get(secret) != placeholder:
                self._secrets[secret] = placeholder
                self.generation += 1
                self._literal, self._whole, self._heads = None, None, None
                self._memo.clear()

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
        with self._lock:
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
        with self._lock:
            return self._segments(text)

    def _segments(self, text: str) -> list[Segment]:
        literals = self._compiled()
        if not literals:
            return [Segment(text, False)] if text else []
        whole = self._whole_pattern() if len(text) >= LONG_TEXT and len(literals) > 1 else None
        if whole is None:
            spans = [(m.start(), m.end(), self._lookup[m.group(0)],
                      m.group(0) not in self._secrets)
                     for start, end in self._runs(text)
                     for literal in literals for m in literal.finditer(text, start, end)]
            spans = _union(spans, []) if len(literals) > 1 else spans
        else:
            spans = _union([(m.start(), m.end(), self._lookup[m.group(0)],
                             m.group(0) not in self._secrets)
                            for start, end in self._runs(text)
                            for m in starts(whole.forms, text, start, end)], [])
        hiding = self._hidden(_replaced(text, spans), whole) if _MIXED_SIGNS.search(text) else []
        if hiding:
            spans = _union(spans, [(m.start(), m.end(), self._secrets[secret], True)
                                   for secret in hiding
                                   for m in mixed(self._pieces[secret].needles).finditer(text)])
        out: list[Segment] = []
        position = 0
        for start, end, placeholder, encoded in spans:
            if start > position:
                out.append(Segment(text[position:start], False))
            out.append(Segment(placeholder, True, encoded))
            position = end
        if position < len(text):
            out.append(Segment(text[position:], False))
        return out

    def __call__(self, text: str) -> str:
        with self._lock:
            if len(text) > MEMO_CHARS:
                return "".join(s.text for s in self._segments(text))
            known = self._memo.get(text)
            if known is None:
                if len(self._memo) >= MEMO_TEXTS:
                    self._memo.clear()
                known = self._memo[text] = "".join(s.text for s in self._segments(text))
            return known

    def excerpt(self, text: str, limit: int, cut: bool = False) -> str:
        """At most ``limit`` characters of ``text``, redacted before it is cut (a secret on the
        cut is never half shown). ``cut``: the text was cut short already (a body at the byte
        cap); either way a cut text that ends in a secret's first characters has them masked."""
        redacted = self(text)
        if len(redacted) > limit:
            redacted, cut = redacted[:limit], True
        return self._masked_tail(redacted) + CUT_MARK if cut else redacted

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

    def _hidden(self, text: str, whole: Whole | None = None) -> list[str]:
        """The secrets that may still hide in ``text`` in a mixed form: each stands in it once
        references, escapes and line breaks are decoded (the cheap test before the slow
        pattern, compiled for those alone; the literal forms are gone from ``text`` already).
        ``whole``: one search of the decoded views for every secret's needles at once."""
        plain = text
        for _ in range(_UNESCAPE_DEPTH):
            plain, found = _REFERENCE.subn(_referenced_char, plain)
            if not found:
                break
        plain = _JSON_ESCAPE.sub(_json_char, plain)
        plain = _LINE_BREAK.sub("", plain)
        views = {plain, unquote(plain, errors="replace"), unquote_plus(plain, errors="replace")}
        if whole is not None:
            return whole.hiding(views)
        heads, runs = self._needle_heads(), self._needle_runs
        standing = {secret for view in views
                    for run in (runs.finditer(view) if runs else ())
                    for at in range(run.start(), run.end() - HEAD + 1)
                    for needle, secret in heads.get(view[at:at + HEAD], ())
                    if view.startswith(needle, at)}
        standing.update(secret for needle, secret in heads.get("", ())  # none so short today
                        if any(needle in view for view in views))
        return [secret for secret in self._secrets if secret in standing]

    def _runs(self, text: str) -> list[tuple[int, int]]:
        """Where in ``text`` a literal form may stand: the runs of the characters the forms are
        made of, as long as the shortest form at least (a case id or a requirement's id is
        cut by its ``|`` or too short: most of a result file is skipped by one quick pattern
        instead of being tried against hundreds of forms at each place). The whole text when
        a short secret is registered (its forms stand only after ``=``)."""
        self._compiled()
        alphabet = self._alphabet
        if alphabet is None:
            return [(0, len(text))]
        return [m.span() for m in alphabet.finditer(text)]

    def _needle_heads(self) -> dict[str, list[tuple[str, str]]]:
        """Every secret's needles by their first HEAD characters: a short text's views are
        read once, a place at a time, not once per needle (a run learns hundreds of tokens,
        and each request's URL was searched for each of their needles in each view); and only
        in the runs of the needles' characters as long as the shortest (``_needle_runs``)."""
        if self._heads is None:
            self._compiled()  # every secret's pieces made
            self._heads = {}
            for secret in self._secrets:
                for needle in self._pieces[secret].needles:
                    head = needle[:HEAD] if len(needle) >= HEAD else ""
                    self._heads.setdefault(head, []).append((needle, secret))
            self._needle_runs = runs_of(
                [n for s in self._secrets for n in self._pieces[s].needles])
        return self._heads

    def _masked_tail(self, text: str) -> str:
        """``text`` without a trailing start of a secret (in a literal form) of MIN_SECRET_LEN
        characters or more: the rest of it was cut off."""
        with self._lock:
            return self._masked(text)

    def _masked(self, text: str) -> str:
        self._compiled()
        for form, placeholder in self._lookup.items():
            for length in range(min(len(form) - 1, len(text)), MIN_SECRET_LEN - 1, -1):
                if text.endswith(form[:length]):
                    return text[:-length] + placeholder
        return text

    def _compiled(self) -> list[re.Pattern[str]]:
        if self._literal is None:
            self._lookup = {}
            for secret, placeholder in self._secrets.items():
                pieces = self._pieces.get(secret) or self._pieces.setdefault(
                    secret, secret_pieces(secret))
                for form in pieces.forms:
                    self._lookup.setdefault(form, placeholder)
            secrets = list(self._secrets)
            chunks = [tuple(secrets[i:i + CHUNK]) for i in range(0, len(secrets), CHUNK)]
            self._chunks = {chunk: self._chunks.get(chunk) or self._chunk_pattern(chunk)
                            for chunk in chunks}  # a chunk grown or gone is dropped
            self._literal = list(self._chunks.values())
            self._alphabet = alphabet_of(self._pieces[s] for s in secrets)
        return self._literal or []

    def _whole_pattern(self) -> Whole:
        """The one pattern of every secret's literal forms, and of their needles: made once
        for the secrets registered (a secret added later makes it again)."""
        if self._whole is None:
            secrets = list(self._secrets)
            long_forms = [f for s in secrets if self._pieces[s].needles
                          for f in self._pieces[s].forms]
            short_forms = [f for s in secrets if not self._pieces[s].needles
                           for f in self._pieces[s].forms]
            found = [trie(long_forms)] if long_forms else []
            found += [f"(?<==){trie(short_forms)}{VALUE_END}"] if short_forms else []
            needles = {n: s for s in secrets for n in self._pieces[s].needles}
            self._whole = Whole(re.compile("|".join(found)),
                                 re.compile(trie(needles)) if needles else None, needles)
        return self._whole

    def _chunk_pattern(self, chunk: tuple[str, ...]) -> re.Pattern[str]:
        long_forms = [f for s in chunk if self._pieces[s].needles for f in self._pieces[s].forms]
        short_forms = [f for s in chunk if not self._pieces[s].needles
                       for f in self._pieces[s].forms]
        return re.compile("|".join(alternatives(long_forms, short_forms)))


def _replaced(text: str, spans: list[tuple[int, int, str, bool]]) -> str:
    """``text`` with each span replaced by its placeholder."""
    out, position = [], 0
    for start, end, placeholder, _ in spans:
        out += [text[position:start], placeholder]
        position = end
    return "".join([*out, text[position:]])


def _referenced_char(match: re.Match[str]) -> str:
    name = match.group(1)
    if name[0] != "#":
        return html.unescape(match.group(0))
    code = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
    return chr(code) if code < 0x110000 else ""


def _json_char(match: re.Match[str]) -> str:
    escaped = match.group(1)
    return chr(int(escaped[1:], 16)) if escaped[0] == "u" else _JSON_SHORT.get(escaped, escaped)


def _union(spans: list[tuple[int, int, str, bool]], more: list[tuple[int, int, str, bool]]
           ) -> list[tuple[int, int, str, bool]]:
    """Spans of both lists in order, an overlap folded into the earlier (longer) one."""
    out: list[tuple[int, int, str, bool]] = []
    for span in sorted(spans + more, key=lambda s: (s[0], -s[1])):
        if out and span[0] < out[-1][1]:
            start, end, placeholder, encoded = out[-1]
            out[-1] = (start, max(end, span[1]), placeholder, encoded)
        else:
            out.append(span)
    return out


# The process's secrets: every writer and stream of ``sink`` redacts with it, and the run's
# client records its exchanges with it. A run registers its secrets here as it learns them.
SECRETS: Final = Redactor()


def redact(text: str) -> str:
    """``text`` with every secret the process knows replaced: the one redaction function."""
    return SECRETS(text)
