"""A finished batch's ``usage`` (OpenAI's Batch shape) through the OpenAI SDK: for the providers whose reports carry
none, the sum of its output lines' usage, cached and reasoning tokens included; an OpenAI batch's is OpenAI's own."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from batchbridge.domain.records import BatchRecord
from batchbridge.gateway import Gateway
from tests.contract.openai_schema import assert_valid
from tests.fakes.compat_upstream import REASONING_TOKENS
from tests.integration.helpers import Killed, kill_once
from tests.integration.services import batch_from_jsonl

KEY = "sk-usage-user"
FINAL = ("completed", "failed", "expired", "cancelled")


@pytest.fixture
def gateway_env(
    gateway_env: dict[str, str], fake_compat: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Every provider on: Bedrock takes batches of a few records, the openai-compatible endpoint is the fake's."""
    extra = {
        "BATCHBRIDGE_BEDROCK_MIN_RECORDS": "1",
        "BATCHBRIDGE_COMPAT_ENDPOINTS": json.dumps({"local": {"base_url": fake_compat[1]}}),
    }
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return gateway_env | extra


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai/v1", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def chat(custom_id: str, model: str, text: str, *, system: str | None = None, **body: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}] if system else []
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [*messages, {"role": "user", "content": text}], **body},
    }


def run(client: OpenAI, provider: str, lines: list[dict[str, Any]], **extra: Any) -> Any:
    """The batch of ``lines`` on ``provider``, run to its end through the SDK (each poll steps the fakes)."""
    content = "\n".join(json.dumps(line) for line in lines).encode()
    uploaded = client.files.create(
        file=("in.jsonl", content, "application/jsonl"), purpose="batch", extra_body={"provider": provider, **extra}
    )
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint=lines[0]["url"],
        completion_window="24h",
        extra_body={"provider": provider, **extra},
    )
    for _ in range(60):
        batch = client.batches.retrieve(batch.id, extra_query={"provider": provider})
        if batch.status in FINAL:
            return batch
    raise AssertionError(f"batch {batch.id} did not finish: {batch.status}")


def lines_of(client: OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).read().splitlines()]


