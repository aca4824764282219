"""The parameter matrix: every case of conformance.matrix, judged against the oracle."""

from __future__ import annotations

from conformance.matrix import Case
from conformance.plugin import KeepCallSession
from conformance.runner import run_case


def test_case(kc: KeepCallSession, kc_case: Case) -> None:
    kc.record(kc_case.id, run_case(kc.target, kc_case, kc.numbering), twin=kc_case.twin)
