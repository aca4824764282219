"""What one run of a request produced: the case, its expectation, its checks and evidence.

A result carries what a reader of the report needs to see and reproduce a failure: the answer
beside what was asked and allowed (``answer``), the flags before and after, and the control call
and request as curl lines (``reproduction``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from conformance.domain.fuzzing import Wire
from conformance.domain.model import Check, Expectation, Flags, KeepCallRequest, Outcome, Scenario
from conformance.judging.causes import EXCERPT, Answer
from conformance.wire.transport import Exchange
from conformance.wire.validators import pretty_xml


@dataclass
class Result:
    """What one run of a request produced, with what is needed to reproduce it."""

    scenario: Scenario
    request: KeepCallRequest
    expectation: Expectation
    checks: list[Check] = field(default_factory=list)
    exchange: Exchange | None = None
    setup: str = ""
    setup_line: Callable[[], str] | None = None  # renders ``setup`` where a batch set it up
    skipped: str | None = None
    format: str | None = None
    outcome: Outcome | None = None
    wire: Wire | None = None  # a fuzzed request: its exact bytes and readings
    deferred: bool = False  # it must move the clock, which other parts of the run share
    before: dict[str, Flags] | None = None  # the flags read back, as judged last
    after: dict[str, Flags] | None = None

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.verdict == "fail"]

    def answer(self) -> Answer | None:
        """What the target answered to a failed case, side by side with what was asked and
        what the spec allowed: the evidence a reader of the report needs (redacted, bounded)."""
        exchange = self.exchange
        if exchange is None or not self.failures:
            return None
        redact = exchange.redactor
        return {
            "method": exchange.method, "url": exchange.url,
            "request_headers": exchange.request_headers,
            "request_body": None if exchange.request_body is None
            else redact.excerpt(exchange.request_body, EXCERPT),
            "status": exchange.status, "reason": exchange.reason,
            "content_type": exchange.headers.get("content-type"),
            "headers": {k: redact.excerpt(v, 200) for k, v in list(exchange.headers.items())[:30]},
            "error": exchange.error,
            "body": exchange.body_excerpt(EXCERPT, pretty_xml(exchange.body)),
            "expected": ", ".join(sorted(str(o) for o in self.expectation.outcomes)),
            "allowed": [{"outcome": str(o), "readings": sorted(
                f"{c.requirement}: {c.option}" for combo in combos for c in combo)}
                for o, combos in sorted(self.expectation.allowed.items(), key=lambda i: str(i[0]))],
            "findings": [{"requirement": c.requirement, "message": c.message}
                         for c in self.failures],
            "flags": [{"call": call, "before": _flags(flags),
                       "after": _flags((self.after or {}).get(call))}
                      for call, flags in (self.before or {}).items()]}

    def reproduction(self) -> str:
        """The control call that set the scenario up, then the request, as curl lines."""
        setup = self.setup or (self.setup_line() if self.setup_line else "")
        lines = [f"# setup: {setup}"] if setup else []
        if self.exchange is not None:
            lines.append(self.exchange.curl)
        return "\n".join(lines)


def _flags(flags: Flags | None) -> str:
    """kept, protected, recording as a reader scans them: ``kept=1 protected=0 recording=0``."""
    if flags is None:
        return "not read"
    return " ".join(f"{name}={int(flags.get(name))}" for name in ("kept", "protected", "recording"))
