"""What each Claude model takes, in one place: native structured outputs, thinking (how it is asked for, whether it
runs by default and how it is turned off), effort levels, sampling, prefill and output limits, and the JSON Schema
subset of Claude's structured outputs. Shared by the Anthropic translation and Claude on Bedrock.

Pure functions, standard library only.

Models, by the family and version in their name (``claude-3-5-sonnet-20240620`` is Sonnet 3.5,
``claude-sonnet-4-5-20250929`` and Bedrock's ``anthropic.claude-sonnet-4-5-20250929-v1:0`` are Sonnet 4.5,
``claude-opus-4-1`` is Opus 4.1, ``claude-opus-5`` Opus 5, ``claude-fable-5-1`` Fable 5.1; a trailing date is not a
version), as Anthropic's models overview, migration guides and thinking / effort pages and Amazon Bedrock's Claude
pages list them:

| Claude | structured | thinking | without `thinking` | sampling | prefill | output |
|---|---|---|---|---|---|---|
| 3 (and names without version) | tool | none: 400 | no thinking | any | yes | 4K |
| 3.5 | tool | none: 400 | no thinking | any | yes | 8K |
| 3.7, Sonnet 4 | tool | budget | no thinking | any | yes | 64K |
| Opus 4 | tool | budget | no thinking | any | yes | 32K |
| Opus 4.1 | tool | budget | no thinking | one (1) | yes | 32K |
| 4.5 (Haiku, Sonnet, Opus) | native | budget | no thinking | one | yes | 64K |
| 4.6 (Opus, Sonnet) | native | adaptive, A | no thinking | one (2) | no | 128K |
| 4.7, 4.8 | native | adaptive, B | no thinking | default | no | 128K |
| Opus 5, Sonnet 5, Haiku 5.5 | native | adaptive, B | thinks; off: `disabled` | default | no | 128K |
| Sonnet 5.5 | native | adaptive, B | thinks; off: `between_tools`, no forced tool | default | no | 128K |
| Opus 5.5 and later, Fable, Mythos 5 | native | adaptive, B | always thinks, no forced tool | default | no | 128K |
| `claude-mythos-preview` (3) | native | adaptive, A | always thinks, no forced tool | default | no | 128K |

Effort levels: A is low, medium, high, max; B is low, medium, high, xhigh, max.

- structured: native is ``output_config.format`` for json_schema; tool is the forced tool (``translate.structured``).
- thinking: budget is ``thinking: {type: enabled, budget_tokens}`` (THINKING_BUDGETS); adaptive is ``thinking:
  {type: adaptive}`` + ``output_config.effort`` (EFFORTS), at the levels the model has (``ClaudeModel.efforts``): a
  level it lacks is rounded down to the next level it has (``effort``: never more thinking, or cost, than asked).
- without `thinking`: whether the model thinks when the request says nothing. `reasoning_effort: "none"` leaves
  `thinking` out where the model does not think by default, sends the value that turns thinking off where it
  does (`disabled`, or `between_tools` on Sonnet 5.5, whose lowest setting it is), and is a 400 on a model that
  always thinks. A forced tool (response_format's, or `tool_choice` required / a function) runs only without
  thinking: on a model that thinks by default the off value is sent beside it, on the Anthropic API and Bedrock
  alike (Anthropic's Sonnet 5 guide); where thinking cannot be turned off, or forced tools are refused (Sonnet 5.5,
  Opus 5.5, Fable 5.1), a 400 naming `response_format` / `tool_choice`.
- sampling: "one" takes `temperature` or `top_p`, not both (a line with both is a 400 naming `top_p`);
  "default" refuses a non-default `temperature` / `top_p` / `top_k` (400 naming the field; the default 1
  passes and is left out, as OpenAI's reasoning models take only their default).
- prefill: whether a conversation may end with an assistant message (Claude 4.6 and later refuse it: 400 naming
  ``body.messages[n]``).
- output: the most output tokens (``max_output``): the max_tokens the gateway sets itself (a line without one that
  asks for thinking) stays within it.

Where the docs are silent the conservative choice is made, each noted: (1) Opus 4.1 takes one of temperature and
top_p (Anthropic's reply to a line with both; Bedrock's page names only the 4.5 models); (2) 4.6 is kept to one of
them, as 4.5 (documented as a near drop-in for 4.5); (3) Mythos Preview's levels are taken as 4.6's (no xhigh)
and it is taken to always think, as its successors; a model newer than the table (a version above 5.5) is taken to
be like Opus 5.5, the most restrictive.

Claude's structured outputs take a subset of JSON Schema ("JSON Schema limitations" in Anthropic's structured
outputs guide; a schema outside it is a 400 from Anthropic): no numeric constraints (`minimum`, `maximum`,
`exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`), no string lengths (`minLength`, `maxLength`), no array
constraints beyond `minItems` 0 or 1 (`maxItems`, `uniqueItems`, `contains`, ...), no object sizes
(`minProperties`, `maxProperties`), `additionalProperties` false only, no free-form objects (an object schema
without `properties` or `additionalProperties`, such as `{"type": "object"}`: closing it would allow only `{}`),
`format` one of CLAUDE_STRING_FORMATS, `enum` of strings, numbers, booleans and null only, `pattern` without
backreferences, lookaround or word boundaries, local `$ref`s only, and no recursion. An object with `properties`
and no `additionalProperties` is closed (`false` added, as Anthropic requires): every answer of the closed schema is
an answer of the given one (``native_schema``). A schema outside the subset is a 400 when strict (Claude's limit,
named in the message) and goes to the forced tool as guidance otherwise (the translations decide).
"""

