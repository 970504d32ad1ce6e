"""How every httpx-based adapter reaches its provider: the client, timeouts, transport errors, the retry policy.

What a provider's answers mean (error bodies, JSON objects, pages) is ``upstream``'s."""

from __future__ import annotations

import email.utils
import os
import random
import ssl
import time
from collections.abc import Callable
from typing import Final, TypeVar

import httpx

from batchbridge.domain.errors import GatewayError

T = TypeVar("T")


RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
ATTEMPTS: Final = 3  # a request and two retries
FIRST_BACKOFF_SECONDS: Final = 0.5
MAX_WAIT_SECONDS: Final = 5.0  # a Retry-After beyond this is not waited for (API Gateway gives a request 29 s)
sleep: Callable[[float], None] = time.sleep  # tests replace it


def retry_after(response: httpx.Response) -> float | None:
    """The wait the provider asks for, in seconds (``retry-after-ms``, or ``retry-after`` as seconds or an HTTP
    date; never negative); None when it asks none, or in a form that does not parse."""
    try:
        header = response.headers.get("retry-after-ms")
        if header is not None:
            return max(0.0, float(header) / 1000)
        raw = response.headers.get("retry-after")
        if raw is None:
            return None
        raw = raw.strip()
        if raw.replace(".", "", 1).isdigit():
            return float(raw)
        return max(0.0, email.utils.parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return None


def retry_delay(attempt: int, response: httpx.Response | None) -> float | None:
    """Seconds to wait before the next attempt: the provider's Retry-After when it gives one (None when that is
    too long to wait for), else exponential backoff with full jitter."""
    seconds = retry_after(response) if response is not None else None
    if seconds is not None:
        return seconds if seconds <= MAX_WAIT_SECONDS else None
    return random.uniform(0, FIRST_BACKOFF_SECONDS * 2**attempt)


def call(provider: str, send: Callable[[], T], *, retry: bool = False) -> T:
    """``send()``, with a timeout as a 504 and a transport failure as a 502, both naming the provider.

    ``retry``: the call is safe to repeat (reads, deletes, cancels), so a 429 or 5xx answer or a connection
    failure is retried with jittered backoff, honouring Retry-After; the last answer stands.
    """
    for attempt in range(ATTEMPTS):
        last = attempt == ATTEMPTS - 1 or not retry
        try:
            result = send()
        except httpx.TimeoutException:
            # Not retried: another full timeout would outlast API Gateway's 29 s.
            raise GatewayError(
                504, f"The {provider} provider did not answer in time.", type="upstream_error", code="provider_timeout"
            ) from None
        except httpx.TransportError as exc:
            if last:
                raise GatewayError(
                    502,
                    f"The {provider} provider could not be reached{_tried(exc)} ({type(exc).__name__}).",
                    type="upstream_error",
                    code="provider_unreachable",
                ) from None
            sleep(retry_delay(attempt, None) or 0.0)
            continue
        if not last and isinstance(result, httpx.Response) and result.status_code in RETRY_STATUSES:
            delay = retry_delay(attempt, result)
            if delay is not None:
                result.close()
                sleep(delay)
                continue
        return result
    raise AssertionError("unreachable")


def _tried(exc: httpx.TransportError) -> str:
    """Where the call went (no query, no credentials): an operator sees at once a base URL that is wrong."""
    try:
        url = exc.request.url
    except RuntimeError:  # raised before a request was built
        return ""
    return f" at {url.copy_with(query=None, fragment=None, userinfo=b'')}"


def make_client(base_url: str, timeout: float, transport: httpx.BaseTransport | None) -> httpx.Client:
    """The adapters' client. Built on first use (``Upstream.client``, a cached property): building one for HTTPS
    loads CA certificates, which requests that never reach the provider should not pay for."""
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        transport=transport,
        verify=tls_context(base_url),
    )


def tls_context(base_url: str) -> ssl.SSLContext | bool:
    """The system's trust store when it has one (the Lambda runtime does; about half the cost of loading
    certifi's bundle on a cold start), else httpx's default (certifi).

    A plain-HTTP endpoint (a local vLLM, a test double) gets a context that trusts nothing instead of the
    store: nothing to load, and an absolute HTTPS URL it hands out still fails closed, never unverified.
    """
    if base_url.startswith("http://"):
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return ssl.create_default_context()
    return True
