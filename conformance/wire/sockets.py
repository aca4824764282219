"""The network under the client's connection pool: httpcore's own anyio streams, with the one
question the pool asks of each idle connection before every request (is its socket readable:
did the server close it?) answered from the socket kept since the connection was made.

httpcore asks anyio for the socket each time, and anyio builds the stream's whole table of
attributes to hand it over: 4% of a serial run's CPU. The answer is the same poll of the same
socket; everything else is httpcore's. httpx's transport takes no backend of its own, so the
pool it made is given this one (``keep_sockets``).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable

Option = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


class _Stream(httpcore.AsyncNetworkStream):
    """An anyio stream of httpcore's, its socket kept for the readability check."""

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class KeptSockets(httpcore.AsyncNetworkBackend):
    """httpcore's anyio backend, its streams keeping their sockets."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Option] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_tcp(host, port, timeout, local_address,
                                                     socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Option] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:
        return _Stream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def keep_sockets(client: httpx.AsyncClient) -> bool:
    """Give the pool of ``client``'s own TCP transport the backend above, before its first
    connection; False (nothing changed) for any other transport (an app in this process)."""
    transport = client._transport
    pool = getattr(transport, "_pool", None)
    if not (isinstance(transport, httpx.AsyncHTTPTransport)
            and type(pool) is httpcore.AsyncConnectionPool):
        return False
    pool._network_backend = KeptSockets()
    return True
