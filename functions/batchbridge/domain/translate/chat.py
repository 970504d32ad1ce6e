"""Reading an OpenAI chat.completions request body: the checks every provider translation shares.

Pure functions, standard library only. Each provider module decides what a field becomes; this module only
checks what any chat body must be (known fields, types, ranges) and names the line's custom_id and the field in
every 400. Texts that differ per provider (the provider's name, why a field is rejected) are passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any, Final, NamedTuple, NoReturn, TypeVar

from batchbridge.domain.errors import bad_request
from batchbridge.domain.translate import json_schema

T = TypeVar("T")

MAX_STOP_SEQUENCES: Final = 4

# Fields of a chat body the translations know; anything else is rejected by name.
FIELDS: Final = frozenset(
    {
        "model",
        "messages",
        "max_completion_tokens",
        "max_tokens",
        "stop",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        # checked, then dropped or rejected
        "seed",
        "n",
        "stream",
        "stream_options",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "service_tier",
        "store",
        "metadata",
        "audio",
        "modalities",
        "prediction",
        "functions",
        "function_call",
        "logit_bias",
        "reasoning_effort",
    }
)

# OpenAI's reasoning_effort values, least to most.
REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")

MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


class ChatBody:
    """A chat body being translated for one provider: every error names the custom_id."""

    def __init__(self, body: dict[str, Any], custom_id: str, provider: str) -> None:
        self.body = body
        self.custom_id = custom_id
        self.provider = provider
        self.get: Callable[[str], Any] = body.get  # the body's own lookup: called for every field of every line

    def fail(self, param: str, problem: str, code: str = "invalid_value") -> NoReturn:
        raise bad_request(f"custom_id {self.custom_id!r}: {param} {problem}", param=param, code=code)

    def unsupported(self, param: str, value: Any, why: str, code: str = "unsupported_value") -> NoReturn:
        raise bad_request(
            f"custom_id {self.custom_id!r}: {param} = {json.dumps(value)} is not supported by {self.provider} ({why})",
            param=param,
            code=code,
        )


class Reasons(NamedTuple):
    """Why a provider rejects each field `check_dropped_and_rejected` checks (shown in the 400 message)."""

    logprobs: str
    penalties: str
    response_format: str
    audio: str
    prediction: str
    modalities: str
    logit_bias: str
    # a provider that translates reasoning_effort leaves it out of the check (as any translated field)
    reasoning_effort: str = "reasoning effort is not translated for this provider"


def check_fields(b: ChatBody) -> None:
    """Every top-level field is one of FIELDS."""
    if FIELDS.issuperset(b.body):
        return
    for key in b.body:
        if key not in FIELDS:
            b.fail(f"body.{key}", "is not a known chat.completions parameter", "unknown_parameter")


def model(b: ChatBody) -> str:
    """`model`, required and a non-empty string."""
    return _required(b, "model", str, "a non-empty string")


_CHECKED_FIELDS: Final = frozenset(
    {
        "n",
        "stream",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "audio",
        "prediction",
        "functions",
        "function_call",
        "modalities",
        "logit_bias",
        "reasoning_effort",
    }
)


def check_dropped_and_rejected(b: ChatBody, why: Reasons) -> None:
    """n, stream, logprobs, top_logprobs, penalties, response_format, audio, prediction, functions, function_call,
    modalities and logit_bias: their defaults pass (and are dropped), anything else is a 400; so is any
    reasoning_effort (``Reasons.reasoning_effort`` says why)."""
    if b.body.keys().isdisjoint(_CHECKED_FIELDS):  # the usual line names none of them
        return
    _check_n(b)
    _check_stream_and_logprobs(b, why)
    _check_penalties(b, why)
    _check_response_format(b, why)
    _check_unsupported_parameters(b, why)
    _check_modalities(b, why)
    _check_logit_bias(b, why)
    if b.get("reasoning_effort") is not None:
        b.unsupported("body.reasoning_effort", b.get("reasoning_effort"), why.reasoning_effort, "unsupported_parameter")


def _check_n(b: ChatBody) -> None:
    """`n`: one choice only."""
    n = b.get("n")
    if n is None:
        return
    if not is_int(n) or n < 1:
        b.fail("body.n", "must be a positive integer", "invalid_type")
    if n > 1:
        b.unsupported("body.n", n, "one choice per request")


def _check_stream_and_logprobs(b: ChatBody, why: Reasons) -> None:
    """`stream` and `logprobs` absent or false, `top_logprobs` absent."""
    if b.get("stream") is not None and b.get("stream") is not False:
        b.unsupported("body.stream", b.get("stream"), "batch requests never stream")
    if b.get("logprobs") is not None and b.get("logprobs") is not False:
        b.unsupported("body.logprobs", b.get("logprobs"), why.logprobs)
    if b.get("top_logprobs") is not None:
        b.unsupported("body.top_logprobs", b.get("top_logprobs"), why.logprobs, "unsupported_parameter")


def _check_penalties(b: ChatBody, why: Reasons) -> None:
    """`presence_penalty` and `frequency_penalty`: numbers, zero."""
    for penalty in ("presence_penalty", "frequency_penalty"):
        value = b.get(penalty)
        if value is None:
            continue
        if not is_number(value):
            b.fail(f"body.{penalty}", "must be a number", "invalid_type")
        if value != 0:
            b.unsupported(f"body.{penalty}", value, why.penalties)


def _check_response_format(b: ChatBody, why: Reasons) -> None:
    """`response_format`: of type text."""
    response_format = b.get("response_format")
    if response_format is None:
        return
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind != "text":
        b.unsupported("body.response_format", response_format, why.response_format)


def _check_unsupported_parameters(b: ChatBody, why: Reasons) -> None:
    """`audio`, `prediction`, and the deprecated `functions` and `function_call`: absent."""
    for key, reason in (
        ("audio", why.audio),
        ("prediction", why.prediction),
        ("functions", "deprecated; use tools"),
        ("function_call", "deprecated; use tool_choice"),
    ):
        if b.get(key) is not None:
            b.unsupported(f"body.{key}", b.get(key), reason, "unsupported_parameter")


def _check_modalities(b: ChatBody, why: Reasons) -> None:
    """`modalities`: a list of "text" only."""
    modalities = b.get("modalities")
    if modalities is None:
        return
    if not isinstance(modalities, list):
        b.fail("body.modalities", "must be a list", "invalid_type")
    if any(m != "text" for m in modalities):
        b.unsupported("body.modalities", modalities, why.modalities)


def _check_logit_bias(b: ChatBody, why: Reasons) -> None:
    """`logit_bias`: an empty object."""
    logit_bias = b.get("logit_bias")
    if logit_bias is None:
        return
    if not isinstance(logit_bias, dict):
        b.fail("body.logit_bias", "must be an object", "invalid_type")
    if logit_bias:
        b.unsupported("body.logit_bias", logit_bias, why.logit_bias, "unsupported_parameter")


def max_tokens(b: ChatBody) -> int | None:
    """`max_completion_tokens` ?? `max_tokens`, each checked; None when both are absent."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = b.get(key)
        if value is None:
            continue
        if not is_int(value):
            b.fail(f"body.{key}", "must be an integer", "invalid_type")
        if value < 1:
            b.fail(f"body.{key}", f"= {value} must be at least 1")
        result: int = value
        return result
    return None


