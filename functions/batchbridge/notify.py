"""Webhook deliveries over httpx (the edge side of ``domain.services.jobs.BatchJobs.notify``)."""

from __future__ import annotations

import httpx


class HttpxWebhookSender:
    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        return self._client.post(url, content=body, headers=headers).status_code
