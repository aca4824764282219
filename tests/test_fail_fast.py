"""Fail fast: ``run``, ``certify`` and ``merge`` check every file and directory they will read
or write before their first request. Each bad input is exit 2 and one line naming it; the
target (a recorder) was never contacted and no results.json was written.

In process (``conformance.integration.cli.main``); ``/proc/self`` is a directory that even root
cannot write in."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile import Server, recorder

from conformance.integration.cli import main
from conformance.judging.ledger import Ledger
from conformance.reports import signing
from conformance.reports.report import JUNIT_NAME, PART_NAME, write_part

UNWRITABLE = "/proc/self"
needs_proc = pytest.mark.skipif(not Path(UNWRITABLE).is_dir(), reason="no /proc")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    """The paths the arguments name: a key pair, a file that is no key, a full directory."""
    signing.keygen(tmp_path / "key.pem", tmp_path / "key.pub.pem")
    (tmp_path / "junk.pem").write_text("not a key\n", encoding="utf-8")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "something").write_text("", encoding="utf-8")
    return {"tmp": str(tmp_path), "key": str(tmp_path / "key.pem"),
            "public": str(tmp_path / "key.pub.pem"), "junk": str(tmp_path / "junk.pem"),
            "full": str(tmp_path / "full")}


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    for name in [k for k in os.environ if k.startswith("KEEPCALL_")]:
        monkeypatch.delenv(name)
    with recorder() as server:
        yield server


def refused(args: list[str], capsys: pytest.CaptureFixture[str], target: Server,
            tmp_path: Path) -> str:
    """``args`` against the recorder: exit 2, nothing sent or written; the one line."""
    code = main([*args, "--target", f"{target.url}/verba/api", "--api-key", "k"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("keepcall-conformance: error: "), lines
    assert not target.contacted and not list(tmp_path.rglob("results.json"))
    return lines[0]


# (the command's arguments, words of the line): run's own inputs
RUN = ((["--report-dir", UNWRITABLE], ["--report-dir", UNWRITABLE]),
       (["--report-dir", "{junk}/reports"], ["--report-dir", "junk.pem"]),
       (["--expect", "{tmp}/absent.toml"], ["--expect", "absent.toml"]),
       (["--expect", "{junk}"], ["--expect", "junk.pem"]),
       (["--profile", "{tmp}/absent.toml"], ["profile", "absent.toml"]),
       (["--ca-bundle", "{tmp}/absent.pem"], ["--ca-bundle", "absent.pem"]))
# certify's: the key and the bundle, checked before its run (the locked profile: minutes)
CERTIFY = ((["--private-key", "{tmp}/absent.pem"], ["--private-key", "absent.pem"]),
           (["--private-key", "{junk}"], ["--private-key", "junk.pem", "private key"]),
           (["--private-key", "{public}"], ["--private-key", "key.pub.pem"]),
           (["--private-key", "{tmp}"], ["--private-key"]),
           (["--bundle", "{full}"], ["--bundle", "not an empty directory"]),
           (["--bundle", f"{UNWRITABLE}/bundle"], ["--bundle", UNWRITABLE]),
           (["--bundle", "{tmp}/reports"], ["--bundle", "report"]),
           (["--bundle", "{tmp}/out", "--report-dir", "{tmp}/out/reports"], ["--bundle"]),
           (["--report-dir", UNWRITABLE], ["--report-dir", UNWRITABLE]))


@needs_proc
@pytest.mark.parametrize(("args", "words"), [(["run", *a], w) for a, w in RUN] + [
    (["certify", "--private-key", "{key}", "--bundle", "{tmp}/bundle",
      "--report-dir", "{tmp}/reports", *a], w) for a, w in CERTIFY])
def test_a_bad_input_is_refused_before_any_request(
        args: list[str], words: list[str], files: dict[str, str], target: Server,
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused([a.format(**files) for a in args], capsys, target, tmp_path)
    assert all(word.format(**files) in line for word in words), line


def merge_part(where: Path) -> Path:
    """A one-part run's files, with nothing judged: its results.json path."""
    write_part(where / PART_NAME, {
        "suite": {"quick": True, "seed": 0, "level": "must"},
        "target": {"url": None, "embedded": True}, "level": "must",
        "allow_untested": False, "transport_failures": 0,
        "ledger": Ledger().state(), "wording": []})
    return where / "results.json"


# (merge's arguments besides the part, words of the line, a junit.xml beside the part)
MERGE: tuple[tuple[list[str], list[str], str | None], ...] = (
    (["--report-dir", UNWRITABLE], ["--report-dir", UNWRITABLE], None),
    (["--expect", "{tmp}/absent.toml"], ["absent.toml"], None),
    ([], [JUNIT_NAME], "<testsuites><testsuite"))


@needs_proc
@pytest.mark.parametrize(("args", "words", "junit"), MERGE)
def test_merge_refuses_a_bad_input_before_writing(
        args: list[str], words: list[str], junit: str | None, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    part = merge_part(tmp_path / "part")
    if junit is not None:
        part.with_name(JUNIT_NAME).write_text(junit, encoding="utf-8")
    merged = tmp_path / "merged"
    code = main(["merge", str(part), "--report-dir", str(merged),
                 *[a.format(tmp=tmp_path) for a in args]])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert all(word in lines[0] for word in words), lines
    assert not (merged / "results.json").exists()
