"""The openai-compatible worker: its own upstream timeout, no blind re-sends of a generation, a broken chunk chain or a
restarted `serve` picked up again by the sweeper, a cancel that nobody runs a chunk for ending at once."""

from __future__ import annotations

import contextlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI

from batchbridge.api.app import build_app
from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.executor import CHUNK_REQUESTS
from batchbridge.gateway import Gateway
from batchbridge.store.queue import LocalWorkQueue
from tests.fakes.server import running_server
from tests.integration.processes import Process, clean_env, moto_server, serving
from tests.integration.test_compat import chat_lines, lines_of

PROVIDER = {"provider": "openai-compatible"}


class LossyQueue(LocalWorkQueue):
    """The in-process queue, losing the messages ``lose`` says (as a lost SQS message or a restart would); ``sent``
    lists every message it was given."""

    def __init__(self, lose: Any = lambda kind, ref: False) -> None:
        super().__init__(retry_delay_seconds=0.05)
        self.lose = lose
        self.lost: list[tuple[str, str]] = []
        self.sent: list[tuple[str, str]] = []

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        self.sent.append((kind, batch_id))
        if self.lose(kind, batch_id):
            self.lost.append((kind, batch_id))
            return
        super().send(kind, batch_id, delay_seconds)


@pytest.fixture
def make(
    gateway_env: dict[str, str],
    fake_compat: tuple[Any, str],
    monkeypatch: pytest.MonkeyPatch,
    work_queue: LocalWorkQueue,
) -> Iterator[Any]:
    """Starts a gateway whose openai-compatible endpoint times requests out after ``timeout`` seconds, its chunks on
    ``chunks`` (started, unless told not to); yields (client, gateway)."""
    servers: list[Any] = []
    queues: list[LocalWorkQueue] = []

    def start(
        *,
        timeout: float = 30.0,
        chunks: LocalWorkQueue | None = None,
        run_chunks: bool = True,
        stall: float = 120.0,
        **env: str,
    ) -> tuple[OpenAI, Gateway]:
        endpoints = {"local": {"base_url": fake_compat[1], "max_concurrency": 2, "timeout_seconds": timeout}}
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_ENDPOINTS", json.dumps(endpoints))
        monkeypatch.setenv("BATCHBRIDGE_COMPAT_STALL_SECONDS", str(stall))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        chunk_queue = chunks or LocalWorkQueue(retry_delay_seconds=0.05)
        queues.append(chunk_queue)
        gateway = Gateway.from_settings(Settings.from_env(), queue=work_queue, chunk_queue=chunk_queue)
        work_queue.start(gateway.jobs.run)
        if run_chunks:
            chunk_queue.start(gateway.jobs.run)
        server = running_server(build_app(gateway=gateway))
        servers.append(server)
        base = server.__enter__()
        http_client = httpx.Client(event_hooks={"request": [lambda _: work_queue.drain()]}, timeout=30)
        return OpenAI(base_url=base + "/openai", api_key="sk-user", max_retries=0, http_client=http_client), gateway

    yield start
    for server in servers:
        server.__exit__(None, None, None)
    for queue in queues:
        queue.stop()


def start_batch(client: OpenAI, content: bytes) -> Any:
    uploaded = client.files.create(file=("b.jsonl", content), purpose="batch", extra_body=PROVIDER)
    return client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", extra_body=PROVIDER
    )


def wait_for(client: OpenAI, batch_id: str, statuses: tuple[str, ...], gateway: Gateway | None = None) -> Any:
    """Poll until the batch is in one of ``statuses`` (sweeping between polls when given a gateway)."""
    deadline = time.monotonic() + 60
    while True:
        if gateway is not None:
            gateway.jobs.sweep()
        batch = client.batches.retrieve(batch_id)
        if batch.status in statuses:
            return batch
        assert time.monotonic() < deadline, f"batch {batch_id} stayed {batch.status}"
        time.sleep(0.2)


