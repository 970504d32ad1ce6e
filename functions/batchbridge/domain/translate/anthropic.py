"""OpenAI chat.completions <-> Anthropic Messages, shared by the Anthropic batch adapter and Bedrock's Claude models.

Pure functions, standard library only. Nothing is silently wrong: a field Anthropic cannot honour is rejected
with a 400 that names the line's custom_id and the field; a field that changes nothing is dropped.

Request body fields (OpenAI chat.completions -> Anthropic `params`):

| OpenAI                                        | Anthropic                                                         |
|-----------------------------------------------|-------------------------------------------------------------------|
| `model`                                       | `model` (required)                                                |
| `system` / `developer` messages (anywhere)    | top-level `system`, texts joined with a blank line                |
| `user` / `assistant` messages                 | `messages[]` (text parts -> text blocks, images -> image blocks)  |
| assistant `tool_calls[]`                      | `tool_use` blocks after the text, `input` = parsed `arguments`    |
| `tool` messages (consecutive ones merged)     | one `user` message of `tool_result` blocks                        |
| `max_completion_tokens` ?? `max_tokens`       | `max_tokens`, DEFAULT_MAX_TOKENS when both are absent             |
| `stop` (string or <= 4)                       | `stop_sequences`                                                  |
| `temperature` 0..1 / `top_p` 0..1             | `temperature` / `top_p`                                           |
| `tools[].function{name,description,parameters}` | `tools[]{name,description,input_schema}`                        |
| `tool_choice` auto / required / none / named  | `{type:auto}` / `{type:any}` / `{type:none}` / `{type:tool,name}` |
| `parallel_tool_calls: false`                  | `tool_choice.disable_parallel_tool_use: true`                     |
| `user`                                        | `metadata.user_id`                                                |

Dropped (they change nothing Anthropic would do, or have no Anthropic counterpart that matters for the output):

| OpenAI                                        | Why                                                               |
|-----------------------------------------------|-------------------------------------------------------------------|
| `seed`                                        | best-effort determinism only; Anthropic has none                  |
| `logprobs: false`, `n: 1`, `stream: false`    | the defaults                                                      |
| `presence_penalty` / `frequency_penalty` 0    | the defaults                                                      |
| `logit_bias: {}`, `modalities: ["text"]`      | the defaults                                                      |
| `response_format: {"type": "text"}`           | the default                                                       |
| `parallel_tool_calls: true` (or any, no tools) | the default / nothing to run in parallel                         |
| `service_tier`, `store`, `metadata`           | OpenAI account features (Anthropic batches have their own tier)   |
| `stream_options`                              | only meaningful when streaming, which a batch never does          |
| message `name`, image `detail`                | no Anthropic counterpart; hints only                              |
| tool `function.strict: false`                 | the default                                                       |
| any optional field whose value is null        | null means "absent" in OpenAI's API                               |

Rejected with 400: `n` > 1, `stream: true`, `logprobs: true`, `top_logprobs`, non-zero penalties,
`response_format` json_object / json_schema, `audio`, non-text `modalities`, `prediction`, `functions` /
`function_call` (deprecated), non-empty `logit_bias`, `temperature` > 1, tool `strict: true`, audio/file parts,
and any unknown field.

Anthropic Message -> chat.completion: text blocks joined into `content`, `tool_use` blocks -> `tool_calls`,
`thinking` blocks are not copied; `stop_reason` -> `finish_reason` as in FINISH_REASONS; usage counts cache
writes and reads as prompt tokens (Anthropic's `input_tokens` excludes both).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NoReturn

from batchbridge.domain.errors import GatewayError, bad_request

DEFAULT_MAX_TOKENS: Final = 4096  # Anthropic requires max_tokens; documented default when a chat body has none

MAX_STOP_SEQUENCES: Final = 4
IMAGE_MEDIA_TYPES: Final = ("image/jpeg", "image/png", "image/gif", "image/webp")

FINISH_REASONS: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error type -> the HTTP status Anthropic answers it with.
ERROR_STATUS: Final[dict[str, int]] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# Fields of a chat body this module knows; anything else is rejected by name.
_HANDLED: Final = frozenset(
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
    }
)

_MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}

_DATA_URL: Final = re.compile(r"data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)", re.DOTALL)


# --------------------------------------------------------------------------------------------------------------
# OpenAI chat body -> Anthropic params


class _Body:
    """A chat body being translated: carries the custom_id so every error names it."""

    def __init__(self, body: dict[str, Any], custom_id: str) -> None:
        self.body = body
        self.custom_id = custom_id

    def fail(self, param: str, problem: str, code: str = "invalid_value") -> NoReturn:
        raise bad_request(f"custom_id {self.custom_id!r}: {param} {problem}", param=param, code=code)

    def unsupported(self, param: str, value: Any, why: str, code: str = "unsupported_value") -> NoReturn:
        raise bad_request(
            f"custom_id {self.custom_id!r}: {param} = {json.dumps(value)} is not supported by Anthropic ({why})",
            param=param,
            code=code,
        )

    def get(self, key: str) -> Any:
        return self.body.get(key)


def chat_to_params(body: dict[str, Any], *, custom_id: str) -> dict[str, Any]:
    """OpenAI chat.completions request body -> Anthropic Messages `params` (model included)."""
    b = _Body(body, custom_id)
    for key in body:
        if key not in _HANDLED:
            b.fail(f"body.{key}", "is not a known chat.completions parameter", "unknown_parameter")
    _check_dropped_and_rejected(b)

    model = body.get("model")
    if model is None:
        b.fail("body.model", "is required", "missing_required_parameter")
    if not isinstance(model, str) or not model:
        b.fail("body.model", "must be a non-empty string", "invalid_type")

    system, messages = _messages(b)
    params: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(b)}
    if system:
        params["system"] = system
    params["messages"] = messages

    stop = _stop(b)
    if stop:
        params["stop_sequences"] = stop
    temperature = _number(b, "temperature", 0.0, 2.0)
    if temperature is not None:
        # Anthropic's range is 0..1 and OpenAI's is 0..2. Rejecting beats silently clamping: 1.5 means "more
        # random than 1", which Anthropic cannot do, and rescaling would change every other value's meaning.
        if temperature > 1:
            b.unsupported("body.temperature", temperature, "Anthropic's temperature range is 0 to 1")
        params["temperature"] = temperature
    top_p = _number(b, "top_p", 0.0, 1.0)
    if top_p is not None:
        params["top_p"] = top_p

    tools = _tools(b)
    if tools:
        params["tools"] = tools
    tool_choice = _tool_choice(b)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        b.fail("body.parallel_tool_calls", "must be a boolean", "invalid_type")
    if parallel is False and tools and (tool_choice is None or tool_choice["type"] != "none"):
        tool_choice = {**(tool_choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tool_choice is not None:
        params["tool_choice"] = tool_choice

    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            b.fail("body.user", "must be a string", "invalid_type")
        params["metadata"] = {"user_id": user}
    return params


def _check_dropped_and_rejected(b: _Body) -> None:
    n = b.get("n")
    if n is not None:
        if not _is_int(n) or n < 1:
            b.fail("body.n", "must be a positive integer", "invalid_type")
        if n > 1:
            b.unsupported("body.n", n, "one choice per request")
    if b.get("stream") is not None and b.get("stream") is not False:
        b.unsupported("body.stream", b.get("stream"), "batch requests never stream")
    if b.get("logprobs") is not None and b.get("logprobs") is not False:
        b.unsupported("body.logprobs", b.get("logprobs"), "Anthropic returns no log probabilities")
    if b.get("top_logprobs") is not None:
        b.unsupported(
            "body.top_logprobs",
            b.get("top_logprobs"),
            "Anthropic returns no log probabilities",
            "unsupported_parameter",
        )
    for penalty in ("presence_penalty", "frequency_penalty"):
        value = b.get(penalty)
        if value is None:
            continue
        if not _is_number(value):
            b.fail(f"body.{penalty}", "must be a number", "invalid_type")
        if value != 0:
            b.unsupported(f"body.{penalty}", value, "Anthropic has no presence or frequency penalty")
    response_format = b.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind != "text":
            b.unsupported(
                "body.response_format",
                response_format,
                "Anthropic Messages has no JSON mode or JSON schema switch; describe the format in the prompt",
            )
    for key, why in (
        ("audio", "Anthropic produces no audio"),
        ("prediction", "Anthropic has no predicted outputs"),
        ("functions", "deprecated; use tools"),
        ("function_call", "deprecated; use tool_choice"),
    ):
        if b.get(key) is not None:
            b.unsupported(f"body.{key}", b.get(key), why, "unsupported_parameter")
    modalities = b.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list):
            b.fail("body.modalities", "must be a list", "invalid_type")
        if any(m != "text" for m in modalities):
            b.unsupported("body.modalities", modalities, "Anthropic produces text only")
    logit_bias = b.get("logit_bias")
    if logit_bias is not None:
        if not isinstance(logit_bias, dict):
            b.fail("body.logit_bias", "must be an object", "invalid_type")
        if logit_bias:
            b.unsupported("body.logit_bias", logit_bias, "Anthropic has no logit bias", "unsupported_parameter")
    # seed, service_tier, store, metadata, stream_options: dropped (see the module docstring).


def _max_tokens(b: _Body) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = b.get(key)
        if value is None:
            continue
        if not _is_int(value):
            b.fail(f"body.{key}", "must be an integer", "invalid_type")
        if value < 1:
            b.fail(f"body.{key}", f"= {value} must be at least 1")
        result: int = value
        return result
    return DEFAULT_MAX_TOKENS


def _stop(b: _Body) -> list[str]:
    stop = b.get("stop")
    if stop is None:
        return []
    if isinstance(stop, str):
        return [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        b.fail("body.stop", "must be a string or a list of strings", "invalid_type")
    if len(stop) > MAX_STOP_SEQUENCES:
        b.fail("body.stop", f"has {len(stop)} sequences; at most {MAX_STOP_SEQUENCES} are allowed")
    return list(stop)


def _number(b: _Body, key: str, low: float, high: float) -> float | int | None:
    value = b.get(key)
    if value is None:
        return None
    if not _is_number(value):
        b.fail(f"body.{key}", "must be a number", "invalid_type")
    if not low <= value <= high:
        b.fail(f"body.{key}", f"= {value} must be between {low:g} and {high:g}")
    result: float | int = value
    return result


def _tools(b: _Body) -> list[dict[str, Any]]:
    tools = b.get("tools")
    if tools is None:
        return []
    if not isinstance(tools, list):
        b.fail("body.tools", "must be a list", "invalid_type")
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(tools):
        where = f"body.tools[{i}]"
        if not isinstance(tool, dict):
            b.fail(where, "must be an object", "invalid_type")
        if tool.get("type") != "function":
            b.unsupported(f"{where}.type", tool.get("type"), "only function tools translate")
        function = tool.get("function")
        if not isinstance(function, dict):
            b.fail(f"{where}.function", "is required and must be an object", "missing_required_parameter")
        name = function.get("name")
        if not isinstance(name, str) or not name:
            b.fail(f"{where}.function.name", "is required and must be a string", "missing_required_parameter")
        converted: dict[str, Any] = {"name": name}
        description = function.get("description")
        if description is not None:
            if not isinstance(description, str):
                b.fail(f"{where}.function.description", "must be a string", "invalid_type")
            converted["description"] = description
        parameters = function.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            b.fail(f"{where}.function.parameters", "must be a JSON schema object", "invalid_type")
        converted["input_schema"] = parameters if parameters is not None else {"type": "object", "properties": {}}
        strict = function.get("strict")
        if strict is not None and strict is not False:
            b.unsupported(f"{where}.function.strict", strict, "tool arguments are not guaranteed to match the schema")
        out.append(converted)
    return out


def _tool_choice(b: _Body) -> dict[str, Any] | None:
    choice = b.get("tool_choice")
    if choice is None:
        return None
    simple = {"auto": "auto", "required": "any", "none": "none"}
    if isinstance(choice, str):
        if choice not in simple:
            b.fail("body.tool_choice", f"= {json.dumps(choice)} must be 'auto', 'required', 'none' or a function")
        return {"type": simple[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            b.fail("body.tool_choice.function.name", "is required", "missing_required_parameter")
        return {"type": "tool", "name": name}
    b.unsupported("body.tool_choice", choice, "only 'auto', 'required', 'none' or one named function translate")


def _messages(b: _Body) -> tuple[str, list[dict[str, Any]]]:
    messages = b.get("messages")
    if messages is None:
        b.fail("body.messages", "is required", "missing_required_parameter")
    if not isinstance(messages, list) or not messages:
        b.fail("body.messages", "must be a non-empty list", "invalid_type")
    system: list[str] = []
    out: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] | None = None  # the blocks of the user message tool results go to
    for i, message in enumerate(messages):
        where = f"body.messages[{i}]"
        if not isinstance(message, dict):
            b.fail(where, "must be an object", "invalid_type")
        role = message.get("role")
        if role == "function":
            b.unsupported(f"{where}.role", role, "deprecated; use tool messages", "unsupported_value")
        if not isinstance(role, str) or role not in _MESSAGE_KEYS:
            b.fail(f"{where}.role", f"= {json.dumps(role)} must be system, developer, user, assistant or tool")
        for key in message:
            if key not in _MESSAGE_KEYS[role]:
                b.fail(f"{where}.{key}", f"is not a known field of a {role} message", "unknown_parameter")
        if role in ("system", "developer"):
            # Not a turn: tool results on either side of a system message still merge.
            system.extend(_texts(b, message.get("content"), f"{where}.content"))
        elif role == "user":
            out.append({"role": "user", "content": _user_content(b, message.get("content"), f"{where}.content")})
            tool_results = None
        elif role == "assistant":
            out.append({"role": "assistant", "content": _assistant_content(b, message, where)})
            tool_results = None
        else:
            block = _tool_result(b, message, where)
            if tool_results is None:
                tool_results = []
                out.append({"role": "user", "content": tool_results})
            tool_results.append(block)
    if not out:
        b.fail("body.messages", "has no user or assistant message; Anthropic needs at least one")
    return "\n\n".join(system), out


def _parts(b: _Body, content: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        b.fail(where, "must be a string or a list of content parts", "invalid_type")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            b.fail(f"{where}[{j}]", "must be a content part object with a type", "invalid_type")
    return content


def _text_of(b: _Body, part: dict[str, Any], where: str) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        b.fail(f"{where}.text", "is required and must be a string", "missing_required_parameter")
    return text


def _texts(b: _Body, content: Any, where: str) -> list[str]:
    """String or text parts (system, developer) -> the texts."""
    if isinstance(content, str):
        return [content]
    texts: list[str] = []
    for j, part in enumerate(_parts(b, content, where)):
        if part["type"] != "text":
            b.unsupported(f"{where}[{j}].type", part["type"], "only text parts are allowed here")
        texts.append(_text_of(b, part, f"{where}[{j}]"))
    return texts


def _user_content(b: _Body, content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(b, content, where)):
        here = f"{where}[{j}]"
        if part["type"] == "text":
            blocks.append({"type": "text", "text": _text_of(b, part, here)})
        elif part["type"] == "image_url":
            blocks.append(_image(b, part.get("image_url"), f"{here}.image_url"))
        else:
            b.unsupported(f"{here}.type", part["type"], "only text and image_url parts translate")
    return blocks


def _image(b: _Body, image_url: Any, where: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else None
    if not isinstance(url, str):
        b.fail(f"{where}.url", "is required and must be a string", "missing_required_parameter")
    if url.startswith("data:"):
        match = _DATA_URL.fullmatch(url)
        if match is None:
            b.fail(f"{where}.url", "must be a base64 data URL (data:<media type>;base64,<data>)")
        media = match["media"].lower()
        if media not in IMAGE_MEDIA_TYPES:
            b.unsupported(f"{where}.url", f"data:{media};base64,...", f"images must be {', '.join(IMAGE_MEDIA_TYPES)}")
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": match["data"]}}
    if url.lower().startswith("https://"):
        return {"type": "image", "source": {"type": "url", "url": url}}
    b.fail(f"{where}.url", "must be an https URL or a base64 data URL")


def _assistant_content(b: _Body, message: dict[str, Any], where: str) -> str | list[dict[str, Any]]:
    content = message.get("content")
    tool_calls = message.get("tool_calls") or []
    for key, why in (("audio", "Anthropic has no audio turns"), ("function_call", "deprecated; use tool_calls")):
        if message.get(key) is not None:
            b.unsupported(f"{where}.{key}", message[key], why, "unsupported_parameter")
    if not isinstance(tool_calls, list):
        b.fail(f"{where}.tool_calls", "must be a list", "invalid_type")
    texts: list[str] = []
    if isinstance(content, str):
        texts.append(content)
    elif content is not None:
        for j, part in enumerate(_parts(b, content, f"{where}.content")):
            here = f"{where}.content[{j}]"
            if part["type"] == "text":
                texts.append(_text_of(b, part, here))
            elif part["type"] == "refusal":
                refusal = part.get("refusal")
                if not isinstance(refusal, str):
                    b.fail(f"{here}.refusal", "is required and must be a string", "missing_required_parameter")
                texts.append(refusal)
            else:
                b.unsupported(f"{here}.type", part["type"], "assistant content is text or refusal parts")
    refusal = message.get("refusal")
    if refusal is not None:
        if not isinstance(refusal, str):
            b.fail(f"{where}.refusal", "must be a string", "invalid_type")
        texts.append(refusal)  # what the assistant said; Anthropic sees it as text
    if not tool_calls:
        if content is None and refusal is None:
            b.fail(f"{where}.content", "is required unless tool_calls are given", "missing_required_parameter")
        if isinstance(content, str) and refusal is None:
            return content
        return [{"type": "text", "text": text} for text in texts]
    # Anthropic rejects empty text blocks; an empty string beside tool calls says nothing.
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text} for text in texts if text]
    blocks.extend(_tool_use(b, call, f"{where}.tool_calls[{k}]") for k, call in enumerate(tool_calls))
    return blocks


def _tool_use(b: _Body, call: Any, where: str) -> dict[str, Any]:
    if not isinstance(call, dict):
        b.fail(where, "must be an object", "invalid_type")
    if call.get("type", "function") != "function":
        b.unsupported(f"{where}.type", call.get("type"), "only function tool calls translate")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        b.fail(f"{where}.id", "is required and must be a string", "missing_required_parameter")
    function = call.get("function")
    if not isinstance(function, dict):
        b.fail(f"{where}.function", "is required and must be an object", "missing_required_parameter")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        b.fail(f"{where}.function.name", "is required and must be a string", "missing_required_parameter")
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
        b.fail(f"{where}.function.arguments", "must be a JSON object (Anthropic tool input is an object)")
    return {"type": "tool_use", "id": call_id, "name": name, "input": parsed}


def _tool_result(b: _Body, message: dict[str, Any], where: str) -> dict[str, Any]:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        b.fail(f"{where}.tool_call_id", "is required and must be a string", "missing_required_parameter")
    content = message.get("content")
    result: str | list[dict[str, Any]]
    if isinstance(content, str):
        result = content
    else:
        result = [{"type": "text", "text": text} for text in _texts(b, content, f"{where}.content")]
    return {"type": "tool_result", "tool_use_id": tool_call_id, "content": result}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --------------------------------------------------------------------------------------------------------------
# Anthropic Message / results line -> OpenAI chat.completion / batch output line


def _bad_response(problem: str) -> GatewayError:
    return GatewayError(
        502, f"The anthropic provider returned {problem}.", type="upstream_error", code="provider_bad_response"
    )


def message_to_chat_completion(message: dict[str, Any], *, created: int) -> dict[str, Any]:
    """Anthropic Message -> OpenAI chat.completion object."""
    message_id = message.get("id")
    if not isinstance(message_id, str):
        raise _bad_response("a message without an id")
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": json.dumps(block.get("input") or {})},
                }
            )
        # thinking, redacted_thinking and server-tool blocks have no chat.completion counterpart.
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if tool_calls:
        reply["tool_calls"] = tool_calls
    usage = message.get("usage") or {}
    input_tokens = _count(usage, "input_tokens")
    cache_write = _count(usage, "cache_creation_input_tokens")
    cache_read = _count(usage, "cache_read_input_tokens")
    output_tokens = _count(usage, "output_tokens")
    prompt_tokens = input_tokens + cache_write + cache_read
    return {
        "id": message_id,
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [
            {
                "index": 0,
                "message": reply,
                "logprobs": None,
                # An unknown (future) stop reason still ended the turn normally; "stop" is the honest default.
                "finish_reason": FINISH_REASONS.get(str(message.get("stop_reason")), "stop"),
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": prompt_tokens + output_tokens,
            "prompt_tokens_details": {"cached_tokens": cache_read},
        },
    }


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def result_to_output_line(
    line: dict[str, Any], *, custom_id: str, line_id: str, created: int
) -> tuple[str, dict[str, Any]]:
    """One Anthropic results-JSONL line ({"custom_id", "result"}) -> ("output" | "error", OpenAI batch output line).

    `custom_id` is the user's original custom_id (the caller restores remapped ids); `line_id` is the
    "batch_req_..." id to use.
    """
    result = line.get("result")
    if not isinstance(result, dict):
        raise _bad_response(f"a results line without a result for custom_id {custom_id!r}")
    kind = result.get("type")
    head: dict[str, Any] = {"id": line_id, "custom_id": custom_id}
    if kind == "succeeded":
        message = result.get("message")
        if not isinstance(message, dict):
            raise _bad_response(f"a succeeded result without a message for custom_id {custom_id!r}")
        body = message_to_chat_completion(message, created=created)
        return "output", {
            **head,
            "response": {"status_code": 200, "request_id": body["id"], "body": body},
            "error": None,
        }
    if kind == "errored":
        outer = result.get("error")
        outer = outer if isinstance(outer, dict) else {}
        inner = outer.get("error")
        inner = inner if isinstance(inner, dict) else {}
        error_type = str(inner.get("type") or "api_error")
        return "error", {
            **head,
            "response": {
                "status_code": ERROR_STATUS.get(error_type, 500),
                "request_id": str(outer.get("request_id") or ""),
                "body": {
                    "error": {
                        "message": str(inner.get("message") or ""),
                        "type": error_type,
                        "param": None,
                        "code": None,
                    }
                },
            },
            "error": None,
        }
    if kind == "canceled":
        return "error", {
            **head,
            "response": None,
            "error": {"code": "batch_cancelled", "message": "The batch was cancelled before this request ran."},
        }
    if kind == "expired":
        return "error", {
            **head,
            "response": None,
            "error": {"code": "batch_expired", "message": "The batch expired before this request ran."},
        }
    raise _bad_response(f"a result of unknown type {kind!r} for custom_id {custom_id!r}")
