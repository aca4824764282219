"""The oracle and the reference server normalise identifiers apart, on purpose (the suite
cross-checks the two); this table is the one definition both must meet."""

from __future__ import annotations

import pytest

from conformance.domain import oracle
from conformance.reference import lookup

NUMBERS = [
    ("4930123", "4930123"), ("+4930123", "4930123"), ("004930123", "4930123"),
    ("+004930123", "4930123"), (" +49 30 123 ", "4930123"), ("+49\u00a030\u00a0123", "4930123"),
    ("\uff0b\uff14\uff19", "49"), ("0030", "30"), ("0", "0"), ("", ""), ("++49", "+49"),
    ("0049 0049", "490049"), ("49\t30", "49\t30"), ("0+49", "0+49"),
]
CALL_IDS = [
    ("28DD37EB-2adf", "28dd37eb-2adf"), ("{28dd37eb}", "28dd37eb"), (" { abc } ", "abc"),
    ("{{abc}}", "abc"), ("{ {abc} }", "{abc}"), ("\uff21BC", "abc"), ("Stra\u00dfe", "strasse"),
    ("a{b}c", "a{b}c"), ("", ""), ("{}", ""), ("\n{x}\t", "x"),
]


@pytest.mark.parametrize(("given", "normal"), NUMBERS)
def test_numbers_normalise_to_the_table(given: str, normal: str) -> None:
    assert (oracle.normal_number(given), lookup.normal_number(given)) == (normal, normal)


@pytest.mark.parametrize(("given", "normal"), CALL_IDS)
def test_call_ids_normalise_to_the_table(given: str, normal: str) -> None:
    assert (oracle.normal_call_id(given), lookup.normal_call_id(given)) == (normal, normal)
