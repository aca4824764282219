"""docs/openapi.yaml, the API for generic tools (benchmarks/compare_fuzzers.py feeds it to
Schemathesis), is a valid OpenAPI document that stands alone and says what
conformance/catalog/spec.py says: every parameter with the values the page lists, GET and
POST, the three formats."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from conformance.catalog import spec

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "openapi.yaml"
DOC: dict[str, Any] = yaml.safe_load(DOC_PATH.read_text(encoding="utf-8"))
OPERATIONS: dict[str, Any] = DOC["paths"][spec.API_PATH]
FORM = "application/x-www-form-urlencoded"
# The values the page lists for each parameter that has a list.
ENUMS: dict[str, set[str]] = {
    spec.P_ACTION: {spec.ACTION, spec.TOKEN_ACTION},
    spec.P_RESPONSE_TYPE: set(spec.RESPONSE_TYPES),
    spec.P_STATUS: set(spec.STATUS_VALUES),
    spec.P_TYPE: set(spec.TYPE_VALUES),
    spec.P_UNMARK: {spec.UNMARK_VALUE},
}


def _follow(node: dict[str, Any]) -> dict[str, Any]:
    """``node``, or what its local $ref points at."""
    while "$ref" in node:
        target: Any = DOC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def _query_schemas() -> dict[str, dict[str, Any]]:
    parameters = [_follow(p) for p in OPERATIONS["get"]["parameters"]]
    assert {p["in"] for p in parameters} == {"query"}
    return {p["name"]: _follow(p["schema"]) for p in parameters}


def _form_schema() -> dict[str, Any]:
    return _follow(OPERATIONS["post"]["requestBody"]["content"][FORM]["schema"])


def _form_schemas() -> dict[str, dict[str, Any]]:
    return {name: _follow(s) for name, s in _form_schema()["properties"].items()}


def test_the_document_is_valid_openapi() -> None:
    # Imported here: ~0.2 s of CPU that every xdist worker would pay to collect the module.
    from openapi_spec_validator import validate

    validate(DOC)


def test_the_document_stands_alone() -> None:
    """Every $ref points into the document itself, and each one resolves."""
    refs = _refs(DOC)
    assert refs and all(ref.startswith("#/") for ref in refs)
    for ref in refs:
        _follow({"$ref": ref})


def test_get_and_post_on_the_api_path() -> None:
    assert set(OPERATIONS) >= {"get", "post"}
    assert list(OPERATIONS["post"]["requestBody"]["content"]) == [FORM]


@pytest.mark.parametrize("where", ["query", "form"])
def test_every_parameter_with_the_listed_values(where: str) -> None:
    schemas = _query_schemas() if where == "query" else _form_schemas()
    assert set(schemas) == set(spec.PARAMETERS)
    for name, values in ENUMS.items():
        assert values <= set(schemas[name]["enum"]), name
    assert schemas[spec.P_RESPONSE_TYPE]["default"] == spec.DEFAULT_RESPONSE_TYPE


def test_action_and_api_key_are_required() -> None:
    required = {p["name"] for p in map(_follow, OPERATIONS["get"]["parameters"])
                if p.get("required")}
    assert required == {spec.P_ACTION, spec.P_API_KEY}
    assert set(_form_schema()["required"]) == required


def test_request_token_may_send_basic_credentials() -> None:
    schemes = DOC["components"]["securitySchemes"]
    basic = [name for name, scheme in schemes.items()
             if (scheme["type"], scheme.get("scheme")) == ("http", "basic")]
    for method in ("get", "post"):
        assert {} in OPERATIONS[method]["security"]  # KeepCall sends none
        assert any(set(option) == set(basic) for option in OPERATIONS[method]["security"] if option)


@pytest.mark.parametrize("method", ["get", "post"])
def test_every_answer_may_come_in_the_three_formats(method: str) -> None:
    responses = OPERATIONS[method]["responses"]
    assert "200" in responses
    for response in map(_follow, responses.values()):
        types = set(response["content"])
        assert {"text/html", "text/plain"} <= types and any("xml" in t for t in types)


def test_the_xml_envelope() -> None:
    envelope = _follow(_follow(DOC["components"]["responses"]["Answer"])["content"]["text/xml"]
                       ["schema"])
    assert envelope["xml"]["name"] == spec.XML_ROOT
    response = _follow(envelope["properties"][spec.XML_RESPONSE])
    assert response["required"] == ["code"]
    assert response["properties"]["code"]["xml"]["attribute"] is True
    assert spec.XML_ERROR_MESSAGE in response["properties"]


def _form_errors(form: dict[str, str]) -> list[str]:
    """What the POST body schema says against ``form`` (JSON Schema, as tools read it)."""
    schema = {"allOf": [{"$ref": "#/components/schemas/Form"}], "components": DOC["components"]}
    return [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(form)]


KEY = {spec.P_API_KEY: "k"}


@pytest.mark.parametrize(("form", "valid"), [
    ({spec.P_ACTION: spec.ACTION, spec.P_CALL_ID: "c", **KEY}, True),
    ({spec.P_ACTION: spec.ACTION, spec.P_EXTENSION: "8856", spec.P_STATUS: "last,ongoing",
      spec.P_TYPE: "do_not_delete", spec.P_UNMARK: "1", **KEY}, True),
    ({spec.P_ACTION: spec.TOKEN_ACTION, **KEY}, True),
    ({spec.P_ACTION: spec.ACTION, **KEY}, False),  # neither callID nor extension
    ({spec.P_ACTION: spec.ACTION, spec.P_EXTENSION: "8856", **KEY}, False),  # no status
    ({spec.P_ACTION: spec.ACTION, spec.P_CALL_ID: "c"}, False),  # no apiKey
    ({spec.P_ACTION: spec.ACTION, spec.P_CALL_ID: "c", spec.P_STATUS: "next,ongoing", **KEY},
     False),
    ({spec.P_ACTION: spec.ACTION, spec.P_CALL_ID: "c", "number": "1", **KEY}, False),
])
def test_the_form_schema_states_the_rules(form: dict[str, str], valid: bool) -> None:
    assert (_form_errors(form) == []) is valid, _form_errors(form)


def test_the_form_examples_are_valid() -> None:
    examples = OPERATIONS["post"]["requestBody"]["content"][FORM]["examples"]
    assert examples
    for example in examples.values():
        assert _form_errors(example["value"]) == []
