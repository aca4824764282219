"""The compliance page a certifier reads, built from results.json alone.

One self-contained HTML file (no CDN, script, font or image from elsewhere) rendered by Jinja2
with autoescaping: the verdict, why and a chart first, then the failures grouped by root cause
with a representative exchange each (request and response side by side), the readings the
target took, then every catalog requirement with its clause, verdict and reason, filterable
offline. ``keepcall-conformance report results.json`` rebuilds it from the file.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import jinja2

from conformance.reports.report import searches_line
from conformance.wire import sink

TEMPLATE: Final = "report.html.j2"
PAGE_NAME: Final = "report.html"
SHOWN_REASONS: Final = 5


@functools.cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("conformance", "templates"),
                              autoescape=True, undefined=jinja2.ChainableUndefined)


def why(summary: Mapping[str, Any]) -> str:
    """The verdict's reasons in a sentence or two: abort, suite error, failures (new ones, when
    an expected-failures file was given), stale expected failures, a cut, gaps."""
    if summary.get("aborted"):
        return f"The run was aborted: {summary['aborted']}."
    if summary.get("internal_errors"):
        head = summary["internal_errors"][0].split("\n", 1)[0]  # its traceback follows
        return f"A suite error voids the verdict: {head}."
    failed = _by_cause(summary.get("new_failures", summary.get("failed_requirements")) or [],
                       summary.get("groups") or [])
    reasons = []
    if failed:
        more = f" and {len(failed) - SHOWN_REASONS} more" if len(failed) > SHOWN_REASONS else ""
        groups = summary.get("groups") or []
        first = (f" First root cause: {groups[0]['cause']} ({groups[0]['cases']} cases)."
                 if groups else "")
        reasons.append(f"Failed: {', '.join(failed[:SHOWN_REASONS])}{more}.{first}")
    if stale := summary.get("stale_expectations"):
        reasons.append("Stale expected failures: "
                       + "; ".join(e["message"] for e in stale[:SHOWN_REASONS]) + ".")
    if summary.get("cut_short"):
        reasons.append(f"The run was cut short: {summary['cut_short']}.")
    untested = summary.get("untested_gating") or []
    if untested and not reasons:
        reasons.append(f"Not tested at the gating level: {', '.join(untested[:SHOWN_REASONS])}"
                       f"{' and more' if len(untested) > SHOWN_REASONS else ''}.")
    if expected := [e for e in summary.get("expected_failures") or []
                    if e["status"] == "still-failing"]:
        reasons.append(f"Expected failures, accepted until they expire: "
                       f"{', '.join(e['requirement'] for e in expected[:SHOWN_REASONS])}.")
    return " ".join(reasons) or "Every gating requirement was tested and passed."


def _by_cause(failed: list[str], groups: list[Mapping[str, Any]]) -> list[str]:
    """The failed requirements, those of the largest root causes first: the fault's own
    clause leads, not the catalog's first."""
    order = {rid: i for i, rid in enumerate(dict.fromkeys(
        rid for group in groups for rid in group["requirements"]))}
    return sorted(failed, key=lambda rid: order.get(rid, len(order)))


def _untested_why(requirement: Mapping[str, Any]) -> str:
    evidence = requirement.get("evidence") or []
    return str(evidence[0]["message"]) if evidence else "no case reached it"


# The chart: one bar per requirement family (KC-HTTP, KC-XML, ...), its requirements stacked
# by verdict, in this order and these colours.
VERDICT_COLOURS: Final = {"fail": "#b22", "not-tested": "#d9a400", "pass": "#2a7d2a",
                          "observed": "#4a7fb5"}
_LABEL_WIDTH, _BAR_WIDTH, _ROW, _WIDTH = 90, 400, 20, 760


def chart(requirements: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Coordinates of an inline SVG bar chart of verdicts per requirement family: drawn by
    the template, so the page needs no script or library to show it."""
    families: dict[str, Counter[str]] = {}
    for requirement in requirements:
        family = requirement["id"].rsplit("-", 1)[0]
        families.setdefault(family, Counter())[requirement["verdict"]] += 1
    widest = max((sum(c.values()) for c in families.values()), default=1)
    rows = []
    for index, (family, counts) in enumerate(families.items()):
        x: float = _LABEL_WIDTH
        bars = []
        for verdict, colour in VERDICT_COLOURS.items():
            if counts[verdict]:
                width = round(_BAR_WIDTH * counts[verdict] / widest, 1)
                bars.append({"verdict": verdict, "count": counts[verdict], "x": x,
                             "width": width, "color": colour})
                x = round(x + width, 1)
        label = ", ".join(f"{counts[v]} {v}" for v in VERDICT_COLOURS if counts[v])
        rows.append({"family": family, "y": index * _ROW, "bars": bars, "end": x,
                     "label": label})
    legend = [{"verdict": v, "color": c, "x": _LABEL_WIDTH + i * 100}
              for i, (v, c) in enumerate(VERDICT_COLOURS.items())]
    return {"rows": rows, "legend": legend, "width": _WIDTH, "height": len(rows) * _ROW + 20}


def render(data: Mapping[str, Any]) -> str:
    summary, requirements = data["summary"], data["requirements"]
    template = _environment().get_template(TEMPLATE)
    return template.render(
        s=summary, suite=data["suite"], target=data["target"], requirements=requirements,
        why=why(summary), untested_why=_untested_why, chart=chart(requirements),
        searches_line=searches_line(summary["searches"]).removeprefix("property searches ")
        if summary.get("searches") else "",
        observations=[r for r in requirements if r["verdict"] == "observed"],
        failed_cases=summary.get("failed_cases", sum(g["cases"] for g in
                                                     summary.get("groups") or [])),
        total_groups=summary.get("groups_total", len(summary.get("groups") or [])))


def write(data: Mapping[str, Any], path: Path) -> Path:
    return sink.write_text(path, render(data))
