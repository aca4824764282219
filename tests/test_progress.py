"""The progress line: rewritten in place on a terminal, a line at most every 10 s in a log,
nothing when quiet; the time left comes from the rate so far."""

from __future__ import annotations

import io
import multiprocessing

import pytest

from conformance.integration.progress import (
    LOG_EVERY,
    RATE_AFTER,
    Board,
    Progress,
    part_post,
    post_as_part,
)


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


def test_the_parts_of_a_workers_run_make_one_line() -> None:
    """Each part posts its own counts; the parent's one line is their sum, for the whole run
    (a part not started yet adds nothing), never a line per part or phase."""
    clock, log = Clock(), io.StringIO()
    board, parent = Board(3), Progress(show=True, stream=log, clock=clock)
    parts = [Progress(total=total, clock=clock, post=board.slot(i))
             for i, total in enumerate((300, 100))]  # the third (exclusive) has not begun
    board.show(parent)
    for _ in range(40):
        clock.now += 0.5
        for part in parts:
            part.step(failed=part is parts[1])
        board.show(parent)
    assert board.sums() == (400, 80, 40)
    lines = log.getvalue().splitlines()
    assert 2 <= len(lines) <= 20 / LOG_EVERY + 1
    assert parent.line(clock.now) == "  80/400 cases, 40 failed, 4 cases/s, 1:20 left"


@pytest.mark.system
def test_a_forked_part_posts_to_the_parents_board() -> None:
    """The board is memory the forked parts inherit: what a part posts, the parent reads."""
    board = Board(2)

    def part() -> None:
        post_as_part(board.slot(1))
        progress = Progress(total=7, post=part_post())
        progress.posted()
        progress.step(failed=True)

    child = multiprocessing.get_context("fork").Process(target=part)
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert board.sums() == (7, 1, 1)
    assert part_post() is None  # this process is no part
