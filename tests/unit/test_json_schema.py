"""OpenAI's strict-mode rules for response_format schemas, and what each Claude model takes."""

from __future__ import annotations

from typing import Any

import pytest

from batchbridge.domain.translate import claude, json_schema
from batchbridge.domain.translate.json_schema import SchemaProblem, strict_problem


def closed(properties: dict[str, Any]) -> dict[str, Any]:
    """A strict object schema of ``properties``."""
    return {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}


STRING: dict[str, Any] = {"type": "string"}


def nested(levels: int) -> dict[str, Any]:
    """``levels`` objects, each the only property of the one around it."""
    schema = closed({"leaf": STRING})
    for _ in range(levels - 1):
        schema = closed({"child": schema})
    return schema


@pytest.mark.parametrize(
    "schema",
    [
        closed({"name": STRING}),
        closed({"tags": {"type": "array", "items": STRING, "minItems": 1, "maxItems": 3}}),
        closed({"age": {"type": ["integer", "null"], "minimum": 0, "maximum": 150}}),
        closed({"when": {"type": "string", "format": "date-time", "pattern": "^2"}}),
        closed({"kind": {"enum": ["a", "b"]}, "v": {"const": 3}}),
        closed({"either": {"anyOf": [STRING, closed({"n": {"type": "number"}})]}}),
        {**closed({"node": {"$ref": "#/$defs/node"}}), "$defs": {"node": closed({"next": {"$ref": "#"}})}},
        {**closed({"a": {"$ref": "#/definitions/a"}}), "definitions": {"a": STRING}},
        nested(10),
        closed({}),
    ],
)
def test_schemas_strict_mode_takes(schema: dict[str, Any]) -> None:
    assert strict_problem(schema) is None


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ([], SchemaProblem("", "must be a JSON schema object")),
        (STRING, SchemaProblem(".type", 'must be "object" at the root in strict mode')),
        (
            {"anyOf": [closed({})]},
            SchemaProblem(".anyOf", "is not allowed at the root in strict mode; the root must be an object"),
        ),
        ({"type": "object"}, SchemaProblem(".additionalProperties", "must be false on every object in strict mode")),
        (
            closed({"inner": {"type": "object", "properties": {}, "additionalProperties": True}}),
            SchemaProblem(".properties.inner.additionalProperties", "must be false on every object in strict mode"),
        ),
        (
            {**closed({"a": STRING, "b": STRING}), "required": ["a"]},
            SchemaProblem(
                ".required",
                "must list every property in strict mode; 'b' is missing (a property that may be absent is a "
                "required one that may be null)",
            ),
        ),
        (
            {**closed({"a": STRING}), "required": ["a", "z"]},
            SchemaProblem(".required", "names 'z', which is not a property"),
        ),
        (
            closed({"a": {"allOf": [STRING]}}),
            SchemaProblem(".properties.a.allOf", "'allOf' is not supported in strict mode"),
        ),
        (closed({"a": {"not": STRING}}), SchemaProblem(".properties.a.not", "'not' is not supported in strict mode")),
        ({**closed({}), "if": STRING}, SchemaProblem(".if", "'if' is not supported in strict mode")),
        (
            closed({"a": {"type": "string", "format": "uri"}}),
            SchemaProblem(
                ".properties.a.format",
                '= "uri" is not supported in strict mode (date, date-time, duration, email, hostname, ipv4, ipv6, '
                "time, uuid)",
            ),
        ),
        (closed({"a": True}), SchemaProblem(".properties.a", "must be a schema object in strict mode")),
        (
            closed({"a": {"$ref": "other.json#/x"}}),
            SchemaProblem(".properties.a.$ref", '= "other.json#/x" must be a local reference (#/$defs/...)'),
        ),
        (
            closed({"a": {"$ref": "#/$defs/none"}}),
            SchemaProblem(".properties.a.$ref", '= "#/$defs/none" points to nothing in the schema'),
        ),
        (
            closed({"list": {"type": "array", "items": {"type": "object", "properties": {}}}}),
            SchemaProblem(
                ".properties.list.items.additionalProperties", "must be false on every object in strict mode"
            ),
        ),
        (
            nested(11),
            SchemaProblem(".properties.child" * 10, "nests 11 levels of objects; strict mode allows 10"),
        ),
    ],
)
def test_each_strict_rule_names_where_it_is_broken(schema: Any, expected: SchemaProblem) -> None:
    assert strict_problem(schema) == expected


def test_schema_wide_limits() -> None:
    many = closed({f"p{i}": STRING for i in range(json_schema.MAX_PROPERTIES)})
    assert strict_problem(many) is None
    too_many = closed({f"p{i}": STRING for i in range(json_schema.MAX_PROPERTIES + 1)})
    assert strict_problem(too_many) == SchemaProblem("", "has 5001 object properties; strict mode allows 5000")

    enums = closed({f"e{i}": {"enum": list(range(100))} for i in range(11)})
    assert strict_problem(enums) == SchemaProblem("", "has 1100 enum values; strict mode allows 1000")

    big_enum = closed({"e": {"type": "string", "enum": [f"{i:060d}" for i in range(251)]}})
    assert strict_problem(big_enum) == SchemaProblem(
        ".properties.e.enum",
        "has 251 values of 15060 characters; strict mode allows 15000 characters in a string enum of more than 250 "
        "values",
    )
    assert strict_problem(closed({"e": {"type": "string", "enum": [f"{i:060d}" for i in range(250)]}})) is None

    long_names = closed({"n" * 40_000 + str(i): STRING for i in range(3)})
    problem = strict_problem(long_names)
    assert problem is not None and problem.path == "" and "strict mode allows 120000" in problem.problem


