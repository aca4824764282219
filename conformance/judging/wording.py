"""Whether HTML and TEXT answers tell success from error (KC-RT-010).

Neither the page nor the notes say how an HTML or TEXT answer words a result, so no single
answer can be judged on its words. Across a run, though, the flags tell which answers were
successes and which were errors, and where they cannot (an error, or a pending keep that
changed nothing), the same request on the same scenario asked in XML does: its code. A target
that gives an error the very words it gives a success (identifiers aside) misleads its reader.
What says nothing is not judged: an answer with no words on a success status (an empty TEXT
body, a page without text) claims neither outcome. A front end's page never reaches here (it
is no answer of the API), and one page for every answer still tells an error by its status.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.domain.model import Check
from conformance.wire.redact import redact

REQUIREMENT: Final = "KC-RT-010"
# What a run keeps, whatever its size or its target: this many signatures of each format and
# kind (success, error), each at most this long (a longer one ends in a hash of the whole).
MAX_SIGNATURES: Final = 64
MAX_SIGNATURE_CHARS: Final = 1000
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_NUMBER = re.compile(r"\+?\b\w*\d\w*")  # a word holding a digit: a number, a hex nonce
_TAG = re.compile(r"<[^>]*>")
_LETTER = re.compile(r"[^\W\d_]")
# Answers waiting for their XML twin's code, at most this many (the first ones kept).
MAX_PENDING: Final = 4096


def signature(body: bytes, status: int | None = None) -> str:
    """The answer's words with callIDs and every number masked (phone numbers, and what varies
    from answer to answer: a timestamp, a request counter), and secrets redacted (a target may
    echo them; signatures are kept in cases.json.gz and quoted in a failure). An error status
    tells an answer apart too: an empty TEXT body on 200 and on 404 read differently."""
    text = redact(body.decode("utf-8", "replace").strip())
    text = _NUMBER.sub("#", _GUID.sub("#", text))
    if status is not None and status >= 400:
        text = f"[HTTP {status}] {text}"
    if len(text) <= MAX_SIGNATURE_CHARS:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{text[:MAX_SIGNATURE_CHARS]}... (sha256 {digest})"


def says_something(sig: str) -> bool:
    """Words besides markup, or an error status: an empty body on 200 says nothing."""
    return sig.startswith("[HTTP ") or _LETTER.search(_TAG.sub(" ", sig)) is not None


@dataclass
class Wording:
    """The first case seen for each (format, signature, success or error), within the bound:
    past ``MAX_SIGNATURES`` of a format and kind, a new signature is kept only if it clashes
    (the other kind has it), so memory stays bounded and no clash among those kept is lost.
    An answer the flags cannot label waits (``pending``) for its XML twin's code (``twins``)."""

    seen: dict[tuple[str, str, bool], str] = field(default_factory=dict)
    kept: Counter[tuple[str, bool]] = field(default_factory=Counter)
    twins: dict[str, bool] = field(default_factory=dict)
    pending: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def add(self, fmt: str, body: bytes, success: bool | None, case: str,
            status: int | None = None, twin: str | None = None) -> None:
        """An HTML or TEXT answer; ``success`` None: the flags cannot tell, its XML twin's
        code will (``twin``: the key the twins share, matrix.Case.twin)."""
        sig = signature(body, status)
        if not says_something(sig):
            return
        if success is not None:
            self._keep(fmt, sig, success, case)
        elif twin is not None and len(self.pending) < MAX_PENDING:
            self.pending.setdefault((twin, fmt), (sig, case))

    def twin(self, key: str, success: bool) -> None:
        """An XML answer's outcome (its code, as the flags confirmed it)."""
        self.twins.setdefault(key, success)

    def _keep(self, fmt: str, sig: str, success: bool, case: str) -> None:
        if (fmt, sig, success) in self.seen:
            return
        if self.kept[(fmt, success)] < MAX_SIGNATURES or (fmt, sig, not success) in self.seen:
            self.seen[(fmt, sig, success)] = case
            self.kept[(fmt, success)] += 1

    def state(self) -> list[list[Any]]:
        """Rows of three kinds: [fmt, sig, success, case], ["twin", key, success] and
        [fmt, sig, None, case, twin] (waiting for its twin)."""
        return [*([fmt, sig, success, case] for (fmt, sig, success), case in self.seen.items()),
                *(["twin", key, success] for key, success in self.twins.items()),
                *([fmt, sig, None, case, key] for (key, fmt), (sig, case) in self.pending.items())]

    def merge(self, state: list[list[Any]]) -> None:
        """Another shard's answers: the comparison runs over the whole run's."""
        for row in state:
            if len(row) == 3:
                self.twin(row[1], row[2])
            elif len(row) == 5 and len(self.pending) < MAX_PENDING:
                self.pending.setdefault((row[4], row[0]), (row[1], row[3]))
            elif len(row) == 4:
                self._keep(*row)

    def _labelled(self) -> None:
        """Each waiting answer labelled by its XML twin's code, where the run had the twin."""
        for (key, fmt), (sig, case) in self.pending.items():
            if key in self.twins:
                self._keep(fmt, sig, self.twins[key], case)

    def checks(self) -> list[Check]:
        """One check per format seen: fail if a success and an error read alike."""
        self._labelled()
        found: list[Check] = []
        for fmt in sorted({f for f, _, _ in self.seen}):
            clash = next(((sig, case) for (f, sig, ok), case in self.seen.items()
                          if f == fmt and ok and (f, sig, False) in self.seen), None)
            if clash is None:
                both = {ok for f, _, ok in self.seen if f == fmt} == {True, False}
                found.append(Check(REQUIREMENT, "pass" if both else "not-tested",
                                   "" if both else f"no {fmt} success and error both seen"))
                continue
            sig, case = clash
            other = self.seen[(fmt, sig, False)]
            found.append(Check(REQUIREMENT, "fail", f"{fmt}: the success of {case} and the "
                               f"error of {other} read alike: {sig[:200]!r}"))
        return found
