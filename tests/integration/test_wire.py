"""The wire as OpenAI's clients see it: request ids, every field of an object, lists, the provider a batch runs on,
arguments the gateway does not know, LiteLLM's and Bifrost's habits, and errors that say what to do."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from tests.contract.openai_schema import assert_valid, load_spec
from tests.fakes.server import LOOPBACK_TLS
from tests.integration.chat import MODELS, chat_jsonl

KEY = "sk-wire-user"
SPEC = load_spec()["components"]["schemas"]


@pytest.fixture
def client(gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(base_url=gateway_url + "/openai", api_key=KEY, max_retries=0, http_client=drained_http) as sdk:
        yield sdk


@pytest.fixture
def http(gateway_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=gateway_url + "/openai/v1",
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
        verify=LOOPBACK_TLS,
    ) as raw:
        yield raw


def upload(client: OpenAI, provider: str, count: int = 2, **extra: Any) -> Any:
    return client.files.create(
        file=("in.jsonl", chat_jsonl(count, MODELS[provider]), "application/jsonl"),
        purpose="batch",
        extra_body={"provider": provider, **extra},
    )


def finish(client: OpenAI, batch_id: str, provider: str) -> Any:
    for _ in range(20):
        batch = client.batches.retrieve(batch_id, extra_query={"provider": provider})
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
    raise AssertionError(f"batch {batch_id} did not finish: {batch.status}")


def test_every_response_carries_a_request_id(client: OpenAI, http: httpx.Client) -> None:
    files = client.files.list()
    assert files._request_id is not None and files._request_id.startswith("req_")  # type: ignore[attr-defined]
    created = upload(client, "openai")
    assert created._request_id.startswith("req_") and created._request_id != files._request_id  # type: ignore[attr-defined]
    with pytest.raises(openai.NotFoundError) as caught:
        client.batches.retrieve("batch_nope")
    assert caught.value.request_id is not None and caught.value.request_id.startswith("req_")
    for response in (
        http.get("/nowhere"),  # the router's 404
        http.post("/batches", content=b"x" * (2 * 1024 * 1024)),  # the body limit's 413, before any route
        http.get("/files", headers={"Authorization": ""}),  # 401
    ):
        assert response.status_code >= 400 and response.headers["x-request-id"].startswith("req_"), response.text
        assert len(response.headers["x-request-id"]) == len("req_") + 32


def test_objects_carry_every_field_of_openais_with_nulls(client: OpenAI, http: httpx.Client) -> None:
    file_id = upload(client, "anthropic").id
    created = http.post(
        "/batches", json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    ).json()
    # OpenAI's fields, and the one documented extra of a batch other than OpenAI's own: the jobs that run it
    expected = {*SPEC["Batch"]["properties"], "provider_jobs"}
    assert set(created) == expected, set(created) ^ expected
    for name in ("errors", "output_file_id", "error_file_id", "completed_at", "failed_at", "cancelled_at"):
        assert created[name] is None, name
    assert_valid("Batch", created)
    file = http.get(f"/files/{file_id}").json()
    assert set(file) == set(SPEC["OpenAIFile"]["properties"]) and file["status_details"] is None
    upload_object = http.post(
        "/uploads", json={"bytes": 3, "filename": "a.txt", "mime_type": "text/plain", "purpose": "user_data"}
    ).json()
    assert set(upload_object) == set(SPEC["Upload"]["properties"]) and upload_object["file"] is None


@pytest.mark.parametrize("provider", ["openai", "anthropic", "gemini"])
def test_result_files_expire_and_never_name_the_providers_batch(client: OpenAI, provider: str) -> None:
    batch = client.batches.create(
        input_file_id=upload(client, provider).id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": provider},
    )
    ended = finish(client, batch.id, provider)
    assert ended.status == "completed" and ended.output_file_id is not None, ended
    output = client.files.retrieve(ended.output_file_id)
    assert output.expires_at is not None and output.expires_at > output.created_at
    assert output.filename == f"{batch.id}_output.jsonl" and output.purpose == "batch_output"
    assert ended.completed_at is not None and ended.failed_at is None


def test_lists_are_alike_for_files_and_batches(client: OpenAI, http: httpx.Client) -> None:
    for path in ("/files", "/batches"):
        empty = http.get(path).json()
        assert empty == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
    file_id = upload(client, "openai").id
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    for path, first in (("/files", file_id), ("/batches", batch.id)):
        page = http.get(path).json()
        assert (page["first_id"], page["last_id"]) == (first, page["data"][-1]["id"]), page


def test_a_batch_runs_on_its_files_provider_unless_told_otherwise(client: OpenAI) -> None:
    file_id = upload(client, "anthropic").id
    batch = client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.batches.retrieve(batch.id, extra_query={"provider": "anthropic"}).id == batch.id
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve(batch.id, extra_query={"provider": "openai"})
    assert finish(client, batch.id, "anthropic").status == "completed"
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": "gemini"},
        )
    assert caught.value.code == "provider_mismatch"


def test_unknown_arguments_are_named_as_openai_names_them(client: OpenAI, http: httpx.Client) -> None:
    file_id = upload(client, "openai").id
    with pytest.raises(openai.BadRequestError) as caught:
        client.batches.create(
            input_file_id=file_id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"completion_windw": "24h"},
        )
    assert caught.value.body == {
        "message": "Unrecognized request argument supplied: completion_windw",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    with pytest.raises(openai.BadRequestError, match="Unrecognized request arguments supplied: colour, size"):
        client.files.create(
            file=("in.jsonl", chat_jsonl(1, MODELS["openai"])), purpose="batch", extra_body={"size": 1, "colour": "r"}
        )
    response = http.post(f"/uploads/upload_{'0' * 32}/cancel", json={"reason": "none"})
    assert response.status_code == 400 and "reason" in response.json()["error"]["message"]
    # the query string is not the body: OpenAI ignores query parameters it does not know
    assert http.get("/files", params={"unknown": "1"}).status_code == 200
    assert [f.id for f in client.files.list()] == [file_id]  # nothing refused was stored


def test_litellms_custom_llm_provider_names_the_provider(client: OpenAI) -> None:
    created = client.files.create(
        file=("in.jsonl", chat_jsonl(1, MODELS["anthropic"])),
        purpose="batch",
        extra_body={"custom_llm_provider": "anthropic"},
    )
    assert [f.id for f in client.files.list(extra_query={"custom_llm_provider": "anthropic"})] == [created.id]
    assert client.files.list(extra_query={"custom_llm_provider": "openai"}).data == []
    batch = client.batches.create(
        input_file_id=created.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"custom_llm_provider": "anthropic"},
    )
    assert client.batches.retrieve(batch.id, extra_query={"provider": "anthropic"}).id == batch.id
    with pytest.raises(openai.BadRequestError, match="different"):
        client.files.list(extra_query={"custom_llm_provider": "anthropic", "provider": "openai"})


def test_inline_requests_with_a_placeholder_file_id_run(client: OpenAI) -> None:
    requests = [
        {
            "custom_id": "q1",
            "params": {"model": MODELS["anthropic"], "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]},
        }
    ]
    batch = client.batches.create(
        input_file_id="dummy-file-id",  # Bifrost's own tests send this
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": "anthropic", "requests": requests},
    )
    ended = finish(client, batch.id, "anthropic")
    assert ended.status == "completed" and ended.request_counts is not None and ended.request_counts.completed == 1
    real = upload(client, "anthropic").id
    with pytest.raises(openai.BadRequestError, match="either 'input_file_id' or inline 'requests'"):
        client.batches.create(
            input_file_id=real,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            extra_body={"provider": "anthropic", "requests": requests},
        )


def test_errors_that_say_what_to_do(http: httpx.Client) -> None:
    routes = http.get("/models").json()["error"]["message"]
    assert all(family in routes for family in ("/files", "/batches", "/uploads")), routes
    upload_id = http.post(
        "/uploads", json={"bytes": 3, "filename": "a.txt", "mime_type": "text/plain", "purpose": "user_data"}
    ).json()["id"]
    response = http.post(f"/uploads/{upload_id}/parts", data={"data": ""})  # an empty text field, not a file
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "data" and "empty text field" in error["message"] and "file field" in error["message"]
    # OpenAI's reference curl sends the bytes as a text field (-F data="..."): they are the part
    text_part = http.post(f"/uploads/{upload_id}/parts", data={"data": "abc"})
    assert text_part.status_code == 200 and text_part.json()["object"] == "upload.part", text_part.text
    completed = http.post(f"/uploads/{upload_id}/complete", json={"part_ids": [text_part.json()["id"]]}).json()
    assert http.get(f"/files/{completed['file']['id']}/content").content == b"abc"
    part = http.post(f"/uploads/{upload_id}/parts", files={"data": ("blob", b"abc")})
    assert part.status_code == 409  # completed: no more parts


def test_an_object_sent_as_json_text_in_a_form_field_is_read(http: httpx.Client) -> None:
    """As the /docs page's Swagger UI (and other OpenAPI clients) send nested form fields."""
    response = http.post(
        "/files",
        files={"file": ("in.jsonl", chat_jsonl(1, MODELS["openai"]))},
        data={"purpose": "batch", "expires_after": json.dumps({"anchor": "created_at", "seconds": 7200})},
    )
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["expires_at"] == created["created_at"] + 7200
