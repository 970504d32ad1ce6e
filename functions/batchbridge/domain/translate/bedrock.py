"""OpenAI chat.completions <-> Amazon Bedrock batch records (`modelInput` / `modelOutput`), per model family.

Pure functions, standard library only. A Bedrock batch record's `modelInput` is the model's native `InvokeModel`
body, so the translation depends on the model family (`family_of`). As in the Anthropic translation, nothing is
silently wrong: a field the model cannot honour is rejected with a 400 that names the line's custom_id and the
field; a field that changes nothing is dropped.

Model ids: a Bedrock model id (`anthropic.claude-3-5-sonnet-20240620-v1:0`), the same with a cross-region
inference-profile prefix (`us.`, `eu.`, `apac.`, `global.`, and AWS's `us-gov.`, `jp.`, `au.`, `ca.`), or an ARN
whose last path segment is one of those (`arn:aws:bedrock:...:inference-profile/us.amazon.nova-pro-v1:0`).

| Model id                  | Family      |
|---------------------------|-------------|
| `anthropic.*`             | `anthropic` |
| `amazon.nova-*`           | `nova`      |
| `meta.llama3*` (3.x)      | `llama`     |
| `mistral.*`               | `mistral`   |

Anything else is a 400 `unsupported_model`, including Llama 2 and Llama 4 (`meta.llama2*`, `meta.llama4*`): their
prompt templates use other special tokens, and a Llama 3 prompt would reach them as plain text.

anthropic (Claude): the body is the Anthropic translation (`translate.anthropic.claude_params`; see its docstring
for every translated, dropped and rejected field), for what the job's model takes (`translate.claude`: native
structured outputs for `response_format` json_schema on Claude 4.5 and later, a forced tool otherwise and for
json_object; `reasoning_effort` as extended thinking where the model has it; sampling, prefill and a forced tool's
`thinking: {type: disabled}` as the job's model takes them, on the one-pass path too), then

| Change                                        | Why                                                               |
|-----------------------------------------------|-------------------------------------------------------------------|
| `model` removed                               | Bedrock takes the model from the job's `modelId`                  |
| `anthropic_version: "bedrock-2023-05-31"` added | required by Bedrock's Claude body                               |
| `metadata` (from OpenAI `user`) removed       | Bedrock's Claude body has no `metadata`; `user` is dropped        |
| https image URLs                              | fetched and inlined as base64 by the gateway before translation   |
|                                               | (`domain.images`; with BATCHBRIDGE_FETCH_IMAGE_URLS off, a 400)   |

The `modelOutput` is an Anthropic Message: `translate.anthropic.message_to_chat_completion`, with `model` set to
the Bedrock model id when the message has none; `request_id` is the message id.

Common to nova, llama and mistral (text-only families):

| OpenAI                                        | Result                                                            |
|-----------------------------------------------|-------------------------------------------------------------------|
| `model`                                       | required, then dropped (the job's `modelId` names the model)      |
| `system` / `developer` messages (anywhere)    | the family's system prompt, texts joined with a blank line        |
| text parts of one message                     | nova: one text block each; llama / mistral: joined with a blank line |
| assistant `refusal` (field or part)           | assistant text, as in the Anthropic translation                   |
| `max_completion_tokens` ?? `max_tokens`       | the family's max-tokens field; omitted (model default) if absent  |
| `temperature` 0..1 / `top_p` 0..1             | the family's fields; `temperature` > 1 is rejected (range 0..1)   |
| `stop` (string or <= 4)                       | nova / mistral: the family's stop field; llama: rejected          |
| `response_format` json_object / json_schema   | nova: a forced tool (below); llama / mistral: rejected (no JSON)  |

Dropped (no effect, or an OpenAI account feature): `seed` (best effort in OpenAI's API; no family body has one),
`service_tier`, `store`, `metadata`, `user`,
`stream: false`, `stream_options`, `n: 1`, `logprobs: false`, zero penalties, `response_format: {"type": "text"}`,
`reasoning_effort: "none"` (what these models do anyway), `logit_bias: {}`, `modalities: ["text"]`,
`parallel_tool_calls` (no tools to run), `tools: []`, `tool_choice` "none" / "auto" without tools, message `name`,
and any optional field whose value is null.

Rejected with 400: images (not translated for these families yet), non-empty `tools`, any other `tool_choice`,
assistant `tool_calls`, `tool` / `function` messages, audio / file parts, `n` > 1, `stream: true`, `logprobs: true`,
`top_logprobs`, non-zero penalties, a `seed` that is not an integer, `reasoning_effort` other than "none" (not
translated for these families), `audio`, `prediction`, `functions` / `function_call`, non-text `modalities`,
non-empty `logit_bias`, and any unknown field.

nova (Amazon Nova, `schemaVersion: "messages-v1"`):

| OpenAI                          | Nova                                                              |
|---------------------------------|-------------------------------------------------------------------|
| system / developer              | `system: [{"text"}]` (omitted if none)                            |
| user / assistant                | `messages[]{role, content: [{"text"}, ...]}`                      |
| max tokens, temperature, top_p  | `inferenceConfig{maxTokens, temperature, topP}`                   |
| `stop` (string or <= 4)         | `inferenceConfig.stopSequences` (`inferenceConfig` omitted if empty) |
| `response_format` json_object / json_schema | `toolConfig` forcing one tool (below)                     |

The forced tool: `toolConfig: {tools: [{toolSpec: {name: "batchbridge_json_response", description, inputSchema:
{json: <the schema, or {"type": "object"} for json_object>}}}], toolChoice: {tool: {name}}}`. As for Claude
(`translate.structured`), a strict json_schema is held to OpenAI's strict rules and its root must be an object.

Output `{"output": {"message": {"content": [{"text"}]}}, "stopReason", "usage"}`: texts joined (a `toolUse` of
response_format's tool is the answer instead: its input as compact JSON content, "stop" for `tool_use`);
`stopReason` end_turn / stop_sequence -> stop, max_tokens -> length, content_filtered / guardrail_intervened ->
content_filter, tool_use -> tool_calls, anything else -> stop; usage: prompt_tokens = inputTokens +
cacheReadInputTokenCount + cacheWriteInputTokenCount (Bedrock's inputTokens leaves cache reads and writes out),
cached_tokens = cacheReadInputTokenCount, completion_tokens = outputTokens.

llama (Meta Llama 3.x): `{"prompt", "max_gen_len", "temperature", "top_p"}`. The prompt is the Llama 3 chat
template: `<|begin_of_text|>`, then `<|start_header_id|>system<|end_header_id|>\\n\\n{system}<|eot_id|>` if there is a
system prompt, then `<|start_header_id|>{role}<|end_header_id|>\\n\\n{text}<|eot_id|>` per user / assistant message,
then `<|start_header_id|>assistant<|end_header_id|>\\n\\n`. `stop` is rejected (Llama on Bedrock has no stop
sequences). Output `{"generation", "prompt_token_count", "generation_token_count", "stop_reason"}`: stop -> stop,
length -> length, anything else -> stop.

mistral (Mistral 7B / Mixtral 8x7B / Large text models): `{"prompt", "max_tokens", "temperature", "top_p", "stop"}`.
Consecutive messages of one role are merged (blank line), then the prompt is `<s>[INST] {system}\\n\\n{first user}
[/INST]`, each assistant turn ` {text}</s>`, each later user turn `[INST] {text} [/INST]`. The conversation must
start and end with a user turn (400 otherwise: Mistral's template has no other shape). Output `{"outputs": [{"text",
"stop_reason"}]}`: stop -> stop, length / model_length -> length, tool_calls -> tool_calls, anything else -> stop.
Mistral's native response carries no token counts (InvokeModel returns them in headers, which a batch record does
not keep), so usage is reported as 0 / 0 / 0; the job's `manifest.json.out` has the job's totals. Every usage is in
OpenAI's shape, both details objects included (zeros where the family reports no such tokens).

Nova, Llama and Mistral completions get `id` "chatcmpl-" + a hash of the batch line id (stable across re-reads) and
`model` = the Bedrock model id; their `request_id` is "".

Error records `{"error": {"errorCode", "errorMessage"}}` become error lines with `response.status_code` = the
errorCode when it is a 4xx/5xx number (or a numeric string), the InvokeModel status of a named Bedrock exception
(`ValidationException` -> 400, `ThrottlingException` -> 429, ...), else 500; `type` is invalid_request_error for
4xx and server_error otherwise.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final, Literal, Protocol, get_args

from batchbridge.domain import output_lines
from batchbridge.domain.endpoints import CHAT_ENDPOINT
from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.output_lines import completion_id as completion_id
from batchbridge.domain.ports import ResultContext
from batchbridge.domain.translate import ResultTranslation, anthropic, chat, claude, completion, structured
from batchbridge.domain.translate.anthropic import claude_params, message_to_chat_completion, one_pass, simple_params
from batchbridge.domain.translate.chat import ChatBody

Family = Literal["anthropic", "nova", "llama", "mistral"]
FAMILIES: Final[tuple[Family, ...]] = get_args(Family)
NAME: Final = "bedrock"  # the provider, as the gateway names it (in the 502 of a result it cannot read)

ANTHROPIC_VERSION: Final = "bedrock-2023-05-31"
NOVA_SCHEMA_VERSION: Final = "messages-v1"

# Cross-region inference-profile prefixes: "us.anthropic.claude-...".
PROFILE_PREFIXES: Final = ("us", "eu", "apac", "global", "us-gov", "jp", "au", "ca")

_FAMILY_PREFIXES: Final[tuple[tuple[str, Family], ...]] = (
    ("anthropic.", "anthropic"),
    ("amazon.nova-", "nova"),
    ("meta.llama3", "llama"),
    ("mistral.", "mistral"),
)

_PROVIDER_NAMES: Final[dict[Family, str]] = {
    "anthropic": "Claude on Bedrock",
    "nova": "Amazon Nova on Bedrock",
    "llama": "Meta Llama on Bedrock",
    "mistral": "Mistral on Bedrock",
}

NOVA_FINISH_REASONS: Final[dict[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
    "tool_use": "tool_calls",
}
LLAMA_FINISH_REASONS: Final[dict[str, str]] = {"stop": "stop", "length": "length"}
MISTRAL_FINISH_REASONS: Final[dict[str, str]] = {
    "stop": "stop",
    "length": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
}

# InvokeModel's documented exceptions -> their HTTP status, for error records that name one instead of a number.
ERROR_CODE_STATUS: Final[dict[str, int]] = {
    "ValidationException": 400,
    "ServiceQuotaExceededException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "ModelNotReadyException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}

# Why the text-only families reject a chat-body field they cannot honour (see chat.check_dropped_and_rejected).
_REASONS: Final = chat.Reasons(
    logprobs="no log probabilities are returned",
    penalties="the model has no presence or frequency penalty",
    response_format="",  # unused: response_format is read by each family (_nova_response_format, _no_response_format)
    audio="the model produces no audio",
    prediction="no predicted outputs",
    modalities="the model produces text only",
    logit_bias="no logit bias",
)

# Fields these translations read themselves, which chat.check_dropped_and_rejected would otherwise reject.
_TRANSLATED: Final = frozenset({"response_format", "reasoning_effort"})

_REJECTED_ROLES: Final = {
    "tool": "tool messages are not translated for this model family yet",
    "function": "tool messages are not translated for this model family yet",
}


# --------------------------------------------------------------------------------------------------------------
# model id -> family


def base_model(model_id: str) -> str:
    """Bedrock model id, inference profile id or ARN -> the model id alone (``anthropic.claude-...``)."""
    name = model_id.rsplit("/", 1)[-1] if model_id.startswith("arn:") else model_id
    region, dot, rest = name.partition(".")
    return rest if dot and region in PROFILE_PREFIXES else name


@functools.lru_cache(maxsize=64)
def claude_model(model_id: str) -> claude.ClaudeModel:
    """What the Claude model behind a Bedrock model id, inference profile or ARN takes (``translate.claude``)."""
    return claude.model(base_model(model_id).removeprefix("anthropic."))


@functools.lru_cache(maxsize=64)  # asked once per line of a file that names one model
def family_of(model_id: str) -> Family:
    """Bedrock model id, inference profile id or ARN -> the model family; 400 unsupported_model otherwise."""
    name = base_model(model_id)
    for prefix, family in _FAMILY_PREFIXES:
        if name.startswith(prefix):
            return family
    raise bad_request(
        f"Model {model_id!r} is not supported on Bedrock by this gateway; supported families: "
        "anthropic.* (Claude), amazon.nova-* (Amazon Nova), meta.llama3* (Meta Llama 3.x), mistral.* (Mistral).",
        param="model",
        code="unsupported_model",
    )


def image_media_types(model_id: str) -> tuple[str, ...]:
    """The image types the model's family takes (inline, base64), none for the families whose images are not
    translated (or a model this gateway does not run: its lines are refused by the translation)."""
    try:
        family = family_of(model_id)
    except GatewayError:
        return ()
    return anthropic.IMAGE_MEDIA_TYPES if family == "anthropic" else ()


# --------------------------------------------------------------------------------------------------------------
# OpenAI chat body -> modelInput


def chat_to_model_input(body: dict[str, Any], *, custom_id: str, model_id: str) -> dict[str, Any]:
    """OpenAI chat body -> the model's native InvokeModel body (Bedrock batch `modelInput`)."""
    family = family_of(model_id)
    if family == "anthropic":
        return _claude_input(body, custom_id, model_id)
    b = ChatBody(body, custom_id, _PROVIDER_NAMES[family])
    _check_common(b)
    system, turns = _turns(b)
    if family == "nova":
        return _nova_input(b, system, turns)
    _no_response_format(b)
    if family == "llama":
        return _llama_input(b, system, turns)
    return _mistral_input(b, system, turns)


