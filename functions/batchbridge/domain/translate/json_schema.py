"""JSON Schemas of `response_format`: a walk over every subschema, local `$ref`s, and OpenAI's strict-mode rules.

Pure functions, standard library only. A check answers the first problem it finds as a ``SchemaProblem`` (where in
the schema, what is wrong) or None; the translation turns it into a 400 naming the line and
``body.response_format.json_schema.schema`` + the path. Reusable by every provider whose schemas reach the provider
unchanged (the provider's own subset is checked by its module, e.g. ``translate.claude``).

OpenAI's strict mode (``json_schema.strict: true``), as OpenAI's Structured Outputs guide documents it ("Supported
schemas"), checked by ``strict_problem``:

| Rule                                                                | Problem named at                        |
|---------------------------------------------------------------------|-----------------------------------------|
| the root is an object schema (`type: "object"`), not `anyOf`        | the root                                |
| every object sets `additionalProperties: false`                     | `<object>.additionalProperties`         |
| every property is listed in `required` (and `required` names only properties) | `<object>.required`           |
| no `allOf`, `not`, `dependentRequired`, `dependentSchemas`, `if`, `then`, `else` | that keyword               |
| `format` is one of date-time, time, date, duration, email, hostname, ipv4, ipv6, uuid | `<string>.format`     |
| `$ref` is local (`#`, `#/$defs/...`, `#/definitions/...`) and resolves | `<node>.$ref`                        |
| every subschema is an object (no boolean schemas)                   | that subschema                          |
| at most 10 levels of nested objects                                 | the object 11 levels deep               |
| at most 5,000 object properties in all                              | the root                                |
| at most 120,000 characters of property names, definition names, enum and const values | the root |
| at most 1,000 enum values in all                                    | the root                                |
| a string enum of more than 250 values: at most 15,000 characters    | that enum                               |
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any, Final, NamedTuple

OPENAI_STRING_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "ipv4", "ipv6", "uuid"}
)
OPENAI_UNSUPPORTED: Final = ("allOf", "not", "dependentRequired", "dependentSchemas", "if", "then", "else")
MAX_OBJECT_DEPTH: Final = 10
MAX_PROPERTIES: Final = 5_000
MAX_SCHEMA_CHARS: Final = 120_000
MAX_ENUM_VALUES: Final = 1_000
LARGE_ENUM: Final = 250  # a string enum of more values than this ...
LARGE_ENUM_CHARS: Final = 15_000  # ... has at most this many characters in all

# Keywords whose value is one subschema, a list of them, or a map of them.
_ONE: Final = (
    "items",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_LIST: Final = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP: Final = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")


class SchemaProblem(NamedTuple):
    """Where in a schema (``""`` for the root, ``.properties.city``, ``.anyOf[1]``, ``.$defs.Address``) and what
    is wrong there."""

    path: str
    problem: str


class Node(NamedTuple):
    """A subschema, where it is, how many object schemas enclose it (itself included), and whether it sits in an
    ``allOf`` branch."""

    schema: Any
    path: str
    depth: int
    in_all_of: bool


def is_object(schema: dict[str, Any]) -> bool:
    """Whether a (sub)schema describes objects: `type` "object" (alone or in a list), or properties given."""
    kind = schema.get("type")
    return kind == "object" or (isinstance(kind, list) and "object" in kind) or "properties" in schema


def walk(schema: Any, path: str = "", depth: int = 0, in_all_of: bool = False) -> Iterator[Node]:
    """Every subschema of ``schema``, itself first (depth-first, in the schema's own order). Boolean and other
    non-object subschemas are given too (their checks decide); `additionalProperties: false` is not a subschema."""
    if isinstance(schema, dict) and is_object(schema):
        depth += 1
    yield Node(schema, path, depth, in_all_of)
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        here = f"{path}.{key}"
        if key in _ONE and not isinstance(value, bool):
            yield from walk(value, here, depth, in_all_of)
        elif key in _LIST and isinstance(value, list):
            for i, item in enumerate(value):
                yield from walk(item, f"{here}[{i}]", depth, in_all_of or key == "allOf")
        elif key in _MAP and isinstance(value, dict):
            # definitions are their own roots: their nesting counts from where they are used, not from here
            inner = 0 if key in ("$defs", "definitions") else depth
            for name, item in value.items():
                yield from walk(item, f"{here}.{name}", inner, in_all_of)


def resolve(root: Any, ref: str) -> Any:
    """The subschema a local ``$ref`` (``#`` or a JSON pointer after ``#``) points to; None when it is not local or
    points nowhere."""
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node = root
    for raw in ref[2:].split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def ref_problem(root: Any, node: dict[str, Any], path: str) -> SchemaProblem | None:
    """A ``$ref`` that is not local or points nowhere."""
    ref = node.get("$ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref.startswith("#"):
        return SchemaProblem(f"{path}.$ref", f"= {json.dumps(ref)} must be a local reference (#/$defs/...)")
    if resolve(root, ref) is None:
        return SchemaProblem(f"{path}.$ref", f"= {json.dumps(ref)} points to nothing in the schema")
    return None


def strict_problem(schema: Any) -> SchemaProblem | None:
    """The first rule of OpenAI's strict mode ``schema`` breaks (module docstring), or None."""
    if not isinstance(schema, dict):
        return SchemaProblem("", "must be a JSON schema object")
    return _strict_problem(json.dumps(schema))  # the same schema on every line of a file: checked once


@functools.lru_cache(maxsize=64)
def _strict_problem(text: str) -> SchemaProblem | None:
    schema = json.loads(text)
    if "anyOf" in schema:
        return SchemaProblem(".anyOf", "is not allowed at the root in strict mode; the root must be an object")
    if schema.get("type") != "object":
        return SchemaProblem(".type", 'must be "object" at the root in strict mode')
    tally = _Tally()
    for node in walk(schema):
        problem = _node_problem(schema, node) or tally.add(node)
        if problem is not None:
            return problem
    return tally.problem()


def _node_problem(root: dict[str, Any], node: Node) -> SchemaProblem | None:
    schema, path = node.schema, node.path
    if not isinstance(schema, dict):
        return SchemaProblem(path, "must be a schema object in strict mode")
    for key in OPENAI_UNSUPPORTED:
        if key in schema:
            return SchemaProblem(f"{path}.{key}", f"'{key}' is not supported in strict mode")
    if is_object(schema):
        problem = _object_problem(schema, path)
        if problem is not None:
            return problem
    fmt = schema.get("format")
    if fmt is not None and fmt not in OPENAI_STRING_FORMATS:
        return SchemaProblem(
            f"{path}.format",
            f"= {json.dumps(fmt)} is not supported in strict mode ({', '.join(sorted(OPENAI_STRING_FORMATS))})",
        )
    if node.depth > MAX_OBJECT_DEPTH:
        return SchemaProblem(path, f"nests {node.depth} levels of objects; strict mode allows {MAX_OBJECT_DEPTH}")
    return ref_problem(root, schema, path)


def _object_problem(schema: dict[str, Any], path: str) -> SchemaProblem | None:
    """additionalProperties false, and every property required (and only properties)."""
    if schema.get("additionalProperties") is not False:
        return SchemaProblem(f"{path}.additionalProperties", "must be false on every object in strict mode")
    properties = schema.get("properties") or {}
    if not isinstance(properties, dict):
        return SchemaProblem(f"{path}.properties", "must be an object of schemas")
    required = schema.get("required") or []
    if not isinstance(required, list):
        return SchemaProblem(f"{path}.required", "must be a list of property names")
    for name in properties:
        if name not in required:
            return SchemaProblem(
                f"{path}.required",
                f"must list every property in strict mode; {name!r} is missing (a property that may be absent is "
                "a required one that may be null)",
            )
    for name in required:
        if name not in properties:
            return SchemaProblem(f"{path}.required", f"names {name!r}, which is not a property")
    return None


class _Tally:
    """The schema-wide limits: properties, characters, enum values."""

    def __init__(self) -> None:
        self.properties = 0
        self.chars = 0
        self.enum_values = 0

    def add(self, node: Node) -> SchemaProblem | None:
        schema = node.schema
        properties = schema.get("properties")
        if isinstance(properties, dict):
            self.properties += len(properties)
            self.chars += sum(len(name) for name in properties)
        for key in ("$defs", "definitions"):
            defs = schema.get(key)
            if isinstance(defs, dict):
                self.chars += sum(len(name) for name in defs)
        if "const" in schema:
            self.chars += _chars(schema["const"])
        enum = schema.get("enum")
        if isinstance(enum, list):
            self.enum_values += len(enum)
            chars = sum(_chars(value) for value in enum)
            self.chars += chars
            if len(enum) > LARGE_ENUM and all(isinstance(v, str) for v in enum) and chars > LARGE_ENUM_CHARS:
                return SchemaProblem(
                    f"{node.path}.enum",
                    f"has {len(enum)} values of {chars} characters; strict mode allows {LARGE_ENUM_CHARS} characters "
                    f"in a string enum of more than {LARGE_ENUM} values",
                )
        return None

    def problem(self) -> SchemaProblem | None:
        if self.properties > MAX_PROPERTIES:
            return SchemaProblem("", f"has {self.properties} object properties; strict mode allows {MAX_PROPERTIES}")
        if self.enum_values > MAX_ENUM_VALUES:
            return SchemaProblem("", f"has {self.enum_values} enum values; strict mode allows {MAX_ENUM_VALUES}")
        if self.chars > MAX_SCHEMA_CHARS:
            return SchemaProblem(
                "",
                f"has {self.chars} characters of property names, definition names, enum and const values; strict "
                f"mode allows {MAX_SCHEMA_CHARS}",
            )
        return None


def _chars(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(json.dumps(value))
