"""Pacing on a fake clock: the waits are computed and recorded, never slept."""

from __future__ import annotations

import pytest

from conformance.wire.pacing import Pacer, parse_retry_after

WALL = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 GMT


class FakeClock:
    """A monotonic clock that only moves when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def pacer(self, rate: float | None = None, max_retry_after: float = 30.0) -> Pacer:
        return Pacer(rate, max_retry_after, clock=lambda: self.now, sleep=self.sleep,
                     wall=lambda: WALL)


def test_without_rate_or_retry_after_nothing_waits() -> None:
    clock = FakeClock()
    pacer = clock.pacer()
    assert [pacer.wait_turn() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []


def test_rate_spaces_requests_by_its_interval() -> None:
    clock = FakeClock()
    pacer = clock.pacer(rate=4.0)
    waits = [pacer.wait_turn() for _ in range(4)]
    assert waits == [0.0, 0.25, 0.25, 0.25]
    assert clock.sleeps == [0.25, 0.25, 0.25]


def test_time_spent_sending_counts_towards_the_interval() -> None:
    clock = FakeClock()
    pacer = clock.pacer(rate=4.0)
    pacer.wait_turn()
    clock.now += 0.1  # the request took 0.1 s
    assert pacer.wait_turn() == pytest.approx(0.15)


def test_retry_after_is_owed_in_full_before_the_next_request() -> None:
    clock = FakeClock()
    pacer = clock.pacer()
    pacer.wait_turn()
    assert pacer.retry_after(429, "2") == 2.0
    clock.now += 0.5  # time passing before the next request does not shorten it
    assert pacer.wait_turn() == 2.0
    assert pacer.wait_turn() == 0.0  # owed once


def test_retry_after_and_rate_together_keep_the_slots() -> None:
    clock = FakeClock()
    pacer = clock.pacer(rate=2.0)
    pacer.wait_turn()
    pacer.retry_after(503, "1")
    assert pacer.wait_turn() == 1.0
    assert pacer.wait_turn() == 0.5  # the rate's slot counts from after the wait


@pytest.mark.parametrize(("status", "value", "owed"), [
    (429, "5", 5.0), (503, "5", 5.0), (429, "600", 30.0), (200, "5", None), (500, "5", None),
    (429, None, None), (429, "soon", None), (None, "5", None),
    (429, "Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
])
def test_only_a_throttling_answer_is_owed_its_wait_capped(
        status: int | None, value: str | None, owed: float | None) -> None:
    clock = FakeClock()
    pacer = clock.pacer()
    assert pacer.retry_after(status, value) == owed
    assert pacer.wait_turn() == (owed or 0.0)


def test_the_longer_of_two_retry_afters_is_owed() -> None:
    pacer = FakeClock().pacer()
    pacer.retry_after(429, "3")
    pacer.retry_after(429, "1")
    assert pacer.wait_turn() == 3.0


@pytest.mark.parametrize(("value", "expected"), [
    ("1", 1.0), (" 120 ", 120.0), ("-1", None), ("soon", None), (None, None), ("", None),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("Wed, 21 Oct 2015 07:29:00 GMT", 60.0),
    ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # a date passed: no wait
])
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, WALL) == expected


def test_parse_retry_after_reads_the_wall_clock_by_default() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
