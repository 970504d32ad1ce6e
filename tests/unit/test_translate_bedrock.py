"""OpenAI chat.completions <-> Bedrock batch records, per model family (Claude, Nova, Llama 3, Mistral)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.translate import anthropic
from batchbridge.domain.translate.bedrock import (
    ANTHROPIC_VERSION,
    chat_to_model_input,
    completion_id,
    family_of,
    record_to_output_line,
)

CID = "req-1"
LINE = "batch_req_abc"
CREATED = 1_700_000_000
CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
NOVA = "amazon.nova-lite-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
MISTRAL = "mistral.mistral-7b-instruct-v0:2"
HI: list[dict[str, Any]] = [{"role": "user", "content": "Hi"}]
CHAT: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "developer", "content": [{"type": "text", "text": "No emoji."}]},
    {"role": "user", "content": [{"type": "text", "text": "Why"}, {"type": "text", "text": "is the sky blue?"}]},
]


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "whatever-the-user-sent", "messages": HI, **fields}


def model_input(model_id: str, **fields: Any) -> dict[str, Any]:
    return chat_to_model_input(body(**fields), custom_id=CID, model_id=model_id)


def rejected(model_id: str, raw: dict[str, Any]) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        chat_to_model_input(raw, custom_id=CID, model_id=model_id)
    assert caught.value.status == 400
    assert caught.value.type == "invalid_request_error"
    assert f"custom_id '{CID}'" in caught.value.message
    return caught.value


def output(model_id: str, model_output: dict[str, Any]) -> dict[str, Any]:
    role, line = record_to_output_line(
        {"recordId": "r0000000000", "modelInput": {}, "modelOutput": model_output},
        custom_id=CID,
        line_id=LINE,
        created=CREATED,
        model_id=model_id,
    )
    assert role == "output"
    assert line["id"] == LINE
    assert line["custom_id"] == CID
    assert line["error"] is None
    assert line["response"]["status_code"] == 200
    completion: dict[str, Any] = line["response"]["body"]
    return completion


# ---------------------------------------------------------------------------------------------------------------
# family_of


@pytest.mark.parametrize(
    ("model_id", "family"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic"),
        ("amazon.nova-micro-v1:0", "nova"),
        ("amazon.nova-pro-v1:0", "nova"),
        ("meta.llama3-8b-instruct-v1:0", "llama"),
        ("meta.llama3-3-70b-instruct-v1:0", "llama"),
        ("mistral.mistral-7b-instruct-v0:2", "mistral"),
        ("mistral.mixtral-8x7b-instruct-v0:1", "mistral"),
        ("mistral.mistral-large-2402-v1:0", "mistral"),
        # inference profiles
        ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "anthropic"),
        ("eu.amazon.nova-lite-v1:0", "nova"),
        ("apac.anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic"),
        ("global.anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic"),
        ("us.meta.llama3-2-11b-instruct-v1:0", "llama"),
        ("us-gov.anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
        # ARNs
        ("arn:aws:bedrock:us-east-1::foundation-model/mistral.mixtral-8x7b-instruct-v0:1", "mistral"),
        ("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.amazon.nova-pro-v1:0", "nova"),
        (
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic",
        ),
    ],
)
def test_family_of(model_id: str, family: str) -> None:
    assert family_of(model_id) == family


@pytest.mark.parametrize(
    "model_id",
    [
        "cohere.command-r-v1:0",
        "amazon.titan-text-express-v1",
        "meta.llama2-13b-chat-v1",  # other prompt template
        "meta.llama4-scout-17b-instruct-v1:0",  # other special tokens
        "gpt-4o",
        "",
        "us.cohere.command-r-v1:0",
        "claude-3-5-sonnet",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
    ],
)
def test_family_of_unsupported(model_id: str) -> None:
    with pytest.raises(GatewayError) as caught:
        family_of(model_id)
    error = caught.value
    assert (error.status, error.param, error.code) == (400, "model", "unsupported_model")
    assert repr(model_id) in error.message
    for family in ("anthropic.*", "amazon.nova-*", "meta.llama3*", "mistral.*"):
        assert family in error.message


def test_unsupported_model_in_chat_to_model_input() -> None:
    with pytest.raises(GatewayError) as caught:
        chat_to_model_input(body(), custom_id=CID, model_id="cohere.command-r-v1:0")
    assert caught.value.code == "unsupported_model"


# ---------------------------------------------------------------------------------------------------------------
# Claude: the Anthropic translation, reused


def test_claude_minimal() -> None:
    assert model_input(CLAUDE) == {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": anthropic.DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    assert ANTHROPIC_VERSION == "bedrock-2023-05-31"


def test_claude_is_the_anthropic_translation_without_model_and_metadata() -> None:
    raw = body(
        messages=CHAT,
        max_completion_tokens=300,
        temperature=0.5,
        top_p=0.9,
        stop=["END"],
        user="user-42",
        tools=[{"type": "function", "function": {"name": "ping"}}],
        tool_choice="required",
    )
    params = anthropic.chat_to_params(raw, custom_id=CID)
    assert params["metadata"] == {"user_id": "user-42"}
    out = chat_to_model_input(raw, custom_id=CID, model_id="us." + CLAUDE)
    assert "model" not in out
    assert "metadata" not in out
    assert out == {
        "anthropic_version": "bedrock-2023-05-31",
        **{k: v for k, v in params.items() if k not in ("model", "metadata")},
    }
    assert out["system"] == "Be brief.\n\nNo emoji."
    assert out["max_tokens"] == 300
    assert out["stop_sequences"] == ["END"]
    assert out["tools"] == [{"name": "ping", "input_schema": {"type": "object", "properties": {}}}]
    assert out["tool_choice"] == {"type": "any"}


def test_claude_tool_calls_and_base64_images() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"x": 1}'}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    ]
    out = model_input(CLAUDE, messages=messages, tools=[{"type": "function", "function": {"name": "look"}}])
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "call_1", "name": "look", "input": {"x": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"}]},
    ]


def test_claude_rejects_https_images() -> None:
    url = "https://example.com/cat.png"
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": [{"type": "text", "text": "?"}, {"type": "image_url", "image_url": {"url": url}}]},
    ]
    error = rejected(CLAUDE, body(messages=messages))
    assert error.param == "body.messages[1].content[1].image_url.url"
    assert error.code == "unsupported_value"
    assert "base64" in error.message


def test_claude_rejections_are_the_anthropic_ones() -> None:
    error = rejected(CLAUDE, body(n=2))
    assert error.param == "body.n"
    error = rejected(CLAUDE, body(temperature=1.5))
    assert error.param == "body.temperature"
    error = rejected(CLAUDE, body(frobnicate=1))
    assert (error.param, error.code) == ("body.frobnicate", "unknown_parameter")


def test_claude_output() -> None:
    message = {
        "id": "msg_bdrk_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20240620",
        "content": [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"x": 1}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    role, line = record_to_output_line(
        {"recordId": "r1", "modelOutput": message}, custom_id=CID, line_id=LINE, created=CREATED, model_id=CLAUDE
    )
    assert role == "output"
    assert line == {
        "id": LINE,
        "custom_id": CID,
        "response": {
            "status_code": 200,
            "request_id": "msg_bdrk_01",
            "body": anthropic.message_to_chat_completion(message, created=CREATED),
        },
        "error": None,
    }
    completion = line["response"]["body"]
    assert completion["model"] == "claude-3-5-sonnet-20240620"
    assert completion["choices"][0]["finish_reason"] == "tool_calls"
    assert completion["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "look", "arguments": '{"x": 1}'}
    assert completion["usage"]["total_tokens"] == 15


def test_claude_output_without_model_gets_the_bedrock_model_id() -> None:
    message = {
        "id": "msg_bdrk_02",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "max_tokens",
        "usage": {"input_tokens": 3, "output_tokens": 4},
    }
    completion = output("us." + CLAUDE, message)
    assert completion["model"] == "us." + CLAUDE
    assert completion["id"] == "msg_bdrk_02"
    assert completion["choices"][0]["message"]["content"] == "Hi"
    assert completion["choices"][0]["finish_reason"] == "length"


# ---------------------------------------------------------------------------------------------------------------
# Nova


def test_nova_minimal() -> None:
    assert model_input(NOVA) == {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
    }


def test_nova_conversation() -> None:
    assert model_input(NOVA, messages=CHAT) == {
        "schemaVersion": "messages-v1",
        "system": [{"text": "Be brief.\n\nNo emoji."}],
        "messages": [
            {"role": "user", "content": [{"text": "Hi"}]},
            {"role": "assistant", "content": [{"text": "Hello!"}]},
            {"role": "user", "content": [{"text": "Why"}, {"text": "is the sky blue?"}]},
        ],
    }


@pytest.mark.parametrize(
    ("fields", "config"),
    [
        ({"max_completion_tokens": 100}, {"maxTokens": 100}),
        ({"max_tokens": 200}, {"maxTokens": 200}),
        ({"max_completion_tokens": 100, "max_tokens": 200}, {"maxTokens": 100}),
        ({"temperature": 0.2, "top_p": 0.9}, {"temperature": 0.2, "topP": 0.9}),
        ({"temperature": 0}, {"temperature": 0}),
        ({"stop": "END"}, {"stopSequences": ["END"]}),
        ({"stop": ["a", "b"]}, {"stopSequences": ["a", "b"]}),
        ({"stop": []}, None),
        # dropped
        ({"seed": 7, "service_tier": "auto", "store": True, "metadata": {"k": "v"}, "user": "u"}, None),
        ({"reasoning_effort": "none"}, None),
        ({"stream": False, "n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0.0}, None),
        ({"response_format": {"type": "text"}, "logit_bias": {}, "modalities": ["text"]}, None),
        ({"tools": [], "tool_choice": "none", "parallel_tool_calls": True, "stream_options": None}, None),
    ],
)
def test_nova_inference_config(fields: dict[str, Any], config: dict[str, Any] | None) -> None:
    out = model_input(NOVA, **fields)
    assert out.get("inferenceConfig") == config
    assert out["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]


def test_nova_assistant_refusal_is_text() -> None:
    messages = [*HI, {"role": "assistant", "content": None, "refusal": "No."}, {"role": "user", "content": "Ok"}]
    assert model_input(NOVA, messages=messages)["messages"][1] == {"role": "assistant", "content": [{"text": "No."}]}


NOVA_OUTPUT: dict[str, Any] = {
    "output": {"message": {"role": "assistant", "content": [{"text": "Rayleigh "}, {"text": "scattering."}]}},
    "stopReason": "end_turn",
    "usage": {"inputTokens": 12, "outputTokens": 4, "totalTokens": 16},
}


def test_nova_output() -> None:
    role, line = record_to_output_line(
        {"recordId": "r1", "modelInput": {}, "modelOutput": NOVA_OUTPUT},
        custom_id=CID,
        line_id=LINE,
        created=CREATED,
        model_id=NOVA,
    )
    assert role == "output"
    assert line == {
        "id": LINE,
        "custom_id": CID,
        "response": {
            "status_code": 200,
            "request_id": "",
            "body": {
                "id": completion_id(LINE),
                "object": "chat.completion",
                "created": CREATED,
                "model": NOVA,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "Rayleigh scattering.", "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {  # both details objects, zeros included, as OpenAI writes them
                    "prompt_tokens": 12,
                    "completion_tokens": 4,
                    "total_tokens": 16,
                    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                    "completion_tokens_details": {
                        "reasoning_tokens": 0,
                        "audio_tokens": 0,
                        "accepted_prediction_tokens": 0,
                        "rejected_prediction_tokens": 0,
                    },
                },
            },
        },
        "error": None,
    }


def test_completion_id_is_deterministic() -> None:
    assert completion_id(LINE) == completion_id(LINE)
    assert completion_id(LINE).startswith("chatcmpl-")
    assert completion_id(LINE) != completion_id("batch_req_other")
    assert output(NOVA, NOVA_OUTPUT)["id"] == completion_id(LINE)


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("content_filtered", "content_filter"),
        ("guardrail_intervened", "content_filter"),
        ("tool_use", "tool_calls"),
        ("something_new", "stop"),
    ],
)
def test_nova_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    completion = output(NOVA, {**NOVA_OUTPUT, "stopReason": stop_reason})
    assert completion["choices"][0]["finish_reason"] == finish_reason


def openai_usage(prompt: int, completion: int, *, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"inputTokens": 7, "outputTokens": 3}, openai_usage(7, 3)),
        ({"inputTokens": 7, "outputTokens": 3, "totalTokens": 10}, openai_usage(7, 3)),
        (  # like Anthropic's, Nova's inputTokens leave out cache reads and writes; OpenAI's prompt_tokens count them
            {
                "inputTokens": 7,
                "outputTokens": 3,
                "totalTokens": 10,
                "cacheReadInputTokenCount": 100,
                "cacheWriteInputTokenCount": 20,
            },
            openai_usage(127, 3, cached=100),
        ),
        ({}, openai_usage(0, 0)),
    ],
)
def test_nova_usage(usage: dict[str, Any], expected: dict[str, Any]) -> None:
    assert output(NOVA, {**NOVA_OUTPUT, "usage": usage})["usage"] == expected


# ---------------------------------------------------------------------------------------------------------------
# Llama 3


def test_llama_minimal() -> None:
    assert model_input(LLAMA) == {
        "prompt": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    }


def test_llama_conversation() -> None:
    out = model_input(LLAMA, messages=CHAT, max_completion_tokens=256, temperature=0.3, top_p=0.8)
    assert out == {
        "prompt": "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nBe brief.\n\nNo emoji.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhy\n\nis the sky blue?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "max_gen_len": 256,
        "temperature": 0.3,
        "top_p": 0.8,
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_tokens": 64}, {"max_gen_len": 64}),
        ({"max_completion_tokens": 32, "max_tokens": 64}, {"max_gen_len": 32}),
        ({"temperature": 1}, {"temperature": 1}),
        ({"top_p": 0.5}, {"top_p": 0.5}),
        ({"stop": None}, {}),
        ({"stop": []}, {}),
        ({"seed": 7, "user": "u", "metadata": {"a": "b"}, "reasoning_effort": "none"}, {}),
        ({"response_format": {"type": "text"}}, {}),
    ],
)
def test_llama_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    out = model_input(LLAMA, **fields)
    assert {k: v for k, v in out.items() if k != "prompt"} == expected


@pytest.mark.parametrize("stop", ["END", ["a", "b"]])
def test_llama_rejects_stop(stop: Any) -> None:
    error = rejected(LLAMA, body(stop=stop))
    assert (error.param, error.code) == ("body.stop", "unsupported_parameter")
    assert "no stop sequences" in error.message


@pytest.mark.parametrize(
    ("record", "finish_reason"),
    [
        ({"generation": "Blue.", "prompt_token_count": 20, "generation_token_count": 3, "stop_reason": "stop"}, "stop"),
        (
            {"generation": "Blu", "prompt_token_count": 20, "generation_token_count": 3, "stop_reason": "length"},
            "length",
        ),
        ({"generation": "Blue.", "prompt_token_count": 20, "generation_token_count": 3, "stop_reason": None}, "stop"),
    ],
)
def test_llama_output(record: dict[str, Any], finish_reason: str) -> None:
    completion = output(LLAMA, record)
    assert completion == {
        "id": completion_id(LINE),
        "object": "chat.completion",
        "created": CREATED,
        "model": LLAMA,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": record["generation"], "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": openai_usage(20, 3),
    }


# ---------------------------------------------------------------------------------------------------------------
# Mistral


def test_mistral_minimal() -> None:
    assert model_input(MISTRAL) == {"prompt": "<s>[INST] Hi [/INST]"}


def test_mistral_conversation() -> None:
    out = model_input(MISTRAL, messages=CHAT, max_tokens=128, temperature=0.7, top_p=0.95, stop=["###"])
    assert out == {
        "prompt": "<s>[INST] Be brief.\n\nNo emoji.\n\nHi [/INST] Hello!</s>[INST] Why\n\nis the sky blue? [/INST]",
        "max_tokens": 128,
        "temperature": 0.7,
        "top_p": 0.95,
        "stop": ["###"],
    }


def test_mistral_merges_consecutive_turns() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d"},
        {"role": "user", "content": "e"},
    ]
    assert model_input(MISTRAL, messages=messages) == {"prompt": "<s>[INST] a\n\nb [/INST] c\n\nd</s>[INST] e [/INST]"}


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_completion_tokens": 50}, {"max_tokens": 50}),
        ({"stop": "END"}, {"stop": ["END"]}),
        ({"stop": []}, {}),
        ({"temperature": 0}, {"temperature": 0}),
        ({"top_p": 1}, {"top_p": 1}),
        ({"user": "u", "store": False, "service_tier": "default"}, {}),
    ],
)
def test_mistral_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    out = model_input(MISTRAL, **fields)
    assert {k: v for k, v in out.items() if k != "prompt"} == expected


@pytest.mark.parametrize(
    ("messages", "words"),
    [
        ([{"role": "assistant", "content": "Hello"}, *HI], "must start with a user message"),
        ([*HI, {"role": "assistant", "content": "Hello"}], "must end with a user message"),
    ],
)
def test_mistral_turn_order(messages: list[dict[str, Any]], words: str) -> None:
    error = rejected(MISTRAL, body(messages=messages))
    assert error.param == "body.messages"
    assert words in error.message


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [("stop", "stop"), ("length", "length"), ("model_length", "length"), ("tool_calls", "tool_calls"), (None, "stop")],
)
def test_mistral_output(stop_reason: str | None, finish_reason: str) -> None:
    completion = output(MISTRAL, {"outputs": [{"text": " Blue.", "stop_reason": stop_reason}]})
    assert completion["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": " Blue.", "refusal": None},
            "logprobs": None,
            "finish_reason": finish_reason,
        }
    ]
    # Mistral's native response has no token counts.
    assert completion["usage"] == openai_usage(0, 0)
    assert completion["model"] == MISTRAL
    assert completion["id"] == completion_id(LINE)


# ---------------------------------------------------------------------------------------------------------------
# rejections, per text-only family


IMAGE: dict[str, Any] = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0"}}
TOOL_CALL: dict[str, Any] = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}

REJECTED: list[tuple[dict[str, Any], str, str]] = [
    (body(messages=[{"role": "user", "content": [IMAGE]}]), "body.messages[0].content[0].type", "images"),
    (body(tools=[{"type": "function", "function": {"name": "f"}}]), "body.tools", "tools"),
    (body(tool_choice="required"), "body.tool_choice", "tools"),
    (
        body(messages=[*HI, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}, *HI]),
        "body.messages[1].tool_calls",
        "tool calls",
    ),
    (body(messages=[*HI, {"role": "tool", "tool_call_id": "c", "content": "x"}]), "body.messages[1].role", "tool"),
    (
        body(messages=[{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]),
        "body.messages[0].content[0].type",
        "only text parts",
    ),
    (body(n=2), "body.n", "one choice"),
    (body(stream=True), "body.stream", "never stream"),
    (body(logprobs=True), "body.logprobs", "log probabilities"),
    (body(top_logprobs=2), "body.top_logprobs", "log probabilities"),
    (body(presence_penalty=0.5), "body.presence_penalty", "penalty"),
    (body(frequency_penalty=-1), "body.frequency_penalty", "penalty"),
    (body(seed="7"), "body.seed", "must be an integer"),
    (body(reasoning_effort="low"), "body.reasoning_effort", "reasoning is not translated for this model family"),
    (body(reasoning_effort="lots"), "body.reasoning_effort", "must be one of none, minimal"),
    (body(response_format={"type": "yaml"}), "body.response_format.type", "must be 'text', 'json_object' or"),
    (body(audio={"voice": "alloy"}), "body.audio", "audio"),
    (body(modalities=["text", "audio"]), "body.modalities", "text only"),
    (body(prediction={"type": "content"}), "body.prediction", "predicted"),
    (body(functions=[]), "body.functions", "deprecated"),
    (body(logit_bias={"1": 5}), "body.logit_bias", "logit bias"),
    (body(temperature=1.5), "body.temperature", "range is 0 to 1"),
    (body(temperature=3), "body.temperature", "between 0 and 2"),
    (body(top_p=1.5), "body.top_p", "between 0 and 1"),
    (body(max_tokens=0), "body.max_tokens", "at least 1"),
    (body(max_completion_tokens="10"), "body.max_completion_tokens", "integer"),
    (body(frobnicate=1), "body.frobnicate", "not a known"),
    (body(messages=[]), "body.messages", "non-empty"),
    (body(messages=[{"role": "system", "content": "S"}]), "body.messages", "at least one"),
    (body(messages=[{"role": "user", "content": "x", "extra": 1}]), "body.messages[0].extra", "not a known field"),
    ({"messages": HI}, "body.model", "required"),
]


@pytest.mark.parametrize("model_id", [NOVA, LLAMA, MISTRAL])
@pytest.mark.parametrize(("raw", "param", "words"), REJECTED)
def test_rejected(model_id: str, raw: dict[str, Any], param: str, words: str) -> None:
    error = rejected(model_id, raw)
    assert error.param == param
    assert words in error.message


def test_rejection_message_names_the_family() -> None:
    error = rejected(NOVA, body(tools=[{"type": "function", "function": {"name": "f"}}]))
    assert error.message.startswith("custom_id 'req-1': body.tools = ")
    assert "Amazon Nova on Bedrock" in error.message
    assert error.code == "unsupported_parameter"
    error = rejected(LLAMA, body(messages=[{"role": "user", "content": [IMAGE]}]))
    assert error.message == (
        "custom_id 'req-1': body.messages[0].content[0].type = \"image_url\" is not supported by "
        "Meta Llama on Bedrock (images are not translated for this model family yet)"
    )
    error = rejected(MISTRAL, body(n=3))
    assert "Mistral on Bedrock" in error.message


def test_does_not_modify_the_body() -> None:
    for model_id in (CLAUDE, NOVA, LLAMA, MISTRAL):
        raw = body(messages=CHAT, user="u", stop=["x"] if model_id != LLAMA else None)
        before = copy.deepcopy(raw)
        chat_to_model_input(raw, custom_id=CID, model_id=model_id)
        assert raw == before


# ---------------------------------------------------------------------------------------------------------------
# error records and bad records


@pytest.mark.parametrize(
    ("code", "status", "error_type"),
    [
        (400, 400, "invalid_request_error"),
        (429, 429, "invalid_request_error"),
        (500, 500, "server_error"),
        (503, 503, "server_error"),
        ("400", 400, "invalid_request_error"),
        ("ValidationException", 400, "invalid_request_error"),
        ("ThrottlingException", 429, "invalid_request_error"),
        ("ModelTimeoutException", 408, "invalid_request_error"),
        ("SomethingElse", 500, "server_error"),
        (200, 500, "server_error"),
        (None, 500, "server_error"),
        (True, 500, "server_error"),
    ],
)
def test_error_record(code: Any, status: int, error_type: str) -> None:
    role, line = record_to_output_line(
        {"recordId": "r1", "modelInput": {}, "error": {"errorCode": code, "errorMessage": "bad request"}},
        custom_id=CID,
        line_id=LINE,
        created=CREATED,
        model_id=NOVA,
    )
    assert role == "error"
    assert line == {
        "id": LINE,
        "custom_id": CID,
        "response": {
            "status_code": status,
            "request_id": "",
            "body": {"error": {"message": "bad request", "type": error_type, "param": None, "code": None}},
        },
        "error": None,
    }


def test_error_record_needs_no_known_model() -> None:
    role, line = record_to_output_line(
        {"error": {"errorCode": 400, "errorMessage": "Malformed input request"}},
        custom_id=CID,
        line_id=LINE,
        created=CREATED,
        model_id="",
    )
    assert role == "error"
    assert line["response"]["body"]["error"]["message"] == "Malformed input request"


@pytest.mark.parametrize(
    ("model_id", "record"),
    [
        (NOVA, {"recordId": "r1", "modelInput": {}}),
        (NOVA, {"recordId": "r1", "error": "oops"}),
        (NOVA, {"modelOutput": "text"}),
        (NOVA, {"modelOutput": {"output": {}}}),
        (LLAMA, {"modelOutput": {"generation": None}}),
        (MISTRAL, {"modelOutput": {"outputs": []}}),
        (MISTRAL, {"modelOutput": {"outputs": [{"stop_reason": "stop"}]}}),
        (CLAUDE, {"modelOutput": {"content": []}}),  # a message without an id
    ],
)
def test_bad_record_is_a_bad_provider_response(model_id: str, record: dict[str, Any]) -> None:
    with pytest.raises(GatewayError) as caught:
        record_to_output_line(record, custom_id=CID, line_id=LINE, created=CREATED, model_id=model_id)
    error = caught.value
    assert (error.status, error.type, error.code) == (502, "upstream_error", "provider_bad_response")


def test_staging_writes_records_and_their_id_map_as_it_reads() -> None:
    """Records and the map of their ids back to custom_ids are both written line by line (a file of many short
    lines has a map nearly its own size: it is spooled, never held)."""
    import io
    import json

    from batchbridge.domain.custom_ids import read_map
    from batchbridge.providers.bedrock import convert

    lines = b"".join(
        json.dumps(
            {
                "custom_id": f"request/{index}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": "anthropic.claude-3-haiku-20240307-v1:0",
                    "messages": [{"role": "user", "content": "Hi"}],
                },
            }
        ).encode()
        + b"\n"
        for index in range(3)
    )
    records, id_map = io.BytesIO(), io.BytesIO()
    assert convert(io.BytesIO(lines), records, id_map) == 3
    assert [json.loads(line)["recordId"] for line in records.getvalue().splitlines()] == [
        "r0000000000",
        "r0000000001",
        "r0000000002",
    ]
    assert read_map([id_map.getvalue()]) == {f"r{index:010d}": f"request/{index}" for index in range(3)}


# ---------------------------------------------------------------------------------------------------------------
# response_format and reasoning_effort, per family: what the job's model takes decides (not the line's model name)

CLAUDE_NATIVE = "anthropic.claude-sonnet-4-5-20250929-v1:0"  # 4.5: structured outputs, thinking with a budget
CLAUDE_ADAPTIVE = "anthropic.claude-opus-4-6-v1"  # 4.6: structured outputs, adaptive thinking
MOVIE: dict[str, Any] = {
    "type": "object",
    "properties": {"categories": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"}},
    "required": ["categories", "summary"],
    "additionalProperties": False,
}
JSON_OBJECT: dict[str, Any] = {"type": "json_object"}
STRICT_MOVIE: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {"name": "movie", "strict": True, "schema": MOVIE},
}
OBJECT_TOOL = "Give your whole answer as this tool's input: a JSON object."
MOVIE_TOOL = "Give your whole answer as this tool's input: the JSON object 'movie'."


@pytest.mark.parametrize(
    ("model_id", "response_format", "expected"),
    [
        (
            CLAUDE_NATIVE,
            STRICT_MOVIE,
            {"output_config": {"format": {"type": "json_schema", "schema": MOVIE}}},
        ),
        (
            "us." + CLAUDE_NATIVE,
            STRICT_MOVIE,
            {"output_config": {"format": {"type": "json_schema", "schema": MOVIE}}},
        ),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/global." + CLAUDE_ADAPTIVE,
            STRICT_MOVIE,
            {"output_config": {"format": {"type": "json_schema", "schema": MOVIE}}},
        ),
        (
            CLAUDE,  # 3.5: no structured outputs
            STRICT_MOVIE,
            {
                "tools": [{"name": "batchbridge_json_response", "description": MOVIE_TOOL, "input_schema": MOVIE}],
                "tool_choice": {"type": "tool", "name": "batchbridge_json_response"},
            },
        ),
        (
            CLAUDE_NATIVE,
            JSON_OBJECT,
            {
                "tools": [
                    {
                        "name": "batchbridge_json_response",
                        "description": OBJECT_TOOL,
                        "input_schema": {"type": "object"},
                    }
                ],
                "tool_choice": {"type": "tool", "name": "batchbridge_json_response"},
            },
        ),
        (CLAUDE_NATIVE, {"type": "text"}, {}),
    ],
)
def test_claude_response_format(model_id: str, response_format: dict[str, Any], expected: dict[str, Any]) -> None:
    out = model_input(model_id, response_format=response_format, temperature=0.1)
    assert out == {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": anthropic.DEFAULT_MAX_TOKENS,
        "messages": HI,
        "temperature": 0.1,
        **expected,
    }


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        (CLAUDE_NATIVE, {"max_tokens": 4096 + 8192, "thinking": {"type": "enabled", "budget_tokens": 8192}}),
        (
            CLAUDE_ADAPTIVE,
            {"max_tokens": 4096 + 8192, "thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}},
        ),
    ],
)
def test_claude_reasoning_effort(model_id: str, expected: dict[str, Any]) -> None:
    out = model_input(model_id, reasoning_effort="medium")
    assert {k: v for k, v in out.items() if k not in ("anthropic_version", "messages")} == expected


def test_claude_without_thinking_rejects_reasoning_effort() -> None:
    error = rejected(CLAUDE, body(reasoning_effort="high"))
    assert error.param == "body.reasoning_effort" and "no extended thinking" in error.message


def test_claude_on_bedrock_checks_claudes_schema_subset() -> None:
    schema = {**MOVIE, "properties": {**MOVIE["properties"], "n": {"type": "integer", "minimum": 0}}}
    schema["required"] = [*MOVIE["required"], "n"]
    fmt = {"type": "json_schema", "json_schema": {"name": "movie", "schema": schema, "strict": True}}
    error = rejected(CLAUDE_NATIVE, body(response_format=fmt))
    assert error.param == "body.response_format.json_schema.schema.properties.n.minimum"
    assert "a limit of Claude's structured outputs" in error.message
    assert model_input(CLAUDE, response_format=fmt)["tools"][0]["input_schema"] == schema  # a tool takes it
    loose = {"type": "json_schema", "json_schema": {"name": "movie", "schema": schema}}  # guidance: the tool
    assert model_input(CLAUDE_NATIVE, response_format=loose)["tools"][0]["input_schema"] == schema


def nova_tool(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "tools": [
            {
                "toolSpec": {
                    "name": "batchbridge_json_response",
                    "description": description,
                    "inputSchema": {"json": schema},
                }
            }
        ],
        "toolChoice": {"tool": {"name": "batchbridge_json_response"}},
    }


@pytest.mark.parametrize(
    ("response_format", "tool_config"),
    [
        (JSON_OBJECT, nova_tool({"type": "object"}, OBJECT_TOOL)),
        (STRICT_MOVIE, nova_tool(MOVIE, MOVIE_TOOL)),
        ({"type": "json_schema", "json_schema": {"name": "movie", "schema": MOVIE}}, nova_tool(MOVIE, MOVIE_TOOL)),
        ({"type": "text"}, None),
        (None, None),
    ],
)
def test_nova_response_format_is_a_forced_tool(
    response_format: dict[str, Any] | None, tool_config: dict[str, Any] | None
) -> None:
    out = model_input(NOVA, response_format=response_format, temperature=0.1)
    assert out.get("toolConfig") == tool_config
    assert out["inferenceConfig"] == {"temperature": 0.1}


@pytest.mark.parametrize(
    ("response_format", "param", "words"),
    [
        (
            {"type": "json_schema", "json_schema": {"name": "m", "strict": True, "schema": {**MOVIE, "required": []}}},
            "body.response_format.json_schema.schema.required",
            "must list every property in strict mode",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "m", "schema": {"type": "string"}}},
            "body.response_format.json_schema.schema.type",
            "Amazon Nova on Bedrock: its JSON answers come as a tool's input",
        ),
    ],
)
def test_nova_response_format_rejected(response_format: dict[str, Any], param: str, words: str) -> None:
    error = rejected(NOVA, body(response_format=response_format))
    assert (error.param, words in error.message) == (param, True), error.message


@pytest.mark.parametrize("model_id", [LLAMA, MISTRAL])
@pytest.mark.parametrize("response_format", [JSON_OBJECT, STRICT_MOVIE])
def test_prompt_families_have_no_json_mode(model_id: str, response_format: dict[str, Any]) -> None:
    error = rejected(model_id, body(response_format=response_format))
    assert error.param == "body.response_format"
    assert "takes a prompt only, with no JSON mode or JSON schema" in error.message


FORCED_INPUT = {"categories": ["drama"], "summary": "A long wait."}


def test_a_forced_claude_tool_answer_is_content() -> None:
    message = {
        "id": "msg_bdrk_03",
        "model": "claude-3-5-sonnet-20240620",
        "content": [{"type": "tool_use", "id": "toolu_1", "name": "batchbridge_json_response", "input": FORCED_INPUT}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 30, "output_tokens": 12, "cache_read_input_tokens": 10},
    }
    completion = output(CLAUDE, message)
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": '{"categories":["drama"],"summary":"A long wait."}',
        "refusal": None,
    }
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"] == openai_usage(40, 12, cached=10)


@pytest.mark.parametrize(("stop_reason", "finish_reason"), [("tool_use", "stop"), ("max_tokens", "length")])
def test_a_forced_nova_tool_answer_is_content(stop_reason: str, finish_reason: str) -> None:
    blocks = [
        {"reasoningContent": {"reasoningText": {"text": "[REDACTED]"}}},
        {"toolUse": {"toolUseId": "t1", "name": "batchbridge_json_response", "input": FORCED_INPUT}},
    ]
    completion = output(NOVA, {**NOVA_OUTPUT, "output": {"message": {"content": blocks}}, "stopReason": stop_reason})
    assert completion["choices"][0]["message"]["content"] == '{"categories":["drama"],"summary":"A long wait."}'
    assert "tool_calls" not in completion["choices"][0]["message"]
    assert completion["choices"][0]["finish_reason"] == finish_reason


def test_another_nova_tool_use_is_not_content() -> None:
    blocks = [{"text": "Sure."}, {"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": 1}}}]
    completion = output(NOVA, {**NOVA_OUTPUT, "output": {"message": {"content": blocks}}, "stopReason": "tool_use"})
    assert completion["choices"][0]["message"]["content"] == "Sure."
    assert completion["choices"][0]["finish_reason"] == "tool_calls"


# What the job's Claude model takes (translate.claude), on Bedrock's body

CLAUDE_SONNET_5 = "us.anthropic.claude-sonnet-5"  # thinks by default; `disabled` turns it off
CLAUDE_FABLE = "anthropic.claude-fable-5"  # always thinks


@pytest.mark.parametrize(
    "fields",
    [
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "ping"}}], "tool_choice": "required"},
    ],
)
def test_claude_forced_tool_turns_default_thinking_off_on_bedrock(fields: dict[str, Any]) -> None:
    out = model_input(CLAUDE_SONNET_5, **fields)
    assert out["thinking"] == {"type": "disabled"} and out["tool_choice"]["type"] in ("tool", "any")
    error = rejected(CLAUDE_FABLE, body(**fields))
    assert error.param in ("body.response_format", "body.tool_choice") and "always thinks" in error.message


def test_claude_rules_follow_the_jobs_model_on_the_one_pass_path() -> None:
    # A common line (text only) naming an older model: the job's model decides what it may carry.
    line = {"model": "claude-3-haiku", "messages": HI, "temperature": 0.3}
    assert model_input(CLAUDE, **{k: v for k, v in line.items() if k != "messages"})["temperature"] == 0.3
    assert rejected(CLAUDE_SONNET_5, line).param == "body.temperature"
    prefill = {"model": "claude-3-haiku", "messages": [*HI, {"role": "assistant", "content": "{"}]}
    assert rejected(CLAUDE_FABLE, prefill).param == "body.messages[1]"
    assert model_input(CLAUDE, messages=prefill["messages"])["messages"][-1] == {"role": "assistant", "content": "{"}


def test_claude_reasoning_effort_none_on_bedrock() -> None:
    assert model_input(CLAUDE_SONNET_5, reasoning_effort="none")["thinking"] == {"type": "disabled"}
    assert rejected(CLAUDE_FABLE, body(reasoning_effort="none")).param == "body.reasoning_effort"


def test_claude_seed_is_dropped_on_bedrock() -> None:
    assert model_input(CLAUDE_NATIVE, seed=7) == model_input(CLAUDE_NATIVE)
    assert rejected(CLAUDE_NATIVE, body(seed=True)).param == "body.seed"
