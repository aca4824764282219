"""Requests per second of the reference server, against a constant-body ASGI floor.

Both loops use one keep-alive httpx.Client on loopback and uvicorn with the same settings, so
the ratio shows what the KeepCall path costs over uvicorn + httpx themselves. Run:
    PYTHONPATH=. python benchmarks/bench_reference.py [COUNT]   (from the repository root)
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from typing import Any

import httpx
import uvicorn

from conformance.reference import ReferenceServer

COUNT = 2000
BODY = b'<?xml version="1.0" encoding="UTF-8"?>\n<VerbaApi><Response code="0" type="KeepCall"/>' \
       b"</VerbaApi>\n"


async def constant_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: no parsing, no state, one constant answer."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/xml; charset=utf-8")]})
    await send({"type": "http.response.body", "body": BODY})


def rate(client: httpx.Client, url: str, params: dict[str, str], count: int) -> float:
    client.get(url, params=params)  # warm the connection
    start = time.perf_counter()
    for _ in range(count):
        client.get(url, params=params)
    return count / (time.perf_counter() - start)


def floor_rate(count: int) -> float:
    config = uvicorn.Config(constant_app, host="127.0.0.1", port=0, log_level="warning",
                            access_log=False, lifespan="off", http="h11", loop="asyncio")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        with httpx.Client() as client:
            return rate(client, f"http://127.0.0.1:{port}/verba/api", {}, count)
    finally:
        server.should_exit = True
        thread.join()


def reference_rate(count: int) -> float:
    with ReferenceServer() as server, httpx.Client() as client:
        call_id = str(uuid.uuid4())
        client.put(f"{server.control_url}/fixtures", json={"calls": [
            {"callID": call_id, "caller": "8856", "called": "+3612345678", "state": "ongoing",
             "offsetSeconds": 30}]})
        params = {"action": "KeepCall", "apiKey": server.open_api_key, "extension": "8856",
                  "status": "ongoing,next"}
        return rate(client, server.api_url, params, count)


def main() -> int:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else COUNT
    floor = floor_rate(count)
    reference = reference_rate(count)
    print(f"constant ASGI app : {floor:8.0f} req/s")
    print(f"reference KeepCall: {reference:8.0f} req/s")
    print(f"ratio             : {reference / floor:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
