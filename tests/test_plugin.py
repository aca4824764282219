"""The pytest plugin through pytester: tracing is enforced, ordinary runs are untouched, the
suite runs as plain pytest, and a crashing suite test can never yield a conformant verdict.

Tests that need a module to count as part of the suite point ``SUITE_PACKAGE`` at their own
module prefix (in-process runs share the plugin module).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from conformance import plugin
from conformance.reference.server import ReferenceServer

PREFIX = "test_kcsuite"
FAST = ("--kc-examples", "10", "--kc-budget", "5", "-p", "no:randomly")


@pytest.fixture
def as_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    """Modules named test_kcsuite* count as conformance tests for the plugin."""
    monkeypatch.setattr(plugin, "SUITE_PACKAGE", PREFIX)


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
    items, _ = pytester.inline_genitems()
    assert [dict(i.user_properties)["requirements"] for i in items] == ["KC-ID-001"]


def test_the_plugin_is_inert_for_ordinary_runs(pytester: pytest.Pytester,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No marker demanded, no server started, no results.json: other projects pay nothing."""
    started: list[object] = []
    monkeypatch.setattr(ReferenceServer, "start", lambda self: started.append(self))
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    report_dir = pytester.path / "reports"
    result = pytester.runpytest("--kc-report-dir", str(report_dir))
    result.assert_outcomes(passed=1)
    assert started == [] and not report_dir.exists()
    assert "KeepCall conformance" not in result.stdout.str()
    assert not any(t.name == "keepcall-reference" for t in threading.enumerate())


def test_bad_plugin_options_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest("--kc-target", "ftp://h/verba/api", "--kc-api-key", "k")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "--target" in "\n".join(result.errlines)


@pytest.mark.parametrize(("args", "allowed"), [((), False), (("--kc-allow-untested",), True)])
def test_allow_untested_is_a_plugin_option(pytester: pytest.Pytester, args: tuple[str, ...],
                                           allowed: bool) -> None:
    config = pytester.parseconfigure(*args)
    assert config.stash[plugin.SETTINGS].allow_untested is allowed


@pytest.mark.usefixtures("as_suite")
def test_an_unexpected_exception_makes_the_run_inconclusive(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(**{f"{PREFIX}_boom": (
        "import pytest\n"
        "@pytest.mark.requirement('KC-ID-001')\n"
        "def test_fine(kc):\n    pass\n"
        "@pytest.mark.requirement('KC-ID-001')\n"
        "def test_boom(kc):\n    raise KeyError('suite bug')\n")})
    report_dir = pytester.path / "r"
    result = pytester.runpytest("--kc-report-dir", str(report_dir), *FAST)
    data = json.loads((report_dir / "results.json").read_text())
    assert data["summary"]["verdict"] == "inconclusive"
    assert any("test_boom" in e and "KeyError" in e for e in data["summary"]["internal_errors"])
    assert result.ret == 3
    assert not any(t.name == "keepcall-reference" for t in threading.enumerate())


def test_the_suite_runs_as_plain_pytest(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """``pytest --pyargs conformance.suite --kc-quick``: the embedded server, results.json."""
    report_dir = tmp_path / "plain"
    result = pytester.runpytest_subprocess("--pyargs", "conformance.suite", "--kc-quick",
                                           "--kc-report-dir", str(report_dir), "-q", *FAST,
                                           timeout=180)
    assert result.ret == 0, result.stdout.str()[-3000:]
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 200 and "failed" not in outcomes
    data = json.loads((report_dir / "results.json").read_text())
    assert data["summary"]["verdict"] == "conformant" and data["target"]["embedded"] is True
    result.stdout.fnmatch_lines(["*KeepCall conformance*", "*VERDICT: CONFORMANT*"])
