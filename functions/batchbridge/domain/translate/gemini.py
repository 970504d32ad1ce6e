"""OpenAI chat.completions <-> Gemini GenerateContent, for Gemini batch lines (`{"key", "request"}` / `{"key",
"response" | "error"}`).

Pure functions, standard library only. As in the other translations, nothing is silently wrong: a field Gemini
cannot honour is rejected with a 400 that names the line's custom_id and the field (chat.py's checks and wording);
a field that changes nothing is dropped.

| OpenAI                                          | Gemini GenerateContentRequest                                 |
|-------------------------------------------------|---------------------------------------------------------------|
| `model`                                         | optional, then dropped: the model is in the batch URL         |
| `system` / `developer` messages (anywhere)      | `systemInstruction: {"parts": [{"text"}, ...]}`               |
| `user` / `assistant` messages                   | `contents[]{role: "user" / "model", parts}`                   |
| text parts (and assistant `refusal`)            | `{"text"}` parts                                              |
| image_url `data:<type>;base64,<data>`           | `{"inlineData": {"mimeType", "data"}}` (png/jpeg/webp/heic/heif) |
| image_url `https://...`                         | `{"fileData": {"mimeType", "fileUri"}}` (type from the extension) |
| assistant `tool_calls`                          | `{"functionCall": {"name", "args": <parsed arguments>}}` parts |
| `tool` messages (consecutive ones merged)       | one user content of `{"functionResponse": {...}}` parts (1)   |
| `max_completion_tokens` ?? `max_tokens`         | `generationConfig.maxOutputTokens`                            |
| `temperature` 0..2 / `top_p` 0..1               | `generationConfig.temperature` / `topP`                       |
| `stop` (a string or <= 4, OpenAI's limit)       | `generationConfig.stopSequences`                              |
| `n` 1..8                                        | `generationConfig.candidateCount`                             |
| `presence_penalty` / `frequency_penalty` -2..2  | `generationConfig.presencePenalty` / `frequencyPenalty`       |
| `seed`                                          | `generationConfig.seed`                                       |
| `response_format` text                          | nothing                                                       |
| `response_format` json_object                   | `generationConfig.responseMimeType: "application/json"`       |
| `response_format` json_schema                   | the same, plus `responseJsonSchema`: the schema as given (4)  |
| `reasoning_effort`                              | `generationConfig.thinkingConfig` (5)                         |
| `logprobs: true` (`top_logprobs` k 1..20)       | `generationConfig.responseLogprobs: true` (`logprobs: k`)     |
| `tools` (function)                              | `tools: [{"functionDeclarations": [...]}]` (3)                |
| `tool_choice` auto / none / required / function | `toolConfig.functionCallingConfig.mode` AUTO / NONE / ANY (2) |

(1) `{"functionResponse": {"name", "response": {"content": <text>}}}`; the name is the function name of the tool
call with that `tool_call_id` earlier in the conversation (400 if none). An https image URL whose path does not end
in a known image extension is a 400 (Gemini needs the MIME type; send a data: URL instead).
(2) A named function is mode ANY with `allowedFunctionNames: [name]`.
(3) One `{name, description?, parameters?}` declaration per function tool; `parameters` passes through as given.
(4) Gemini takes JSON Schema itself (`responseJsonSchema`: anyOf, $ref (recursive too), $defs, prefixItems,
min/max keywords, additionalProperties, formats, enums of any type), on every model with structured output (2.5 and
later), so the schema goes as the user wrote it; what Gemini refuses in it comes back as that line's error.
`json_schema.description` becomes the root's `description` when the schema has none (Gemini has no other place
for it). `name` is checked as OpenAI checks it (1..64 of a-zA-Z0-9_-), then dropped. `strict: true` is checked
at upload against OpenAI's strict-mode rules (`chat.check_strict_schema`: a 400 naming the keyword, as OpenAI
refuses such a line), then dropped (Gemini holds every answer to its schema). A json_schema without `schema` is
JSON mode.
(5) By the line's model, which the line must name (the batch's model is not known when the file is converted, so
a reasoning_effort on a line without `model` is a 400): Gemini 3 and later `thinkingLevel` (THINKING_LEVELS:
minimal / low / medium / high; xhigh and max are HIGH, the highest level Google documents for Gemini 3 models — the
SDK's enum has XHIGH, no model is documented to take it; none is a 400, Gemini 3 cannot stop thinking); Gemini 2.5,
and a name without a version, `thinkingBudget` (THINKING_BUDGETS: none 0, minimal and low 1024, medium 8192, high
24576 — Google's own OpenAI-compatible values; xhigh and max the model's largest budget, MAX_THINKING_BUDGET: 32768
for a Pro model, else 24576); Gemini 1.x and 2.0 do not think: 400. A model that cannot use the level or budget
(2.5 Pro cannot turn thinking off) answers that line with its own error. `max_completion_tokens` ->
maxOutputTokens holds the thinking as well, as OpenAI's does.

`generationConfig` is omitted when empty.

Dropped: `service_tier`, `store`, `metadata`, `user`, `stream: false`, `stream_options`, `logprobs: false`,
`top_logprobs: 0`, `logit_bias: {}`, `modalities: ["text"]`, `parallel_tool_calls: true`, `tool_choice` "none" /
"auto" without tools, `tools: []`, image `detail`, `json_schema.strict` / `name`, message `name`, and any optional
field whose value is null.

Rejected with 400: `stream: true`, `top_logprobs` without `logprobs: true`, `audio`, `prediction`, `functions` /
`function_call`, non-text `modalities`, non-empty `logit_bias`, `parallel_tool_calls: false` with tools (Gemini
has no switch for it), `tool_choice` required / function without tools, non-function tools, `strict` tools,
non-text / non-image parts, http (not https) image URLs, more than 4 `stop` sequences (OpenAI's limit; Gemini
would take 5), a strict schema that breaks OpenAI's strict rules (4), a reasoning_effort the model cannot take or
on a line without a model (5), unknown fields.

Responses: `candidates[i]` -> `choices[i]` (index i): text parts joined as they are (JSON mode's JSON text is the
content unchanged; `thought: true` parts skipped; null when there is no text); `functionCall` parts ->
`tool_calls` (id "call_" + a hash of the completion id and the part's position, `arguments` = json.dumps(args));
finishReason STOP -> stop (tool_calls when a function call is present), MAX_TOKENS -> length, SAFETY /
RECITATION / BLOCKLIST / PROHIBITED_CONTENT / SPII / IMAGE_* -> content_filter, anything else -> stop;
`logprobsResult` -> `logprobs.content` (chosenCandidates[k] with topCandidates[k] as its top_logprobs; bytes the
token's UTF-8), else null. Usage (`chat_usage`), in OpenAI's full shape: prompt = promptTokenCount (cached tokens
included, as OpenAI counts them) + toolUsePromptTokenCount, completion = candidatesTokenCount +
thoughtsTokenCount (OpenAI counts reasoning in the completion), total = totalTokenCount (else their sum),
prompt_tokens_details {cached_tokens = cachedContentTokenCount, audio_tokens = the AUDIO promptTokensDetails},
completion_tokens_details {reasoning_tokens = thoughtsTokenCount, audio_tokens = the AUDIO
candidatesTokensDetails, accepted / rejected_prediction_tokens = 0}; absent counts are 0.

A response whose prompt was blocked (`promptFeedback.blockReason`, no candidates) becomes an error line: status
400, code "prompt_blocked", a message naming the block reason. Error lines `{"key", "error": {"code", "message",
"status"}}` keep `status` as the error code; the HTTP status is `code` when it is one (400..599), else the one Google
maps the canonical code to (from `status`, or from `code` as a gRPC number), else 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from batchbridge.domain import output_lines
from batchbridge.domain.endpoints import CHAT_ENDPOINT
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.output_lines import completion_id as completion_id
from batchbridge.domain.ports import ResultContext
from batchbridge.domain.translate import RequestTranslation, ResultTranslation, chat, completion
from batchbridge.domain.translate.chat import ChatBody

PROVIDER: Final = "Gemini"
NAME: Final = "gemini"  # the provider, as the gateway names it (in the 502 of a result it cannot read)
MAX_CANDIDATES: Final = 8
MAX_STOP_SEQUENCES: Final = chat.MAX_STOP_SEQUENCES  # OpenAI's 4: OpenAI refuses a fifth (Gemini would take 5)

IMAGE_MEDIA_TYPES: Final = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
IMAGE_EXTENSIONS: Final[dict[str, str]] = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
}

FINISH_REASONS: Final[dict[str, str]] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}

JSON: Final = "application/json"
MAX_TOP_LOGPROBS: Final = 20  # OpenAI's limit; Gemini's `logprobs` takes 1..20

# reasoning_effort -> thinkingConfig: a level for Gemini 3 and later, a token budget for Gemini 2.5 and for a
# model name without a version. The budgets for low / medium / high are the ones Google's own OpenAI-compatible
# endpoint uses; xhigh and max take the most the model has.
REASONING_EFFORTS: Final = ("none", "minimal", "low", "medium", "high", "xhigh", "max")
# Gemini 3 models document MINIMAL..HIGH (3 Pro: LOW and HIGH); the SDK's XHIGH is no documented model's level.
THINKING_LEVELS: Final[dict[str, str]] = {
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
    "max": "HIGH",
}
THINKING_BUDGETS: Final[dict[str, int]] = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
# The largest thinkingBudget each Gemini 2.5 model takes: Pro 128..32768, Flash 0..24576, Flash-Lite 512..24576.
MAX_THINKING_BUDGET: Final[dict[str, int]] = {"pro": 32768, "other": 24576}
_PRO: Final = re.compile(r"-pro\b")
_GEMINI_VERSION: Final = re.compile(r"(?:models/)?gemini-(\d+)(?:\.(\d+))?\b")

# Fields Gemini translates, which chat.check_dropped_and_rejected would otherwise reject.
_TRANSLATED: Final = frozenset(
    {"n", "presence_penalty", "frequency_penalty", "response_format", "logprobs", "top_logprobs", "reasoning_effort"}
)
_NOT_IN_CHAT_FIELDS: Final = "reasoning_effort"  # translated here, whether or not chat.FIELDS knows it

_RESPONSE_FORMAT_NAME: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_JSON_SCHEMA_KEYS: Final = frozenset({"name", "description", "schema", "strict"})

_REASONS: Final = chat.Reasons(
    logprobs="",  # unused: logprobs are translated
    penalties="",  # unused: penalties are translated
    response_format="",  # unused: response_format is translated
    audio="Gemini batch output is text only here",
    prediction="no predicted outputs",
    modalities="only text output is translated",
    logit_bias="no logit bias",
)

_REJECTED_ROLES: Final = {"function": "deprecated; use tool messages"}


# --------------------------------------------------------------------------------------------------------------
# OpenAI chat body -> GenerateContentRequest


def chat_to_request(body: dict[str, Any], *, custom_id: str) -> dict[str, Any]:
    """OpenAI chat body -> GenerateContentRequest (no model: it goes in the URL)."""
    common = chat.simple(body, MAX_STOP_SEQUENCES)
    if common is not None:
        return _simple_request(common)
    return _request(body, custom_id)


def _simple_request(common: chat.Simple) -> dict[str, Any]:
    """The common line's request: what ``_request`` makes of it, in one pass."""
    request: dict[str, Any] = {
        "contents": [
            {"role": "user" if role == "user" else "model", "parts": [{"text": text}]} for role, text in common.turns
        ]
    }
    if common.system:
        request["systemInstruction"] = {"parts": [{"text": text} for text in common.system]}
    config: dict[str, Any] = {}
    if common.max_tokens is not None:
        config["maxOutputTokens"] = common.max_tokens
    if common.temperature is not None:
        config["temperature"] = common.temperature
    if common.top_p is not None:
        config["topP"] = common.top_p
    if common.stop:
        config["stopSequences"] = common.stop
    if config:
        request["generationConfig"] = config
    return request


