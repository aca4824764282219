"""The progress line: rewritten in place on a terminal, a line at most every 10 s in a log,
nothing when quiet; the time left comes from the rate so far."""

from __future__ import annotations

import io

from conformance.progress import LOG_EVERY, RATE_AFTER, Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(progress: Progress, clock: Clock, cases: int, seconds_each: float) -> None:
    for index in range(cases):
        clock.now += seconds_each
        progress.step(failed=index % 10 == 0)


def test_a_log_gets_a_line_every_ten_seconds_at_most() -> None:
    clock, log = Clock(), io.StringIO()
    progress = Progress(show=True, total=1000, stream=log, clock=clock)
    run(progress, clock, 1000, 0.1)  # 100 s of cases
    lines = log.getvalue().splitlines()
    assert 8 <= len(lines) <= 100 / LOG_EVERY + 1
    assert lines[-1].startswith("  ") and "failed" in lines[-1] and "cases/s" in lines[-1]


def test_a_terminal_line_is_rewritten_in_place_and_ended() -> None:
    clock, terminal = Clock(), Terminal()
    progress = Progress(show=True, total=50, stream=terminal, clock=clock)
    run(progress, clock, 50, 0.5)
    progress.finish()
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n") and text.count("\r") > 10


def test_the_line_says_done_failed_rate_and_time_left() -> None:
    clock = Clock()
    progress = Progress(total=400, clock=clock)
    run(progress, clock, 100, 0.5)  # 100 cases in 49.5 s after the first: 2 per second
    assert progress.line(clock.now) == "  100/400 cases, 10 failed, 2 cases/s, 2:29 left"


def test_no_rate_is_shown_before_it_means_anything() -> None:
    """The first line once read "1/338 cases, 0 failed, 1000000000 cases/s"."""
    clock, log = Clock(), io.StringIO()
    progress = Progress(show=True, total=338, stream=log, clock=clock)
    progress.step(failed=False)
    clock.now += RATE_AFTER / 2
    progress.step(failed=False)
    assert log.getvalue() == "  1/338 cases, 0 failed\n"
    assert progress.line(clock.now) == "  2/338 cases, 0 failed"
    clock.now += RATE_AFTER
    assert progress.line(clock.now).startswith("  2/338 cases, 0 failed, 1 cases/s, ")


def test_quiet_writes_nothing() -> None:
    clock, log = Clock(), io.StringIO()
    progress = Progress(show=False, total=100, stream=log, clock=clock)
    run(progress, clock, 100, 1.0)
    progress.finish()
    assert log.getvalue() == "" and progress.done == 100 and progress.failed == 10
