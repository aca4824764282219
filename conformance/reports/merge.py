"""Parts of a run joined into one: shards run on several machines, or the workers of one.

Each part writes ``cases.json.gz`` beside its results.json: its ledger's state (every case with
its checks, the evidence, the root-cause groups), the answers the wording check compares, the
readings each open point was seen in, and its counters. Joining folds the states into one
ledger the way a single run folds its cases (``Ledger.merge``), so the verdicts, counts and
observations equal an unsharded run's; the JUnit files are joined case by case.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lxml import etree

from conformance.judging.consistency import Readings
from conformance.judging.ledger import Ledger
from conformance.judging.wording import Wording
from conformance.reports.expect import Expected
from conformance.reports.report import PART_NAME, finished, load_part
from conformance.wire import sink

_COUNTED = ("tests", "failures", "errors", "skipped")


class MergeError(ValueError):
    """A part that cannot be read or does not belong with the others (one line)."""


SOURCE = "source"  # the file a part was read from, named when it is refused
# What makes parts one run: how it was asked for (matrix, selection, seed, gate, search) and
# of which target (each part of an embedded run starts a server of its own: its URL differs).
_IDENTITY = (("suite", "seed"), ("suite", "quick"), ("suite", "level"), ("suite", "budget"),
             ("suite", "examples"), ("suite", "matrix"), ("suite", "select"),
             ("target", "embedded"), ("target", "reference_switches"),
             ("target", "reference_faults"), ("target", "url"))
WHOLE = "1/1 all"  # a run that was not split is all of itself
_PART = re.compile(r"([0-9]+)/([0-9]+) (all|parallel|exclusive)")


def read_part(results: Path) -> dict[str, Any]:
    """The part whose results.json is ``results`` (its cases.json.gz lies beside it)."""
    path = results.with_name(PART_NAME) if results.suffix == ".json" else results / PART_NAME
    try:
        part: dict[str, Any] = load_part(path)
    except (OSError, ValueError, EOFError) as error:
        raise MergeError(f"{path}: {error}") from None
    if not isinstance(part, dict) or not {"ledger", "wording", "suite", "target"} <= set(part):
        raise MergeError(f"{path} is no {PART_NAME} of a run")
    return part | {SOURCE: str(path)}


def combine(parts: Sequence[Mapping[str, Any]], problems: Sequence[str] = (),
            expected: Sequence[Expected] = ()) -> dict[str, Any]:
    """The results.json data of the parts together: refused unless they are one run, each
    slice of it once. ``problems`` (a part that did not finish) are suite errors: the verdict
    cannot stand without every part, so a set they leave incomplete is merged, inconclusive."""
    _same_run(parts)
    _whole(parts, missing_ok=bool(problems))
    ledger, wording, readings = Ledger(), Wording(), Readings()
    for part in parts:
        ledger.merge(part["ledger"])
        wording.merge(part["wording"])
        readings.merge(part.get("readings", []))
    ledger.internal_errors += problems
    return finished(ledger, wording, _meta(parts), expected, readings)


def _same_run(parts: Sequence[Mapping[str, Any]]) -> None:
    """Parts of one run: one seed, one gate, one matrix, one target, one shard count."""
    if not parts:
        raise MergeError("no parts to merge")
    first = parts[0]
    for part in parts[1:]:
        for where, key in _IDENTITY:
            if part[where].get(key) != first[where].get(key) and not (
                    key == "url" and first["target"].get("embedded")):
                raise MergeError(f"parts of different runs: {where} {key} "
                                 f"{first[where].get(key)!r} in {_name(first)} and "
                                 f"{part[where].get(key)!r} in {_name(part)}")
        if _shard(part)[1] != _shard(first)[1]:
            raise MergeError(f"parts of different runs: {_name(first)} and {_name(part)}")


def _whole(parts: Sequence[Mapping[str, Any]], missing_ok: bool) -> None:
    """Each slice of the matrix and the tests outside it ran in exactly one part: a part given
    twice would count its cases twice, a shard missing (a failed CI runner) would certify on
    the others' cases alone."""
    ran: dict[str, list[str]] = {}
    for part in parts:
        for piece in _pieces(*_shard(part)):
            ran.setdefault(piece, []).append(_name(part))
    for piece, names in ran.items():
        if len(names) > 1:
            raise MergeError(f"duplicate parts: {' and '.join(names)} each ran {piece}")
    count = _shard(parts[0])[1]
    everything = [piece for index in range(1, count + 1)
                  for piece in _pieces(index, count, "all")]
    missing = [piece for piece in everything if piece not in ran]
    if missing and not missing_ok:
        raise MergeError(f"incomplete run of {count} shards: no part ran {', '.join(missing)} "
                         f"(merge the results of every shard, I/{count} for I = 1 to {count})")


def _pieces(index: int, count: int, kind: str) -> list[str]:
    """What a part ran, as the plugin slices a run: a parallel part its matrix slice, an
    exclusive part the tests outside the matrix (the last shard's), a whole shard both."""
    matrix = [f"the matrix slice {index}/{count}"] if kind != "exclusive" else []
    others = [f"the tests outside the matrix ({count}/{count})"] if (
        index == count and kind != "parallel") else []
    return matrix + others


def _shard(part: Mapping[str, Any]) -> tuple[int, int, str]:
    """Which part of its run a part is: shard I of N, and all, parallel or exclusive."""
    names = part["suite"].get("parts") or [WHOLE]
    found = _PART.fullmatch(names[0]) if len(names) == 1 else None
    if found is None or not 1 <= int(found[1]) <= int(found[2]):
        raise MergeError(f"{part.get(SOURCE, 'a part')} is no part of a run: it says it is "
                         f"{', '.join(map(str, names))[:80]}")
    return int(found[1]), int(found[2]), found[3]


def _name(part: Mapping[str, Any]) -> str:
    """A part as a reader finds it: which part it is, and where it was read."""
    index, count, kind = _shard(part)
    source = part.get(SOURCE)
    return f"{index}/{count} {kind}" + (f" ({source})" if source else "")


def _meta(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The first part's description, with the counters of all and the longest duration."""
    first = parts[0]
    suite = dict(first["suite"]) | {
        "duration_seconds": max(p["suite"].get("duration_seconds", 0) for p in parts),
        "parts": [name for p in parts for name in p["suite"].get("parts", [])]}
    target = dict(first["target"]) | {
        key: sum(p["target"].get(key) or 0 for p in parts)
        for key in ("requests_sent", "retries", "api_requests", "control_requests",
                    "matrix_cases", "matrix_requests")}
    return {"suite": suite, "target": target, "level": first["level"],
            "allow_untested": first["allow_untested"],
            "transport_failures": sum(p["transport_failures"] for p in parts)}


def join_junit(sources: Sequence[Path], output: Path) -> None:
    """One JUnit file of the parts' cases; a case run again in a later part (a deferred one)
    replaces its earlier skip. MergeError on a file that cannot be read, before any is
    written."""
    cases: dict[tuple[str | None, str | None], Any] = {}
    name = "keepcall-conformance"
    for source in sources:
        if not source.is_file():
            continue
        try:
            root = etree.parse(str(source), etree.XMLParser(resolve_entities=False)).getroot()
        except (OSError, etree.XMLSyntaxError) as error:
            raise MergeError(f"{source}: {error}") from None
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