def stop(b: ChatBody, maximum: int = MAX_STOP_SEQUENCES) -> list[str]:
    """`stop` (a string or at most `maximum` strings; OpenAI's limit by default) -> the sequences; [] when absent."""
    value = b.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        b.fail("body.stop", "must be a string or a list of strings", "invalid_type")
    if len(value) > maximum:
        b.fail("body.stop", f"has {len(value)} sequences; at most {maximum} are allowed")
    return list(value)


def number(b: ChatBody, key: str, low: float, high: float) -> float | int | None:
    """An optional number in low..high; None when absent."""
    value = b.get(key)
    if value is None:
        return None
    if not is_number(value):
        b.fail(f"body.{key}", "must be a number", "invalid_type")
    if not low <= value <= high:
        b.fail(f"body.{key}", f"= {value} must be between {low:g} and {high:g}")
    result: float | int = value
    return result


def parallel_tool_calls(b: ChatBody) -> bool | None:
    return _optional(b, b.body, "parallel_tool_calls", "body.parallel_tool_calls", bool, "a boolean")


def user(b: ChatBody) -> str | None:
    return _optional(b, b.body, "user", "body.user", str, "a string")


def reasoning_effort(b: ChatBody) -> str | None:
    """`reasoning_effort`: one of REASONING_EFFORTS; None when absent."""
    value = b.get("reasoning_effort")
    if value is not None and value not in REASONING_EFFORTS:
        b.fail("body.reasoning_effort", f"= {json.dumps(value)} must be one of {', '.join(REASONING_EFFORTS)}")
    return value  # type: ignore[no-any-return]


