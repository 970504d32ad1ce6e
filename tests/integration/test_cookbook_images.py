"""The OpenAI Cookbook's second batch example (examples/batch_processing.ipynb: captioning furniture images given by
https URL) run as written through the gateway on every provider, changed only in the ``provider`` extra, the model
name and where the images are (a local https image server). Bedrock takes inline images only: the gateway fetches
each URL and inlines it; elsewhere the URL reaches the provider as it is. The output lines parse as the Cookbook's
code parses them."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import openai
import pytest
from openai import OpenAI

from batchbridge.image_fetch import HttpsImageFetcher
from tests.conftest import BUCKET
from tests.fakes.image_server import JPEG, PNG, ImageServer, image_server
from tests.integration import cookbook

# The Cookbook's system prompt, word for word.
CAPTION_SYSTEM_PROMPT = """
Your goal is to generate short, descriptive captions for images of items.
You will be provided with an item image and the name of that item and you will output a caption that captures the most important information about the item.
If there are multiple items depicted, refer to the name provided to understand which item you should describe.
Your generated caption should be short (1 sentence), and include only the most important information about the item.
The most important information could be: the type of item, the style (if mentioned), the material or color if especially relevant and/or any distinctive features.
Keep it short and to the point.
"""  # noqa: E501

# The first rows of the Cookbook's dataset (amazon_furniture_dataset.csv: title, primary_image), the images local.
ITEMS = [
    ("GOYMFK 1pc Free Standing Shoe Rack, Multi-layer Metal Shoe Cap Rack", "/photo.jpg"),
    ("subrtex Leather ding Room, Dining Chairs Set of 2", "/cat.png"),
    ("Plant Repotting Mat MUYETOL Waterproof Transplanting Mat", "/photo.jpg"),
]
MODELS = {
    "openai": "gpt-4-turbo",
    "anthropic": "claude-3-5-haiku-latest",
    "gemini": "gemini-2.5-flash",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
}


@pytest.fixture(scope="module")
def images() -> Iterator[ImageServer]:
    with image_server() as server:
        yield server


@pytest.fixture(autouse=True)
def small_bedrock_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")  # Bedrock's own minimum would need 100 items


@pytest.fixture
def client(
    gateway_url: str, drained_http: httpx.Client, images: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OpenAI]:
    # The product's fetcher refuses loopback; this one reaches the local image server (and nothing else).
    monkeypatch.setattr("batchbridge.image_fetch.HttpsImageFetcher", lambda: images.fetcher())
    images.requests.clear()
    with OpenAI(base_url=gateway_url + "/openai", api_key="sk-any", max_retries=0, http_client=drained_http) as sdk:
        yield sdk


def cookbook_tasks(model: str, images: ImageServer) -> list[dict[str, Any]]:
    """The Cookbook's task list, built as its notebook builds it."""
    tasks = []
    for index, (title, path) in enumerate(ITEMS):
        img_url = images.url(path)
        task = {
            "custom_id": f"task-{index}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                # This is what you would have in your Chat Completions API call
                "model": model,
                "temperature": 0.2,
                "max_tokens": 300,
                "messages": [
                    {"role": "system", "content": CAPTION_SYSTEM_PROMPT},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": title},
                            {"type": "image_url", "image_url": {"url": img_url}},
                        ],
                    },
                ],
            },
        }
        tasks.append(task)
    return tasks


def upload(client: OpenAI, provider: str, tasks: list[dict[str, Any]]) -> Any:
    file_content = "\n".join(json.dumps(obj) for obj in tasks).encode()
    return client.files.create(
        file=("batch_tasks_furniture.jsonl", file_content), purpose="batch", extra_body={"provider": provider}
    )


def run_cookbook(client: OpenAI, provider: str, tasks: list[dict[str, Any]]) -> tuple[Any, list[dict[str, Any]]]:
    """Upload, create, wait, download and read each line with json.loads, as the Cookbook does."""
    batch_file, _, results = cookbook.run_cookbook(client, provider, tasks, "batch_tasks_furniture.jsonl")
    return batch_file, results


