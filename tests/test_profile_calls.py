"""A target without a control URL, described by a profile: its listed calls are looked up.

The calls are put on a real reference server through its control URL by the test; the suite
is told only the profile, as it would be for a vendor's staging system.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from conftest import run_cli
from reference_helpers import started

from conformance.reference import ReferenceServer

CALLS = (("ongoing", 30), ("finished", 300))
pytestmark = pytest.mark.system  # each test runs the CLI in a child


def _profile(server: ReferenceServer, tmp_path: Path) -> Path:
    calls = [{"callID": str(uuid.uuid4()), "caller": f"7{i}12345", "called": f"+3670{i}00001",
              "state": state, "offsetSeconds": offset}
             for i, (state, offset) in enumerate(CALLS)]
    response = httpx.put(f"{server.control_url}/fixtures",
                         json={"calls": calls, "controlledExtensions": []})
    assert response.status_code == 204
    lines = [f'target = "{server.api_url}"', f'username = "{server.username}"']
    for call in calls:
        lines += ["[[calls]]", *(f"{k} = {v!r}".replace("'", '"') for k, v in call.items())]
    path = tmp_path / "profile.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


# Without flags a claimed success cannot pass KC-ID-001 (which call changed is unknown), so a
# conformant target leaves it unfailed, while a target that cannot find a listed call fails it.
# Without a control URL the flag requirements stay untested: the best a run can say is partial.
@pytest.mark.parametrize(("faults", "code", "verdicts"), [
    pytest.param(frozenset(), 4, {"pass", "not-tested"}, id="conformant"),
    pytest.param(frozenset({"callid-ongoing-only"}), 1, {"fail"}, id="callid-ongoing-only"),
])
def test_profile_calls_are_looked_up(tmp_path: Path, faults: frozenset[str], code: int,
                                     verdicts: set[str]) -> None:
    with started(ReferenceServer(faults=faults)) as server:
        profile = _profile(server, tmp_path)
        run = run_cli("--quick", "--profile", str(profile), "--api-key", server.api_key,
                      f"--password={server.password}", report_dir=tmp_path / "reports")
    assert run.code == code, run.stdout[-2000:] + run.stderr[-2000:]
    by_id = {r["id"]: r for r in run.results["requirements"]}
    assert by_id["KC-ID-001"]["verdict"] in verdicts
    assert by_id["KC-ID-001"]["cases"] > 0  # the listed calls were looked up
    assert by_id["KC-FLAG-002"]["verdict"] == "not-tested"  # flags need a control URL
    assert run.results["summary"]["verdict"] == {4: "partial", 1: "not-conformant"}[code]