def _claude_input(body: dict[str, Any], custom_id: str, model_id: str) -> dict[str, Any]:
    common = chat.simple(body)
    if one_pass(common, claude_model(model_id)):  # the common line, in one pass: what _claude_general gives it
        return simple_params({"anthropic_version": ANTHROPIC_VERSION}, common, user_metadata=False)
    return _claude_general(body, custom_id, model_id)


def _claude_general(body: dict[str, Any], custom_id: str, model_id: str | None = None) -> dict[str, Any]:
    """The Anthropic translation for what the job's model (``model_id``; by default the line's) takes, then
    Bedrock's body."""
    params = claude_params(body, custom_id, None if model_id is None else claude_model(model_id))
    params.pop("model")
    params.pop("metadata", None)  # Bedrock's Claude body has no metadata: OpenAI `user` is dropped
    # chat_to_params has validated the messages; Claude on Bedrock reads base64 image sources only.
    for i, message in enumerate(body["messages"]):
        content = message.get("content")
        if type(content) is str or message.get("role") != "user" or not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            url = part["image_url"]["url"] if part["type"] == "image_url" else ""
            if url and not url.startswith("data:"):
                ChatBody(body, custom_id, _PROVIDER_NAMES["anthropic"]).unsupported(
                    f"body.messages[{i}].content[{j}].image_url.url",
                    url,
                    "Bedrock takes base64 images only; send a data: URL",
                )
    return {"anthropic_version": ANTHROPIC_VERSION, **params}


