"""The canary scanner itself: a leak in any encoding is found, a clean directory passes."""

from __future__ import annotations

import base64
import gzip
import html
import json
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from canary import assert_no_leak, scan

SECRET = "s3cret/ä+1 2&x\"<"
LOGIN = ("admin", "pa:ss w")

WRITTEN = {
    "raw": SECRET,
    "percent": quote(SECRET, safe=""),
    "percent-lower": quote(SECRET, safe="").lower(),
    "form": quote_plus(SECRET),
    "json": json.dumps({"k": SECRET}),
    "html": html.escape(SECRET),
    "basic": "Authorization: Basic " + base64.b64encode(b"admin:pa:ss w").decode(),
}


@pytest.mark.parametrize("form", sorted(WRITTEN))
def test_each_form_is_found_in_a_nested_file(tmp_path: Path, form: str) -> None:
    nested = tmp_path / "a" / "b.log"
    nested.parent.mkdir()
    nested.write_text(f"before {WRITTEN[form]} after", encoding="utf-8")
    leaks = scan(tmp_path, [SECRET], [LOGIN])
    assert leaks and all(leak.where == str(nested) for leak in leaks)


def test_printed_text_is_scanned() -> None:
    assert scan(None, [SECRET], texts={"stdout": f"key={quote_plus(SECRET)}"})


def test_placeholders_are_clean(tmp_path: Path) -> None:
    (tmp_path / "results.json").write_text('{"curl": "apiKey=$KEEPCALL_API_KEY"}')
    assert_no_leak(tmp_path, [SECRET], [LOGIN])


def test_an_empty_report_directory_is_not_a_clean_one(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="nothing was written"):
        assert_no_leak(tmp_path, [SECRET])


def test_a_gzipped_file_is_scanned_unpacked(tmp_path: Path) -> None:
    """cases.json.gz: a secret inside must not hide behind the compression."""
    (tmp_path / "cases.json.gz").write_bytes(gzip.compress(json.dumps(SECRET).encode()))
    assert [leak.where for leak in scan(tmp_path, [SECRET])] == [
        str(tmp_path / "cases.json.gz")]
