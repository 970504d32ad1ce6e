"""Background work on batches, off the request path: finalize, sweep, notify."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from batchbridge.domain import webhooks
from batchbridge.domain.ports import Delivery, ProviderRegistry, RecordStore, Vault, WebhookSender, WorkQueue
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.refresh import move
from batchbridge.domain.services.batch_writes import fold, register_result_files, save, schedule

logger = logging.getLogger(__name__)
FINALIZE_ATTEMPTS = 5


@dataclass
class WebhookConfig:
    url: str
    secret: str
    attempts: int = 5
    first_backoff_seconds: float = 1.0


@dataclass
class BatchJobs:
    records: RecordStore
    providers: ProviderRegistry
    vault: Vault
    queue: WorkQueue
    clock: Callable[[], int]  # nanoseconds since the epoch
    webhook: WebhookConfig | None = None
    sender: WebhookSender | None = None
    sleep: Callable[[float], None] = lambda seconds: None

    def run(self, kind: str, batch_id: str) -> None:
        if kind == "finalize":
            self.finalize(batch_id)
        elif kind == "notify":
            self.notify(batch_id)
        else:
            logger.warning("ignoring unknown job %r for %s", kind, batch_id)

    def finalize(self, batch_id: str) -> BatchRecord | None:
        """Make an ended batch final: its results become our files, its status the provider's outcome.

        Idempotent: a second run finds the batch final, or registers the same (derived) files again.
        A refresh that wrote in between makes it start over from the new record; failures propagate
        so the queue retries, and the sweeper re-sends batches left unfinalized.
        """
        for _ in range(FINALIZE_ATTEMPTS):
            record = self.records.get_batch(batch_id)
            if record is None or record.is_terminal or record.provider_batch_id is None:
                return record
            credentials = self.vault.open(record.sealed_credentials or "", record.id)
            adapter = self.providers.get(record.provider)
            report = adapter.get_batch(credentials, record.provider_batch_id)
            now_ns = self.clock()
            updated = fold(record, report, now_ns)
            if updated.provider_outcome is not None:
                register_result_files(self.records, adapter, credentials, updated, report)
                outcome = updated.provider_outcome
                move(updated, outcome, report.timestamps.get(f"{outcome}_at", now_ns // 1_000_000_000))
            saved = save(self.records, record, updated)
            schedule(self.queue, record, saved)
            if saved == updated:  # not overtaken by another writer
                return saved
        raise RuntimeError(f"finalize of {batch_id} kept losing races with other writers")

    def sweep(self) -> int:
        """Refresh every batch not yet final, so batches finish (and webhooks fire) with nobody polling."""
        count = 0
        for record in self.records.list_active_batches():
            count += 1
            try:
                if record.provider_outcome is not None:
                    self.queue.send("finalize", record.id)  # ended, not yet finalized: (re)try
                    continue
                schedule(self.queue, record, self.refresh(record))
            except Exception:  # one batch's trouble never stops the sweep
                logger.exception("sweep of batch %s failed", record.id)
        return count

    def refresh(self, record: BatchRecord) -> BatchRecord:
        assert record.provider_batch_id is not None
        credentials = self.vault.open(record.sealed_credentials or "", record.id)
        report = self.providers.get(record.provider).get_batch(credentials, record.provider_batch_id)
        return save(self.records, record, fold(record, report, self.clock()))

    def notify(self, batch_id: str) -> Delivery | None:
        """POST the batch's final event to the configured webhook: at least once, bounded retries, recorded."""
        if self.webhook is None or self.sender is None:
            return None
        record = self.records.get_batch(batch_id)
        if record is None or not record.is_terminal:
            return None
        event_id = webhooks.event_id(record.id, record.status)
        done = self.records.get_delivery(event_id)
        if done is not None and done.status == "delivered":
            return done
        created_at = record.timestamps.get(f"{record.status}_at", self.clock() // 1_000_000_000)
        body = webhooks.event_body(record.id, record.status, created_at)
        error: str | None = None
        attempt = 0
        for attempt in range(1, self.webhook.attempts + 1):
            headers = webhooks.signed_headers(self.webhook.secret, event_id, self.clock() // 1_000_000_000, body)
            try:
                status = self.sender.post(self.webhook.url, body, headers)
                if 200 <= status < 300:
                    error = None
                    break
                error = f"HTTP {status}"
            except Exception as exc:  # a failing receiver never blocks a batch
                error = f"{type(exc).__name__}: {exc}"
            if attempt < self.webhook.attempts:
                self.sleep(self.webhook.first_backoff_seconds * 2 ** (attempt - 1))
        delivery = Delivery(
            event_id=event_id,
            batch_id=record.id,
            event_type=webhooks.EVENT_TYPES[record.status],
            status="failed" if error else "delivered",
            attempts=attempt,
            last_error=error,
            at=self.clock() // 1_000_000_000,
        )
        self.records.put_delivery(delivery)
        if error:
            logger.warning("webhook for %s failed after %d attempts: %s", record.id, attempt, error)
        return delivery
