"""x-request-id: API Gateway's request id in Lambda (the logs' correlation id), a fresh one elsewhere."""

from __future__ import annotations

import asyncio
from typing import Any

from batchbridge.api.request_id import RequestId


def answered_id(scope: dict[str, Any]) -> str:
    sent: list[dict[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"spoofed")]})

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(RequestId(app)(scope, None, send))
    values = [value.decode() for name, value in sent[0]["headers"] if name == b"x-request-id"]
    assert len(values) == 1
    return values[0]


def test_in_lambda_the_id_is_api_gateways() -> None:
    event = {"requestContext": {"requestId": "C6AF9AC6-7B61-11E6-9A41-93E8DEADBEEF"}}
    assert answered_id({"type": "http", "aws.event": event}) == "req_c6af9ac67b6111e69a4193e8deadbeef"


def test_elsewhere_a_fresh_one_in_openais_shape() -> None:
    first, second = answered_id({"type": "http"}), answered_id({"type": "http", "aws.event": {"requestContext": {}}})
    assert first != second and first.startswith("req_") and len(first) == 36
    assert answered_id({"type": "http", "aws.event": {"requestContext": {"requestId": "not-a-uuid"}}}) != "not-a-uuid"