def summed(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """What OpenAI's Batch ``usage`` says of these output lines: their chat or embedding usage added up."""
    usages = [line["response"]["body"]["usage"] for line in lines]

    def total(name: str, details: str | None = None) -> int:
        return sum(((usage.get(details) or {}) if details else usage).get(name, 0) for usage in usages)

    return {
        "input_tokens": total("prompt_tokens"),
        "input_tokens_details": {"cached_tokens": total("cached_tokens", "prompt_tokens_details")},
        "output_tokens": total("completion_tokens"),
        "output_tokens_details": {"reasoning_tokens": total("reasoning_tokens", "completion_tokens_details")},
        "total_tokens": total("total_tokens"),
    }


def served_usage(client: OpenAI, batch: Any, provider: str) -> dict[str, Any]:
    """The batch as the gateway serves it, checked against OpenAI's Batch schema: its ``usage``."""
    raw = client.batches.with_raw_response.retrieve(batch.id, extra_query={"provider": provider}).http_response.json()
    assert_valid("Batch", raw)
    assert raw["usage"] == batch.usage.model_dump()  # the SDK reads it as it is served
    usage: dict[str, Any] = raw["usage"]
    return usage


def assert_usage_is_its_lines(client: OpenAI, batch: Any, provider: str) -> dict[str, Any]:
    output, errors = lines_of(client, batch.output_file_id), lines_of(client, batch.error_file_id)
    assert output and all(line["response"]["status_code"] == 200 for line in output)
    assert all(line["response"] is None or "usage" not in line["response"]["body"] for line in errors)
    usage = served_usage(client, batch, provider)
    assert usage == summed(output)
    assert usage["input_tokens"] > 0 and usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    return usage


def test_an_anthropic_batch_s_usage_is_its_lines_thinking_included(client: OpenAI) -> None:
    done = run(
        client,
        "anthropic",
        [
            chat("plain", "claude-3-5-haiku-latest", "What is 15 * 7?", system="Be brief."),
            chat("thinks", "claude-sonnet-4-5", "Why is the sky blue?", reasoning_effort="low"),
            chat("fails", "invalid-model", "Nothing comes back"),
        ],
    )
    assert done.status == "completed" and done.request_counts.failed == 1
    usage = assert_usage_is_its_lines(client, done, "anthropic")
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0  # the thinking block's tokens


@pytest.mark.parametrize(
    ("model", "body", "reasons"),
    [
        ("anthropic.claude-sonnet-4-5-20250929-v1:0", {"reasoning_effort": "low"}, True),
        ("amazon.nova-pro-v1:0", {}, False),
    ],
)
def test_a_bedrock_batch_s_usage_is_its_lines(client: OpenAI, model: str, body: dict[str, Any], reasons: bool) -> None:
    lines = [chat(f"req-{n}", model, f"Question {n}?", max_tokens=4000, **body) for n in range(3)]
    done = run(client, "bedrock", lines)
    assert done.status == "completed" and done.request_counts.completed == 3
    usage = assert_usage_is_its_lines(client, done, "bedrock")
    assert (usage["output_tokens_details"]["reasoning_tokens"] > 0) is reasons


def test_a_gemini_batch_s_usage_is_its_lines_thoughts_included(client: OpenAI) -> None:
    model = "gemini-2.5-flash"
    done = run(
        client,
        "gemini",
        [
            chat("thinks", model, "Think", reasoning_effort="low", max_completion_tokens=500),
            chat("plain", model, "What is the capital of France?", system="Answer in one word."),
            chat("fails", model, "FAIL here"),
        ],
    )
    assert done.status == "completed" and done.request_counts.failed == 1
    usage = assert_usage_is_its_lines(client, done, "gemini")
    assert usage["output_tokens_details"]["reasoning_tokens"] > 0  # thoughtsTokenCount


def test_an_openai_compatible_batch_s_usage_is_its_lines(client: OpenAI, fake_compat: tuple[Any, str]) -> None:
    fake_compat[0].inject(400)  # one request the endpoint refuses: an error line, no usage
    done = run(
        client,
        "openai-compatible",
        [
            chat("cached", "llama3", "Hi", system="You are a terse assistant."),
            chat("reasons", "qwq", "Think first", reasoning_effort="high"),
            chat("plain", "llama3", "Hello there"),
        ],
        endpoint_name="local",
    )
    assert done.status == "completed" and done.request_counts.failed == 1
    usage = assert_usage_is_its_lines(client, done, "openai-compatible")
    output = {line["custom_id"] for line in lines_of(client, done.output_file_id)}
    assert usage["input_tokens_details"]["cached_tokens"] == (5 if "cached" in output else 0)
    assert usage["output_tokens_details"]["reasoning_tokens"] == (REASONING_TOKENS if "reasons" in output else 0)


def test_an_openai_compatible_embeddings_batch_s_usage_is_its_lines(client: OpenAI) -> None:
    lines = [
        {
            "custom_id": f"e{n}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "nomic", "input": ["a"] * n},
        }
        for n in (1, 2, 3)
    ]
    done = run(client, "openai-compatible", lines, endpoint_name="local")
    assert done.status == "completed"
    usage = served_usage(client, done, "openai-compatible")
    assert usage == summed(lines_of(client, done.output_file_id))
    assert usage["input_tokens"] == usage["total_tokens"] == 1 + 2 + 3 and usage["output_tokens"] == 0


def test_an_openai_batch_s_usage_is_openai_s_own(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    fake = fake_openai[0].state.fake
    known = set(fake.batch_ids(KEY))
    content = "\n".join(json.dumps(chat(f"r{n}", "gpt-4o-mini", "Hi")) for n in range(2)).encode()
    uploaded = client.files.create(file=("in.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    (provider_batch_id,) = set(fake.batch_ids(KEY)) - known
    fake.run_to_end(provider_batch_id)
    theirs = {  # unlike its lines' sum: OpenAI's figure is what the batch shows
        "input_tokens": 1000,
        "input_tokens_details": {"cached_tokens": 300},
        "output_tokens": 70,
        "output_tokens_details": {"reasoning_tokens": 20},
        "total_tokens": 1070,
    }
    fake.get_batch(KEY, provider_batch_id).usage = theirs
    for _ in range(5):
        batch = client.batches.retrieve(batch.id)
        if batch.status in FINAL:
            break
    assert batch.status == "completed"
    assert summed(lines_of(client, batch.output_file_id)) != theirs
    assert served_usage(client, batch, "openai") == theirs


def test_a_finalize_run_again_gives_the_same_usage(gateway: Gateway, fake_anthropic: tuple[Any, str]) -> None:
    gateway.queue.stop()  # the test runs the finalizer itself
    fake = fake_anthropic[0].state.fake
    lines = [
        chat("a", "claude-3-5-haiku-latest", "one two"),
        chat("b", "claude-sonnet-4-5", "x", reasoning_effort="low"),
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    caller, batch = batch_from_jsonl(gateway, "anthropic", content, KEY)
    assert batch.provider_batch_id is not None
    fake.run_to_end(batch.provider_batch_id)
    # the first run dies at the write that would make the batch final: its files are stored, its record is not
    kill_once(gateway.records, "update_batch", lambda record: record.is_terminal)
    with pytest.raises(Killed):
        gateway.jobs.finalize(batch.id)
    half = gateway.records.get_batch(batch.id)
    assert half is not None and not half.is_terminal and half.usage is None

    done = gateway.jobs.finalize(batch.id)
    assert done is not None and done.status == "completed" and done.output_file_id is not None
    _, chunks = gateway.files.content(caller, done.output_file_id, None)
    expected = summed([json.loads(line) for line in b"".join(chunks).splitlines()])
    assert done.usage == expected and expected["output_tokens_details"]["reasoning_tokens"] > 0
    assert gateway.jobs.finalize(batch.id) == done  # final: a third run changes nothing
    stored = gateway.records.get_batch(batch.id)
    assert stored is not None and stored.usage == expected and stored.jobs[0].usage == expected


def test_a_final_write_lost_to_another_writer_counts_the_usage_once(
    gateway: Gateway, fake_gemini: tuple[Any, str]
) -> None:
    gateway.queue.stop()
    fake = fake_gemini[0].state.fake
    lines = [chat(f"r{n}", "gemini-2.5-flash", f"Think {n}", reasoning_effort="low") for n in range(2)]
    caller, batch = batch_from_jsonl(gateway, "gemini", "\n".join(map(json.dumps, lines)).encode(), KEY)
    assert batch.provider_batch_id is not None
    fake.run_to_end(batch.provider_batch_id)
    write, overtaken = gateway.records.update_batch, list[bool]()

    def overtaken_once(record: BatchRecord) -> bool:
        if record.is_terminal and not overtaken:  # a poll's refresh lands first: this write loses, the run retries
            overtaken.append(True)
            stored = gateway.records.get_batch(batch.id)
            assert stored is not None
            polled = copy.deepcopy(stored)
            polled.refreshed_ns, polled.version = polled.refreshed_ns + 1, polled.version + 1
            assert write(polled)
        return bool(write(record))

    gateway.records.update_batch = overtaken_once  # type: ignore[method-assign]
    done = gateway.jobs.finalize(batch.id)
    assert overtaken and done is not None and done.status == "completed" and done.output_file_id is not None
    _, chunks = gateway.files.content(caller, done.output_file_id, None)
    expected = summed([json.loads(line) for line in b"".join(chunks).splitlines()])
    assert done.usage == expected and expected["output_tokens_details"]["reasoning_tokens"] == 2 * 7
