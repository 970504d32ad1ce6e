"""What every httpx-based adapter does with its provider's answers: timeouts, transport errors, error bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import httpx

from batchbridge.domain.errors import GatewayError

T = TypeVar("T")


def call(provider: str, send: Callable[[], T]) -> T:
    """``send()``, with a timeout as a 504 and a transport failure as a 502, both naming the provider."""
    try:
        return send()
    except httpx.TimeoutException:
        raise GatewayError(
            504, f"The {provider} provider did not answer in time.", type="upstream_error", code="provider_timeout"
        ) from None
    except httpx.TransportError as exc:
        raise GatewayError(
            502,
            f"The {provider} provider could not be reached ({type(exc).__name__}).",
            type="upstream_error",
            code="provider_unreachable",
        ) from None


def upstream_error(provider: str, response: httpx.Response) -> GatewayError:
    """The provider's error, kept: its status, and the message, type, param and code it gave."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return GatewayError(
            response.status_code,
            error["message"],
            type=str(error.get("type") or "upstream_error"),
            param=error.get("param") if isinstance(error.get("param"), str) else None,
            code=error.get("code") if isinstance(error.get("code"), str) else None,
        )
    return GatewayError(
        response.status_code,
        f"The {provider} provider answered HTTP {response.status_code}.",
        type="upstream_error",
        code="provider_error",
    )


def open_stream(provider: str, client: httpx.Client, request: httpx.Request) -> httpx.Response:
    """A streaming response with a success status (the caller closes it); an error status raises."""
    response = call(provider, lambda: client.send(request, stream=True))
    if response.is_error:
        try:
            response.read()
        finally:
            response.close()
        raise upstream_error(provider, response)
    return response


def make_client(base_url: str, timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    """The adapters' client. Built on first use (a cached property of each adapter): building one loads the
    system's CA certificates, which requests that never reach the provider should not pay for."""
    return httpx.Client(
        base_url=base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport
    )