def test_definitions_count_their_nesting_from_where_they_are_used() -> None:
    schema = {**closed({"a": {"$ref": "#/$defs/deep"}}), "$defs": {"deep": nested(10)}}
    assert strict_problem(schema) is None


# ---------------------------------------------------------------------------------------------------------------
# Claude models


@pytest.mark.parametrize(
    ("name", "structured_outputs", "thinking"),
    [
        ("claude-3-haiku-20240307", False, "none"),
        ("claude-3-opus-20240229", False, "none"),
        ("claude-3-5-sonnet-20240620", False, "none"),
        ("claude-3-5-haiku-latest", False, "none"),
        ("claude-3-7-sonnet-20250219", False, "budget"),
        ("claude-sonnet-4-20250514", False, "budget"),
        ("claude-opus-4-0", False, "budget"),
        ("claude-opus-4-1-20250805", False, "budget"),
        ("claude-sonnet-4-5", True, "budget"),
        ("claude-sonnet-4-5-20250929-v1:0", True, "budget"),  # Bedrock's, its prefix removed
        ("claude-haiku-4-5-20251001", True, "budget"),
        ("claude-opus-4-5-20251101", True, "budget"),
        ("claude-opus-4-6", True, "adaptive"),
        ("claude-sonnet-4-6", True, "adaptive"),
        ("claude-opus-4-6-v1", True, "adaptive"),
        ("claude-opus-4-7", True, "adaptive"),
        ("claude-opus-5", True, "adaptive"),
        ("claude-fable-5-1", True, "adaptive"),
        ("claude-mythos-preview", True, "adaptive"),
        ("claude-instant-v1", False, "none"),
        ("claude-v2:1", False, "none"),
        ("gpt-4o", False, "none"),
    ],
)
def test_what_each_claude_model_takes(name: str, structured_outputs: bool, thinking: str) -> None:
    taken = claude.model(name)
    assert (taken.structured_outputs, taken.thinking) == (structured_outputs, thinking)


def test_thinking_budgets_respect_anthropics_minimum_and_grow_with_effort() -> None:
    budgets = list(claude.THINKING_BUDGETS.values())
    assert budgets == sorted(budgets) and budgets[0] == claude.MIN_THINKING_BUDGET == 1024
    assert set(claude.THINKING_BUDGETS) == set(claude.EFFORTS) == {"minimal", "low", "medium", "high", "xhigh", "max"}


@pytest.mark.parametrize(
    ("name", "default", "off", "forced_tool", "sampling", "prefill", "max_output"),
    [
        ("claude-3-haiku-20240307", "off", None, True, "any", True, 4096),
        ("claude-3-5-sonnet-20240620", "off", None, True, "any", True, 8192),
        ("claude-opus-4-20250514", "off", None, True, "any", True, 32_000),
        ("claude-opus-4-1-20250805", "off", None, True, "one", True, 32_000),
        ("claude-sonnet-4-20250514", "off", None, True, "any", True, 64_000),
        ("claude-haiku-4-5", "off", None, True, "one", True, 64_000),
        ("claude-sonnet-4-6", "off", None, True, "one", False, 128_000),
        ("claude-opus-4-7", "off", None, True, "default", False, 128_000),
        ("claude-opus-4-8", "off", None, True, "default", False, 128_000),
        ("claude-sonnet-5", "on", "disabled", True, "default", False, 128_000),
        ("claude-opus-5", "on", "disabled", True, "default", False, 128_000),
        ("claude-haiku-5-5", "on", "disabled", True, "default", False, 128_000),
        ("claude-sonnet-5-5", "on", "between_tools", False, "default", False, 128_000),
        ("claude-opus-5-5", "always", None, False, "default", False, 128_000),
        ("claude-fable-5", "always", None, False, "default", False, 128_000),
        ("claude-mythos-5-1", "always", None, False, "default", False, 128_000),
        ("claude-mythos-preview", "always", None, False, "default", False, 128_000),
        ("claude-opus-6", "always", None, False, "default", False, 128_000),  # newer than the table: the strictest
    ],
)
def test_what_each_claude_model_takes_beyond_thinking(
    name: str, default: str, off: str | None, forced_tool: bool, sampling: str, prefill: bool, max_output: int
) -> None:
    taken = claude.model(name)
    assert (taken.thinking_default, taken.thinking_off, taken.forced_tool, taken.sampling, taken.prefill) == (
        default,
        off,
        forced_tool,
        sampling,
        prefill,
    )
    assert taken.max_output == max_output


@pytest.mark.parametrize(
    ("name", "wanted", "given"),
    [
        ("claude-opus-4-6", "xhigh", "high"),
        ("claude-opus-4-6", "max", "max"),
        ("claude-opus-4-7", "xhigh", "xhigh"),
        ("claude-opus-4-7", "minimal", "low"),
    ],
)
def test_effort_rounds_down_to_a_level_the_model_has(name: str, wanted: str, given: str) -> None:
    assert claude.effort(claude.model(name), wanted) == given


def test_free_form_objects_are_outside_claudes_subset_and_never_closed() -> None:
    free = {"type": "object", "properties": {"meta": {"type": "object"}}, "required": ["meta"]}
    problem = claude.schema_problem(free)
    assert problem is not None and problem.path == ".properties.meta" and "free-form" in problem.problem
    assert claude.native_schema(free)["properties"]["meta"] == {"type": "object"}
    assert claude.schema_problem({"type": "object", "additionalProperties": False}) is None
