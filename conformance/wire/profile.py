"""Target profiles: a TOML file describing a target, for targets without a control URL and for
settings a team wants to keep in version control. Secrets never live in a profile.

```toml
target = "https://staging.example/verba/api"
control_url = "https://staging.example/_conformance"   # optional
token_required = true
username = "conformance"            # password from KEEPCALL_PASSWORD
calls_valid_at = 2026-12-07T10:00:00Z  # when the offsets below held (default: the run's start)
[transport]
read_timeout = 10.0
[[calls]]                           # calls known to exist, for targets without control
callID = "a8343631-9f35-4a3a-83f0-9e81592339fb"
caller = "8856"
called = "+3612345678"
state = "finished"
offsetSeconds = 600
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance.catalog.spec import CALL_STATES
from conformance.domain.model import Call


class ProfileError(Exception):
    """A profile that cannot be used; the message is one line naming the problem."""


@dataclass(frozen=True)
class TransportOverrides:
    connect_timeout: float | None = None
    read_timeout: float | None = None
    total_timeout: float | None = None
    max_response_bytes: int | None = None
    rate: float | None = None
    ca_bundle: str | None = None
    insecure: bool | None = None


@dataclass(frozen=True)
class Profile:
    target: str | None = None
    control_url: str | None = None
    token_required: bool | None = None
    username: str | None = None
    calls: tuple[Call, ...] = ()
    transport: TransportOverrides = field(default_factory=TransportOverrides)
    # When the calls' offsets held (seconds since the epoch); None: when the run starts. The
    # calls age from then on: an upcoming call 30 s out is ongoing (or may be) 40 s later.
    calls_valid_at: float | None = None


_SECRET_KEYS = {"api_key", "apiKey", "token", "password"}
_CALL_KEYS = {"callID": str, "caller": str, "called": str, "state": str, "offsetSeconds": int}


def load(path: str | Path) -> Profile:
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ProfileError(f"profile {path}: cannot read: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ProfileError(f"profile {path}: not valid TOML: {error}") from None
    try:
        return parse(data)
    except ProfileError as error:
        raise ProfileError(f"profile {path}: {error}") from None


def parse(data: dict[str, Any]) -> Profile:
    if secret := _SECRET_KEYS & set(data):
        raise ProfileError(f"'{sorted(secret)[0]}' must not be in a profile; use the "
                           "KEEPCALL_* environment variables")
    known = {f.name for f in fields(Profile)}
    if unknown := set(data) - known:
        raise ProfileError(f"unknown key '{sorted(unknown)[0]}'")
    for key in ("target", "control_url", "username"):
        _typed(data, key, str)
    _typed(data, "token_required", bool)
    calls = tuple(_call(i, c) for i, c in enumerate(_list(data.get("calls", []))))
    return Profile(data.get("target"), data.get("control_url"), data.get("token_required"),
                   data.get("username"), calls, _transport(data.get("transport", {})),
                   _moment(data.get("calls_valid_at")))


def _moment(value: object) -> float | None:
    """An offset date-time (TOML's ``2026-12-07T10:00:00Z``) as seconds since the epoch."""
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ProfileError("'calls_valid_at' must be a date-time with an offset "
                           "(2026-12-07T10:00:00Z)")
    return value.timestamp()


def _typed(data: dict[str, Any], key: str, kind: type) -> None:
    if key in data and not isinstance(data[key], kind):
        raise ProfileError(f"'{key}' must be a {kind.__name__}")


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise ProfileError("'calls' must be an array of tables ([[calls]])")
    return value


def _call(index: int, data: object) -> Call:
    where = f"calls[{index}]"
    if not isinstance(data, dict):
        raise ProfileError(f"{where} must be a table")
    for key, kind in _CALL_KEYS.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise ProfileError(f"{where}.{key} is missing or not a {kind.__name__}")
    if unknown := set(data) - set(_CALL_KEYS):
        raise ProfileError(f"{where}: unknown key '{sorted(unknown)[0]}'")
    if data["state"] not in CALL_STATES:
        raise ProfileError(f"{where}.state must be one of {', '.join(CALL_STATES)}")
    if data["offsetSeconds"] < 0:
        raise ProfileError(f"{where}.offsetSeconds must be >= 0")
    return Call(data["callID"], data["caller"], data["called"], data["state"],
                data["offsetSeconds"])


def _transport(data: object) -> TransportOverrides:
    if not isinstance(data, dict):
        raise ProfileError("'transport' must be a table")
    kinds = {f.name: f.type for f in fields(TransportOverrides)}
    if unknown := set(data) - set(kinds):
        raise ProfileError(f"transport: unknown key '{sorted(unknown)[0]}'")
    for key, value in data.items():
        wanted = {"ca_bundle": (str,), "insecure": (bool,), "max_response_bytes": (int,)}.get(
            key, (int, float))
        if not isinstance(value, wanted) or (isinstance(value, bool) and key != "insecure"):
            raise ProfileError(f"transport.{key} has the wrong type")
    return TransportOverrides(**data)
