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

# The Cookbook's system prompt, word for word.
CATEGORIZE_SYSTEM_PROMPT = """
Your goal is to extract movie categories from movie descriptions, as well as a 1-sentence summary for these movies.
You will be provided with a movie description, and you will output a json object containing the following information:

{
    categories: string[] // Array of categories based on the movie description,
    summary: string // 1-sentence summary of the movie based on the movie description
}

Categories refer to the genre or type of the movie, like "action", "romance", "comedy", etc. Keep category names simple and use only lower case letters.
Movies can have several categories, but try to keep it under 3-4. Only mention the categories that are the most obvious based on the description.
"""  # noqa: E501

# The first rows of the Cookbook's dataset (imdb_top_1000.csv, column Overview).
OVERVIEWS = [
    "Two imprisoned men bond over a number of years, finding solace and eventual redemption through acts of common "
    "decency.",
    "An organized crime dynasty's aging patriarch transfers control of his clandestine empire to his reluctant son.",
    "When the menace known as the Joker wreaks havoc and chaos on the people of Gotham, Batman must accept one of the "
    "greatest psychological and physical tests of his ability to fight injustice.",
]

MOVIE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"categories": {"type": "array", "items": {"type": "string"}}, "summary": {"type": "string"}},
    "required": ["categories", "summary"],
    "additionalProperties": False,
}


def cookbook_tasks(model: str, response_format: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The Cookbook's task list, built as its notebook builds it (only the model differs)."""
    tasks = []
    for index, description in enumerate(OVERVIEWS):
        task = {
            "custom_id": f"task-{index}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                # This is what you would have in your Chat Completions API call
                "model": model,
                "temperature": 0.1,
                "response_format": response_format or {"type": "json_object"},
                "messages": [
                    {"role": "system", "content": CATEGORIZE_SYSTEM_PROMPT},
                    {"role": "user", "content": description},
                ],
            },
        }
        tasks.append(task)
    return tasks


@pytest.fixture(autouse=True)
def small_bedrock_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")  # Bedrock's own minimum would need 100 movies


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai", api_key="sk-any", max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def run_cookbook(client: OpenAI, provider: str, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Cookbook's steps: write the JSONL file, upload it, create the batch, wait, download the results and read
    each line with json.loads."""
    file_content = "\n".join(json.dumps(obj) for obj in tasks).encode()
    batch_file = client.files.create(
        file=("batch_tasks_movies.jsonl", file_content), purpose="batch", extra_body={"provider": provider}
    )
    batch_job = client.batches.create(
        input_file_id=batch_file.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": provider},
    )
    for _ in range(15):
        batch_job = client.batches.retrieve(batch_job.id, extra_query={"provider": provider})
        if batch_job.status in ("completed", "failed", "expired", "cancelled"):
            break
    assert batch_job.status == "completed", batch_job
    assert batch_job.error_file_id is None
    assert batch_job.output_file_id is not None
    result = client.files.content(batch_job.output_file_id).content
    results = []
    for line in result.decode().splitlines():
        json_object = json.loads(line.strip())
        results.append(json_object)
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
