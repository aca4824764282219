"""The parameter matrix: every case of conformance.domain.matrix, judged against the oracle.

Cases run in batches (conformance/running/batch.py): the first item of a batch sets up, sends and
reads back the next ones too; each item records its own result."""

from __future__ import annotations

from conformance.domain.matrix import Case
from conformance.integration.plugin import KeepCallSession


def test_case(kc: KeepCallSession, kc_case: Case) -> None:
    kc.record(kc_case.id, kc.matrix_result(kc_case), twin=kc_case.twin)
