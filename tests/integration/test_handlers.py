"""Each Lambda handler, invoked with a real API Gateway REST proxy event, returns what the app returns."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from batchbridge.api import request as api_request
from batchbridge.api.app import build_app
from batchbridge.gateway import Gateway
from tests.integration.apigw import LambdaContext, body_of, json_event, rest_event

JSONL = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)
BOUNDARY = "----batchbridge-test-boundary"
AUTH = {"Authorization": "Bearer sk-user-one"}


def multipart(fields: dict[str, str], file: bytes) -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n'
        f"Content-Type: application/jsonl\r\n\r\n".encode()
        + file
        + b"\r\n"
    ]
    parts += [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def invoke(operation: str, event: dict[str, Any]) -> tuple[int, bytes]:
    module = importlib.import_module(f"batchbridge.handlers.{operation}")
    response = module.handler(event, LambdaContext())
    return int(response["statusCode"]), body_of(response)


@pytest.fixture
def app(gateway: Gateway) -> Iterator[TestClient]:
    # The handlers build their gateway from the environment, once per process: start each test afresh.
    api_request._default_gateway.cache_clear()
    with TestClient(build_app(gateway=gateway)) as client:
        yield client
    api_request._default_gateway.cache_clear()


def test_files_create_from_a_base64_multipart_event(app: TestClient) -> None:
    status, body = invoke(
        "files_create",
        rest_event(
            "POST",
            "/openai/v1/files",
            body=multipart({"purpose": "batch", "provider": "openai"}, JSONL),
            content_type=f"multipart/form-data; boundary={BOUNDARY}",
        ),
    )
    assert status == 200, body
    created = json.loads(body)
    assert (created["bytes"], created["purpose"], created["filename"]) == (len(JSONL), "batch", "in.jsonl")
    seen = app.get(f"/openai/v1/files/{created['id']}", headers=AUTH)
    assert seen.json() == created
    assert app.get(f"/openai/v1/files/{created['id']}/content", headers=AUTH).content == JSONL


def test_read_handlers_answer_as_the_app_does(app: TestClient) -> None:
    file_id = app.post(
        "/openai/files", headers=AUTH, files={"file": ("in.jsonl", JSONL)}, data={"purpose": "batch"}
    ).json()["id"]
    batch_id = app.post(
        "/openai/batches",
        headers=AUTH,
        json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    ).json()["id"]
    app.get(f"/openai/batches/{batch_id}", headers=AUTH)  # validating -> in_progress
    cases = [
        ("files_list", "GET", "/openai/v1/files", None, {"limit": "5", "order": "asc"}),
        ("files_retrieve", "GET", "/openai/v1/files/{file_id}", {"file_id": file_id}, None),
        ("files_content", "GET", "/openai/v1/files/{file_id}/content", {"file_id": file_id}, None),
        ("batches_list", "GET", "/openai/v1/batches", None, {"limit": "3"}),
        ("files_retrieve", "GET", "/openai/files/{file_id}", {"file_id": "file-unknown"}, None),
    ]
    for operation, method, resource, path_parameters, query in cases:
        path = resource.format(**(path_parameters or {}))
        expected = app.request(method, path, headers=AUTH, params=query)
        status, body = invoke(operation, rest_event(method, resource, path_parameters, query=query))
        assert (status, body) == (expected.status_code, expected.content), operation


def test_batch_handlers_drive_the_lifecycle(app: TestClient) -> None:
    file_id = app.post(
        "/openai/files", headers=AUTH, files={"file": ("in.jsonl", JSONL)}, data={"purpose": "batch"}
    ).json()["id"]
    status, body = invoke(
        "batches_create",
        json_event(
            "POST",
            "/openai/v1/batches",
            None,
            {
                "input_file_id": file_id,
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": "openai",
            },
        ),
    )
    assert status == 200, body
    batch = json.loads(body)
    assert batch["status"] == "validating" and batch["input_file_id"] == file_id
    assert app.get("/openai/v1/batches", headers=AUTH).json()["data"] == [batch]

    status, body = invoke(
        "batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]})
    )
    assert status == 200 and json.loads(body)["status"] == "in_progress"
    assert app.get(f"/openai/batches/{batch['id']}", headers=AUTH).json()["status"] == "finalizing"

    status, body = invoke(
        "batches_cancel",
        json_event("POST", "/openai/v1/batches/{batch_id}/cancel", {"batch_id": batch["id"]}, {"provider": "openai"}),
    )
    assert status == 200 and json.loads(body)["status"] == "cancelling"
    assert app.get(f"/openai/batches/{batch['id']}", headers=AUTH).json()["status"] == "cancelled"

    status, body = invoke("files_delete", rest_event("DELETE", "/openai/v1/files/{file_id}", {"file_id": file_id}))
    assert (status, json.loads(body)) == (200, {"id": file_id, "object": "file", "deleted": True})
    assert app.get(f"/openai/files/{file_id}", headers=AUTH).status_code == 404


def test_a_handler_serves_only_its_own_route(app: TestClient) -> None:
    status, body = invoke("files_list", rest_event("GET", "/openai/v1/batches"))
    assert status == 404 and json.loads(body)["error"]["code"] == "unknown_route"


# AWS API calls -> the IAM action that allows them.
IAM_ACTION = {
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "HeadObject": "s3:GetObject",
}


def granted_actions(operation: str) -> set[str]:
    from pathlib import Path

    from samtranslator.yaml_helper import yaml_parse

    template = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
    function = template["Resources"][operation.title().replace("_", "") + "Function"]
    actions: set[str] = set()
    for policy in function["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_every_aws_call_a_handler_makes_is_granted_by_the_template(app: TestClient) -> None:
    """The code's real calls, not a hand-written list, checked against each function's policy."""
    gateway = api_request._default_gateway()
    calls: list[str] = []

    def record(event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".")
        service = {"s3": "s3", "dynamodb": "dynamodb"}[service]
        calls.append(IAM_ACTION.get(operation, f"{service}:{operation}"))

    for client in (gateway.records._client, gateway.blobs._client):  # type: ignore[attr-defined]
        client.meta.events.register("before-call", record)

    def run(operation: str, event: dict[str, Any]) -> dict[str, Any]:
        calls.clear()
        status, body = invoke(operation, event)
        assert status == 200, (operation, body)
        assert calls, operation
        assert set(calls) <= granted_actions(operation), (operation, set(calls) - granted_actions(operation))
        return json.loads(body) if body.startswith(b"{") else {}

    multipart_type = f"multipart/form-data; boundary={BOUNDARY}"
    created = run(
        "files_create",
        rest_event(
            "POST", "/openai/v1/files", body=multipart({"purpose": "batch"}, JSONL), content_type=multipart_type
        ),
    )
    file_param = {"file_id": created["id"]}
    run("files_list", rest_event("GET", "/openai/v1/files", query={"limit": "1"}))
    run("files_list", rest_event("GET", "/openai/v1/files", query={"after": created["id"]}))
    run("files_retrieve", rest_event("GET", "/openai/v1/files/{file_id}", file_param))
    run("files_content", rest_event("GET", "/openai/v1/files/{file_id}/content", file_param))
    batch_body = {"input_file_id": created["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch = run("batches_create", json_event("POST", "/openai/v1/batches", None, batch_body))
    for _ in range(3):
        batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
    assert batch["status"] == "completed" and "output_file_id" in batch
    run("batches_list", rest_event("GET", "/openai/v1/batches", query={"after": batch["id"]}))
    other = run("batches_create", json_event("POST", "/openai/v1/batches", None, batch_body))
    run("batches_cancel", json_event("POST", "/openai/v1/batches/{batch_id}/cancel", {"batch_id": other["id"]}, {}))
    run("files_content", rest_event("GET", "/openai/v1/files/{file_id}/content", {"file_id": batch["output_file_id"]}))
    run("files_delete", rest_event("DELETE", "/openai/v1/files/{file_id}", file_param))