def _request(body: dict[str, Any], custom_id: str) -> dict[str, Any]:
    b = ChatBody(body, custom_id, PROVIDER)
    if _NOT_IN_CHAT_FIELDS in body:
        chat.check_fields(ChatBody({k: v for k, v in body.items() if k != _NOT_IN_CHAT_FIELDS}, custom_id, PROVIDER))
    else:
        chat.check_fields(b)
    if "model" in body:  # optional: the batch may name the model instead
        chat.model(b)
    if body.keys().isdisjoint(_TRANSLATED):  # the usual line: nothing to leave out of the check
        chat.check_dropped_and_rejected(b, _REASONS)
    else:
        rest = ChatBody({k: v for k, v in body.items() if k not in _TRANSLATED}, custom_id, PROVIDER)
        chat.check_dropped_and_rejected(rest, _REASONS)
    chat.user(b)
    # seed is translated; service_tier, store, metadata, stream_options, user: dropped (module docstring).

    system, contents = _messages(b)
    request: dict[str, Any] = {"contents": contents}
    if system:
        request["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    tools = _tools(b)
    if tools:
        request["tools"] = [{"functionDeclarations": tools}]
    tool_config = _tool_config(b, tools)
    if tool_config is not None:
        request["toolConfig"] = tool_config
    if chat.parallel_tool_calls(b) is False and tools:
        b.unsupported("body.parallel_tool_calls", False, "Gemini cannot be limited to one call per turn")
    config = _generation_config(b)
    if config:
        request["generationConfig"] = config
    return request


_NUMBERS: Final = (
    ("temperature", "temperature", 0.0, 2.0),
    ("top_p", "topP", 0.0, 1.0),
    ("presence_penalty", "presencePenalty", -2.0, 2.0),
    ("frequency_penalty", "frequencyPenalty", -2.0, 2.0),
)


def _generation_config(b: ChatBody) -> dict[str, Any]:
    config: dict[str, Any] = {}
    max_tokens = chat.max_tokens(b)
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for key, name, low, high in _NUMBERS:
        if key in b.body:
            value = chat.number(b, key, low, high)
            if value is not None:
                config[name] = value
    stop = chat.stop(b, MAX_STOP_SEQUENCES)
    if stop:
        config["stopSequences"] = stop
    config.update(_candidates_and_seed(b))
    config.update(_logprobs(b))
    config.update(_response_format(b))
    config.update(_thinking(b))
    return config


def _candidates_and_seed(b: ChatBody) -> dict[str, Any]:
    config: dict[str, Any] = {}
    n = b.get("n")
    if n is not None:
        if not chat.is_int(n) or n < 1:
            b.fail("body.n", "must be a positive integer", "invalid_type")
        if n > MAX_CANDIDATES:
            b.unsupported("body.n", n, f"Gemini returns at most {MAX_CANDIDATES} candidates")
        if n > 1:
            config["candidateCount"] = n
    seed = b.get("seed")
    if seed is not None:
        if not chat.is_int(seed):
            b.fail("body.seed", "must be an integer", "invalid_type")
        config["seed"] = seed
    return config


def _logprobs(b: ChatBody) -> dict[str, Any]:
    """`logprobs` / `top_logprobs` -> `responseLogprobs` / `logprobs` (OpenAI's rules: top_logprobs 0..20, only
    with logprobs true)."""
    logprobs, top = b.get("logprobs"), b.get("top_logprobs")
    if logprobs is not None and not isinstance(logprobs, bool):
        b.fail("body.logprobs", "must be a boolean", "invalid_type")
    if top is not None:
        if not chat.is_int(top) or not 0 <= top <= MAX_TOP_LOGPROBS:
            b.fail("body.top_logprobs", f"must be an integer between 0 and {MAX_TOP_LOGPROBS}")
        if logprobs is not True:
            b.fail("body.top_logprobs", "needs logprobs: true", "invalid_value")
    if logprobs is not True:
        return {}
    return {"responseLogprobs": True, "logprobs": top} if top else {"responseLogprobs": True}


def _response_format(b: ChatBody) -> dict[str, Any]:
    """`response_format`: text -> nothing; json_object -> JSON output; json_schema -> JSON output held to the
    schema (`responseJsonSchema`, note 4 of the module docstring)."""
    value = b.get("response_format")
    if value is None:
        return {}
    if not isinstance(value, dict):
        b.fail("body.response_format", "must be an object", "invalid_type")
    kind = value.get("type")
    if kind not in ("text", "json_object", "json_schema"):
        b.fail("body.response_format.type", f"= {json.dumps(kind)} must be 'text', 'json_object' or 'json_schema'")
    known = ("type", "json_schema") if kind == "json_schema" else ("type",)
    extra = next((key for key in value if key not in known), None)
    if extra is not None:
        b.fail(f"body.response_format.{extra}", f"is not a field of a {kind} response_format", "unknown_parameter")
    if kind == "text":
        return {}
    if kind == "json_object":
        return {"responseMimeType": JSON}
    return _json_schema(b, value.get("json_schema"))


def _json_schema(b: ChatBody, spec: Any) -> dict[str, Any]:
    where = "body.response_format.json_schema"
    if not isinstance(spec, dict):
        b.fail(where, "is required and must be an object", "missing_required_parameter")
    extra = next((key for key in spec if key not in _JSON_SCHEMA_KEYS), None)
    if extra is not None:
        b.fail(f"{where}.{extra}", "is not a field of json_schema", "unknown_parameter")
    name = spec.get("name")
    if name is None:
        b.fail(f"{where}.name", "is required", "missing_required_parameter")
    if not isinstance(name, str) or not _RESPONSE_FORMAT_NAME.fullmatch(name):
        b.fail(f"{where}.name", "must be 1 to 64 of a-z, A-Z, 0-9, '_' and '-'")
    description, strict = spec.get("description"), spec.get("strict")
    if description is not None and not isinstance(description, str):
        b.fail(f"{where}.description", "must be a string", "invalid_type")
    if strict is not None and not isinstance(strict, bool):
        b.fail(f"{where}.strict", "must be a boolean", "invalid_type")
    schema = spec.get("schema")
    if schema is None:
        return {"responseMimeType": JSON}  # a name and no schema: any JSON, as OpenAI's JSON mode
    if not isinstance(schema, dict):
        b.fail(f"{where}.schema", "must be a JSON schema object", "invalid_type")
    if strict:
        chat.check_strict_schema(b, schema)  # OpenAI refuses such a line whoever runs it
    if description is not None and "description" not in schema:
        schema = {**schema, "description": description}  # Gemini's only place for it: the schema's own
    return {"responseMimeType": JSON, "responseJsonSchema": schema}


def thinking_kind(model: Any) -> str:
    """How a model takes reasoning_effort: "level" (Gemini 3 and later), "budget" (Gemini 2.5, and any model the
    name does not tell), or "none" (Gemini 1.x and 2.0 do not think)."""
    match = _GEMINI_VERSION.match(model) if isinstance(model, str) else None
    if match is None:
        return "budget"
    version = (int(match[1]), int(match[2] or 0))
    if version >= (3, 0):
        return "level"
    return "budget" if version >= (2, 5) else "none"


def _thinking(b: ChatBody) -> dict[str, Any]:
    """`reasoning_effort` -> `thinkingConfig` (THINKING_LEVELS or THINKING_BUDGETS by the line's model)."""
    effort = b.get("reasoning_effort")
    if effort is None:
        return {}
    param = "body.reasoning_effort"
    if not isinstance(effort, str) or effort not in REASONING_EFFORTS:
        b.fail(param, f"= {json.dumps(effort)} must be one of {', '.join(REASONING_EFFORTS)}")
    model = b.get("model")
    if model is None:
        # Gemini 3 takes a level, 2.5 a budget, 2.0 neither: which, only the model tells, and the batch's model
        # is not known while its file is converted.
        b.fail(param, "needs the model named on the line (body.model): how Gemini thinks depends on the model")
    kind = thinking_kind(model)
    if kind == "none":
        b.unsupported(param, effort, f"{model} does not think; Gemini 2.5 and later do")
    if kind == "level":
        if effort == "none":
            b.unsupported(param, effort, "Gemini 3 cannot turn thinking off; the least is 'minimal'")
        return {"thinkingConfig": {"thinkingLevel": THINKING_LEVELS[effort]}}
    budget = THINKING_BUDGETS.get(effort)
    if budget is None:  # xhigh, max: the most the model takes
        budget = MAX_THINKING_BUDGET["pro" if _PRO.search(model) else "other"]
    return {"thinkingConfig": {"thinkingBudget": budget}}


def _tools(b: ChatBody) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in chat.tools(b):
        declaration: dict[str, Any] = {"name": tool.name}
        if tool.description is not None:
            declaration["description"] = tool.description
        if tool.parameters is not None:
            declaration["parameters"] = tool.parameters
        out.append(declaration)
    return out


def _tool_config(b: ChatBody, tools: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = chat.tool_choice(b)
    if choice is None:
        return None
    config: dict[str, Any]
    if choice.kind == "function":
        config = {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    else:
        config = {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.kind]}
    if not tools:
        if config["mode"] in ("AUTO", "NONE"):
            return None  # nothing to call either way
        b.fail("body.tool_choice", f"= {json.dumps(b.get('tool_choice'))} needs tools")
    return {"functionCallingConfig": config}


def _messages(b: ChatBody) -> tuple[list[str], list[dict[str, Any]]]:
    """(system texts, contents)."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool_call id -> function name, from earlier assistant messages
    responses: list[dict[str, Any]] | None = None  # the parts of the user content tool results go to
    for i, message in enumerate(chat.messages(b)):
        where = f"body.messages[{i}]"
        role = chat.message_role(b, message, where, _REJECTED_ROLES, "system, developer, user, assistant or tool")
        if role in ("system", "developer"):
            system.extend(_texts(b, message.get("content"), f"{where}.content"))
        elif role == "user":
            contents.append({"role": "user", "parts": _user_parts(b, message.get("content"), f"{where}.content")})
            responses = None
        elif role == "assistant":
            contents.append({"role": "model", "parts": _model_parts(b, message, where, call_names)})
            responses = None
        else:
            part = _function_response(b, message, where, call_names)
            if responses is None:
                responses = []
                contents.append({"role": "user", "parts": responses})
            responses.append(part)
    if not contents:
        b.fail("body.messages", "has no user, assistant or tool message; Gemini needs at least one")
    return system, contents


def _parts(b: ChatBody, content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        b.fail(where, "is required", "missing_required_parameter")
    return chat.content_parts(b, content, where)


def _texts(b: ChatBody, content: Any, where: str) -> list[str]:
    """String or text parts (system, developer, tool) -> the texts."""
    return chat.texts(b, content, where, required=True)


def _user_parts(b: ChatBody, content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(b, content, where)):
        here = f"{where}[{j}]"
        if part["type"] == "text":
            parts.append({"text": chat.part_text(b, part, here)})
        elif part["type"] == "image_url":
            parts.append(_image(b, part.get("image_url"), f"{here}.image_url"))
        else:
            b.unsupported(f"{here}.type", part["type"], "only text and image_url parts translate")
    return parts


def _image(b: ChatBody, image_url: Any, where: str) -> dict[str, Any]:
    image = chat.image(b, image_url, where, IMAGE_MEDIA_TYPES)
    if image.data is not None:
        return {"inlineData": {"mimeType": image.media, "data": image.data}}
    path = urlsplit(image.url).path.lower()
    media = next((m for ext, m in IMAGE_EXTENSIONS.items() if path.endswith(ext)), None)
    if media is None:
        b.fail(
            f"{where}.url",
            f"must end in one of {', '.join(IMAGE_EXTENSIONS)} (Gemini needs the image type; or send a data: URL)",
        )
    return {"fileData": {"mimeType": media, "fileUri": image.url}}


def _model_parts(b: ChatBody, message: dict[str, Any], where: str, call_names: dict[str, str]) -> list[dict[str, Any]]:
    said = chat.assistant(b, message, where, "Gemini audio turns are not translated")
    # An empty string beside tool calls says nothing.
    parts: list[dict[str, Any]] = [{"text": text} for text in said.texts if text or not said.tool_calls]
    for k, call in enumerate(said.tool_calls):
        parts.append(_function_call(b, call, f"{where}.tool_calls[{k}]", call_names))
    return parts


def _function_call(b: ChatBody, call: Any, where: str, call_names: dict[str, str]) -> dict[str, Any]:
    checked = chat.tool_call(b, call, where, "Gemini function call args are an object")
    call_names[checked.id] = checked.name
    return {"functionCall": {"name": checked.name, "args": checked.arguments}}


def _function_response(b: ChatBody, message: dict[str, Any], where: str, call_names: dict[str, str]) -> dict[str, Any]:
    tool_call_id = chat.tool_call_id(b, message, where)
    name = call_names.get(tool_call_id)
    if name is None:
        b.fail(
            f"{where}.tool_call_id",
            f"= {json.dumps(tool_call_id)} matches no tool call of an earlier assistant message "
            "(Gemini needs the function's name)",
        )
    text = "".join(_texts(b, message.get("content"), f"{where}.content"))
    return {"functionResponse": {"name": name, "response": {"content": text}}}


# --------------------------------------------------------------------------------------------------------------
# GenerateContentResponse / responses-file line -> OpenAI chat.completion / batch output line


def _block_reason(response: dict[str, Any]) -> str | None:
    """The prompt's block reason when the response has no candidates because the prompt was blocked."""
    if response.get("candidates"):
        return None
    feedback = response.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    return str(reason) if reason else None


def response_to_chat_completion(
    response: dict[str, Any], *, model: str, completion_id: str, created: int
) -> dict[str, Any]:
    """GenerateContentResponse -> OpenAI chat.completion object (one choice per candidate)."""
    candidates = response.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        reason = _block_reason(response)
        if reason is not None:
            raise _blocked(reason)
        raise output_lines.bad_response(NAME, "a response without candidates")
    choices = [_choice(candidate, i, completion_id) for i, candidate in enumerate(candidates)]
    usage = response.get("usageMetadata")
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": chat_usage(usage if isinstance(usage, dict) else {}),
    }


def chat_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Gemini's usageMetadata -> OpenAI's chat usage, every detail OpenAI reports. OpenAI counts reasoning in the
    completion and cached tokens in the prompt, as Gemini's promptTokenCount already does. (Run for every result
    line of files up to 200 MB: the counts are read inline.)"""
    get = usage.get
    prompt, tool_prompt, thoughts, candidates, cached, total = (
        get("promptTokenCount"),
        get("toolUsePromptTokenCount"),
        get("thoughtsTokenCount"),
        get("candidatesTokenCount"),
        get("cachedContentTokenCount"),
        get("totalTokenCount"),
    )
    prompt_tokens = (prompt if type(prompt) is int else 0) + (tool_prompt if type(tool_prompt) is int else 0)
    thoughts = thoughts if type(thoughts) is int else 0
    completion_tokens = (candidates if type(candidates) is int else 0) + thoughts
    return completion.usage(
        prompt_tokens,
        completion_tokens,
        cached_tokens=cached if type(cached) is int else 0,
        reasoning_tokens=thoughts,
        total_tokens=total if type(total) is int else None,
        prompt_audio_tokens=_audio(get("promptTokensDetails")),
        completion_audio_tokens=_audio(get("candidatesTokensDetails")),
    )


def _audio(details: Any) -> int:
    """The AUDIO count of a per-modality list (``[{"modality", "tokenCount"}]``); 0 when there is none."""
    audio = 0
    if type(details) is list:
        for detail in details:
            if type(detail) is dict and detail.get("modality") == "AUDIO":
                count = detail.get("tokenCount")
                audio += count if type(count) is int else 0
    return audio


def _choice(candidate: Any, index: int, completion_id: str) -> dict[str, Any]:
    if not isinstance(candidate, dict):
        raise output_lines.bad_response(NAME, "a candidate that is not an object")
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for k, part in enumerate(parts if type(parts) is list else ()):
        if type(part) is not dict or part.get("thought") is True:
            continue  # thoughts have no chat.completion counterpart
        text = part.get("text")
        if type(text) is str:
            texts.append(text)
        call = part.get("functionCall")
        if type(call) is dict:
            tool_calls.append(
                {
                    "id": output_lines.tool_call_id(completion_id, index, k),
                    "type": "function",
                    "function": {"name": str(call.get("name", "")), "arguments": json.dumps(call.get("args") or {})},
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    finish = FINISH_REASONS.get(str(candidate.get("finishReason")), "stop")
    if finish == "stop" and tool_calls:
        finish = "tool_calls"
    return {"index": index, "message": message, "logprobs": _choice_logprobs(candidate), "finish_reason": finish}


def _choice_logprobs(candidate: dict[str, Any]) -> dict[str, Any] | None:
    """A candidate's logprobsResult -> OpenAI's choice logprobs (``{"content": [token, ...], "refusal": None}``);
    None when the request asked for none. Step k's top candidates are ``topCandidates[k]``."""
    result = candidate.get("logprobsResult")
    if type(result) is not dict:
        return None
    chosen, tops = result.get("chosenCandidates"), result.get("topCandidates")
    chosen = chosen if type(chosen) is list else []
    tops = tops if type(tops) is list else []
    content: list[dict[str, Any]] = []
    for step, token in enumerate(chosen):
        top = tops[step].get("candidates") if step < len(tops) and type(tops[step]) is dict else None
        entry = _token_logprob(token)
        entry["top_logprobs"] = [_token_logprob(other) for other in (top if type(top) is list else ())]
        content.append(entry)
    return {"content": content, "refusal": None}


