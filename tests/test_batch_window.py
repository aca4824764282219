"""The requests in flight of a run's batches (``Batches.window``): they open up to
``--concurrency`` against a slow but healthy target, stay small against one that fails, and
stop growing against one that slows down under them.

Real exchanges over loopback TCP: the reference server with its latency switch (in this
process), or a small server of the test's own whose answers wait longer the more requests
it holds.
"""

from __future__ import annotations

import socket
import threading
import time
from itertools import islice

from hostile import API_PATH, SUCCESS, Server, read_request, reset, response, serve
from reference_helpers import started
from test_batch import target_on

from conformance.domain.matrix import Case, all_cases
from conformance.domain.scenarios import Numbering
from conformance.reference import ReferenceServer, Switches
from conformance.running.batch import BATCH_PER_SLOT, Batches, near_edge
from conformance.running.runner import Result

LIMIT = 8


def _cases(count: int) -> list[Case]:
    """The first ``count`` cases that run together (no call near an edge); the rest of the
    matrix is not instantiated (0.5 s of CPU for each test)."""
    return list(islice((c for c in all_cases() if not near_edge(c.instantiate(Numbering())[0])),
                       count))


def _run(batches: Batches, cases: list[Case]) -> tuple[list[Result], list[int]]:
    """Every case's result, and the window before each batch began."""
    windows, results = [], []
    for case in cases:
        if not batches.holds(case):
            windows.append(batches.window)
        results.append(batches.result(case))
    return results, windows


def test_the_window_opens_against_a_slow_healthy_target() -> None:
    """60 ms on every answer, API and control: a batch at 5 in flight takes over half a
    second (the old rule's bound to grow), yet every answer is as quick as the first: the
    window reaches --concurrency, and the later batches hold BATCH_PER_SLOT cases a slot.
    The first case alone, a batch at the window its requests opened, one at LIMIT: the window
    before each. The wire is not the subject: the server in this process, over the seam."""
    cases = _cases(1 + 2 * BATCH_PER_SLOT + BATCH_PER_SLOT * LIMIT)
    with target_on(ReferenceServer(Switches(latency=60)), inside=True) as target:
        batches = Batches(target, Numbering(11), cases, LIMIT)
        results, windows = _run(batches, cases)
        control = target.client.control_requests
    assert windows[0] == 1 and windows[-1] == LIMIT, windows
    assert all(r.exchange is not None and r.skipped is None for r in results)
    assert control < len(cases) / 8  # set up and read back by the batch, not by the case


def test_the_window_stays_at_one_against_a_target_that_fails() -> None:
    """Every API request reset (the circuit breaker set out of reach): each batch halves
    the window, so cases keep running one at a time."""
    cases = _cases(12)
    with started(ReferenceServer()) as server, reset() as dead, \
            target_on(server, api=dead.url + API_PATH) as target:
        target.breakers.circuit = 10_000
        batches = Batches(target, Numbering(12), cases, LIMIT)
        _, windows = _run(batches, cases)
    assert set(windows) == {1} and len(windows) == len(cases)


def _loaded(conn: object, server: Server) -> None:
    """Answers the success envelope after 20 ms alone, after 230 ms while it holds another.
    A batch at four in flight (eight rounds) then stays within BATCH_SECONDS on a quiet
    machine, so only the answers' times stop the window there; their step is wide enough
    that a loaded machine's delays to the fastest batch (tens of ms, seen at a load of 8)
    do not hide it, and a load that would makes the batch too slow to grow anyway."""
    assert isinstance(conn, socket.socket)
    while (request := read_request(conn)) is not None:
        with _HELD:
            server.state["held"] = held = server.state.get("held", 0) + 1
            server.state["most"] = max(server.state.get("most", 0), held)
        time.sleep(0.02 if held == 1 else 0.23)
        with _HELD:
            server.state["held"] -= 1
        server.requests.append(request)
        conn.sendall(response("200 OK", SUCCESS, {"Content-Type": "text/xml"}))


_HELD = threading.Lock()


def test_the_window_stops_growing_against_a_target_slowing_under_load() -> None:
    """Answers slower the more requests are held: the window stops below --concurrency.
    The first case alone (its three requests answered: four in flight next), a batch at four
    (slower: grown, the window would reach LIMIT), and one case more, which reads the window
    after it; further batches at four would only wait."""
    cases = _cases(1 + BATCH_PER_SLOT * 4 + 1)
    with started(ReferenceServer()) as server, serve(_loaded) as slowing, \
            target_on(server, api=slowing.url + API_PATH) as target:
        batches = Batches(target, Numbering(13), cases, LIMIT)
        _, windows = _run(batches, cases)
    assert 1 < max(windows) < LIMIT, windows
    assert slowing.state["most"] < LIMIT