class ResponseFormat(NamedTuple):
    """A checked `response_format`: kind "text", "json_object" or "json_schema"; for json_schema its name,
    description, schema (an object) and whether strict."""

    kind: str
    name: str = ""
    description: str | None = None
    schema: dict[str, Any] | None = None
    strict: bool = False


_SCHEMA_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def response_format(b: ChatBody) -> ResponseFormat | None:
    """`response_format`: {"type": "text" | "json_object"} or {"type": "json_schema", "json_schema": {name,
    description?, schema?, strict?}}, each part checked as OpenAI does; None when absent. A json_schema without
    `schema` (OpenAI makes it optional) is read as json_object, keeping its name and description."""
    value = b.get("response_format")
    if value is None:
        return None
    if not isinstance(value, dict):
        b.fail("body.response_format", "must be an object", "invalid_type")
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind)
    if kind != "json_schema":
        b.fail("body.response_format.type", f"= {json.dumps(kind)} must be 'text', 'json_object' or 'json_schema'")
    spec = value.get("json_schema")
    where = "body.response_format.json_schema"
    if not isinstance(spec, dict):
        b.fail(where, "is required and must be an object", "missing_required_parameter")
    name = spec.get("name")
    if not isinstance(name, str) or not _SCHEMA_NAME.fullmatch(name):
        b.fail(f"{where}.name", "is required: 1 to 64 letters, digits, underscores or dashes", "invalid_value")
    description = _optional(b, spec, "description", f"{where}.description", str, "a string")
    schema = spec.get("schema")
    strict = _optional(b, spec, "strict", f"{where}.strict", bool, "a boolean")
    if schema is None:  # optional in OpenAI's API: any JSON object, as json_object (named and described)
        return ResponseFormat("json_object", name, description)
    if not isinstance(schema, dict):
        b.fail(f"{where}.schema", "must be a JSON schema object", "invalid_type")
    return ResponseFormat("json_schema", name, description, schema, bool(strict))


SCHEMA_PARAM: Final = "body.response_format.json_schema.schema"


def check_strict_schema(b: ChatBody, schema: dict[str, Any]) -> None:
    """A 400 naming where ``schema`` breaks OpenAI's strict-mode rules (``json_schema.strict_problem``): OpenAI
    refuses such a line, whichever provider would run it."""
    problem = json_schema.strict_problem(schema)
    if problem is not None:
        b.fail(f"{SCHEMA_PARAM}{problem.path}", f"{problem.problem} (json_schema.strict is true)", "invalid_schema")


def messages(b: ChatBody) -> list[Any]:
    """`messages`, required and a non-empty list (each message is checked by `message_role`)."""
    return _required(b, "messages", list, "a non-empty list")


def message_role(b: ChatBody, message: Any, where: str, rejected: Mapping[str, str], roles: str) -> str:
    """A message's role, once the message is an object with a known role and only that role's fields.

    `rejected` maps roles the provider does not translate to why (400 unsupported_value); `roles` lists the
    accepted ones for the error message.
    """
    if not isinstance(message, dict):
        b.fail(where, "must be an object", "invalid_type")
    role = message.get("role")
    if isinstance(role, str) and role in rejected:
        b.unsupported(f"{where}.role", role, rejected[role])
    if not isinstance(role, str) or role not in MESSAGE_KEYS:
        b.fail(f"{where}.role", f"= {json.dumps(role)} must be {roles}")
    known = MESSAGE_KEYS[role]
    if not known.issuperset(message):
        key = next(key for key in message if key not in known)
        b.fail(f"{where}.{key}", f"is not a known field of a {role} message", "unknown_parameter")
    return role