def _check_common(b: ChatBody) -> None:
    chat.check_fields(b)
    chat.model(b)
    if b.body.keys().isdisjoint(_TRANSLATED):
        chat.check_dropped_and_rejected(b, _REASONS)
    else:
        rest = {key: value for key, value in b.body.items() if key not in _TRANSLATED}
        chat.check_dropped_and_rejected(ChatBody(rest, b.custom_id, b.provider), _REASONS)
    tools = b.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            b.fail("body.tools", "must be a list", "invalid_type")
        if tools:
            b.unsupported(
                "body.tools", tools, "tools are not translated for this model family yet", "unsupported_parameter"
            )
    choice = b.get("tool_choice")
    if choice is not None and (tools or choice not in ("none", "auto")):
        b.unsupported(
            "body.tool_choice", choice, "tools are not translated for this model family yet", "unsupported_parameter"
        )
    chat.parallel_tool_calls(b)
    chat.user(b)
    effort = chat.reasoning_effort(b)
    if effort is not None and effort != "none":  # "none" asks for what these models do anyway
        b.unsupported(
            "body.reasoning_effort",
            effort,
            "reasoning is not translated for this model family",
            "unsupported_parameter",
        )
    seed = b.get("seed")
    if seed is not None and not chat.is_int(seed):
        b.fail("body.seed", "must be an integer", "invalid_type")
    # seed (best effort in OpenAI's API), service_tier, store, metadata, stream_options, user, parallel_tool_calls:
    # dropped (module docstring).


