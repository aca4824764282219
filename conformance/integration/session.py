"""One conformance run's shared state, and its start and end: settings, target, ledger.

``KeepCallSession`` is what every test of a run shares (the plugin's ``kc`` fixture);
``start_session`` builds the target (starting the embedded server if none is given) and checks
it answers, ``close`` ends what it started. ``serve_in_process`` makes runs started inside it
serve the embedded server in this process.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from conformance.catalog.requirements import BY_ID, GATING_LEVELS
from conformance.catalog.spec import P_ACTION
from conformance.domain.matrix import Case
from conformance.domain.scenarios import Numbering
from conformance.integration.settings import Settings
from conformance.judging.checks import METHOD_REQUIREMENT, broken_checks
from conformance.judging.consistency import Readings
from conformance.judging.ledger import Ledger
from conformance.judging.wording import Wording
from conformance.running.batch import Batches, run_case
from conformance.running.runner import Result
from conformance.wire.control import Control, ControlError
from conformance.wire.dialect import Dialect, probe
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, in_process

if TYPE_CHECKING:
    from conformance.reference.server import ReferenceServer


PREFLIGHT = "preflight"  # the case id of the run's first request, when its answer broke
# The embedded server's host in a run that serves it in this process (``serve_in_process``).
IN_PROCESS_BASE = "http://keepcall.reference.invalid"
_IN_PROCESS = contextvars.ContextVar("keepcall_in_process", default=False)


@contextlib.contextmanager
def serve_in_process() -> Iterator[None]:
    """Runs started inside serve the embedded reference server in this process, over
    ``httpx.ASGITransport`` on the client's own loop: no socket, no server thread. For the
    project's tests and for embedding, where the wire is not what is tested; the CLI never does
    it, and a run with a target sends to it as ever."""
    token = _IN_PROCESS.set(True)
    try:
        yield
    finally:
        _IN_PROCESS.reset(token)


@dataclass
class KeepCallSession:
    """Everything one conformance run shares: settings, target, numbering, ledger."""

    settings: Settings
    target: Target
    ledger: Ledger = field(default_factory=Ledger)
    numbering: Numbering = field(default_factory=Numbering)
    server: Any = None
    started: float = field(default_factory=time.time)
    dialect: Dialect = field(default_factory=Dialect)
    wording: Wording = field(default_factory=Wording)
    readings: Readings = field(default_factory=Readings)
    clock: Callable[[], float] = time.monotonic
    begun: float = field(default_factory=time.monotonic)
    deferred: list[str] = field(default_factory=list)  # matrix cases for the exclusive part
    batches: Batches | None = None  # the matrix cases of this session, run in batches
    # The matrix cases judged here, and the requests their runs sent (a batch's all fall to its
    # first case): the client's one count (``requests_sent``) read before and after each.
    matrix_cases: int = 0
    matrix_requests: int = 0
    # The last matrix case judged and its result: the plugin marks the case's item from the
    # expectation it was judged on (the oracle asked once per case, not again at collection).
    judged: tuple[str, Result] | None = None

    def matrix_result(self, case: Case) -> Result:
        """A matrix case's result: from its batch, or run alone (no batches: a replay). A case
        deferred to the exclusive part is counted there; its requests here count still."""
        client = self.target.client
        before = client.requests_sent
        result = (run_case(self.target, case, self.numbering) if self.batches is None
                  else self.batches.result(case))
        self.matrix_requests += client.requests_sent - before
        self.matrix_cases += not result.deferred
        self.judged = (case.id, result)
        return result

    def remaining(self) -> float | None:
        """Seconds left of --max-duration (None: unbounded)."""
        bound = self.settings.max_duration
        return None if bound is None else max(0.0, bound - (self.clock() - self.begun))

    def record(self, item_id: str, result: Result, reproduction: str | None = None,
               lead: bool = False, twin: str | None = None) -> None:
        """Put a result in the ledger, then pass, skip or fail the running test with it.

        ``reproduction`` replaces the result's own (a search's shrunk steps); ``lead`` puts
        its evidence first; ``twin`` is the key a matrix case shares with its twins in the
        other formats (the wording check)."""
        if result.deferred:
            self.deferred.append(item_id)
            pytest.skip("deferred: judging it moves the target's clock (the exclusive part)")
        # The curl line only where a failure shows it (rendering it costs ~1 ms a case).
        curl = reproduction or (result.reproduction() if result.failures else "")
        self.ledger.record(item_id, result.checks, curl, lead=lead, answer=result.answer())
        self._wording(item_id, result, twin)
        outcome = result.outcome
        # Readings only where the outcome was seen, not assumed: a flag changed, or the XML
        # code said it (an HTML or TEXT answer that changed nothing is taken as an error), and
        # no success may be waiting for its call's start (it would read as a pending keep).
        told = outcome is not None and (outcome.call_id is not None or (
            result.format == "XML" and not result.expectation.deferrable))
        if outcome is not None and outcome in result.expectation.allowed and told:
            self.readings.add(result.expectation.allowed[outcome], item_id)
        self._verdict(result, curl)

    def _wording(self, item_id: str, result: Result, twin: str | None) -> None:
        """HTML and TEXT answers labelled where the flags leave no doubt (a flag changed, or
        nothing but an error was allowed), else by their XML twin's code; XML outcomes kept
        for their twins."""
        outcome, exchange = result.outcome, result.exchange
        if outcome is None or exchange is None or result.failures:
            return
        if result.format == "XML" and twin is not None:
            self.wording.twin(twin, not outcome.is_error)
        elif result.format in ("HTML", "TEXT"):
            success = True if outcome.call_id is not None else (
                False if result.expectation.always_error else None)
            self.wording.add(result.format, exchange.body, success, item_id, exchange.status,
                             twin)

    def _verdict(self, result: Result, curl: str) -> None:
        gate = GATING_LEVELS[self.settings.level]
        failing = [c for c in result.failures if BY_ID[c.requirement].level in gate]
        if failing:
            lines = [f"{c.requirement} [{BY_ID[c.requirement].level}] {c.message}"
                     for c in failing]
            pytest.fail("\n".join([*lines, "reproduce:", curl]), pytrace=False)
        if result.skipped:
            pytest.skip(f"not tested: {result.skipped}")
        if result.exchange is not None and not result.exchange.ok:
            pytest.skip(f"not tested: {result.exchange.error}")


def start_session(settings: Settings) -> KeepCallSession:
    """Build the target (starting the embedded server if needed) and check it answers. If
    anything raises on the way, the server is stopped and the client closed before it goes on."""
    credentials = settings.credentials
    url, control_url = settings.target, settings.control_url
    with contextlib.ExitStack() as undo:
        server, transport = None, None  # no transport given: httpx's own, over TCP
        if settings.embedded:
            from conformance.reference.server import ReferenceServer
            from conformance.reference.switches import Switches

            given = settings.credentials  # secrets given for the embedded server are its own
            server = ReferenceServer(switches=Switches.parse(settings.reference_switches),
                                     faults=frozenset(settings.reference_faults),
                                     api_key=given.api_key, open_api_key=given.open_api_key,
                                     username=given.username, password=given.password)
            url, control_url, transport = _serve(server, undo)
            credentials = Credentials(server.api_key, None, server.username, server.password,
                                      server.open_api_key)
        assert url is not None
        client = undo.enter_context(Client(settings.transport, credentials.redactor(),
                                           transport=transport))
        control = Control(client, control_url) if control_url else None
        target = Target(url, credentials, client, control, settings.needs_token,
                        settings.profile.calls, calls_valid_at=settings.profile.calls_valid_at)
        target.breakers.circuit = settings.breaker
        shard = settings.shard
        target.clock_shared = shard.part == "parallel"
        block = 0 if shard.part == "exclusive" else shard.index if settings.sharded else 0
        session = KeepCallSession(settings, target, numbering=Numbering(settings.seed, block),
                                  server=server)
        _preflight(session)
        if not session.ledger.aborted:
            session.dialect = probe(target, session.numbering)
            if session.dialect.problem:
                session.ledger.suite_notes.append(
                    f"not probed (POST encoding, status-list spelling): {session.dialect.problem}")
        undo.pop_all()  # the run holds them now: ``close`` ends them
    return session


def _serve(server: ReferenceServer, undo: contextlib.ExitStack
           ) -> tuple[str, str, httpx.AsyncBaseTransport | None]:
    """The embedded server's API and control URLs, and the transport to it: in this process
    (``serve_in_process``), or started on a loopback port (stopped by ``undo``)."""
    from conformance.catalog.spec import API_PATH
    from conformance.reference.app import CONTROL_PREFIX

    if _IN_PROCESS.get():
        return IN_PROCESS_BASE + API_PATH, IN_PROCESS_BASE + CONTROL_PREFIX, in_process(server.app)
    undo.callback(server.stop)
    server.start()
    return server.api_url, server.control_url, None


def close(run: KeepCallSession) -> None:
    """End what a run started: the client's connections, the embedded server (twice is safe).
    The server is let go too: its store (every call of the run, tens of MB) is freed before the
    result files are written, where a run's memory peaks."""
    run.target.client.close()
    if run.server is not None:
        run.server.stop()
        run.server = None


def _preflight(session: KeepCallSession) -> None:
    target = session.target
    probe = target.client.send("GET", target.url, [(P_ACTION, "KeepCall")])
    if probe.broken:  # reached, and its answer broke: the target's failure; the run goes on
        found = broken_checks(probe, METHOD_REQUIREMENT["GET"])
        session.ledger.record(PREFLIGHT, found, probe.curl)
    elif not probe.ok:
        session.ledger.aborted = f"target unreachable: {probe.error}"
        return
    if target.control is not None and not session.settings.sharded:  # others' calls live there
        try:
            target.control.reset()
        except ControlError as error:
            session.ledger.aborted = f"control URL unusable: {error}"

