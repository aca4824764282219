"""The pytest plugin through pytester: tracing is enforced, ordinary runs are untouched (the
entry point imports nothing heavy and reads no KEEPCALL_* variable), the suite runs as plain
pytest with every option of the CLI, and a crashing suite test can never yield a conformant
verdict.

Tests that need a module to count as part of the suite point ``SUITE_PACKAGE`` at their own
module prefix (in-process runs share the plugin module).
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import httpx
import pytest
from _pytest.unraisableexception import gc_collect_iterations_key
from reference_helpers import Api

from conformance.domain.matrix import all_cases
from conformance.integration import collection, entrypoint, plugin, session
from conformance.integration.cli import main
from conformance.integration.progress import Progress
from conformance.integration.settings import Options, resolve
from conformance.reference.server import ReferenceServer
from conformance.reports.report import PART_NAME, load_part
from conformance.wire.target import Target

PREFIX = "test_kcsuite"
SECRET_KEY = "f1e2d3c4-secret-key-of-the-embedded-server"
FAST = ("--kc-examples", "10", "--kc-budget", "5", "-p", "no:randomly")


@pytest.fixture
def as_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules named test_kcsuite* count as conformance tests for the plugin."""
    monkeypatch.setattr(collection, "SUITE_PACKAGE", PREFIX)


# (test source, words the usage error must contain)
UNTRACED = (
    ("def test_a():\n    pass\n", ("no requirement marker", "test_a")),
    ("import pytest\n@pytest.mark.requirement('KC-NOPE-001')\ndef test_b():\n    pass\n",
     ("unknown requirement KC-NOPE-001", "test_b")),
    ("import pytest\n@pytest.mark.requirement()\ndef test_c():\n    pass\n",
     ("no requirement marker", "test_c")),
)


