"""Every provider's faults, the same way: a rate limit is waited out and retried, a lasting 5xx is a 502 and a
timeout a 504 naming the provider, and what the gateway stored comes through untouched.

Reads (a batch retrieve) are what is retried: by the gateway's own policy for the HTTP providers (Retry-After
honoured), by botocore's standard retry mode for Bedrock. Mid-download resets are in each provider's tests
(test_anthropic_finalize, test_gemini, test_bedrock, test_upstream_faults for OpenAI).
"""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai import OpenAI

from batchbridge.gateway import Gateway
from tests.integration.faults.batches import create, unreliable, upload

PROVIDERS = ["openai", "anthropic", "gemini", "bedrock"]
ATTEMPTS = 3  # the gateway's for HTTP providers, botocore's standard mode for Bedrock


@pytest.fixture
def gateway_env(gateway_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS", "1")  # stalls of 1.5 s time out
    return gateway_env | {"BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS": "1"}


def started(client: OpenAI, gateway: Gateway, provider: str) -> tuple[Any, str]:
    """A created batch, and what identifies it in the provider's request paths."""
    batch = create(client, provider, upload(client, provider))
    record = gateway.records.get_batch(batch.id)
    assert record is not None and record.provider_batch_id
    return batch, record.provider_batch_id.rsplit("/", 1)[-1]


def reads(fake: Any, marker: str) -> int:
    return sum(1 for r in fake.state.fake.requests if r.method == "GET" and r.path.endswith(marker))


def inject(fake: Any, provider: str, status: int, marker: str, times: int, retry_after: str | None = None) -> None:
    if provider == "bedrock":
        code = "ThrottlingException" if status == 429 else "InternalServerException"
        fake.state.fake.inject(status, code, path_contains=marker, method="GET", times=times)
    else:
        headers = {"retry-after": retry_after} if retry_after else None
        fake.state.fake.inject(status, path_contains=marker, method="GET", times=times, headers=headers)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_rate_limited_read_is_retried(
    provider: str, client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest, no_retry_waits: list[float]
) -> None:
    fake = unreliable(request, provider)
    batch, marker = started(client, gateway, provider)
    before = reads(fake, marker)
    inject(fake, provider, 429, marker, times=1, retry_after="2")
    assert client.batches.retrieve(batch.id, extra_query={"provider": provider}).id == batch.id
    # the 429 was answered, and the retrieve still succeeded: it was retried (a batch that ended meanwhile may
    # add its finalizer's read)
    assert fake.state.fake.injections == [] and reads(fake, marker) - before >= 2
    if provider != "bedrock":  # botocore waits by its own backoff
        assert no_retry_waits == [2.0]  # the provider's Retry-After


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_lasting_5xx_is_a_502_naming_the_provider_and_harms_nothing(
    provider: str, client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    fake = unreliable(request, provider)
    batch, marker = started(client, gateway, provider)
    stored = gateway.records.get_batch(batch.id)
    before = reads(fake, marker)
    inject(fake, provider, 500, marker, times=10)
    with pytest.raises(openai.APIStatusError) as failed:
        client.batches.retrieve(batch.id, extra_query={"provider": provider})
    assert failed.value.status_code == 502
    body = failed.value.body
    assert isinstance(body, dict) and provider in body["message"].lower()
    assert reads(fake, marker) - before == ATTEMPTS
    assert gateway.records.get_batch(batch.id) == stored  # nothing half-written
    fake.state.fake.injections.clear()
    assert client.batches.retrieve(batch.id, extra_query={"provider": provider}).id == batch.id


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_timeout_is_a_504_naming_the_provider_and_harms_nothing(
    provider: str, client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    fake = unreliable(request, provider)
    batch, marker = started(client, gateway, provider)
    stored = gateway.records.get_batch(batch.id)
    # every attempt stalls: the gateway never retries a timeout itself; botocore (Bedrock) does
    fake.stall_next("GET", marker, seconds=1.5, times=10)
    with pytest.raises(openai.APIStatusError) as failed:
        client.batches.retrieve(batch.id, extra_query={"provider": provider})
    assert failed.value.status_code == 504
    body = failed.value.body
    assert isinstance(body, dict) and provider in body["message"].lower()
    assert gateway.records.get_batch(batch.id) == stored
    fake.clear()  # the stalls not used up (the gateway itself sends one)
    assert client.batches.retrieve(batch.id, extra_query={"provider": provider}).id == batch.id
