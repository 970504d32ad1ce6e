"""Creates whose answer never reaches our record leave no orphaned, invisible batch.

A create records its intent before calling the provider. When the provider's answer is lost (the request was
handled, the connection dropped), or our write after it fails, the reconcile job finds the provider's batch by
the gateway ID it carries there (OpenAI metadata, Gemini displayName, Bedrock job name) and makes it the batch its
owner sees; a refused create leaves nothing; an intent nothing turns up for is dropped in the end.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import openai
import pytest
from botocore.exceptions import ReadTimeoutError
from openai import OpenAI

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.services.batch_writes import RECONCILE_AFTER_SECONDS
from batchbridge.domain.services.jobs import RECONCILE_GIVE_UP_SECONDS
from batchbridge.gateway import Gateway
from tests.contract.openai_schema import assert_valid
from tests.integration.faults.batches import CREATE_PATHS, KEY, create, unreliable, upload
from tests.integration.helpers import sweep_sends


def intents(gateway: Gateway) -> list[BatchRecord]:
    return [record for record in gateway.records.list_active_batches() if record.creating]


def later(gateway: Gateway, seconds: int) -> Any:
    """The gateway's background jobs, ``seconds`` on: every intent is made that much older (the clock stays,
    so what they store is stamped with the real time)."""
    for intent in intents(gateway):
        aged = dataclasses.replace(
            intent,
            created_at=intent.created_at - seconds,
            created_ns=intent.created_ns - seconds * 1_000_000_000,
            version=intent.version + 1,
        )
        assert gateway.records.update_batch(aged)
    return gateway.jobs


def lost_create(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest, provider: str, **kwargs: Any
) -> tuple[BatchRecord, openai.APIStatusError]:
    """A create the provider carried out but whose answer was cut off: the intent it left, and the client's error."""
    file_id = upload(client, provider)
    unreliable(request, provider).lose_next("POST", CREATE_PATHS[provider])
    with pytest.raises(openai.APIStatusError) as failed:
        create(client, provider, file_id, **kwargs)
    (intent,) = intents(gateway)
    return intent, failed.value


def listed(client: OpenAI, provider: str) -> list[Any]:
    return client.batches.list(extra_query={"provider": provider}).data


