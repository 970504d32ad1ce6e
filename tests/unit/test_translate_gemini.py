"""OpenAI chat.completions <-> Gemini GenerateContent batch lines."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.translate.gemini import (
    chat_to_request,
    completion_id,
    response_to_chat_completion,
    result_to_output_line,
)

CID = "req-1"
LINE = "batch_req_abc"
CREATED = 1_700_000_000
MODEL = "gemini-2.5-flash"
HI: list[dict[str, Any]] = [{"role": "user", "content": "Hi"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "gemini-2.5-flash", "messages": HI, **fields}


def request(**fields: Any) -> dict[str, Any]:
    return chat_to_request(body(**fields), custom_id=CID)


def rejected(raw: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        chat_to_request(raw, custom_id=CID)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    assert f"custom_id '{CID}'" in caught.value.message
    return caught.value


# ---------------------------------------------------------------------------------------------------------------
# request: messages


def test_minimal_request_has_no_model() -> None:
    assert request() == {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


def test_a_line_may_leave_the_model_to_the_batch() -> None:
    assert chat_to_request({"messages": HI}, custom_id=CID) == request()


def test_roles_and_system_instruction() -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
        {"role": "user", "content": [{"type": "text", "text": "Why"}, {"type": "text", "text": "blue?"}]},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]},
        {"role": "assistant", "content": None, "refusal": "Still no."},
    ]
    assert request(messages=messages) == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Why"}, {"text": "blue?"}]},
            {"role": "model", "parts": [{"text": "No."}]},
            {"role": "model", "parts": [{"text": "Still no."}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "No emoji."}]},
    }


@pytest.mark.parametrize(
    ("url", "part"),
    [
        ("data:image/png;base64,AAAA", {"inlineData": {"mimeType": "image/png", "data": "AAAA"}}),
        ("data:IMAGE/JPEG;base64,QUJD", {"inlineData": {"mimeType": "image/jpeg", "data": "QUJD"}}),
        ("https://x.test/a/cat.jpg", {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/a/cat.jpg"}}),
        ("https://x.test/c.PNG?v=1", {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/c.PNG?v=1"}}),
        ("https://x.test/c.webp", {"fileData": {"mimeType": "image/webp", "fileUri": "https://x.test/c.webp"}}),
    ],
)
def test_images(url: str, part: dict[str, Any]) -> None:
    content = [{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]
    assert request(messages=[{"role": "user", "content": content}])["contents"][0]["parts"] == [{"text": "What?"}, part]


@pytest.mark.parametrize(
    ("url", "param"),
    [
        ("https://x.test/cat", "body.messages[0].content[0].image_url.url"),
        ("https://x.test/cat.bmp", "body.messages[0].content[0].image_url.url"),
        ("http://x.test/cat.png", "body.messages[0].content[0].image_url.url"),
        ("data:image/png,AAAA", "body.messages[0].content[0].image_url.url"),
        ("data:image/tiff;base64,AAAA", "body.messages[0].content[0].image_url.url"),
    ],
)
def test_bad_images(url: str, param: str) -> None:
    content = [{"type": "image_url", "image_url": {"url": url}}]
    assert rejected(body(messages=[{"role": "user", "content": content}])).param == param


def test_tool_calls_and_tool_results() -> None:
    second = {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}}
    messages = [
        {"role": "user", "content": "Weather and time?"},
        {"role": "assistant", "content": "", "tool_calls": [CALL, second]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
        {"role": "user", "content": "Thanks"},
    ]
    assert request(messages=messages, tools=[TOOL])["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}},
                {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
            ],
        },
        {"role": "user", "parts": [{"text": "Thanks"}]},
    ]


def test_assistant_text_beside_tool_calls() -> None:
    messages = [*HI, {"role": "assistant", "content": "Let me see.", "tool_calls": [CALL]}]
    assert request(messages=messages)["contents"][1]["parts"] == [
        {"text": "Let me see."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
    ]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([*HI, {"role": "tool", "tool_call_id": "call_9", "content": "x"}], "body.messages[1].tool_call_id"),
        (
            [{"role": "tool", "tool_call_id": "call_1", "content": "x"}, {"role": "assistant", "tool_calls": [CALL]}],
            "body.messages[0].tool_call_id",
        ),
        ([*HI, {"role": "tool", "content": "x"}], "body.messages[1].tool_call_id"),
        (
            [*HI, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "[1]"}}]}],
            "body.messages[1].tool_calls[0].function.arguments",
        ),
        (
            [*HI, {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "f", "arguments": "{"}}]}],
            "body.messages[1].tool_calls[0].function.arguments",
        ),
        ([*HI, {"role": "assistant"}], "body.messages[1].content"),
        ([{"role": "function", "name": "f", "content": "x"}], "body.messages[0].role"),
        ([{"role": "system", "content": "only system"}], "body.messages"),
        (
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
            "body.messages[0].content[0].type",
        ),
        ([{"role": "user", "content": "x", "extra": 1}], "body.messages[0].extra"),
    ],
)
def test_bad_messages(messages: list[dict[str, Any]], param: str) -> None:
    assert rejected(body(messages=messages)).param == param


# ---------------------------------------------------------------------------------------------------------------
# request: generationConfig


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        ({"max_tokens": 100}, {"maxOutputTokens": 100}),
        ({"max_completion_tokens": 50, "max_tokens": 100}, {"maxOutputTokens": 50}),
        ({"temperature": 1.5}, {"temperature": 1.5}),
        ({"temperature": 0}, {"temperature": 0}),
        ({"top_p": 0.9}, {"topP": 0.9}),
        ({"stop": "END"}, {"stopSequences": ["END"]}),
        ({"stop": ["a", "b", "c", "d"]}, {"stopSequences": ["a", "b", "c", "d"]}),
        ({"n": 3}, {"candidateCount": 3}),
        ({"n": 8}, {"candidateCount": 8}),
        ({"n": 1}, {}),
        ({"presence_penalty": 0.5, "frequency_penalty": -1}, {"presencePenalty": 0.5, "frequencyPenalty": -1}),
        ({"seed": 7}, {"seed": 7}),
        ({"response_format": {"type": "text"}}, {}),
        ({"response_format": {"type": "json_object"}}, {"responseMimeType": "application/json"}),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "r", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
                }
            },
            {
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "properties": {"a": {"type": "string"}}},
            },
        ),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "r"}}},
            {"responseMimeType": "application/json"},
        ),
    ],
)
def test_generation_config(fields: dict[str, Any], config: dict[str, Any]) -> None:
    result = request(**fields)
    assert result.get("generationConfig", {}) == config


def test_dropped_fields() -> None:
    dropped = {
        "user": "u1",
        "metadata": {"a": "b"},
        "store": True,
        "service_tier": "auto",
        "stream": False,
        "stream_options": None,
        "logprobs": False,
        "logit_bias": {},
        "modalities": ["text"],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
    }
    assert request(**dropped) == request()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "body.temperature"),
        ({"top_p": 1.5}, "body.top_p"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "body.stop"),  # OpenAI's limit is 4 (Gemini's 5)
        ({"n": 9}, "body.n"),
        ({"n": 0}, "body.n"),
        ({"max_tokens": 0}, "body.max_tokens"),
        ({"presence_penalty": 3}, "body.presence_penalty"),
        ({"frequency_penalty": "x"}, "body.frequency_penalty"),
        ({"seed": 1.5}, "body.seed"),
        ({"response_format": {"type": "xml"}}, "body.response_format.type"),
        ({"response_format": {"type": "json_schema"}}, "body.response_format.json_schema"),
        ({"stream": True}, "body.stream"),
        ({"logprobs": "yes"}, "body.logprobs"),
        ({"top_logprobs": 2}, "body.top_logprobs"),
        ({"logprobs": False, "top_logprobs": 2}, "body.top_logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "body.top_logprobs"),
        ({"audio": {"voice": "x"}}, "body.audio"),
        ({"prediction": {"type": "content"}}, "body.prediction"),
        ({"functions": []}, "body.functions"),
        ({"modalities": ["text", "audio"]}, "body.modalities"),
        ({"logit_bias": {"1": 2}}, "body.logit_bias"),
        ({"frobnicate": 1}, "body.frobnicate"),
        ({"model": None}, "body.model"),
    ],
)
def test_rejected_fields(fields: dict[str, Any], param: str) -> None:
    error = rejected(body(**fields))
    assert error.param == param
    assert param in error.message


# ---------------------------------------------------------------------------------------------------------------
# request: tools


def test_tools() -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "now"}},
    ]
    assert request(tools=tools)["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
                {"name": "now"},
            ]
        }
    ]


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    assert request(tools=[TOOL], tool_choice=choice)["toolConfig"] == {"functionCallingConfig": config}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tool_choice": "required"}, "body.tool_choice"),
        ({"tool_choice": "sometimes", "tools": [TOOL]}, "body.tool_choice"),
        ({"tool_choice": {"type": "function"}, "tools": [TOOL]}, "body.tool_choice.function.name"),
        ({"tools": [{"type": "code_interpreter"}]}, "body.tools[0].type"),
        ({"tools": [{"type": "function", "function": {}}]}, "body.tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "f", "strict": True}}]}, "body.tools[0].function.strict"),
        ({"tools": [TOOL], "parallel_tool_calls": False}, "body.parallel_tool_calls"),
        ({"tools": {"a": 1}}, "body.tools"),
    ],
)
def test_rejected_tools(fields: dict[str, Any], param: str) -> None:
    assert rejected(body(**fields)).param == param


# ---------------------------------------------------------------------------------------------------------------
# responses


def gemini_response(*candidates: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"candidates": list(candidates), "modelVersion": MODEL, "responseId": "resp-1", **extra}


def completion(response: dict[str, Any]) -> dict[str, Any]:
    return response_to_chat_completion(response, model=MODEL, completion_id="chatcmpl-x", created=CREATED)


def test_text_response() -> None:
    response = gemini_response(
        {
            "content": {
                "role": "model",
                "parts": [{"text": "thinking", "thought": True}, {"text": "Hel"}, {"text": "lo"}],
            },
            "finishReason": "STOP",
        },
        usageMetadata={
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 3,
            "totalTokenCount": 18,
            "cachedContentTokenCount": 4,
        },
    )
    assert completion(response) == {
        "id": "chatcmpl-x",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 8,
            "total_tokens": 18,
            "prompt_tokens_details": {"cached_tokens": 4, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 3,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
        (None, "stop"),
    ],
)
def test_finish_reasons(reason: str | None, finish: str) -> None:
    response = gemini_response({"content": {"parts": [{"text": "x"}]}, "finishReason": reason})
    assert completion(response)["choices"][0]["finish_reason"] == finish


def test_function_calls() -> None:
    parts = [
        {"text": "Checking."},
        {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
        {"functionCall": {"name": "now"}},
    ]
    result = completion(gemini_response({"content": {"parts": parts}, "finishReason": "STOP"}))
    choice = result["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Checking."
    calls = choice["message"]["tool_calls"]
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})},
        {"name": "now", "arguments": "{}"},
    ]
    assert all(c["type"] == "function" and c["id"].startswith("call_") for c in calls)
    assert calls[0]["id"] != calls[1]["id"]
    again = completion(gemini_response({"content": {"parts": parts}, "finishReason": "STOP"}))
    assert again["choices"][0]["message"]["tool_calls"] == calls  # deterministic ids


def test_function_call_only_has_null_content() -> None:
    parts = [{"functionCall": {"name": "now", "args": {}}}]
    message = completion(gemini_response({"content": {"parts": parts}, "finishReason": "STOP"}))["choices"][0]
    assert message["message"]["content"] is None


def test_multiple_candidates_and_missing_usage() -> None:
    result = completion(
        gemini_response(
            {"content": {"parts": [{"text": "A"}]}, "finishReason": "STOP", "index": 0},
            {"content": {"parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS", "index": 1},
        )
    )
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in result["choices"]] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]
    assert result["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def test_empty_response_is_bad_gateway() -> None:
    with pytest.raises(GatewayError) as caught:
        completion({"usageMetadata": {}})
    assert caught.value.status == 502


# ---------------------------------------------------------------------------------------------------------------
# responses-file lines


def output_line(line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return result_to_output_line(line, custom_id=CID, line_id=LINE, created=CREATED, model=MODEL)


def test_output_line() -> None:
    response = gemini_response({"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"})
    kind, line = output_line({"key": "k0", "response": response})
    assert kind == "output"
    assert line["id"] == LINE
    assert line["custom_id"] == CID
    assert line["error"] is None
    assert line["response"]["status_code"] == 200
    assert line["response"]["request_id"] == "resp-1"
    body = line["response"]["body"]
    assert body["id"] == completion_id(LINE)
    assert body["model"] == MODEL
    assert body["choices"][0]["message"]["content"] == "Hi"


def test_blocked_prompt_is_error_line() -> None:
    kind, line = output_line({"key": "k0", "response": {"promptFeedback": {"blockReason": "SAFETY"}}})
    assert kind == "error"
    assert line["error"] is None
    assert line["response"]["status_code"] == 400
    error = line["response"]["body"]["error"]
    assert "SAFETY" in error["message"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "prompt_blocked"


@pytest.mark.parametrize(
    ("error", "status", "kind", "code"),
    [
        (
            {"code": 400, "message": "bad", "status": "INVALID_ARGUMENT"},
            400,
            "invalid_request_error",
            "INVALID_ARGUMENT",
        ),
        (
            {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"},
            429,
            "invalid_request_error",
            "RESOURCE_EXHAUSTED",
        ),
        ({"code": 503, "message": "down", "status": "UNAVAILABLE"}, 503, "server_error", "UNAVAILABLE"),
        ({"code": 13, "message": "internal"}, 500, "server_error", "INTERNAL"),
        ({"code": 3, "message": "bad"}, 400, "invalid_request_error", "INVALID_ARGUMENT"),  # a gRPC number
        ({"message": "gone", "status": "NOT_FOUND"}, 404, "invalid_request_error", "NOT_FOUND"),
        ({"code": 99, "message": "odd"}, 500, "server_error", None),
    ],
)
def test_error_lines(error: dict[str, Any], status: int, kind: str, code: str | None) -> None:
    result, line = output_line({"key": "k0", "error": error})
    assert result == "error"
    assert line == {
        "id": LINE,
        "custom_id": CID,
        "response": {
            "status_code": status,
            "request_id": "",
            "body": {"error": {"message": error["message"], "type": kind, "param": None, "code": code}},
        },
        "error": None,
    }


def test_line_with_neither_is_bad_gateway() -> None:
    with pytest.raises(GatewayError) as caught:
        output_line({"key": "k0"})
    assert caught.value.status == 502


# ---------------------------------------------------------------------------------------------------------------
# request: response_format


def json_schema(**spec: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "verdict", **spec}}


VERDICT = {"type": "object", "properties": {"label": {"type": "string", "enum": ["pos", "neg"]}}}
STRICT_VERDICT = {**VERDICT, "required": ["label"], "additionalProperties": False}


@pytest.mark.parametrize(
    ("response_format", "config"),
    [
        ({"type": "text"}, {}),
        ({"type": "json_object"}, {"responseMimeType": "application/json"}),
        (json_schema(), {"responseMimeType": "application/json"}),  # a name and no schema: JSON mode
        (json_schema(strict=False), {"responseMimeType": "application/json"}),
        (json_schema(schema=VERDICT), {"responseMimeType": "application/json", "responseJsonSchema": VERDICT}),
        (
            json_schema(schema=STRICT_VERDICT, strict=True),
            {"responseMimeType": "application/json", "responseJsonSchema": STRICT_VERDICT},
        ),
        (
            json_schema(schema=VERDICT, strict=None, description="The review's verdict"),
            {
                "responseMimeType": "application/json",
                "responseJsonSchema": {**VERDICT, "description": "The review's verdict"},
            },
        ),
        (  # the schema's own description wins: it is what the user wrote into the schema
            json_schema(schema={**VERDICT, "description": "Mine"}, description="The review's verdict"),
            {"responseMimeType": "application/json", "responseJsonSchema": {**VERDICT, "description": "Mine"}},
        ),
    ],
)
def test_response_format(response_format: dict[str, Any], config: dict[str, Any]) -> None:
    assert request(response_format=response_format).get("generationConfig", {}) == config


# What Pydantic and Zod generate, which Gemini's JSON Schema takes as it is: a recursive $ref, $defs, anyOf with
# null, prefixItems, formats, integer enums, bounds, additionalProperties, a const.
GENERATED_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$defs": {
        "Node": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
            },
            "required": ["id", "children"],
            "additionalProperties": False,
        }
    },
    "type": "object",
    "properties": {
        "tree": {"$ref": "#/$defs/Node"},
        "email": {"anyOf": [{"type": "string", "format": "email"}, {"type": "null"}]},
        "born": {"type": "string", "format": "date"},
        "point": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "minItems": 2},
        "stars": {"type": "integer", "enum": [1, 2, 3], "minimum": 1, "exclusiveMaximum": 4},
        "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
        "kind": {"const": "review"},
    },
    "required": ["tree", "email"],
}


def test_a_generated_json_schema_reaches_gemini_as_written() -> None:
    fmt = json_schema(schema=GENERATED_SCHEMA)
    config = request(response_format=fmt)["generationConfig"]
    assert config == {"responseMimeType": "application/json", "responseJsonSchema": GENERATED_SCHEMA}
    assert "responseSchema" not in config


def test_a_strict_schema_within_openai_s_rules_goes_as_written() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Tag": {
                "type": "object",
                "properties": {"v": {"type": "string"}},
                "required": ["v"],
                "additionalProperties": False,
            }
        },
        "properties": {
            "tags": {"type": "array", "items": {"$ref": "#/$defs/Tag"}},
            "at": {"type": ["string", "null"], "format": "date-time"},
        },
        "required": ["tags", "at"],
        "additionalProperties": False,
    }
    config = request(response_format=json_schema(schema=schema, strict=True))["generationConfig"]
    assert config["responseJsonSchema"] == schema


@pytest.mark.parametrize(
    ("schema", "param", "rule"),
    [
        (VERDICT, ".additionalProperties", "must be false on every object"),
        ({**STRICT_VERDICT, "required": []}, ".required", "must list every property"),
        (
            {**STRICT_VERDICT, "properties": {"label": {"type": "string", "format": "color"}}, "required": ["label"]},
            ".properties.label.format",
            "is not supported in strict mode",
        ),
        ({**STRICT_VERDICT, "allOf": [{"type": "object"}]}, ".allOf", "'allOf' is not supported"),
        ({"anyOf": [STRICT_VERDICT]}, ".anyOf", "the root must be an object"),
    ],
)
def test_a_strict_schema_breaking_openai_s_rules_is_a_400(schema: dict[str, Any], param: str, rule: str) -> None:
    error = rejected(body(response_format=json_schema(schema=schema, strict=True)))
    assert error.param == "body.response_format.json_schema.schema" + param
    assert error.code == "invalid_schema"
    assert rule in error.message and "strict is true" in error.message


def test_without_strict_openai_s_strict_rules_are_not_checked() -> None:
    for strict in (False, None):
        config = request(response_format=json_schema(schema=VERDICT, strict=strict))["generationConfig"]
        assert config["responseJsonSchema"] == VERDICT  # no additionalProperties: false, fine outside strict


def test_json_mode_keeps_the_rest_of_the_line() -> None:
    # The OpenAI Cookbook's classification line: a system prompt, temperature 0.1, JSON mode.
    line = {
        "model": "gemini-2.5-flash",
        "temperature": 0.1,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "system", "content": "Output a json object."}, {"role": "user", "content": "A film."}],
    }
    assert chat_to_request(line, custom_id=CID) == {
        "contents": [{"role": "user", "parts": [{"text": "A film."}]}],
        "systemInstruction": {"parts": [{"text": "Output a json object."}]},
        "generationConfig": {"temperature": 0.1, "responseMimeType": "application/json"},
    }


@pytest.mark.parametrize(
    ("response_format", "param", "code"),
    [
        ({"type": "json_schema", "json_schema": {"schema": VERDICT}}, "body.response_format.json_schema.name", None),
        (json_schema(name="has space"), "body.response_format.json_schema.name", "invalid_value"),
        (json_schema(name="x" * 65), "body.response_format.json_schema.name", "invalid_value"),
        (json_schema(strict="yes"), "body.response_format.json_schema.strict", "invalid_type"),
        (json_schema(description=1), "body.response_format.json_schema.description", "invalid_type"),
        (json_schema(schema="{}"), "body.response_format.json_schema.schema", "invalid_type"),
        (json_schema(schemas=VERDICT), "body.response_format.json_schema.schemas", "unknown_parameter"),
        ({"type": "json_object", "json_schema": {}}, "body.response_format.json_schema", "unknown_parameter"),
        ({"type": "text", "strict": True}, "body.response_format.strict", "unknown_parameter"),
        ({"type": "json_schema"}, "body.response_format.json_schema", "missing_required_parameter"),
        ({"type": "grammar"}, "body.response_format.type", "invalid_value"),
        ("json", "body.response_format", "invalid_type"),
    ],
)
def test_rejected_response_formats(response_format: Any, param: str, code: str | None) -> None:
    error = rejected(body(response_format=response_format))
    assert error.param == param
    assert error.code == (code or "missing_required_parameter")


# ---------------------------------------------------------------------------------------------------------------
# request: reasoning_effort, logprobs


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-flash", "minimal", {"thinkingBudget": 1024}),
        ("gemini-2.5-pro", "low", {"thinkingBudget": 1024}),
        ("models/gemini-2.5-flash-lite", "medium", {"thinkingBudget": 8192}),
        ("gemini-2.5-pro", "high", {"thinkingBudget": 24576}),
        ("gemini-2.5-pro", "xhigh", {"thinkingBudget": 32768}),  # the most each 2.5 model takes
        ("models/gemini-2.5-pro-preview-06-05", "max", {"thinkingBudget": 32768}),
        ("gemini-2.5-flash", "xhigh", {"thinkingBudget": 24576}),
        ("gemini-2.5-flash", "max", {"thinkingBudget": 24576}),
        ("gemini-2.5-flash-lite", "max", {"thinkingBudget": 24576}),
        ("gemini-flash-latest", "high", {"thinkingBudget": 24576}),  # a name that says no version: a budget
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "LOW"}),
        ("gemini-3-flash-preview", "minimal", {"thinkingLevel": "MINIMAL"}),
        ("models/gemini-3.1-pro", "medium", {"thinkingLevel": "MEDIUM"}),
        ("gemini-3.5-flash", "high", {"thinkingLevel": "HIGH"}),
        ("gemini-3-pro-preview", "max", {"thinkingLevel": "HIGH"}),  # Gemini 3's highest documented level
        ("gemini-4-flash", "xhigh", {"thinkingLevel": "HIGH"}),
    ],
)
def test_reasoning_effort(model: str | None, effort: str, thinking: dict[str, Any]) -> None:
    line = {"messages": HI, "reasoning_effort": effort, "max_completion_tokens": 4000}
    if model is not None:
        line["model"] = model
    assert chat_to_request(line, custom_id=CID)["generationConfig"] == {
        "maxOutputTokens": 4000,  # like OpenAI's max_completion_tokens, Gemini's limit includes the thinking
        "thinkingConfig": thinking,
    }


@pytest.mark.parametrize(
    ("model", "effort", "code", "why"),
    [
        ("gemini-3-pro-preview", "none", "unsupported_value", "cannot turn thinking off"),
        ("gemini-2.0-flash", "low", "unsupported_value", "does not think"),
        ("gemini-1.5-pro", "high", "unsupported_value", "does not think"),
        ("gemini-2.5-flash", "extreme", "invalid_value", "must be one of none, minimal"),
        ("gemini-2.5-flash", 3, "invalid_value", "must be one of"),
    ],
)
def test_rejected_reasoning_efforts(model: str, effort: Any, code: str, why: str) -> None:
    error = rejected(body(model=model, reasoning_effort=effort))
    assert (error.param, error.code) == ("body.reasoning_effort", code)
    assert why in error.message


def test_a_null_reasoning_effort_is_dropped() -> None:
    assert request(reasoning_effort=None) == request()


@pytest.mark.parametrize("effort", ["none", "minimal", "medium", "max"])
def test_reasoning_effort_on_a_line_without_a_model_is_a_400(effort: str) -> None:
    # Gemini 3 takes a level, 2.5 a budget, 2.0 neither, and the batch's model is not known at upload.
    error = rejected({"messages": HI, "reasoning_effort": effort})
    assert (error.param, error.code) == ("body.reasoning_effort", "invalid_value")
    assert "needs the model named on the line (body.model)" in error.message


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        ({"logprobs": True}, {"responseLogprobs": True}),
        ({"logprobs": True, "top_logprobs": 0}, {"responseLogprobs": True}),
        ({"logprobs": True, "top_logprobs": 5}, {"responseLogprobs": True, "logprobs": 5}),
        ({"logprobs": True, "top_logprobs": 20}, {"responseLogprobs": True, "logprobs": 20}),
        ({"logprobs": False}, {}),
    ],
)
def test_logprobs(fields: dict[str, Any], config: dict[str, Any]) -> None:
    assert request(**fields).get("generationConfig", {}) == config


def test_the_other_item_4_fields() -> None:
    config = request(n=3, seed=42, stop=["a", "b", "c", "d"], max_completion_tokens=50)["generationConfig"]
    assert config == {
        "maxOutputTokens": 50,
        "stopSequences": ["a", "b", "c", "d"],
        "candidateCount": 3,
        "seed": 42,
    }
    assert request(tools=[TOOL], tool_choice="required")["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert request(tools=[TOOL], parallel_tool_calls=True) == request(tools=[TOOL])
    assert rejected(body(tools=[TOOL], parallel_tool_calls=False)).param == "body.parallel_tool_calls"
    assert rejected(body(logit_bias={"50256": -100})).param == "body.logit_bias"
    five = rejected(body(stop=["a", "b", "c", "d", "e"]))  # OpenAI refuses a fifth; so do we, though Gemini takes it
    assert five.param == "body.stop" and "has 5 sequences; at most 4 are allowed" in five.message


# ---------------------------------------------------------------------------------------------------------------
# responses: JSON content, n choices, logprobs, usage details


def test_json_text_is_the_content_unchanged() -> None:
    # Gemini may split the JSON over parts, and thoughts come first: the content is the answer's text as written.
    parts = [
        {"text": "Let me classify.", "thought": True},
        {"text": '{"categories": ["drama"],', "thoughtSignature": "c2ln"},
        {"text": ' "summary": "A film."}'},
    ]
    choice = completion(gemini_response({"content": {"parts": parts}, "finishReason": "STOP"}))["choices"][0]
    assert choice["message"]["content"] == '{"categories": ["drama"], "summary": "A film."}'
    assert json.loads(choice["message"]["content"]) == {"categories": ["drama"], "summary": "A film."}
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]


def test_n_candidates_are_n_choices() -> None:
    candidates = [
        {"content": {"parts": [{"text": f'{{"n": {i}}}'}]}, "finishReason": "STOP", "index": i} for i in range(3)
    ]
    choices = completion(gemini_response(*candidates))["choices"]
    assert [(c["index"], json.loads(c["message"]["content"])) for c in choices] == [(i, {"n": i}) for i in range(3)]


def test_logprobs_result_becomes_openai_logprobs() -> None:
    candidate = {
        "content": {"parts": [{"text": "Hi é"}]},
        "finishReason": "STOP",
        "logprobsResult": {
            "topCandidates": [
                {"candidates": [{"token": "Hi", "logProbability": -0.1}, {"token": "Hey", "logProbability": -2.5}]},
                {"candidates": [{"token": " é", "tokenId": 9}]},
            ],
            "chosenCandidates": [{"token": "Hi", "tokenId": 4, "logProbability": -0.1}, {"token": " é", "tokenId": 9}],
        },
        "avgLogprobs": -0.05,
    }
    assert completion(gemini_response(candidate))["choices"][0]["logprobs"] == {
        "content": [
            {
                "token": "Hi",
                "logprob": -0.1,
                "bytes": [72, 105],
                "top_logprobs": [
                    {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]},
                    {"token": "Hey", "logprob": -2.5, "bytes": [72, 101, 121]},
                ],
            },
            {  # proto3 JSON leaves a log probability of 0 out
                "token": " é",
                "logprob": 0.0,
                "bytes": [32, 195, 169],
                "top_logprobs": [{"token": " é", "logprob": 0.0, "bytes": [32, 195, 169]}],
            },
        ],
        "refusal": None,
    }
    plain = {"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"}
    assert completion(gemini_response(plain))["choices"][0]["logprobs"] is None


def test_usage_details_as_openai_reports_them() -> None:
    response = gemini_response(
        {"content": {"parts": [{"text": "x"}]}, "finishReason": "STOP"},
        usageMetadata={
            "promptTokenCount": 120,  # includes the 100 cached
            "cachedContentTokenCount": 100,
            "candidatesTokenCount": 30,
            "thoughtsTokenCount": 50,
            "toolUsePromptTokenCount": 5,
            "totalTokenCount": 205,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 100}, {"modality": "AUDIO", "tokenCount": 20}],
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 100}],
            "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 30}],
        },
    )
    assert completion(response)["usage"] == {
        "prompt_tokens": 125,
        "completion_tokens": 80,  # OpenAI counts reasoning in the completion
        "total_tokens": 205,
        "prompt_tokens_details": {"cached_tokens": 100, "audio_tokens": 20},
        "completion_tokens_details": {
            "reasoning_tokens": 50,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def test_usage_matches_the_openai_sdk_type() -> None:
    from openai.types import CompletionUsage
    from openai.types.completion_usage import CompletionTokensDetails, PromptTokensDetails

    usage = completion(
        gemini_response(
            {"content": {"parts": [{"text": "x"}]}},
            usageMetadata={"promptTokenCount": 3, "candidatesTokenCount": 2, "thoughtsTokenCount": 4},
        )
    )["usage"]
    # every key one of OpenAI's (the SDK's models would keep unknown keys as extras, so compare the field names)
    assert set(usage) <= set(CompletionUsage.model_fields)
    assert set(usage["prompt_tokens_details"]) <= set(PromptTokensDetails.model_fields)
    assert set(usage["completion_tokens_details"]) <= set(CompletionTokensDetails.model_fields)
    parsed = CompletionUsage.model_validate(usage)
    assert parsed.total_tokens == 9 and parsed.completion_tokens_details is not None
    assert parsed.completion_tokens_details.reasoning_tokens == 4
