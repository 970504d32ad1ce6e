"""The request size a Lambda function behind API Gateway can receive, enforced the same way everywhere."""

from __future__ import annotations

from typing import Final

from fastapi import Request

from batchbridge.domain.errors import GatewayError

# Lambda takes a 6 MB event; API Gateway base64-encodes binary bodies (x 4/3), and headers ride along.
MAX_REQUEST_BODY_BYTES: Final = 4_600_000
PART_SIZE_HINT: Final = "4 * 1024 * 1024"


def too_large(what: str, size: int) -> GatewayError:
    return GatewayError(
        413,
        f"{what} of {size} bytes is over the {MAX_REQUEST_BODY_BYTES} bytes one request to this gateway can carry "
        "(the AWS Lambda payload limit). Send larger files with the Uploads API in parts of 4 MiB: "
        f"client.uploads.upload_file_chunked(file=..., mime_type=..., purpose=..., part_size={PART_SIZE_HINT}).",
        param="file",
        code="request_too_large",
    )


def check_body_size(request: Request, *, what: str) -> None:
    """413 before reading a body whose declared length is over the limit."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_REQUEST_BODY_BYTES:
        raise too_large(what, int(declared))
