"""What a run leaves behind, from its session: results.json's account of the run beside the
ledger (suite, target, counters), cases.json.gz, suite errors as results.json keeps them, and
junit.xml spooled as the run goes.
"""

from __future__ import annotations

import gzip
import io
import os
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest
from _pytest.junitxml import LogXML, _NodeReporter, xml_key
from _pytest.nodeid import coerce_node_id

from conformance.domain.matrix import matrix_digest
from conformance.integration.session import KeepCallSession
from conformance.integration.settings import Settings
from conformance.judging.ledger import Ledger
from conformance.reports.report import PART_NAME, finished, public_url, write_part
from conformance.wire import sink

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
              "matrix_cases": run.matrix_cases, "matrix_requests": run.matrix_requests,
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
              "requests_sent": 0, "retries": 0, "matrix_cases": 0, "matrix_requests": 0,
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


# The stand-in for the spooled test cases in the file pytest's LogXML writes at the end.
_SPOOLED = "keepcall-spooled-testcases"


class SpoolingLogXML(LogXML):
    """pytest's junit.xml writer, keeping no tree: each test case's element, once final, is
    serialized and spooled, gzipped in memory, instead of held to the end (a full run's 21,800
    elements and their serialization at once were 30 MB and more at the run's peak; the spool
    is about 150 KB). The file is pytest's own, byte for byte: ElementTree writes a child as it
    writes it alone. Nothing of a test case reaches the disk before the whole file is redacted
    once, at the end, with every secret the run learnt (a case redacted as it was spooled was
    read again at the end all the same, for the tokens learnt after it: twice the work)."""

    _spool: io.BytesIO
    _packed: IO[str]

    @classmethod
    def taking(cls, xml: LogXML) -> SpoolingLogXML:
        """``xml``'s state (options, stats, nothing reported yet) in a spooling writer."""
        spooling = cls.__new__(cls)
        spooling.__dict__.update(vars(xml))
        spooling._spool = io.BytesIO()
        spooling._packed = io.TextIOWrapper(
            gzip.GzipFile(filename="", mode="wb", fileobj=spooling._spool, compresslevel=1,
                          mtime=0), encoding="utf-8")
        return spooling

    def finalize(self, report: pytest.TestReport) -> None:
        super().finalize(report)
        self._flush()

    def _flush(self, *, whole: bool = False) -> None:
        """Spool the test cases that are final (or all of them, at the end: one a cut-short
        run never finished too), from the first: their order is pytest's."""
        pending = self.node_reporters_ordered
        final = len(pending) if whole else next(
            (n for n, r in enumerate(pending) if "to_xml" not in vars(r)), len(pending))
        for reporter in pending[:final]:
            self._packed.write(ET.tostring(reporter.to_xml(), encoding="unicode"))
        del pending[:final]

    def pytest_sessionfinish(self) -> None:
        """pytest's file with only a stand-in for the test cases, all spooled first, so what
        pytest writes holds nothing a target sent; then the file again, the spool in the
        stand-in's place, redacted as it is written."""
        self._flush(whole=True)
        self._packed.close()  # the gzip stream ended; the spool stays open
        self.node_reporters_ordered.append(_Spooled(coerce_node_id(_SPOOLED), self))
        try:
            super().pytest_sessionfinish()
            path = Path(self.logfile)
            head, tail = path.read_bytes().split(f"<{_SPOOLED} />".encode(), 1)
            self._spool.seek(0)
            with gzip.GzipFile(fileobj=self._spool, mode="rb") as spooled:
                sink.write_tagged(path, [io.BytesIO(head), spooled, io.BytesIO(tail)])
        finally:
            self._spool.close()


class _Spooled(_NodeReporter):
    """Where the spooled test cases go in the file."""

    def to_xml(self) -> ET.Element:
        return ET.Element(_SPOOLED)


def spool_junit(config: pytest.Config) -> None:
    """Swap pytest's junit.xml writer (--junitxml) for the spooling one, once pytest made
    it and started it (``pytest_sessionstart``: its start time is taken along)."""
    xml = config.stash.get(xml_key, None)
    if type(xml) is LogXML:
        config.pluginmanager.unregister(xml)
        config.stash[xml_key] = spooling = SpoolingLogXML.taking(xml)
        config.pluginmanager.register(spooling)