@pytest.mark.parametrize("provider", list(MODELS))
def test_the_cookbook_captions_images_by_url_on_every_provider(
    client: OpenAI, images: ImageServer, provider: str
) -> None:
    batch_file, results = run_cookbook(client, provider, cookbook_tasks(MODELS[provider], images))
    captions = {}
    for res in results:
        index = res["custom_id"].split("-")[-1]
        result = res["response"]["body"]["choices"][0]["message"]["content"]
        assert isinstance(result, str) and result
        captions[int(index)] = result
    assert sorted(captions) == list(range(len(ITEMS)))
    if provider == "bedrock":
        # fetched once per distinct image, by the gateway, and inlined as the bytes it served
        assert sorted(images.requests) == ["images.test /cat.png", "images.test /photo.jpg"]
        key = f"batchbridge/bedrock/{batch_file.id}/input.jsonl"
        staged = boto3.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read().splitlines()
        sources = [json.loads(record)["modelInput"]["messages"][0]["content"][1]["source"] for record in staged]
        assert sources == [
            {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(JPEG).decode()},
            {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()},
            {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(JPEG).decode()},
        ]
        # our copy of the file is the user's, URLs and all
        assert client.files.content(batch_file.id).content == b"\n".join(
            json.dumps(task).encode() for task in cookbook_tasks(MODELS[provider], images)
        )
    else:
        assert images.requests == []  # the provider fetches them itself


def test_an_image_bedrock_cannot_have_is_a_400_naming_the_line_and_host(
    client: OpenAI, images: ImageServer
) -> None:
    tasks = cookbook_tasks(MODELS["bedrock"], images)
    tasks[1]["body"]["messages"][1]["content"][1]["image_url"]["url"] = images.url("/page.html?sig=secret")
    with pytest.raises(openai.BadRequestError) as raised:
        upload(client, "bedrock", tasks)
    error = raised.value.body
    assert isinstance(error, dict)
    assert error["code"] == "image_fetch_failed" and error["param"] == "file"
    assert error["message"] == (
        "custom_id 'task-1': the image at images.test could not be fetched: it is not an image "
        "(Content-Type text/html)."
    )
    assert not boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="batchbridge/bedrock/").get("KeyCount")


def test_the_products_fetcher_never_reaches_a_private_address(
    client: OpenAI, images: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("batchbridge.image_fetch.HttpsImageFetcher", HttpsImageFetcher)  # the product's own again
    tasks = cookbook_tasks(MODELS["bedrock"], images)
    for task in tasks:
        task["body"]["messages"][1]["content"][1]["image_url"]["url"] = f"https://127.0.0.1:{images.port}/cat.png"
    with pytest.raises(openai.BadRequestError, match="not a public address"):
        upload(client, "bedrock", tasks)
    assert images.requests == []


def test_with_fetching_off_an_image_url_is_refused_for_bedrock(
    client: OpenAI, images: ImageServer, gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from batchbridge.config import Settings
    from batchbridge.providers.registry import FACTORIES

    settings = Settings.from_env()
    assert settings.fetch_image_urls
    monkeypatch.setenv("BATCHBRIDGE_FETCH_IMAGE_URLS", "off")
    adapter = FACTORIES["bedrock"](Settings.from_env())
    conversion = adapter.line_conversion()  # type: ignore[attr-defined]
    task = cookbook_tasks(MODELS["bedrock"], images)[0]
    with pytest.raises(Exception, match="Bedrock takes base64 images only"):
        conversion.add(task)
    assert images.requests == []


def test_the_switch_reads_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchbridge.config import Settings

    for value, expected in (("false", False), ("0", False), ("Off", False), ("true", True), ("1", True), ("", True)):
        monkeypatch.setenv("BATCHBRIDGE_FETCH_IMAGE_URLS", value)
        assert Settings.from_env().fetch_image_urls is expected
    monkeypatch.setenv("BATCHBRIDGE_FETCH_IMAGE_URLS", "sometimes")
    with pytest.raises(ValueError, match="BATCHBRIDGE_FETCH_IMAGE_URLS must be true or false"):
        Settings.from_env()
