"""Validate JSON instances against the OpenAI Files/Batch OpenAPI 3.1 schemas.

``assert_valid("Batch", obj)`` validates ``obj`` against ``#/components/schemas/Batch`` of
``tests/contract/spec/openai-files-batches.openapi.json`` (OpenAI's own, MIT: see the README beside it) with
``jsonschema.Draft202012Validator``; ``$ref``s resolve inside the spec document through a ``referencing``
registry.

Null handling (deliberate, documented relaxation). The spec types most optional fields without ``null``
(e.g. ``Batch.failed_at: integer``, ``Batch.errors: object``, ``OpenAIFile.expires_at: integer``), yet
the spec's own examples and the live API serialise them as ``null`` (wire reference 1.3 / 1.6: "absent/null
when no expiry", "int|null", "every ``*_at`` key explicitly null", "``errors: null``"). So, by default,
every property that is **not** in its object's ``required`` list also accepts ``null``. Required properties
stay non-nullable, except the few in ``KNOWN_NULLABLE_REQUIRED`` (``ListFilesResponse.first_id/last_id``,
null on an empty page). Pass ``strict_nulls=True`` to validate against the spec verbatim.

Schemas the spec file lacks but the wire reference defines are added under the same
``#/components/schemas`` (only when the spec has no schema of that name): ``ErrorResponse``,
``BatchRequestInput``, ``BatchRequestOutput`` (see ``SUPPLEMENTARY_SCHEMAS``).
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = [
    "KNOWN_NULLABLE_REQUIRED",
    "SUPPLEMENTARY_SCHEMAS",
    "assert_valid",
    "errors_for",
    "load_spec",
    "schema_names",
    "spec_path",
]

_SPEC_URI = "urn:batchbridge:openai-files-batches.openapi.json"

# (schema, property) pairs that the spec marks required and non-nullable but that the API sends as null.
KNOWN_NULLABLE_REQUIRED: frozenset[tuple[str, str]] = frozenset(
    {
        ("ListFilesResponse", "first_id"),  # null on an empty page
        ("ListFilesResponse", "last_id"),
    }
)

_NULL = {"type": "null"}
_BOTH = ["response", "error"]

# Wire reference 1.1 (error body) and 1.7 (batch file lines; from the older OAI spec's openapi.yaml).
SUPPLEMENTARY_SCHEMAS: dict[str, dict[str, Any]] = {
    "ErrorResponse": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"anyOf": [{"type": "string"}, _NULL]},
                    "code": {"anyOf": [{"type": "string"}, _NULL]},
                },
            },
        },
    },
    "BatchRequestInput": {
        "type": "object",
        "required": ["custom_id", "method", "url", "body"],
        "properties": {
            "custom_id": {"type": "string"},
            "method": {"type": "string", "enum": ["POST"]},
            "url": {"type": "string"},
            "body": {"type": "object"},
        },
    },
    "BatchRequestOutput": {
        "type": "object",
        "required": ["id", "custom_id", "response", "error"],
        "properties": {
            "id": {"type": "string"},
            "custom_id": {"type": "string"},
            "response": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["status_code", "request_id", "body"],
                        "properties": {
                            "status_code": {"type": "integer"},
                            "request_id": {"type": "string"},
                            "body": {"type": "object"},
                        },
                    },
                    _NULL,
                ],
            },
            "error": {
                "anyOf": [
                    {
                        "type": "object",
                        "required": ["code", "message"],
                        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                    },
                    _NULL,
                ],
            },
        },
        # exactly one of response / error is set (an HTTP failure is a response, not an error)
        "oneOf": [
            {"required": _BOTH, "properties": {"response": {"type": "object"}, "error": _NULL}},
            {"required": _BOTH, "properties": {"response": _NULL, "error": {"type": "object"}}},
        ],
    },
}


def spec_path() -> Path:
    """The spec, in the repository beside this module (test data: nothing outside the clone is read)."""
    return Path(__file__).resolve().parent / "spec" / "openai-files-batches.openapi.json"


@lru_cache(maxsize=1)
def load_spec() -> dict[str, Any]:
    """The spec document as published (plus the supplementary schemas), unmodified otherwise."""
    path = spec_path()
    if not path.is_file():
        raise FileNotFoundError(f"OpenAPI spec not found at {path}")
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in SUPPLEMENTARY_SCHEMAS.items():
        schemas.setdefault(name, copy.deepcopy(schema))
    return doc


def _allows_null(schema: Any) -> bool:
    if not isinstance(schema, dict):
        return False
    t = schema.get("type")
    if t == "null" or (isinstance(t, list) and "null" in t):
        return True
    return any(_allows_null(s) for s in schema.get("anyOf", []) + schema.get("oneOf", []))


def _nullable(schema: Any) -> Any:
    return schema if _allows_null(schema) else {"anyOf": [schema, _NULL]}


def _relax(node: Any) -> Any:
    """Copy of ``node`` where every non-required property of every object schema also accepts null."""
    if isinstance(node, list):
        return [_relax(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _relax(v) for k, v in node.items()}
    props = out.get("properties")
    if isinstance(props, dict) and all(isinstance(v, dict) for v in props.values()):
        required = set(out.get("required", []))
        out["properties"] = {k: (v if k in required else _nullable(v)) for k, v in props.items()}
    return out


@lru_cache(maxsize=2)
def _document(strict_nulls: bool) -> dict[str, Any]:
    doc = load_spec()
    if strict_nulls:
        return doc
    relaxed: dict[str, Any] = _relax(doc)
    schemas = relaxed["components"]["schemas"]
    for schema_name, prop in KNOWN_NULLABLE_REQUIRED:
        props = schemas.get(schema_name, {}).get("properties", {})
        if prop in props:
            props[prop] = _nullable(props[prop])
    return relaxed


@lru_cache(maxsize=256)
def _validator(schema_name: str, strict_nulls: bool) -> Draft202012Validator:
    doc = _document(strict_nulls)
    if schema_name not in doc["components"]["schemas"]:
        raise KeyError(f"no schema {schema_name!r} in {spec_path()}; known: {schema_names()}")
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, DRAFT202012.create_resource(doc))
    root = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(root, registry=registry)


def schema_names() -> list[str]:
    return sorted(load_spec()["components"]["schemas"])


def errors_for(schema_name: str, instance: Any, *, strict_nulls: bool = False) -> list[str]:
    """Human-readable validation errors (empty when valid)."""
    validator = _validator(schema_name, strict_nulls)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors]


def assert_valid(schema_name: str, instance: Any, *, strict_nulls: bool = False) -> None:
    """Raise ``AssertionError`` listing every violation unless ``instance`` matches ``schema_name``."""
    problems = errors_for(schema_name, instance, strict_nulls=strict_nulls)
    if problems:
        shown = json.dumps(instance, indent=1, default=str)
        if len(shown) > 2000:
            shown = shown[:2000] + "..."
        raise AssertionError(f"{schema_name} schema violations:\n  " + "\n  ".join(problems) + f"\n{shown}")
