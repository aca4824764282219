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
        """Move the target's clock; False where the target does not support it (404)."""
        exchange, _ = self._client.send_json("POST", f"{self.base_url}/clock",
                                             {"advanceSeconds": seconds})
        if exchange.status == 404:
            return False
        if exchange.status != 204:
            raise ControlError(f"POST clock: {_describe(exchange)}")
        return True

    def _expect(self, method: str, path: str, payload: object, status: int) -> Exchange:
        exchange, _ = self._client.send_json(method, self.base_url + path, payload)
        if exchange.status != status:
            raise ControlError(f"{method} {path}: {_describe(exchange)}")
        return exchange


def _describe(exchange: Exchange) -> str:
    if exchange.error:
        return exchange.error
    return f"HTTP {exchange.status} {exchange.body_excerpt(200)}"