def part_text(b: ChatBody, part: dict[str, Any], where: str, kind: str = "text") -> str:
    """The string a text (or refusal) content part carries under its `kind` key."""
    value = part.get(kind)
    if not isinstance(value, str):
        b.fail(f"{where}.{kind}", "is required and must be a string", "missing_required_parameter")
    return value


def check_assistant_extras(b: ChatBody, message: dict[str, Any], where: str, no_audio: str) -> None:
    """An assistant message's `audio` and `function_call` are rejected."""
    for key, why in (("audio", no_audio), ("function_call", "deprecated; use tool_calls")):
        if message.get(key) is not None:
            b.unsupported(f"{where}.{key}", message[key], why, "unsupported_parameter")


def refusal(b: ChatBody, message: dict[str, Any], where: str) -> str | None:
    """An assistant message's `refusal` field: what the assistant said, so the provider sees it as text."""
    return _optional(b, message, "refusal", f"{where}.refusal", str, "a string")


class Tool(NamedTuple):
    """A checked function tool: its name, and its description and parameters when given."""

    name: str
    description: str | None
    parameters: dict[str, Any] | None


def tools(b: ChatBody) -> list[Tool]:
    """`tools`: a list of function tools (name required; description a string; parameters an object; strict
    absent or false); [] when absent."""
    value = b.get("tools")
    if value is None:
        return []
    if not isinstance(value, list):
        b.fail("body.tools", "must be a list", "invalid_type")
    out: list[Tool] = []
    for i, tool in enumerate(value):
        where = f"body.tools[{i}]"
        if not isinstance(tool, dict):
            b.fail(where, "must be an object", "invalid_type")
        if tool.get("type") != "function":
            b.unsupported(f"{where}.type", tool.get("type"), "only function tools translate")
        function, name = _function(b, tool, where)
        description = function.get("description")
        if description is not None and not isinstance(description, str):
            b.fail(f"{where}.function.description", "must be a string", "invalid_type")
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            b.fail(f"{where}.function.parameters", "must be a JSON schema object", "invalid_type")
        strict = function.get("strict")
        if strict is not None and strict is not False:
            b.unsupported(f"{where}.function.strict", strict, "tool arguments are not guaranteed to match the schema")
        out.append(Tool(name, description, parameters))
    return out


class ToolChoice(NamedTuple):
    """A checked `tool_choice`: kind "auto", "required", "none" or "function" (then `name` is the function's)."""

    kind: str
    name: str | None = None


def tool_choice(b: ChatBody) -> ToolChoice | None:
    """`tool_choice`: 'auto', 'required', 'none' or one named function; None when absent."""
    choice = b.get("tool_choice")
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice not in ("auto", "required", "none"):
            b.fail("body.tool_choice", f"= {json.dumps(choice)} must be 'auto', 'required', 'none' or a function")
        return ToolChoice(choice)
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            b.fail("body.tool_choice.function.name", "is required", "missing_required_parameter")
        return ToolChoice("function", name)
    b.unsupported("body.tool_choice", choice, "only 'auto', 'required', 'none' or one named function translate")


class ToolCall(NamedTuple):
    """A checked assistant tool call: its id, the function's name and the parsed arguments object."""

    id: str
    name: str
    arguments: dict[str, Any]


def tool_call(b: ChatBody, call: Any, where: str, why_object: str) -> ToolCall:
    """An assistant `tool_calls[k]`: a function call with an id, a name and JSON-object arguments (an empty
    string means no arguments). `why_object` says why the arguments must be an object."""
    if not isinstance(call, dict):
        b.fail(where, "must be an object", "invalid_type")
    if call.get("type", "function") != "function":
        b.unsupported(f"{where}.type", call.get("type"), "only function tool calls translate")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        b.fail(f"{where}.id", "is required and must be a string", "missing_required_parameter")
    function, name = _function(b, call, where)
    arguments = function.get("arguments")
    if not isinstance(arguments, str):
        b.fail(f"{where}.function.arguments", "is required and must be a JSON string", "missing_required_parameter")
    if arguments.strip():
        try:
            parsed = json.loads(arguments)
        except json.JSONDecodeError as exc:
            b.fail(f"{where}.function.arguments", f"is not valid JSON ({exc.msg} at position {exc.pos})")
    else:
        parsed = {}  # an empty arguments string means "no arguments"
    if not isinstance(parsed, dict):
        b.fail(f"{where}.function.arguments", f"must be a JSON object ({why_object})")
    return ToolCall(call_id, name, parsed)


