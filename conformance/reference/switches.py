"""The spec's open choices as switches, each defaulting to the project's preferred reading.

Every value of every switch is a reading docs/SEMANTICS.md allows, so the conformance suite must
pass against any combination; the project's tests run it against several.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Switches:
    """One reading per open point of the spec (see docs/SEMANTICS.md)."""

    error_status: int = 200
    payload_after_response: bool = False
    error_description: bool = False
    case_insensitive: bool = False
    comma_space: bool = False
    both_ids: Literal["callid-wins", "reject"] = "callid-wins"
    status_with_callid: Literal["ignored", "applied"] = "ignored"
    several_last_next: Literal["error", "pick"] = "pick"
    unknown_params: Literal["reject", "ignore"] = "reject"
    duplicates: Literal["reject", "first", "last"] = "reject"
    unknown_response_type: Literal["error", "xml"] = "error"
    token_on_open_key: Literal["ignore", "reject"] = "ignore"
    manual_record_uncontrolled: Literal["error", "start"] = "error"
    unmark_other: Literal["reject", "ignore"] = "reject"
    pretty_xml: bool = False
    html_head: bool = True
    text_style: Literal["plain", "keyvalue"] = "plain"
    next_boundary_inclusive: bool = True
    normalize_identifiers: bool = False  # GUID case, braces, spaces, + or 00 before a number

    def __post_init__(self) -> None:
        if self.error_status != 200 and not 400 <= self.error_status <= 499:
            raise ValueError(f"error_status must be 200 or 4xx, not {self.error_status}")
        for name, choices in switch_choices().items():
            value = getattr(self, name)
            if choices and str(value).lower() not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not {value!r}")

    @classmethod
    def parse(cls, items: Iterable[str]) -> Switches:
        """Build switches from ``NAME=VALUE`` strings (CLI form); ValueError on bad input."""
        changes: dict[str, Any] = {}
        for item in items:
            name, sep, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep:
                raise ValueError(f"switch {item!r} is not NAME=VALUE")
            if name not in _HINTS:
                raise ValueError(f"unknown switch {name!r}; known: {', '.join(_HINTS)}")
            changes[name] = _convert(name, text.strip())
        return replace(cls(), **changes)

    def non_default(self) -> dict[str, Any]:
        """The switches that differ from the preferred reading (for printing)."""
        base = Switches()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(base, f.name)}


_HINTS: dict[str, Any] = typing.get_type_hints(Switches)


def switch_choices() -> dict[str, tuple[str, ...]]:
    """Each switch's accepted values as text (empty for free-form ints)."""
    return {name: _choices(hint) for name, hint in _HINTS.items()}


def _choices(hint: Any) -> tuple[str, ...]:
    if hint is bool:
        return ("true", "false")
    return tuple(str(v) for v in typing.get_args(hint))


def _convert(name: str, text: str) -> Any:
    hint = _HINTS[name]
    if hint is bool:
        return _to_bool(name, text)
    if hint is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"switch {name} needs a whole number, not {text!r}") from None
    if text not in typing.get_args(hint):
        raise ValueError(f"switch {name} must be one of {', '.join(_choices(hint))}, not {text!r}")
    return text


def _to_bool(name: str, text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise ValueError(f"switch {name} needs true or false, not {text!r}")
