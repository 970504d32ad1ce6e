"""Errors the gateway answers with: each becomes an OpenAI-shaped error body."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error with an HTTP status and the four OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        # The OpenAI SDKs retry 408/409/429/5xx unless told not to; some of ours are final.
        self.retryable: bool | None = None
        self.retry_after_seconds: int | None = None  # when to ask again (Retry-After; the SDKs wait up to 60 s)

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def provider_status(status: int) -> int:
    """The status to answer for a provider's: its 5xx other than 502, 503 and 504 become 502 (the provider
    failed, not the gateway); anything else is kept."""
    return 502 if status >= 500 and status not in (502, 503, 504) else status


def bad_provider_response(message: str) -> GatewayError:
    """The 502 for an answer of a provider the gateway cannot read (``message`` names the provider and what is
    wrong): every ``provider_bad_response`` is built here."""
    return GatewayError(502, message, type="upstream_error", code="provider_bad_response")


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def not_found(kind: str, object_id: str, *, param: str | None = None) -> GatewayError:
    return GatewayError(404, f"No such {kind}: {object_id!r}", param=param, code="not_found")


def not_yet(message: str, *, retry_after_seconds: int, param: str | None = None, code: str) -> GatewayError:
    """A 409 the same request will get past by waiting: the SDKs retry it after Retry-After."""
    error = GatewayError(409, message, param=param, code=code)
    error.retryable = True
    error.retry_after_seconds = retry_after_seconds
    return error


def conflict(message: str) -> GatewayError:
    error = GatewayError(409, message, code="conflict")
    error.retryable = False  # the state will not change by asking again
    return error
