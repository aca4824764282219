"""The wording check across a run (KC-RT-010): what it keeps stays bounded however many
different answers a target gives, and a success worded as an error is still found."""

from __future__ import annotations

from conformance.wording import MAX_SIGNATURE_CHARS, MAX_SIGNATURES, Wording, signature


def test_memory_stays_bounded_and_a_clash_is_still_found() -> None:
    wording = Wording()
    for n in range(10 * MAX_SIGNATURES):  # a target that words every answer its own way
        wording.add("TEXT", f"kept at {n} {'x' * 50_000}".encode(), True, f"case-{n}")
        wording.add("TEXT", f"refused at {n}".encode(), False, f"error-{n}")
    wording.add("TEXT", b"refused at 3", True, "late-success")  # reads as error-3
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
        parts[n % 2].add("HTML", f"<p>ok {n}</p>".encode(), True, f"case-{n}")
    joined = Wording()
    for part in parts:
        joined.merge(part.state())
    assert len(joined.seen) == MAX_SIGNATURES
