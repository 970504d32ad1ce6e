"""X-Ray in Lambda: a sampled invocation sends its handler's and every provider and storage call's subsegments to
the X-Ray daemon; an unsampled one sends nothing and loads no tracing SDK; the cold start loads none either."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from batchbridge.store.schema import ensure_bucket, ensure_table
from tests.integration.processes import clean_env, moto_server

ROOT = Path(__file__).resolve().parents[2]
SAMPLED = "Root=1-6750a1b2-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"
UNSAMPLED = "Root=1-6750a1b3-76543210fedcba9876543210;Parent=53995c3f42cd8ad9;Sampled=0"

SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import batchbridge.handlers.files_create as entry
    from tests.integration.apigw import LambdaContext
    from tests.integration.test_handlers import upload_event

    LINE = (b'{"custom_id": "a", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
            b'"messages": [{"role": "user", "content": "Hi"}]}}\\n')
    seen = {"at_start": "aws_xray_sdk" in sys.modules}

    def invoke(trace_header):
        os.environ["_X_AMZN_TRACE_ID"] = trace_header  # as Lambda's runtime sets it for each invocation
        event = upload_event(LINE, provider="openai")
        event["headers"]["Authorization"] = event["multiValueHeaders"]["Authorization"][0] = "Bearer sk-gateway"
        return entry.handler(event, LambdaContext())["statusCode"]

    seen["unsampled_status"] = invoke(sys.argv[2])
    seen["after_unsampled"] = "aws_xray_sdk" in sys.modules
    seen["sampled_status"] = invoke(sys.argv[1])
    seen["after_sampled"] = "aws_xray_sdk" in sys.modules
    seen["unsampled_again_status"] = invoke(sys.argv[2])
    seen["httpx_patched"] = "aws_xray_sdk.ext.httpx" in sys.modules or "aws_xray_sdk.ext.botocore" in sys.modules
    print(json.dumps(seen))
    """
)


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A stand-in X-Ray daemon: the UDP socket the SDK sends segments to."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[dict[str, Any]]:
    documents = []
    while True:
        try:
            packet = sock.recv(65536)
        except TimeoutError:
            return documents
        header, _, body = packet.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


def test_sampled_invocations_trace_provider_and_storage_calls(
    tmp_path: Path, daemon: socket.socket, fake_openai: tuple[Any, str]
) -> None:
    with moto_server(tmp_path / "moto.log") as aws_url:
        aws = {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
        ensure_table(session.client("dynamodb", endpoint_url=aws_url), "traced")
        ensure_bucket(session.client("s3", endpoint_url=aws_url), "traced")
        queue_url = session.client("sqs", endpoint_url=aws_url).create_queue(QueueName="traced")["QueueUrl"]
        env = clean_env(
            **aws,
            PYTHONPATH=f"{ROOT / 'functions'}:{ROOT}",
            AWS_LAMBDA_FUNCTION_NAME="batchbridge-files-create",
            LAMBDA_TASK_ROOT=str(ROOT / "functions"),
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{daemon.getsockname()[1]}",
            POWERTOOLS_SERVICE_NAME="batchbridge",
            BATCHBRIDGE_STORAGE="aws",
            BATCHBRIDGE_TABLE="traced",
            BATCHBRIDGE_BUCKET="traced",
            BATCHBRIDGE_WORK_QUEUE_URL=queue_url,
            BATCHBRIDGE_OWNER_SECRET="traced-owner-secret-0123456789abcdef",
            BATCHBRIDGE_API_KEYS="sk-gateway",
            BATCHBRIDGE_OPENAI_BASE_URL=fake_openai[1],
            OPENAI_API_KEY="sk-upstream",
        )
        run = subprocess.run(
            [sys.executable, "-c", SCRIPT, SAMPLED, UNSAMPLED],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["unsampled_status"] == seen["sampled_status"] == seen["unsampled_again_status"] == 200
    # nothing loaded until an invocation is sampled; libraries are never patched
    assert seen == seen | {"at_start": False, "after_unsampled": False, "after_sampled": True, "httpx_patched": False}

    documents = received(daemon)
    assert documents, "no segment reached the daemon"
    assert {document["trace_id"] for document in documents} == {SAMPLED.split(";")[0].removeprefix("Root=")}
    names = {document["name"] for document in documents}
    assert "## files_create" in names
    assert {"openai.upload_file", "records.put_file", "blobs.put"} <= names, names
    handler_segment = next(document for document in documents if document["name"] == "## files_create")
    assert handler_segment["annotations"] == {"ColdStart": False, "Service": "batchbridge"}
    assert "metadata" not in handler_segment  # no response (users' data) recorded
