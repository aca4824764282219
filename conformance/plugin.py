"""The pytest plugin: options, the run's target and ledger, requirement tracing, result files.

Registered by entry point, it stays inert until a conformance test asks for the ``kc`` fixture,
so the project's own tests (and any other pytest run) pay nothing for it.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.client import Client
from conformance.control import Control, ControlError
from conformance.dialect import Dialect, probe
from conformance.ledger import Ledger
from conformance.matrix import Case, all_cases
from conformance.report import (
    EXIT_CODES,
    compliance_table,
    public_url,
    results,
    summary_lines,
    write_results,
)
from conformance.requirements import BY_ID
from conformance.runner import Result, case_requirements
from conformance.scenarios import Numbering
from conformance.settings import Options, Settings, SettingsError, resolve
from conformance.spec import P_ACTION
from conformance.target import Credentials, Target
from conformance.wording import Wording

SETTINGS = pytest.StashKey[Settings]()
SESSION = pytest.StashKey["KeepCallSession"]()
PROGRESS = pytest.StashKey[bool]()
SUITE_PACKAGE = "conformance.suite"

_OPTIONS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("target", {"help": "full KeepCall endpoint URL; none: the embedded reference server"}),
    ("api-key", {"help": "API key (or KEEPCALL_API_KEY)"}),
    ("token", {"help": "session token (or KEEPCALL_TOKEN)"}),
    ("username", {"help": "RequestToken login (or KEEPCALL_USERNAME)"}),
    ("password", {"help": "RequestToken password (or KEEPCALL_PASSWORD)"}),
    ("open-api-key", {"help": "a key that needs no token (or KEEPCALL_OPEN_API_KEY)"}),
    ("control-url", {"help": "base URL of the target's control protocol"}),
    ("profile", {"help": "TOML target profile"}),
    ("report-dir", {"default": "reports", "help": "where results.json goes"}),
    ("quick", {"action": "store_true", "help": "pairwise subset of the matrix"}),
    ("level", {"default": "must", "choices": ("must", "should"), "help": "gating level"}),
    ("allow-untested", {"action": "store_true",
                        "help": "gate on what was tested: no partial verdict (exit 4)"}),
    ("seed", {"type": int, "default": 0, "help": "seed for numbering and Hypothesis"}),
    ("examples", {"type": int, "default": 100, "help": "Hypothesis examples per property"}),
    ("budget", {"type": float, "default": 60.0, "help": "seconds for the property tests"}),
    ("ca-bundle", {"help": "CA bundle for TLS verification"}),
    ("insecure", {"action": "store_true", "help": "do not verify TLS certificates"}),
    ("rate", {"type": float, "help": "at most this many requests per second"}),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("keepcall", "KeepCall conformance")
    for name, kwargs in _OPTIONS:
        group.addoption(f"--kc-{name}", dest=f"kc_{name.replace('-', '_')}", **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): the requirement IDs a conformance test checks")
    if SETTINGS in config.stash:
        return  # the CLI resolved the settings itself
    values = {f.replace("-", "_"): config.getoption(f"kc_{f.replace('-', '_')}")
              for f, _ in _OPTIONS}
    try:
        config.stash[SETTINGS] = resolve(Options(**values))
    except SettingsError as error:
        raise pytest.UsageError(str(error)) from None


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

    def record(self, item_id: str, result: Result) -> None:
        """Put a result in the ledger, then pass, skip or fail the running test with it."""
        curl = result.reproduction()
        self.ledger.record(item_id, result.checks, curl)
        # Wording is compared only where the flags leave no doubt: a flag changed, or nothing
        # but an error was allowed (an unchanged answer may be a pending keep or a no-op).
        outcome, exchange = result.outcome, result.exchange
        clear = outcome is not None and (outcome.call_id is not None
                                         or result.expectation.always_error)
        if result.format in ("HTML", "TEXT") and clear and exchange is not None and (
                not result.failures):
            success = outcome is not None and outcome.call_id is not None
            self.wording.add(result.format, exchange.body, success, item_id)
        if result.exchange is not None and not result.exchange.ok:
            self.ledger.transport_failures += 1
        self._verdict(result, curl)

    def _verdict(self, result: Result, curl: str) -> None:
        gate = {"must": ("MUST",), "should": ("MUST", "SHOULD")}[self.settings.level]
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
    """Build the target (starting the embedded server if needed) and check it answers."""
    server = None
    credentials = settings.credentials
    url, control_url = settings.target, settings.control_url
    if settings.embedded:
        from conformance.reference.server import ReferenceServer
        from conformance.reference.switches import Switches

        given = settings.credentials  # secrets given for the embedded server are its own
        server = ReferenceServer(switches=Switches.parse(settings.reference_switches),
                                 faults=frozenset(settings.reference_faults),
                                 api_key=given.api_key, open_api_key=given.open_api_key,
                                 username=given.username, password=given.password)
        server.start()
        url, control_url = server.api_url, server.control_url
        credentials = Credentials(server.api_key, None, server.username, server.password,
                                  server.open_api_key)
    assert url is not None
    client = Client(settings.transport, credentials.redactor())
    control = Control(client, control_url) if control_url else None
    target = Target(url, credentials, client, control, settings.token_required,
                    settings.profile.calls)
    session = KeepCallSession(settings, target, numbering=Numbering(settings.seed),
                              server=server)
    _preflight(session)
    if not session.ledger.aborted:
        session.dialect = probe(target, session.numbering)
    return session


def _preflight(session: KeepCallSession) -> None:
    target = session.target
    probe = target.client.send("GET", target.url, [(P_ACTION, "KeepCall")])
    if not probe.ok:
        session.ledger.aborted = f"target unreachable: {probe.error}"
        return
    if target.control is not None:
        try:
            target.control.reset()
        except ControlError as error:
            session.ledger.aborted = f"control URL unusable: {error}"


@pytest.fixture(scope="session")
def kc(request: pytest.FixtureRequest) -> Iterator[KeepCallSession]:
    """The conformance run; the first test that needs it starts it."""
    config = request.config
    session = start_session(config.stash[SETTINGS])
    config.stash[SESSION] = session
    if session.ledger.aborted:
        pytest.exit(session.ledger.aborted, returncode=EXIT_CODES["inconclusive"])
    yield session


@pytest.fixture
def kc_case(request: pytest.FixtureRequest) -> Case:
    case: Case = request.param
    return case


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kc_case" not in metafunc.fixturenames:
        return
    settings = metafunc.config.stash[SETTINGS]
    params = [pytest.param(case, id=case.id,
                           marks=pytest.mark.requirement(*case_requirements(case)))
              for case in all_cases(settings.quick)]
    metafunc.parametrize("kc_case", params, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every conformance test must trace to known requirements; anything else is an error."""
    problems = []
    for item in items:
        module = getattr(getattr(item, "module", None), "__name__", "")
        if not module.startswith(SUITE_PACKAGE):
            continue
        ids = [i for mark in item.iter_markers("requirement") for i in mark.args]
        unknown = [i for i in ids if i not in BY_ID]
        if not ids or unknown:
            problems.append(f"{item.nodeid}: " + (f"unknown requirement {unknown[0]}"
                                                  if unknown else "no requirement marker"))
        else:
            item.user_properties.append(("requirements", " ".join(sorted(set(ids)))))
    if problems:
        raise pytest.UsageError("untraced conformance tests: " + "; ".join(problems[:5]))


