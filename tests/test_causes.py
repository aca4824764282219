"""Root causes: the cases one bug breaks fall into one group, whatever their IDs."""

from __future__ import annotations

import pytest

from conformance.causes import MAX_GROUPS, WRONG_OUTCOME, Causes, cause, outcome_kind
from conformance.model import Check
from conformance.requirements import RequirementId

ID1, ID2 = "28dd37eb-2adf-459a-91cb-c2884a5012dc", "46f57327-e592-4673-b530-5db71d43d1ff"


@pytest.mark.parametrize(("message", "kind"), [
    (f"expected set kept on {ID1}, target did: error", "an error where a change was expected"),
    (f"expected set protected on {ID2} or error, target did: error",
     "an error where a change was expected"),
    (f"expected error, target did: set kept on {ID1}", "a change where an error was expected"),
    (f"expected error or pending keep (success, no flag changed yet), target did: clear "
     f"protected on {ID1}", "a change where an error was expected"),
    (f"expected error or set kept on {ID1}, target did: set kept on {ID2}",
     "another change than expected"),
    ("code 0 but no flag changed; expected set kept on a",
     "a success that changed no flag where a change was expected"),
    (f"one request changed kept=True on {ID1}, kept=True on {ID2}",
     "one request changed several flags"),
])
def test_wrong_outcomes_have_one_cause_whatever_the_calls(message: str, kind: str) -> None:
    """One bug shows every kind of wrong outcome across cases: one cause, the kind shown."""
    found = cause(Check("KC-EXT-002", "fail", message))
    assert found == (WRONG_OUTCOME if kind.startswith(("an ", "a ", "another")) else kind)
    assert outcome_kind(message) in (kind, "")


def test_envelope_defects_differ_only_in_what_varies() -> None:
    one = cause(Check("KC-XML-001", "fail", "not well-formed: line 2, column 76"))
    two = cause(Check("KC-XML-001", "fail", "not well-formed: line 3, column 12"))
    token = cause(Check("KC-XML-002", "fail", "RequestToken: root element is 'X', not VerbaApi"))
    assert one == two != token
    assert token == cause(Check("KC-XML-002", "fail", "root element is 'X', not VerbaApi"))
    bodies = [cause(Check("KC-RT-003", "fail", f"asked for HTML, got the XML envelope: '{b}'"))
              for b in ("<VerbaApi><Response code='0'/>", "<VerbaApi><ErrorMessage/>")]
    assert bodies == ["KC-RT-003: asked for HTML, got the XML envelope"] * 2


def test_a_case_joins_the_group_of_its_first_failure_with_all_it_failed() -> None:
    causes = Causes()
    failed: tuple[RequirementId, ...] = ("KC-EXT-002", "KC-STATUS-001", "KC-TYPE-002")
    for i, requirement in enumerate(failed):
        causes.add(f"case-{i}", [
            Check("KC-HTTP-004", "pass"),
            Check(requirement, "fail", f"expected set kept on {ID1}, target did: error"),
            Check("KC-XML-004", "fail", "code contradicts")], f"curl {i}")
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
        causes.add(f"c{i}", [Check("KC-RT-001", "fail", f"word{'x' * i}")], "")
    assert len(causes.groups) == MAX_GROUPS
