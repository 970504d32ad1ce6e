"""The finalizer's conversion of Anthropic results: races, short streams, unreadable lines, tool calls."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.services.batch_writes import save
from batchbridge.domain.services.files import Caller
from batchbridge.gateway import Gateway
from tests.integration.services import batch_from_jsonl

KEY = "sk-ant-user-one"


def chat_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "claude-3-5-haiku-latest", "messages": [{"role": "user", "content": text}], **body},
    }


def ended_anthropic_batch(gateway: Gateway, fake: Any, lines: list[dict[str, Any]]) -> tuple[Caller, BatchRecord]:
    gateway.queue.stop()  # the tests run the finalizer themselves
    content = "\n".join(json.dumps(line) for line in lines).encode()
    caller, batch = batch_from_jsonl(gateway, "anthropic", content, KEY)
    assert batch.provider_batch_id is not None
    fake.run_to_end(batch.provider_batch_id)
    return caller, batch


def lines_of(gateway: Gateway, caller: Caller, file_id: str | None) -> dict[str, dict[str, Any]]:
    assert file_id is not None
    _, chunks = gateway.files.content(caller, file_id, None)
    return {line["custom_id"]: line for line in map(json.loads, b"".join(chunks).splitlines())}


@pytest.fixture
def fake(fake_anthropic: tuple[Any, str]) -> Any:
    return fake_anthropic[0].state.fake


def result_downloads(fake: Any) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/results"))


def test_a_client_polling_during_conversion_does_not_make_it_start_over(gateway: Gateway, fake: Any) -> None:
    caller, batch = ended_anthropic_batch(gateway, fake, [chat_line("a", "one"), chat_line("b", "two")])
    adapter = gateway.providers.get("anthropic")
    real_results = adapter.results

    def results_while_polled(credentials: Any, provider_batch_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for item in real_results(credentials, provider_batch_id):
            stored = gateway.records.get_batch(batch.id)
            assert stored is not None
            polled = copy.deepcopy(stored)
            polled.refreshed_ns += 1  # a retrieve's refresh landing mid-conversion
            save(gateway.records, stored, polled)
            yield item

    adapter.results = results_while_polled  # type: ignore[method-assign]
    done = gateway.jobs.finalize(batch.id)
    assert done is not None and done.status == "completed"
    assert result_downloads(fake) == 1
    assert set(lines_of(gateway, caller, done.output_file_id)) == {"a", "b"}


def test_a_short_results_stream_is_retried_not_written(gateway: Gateway, fake: Any) -> None:
    caller, batch = ended_anthropic_batch(gateway, fake, [chat_line("a", "one"), chat_line("b", "two")])
    adapter = gateway.providers.get("anthropic")
    real_results = adapter.results
    adapter.results = lambda c, p: iter(list(real_results(c, p))[:1])  # type: ignore[method-assign]
    with pytest.raises(GatewayError, match="1 results for 2 requests"):
        gateway.jobs.finalize(batch.id)
    stored = gateway.records.get_batch(batch.id)
    assert stored is not None and not stored.is_terminal and stored.output_file_id is None
    assert gateway.files.list(caller, None, {"purpose": "batch_output"}).items == []
    adapter.results = real_results  # type: ignore[method-assign]
    done = gateway.jobs.finalize(batch.id)
    assert done is not None and done.status == "completed" and done.request_counts["total"] == 2


def test_an_unreadable_result_goes_to_the_error_file(gateway: Gateway, fake: Any) -> None:
    caller, batch = ended_anthropic_batch(gateway, fake, [chat_line("a", "one"), chat_line("b", "two")])
    adapter = gateway.providers.get("anthropic")
    real_results = adapter.results

    def one_mystery(credentials: Any, provider_batch_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for custom_id, raw in real_results(credentials, provider_batch_id):
            yield (
                (custom_id, {"custom_id": custom_id, "result": {"type": "mystery"}})
                if custom_id == "b"
                else (
                    custom_id,
                    raw,
                )
            )

    adapter.results = one_mystery  # type: ignore[method-assign]
    done = gateway.jobs.finalize(batch.id)
    assert done is not None and done.status == "completed"
    assert done.request_counts == {"total": 2, "completed": 1, "failed": 1}
    errors = lines_of(gateway, caller, done.error_file_id)
    assert errors["b"]["error"]["code"] == "provider_bad_result" and errors["b"]["response"] is None


def test_tool_calls_round_trip(gateway: Gateway, fake: Any) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    history = [
        {"role": "user", "content": "Find it"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "found"},
        {"role": "user", "content": "Now use a tool again"},
    ]
    line = chat_line("t", "unused", tools=tools, tool_choice="required")
    line["body"]["messages"] = history
    caller, batch = ended_anthropic_batch(gateway, fake, [line])
    sent = next(r for r in fake.requests if r.method == "POST" and r.path == "/v1/messages/batches").json()
    params = sent["requests"][0]["params"]
    assert params["tool_choice"] == {"type": "any"}
    assert params["tools"] == [{"name": "lookup", "input_schema": {"type": "object"}}]
    assert params["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "lookup", "input": {"q": 1}}
    ]
    assert params["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "call_1", "content": "found"}]
    done = gateway.jobs.finalize(batch.id)
    assert done is not None
    body = lines_of(gateway, caller, done.output_file_id)["t"]["response"]["body"]
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "lookup"
    assert json.loads(call["function"]["arguments"]) == {"echo": "Now use a tool again"}
