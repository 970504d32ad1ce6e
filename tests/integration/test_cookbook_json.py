"""The OpenAI Cookbook's first batch example (examples/batch_processing.ipynb: movie classification in JSON mode)
run as written through the gateway against Anthropic's and Bedrock's fakes, changed only in the ``provider`` extra
and the model name; its output lines parse as the Cookbook's code parses them, and their content is JSON. A JSON
schema variant runs through Claude's native structured outputs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from openai import OpenAI

from tests.integration import cookbook
from tests.integration.cookbook import CATEGORIZE_SYSTEM_PROMPT, MOVIE_SCHEMA, OVERVIEWS, cookbook_tasks


@pytest.fixture(autouse=True)
def small_bedrock_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")  # Bedrock's own minimum would need 100 movies


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai", api_key="sk-any", max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def run_cookbook(client: OpenAI, provider: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Cookbook's steps; its batch completes with no error file."""
    _, batch_job, results = cookbook.run_cookbook(client, provider, tasks)
    assert batch_job.error_file_id is None
    return results


def cookbook_contents(results: list[dict[str, Any]]) -> dict[int, Any]:
    """What the Cookbook reads of each result (``res['response']['body']['choices'][0]['message']['content']``),
    by its task index, parsed as the JSON it must be."""
    contents: dict[int, Any] = {}
    for res in results:
        task_id = res["custom_id"]
        index = task_id.split("-")[-1]
        result = res["response"]["body"]["choices"][0]["message"]["content"]
        contents[int(index)] = json.loads(result)
        assert res["response"]["body"]["choices"][0]["finish_reason"] == "stop"
        assert "tool_calls" not in res["response"]["body"]["choices"][0]["message"]
    assert sorted(contents) == list(range(len(OVERVIEWS)))
    return contents


def test_cookbook_json_mode_on_openai(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    # OpenAI runs the file as it is: the gateway passes it through, and OpenAI's JSON mode answers JSON
    contents = cookbook_contents(run_cookbook(client, "openai", cookbook_tasks("gpt-3.5-turbo")))
    assert contents == {index: {"echo": overview} for index, overview in enumerate(OVERVIEWS)}


@pytest.mark.parametrize("model", ["claude-3-5-haiku-latest", "claude-sonnet-4-5"])
def test_cookbook_json_mode_on_anthropic(client: OpenAI, fake_anthropic: tuple[Any, str], model: str) -> None:
    contents = cookbook_contents(run_cookbook(client, "anthropic", cookbook_tasks(model)))
    # The fake answers a forced tool with an object carrying the user's text: each answer is its own movie's.
    assert contents == {index: {"echo": overview} for index, overview in enumerate(OVERVIEWS)}
    sent = next(r for r in fake_anthropic[0].state.fake.requests if r.path == "/v1/messages/batches").json()
    params = sent["requests"][0]["params"]
    assert params["tool_choice"] == {"type": "tool", "name": params["tools"][0]["name"]}
    assert params["temperature"] == 0.1 and params["system"] == CATEGORIZE_SYSTEM_PROMPT


def test_cookbook_json_schema_on_claudes_structured_outputs(client: OpenAI, fake_anthropic: tuple[Any, str]) -> None:
    open_schema = {k: v for k, v in MOVIE_SCHEMA.items() if k != "additionalProperties"}  # closed by the gateway
    response_format = {"type": "json_schema", "json_schema": {"name": "movie", "schema": open_schema}}
    contents = cookbook_contents(
        run_cookbook(client, "anthropic", cookbook_tasks("claude-sonnet-4-5", response_format))
    )
    for index, overview in enumerate(OVERVIEWS):
        jsonschema.validate(contents[index], MOVIE_SCHEMA)
        assert contents[index]["summary"] == overview
    sent = next(r for r in fake_anthropic[0].state.fake.requests if r.path == "/v1/messages/batches").json()
    assert sent["requests"][0]["params"]["output_config"] == {"format": {"type": "json_schema", "schema": MOVIE_SCHEMA}}


@pytest.mark.parametrize(
    "model",
    ["anthropic.claude-3-haiku-20240307-v1:0", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "amazon.nova-lite-v1:0"],
)
def test_cookbook_json_mode_on_bedrock(client: OpenAI, model: str) -> None:
    results = run_cookbook(client, "bedrock", cookbook_tasks(model))
    contents = cookbook_contents(results)
    assert contents == {index: {"echo": overview} for index, overview in enumerate(OVERVIEWS)}
    for res in results:
        usage = res["response"]["body"]["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
        assert usage["prompt_tokens_details"]["cached_tokens"] == 0
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
