"""Each Lambda handler, invoked with a real API Gateway REST proxy event, returns what the app returns."""

from __future__ import annotations

import fnmatch
import functools
import importlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from batchbridge import gateway as gateway_module
from batchbridge.api.app import build_app
from batchbridge.gateway import Gateway
from tests.conftest import BUCKET
from tests.integration.apigw import LambdaContext, body_of, drain_sqs_event, json_event, rest_event

JSONL = (
    b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    b'"messages": [{"role": "user", "content": "Hi"}]}}\n'
)
BOUNDARY = "----batchbridge-test-boundary"
AUTH = {"Authorization": "Bearer sk-user-one"}


def multipart(fields: dict[str, str], file: bytes, field: str = "file") -> bytes:
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="in.jsonl"\r\n'
        f"Content-Type: application/jsonl\r\n\r\n".encode()
        + file
        + b"\r\n"
    ]
    parts += [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    ]
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def upload_event(lines: bytes, **fields: str) -> dict[str, Any]:
    """A files.create event for a batch file of ``lines``, with ``fields`` (a provider, …) beside its purpose."""
    return rest_event(
        "POST",
        "/openai/v1/files",
        body=multipart({"purpose": "batch", **fields}, lines),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def part_event(upload_id: str, data: bytes) -> dict[str, Any]:
    """An uploads.parts.create event: ``data`` as the part's file field."""
    return rest_event(
        "POST",
        "/openai/v1/uploads/{upload_id}/parts",
        {"upload_id": upload_id},
        body=multipart({}, data, field="data"),
        content_type=f"multipart/form-data; boundary={BOUNDARY}",
    )


def invoke(operation: str, event: dict[str, Any]) -> tuple[int, bytes]:
    module = importlib.import_module(f"batchbridge.handlers.{operation}")
    response = module.handler(event, LambdaContext())
    return int(response["statusCode"]), body_of(response)


@pytest.fixture
def app(gateway: Gateway) -> Iterator[TestClient]:
    # The handlers build their gateway from the environment, once per process: start each test afresh.
    gateway_module.default_gateway.cache_clear()
    with TestClient(build_app(gateway=gateway)) as client:
        yield client
    gateway_module.default_gateway.cache_clear()


def test_files_create_from_a_base64_multipart_event(app: TestClient) -> None:
    status, body = invoke("files_create", upload_event(JSONL, provider="openai"))
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


def run_finalizer(queue_url: str) -> list[str]:
    """Deliver the work queue's messages to the finalizer function; the kinds of job it ran."""
    from batchbridge.handlers import finalizer

    event = drain_sqs_event(queue_url)
    response = finalizer.handler(event, LambdaContext())
    assert response == {"batchItemFailures": []}
    return [json.loads(record["body"])["kind"] for record in event["Records"]]


def test_batch_handlers_drive_the_lifecycle(app: TestClient, gateway_env: dict[str, str]) -> None:
    queue_url = os.environ["BATCHBRIDGE_WORK_QUEUE_URL"]
    file_id = app.post(
        "/openai/files", headers=AUTH, files={"file": ("in.jsonl", JSONL)}, data={"purpose": "batch"}
    ).json()["id"]
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    status, raw = invoke(
        "batches_create", json_event("POST", "/openai/v1/batches", None, body | {"provider": "openai"})
    )
    assert status == 200, raw
    batch = json.loads(raw)
    assert batch["status"] == "validating" and batch["input_file_id"] == file_id
    listed = app.get("/openai/v1/batches", headers=AUTH).json()["data"]  # a list refreshes stale batches too
    assert [(b["id"], b["status"]) for b in listed] == [(batch["id"], "in_progress")]

    def retrieve(batch_id: str) -> dict[str, Any]:
        status, raw = invoke(
            "batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch_id})
        )
        assert status == 200, raw
        result: dict[str, Any] = json.loads(raw)
        return result

    assert retrieve(batch["id"])["status"] == "finalizing"
    status, raw = invoke(
        "batches_cancel",
        json_event("POST", "/openai/v1/batches/{batch_id}/cancel", {"batch_id": batch["id"]}, {"provider": "openai"}),
    )
    assert status == 200 and json.loads(raw)["status"] == "cancelling"
    # the provider has cancelled it: cancelling until the finalizer function has run
    assert retrieve(batch["id"])["status"] == "cancelling"
    assert run_finalizer(queue_url) == ["finalize"]
    final = retrieve(batch["id"])
    assert final["status"] == "cancelled" and "output_file_id" in final  # cancelled while finalizing: results kept
    assert run_finalizer(queue_url) == ["notify"]  # no webhook configured: nothing to deliver

    # a second batch completes through the sweeper function alone, with nobody polling
    second = json.loads(invoke("batches_create", json_event("POST", "/openai/v1/batches", None, body))[1])
    from batchbridge.handlers import sweeper

    kinds: list[str] = []
    for _ in range(3):  # each sweep queues the batch's refresh, which the work queue's function runs
        assert sweeper.handler({"source": "aws.scheduler"}, LambdaContext())["swept"] == 1
        kinds += run_finalizer(queue_url)
    assert kinds == ["refresh"] * 3
    assert run_finalizer(queue_url) == ["finalize"]
    # final, with its notify job queued: still in the sweeper's index until notify has run
    assert sweeper.handler({"source": "aws.scheduler"}, LambdaContext())["swept"] == 1
    assert run_finalizer(queue_url) == ["notify"]
    assert sweeper.handler({"source": "aws.scheduler"}, LambdaContext())["swept"] == 0
    done = app.get(f"/openai/batches/{second['id']}", headers=AUTH).json()
    assert done["status"] == "completed" and done["request_counts"] == {"total": 1, "completed": 1, "failed": 0}

    status, raw = invoke("files_delete", rest_event("DELETE", "/openai/v1/files/{file_id}", {"file_id": file_id}))
    assert (status, json.loads(raw)) == (200, {"id": file_id, "object": "file", "deleted": True})
    assert app.get(f"/openai/files/{file_id}", headers=AUTH).status_code == 404


def test_a_handler_serves_only_its_own_route(app: TestClient) -> None:
    status, body = invoke("files_list", rest_event("GET", "/openai/v1/batches"))
    assert status == 404 and json.loads(body)["error"]["code"] == "unknown_route"


# AWS API calls -> the IAM action that allows them.
IAM_ACTION = {
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "CopyObject": "s3:PutObject",
    "HeadObject": "s3:GetObject",
    "ListObjectsV2": "s3:ListBucket",
}
Call = tuple[str, "str | None"]  # (IAM action, the object key it acts on in the gateway's bucket)


def iam_calls(service: str, operation: str, params: dict[str, Any]) -> list[Call]:
    """What one AWS call needs granted: its action, on the key it names (S3 objects of the gateway's bucket)."""
    action = IAM_ACTION.get(operation, f"{service}:{operation}")
    key = params.get("Key") if service == "s3" and params.get("Bucket") == BUCKET else None
    needed: list[Call] = [(action, key)]
    if service == "s3" and "Tagging" in params and operation != "PutObjectTagging":
        needed.append(("s3:PutObjectTagging", key))  # an object written with tags needs that action too
    source = params.get("CopySource")
    if isinstance(source, dict):
        needed.append(("s3:GetObject", source.get("Key") if source.get("Bucket") == BUCKET else None))
    return needed


@functools.cache
def _template() -> dict[str, Any]:
    """template.yaml, parsed once per process (its YAML is large and parsed in pure Python)."""
    from pathlib import Path

    from samtranslator.yaml_helper import yaml_parse

    parsed: dict[str, Any] = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())
    return parsed


