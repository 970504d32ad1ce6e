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
from collections.abc import Mapping
from typing import Any, Final, TypeGuard

from batchbridge.domain import output_lines
from batchbridge.domain.endpoints import CHAT_ENDPOINT
from batchbridge.domain.ports import ResultContext
from batchbridge.domain.translate import RequestTranslation, ResultTranslation, chat
from batchbridge.domain.translate.chat import MAX_STOP_SEQUENCES as MAX_STOP_SEQUENCES
from batchbridge.domain.translate.chat import ChatBody

NAME: Final = "anthropic"  # the provider, as the gateway names it (in the 502 of a result it cannot read)

DEFAULT_MAX_TOKENS: Final = 4096  # Anthropic requires max_tokens; documented default when a chat body has none

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

# Why Anthropic rejects a chat-body field it cannot honour (see chat.check_dropped_and_rejected).
_REASONS: Final = chat.Reasons(
    logprobs="Anthropic returns no log probabilities",
    penalties="Anthropic has no presence or frequency penalty",
    response_format="Anthropic Messages has no JSON mode or JSON schema switch; describe the format in the prompt",
    audio="Anthropic produces no audio",
    prediction="Anthropic has no predicted outputs",
    modalities="Anthropic produces text only",
    logit_bias="Anthropic has no logit bias",
)


# --------------------------------------------------------------------------------------------------------------
# OpenAI chat body -> Anthropic params


def chat_to_params(body: dict[str, Any], *, custom_id: str) -> dict[str, Any]:
    """OpenAI chat.completions request body -> Anthropic Messages `params` (model included)."""
    common = chat.simple(body)
    if one_pass(common):
        return simple_params({"model": common.model}, common)
    return _params(body, custom_id)


def one_pass(common: chat.Simple | None) -> TypeGuard[chat.Simple]:
    """Whether the general path would accept the common line as it is (then ``simple_params`` gives its params)."""
    return common is not None and common.model is not None and (common.temperature is None or common.temperature <= 1)


def simple_params(params: dict[str, Any], common: chat.Simple, *, user_metadata: bool = True) -> dict[str, Any]:
    """The common line's params: what ``_params`` makes of it, in one pass, after the keys already in ``params``
    (filled in and returned). ``user_metadata=False`` leaves out the ``metadata`` a ``user`` becomes."""
    params["max_tokens"] = DEFAULT_MAX_TOKENS if common.max_tokens is None else common.max_tokens
    system = "\n\n".join(common.system)
    if system:
        params["system"] = system
    params["messages"] = [{"role": role, "content": text} for role, text in common.turns]
    if common.stop:
        params["stop_sequences"] = common.stop
    if common.temperature is not None:
        params["temperature"] = common.temperature
    if common.top_p is not None:
        params["top_p"] = common.top_p
    if user_metadata and common.user is not None:
        params["metadata"] = {"user_id": common.user}
    return params