def _no_response_format(b: ChatBody) -> None:
    """Llama and Mistral prompt bodies have no JSON switch: response_format text only."""
    fmt = chat.response_format(b)
    if fmt is not None and fmt.kind != "text":
        b.unsupported(
            "body.response_format",
            b.get("response_format"),
            f"{b.provider} takes a prompt only, with no JSON mode or JSON schema; describe the format in the prompt",
        )


def _turns(b: ChatBody) -> tuple[str, list[tuple[str, list[str]]]]:
    """The system prompt (texts joined by a blank line) and the user / assistant turns, as (role, texts)."""
    system: list[str] = []
    turns: list[tuple[str, list[str]]] = []
    for i, message in enumerate(chat.messages(b)):
        where = f"body.messages[{i}]"
        role = chat.message_role(b, message, where, _REJECTED_ROLES, "system, developer, user or assistant")
        if role in ("system", "developer"):
            system.extend(_texts(b, message.get("content"), f"{where}.content", ("text",)))
        elif role == "user":
            turns.append(("user", _texts(b, message.get("content"), f"{where}.content", ("text",))))
        else:
            turns.append(("assistant", _assistant_texts(b, message, where)))
    if not turns:
        b.fail("body.messages", f"has no user or assistant message; {b.provider} needs at least one")
    return "\n\n".join(system), turns


