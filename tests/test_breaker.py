"""Breakers per class of request: a class the target never answers becomes suspect after a
few in a row, and trips when the runner's probe of another kind is answered."""

from __future__ import annotations

import pytest

from conformance.catalog.spec import P_ACTION, P_RESPONSE_TYPE
from conformance.domain.breaker import TRIP_AFTER, Breakers, classes, probe_for
from conformance.domain.model import KeepCallRequest

GET = KeepCallRequest(((P_ACTION, "KeepCall"),))
POST = KeepCallRequest(((P_ACTION, "KeepCall"),), "POST")
HTML = KeepCallRequest(((P_ACTION, "KeepCall"), (P_RESPONSE_TYPE, "HTML")))


def test_classes_are_the_method_and_the_format_asked_for() -> None:
    assert classes(GET) == ("GET",)
    assert classes(POST) == ("POST",)
    assert classes(HTML) == ("GET", "responseType=HTML")
    assert classes(KeepCallRequest(((P_RESPONSE_TYPE, "JSON"),))) == ("GET",)


def test_post_unanswered_in_a_row_becomes_suspect_then_trips_once() -> None:
    breakers = Breakers()
    suspects = [breakers.note(POST, "timeout") for _ in range(TRIP_AFTER)]
    assert suspects[:-1] == [[]] * (TRIP_AFTER - 1) and suspects[-1] == ["POST"]
    trip = breakers.trip("POST", "timeout: 30 s")
    assert trip.requirement == "KC-HTTP-002" and "3 POST requests in a row" in trip.message
    assert breakers.blocked(POST) is not None and breakers.blocked(GET) is None
    assert breakers.note(POST, "timeout") == []  # a class fails once


@pytest.mark.parametrize("name", ["GET", "POST", "responseType=HTML", "responseType=TEXT"])
def test_the_probe_is_of_another_kind(name: str) -> None:
    assert name not in classes(probe_for(name))


@pytest.mark.parametrize("kind", ["reset", "closed"])
def test_an_answer_breaks_the_streak(kind: str) -> None:
    breakers = Breakers()
    for _ in range(TRIP_AFTER - 1):
        breakers.note(POST, kind)
    breakers.note(POST, None)  # answered after all
    assert breakers.note(POST, kind) == [] and breakers.blocked(POST) is None


def test_a_format_never_answered_is_suspect_alone() -> None:
    breakers = Breakers()
    suspects = []
    for _ in range(TRIP_AFTER):
        breakers.note(GET, None)
        suspects += breakers.note(HTML, "timeout")
    assert suspects == ["responseType=HTML"]
    assert breakers.trip(suspects[0], None).requirement == "KC-RT-003"
    assert breakers.blocked(HTML) is not None and breakers.blocked(GET) is None


def test_a_wrong_answer_is_an_answer() -> None:
    """Errors the suite judges (5xx, bad bodies, too large) are answers: only silence counts."""
    breakers = Breakers()
    for _ in range(2 * TRIP_AFTER):
        assert breakers.note(POST, "too-large") == []
