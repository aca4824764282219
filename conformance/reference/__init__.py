"""The embedded reference KeepCall server: an independent implementation of docs/SEMANTICS.md.

It imports only ``spec`` from the project, never the oracle, so the suite passing against it
cross-checks the oracle. Switches choose among the spec's open readings;
faults inject single deviations to prove the suite catches them.
"""

from __future__ import annotations

from conformance.reference.faults import FAULTS, Fault
from conformance.reference.server import ReferenceServer
from conformance.reference.switches import Switches, switch_choices

__all__ = ["FAULTS", "Fault", "ReferenceServer", "Switches", "switch_choices"]
