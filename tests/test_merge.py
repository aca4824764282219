"""What a whole run is, as ``merge`` decides it from the parts' own descriptions: a shard's
matrix slice, the tests outside the matrix in the last shard, and the --workers shape (parallel
slices, then an exclusive part). Parts as the plugin writes them, with nothing judged: the
real runs' merges are in tests/test_scale.py."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.judging.ledger import Ledger
from conformance.reports.merge import MergeError, combine


def part(name: str | None) -> dict[str, Any]:
    """An empty part called ``name`` ("I/N all|parallel|exclusive") of one run; None: a run
    that was not split (it names no part)."""
    return {"suite": {"quick": True, "seed": 3, "level": "must"}
            | ({"parts": [name]} if name else {}),
            "target": {"url": None, "embedded": True}, "level": "must",
            "allow_untested": False, "transport_failures": 0,
            "ledger": Ledger().state(), "wording": []}


WHOLE_RUNS = ((None,), ("1/1 all",), ("1/3 all", "2/3 all", "3/3 all"),
              ("2/2 parallel", "1/2 parallel", "2/2 exclusive"))


@pytest.mark.parametrize("names", WHOLE_RUNS)
def test_a_whole_run_merges(names: tuple[str | None, ...]) -> None:
    data = combine([part(name) for name in names])
    assert data["suite"]["parts"] == [name for name in names if name]


# (parts, words of the refusal)
REFUSED = ((("1/3 all", "3/3 all"), ("incomplete run of 3 shards", "matrix slice 2/3")),
           (("1/2 parallel", "2/2 parallel"), ("incomplete", "outside the matrix (2/2)")),
           (("1/2 parallel", "2/2 exclusive"), ("incomplete", "matrix slice 2/2")),
           (("1/2 all", "2/2 all", "2/2 exclusive"), ("duplicate", "outside the matrix")),
           (("1/2 all", "1/2 parallel", "2/2 all"), ("duplicate", "matrix slice 1/2")),
           (("1/2 all", "2/3 all"), ("different runs", "1/2 all", "2/3 all")),
           (("3/2 all",), ("no part of a run", "3/2 all")))


@pytest.mark.parametrize(("names", "words"), REFUSED)
def test_a_set_that_is_no_whole_run_is_refused(names: tuple[str, ...],
                                               words: tuple[str, ...]) -> None:
    with pytest.raises(MergeError) as refused:
        combine([part(name) for name in names])
    assert all(word in str(refused.value) for word in words), refused.value
    assert "\n" not in str(refused.value)


def test_a_part_that_did_not_finish_voids_the_verdict_instead() -> None:
    """--workers knows why a part is missing: the rest is merged, and inconclusive."""
    data = combine([part("1/2 parallel"), part("2/2 exclusive")],
                   problems=["the part in parts/2 wrote no cases.json.gz"])
    assert data["summary"]["verdict"] == "inconclusive"
    with pytest.raises(MergeError, match="duplicate"):  # a part twice is never explained
        combine([part("1/2 parallel")] * 2, problems=["the part in parts/2 wrote nothing"])


def test_the_parts_request_counters_add_up() -> None:
    """Each part counts its own matrix cases and their requests (a deferred case in the
    exclusive part only, its requests in both); merged, the run's per matrix case is theirs
    over the whole, not an average of the parts'."""
    counts = {"2/2 parallel": (3, 10, 30), "1/2 parallel": (4, 8, 12), "2/2 exclusive": (1, 2, 5)}
    parts = [part(name) for name in counts]
    for found in parts:
        cases, requests, sent = counts[found["suite"]["parts"][0]]
        found["target"] |= {"matrix_cases": cases, "matrix_requests": requests,
                            "requests_sent": sent}
    target = combine(parts)["target"]
    assert (target["matrix_cases"], target["matrix_requests"], target["requests_sent"]) == (
        8, 20, 47)
    assert target["requests_per_matrix_case"] == 2.5
