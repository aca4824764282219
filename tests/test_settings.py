"""Run settings: one-line SettingsErrors for bad input, and the KEEPCALL_* environment."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any, cast, get_type_hints

import pytest

from conformance.integration.options import OPTIONS, Option
from conformance.integration.settings import Options, SettingsError, resolve

T = "http://127.0.0.1:9/verba/api"
KEY = {"api_key": "k-123456"}
KEY_ENV = {"KEEPCALL_API_KEY": "k"}

# (options, environment, words the message must contain)
BAD: tuple[tuple[dict[str, object], dict[str, str], tuple[str, ...]], ...] = (
    ({"target": "ftp://h/verba/api", **KEY}, {}, ("--target", "http")),
    ({"target": "http:///verba/api", **KEY}, {}, ("--target", "host")),
    ({"target": "localhost:8080", **KEY}, {}, ("--target",)),
    ({"control_url": "not a url"}, {}, ("--control-url",)),
    ({"target": T}, {}, ("API key", "KEEPCALL_API_KEY")),
    ({"target": T, **KEY, "token": "t", "username": "u", "password": "p"}, {},
     ("--token", "--username")),
    ({"target": T, **KEY, "username": "u"}, {}, ("--username", "password")),
    ({"target": T, **KEY}, {"KEEPCALL_USERNAME": "u"}, ("password",)),
    ({"level": "foo"}, {}, ("--level", "foo")),
    ({"token_required": "maybe"}, {}, ("--token-required", "unknown", "maybe")),
    ({"examples": 0}, {}, ("--examples", "positive")),
    ({"budget": -1.0}, {}, ("--budget",)),
    ({"rate": 0.0}, {}, ("--rate",)),
    ({"read_timeout": 0.0}, {}, ("--read-timeout",)),
    ({"total_timeout": -5.0}, {}, ("--timeout",)),  # the flag, not the field
    ({"max_response_bytes": 0}, {}, ("--max-response-bytes",)),
    ({"ca_bundle": "/nonexistent/ca.pem"}, {}, ("--ca-bundle", "/nonexistent/ca.pem")),
)


@pytest.mark.parametrize(("options", "env", "words"), BAD)
def test_bad_input_names_the_problem(options: dict[str, object], env: dict[str, str],
                                     words: tuple[str, ...]) -> None:
    with pytest.raises(SettingsError) as raised:
        resolve(Options(**options), env)  # type: ignore[arg-type]
    message = str(raised.value)
    assert "\n" not in message and all(w in message for w in words), message


def _field_type(option: Option) -> Any:
    """The type an Options field must have for its row of the table."""
    if option.parse is None:
        return bool
    if option.repeat:
        return tuple[str, ...]
    return option.parse if option.default is not None else cast(type[Any], option.parse) | None


def test_options_fields_are_the_table_rows() -> None:
    """settings.Options is the table: one field per row, in order, typed as the row parses, with
    the row's default; a secret stays out of its repr."""
    rows = {option.name: option for option in OPTIONS}
    assert [f.name for f in fields(Options)] == list(rows)
    hints = get_type_hints(Options)
    for f in fields(Options):
        row = rows[f.name]
        assert (hints[f.name], f.default, f.repr) == (_field_type(row), row.default,
                                                      not row.secret), f.name


def test_secrets_stay_out_of_the_options_repr() -> None:
    text = repr(Options(api_key="K-secret", token="T-secret", password="P-secret",
                        open_api_key="O-secret", username="operator"))
    assert "secret" not in text and "operator" in text


def test_secrets_stay_out_of_the_settings_repr() -> None:
    """Settings hold the credentials: their repr says which are given, not what they are."""
    text = repr(resolve(Options(target="http://t/verba/api", api_key="K-secret",
                                password="P-secret", username="operator",
                                open_api_key="O-secret")))
    assert "secret" not in text and "api_key=<given>" in text


