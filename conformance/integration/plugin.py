"""The plugin object of one conformance run: target and ledger, tracing, progress, result files.

``KeepCallPlugin`` is registered for a run that was asked for, never otherwise: by
``keepcall-conformance run`` (``cli.py``), or by the pytest entry point (``entrypoint.py``) when
``--kc-*`` options or the suite are named. Its state (progress, the session, the results) lives
on the object, so two runs in one process share nothing. This module imports the whole suite
(httpx, lxml, the reference server when embedded): only an active run pays for that.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.domain.matrix import Case, all_cases
from conformance.integration.collection import (
    PARALLEL,
    _case_of,
    _dealt,
    _empty_matrix,
    _in_suite,
    _mark,
    _matrix_case,
    _matrix_slice,
    _ours,
    _trace,
)
from conformance.integration.finish import _empty_part, _finish, spool_junit, suite_error
from conformance.integration.progress import Progress, part_post
from conformance.integration.session import KeepCallSession, close, serve_in_process, start_session
from conformance.integration.settings import Settings, SettingsError
from conformance.judging.ledger import EXIT_CODES, Ledger
from conformance.reports import page
from conformance.reports.report import RESULTS_NAME, public_url, summary_lines, write_results
from conformance.running.batch import Batches, case_requirements, requirements_of
from conformance.wire import sink
from conformance.wire.transport import Client

# The public entry point: what the suite's tests and embedders import from here (the session
# lives in session.py, the items a part runs in collection.py, what a run leaves in finish.py).
__all__ = ["RUN", "KeepCallPlugin", "KeepCallSession", "serve_in_process", "start_session"]

RUN = pytest.StashKey["KeepCallPlugin"]()  # the run's plugin object, for whoever holds the config


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
        self.ran = 0  # the items run so far: the place in session.items of the next to release
        self.release = False  # let items that ran go (pytest's terminal off: it reads them)

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

    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Memory: junit.xml spooled, and items that ran let go where pytest's terminal is
        off (it reads them). Here, not at configure: a run the entry point starts registers
        this plugin during configure, before pytest's junitxml and terminal made theirs."""
        config = session.config
        spool_junit(config)
        self.release = config.pluginmanager.get_plugin("terminalreporter") is None

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
        params = [pytest.param(case, id=case.id) for case in cases]  # marked as they run
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
        pass. A matrix case is marked with its requirements once its call is over (or its
        set-up failed), before its reports are made."""
        if call.when == "call" or call.excinfo is not None:
            _mark(item, self._requirements)
        report: pytest.TestReport = yield
        excinfo = call.excinfo
        if self.session is not None and _in_suite(item) and excinfo is not None and (
                not isinstance(excinfo.value, _VERDICTS)):
            self.session.ledger.internal_errors.append(
                suite_error(item.nodeid, excinfo.value, self.session.target.client.redactor))
        return report

    def _requirements(self, case: Case) -> list[str]:
        """The requirements of a matrix case: from the expectation its run judged it on, or
        (it never got one: its set-up or its run broke) the one it would have been."""
        judged = self.session.judged if self.session is not None else None
        if judged is not None and judged[0] == case.id:
            return list(requirements_of(judged[1].expectation, judged[1].request))
        return list(case_requirements(case, self.settings.needs_token))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None
                                ) -> Generator[None, object, object]:
        """A suite item that ran is let go from the session's list: nothing reads it again
        (its reports are spooled and counted), and a full run's 21,800 items, their markers
        and call specs held about 75 MB to the end, where the run's memory peaks. Not where
        pytest's terminal is on (plain pytest runs): its progress counts a module's items."""
        ran = yield
        items, at = item.session.items, self.ran
        if self.release and at < len(items) and items[at] is item and _in_suite(item):
            items[at] = None  # type: ignore[call-overload]
        self.ran = at + 1
        return ran

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