# --- progress, breaker, report --------------------------------------------------------------
@dataclass
class _Progress:
    total: int = 0
    done: int = 0
    failed: int = 0
    last: float = 0.0
    show: bool = False


_progress = _Progress()


def pytest_collection_finish(session: pytest.Session) -> None:
    suite_items = [i for i in session.items if _in_suite(i)]
    show: bool = session.config.stash.get(PROGRESS, False)
    _progress.__init__(total=len(suite_items), show=show)  # type: ignore[misc]
    if suite_items and show:
        settings = session.config.stash[SETTINGS]
        where = public_url(settings.target) or "the embedded reference server"
        print(f"keepcall-conformance: {len(suite_items)} cases "
              f"({'quick, pairwise' if settings.quick else 'full matrix'}) against {where}",
              flush=True)


def _in_suite(item: pytest.Item) -> bool:
    return getattr(getattr(item, "module", None), "__name__", "").startswith(SUITE_PACKAGE)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Progress for the CLI (pytest's own terminal output is off there); runs uncaptured."""
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    _progress.done += 1
    _progress.failed += report.outcome == "failed"
    if _progress.show and time.monotonic() - _progress.last > 2:
        _progress.last = time.monotonic()
        print(f"  {_progress.done}/{_progress.total} cases, {_progress.failed} failed",
              flush=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None],
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A conformance test that raised anything but its verdict is a suite error, never a pass."""
    report: pytest.TestReport = yield
    session = item.config.stash.get(SESSION, None)
    excinfo = call.excinfo
    if session is not None and _in_suite(item) and excinfo is not None and not isinstance(
            excinfo.value, (pytest.fail.Exception, pytest.skip.Exception, pytest.exit.Exception)):
        session.ledger.internal_errors.append(f"{item.nodeid}: {excinfo.typename}")
    return report


def pytest_runtest_teardown(item: pytest.Item) -> None:
    config = item.config
    session = config.stash.get(SESSION, None)
    if session is None:
        return
    if session.target.client.consecutive_failures >= session.settings.breaker:
        session.ledger.aborted = (f"circuit breaker: {session.settings.breaker} transport "
                                  "failures in a row")
        item.session.shouldstop = session.ledger.aborted


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    run = config.stash.get(SESSION, None)
    if run is None:
        if _progress.total and exitstatus == pytest.ExitCode.TESTS_FAILED:
            session.exitstatus = EXIT_CODES["inconclusive"]  # the run never started
        return
    data = _results(run)
    config.stash[RESULTS] = data
    write_results(run.settings.report_dir / "results.json", data)
    verdict = data["summary"]["verdict"]
    if verdict != "conformant" or exitstatus in (0, 1):
        session.exitstatus = EXIT_CODES[verdict]
    if config.stash.get(PROGRESS, False):
        print("\n".join(summary_lines(data)), flush=True)
    run.target.client.close()
    if run.server is not None:
        run.server.stop()


# The run's results.json data; the CLI reads the verdict here, since pytest's own exit code 4
# (usage error) is the same number as a partial run's.
RESULTS = pytest.StashKey[dict[str, Any]]()


def _results(run: KeepCallSession) -> dict[str, Any]:
    wording = run.wording.checks()
    if wording:
        run.ledger.record("wording", wording)
    settings = run.settings
    suite = {"quick": settings.quick, "seed": settings.seed, "level": settings.level,
             "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(run.started)),
             "duration_seconds": round(time.time() - run.started, 3)}
    target = {"url": public_url(run.target.url), "embedded": settings.embedded,
              "control_url": public_url(run.target.control.base_url)
              if run.target.control else None,
              "token_required": run.target.token_required,
              "requests_sent": run.target.client.requests_sent,
              "retries": run.target.client.retries_total,
              "transport": {k: v for k, v in vars(settings.transport).items() if k != "verify"}
              | {"tls_verify": settings.transport.verify is not False},
              "reference_switches": list(settings.reference_switches),
              "reference_faults": list(settings.reference_faults)}
    return results(run.ledger, settings.level, suite, target, settings.allow_untested)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    data = config.stash.get(RESULTS, None)
    if data is not None and not config.stash.get(PROGRESS, False):
        terminalreporter.write_sep("=", "KeepCall conformance")
        for line in summary_lines(data):
            terminalreporter.write_line(line)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], summary: list[str], postfix: list[str],
                                session: pytest.Session) -> None:
    data = session.config.stash.get(RESULTS, None)
    if data is not None:
        prefix.append(compliance_table(data))
        if _progress.total > HTML_PASSED_ROWS_LIMIT:
            prefix.append(f"<p>{_progress.total} cases: passed ones are not listed below "
                          "(junit.xml lists every case).</p>")


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    report.title = "KeepCall conformance report"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    cells.insert(1, "<th>Requirements</th>")


# Above this many cases, passed ones get no row in report.html (about 1 KB each); the
# compliance table counts them and junit.xml lists them all.
HTML_PASSED_ROWS_LIMIT = 2000


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report: pytest.TestReport, cells: list[str]) -> None:
    if report.passed and _progress.total > HTML_PASSED_ROWS_LIMIT:
        del cells[:]  # pytest-html drops a row whose cells are gone
        return
    ids = dict(getattr(report, "user_properties", ())).get("requirements", "")
    cells.insert(1, f"<td>{ids}</td>")
