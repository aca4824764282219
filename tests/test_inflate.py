"""The capped body: plain bodies cut at the cap, coded ones decoded but never past it.

The bombs are real (tests/hostile.py builds a GiB of zeros in each coding); the network reads
are played as the slices a socket might deliver. The transport's tests (tests/test_transport.py)
serve the same bombs over loopback.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable

import pytest
from hostile import SUCCESS, bomb_body, zeros_coded

from conformance.wire.inflate import PIECE, CappedBody, TooLarge, content_codings

CAP = 64 * 1024


def reads(data: bytes, size: int = 65536) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def feed(body: CappedBody, chunks: Iterable[bytes]) -> bool:
    """Feed reads until the body says stop; whether it did."""
    return any(body.add(chunk) for chunk in chunks)


@pytest.mark.parametrize(("values", "codings"), [
    ([], ()), (["gzip"], ("gzip",)), (["GZip , identity,deflate"], ("gzip", "deflate")),
    (["gzip", "br"], ("gzip", "br")), ([" ", "identity"], ()),
])
def test_content_codings(values: list[str], codings: tuple[str, ...]) -> None:
    assert content_codings(values) == codings


def test_a_plain_body_is_cut_at_the_cap_and_flagged() -> None:
    body = CappedBody((), 10)
    assert not body.add(b"12345")
    assert body.add(b"67890abc")
    assert (bytes(body.data), body.truncated) == (b"1234567890", True)


def test_a_plain_body_of_exactly_the_cap_is_whole() -> None:
    body = CappedBody((), 4)
    assert not body.add(b"1234")
    assert (bytes(body.data), body.truncated) == (b"1234", False)


@pytest.mark.parametrize(("codings", "coded"), [
    (("gzip",), gzip.compress(SUCCESS * 100)),
    (("x-gzip",), gzip.compress(SUCCESS * 100)),
    (("deflate",), zlib.compress(SUCCESS * 100)),
    (("deflate",), zlib.compress(SUCCESS * 100, wbits=-zlib.MAX_WBITS)),
    (("deflate", "gzip"), gzip.compress(zlib.compress(SUCCESS * 100))),
], ids=["gzip", "x-gzip", "deflate", "raw-deflate", "deflate-then-gzip"])
@pytest.mark.parametrize("size", [1, 7, 65536])
def test_a_coded_body_is_decoded_whatever_the_reads(codings: tuple[str, ...], coded: bytes,
                                                    size: int) -> None:
    body = CappedBody(codings, CAP)
    feed(body, reads(coded, size))
    assert bytes(body.data) == SUCCESS * 100 and not body.truncated


def test_a_body_of_more_than_a_piece_comes_whole() -> None:
    """Pieces are pulled until none is left, also when a piece ends exactly full."""
    data = bytes(range(256)) * (3 * PIECE // 256)
    body = CappedBody(("gzip",), 4 * PIECE)
    feed(body, [gzip.compress(data)])
    assert bytes(body.data) == data


def test_reading_stops_at_the_end_of_the_coded_stream() -> None:
    body = CappedBody(("gzip",), CAP)
    assert body.add(gzip.compress(SUCCESS) + b"trailing junk, never decoded")
    assert bytes(body.data) == SUCCESS


@pytest.mark.parametrize("codings", [("gzip",), ("deflate",), ("gzip", "gzip"),
                                     ("deflate", "gzip")], ids=", ".join)
@pytest.mark.parametrize("size", [65536, 1460])
def test_a_bomb_raises_too_large_with_the_cap_kept(codings: tuple[str, ...], size: int) -> None:
    body = CappedBody(codings, CAP)
    with pytest.raises(TooLarge, match=f"{', '.join(codings)} body inflates past the cap"):
        feed(body, reads(bomb_body(codings), size))
    assert bytes(body.data) == bytes(CAP) and body.truncated


def test_padding_that_decodes_to_nothing_is_too_large() -> None:
    """Empty stored blocks inflate to nothing: an endless stream of them must still end."""
    empty_blocks = zeros_coded("gzip", 1 << 20)[:10] + b"\x00\x00\x00\xff\xff" * 100_000
    with pytest.raises(TooLarge, match="more than 131072 bytes still compressed"):
        feed(CappedBody(("gzip",), CAP), reads(empty_blocks))


def test_a_coding_not_undone_here_is_kept_as_received() -> None:
    coded = gzip.compress(SUCCESS)
    body = CappedBody(("gzip", "br"), CAP)
    feed(body, [coded])
    assert body.codings == () and bytes(body.data) == coded


def test_corrupt_data_is_a_zlib_error() -> None:
    with pytest.raises(zlib.error):
        CappedBody(("gzip",), CAP).add(b"\x1f\x8b\x08\x00 not gzip at all")


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_the_bombs_are_true_to_their_coding(coding: str) -> None:
    """The hostile servers' bombs, built from a repeated segment, decode to what they claim."""
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    assert zlib.decompress(zeros_coded(coding, 4 << 20), wbits) == bytes(4 << 20)
