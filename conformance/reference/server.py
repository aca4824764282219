"""ReferenceServer: the reference app on uvicorn in a background thread, on a free port.

Used by the plugin (when no --target is given), by `keepcall-conformance serve` and by the
project's tests; each instance has its own store, credentials, switches and faults.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
import uuid
from collections.abc import Iterable
from types import TracebackType

import uvicorn

from conformance.catalog.spec import API_PATH
from conformance.reference.app import CONTROL_PREFIX, ReferenceApp
from conformance.reference.behaviour import default_behaviour
from conformance.reference.control import ControlApi
from conformance.reference.faults import check_names, with_faults
from conformance.reference.keepcall import KeepCallService
from conformance.reference.state import Clock, Store
from conformance.reference.switches import Switches

_PREFERRED = Switches()
_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0


def _run(server: uvicorn.Server) -> None:
    """uvicorn exits the process (SystemExit) when it cannot bind; here that ends the thread,
    and start() reports it."""
    with contextlib.suppress(SystemExit):
        server.run()


class ReferenceServer:
    """A running reference KeepCall server; use as a context manager or start()/stop()."""

    def __init__(self, switches: Switches = _PREFERRED, faults: Iterable[str] = frozenset(),
                 host: str = "127.0.0.1", port: int = 0, api_key: str | None = None,
                 open_api_key: str | None = None, username: str | None = None,
                 password: str | None = None) -> None:
        self.switches = switches
        self.faults = check_names(faults)
        self.host, self.port = host, port
        self.api_key = api_key or str(uuid.uuid4())
        self.open_api_key = open_api_key or str(uuid.uuid4())
        self.username = username or "conformance"
        self.password = password or secrets.token_urlsafe(18)
        self.store = Store(Clock(whole=switches.clock_resolution == "whole-seconds"),
                           late_calls_stay_upcoming=switches.upcoming_starts == "stays-upcoming",
                           calls_end=switches.calls_end)
        behaviour = with_faults(default_behaviour(switches), self.faults)
        keys = {self.api_key: True, self.open_api_key: False}
        service = KeepCallService(self.store, switches, behaviour, keys, self.username,
                                  self.password)
        self.app = ReferenceApp(service, ControlApi(self.store, switches.flags_endpoint))
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base_url + API_PATH

    @property
    def control_url(self) -> str:
        return self.base_url + CONTROL_PREFIX

    def start(self) -> ReferenceServer:
        """Start serving; returns once the socket accepts connections."""
        if self._server is not None:
            raise RuntimeError("the reference server is already running")
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                access_log=False, lifespan="off", http="h11", loop="asyncio",
                                timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=_run, args=(self._server,),
                                        name="keepcall-reference", daemon=True)
        self._thread.start()
        self._wait_started(self._server, self._thread)
        return self

    def _wait_started(self, server: uvicorn.Server, thread: threading.Thread) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._server = self._thread = None
                raise RuntimeError(f"the reference server could not listen on "
                                   f"{self.host}:{self.port}")
            time.sleep(0.005)
        self.port = server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        """Stop serving and wait for the thread (promptly: idle connections are closed)."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(_STOP_TIMEOUT)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> ReferenceServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()
