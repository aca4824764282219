"""The warm parent of the CLI runs (tests/zygote.py): a forked run is a run of its own."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hostile import HOSTILE
from killmatrix import run_cli
from zygote import Zygote

pytestmark = pytest.mark.system


def test_a_usage_error_exits_2_with_its_message_on_stderr(tmp_path: Path) -> None:
    run = run_cli(["--level", "foo"], tmp_path)
    assert run.exit_code == 2 and not run.hung
    assert "--level" in run.stderr and run.stdout == ""


def test_each_run_gets_its_own_environment_and_directory(tmp_path: Path) -> None:
    zygote = Zygote(os.environ)
    try:
        for name in ("one", "two"):
            where = tmp_path / name
            where.mkdir()
            status, rss_kb, hung = zygote.run(
                ["serve", "--list"], {"PATH": os.environ.get("PATH", ""), "KC_MARK": name},
                where, where / "out", where / "err", time.monotonic() + 60)
            assert (status, hung) == (0, False) and rss_kb > 0
            assert "faults" in (where / "out").read_text().lower()
    finally:
        zygote.close()


def test_a_run_past_its_deadline_is_killed_and_the_next_one_runs(tmp_path: Path) -> None:
    with HOSTILE["trickle-all"]() as url:
        run = run_cli(["--target", url + "/verba/api", "--api-key", "k", "--quick",
                       "--timeout", "60"],
                      tmp_path / "hung", timeout=2)
    assert run.hung and run.exit_code is None
    after = run_cli(["--level", "foo"], tmp_path / "after")
    assert after.exit_code == 2
