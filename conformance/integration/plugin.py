"""The plugin object of one conformance run: target and ledger, tracing, progress, result files.

``KeepCallPlugin`` is registered for a run that was asked for, never otherwise: by
``keepcall-conformance run`` (``cli.py``), or by the pytest entry point (``entrypoint.py``) when
``--kc-*`` options or the suite are named. Its state (progress, the session, the results) lives
on the object, so two runs in one process share nothing. This module imports the whole suite
(httpx, lxml, the reference server when embedded): only an active run pays for that.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import time
import traceback
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from conformance.catalog.requirements import BY_ID, GATING_LEVELS
from conformance.catalog.spec import P_ACTION
from conformance.domain.matrix import Case, all_cases, matrix_digest
from conformance.domain.scenarios import Numbering
from conformance.integration.progress import Progress, part_post
from conformance.integration.settings import Settings, SettingsError, Shard
from conformance.judging.checks import METHOD_REQUIREMENT, broken_checks
from conformance.judging.consistency import Readings
from conformance.judging.ledger import EXIT_CODES, Ledger
from conformance.judging.wording import Wording
from conformance.reports import page
from conformance.reports.report import (
    PART_NAME,
    RESULTS_NAME,
    finished,
    public_url,
    summary_lines,
    write_part,
    write_results,
)
from conformance.running.batch import Batches, case_requirements, run_case
from conformance.running.runner import Result
from conformance.wire import sink
from conformance.wire.control import Control, ControlError
from conformance.wire.dialect import Dialect, probe
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, in_process

if TYPE_CHECKING:
    from conformance.reference.server import ReferenceServer

SUITE_PACKAGE = "conformance.suite"
PARALLEL = "parallel"  # the marker of a test outside the matrix that may share the target
PREFLIGHT = "preflight"  # the case id of the run's first request, when its answer broke
RUN = pytest.StashKey["KeepCallPlugin"]()  # the run's plugin object, for whoever holds the config
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


# --- the run --------------------------------------------------------------------------------
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

    def matrix_result(self, case: Case) -> Result:
        """A matrix case's result: from its batch, or run alone (no batches: a replay)."""
        if self.batches is None:
            return run_case(self.target, case, self.numbering)
        return self.batches.result(case)

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


# --- the plugin object ----------------------------------------------------------------------
# pytest-html's per-test log (plain pytest with --html; the CLI writes none): above this many
# cases, passed ones get no row (about 1 KB each); report.html counts them, junit.xml lists them.
HTML_PASSED_ROWS_LIMIT = 2000


