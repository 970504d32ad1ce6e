"""Our webhook events are what OpenAI's SDK expects: it verifies and parses each of the four."""

from __future__ import annotations

import base64

import pytest
from openai import InvalidWebhookSignatureError, OpenAI

from batchbridge.domain import webhooks

SECRET = "whsec_" + base64.b64encode(b"a-secret-of-thirty-two-bytes!!!!").decode()


@pytest.mark.parametrize("status", ["completed", "failed", "expired", "cancelled"])
def test_the_openai_sdk_unwraps_every_batch_event(status: str) -> None:
    body = webhooks.event_body("batch_0123", status, 1_764_000_000)
    headers = webhooks.signed_headers(SECRET, webhooks.event_id("batch_0123", status), 1_764_000_000, body)
    client = OpenAI(api_key="unused")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("time.time", lambda: 1_764_000_100)  # within the SDK's timestamp tolerance
        event = client.webhooks.unwrap(body.decode(), headers, secret=SECRET)
        assert event.type == f"batch.{status}" and event.data.id == "batch_0123"
        assert event.id == webhooks.event_id("batch_0123", status) and event.created_at == 1_764_000_000
        tampered = body.replace(b"batch_0123", b"batch_9999")
        with pytest.raises(InvalidWebhookSignatureError):
            client.webhooks.unwrap(tampered.decode(), headers, secret=SECRET)


@pytest.mark.parametrize(
    "secret", ["", "whsec_", "not-prefixed", "whsec_!!!", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_unusable_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_"):
        webhooks.secret_key(secret)


def test_event_ids_are_stable_per_batch_and_status() -> None:
    assert webhooks.event_id("batch_1", "completed") == webhooks.event_id("batch_1", "completed")
    assert webhooks.event_id("batch_1", "completed") != webhooks.event_id("batch_1", "cancelled")
