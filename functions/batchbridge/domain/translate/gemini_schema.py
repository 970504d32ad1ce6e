"""A JSON Schema (OpenAI's `response_format.json_schema.schema`) -> Gemini's `responseSchema`, the OpenAPI 3.0
subset the Gemini API's Schema message (generativelanguage v1beta) holds.

Pure functions, standard library only. What Gemini's Schema cannot say is refused, never dropped: `SchemaError`
names the keyword by its path in the schema and says why, and the translation makes it a 400 naming the line.

| JSON Schema                                             | Gemini Schema                                        |
|---------------------------------------------------------|------------------------------------------------------|
| `type` string, number, integer, boolean, array, object  | `type` STRING, NUMBER, INTEGER, BOOLEAN, ARRAY, OBJECT |
| `type: [T, "null"]`                                     | `type: T`, `nullable: true`                          |
| no `type`: `properties` / `items` / `enum` or `const`   | OBJECT / ARRAY / STRING                              |
| `anyOf` (`{"type": "null"}` members: `nullable: true`)  | `anyOf`; a single member left is merged in its place |
| `properties` (1)                                        | `properties`, and `propertyOrdering` in their order  |
| `required` (each a listed property)                     | `required`                                           |
| `additionalProperties: false`                           | dropped: Gemini writes the listed properties only    |
| `items` (one schema)                                    | `items`                                              |
| `enum` of strings (`null` among them: `nullable: true`) | `enum`                                               |
| `const` (a string)                                      | `enum: [const]`                                      |
| `format` date-time; int32, int64; float, double (2)     | `format`                                             |
| `minItems` `maxItems` `minLength` `maxLength` `pattern` | the same                                             |
| `minProperties` `maxProperties` `minimum` `maximum`     | the same                                             |
| `description` `title` `default`                         | the same                                             |
| `$ref` `#/$defs/X` or `#/definitions/X` (3)             | X, converted, in its place                           |
| `$defs` / `definitions` at the root                     | what `$ref` reads                                    |
| `$schema`, `$comment`                                   | dropped: they say nothing about the answer           |

(1) An object needs at least one property (Gemini refuses an OBJECT without `properties`); an array needs `items`.
(2) The formats Gemini's Schema documents for STRING / INTEGER / NUMBER; any other format is refused.
(3) Beside a `$ref` only `description`, `title` and `default` may stand (they win over the definition's).
A recursive reference is refused: Gemini's Schema has no references, and inlining one never ends.

Everything else is refused by name: `allOf`, `oneOf`, `not`, `if` / `then` / `else`, `exclusiveMinimum`,
`exclusiveMaximum`, `multipleOf`, `uniqueItems`, `prefixItems` and tuple `items`, `contains`, `patternProperties`,
`propertyNames`, `dependentRequired`, `dependentSchemas`, `unevaluated*`, `additionalProperties` other than
false, `examples`, and any keyword of another type than the schema's (`maxLength` on an integer). So are a type
list of more than one type besides "null", a schema that is only `null`, enum values that are not strings, a
schema deeper than MAX_DEPTH levels, and one that expands (`$ref`s inlined) to more than MAX_NODES schemas.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

MAX_DEPTH: Final = 64
MAX_NODES: Final = 5_000  # after $ref inlining: a few nested definitions used twice each grow exponentially

TYPES: Final[dict[str, str]] = {
    "string": "STRING",
    "number": "NUMBER",
    "integer": "INTEGER",
    "boolean": "BOOLEAN",
    "array": "ARRAY",
    "object": "OBJECT",
}
FORMATS: Final[dict[str, frozenset[str]]] = {
    "STRING": frozenset({"date-time"}),
    "INTEGER": frozenset({"int32", "int64"}),
    "NUMBER": frozenset({"float", "double"}),
}
# Keywords that only mean something for some types: (keyword, the Gemini types it applies to).
_TYPED: Final[dict[str, frozenset[str]]] = {
    "properties": frozenset({"OBJECT"}),
    "required": frozenset({"OBJECT"}),
    "additionalProperties": frozenset({"OBJECT"}),
    "minProperties": frozenset({"OBJECT"}),
    "maxProperties": frozenset({"OBJECT"}),
    "items": frozenset({"ARRAY"}),
    "minItems": frozenset({"ARRAY"}),
    "maxItems": frozenset({"ARRAY"}),
    "minLength": frozenset({"STRING"}),
    "maxLength": frozenset({"STRING"}),
    "pattern": frozenset({"STRING"}),
    "enum": frozenset({"STRING"}),
    "const": frozenset({"STRING"}),
    "format": frozenset({"STRING", "INTEGER", "NUMBER"}),
    "minimum": frozenset({"INTEGER", "NUMBER"}),
    "maximum": frozenset({"INTEGER", "NUMBER"}),
}
_COUNTS: Final = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")
_BOUNDS: Final = ("minimum", "maximum")
_TEXTS: Final = ("title", "description", "pattern")
_KNOWN: Final = frozenset({*_TYPED, "type", "anyOf", "title", "description", "default", "$ref"})
_DROPPED: Final = frozenset({"$schema", "$comment"})
_BESIDE_REF: Final = frozenset({"title", "description", "default", *_DROPPED})
_DEFINITIONS: Final = ("$defs", "definitions")


class SchemaError(Exception):
    """A schema Gemini cannot take: `path` is where in the schema ("" for the root, else e.g.
    "properties.tags.items"), `problem` what is wrong, `code` an OpenAI error code."""

    def __init__(self, path: str, problem: str, code: str = "unsupported_value") -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem
        self.code = code


def to_response_schema(schema: Mapping[str, Any], description: str | None = None) -> dict[str, Any]:
    """The Gemini Schema of a JSON schema object; `description` (json_schema.description) describes the root
    when the schema does not. SchemaError when Gemini cannot express it."""
    definitions: dict[tuple[str, str], Any] = {}  # ($defs or definitions, name) -> schema
    for key in _DEFINITIONS:
        found = schema.get(key)
        if found is None:
            continue
        if not isinstance(found, dict):
            raise SchemaError(key, "must be an object of schemas", "invalid_type")
        definitions.update({(key, name): value for name, value in found.items()})
    root = {key: value for key, value in schema.items() if key not in _DEFINITIONS}
    converted = _Converter(definitions).convert(root, "", 0)
    if description is not None and "description" not in converted:
        converted["description"] = description
    return converted


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _unsupported(path: str, value: Any, why: str) -> SchemaError:
    return SchemaError(path, f"= {_shown(value)} is not supported by Gemini ({why})")


class _Converter:
    """One schema's conversion: the definitions `$ref` reads, the ones being inlined, the schemas made."""

    def __init__(self, definitions: dict[tuple[str, str], Any]) -> None:
        self.definitions = definitions
        self.inlining: list[tuple[str, str]] = []
        self.nodes = 0

    def convert(self, schema: Any, path: str, depth: int) -> dict[str, Any]:
        if not isinstance(schema, dict):
            raise SchemaError(path, "must be a JSON schema object", "invalid_type")
        self.nodes += 1
        if depth > MAX_DEPTH:
            raise SchemaError(path, f"nests deeper than {MAX_DEPTH} levels")
        if self.nodes > MAX_NODES:
            raise SchemaError(path, f"makes the schema larger than {MAX_NODES} schemas once its $refs are inlined")
        if "$ref" in schema:
            return self._reference(schema, path, depth)
        _check_keywords(schema, path)
        kind, nullable = _kind(schema, path)
        out: dict[str, Any] = {} if kind is None else {"type": kind}
        _copy_simple(schema, path, kind, out)
        nullable = _enum(schema, path, out) or nullable
        if kind == "OBJECT":
            self._object(schema, path, depth, out)
        elif kind == "ARRAY":
            self._array(schema, path, depth, out)
        if "anyOf" in schema:
            out, null_member = self._any_of(schema["anyOf"], _at(path, "anyOf"), depth, out)
            nullable = nullable or null_member
        if nullable:
            out["nullable"] = True
        return out

    def _reference(self, schema: dict[str, Any], path: str, depth: int) -> dict[str, Any]:
        here = _at(path, "$ref")
        ref = schema["$ref"]
        if not isinstance(ref, str):
            raise SchemaError(here, "must be a string", "invalid_type")
        name = _definition(ref)
        if name is None:
            raise _unsupported(here, ref, "only references to #/$defs/<name> or #/definitions/<name> are inlined")
        if name not in self.definitions:
            raise SchemaError(here, f"= {_shown(ref)} names no definition at the schema's root", "invalid_value")
        if name in self.inlining:
            raise _unsupported(here, ref, "a recursive reference; Gemini's schema has no references to inline it by")
        extra = next((key for key in schema if key not in _BESIDE_REF and key != "$ref"), None)
        if extra is not None:
            raise _unsupported(_at(path, extra), schema[extra], "beside $ref only description, title and default")
        self.inlining.append(name)
        try:
            out = self.convert(self.definitions[name], ".".join(name), depth + 1)
        finally:
            self.inlining.pop()
        siblings: dict[str, Any] = {key: schema[key] for key in ("title", "description", "default") if key in schema}
        _copy_simple(siblings, path, out.get("type"), out)
        return out

    def _object(self, schema: dict[str, Any], path: str, depth: int, out: dict[str, Any]) -> None:
        properties = schema.get("properties")
        if not isinstance(properties, dict) or not properties:
            problem = "must list at least one property (Gemini's OBJECT needs properties; for any JSON object use "
            raise SchemaError(_at(path, "properties"), problem + "response_format json_object)")
        here = _at(path, "properties")
        out["properties"] = {
            name: self.convert(value, _at(here, name), depth + 1) for name, value in properties.items()
        }
        if len(properties) > 1:
            out["propertyOrdering"] = list(properties)  # Gemini orders keys alphabetically unless told
        _required(schema, path, properties, out)
        extra = schema.get("additionalProperties", False)
        if extra is not False:
            why = "Gemini writes only the listed properties; additionalProperties may only be false"
            raise _unsupported(_at(path, "additionalProperties"), extra, why)

    def _array(self, schema: dict[str, Any], path: str, depth: int, out: dict[str, Any]) -> None:
        items = schema.get("items")
        here = _at(path, "items")
        if items is None:
            raise SchemaError(here, "is required for an array (Gemini needs the items' schema)")
        if isinstance(items, list):
            raise _unsupported(here, items, "tuple items; give one schema for every item")
        out["items"] = self.convert(items, here, depth + 1)

    def _any_of(self, members: Any, path: str, depth: int, out: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(`out` with the anyOf members, whether one was null); a single member left is merged with `out`."""
        if not isinstance(members, list) or not members:
            raise SchemaError(path, "must be a non-empty list of schemas", "invalid_type")
        converted: list[dict[str, Any]] = []
        null_member = False
        for i, member in enumerate(members):
            if isinstance(member, dict) and member.get("type") == "null" and set(member) <= {"type", *_BESIDE_REF}:
                null_member = True
                continue
            converted.append(self.convert(member, f"{path}[{i}]", depth + 1))
        if not converted:
            raise _unsupported(path, members, "a schema that only allows null")
        if len(converted) == 1:
            return {**converted[0], **out}, null_member  # what the schema says itself wins
        return {**out, "anyOf": converted}, null_member


def _definition(ref: str) -> tuple[str, str] | None:
    """("$defs" or "definitions", name) of a reference to a root definition; None for any other reference."""
    for key in _DEFINITIONS:
        prefix = f"#/{key}/"
        if ref.startswith(prefix) and "/" not in ref[len(prefix) :]:
            return key, ref[len(prefix) :].replace("~1", "/").replace("~0", "~")  # JSON Pointer escapes
    return None


def _check_keywords(schema: dict[str, Any], path: str) -> None:
    """Every keyword is one Gemini can take (definitions only at the root)."""
    for key, value in schema.items():
        if key in _KNOWN or key in _DROPPED:
            continue
        if key in _DEFINITIONS:
            raise _unsupported(_at(path, key), value, "definitions are read at the root of the schema only")
        raise _unsupported(_at(path, key), value, f"its response schema has no {key!r}")


def _kind(schema: dict[str, Any], path: str) -> tuple[str | None, bool]:
    """(Gemini type, whether "null" was among the types). Without `type` it follows from the keywords; None
    when the schema is an anyOf."""
    declared = schema.get("type")
    nullable = False
    here = _at(path, "type")
    if isinstance(declared, list):
        nullable = "null" in declared
        named = [t for t in declared if t != "null"]
        if len(named) != 1:
            raise _unsupported(here, declared, "one type, or one type and 'null'; use anyOf for more")
        declared = named[0]
    if declared is None:
        kind = _implied_kind(schema)
        if kind is None and "anyOf" not in schema:
            raise SchemaError(here, "is required (Gemini needs every schema's type)", "missing_required_parameter")
    elif declared == "null":
        raise _unsupported(here, declared, "a schema that only allows null")
    elif isinstance(declared, str) and declared in TYPES:
        kind = TYPES[declared]
    else:
        raise SchemaError(here, f"= {_shown(declared)} must be one of {', '.join(TYPES)} or 'null'", "invalid_value")
    for key in schema:
        applies = _TYPED.get(key)
        if kind is not None and applies is not None and kind not in applies:
            raise _unsupported(_at(path, key), schema[key], f"it applies to {' / '.join(sorted(applies))} only")
    return kind, nullable


def _implied_kind(schema: dict[str, Any]) -> str | None:
    if "properties" in schema:
        return "OBJECT"
    if "items" in schema:
        return "ARRAY"
    if "enum" in schema or "const" in schema:
        return "STRING"
    return None


def _copy_simple(schema: dict[str, Any], path: str, kind: str | None, out: dict[str, Any]) -> None:
    """Texts, counts, bounds, `format` and `default`, each checked."""
    for key in _TEXTS:
        if key in schema:
            if not isinstance(schema[key], str):
                raise SchemaError(_at(path, key), "must be a string", "invalid_type")
            out[key] = schema[key]
    for key in _COUNTS:
        if key in schema:
            value = schema[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise SchemaError(_at(path, key), "must be a non-negative integer", "invalid_type")
            out[key] = value
    for key in _BOUNDS:
        if key in schema:
            value = schema[key]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise SchemaError(_at(path, key), "must be a number", "invalid_type")
            out[key] = value
    if "format" in schema:
        value = schema["format"]
        allowed = FORMATS.get(kind or "", frozenset())
        if value not in allowed:
            why = f"Gemini takes the formats {', '.join(sorted(allowed))} here" if allowed else "no format here"
            raise _unsupported(_at(path, "format"), value, why)
        out["format"] = value
    if "default" in schema:
        out["default"] = schema["default"]


def _enum(schema: dict[str, Any], path: str, out: dict[str, Any]) -> bool:
    """`enum` / `const` -> Gemini's string `enum`; whether null is among the values."""
    if "const" in schema:
        if "enum" in schema:
            raise _unsupported(_at(path, "const"), schema["const"], "give enum or const, not both")
        values = [schema["const"]]
        here = _at(path, "const")
    elif "enum" in schema:
        values = schema["enum"]
        here = _at(path, "enum")
        if not isinstance(values, list) or not values:
            raise SchemaError(here, "must be a non-empty list", "invalid_type")
    else:
        return False
    named = [value for value in values if value is not None]
    wrong = next((value for value in named if not isinstance(value, str)), None)
    if wrong is not None:
        raise _unsupported(here, wrong, "Gemini's enum values are strings")
    if not named:
        raise _unsupported(here, values, "a schema that only allows null")
    out["enum"] = named
    return len(named) != len(values)


def _required(schema: dict[str, Any], path: str, properties: dict[str, Any], out: dict[str, Any]) -> None:
    required = schema.get("required")
    if required is None:
        return
    here = _at(path, "required")
    if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
        raise SchemaError(here, "must be a list of property names", "invalid_type")
    missing = next((name for name in required if name not in properties), None)
    if missing is not None:
        raise SchemaError(here, f"names {missing!r}, which is not among the properties (Gemini refuses that)")
    out["required"] = list(required)