def _params(body: dict[str, Any], custom_id: str) -> dict[str, Any]:
    b = ChatBody(body, custom_id, "Anthropic")
    chat.check_fields(b)
    chat.check_dropped_and_rejected(b, _REASONS)
    # seed, service_tier, store, metadata, stream_options: dropped (see the module docstring).
    model = chat.model(b)

    system, messages = _messages(b)
    max_tokens = chat.max_tokens(b)
    params: dict[str, Any] = {"model": model, "max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens}
    if system:
        params["system"] = system
    params["messages"] = messages

    stop = chat.stop(b)
    if stop:
        params["stop_sequences"] = stop
    temperature = chat.number(b, "temperature", 0.0, 2.0)
    if temperature is not None:
        # Anthropic's range is 0..1 and OpenAI's is 0..2. Rejecting beats silently clamping: 1.5 means "more
        # random than 1", which Anthropic cannot do, and rescaling would change every other value's meaning.
        if temperature > 1:
            b.unsupported("body.temperature", temperature, "Anthropic's temperature range is 0 to 1")
        params["temperature"] = temperature
    top_p = chat.number(b, "top_p", 0.0, 1.0)
    if top_p is not None:
        params["top_p"] = top_p

    tools = _tools(b)
    if tools:
        params["tools"] = tools
    tool_choice = _tool_choice(b)
    parallel = chat.parallel_tool_calls(b)
    if parallel is False and tools and (tool_choice is None or tool_choice["type"] != "none"):
        tool_choice = {**(tool_choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tool_choice is not None:
        params["tool_choice"] = tool_choice

    user = chat.user(b)
    if user is not None:
        params["metadata"] = {"user_id": user}
    return params


def _tools(b: ChatBody) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in chat.tools(b):
        converted: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            converted["description"] = tool.description
        parameters = tool.parameters
        converted["input_schema"] = parameters if parameters is not None else {"type": "object", "properties": {}}
        out.append(converted)
    return out


def _tool_choice(b: ChatBody) -> dict[str, Any] | None:
    choice = chat.tool_choice(b)
    if choice is None:
        return None
    if choice.kind == "function":
        return {"type": "tool", "name": choice.name}
    return {"type": {"auto": "auto", "required": "any", "none": "none"}[choice.kind]}


_REJECTED_ROLES: Final = {"function": "deprecated; use tool messages"}


def _messages(b: ChatBody) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    tool_results: list[dict[str, Any]] | None = None  # the blocks of the user message tool results go to
    for i, message in enumerate(chat.messages(b)):
        where = f"body.messages[{i}]"
        role = chat.message_role(b, message, where, _REJECTED_ROLES, "system, developer, user, assistant or tool")
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


def _texts(b: ChatBody, content: Any, where: str) -> list[str]:
    """String or text parts (system, developer) -> the texts."""
    return chat.texts(b, content, where)


def _user_content(b: ChatBody, content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(chat.content_parts(b, content, where)):
        here = f"{where}[{j}]"
        if part["type"] == "text":
            blocks.append({"type": "text", "text": chat.part_text(b, part, here)})
        elif part["type"] == "image_url":
            blocks.append(_image(b, part.get("image_url"), f"{here}.image_url"))
        else:
            b.unsupported(f"{here}.type", part["type"], "only text and image_url parts translate")
    return blocks


def _image(b: ChatBody, image_url: Any, where: str) -> dict[str, Any]:
    image = chat.image(b, image_url, where, IMAGE_MEDIA_TYPES)
    if image.data is not None:
        return {"type": "image", "source": {"type": "base64", "media_type": image.media, "data": image.data}}
    return {"type": "image", "source": {"type": "url", "url": image.url}}


def _assistant_content(b: ChatBody, message: dict[str, Any], where: str) -> str | list[dict[str, Any]]:
    said = chat.assistant(b, message, where, "Anthropic has no audio turns")
    if not said.tool_calls:
        if said.plain:
            return said.texts[0]
        return [{"type": "text", "text": text} for text in said.texts]
    # Anthropic rejects empty text blocks; an empty string beside tool calls says nothing.
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text} for text in said.texts if text]
    blocks.extend(_tool_use(b, call, f"{where}.tool_calls[{k}]") for k, call in enumerate(said.tool_calls))
    return blocks


def _tool_use(b: ChatBody, call: Any, where: str) -> dict[str, Any]:
    checked = chat.tool_call(b, call, where, "Anthropic tool input is an object")
    return {"type": "tool_use", "id": checked.id, "name": checked.name, "input": checked.arguments}


def _tool_result(b: ChatBody, message: dict[str, Any], where: str) -> dict[str, Any]:
    tool_call_id = chat.tool_call_id(b, message, where)
    content = message.get("content")
    result: str | list[dict[str, Any]]
    if isinstance(content, str):
        result = content
    else:
        result = [{"type": "text", "text": text} for text in _texts(b, content, f"{where}.content")]
    return {"type": "tool_result", "tool_use_id": tool_call_id, "content": result}


# --------------------------------------------------------------------------------------------------------------
# Anthropic Message / results line -> OpenAI chat.completion / batch output line


def message_to_chat_completion(message: dict[str, Any], *, created: int) -> dict[str, Any]:
    """Anthropic Message -> OpenAI chat.completion object."""
    message_id = message.get("id")
    if not isinstance(message_id, str):
        raise output_lines.bad_response(NAME, "a message without an id")
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


def chat_result(line: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
    """One Anthropic results-JSONL line ({"custom_id", "result"}) -> ("output" | "error", OpenAI batch output line),
    for a chat completions batch.

    ``context.custom_id`` is the user's original custom_id (the caller restores remapped ids); ``context.line_id``
    is the "batch_req_..." id to use.
    """
    custom_id, line_id = context.custom_id, context.line_id
    result = line.get("result")
    if not isinstance(result, dict):
        raise output_lines.bad_response(NAME, f"a results line without a result for custom_id {custom_id!r}")
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message")
        if not isinstance(message, dict):
            raise output_lines.bad_response(NAME, f"a succeeded result without a message for custom_id {custom_id!r}")
        body = message_to_chat_completion(message, created=context.created)
        return output_lines.success(line_id, custom_id, body, body["id"])
    if kind == "errored":
        outer = result.get("error")
        outer = outer if isinstance(outer, dict) else {}
        inner = outer.get("error")
        inner = inner if isinstance(inner, dict) else {}
        error_type = str(inner.get("type") or "api_error")
        return output_lines.http_error(
            line_id,
            custom_id,
            ERROR_STATUS.get(error_type, 500),
            output_lines.error_body(str(inner.get("message") or ""), error_type),
            str(outer.get("request_id") or ""),
        )
    if kind == "canceled":
        return output_lines.unrun(line_id, custom_id, output_lines.CANCELLED)
    if kind == "expired":
        return output_lines.unrun(line_id, custom_id, output_lines.EXPIRED, expired=True)
    raise output_lines.bad_response(NAME, f"a result of unknown type {kind!r} for custom_id {custom_id!r}")


def result_to_output_line(
    line: dict[str, Any], *, custom_id: str, line_id: str, created: int
) -> tuple[str, dict[str, Any]]:
    """``chat_result`` of a chat completions batch's line, its context given field by field."""
    return chat_result(line, ResultContext(CHAT_ENDPOINT, "", created, custom_id, line_id))


# The translations by endpoint: an OpenAI request body -> Anthropic params, and a results line -> an output line.
REQUESTS: Final[Mapping[str, RequestTranslation]] = {CHAT_ENDPOINT: chat_to_params}
RESULTS: Final[Mapping[str, ResultTranslation]] = {CHAT_ENDPOINT: chat_result}
