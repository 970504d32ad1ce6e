"""Creating batches straight through the gateway's services, for tests of the background jobs."""

from __future__ import annotations

import io

from batchbridge.domain.records import BatchRecord
from batchbridge.domain.services.files import Caller
from batchbridge.gateway import Gateway


def batch_from_jsonl(gateway: Gateway, provider: str, content: bytes, api_key: str) -> tuple[Caller, BatchRecord]:
    """Upload ``content`` as a batch file for ``provider`` and create a chat batch from it."""
    caller = gateway.caller({"authorization": f"Bearer {api_key}"})
    uploaded = gateway.files.create(
        caller,
        provider,
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )
    batch = gateway.batches.create(
        caller,
        provider,
        {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    return caller, batch
