"""A pytest plugin for the kill matrix's default lane: the run stops at its kill.

``tests/killmatrix.py`` loads it into a run's child (``PYTEST_PLUGINS=stop_at_kill``) with the
fault's requirement in ``KC_STOP_AT_FAILED``. Once that requirement has a failed check in the
run's ledger, the run stops after the current test: what decides the row (exit 1, a failed
verdict on the requirement) is then settled, and the rest of the run could only add other
failures. The ``exhaustive`` lane runs every row whole (the root-cause measure and the other
failed requirements of docs/KILL-MATRIX.md need all of it).
"""

from __future__ import annotations

import os
from typing import cast

import pytest

from conformance.catalog.requirements import RequirementId
from conformance.integration.plugin import RUN

STOP_AT = "KC_STOP_AT_FAILED"
PLUGIN = "stop_at_kill"  # this module's name, for PYTEST_PLUGINS


@pytest.hookimpl(trylast=True)  # after the run's plugin has recorded the test's checks
def pytest_runtest_teardown(item: pytest.Item) -> None:
    wanted = os.environ.get(STOP_AT)
    run = item.config.stash.get(RUN, None)
    if not wanted or run is None or run.session is None:
        return
    if run.session.ledger.entries[cast(RequirementId, wanted)].failed:
        item.session.shouldstop = f"killed: {wanted} failed"
