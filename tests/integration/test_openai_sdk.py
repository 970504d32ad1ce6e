"""The product docs' OpenAI snippets, run by the real `openai` SDK against the gateway on loopback.

The gateway forwards to the fake OpenAI upstream; AWS is moto. Both SDK base_url forms are covered.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.gateway import Gateway
from batchbridge.providers.registry import FACTORIES, Registry
from tests.contract.openai_schema import assert_valid

JSONL = (
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 100}}\n'
    '{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-4o-mini", "messages": [{"role": "user", "content": "How are you?"}], "max_tokens": 100}}'
)


@pytest.fixture(params=["/openai", "/openai/v1"])
def client(request: pytest.FixtureRequest, gateway_url: str, drained_http: httpx.Client) -> Iterator[OpenAI]:
    with OpenAI(
        base_url=gateway_url + request.param, api_key="sk-user-one", max_retries=0, http_client=drained_http
    ) as sdk:
        yield sdk


def upload(client: OpenAI, content: str = JSONL, name: str = "batch_input.jsonl") -> Any:
    return client.files.create(
        file=(name, content.encode(), "application/jsonl"), purpose="batch", extra_body={"provider": "openai"}
    )


def test_upload_retrieve_list_content_delete(client: OpenAI, fake_openai: tuple[Any, str]) -> None:
    response = upload(client)
    assert response.id.startswith("file-") and len(response.id) == 37
    assert (response.filename, response.purpose, response.bytes) == ("batch_input.jsonl", "batch", len(JSONL))
    fake = fake_openai[0].state.fake
    # the gateway's ID is ours, not OpenAI's, and the caller's key went upstream
    assert response.id not in fake.file_ids("sk-user-one")
    assert len(fake.file_ids("sk-user-one")) == 1
    assert fake.requests[-1].headers["authorization"] == "Bearer sk-user-one"

    listed = client.files.list(extra_query={"provider": "openai"})
    assert [f.id for f in listed.data] == [response.id]

    retrieved = client.files.retrieve(response.id, extra_query={"provider": "openai"})
    assert retrieved.model_dump() == response.model_dump()

    content = client.files.content(response.id, extra_query={"provider": "openai"})
    assert content.read() == JSONL.encode()

    deleted = client.files.delete(response.id, extra_query={"provider": "openai"})
    assert (deleted.id, deleted.deleted) == (response.id, True)
    assert fake.file_ids("sk-user-one") == []
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(response.id)
    assert client.files.list().data == []


def test_end_to_end_workflow(client: OpenAI) -> None:
    uploaded = upload(client, JSONL.replace("Hello!", "What is 2+2?"), "batch_e2e.jsonl")
    batch = client.batches.create(
        input_file_id=uploaded.id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": "openai"},
    )
    assert batch.id.startswith("batch_") and batch.status == "validating"
    assert batch.input_file_id == uploaded.id
    seen = [batch.status]
    for _ in range(10):
        batch = client.batches.retrieve(batch.id, extra_query={"provider": "openai"})
        seen.append(batch.status)
        if batch.status in ["completed", "failed", "expired", "cancelled"]:
            break
    # each status once or more, in order; completed only once the finalizer made the results ours
    assert list(dict.fromkeys(seen)) == ["validating", "in_progress", "finalizing", "completed"]
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (
        2,
        2,
        0,
    )
    assert batch.completed_at is not None and batch.in_progress_at is not None
    assert batch.output_file_id is not None and batch.output_file_id.startswith("file-")
    assert batch.error_file_id is None

    output = client.files.content(batch.output_file_id).read().decode()
    lines = [__import__("json").loads(line) for line in output.splitlines()]
    assert {line["custom_id"] for line in lines} == {"request-1", "request-2"}
    answers = {line["custom_id"]: line["response"]["body"]["choices"][0]["message"]["content"] for line in lines}
    assert answers == {"request-1": "echo: What is 2+2?", "request-2": "echo: How are you?"}

    output_file = client.files.retrieve(batch.output_file_id)
    assert (output_file.purpose, output_file.bytes) == ("batch_output", len(output.encode()))
    # a terminal batch is served from our record: the same answer again
    assert client.batches.retrieve(batch.id).model_dump() == batch.model_dump()
    listed = client.batches.list(limit=10, extra_query={"provider": "openai"})
    assert [b.id for b in listed.data] == [batch.id]
    assert listed.data[0].status == "completed"


def test_failed_lines_go_to_the_error_file(client: OpenAI) -> None:
    content = JSONL.replace(
        '"gpt-4o-mini", "messages": [{"role": "user", "content": "How',
        '"invalid-model", "messages": [{"role": "user", "content": "How',
    )
    uploaded = upload(client, content)
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    while batch.status not in ("completed", "failed"):
        batch = client.batches.retrieve(batch.id)
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 1)
    assert batch.output_file_id and batch.error_file_id and batch.output_file_id != batch.error_file_id
    errors = client.files.content(batch.error_file_id).read().decode().splitlines()
    assert len(errors) == 1 and '"custom_id": "request-2"' in errors[0].replace('":"', '": "')


def test_cancel(client: OpenAI) -> None:
    batch = client.batches.create(
        input_file_id=upload(client).id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    cancelled = client.batches.cancel(batch.id, extra_body={"provider": "openai"})
    assert cancelled.status == "cancelling" and cancelled.cancelling_at is not None
    # the provider has cancelled it: cancelling until the finalizer has made its error file ours
    assert client.batches.retrieve(batch.id).status == "cancelling"
    final = client.batches.retrieve(batch.id)
    assert final.status == "cancelled" and final.cancelled_at is not None
    assert final.error_file_id is not None
    assert client.files.content(final.error_file_id).read().count(b"batch_cancelled") == 2
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


def test_auto_pager_walks_every_item_once(client: OpenAI) -> None:
    uploaded = [upload(client, JSONL, f"f{index}.jsonl").id for index in range(5)]
    walked = [f.id for f in client.files.list(limit=2)]
    assert walked == list(reversed(uploaded))
    ascending = [f.id for f in client.files.list(limit=2, order="asc")]
    assert ascending == uploaded
    batches = [
        client.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h").id
        for file_id in uploaded
    ]
    assert [b.id for b in client.batches.list(limit=2)] == list(reversed(batches))
    page = client.batches.list(limit=2)
    assert page.has_more is True and len(page.data) == 2


def test_other_keys_objects_are_404(client: OpenAI, gateway_url: str) -> None:
    uploaded = upload(client)
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    with OpenAI(base_url=gateway_url + "/openai", api_key="sk-user-two", max_retries=0) as other:
        for call in (
            lambda: other.files.retrieve(uploaded.id),
            lambda: other.files.content(uploaded.id),
            lambda: other.files.delete(uploaded.id),
            lambda: other.batches.retrieve(batch.id),
            lambda: other.batches.cancel(batch.id),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        assert other.files.list().data == [] and other.batches.list().data == []
        with pytest.raises(openai.NotFoundError):
            other.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert client.files.retrieve(uploaded.id).id == uploaded.id


def test_provider_contradicting_the_record_is_404(gateway: Gateway) -> None:
    # A second provider, served here by the OpenAI adapter: records must keep the two apart.
    registry = Registry(gateway.settings, factories={**FACTORIES, "gemini": FACTORIES["openai"]})
    with TestClient(build_app(gateway=dataclasses.replace(gateway, providers=registry))) as http:
        client = OpenAI(base_url="http://testserver/openai", api_key="sk-user-one", max_retries=0, http_client=http)
        uploaded = upload(client)
        assert client.files.retrieve(uploaded.id, extra_query={"provider": "openai"}).id == uploaded.id
        for call in (
            lambda: client.files.retrieve(uploaded.id, extra_query={"provider": "gemini"}),
            lambda: client.files.content(uploaded.id, extra_query={"provider": "gemini"}),
            lambda: client.files.delete(uploaded.id, extra_query={"provider": "gemini"}),
        ):
            with pytest.raises(openai.NotFoundError):
                call()
        assert client.files.list(extra_query={"provider": "gemini"}).data == []
        assert [f.id for f in client.files.list(extra_query={"provider": "openai"})] == [uploaded.id]
        with pytest.raises(openai.BadRequestError, match="uploaded for provider"):
            client.batches.create(
                input_file_id=uploaded.id,
                endpoint="/v1/chat/completions",
                completion_window="24h",
                extra_body={"provider": "gemini"},
            )
        batch = client.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        with pytest.raises(openai.NotFoundError):
            client.batches.retrieve(batch.id, extra_query={"provider": "gemini"})
        with pytest.raises(openai.NotFoundError):
            client.batches.cancel(batch.id, extra_body={"provider": "gemini"})
        assert client.batches.list(extra_query={"provider": "gemini"}).data == []


def test_responses_validate_against_openai_schemas(client: OpenAI) -> None:
    created = client.files.with_raw_response.create(
        file=("in.jsonl", JSONL.encode(), "application/jsonl"), purpose="batch"
    ).http_response.json()
    assert_valid("OpenAIFile", created)
    assert_valid(
        "OpenAIFile",
        client.files.with_raw_response.retrieve(created["id"]).http_response.json(),
    )
    assert_valid("ListFilesResponse", client.files.with_raw_response.list().http_response.json())
    batch = client.batches.with_raw_response.create(
        input_file_id=created["id"], endpoint="/v1/chat/completions", completion_window="24h"
    ).http_response.json()
    assert_valid("Batch", batch)
    for _ in range(5):
        batch = client.batches.with_raw_response.retrieve(batch["id"]).http_response.json()
        assert_valid("Batch", batch)
    assert batch["status"] == "completed"
    assert_valid("ListBatchesResponse", client.batches.with_raw_response.list().http_response.json())
    other = client.batches.with_raw_response.create(
        input_file_id=created["id"], endpoint="/v1/chat/completions", completion_window="24h"
    ).http_response.json()
    assert_valid("Batch", client.batches.with_raw_response.cancel(other["id"]).http_response.json())
    deleted = client.files.with_raw_response.delete(batch["output_file_id"]).http_response.json()
    assert_valid("DeleteFileResponse", deleted)
    with OpenAI(base_url=str(client.base_url), api_key="sk-nobody", max_retries=0) as empty:
        assert_valid("ListFilesResponse", empty.files.with_raw_response.list().http_response.json())
        assert_valid(
            "ListBatchesResponse",
            empty.batches.with_raw_response.list().http_response.json(),
        )


def test_organization_and_project_reach_the_provider(gateway_url: str, fake_openai: tuple[Any, str]) -> None:
    with OpenAI(
        base_url=gateway_url + "/openai", api_key="sk-user-one", organization="org-42", project="proj_7", max_retries=0
    ) as client:
        upload(client)
    sent = fake_openai[0].state.fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v1/files")
    assert (sent.headers["openai-organization"], sent.headers["openai-project"]) == ("org-42", "proj_7")
