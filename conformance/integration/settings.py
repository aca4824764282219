"""Run settings, resolved once from options, environment and profile, for the CLI and the plugin.

Every way of starting a run (``keepcall-conformance run``, ``pytest --pyargs conformance.suite``)
ends here, so both validate the same way and fail with the same one-line messages.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conformance.catalog.requirements import Gate
from conformance.domain.scenarios import MAX_BLOCKS
from conformance.integration.options import BY_NAME, ENV, OPTIONS, given
from conformance.reports import expect
from conformance.wire.profile import Profile, ProfileError, load
from conformance.wire.target import Credentials, needs_token
from conformance.wire.transport import TransportSettings

MAX_WORKERS = MAX_BLOCKS - 1  # each part of a run numbers its calls in a block of its own
# Transport failures in a row that stop a run (a dead target is inconclusive, not failed).
BREAKER = 5


class SettingsError(Exception):
    """Unusable input; the message is one line naming the problem (exit code 2)."""


def _option(name: str) -> Any:
    """The field of option ``name``: its default from the table, a secret kept out of repr."""
    row = BY_NAME[name]
    return field(default=row.default, repr=not row.secret)


@dataclass(frozen=True)
class Options:
    """What a user may say, before defaults, environment and profile are applied.

    One field per row of ``conformance.integration.options.OPTIONS``, in its order; the types are
    written here for the type checker, the defaults only there (``tests/test_settings.py``
    checks both agree)."""

    target: str | None = _option("target")
    api_key: str | None = _option("api_key")
    token: str | None = _option("token")
    username: str | None = _option("username")
    password: str | None = _option("password")
    open_api_key: str | None = _option("open_api_key")
    token_required: str | None = _option("token_required")
    control_url: str | None = _option("control_url")
    profile: str | None = _option("profile")
    report_dir: str = _option("report_dir")
    quick: bool = _option("quick")
    level: str = _option("level")
    allow_untested: bool = _option("allow_untested")
    expect: str | None = _option("expect")
    seed: int = _option("seed")
    examples: int = _option("examples")
    budget: float = _option("budget")
    max_duration: float | None = _option("max_duration")
    shard: str | None = _option("shard")
    workers: int | None = _option("workers")
    part: str = _option("part")
    deferred: str | None = _option("deferred")
    ca_bundle: str | None = _option("ca_bundle")
    insecure: bool = _option("insecure")
    rate: float | None = _option("rate")
    concurrency: int = _option("concurrency")
    total_timeout: float | None = _option("total_timeout")
    connect_timeout: float | None = _option("connect_timeout")
    read_timeout: float | None = _option("read_timeout")
    max_response_bytes: int | None = _option("max_response_bytes")
    reference_switches: tuple[str, ...] = _option("reference_switches")
    reference_faults: tuple[str, ...] = _option("reference_faults")


def options_from(namespace: object, dest_prefix: str = "") -> Options:
    """The Options given in a parsed command line (argparse's, or pytest's ``config.option``)."""
    return Options(**given(namespace, dest_prefix))


@dataclass(frozen=True)
class Settings:
    target: str | None
    credentials: Credentials
    control_url: str | None
    profile: Profile
    report_dir: Path
    quick: bool
    level: Gate
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
    max_duration: float | None = None  # seconds; then the run stops, cut short
    shard: Shard = field(default_factory=lambda: Shard())
    workers: int | None = None
    deferred: frozenset[str] = frozenset()  # matrix case ids for the exclusive part
    expected: tuple[expect.Expected, ...] = ()  # known failures (--expect)

    @property
    def sharded(self) -> bool:
        """A part of a run: other parts share the target, so its control state is not reset."""
        return self.shard.count > 1 or self.shard.part != "all"

    @property
    def embedded(self) -> bool:
        """No target given: the run certifies the embedded reference server."""
        return self.target is None

    @property
    def needs_token(self) -> bool | None:
        """Whether the target's key needs a token (None: either), known before collection: the
        target is built with it, and the cases' markers are computed from it. The embedded
        server has a login."""
        given = self.credentials
        login = self.embedded or bool(given.username and given.password)
        return needs_token(self.token_required, bool(given.token), login)


def resolve(options: Options, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate and combine; raises SettingsError with a one-line message."""
    env = os.environ if environ is None else environ
    profile = _profile(options.profile)
    target = options.target or profile.target
    control_url = options.control_url or profile.control_url
    for name, url in (("--target", target), ("--control-url", control_url)):
        _check_url(name, url)
    credentials = _credentials(options, profile, env)
    credentials.redactor()  # from here on, nothing that leaves the process shows them
    _check_values(options)
    if target is not None and not credentials.api_key:
        raise SettingsError(f"an API key is needed: --api-key or {ENV['api_key']}")
    return Settings(target, credentials, control_url, profile, Path(options.report_dir),
                    options.quick, options.level,  # type: ignore[arg-type]
                    options.seed or drawn_seed(), options.examples, options.budget,
                    _transport(options, profile), BREAKER,
                    _token_required(options, profile, target is None),
                    options.reference_switches,
                    options.reference_faults, options.allow_untested, options.max_duration,
                    _shard(options), options.workers, _deferred(options.deferred),
                    _expected(options.expect))