def _texts(b: ChatBody, content: Any, where: str, kinds: tuple[str, ...]) -> list[str]:
    """String or content parts of the given kinds -> the texts; images and other parts are rejected."""
    if isinstance(content, str):
        return [content]
    if content is None:
        b.fail(where, "is required", "missing_required_parameter")
    if not isinstance(content, list):
        b.fail(where, "must be a string or a list of content parts", "invalid_type")
    texts: list[str] = []
    for j, part in enumerate(content):
        here = f"{where}[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            b.fail(here, "must be a content part object with a type", "invalid_type")
        kind = part["type"]
        if kind not in kinds:
            why = (
                "images are not translated for this model family yet"
                if kind == "image_url"
                else f"only {' and '.join(kinds)} parts are allowed here"
            )
            b.unsupported(f"{here}.type", kind, why)
        texts.append(chat.part_text(b, part, here, kind))
    return texts


def _assistant_texts(b: ChatBody, message: dict[str, Any], where: str) -> list[str]:
    chat.check_assistant_extras(b, message, where, "no audio turns")
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        if not isinstance(tool_calls, list):
            b.fail(f"{where}.tool_calls", "must be a list", "invalid_type")
        if tool_calls:
            b.unsupported(f"{where}.tool_calls", tool_calls, "tool calls are not translated for this model family yet")
    content = message.get("content")
    if content is None and message.get("refusal") is None:
        b.fail(f"{where}.content", "is required", "missing_required_parameter")
    texts = [] if content is None else _texts(b, content, f"{where}.content", ("text", "refusal"))
    refusal = chat.refusal(b, message, where)
    if refusal is not None:
        texts.append(refusal)  # what the assistant said; the model sees it as text
    return texts


def _sampling(b: ChatBody) -> tuple[float | int | None, float | int | None]:
    """(temperature, top_p), each checked; these families take both in 0..1."""
    values: list[float | int | None] = []
    for key, high in (("temperature", 2.0), ("top_p", 1.0)):
        value = chat.number(b, key, 0.0, high)
        # Rejecting beats clamping: rescaling would change every other value's meaning.
        if value is not None and value > 1:
            b.unsupported(f"body.{key}", value, f"{b.provider}'s {key} range is 0 to 1")
        values.append(value)
    return values[0], values[1]


def _generation(b: ChatBody, max_tokens: str, temperature: str, top_p: str) -> dict[str, Any]:
    """Max tokens, temperature and top_p, each checked, under the family's names; absent ones are omitted."""
    values = (chat.max_tokens(b), *_sampling(b))
    return {
        name: value for name, value in zip((max_tokens, temperature, top_p), values, strict=True) if value is not None
    }


def _nova_input(b: ChatBody, system: str, turns: list[tuple[str, list[str]]]) -> dict[str, Any]:
    model_input: dict[str, Any] = {"schemaVersion": NOVA_SCHEMA_VERSION}
    if system:
        model_input["system"] = [{"text": system}]
    model_input["messages"] = [{"role": role, "content": [{"text": text} for text in texts]} for role, texts in turns]
    config = _generation(b, "maxTokens", "temperature", "topP")
    stop = chat.stop(b)
    if stop:
        config["stopSequences"] = stop
    if config:
        model_input["inferenceConfig"] = config
    tool_config = _nova_response_format(b)
    if tool_config is not None:
        model_input["toolConfig"] = tool_config
    return model_input


