"""How much of a request the gateway reads: the bytes a Lambda function behind API Gateway can receive, enforced the
same way everywhere, on the bytes actually read (a chunked body declares no length), within a time limit.

``BodyLimit`` wraps the app's ``receive``: past a route's cap the request is answered 413 and nothing more of its
body is read, so the process never holds more than the cap (and one chunk) of any request.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Final

from batchbridge.domain.errors import GatewayError

# Lambda takes a 6 MB event; API Gateway base64-encodes binary bodies (x 4/3), and headers ride along.
MAX_REQUEST_BODY_BYTES: Final = 4_600_000
JSON_BODY_BYTES: Final = 1024 * 1024  # batches.create, uploads.create/complete, cancels: parameters, not files
PART_SIZE_HINT: Final = "4 * 1024 * 1024"
# Routes that take a file in a multipart body: the Lambda limit; every other route: JSON_BODY_BYTES.
FILE_ROUTES: Final = (
    (re.compile(r"^/openai(/v1)?/files/?\Z"), "A files.create request"),
    (re.compile(r"^/openai(/v1)?/uploads/[^/]+/parts/?\Z"), "An upload part request"),
)

Scope = dict[str, Any]
Message = dict[str, Any]


def too_large(what: str, size: int) -> GatewayError:
    return GatewayError(
        413,
        f"{what} of {size} bytes is over the {MAX_REQUEST_BODY_BYTES} bytes one request to this gateway can carry "
        "(the AWS Lambda payload limit). Send larger files with the Uploads API in parts of 4 MiB: "
        f"client.uploads.upload_file_chunked(file=..., mime_type=..., purpose=..., part_size={PART_SIZE_HINT}).",
        param="file",
        code="request_too_large",
    )


def body_cap(method: str, path: str) -> tuple[int, str | None]:
    """The most bytes a request's body may hold, and (for the file routes) what to call it in a 413."""
    if method == "POST":
        for route, what in FILE_ROUTES:
            if route.match(path):
                return MAX_REQUEST_BODY_BYTES, what
    return JSON_BODY_BYTES, None


def over_cap(cap: int, what: str | None, size: int) -> GatewayError:
    if what is not None:
        return too_large(what, size)
    return GatewayError(
        413,
        f"The request body is over {cap} bytes, the most a request of this kind may carry: its parameters belong "
        "in it, files in files.create or the Uploads API.",
        code="request_too_large",
    )


class BodyLimit:
    """ASGI middleware: each request's body is capped (``body_cap``) and, with ``timeout_seconds``, must arrive
    within that long of the request's head (a connection trickling a body is answered 408 and dropped)."""

    def __init__(self, app: Any, timeout_seconds: float | None = None) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap, what = body_cap(scope["method"], scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await _answer(over_cap(cap, what, declared), scope, send)
            return
        deadline = None if self.timeout_seconds is None else time.monotonic() + self.timeout_seconds
        received = 0
        finished = False

        async def limited() -> Message:
            nonlocal received, finished
            if finished:  # the body is read: what follows (a disconnect) may take as long as it takes
                message: Message = await receive()
                return message
            if deadline is None:
                message = await receive()
            else:
                try:
                    message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
                except TimeoutError:
                    raise GatewayError(
                        408,
                        f"The request body did not arrive within {self.timeout_seconds:g} seconds.",
                        code="request_timeout",
                    ) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap:
                    raise over_cap(cap, what, received)
                finished = not message.get("more_body", False)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _answer(error: GatewayError, scope: Scope, send: Any) -> None:
    from batchbridge.api.errors import error_response

    async def nothing() -> Message:
        return {"type": "http.disconnect"}

    await error_response(error)(scope, nothing, send)
