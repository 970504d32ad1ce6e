"""`batchbridge serve` killed mid-run of a split batch and started again on the same AWS state (a moto server that
outlives it): every part still ends, none is created twice at the provider, and the one output file answers every
request exactly once.

The batch is 20 requests on OpenAI, whose jobs hold 4 here: 5 parts. The first starts; the create of the second
reaches OpenAI (its batch is made there) but its answer is held past the gateway's upstream timeout, so the gateway
never learns it; OpenAI then refuses every create for its rate limit (429), so the third part is put off with backoff
and the rest wait behind it. `serve` is killed (SIGKILL) then, with one part running, one create's outcome unknown
and three parts waiting. The second `serve` must find the second part's batch at OpenAI (find_batch) rather than
create it again, and start the waiting parts once OpenAI takes creates again."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import boto3
import pytest
from openai import OpenAI

from batchbridge.domain.records import BatchRecord
from batchbridge.providers.openai import PART_TAG
from batchbridge.store.records import DynamoRecordStore
from tests.fakes.openai_upstream import create_app
from tests.fakes.server import running_server
from tests.integration.processes import Process, clean_env, moto_server, serving

pytestmark = pytest.mark.heavy

KEY = "sk-split-restart"
MODEL = "gpt-4o-mini"
REQUESTS = 20
PER_JOB = 4
PARTS = REQUESTS // PER_JOB
UPSTREAM_TIMEOUT_SECONDS = 2
HOLD_SECONDS = UPSTREAM_TIMEOUT_SECONDS + 3  # the held create's answer comes after the gateway gave up on it
FINAL = ("completed", "failed", "expired", "cancelled")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class HeldCreate:
    """The fake OpenAI, answering its ``hold``-th batch create (counted from 1) only after HOLD_SECONDS: the batch is
    made at OpenAI, its answer comes too late for the gateway. From then on every batch create is refused with a 429
    (OpenAI's rate limit) until the test clears the fake's injections."""

    def __init__(self, hold: int) -> None:
        self.app = create_app()
        self.fake: Any = self.app.state.fake
        self.hold = hold
        self.creates = 0  # batch creates received (those refused included)
        self.held = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        is_create = scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/batches"
        if is_create:
            self.creates += 1
        if not is_create or self.creates != self.hold:
            await self.app(scope, receive, send)
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)  # made at OpenAI
        self.fake.inject(429, path_contains="/v1/batches", method="POST", times=10_000)
        self.held.set()
        await asyncio.sleep(HOLD_SECONDS)
        with contextlib.suppress(Exception):  # (the gateway hung up long ago)
            for message in answer:
                await send(message)


@pytest.fixture
def openai_upstream() -> Iterator[tuple[HeldCreate, str]]:
    upstream = HeldCreate(hold=2)
    with running_server(upstream) as base:
        yield upstream, base + "/v1"


def chat_lines() -> bytes:
    return b"".join(
        json.dumps(
            {
                "custom_id": f"req-{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": MODEL, "max_tokens": 8, "messages": [{"role": "user", "content": f"Q{n}"}]},
            }
        ).encode()
        + b"\n"
        for n in range(REQUESTS)
    )


def wait_for(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {seconds:g} s"
        time.sleep(0.1)


def killed_mid_run(record: BatchRecord | None) -> bool:
    """The moment the test kills `serve`: the first part running, the second's create sent with its outcome unknown,
    the third put off for OpenAI's rate limit (the rest waiting behind it), and no start_parts run holding the batch
    (a run killed while it holds one leaves the batch to wait out its lease, SUBMIT_LEASE_SECONDS)."""
    if record is None or len(record.jobs) != PARTS or record.parts_until is not None:
        return False
    first, second, third, *rest = record.jobs
    return (
        first.started
        and (second.sent_at is not None and not second.started)
        and (third.waiting and third.waiting_until is not None and third.sent_at is None)
        and all(job.waiting and job.sent_at is None for job in rest)
    )


def test_a_serve_restart_mid_run_of_a_split_batch_ends_every_part_once_with_every_request_answered_once(
    openai_upstream: tuple[HeldCreate, str], tmp_path: Path
) -> None:
    upstream, openai_url = openai_upstream
    fake = upstream.fake
    log = tmp_path / "processes.log"
    with contextlib.ExitStack() as stack:
        aws = stack.enter_context(moto_server(log))
        env = clean_env(
            AWS_ENDPOINT_URL=aws,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
            BATCHBRIDGE_STORAGE="aws",
            BATCHBRIDGE_OWNER_SECRET="split-restart-owner-secret-0123456789",
            BATCHBRIDGE_OPENAI_BASE_URL=openai_url,
            BATCHBRIDGE_OPENAI_JOB_MAX_REQUESTS=str(PER_JOB),
            BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS=str(UPSTREAM_TIMEOUT_SECONDS),
            BATCHBRIDGE_REFRESH_SECONDS="0",
        )
        dynamodb = boto3.client(
            "dynamodb",
            endpoint_url=aws,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        records = DynamoRecordStore(dynamodb, "batchbridge")

        def serve(sweep_seconds: str) -> tuple[OpenAI, Process]:
            base, process = stack.enter_context(serving(env | {"BATCHBRIDGE_SWEEP_SECONDS": sweep_seconds}, log))
            return OpenAI(base_url=base + "/openai", api_key=KEY, max_retries=0), process

        # the first serve sweeps never: its start_parts runs are the batch's own (the test kills it between them)
        first, first_process = serve("3600")
        uploaded = first.files.create(file=("in.jsonl", chat_lines()), purpose="batch")
        batch = first.batches.create(
            input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        assert batch.status == "validating"
        assert upstream.held.wait(30), "the second part's create never reached OpenAI"
        wait_for("the third part put off", lambda: killed_mid_run(records.get_batch(batch.id)), 30)
        first_process.send_signal(signal.SIGKILL)
        first_process.wait()
        assert len(fake.batch_ids(KEY)) == 2  # the first part's, and the second's (its answer never read)
        # their files; the third's, refused, went at once
        assert len(part_files(fake, batch.id)) == 2

        with fake._lock:
            fake.injections.clear()  # OpenAI takes creates again
        second, _ = serve("1")
        deadline = time.monotonic() + 180
        while (done := second.batches.retrieve(batch.id)).status not in FINAL:
            assert time.monotonic() < deadline, f"the batch stayed {done.status} after the restart"
            time.sleep(0.5)

        assert done.status == "completed", done
        assert done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (REQUESTS, REQUESTS)
        assert done.output_file_id is not None
        output = [json.loads(line) for line in second.files.content(done.output_file_id).text.splitlines()]
        assert Counter(line["custom_id"] for line in output) == Counter(f"req-{n}" for n in range(REQUESTS))
        assert all(line["error"] is None and line["response"]["status_code"] == 200 for line in output)
        assert done.error_file_id is None or second.files.content(done.error_file_id).text.strip() == ""

        # one OpenAI batch per part, the held create's adopted rather than made again
        tags = [fake.batch_json(batch_id)["metadata"][PART_TAG] for batch_id in fake.batch_ids(KEY)]
        assert sorted(tags) == sorted(f"{batch.id}/{number}" for number in range(PARTS))
        ended = records.get_batch(batch.id)
        assert ended is not None
        assert sorted(job.id for job in ended.jobs) == sorted(fake.batch_ids(KEY))
        # every part's file at OpenAI removed once the batch is final (the put-off create's at once), the held
        # create's with them
        wait_for("the parts' files removed", lambda: part_files(fake, batch.id) == set(), 30)


def part_files(fake: Any, batch_id: str) -> set[str]:
    """The files at OpenAI the parts of ``batch_id`` were sent as (named after the batch)."""
    return {file_id for file_id in fake.file_ids(KEY) if fake.get_file(KEY, file_id).filename.startswith(batch_id)}