def _token_logprob(token: Any) -> dict[str, Any]:
    """A Gemini logprobs candidate (``{"token", "tokenId", "logProbability"}``) -> OpenAI's ``{"token",
    "logprob", "bytes"}``."""
    token = token if type(token) is dict else {}
    text = token.get("token")
    text = text if type(text) is str else ""
    logprob = token.get("logProbability")
    return {
        "token": text,
        "logprob": float(logprob) if chat.is_number(logprob) else 0.0,  # proto3 JSON leaves a 0 out
        "bytes": list(text.encode("utf-8")),
    }


def _blocked(reason: str) -> GatewayError:
    return GatewayError(400, f"Gemini blocked the prompt (blockReason {reason}).", code="prompt_blocked")


def _count(usage: dict[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if type(value) is int else 0  # a parsed line's ints are exactly int (bool is not)


def chat_result(line: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
    """One responses-file line ({"key", "response"} or {"key", "error"}) -> ("output" | "error", OpenAI batch
    output line), for a chat completions batch.

    ``context.custom_id`` is the user's original custom_id (the caller restores it from the key);
    ``context.line_id`` is the "batch_req_..." id to use, the completion id derived from it; the completion's
    model is the one that answered (``modelVersion``, as OpenAI reports it), else ``context.model``.
    """
    custom_id, line_id = context.custom_id, context.line_id
    response = line.get("response")
    if response is not None:
        if not isinstance(response, dict):
            raise output_lines.bad_response(NAME, f"a response that is not an object for custom_id {custom_id!r}")
        request_id = response.get("responseId")
        request_id = request_id if isinstance(request_id, str) else ""
        reason = _block_reason(response)
        if reason is not None:
            blocked = _blocked(reason)
            return output_lines.http_error(line_id, custom_id, blocked.status, blocked.body(), request_id)
        model = response.get("modelVersion")
        body = response_to_chat_completion(
            response,
            model=model if isinstance(model, str) else context.model,
            completion_id=completion_id(line_id),
            created=context.created,
        )
        return output_lines.success(line_id, custom_id, body, request_id)
    error = line.get("error")
    if isinstance(error, dict):
        status, name = _http_status(error)
        return output_lines.provider_error(line_id, custom_id, status, error.get("message"), name)
    raise output_lines.bad_response(NAME, f"a line with neither response nor error for custom_id {custom_id!r}")


def result_to_output_line(
    line: dict[str, Any], *, custom_id: str, line_id: str, created: int, model: str
) -> tuple[str, dict[str, Any]]:
    """``chat_result`` of a chat completions batch's line, its context given field by field."""
    return chat_result(line, ResultContext(CHAT_ENDPOINT, model, created, custom_id, line_id))


# google.rpc.Code: the canonical names, their numbers and the HTTP status Google maps each to.
RPC_CODES: Final[dict[str, tuple[int, int]]] = {
    "CANCELLED": (1, 499),
    "UNKNOWN": (2, 500),
    "INVALID_ARGUMENT": (3, 400),
    "DEADLINE_EXCEEDED": (4, 504),
    "NOT_FOUND": (5, 404),
    "ALREADY_EXISTS": (6, 409),
    "PERMISSION_DENIED": (7, 403),
    "RESOURCE_EXHAUSTED": (8, 429),
    "FAILED_PRECONDITION": (9, 400),
    "ABORTED": (10, 409),
    "OUT_OF_RANGE": (11, 400),
    "UNIMPLEMENTED": (12, 501),
    "INTERNAL": (13, 500),
    "UNAVAILABLE": (14, 503),
    "DATA_LOSS": (15, 500),
    "UNAUTHENTICATED": (16, 401),
}


def _http_status(error: dict[str, Any]) -> tuple[int, str | None]:
    """(HTTP status, canonical code name) of a per-line google.rpc.Status, whose ``code`` may be an HTTP status
    (as in API error bodies) or a gRPC code number (as in google.rpc.Status proper)."""
    code, name = error.get("code"), error.get("status")
    name = name if isinstance(name, str) and name else None
    if isinstance(code, int) and not isinstance(code, bool):
        if 400 <= code <= 599:
            return code, name
        if name is None:
            name = next((rpc for rpc, (number, _) in RPC_CODES.items() if number == code), None)
    if name is not None and name in RPC_CODES:
        return RPC_CODES[name][1], name
    return 500, name


# The translations by endpoint: an OpenAI request body -> a GenerateContentRequest, and a responses-file line -> an
# output line.
REQUESTS: Final[Mapping[str, RequestTranslation]] = {CHAT_ENDPOINT: chat_to_request}
RESULTS: Final[Mapping[str, ResultTranslation]] = {CHAT_ENDPOINT: chat_result}
