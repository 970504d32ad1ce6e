"""Real API Gateway REST (v1) proxy events and a Lambda context, for invoking handlers in tests."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Any


@dataclass
class LambdaContext:
    function_name: str = "batchbridge-test"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:batchbridge-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name: str = "/aws/lambda/batchbridge-test"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"
    remaining_millis: int = 29_000  # an API function's; the openai-compatible worker has 900 s

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def rest_event(
    method: str,
    resource: str,
    path_parameters: dict[str, str] | None = None,
    *,
    api_key: str = "sk-user-one",
    query: dict[str, str] | None = None,
    body: bytes | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    """The event API Gateway sends for ``method resource`` (e.g. ``/openai/v1/files/{file_id}``).

    Bodies are base64-encoded, as the REST API's ``*/*`` binary media type makes API Gateway do.
    """
    path = resource
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "User-Agent": "OpenAI/Python",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Port": "443",
    }
    if content_type:
        headers["Content-Type"] = content_type
    request_id = str(uuid.uuid4())
    return {
        "resource": resource,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {key: [value] for key, value in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {key: [value] for key, value in query.items()} if query else None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": "/v1" + path,
            "stage": "v1",
            "requestId": request_id,
            "accountId": "123456789012",
            "apiId": "abc123",
            "protocol": "HTTP/1.1",
            "identity": {"sourceIp": "203.0.113.10", "userAgent": "OpenAI/Python"},
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "requestTimeEpoch": 1_764_000_000_000,
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def json_event(method: str, resource: str, path_parameters: dict[str, str] | None, payload: Any) -> dict[str, Any]:
    return rest_event(
        method, resource, path_parameters, body=json.dumps(payload).encode(), content_type="application/json"
    )


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body") or ""
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


def drain_sqs_event(queue_url: str) -> dict[str, Any]:
    """Receive what is on the work queue and shape it as the SQS event Lambda delivers to the finalizer."""
    import boto3

    sqs = boto3.client("sqs")
    messages: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        messages += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1764000000000"},
                "messageAttributes": {},
                "md5OfBody": message["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:batchbridge-work",
                "awsRegion": "us-east-1",
            }
            for message in messages
        ]
    }
