"""The redaction sink: whatever the suite writes, files and terminal, passes redact() last."""

from __future__ import annotations

import gzip
import io
import json
import sys
from pathlib import Path

import pytest

from conformance.wire import sink
from conformance.wire.redact import SECRETS, redact

SECRET = "kc-canary-sink-SECRET-5f3a<&>"
SECRET_REFS = "".join(f"&#{ord(c)};" for c in SECRET)


@pytest.fixture(autouse=True)
def _registered() -> None:
    SECRETS.add(SECRET, "$KEEPCALL_API_KEY")


def test_text_is_redacted_after_serialisation(tmp_path: Path) -> None:
    """JSON escaping happens first; the sink still finds the secret in what it became."""
    path = sink.write_text(tmp_path / "a" / "results.json", json.dumps({"m": SECRET + '"'}))
    written = path.read_text(encoding="utf-8")
    assert "$KEEPCALL_API_KEY" in written and "SECRET-5f3a" not in written


def test_gzip_is_redacted_before_it_is_packed(tmp_path: Path) -> None:
    path = sink.write_gzip(tmp_path / "cases.json.gz", f"[{SECRET_REFS!r}]")
    unpacked = gzip.decompress(path.read_bytes()).decode()
    assert "$KEEPCALL_API_KEY" in unpacked and "&#" not in unpacked


def test_bytes_and_files_written_by_others(tmp_path: Path) -> None:
    """junit.xml comes from pytest: rewritten in place; a gzipped file is unpacked first."""
    junit = tmp_path / "junit.xml"
    junit.write_bytes(f"<testsuite><failure message='{SECRET_REFS}'/></testsuite>".encode())
    sink.rewrite(junit)
    sink.rewrite(tmp_path / "missing.xml")  # nothing there: nothing to do
    assert "SECRET" not in junit.read_text() and "$KEEPCALL_API_KEY" in junit.read_text()
    packed = sink.redacted_bytes(gzip.compress(SECRET.encode()))
    assert gzip.decompress(packed) == b"$KEEPCALL_API_KEY"


def test_a_stream_holds_pieces_until_the_line_ends() -> None:
    """pytest writes a report word by word: a secret split between writes is still found."""
    inner = io.StringIO()
    stream = sink.RedactingStream(inner)
    stream.write(SECRET[:9])
    assert inner.getvalue() == ""
    stream.write(SECRET[9:] + " done\nnext ")
    assert inner.getvalue() == "$KEEPCALL_API_KEY done\n"
    stream.write(SECRET)
    stream.flush()
    assert inner.getvalue() == "$KEEPCALL_API_KEY done\nnext $KEEPCALL_API_KEY"


def test_a_commands_streams_are_wrapped_then_restored(capsys: pytest.CaptureFixture[str]
                                                      ) -> None:
    before = sys.stdout, sys.stderr
    with sink.redacted_streams():
        print(f"value {SECRET}")
        print(SECRET_REFS, file=sys.stderr)
        sink.echo(f"echo {SECRET}", err=True)
        with sink.redacted_streams():  # nested: wrapped once
            wrapped = sys.stdout
            assert isinstance(wrapped, sink.RedactingStream)
            assert not isinstance(wrapped.inner, sink.RedactingStream)
    assert (sys.stdout, sys.stderr) == before
    out, err = capsys.readouterr()
    assert out == "value $KEEPCALL_API_KEY\n"
    assert err == "$KEEPCALL_API_KEY\necho $KEEPCALL_API_KEY\n"


def test_big_files_are_redacted_in_blocks_as_whole(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cases.json.gz and junit.xml pass in blocks cut between values and between tags: a secret
    on either side of a cut, or echoed escaped inside one, is gone as from the whole text
    (blocks of 8 KiB here: the same cuts as of a megabyte, in texts a hundredth the size)."""
    from conformance.reports.report import json_pieces, load_part, write_part

    monkeypatch.setattr(sink, "BLOCK_CHARS", 1 << 13)
    filler = "x" * 999
    data = {"ledger": {"cases": {f"case-{n}": [[SECRET, filler, n], SECRET_REFS]
                                 for n in range(2 * sink.BLOCK_CHARS // 1000)}}, "n": 1}
    assert "".join(json_pieces(data, 3)) == json.dumps(data, separators=(",", ":"))
    write_part(tmp_path / "cases.json.gz", data)
    unpacked = gzip.decompress((tmp_path / "cases.json.gz").read_bytes()).decode()
    assert unpacked == redact(json.dumps(data, separators=(",", ":")))
    assert "SECRET" not in unpacked and load_part(tmp_path / "cases.json.gz")["n"] == 1
    junit = tmp_path / "junit.xml"
    cases = "".join(f"<testcase name='c{n}'><failure message='{SECRET_REFS} {filler}'/>"
                    f"</testcase><p>{SECRET}</p>" for n in range(2 * sink.BLOCK_CHARS // 1000))
    junit.write_text(f"<testsuite>{cases}</testsuite>", encoding="utf-8")
    whole = redact(junit.read_text(encoding="utf-8"))
    sink.rewrite(junit)
    assert junit.read_text(encoding="utf-8") == whole and "SECRET" not in whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.json.gz", "junit.xml"]


def test_a_file_written_whole_is_read_again_for_a_secret_learnt_since(tmp_path: Path) -> None:
    """write_tagged's file is redacted with what is known as it is written (across the cuts of
    its streams); rewrite leaves it while nothing was learnt, and a secret learnt after it was
    written is still gone from it after rewrite, the same as a file another writer made."""
    late = "kc-canary-sink-LATE-0c1d"
    junit = sink.write_tagged(tmp_path / "junit.xml", [
        io.BytesIO(b"<testsuite>"), io.BytesIO(f"<p>{SECRET_REFS}</p><q>{late}</q>".encode()),
        io.BytesIO(b"</testsuite>")])
    written = junit.read_text(encoding="utf-8")
    assert written == "<testsuite><p>$KEEPCALL_API_KEY</p><q>" + late + "</q></testsuite>"
    sink.rewrite(junit)
    assert junit.read_text(encoding="utf-8") == written
    SECRETS.add(late, "$KEEPCALL_TOKEN")
    sink.rewrite(junit)
    assert junit.read_text(encoding="utf-8") == written.replace(late, "$KEEPCALL_TOKEN")
