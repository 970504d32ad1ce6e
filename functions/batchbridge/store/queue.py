"""The work queue: SQS in the deployment, an in-process worker thread under `batchbridge serve`."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)
SQS_MAX_DELAY_SECONDS = 900
# A job that keeps failing is dead-lettered as this job (the deployment's dead-letter queue consumer does the same).
DEAD_LETTER_JOBS = {"chunk": "chunk_dead"}


# A failed job of the work queue comes back after this backoff, doubling with each receive (2, 4, 8, 15 minutes:
# some 29 minutes of retries before its fifth failure dead-letters it), instead of after the queue's visibility
# timeout (six times its consumer's: an hour), which would also outlive the leases of the job's object (a large
# upload's 900 s). The FIFO queues of openai-compatible chunks keep their visibility: a chunk that fails three
# times is dead-lettered into error lines, so its retries stay spread over hours.
RETRY_FIRST_SECONDS = 120
RETRY_MAX_SECONDS = 900


def retry_delay_seconds(receive_count: int) -> int:
    """When a job that failed on its ``receive_count``-th receive is tried again: 120 s, 240 s, … up to 900 s."""
    return int(min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2 ** max(receive_count - 1, 0)))


def retry_later(client: Any, queue_url: str, receipt_handle: str, receive_count: int) -> None:
    """Make a received message that failed visible again after its backoff (best effort: if this fails too, the
    message returns after the queue's visibility timeout, as before). Not for FIFO queues (see above)."""
    if queue_url.endswith(".fifo"):
        return
    try:
        client.change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=retry_delay_seconds(receive_count)
        )
    except Exception:
        logger.warning("could not shorten the retry of a failed job on %s", queue_url, exc_info=True)


class SqsWorkQueue:
    """``client`` makes the SQS client on first use: most requests send nothing."""

    def __init__(self, client: Callable[[], Any], queue_url: str) -> None:
        self._make_client = client
        self._client: Any = None
        self._url = queue_url

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        if self._client is None:
            self._client = self._make_client()
        message: dict[str, Any] = {
            "QueueUrl": self._url,
            "MessageBody": json.dumps({"kind": kind, "batch_id": batch_id}),
        }
        if self._url.endswith(".fifo"):
            # A FIFO queue (openai-compatible chunks): one message group per batch, so SQS hands out a batch's next
            # chunk only once the one before is done — even when a worker outlives its visibility timeout — and the
            # same chunk sent twice within five minutes is kept once. (No per-message delay on FIFO queues.)
            message["MessageGroupId"] = batch_id.split("#", 1)[0]
            message["MessageDeduplicationId"] = f"{kind}-{batch_id}".replace("#", "-")
        else:
            message["DelaySeconds"] = min(max(delay_seconds, 0), SQS_MAX_DELAY_SECONDS)
        self._client.send_message(**message)


class LocalWorkQueue:
    """Runs each job on a worker thread, retrying a failed one a few times (SQS would redeliver)."""

    def __init__(self, attempts: int = 3, retry_delay_seconds: float = 1.0) -> None:
        self._jobs: queue.Queue[tuple[str, str, int] | None] = queue.Queue()
        self._attempts = attempts
        self._retry_delay = retry_delay_seconds
        self._run: Callable[[str, str], None] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def send(self, kind: str, batch_id: str, delay_seconds: int = 0) -> None:
        if delay_seconds <= 0:
            self._jobs.put((kind, batch_id, 1))
            return
        timer = threading.Timer(delay_seconds, self._jobs.put, args=((kind, batch_id, 1),))
        timer.daemon = True
        timer.start()

    def start(self, run: Callable[[str, str], None]) -> None:
        self._run = run
        self._thread = threading.Thread(target=self._work, name="batchbridge-worker", daemon=True)
        self._thread.start()

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every job sent so far has run (tests)."""
        done = threading.Event()

        def wait() -> None:
            self._jobs.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        if not done.wait(timeout):
            raise TimeoutError("background jobs did not finish in time")

    def stop(self) -> None:
        self._stopping.set()
        self._jobs.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                kind, batch_id, attempt = job
                assert self._run is not None
                try:
                    self._run(kind, batch_id)
                except Exception:
                    logger.exception("%s of %s failed (attempt %d)", kind, batch_id, attempt)
                    if attempt < self._attempts and not self._stopping.wait(self._retry_delay):
                        self._jobs.put((kind, batch_id, attempt + 1))
                    elif attempt >= self._attempts and kind in DEAD_LETTER_JOBS:
                        self._jobs.put((DEAD_LETTER_JOBS[kind], batch_id, 1))
            finally:
                self._jobs.task_done()