def tool_call_id(b: ChatBody, message: dict[str, Any], where: str) -> str:
    """A tool message's `tool_call_id`, required and a non-empty string."""
    value = message.get("tool_call_id")
    if not isinstance(value, str) or not value:
        b.fail(f"{where}.tool_call_id", "is required and must be a string", "missing_required_parameter")
    return value


def _function(b: ChatBody, holder: dict[str, Any], where: str) -> tuple[dict[str, Any], str]:
    """A tool's or tool call's `function` object and its name, both required."""
    function = holder.get("function")
    if not isinstance(function, dict):
        b.fail(f"{where}.function", "is required and must be an object", "missing_required_parameter")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        b.fail(f"{where}.function.name", "is required and must be a string", "missing_required_parameter")
    return function, name


def content_parts(b: ChatBody, content: Any, where: str) -> list[dict[str, Any]]:
    """A list of content part objects, each with a string `type`."""
    if not isinstance(content, list):
        b.fail(where, "must be a string or a list of content parts", "invalid_type")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            b.fail(f"{where}[{j}]", "must be a content part object with a type", "invalid_type")
    return content


def texts(b: ChatBody, content: Any, where: str, *, required: bool = False) -> list[str]:
    """String or text parts (system, developer, tool content) -> the texts; `required`: null is 'is required'."""
    if isinstance(content, str):
        return [content]
    if required and content is None:
        b.fail(where, "is required", "missing_required_parameter")
    out: list[str] = []
    for j, part in enumerate(content_parts(b, content, where)):
        if part["type"] != "text":
            b.unsupported(f"{where}[{j}].type", part["type"], "only text parts are allowed here")
        out.append(part_text(b, part, f"{where}[{j}]"))
    return out


class Assistant(NamedTuple):
    """A checked assistant message: its texts (content, then refusal), its unchecked tool calls, and whether it
    was a plain string content without refusal."""

    texts: list[str]
    tool_calls: list[Any]
    plain: bool


def assistant(b: ChatBody, message: dict[str, Any], where: str, no_audio: str) -> Assistant:
    """An assistant message's extras, tool_calls list, text / refusal content parts and refusal; content is
    required unless tool_calls are given. Each tool call is left to `tool_call`."""
    check_assistant_extras(b, message, where, no_audio)
    content = message.get("content")
    tool_calls = message.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        b.fail(f"{where}.tool_calls", "must be a list", "invalid_type")
    out: list[str] = []
    if isinstance(content, str):
        out.append(content)
    elif content is not None:
        for j, part in enumerate(content_parts(b, content, f"{where}.content")):
            here = f"{where}.content[{j}]"
            if part["type"] == "text":
                out.append(part_text(b, part, here))
            elif part["type"] == "refusal":
                out.append(part_text(b, part, here, "refusal"))
            else:
                b.unsupported(f"{here}.type", part["type"], "assistant content is text or refusal parts")
    said = refusal(b, message, where)
    if said is not None:
        out.append(said)  # what the assistant said; the provider sees it as text
    if not tool_calls and content is None and said is None:
        b.fail(f"{where}.content", "is required unless tool_calls are given", "missing_required_parameter")
    return Assistant(out, tool_calls, isinstance(content, str) and said is None)


class Image(NamedTuple):
    """A checked image_url: a base64 data URL (`media` and `data`) or an https URL (both None)."""

    url: str
    media: str | None
    data: str | None


_DATA_URL: Final = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


def image(b: ChatBody, image_url: Any, where: str, media_types: tuple[str, ...]) -> Image:
    """An image_url part's `image_url`: an https URL, or a base64 data URL of one of `media_types`."""
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str):
        b.fail(f"{where}.url", "is required and must be a string", "missing_required_parameter")
    if url.startswith("data:"):
        match = _DATA_URL.fullmatch(url)
        if match is None:
            b.fail(f"{where}.url", "must be a base64 data URL (data:<media type>;base64,<data>)")
        media = match["media"].lower()
        if media not in media_types:
            b.unsupported(f"{where}.url", f"data:{media};base64,...", f"images must be {', '.join(media_types)}")
        return Image(url, media, match["data"])
    if url.lower().startswith("https://"):
        return Image(url, None, None)
    b.fail(f"{where}.url", "must be an https URL or a base64 data URL")


