"""The options of a conformance run, written once.

``keepcall-conformance run`` builds its argparse options from this table, the pytest entry point
its ``--kc-*`` options, and ``settings.Options`` the defaults of its fields (a test checks that
the fields and the rows agree, name for name and type for type). A fact about an option (its
flag, parser, default, help, environment variable, secrecy) is written here and nowhere else.

Only the standard library is imported: pytest loads this module through the entry point in every
run of the environment, conformance run or not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Group key -> heading, in the order the help lists them.
GROUPS = {
    "target": "target",
    "credentials": "credentials (secrets are best given by environment variable)",
    "run": "run",
    "scale": "scale: shards and workers",
    "transport": "transport",
    "reference": "embedded reference server",
}


@dataclass(frozen=True)
class Option:
    """One thing a user may say about a run.

    ``parse`` turns the text given into the value (``None``: a switch, true when given);
    ``repeat`` options may be given several times and make a tuple; ``positive`` ones must be
    greater than zero (settings checks it, as it also checks the profile's values).
    """

    name: str
    parse: Callable[[str], Any] | None
    default: Any
    help: str
    group: str
    env: str | None = None
    secret: bool = False
    flag: str = ""
    choices: tuple[str, ...] = ()
    repeat: bool = False
    positive: bool = False
    metavar: str | None = None

    @property
    def long(self) -> str:
        """The flag without its dashes or prefix: ``--{long}``, ``--kc-{long}``."""
        return self.flag or self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str:
        return f"--{self.long}"


OPTIONS: tuple[Option, ...] = (
    Option("target", str, None, "full endpoint URL, e.g. https://host/verba/api; none: the "
           "embedded reference server", "target"),
    Option("api_key", str, None, "API key", "credentials", env="KEEPCALL_API_KEY",
           secret=True),
    Option("token", str, None, "session token, used as given (excludes --username)",
           "credentials", env="KEEPCALL_TOKEN", secret=True),
    Option("username", str, None, "login for RequestToken", "credentials",
           env="KEEPCALL_USERNAME"),
    Option("password", str, None, "password for RequestToken", "credentials",
           env="KEEPCALL_PASSWORD", secret=True),
    Option("open_api_key", str, None, "a key that needs no token, if the target has one",
           "credentials", env="KEEPCALL_OPEN_API_KEY", secret=True),
    Option("token_required", str, None, "whether the API key needs a token: yes, no, or "
           "unknown (either way is accepted, one way across the run); by default a profile's "
           "token_required, else unknown with a token or login, no without (the embedded "
           "server: yes)", "credentials", choices=("yes", "no", "unknown")),
    Option("control_url", str, None, "base URL of the target's control protocol", "target"),
    Option("profile", str, None, "TOML target profile", "target"),
    Option("report_dir", str, "reports", "where the reports go", "run"),
    Option("quick", None, False, "pairwise subset of the matrix, for CI gates", "run"),
    Option("level", str, "must", "requirements at this level or above gate the verdict",
           "run", choices=("must", "should")),
    Option("allow_untested", None, False, "gate on what was tested: untested gating "
           "requirements do not make the run partial (exit 4)", "run"),
    Option("expect", str, None, "TOML file of known failures (requirement, reason, link, "
           "expires): they do not fail the gate until they expire; an entry that no longer "
           "fails, has expired or matches nothing fails the run", "run", metavar="FILE"),
    Option("seed", int, 0, "repeat a run exactly (without it a seed is drawn, printed at "
           "the start and recorded in results.json)", "run"),
    Option("examples", int, 100, "Hypothesis examples per property", "run", positive=True),
    Option("budget", float, 60.0, "seconds for the property-based part", "run",
           positive=True),
    Option("max_duration", float, None, "stop after this many seconds (the cases begun end "
           "first); a run cut short is never conformant", "run", positive=True,
           metavar="SECONDS"),
    Option("shard", str, None, "run slice I of N: every Nth case of the matrix, the other "
           "tests in shard N; 'keepcall-conformance merge' joins the shards' results", "scale",
           metavar="I/N"),
    Option("workers", int, None, "run the cases in N processes at once, then the tests that "
           "move the target's clock alone; results equal a serial run's", "scale",
           positive=True, metavar="N"),
    Option("part", str, "all", "which tests of the shard: all; parallel (the matrix slice, "
           "a case that must move the clock deferred, and a share of the searches that move "
           "no clock); exclusive (the other tests and the cases --deferred lists); --workers "
           "runs both", "scale",
           choices=("all", "parallel", "exclusive")),
    Option("deferred", str, None, "file of matrix case ids (one per line) for the exclusive "
           "part", "scale", metavar="FILE"),
    Option("ca_bundle", str, None, "CA bundle for TLS verification", "transport"),
    Option("insecure", None, False, "do not verify TLS certificates", "transport"),
    Option("rate", float, None, "at most this many requests per second", "transport",
           positive=True),
    Option("concurrency", int, 8, "requests in flight at most against the target, within "
           "one process: matrix cases run in batches of 8 x N, set up with one control "
           "request and read back with one; 1: one case at a time", "transport",
           positive=True, metavar="N"),
    Option("total_timeout", float, None, "total seconds per request", "transport",
           flag="timeout", positive=True),
    Option("connect_timeout", float, None, "seconds to connect", "transport", positive=True),
    Option("read_timeout", float, None, "seconds between bytes read", "transport",
           positive=True),
    Option("max_response_bytes", int, None, "read at most this much of an answer",
           "transport", positive=True),
    Option("reference_switches", str, (), "open choice of the embedded reference server "
           "(repeatable)", "reference", flag="reference-switch", repeat=True,
           metavar="NAME=VALUE"),
    Option("reference_faults", str, (), "inject a fault into the embedded reference server "
           "(repeatable)", "reference", flag="reference-fault", repeat=True, metavar="NAME"),
)

BY_NAME = {option.name: option for option in OPTIONS}
ENV = {option.name: option.env for option in OPTIONS if option.env}


def grouped() -> Iterator[tuple[str, str, tuple[Option, ...]]]:
    """(key, heading, options) of each group, in help order."""
    for key, heading in GROUPS.items():
        yield key, heading, tuple(o for o in OPTIONS if o.group == key)


def keywords(option: Option, dest_prefix: str = "") -> dict[str, Any]:
    """The keywords of argparse's ``add_argument`` (pytest's ``addoption`` takes the same).

    Every default is None, so that a value present was given: the CLI and pytest then leave
    defaults to ``settings.Options``, and the entry point can tell a conformance run asked for.
    """
    base: dict[str, Any] = {"dest": dest_prefix + option.name, "default": None,
                            "help": _help(option)}
    if option.parse is None:
        return base | {"action": "store_true"}
    extra: dict[str, Any] = {"type": option.parse}
    if option.repeat:
        extra["action"] = "append"
    if option.choices:
        extra["choices"] = option.choices  # argparse shows them as the metavar
    else:
        extra["metavar"] = option.metavar or option.long.upper().replace("-", "_")
    return base | extra


def _help(option: Option) -> str:
    text = option.help
    if option.env:
        text += f" (or {option.env})"
    if option.default is not None and option.default is not False and option.default != ():
        text += f" (default: {option.default})"
    return text.replace("%", "%%")  # argparse formats help with %


def given(namespace: object, dest_prefix: str = "") -> dict[str, Any]:
    """The options given in a parsed namespace (argparse's, or pytest's ``config.option``),
    by ``Options`` field; repeated ones as tuples."""
    found = {o.name: getattr(namespace, dest_prefix + o.name, None) for o in OPTIONS}
    return {name: tuple(value) if isinstance(value, list) else value
            for name, value in found.items() if value is not None}