# --token-required's words; "unknown" declares nothing, whatever the profile or server.
DECLARED_TOKEN: dict[str, bool | None] = {"yes": True, "no": False, "unknown": None}
# The embedded server's switch that lets its key work without a token (reference/switches.py).
OPTIONAL_TOKEN_SWITCH = ("token", "optional")


def _token_required(options: Options, profile: Profile, embedded: bool) -> bool | None:
    """What is declared of the key's token: the option, else the profile, else for the
    embedded server what its switches make it (required, unless ``token=optional``)."""
    if options.token_required is not None:
        return DECLARED_TOKEN[options.token_required]
    if profile.token_required is not None or not embedded:
        return profile.token_required
    switched = {tuple(part.strip().lower() for part in item.split("=", 1))
                for item in options.reference_switches}
    return None if OPTIONAL_TOKEN_SWITCH in switched else True


def drawn_seed() -> int:
    """The seed of a run given none: it numbers the calls and seeds Hypothesis, and is printed
    and recorded, so ``--seed`` with it repeats the run."""
    return random.SystemRandom().randrange(1, 2**31)


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` of ``count`` (1-based), and which part of it (``options.part``)."""

    index: int = 1
    count: int = 1
    part: str = "all"


def _shard(options: Options) -> Shard:
    if options.workers is not None and options.shard is not None:
        raise SettingsError("--workers and --shard exclude each other")
    if (options.workers or 0) > MAX_WORKERS:
        raise SettingsError(f"--workers is at most {MAX_WORKERS}, not {options.workers}")
    if options.shard is None:
        return Shard(part=options.part)
    index, slash, count = options.shard.partition("/")
    if not (slash and index.isdigit() and count.isdigit()
            and 1 <= int(index) <= int(count) < MAX_BLOCKS):
        raise SettingsError(f"--shard must be I/N with 1 <= I <= N < {MAX_BLOCKS}, not "
                            f"'{options.shard[:40]}'")
    return Shard(int(index), int(count), options.part)


def _expected(path: str | None) -> tuple[expect.Expected, ...]:
    if path is None:
        return ()
    try:
        return tuple(expect.load(Path(path)))
    except expect.ExpectError as error:
        raise SettingsError(f"--expect: {error}") from None


def _deferred(path: str | None) -> frozenset[str]:
    if path is None:
        return frozenset()
    try:
        return frozenset(line.strip() for line in Path(path).read_text("utf-8").splitlines()
                         if line.strip())
    except (OSError, UnicodeDecodeError) as error:
        raise SettingsError(f"--deferred: cannot read '{path}': {error}") from None


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
        raise SettingsError("--username needs a password: --password or "
                            f"{ENV['password']}")
    if token and username and not options.username:
        username = None  # an explicit token wins over a login from profile or environment
    return Credentials(pick("api_key", options.api_key), token, username, password,
                       pick("open_api_key", options.open_api_key))


def _check_values(options: Options) -> None:
    """What the table says of each value: one of its choices, greater than zero."""
    for row in OPTIONS:
        value = getattr(options, row.name)
        if row.choices and value is not None and value not in row.choices:
            listed = " or ".join(f"'{choice}'" for choice in row.choices)
            raise SettingsError(f"{row.cli_flag} must be {listed}, not '{value}'")
        if row.positive:
            _positive(row.name, value)


def _positive(name: str, value: float | None) -> None:
    if value is not None and value <= 0:
        raise SettingsError(f"{BY_NAME[name].cli_flag} must be positive, not {value}")


def _transport(options: Options, profile: Profile) -> TransportSettings:
    overrides = profile.transport
    base = TransportSettings()
    merged = {name: getattr(options, name) if getattr(options, name) is not None
              else getattr(overrides, name)
              for name in ("connect_timeout", "read_timeout", "total_timeout",
                           "max_response_bytes", "rate")}
    for name, value in merged.items():
        _positive(name, value)  # the profile's values, named by the option that overrides them
    settings = replace(base, **{k: v for k, v in merged.items() if v is not None})
    ca_bundle = options.ca_bundle or overrides.ca_bundle
    if ca_bundle and not Path(ca_bundle).is_file():
        raise SettingsError(f"--ca-bundle: no such file '{ca_bundle}'")
    settings = replace(settings, concurrency=options.concurrency)
    if options.insecure or overrides.insecure:
        return replace(settings, verify=False)
    return replace(settings, verify=ca_bundle) if ca_bundle else settings
