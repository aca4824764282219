"""Scenario numbering: cases never see each other's calls, except the deliberate prefix decoys."""

from __future__ import annotations

import itertools
import re

import pytest

from conformance.domain.model import Flags, Scenario
from conformance.domain.scenarios import ALL_SCENARIOS, DECOYS, SCENARIOS, Numbering, build


def _many(seed: int = 0, rounds: int = 20) -> list[Scenario]:
    numbering = Numbering(seed)
    return [build(name, numbering) for _ in range(rounds) for name in ALL_SCENARIOS]


def _decoys(scenario: Scenario) -> set[str]:
    shapes = ALL_SCENARIOS[scenario.name]
    return {p for call, shape in zip(scenario.calls, shapes, strict=True)
            if shape.party in DECOYS for p in call.parties() if p != scenario.extension
            and not p.startswith("+")}


def test_internal_numbers_are_unique_and_fixed_width() -> None:
    numbers = [s.extension for s in _many()]
    assert len(numbers) == len(set(numbers))
    assert all(re.fullmatch(r"6\d{7}", n) for n in numbers)


def test_no_party_is_a_prefix_of_another_except_the_decoys() -> None:
    scenarios = _many()
    deliberate = {(a, b) for s in scenarios
                  for a, b in itertools.permutations({s.extension, *_decoys(s)}, 2)
                  if b.startswith(a)}
    parties = {p for s in scenarios for c in s.calls for p in c.parties()}
    parties |= {s.extension for s in scenarios}  # the number a case searches for
    prefixes = {(a, b) for a, b in itertools.permutations(parties, 2) if b.startswith(a)}
    assert prefixes == deliberate
    assert any(b == a + "0" for a, b in deliberate)


def test_call_ids_are_unique() -> None:
    ids = [c.call_id for s in _many() for c in s.calls] + [s.call_id for s in _many(1)]
    assert len(ids) == len(set(ids))


def test_a_seed_makes_numbering_repeatable() -> None:
    assert _many(7, 2) == _many(7, 2)
    assert _many(7, 2) != _many(8, 2)


@pytest.mark.parametrize("name", list(ALL_SCENARIOS))
def test_each_call_has_the_number_where_its_shape_says(name: str) -> None:
    scenario = build(name, Numbering(5), Flags(kept=True), controlled=False)
    for call, shape in zip(scenario.calls, ALL_SCENARIOS[name], strict=True):
        assert (call.state, call.offset_seconds) == (shape.state, shape.offset_seconds)
        if shape.party in DECOYS:
            assert scenario.extension not in call.parties()
            assert DECOYS[shape.party](scenario.extension) in call.parties()
        else:
            assert getattr(call, shape.party) == scenario.extension
        assert call.flags == Flags(kept=True)
    assert scenario.controlled == ()


@pytest.mark.parametrize("name", list(ALL_SCENARIOS))
def test_the_named_call_is_the_first_real_one(name: str) -> None:
    """The callID a case uses: the first non-decoy call, or one the target does not hold."""
    scenario = build(name, Numbering(2))
    real = [c for c, s in zip(scenario.calls, ALL_SCENARIOS[name], strict=True)
            if s.party not in DECOYS]
    if real:
        assert scenario.call_id == real[0].call_id
    else:
        assert scenario.call(scenario.call_id) is None
    assert build(name, Numbering(2)).controlled == (scenario.extension,)


def test_extra_scenarios_stay_out_of_the_matrix() -> None:
    assert "upcoming-boundary" in ALL_SCENARIOS and "upcoming-boundary" not in SCENARIOS