def granted(operation: str) -> dict[str, list[str]]:
    """The template's grants of a function: IAM action -> what it is granted on (a key pattern for objects of the
    gateway's bucket, ``*`` for any other resource)."""


    template = _template()
    function = template["Resources"][operation.title().replace("_", "") + "Function"]  # sweeper: SweeperFunction
    grants: dict[str, list[str]] = {}
    for policy in function["Properties"]["Policies"]:
        for statement in policy["Statement"]:
            actions, resources = statement["Action"], statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for resource in resources if isinstance(resources, list) else [resources]:
                    sub = resource.get("Fn::Sub", "") if isinstance(resource, dict) else ""
                    pattern = sub.removeprefix("${Bucket.Arn}/") if sub.startswith("${Bucket.Arn}/") else "*"
                    grants.setdefault(action, []).append(pattern)
    return grants


def test_every_aws_call_a_handler_makes_is_granted_by_the_template(
    app: TestClient, monkeypatch: pytest.MonkeyPatch, fake_bedrock: tuple[Any, str], fake_compat: tuple[Any, str]
) -> None:
    """The code's real calls, not a hand-written list, checked against each function's policy: every action, and
    for objects of the gateway's bucket every key, is one the function is granted."""
    import boto3

    from batchbridge.handlers import finalizer, sweeper

    calls: list[Call] = []

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        _, service, operation = event_name.split(".")
        calls.extend(iam_calls(service, operation, params))

    monkeypatch.setenv("BATCHBRIDGE_BEDROCK_MIN_RECORDS", "1")
    # The fake Bedrock reads and writes S3 as Bedrock would: not the gateway's calls, so its own session.
    fake_bedrock[0].state.fake.s3_client_factory = lambda: boto3.session.Session().client("s3")
    compat_queue = boto3.client("sqs").create_queue(
        QueueName="batchbridge-walk.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_QUEUE_URL", compat_queue)
    monkeypatch.setenv("BATCHBRIDGE_COMPAT_STALL_SECONDS", "0.2")
    # Every client made from here on (the handlers' gateway is built afresh) reports its calls.
    events = boto3._get_default_session().events
    events.register("before-parameter-build", record)
    try:
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps({"vllm": {"base_url": fake_compat[1]}}))
        _walk_every_function(calls, finalizer.handler, sweeper.handler)
    finally:
        events.unregister("before-parameter-build", record)


