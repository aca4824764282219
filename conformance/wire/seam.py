"""The in-process seam: the client talking to an ASGI app in this process, no socket, no thread.

For the project's tests and embedding, where the wire is not what is tested: the client keeps
its limits, deadline and records, and only httpx's TCP transport is replaced. Its own module
because it is an adapter to what the client plugs into, not part of how the client sends.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from conformance.wire.attempts import SENT_ON_A_CONNECTION


class _Reached(httpx.AsyncBaseTransport):
    """An app in this process is always reached: the trace event a TCP connection sends (httpx's
    ASGITransport sends none), so a broken answer reads as broken, never as unreachable."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trace = request.extensions.get("trace")
        if trace is not None:
            await trace(SENT_ON_A_CONNECTION, {})
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def in_process(app: Callable[..., Awaitable[None]]) -> httpx.AsyncBaseTransport:
    """A transport to an ASGI app in this process, on the client's own loop (no socket, no
    thread): for the project's tests and embedding, where the wire is not what is tested. An
    exception of the app is its 500 answer, as a server would send it."""
    return _Reached(httpx.ASGITransport(app=app, raise_app_exceptions=False))
