"""benchmarks/bench_network.py runs: one small configuration (the quick matrix with a few
examples, serially, against ``serve`` with 20 ms on every answer) measured and written.
Timings are never asserted here, only that the figures exist and the run was judged."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_network  # noqa: E402


@pytest.mark.system
def test_the_benchmark_measures_one_small_configuration(tmp_path: Path) -> None:
    results = tmp_path / "network.json"
    code = bench_network.main(["--latency", "20", "--quick-only", "--mode", "serial",
                               "--examples", "2", "--results", str(results),
                               "--work-dir", str(tmp_path / "work")])
    data = json.loads(results.read_text(encoding="utf-8"))
    (run,) = data["runs"]
    assert code in (0, 1), run["output_tail"]  # 1: a goal missed on a busy machine
    assert (run["matrix"], run["latency_ms"], run["mode"], run["verdict"]) == (
        "quick", 20, "serial", "conformant")
    assert run["requests_per_case"] > 1 and run["suite_cpu_s"] > 0 and run["server_cpu_s"] > 0
    assert run["peak_rss_mb"] > 0 and run["peak_rss_sum_mb"] > 0
    assert data["machine"]["nproc"] >= 1 and data["checked"][0]["goal"] == "<= 20 s"
