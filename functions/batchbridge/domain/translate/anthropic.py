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
| `temperature` 0..1 / `top_p` 0..1             | `temperature` / `top_p`, as the model takes them (below)          |
| `tools[].function{name,description,parameters}` | `tools[]{name,description,input_schema}`                        |
| `tool_choice` auto / required / none / named  | `{type:auto}` / `{type:any}` / `{type:none}` / `{type:tool,name}` |
| `parallel_tool_calls: false`                  | `tool_choice.disable_parallel_tool_use: true`                     |
| `user`                                        | `metadata.user_id`                                                |
| `response_format` json_schema, native models  | `output_config.format: {type: json_schema, schema}` (below)       |
| `response_format` json_schema, other models   | a forced tool (below) with the schema as its `input_schema`       |
| `response_format` json_object                 | a forced tool with `input_schema: {"type": "object"}`             |
| `reasoning_effort`                            | `thinking` (and `output_config.effort`), per `translate.claude`   |

What each Claude model takes (structured outputs, which thinking) is `translate.claude`'s table, derived from the
line's model (Bedrock: the job's). response_format:

- json_schema with `strict: true` is held to OpenAI's strict-mode rules (`translate.json_schema`), whichever way it
  goes: OpenAI would refuse the line.
- Native (`output_config.format`): when the schema is in Claude's subset (`translate.claude`); objects with
  `properties` and without `additionalProperties` get `false`. The line's own tools stay. Outside the subset a
  strict schema is a 400 naming the keyword (Claude's limit) and any other goes to the forced tool, as guidance.
- json_schema without `schema` is json_object (``chat.response_format``).
- Forced tool: `tools: [{name: "batchbridge_json_response", description, input_schema}]`, `tool_choice: {type: tool,
  name}`. The schema's root must be an object (a tool's input is one). It rules out the line's own tools and
  extended thinking (400 naming `response_format`: Anthropic allows no forced tool with thinking). The name is
  reserved: a line's own tool of that name is a 400.

reasoning_effort: "none" is no thinking (left out, `thinking` off, or a 400 where the model always thinks); on a
model without extended thinking any other value is a 400. A budget (`thinking: {type: enabled, budget_tokens}`) is
capped below `max_tokens` and must be at least 1024 (400 naming the max-tokens field otherwise); without max tokens
in the line, `max_tokens` is DEFAULT_MAX_TOKENS + the effort's budget, capped at the model's most output (the budget
shrinks so the answer keeps DEFAULT_MAX_TOKENS). Adaptive effort levels the model lacks round down. With thinking,
`temperature` must be absent or 1, `top_p` at least 0.95, and `tool_choice` auto or none (400 naming each otherwise,
as Anthropic refuses them). Per the model (`translate.claude`): a non-default temperature / top_p, or both of them,
is a 400 where the model refuses it; a trailing assistant message (prefill) is a 400 naming it on Claude 4.6 and
later; a forced tool gets `thinking` off beside it on a model that thinks by default (a 400 where it cannot be off).

Dropped (they change nothing Anthropic would do, or have no Anthropic counterpart that matters for the output):

| OpenAI                                        | Why                                                               |
|-----------------------------------------------|-------------------------------------------------------------------|
| `logprobs: false`, `n: 1`, `stream: false`    | the defaults                                                      |
| `presence_penalty` / `frequency_penalty` 0    | the defaults                                                      |
| `logit_bias: {}`, `modalities: ["text"]`      | the defaults                                                      |
| `response_format: {"type": "text"}`           | the default                                                       |
| `parallel_tool_calls: true` (or any, no tools) | the default / nothing to run in parallel                         |
| `service_tier`, `store`, `metadata`           | OpenAI account features (Anthropic batches have their own tier)   |
| `stream_options`                              | only meaningful when streaming, which a batch never does          |
| message `name`, image `detail`                | no Anthropic counterpart; hints only                              |
| tool `function.strict: false`                 | the default                                                       |
| `seed` (an integer)                           | best effort in OpenAI's API; Anthropic has none                   |
| any optional field whose value is null        | null means "absent" in OpenAI's API                               |

