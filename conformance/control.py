"""Client of the control protocol (../shared/spec/control-protocol.md).

A control failure is the target's harness breaking, not a KeepCall verdict, so it raises
``ControlError`` and the case that needed it becomes "not tested".
"""

from __future__ import annotations

from collections.abc import Iterable

from conformance.client import Client, Exchange
from conformance.model import Flags, Scenario


class ControlError(Exception):
    """The control interface did not do what the case needed."""


class Control:
    def __init__(self, client: Client, base_url: str) -> None:
        self._client = client
        self.base_url = base_url.rstrip("/")
        self.setup_log: list[str] = []

    def reset(self) -> None:
        """Replace everything the target holds with nothing: a clean slate for a run."""
        self._expect("PUT", "/fixtures", {"calls": [], "controlledExtensions": []}, 204)

    def add(self, scenario: Scenario) -> str:
        """Add the scenario's calls; returns the curl line that did it, for reproduction."""
        exchange = self._expect("POST", "/calls", scenario.to_control(), 204)
        return exchange.curl

    def flags(self, call_ids: Iterable[str]) -> dict[str, Flags]:
        found: dict[str, Flags] = {}
        for call_id in call_ids:
            exchange, data = self._client.send_json("GET", f"{self.base_url}/calls/{call_id}",
                                                    None)
            if exchange.status != 200 or not isinstance(data, dict):
                raise ControlError(f"GET calls/{call_id}: {_describe(exchange)}")
            found[call_id] = Flags.from_json(data)
        return found

    def advance(self, seconds: int) -> bool:
        """Move the target's clock; False where it does not (404, the protocol's "optional",
        or any other refusal: the tests that need the clock are then not tested)."""
        exchange, _ = self._client.send_json("POST", f"{self.base_url}/clock",
                                             {"advanceSeconds": seconds})
        return _success(exchange)

    def _expect(self, method: str, path: str, payload: object, status: int) -> Exchange:
        """The protocol names ``status``; any 2xx is taken as done, to be lenient with it."""
        exchange, _ = self._client.send_json(method, self.base_url + path, payload)
        if not _success(exchange):
            raise ControlError(f"{method} {path}: expected {status}, {_describe(exchange)}")
        return exchange


def _success(exchange: Exchange) -> bool:
    return exchange.status is not None and 200 <= exchange.status < 300


def _describe(exchange: Exchange) -> str:
    if exchange.error:
        return exchange.error
    return f"HTTP {exchange.status} {exchange.body_excerpt(200)}"
