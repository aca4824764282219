"""Certification end to end: keygen, certify (the locked profile's path), verify; an edited
bundle or another key fails verification; the bundle holds no secret.

The locked profile runs the full matrix (minutes); this test runs the same command with the
profile's matrix made quick in the child, everything else as shipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from canary import scan
from killmatrix import EMBEDDED_ENV

from conformance.integration.cli import main

pytestmark = pytest.mark.system

QUICK_PROFILE = ("import sys, conformance.integration.certify as c; "
                 "c.PROFILE.update(quick=True, budget=5.0, examples=5); "
                 "from conformance.integration.cli import main; sys.exit(main(sys.argv[1:]))")


def test_keygen_certify_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    assert main(["keygen", "--private-key", str(private), "--public-key", str(public)]) == 0
    assert main(["keygen", "--private-key", str(private), "--public-key", str(public)]) == 2
    bundle = tmp_path / "bundle"
    done = subprocess.run(
        [sys.executable, "-c", QUICK_PROFILE, "certify", "--private-key", str(private),
         "--bundle", str(bundle), "--report-dir", str(tmp_path / "reports"), "-q"],
        capture_output=True, text=True, timeout=600, env=os.environ | EMBEDDED_ENV)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "sealed" in done.stdout and "VERDICT: CONFORMANT (level should" in done.stdout
    assert {"results.json", "manifest.json", "manifest.sig", "configuration.json"} <= {
        p.name for p in bundle.iterdir()}
    assert scan(bundle, list(EMBEDDED_ENV.values()), (), {}) == []
    capsys.readouterr()
    assert main(["verify", str(bundle), "--public-key", str(public)]) == 0
    other, other_public = tmp_path / "o.pem", tmp_path / "o.pub.pem"
    assert main(["keygen", "--private-key", str(other), "--public-key", str(other_public)]) == 0
    assert main(["verify", str(bundle), "--public-key", str(other_public)]) == 1
    results = bundle / "results.json"
    edited = bytearray(results.read_bytes())
    edited[len(edited) // 2] ^= 0x01
    results.write_bytes(bytes(edited))
    capsys.readouterr()
    assert main(["verify", str(bundle), "--public-key", str(public)]) == 1
    assert "results.json" in capsys.readouterr().out
