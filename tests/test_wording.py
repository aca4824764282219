"""The wording check across a run (KC-RT-010): what it keeps stays bounded however many
different answers a target gives, and a success worded as an error is still found."""

from __future__ import annotations

from conformance.wording import MAX_SIGNATURE_CHARS, MAX_SIGNATURES, Wording, signature


def _word(n: int) -> str:
    """A word for ``n`` without digits (digits are masked: they vary in any answer)."""
    return "".join(chr(ord("a") + int(d)) for d in str(n))


def test_memory_stays_bounded_and_a_clash_is_still_found() -> None:
    wording = Wording()
    for n in range(10 * MAX_SIGNATURES):  # a target that words every answer its own way
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
    """N15: an empty TEXT success on 200 and an empty TEXT error on 404 are told apart."""
    wording = Wording()
    wording.add("TEXT", b"", True, "a", 200)
    wording.add("TEXT", b"", False, "b", 404)
    assert [c.verdict for c in wording.checks()] == ["pass"]
