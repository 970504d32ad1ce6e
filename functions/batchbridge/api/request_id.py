"""Every response carries ``x-request-id`` (the OpenAI SDKs expose it as ``_request_id``), errors included."""

from __future__ import annotations

import uuid
from typing import Any

HEADER = b"x-request-id"


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex  # OpenAI's shape: req_ and 32 hex digits


def _api_gateways(scope: dict[str, Any]) -> str | None:
    """In Lambda, API Gateway's own request id (Mangum passes the event), in OpenAI's shape: the one the function's
    logs carry as their correlation id, so a quoted x-request-id finds them."""
    event = scope.get("aws.event")
    context = event.get("requestContext") if isinstance(event, dict) else None
    value = context.get("requestId") if isinstance(context, dict) else None
    if not isinstance(value, str):
        return None
    digits = value.replace("-", "").lower()
    return "req_" + digits if len(digits) == 32 and all(c in "0123456789abcdef" for c in digits) else None


class RequestId:
    """ASGI middleware, outermost: it also tags the answers other middleware gives before the app runs (413, 408)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = (_api_gateways(scope) or new_request_id()).encode()
        scope.setdefault("state", {})["request_id"] = request_id.decode()

        async def tagged(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id)]}
            await send(message)

        await self.app(scope, receive, tagged)
