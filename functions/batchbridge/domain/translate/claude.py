"""What each Claude model takes, in one place: native structured outputs, extended thinking and its budgets, and
the JSON Schema subset of Claude's structured outputs. Shared by the Anthropic translation and Claude on Bedrock.

Pure functions, standard library only.

Models, by the version in their name (``claude-3-5-sonnet-20240620`` is 3.5, ``claude-sonnet-4-5-20250929`` and
Bedrock's ``anthropic.claude-sonnet-4-5-20250929-v1:0`` are 4.5, ``claude-opus-4-1`` is 4.1, ``claude-opus-5`` is
5.0; a trailing date is not a version), as Anthropic's and Amazon Bedrock's docs list them:

| Claude version                        | structured outputs        | extended thinking (`reasoning_effort`)      |
|---------------------------------------|---------------------------|---------------------------------------------|
| 3, 3.5 (and names without a version)  | no: a forced tool         | none: 400                                   |
| 3.7, 4, 4.1                           | no: a forced tool         | `thinking: {type: enabled, budget_tokens}`  |
| 4.5 (Haiku, Sonnet, Opus)             | `output_config.format`    | `thinking: {type: enabled, budget_tokens}`  |
| 4.6 and later, `claude-mythos-preview`| `output_config.format`    | `thinking: {type: adaptive}` + effort       |

``reasoning_effort`` -> thinking budget (manual thinking) / effort (adaptive thinking): THINKING_BUDGETS / EFFORTS;
``none`` asks for no thinking, which is every Claude model's default when `thinking` is left out.

Claude's structured outputs take a subset of JSON Schema ("JSON Schema limitations" in Anthropic's structured
outputs guide; a schema outside it is a 400 from Anthropic, so it is one at upload): no numeric constraints
(`minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`), no string lengths (`minLength`,
`maxLength`), no array constraints beyond `minItems` 0 or 1 (`maxItems`, `uniqueItems`, `contains`, ...), no object
sizes (`minProperties`, `maxProperties`), `additionalProperties` false only, `format` one of CLAUDE_STRING_FORMATS,
`enum` of strings, numbers, booleans and null only, `pattern` without backreferences, lookaround or word boundaries,
local `$ref`s only, and no recursion. An object without `additionalProperties` is closed (`false` added, as
Anthropic requires): every answer of the closed schema is an answer of the given one (``native_schema``).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Final, Literal, NamedTuple

from batchbridge.domain.translate.json_schema import SchemaProblem, is_object, ref_problem, resolve, walk

Thinking = Literal["none", "budget", "adaptive"]


class ClaudeModel(NamedTuple):
    """What a Claude model takes: native structured outputs, and which kind of extended thinking."""

    structured_outputs: bool
    thinking: Thinking


STRUCTURED_OUTPUTS_SINCE: Final = (4, 5)
ADAPTIVE_THINKING_SINCE: Final = (4, 6)
BUDGET_THINKING_SINCE: Final = (3, 7)
# Models whose name carries no version.
NAMED_MODELS: Final[dict[str, ClaudeModel]] = {"claude-mythos-preview": ClaudeModel(True, "adaptive")}

MIN_THINKING_BUDGET: Final = 1024  # Anthropic's minimum budget_tokens; the budget must also be below max_tokens
# reasoning_effort -> budget_tokens (manual thinking), and the room added to the default max_tokens when a line
# names no max_completion_tokens (thinking counts toward max_tokens, as reasoning counts toward OpenAI's).
THINKING_BUDGETS: Final[dict[str, int]] = {
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 32768,
}
# reasoning_effort -> output_config.effort (adaptive thinking); Claude has no "minimal".
EFFORTS: Final[dict[str, str]] = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
    "max": "max",
}

CLAUDE_STRING_FORMATS: Final = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
CLAUDE_UNSUPPORTED: Final = (
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "maxItems",
    "uniqueItems",
    "contains",
    "minContains",
    "maxContains",
    "minProperties",
    "maxProperties",
)


@functools.lru_cache(maxsize=64)  # asked for every line of a file that names one model
def model(name: str) -> ClaudeModel:
    """What the Claude model ``name`` (``claude-...``, Bedrock's ``anthropic.`` prefix removed) takes."""
    named = NAMED_MODELS.get(name)
    if named is not None:
        return named
    version = _version(name)
    if version is None or version < BUDGET_THINKING_SINCE:
        return ClaudeModel(False, "none")
    thinking: Thinking = "adaptive" if version >= ADAPTIVE_THINKING_SINCE else "budget"
    return ClaudeModel(version >= STRUCTURED_OUTPUTS_SINCE, thinking)


def _version(name: str) -> tuple[int, int] | None:
    """(major, minor) from the first run of number tokens after ``claude-``; an 8-digit date is not one."""
    if not name.startswith("claude-"):
        return None
    numbers: list[int] = []
    for token in name[len("claude-") :].split("-"):
        if token.isdigit() and len(token) < 8 and len(numbers) < 2:
            numbers.append(int(token))
        elif numbers:
            break
    if not numbers:
        return None
    return numbers[0], numbers[1] if len(numbers) > 1 else 0


# --------------------------------------------------------------------------------------------------------------
# The JSON Schema subset of Claude's structured outputs


def schema_problem(schema: dict[str, Any]) -> SchemaProblem | None:
    """The first thing in ``schema`` Claude's structured outputs do not take (module docstring), or None."""
    return _schema_problem(json.dumps(schema))  # the same schema on every line of a file: checked once


@functools.lru_cache(maxsize=64)
def _schema_problem(text: str) -> SchemaProblem | None:
    schema = json.loads(text)
    for node in walk(schema):
        if not isinstance(node.schema, dict):
            continue
        problem = _node_problem(node.schema, node.path) or ref_problem(schema, node.schema, node.path)
        if problem is not None:
            return problem
    return _recursion(_refs_by_target(schema), "#", {})


def _node_problem(node: dict[str, Any], path: str) -> SchemaProblem | None:
    for key in CLAUDE_UNSUPPORTED:
        if key in node:
            return SchemaProblem(f"{path}.{key}", f"'{key}' is not supported by Claude's structured outputs")
    min_items = node.get("minItems")
    if min_items is not None and min_items not in (0, 1):
        return SchemaProblem(f"{path}.minItems", "may only be 0 or 1 in Claude's structured outputs")
    if "additionalProperties" in node and node["additionalProperties"] is not False:
        return SchemaProblem(f"{path}.additionalProperties", "must be false in Claude's structured outputs")
    fmt = node.get("format")
    if fmt is not None and fmt not in CLAUDE_STRING_FORMATS:
        return SchemaProblem(
            f"{path}.format",
            f"= {json.dumps(fmt)} is not supported by Claude's structured outputs "
            f"({', '.join(sorted(CLAUDE_STRING_FORMATS))})",
        )
    enum = node.get("enum")
    if isinstance(enum, list) and any(isinstance(value, dict | list) for value in enum):
        return SchemaProblem(f"{path}.enum", "may hold only strings, numbers, booleans and null for Claude")
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        feature = _regex_feature(pattern)
        if feature is not None:
            return SchemaProblem(f"{path}.pattern", f"uses {feature}, which Claude's structured outputs do not take")
    return None


def _regex_feature(pattern: str) -> str | None:
    """The regex feature Claude's structured outputs do not take: backreferences, lookaround, word boundaries."""
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            escaped = pattern[i + 1]
            if escaped in "bB":
                return "a word boundary"
            if escaped in "123456789k":
                return "a backreference"
            i += 2
            continue
        if pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            return "lookaround"
        i += 1
    return None


def _recursion(refs: dict[str, list[tuple[str, str]]], target: str, state: dict[str, bool]) -> SchemaProblem | None:
    """A ``$ref`` reachable from ``target`` that leads back into a schema it is part of (Claude's structured
    outputs take no recursive schemas). ``state``: True while a target is being visited, False once done."""
    state[target] = True
    for ref, path in refs.get(target, []):
        if state.get(ref) is True:
            return SchemaProblem(
                f"{path}.$ref", "makes the schema recursive, which Claude's structured outputs do not take"
            )
        if ref not in state:
            problem = _recursion(refs, ref, state)
            if problem is not None:
                return problem
    state[target] = False
    return None


def _refs_by_target(schema: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """For the root (``#``, its definitions left out) and each definition a ``$ref`` names: the (target, path) of
    each ``$ref`` inside it."""
    refs: dict[str, list[tuple[str, str]]] = {}
    pending = ["#"]
    while pending:
        target = pending.pop()
        if target in refs:
            continue
        found: list[tuple[str, str]] = []
        subschema = resolve(schema, target)
        if target == "#":
            subschema = {k: v for k, v in schema.items() if k not in ("$defs", "definitions")}
        for node in walk(subschema, target[1:].replace("/", ".")):  # "#/$defs/x" is at ".$defs.x"
            ref = node.schema.get("$ref") if isinstance(node.schema, dict) else None
            if isinstance(ref, str) and resolve(schema, ref) is not None:
                found.append((ref, node.path))
                pending.append(ref)
        refs[target] = found
    return refs


def native_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with ``additionalProperties: false`` on every object that sets none (outside ``allOf``, whose
    branches would then exclude each other's properties): what Anthropic requires; a copy, the line is left as
    it was. The schema itself when nothing needs closing."""
    if all(
        not (isinstance(node.schema, dict) and is_object(node.schema) and "additionalProperties" not in node.schema)
        or node.in_all_of
        for node in walk(schema)
    ):
        return schema
    closed: dict[str, Any] = _closed(schema, in_all_of=False)
    return closed


def _closed(schema: Any, *, in_all_of: bool) -> Any:
    if isinstance(schema, list):
        return [_closed(item, in_all_of=in_all_of) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas") and isinstance(
            value, dict
        ):
            out[key] = {name: _closed(item, in_all_of=in_all_of) for name, item in value.items()}
        elif key in ("enum", "const", "default", "examples", "required"):
            out[key] = value  # data, not schemas
        else:
            out[key] = _closed(value, in_all_of=in_all_of or key == "allOf")
    if is_object(out) and "additionalProperties" not in out and not in_all_of:
        out["additionalProperties"] = False
    return out