Rejected with 400: `n` > 1, `stream: true`, `logprobs: true`, `top_logprobs`, non-zero penalties, a `seed` that is
not an integer, `audio`, non-text `modalities`, `prediction`,
`functions` / `function_call` (deprecated), non-empty `logit_bias`, `temperature` > 1, tool `strict: true`,
audio/file parts, what response_format and reasoning_effort cannot be (above), and any unknown field.

Anthropic Message -> chat.completion: text blocks joined into `content`, `tool_use` blocks -> `tool_calls`,
`thinking` blocks are not copied; a call of response_format's tool is the answer instead: its input as compact
JSON `content`, no `tool_calls`, `finish_reason` "stop" for `tool_use`. `stop_reason` -> `finish_reason` as in
FINISH_REASONS. Usage in OpenAI's shape (both details objects): `prompt_tokens` = `input_tokens` + cache writes +
cache reads (Anthropic's `input_tokens` excludes both), `cached_tokens` = cache reads, `reasoning_tokens` =
`output_tokens_details.thinking_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, TypeGuard

from batchbridge.domain import output_lines
from batchbridge.domain.endpoints import CHAT_ENDPOINT
from batchbridge.domain.ports import ResultContext
from batchbridge.domain.translate import RequestTranslation, ResultTranslation, chat, claude, completion, structured
from batchbridge.domain.translate.chat import MAX_STOP_SEQUENCES as MAX_STOP_SEQUENCES
from batchbridge.domain.translate.chat import ChatBody
from batchbridge.domain.translate.json_schema import SchemaProblem

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

# Fields this translation reads itself, which chat.check_dropped_and_rejected would otherwise reject.
_TRANSLATED: Final = frozenset({"response_format", "reasoning_effort"})
THINKING_MIN_TOP_P: Final = 0.95  # the lowest top_p Anthropic takes with extended thinking

# Why Anthropic rejects a chat-body field it cannot honour (see chat.check_dropped_and_rejected).
_REASONS: Final = chat.Reasons(
    logprobs="Anthropic returns no log probabilities",
    penalties="Anthropic has no presence or frequency penalty",
    response_format="",  # unused: response_format is translated
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


def one_pass(common: chat.Simple | None, capabilities: claude.ClaudeModel | None = None) -> TypeGuard[chat.Simple]:
    """Whether the general path would accept the common line as it is (then ``simple_params`` gives its params).
    ``capabilities``: what the model that runs the line takes (Bedrock's job model); by default the line's own
    model's. Sampling the model restricts, and a prefill the model refuses, are left to the general path."""
    if common is None or common.model is None or (common.temperature is not None and common.temperature > 1):
        return False
    capabilities = capabilities or claude.model(common.model)
    if capabilities.sampling == "default" and (common.temperature is not None or common.top_p is not None):
        return False
    if capabilities.sampling == "one" and common.temperature is not None and common.top_p is not None:
        return False
    return capabilities.prefill or common.turns[-1][0] != "assistant"


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
    return claude_params(body, custom_id)


def claude_params(
    body: dict[str, Any], custom_id: str, capabilities: claude.ClaudeModel | None = None
) -> dict[str, Any]:
    """The general path of ``chat_to_params``: every field read and checked. ``capabilities``: what the model that
    runs the line takes (Bedrock's job model); by default the line's own model's."""
    b = ChatBody(body, custom_id, "Anthropic")
    _check(b)
    model = chat.model(b)
    capabilities = capabilities or claude.model(model)
    system, messages = _messages(b)
    if not capabilities.prefill:
        _check_no_prefill(b, model)
    max_tokens = chat.max_tokens(b)
    params: dict[str, Any] = {"model": model, "max_tokens": DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens}
    if system:
        params["system"] = system
    params["messages"] = messages
    _sampling(b, params, capabilities)
    _tool_params(b, params)
    user = chat.user(b)
    if user is not None:
        params["metadata"] = {"user_id": user}
    _reasoning(b, params, capabilities, given_max_tokens=max_tokens is not None)
    _response_format(b, params, capabilities)
    _forced_tool_without_thinking(b, params, capabilities)
    return params


def _check(b: ChatBody) -> None:
    """Known fields only; what Anthropic cannot honour rejected (translated fields aside)."""
    chat.check_fields(b)
    if b.body.keys().isdisjoint(_TRANSLATED):
        chat.check_dropped_and_rejected(b, _REASONS)
    else:
        rest = {key: value for key, value in b.body.items() if key not in _TRANSLATED}
        chat.check_dropped_and_rejected(ChatBody(rest, b.custom_id, b.provider), _REASONS)
    seed = b.get("seed")
    if seed is not None and not chat.is_int(seed):
        b.fail("body.seed", "must be an integer", "invalid_type")
    # seed (best effort in OpenAI's API), service_tier, store, metadata, stream_options: dropped (module docstring).


def _sampling(b: ChatBody, params: dict[str, Any], capabilities: claude.ClaudeModel) -> None:
    """stop, temperature and top_p, as the model takes them (``translate.claude``)."""
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
    if capabilities.sampling == "default":
        for key in ("temperature", "top_p"):
            value = params.pop(key, None)  # the default is what the model runs with anyway
            if value is not None and value != 1:
                b.unsupported(
                    f"body.{key}",
                    value,
                    f"{params['model']} takes only the default {key}, 1, as OpenAI's reasoning models do",
                    "unsupported_parameter",
                )
    elif capabilities.sampling == "one" and "temperature" in params and "top_p" in params:
        b.unsupported("body.top_p", top_p, f"{params['model']} takes temperature or top_p, not both")


def _check_no_prefill(b: ChatBody, model: str) -> None:
    """The conversation does not end with an assistant turn (system messages aside): a prefill, which Claude 4.6
    and later refuse."""
    messages = b.body["messages"]  # checked by _messages
    for i in range(len(messages) - 1, -1, -1):
        role = messages[i]["role"]
        if role == "assistant":
            b.fail(
                f"body.messages[{i}]",
                f"is an assistant message ending the conversation (a prefill), which {model} does not take "
                "(Claude 4.6 and later): end with a user message",
                "unsupported_value",
            )
        if role not in ("system", "developer"):
            return


def _tool_params(b: ChatBody, params: dict[str, Any]) -> None:
    """tools, tool_choice and parallel_tool_calls."""
    tools = _tools(b)
    if tools:
        params["tools"] = tools
    tool_choice = _tool_choice(b)
    parallel = chat.parallel_tool_calls(b)
    if parallel is False and tools and (tool_choice is None or tool_choice["type"] != "none"):
        tool_choice = {**(tool_choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if tool_choice is not None:
        params["tool_choice"] = tool_choice


def _reasoning(
    b: ChatBody, params: dict[str, Any], capabilities: claude.ClaudeModel, *, given_max_tokens: bool
) -> None:
    """reasoning_effort -> extended thinking (``translate.claude``): a budget below max_tokens, or adaptive
    thinking at an effort (a level the model lacks rounded down). "none" turns thinking off (``_no_thinking``)."""
    effort = chat.reasoning_effort(b)
    if effort is None:
        return
    if effort == "none":
        _no_thinking(b, params, capabilities)
        return
    if capabilities.thinking == "none":
        b.unsupported(
            "body.reasoning_effort",
            effort,
            f"{params['model']} has no extended thinking (Claude 3.7 and later have it)",
            "unsupported_parameter",
        )
    _check_thinking_companions(b, params)
    budget = claude.THINKING_BUDGETS[effort]
    if not given_max_tokens:  # room for the thinking and the answer, within what the model can write
        params["max_tokens"] = min(DEFAULT_MAX_TOKENS + budget, capabilities.max_output)
    if capabilities.thinking == "adaptive":
        params["thinking"] = {"type": "adaptive"}
        params["output_config"] = {"effort": claude.effort(capabilities, effort)}
        return
    if given_max_tokens:
        # Thinking counts toward max_tokens as reasoning counts toward max_completion_tokens: a smaller max_tokens
        # caps the thinking, as OpenAI's caps the reasoning.
        budget = min(budget, params["max_tokens"] - 1)
    else:
        # Capped at the model's output limit (Opus 4 / 4.1: 32K), the answer keeps its default room.
        budget = min(budget, params["max_tokens"] - DEFAULT_MAX_TOKENS)
    if budget < claude.MIN_THINKING_BUDGET:
        key = "max_completion_tokens" if b.get("max_completion_tokens") is not None else "max_tokens"
        b.unsupported(
            f"body.{key}",
            b.get(key),
            f"with reasoning_effort, Claude thinks for at least {claude.MIN_THINKING_BUDGET} tokens within "
            f"max_tokens: give at least {claude.MIN_THINKING_BUDGET + 1}",
        )
    params["thinking"] = {"type": "enabled", "budget_tokens": budget}


def _no_thinking(b: ChatBody, params: dict[str, Any], capabilities: claude.ClaudeModel) -> None:
    """reasoning_effort "none": nothing where the model does not think by default, the value that turns thinking
    off where it does, a 400 where it always thinks."""
    if capabilities.thinking_default == "off":
        return
    if capabilities.thinking_default == "always" or capabilities.thinking_off is None:
        b.unsupported("body.reasoning_effort", "none", f"{params['model']} always thinks: its thinking cannot be off")
    params["thinking"] = {"type": capabilities.thinking_off}


def _forced_tool_without_thinking(b: ChatBody, params: dict[str, Any], capabilities: claude.ClaudeModel) -> None:
    """A forced tool (response_format's, or tool_choice required / a function) runs only without thinking: on a
    model that thinks by default, thinking is turned off beside it; where it cannot be, or the model refuses
    forced tools, a 400 naming the field that forces the tool."""
    choice = params.get("tool_choice")
    if choice is None or choice["type"] not in ("any", "tool") or capabilities.thinking_default == "off":
        return
    ours = choice.get("name") == structured.RESPONSE_TOOL
    key = "response_format" if ours else "tool_choice"
    if not capabilities.forced_tool or capabilities.thinking_off is None:
        why = (
            "always thinks, and a forced tool runs only without thinking"
            if capabilities.thinking_off is None
            else "refuses forced tool use"
        )
        if ours:
            why += "; JSON without a native schema comes as a forced tool's input: use a json_schema in Claude's subset"
        b.unsupported(f"body.{key}", b.get(key), f"{params['model']} {why}")
    params.setdefault("thinking", {"type": capabilities.thinking_off})


def _check_thinking_companions(b: ChatBody, params: dict[str, Any]) -> None:
    """What Claude's extended thinking does not run with: another temperature, a low top_p, a forced tool."""
    why = "Claude's extended thinking (reasoning_effort) takes"
    temperature = params.get("temperature")
    if temperature is not None and temperature != 1:
        b.unsupported("body.temperature", temperature, f"{why} temperature 1 only")
    top_p = params.get("top_p")
    if top_p is not None and top_p < THINKING_MIN_TOP_P:
        b.unsupported("body.top_p", top_p, f"{why} top_p {THINKING_MIN_TOP_P} to 1 only")
    tool_choice = params.get("tool_choice")
    if tool_choice is not None and tool_choice["type"] in ("any", "tool"):
        b.unsupported("body.tool_choice", b.get("tool_choice"), f"{why} tool_choice auto or none only")


def _response_format(b: ChatBody, params: dict[str, Any], capabilities: claude.ClaudeModel) -> None:
    """json_schema -> native structured outputs on the models that have them; otherwise (and json_object) a
    forced tool whose input is the answer (``translate.structured``)."""
    fmt = chat.response_format(b)
    if fmt is None or fmt.kind == "text":
        return
    if fmt.schema is not None and fmt.strict:
        chat.check_strict_schema(b, fmt.schema)
    problem = None
    if fmt.schema is not None and capabilities.structured_outputs:
        problem = claude.schema_problem(fmt.schema)
        if problem is None:
            output_format = {"type": "json_schema", "schema": claude.native_schema(fmt.schema)}
            params["output_config"] = {**params.get("output_config", {}), "format": output_format}
            return
        if fmt.strict:  # a strict schema must hold: the forced tool would only be guided by it
            b.fail(
                f"{chat.SCHEMA_PARAM}{problem.path}",
                f"{problem.problem} (a limit of Claude's structured outputs; a strict schema must be in their subset)",
                "unsupported_value",
            )
    how = _forced_tool_how(fmt, problem, params["model"])
    if "tools" in params:
        b.unsupported("body.response_format", b.get("response_format"), f"{how}, which the line's own tools rule out")
    if params.get("thinking", {}).get("type") in ("enabled", "adaptive"):
        b.unsupported(
            "body.response_format",
            b.get("response_format"),
            f"{how}, which extended thinking (reasoning_effort) rules out",
        )
    params["tools"] = [
        {
            "name": structured.RESPONSE_TOOL,
            "description": structured.tool_description(fmt),
            "input_schema": structured.tool_schema(b, fmt),
        }
    ]
    params["tool_choice"] = {"type": "tool", "name": structured.RESPONSE_TOOL}


def _forced_tool_how(fmt: chat.ResponseFormat, problem: SchemaProblem | None, model: str) -> str:
    """Why response_format goes to the forced tool (the start of a 400 when the tool is ruled out)."""
    if fmt.schema is None:
        return "Claude has no JSON mode: a JSON object comes as a forced tool's input"
    if problem is not None:
        return (
            f"the schema is outside Claude's structured outputs (schema{problem.path} {problem.problem}): not "
            "strict, it goes to a forced tool as guidance"
        )
    return (
        f"{model} has no native structured outputs (Claude 4.5 and later have them): the schema goes to a forced tool"
    )


def _tools(b: ChatBody) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, tool in enumerate(chat.tools(b)):
        structured.check_tool_name(b, tool.name, f"body.tools[{i}]")
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
    reply, forced = _reply(message.get("content"))
    # An unknown (future) stop reason still ended the turn normally; "stop" is the honest default.
    finish_reason = FINISH_REASONS.get(str(message.get("stop_reason")), "stop")
    if forced and finish_reason == "tool_calls":
        finish_reason = "stop"  # the forced tool was the answer, as OpenAI's JSON answer ends with "stop"
    return {
        "id": message_id,
        "object": "chat.completion",
        "created": created,
        "model": message.get("model"),
        "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": finish_reason}],
        "usage": message_usage(message.get("usage")),
    }


def _reply(blocks: Any) -> tuple[dict[str, Any], bool]:
    """The content blocks as the assistant message, and whether they answered through response_format's tool
    (then its input is the content, and nothing else is said)."""
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in blocks if isinstance(blocks, list) else []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use" and block.get("name") == structured.RESPONSE_TOOL:
            return {"role": "assistant", "content": structured.content(block.get("input")), "refusal": None}, True
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
    return reply, False


def message_usage(usage: Any) -> dict[str, Any]:
    """Anthropic's usage -> OpenAI's: ``input_tokens`` leaves out cache writes and reads, which OpenAI's
    ``prompt_tokens`` counts (cache reads are its ``cached_tokens``); thinking tokens are reasoning tokens."""
    cache_write = completion.count(usage, "cache_creation_input_tokens")
    cache_read = completion.count(usage, "cache_read_input_tokens")
    details = usage.get("output_tokens_details") if isinstance(usage, dict) else None
    return completion.usage(
        completion.count(usage, "input_tokens") + cache_write + cache_read,
        completion.count(usage, "output_tokens"),
        cached_tokens=cache_read,
        reasoning_tokens=completion.count(details, "thinking_tokens"),
    )


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