class KeepCallPlugin:
    """One conformance run, as a pytest plugin object holding everything the run keeps."""

    def __init__(self, settings: Settings, console: bool = False, quiet: bool = False) -> None:
        """``console``: print the progress and the summary here (the CLI turns pytest's
        terminal off); ``quiet``: the summary alone.

        Raises SettingsError for an unknown switch or fault of the embedded server, so a typo
        is a usage error before any request."""
        _check_reference(settings)
        self.settings = settings
        self.console = console
        self.progress = Progress(show=console and not quiet, post=part_post())
        self.session: KeepCallSession | None = None
        self.results: dict[str, Any] | None = None
        self.select: str | None = None  # pytest's -k: which cases of the matrix the run asked for
        self.matrix: list[Case] = []  # the matrix cases collected, in the order they run

    @property
    def verdict(self) -> str | None:
        """The run's verdict; only it tells a partial run (exit 4) from pytest's usage error."""
        return None if self.results is None else str(self.results["summary"]["verdict"])

    def pytest_configure(self, config: pytest.Config) -> None:
        html = getattr(config.option, "htmlpath", None)  # pytest-html's --html
        ours = self.settings.report_dir / page.PAGE_NAME
        if html and Path(html).resolve() == ours.resolve():
            raise pytest.UsageError(f"--html {html} would overwrite the compliance report "
                                    "written there: name another file")
        if _distributed(config):
            raise pytest.UsageError("pytest-xdist would run a server and a ledger per worker, "
                                    "each writing the result files: leave out -n/--dist and "
                                    "use 'keepcall-conformance run --workers N' instead")
        config.stash[RUN] = self
        _redact_terminal(config)
        self.select = getattr(config.option, "keyword", "") or None
        config.addinivalue_line(
            "markers", "requirement(*ids): the requirement IDs a conformance test checks")
        config.addinivalue_line(
            "markers", f"{PARALLEL}: a conformance test that never moves the target's clock nor "
                       "depends on its global state: under --workers it runs in the parallel part")

    @pytest.fixture(scope="session")
    def kc(self) -> Iterator[KeepCallSession]:
        """The conformance run; the first test that needs it starts it."""
        self.session = start_session(self.settings)
        self.session.batches = Batches(self.session.target, self.session.numbering, self.matrix,
                                       self.settings.transport.concurrency)
        try:
            if self.session.ledger.aborted:
                pytest.exit(self.session.ledger.aborted, returncode=EXIT_CODES["inconclusive"])
            yield self.session
        finally:
            close(self.session)

    @pytest.fixture
    def kc_case(self, request: pytest.FixtureRequest) -> Case:
        case: Case = request.param
        return case

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "kc_case" not in metafunc.fixturenames:
            return
        cases = _matrix_slice(all_cases(self.settings.quick), self.settings.shard,
                              self.settings.deferred)
        params = [pytest.param(case, id=case.id,
                               marks=pytest.mark.requirement(
                                   *case_requirements(case, self.settings.needs_token)))
                  for case in cases]
        metafunc.parametrize("kc_case", params, indirect=True)

    def pytest_collection_modifyitems(self, config: pytest.Config,
                                      items: list[pytest.Item]) -> None:
        """A part keeps its slice (--shard, --part); every conformance test it keeps must
        trace to known requirements, anything else is an error."""
        shard = self.settings.shard
        outside = [item for item in items if _in_suite(item) and _matrix_case(item) is None]
        dealt = _dealt([item for item in outside if item.get_closest_marker(PARALLEL)],
                       shard.count)
        again = self.settings.deferred  # searches a parallel part deferred, by node id
        dropped = {id(item) for item in outside if _empty_matrix(item) or not (
            _ours(item, shard, dealt) or (shard.part == "exclusive" and item.nodeid in again))}
        if dropped:
            config.hook.pytest_deselected(items=[i for i in items if id(i) in dropped])
            items[:] = [item for item in items if id(item) not in dropped]
        problems = [problem for item in items if _in_suite(item)
                    if (problem := _trace(item)) is not None]
        if problems:
            raise pytest.UsageError("untraced conformance tests: " + "; ".join(problems[:5]))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.total = sum(_in_suite(item) for item in session.items)
        self.matrix = [item.callspec.params["kc_case"] for item in session.items  # type: ignore[attr-defined]
                       if _in_suite(item) and _matrix_case(item) is not None]
        self.progress.posted()
        if self.progress.total and self.console:
            where = public_url(self.settings.target) or "the embedded reference server"
            print(f"keepcall-conformance: {self.progress.total} cases "
                  f"({'quick, pairwise' if self.settings.quick else 'full matrix'}) "
                  f"against {where}; {_seed_line(self.settings)}", flush=True)

    def pytest_report_header(self) -> str:
        return f"keepcall-conformance: {_seed_line(self.settings)}"

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Progress for the CLI (pytest's own terminal output is off there); runs uncaptured."""
        if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
            return
        self.progress.step(report.outcome == "failed")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
            self, item: pytest.Item, call: pytest.CallInfo[None],
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        """A conformance test that raised anything but its verdict is a suite error, never a
        pass."""
        report: pytest.TestReport = yield
        excinfo = call.excinfo
        if self.session is not None and _in_suite(item) and excinfo is not None and (
                not isinstance(excinfo.value, _VERDICTS)):
            self.session.ledger.internal_errors.append(
                suite_error(item.nodeid, excinfo.value, self.session.target.client.redactor))
        return report

    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        run = self.session
        if run is None:
            return
        if run.remaining() == 0:
            run.ledger.cut_short = (f"--max-duration {run.settings.max_duration:g} s reached "
                                    f"after {self.progress.done} of {self.progress.total} cases")
            item.session.shouldstop = run.ledger.cut_short
        client = run.target.client
        # The circuit breaker stops the run once the batch's items have recorded what was
        # sent before it opened (they send nothing more): their answers are evidence.
        if run.target.breakers.circuit_open(client.consecutive_failures) and not (
                run.batches is not None and run.batches.holds(_case_of(nextitem))):
            item.session.shouldstop = _break_circuit(run.ledger, client, run.settings.breaker)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        run = self.session
        if run is None:
            if self.progress.total and exitstatus == pytest.ExitCode.TESTS_FAILED:
                session.exitstatus = EXIT_CODES["inconclusive"]  # the run never started
            elif not self.progress.total and self.settings.sharded:
                _empty_part(self.settings, self.select)  # it still joins the merge
            return
        try:
            self.results = data = _finish(run, self.select)
            write_results(run.settings.report_dir / RESULTS_NAME, data)
            page.write(data, run.settings.report_dir / page.PAGE_NAME)
        finally:  # a report that cannot be written leaves nothing running
            close(run)
        verdict = data["summary"]["verdict"]
        if verdict != "conformant" or exitstatus in (0, 1):
            session.exitstatus = EXIT_CODES[verdict]
        if self.console:
            self.progress.finish()
            print("\n".join(summary_lines(data)), flush=True)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        """The files other plugins wrote (junit.xml, pytest-html's log) through the sink."""
        for option in ("xmlpath", "htmlpath"):
            if path := getattr(config.option, option, None):
                sink.rewrite(Path(path))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.results is not None and not self.console:
            terminalreporter.write_sep("=", "KeepCall conformance")
            for line in summary_lines(self.results):
                terminalreporter.write_line(line)

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_report_title(self, report: Any) -> None:
        report.title = "KeepCall conformance report"

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells.insert(1, "<th>Requirements</th>")

    @pytest.hookimpl(optionalhook=True)
    def pytest_html_results_table_row(self, report: pytest.TestReport,
                                      cells: list[str]) -> None:
        if report.passed and self.progress.total > HTML_PASSED_ROWS_LIMIT:
            del cells[:]  # pytest-html drops a row whose cells are gone
            return
        ids = dict(getattr(report, "user_properties", ())).get("requirements", "")
        cells.insert(1, f"<td>{ids}</td>")


# What a conformance test may raise: its verdict, or the run's end.
_VERDICTS = (pytest.fail.Exception, pytest.skip.Exception, pytest.exit.Exception)
TRACEBACK_CHARS = 4000  # the end of a suite error's traceback kept in results.json


_HARNESS = (f"{os.sep}_pytest{os.sep}", f"{os.sep}pluggy{os.sep}")  # frames of no interest


def suite_error(where: str, error: BaseException, redact: Callable[[str], str]) -> str:
    """A suite error as results.json keeps it: ``where: Type: message`` on its first line, then
    the end of its traceback, without pytest's frames and without local values (a secret's
    repr could be cut short past the redactor's reach); redacted, as all the run writes."""
    found = traceback.TracebackException.from_exception(error)
    found.stack = traceback.StackSummary.from_list(
        [frame for frame in found.stack if not any(h in frame.filename for h in _HARNESS)])
    trace = "".join(found.format())[-TRACEBACK_CHARS:]
    message = str(error).splitlines()[0][:200] if str(error) else ""
    return redact(f"{where}: {type(error).__name__}: {message}\n{trace}")


def _break_circuit(ledger: Ledger, client: Client, breaker: int) -> str:
    """Stop a run whose last ``breaker`` requests all failed. A target still reached, whose
    answers broke, has failed already (each of those cases says how): the run is cut short,
    never conformant. One the last of them did not reach (it went away, or never was) leaves
    nothing more to judge: inconclusive."""
    if client.streak_reached:
        ledger.cut_short = (f"circuit breaker: {breaker} requests in a row got no whole "
                            "answer from the target")
        return ledger.cut_short
    ledger.aborted = f"circuit breaker: {breaker} requests in a row did not reach the target"
    return ledger.aborted


def _redact_terminal(config: pytest.Config) -> None:
    """pytest's terminal (plain pytest runs) writes through the redaction sink too."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    writer = getattr(reporter, "_tw", None)
    inner = getattr(writer, "_file", None)
    if inner is not None and not isinstance(inner, sink.RedactingStream):
        writer._file = sink.RedactingStream(inner)  # type: ignore[union-attr]


def _distributed(config: pytest.Config) -> bool:
    """This run's own config is pytest-xdist's controller distributing it (its test for
    ``-n``/``--dist``) or one of its workers. A run started inside a worker by a test
    (pytester) has a config of its own, which is neither."""
    return hasattr(config, "workerinput") or (
        config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None)))


def _in_suite(item: pytest.Item) -> bool:
    return getattr(getattr(item, "module", None), "__name__", "").startswith(SUITE_PACKAGE)


def _trace(item: pytest.Item) -> str | None:
    """Attach a suite test's requirement IDs to its report, or say why it has none."""
    ids = [i for mark in item.iter_markers("requirement") for i in mark.args]
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        return f"{item.nodeid}: unknown requirement {unknown[0]}"
    if not ids:
        return f"{item.nodeid}: no requirement marker"
    item.user_properties.append(("requirements", " ".join(sorted(set(ids)))))
    return None


def _dealt(parallel: Sequence[pytest.Item], count: int) -> dict[int, int]:
    """The parallel part (1 to count) each test marked ``parallel`` runs in: dealt in turn,
    from the last part back (the last part of a shard count of one takes them all)."""
    return {id(item): count - position % count for position, item in enumerate(parallel)}


def _ours(item: pytest.Item, shard: Shard, dealt: dict[int, int]) -> bool:
    """Whether this part runs ``item``, a test outside the matrix: a whole last shard runs
    them all; a parallel part the ones dealt to it (they never move the target's clock); the
    last shard's exclusive part the rest (the stateful search, time, tokens) and any search a
    parallel part deferred (one of its examples had to move the clock)."""
    if shard.part == "parallel":
        return dealt.get(id(item)) == shard.index
    return shard.index == shard.count and (shard.part == "all" or id(item) not in dealt)


def _matrix_slice(cases: Sequence[Case], shard: Shard, deferred: frozenset[str]
                  ) -> Sequence[Case]:
    """Shard I of N: every Nth matrix case from the Ith (the other tests are shard N's, see
    ``pytest_collection_modifyitems``). The parallel part is that slice alone; the exclusive
    part the other tests and the deferred cases (they move the clock, which others share).
    Cut here, before pytest makes an item of each: a part pays only for its own cases."""
    if shard.part == "exclusive":
        return [case for case in cases if case.id in deferred]
    return cases[shard.index - 1::shard.count]


def _empty_matrix(item: pytest.Item) -> bool:
    """The matrix test of a part with no matrix case (pytest's stand-in for an empty set)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "kc_case" in callspec.params and _matrix_case(item) is None


def _matrix_case(item: pytest.Item) -> str | None:
    """The matrix case id of ``item``, or None for any other test."""
    case = _case_of(item)
    return case.id if case is not None else None


def _case_of(item: pytest.Item | None) -> Case | None:
    """The matrix case of ``item``, or None for any other test (or no item)."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("kc_case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def _check_reference(settings: Settings) -> None:
    """Embedded-server switches and faults are checked up front: a typo is a usage error."""
    from conformance.reference.faults import check_names
    from conformance.reference.switches import Switches

    try:
        Switches.parse(settings.reference_switches)
        check_names(settings.reference_faults)
    except (ValueError, KeyError) as error:
        raise SettingsError(str(error).strip("'\"")) from None


def _seed_line(settings: Settings) -> str:
    """The seed the run numbers its calls and seeds Hypothesis with: said at the start."""
    return f"seed {settings.seed} (--seed {settings.seed} repeats the run)"


def _suite(settings: Settings, select: str | None) -> dict[str, Any]:
    """How the run was asked for: matrix (its case ids hashed, and -k), seed, gate, search
    budget, and which part it is: what tells the parts of one run from another's (merge.py)."""
    suite: dict[str, Any] = {"quick": settings.quick, "seed": settings.seed,
                             "level": settings.level, "budget": settings.budget,
                             "examples": settings.examples,
                             "matrix": matrix_digest(settings.quick), "select": select}
    shard = settings.shard
    if settings.sharded:
        suite["parts"] = [f"{shard.index}/{shard.count} {shard.part}"]
    return suite


def _meta(run: KeepCallSession, select: str | None) -> dict[str, Any]:
    """What results.json says of the run beside the ledger: suite, target, gate, counters."""
    settings, client = run.settings, run.target.client
    suite = _suite(settings, select) | {
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started)),
        "duration_seconds": round(time.time() - run.started, 3)}
    target = {"url": public_url(run.target.url), "embedded": settings.embedded,
              "control_url": public_url(run.target.control.base_url)
              if run.target.control else None,
              "token_required": run.target.token_required,
              "requests_sent": client.requests_sent, "retries": client.retries_total,
              "api_requests": client.requests_sent - client.control_requests,
              "control_requests": client.control_requests,
              "transport": {k: v for k, v in vars(settings.transport).items() if k != "verify"}
              | {"tls_verify": settings.transport.verify is not False},
              "reference_switches": list(settings.reference_switches),
              "reference_faults": list(settings.reference_faults)}
    return {"suite": suite, "target": target, "level": settings.level,
            "allow_untested": settings.allow_untested,
            "transport_failures": client.transport_failures}