def test_a_generation_longer_than_the_api_budget_completes(make: Any, fake_compat: tuple[Any, str]) -> None:
    """The worker is not bound by API Gateway's clock: with the gateway's upstream timeout at 1 s (the API's budget),
    an endpoint taking 2 s per answer still answers every request, once."""
    fake = fake_compat[0]
    fake.delay_seconds = 2.0
    client, _ = make(BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS="1")
    done = wait_for(client, start_batch(client, chat_lines(3)).id, ("completed", "failed"))
    assert done.status == "completed" and done.request_counts.completed == 3
    assert fake.received == {f"Question {n}": 1 for n in range(3)}


def test_a_post_that_timed_out_reading_is_sent_at_most_twice(make: Any, fake_compat: tuple[Any, str]) -> None:
    fake = fake_compat[0]
    fake.delay_seconds = 3.0
    client, _ = make(timeout=0.5)
    done = wait_for(client, start_batch(client, chat_lines(2)).id, ("completed", "failed"))
    assert done.status == "completed" and done.request_counts.failed == 2
    errors = lines_of(client, done.error_file_id)
    assert {line["error"]["code"] for line in errors} == {"request_failed"}
    assert all("2 sends" in line["error"]["message"] for line in errors)
    time.sleep(3)  # whatever was still on its way has arrived
    assert fake.received == {"Question 0": 2, "Question 1": 2}


