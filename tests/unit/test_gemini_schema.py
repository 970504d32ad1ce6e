"""response_format json_schema -> Gemini's responseSchema: each JSON Schema keyword taken, and each one Gemini's
Schema cannot express refused with a 400 naming the line and the keyword's place."""

from __future__ import annotations

from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.translate import gemini_schema
from batchbridge.domain.translate.gemini import chat_to_request

CID = "line-7"
SCHEMA = "body.response_format.json_schema.schema"


def line(schema: dict[str, Any], **json_schema: Any) -> dict[str, Any]:
    return {
        "model": "gemini-2.5-flash",
        "messages": [{"role": "user", "content": "Classify: great movie"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, **json_schema}},
    }


def converted(schema: dict[str, Any], **json_schema: Any) -> Any:
    config = chat_to_request(line(schema, **json_schema), custom_id=CID)["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in config
    return config["responseSchema"]


def refused(schema: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        chat_to_request(line(schema), custom_id=CID)
    assert caught.value.status == 400
    assert caught.value.message.startswith(f"custom_id '{CID}': {caught.value.param} ")
    return caught.value


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


S = {"type": "string"}


# ---------------------------------------------------------------------------------------------------------------
# what translates


@pytest.mark.parametrize(
    ("schema", "gemini"),
    [
        (S, {"type": "STRING"}),
        ({"type": "number"}, {"type": "NUMBER"}),
        ({"type": "integer"}, {"type": "INTEGER"}),
        ({"type": "boolean"}, {"type": "BOOLEAN"}),
        ({"type": "array", "items": S}, {"type": "ARRAY", "items": {"type": "STRING"}}),
        (obj(a=S), {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}),
        ({"type": ["string", "null"]}, {"type": "STRING", "nullable": True}),
        ({"type": ["null", "integer"]}, {"type": "INTEGER", "nullable": True}),
        ({"type": ["boolean"]}, {"type": "BOOLEAN"}),
        ({"properties": {"a": S}}, {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}),  # implied types
        ({"items": S}, {"type": "ARRAY", "items": {"type": "STRING"}}),
        ({"enum": ["a", "b"]}, {"type": "STRING", "enum": ["a", "b"]}),
        ({"type": "string", "enum": ["x", "y"]}, {"type": "STRING", "enum": ["x", "y"]}),
        ({"type": ["string", "null"], "enum": ["x", None]}, {"type": "STRING", "enum": ["x"], "nullable": True}),
        ({"type": "string", "const": "only"}, {"type": "STRING", "enum": ["only"]}),
        ({"type": "string", "format": "date-time"}, {"type": "STRING", "format": "date-time"}),
        ({"type": "integer", "format": "int64"}, {"type": "INTEGER", "format": "int64"}),
        ({"type": "number", "format": "double"}, {"type": "NUMBER", "format": "double"}),
        ({"type": "number", "minimum": -1.5, "maximum": 10}, {"type": "NUMBER", "minimum": -1.5, "maximum": 10}),
        (
            {"type": "string", "minLength": 1, "maxLength": 9, "pattern": "^[a-z]+$"},
            {"type": "STRING", "minLength": 1, "maxLength": 9, "pattern": "^[a-z]+$"},
        ),
        (
            {"type": "array", "items": S, "minItems": 1, "maxItems": 3},
            {"type": "ARRAY", "minItems": 1, "maxItems": 3, "items": {"type": "STRING"}},
        ),
        (
            {**obj(a=S), "minProperties": 1, "maxProperties": 1},
            {"type": "OBJECT", "minProperties": 1, "maxProperties": 1, "properties": {"a": {"type": "STRING"}}},
        ),
        (
            {"type": "string", "title": "T", "description": "D", "default": "x"},
            {"type": "STRING", "title": "T", "description": "D", "default": "x"},
        ),
        (
            {**obj(a=S), "additionalProperties": False, "$schema": "https://json-schema.org/draft/2020-12/schema"},
            {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
        ),
        ({"type": "string", "$comment": "for people"}, {"type": "STRING"}),
        (
            {"anyOf": [S, {"type": "integer"}]},
            {"anyOf": [{"type": "STRING"}, {"type": "INTEGER"}]},
        ),
        (
            {"anyOf": [S, {"type": "integer"}, {"type": "null"}], "description": "d"},
            {"description": "d", "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}], "nullable": True},
        ),
        (  # one member and null: the member in its place, what the schema says itself winning
            {"anyOf": [{"type": "string", "description": "inner"}, {"type": "null"}], "description": "outer"},
            {"type": "STRING", "description": "outer", "nullable": True},
        ),
    ],
)
def test_keywords_gemini_takes(schema: dict[str, Any], gemini: dict[str, Any]) -> None:
    assert converted(schema) == gemini


def test_properties_keep_their_order_and_required_passes() -> None:
    schema = {**obj(zeta=S, alpha={"type": "integer"}, mid=S), "required": ["zeta", "alpha"]}
    result = converted(schema)
    assert list(result["properties"]) == ["zeta", "alpha", "mid"]
    assert result["propertyOrdering"] == ["zeta", "alpha", "mid"]  # Gemini would otherwise sort them
    assert result["required"] == ["zeta", "alpha"]
    assert "propertyOrdering" not in converted(obj(only=S))  # nothing to order


def test_refs_are_inlined_with_their_siblings_winning() -> None:
    schema = {
        **obj(
            home={"$ref": "#/$defs/Address", "description": "where they live"},
            work={"anyOf": [{"$ref": "#/definitions/Address"}, {"type": "null"}]},
            color={"$ref": "#/$defs/Color"},
        ),
        "$defs": {"Address": {**obj(city=S), "description": "an address"}, "Color": {"enum": ["red", "blue"]}},
        "definitions": {"Address": obj(street=S)},
    }
    result = converted(schema)
    assert result["properties"] == {
        "home": {"type": "OBJECT", "description": "where they live", "properties": {"city": {"type": "STRING"}}},
        "work": {"type": "OBJECT", "properties": {"street": {"type": "STRING"}}, "nullable": True},
        "color": {"type": "STRING", "enum": ["red", "blue"]},
    }
    assert "$defs" not in result and "definitions" not in result


def test_a_definition_used_twice_is_inlined_twice_but_not_recursively() -> None:
    schema = {
        **obj(a={"$ref": "#/$defs/P"}, b={"$ref": "#/$defs/P"}),
        "$defs": {"P": obj(x={"$ref": "#/$defs/Q"}), "Q": S},
    }
    result = converted(schema)
    assert (
        result["properties"]["a"]
        == result["properties"]["b"]
        == {
            "type": "OBJECT",
            "properties": {"x": {"type": "STRING"}},
        }
    )


def test_a_pydantic_model_as_the_openai_sdk_sends_it() -> None:
    # openai.lib._pydantic.to_strict_json_schema of a model with an Optional nested model, an Enum, a Literal
    schema = {
        "$defs": {
            "Address": {
                "properties": {"city": {"title": "City", "type": "string"}},
                "required": ["city"],
                "title": "Address",
                "type": "object",
                "additionalProperties": False,
            },
            "Mood": {"enum": ["happy", "sad"], "title": "Mood", "type": "string"},
        },
        "properties": {
            "name": {"title": "Name", "type": "string"},
            "age": {"maximum": 150, "minimum": 0, "title": "Age", "type": "integer"},
            "mood": {"$ref": "#/$defs/Mood"},
            "kind": {"const": "person", "title": "Kind", "type": "string"},
            "home": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "description": "their home"},
        },
        "required": ["name", "age", "mood", "kind", "home"],
        "title": "Person",
        "type": "object",
        "additionalProperties": False,
    }
    assert converted(schema, strict=True) == {
        "type": "OBJECT",
        "title": "Person",
        "properties": {
            "name": {"type": "STRING", "title": "Name"},
            "age": {"type": "INTEGER", "title": "Age", "minimum": 0, "maximum": 150},
            "mood": {"type": "STRING", "title": "Mood", "enum": ["happy", "sad"]},
            "kind": {"type": "STRING", "title": "Kind", "enum": ["person"]},
            "home": {
                "type": "OBJECT",
                "title": "Address",
                "properties": {"city": {"type": "STRING", "title": "City"}},
                "required": ["city"],
                "description": "their home",
                "nullable": True,
            },
        },
        "propertyOrdering": ["name", "age", "mood", "kind", "home"],
        "required": ["name", "age", "mood", "kind", "home"],
    }


def test_the_json_schema_description_describes_the_root() -> None:
    assert converted(obj(a=S), description="A verdict")["description"] == "A verdict"
    assert converted({**obj(a=S), "description": "own"}, description="A verdict")["description"] == "own"


# ---------------------------------------------------------------------------------------------------------------
# what Gemini's Schema cannot say: a 400 naming the keyword


@pytest.mark.parametrize(
    ("schema", "param"),
    [
        ({"allOf": [S]}, "allOf"),
        ({"oneOf": [S, {"type": "integer"}]}, "oneOf"),
        ({"type": "string", "not": {"enum": ["x"]}}, "not"),
        ({"type": "string", "if": S, "then": S}, "if"),
        ({"type": "number", "exclusiveMinimum": 0}, "exclusiveMinimum"),
        ({"type": "number", "exclusiveMaximum": 9}, "exclusiveMaximum"),
        ({"type": "number", "multipleOf": 2}, "multipleOf"),
        ({"type": "array", "items": S, "uniqueItems": True}, "uniqueItems"),
        ({"type": "array", "prefixItems": [S]}, "prefixItems"),
        ({"type": "array", "items": [S, S]}, "items"),
        ({"type": "array", "items": S, "contains": S}, "contains"),
        ({**obj(a=S), "patternProperties": {"^x": S}}, "patternProperties"),
        ({**obj(a=S), "propertyNames": {"pattern": "^a"}}, "propertyNames"),
        ({**obj(a=S), "dependentRequired": {"a": ["b"]}}, "dependentRequired"),
        ({**obj(a=S), "unevaluatedProperties": False}, "unevaluatedProperties"),
        ({**obj(a=S), "additionalProperties": True}, "additionalProperties"),
        ({**obj(a=S), "additionalProperties": S}, "additionalProperties"),
        ({"type": "string", "examples": ["x"]}, "examples"),
        ({"type": "string", "nullable": True}, "nullable"),  # OpenAPI's, not JSON Schema's
        ({"type": "string", "format": "email"}, "format"),
        ({"type": "integer", "format": "date-time"}, "format"),
        ({"type": "boolean", "format": "x"}, "format"),
        ({"type": "integer", "maxLength": 3}, "maxLength"),  # a keyword of another type
        ({"type": "string", "minimum": 3}, "minimum"),
        ({"type": "integer", "enum": [1, 2]}, "enum"),
        ({"enum": ["a", 2]}, "enum"),
        ({"type": "string", "const": "a", "enum": ["a"]}, "const"),
        ({"type": ["string", "integer"]}, "type"),
        ({"type": "null"}, "type"),
        ({"type": ["null"]}, "type"),
        ({"anyOf": [{"type": "null"}]}, "anyOf"),
        (
            obj(a={"$ref": "#/$defs/Node"}) | {"$defs": {"Node": obj(next={"$ref": "#/$defs/Node"})}},
            "$defs.Node.properties.next.$ref",
        ),
        (obj(a={"$ref": "#"}), "properties.a.$ref"),
        (obj(a={"$ref": "#/properties/b"}, b=S), "properties.a.$ref"),
        (obj(a={"$ref": "https://example.com/s.json"}), "properties.a.$ref"),
        (obj(a={"$ref": "#/$defs/A", "minLength": 1}) | {"$defs": {"A": S}}, "properties.a.minLength"),
        (obj(a={**obj(b=S), "$defs": {"X": S}}), "properties.a.$defs"),
        ({"type": "object"}, "properties"),  # Gemini's OBJECT needs properties
        ({"type": "object", "properties": {}}, "properties"),
        ({"type": "array"}, "items"),
        ({**obj(a=S), "required": ["a", "b"]}, "required"),
        (
            obj(deep=obj(deeper={"type": "array", "items": {"uniqueItems": True, "type": "array", "items": S}})),
            "properties.deep.properties.deeper.items.uniqueItems",
        ),
    ],
)
def test_keywords_gemini_cannot_take(schema: dict[str, Any], param: str) -> None:
    error = refused(schema)
    assert error.param == f"{SCHEMA}.{param}"
    assert error.code in ("unsupported_value", "invalid_value")


@pytest.mark.parametrize(
    ("schema", "param", "code"),
    [
        ({"type": 3}, "type", "invalid_value"),
        ({"type": "text"}, "type", "invalid_value"),
        ({"description": "no type"}, "type", "missing_required_parameter"),
        (obj(a=True), "properties.a", "invalid_type"),
        ({"type": "string", "maxLength": -1}, "maxLength", "invalid_type"),
        ({"type": "array", "items": S, "minItems": 1.5}, "minItems", "invalid_type"),
        ({"type": "number", "minimum": "0"}, "minimum", "invalid_type"),
        ({"type": "string", "description": 7}, "description", "invalid_type"),
        ({"enum": []}, "enum", "invalid_type"),
        ({"anyOf": []}, "anyOf", "invalid_type"),
        ({**obj(a=S), "required": "a"}, "required", "invalid_type"),
        (obj(a={"$ref": "#/$defs/Missing"}), "properties.a.$ref", "invalid_value"),
        (obj(a={"$ref": 5}), "properties.a.$ref", "invalid_type"),
        ({**obj(a=S), "$defs": []}, "$defs", "invalid_type"),
    ],
)
def test_malformed_schemas(schema: dict[str, Any], param: str, code: str) -> None:
    error = refused(schema)
    assert (error.param, error.code) == (f"{SCHEMA}.{param}", code)


def test_the_message_names_the_keyword_and_why() -> None:
    error = refused({"type": "array", "items": S, "uniqueItems": True})
    assert error.message == (
        f"custom_id '{CID}': {SCHEMA}.uniqueItems = true is not supported by Gemini "
        "(its response schema has no 'uniqueItems')"
    )
    long = refused({"type": "string", "not": {"enum": ["x" * 200]}})
    assert len(long.message) < 250  # a big value is shown cut short


def test_schemas_too_deep_or_too_large_are_refused_not_recursed_into() -> None:
    deep: dict[str, Any] = S
    for _ in range(gemini_schema.MAX_DEPTH + 1):
        deep = obj(x=deep)
    assert "deeper than" in refused(deep).message
    # each definition uses the next one twice: 2**20 schemas once inlined
    defs = {f"D{n}": obj(a={"$ref": f"#/$defs/D{n + 1}"}, b={"$ref": f"#/$defs/D{n + 1}"}) for n in range(20)}
    defs["D20"] = S
    error = refused({"$ref": "#/$defs/D0", "$defs": defs})
    assert f"larger than {gemini_schema.MAX_NODES}" in error.message


def test_the_converter_alone() -> None:
    assert gemini_schema.to_response_schema({"type": "string"}) == {"type": "STRING"}
    with pytest.raises(gemini_schema.SchemaError) as caught:
        gemini_schema.to_response_schema(obj(a={"type": "string", "format": "uri"}))
    assert (caught.value.path, caught.value.code) == ("properties.a.format", "unsupported_value")
    assert "Gemini takes the formats date-time here" in caught.value.problem
