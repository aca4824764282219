"""The compliance page a certifier reads, built from results.json alone.

One self-contained HTML file (no CDN, script, font or image from elsewhere) rendered by Jinja2
with autoescaping: the verdict and why first, then the failures grouped by root cause with a
representative exchange each, then every catalog requirement with its clause, verdict and reason,
filterable offline. ``keepcall-conformance report results.json`` rebuilds it from the file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2

TEMPLATE: Final = "compliance.html.j2"
PAGE_NAME: Final = "compliance.html"
SHOWN_REASONS: Final = 5


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("conformance", "templates"),
                              autoescape=True, undefined=jinja2.ChainableUndefined)


def why(summary: Mapping[str, Any]) -> str:
    """The verdict's reasons in one sentence: abort, suite error, failures, gaps."""
    if summary.get("aborted"):
        return f"The run was aborted: {summary['aborted']}."
    if summary.get("internal_errors"):
        return f"A suite error voids the verdict: {summary['internal_errors'][0]}."
    failed = summary.get("failed_requirements") or []
    untested = summary.get("untested_gating") or []
    if failed:
        more = f" and {len(failed) - SHOWN_REASONS} more" if len(failed) > SHOWN_REASONS else ""
        groups = summary.get("groups") or []
        first = (f" First root cause: {groups[0]['cause']} ({groups[0]['cases']} cases)."
                 if groups else "")
        return f"Failed: {', '.join(failed[:SHOWN_REASONS])}{more}.{first}"
    if untested:
        return (f"Not tested at the gating level: {', '.join(untested[:SHOWN_REASONS])}"
                f"{' and more' if len(untested) > SHOWN_REASONS else ''}.")
    return "Every gating requirement was tested and passed."


def _untested_why(requirement: Mapping[str, Any]) -> str:
    evidence = requirement.get("evidence") or []
    return str(evidence[0]["message"]) if evidence else "no case reached it"


def render(data: Mapping[str, Any]) -> str:
    template = _environment().get_template(TEMPLATE)
    return template.render(s=data["summary"], suite=data["suite"], target=data["target"],
                           requirements=data["requirements"], why=why(data["summary"]),
                           untested_why=_untested_why)


def write(data: Mapping[str, Any], path: Path) -> Path:
    path.write_text(render(data), encoding="utf-8")
    return path