from __future__ import annotations

import functools
import json
from typing import Any, Final, Literal, NamedTuple

from batchbridge.domain.translate.json_schema import SchemaProblem, is_object, ref_problem, resolve, walk

Thinking = Literal["none", "budget", "adaptive"]
# Without a `thinking` field: no thinking / thinking that can be turned off / thinking always.
ThinkingDefault = Literal["off", "on", "always"]
Sampling = Literal["any", "one", "default"]  # both / temperature or top_p / only their default values

LOW_MEDIUM_HIGH_MAX: Final = ("low", "medium", "high", "max")
ALL_EFFORTS: Final = ("low", "medium", "high", "xhigh", "max")


class ClaudeModel(NamedTuple):
    """What a Claude model takes (module docstring)."""

    structured_outputs: bool
    thinking: Thinking
    thinking_default: ThinkingDefault = "off"
    thinking_off: str | None = None  # the `thinking` type that turns default thinking off ("on" models)
    forced_tool: bool = True  # whether tool_choice any / tool is taken at all
    sampling: Sampling = "any"
    prefill: bool = True
    efforts: tuple[str, ...] = ()  # output_config.effort levels (adaptive thinking), least to most
    max_output: int = 4096


STRUCTURED_OUTPUTS_SINCE: Final = (4, 5)
ADAPTIVE_THINKING_SINCE: Final = (4, 6)
BUDGET_THINKING_SINCE: Final = (3, 7)
NEWEST_KNOWN: Final = (5, 5)

_ALWAYS_THINKS: Final = ClaudeModel(True, "adaptive", "always", None, False, "default", False, ALL_EFFORTS, 128_000)
ADAPTIVE_4_6: Final = ClaudeModel(
    True, "adaptive", sampling="one", prefill=False, efforts=LOW_MEDIUM_HIGH_MAX, max_output=128_000
)
# Models whose name carries no version, and families whose every version takes the same.
NAMED_MODELS: Final[dict[str, ClaudeModel]] = {
    "claude-mythos-preview": _ALWAYS_THINKS._replace(efforts=LOW_MEDIUM_HIGH_MAX),
}
ALWAYS_THINKING_FAMILIES: Final = frozenset({"fable", "mythos"})
FAMILIES: Final = frozenset({"opus", "sonnet", "haiku", "fable", "mythos", "instant"})

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
# reasoning_effort -> output_config.effort (adaptive thinking); Claude has no "minimal". A level the model lacks is
# rounded down (``effort``).
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
    family = _family(name)
    if family in ALWAYS_THINKING_FAMILIES or (version is not None and version > NEWEST_KNOWN):
        return _ALWAYS_THINKS
    if version is None or version < BUDGET_THINKING_SINCE:
        return ClaudeModel(False, "none", max_output=8192 if version is not None and version >= (3, 5) else 4096)
    if version < ADAPTIVE_THINKING_SINCE:
        return _budget_model(version, family)
    return _adaptive_model(version, family)


