"""OpenAI-style webhook events, signed the way OpenAI signs them (Standard Webhooks)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Final

EVENT_TYPES: Final = {
    "completed": "batch.completed",
    "failed": "batch.failed",
    "expired": "batch.expired",
    "cancelled": "batch.cancelled",
}
SECRET_PREFIX: Final = "whsec_"
MIN_SECRET_BYTES: Final = 24


def event_id(batch_id: str, status: str) -> str:
    """Stable per batch and outcome: a redelivery carries the same ``webhook-id``, so receivers can dedupe."""
    return "evt_" + hashlib.sha256(f"{batch_id}:{status}".encode()).hexdigest()[:32]


def event_body(batch_id: str, status: str, created_at: int) -> bytes:
    event = {
        "id": event_id(batch_id, status),
        "object": "event",
        "created_at": created_at,
        "type": EVENT_TYPES[status],
        "data": {"id": batch_id},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def secret_key(secret: str) -> bytes:
    """The signing key of a ``whsec_…`` secret: the base64 after the prefix, as OpenAI's SDK reads it."""
    problem = "BATCHBRIDGE_WEBHOOK_SECRET must look like 'whsec_<base64 of 24 or more bytes>'"
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(problem)
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        raise ValueError(problem) from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(problem)
    return key


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signed = f"{message_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": f"v1,{signature}",
        "content-type": "application/json",
    }