def test_a_lost_chunk_message_is_sent_again_by_the_sweeper(make: Any, fake_compat: tuple[Any, str]) -> None:
    """The message of the batch's second chunk is lost: the counts stop moving, and a sweep queues that chunk
    again; every request is answered exactly once."""
    lossy = LossyQueue(lambda kind, ref: kind == "chunk" and ref.endswith("#1") and not lossy.lost)
    client, gateway = make(chunks=lossy, stall=0.5)  # half a second without progress: the chain is broken
    batch = start_batch(client, chat_lines(CHUNK_REQUESTS + 30))
    done = wait_for(client, batch.id, ("completed", "failed"), gateway)
    assert lossy.lost == [("chunk", f"{batch.id}#1")]
    assert done.status == "completed" and done.request_counts.completed == CHUNK_REQUESTS + 30
    output = lines_of(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == sorted(f"req-{n}" for n in range(CHUNK_REQUESTS + 30))
    fake = fake_compat[0]
    assert fake.received == {f"Question {n}": 1 for n in range(CHUNK_REQUESTS + 30)}


def test_a_cancel_with_no_chunk_running_ends_the_batch_within_a_sweep(make: Any, fake_compat: tuple[Any, str]) -> None:
    client, gateway = make(run_chunks=False)  # its first chunk is queued, and nobody runs it
    batch = start_batch(client, chat_lines(5))
    assert client.batches.cancel(batch.id).status == "cancelling"
    gateway.jobs.sweep()
    done = client.batches.retrieve(batch.id)
    assert done.status == "cancelled"
    errors = lines_of(client, done.error_file_id)
    assert sorted(line["custom_id"] for line in errors) == [f"req-{n}" for n in range(5)]
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    assert fake_compat[0].received == {}


def test_deleting_the_input_file_does_not_break_a_running_batch(make: Any, fake_compat: tuple[Any, str]) -> None:
    fake = fake_compat[0]
    fake.delay_seconds = 0.01
    client, _ = make()
    batch = start_batch(client, chat_lines(CHUNK_REQUESTS + 10))
    client.files.delete(batch.input_file_id)
    done = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.request_counts.completed == CHUNK_REQUESTS + 10


def test_a_run_stops_sending_before_its_deadline_and_queues_the_rest(make: Any, fake_compat: tuple[Any, str]) -> None:
    """A worker function has 15 minutes: a request that might not be answered (two sends of its timeout) before
    the run's end is left to the next run of the chunk, queued again; nothing is sent twice."""
    fake = fake_compat[0]
    fake.delay_seconds = 0.05
    chunks = LossyQueue()
    client, gateway = make(timeout=1.0, chunks=chunks, run_chunks=False)
    batch = start_batch(client, chat_lines(CHUNK_REQUESTS))
    runner = gateway.executor  # what the chunk jobs run on
    assert runner is not None
    # 2 sends x 1 s + the 30 s margin: half a second to send in
    runner.run_chunk(batch.id, 0, deadline=time.monotonic() + 32.5)
    sent_first = sum(fake.received.values())
    assert 0 < sent_first < CHUNK_REQUESTS
    assert [ref.count("#") for kind, ref in chunks.sent if kind == "chunk"] == [1, 2]  # chunk 0, then again
    chunks.start(gateway.jobs.run)
    done = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.request_counts.completed == CHUNK_REQUESTS
    assert fake.received == {f"Question {n}": 1 for n in range(CHUNK_REQUESTS)}


def test_two_runs_of_a_chunk_queue_the_next_once(make: Any, fake_compat: tuple[Any, str]) -> None:
    """A chunk run twice (a resend meeting the original) moves the chain on once: chains never fork."""
    chunks = LossyQueue()
    client, gateway = make(chunks=chunks, run_chunks=False)
    batch = start_batch(client, chat_lines(CHUNK_REQUESTS + 5))
    runner = gateway.executor  # what the chunk jobs run on
    assert runner is not None
    runner.run_chunk(batch.id, 0)
    runner.run_chunk(batch.id, 0)
    assert [ref for kind, ref in chunks.sent if kind == "chunk"] == [f"{batch.id}#0", f"{batch.id}#1"]
    assert sum(fake_compat[0].received.values()) == CHUNK_REQUESTS


def test_two_finalizers_at_once_write_the_same_files(
    make: Any, monkeypatch: pytest.MonkeyPatch, work_queue: LocalWorkQueue
) -> None:
    """One finalizer reads the results while another finalizes the batch and removes its stored answers: the
    first writes nothing (what it read after that is short), and the output stays whole."""
    client, gateway = make()
    run_job = work_queue._run
    assert run_job is not None
    work_queue._run = lambda kind, ref: None if kind == "finalize" else run_job(kind, ref)  # the two below only
    batch = start_batch(client, chat_lines(CHUNK_REQUESTS + 50))
    wait_for(client, batch.id, ("finalizing",))
    adapter = gateway.providers.get("openai-compatible")
    real_results = adapter.results
    paused, go_on = threading.Event(), threading.Event()

    def slow_results(credentials: Any, provider_batch_id: str) -> Iterator[Any]:
        for position, item in enumerate(real_results(credentials, provider_batch_id)):
            if position == 1 and threading.current_thread().name == "slow-finalizer":
                paused.set()
                go_on.wait(30)
            yield item

    monkeypatch.setattr(adapter, "results", slow_results)
    outcome: list[Any] = []

    def slow_finalize() -> None:
        try:
            outcome.append(gateway.jobs.finalize(batch.id))
        except GatewayError as exc:  # the answers it still had to read are gone: a failed run, retried later
            outcome.append(exc)

    slow = threading.Thread(target=slow_finalize, name="slow-finalizer")
    slow.start()
    assert paused.wait(30)
    final = gateway.jobs.finalize(batch.id)  # the other run: finalizes, removes the stored answers
    assert final is not None and final.status == "completed" and not final.release_pending
    go_on.set()
    slow.join(30)
    assert len(outcome) == 1
    assert isinstance(outcome[0], GatewayError) or outcome[0].status == "completed"
    done = client.batches.retrieve(batch.id)
    output = lines_of(client, done.output_file_id)
    assert len(output) == CHUNK_REQUESTS + 50 and done.error_file_id is None
    assert all(line["response"]["status_code"] == 200 for line in output)
    assert gateway.jobs.finalize(batch.id) == gateway.records.get_batch(batch.id)  # a retry: nothing to do


def test_a_release_that_failed_is_done_by_the_sweeper(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    from batchbridge.domain.services import jobs
    from tests.conftest import TABLE

    client, gateway = make()
    adapter = gateway.providers.get("openai-compatible")
    real_release = adapter.release_results
    failures = [1]

    def flaky(credentials: Any, provider_batch_id: str) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("storage hiccup")
        real_release(credentials, provider_batch_id)

    monkeypatch.setattr(adapter, "release_results", flaky)
    batch = start_batch(client, chat_lines(3))
    done = wait_for(client, batch.id, ("completed",))
    assert gateway.records.get_batch(batch.id).release_pending  # type: ignore[union-attr]

    def answers() -> int:
        scan = boto3.client("dynamodb").scan(TableName=TABLE)
        return sum(item["pk"]["S"].startswith(f"COMPATRESULT#{batch.id}#") for item in scan["Items"])

    assert answers() == 3
    monkeypatch.setattr(jobs, "FINALIZE_RESEND_SECONDS", 0)
    gateway.jobs.sweep()
    wait_for(client, batch.id, ("completed",))  # lets the queued release run
    assert answers() == 0 and not gateway.records.get_batch(batch.id).release_pending  # type: ignore[union-attr]
    assert len(lines_of(client, done.output_file_id)) == 3


def test_a_batch_from_before_progress_was_kept_is_mended(make: Any) -> None:
    import boto3

    from tests.conftest import TABLE

    lossy = LossyQueue(lambda kind, ref: kind == "chunk")  # its first chunk is lost
    client, gateway = make(chunks=lossy, stall=0.5)
    batch = start_batch(client, chat_lines(3))
    boto3.client("dynamodb").update_item(  # as items were written before: no progress, no queued chunk
        TableName=TABLE,
        Key={"pk": {"S": f"COMPAT#{batch.id}"}},
        UpdateExpression="REMOVE progressed_at, queued_chunk",
    )
    lossy.lose = lambda kind, ref: False
    done = wait_for(client, batch.id, ("completed",), gateway)
    assert done.request_counts.completed == 3


# --------------------------------------------------------------------------------------------------
# a restart of `batchbridge serve` mid-run, its state in an AWS emulation that outlives it
# --------------------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_a_restart_mid_run_ends_completed_with_every_request_answered_once(
    fake_compat: tuple[Any, str], tmp_path: Path
) -> None:
    fake = fake_compat[0]
    fake.delay_seconds = 0.05
    log = tmp_path / "processes.log"
    with contextlib.ExitStack() as stack:
        aws = stack.enter_context(moto_server(log))
        env = clean_env(
            AWS_ENDPOINT_URL=aws,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            BATCHBRIDGE_STORAGE="aws",
            BATCHBRIDGE_OWNER_SECRET="restart-test-owner-secret-0123456789",
            BATCHBRIDGE_SWEEP_SECONDS="1",
            BATCHBRIDGE_COMPAT_STALL_SECONDS="2",
            BATCHBRIDGE_COMPAT_ENDPOINTS=json.dumps(
                {"local": {"base_url": fake_compat[1], "max_concurrency": 2, "timeout_seconds": 5}}
            ),
        )

        def serve() -> tuple[OpenAI, Process]:
            base, process = stack.enter_context(serving(env, log))
            return OpenAI(base_url=base + "/openai", api_key="sk-restart", max_retries=0), process

        first, first_process = serve()
        total = 2 * CHUNK_REQUESTS + 20
        batch = start_batch(first, chat_lines(total))
        deadline = time.monotonic() + 60
        while fake.calls < 40:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        first_process.send_signal(signal.SIGKILL)  # mid-chunk: its in-process queue and in-flight requests are gone
        first_process.wait()
        answered_before = fake.calls
        assert answered_before < total

        second, _ = serve()
        deadline = time.monotonic() + 90
        while (done := second.batches.retrieve(batch.id)).status not in ("completed", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"the batch stayed {done.status} after the restart"
            time.sleep(0.5)
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (total, total)
        output = [json.loads(line) for line in second.files.content(done.output_file_id).read().splitlines()]
        assert sorted(line["custom_id"] for line in output) == sorted(f"req-{n}" for n in range(total))
        # only what the killed process had in flight was sent twice
        resent = [text for text, count in fake.received.items() if count > 1]
        assert len(resent) <= 2 and sum(fake.received.values()) <= total + 2
