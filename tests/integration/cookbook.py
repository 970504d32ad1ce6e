"""The OpenAI Cookbook's first batch example (examples/batch_processing.ipynb: movie classification in JSON
mode) as its notebook builds it, and the notebook's steps to run a batch file, for the tests that run the Cookbook
through the gateway on each provider."""

from __future__ import annotations

import json
from typing import Any

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


def run_cookbook(
    client: OpenAI, provider: str, tasks: list[dict[str, Any]], filename: str = "batch_tasks_movies.jsonl"
) -> tuple[Any, Any, list[dict[str, Any]]]:
    """The Cookbook's steps: write the JSONL file, upload it, create the batch, wait, download the results and read
    each line with json.loads; returns the file, the completed batch and the lines."""
    file_content = "\n".join(json.dumps(obj) for obj in tasks).encode()
    batch_file = client.files.create(file=(filename, file_content), purpose="batch", extra_body={"provider": provider})
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
    assert batch_job.output_file_id is not None
    result = client.files.content(batch_job.output_file_id).content
    return batch_file, batch_job, [json.loads(line.strip()) for line in result.decode().splitlines()]
