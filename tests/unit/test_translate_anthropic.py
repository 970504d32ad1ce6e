"""OpenAI chat.completions <-> Anthropic Messages: every translated field, both directions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.translate.anthropic import (
    DEFAULT_MAX_TOKENS,
    chat_to_params,
    message_to_chat_completion,
    result_to_output_line,
)

CID = "req-1"
HI: list[dict[str, Any]] = [{"role": "user", "content": "Hi"}]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "messages": HI, **fields}


def params(**fields: Any) -> dict[str, Any]:
    return chat_to_params(body(**fields), custom_id=CID)


def rejected(raw: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        chat_to_params(raw, custom_id=CID)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    assert f"custom_id '{CID}'" in caught.value.message
    return caught.value


# ---------------------------------------------------------------------------------------------------------------
# chat body -> params: top-level fields


def test_minimal_body() -> None:
    assert params() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    assert DEFAULT_MAX_TOKENS == 4096


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_completion_tokens": 100}, {"max_tokens": 100}),
        ({"max_tokens": 200}, {"max_tokens": 200}),
        ({"max_completion_tokens": 100, "max_tokens": 200}, {"max_tokens": 100}),
        ({"max_completion_tokens": None, "max_tokens": 200}, {"max_tokens": 200}),
        ({"stop": "END"}, {"stop_sequences": ["END"]}),
        ({"stop": ["a", "b", "c", "d"]}, {"stop_sequences": ["a", "b", "c", "d"]}),
        ({"stop": []}, {}),
        ({"stop": None}, {}),
        ({"temperature": 0}, {"temperature": 0}),
        ({"temperature": 0.7}, {"temperature": 0.7}),
        ({"temperature": 1}, {"temperature": 1}),
        ({"top_p": 0.9}, {"top_p": 0.9}),
        ({"top_p": 1}, {"top_p": 1}),
        ({"user": "user-42"}, {"metadata": {"user_id": "user-42"}}),
        # dropped: no effect on what Anthropic does
        ({"seed": None}, {}),
        ({"seed": 7}, {}),  # best effort in OpenAI's API; Anthropic has none (its OpenAI layer ignores it too)
        ({"logprobs": False}, {}),
        ({"n": 1}, {}),
        ({"stream": False}, {}),
        ({"stream_options": {"include_usage": True}}, {}),
        ({"service_tier": "auto"}, {}),
        ({"store": True}, {}),
        ({"metadata": {"team": "x"}}, {}),
        ({"presence_penalty": 0}, {}),
        ({"frequency_penalty": 0.0}, {}),
        ({"response_format": {"type": "text"}}, {}),
        ({"modalities": ["text"]}, {}),
        ({"logit_bias": {}}, {}),
        ({"parallel_tool_calls": True}, {}),
        ({"parallel_tool_calls": False}, {}),  # no tools: nothing to run in parallel
        ({"audio": None, "prediction": None, "top_logprobs": None}, {}),
    ],
)
def test_top_level_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    out = params(**fields)
    assert {k: v for k, v in out.items() if k not in ("model", "messages", "max_tokens")} == {
        k: v for k, v in expected.items() if k != "max_tokens"
    }
    assert out["max_tokens"] == expected.get("max_tokens", DEFAULT_MAX_TOKENS)


WEATHER: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "weather", "description": "Weather now", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "ping"}},
]
ANTHROPIC_TOOLS: list[dict[str, Any]] = [
    {"name": "weather", "description": "Weather now", "input_schema": WEATHER},
    {"name": "ping", "input_schema": {"type": "object", "properties": {}}},
]


def test_tools() -> None:
    assert params(tools=TOOLS)["tools"] == ANTHROPIC_TOOLS
    assert "tool_choice" not in params(tools=TOOLS)


def test_tool_strict_false_is_dropped() -> None:
    tool = {"type": "function", "function": {"name": "ping", "strict": False}}
    assert params(tools=[tool])["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"tool_choice": "auto"}, {"type": "auto"}),
        ({"tool_choice": "required"}, {"type": "any"}),
        ({"tool_choice": "none"}, {"type": "none"}),
        ({"tool_choice": {"type": "function", "function": {"name": "weather"}}}, {"type": "tool", "name": "weather"}),
        ({"parallel_tool_calls": False}, {"type": "auto", "disable_parallel_tool_use": True}),
        ({"parallel_tool_calls": False, "tool_choice": "auto"}, {"type": "auto", "disable_parallel_tool_use": True}),
        (
            {"parallel_tool_calls": False, "tool_choice": "required"},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        (
            {"parallel_tool_calls": False, "tool_choice": {"type": "function", "function": {"name": "weather"}}},
            {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        ),
        ({"parallel_tool_calls": False, "tool_choice": "none"}, {"type": "none"}),
        ({"parallel_tool_calls": True, "tool_choice": "auto"}, {"type": "auto"}),
    ],
)
def test_tool_choice(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert params(tools=TOOLS, **fields)["tool_choice"] == expected


# ---------------------------------------------------------------------------------------------------------------
# chat body -> params: messages


@pytest.mark.parametrize(
    ("messages", "system", "expected"),
    [
        (
            [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "Be brief.",
            [{"role": "user", "content": "Hi"}],
        ),
        (
            [
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "Rule 1."}, {"type": "text", "text": "R2."}],
                },
                {"role": "user", "content": "Hi"},
                {"role": "system", "content": "Late rule."},
                {"role": "assistant", "content": "Hello"},
            ],
            "Rule 1.\n\nR2.\n\nLate rule.",
            [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}],
        ),
        (
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
            None,
            [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
        ),
        (
            [{"role": "user", "name": "ann", "content": [{"type": "text", "text": "Hi"}]}],
            None,
            [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        ),
        (
            [
                {"role": "user", "content": "Hi"},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "A"}, {"type": "refusal", "refusal": "No."}],
                },
            ],
            None,
            [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "A"}, {"type": "text", "text": "No."}]},
            ],
        ),
    ],
)
def test_messages(messages: list[dict[str, Any]], system: str | None, expected: list[dict[str, Any]]) -> None:
    out = params(messages=messages)
    assert out.get("system") == system
    assert out["messages"] == expected


@pytest.mark.parametrize(
    ("url", "source"),
    [
        ("data:image/png;base64,iVBORw0KGgo=", {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}),
        ("data:image/jpeg;base64,/9j/4AAQ", {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}),
        ("data:image/webp;base64,UklGR", {"type": "base64", "media_type": "image/webp", "data": "UklGR"}),
        ("https://example.com/cat.png", {"type": "url", "url": "https://example.com/cat.png"}),
    ],
)
def test_images(url: str, source: dict[str, Any]) -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
            ],
        }
    ]
    assert params(messages=messages)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {"type": "image", "source": source}]}
    ]


TOOL_CALL_TURN: list[dict[str, Any]] = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
    {"role": "user", "content": "Thanks"},
]


def test_tool_calls_and_results() -> None:
    assert params(messages=TOOL_CALL_TURN, tools=TOOLS)["messages"] == [
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            ],
        },
        {"role": "user", "content": "Thanks"},
    ]


PING_CALL: dict[str, Any] = {"id": "c", "type": "function", "function": {"name": "ping", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("assistant", "expected"),
    [
        (
            {"role": "assistant", "content": None, "tool_calls": [PING_CALL]},
            [{"type": "tool_use", "id": "c", "name": "ping", "input": {}}],
        ),
        (
            {"role": "assistant", "tool_calls": [PING_CALL]},
            [{"type": "tool_use", "id": "c", "name": "ping", "input": {}}],
        ),
        (
            {"role": "assistant", "content": "", "tool_calls": [PING_CALL]},
            [{"type": "tool_use", "id": "c", "name": "ping", "input": {}}],
        ),
        (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "ping", "arguments": ""}}],
            },
            [{"type": "tool_use", "id": "c", "name": "ping", "input": {}}],
        ),
        (
            {
                "role": "assistant",
                "content": [{"type": "text", "text": "One sec."}],
                "tool_calls": [
                    {"id": "c", "type": "function", "function": {"name": "w", "arguments": '{"a": [1, {"b": null}]}'}}
                ],
            },
            [
                {"type": "text", "text": "One sec."},
                {"type": "tool_use", "id": "c", "name": "w", "input": {"a": [1, {"b": None}]}},
            ],
        ),
    ],
)
def test_assistant_tool_calls(assistant: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    out = params(
        messages=[{"role": "user", "content": "Go"}, assistant, {"role": "tool", "tool_call_id": "c", "content": "ok"}]
    )
    assert out["messages"][1] == {"role": "assistant", "content": expected}
    assert out["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "c", "content": "ok"}],
    }


def test_does_not_modify_the_body() -> None:
    raw = body(messages=TOOL_CALL_TURN, tools=TOOLS, parallel_tool_calls=False, tool_choice="auto")
    before = json.dumps(raw, sort_keys=True)
    chat_to_params(raw, custom_id=CID)
    assert json.dumps(raw, sort_keys=True) == before


# ---------------------------------------------------------------------------------------------------------------
# chat body -> params: rejections name the custom_id and the field


@pytest.mark.parametrize(
    ("raw", "param", "words"),
    [
        ({"messages": HI}, "body.model", "is required"),
        ({"model": 3, "messages": HI}, "body.model", "string"),
        ({"model": "m"}, "body.messages", "is required"),
        ({"model": "m", "messages": []}, "body.messages", "non-empty"),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "body.messages", "no user or assistant"),
        (body(n=3), "body.n", "body.n = 3 is not supported by Anthropic (one choice per request)"),
        (body(stream=True), "body.stream", "stream = true is not supported by Anthropic"),
        (body(logprobs=True), "body.logprobs", "no log probabilities"),
        (body(top_logprobs=2), "body.top_logprobs", "no log probabilities"),
        (body(presence_penalty=0.5), "body.presence_penalty", "no presence or frequency penalty"),
        (body(frequency_penalty=-1), "body.frequency_penalty", "no presence or frequency penalty"),
        (body(seed=7.5), "body.seed", "body.seed must be an integer"),
        (body(audio={"voice": "alloy", "format": "wav"}), "body.audio", "no audio"),
        (body(modalities=["text", "audio"]), "body.modalities", "text only"),
        (body(prediction={"type": "content", "content": "x"}), "body.prediction", "predicted outputs"),
        (body(functions=[{"name": "f"}]), "body.functions", "deprecated"),
        (body(function_call="auto"), "body.function_call", "deprecated"),
        (body(logit_bias={"50256": -100}), "body.logit_bias", "no logit bias"),
        (body(reasoning_effort="lots"), "body.reasoning_effort", "must be one of none, minimal, low"),
        (body(temperature=1.5), "body.temperature", "temperature = 1.5 is not supported by Anthropic"),
        (body(temperature=2.5), "body.temperature", "between 0 and 2"),
        (body(temperature=-0.1), "body.temperature", "between 0 and 2"),
        (body(temperature="hot"), "body.temperature", "must be a number"),
        (body(top_p=1.5), "body.top_p", "between 0 and 1"),
        (body(max_tokens=0), "body.max_tokens", "must be at least 1"),
        (body(max_completion_tokens=-5), "body.max_completion_tokens", "must be at least 1"),
        (body(max_completion_tokens=1.5), "body.max_completion_tokens", "integer"),
        (body(stop=["a", "b", "c", "d", "e"]), "body.stop", "at most 4"),
        (body(stop=[1]), "body.stop", "list of strings"),
        (body(user=5), "body.user", "string"),
        (body(tools=[{"type": "custom", "custom": {"name": "x"}}]), "body.tools[0].type", "only function tools"),
        (body(tools=[{"type": "function", "function": {}}]), "body.tools[0].function.name", "is required"),
        (
            body(tools=[{"type": "function", "function": {"name": "f", "strict": True}}]),
            "body.tools[0].function.strict",
            "not guaranteed",
        ),
        (body(tools=TOOLS, tool_choice="sometimes"), "body.tool_choice", "must be"),
        (
            body(tools=TOOLS, tool_choice={"type": "allowed_tools", "allowed_tools": {}}),
            "body.tool_choice",
            "not supported by Anthropic",
        ),
        (body(tools=TOOLS, tool_choice={"type": "function", "function": {}}), "body.tool_choice.function.name", ""),
        (body(messages=[{"role": "function", "name": "f", "content": "x"}]), "body.messages[0].role", "deprecated"),
        (body(messages=[{"role": "robot", "content": "x"}]), "body.messages[0].role", "must be system"),
        (body(messages=[{"role": "user", "content": "x", "extra": 1}]), "body.messages[0].extra", "not a known"),
        (body(messages=[{"role": "user"}]), "body.messages[0].content", "string or a list"),
        (
            body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
            "body.messages[0].content[0].type",
            "input_audio",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]}]),
            "body.messages[0].content[0].type",
            "only text and image_url parts",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y"}}]}]),
            "body.messages[0].content[0].image_url.url",
            "https URL or a base64 data URL",
        ),
        (
            body(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,abc"}}]}]),
            "body.messages[0].content[0].image_url.url",
            "base64 data URL",
        ),
        (
            body(
                messages=[
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk"}}],
                    }
                ]
            ),
            "body.messages[0].content[0].image_url.url",
            "image/jpeg",
        ),
        (
            body(messages=[{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]}]),
            "body.messages[0].content[0].type",
            "only text parts",
        ),
        (body(messages=[*HI, {"role": "assistant", "content": None}]), "body.messages[1].content", "unless tool_calls"),
        (
            body(
                messages=[
                    *HI,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{x"}}],
                    },
                ]
            ),
            "body.messages[1].tool_calls[0].function.arguments",
            "is not valid JSON",
        ),
        (
            body(
                messages=[
                    *HI,
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}],
                    },
                ]
            ),
            "body.messages[1].tool_calls[0].function.arguments",
            "JSON object",
        ),
        (
            body(
                messages=[*HI, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]
            ),
            "body.messages[1].tool_calls[0].id",
            "is required",
        ),
        (
            body(messages=[*HI, {"role": "assistant", "content": "x", "function_call": {"name": "f"}}]),
            "body.messages[1].function_call",
            "deprecated",
        ),
        (body(messages=[*HI, {"role": "tool", "content": "x"}]), "body.messages[1].tool_call_id", "is required"),
        (
            body(messages=[*HI, {"role": "tool", "tool_call_id": "c", "content": [{"type": "image_url"}]}]),
            "body.messages[1].content[0].type",
            "only text parts",
        ),
    ],
)
def test_rejected(raw: dict[str, Any], param: str, words: str) -> None:
    error = rejected(raw)
    assert error.param == param
    assert param in error.message
    assert words in error.message


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ({"messages": HI}, "missing_required_parameter"),
        (body(n=2), "unsupported_value"),
        (body(temperature=1.2), "unsupported_value"),
        (body(top_logprobs=1), "unsupported_parameter"),
        (body(foo=1), "unknown_parameter"),
        (body(temperature="x"), "invalid_type"),
        (body(top_p=3), "invalid_value"),
    ],
)
def test_rejection_codes(raw: dict[str, Any], code: str) -> None:
    assert rejected(raw).code == code


def test_rejection_message_exactly() -> None:
    assert rejected(body(n=3)).message == (
        "custom_id 'req-1': body.n = 3 is not supported by Anthropic (one choice per request)"
    )


# ---------------------------------------------------------------------------------------------------------------
# Anthropic Message -> chat.completion


def message(**fields: Any) -> dict[str, Any]:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Hello!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 5},
        **fields,
    }


def test_message_to_chat_completion() -> None:
    assert message_to_chat_completion(message(), created=1_700_000_000) == {
        "id": "msg_01",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "claude-sonnet-4-5-20250929",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello!", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {  # both details objects, zeros included, as OpenAI writes them
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("pause_turn", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ],
)
def test_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    out = message_to_chat_completion(message(stop_reason=stop_reason), created=0)
    assert out["choices"][0]["finish_reason"] == finish_reason


def openai_usage(prompt: int, completion: int, total: int, *, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": total,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (
            {"input_tokens": 10, "output_tokens": 3},
            openai_usage(10, 3, 13, cached=0),
        ),
        (
            {"input_tokens": 10, "output_tokens": 3, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 0},
            openai_usage(210, 3, 213, cached=0),
        ),
        (
            {
                "input_tokens": 10,
                "output_tokens": 3,
                "cache_creation_input_tokens": 200,
                "cache_read_input_tokens": 1000,
                "service_tier": "batch",
            },
            openai_usage(1210, 3, 1213, cached=1000),
        ),
        (
            {
                "input_tokens": 4,
                "output_tokens": 1,
                "cache_creation_input_tokens": None,
                "cache_read_input_tokens": None,
            },
            openai_usage(4, 1, 5, cached=0),
        ),
        (  # thinking tokens are reasoning tokens (output_tokens already counts them)
            {"input_tokens": 4, "output_tokens": 900, "output_tokens_details": {"thinking_tokens": 850}},
            openai_usage(4, 900, 904, reasoning=850),
        ),
    ],
)
def test_usage(usage: dict[str, Any], expected: dict[str, Any]) -> None:
    assert message_to_chat_completion(message(usage=usage), created=0)["usage"] == expected


@pytest.mark.parametrize(
    ("content", "reply"),
    [
        (
            [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}},
            ],
            {
                "role": "assistant",
                "content": "Checking.",
                "refusal": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
        ),
        (
            [
                {"type": "tool_use", "id": "toolu_1", "name": "a", "input": {}},
                {"type": "tool_use", "id": "toolu_2", "name": "b", "input": {"x": [1, 2]}},
            ],
            {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                    {"id": "toolu_2", "type": "function", "function": {"name": "b", "arguments": '{"x": [1, 2]}'}},
                ],
            },
        ),
        (
            [
                {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
                {"type": "text", "text": "Part one. "},
                {"type": "text", "text": "Part two."},
            ],
            {"role": "assistant", "content": "Part one. Part two.", "refusal": None},
        ),
        ([], {"role": "assistant", "content": None, "refusal": None}),
    ],
)
def test_message_content(content: list[dict[str, Any]], reply: dict[str, Any]) -> None:
    out = message_to_chat_completion(message(content=content, stop_reason="tool_use"), created=0)
    assert out["choices"][0]["message"] == reply
    for call in reply.get("tool_calls", []):
        json.loads(call["function"]["arguments"])


# ---------------------------------------------------------------------------------------------------------------
# results line -> batch output line


def result_line(result: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": "bb-0001", "result": result}


def test_succeeded() -> None:
    kind, line = result_to_output_line(
        result_line({"type": "succeeded", "message": message()}), custom_id=CID, line_id="batch_req_1", created=5
    )
    assert kind == "output"
    assert line == {
        "id": "batch_req_1",
        "custom_id": CID,
        "response": {
            "status_code": 200,
            "request_id": "msg_01",
            "body": message_to_chat_completion(message(), created=5),
        },
        "error": None,
    }


@pytest.mark.parametrize(
    ("error_type", "status"),
    [
        ("invalid_request_error", 400),
        ("authentication_error", 401),
        ("billing_error", 402),
        ("permission_error", 403),
        ("not_found_error", 404),
        ("request_too_large", 413),
        ("rate_limit_error", 429),
        ("api_error", 500),
        ("timeout_error", 504),
        ("overloaded_error", 529),
        ("brand_new_error", 500),
    ],
)
def test_errored(error_type: str, status: int) -> None:
    raw = result_line(
        {
            "type": "errored",
            "error": {"type": "error", "error": {"type": error_type, "message": "Boom."}, "request_id": "req_011"},
        }
    )
    kind, line = result_to_output_line(raw, custom_id=CID, line_id="batch_req_2", created=5)
    assert kind == "error"
    assert line == {
        "id": "batch_req_2",
        "custom_id": CID,
        "response": {
            "status_code": status,
            "request_id": "req_011",
            "body": {"error": {"message": "Boom.", "type": error_type, "param": None, "code": None}},
        },
        "error": None,
    }


def test_errored_without_request_id() -> None:
    raw = result_line(
        {"type": "errored", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "Bad."}}}
    )
    _, line = result_to_output_line(raw, custom_id=CID, line_id="batch_req_3", created=5)
    assert line["response"]["request_id"] == ""
    assert line["response"]["status_code"] == 400


@pytest.mark.parametrize(
    ("result_type", "code"),
    [("canceled", "batch_cancelled"), ("expired", "batch_expired")],
)
def test_never_ran(result_type: str, code: str) -> None:
    kind, line = result_to_output_line(
        result_line({"type": result_type}), custom_id=CID, line_id="batch_req_4", created=5
    )
    assert kind == "error"
    assert line["id"] == "batch_req_4"
    assert line["custom_id"] == CID
    assert line["response"] is None
    assert line["error"]["code"] == code
    assert isinstance(line["error"]["message"], str) and line["error"]["message"]
    assert set(line) == {"id", "custom_id", "response", "error"}
    assert set(line["error"]) == {"code", "message"}


@pytest.mark.parametrize("raw", [{"custom_id": "x"}, result_line({"type": "mystery"})])
def test_unknown_result_is_a_bad_provider_response(raw: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as caught:
        result_to_output_line(raw, custom_id=CID, line_id="batch_req_5", created=5)
    assert caught.value.status == 502
    assert caught.value.code == "provider_bad_response"


def test_tool_results_merge_across_a_system_message_but_not_a_user_message() -> None:
    messages = [
        *HI,
        {"role": "assistant", "tool_calls": [PING_CALL, {**PING_CALL, "id": "d"}, {**PING_CALL, "id": "e"}]},
        {"role": "tool", "tool_call_id": "c", "content": "1"},
        {"role": "system", "content": "Be careful."},
        {"role": "tool", "tool_call_id": "d", "content": "2"},
        {"role": "user", "content": "More"},
        {"role": "tool", "tool_call_id": "e", "content": "3"},
    ]
    out = params(messages=messages)
    assert out["system"] == "Be careful."
    assert out["messages"][2:] == [
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c", "content": "1"},
                {"type": "tool_result", "tool_use_id": "d", "content": "2"},
            ],
        },
        {"role": "user", "content": "More"},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "e", "content": "3"}]},
    ]


def test_unknown_stop_reason_is_stop() -> None:
    out = message_to_chat_completion(message(stop_reason="something_new"), created=0)
    assert out["choices"][0]["finish_reason"] == "stop"


# ---------------------------------------------------------------------------------------------------------------
# response_format: native structured outputs on the models that have them, a forced tool elsewhere

NATIVE = "claude-sonnet-4-5-20250929"  # 4.5: structured outputs, thinking with a budget
OLD = "claude-3-5-haiku-latest"  # 3.5: neither
BUDGET_ONLY = "claude-sonnet-4-20250514"  # 4: thinking with a budget, no structured outputs
ADAPTIVE = "claude-opus-4-6"  # 4.6: structured outputs, adaptive thinking

MOVIE: dict[str, Any] = {
    "type": "object",
    "properties": {"categories": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"}},
    "required": ["categories", "summary"],
    "additionalProperties": False,
}


def json_schema(schema: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": "movie", "schema": schema or MOVIE, **spec}}


def on(model: str, **fields: Any) -> dict[str, Any]:
    return chat_to_params({"model": model, "messages": HI, **fields}, custom_id=CID)


def rejected_on(model: str, **fields: Any) -> GatewayError:
    return rejected({"model": model, "messages": HI, **fields})


def forced_tool(schema: dict[str, Any], name: str = "movie") -> dict[str, Any]:
    return {
        "tools": [
            {
                "name": "batchbridge_json_response",
                "description": f"Give your whole answer as this tool's input: the JSON object {name!r}."
                if name
                else "Give your whole answer as this tool's input: a JSON object.",
                "input_schema": schema,
            }
        ],
        "tool_choice": {"type": "tool", "name": "batchbridge_json_response"},
    }


def extra(out: dict[str, Any]) -> dict[str, Any]:
    """What a translation adds beside a plain line's params."""
    return {k: v for k, v in out.items() if k not in ("model", "messages", "max_tokens")}