def _nova_response_format(b: ChatBody) -> dict[str, Any] | None:
    """json_object / json_schema -> Nova's tool forcing: one tool whose input is the answer (Nova has no JSON
    switch in its InvokeModel body; the line's own tools are not translated, so nothing conflicts)."""
    fmt = chat.response_format(b)
    if fmt is None or fmt.kind == "text":
        return None
    if fmt.schema is not None and fmt.strict:
        chat.check_strict_schema(b, fmt.schema)
    spec = {
        "name": structured.RESPONSE_TOOL,
        "description": structured.tool_description(fmt),
        "inputSchema": {"json": structured.tool_schema(b, fmt)},
    }
    return {"tools": [{"toolSpec": spec}], "toolChoice": {"tool": {"name": structured.RESPONSE_TOOL}}}


def _llama_input(b: ChatBody, system: str, turns: list[tuple[str, list[str]]]) -> dict[str, Any]:
    stop = b.get("stop")
    if stop is not None and stop != []:
        b.unsupported("body.stop", stop, "Llama on Bedrock has no stop sequences", "unsupported_parameter")
    prompt = ["<|begin_of_text|>"]
    if system:
        prompt.append(f"<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>")
    for role, texts in turns:
        prompt.append(f"<|start_header_id|>{role}<|end_header_id|>\n\n{_join(texts)}<|eot_id|>")
    prompt.append("<|start_header_id|>assistant<|end_header_id|>\n\n")
    return {"prompt": "".join(prompt), **_generation(b, "max_gen_len", "temperature", "top_p")}


def _mistral_input(b: ChatBody, system: str, turns: list[tuple[str, list[str]]]) -> dict[str, Any]:
    merged: list[tuple[str, str]] = []
    for role, texts in turns:
        text = _join(texts)
        if merged and merged[-1][0] == role:
            merged[-1] = (role, _join([merged[-1][1], text]))
        else:
            merged.append((role, text))
    if merged[0][0] != "user":
        b.fail("body.messages", "must start with a user message (after any system messages) for Mistral")
    if merged[-1][0] != "user":
        b.fail("body.messages", "must end with a user message for Mistral (a prompt cannot continue an assistant turn)")
    prompt = ["<s>"]
    for index, (role, text) in enumerate(merged):
        if role == "assistant":
            prompt.append(f" {text}</s>")
        else:
            prompt.append(f"[INST] {_join([system, text]) if index == 0 and system else text} [/INST]")
    model_input = {"prompt": "".join(prompt), **_generation(b, "max_tokens", "temperature", "top_p")}
    stop = chat.stop(b)
    if stop:
        model_input["stop"] = stop
    return model_input


def _join(texts: list[str]) -> str:
    return "\n\n".join(texts)


# --------------------------------------------------------------------------------------------------------------
# Bedrock output record -> OpenAI batch output line