def test_a_bad_profile_is_a_settings_error(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text('password = "hunter2-secret"\n')
    with pytest.raises(SettingsError) as raised:
        resolve(Options(profile=str(profile)), {})
    assert "password" in str(raised.value) and "hunter2-secret" not in str(raised.value)


def test_a_non_positive_transport_value_from_the_profile(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text("[transport]\nread_timeout = 0\n")
    with pytest.raises(SettingsError, match="read-timeout"):
        resolve(Options(profile=str(profile)), {})


def test_secrets_come_from_the_environment() -> None:
    env = {"KEEPCALL_API_KEY": "env-key", "KEEPCALL_TOKEN": "env-token",
           "KEEPCALL_OPEN_API_KEY": "env-open"}
    settings = resolve(Options(target=T), env)
    assert settings.credentials.api_key == "env-key"
    assert settings.credentials.token == "env-token"
    assert settings.credentials.open_api_key == "env-open"
    login = resolve(Options(target=T, username="u"), {"KEEPCALL_API_KEY": "k",
                                                      "KEEPCALL_PASSWORD": "env-pass"})
    assert (login.credentials.username, login.credentials.password) == ("u", "env-pass")


def test_options_win_over_the_environment() -> None:
    env = {"KEEPCALL_API_KEY": "env-key", "KEEPCALL_TOKEN": "env-token"}
    settings = resolve(Options(target=T, api_key="opt-key", token="opt-token"), env)
    assert (settings.credentials.api_key, settings.credentials.token) == ("opt-key",
                                                                          "opt-token")


def test_an_explicit_token_wins_over_a_login_from_the_environment() -> None:
    env = {"KEEPCALL_USERNAME": "u", "KEEPCALL_PASSWORD": "p"}
    settings = resolve(Options(target=T, token="t", **KEY), env)  # type: ignore[arg-type]
    assert settings.credentials.token == "t" and settings.credentials.username is None


def test_defaults_and_embedded() -> None:
    settings = resolve(Options(), {})
    assert settings.embedded and settings.level == "must" and not settings.quick
    assert settings.report_dir == Path("reports")
    assert not resolve(Options(target=T, **KEY), {}).embedded  # type: ignore[arg-type]
    assert settings.allow_untested is False  # a gap in the gate makes a run partial


def test_allow_untested_reaches_the_settings() -> None:
    assert resolve(Options(allow_untested=True), {}).allow_untested is True


def test_profile_values_fill_in_and_options_override(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(f'target = "{T}"\ntoken_required = false\n[transport]\nrate = 3.0\n')
    settings = resolve(Options(profile=str(profile)), {"KEEPCALL_API_KEY": "k"})
    assert settings.target == T and settings.token_required is False
    assert settings.transport.rate == 3.0
    other = "https://example.test/verba/api"
    overridden = resolve(replace(Options(profile=str(profile)), target=other, rate=1.0),
                         {"KEEPCALL_API_KEY": "k"})
    assert overridden.target == other and overridden.transport.rate == 1.0


def test_insecure_and_ca_bundle(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert resolve(Options(ca_bundle=str(bundle)), {}).transport.verify == str(bundle)
    assert resolve(Options(insecure=True), {}).transport.verify is False


LOGIN: dict[str, Any] = {"username": "u", "password": "p"}
# (options, what the key is declared, what the run holds it to: N14)
TOKEN_RULES: tuple[tuple[dict[str, Any], bool | None, bool | None], ...] = (
    ({"target": T, **KEY, **LOGIN}, None, None),  # a login says nothing of the key
    ({"target": T, **KEY, "token": "t"}, None, None),
    ({"target": T, **KEY}, None, False),  # no token can be sent: none is needed
    ({"target": T, **KEY, **LOGIN, "token_required": "yes"}, True, True),
    ({"target": T, **KEY, **LOGIN, "token_required": "no"}, False, False),
    ({"target": T, **KEY, "token_required": "yes"}, True, True),
    ({}, True, True),  # the embedded server's key needs one
    ({"reference_switches": ("token=optional",)}, None, None),
    ({"reference_switches": ("token=optional",), "token_required": "yes"}, True, True),
    ({"token_required": "unknown"}, None, None),
)


@pytest.mark.parametrize(("options", "declared", "held"), TOKEN_RULES)
def test_the_token_is_required_as_declared_else_either(
        options: dict[str, Any], declared: bool | None, held: bool | None) -> None:
    settings = resolve(Options(**options), {})
    assert (settings.token_required, settings.needs_token) == (declared, held)


def test_the_option_overrides_the_profile(tmp_path: Path) -> None:
    profile = tmp_path / "p.toml"
    profile.write_text(f'target = "{T}"\ntoken_required = false\n')
    options = Options(profile=str(profile), token_required="unknown", username="u", password="p")
    settings = resolve(options, KEY_ENV)
    assert settings.token_required is None and settings.needs_token is None
