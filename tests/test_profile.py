"""Target profiles: every bad input is a ProfileError with one line naming the problem."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from conformance.domain.model import Call
from conformance.wire.profile import Profile, ProfileError, load, parse

CALL = {"callID": "c1", "caller": "8856", "called": "+3612345678", "state": "finished",
        "offsetSeconds": 600}

# (profile data, words the message must contain)
BAD: tuple[tuple[dict[str, object], tuple[str, ...]], ...] = (
    ({"bogus": 1}, ("unknown key", "bogus")),
    ({"api_key": "s3cr3t"}, ("api_key", "must not be in a profile")),
    ({"apiKey": "s3cr3t"}, ("apiKey",)),
    ({"token": "t"}, ("token",)),
    ({"password": "p"}, ("password",)),
    ({"target": 42}, ("target", "str")),
    ({"control_url": ["x"]}, ("control_url",)),
    ({"username": 1}, ("username",)),
    ({"token_required": "yes"}, ("token_required", "bool")),
    ({"calls": {"callID": "x"}}, ("calls", "array")),
    ({"calls": ["x"]}, ("calls[0]", "table")),
    ({"calls": [{**CALL, "state": "paused"}]}, ("calls[0].state",)),
    ({"calls": [{**CALL, "offsetSeconds": -1}]}, ("calls[0].offsetSeconds", ">= 0")),
    ({"calls": [{**CALL, "offsetSeconds": True}]}, ("calls[0].offsetSeconds",)),
    ({"calls": [{**CALL, "offsetSeconds": 1.5}]}, ("calls[0].offsetSeconds", "int")),
    ({"calls": [CALL, {k: v for k, v in CALL.items() if k != "caller"}]}, ("calls[1].caller",)),
    ({"calls": [{**CALL, "kept": True}]}, ("calls[0]", "unknown key", "kept")),
    ({"transport": 3}, ("transport", "table")),
    ({"transport": {"retries": 3}}, ("transport", "unknown key", "retries")),
    ({"transport": {"read_timeout": "10"}}, ("transport.read_timeout", "wrong type")),
    ({"transport": {"max_response_bytes": 1.5}}, ("transport.max_response_bytes",)),
    ({"transport": {"rate": True}}, ("transport.rate",)),
    ({"transport": {"insecure": "no"}}, ("transport.insecure",)),
    ({"transport": {"ca_bundle": 1}}, ("transport.ca_bundle",)),
    ({"calls_valid_at": "2026-12-07"}, ("calls_valid_at", "offset")),
    ({"calls_valid_at": datetime(2026, 12, 7, 10)}, ("calls_valid_at", "offset")),
)


@pytest.mark.parametrize(("data", "words"), BAD)
def test_bad_profiles_name_the_problem(data: dict[str, object], words: tuple[str, ...]) -> None:
    with pytest.raises(ProfileError) as raised:
        parse(data)
    message = str(raised.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_a_full_profile_parses() -> None:
    profile = parse({"target": "https://h/verba/api", "control_url": "https://h/c",
                     "token_required": True, "username": "u", "calls": [CALL],
                     "transport": {"read_timeout": 10, "insecure": True, "rate": 2.5}})
    assert profile.target == "https://h/verba/api" and profile.token_required is True
    assert profile.calls == (Call("c1", "8856", "+3612345678", "finished", 600),)
    assert profile.transport.read_timeout == 10 and profile.transport.insecure is True
    assert parse({}) == Profile()


def test_calls_valid_at_is_read_from_toml(tmp_path: Path) -> None:
    """N15: when the listed calls' offsets held, as TOML writes a moment."""
    path = tmp_path / "p.toml"
    path.write_text("calls_valid_at = 2026-12-07T10:00:00Z\n")
    moment = datetime(2026, 12, 7, 10, tzinfo=UTC).timestamp()
    assert load(path).calls_valid_at == moment


# (file content, words the message must contain)
BAD_FILES = (
    (b"target = ", ("not valid TOML",)),
    (b"\xff\xfe = 1", ("not valid TOML",)),
    (b'api_key = "s3cr3t-value"', ("api_key",)),
)


@pytest.mark.parametrize(("content", "words"), BAD_FILES)
def test_bad_files_name_the_file_and_problem(tmp_path: Path, content: bytes,
                                             words: tuple[str, ...]) -> None:
    path = tmp_path / "target.toml"
    path.write_bytes(content)
    with pytest.raises(ProfileError) as raised:
        load(path)
    message = str(raised.value)
    assert "\n" not in message and str(path) in message
    assert all(w in message for w in words), message
    assert "s3cr3t-value" not in message  # a secret in the file is never echoed


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match="cannot read"):
        load(tmp_path / "absent.toml")


def test_load_reads_toml(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('target = "http://h/verba/api"\n[[calls]]\ncallID = "c1"\ncaller = "8856"\n'
                    'called = "+3612345678"\nstate = "finished"\noffsetSeconds = 600\n')
    assert load(path).calls[0].call_id == "c1"