@pytest.mark.parametrize(
    ("model", "response_format", "expected"),
    [
        (NATIVE, {"type": "text"}, {}),
        (OLD, {"type": "text"}, {}),
        (NATIVE, None, {}),
        (NATIVE, {"type": "json_object"}, forced_tool({"type": "object"}, name="")),
        (OLD, {"type": "json_object"}, forced_tool({"type": "object"}, name="")),
        (ADAPTIVE, {"type": "json_object"}, forced_tool({"type": "object"}, name="")),
        (NATIVE, json_schema(strict=True), {"output_config": {"format": {"type": "json_schema", "schema": MOVIE}}}),
        (ADAPTIVE, json_schema(), {"output_config": {"format": {"type": "json_schema", "schema": MOVIE}}}),
        ("claude-opus-5", json_schema(), {"output_config": {"format": {"type": "json_schema", "schema": MOVIE}}}),
        (OLD, json_schema(strict=True), forced_tool(MOVIE)),
        (BUDGET_ONLY, json_schema(strict=False), forced_tool(MOVIE)),
        ("claude-opus-4-1-20250805", json_schema(), forced_tool(MOVIE)),
    ],
)
def test_response_format(model: str, response_format: dict[str, Any] | None, expected: dict[str, Any]) -> None:
    assert extra(on(model, response_format=response_format)) == expected


