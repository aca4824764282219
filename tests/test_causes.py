"""Root causes: the cases one bug breaks fall into one group, whatever their IDs."""

from __future__ import annotations

import pytest

from conformance.catalog.requirements import CATALOG, RequirementId
from conformance.domain.model import Cause, Check
from conformance.judging.causes import MAX_GROUPS, WRONG_OUTCOME, Causes, cause, outcome_kind

_NTH: tuple[RequirementId, ...] = tuple(r.id for r in CATALOG)[:MAX_GROUPS + 5]
ID1, ID2 = "28dd37eb-2adf-459a-91cb-c2884a5012dc", "46f57327-e592-4673-b530-5db71d43d1ff"


WRONG_OUTCOMES = (Cause.ERROR_FOR_CHANGE, Cause.CHANGE_FOR_ERROR, Cause.OTHER_CHANGE,
                  Cause.NO_CHANGE)


@pytest.mark.parametrize("kind", WRONG_OUTCOMES)
def test_wrong_outcomes_have_one_cause_whatever_the_requirement(kind: Cause) -> None:
    """One bug shows every kind of wrong outcome across cases: one cause, the kind shown."""
    for requirement in ("KC-EXT-002", "KC-STATUS-001"):
        check = Check(requirement, "fail", f"expected set kept on {ID1}, target did: error", kind)
        assert cause(check) == WRONG_OUTCOME
        assert outcome_kind(check) == kind.value


def test_side_effects_are_one_cause_apart_from_wrong_outcomes() -> None:
    check = Check("KC-FLAG-002", "fail", f"one request changed kept=True on {ID1}",
                  Cause.SIDE_EFFECTS)
    found: str = cause(check)
    assert found == "one request changed several flags"
    assert found != WRONG_OUTCOME
    assert outcome_kind(check) == ""


def test_the_cause_is_data_not_wording() -> None:
    """Rewording a message regroups nothing; the same words with another cause are another
    group; a wrong outcome worded like a defect is still a wrong outcome."""
    one = cause(Check("KC-XML-001", "fail", "not well-formed: line 2, column 76"))
    two = cause(Check("KC-XML-001", "fail", "the body is no XML at all"))
    token = cause(Check("KC-XML-002", "fail", "RequestToken: root element is 'X', not VerbaApi"))
    assert one == two != token
    assert token == cause(Check("KC-XML-002", "fail", "root element is 'X', not VerbaApi"))
    bodies = [cause(Check("KC-RT-003", "fail", f"asked for HTML, got the XML envelope: '{b}'",
                          Cause.WRONG_FORMAT))
              for b in ("<VerbaApi><Response code='0'/>", "<VerbaApi><ErrorMessage/>")]
    assert bodies == [f"KC-RT-003: {Cause.WRONG_FORMAT.value}"] * 2
    status = cause(Check("KC-HTTP-004", "fail", "HTTP 500: x", Cause.HTTP_STATUS))
    dropped = cause(Check("KC-HTTP-004", "fail", "HTTP 500: x", Cause.DROPPED))
    assert status != dropped
    assert cause(Check("KC-EXT-002", "fail", "not well-formed", Cause.NO_CHANGE)) == WRONG_OUTCOME


def test_a_case_joins_the_group_of_its_first_failure_with_all_it_failed() -> None:
    causes = Causes()
    failed: tuple[RequirementId, ...] = ("KC-EXT-002", "KC-STATUS-001", "KC-TYPE-002")
    for i, requirement in enumerate(failed):
        causes.add(f"case-{i}", [
            Check("KC-HTTP-004", "pass"),
            Check(requirement, "fail", f"expected set kept on {ID1}, target did: error",
                  Cause.ERROR_FOR_CHANGE),
            Check("KC-XML-004", "fail", "code contradicts", Cause.CLAIM_CONTRADICTED)],
            f"curl {i}")
    causes.add("lone", [Check("KC-XML-001", "fail", "not well-formed")], "curl x")
    causes.add("passing", [Check("KC-XML-001", "pass")], "curl y")
    first, second = causes.ordered()
    assert first.cases == 3 and first.case == "case-0" and first.curl == "curl 0"
    assert list(first.requirements) == ["KC-EXT-002", "KC-XML-004", "KC-STATUS-001",
                                        "KC-TYPE-002"]
    assert second.cases == 1 and list(second.requirements) == ["KC-XML-001"]
    assert first.to_json()["representative"]["case"] == "case-0"


def test_the_representative_shows_an_answer_a_lead_case_first() -> None:
    """A shrunk example (lead) is what to read first, if it shows what the target answered; a
    case without an exchange (a stateful sequence) gives way to one with."""
    answer = {"method": "GET", "url": "u", "status": 200, "body": "b"}
    causes = Causes()
    causes.add("sequence", [Check("KC-XML-001", "fail", "x")], "curl q", lead=True)
    causes.add("a", [Check("KC-XML-001", "fail", "x")], "curl a", answer=answer)
    assert causes.ordered()[0].case == "a"
    causes.add("shrunk", [Check("KC-XML-001", "fail", "x")], "curl s", lead=True, answer=answer)
    causes.add("b", [Check("KC-XML-001", "fail", "x")], "curl b", answer=answer)
    assert causes.ordered()[0].case == "shrunk"
    for i in range(MAX_GROUPS + 5):
        causes.add(f"c{i}", [Check(_NTH[i], "fail", f"word{'x' * i}")], "")
    assert len(causes.groups) == MAX_GROUPS