@pytest.mark.parametrize(("source", "words"), UNTRACED)
@pytest.mark.usefixtures("as_suite")
def test_untraced_suite_tests_are_a_collection_error(pytester: pytest.Pytester, source: str,
                                                     words: tuple[str, ...]) -> None:
    pytester.makepyfile(**{f"{PREFIX}_untraced": source})
    result = pytester.runpytest("--kc-report-dir", str(pytester.path / "r"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = "\n".join(result.errlines)
    assert "untraced conformance tests" in error and all(w in error for w in words), error


@pytest.mark.usefixtures("as_suite")
def test_a_traced_suite_test_collects(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{f"{PREFIX}_traced": UNTRACED[1][0].replace("KC-NOPE-001",
                                                                      "KC-ID-001")})
    items, _ = pytester.inline_genitems("--kc-report-dir", str(pytester.path / "r"))
    assert [dict(i.user_properties)["requirements"] for i in items] == ["KC-ID-001"]


# Set in a shell without a password, this once stopped every pytest run of the environment
# with a usage error naming --username.
KEEPCALL_ENV = {"KEEPCALL_USERNAME": "alice"}
HEAVY = ("httpx", "lxml", "hypothesis", "xmlschema", "conformance.reference",
         "conformance.integration.plugin", "conformance.integration.settings")


def test_an_ordinary_run_ignores_the_keepcall_environment(pytester: pytest.Pytester,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          ) -> None:
    """No ``--kc-*`` option, no suite argument: no settings read, no run plugin registered."""
    for name, value in KEEPCALL_ENV.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    recorder = pytester.inline_run()
    recorder.assertoutcome(passed=1)
    config = recorder.getcall("pytest_unconfigure").config
    assert plugin.RUN not in config.stash
    assert not config.pluginmanager.has_plugin(entrypoint.RUN_PLUGIN)


@pytest.mark.system  # a child process
def test_loading_the_entry_point_imports_nothing_heavy() -> None:
    """What pytest does in every run of the environment: load the ``pytest11`` entry point."""
    code = ("import importlib.metadata as m, sys\n"
            "[e.load() for e in m.entry_points(group='pytest11') if e.name == 'keepcall']\n"
            f"print(sorted(h for h in {HEAVY!r} if h in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


@pytest.mark.system  # a child process
def test_an_ordinary_pytest_run_imports_no_part_of_the_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_modules=(
        "import sys\n"
        "def test_modules():\n"
        "    loaded = {m for m in sys.modules if m.startswith('conformance')}\n"
        "    assert loaded <= {'conformance', 'conformance.integration',\n"
        "                      'conformance.integration.entrypoint',\n"
        "                      'conformance.integration.options'}\n"
        "    assert not {'httpx', 'lxml', 'xmlschema'} & set(sys.modules)\n"))
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


@pytest.mark.parametrize("args", [(), ("--kc-report-dir", "reports")])
def test_nothing_starts_without_a_conformance_test(pytester: pytest.Pytester,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   args: tuple[str, ...]) -> None:
    """No marker demanded, no server started, no results.json, asked for or not."""
    started: list[object] = []
    monkeypatch.setattr(ReferenceServer, "start", lambda self: started.append(self))
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)
    assert started == [] and not (pytester.path / "reports").exists()
    assert "KeepCall conformance" not in result.stdout.str()
    assert not any(t.name == "keepcall-reference" for t in threading.enumerate())


SUITE_FILE = str(entrypoint.SUITE_DIR / "test_matrix.py")


def configured(pytester: pytest.Pytester, *args: str) -> pytest.Config:
    """``pytester.parseconfigure`` without the two full garbage collections its teardown runs
    (about half a second each on this process's heap), as pytester's own in-process runs do."""
    config = pytester.parseconfigure(*args)
    config.stash[gc_collect_iterations_key] = 0
    return config


@pytest.mark.parametrize(("args", "asked"), [
    ((), False), (("-k", "kc"), False), (("--kc-quick",), True),
    (("--pyargs", "conformance.suite"), True), (("--pyargs", "conformance.suite.test_time"), True),
    ((SUITE_FILE,), True), ((f"{SUITE_FILE}::test_case",), True),
    ((str(entrypoint.SUITE_DIR.parent),), False),
])
def test_what_asks_for_a_conformance_run(pytester: pytest.Pytester, args: tuple[str, ...],
                                         asked: bool) -> None:
    config = configured(pytester, *args)
    assert (plugin.RUN in config.stash) is asked


def test_the_suite_is_not_collected_unless_asked_for(pytester: pytest.Pytester) -> None:
    """Reached by walking its package, the suite would need a run nobody configured."""
    result = pytester.runpytest(str(entrypoint.SUITE_DIR.parent), "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, result.stdout.str()[-2000:]


# (arguments, words the usage error must contain)
BAD_OPTIONS = (
    (("--kc-target", "ftp://h/verba/api", "--kc-api-key", "k"), ("--target",)),
    (("--kc-level", "foo"), ("--kc-level", "foo")),
    (("--kc-timeout", "0"), ("--timeout", "positive")),
    (("--kc-max-response-bytes", "many"), ("--kc-max-response-bytes",)),
    (("--kc-reference-fault", "no-such-fault"), ("no-such-fault",)),
    (("--kc-token", "t", "--kc-username", "u"), ("--token", "--username")),
)


@pytest.mark.parametrize(("args", "words"), BAD_OPTIONS)
def test_bad_plugin_options_are_usage_errors(pytester: pytest.Pytester, args: tuple[str, ...],
                                             words: tuple[str, ...]) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    error = "\n".join(result.errlines)
    assert all(w in error for w in words), error


# A conftest that makes the run's own config an xdist worker's, as pytest-xdist does.
AS_WORKER = ("import pytest\n@pytest.hookimpl(tryfirst=True)\n"
             "def pytest_configure(config):\n    config.workerinput = {'workerid': 'gw0'}\n")


@pytest.mark.parametrize("worker", [False, True], ids=["controller", "worker"])
def test_a_run_distributed_by_xdist_is_refused(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch,
                                               worker: bool) -> None:
    """Under ``-n N`` each worker would start its own server and write the result files over
    the others': refused in one line naming ``--workers``, before any server or child starts
    (an inner run of a test that runs in a worker, like this one, is not refused)."""
    started: list[object] = []
    monkeypatch.setattr(ReferenceServer, "start", lambda self: started.append(self))
    if worker:
        pytester.makeconftest(AS_WORKER)
    report_dir = pytester.path / "r"
    xdist = () if worker else ("-p", "xdist", "-n", "2")
    result = pytester.runpytest(*xdist, "--pyargs", "conformance.suite", "--kc-quick",
                                "--kc-report-dir", str(report_dir), "-k", "test_case and auth",
                                *FAST)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1 and "keepcall-conformance run --workers N" in errors[0], errors
    assert started == [] and not report_dir.exists()


def test_the_pytest_options_are_the_cli_options(pytester: pytest.Pytester,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Both front ends offer every option of a run (pytest's with a ``kc-`` prefix)."""
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    cli = set(re.findall(r"^\s+--([a-z-]+)", capsys.readouterr().out, re.M)) - {"help"}
    pytest_help = pytester.runpytest("--help").stdout.str()
    assert set(re.findall(r"^\s+--kc-([a-z-]+)", pytest_help, re.M)) == cli


def test_allow_untested_is_a_plugin_option(pytester: pytest.Pytester) -> None:
    config = configured(pytester, "--kc-allow-untested")
    assert config.stash[plugin.RUN].settings.allow_untested is True


@pytest.mark.usefixtures("as_suite")
def test_an_unexpected_exception_makes_the_run_inconclusive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{f"{PREFIX}_boom": (
        "import pytest\n"
        "@pytest.mark.requirement('KC-ID-001')\n"
        "def test_fine(kc):\n    pass\n"
        "@pytest.mark.requirement('KC-ID-001')\n"
        "def test_boom(kc):\n"
        "    raise KeyError('suite bug near ' + kc.target.credentials.api_key)\n")})
    report_dir = pytester.path / "r"
    result = pytester.runpytest("--kc-report-dir", str(report_dir), *FAST,
                                "--kc-api-key", SECRET_KEY)
    written = (report_dir / "results.json").read_text()
    data = json.loads(written)
    assert data["summary"]["verdict"] == "inconclusive"
    [error] = data["summary"]["internal_errors"]
    head, trace = error.split("\n", 1)
    assert "test_boom: KeyError: " in head and "suite bug near $KEEPCALL_API_KEY" in head
    assert trace.startswith("Traceback") and "in test_boom" in trace, trace
    assert "_pytest" not in trace and "KeyError" in trace.splitlines()[-1], trace
    assert SECRET_KEY not in written  # the traceback is redacted like everything written
    assert result.ret == 3
    assert not any(t.name == "keepcall-reference" for t in threading.enumerate())


def _refused(url: str) -> bool:
    """Whether nothing listens at ``url``'s port any more."""
    port = urlsplit(url).port
    assert port is not None
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def _reference_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "keepcall-reference"]


def test_a_start_that_raises_leaves_nothing_running(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    """A bug in the probes (after the preflight) raises out of the start: the embedded server
    it started is stopped, its port closed."""
    started: list[str] = []

    def broken_probe(target: Target, _numbering: object) -> None:
        started.append(target.url)
        raise RuntimeError("a bug of the suite's probe")

    monkeypatch.setattr(session, "probe", broken_probe)
    with pytest.raises(RuntimeError, match="probe"):
        session.start_session(resolve(Options(report_dir=str(tmp_path)), {}))
    assert started and _refused(started[0]) and not _reference_threads()


@pytest.mark.usefixtures("as_suite")
def test_a_report_it_cannot_write_leaves_nothing_running(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{f"{PREFIX}_one": (
        "import pytest\n"
        "@pytest.mark.requirement('KC-ID-001')\n"
        "def test_one(kc):\n    open('url.txt', 'w').write(kc.target.url)\n")})
    report_dir = pytester.path / "r"
    (report_dir / "results.json").mkdir(parents=True)  # where the file goes: unwritable
    with pytest.raises(IsADirectoryError):
        pytester.inline_run("--kc-report-dir", str(report_dir), *FAST)
    url = (pytester.path / "url.txt").read_text()
    assert _refused(url) and not _reference_threads()


@pytest.mark.usefixtures("as_suite")
def test_each_run_keeps_its_own_state(pytester: pytest.Pytester) -> None:
    """Two runs in one process: each counts its own cases; the module keeps none."""
    pytester.makepyfile(**{f"{PREFIX}_two": (
        "import pytest\n"
        "@pytest.mark.requirement('KC-ID-001')\n"
        "@pytest.mark.parametrize('n', [1, 2])\n"
        "def test_n(n):\n    pass\n")})
    for _ in range(2):
        recorder = pytester.inline_run("--kc-report-dir", str(pytester.path / "r"))
        run = recorder.getcall("pytest_unconfigure").config.stash[plugin.RUN]
        assert (run.progress.total, run.progress.done) == (2, 2)
    assert not [n for n, v in vars(plugin).items() if isinstance(v, Progress)]


# Every option the pytest plugin lacked until the options table: transport, reference server.
TRANSPORT = {"timeout": ("total_timeout", 25.0), "connect-timeout": ("connect_timeout", 4.0),
             "read-timeout": ("read_timeout", 9.0),
             "max-response-bytes": ("max_response_bytes", 2_000_000)}


def test_the_suite_runs_as_plain_pytest(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """``pytest --pyargs conformance.suite --kc-quick ...``: the embedded server, results.json,
    with the options only the CLI had before."""
    report_dir = tmp_path / "plain"
    transport = [a for flag, (_, value) in TRANSPORT.items() for a in (f"--kc-{flag}", str(value))]
    result = pytester.runpytest_subprocess("--pyargs", "conformance.suite", "--kc-quick",
                                           "--kc-report-dir", str(report_dir), "-q", *FAST,
                                           *transport, "--kc-reference-switch", "pretty_xml=true",
                                           timeout=180)
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 200 and "failed" not in outcomes
    data = json.loads((report_dir / "results.json").read_text())
    assert data["summary"]["verdict"] == "conformant" and data["target"]["embedded"] is True
    result.stdout.fnmatch_lines(["*KeepCall conformance*", "*VERDICT: CONFORMANT*"])
    sent = dict(TRANSPORT.values())
    assert {name: data["target"]["transport"][name] for name in sent} == sent
    assert data["target"]["reference_switches"] == ["pretty_xml=true"]


def _credentials(server: ReferenceServer, shape: str) -> tuple[str, ...]:
    """The ``--kc-*`` credentials of one shape for ``server``: its open key alone (a key that
    needs no token), its key with a token obtained beforehand, or its key with its login."""
    if shape == "key":
        return ("--kc-api-key", server.open_api_key)
    if shape == "key+token":
        with httpx.Client() as client:
            return ("--kc-api-key", server.api_key, "--kc-token", Api(server, client).token)
    return ("--kc-api-key", server.api_key, "--kc-username", server.username,
            f"--kc-password={server.password}")


# The "key" shape's run is test_a_suite_item_that_ran_is_let_go[True]'s (one run, both checks).
@pytest.mark.parametrize("shape", ["key+token", "key+login"])
def test_a_case_marker_names_every_requirement_its_run_judges(
        pytester: pytest.Pytester, reference: ReferenceServer, shape: str) -> None:
    """Whatever credentials a target is given, a case's ``requirements`` (its marker, in
    junit.xml) holds every requirement its checks judged (cases.json.gz). Not equal: the
    marker is known before the answer, so it also names what another allowed answer would
    have been judged on (an open point's other readings, an error's format, a later start)."""
    report_dir, junit = pytester.path / "r", pytester.path / "junit.xml"
    pytester.inline_run(
        "--pyargs", "conformance.suite", "--kc-target", reference.api_url, "--kc-control-url",
        reference.control_url, *_credentials(reference, shape), "--kc-quick",
        "--kc-report-dir", str(report_dir), "-k", "test_case and (auth or open-key)",
        f"--junitxml={junit}", "-o", "junit_family=xunit1", *FAST)
    _assert_markers_name_what_was_judged(junit, report_dir)


def _assert_markers_name_what_was_judged(junit: Path, report_dir: Path) -> None:
    """Each case's marker (junit.xml) names every requirement its checks judged (its part)."""
    marked = {case.get("name", "").partition("[")[2][:-1]: set(prop.get("value", "").split())
              for case in ElementTree.parse(junit).iter("testcase")
              for prop in case.iter("property") if prop.get("name") == "requirements"}
    judged = {case: {row[0] for row in rows} for case, rows
              in load_part(report_dir / PART_NAME)["ledger"]["cases"].items()}
    assert len(judged) == len(marked) > 10
    unmarked = {case: sorted(judged[case] - marked[case]) for case in judged
                if judged[case] - marked[case]}
    assert not unmarked, unmarked


@pytest.mark.system  # a whole run of the matrix, in process
def test_the_requests_of_matrix_cases_are_counted_apart(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """results.json counts the matrix cases and the requests their runs sent, apart from the
    rest (the preflight, the dialect probe, the control reset): issue 20's requests per matrix
    case, which the summary says too (in process: the count is the subject, not the wire)."""
    with plugin.serve_in_process():
        code = main(["run", "--quick", "--seed", "1", "-k", "test_case", "--allow-untested",
                     "--report-dir", str(tmp_path)])
    assert code == 0
    target = json.loads((tmp_path / "results.json").read_text())["target"]
    assert target["matrix_cases"] == len(all_cases(True))
    assert 0 < target["matrix_requests"] < target["requests_sent"]
    assert target["requests_per_matrix_case"] == round(
        target["matrix_requests"] / target["matrix_cases"], 3)
    said = (f"{target['requests_per_matrix_case']:.2f} per matrix case "
            f"({target['matrix_requests']} for {target['matrix_cases']})")
    assert said in capsys.readouterr().out


class _JunitWriter:
    """What wrote junit.xml in a run: pytest's writer's class, seen at the run's end."""

    name = ""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from _pytest.junitxml import xml_key

        self.name = type(session.config.stash[xml_key]).__name__


@pytest.mark.parametrize("terminal", [False, True])
def test_a_suite_item_that_ran_is_let_go(pytester: pytest.Pytester, reference: ReferenceServer,
                                          terminal: bool) -> None:
    """A suite item is dropped from the session's list once it ran (memory, issue 20): when
    the run ends none is left there, and every one of them was reported. Only with pytest's
    terminal off, as the CLI runs: the terminal reads the items (a plain pytest run keeps
    them). Either way junit.xml was spooled, every case in it. With the terminal, the run
    (xunit1, as the CLI writes) is also test_a_case_marker_names_every_requirement_its_run_
    judges's with the "key" credentials."""
    junit, writer = pytester.path / "junit.xml", _JunitWriter()
    report_dir = pytester.path / "r"
    recorder = pytester.inline_run(
        *(("-o", "junit_family=xunit1") if terminal else ("-p", "no:terminal")),
        "--pyargs", "conformance.suite",
        "--kc-target", reference.api_url, "--kc-control-url", reference.control_url,
        *_credentials(reference, "key"), "--kc-quick", "--kc-report-dir",
        str(report_dir), "-k", "test_case and (auth or open-key)",
        f"--junitxml={junit}", *FAST, plugins=[writer])
    items = recorder.getcall("pytest_sessionfinish").session.items
    reported = [r for r in recorder.getreports("pytest_runtest_logreport") if r.when == "call"]
    assert len(items) == len(reported) > 10
    assert (None in items) is not terminal
    assert terminal or items == [None] * len(items)
    assert writer.name == "SpoolingLogXML"
    assert len(list(ElementTree.parse(junit).iter("testcase"))) == len(reported)
    if terminal:
        _assert_markers_name_what_was_judged(junit, report_dir)