def test_a_forced_tool_uses_the_format_description() -> None:
    out = on(OLD, response_format=json_schema(description="A movie, classified."))
    assert out["tools"][0]["description"] == (
        "Give your whole answer as this tool's input: the JSON object 'movie'. A movie, classified."
    )


def test_native_structured_outputs_close_open_objects_and_leave_the_line_alone() -> None:
    open_schema = {
        "type": "object",
        "properties": {"who": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "allOf": [{"type": "object", "properties": {"x": {"type": "string"}}}],
    }
    raw = {"model": NATIVE, "messages": HI, "response_format": json_schema(open_schema)}
    before = json.dumps(raw, sort_keys=True)
    sent = chat_to_params(raw, custom_id=CID)["output_config"]["format"]["schema"]
    assert sent == {
        "type": "object",
        "properties": {
            "who": {"type": "object", "properties": {"name": {"type": "string"}}, "additionalProperties": False}
        },
        "allOf": [{"type": "object", "properties": {"x": {"type": "string"}}}],  # branches stay open
        "additionalProperties": False,
    }
    assert json.dumps(raw, sort_keys=True) == before


def test_native_structured_outputs_keep_the_lines_own_tools() -> None:
    out = on(NATIVE, response_format=json_schema(), tools=TOOLS, tool_choice="auto")
    assert out["tools"] == ANTHROPIC_TOOLS and out["tool_choice"] == {"type": "auto"}
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": MOVIE}}


def test_a_forced_tool_replaces_a_tool_choice_without_tools() -> None:
    assert extra(on(OLD, response_format={"type": "json_object"}, tool_choice="none")) == forced_tool(
        {"type": "object"}, name=""
    )


@pytest.mark.parametrize(
    ("model", "fields", "param", "words"),
    [
        (NATIVE, {"response_format": {"type": "json_object"}, "tools": TOOLS}, "body.response_format", "own tools"),
        (OLD, {"response_format": json_schema(), "tools": TOOLS}, "body.response_format", "no native structured"),
        (
            BUDGET_ONLY,
            {"response_format": json_schema(), "reasoning_effort": "low"},
            "body.response_format",
            "extended thinking (reasoning_effort) rules out",
        ),
        (
            NATIVE,
            {"response_format": {"type": "json_object"}, "reasoning_effort": "low"},
            "body.response_format",
            "Claude has no JSON mode",
        ),
        (
            OLD,
            {"response_format": json_schema({"type": "array", "items": {"type": "string"}})},
            "body.response_format.json_schema.schema.type",
            "a tool's input, which is an object",
        ),
        (
            NATIVE,
            {"tools": [{"type": "function", "function": {"name": "batchbridge_json_response"}}]},
            "body.tools[0].function.name",
            "reserved for response_format",
        ),
        (NATIVE, {"response_format": "json"}, "body.response_format", "must be an object"),
        (NATIVE, {"response_format": {"type": "xml"}}, "body.response_format.type", "'text', 'json_object' or"),
        (NATIVE, {"response_format": {"type": "json_schema"}}, "body.response_format.json_schema", "is required"),
        (
            NATIVE,
            {"response_format": {"type": "json_schema", "json_schema": {"name": "a b", "schema": MOVIE}}},
            "body.response_format.json_schema.name",
            "1 to 64 letters",
        ),
        (
            NATIVE,
            {"response_format": {"type": "json_schema", "json_schema": {"name": "m", "schema": "{}"}}},
            "body.response_format.json_schema.schema",
            "must be a JSON schema object",
        ),
        (
            NATIVE,
            {"response_format": json_schema(strict="yes")},
            "body.response_format.json_schema.strict",
            "boolean",
        ),
    ],
)
def test_response_format_rejected(model: str, fields: dict[str, Any], param: str, words: str) -> None:
    error = rejected_on(model, **fields)
    assert (error.param, words in error.message) == (param, True), error.message


# The schema reaches Claude unchanged (natively or as the tool's input schema), so OpenAI's strict rules are
# checked: each is a 400 naming where the schema breaks it, whichever way the model takes it.
@pytest.mark.parametrize("model", [NATIVE, OLD])
@pytest.mark.parametrize(
    ("schema", "path", "words"),
    [
        ({**MOVIE, "additionalProperties": True}, ".additionalProperties", "must be false on every object"),
        ({k: v for k, v in MOVIE.items() if k != "additionalProperties"}, ".additionalProperties", "must be false"),
        ({**MOVIE, "required": ["summary"]}, ".required", "'categories' is missing"),
        ({**MOVIE, "allOf": [{"type": "object"}]}, ".allOf", "'allOf' is not supported in strict mode"),
        (
            {**MOVIE, "properties": {**MOVIE["properties"], "when": {"type": "string", "format": "yearish"}}},
            ".properties.when.format",
            "not supported in strict mode",
        ),
    ],
)
def test_strict_schemas_follow_openais_rules(model: str, schema: dict[str, Any], path: str, words: str) -> None:
    if "when" in schema["properties"]:
        schema = {**schema, "required": [*schema["required"], "when"]}
    error = rejected_on(model, response_format=json_schema(schema, strict=True))
    assert error.param == "body.response_format.json_schema.schema" + path
    assert words in error.message and "custom_id 'req-1'" in error.message
    assert error.code == "invalid_schema"


def test_a_non_strict_schema_is_not_held_to_strict_rules() -> None:
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    assert extra(on(OLD, response_format=json_schema(loose)))["tools"][0]["input_schema"] == loose


def with_property(schema: dict[str, Any]) -> dict[str, Any]:
    return {**MOVIE, "properties": {**MOVIE["properties"], "x": schema}, "required": [*MOVIE["required"], "x"]}


# What Claude's structured outputs do not take is a 400 at upload for a strict schema (it must hold, and Claude
# cannot hold it), the message saying it is Claude's limit; OpenAI's strict rules come first where both apply.
@pytest.mark.parametrize(
    ("schema", "path", "words"),
    [
        (with_property({"type": "integer", "minimum": 1}), ".properties.x.minimum", "'minimum' is not supported"),
        (with_property({"type": "string", "maxLength": 9}), ".properties.x.maxLength", "'maxLength'"),
        (
            with_property({"type": "array", "items": {"type": "string"}, "minItems": 2}),
            ".properties.x.minItems",
            "may only be 0 or 1",
        ),
        (with_property({"type": "string", "format": "regex"}), ".properties.x.format", "not supported"),
        (with_property({"type": "string", "pattern": "^(?=a)"}), ".properties.x.pattern", "uses lookaround"),
        (with_property({"type": "string", "pattern": r"(a)\1"}), ".properties.x.pattern", "a backreference"),
        (with_property({"type": "string", "pattern": r"\bword"}), ".properties.x.pattern", "a word boundary"),
        (with_property({"enum": [{"a": 1}]}), ".properties.x.enum", "only strings, numbers"),
        (with_property({"$ref": "https://example.com/s.json"}), ".properties.x.$ref", "a local reference"),
        (with_property({"$ref": "#/$defs/missing"}), ".properties.x.$ref", "points to nothing"),
        (
            {
                **with_property({"$ref": "#/$defs/node"}),
                "$defs": {
                    "node": {
                        "type": "object",
                        "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                        "required": ["children"],
                        "additionalProperties": False,
                    }
                },
            },
            ".$defs.node.properties.children.items.$ref",
            "recursive",
        ),
        (
            {**MOVIE, "additionalProperties": {"type": "string"}},
            ".additionalProperties",
            "must be false",
        ),
    ],
)
def test_what_claudes_structured_outputs_do_not_take(schema: dict[str, Any], path: str, words: str) -> None:
    error = rejected_on(NATIVE, response_format=json_schema(schema, strict=True))
    assert error.param == "body.response_format.json_schema.schema" + path
    assert words in error.message
    assert on(NATIVE, response_format=json_schema(schema)) == {  # not strict: guidance for a forced tool
        **on(NATIVE),
        **forced_tool(schema),
    }


def test_a_strict_schema_outside_claudes_subset_names_claudes_limit() -> None:
    error = rejected_on(
        NATIVE, response_format=json_schema(with_property({"type": "integer", "minimum": 1}), strict=True)
    )
    assert error.param == "body.response_format.json_schema.schema.properties.x.minimum"
    assert "a limit of Claude's structured outputs" in error.message


def test_claudes_limits_do_not_apply_to_a_forced_tool() -> None:
    schema = with_property({"type": "integer", "minimum": 1})
    assert on(OLD, response_format=json_schema(schema))["tools"][0]["input_schema"] == schema


# ---------------------------------------------------------------------------------------------------------------
# reasoning_effort: extended thinking


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        (NATIVE, {"reasoning_effort": "none"}, {"max_tokens": DEFAULT_MAX_TOKENS}),
        (OLD, {"reasoning_effort": "none"}, {"max_tokens": DEFAULT_MAX_TOKENS}),
        (NATIVE, {"reasoning_effort": None}, {"max_tokens": DEFAULT_MAX_TOKENS}),
        (
            NATIVE,
            {"reasoning_effort": "minimal"},
            {"max_tokens": 4096 + 1024, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        ),
        (
            BUDGET_ONLY,
            {"reasoning_effort": "low"},
            {"max_tokens": 4096 + 2048, "thinking": {"type": "enabled", "budget_tokens": 2048}},
        ),
        (
            "claude-3-7-sonnet-20250219",
            {"reasoning_effort": "medium"},
            {"max_tokens": 4096 + 8192, "thinking": {"type": "enabled", "budget_tokens": 8192}},
        ),
        (  # a smaller max_completion_tokens caps the thinking, as OpenAI's caps the reasoning
            NATIVE,
            {"reasoning_effort": "high", "max_completion_tokens": 10_000},
            {"max_tokens": 10_000, "thinking": {"type": "enabled", "budget_tokens": 9_999}},
        ),
        (  # 3.7 takes temperature and top_p together (4.5 takes one of them)
            "claude-3-7-sonnet-20250219",
            {"reasoning_effort": "high", "max_tokens": 40_000, "temperature": 1, "top_p": 0.95},
            {
                "max_tokens": 40_000,
                "thinking": {"type": "enabled", "budget_tokens": 16_384},
                "temperature": 1,
                "top_p": 0.95,
            },
        ),
        (
            ADAPTIVE,
            {"reasoning_effort": "medium"},
            {"max_tokens": 4096 + 8192, "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
        ),
        (
            ADAPTIVE,
            {"reasoning_effort": "minimal", "max_completion_tokens": 500},
            {"max_tokens": 500, "thinking": {"type": "adaptive"}, "output_config": {"effort": "low"}},
        ),
        (
            "claude-opus-4-7",
            {"reasoning_effort": "xhigh", "response_format": json_schema()},
            {
                "max_tokens": 4096 + 24576,
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "xhigh", "format": {"type": "json_schema", "schema": MOVIE}},
            },
        ),
        (
            NATIVE,
            {"reasoning_effort": "low", "response_format": json_schema(), "tools": TOOLS, "tool_choice": "auto"},
            {
                "max_tokens": 4096 + 2048,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "output_config": {"format": {"type": "json_schema", "schema": MOVIE}},
                "tools": ANTHROPIC_TOOLS,
                "tool_choice": {"type": "auto"},
            },
        ),
    ],
)
def test_reasoning_effort(model: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    out = on(model, **fields)
    assert {k: v for k, v in out.items() if k not in ("model", "messages")} == expected


@pytest.mark.parametrize(
    ("model", "fields", "param", "words"),
    [
        (OLD, {"reasoning_effort": "low"}, "body.reasoning_effort", f"{OLD} has no extended thinking"),
        ("claude-3-opus-20240229", {"reasoning_effort": "high"}, "body.reasoning_effort", "no extended thinking"),
        (NATIVE, {"reasoning_effort": "low", "temperature": 0.1}, "body.temperature", "temperature 1 only"),
        (NATIVE, {"reasoning_effort": "low", "top_p": 0.5}, "body.top_p", "top_p 0.95 to 1 only"),
        (
            NATIVE,
            {"reasoning_effort": "low", "tools": TOOLS, "tool_choice": "required"},
            "body.tool_choice",
            "tool_choice auto or none only",
        ),
        (NATIVE, {"reasoning_effort": "low", "max_tokens": 1000}, "body.max_tokens", "give at least 1025"),
        (
            NATIVE,
            {"reasoning_effort": "low", "max_completion_tokens": 1024, "max_tokens": 9000},
            "body.max_completion_tokens",
            "at least 1024 tokens within max_tokens",
        ),
    ],
)
def test_reasoning_effort_rejected(model: str, fields: dict[str, Any], param: str, words: str) -> None:
    error = rejected_on(model, **fields)
    assert (error.param, words in error.message) == (param, True), error.message


# ---------------------------------------------------------------------------------------------------------------
# Answers to response_format: the forced tool's input is the content, as OpenAI would answer

FORCED = {"type": "tool_use", "id": "toolu_9", "name": "batchbridge_json_response"}


@pytest.mark.parametrize(
    ("content", "stop_reason", "text", "finish_reason"),
    [
        (
            [{**FORCED, "input": {"categories": ["drama", "crime"], "summary": "Two men bond in prison."}}],
            "tool_use",
            '{"categories":["drama","crime"],"summary":"Two men bond in prison."}',
            "stop",
        ),
        ([{**FORCED, "input": {"summary": "Amélie"}}], "end_turn", '{"summary":"Amélie"}', "stop"),
        ([{**FORCED, "input": {"summary": "cut"}}], "max_tokens", '{"summary":"cut"}', "length"),
        (
            [
                {"type": "thinking", "thinking": "Hmm.", "signature": "s"},
                {"type": "text", "text": "Here it is:"},
                {**FORCED, "input": {}},
            ],
            "tool_use",
            "{}",
            "stop",
        ),
        ([{**FORCED}], "tool_use", "{}", "stop"),
    ],
)
def test_a_forced_tool_answer_is_content(
    content: list[dict[str, Any]], stop_reason: str, text: str, finish_reason: str
) -> None:
    choice = message_to_chat_completion(message(content=content, stop_reason=stop_reason), created=0)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": text, "refusal": None}  # no tool_calls
    assert choice["finish_reason"] == finish_reason
    json.loads(choice["message"]["content"])


def test_a_native_structured_answer_passes_through() -> None:
    answer = '{"categories":["comedy"],"summary":"A dog runs for mayor."}'
    content = [{"type": "thinking", "thinking": "Plan.", "signature": "s"}, {"type": "text", "text": answer}]
    choice = message_to_chat_completion(message(content=content), created=0)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": answer, "refusal": None}
    assert choice["finish_reason"] == "stop"


# ---------------------------------------------------------------------------------------------------------------
# What each model takes (translate.claude's table): sampling, thinking by default, effort levels, prefill, limits

SONNET_5 = "claude-sonnet-5"  # thinks by default; `disabled` turns it off
SONNET_5_5 = "claude-sonnet-5-5"  # thinks by default; `between_tools` is its lowest setting; no forced tools
FABLE = "claude-fable-5"  # always thinks
OPUS_4_7 = "claude-opus-4-7"  # no thinking by default; adaptive only; default sampling only


@pytest.mark.parametrize("model", [OPUS_4_7, "claude-opus-4-8", SONNET_5, "claude-opus-5", FABLE, "claude-haiku-5-5"])
@pytest.mark.parametrize("key", ["temperature", "top_p"])
def test_models_that_take_only_default_sampling(model: str, key: str) -> None:
    error = rejected_on(model, **{key: 0.5})
    assert (error.param, error.code) == (f"body.{key}", "unsupported_parameter")
    assert f"{model} takes only the default {key}" in error.message
    assert key not in on(model, **{key: 1})  # the default passes, left out as the model runs with it anyway
    assert on(model, **{key: 1}) == on(model)


@pytest.mark.parametrize("model", [NATIVE, "claude-haiku-4-5", "claude-opus-4-1-20250805", ADAPTIVE])
def test_models_that_take_one_of_temperature_and_top_p(model: str) -> None:
    error = rejected_on(model, temperature=0.5, top_p=0.9)
    assert error.param == "body.top_p" and "temperature or top_p, not both" in error.message
    assert on(model, temperature=0.5)["temperature"] == 0.5
    assert on(model, top_p=0.9)["top_p"] == 0.9


@pytest.mark.parametrize("model", [OLD, BUDGET_ONLY, "claude-3-7-sonnet-20250219", "claude-opus-4-20250514"])
def test_older_models_take_temperature_and_top_p_together(model: str) -> None:
    out = on(model, temperature=0.5, top_p=0.9)
    assert (out["temperature"], out["top_p"]) == (0.5, 0.9)


@pytest.mark.parametrize(
    ("model", "thinking"),
    [
        (NATIVE, None),  # thinking is off by default: nothing to send
        (ADAPTIVE, None),
        (OPUS_4_7, None),  # off by default, and `disabled` is refused: left out
        (SONNET_5, {"type": "disabled"}),
        ("claude-opus-5", {"type": "disabled"}),
        ("claude-haiku-5-5", {"type": "disabled"}),
        (SONNET_5_5, {"type": "between_tools"}),
    ],
)
def test_reasoning_effort_none_turns_default_thinking_off(model: str, thinking: dict[str, Any] | None) -> None:
    out = on(model, reasoning_effort="none")
    assert out.get("thinking") == thinking
    assert "output_config" not in out


@pytest.mark.parametrize(
    "model", [FABLE, "claude-fable-5-1", "claude-mythos-5", "claude-mythos-preview", "claude-opus-5-5"]
)
def test_reasoning_effort_none_on_a_model_that_always_thinks(model: str) -> None:
    error = rejected_on(model, reasoning_effort="none")
    assert error.param == "body.reasoning_effort" and "always thinks" in error.message


@pytest.mark.parametrize(
    ("model", "reasoning_effort", "effort"),
    [
        (ADAPTIVE, "xhigh", "high"),  # 4.6 has no xhigh: rounded down
        (ADAPTIVE, "max", "max"),
        ("claude-mythos-preview", "xhigh", "high"),
        (OPUS_4_7, "xhigh", "xhigh"),
        (SONNET_5, "max", "max"),
        (SONNET_5, "minimal", "low"),
    ],
)
def test_effort_levels_the_model_lacks_round_down(model: str, reasoning_effort: str, effort: str) -> None:
    assert on(model, reasoning_effort=reasoning_effort)["output_config"] == {"effort": effort}


@pytest.mark.parametrize(
    ("model", "fields", "tool_choice"),
    [
        (SONNET_5, {"response_format": {"type": "json_object"}}, {"type": "tool", "name": "batchbridge_json_response"}),
        (SONNET_5, {"tools": TOOLS, "tool_choice": "required"}, {"type": "any"}),
        (
            "claude-opus-5",
            {"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_a_forced_tool_turns_default_thinking_off(model: str, fields: dict[str, Any], tool_choice: Any) -> None:
    out = on(model, **fields)
    assert (out["tool_choice"], out["thinking"]) == (tool_choice, {"type": "disabled"})
    assert "thinking" not in on(NATIVE, **fields)  # no thinking by default: nothing to turn off


@pytest.mark.parametrize(
    ("model", "fields", "param", "words"),
    [
        (FABLE, {"response_format": {"type": "json_object"}}, "body.response_format", "always thinks"),
        (FABLE, {"tools": TOOLS, "tool_choice": "required"}, "body.tool_choice", "always thinks"),
        (SONNET_5_5, {"tools": TOOLS, "tool_choice": "required"}, "body.tool_choice", "refuses forced tool use"),
        ("claude-opus-5-5", {"response_format": {"type": "json_object"}}, "body.response_format", "forced tool"),
        (
            SONNET_5,
            {"reasoning_effort": "low", "response_format": {"type": "json_object"}},
            "body.response_format",
            "extended thinking",
        ),
    ],
)
def test_a_forced_tool_where_thinking_cannot_be_off(model: str, fields: dict[str, Any], param: str, words: str) -> None:
    error = rejected_on(model, **fields)
    assert (error.param, words in error.message) == (param, True), error.message


def test_a_native_schema_needs_no_forced_tool_on_a_model_that_always_thinks() -> None:
    out = on(FABLE, response_format=json_schema())
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": MOVIE}}
    assert "tool_choice" not in out and "thinking" not in out


@pytest.mark.parametrize("model", [ADAPTIVE, "claude-sonnet-4-6", OPUS_4_7, SONNET_5, FABLE])
def test_models_that_refuse_a_prefill(model: str) -> None:
    messages = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "{"},
        {"role": "system", "content": "s"},
    ]
    error = rejected({"model": model, "messages": messages})
    assert error.param == "body.messages[1]" and "prefill" in error.message and model in error.message
    ends_with_user = [*messages, {"role": "user", "content": "go on"}]
    assert chat_to_params({"model": model, "messages": ends_with_user}, custom_id=CID)["messages"][-1]["role"] == "user"


@pytest.mark.parametrize("model", [NATIVE, OLD])
def test_models_that_take_a_prefill(model: str) -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "{"}]
    assert chat_to_params({"model": model, "messages": messages}, custom_id=CID)["messages"][-1] == messages[-1]


@pytest.mark.parametrize(
    ("model", "max_tokens", "budget"),
    [
        ("claude-opus-4-1-20250805", 32_000, 32_000 - 4096),  # capped at Opus 4.1's 32K; the answer keeps 4096
        ("claude-opus-4-20250514", 32_000, 32_000 - 4096),
        ("claude-3-7-sonnet-20250219", 4096 + 32_768, 32_768),  # within 3.7's 64K
    ],
)
def test_max_effort_stays_within_the_models_output_limit(model: str, max_tokens: int, budget: int) -> None:
    out = on(model, reasoning_effort="max")
    assert (out["max_tokens"], out["thinking"]) == (max_tokens, {"type": "enabled", "budget_tokens": budget})


def test_json_schema_without_a_schema_is_json_object() -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "movie", "description": "A film."}}
    out = on(NATIVE, response_format=fmt)
    expected = forced_tool({"type": "object"})
    expected["tools"][0]["description"] += " A film."
    assert extra(out) == expected


@pytest.mark.parametrize(
    "schema",
    [
        with_property({"type": "object"}),  # a free-form object: closing it would allow only {}
        {"type": "object"},
    ],
)
def test_a_free_form_object_is_not_closed_but_goes_to_the_forced_tool(schema: dict[str, Any]) -> None:
    out = on(NATIVE, response_format=json_schema(schema))
    assert extra(out) == forced_tool(schema)
    assert "additionalProperties" not in str(out["tools"][0]["input_schema"].get("properties", {}).get("x", ""))


def test_objects_with_properties_are_still_closed_natively() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}
    native = on(NATIVE, response_format=json_schema(schema))["output_config"]["format"]["schema"]
    assert native["additionalProperties"] is False and native["properties"]["a"]["additionalProperties"] is False
