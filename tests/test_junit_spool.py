"""junit.xml spooled as the run goes (``finish.SpoolingLogXML``): the file is pytest's own, and
no test case's element waits for the end of the run."""

from __future__ import annotations

import re

import pytest

# Every kind of test case junit.xml tells apart, with properties, output and odd characters.
TESTS = '''
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup <broke> & \\x07")

@pytest.fixture
def breaks_after():
    yield
    raise RuntimeError("teardown broke")

@pytest.mark.parametrize("n", range(5))
def test_passes(n, record_property):
    record_property("requirements", f"KC-{n} KC-9")
    print("out", n)

def test_fails():
    pytest.fail("no <good> & \\u00e9", pytrace=False)

def test_skips():
    pytest.skip("not tested: later")

def test_setup_errors(broken):
    pass

def test_teardown_errors(breaks_after):
    assert False, "and fails"

@pytest.mark.xfail(reason="known")
def test_xfails():
    assert False

def test_spooled_as_it_went(request):
    """When the last test runs, every earlier test case is spooled already."""
    from _pytest.junitxml import xml_key
    xml = request.config.stash[xml_key]
    assert type(xml).__name__ == "{writer}"
    assert len(xml.node_reporters_ordered) <= {pending}
'''

SPOOL = '''
import pytest
from conformance.integration.finish import spool_junit

@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    spool_junit(session.config)
'''

_VARYING = re.compile(r'(time|timestamp|hostname)="[^"]*"')


def _junit(pytester: pytest.Pytester, spooled: bool) -> str:
    writer, pending = ("SpoolingLogXML", "1") if spooled else ("LogXML", "100")
    pytester.makepyfile(test_kinds=TESTS.replace("{writer}", writer).replace("{pending}", pending))
    if spooled:
        pytester.makeconftest(SPOOL)
    junit = pytester.path / ("spooled.xml" if spooled else "plain.xml")
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider",
                                f"--junitxml={junit}", "-o", "junit_family=xunit1",
                                "-o", "junit_logging=all")
    result.assert_outcomes(passed=6, failed=2, skipped=1, errors=2, xfailed=1)
    return _VARYING.sub(r'\1="-"', junit.read_text(encoding="utf-8"))


def test_the_spooled_file_is_pytests_own(pytester: pytest.Pytester) -> None:
    """The same tests give the same junit.xml, but for times and the host; the spooling
    writer held at most the running test's case at the last test (its own test checks)."""
    plain = _junit(pytester, spooled=False)
    (pytester.path / "conftest.py").unlink(missing_ok=True)
    spooled = _junit(pytester, spooled=True)
    assert spooled == plain
    assert plain.count("<testcase ") == 12


# A run cut short after a test that echoed a secret into a property: the last test stops the
# run, so its test case is never final. The conftest keeps what pytest's own writer puts on the
# disk before the spool takes its place.
CUT_SHORT = '''
import pytest

def test_echoes(record_property):
    record_property("echo", "keepcall-SECRET-echoed")

def test_stops_the_run():
    pytest.exit("stopped")
'''

WATCH = SPOOL + '''
from pathlib import Path
from _pytest.junitxml import LogXML
from conformance.wire.redact import SECRETS

SECRETS.add("keepcall-SECRET-echoed", "$KEEPCALL_API_KEY")
_written = LogXML.pytest_sessionfinish

def _kept(self):
    _written(self)
    Path("as-pytest-wrote.xml").write_text(Path(self.logfile).read_text())

LogXML.pytest_sessionfinish = _kept
'''


def test_what_pytest_writes_holds_no_test_case(pytester: pytest.Pytester) -> None:
    """Every test case, one never final too, is spooled redacted before pytest writes its
    file: pytest's own write holds the header and the stand-in only, and the file as left
    holds the case with its secret replaced."""
    pytester.makepyfile(test_cut=CUT_SHORT)
    pytester.makeconftest(WATCH)
    junit = pytester.path / "junit.xml"
    pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", f"--junitxml={junit}",
                       "-o", "junit_family=xunit1")
    written = (pytester.path / "as-pytest-wrote.xml").read_text(encoding="utf-8")
    assert "<testcase" not in written and "<keepcall-spooled-testcases />" in written
    final = junit.read_text(encoding="utf-8")
    assert final.count("<testcase ") == 2 and "$KEEPCALL_API_KEY" in final
    assert "SECRET" not in final + written


# A secret learnt after an earlier test echoed it (a token handed out later): the spool held
# the echo as it was, and the file as left has it replaced all the same.
LEARNT_LATE = '''
from conformance.wire.redact import SECRETS

def test_echoes_first(record_property):
    record_property("echo", "keepcall-LATE-learnt-secret")

def test_learns_it():
    SECRETS.add("keepcall-LATE-learnt-secret", "$KEEPCALL_TOKEN")
'''


def test_a_secret_learnt_after_its_echo_is_replaced(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_late=LEARNT_LATE)
    pytester.makeconftest(SPOOL)
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider",
                                f"--junitxml={junit}", "-o", "junit_family=xunit1")
    result.assert_outcomes(passed=2)
    final = junit.read_text(encoding="utf-8")
    assert final.count("<testcase ") == 2 and "$KEEPCALL_TOKEN" in final
    assert "LATE-learnt" not in final