@pytest.mark.parametrize("provider", ["openai", "gemini", "bedrock"])
def test_a_lost_create_answer_becomes_a_visible_batch(
    provider: str, client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    intent, failed = lost_create(client, gateway, request, provider, metadata={"team": "a"})
    assert failed.status_code == 502
    body = failed.body
    assert isinstance(body, dict) and provider in body["message"]
    assert listed(client, provider) == []  # the intent is nobody's batch yet

    too_soon = later(gateway, 0).reconcile(intent.id)  # its create might still be in flight
    assert too_soon is not None and too_soon.creating

    adopted = later(gateway, RECONCILE_AFTER_SECONDS).reconcile(intent.id)
    assert adopted is not None and not adopted.creating and adopted.provider_batch_id
    (batch,) = listed(client, provider)
    assert batch.id == intent.id and batch.metadata == {"team": "a"}  # the user's metadata, not our tag
    if provider != "openai":  # OpenAI counts a batch's requests once it has validated them
        assert batch.request_counts is not None and batch.request_counts.total == 2
    retrieved = client.batches.with_raw_response.retrieve(batch.id, extra_query={"provider": provider})
    assert_valid("Batch", retrieved.http_response.json())
    assert intents(gateway) == []


def test_the_adopted_batch_runs_to_its_results(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    intent, _ = lost_create(client, gateway, request, "openai")
    later(gateway, RECONCILE_AFTER_SECONDS).reconcile(intent.id)
    fake = unreliable(request, "openai")
    (provider_batch_id,) = fake.state.fake.batch_ids(KEY)
    fake.state.fake.run_to_end(provider_batch_id)
    client.batches.retrieve(intent.id)
    done = client.batches.retrieve(intent.id)
    assert done.status == "completed" and done.output_file_id
    assert client.files.content(done.output_file_id).read().count(b'"custom_id"') == 2


def test_a_failed_write_after_the_provider_accepted_is_reconciled(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The create reached the provider; storing its answer failed, and so did stopping it: the batch still
    becomes visible (its owner can cancel it), never a job running unseen."""
    fake = unreliable(request, "openai")
    file_id = upload(client, "openai")
    store = gateway.records
    original = store.update_batch
    calls: list[str] = []

    def failing_once(record: BatchRecord) -> bool:
        if not calls:
            calls.append(record.id)
            raise ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
        return original(record)

    monkeypatch.setattr(store, "update_batch", failing_once)
    fake.state.fake.inject(500, path_contains="/cancel", method="POST", times=5)
    with pytest.raises(openai.APIStatusError) as failed:
        create(client, "openai", file_id)
    assert failed.value.status_code == 503  # the gateway's storage failed, and says so
    (intent,) = intents(gateway)
    assert calls == [intent.id]
    later(gateway, RECONCILE_AFTER_SECONDS).reconcile(intent.id)
    (batch,) = listed(client, "openai")
    assert batch.id == intent.id and batch.status in ("validating", "in_progress")
    assert client.batches.cancel(batch.id).status in ("cancelling", "cancelled")


def test_a_refused_create_leaves_no_intent(client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest) -> None:
    fake = unreliable(request, "openai")
    file_id = upload(client, "openai")
    fake.state.fake.inject(429, path_contains="/batches", method="POST", headers={"retry-after": "1"})
    with pytest.raises(openai.RateLimitError):
        create(client, "openai", file_id)
    assert intents(gateway) == [] and listed(client, "openai") == []


def test_an_intent_nothing_turns_up_for_is_dropped(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    fake = unreliable(request, "openai")
    file_id = upload(client, "openai")
    fake.state.fake.inject(503, path_contains="/batches", method="POST")  # maybe created, in fact not
    with pytest.raises(openai.APIStatusError):
        create(client, "openai", file_id)
    (intent,) = intents(gateway)
    assert later(gateway, RECONCILE_AFTER_SECONDS).reconcile(intent.id) is not None  # the provider may lag
    assert [left.id for left in intents(gateway)] == [intent.id]
    with caplog.at_level(logging.WARNING):
        assert later(gateway, RECONCILE_GIVE_UP_SECONDS).reconcile(intent.id) is None
    assert intents(gateway) == [] and listed(client, "openai") == []
    assert "dropping the intent" in caplog.text


def test_the_sweeper_sends_old_intents_to_the_reconciler(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    intent, _ = lost_create(client, gateway, request, "gemini")
    assert sweep_sends(gateway.jobs) == []  # a fresh intent's create may still be running
    assert sweep_sends(later(gateway, RECONCILE_AFTER_SECONDS)) == [("reconcile", intent.id)]


def test_anthropic_batches_carry_no_tag_so_an_unanswered_create_is_given_up_loudly(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    intent, _ = lost_create(client, gateway, request, "anthropic")
    assert later(gateway, RECONCILE_AFTER_SECONDS).reconcile(intent.id) is not None
    with caplog.at_level(logging.WARNING):
        assert later(gateway, RECONCILE_GIVE_UP_SECONDS).reconcile(intent.id) is None
    assert intent.id in caplog.text and "anthropic" in caplog.text


def test_an_intent_whose_provider_cannot_be_asked_is_still_dropped_in_the_end(
    client: OpenAI, gateway: Gateway, request: pytest.FixtureRequest
) -> None:
    """The provider's list keeps failing (a revoked key): the reconcile job raises (asked again later) until the
    intent is old enough to give up; then it drops it rather than fail for ever."""
    intent, _ = lost_create(client, gateway, request, "anthropic")
    unreliable(request, "anthropic").state.fake.inject(
        401, path_contains="/v1/messages/batches", method="GET", times=100
    )
    with pytest.raises(GatewayError):
        later(gateway, RECONCILE_AFTER_SECONDS).reconcile(intent.id)
    assert later(gateway, RECONCILE_GIVE_UP_SECONDS).reconcile(intent.id) is None
    assert intents(gateway) == []


def test_openai_batches_carry_our_id_where_the_users_metadata_leaves_room(
    client: OpenAI, request: pytest.FixtureRequest
) -> None:
    fake = unreliable(request, "openai").state.fake
    file_id = upload(client, "openai")
    tagged = create(client, "openai", file_id, metadata={"team": "a"})
    full = {f"k{n}": "v" for n in range(16)}  # OpenAI's limit: no room for our tag
    untagged = create(client, "openai", file_id, metadata=full)
    upstream = {
        batch["metadata"].get("batchbridge_batch_id"): batch for batch in map(fake.batch_json, fake.batch_ids(KEY))
    }
    assert upstream[tagged.id]["metadata"] == {"team": "a", "batchbridge_batch_id": tagged.id}
    assert upstream[None]["metadata"] == full
    assert tagged.metadata == {"team": "a"} and untagged.metadata == full  # users see their own metadata only
    assert client.batches.retrieve(tagged.id).metadata == {"team": "a"}
