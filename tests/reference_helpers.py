"""Shared helpers for the reference server's tests: a client bound to a running server.

Every test provisions its own calls with unique IDs and numbers through the control protocol,
so one server per module serves all its tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack
from urllib.parse import urlencode

import httpx
from lxml import etree

from conformance.reference import ReferenceServer, Switches

_numbers = itertools.count(1000)


def number() -> str:
    """A party number no other test uses."""
    return f"7{next(_numbers):07d}"


class CallFlags(TypedDict, total=False):
    """The flags a provisioned call may start with (absent means false)."""

    kept: bool
    protected: bool
    recording: bool


def new_call(state: str, offset: int = 30, caller: str | None = None,
             called: str | None = None, **flags: Unpack[CallFlags]) -> dict[str, Any]:
    return {"callID": str(uuid.uuid4()), "caller": caller or number(),
            "called": called or number(), "state": state, "offsetSeconds": offset, **flags}


@dataclass
class Answer:
    status: int
    content_type: str
    text: str

    @property
    def xml(self) -> Any:
        return etree.fromstring(self.text.encode("utf-8"))

    @property
    def response(self) -> Any:
        return self.xml.find("Response")

    @property
    def code(self) -> str:
        return str(self.response.get("code"))

    @property
    def ok(self) -> bool:
        return self.code == "0"

    @property
    def error_message(self) -> str | None:
        element = self.response.find("ErrorMessage")
        return None if element is None else str(element.text)


Params = Mapping[str, str] | Sequence[tuple[str, str]]


class Api:
    """A keep-alive client for one ReferenceServer, with its credentials filled in.
    ``inside``: the server is served in this process (``running(inside=True)``), and the
    control protocol's set-up and read-back go straight to its ``ControlApi``, what the app's
    control route calls: they are not what such tests are about, and an httpx request costs
    ~1.5 ms of CPU (most of a switch battery's)."""

    def __init__(self, server: ReferenceServer, client: httpx.Client,
                 inside: bool = False) -> None:
        self.server, self.client, self.inside = server, client, inside
        self._token: str | None = None

    def request_token(self, auth: tuple[str, str] | None = None, api_key: str | None = None,
                      method: str = "GET", **params: str) -> Answer:
        pairs = {"action": "RequestToken", "apiKey": api_key or self.server.api_key, **params}
        credentials = auth or (self.server.username, self.server.password)
        return self.send(pairs, method, auth=credentials)

    @property
    def token(self) -> str:
        """A token, cached; by whichever method the server serves (faulty ones refuse one)."""
        for method in ("GET", "POST"):
            if self._token is None:
                text = self.request_token(method=method, responseType="XML").text
                # A regex, not a parser: faulty servers may send broken XML.
                found = re.search(r'token="?([A-Za-z0-9]{32})', text)
                self._token = found.group(1) if found else None
        assert self._token, "RequestToken returned no token"
        return self._token

    def forget_token(self) -> None:
        """Drop the cached token (after moving the clock past its hour)."""
        self._token = None

    def keepcall(self, params: Params = (), method: str = "GET", *, auth: bool = True,
                 raw_query: bytes | None = None, **kwargs: Any) -> Answer:
        """KeepCall with action, apiKey and token first, then ``params`` (as a form for POST)."""
        base = [("action", "KeepCall"), ("apiKey", self.server.api_key), ("token", self.token)] \
            if auth else [("action", "KeepCall"), ("apiKey", self.server.open_api_key)]
        pairs = base + list(params.items() if isinstance(params, Mapping) else params)
        return self.send(pairs, method, **kwargs)

    def send(self, pairs: Params, method: str = "GET", *, in_query: bool = False,
             **kwargs: Any) -> Answer:
        pairs = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
        if method == "POST" and not in_query:
            headers = {"content-type": "application/x-www-form-urlencoded",
                       **kwargs.pop("headers", {})}
            response = self.client.post(self.server.api_url, content=urlencode(pairs).encode(),
                                        headers=headers, **kwargs)
        else:
            response = self.client.request(method, self.server.api_url, params=tuple(pairs),
                                           **kwargs)
        return self._answer(response)

    @staticmethod
    def _answer(response: httpx.Response) -> Answer:
        return Answer(response.status_code, response.headers.get("content-type", ""),
                      response.text)

    def provision(self, *calls: dict[str, Any], controlled: Sequence[str] = ()) -> None:
        body = {"calls": list(calls), "controlledExtensions": list(controlled)}
        status, reply = self.control("POST", "/calls", body)
        assert status == 204, reply

    def flags(self, call: dict[str, Any] | str) -> dict[str, bool]:
        call_id = call if isinstance(call, str) else call["callID"]
        status, reply = self.control("GET", f"/calls/{call_id}")
        assert status == 200 and reply is not None, reply
        return {k: v for k, v in reply.items() if k != "callID"}

    def advance(self, seconds: float) -> None:
        status, reply = self.control("POST", "/clock", {"advanceSeconds": seconds})
        assert status == 204, reply

    def control(self, method: str, path: str, body: object = None) -> tuple[int, Any]:
        """A control protocol request (``path`` after the prefix): its status and JSON."""
        if self.inside:
            sent = b"" if body is None else json.dumps(body).encode()
            return self.server.app.control.handle(method, path, sent)
        response = self.client.request(method, self.server.control_url + path, json=body)
        return response.status_code, response.json() if response.content else None


# --- probes: one request on fresh calls, reduced to what a client observes ---------------
Observation = tuple[Any, ...]
Probe = Callable[[Api], Observation]
_MASKS = (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
          re.compile(r"\b[A-Za-z0-9]{32}\b"))


def observe(api: Api, answer: Answer, calls: list[dict[str, Any]]) -> Observation:
    body = answer.text
    for mask in _MASKS:
        body = mask.sub("#", body)
    return answer.status, answer.content_type, body, [api.flags(c) for c in calls]


def on_calls(states: list[tuple[str, int]], params: Params, role: str = "caller",
             flags: CallFlags | None = None, controlled: bool = True, *,
             wait_before: float = 0, wait_after: float = 0, **send: Any) -> Probe:
    """Calls sharing one number (in ``role``), then KeepCall with EXT / ID / PREFIX / SUFFIX /
    INNER / GUID / ID_UPPER filled in. ``wait_before`` / ``wait_after`` move the server's clock
    between provisioning and the request / between the request and reading the flags."""
    def probe(api: Api) -> Observation:
        extension = number()
        caller, called = (extension, None) if role == "caller" else (None, extension)
        calls = [new_call(s, o, caller, called, **(flags or {})) for s, o in states]
        api.provision(*calls, controlled=[extension] if controlled else [])
        _wait(api, wait_before)
        values = {"EXT": extension, "ID": calls[0]["callID"] if calls else "",
                  "PREFIX": extension[:-1], "SUFFIX": extension[1:], "INNER": extension[1:-1],
                  "GUID": str(uuid.uuid4()),
                  "ID_UPPER": calls[0]["callID"].upper() if calls else ""}
        pairs = params.items() if isinstance(params, Mapping) else params
        answer = api.keepcall([(k, values.get(v, v)) for k, v in pairs], **send)
        _wait(api, wait_after)
        return observe(api, answer, calls)
    return probe


def _wait(api: Api, seconds: float) -> None:
    if seconds:
        api.advance(seconds)


def raw(pairs: Callable[[Api, str], list[tuple[str, str]]]) -> Probe:
    """An ongoing call, then a request built from scratch (for credential and action faults)."""
    def probe(api: Api) -> Observation:
        call = new_call("ongoing")
        api.provision(call)
        return observe(api, api.send(pairs(api, call["callID"])), [call])
    return probe


def aged_token(seconds: int) -> Probe:
    """A fresh token used after ``seconds`` on the server's clock."""
    def probe(api: Api) -> Observation:
        call = new_call("ongoing", 10)
        api.provision(call)
        token = str(api.request_token().response.get("token"))
        api.advance(seconds)
        api.forget_token()  # the cached one may be as old: later probes get a fresh one
        pairs = [("action", "KeepCall"), ("apiKey", api.server.api_key), ("token", token),
                 ("callID", call["callID"])]
        return observe(api, api.send(pairs), [call])
    return probe


CLEAR = {"kept": False, "protected": False, "recording": False}


class Reaper:
    """Stops reference servers in the background. uvicorn takes ~0.2 s to stop (a 0.1 s tick,
    then a fixed 0.1 s sleep), which the next test need not wait for: ~150 servers made that
    half the fast lane. ``join`` waits for every stop (conftest calls it after each module,
    so no server outlives the module that started it)."""

    def __init__(self) -> None:
        self._stopping: list[threading.Thread] = []

    def stop(self, server: ReferenceServer) -> None:
        thread = threading.Thread(target=server.stop, name="reference-server-stop")
        thread.start()
        self._stopping.append(thread)

    def join(self) -> None:
        while self._stopping:
            self._stopping.pop().join()


REAPER = Reaper()


@contextmanager
def started(server: ReferenceServer) -> Iterator[ReferenceServer]:
    """``server`` started, and stopped by ``REAPER`` when the block ends (in the background:
    a test that starts its own server need not wait ~0.2 s for uvicorn to stop)."""
    server.start()
    try:
        yield server
    finally:
        REAPER.stop(server)


class InProcess(httpx.BaseTransport):
    """A blocking client's way to an ASGI app in this process, on a loop of its own: no socket,
    no server thread (the package's seam, ``conformance.wire.seam``, is for its async client)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self._loop = asyncio.new_event_loop()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def exchange() -> httpx.Response:
            answer = await self._inner.handle_async_request(request)
            return httpx.Response(answer.status_code, headers=answer.headers,
                                  content=await answer.aread())
        return self._loop.run_until_complete(exchange())

    def close(self) -> None:
        self._loop.close()


@contextmanager
def running(switches: Switches | None = None, faults: frozenset[str] = frozenset(),
            inside: bool = False) -> Iterator[Api]:
    """A server with these switches and faults, and a client for it; stopped by ``REAPER``.
    ``inside``: not started, served in this process (``InProcess``), where the wire is not
    the subject (its URLs then name port 0, which no request dials)."""
    server = ReferenceServer(switches or Switches(), faults)
    if not inside:
        server.start()
    try:
        # verify=False: plain HTTP on loopback, so no CA bundle to load (~30 ms of CPU per
        # client, and the reference tests start a server, and a client, per test).
        transport = InProcess(server.app) if inside else None
        with httpx.Client(timeout=10, verify=False, transport=transport) as client:
            yield Api(server, client, inside)
    finally:
        REAPER.stop(server)
