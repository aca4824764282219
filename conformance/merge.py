"""Parts of a run joined into one: shards run on several machines, or the workers of one.

Each part writes ``cases.json.gz`` beside its results.json: its ledger's state (every case with
its checks, the evidence, the root-cause groups), the answers the wording check compares, and
its counters. Joining folds the states into one ledger the way a single run folds its cases
(``Ledger.merge``), so the verdicts, counts and observations equal an unsharded run's; the
JUnit files are joined case by case.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from conformance import sink
from conformance.expect import Expected
from conformance.ledger import Ledger
from conformance.report import PART_NAME, finished, load_part
from conformance.wording import Wording

_COUNTED = ("tests", "failures", "errors", "skipped")


class MergeError(ValueError):
    """A part that cannot be read or does not belong with the others (one line)."""


def read_part(results: Path) -> dict[str, Any]:
    """The part whose results.json is ``results`` (its cases.json.gz lies beside it)."""
    path = results.with_name(PART_NAME) if results.suffix == ".json" else results / PART_NAME
    try:
        part: dict[str, Any] = load_part(path)
    except (OSError, ValueError, EOFError) as error:
        raise MergeError(f"{path}: {error}") from None
    if not isinstance(part, dict) or not {"ledger", "wording", "suite", "target"} <= set(part):
        raise MergeError(f"{path} is no {PART_NAME} of a run")
    return part


def combine(parts: Sequence[Mapping[str, Any]], problems: Sequence[str] = (),
            expected: Sequence[Expected] = ()) -> dict[str, Any]:
    """The results.json data of the parts together; ``problems`` (a part that did not
    finish) are suite errors: the verdict cannot stand without every part."""
    _same_run(parts)
    ledger, wording = Ledger(), Wording()
    for part in parts:
        ledger.merge(part["ledger"])
        wording.merge(part["wording"])
    ledger.internal_errors += problems
    return finished(ledger, wording, _meta(parts), expected)


def _same_run(parts: Sequence[Mapping[str, Any]]) -> None:
    """Parts of one run: one seed, one gate, one matrix, one target."""
    if not parts:
        raise MergeError("no parts to merge")
    first = parts[0]
    for part in parts[1:]:
        for where, key in (("suite", "seed"), ("suite", "quick"), ("suite", "level"),
                           ("target", "url")):
            if part[where].get(key) != first[where].get(key) and not (
                    key == "url" and first["target"].get("embedded")):
                raise MergeError(f"parts of different runs: {where} {key} "
                                 f"{first[where].get(key)!r} and {part[where].get(key)!r}")


def _meta(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The first part's description, with the counters of all and the longest duration."""
    first = parts[0]
    suite = dict(first["suite"]) | {
        "duration_seconds": max(p["suite"].get("duration_seconds", 0) for p in parts),
        "parts": [name for p in parts for name in p["suite"].get("parts", [])]}
    target = dict(first["target"]) | {
        key: sum(p["target"].get(key) or 0 for p in parts)
        for key in ("requests_sent", "retries")}
    return {"suite": suite, "target": target, "level": first["level"],
            "allow_untested": first["allow_untested"],
            "transport_failures": sum(p["transport_failures"] for p in parts)}


def join_junit(sources: Sequence[Path], output: Path) -> None:
    """One JUnit file of the parts' cases; a case run again in a later part (a deferred one)
    replaces its earlier skip."""
    cases: dict[tuple[str | None, str | None], Any] = {}
    name = "keepcall-conformance"
    for source in sources:
        if not source.is_file():
            continue
        root = etree.parse(str(source), etree.XMLParser(resolve_entities=False)).getroot()
        for suite in root.iter("testsuite"):
            name = suite.get("name", name)
            for case in suite.iter("testcase"):
                cases[(case.get("classname"), case.get("name"))] = case
    suite = etree.Element("testsuite", name=name)
    for case in cases.values():
        suite.append(case)
    counts = dict.fromkeys(_COUNTED, 0)
    counts["tests"] = len(cases)
    for case in cases.values():
        for kind, key in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
            counts[key] += case.find(kind) is not None
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", f"{sum(float(c.get('time', 0)) for c in cases.values()):.3f}")
    root = etree.Element("testsuites")
    root.append(suite)
    sink.write_bytes(output, etree.tostring(root, xml_declaration=True, encoding="utf-8"))