def _required(b: ChatBody, key: str, kind: type[T], what: str) -> T:
    """`body[key]`: 400 missing_required_parameter when absent or null, invalid_type unless a non-empty `kind`."""
    value = b.get(key)
    if value is None:
        b.fail(f"body.{key}", "is required", "missing_required_parameter")
    if not isinstance(value, kind) or not value:
        b.fail(f"body.{key}", f"must be {what}", "invalid_type")
    return value


def _optional(b: ChatBody, source: dict[str, Any], key: str, param: str, kind: type[T], what: str) -> T | None:
    """`source[key]` when present and not null (400 invalid_type unless a `kind`), else None."""
    value = source.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        b.fail(param, f"must be {what}", "invalid_type")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------------------
# The common line, read in one pass


SIMPLE_FIELDS: Final = frozenset(
    {"model", "messages", "max_completion_tokens", "max_tokens", "temperature", "top_p", "stop", "user"}
)
NUMBER_TYPES: Final = frozenset({int, float})


class Simple(NamedTuple):
    """A chat body of the common shape — text messages and the usual sampling fields, every value valid — read
    in one pass. The translations use it to skip their general path, and must give exactly what that path gives
    (tests/unit/test_translate_simple.py compares them)."""

    model: str | None
    system: list[str]  # system and developer texts, in order
    turns: list[tuple[str, str]]  # ("user" | "assistant", text), in order
    max_tokens: int | None
    temperature: float | int | None
    top_p: float | int | None
    stop: list[str]
    user: str | None


def simple(body: dict[str, Any], max_stop: int = MAX_STOP_SEQUENCES) -> Simple | None:
    """The body as ``Simple``, or None when anything about it needs the general path (which then accepts it, or
    rejects it with its usual message). Types are checked exactly (``type(x) is str``): a parsed line holds no
    subclasses, and bool is not a number here either."""
    if not SIMPLE_FIELDS.issuperset(body):
        return None
    get = body.get
    model = get("model")
    if "model" in body and (type(model) is not str or not model):
        return None
    system: list[str] = []
    turns: list[tuple[str, str]] = []
    if not _simple_messages(get("messages"), system, turns):
        return None
    max_tokens = get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = get("max_tokens")
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        return None
    temperature = get("temperature")
    if temperature is not None and (type(temperature) not in NUMBER_TYPES or not 0 <= temperature <= 2):
        return None
    top_p = get("top_p")
    if top_p is not None and (type(top_p) not in NUMBER_TYPES or not 0 <= top_p <= 1):
        return None
    stop = get("stop")
    stops = [] if stop is None else _simple_stop(stop, max_stop)  # most lines name no stop
    user = get("user")
    if stops is None or (user is not None and type(user) is not str):
        return None
    return Simple(model, system, turns, max_tokens, temperature, top_p, stops, user)


def _simple_messages(messages: Any, system: list[str], turns: list[tuple[str, str]]) -> bool:
    """Whether ``messages`` is a list of role and text content pairs with at least one user or assistant turn; if
    so, ``system`` and ``turns`` (empty lists, filled in: no tuple made per line) hold its texts."""
    if type(messages) is not list or not messages:
        return False
    for message in messages:
        if type(message) is not dict or len(message) != 2:
            return False
        role = message.get("role")
        content = message.get("content")
        if type(content) is not str:
            return False
        if role == "user" or role == "assistant":
            turns.append((role, content))
        elif role == "system" or role == "developer":
            system.append(content)
        else:
            return False
    return bool(turns)


def _simple_stop(stop: Any, max_stop: int) -> list[str] | None:
    """``Simple.stop`` from a present ``stop``: a string, or at most ``max_stop`` strings; else None."""
    if type(stop) is str:
        return [stop]
    if type(stop) is list and len(stop) <= max_stop and all(type(s) is str for s in stop):
        return list(stop)
    return None
