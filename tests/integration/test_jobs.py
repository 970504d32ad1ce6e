"""The finalizer is idempotent and finishes what a dead run left; webhooks retry, then record a failure."""

from __future__ import annotations

import base64
import copy
import dataclasses
import io
import json
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.services.files import Caller
from batchbridge.domain.services.jobs import WebhookConfig
from batchbridge.gateway import Gateway

KEY = "sk-user-one"
LINE = (
    '{"custom_id": "%s", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "%s", '
    '"messages": [{"role": "user", "content": "Hi %s"}]}}\n'
)
SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def ended_batch(gateway: Gateway, fake: Any, models: list[str]) -> tuple[Caller, str]:
    """A batch whose provider has ended it, not yet finalized by us."""
    caller = gateway.caller({"authorization": f"Bearer {KEY}"})
    content = "".join(LINE % (f"r{i}", model, i) for i, model in enumerate(models)).encode()
    uploaded = gateway.files.create(
        caller,
        "openai",
        stream=io.BytesIO(content),
        size=len(content),
        filename="in.jsonl",
        content_type="application/jsonl",
        params={"purpose": "batch"},
    )
    batch = gateway.batches.create(
        caller,
        "openai",
        {"input_file_id": uploaded.id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    assert batch.provider_batch_id is not None
    fake.run_to_end(batch.provider_batch_id)
    return caller, batch.id


def result_files(gateway: Gateway, caller: Caller) -> list[str]:
    page = gateway.files.list(caller, None, {"purpose": "batch_output"})
    return sorted(record.id for record in page.items)


def test_finalizer_run_twice_gives_the_same_files(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()  # this test runs the jobs itself
    caller, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini", "invalid-model"])
    first = gateway.jobs.finalize(batch_id)
    second = gateway.jobs.finalize(batch_id)
    assert first is not None and second is not None
    assert first.status == "completed" and first.request_counts == {"total": 2, "completed": 1, "failed": 1}
    assert (second.output_file_id, second.error_file_id, second.version) == (
        first.output_file_id,
        first.error_file_id,
        first.version,
    )
    assert result_files(gateway, caller) == sorted([first.output_file_id or "", first.error_file_id or ""])


def test_a_finalizer_that_died_half_way_is_finished_by_the_next(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    gateway.queue.stop()
    fake = fake_openai[0].state.fake
    caller, batch_id = ended_batch(gateway, fake, ["gpt-4o-mini", "invalid-model"])
    record = gateway.records.get_batch(batch_id)
    assert record is not None and record.provider_batch_id is not None
    provider_error_file = fake.batch_json(record.provider_batch_id)["error_file_id"]
    fake.inject(500, path_contains=f"/files/{provider_error_file}", method="GET")  # dies after the output file
    with pytest.raises(GatewayError):
        gateway.jobs.finalize(batch_id)
    half = gateway.records.get_batch(batch_id)
    assert half is not None and not half.is_terminal and half.output_file_id is None  # nothing half-written
    assert len(result_files(gateway, caller)) == 1  # the output file got registered before the crash

    done = gateway.jobs.finalize(batch_id)
    assert done is not None and done.status == "completed"
    assert result_files(gateway, caller) == sorted([done.output_file_id or "", done.error_file_id or ""])
    errors = b"".join(gateway.files.content(caller, done.error_file_id or "", None)[1])
    assert [json.loads(line)["custom_id"] for line in errors.splitlines()] == ["r1"]


class Receiver:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.posts: list[tuple[str, bytes, dict[str, str]]] = []

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        self.posts.append((url, body, headers))
        if len(self.posts) <= self.failures:
            if len(self.posts) % 2:
                raise ConnectionError("receiver down")
            return 500
        return 204


@pytest.mark.parametrize(
    ("failures", "status", "attempts"), [(0, "delivered", 1), (3, "delivered", 4), (99, "failed", 5)]
)
def test_webhook_retries_then_records_the_delivery(
    gateway: Gateway, fake_openai: tuple[Any, str], failures: int, status: str, attempts: int
) -> None:
    gateway.queue.stop()
    _, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini"])
    receiver = Receiver(failures)
    pauses: list[float] = []
    jobs = dataclasses.replace(
        gateway.jobs,
        webhook=WebhookConfig("https://hooks.example/batches", SECRET),
        sender=receiver,
        sleep=pauses.append,
    )
    assert jobs.finalize(batch_id) is not None
    delivery = jobs.notify(batch_id)
    assert delivery is not None and (delivery.status, delivery.attempts) == (status, attempts)
    assert delivery.event_type == "batch.completed"
    assert gateway.records.get_delivery(delivery.event_id) == delivery
    assert pauses == [1.0, 2.0, 4.0, 8.0][: attempts - 1]  # bounded, growing backoff
    assert len({headers["webhook-id"] for _, _, headers in receiver.posts}) == 1  # one event, retried
    record = gateway.records.get_batch(batch_id)
    assert record is not None and record.status == "completed"  # a failing receiver never blocks a batch
    jobs.notify(batch_id)  # a redelivered notify job: sent again only if not delivered yet
    assert len(receiver.posts) == attempts + (attempts if status == "failed" else 0)


def test_racing_writers_settle_on_one_outcome(gateway: Gateway, fake_openai: tuple[Any, str]) -> None:
    """A cancel and a completion both read version N: the first write wins, the second gets the winner."""
    from batchbridge.domain.refresh import move
    from batchbridge.domain.services.batch_writes import save

    gateway.queue.stop()
    _, batch_id = ended_batch(gateway, fake_openai[0].state.fake, ["gpt-4o-mini"])
    read = gateway.records.get_batch(batch_id)
    assert read is not None
    completing, cancelling = copy.deepcopy(read), copy.deepcopy(read)
    assert move(completing, "in_progress", 10) and move(cancelling, "cancelling", 11)
    first = save(gateway.records, read, completing)
    second = save(gateway.records, read, cancelling)
    assert first.status == "in_progress" and second == first  # the loser is told what won
    stored = gateway.records.get_batch(batch_id)
    assert stored == first and "cancelling_at" not in stored.timestamps