def test_a_call_outside_a_functions_grants_is_caught() -> None:
    """The check above can fail: a delete under another prefix, or an action not granted, is refused."""
    grants = granted("files_delete")
    assert not _allowed(grants, ("s3:DeleteObject", "uploads/upload_x/part_y"))
    assert not _allowed(grants, ("s3:PutObject", "files/file-x"))
    assert _allowed(grants, ("s3:DeleteObject", "files/file-x"))


def _allowed(grants: dict[str, list[str]], call: Call) -> bool:
    action, key = call
    patterns = grants.get(action, [])
    return bool(patterns) and (key is None or any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns))


def _walk_every_function(calls: list[Call], finalizer: Any, sweeper: Any) -> None:
    def check(operation: str) -> None:
        assert calls, operation
        grants = granted(operation)
        refused = {call for call in calls if not _allowed(grants, call)}
        assert not refused, (operation, refused)

    def run(operation: str, event: dict[str, Any]) -> dict[str, Any]:
        calls.clear()
        status, body = invoke(operation, event)
        assert status == 200, (operation, body)
        check(operation)
        return json.loads(body) if body.startswith(b"{") else {}

    def background(name: str, handler: Any, event: dict[str, Any]) -> None:
        calls.clear()
        response = handler(event, LambdaContext(remaining_millis=900_000))
        assert response != {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event.get("Records", [])]}
        check(name)

    def provider_leg(provider: str, lines: bytes, polls: int) -> None:
        """A file and a batch of ``provider`` through every function: ``polls`` retrieves bring it to finalizing,
        the finalizer completes it; another batch is cancelled, the file deleted."""
        uploaded = run("files_create", upload_event(lines, provider=provider))
        body = {
            "input_file_id": uploaded["id"],
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "provider": provider,
        }
        batch = run("batches_create", json_event("POST", "/openai/v1/batches", None, body))
        for _ in range(polls):
            batch = run(
                "batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]})
            )
        assert batch["status"] == "finalizing"
        background("finalizer", finalizer, drain_sqs_event(os.environ["BATCHBRIDGE_WORK_QUEUE_URL"]))
        batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
        assert batch["status"] == "completed" and batch["request_counts"]["completed"] == 1
        other = run("batches_create", json_event("POST", "/openai/v1/batches", None, body))
        run("batches_cancel", json_event("POST", "/openai/v1/batches/{batch_id}/cancel", {"batch_id": other["id"]}, {}))
        run("files_delete", rest_event("DELETE", "/openai/v1/files/{file_id}", {"file_id": uploaded["id"]}))

    queue_url = os.environ["BATCHBRIDGE_WORK_QUEUE_URL"]
    created = run("files_create", upload_event(JSONL))
    file_param = {"file_id": created["id"]}
    run("files_list", rest_event("GET", "/openai/v1/files", query={"limit": "1"}))
    run("files_list", rest_event("GET", "/openai/v1/files", query={"after": created["id"]}))
    run("files_retrieve", rest_event("GET", "/openai/v1/files/{file_id}", file_param))
    run("files_content", rest_event("GET", "/openai/v1/files/{file_id}/content", file_param))
    batch_body = {"input_file_id": created["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch = run("batches_create", json_event("POST", "/openai/v1/batches", None, batch_body))
    batch_param = {"batch_id": batch["id"]}
    run("batches_list", rest_event("GET", "/openai/v1/batches", query={"limit": "5"}))  # refreshes: in_progress
    background("sweeper", sweeper, {"source": "aws.scheduler"})  # its refresh queued ...
    background("finalizer", finalizer, drain_sqs_event(queue_url))  # ... and run: finalizing
    for _ in range(2):
        batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", batch_param))
    assert batch["status"] == "finalizing"
    background("finalizer", finalizer, drain_sqs_event(queue_url))
    batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", batch_param))
    assert batch["status"] == "completed" and "output_file_id" in batch
    run("batches_list", rest_event("GET", "/openai/v1/batches", query={"after": batch["id"]}))
    other = run("batches_create", json_event("POST", "/openai/v1/batches", None, batch_body))
    run("batches_cancel", json_event("POST", "/openai/v1/batches/{batch_id}/cancel", {"batch_id": other["id"]}, {}))
    run("files_content", rest_event("GET", "/openai/v1/files/{file_id}/content", {"file_id": batch["output_file_id"]}))
    run("files_delete", rest_event("DELETE", "/openai/v1/files/{file_id}", file_param))

    # Anthropic, file-based, with a custom_id it cannot take: input read from S3, results converted into S3
    remapped = JSONL.replace(b'"custom_id": "a"', b'"custom_id": "a b"')
    uploaded = remapped_file = run("files_create", upload_event(remapped, provider="anthropic"))
    anthropic_body = batch_body | {"input_file_id": uploaded["id"], "provider": "anthropic"}
    batch = run("batches_create", json_event("POST", "/openai/v1/batches", None, anthropic_body))
    batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
    assert batch["status"] == "finalizing"
    background("finalizer", finalizer, drain_sqs_event(queue_url))
    batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
    assert batch["status"] == "completed"
    output = run(
        "files_content", rest_event("GET", "/openai/v1/files/{file_id}/content", {"file_id": batch["output_file_id"]})
    )
    assert output["custom_id"] == "a b"  # restored after Anthropic ran it under another id

    # Bedrock: staged into S3, a model invocation job (passing the role), results listed and read from S3
    bedrock_lines = JSONL.replace(b"gpt-4o-mini", b"anthropic.claude-3-haiku-20240307-v1:0")
    provider_leg("bedrock", bedrock_lines, polls=4)

    # Gemini: the converted file goes up with the resumable protocol, results come back from its responses file
    gemini_lines = JSONL.replace(b"gpt-4o-mini", b"gemini-2.5-flash")
    provider_leg("gemini", gemini_lines, polls=2)

    # Uploads: parts into S3, assembled (multipart) into a Bedrock file staged from the bucket; another cancelled
    upload_body = {"filename": "in.jsonl", "purpose": "batch", "bytes": len(bedrock_lines), "mime_type": "text/jsonl"}
    upload = run(
        "uploads_create", json_event("POST", "/openai/v1/uploads", None, upload_body | {"provider": "bedrock"})
    )
    part = run("uploads_add_part", part_event(upload["id"], bedrock_lines))
    done = run(
        "uploads_complete",
        json_event(
            "POST", "/openai/v1/uploads/{upload_id}/complete", {"upload_id": upload["id"]}, {"part_ids": [part["id"]]}
        ),
    )
    assert done["status"] == "completed" and done["file"]["bytes"] == len(bedrock_lines)
    other = run("uploads_create", json_event("POST", "/openai/v1/uploads", None, upload_body))
    run("uploads_cancel", json_event("POST", "/openai/v1/uploads/{upload_id}/cancel", {"upload_id": other["id"]}, {}))

    # Idempotent creates: Powertools' replay records in the table (the second answer is the first's)
    def idempotent(event: dict[str, Any]) -> dict[str, Any]:
        for headers in ("headers", "multiValueHeaders"):
            event[headers]["Idempotency-Key"] = "walk-1" if headers == "headers" else ["walk-1"]
        return event

    repeated = upload_event(JSONL)
    first = run("files_create", idempotent(repeated))
    assert run("files_create", idempotent(repeated))["id"] == first["id"]

    # openai-compatible: the input copied and planned, a chunk run by the worker function, the results made files
    # and the batch's working copies (answers, plan, input copy) removed by the finalizer
    uploaded = run("files_create", upload_event(JSONL, provider="openai-compatible"))
    compat_body = batch_body | {"input_file_id": uploaded["id"], "provider": "openai-compatible"}
    batch = run("batches_create", json_event("POST", "/openai/v1/batches", None, compat_body))
    from batchbridge.handlers import executor_worker

    time.sleep(0.3)  # its first chunk not run for a while (BATCHBRIDGE_COMPAT_STALL_SECONDS): the sweep queues it again
    background("sweeper", sweeper, {"source": "aws.scheduler"})
    background("finalizer", finalizer, drain_sqs_event(queue_url))  # the batch's refresh mends its chain
    chunks = drain_sqs_event(os.environ["BATCHBRIDGE_COMPAT_QUEUE_URL"])
    assert len(chunks["Records"]) == 2
    background("compat_worker", executor_worker.handler, chunks)  # (its function: CompatWorkerFunction)
    batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
    assert batch["status"] == "finalizing"
    background("finalizer", finalizer, drain_sqs_event(queue_url))
    batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
    assert batch["status"] == "completed" and batch["request_counts"]["completed"] == 1

    # Large batches' submissions (submit_batch, in the finalizer function): openai-compatible's input copied and
    # planned there, Anthropic's converted and sent there (a bound of 1 byte makes these files large)
    from batchbridge.domain.services import batches as batches_module

    bound, batches_module.SYNC_CREATE_MAX_BYTES = batches_module.SYNC_CREATE_MAX_BYTES, 1
    try:
        pending = [
            run("batches_create", json_event("POST", "/openai/v1/batches", None, body))
            for body in (compat_body, anthropic_body | {"input_file_id": remapped_file["id"]})
        ]
    finally:
        batches_module.SYNC_CREATE_MAX_BYTES = bound
    assert [batch["status"] for batch in pending] == ["validating", "validating"]
    background("finalizer", finalizer, drain_sqs_event(queue_url))
    for batch in pending:
        batch = run("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", {"batch_id": batch["id"]}))
        assert batch["status"] in ("in_progress", "finalizing"), batch


def test_openai_compatible_batches_through_their_lambda_functions(
    app: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """batches_create queues a chunk on the compat queue; the worker function runs it; the finalizer makes the
    results ours; a chunk dead-lettered to the other function becomes error lines."""
    import boto3

    from batchbridge.handlers import executor_dead_letters, executor_worker
    from tests.fakes.compat_upstream import create_app as create_fake_compat
    from tests.fakes.server import running_server

    compat_queue = boto3.client("sqs").create_queue(
        QueueName="batchbridge-compat.fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]  # FIFO, as the template deploys it: one message group per batch
    with running_server(create_fake_compat()) as base:
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_QUEUE_URL", compat_queue)
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps({"vllm": {"base_url": base + "/v1"}}))
        gateway_module.default_gateway.cache_clear()
        lines = JSONL + JSONL.replace(b'"custom_id": "a"', b'"custom_id": "b"')

        def create_batch() -> str:
            status, raw = invoke("files_create", upload_event(lines, provider="openai-compatible"))
            assert status == 200, raw
            body = {
                "input_file_id": json.loads(raw)["id"],
                "endpoint": "/v1/chat/completions",
                "completion_window": "24h",
                "provider": "openai-compatible",
            }
            status, raw = invoke("batches_create", json_event("POST", "/openai/v1/batches", None, body))
            assert status == 200, raw
            batch_id: str = json.loads(raw)["id"]
            return batch_id

        def finished(batch_id: str) -> dict[str, Any]:
            path = {"batch_id": batch_id}
            invoke("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", path))  # -> finalizing
            run_finalizer(os.environ["BATCHBRIDGE_WORK_QUEUE_URL"])
            status, raw = invoke("batches_retrieve", rest_event("GET", "/openai/v1/batches/{batch_id}", path))
            assert status == 200, raw
            result: dict[str, Any] = json.loads(raw)
            return result

        ran = create_batch()
        event = drain_sqs_event(compat_queue)
        assert [json.loads(r["body"]) for r in event["Records"]] == [{"kind": "chunk", "batch_id": f"{ran}#0"}]
        assert executor_worker.handler(event, LambdaContext(remaining_millis=900_000)) == {"batchItemFailures": []}
        done = finished(ran)
        assert done["status"] == "completed" and done["request_counts"] == {"total": 2, "completed": 2, "failed": 0}

        dead = create_batch()
        dead_letters = drain_sqs_event(compat_queue)
        assert executor_dead_letters.handler(dead_letters, LambdaContext()) == {"batchItemFailures": []}
        failed = finished(dead)
        assert failed["status"] == "completed" and failed["request_counts"]["failed"] == 2
        errors = app.get(f"/openai/v1/files/{failed['error_file_id']}/content", headers=AUTH).content.splitlines()
        assert sorted(json.loads(line)["custom_id"] for line in errors) == ["a", "b"]
    gateway_module.default_gateway.cache_clear()
