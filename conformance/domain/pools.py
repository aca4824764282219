"""The value pools of generated requests, and the weighted draw that mixes them.

Each dimension of a request draws from the *meaningful* pool (the scenario's values, the listed
ones) and, with a small weight, from a bounded *odd* one: letter case, spaces, ``+``, unicode,
empty and very long values, unknown parameters, wrong credentials. Its own module because the
odd values are data that the free, directed and fuzzed examples all draw on, and ``weighted``
is how every one of them says how often (shrinking towards the first option).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Final, TypeVar

from hypothesis import strategies as st

from conformance.domain.model import Credential

T = TypeVar("T")

# The odd pools are bounded: each is a short list plus small generated text.
FULLWIDTH: Final = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}
# Odd spellings of a real value, by what it is (truncating a number would make it a prefix of
# numbers other cases own; prefix-related numbers live inside the scenario instead).
TRANSFORMS: Final[dict[str, Callable[[str], str]]] = {
    "upper": str.upper,
    "braces": lambda v: "{" + v + "}",
    "truncated": lambda v: v[:-1],
    "plus": lambda v: "+" + v,
    "double-zero": lambda v: "00" + v,
    "extended": lambda v: v + "0",
    "lead-space": lambda v: " " + v,
    "trail-space": lambda v: v + " ",
    "fullwidth": lambda v: v.translate(FULLWIDTH),
}
KIND_TRANSFORMS: Final[dict[str, tuple[str, ...]]] = {
    "call": ("upper", "braces", "truncated", "lead-space", "trail-space", "fullwidth"),
    "number": ("plus", "double-zero", "extended", "lead-space", "trail-space", "fullwidth"),
}
ODD_TEXT: Final = ("", " ", "0", "-1", "null", "8856", "+3612345678", "not-a-guid",
                   "a8343631-9f35-4a3a-83f0-9e81592339fb", "ключ", "٨٨٥٦", "6" * 2000,
                   "x" * 3000, "%00", "a&b=c", "\u200b")
ODD_STATUS: Final = ("ONGOING", "Ongoing", "ongoing, next", "last , ongoing", "next,ongoing",
                     "ongoing,last", "ongoing,next,last", "ongoing,", ",ongoing", "bogus",
                     "\uff4f\uff4e\uff47\uff4f\uff49\uff4e\uff47", "")  # fullwidth
ODD_TYPE: Final = ("DO_NOT_DELETE", "manualrecord", "keepForever", "do_not_delete ", "")
ODD_UNMARK: Final = ("0", "2", "true", "", " 1", "01")
ODD_RESPONSE_TYPE: Final = ("xml", "Html", "JSON", "PDF", "", "TEXT ")
ODD_ACTION: Final[tuple[str | None, ...]] = (None, "keepcall", "KEEPCALL", "KeepCalls",
                                             "NoSuchAction-4f2e", "", "\u212aeepCall")
UNKNOWN_NAMES: Final = ("foo", "callid", "Extension", "STATUS", "responsetype", "keep")
ODD_CREDENTIALS: Final = ((Credential.MISSING, Credential.VALID),
                          (Credential.INVALID, Credential.VALID),
                          (Credential.VALID, Credential.MISSING),
                          (Credential.VALID, Credential.INVALID))


def weighted(*options: tuple[st.SearchStrategy[T], int]) -> st.SearchStrategy[T]:
    """Draw option i with probability weight_i / total; shrinks towards the first option."""
    total = sum(w for _, w in options)
    table = [s for s, w in options for _ in range(w)]
    return st.integers(0, total - 1).flatmap(lambda i: table[i])


@functools.cache
def _text() -> st.SearchStrategy[str]:
    """Short arbitrary text (no lone surrogates: they cannot be sent as UTF-8)."""
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@functools.cache
def odd_literal() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(ODD_TEXT), _text())
