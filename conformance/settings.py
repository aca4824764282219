"""Run settings, resolved once from options, environment and profile, for the CLI and the plugin.

Every way of starting a run (``keepcall-conformance run``, ``pytest --pyargs conformance.suite``)
ends here, so both validate the same way and fail with the same one-line messages.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from conformance.client import TransportSettings
from conformance.profile import Profile, ProfileError, load
from conformance.target import Credentials

Level = Literal["must", "should"]
ENV = {"api_key": "KEEPCALL_API_KEY", "token": "KEEPCALL_TOKEN",
       "password": "KEEPCALL_PASSWORD", "username": "KEEPCALL_USERNAME",
       "open_api_key": "KEEPCALL_OPEN_API_KEY"}


class SettingsError(Exception):
    """Unusable input; the message is one line naming the problem (exit code 2)."""


@dataclass(frozen=True)
class Options:
    """What a user may say, before defaults, environment and profile are applied."""

    target: str | None = None
    api_key: str | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    open_api_key: str | None = None
    control_url: str | None = None
    profile: str | None = None
    report_dir: str = "reports"
    quick: bool = False
    level: str = "must"
    allow_untested: bool = False
    seed: int = 0
    examples: int = 100
    budget: float = 60.0
    ca_bundle: str | None = None
    insecure: bool = False
    rate: float | None = None
    connect_timeout: float | None = None
    read_timeout: float | None = None
    total_timeout: float | None = None
    max_response_bytes: int | None = None
    breaker: int = 5
    reference_switches: tuple[str, ...] = ()
    reference_faults: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    target: str | None
    credentials: Credentials
    control_url: str | None
    profile: Profile
    report_dir: Path
    quick: bool
    level: Level
    seed: int
    examples: int
    budget: float
    transport: TransportSettings
    breaker: int
    token_required: bool | None = None
    reference_switches: tuple[str, ...] = ()
    reference_faults: tuple[str, ...] = field(default=())
    # Gate on what was tested: a run with untested gating requirements may then be conformant.
    allow_untested: bool = False

    @property
    def embedded(self) -> bool:
        """No target given: the run certifies the embedded reference server."""
        return self.target is None


def resolve(options: Options, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate and combine; raises SettingsError with a one-line message."""
    env = os.environ if environ is None else environ
    profile = _profile(options.profile)
    target = options.target or profile.target
    control_url = options.control_url or profile.control_url
    for name, url in (("--target", target), ("--control-url", control_url)):
        _check_url(name, url)
    credentials = _credentials(options, profile, env)
    if options.level not in ("must", "should"):
        raise SettingsError(f"--level must be 'must' or 'should', not '{options.level}'")
    if target is not None and not credentials.api_key:
        raise SettingsError("an API key is needed: --api-key or KEEPCALL_API_KEY")
    _positive("--examples", options.examples)
    _positive("--budget", options.budget)
    _positive("--rate", options.rate)
    return Settings(target, credentials, control_url, profile, Path(options.report_dir),
                    options.quick, options.level,  # type: ignore[arg-type]
                    options.seed, options.examples, options.budget,
                    _transport(options, profile), max(1, options.breaker),
                    profile.token_required, options.reference_switches,
                    options.reference_faults, options.allow_untested)


def _profile(path: str | None) -> Profile:
    if path is None:
        return Profile()
    try:
        return load(path)
    except ProfileError as error:
        raise SettingsError(str(error)) from None


def _check_url(name: str, url: str | None) -> None:
    if url is None:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{name} must be an http:// or https:// URL with a host, "
                            f"not '{url[:80]}'")


def _credentials(options: Options, profile: Profile, env: Mapping[str, str]) -> Credentials:
    def pick(name: str, given: str | None) -> str | None:
        return given or env.get(ENV[name]) or None

    token = pick("token", options.token)
    username = options.username or profile.username or env.get(ENV["username"]) or None
    password = pick("password", options.password)
    if options.token and options.username:
        raise SettingsError("--token and --username exclude each other")
    if username and not password and not token:
        raise SettingsError("--username needs a password: --password or KEEPCALL_PASSWORD")
    if token and username and not options.username:
        username = None  # an explicit token wins over a login from profile or environment
    return Credentials(pick("api_key", options.api_key), token, username, password,
                       pick("open_api_key", options.open_api_key))


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise SettingsError(f"{name} must be positive, not {value}")


def _transport(options: Options, profile: Profile) -> TransportSettings:
    overrides = profile.transport
    base = TransportSettings()
    merged = {name: getattr(options, name) if getattr(options, name) is not None
              else getattr(overrides, name)
              for name in ("connect_timeout", "read_timeout", "total_timeout",
                           "max_response_bytes", "rate")}
    for name, value in merged.items():
        _positive(f"--{name.replace('_', '-')}", value)
    settings = replace(base, **{k: v for k, v in merged.items() if v is not None})
    ca_bundle = options.ca_bundle or overrides.ca_bundle
    if ca_bundle and not Path(ca_bundle).is_file():
        raise SettingsError(f"--ca-bundle: no such file '{ca_bundle}'")
    if options.insecure or overrides.insecure:
        return replace(settings, verify=False)
    return replace(settings, verify=ca_bundle) if ca_bundle else settings