def _empty_part(settings: Settings, select: str | None) -> None:
    """The cases.json.gz of a part that had no case (an exclusive part with nothing deferred
    and its other tests deselected): it ran, and found nothing."""
    target = {"url": public_url(settings.target), "embedded": settings.embedded,
              "requests_sent": 0, "retries": 0,
              "reference_switches": list(settings.reference_switches),
              "reference_faults": list(settings.reference_faults)}
    write_part(settings.report_dir / PART_NAME, {
        "suite": _suite(settings, select) | {"duration_seconds": 0.0}, "target": target,
        "level": settings.level, "allow_untested": settings.allow_untested, "transport_failures": 0,
        "ledger": Ledger().state(), "wording": [], "readings": [], "deferred": []})


def _finish(run: KeepCallSession, select: str | None) -> dict[str, Any]:
    """Write cases.json.gz (the case manifest, and this part's share of a sharded run), then
    return the results.json data: the same fold ``keepcall-conformance merge`` does."""
    meta = _meta(run, select)
    part = {**meta, "ledger": run.ledger.state(), "wording": run.wording.state(),
            "readings": run.readings.state(), "deferred": run.deferred}
    write_part(run.settings.report_dir / PART_NAME, part)
    return finished(run.ledger, run.wording, meta, run.settings.expected, run.readings)