def _budget_model(version: tuple[int, int], family: str | None) -> ClaudeModel:
    """3.7 to 4.5: manual thinking with a budget, off by default."""
    opus_4 = family == "opus" and version < (4, 5)
    sampling: Sampling = "one" if version >= (4, 1) else "any"
    return ClaudeModel(
        version >= STRUCTURED_OUTPUTS_SINCE, "budget", sampling=sampling, max_output=32_000 if opus_4 else 64_000
    )


def _adaptive_model(version: tuple[int, int], family: str | None) -> ClaudeModel:
    """4.6 to 5.5: adaptive thinking and effort; no prefill."""
    if version < (4, 7):
        return ADAPTIVE_4_6
    if version < (5, 0):
        return ADAPTIVE_4_6._replace(sampling="default", efforts=ALL_EFFORTS)
    if version >= (5, 5) and family == "sonnet":
        return _ALWAYS_THINKS._replace(thinking_default="on", thinking_off="between_tools")
    if version >= (5, 5) and family != "haiku":
        return _ALWAYS_THINKS
    return _ALWAYS_THINKS._replace(thinking_default="on", thinking_off="disabled", forced_tool=True)


def effort(capabilities: ClaudeModel, reasoning_effort: str) -> str:
    """The output_config.effort for ``reasoning_effort`` (not "none"): the level, or the next lower one the model
    has (rounding down asks for no more thinking, nor cost, than the line did)."""
    wanted = ALL_EFFORTS.index(EFFORTS[reasoning_effort])
    levels = capabilities.efforts or ALL_EFFORTS
    return next((level for level in reversed(levels) if ALL_EFFORTS.index(level) <= wanted), levels[0])


def _family(name: str) -> str | None:
    """The model family (opus, sonnet, haiku, fable, mythos) named in ``claude-...``."""
    return next((token for token in name.split("-") if token in FAMILIES), None)


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
        problem = (
            _node_problem(node.schema, node.path)
            or _free_form_problem(node.schema, node.path, node.in_all_of)
            or ref_problem(schema, node.schema, node.path)
        )
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


def _free_form_problem(node: dict[str, Any], path: str, in_all_of: bool) -> SchemaProblem | None:
    """An object schema that names no properties and says nothing of others: any object, which Claude's structured
    outputs cannot express (they take closed objects only, and closing this one would allow only ``{}``). In an
    ``allOf`` branch its siblings may name the properties."""
    if in_all_of or not is_object(node) or "properties" in node or "additionalProperties" in node:
        return None
    return SchemaProblem(
        path or ".type",
        "is a free-form object (no properties), which Claude's structured outputs do not take (closed objects only)",
    )


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
    """``schema`` with ``additionalProperties: false`` on every object with ``properties`` that sets none (outside
    ``allOf``, whose branches would then exclude each other's properties): what Anthropic requires; a copy, the
    line is left as it was. The schema itself when nothing needs closing. A free-form object (no properties) is
    never closed: ``schema_problem`` keeps such a schema off the native path."""
    if all(not (isinstance(node.schema, dict) and _closable(node.schema)) or node.in_all_of for node in walk(schema)):
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
    if _closable(out) and not in_all_of:
        out["additionalProperties"] = False
    return out


def _closable(schema: dict[str, Any]) -> bool:
    """An object schema with properties and no word on others: closing it keeps every answer it allows."""
    return "properties" in schema and "additionalProperties" not in schema
