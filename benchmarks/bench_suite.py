"""What the suite consumes against what the reference server serves, measured in one run.

The floor is the server's own rate: a bare keep-alive loop of KeepCall GETs. The suite's rate is
the requests per second it sends while running matrix cases (provision, KeepCall, read flags,
judge). A ratio well below 1 means the embedded server is never the bottleneck of a run. Run:
    PYTHONPATH=. python benchmarks/bench_suite.py [CASES]   (from the repository root)
"""

from __future__ import annotations

import sys
import time

import httpx

from conformance.domain.matrix import all_cases
from conformance.domain.scenarios import Numbering
from conformance.reference import ReferenceServer
from conformance.running.batch import run_case
from conformance.wire.control import Control
from conformance.wire.target import Credentials, Target
from conformance.wire.transport import Client, TransportSettings

CASES = 600


def server_rate(server: ReferenceServer, count: int) -> float:
    params = {"action": "KeepCall", "apiKey": server.open_api_key, "callID": "unknown"}
    with httpx.Client() as client:
        client.get(server.api_url, params=params)
        start = time.perf_counter()
        for _ in range(count):
            client.get(server.api_url, params=params)
        return count / (time.perf_counter() - start)


def suite_rate(server: ReferenceServer, cases: int) -> tuple[float, float]:
    """(requests per second the suite sends, cases per second it judges)."""
    credentials = Credentials(server.api_key, None, server.username, server.password,
                              server.open_api_key)
    with Client(TransportSettings(), credentials.redactor()) as client:
        target = Target(server.api_url, credentials, client, Control(client, server.control_url))
        target.token()
        numbering, chosen = Numbering(), all_cases()[:: max(1, 21720 // cases)][:cases]
        sent, start = client.requests_sent, time.perf_counter()
        for case in chosen:
            run_case(target, case, numbering)
        elapsed = time.perf_counter() - start
        return (client.requests_sent - sent) / elapsed, len(chosen) / elapsed


def main() -> None:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else CASES
    with ReferenceServer() as server:
        floor = server_rate(server, cases * 3)
        consumed, judged = suite_rate(server, cases)
    print(f"reference server serves     {floor:8.0f} requests/s (bare keep-alive loop: floor)")
    print(f"the suite consumes          {consumed:8.0f} requests/s ({judged:.0f} cases/s)")
    print(f"ratio consumed / served     {consumed / floor:8.2f}")


if __name__ == "__main__":
    main()
