"""Every error leaves as an OpenAI-shaped body: never a stack trace."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from batchbridge.domain.errors import GatewayError

logger = logging.getLogger(__name__)


def error_response(error: GatewayError) -> JSONResponse:
    headers = {} if error.retryable is None else {"x-should-retry": "true" if error.retryable else "false"}
    if error.retry_after_seconds is not None:
        headers["retry-after"] = str(error.retry_after_seconds)
    return JSONResponse(error.body(), status_code=error.status, headers=headers or None)


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    if exc.status >= 500:
        logger.warning("request failed: %s %s", exc.status, exc.message)
    return error_response(exc)


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    message = exc.detail if isinstance(exc.detail, str) else "Invalid request."
    if exc.status_code == 404:
        message = (
            "Unknown route. The gateway serves /openai/v1/files, /openai/v1/batches and /openai/v1/uploads (also "
            "under /openai), as OpenAI's Files, Batch and Uploads APIs."
        )
    code = {404: "unknown_route", 405: "method_not_allowed"}.get(exc.status_code)
    return error_response(GatewayError(exc.status_code, message, code=code))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    param = ".".join(location) or None
    return error_response(GatewayError(400, f"Invalid '{param}': {first.get('msg', 'invalid value')}.", param=param))


async def _storage_error(_: Request, exc: Exception) -> JSONResponse:
    # The gateway's own DynamoDB or S3 failed (provider calls map their errors themselves): the request may be
    # tried again, and nothing stored is half-written (intents and versioned writes see to that).
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") == "ValidationException":
        # DynamoDB refused what the request would store (an item over 400 KB, say): asking again cannot help.
        logger.warning("storage refused a request's values: %s", exc)
        return error_response(
            GatewayError(
                400,
                "The request holds more than the gateway can store with it; send smaller parameters.",
                code="request_unstorable",
            )
        )
    logger.exception("storage call failed")
    return error_response(
        GatewayError(
            503, "The gateway's storage did not answer; try again.", type="server_error", code="storage_unavailable"
        )
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.exception("unexpected error")
    return error_response(GatewayError(500, "The gateway hit an unexpected error.", type="server_error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(BotoCoreError, _storage_error)
    app.add_exception_handler(ClientError, _storage_error)
    app.add_exception_handler(Exception, _unexpected)
