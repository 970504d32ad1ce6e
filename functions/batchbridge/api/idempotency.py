"""Idempotent creates: a POST carrying an ``Idempotency-Key`` header replays its first result (Powertools
Idempotency, persisted in the gateway's DynamoDB table), so a client retrying after a lost answer never creates
twice. Keyed by owner, operation and key: two tenants' keys never meet. Failures are not kept, so a create that
failed can be retried with the same key. A replay must be the same request: the key with other parameters (or
another file) is a 422, as Stripe-style idempotency answers it, never the first request's result."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO, Final

from fastapi import Request

from batchbridge.api.request import blocking
from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.ports import Caller
from batchbridge.gateway import Gateway

HEADER: Final = "idempotency-key"
MAX_KEY_CHARS: Final = 255
REPLAY_SECONDS: Final = 24 * 3600


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    key = headers.get(HEADER)
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_CHARS or not key.isascii() or not key.isprintable():
        raise bad_request(
            f"Invalid Idempotency-Key header: 1 to {MAX_KEY_CHARS} printable ASCII characters.",
            param="Idempotency-Key",
            code="invalid_idempotency_key",
        )
    return key


def fingerprint(params: dict[str, Any], stream: BinaryIO | None = None) -> str:
    """What makes two requests the same: their parameters, and the bytes of the file they carry (read, then
    rewound)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":"), default=str).encode())
    if stream is not None:
        for chunk in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(chunk)
        stream.seek(0)
    return digest.hexdigest()


async def created_once(
    request: Request,
    gateway: Gateway,
    caller: Caller,
    operation: str,
    key: str | None,
    create: Callable[[], dict[str, Any]],
    params: dict[str, Any],
    stream: BinaryIO | None = None,
) -> dict[str, Any]:
    """A route's create, once per Idempotency-Key (``once``), the request told apart by its ``params`` and the file
    ``stream`` it carries; blocking work off the event loop as every route runs it."""
    request_fingerprint = await blocking(request, fingerprint, params, stream) if key is not None else ""
    lambda_context = request.scope.get("aws.context")
    return await blocking(request, once, gateway, caller, operation, key, create, lambda_context, request_fingerprint)


def once(
    gateway: Gateway,
    caller: Caller,
    operation: str,
    key: str | None,
    create: Callable[[], dict[str, Any]],
    lambda_context: Any = None,
    request_fingerprint: str = "",
) -> dict[str, Any]:
    """``create()``'s OpenAI object, or, for a key seen before with the same ``request_fingerprint``, the object its
    first success returned (another fingerprint: a 422).

    ``lambda_context`` (in Lambda): an in-progress record then expires with the invocation, so a function that
    timed out does not block its key's retries for the whole replay window."""
    if key is None:
        return create()
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config = IdempotencyConfig(
        event_key_jmespath="id", payload_validation_jmespath="request", expires_after_seconds=REPLAY_SECONDS
    )
    if lambda_context is not None:
        config.register_lambda_context(lambda_context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=gateway.idempotency_store, config=config
    )
    def run(request: dict[str, str]) -> dict[str, Any]:
        return create()

    try:
        with warnings.catch_warnings():  # outside Lambda there is no remaining time to tell it
            warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
            result: dict[str, Any] = run(
                request={"id": f"{operation}:{caller.owner}:{key}", "request": request_fingerprint}
            )
    except IdempotencyValidationError:
        error = GatewayError(
            422,
            "This Idempotency-Key was used with a different request; a retry must send the same parameters (and "
            "file). Use a new key for a new request.",
            param="Idempotency-Key",
            code="idempotency_key_reused",
        )
        error.retryable = False
        raise error from None
    except IdempotencyAlreadyInProgressError:
        raise GatewayError(
            409,
            "A request with this Idempotency-Key is still in progress; retry it shortly.",
            code="idempotency_key_in_progress",
        ) from None
    return result