def chat_result(record: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
    """One Bedrock .jsonl.out line -> ("output" | "error", OpenAI batch output line), for a chat completions batch.

    ``context.custom_id`` is the user's original custom_id (the caller restores it from the recordId);
    ``context.line_id`` is the "batch_req_..." id to use; ``context.model`` is the job's model (id, inference
    profile or ARN), which says how to read the output.
    """
    output = record.get("modelOutput")
    if output is not None:
        if not isinstance(output, dict):
            raise output_lines.bad_response(
                NAME, f"a modelOutput that is not an object for custom_id {context.custom_id!r}"
            )
        request_id, body = _completion(output, context)
        return output_lines.success(context.line_id, context.custom_id, body, request_id)
    error = record.get("error")
    if isinstance(error, dict):
        status = _error_status(error.get("errorCode"))
        return output_lines.provider_error(context.line_id, context.custom_id, status, error.get("errorMessage"), None)
    raise output_lines.bad_response(
        NAME, f"a record with neither modelOutput nor error for custom_id {context.custom_id!r}"
    )


def record_to_output_line(
    record: dict[str, Any], *, custom_id: str, line_id: str, created: int, model_id: str
) -> tuple[str, dict[str, Any]]:
    """``chat_result`` of a chat completions batch's record, its context given field by field."""
    return chat_result(record, ResultContext(CHAT_ENDPOINT, model_id, created, custom_id, line_id))


def _error_status(code: Any) -> int:
    if isinstance(code, str):
        if code.strip().isdigit():
            code = int(code.strip())
        else:
            return ERROR_CODE_STATUS.get(code.strip(), 500)
    if chat.is_int(code) and 400 <= code <= 599:
        status: int = code
        return status
    return 500


def _completion(output: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
    """modelOutput -> (request_id, chat.completion)."""
    family = family_of(context.model)
    if family == "anthropic":
        body = message_to_chat_completion(output, created=context.created)
        if body["model"] is None:
            body["model"] = context.model
        return str(body["id"]), body
    if family == "nova":
        text, finish, usage = _nova_answer(output, context.custom_id)
    elif family == "llama":
        text, finish, usage = _llama_answer(output, context.custom_id)
    else:
        text, finish, usage = _mistral_answer(output, context.custom_id)
    return "", _chat_completion(text, finish, usage, context)


def _nova_answer(output: dict[str, Any], custom_id: str) -> tuple[str, str, dict[str, Any]]:
    """A Nova output's (content, finish_reason, usage): its texts, or response_format's tool input."""
    message = output.get("output")
    message = message.get("message") if isinstance(message, dict) else None
    blocks = message.get("content") if isinstance(message, dict) else None
    if not isinstance(blocks, list):
        raise output_lines.bad_response(
            NAME, f"a Nova output without output.message.content for custom_id {custom_id!r}"
        )
    finish = NOVA_FINISH_REASONS.get(str(output.get("stopReason")), "stop")
    forced = next(
        (
            block["toolUse"]
            for block in blocks
            if isinstance(block, dict)
            and isinstance(block.get("toolUse"), dict)
            and block["toolUse"].get("name") == structured.RESPONSE_TOOL
        ),
        None,
    )
    if forced is not None:  # response_format's tool: its input is the answer, which ended normally
        text = structured.content(forced.get("input"))
        finish = "stop" if finish == "tool_calls" else finish
    else:
        # Only text blocks carry the reply; reasoning and tool-use blocks have no counterpart here.
        text = "".join(str(block["text"]) for block in blocks if isinstance(block, dict) and "text" in block)
    counts = output.get("usage")
    # Like Anthropic's, Nova's inputTokens leave out cache reads and writes, which OpenAI's prompt_tokens count.
    cache_read = completion.count(counts, "cacheReadInputTokenCount")
    prompt = (
        completion.count(counts, "inputTokens") + cache_read + completion.count(counts, "cacheWriteInputTokenCount")
    )
    usage = completion.usage(prompt, completion.count(counts, "outputTokens"), cached_tokens=cache_read)
    return text, finish, usage


def _llama_answer(output: dict[str, Any], custom_id: str) -> tuple[str, str, dict[str, Any]]:
    generation = output.get("generation")
    if not isinstance(generation, str):
        raise output_lines.bad_response(NAME, f"a Llama output without a generation for custom_id {custom_id!r}")
    finish = LLAMA_FINISH_REASONS.get(str(output.get("stop_reason")), "stop")
    usage = completion.usage(
        completion.count(output, "prompt_token_count"), completion.count(output, "generation_token_count")
    )
    return generation, finish, usage


def _mistral_answer(output: dict[str, Any], custom_id: str) -> tuple[str, str, dict[str, Any]]:
    outputs = output.get("outputs")
    first = outputs[0] if isinstance(outputs, list) and outputs else None
    if not isinstance(first, dict) or not isinstance(first.get("text"), str):
        raise output_lines.bad_response(NAME, f"a Mistral output without outputs[0].text for custom_id {custom_id!r}")
    finish = MISTRAL_FINISH_REASONS.get(str(first.get("stop_reason")), "stop")
    # Mistral's native body has no token counts: reported as zeros (see the module docstring).
    return first["text"], finish, completion.usage(0, 0)


def _chat_completion(text: str, finish_reason: str, usage: dict[str, Any], context: ResultContext) -> dict[str, Any]:
    return {
        "id": output_lines.completion_id(context.line_id),
        "object": "chat.completion",
        "created": context.created,
        "model": context.model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": usage,
    }


class RequestTranslation(Protocol):
    """An OpenAI request body -> the ``modelInput`` of a record for the model ``model_id``."""

    def __call__(self, body: dict[str, Any], *, custom_id: str, model_id: str) -> dict[str, Any]: ...


# The translations by endpoint: an OpenAI request body -> a record's modelInput, and a .jsonl.out line -> an output
# line.
REQUESTS: Final[Mapping[str, RequestTranslation]] = {CHAT_ENDPOINT: chat_to_model_input}
RESULTS: Final[Mapping[str, ResultTranslation]] = {CHAT_ENDPOINT: chat_result}
