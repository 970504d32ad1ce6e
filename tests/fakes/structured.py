"""What the fakes answer to a JSON schema (a structured-output format or a forced tool's input schema): a value of
the schema, deterministic, whose strings carry the request's text. Covers what response_format schemas use (types,
properties, items, enum, const, anyOf, local $ref); a schema it cannot follow gets the simplest value of its type."""

from __future__ import annotations

from typing import Any

_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "duration": "P1D",
    "email": "echo@example.com",
    "hostname": "example.com",
    "uri": "https://example.com/",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


def instance_of(schema: Any, text: str, root: Any = None, depth: int = 0) -> Any:
    """A value of ``schema`` (``root``: the document its ``$ref``s point into)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > 12:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        return instance_of(_resolve(root, ref), text, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return instance_of(schema[key][0], text, root, depth + 1)
    return _typed(schema, _type(schema), text, root, depth)


def _type(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        return next((k for k in kind if k != "null"), "null")
    return "object" if kind is None and "properties" in schema else kind


def _typed(schema: dict[str, Any], kind: Any, text: str, root: Any, depth: int) -> Any:
    if kind == "object":
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties:
            return {name: instance_of(sub, text, root, depth + 1) for name, sub in properties.items()}
        return {} if schema.get("additionalProperties") is False else {"echo": text}
    if kind == "array":
        return (
            [instance_of(schema.get("items"), text, root, depth + 1)] if isinstance(schema.get("items"), dict) else []
        )
    if kind == "string":
        return _FORMATS.get(str(schema.get("format")), text)
    if kind == "integer":
        return max(1, len(text.split()))
    if kind == "number":
        return float(max(1, len(text.split())))
    if kind == "boolean":
        return True
    return None


def _resolve(root: Any, ref: str) -> Any:
    node = root
    for token in ref[2:].split("/") if ref.startswith("#/") else []:
        node = node.get(token.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
    return node


def open_object_nodes(schema: Any, path: str = "") -> list[str]:
    """Where ``schema`` has an object that does not set ``additionalProperties: false`` (Anthropic's structured
    outputs refuse such a schema)."""
    if isinstance(schema, list):
        return [p for i, item in enumerate(schema) for p in open_object_nodes(item, f"{path}[{i}]")]
    if not isinstance(schema, dict):
        return []
    found = []
    if (schema.get("type") == "object" or "properties" in schema) and schema.get("additionalProperties") is not False:
        found.append(path or "schema")
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
            found += [p for name, item in value.items() for p in open_object_nodes(item, f"{path}.{key}.{name}")]
        elif key in ("items", "anyOf", "additionalProperties"):
            found += open_object_nodes(value, f"{path}.{key}")
    return found
