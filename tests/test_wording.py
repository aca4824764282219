"""The wording check across a run (KC-RT-010): what it keeps stays bounded however many
different answers a target gives, and a success worded as an error is still found."""

from __future__ import annotations

import pytest

from conformance.judging.wording import MAX_SIGNATURE_CHARS, MAX_SIGNATURES, Wording, signature


def _word(n: int) -> str:
    """A word for ``n`` without digits (digits are masked: they vary in any answer)."""
    return "".join(chr(ord("a") + int(d)) for d in str(n))


def test_memory_stays_bounded_and_a_clash_is_still_found() -> None:
    wording = Wording()
    # A target that words every answer its own way: three times the cap of each kind is past
    # what an unbounded record could hide under the bound asserted.
    for n in range(3 * MAX_SIGNATURES):
        long = "x" * 2 * MAX_SIGNATURE_CHARS  # past the cap: the signature is cut and hashed
        wording.add("TEXT", f"kept at {_word(n)} {long}".encode(), True, f"case-{n}")
        wording.add("TEXT", f"refused at {_word(n)}".encode(), False, f"error-{n}")
    wording.add("TEXT", b"refused at d", True, "late-success")  # reads as error-3
    assert len(wording.seen) <= 2 * MAX_SIGNATURES + 1
    assert max(len(sig) for _, sig, _ in wording.seen) < MAX_SIGNATURE_CHARS + 40
    [check] = wording.checks()
    assert check.verdict == "fail" and "late-success" in check.message
    assert "error-3" in check.message


def test_a_long_answer_keeps_what_tells_it_apart() -> None:
    head = "y" * MAX_SIGNATURE_CHARS
    assert signature(f"{head}a".encode()) != signature(f"{head}b".encode())


def test_shards_merged_keep_the_same_bound() -> None:
    parts = [Wording(), Wording()]
    for n in range(3 * MAX_SIGNATURES):
        parts[n % 2].add("HTML", f"<p>ok {_word(n)}</p>".encode(), True, f"case-{n}")
    joined = Wording()
    for part in parts:
        joined.merge(part.state())
    assert len(joined.seen) == MAX_SIGNATURES


def test_what_varies_does_not_hide_a_clash() -> None:
    """P4: a timestamp or a request counter in every answer still reads alike."""
    wording = Wording()
    wording.add("TEXT", b"OK (request 17 at 2024-05-01 10:00:01)", True, "a")
    wording.add("TEXT", b"OK (request 18 at 2024-05-01 10:00:02)", False, "b")
    assert [c.verdict for c in wording.checks()] == ["fail"]


def test_an_error_status_tells_two_empty_bodies_apart() -> None:
    """An empty TEXT success on 200 and an empty TEXT error on 404 are told apart."""
    wording = Wording()
    wording.add("TEXT", b"", True, "a", 200)
    wording.add("TEXT", b"", False, "b", 404)
    assert "fail" not in [c.verdict for c in wording.checks()]


@pytest.mark.parametrize("body", [b"", b"  \n", b"<html><body><p></p></body></html>\n"])
def test_what_says_nothing_is_not_judged(body: bytes) -> None:
    """N16: an empty TEXT body, or a page without a word, on 200 for a success and an error
    claims neither: not failed (a success with words and an error with words still are)."""
    wording = Wording()
    wording.add("TEXT", body, True, "a", 200)
    wording.add("TEXT", body, False, "b", 200)
    assert [c.verdict for c in wording.checks()] == []
    wording.add("TEXT", b"Done.", True, "c", 200)
    wording.add("TEXT", b"Done.", False, "d", 200)
    assert [c.verdict for c in wording.checks()] == ["fail"]


def test_a_generic_page_on_an_error_status_is_not_failed() -> None:
    """N16: one page for every answer (a proxy's), the errors on 4xx: the status tells."""
    page = b"<html><body><h1>Request processed</h1></body></html>"
    wording = Wording()
    wording.add("HTML", page, True, "a", 200)
    wording.add("HTML", page, False, "b", 404)
    assert [c.verdict for c in wording.checks()] == ["pass"]


def test_an_answer_the_flags_cannot_label_takes_its_xml_twins_code() -> None:
    """P4: a TEXT "OK" to a lookup that found nothing (no flag changed: an error or a pending
    keep) is an error where its XML twin's code says so, and then reads like a success; where
    the twin succeeded (a pending keep), it is a success and nothing clashes."""
    def run(xml_success: bool, shards: int) -> list[str]:
        parts = [Wording() for _ in range(shards)]
        parts[0].add("TEXT", b"OK (ref 7b1e)", True, "kept", 200)
        parts[0].add("TEXT", b"ERROR: bad type", False, "refused", 200)
        parts[-1].add("TEXT", b"OK (ref a3f9c2)", None, "next-text", 200, twin="next|rt=*")
        parts[0].twin("next|rt=*", xml_success)
        joined = Wording()
        for part in parts:
            joined.merge(part.state())
        return [c.verdict for c in joined.checks()]
    assert run(False, 1) == run(False, 2) == ["fail"]
    assert run(True, 1) == run(True, 2) == ["pass"]


def test_an_answer_without_its_twin_is_not_compared() -> None:
    wording = Wording()
    wording.add("TEXT", b"OK", True, "kept", 200)
    wording.add("TEXT", b"OK", None, "next-text", 200, twin="no-such-twin")
    wording.twin("another", False)
    assert [c.verdict for c in wording.checks()] == ["not-tested"]
