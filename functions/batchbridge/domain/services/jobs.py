"""Background work on batches, off the request path: submit, finalize, sweep, notify, reconcile."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain import compat, webhooks
from batchbridge.domain.clock import Clocked, seconds
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.executor.plan import parse_chunk_ref
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH
from batchbridge.domain.ports import (
    BatchRequest,
    BlobStore,
    ChunkRunner,
    Credentials,
    Delivery,
    Job,
    ProviderAdapter,
    ProviderBatch,
    ProviderRegistry,
    RecordStore,
    Vault,
    WebhookSender,
    WorkQueue,
)
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import (
    BatchRecord,
    ProviderJob,
)
from batchbridge.domain.refresh import move
from batchbridge.domain.services import parts_runner
from batchbridge.domain.services.batch_writes import (
    NOT_IDENTIFIABLE,
    RECONCILE_AFTER_SECONDS,
    SUBMIT_LEASE_SECONDS,
    SUBMIT_RESEND_SECONDS,
    adopt,
    fold,
    fold_all,
    input_opener,
    refreshed,
    save,
    schedule,
)
from batchbridge.domain.services.result_files import ResultFiles, StoredResults

logger = logging.getLogger(__name__)
SWEEP_MARGIN_SECONDS = 10.0  # a sweep stops queueing this long before its function's end
FINALIZE_ATTEMPTS = 5
NOTIFY_OVERDUE_SECONDS = 900  # a final batch with no webhook attempt for this long lost its notify job
# an ended batch no finalizer touched for this long is sent to it again: longer than a finalizer may run (600 s)
FINALIZE_RESEND_SECONDS = 900
RECONCILE_GIVE_UP_SECONDS = 1800  # an intent whose batch the provider still does not show after this is dropped
SUBMIT_WRITE_ATTEMPTS: Final = 5  # a submission's writes, each made again on the version another writer left
# A create that failed with one of these may have reached the provider (no answer was read); any other error is
# the provider's answer, so nothing was created.
UNANSWERED: Final = frozenset({"provider_timeout", "provider_unreachable"})
LINE_NUMBER: Final = re.compile(r"\b[Ll]ine (\d+)\b")


@dataclass
class WebhookConfig:
    url: str
    secret: str
    attempts: int = 5
    first_backoff_seconds: float = 30.0


def refresh_reference(batch_id: str, queued_ns: int) -> str:
    return f"{batch_id}@{queued_ns}"


@dataclass
class BatchJobs(Clocked):
    records: RecordStore
    blobs: BlobStore
    providers: ProviderRegistry
    vault: Vault
    queue: WorkQueue
    clock: Callable[[], int]  # nanoseconds since the epoch
    webhook: WebhookConfig | None = None
    sender: WebhookSender | None = None
    # what runs the batches the gateway runs itself (openai-compatible's), made on first use: a function that never
    # runs a chunk never loads it (nor its HTTP client)
    executor: Callable[[], ChunkRunner] | None = None
    # the most requests a batch file may hold (BATCHBRIDGE_MAX_REQUESTS_PER_BATCH): the complete_upload job checks
    # a large upload's lines against it, as files.create checks a direct upload's
    max_requests_per_batch: int = DEFAULT_MAX_REQUESTS_PER_BATCH

    def run(self, kind: str, batch_id: str, deadline: float | None = None) -> None:
        """Run one background job; ``deadline`` (``time.monotonic()``): when the process running it ends."""
        if kind == Job.FINALIZE:
            self.finalize(batch_id)
        elif kind == Job.NOTIFY:
            self.notify(batch_id)
        elif kind == Job.RECONCILE:
            self.reconcile(batch_id)
        elif kind == Job.RELEASE:
            self.release(batch_id)
        elif kind == Job.REFRESH:
            self.refresh_job(batch_id)
        elif kind == Job.SUBMIT_BATCH:
            self.submit(batch_id)
        elif kind == Job.START_PARTS:
            self.parts().run(batch_id)
        elif kind == Job.COMPLETE_UPLOAD:  # batch_id is an upload's ID here: its file made (a large upload's)
            from batchbridge.domain.services.uploads import UploadService  # imported by the one job that needs it

            uploads = UploadService.for_jobs(
                self.records,
                self.blobs,
                self.providers,
                self.vault,
                self.queue,
                self.clock,
                max_requests_per_batch=self.max_requests_per_batch,
            )
            uploads.process(batch_id)
        elif kind in (Job.CHUNK, Job.CHUNK_DEAD):  # batch_id is a chunk's reference here
            batch, number = parse_chunk_ref(batch_id)
            if kind == Job.CHUNK:
                self._executor().run_chunk(batch, number, deadline)
            else:
                self._executor().dead_chunk(batch, number)
        else:
            logger.warning("ignoring unknown job %r for %s", kind, batch_id)

    def finalize(self, batch_id: str) -> BatchRecord | None:
        """Make an ended batch final: its results become our files, its status the provider's outcome.

        The results are made ours once per run (file IDs derive from the batch, so a rerun writes the
        same files); only the record write is retried when a refresh wrote in between. Failures
        propagate so the queue retries, and the sweeper re-sends batches left unfinalized.
        """
        record = self.records.get_batch(batch_id)
        if record is None or record.is_terminal or not record.jobs:
            return record
        credentials = self.vault.open(record.sealed_credentials or "", record.id)
        adapter = self.providers.get(record.provider)
        reports = [adapter.get_batch(credentials, job.id) for job in _with_results(record)]
        now_ns = self.clock()
        now = seconds(now_ns)
        results: StoredResults | None = None
        ended = fold_all(adapter.spec, record, reports, now_ns)
        if ended.provider_outcome is not None:
            results = self._write_results(adapter, credentials, ended, reports, now)
            if results is None:  # another run finalized it meanwhile (and may have removed the results)
                return self.records.get_batch(batch_id)
        for _ in range(FINALIZE_ATTEMPTS):
            updated = fold_all(adapter.spec, record, reports, now_ns)
            if results is not None and updated.provider_outcome is not None:
                # the files' fields and the lines' usage go in the write that makes the batch final
                results.apply(updated)
                outcome = updated.provider_outcome
                move(updated, outcome, _reported_at(reports, f"{outcome}_at", now))
                # its working copies go now (and, should that fail, from the sweeper's hands later); a batch with
                # none (OpenAI's) costs no release
                updated.release_pending = (
                    adapter.spec.keeps_results
                    or updated.input_copy_key is not None
                    or any(job.custom_id_map_key for job in updated.jobs)
                )
            saved = save(self.records, record, updated)
            schedule(self.queue, record, saved)
            if saved == updated:  # not overtaken by another writer
                if saved.release_pending:
                    return self.release(batch_id) or saved
                return saved
            reread = self.records.get_batch(batch_id)
            if reread is None or reread.is_terminal:
                return reread
            record = reread
        raise RuntimeError(f"finalize of {batch_id} kept losing races with other writers")

    def _write_results(
        self,
        adapter: ProviderAdapter,
        credentials: Credentials,
        batch: BatchRecord,
        reports: list[ProviderBatch],
        now: int,
    ) -> StoredResults | None:
        """Stream every job's results into our OpenAI output and error files (bounded memory): its result lines
        converted (their usage summed as they go), or its provider's own OpenAI files copied as they are; returns
        what they give the batch (its fields, the converted jobs' usage). None when another run finalized the batch
        while this one read its results: this one writes nothing (the other may have removed the results after its
        final write, so what this run read may be short; what it read before that final write is whole, and the
        same)."""
        with ResultFiles(batch, now) as files:
            by_job = dict(zip((job.id for job in _with_results(batch)), reports, strict=True))
            for job in batch.jobs:  # in the parts' order: a part that never ran has its requests' error lines
                if job.id in by_job:
                    files.add_job(adapter, credentials, job, by_job[job.id], self.blobs)
                else:
                    files.add_unrun_part(job, self.blobs, batch.input_copy_key)
            current = self.records.get_batch(batch.id)
            if current is None or current.is_terminal:
                return None
            return files.store(self.blobs, self.records)

    def release(self, batch_id: str) -> BatchRecord | None:
        """Remove a final batch's working copies, now that its results are our files: its custom_id map, and what
        the provider side kept for it (stored answers, raw output in our bucket). A failure leaves the batch
        ``release_pending`` (and in the sweeper's index), and the sweeper sends this job again."""
        record = self.records.get_batch(batch_id)
        if record is None or not record.is_terminal or not record.release_pending:
            return record
        try:
            adapter = self.providers.get(record.provider)
            credentials = None
            release_part_input = getattr(adapter, "release_part_input", None)  # (optional: hasattr)
            for job in record.jobs:
                if job.custom_id_map_key:
                    self.blobs.delete(job.custom_id_map_key)
                keeps_results = adapter.spec.keeps_results and job.started
                # the part's copy of its input made at the provider: a started part's, or one a part put back to
                # waiting kept from its forgotten job (``refresh.requeued``)
                part_input = release_part_input is not None and _has_part_input(job)
                if keeps_results or part_input:
                    # (the vault opened only for a provider with copies of its own)
                    credentials = credentials or self.vault.open(record.sealed_credentials or "", record.id)
                if keeps_results:
                    assert credentials is not None
                    adapter.release_results(credentials, job.id)
                if part_input and release_part_input is not None:
                    release_part_input(credentials, job)
            if record.input_copy_key is not None:
                self.blobs.delete(record.input_copy_key)
        except Exception:
            logger.warning("batch %s: its working copies could not all be removed yet", batch_id, exc_info=True)
            return record
        return self._settle(batch_id, "release_pending")

    def reconcile(self, batch_id: str) -> BatchRecord | None:
        """Settle an intent whose create got no stored answer.

        The provider's batch, found by the ID it carries there, becomes the batch as the provider runs it: its
        owner sees it in lists and can cancel it. While none shows up the sweeper asks again; after
        RECONCILE_GIVE_UP_SECONDS the intent is dropped.
        """
        record = self.records.get_batch(batch_id)
        if record is None or not record.creating:
            return record
        now_ns = self.clock()
        age = seconds(now_ns) - record.created_at
        if age < RECONCILE_AFTER_SECONDS:  # its create may still be waiting on the provider
            self.queue.send(Job.RECONCILE, batch_id, delay_seconds=RECONCILE_AFTER_SECONDS - age)
            return record
        credentials = self.vault.open(record.sealed_credentials or "", record.id)
        request = self._stored_request(record)
        try:
            adapter = self.providers.get(record.provider)
            report = adapter.find_batch(credentials, request, record.created_at)
        except GatewayError as exc:
            # A batch may be there with nothing to tell it by: kept till given up, as if not found. A provider that
            # cannot be asked is asked again, till then too (past it, the intent goes: no job outlives the sweeps).
            if exc.code != NOT_IDENTIFIABLE and age < RECONCILE_GIVE_UP_SECONDS:
                raise
            report = None
        if report is not None:
            saved = save(self.records, record, adopt(self.blobs, adapter.spec, record, report, now_ns))
            schedule(self.queue, None, saved)
            logger.info(
                "batch %s: adopted %s batch %s left by an unanswered create", batch_id, record.provider, report.id
            )
            return saved
        if age < RECONCILE_GIVE_UP_SECONDS:  # a provider's list may lag its creates: the sweeper asks again
            return record
        logger.warning(
            "batch %s: the %s provider shows no batch from its unanswered create; dropping the intent",
            batch_id,
            record.provider,
        )
        self.records.delete_batch(record)
        return None

    def submit(self, batch_id: str) -> BatchRecord | None:
        """The submit_batch job: the provider batch of a batch accepted before it had one (batches.create of a large
        input file) created, and adopted as a synchronous create adopts it.

        One run at a time: a run holds the submission for SUBMIT_LEASE_SECONDS (longer than the function may run),
        and one arriving meanwhile does nothing; past the lease (its function ended), another run takes over. Before
        it sends its create a run notes so on the record (``submit_sent_at``): the next run, finding the note, first
        asks the provider for what that create may have left (``find_batch``), so a run killed after the provider
        call never makes two provider batches; where the provider cannot tell (an Anthropic batch carries nothing
        of ours, and one of that size was created since), the batch ends ``failed``, saying so. A provider's
        refusal ends the batch ``failed`` with OpenAI's ``errors``; a passing failure (5xx, timeout) releases the
        submission and raises, so the queue runs the job again. A cancel meanwhile ends it ``cancelled`` (what a
        run's create made is cancelled at the provider); past its completion window unsubmitted, it ends
        ``expired``."""
        record, lease = self._claim_submission(batch_id)
        if lease is None:
            return record
        assert record is not None
        try:
            submitted = self._submit(record, lease)
        except Exception:
            # A passing failure: released at once, so the job's next delivery (or the sweeper) carries on.
            with contextlib.suppress(Exception):
                now = self.now()
                self._update_submission(batch_id, lease, lambda current: _with(current, submit_until=now))
            raise
        if record.submit_input_key and (submitted is None or not submitted.submit_pending):
            with contextlib.suppress(Exception):  # (else its expiry tag removes it)
                self.blobs.delete(record.submit_input_key)  # the batch's copy of its input: read, or no more needed
        return submitted

    def _claim_submission(self, batch_id: str) -> tuple[BatchRecord | None, int | None]:
        """The batch, claimed for this run until its lease (returned); no lease when there is nothing to submit or
        another run holds it."""
        for _ in range(SUBMIT_WRITE_ATTEMPTS):
            record = self.records.get_batch(batch_id)
            if record is None or not record.submit_pending:
                return record, None
            now = self.now()
            if record.submit_until is not None and now < record.submit_until:
                return record, None  # another run holds it: its lease decides (the sweeper sends the job after it)
            claimed = _with(record, submit_until=now + SUBMIT_LEASE_SECONDS, submit_attempts=record.submit_attempts + 1)
            if save(self.records, record, claimed) == claimed:
                return claimed, claimed.submit_until
        return self.records.get_batch(batch_id), None

    def _update_submission(
        self, batch_id: str, lease: int, change: Callable[[BatchRecord], BatchRecord]
    ) -> BatchRecord | None:
        """``change`` of the submission written while this run holds it, made again on the version another writer
        (a cancel) left; None when the run no longer holds it (its lease lapsed and another run took over)."""
        for _ in range(SUBMIT_WRITE_ATTEMPTS):
            record = self.records.get_batch(batch_id)
            if record is None or not record.submit_pending or record.submit_until != lease:
                return None
            updated = change(record)
            if save(self.records, record, updated) == updated:
                return updated
        raise RuntimeError(f"the submission of {batch_id} kept losing races with other writers")

    def _submit(self, record: BatchRecord, lease: int) -> BatchRecord | None:
        now = self.now()
        credentials = self.vault.open(record.sealed_credentials or "", record.id)
        adapter = self.providers.get(record.provider)
        request = self._stored_request(record)
        if record.submit_sent_at is not None:  # an earlier run's create got no answer the record knows of
            waited = now - record.submit_sent_at
            if waited < RECONCILE_AFTER_SECONDS:  # it may still be in flight (or not yet in the provider's lists)
                self.queue.send(Job.SUBMIT_BATCH, record.id, delay_seconds=RECONCILE_AFTER_SECONDS - waited)
                released = self._update_submission(record.id, lease, lambda current: _with(current, submit_until=now))
                return released or self.records.get_batch(record.id)
            try:
                found = adapter.find_batch(credentials, request, record.submit_sent_at)
            except GatewayError as exc:
                if exc.code != NOT_IDENTIFIABLE and not _refused(exc):
                    if record.status == "cancelling" or now >= _window_end(record):
                        # It can no longer run for the user: it ends as asked (or expires) rather than wait on
                        # a provider that does not answer; what the create may have left is named in errors.
                        logger.warning("batch %s: ended unsubmitted, its provider unreachable: %s", record.id, exc)
                        status = "cancelled" if record.status == "cancelling" else "expired"
                        return self._end_submission(record.id, lease, status, _unknown_outcome(record, adapter.spec))
                    raise
                logger.warning(
                    "batch %s: the %s provider may hold a batch from its create sent at %d, and cannot tell which: %s",
                    record.id,
                    record.provider,
                    record.submit_sent_at,
                    exc.message,
                )
                return self._end_submission(record.id, lease, "failed", _unknown_outcome(record, adapter.spec))
            if found is not None:
                logger.info("batch %s: adopting %s batch %s, an earlier run's", record.id, record.provider, found.id)
                return self._adopt_submission(adapter, credentials, record.id, lease, found)
            # the provider holds none: that create made nothing, and this run sends its own
        if record.status == "cancelling":
            return self._end_submission(record.id, lease, "cancelled")
        if now >= _window_end(record):
            return self._end_submission(record.id, lease, "expired")
        gone = self._input_gone(record, now)
        if gone is not None:
            return self._end_submission(record.id, lease, "failed", gone)

        def sending(current: BatchRecord) -> BatchRecord:
            return current if current.status == "cancelling" else _with(current, submit_sent_at=now)

        sent = self._update_submission(record.id, lease, sending)
        if sent is None:
            return self.records.get_batch(record.id)
        if sent.status == "cancelling":  # cancelled just now: nothing is sent
            return self._end_submission(record.id, lease, "cancelled")
        try:
            report = adapter.create_batch(credentials, request)
        except GatewayError as exc:
            if _refused(exc):
                return self._end_submission(record.id, lease, "failed", _errors_of(exc))
            if exc.code not in UNANSWERED:  # the provider answered it (429, 5xx, 529): it made nothing
                self._update_submission(record.id, lease, lambda current: _with(current, submit_sent_at=None))
            raise  # passing (unanswered, it may have been created: the note stays, for the next run to look)
        return self._adopt_submission(adapter, credentials, record.id, lease, report)

    def _stored_request(self, record: BatchRecord) -> BatchRequest:
        """The create request as the record keeps it (an intent's, or a pending submission's with its extras and
        its own copy of the input), for the provider's create or for finding what a create left."""
        input_file = self.records.get_file(record.input_file_id, include_deleted=True) if record.input_file_id else None
        if input_file is not None and record.submit_input_key is not None:
            input_file = dataclasses.replace(input_file, blob_key=record.submit_input_key)  # the batch's own copy
        return BatchRequest(
            batch_id=record.id,
            input_file=input_file,
            open_input=input_opener(self.blobs, input_file),
            endpoint=record.endpoint,
            completion_window=record.completion_window,
            metadata=record.metadata,
            output_expires_after_seconds=record.output_expires_after_seconds,
            extras=dict(record.submit_params or {}) | ({"model": record.model} if record.model else {}),
        )

    def _input_gone(self, record: BatchRecord, now: int) -> dict[str, Any] | None:
        """The errors of a batch whose input file was deleted (or expired) before it was submitted; None if there."""
        if not record.input_file_id or record.submit_input_key is not None:  # (read from the batch's own copy)
            return None
        live = self.records.get_file(record.input_file_id)
        if live is not None and (live.expires_at is None or now < live.expires_at):
            return None
        message = f"The input file {record.input_file_id!r} was deleted or expired before the batch was submitted."
        return _errors([{"code": "invalid_input_file", "message": message, "param": "input_file_id", "line": None}])

    def _end_submission(
        self, batch_id: str, lease: int, status: str, errors: dict[str, Any] | None = None
    ) -> BatchRecord | None:
        """The batch ended with no provider batch: ``status`` (``cancelled`` whatever it is, for one being
        cancelled), its errors kept for ``failed``."""

        def end(current: BatchRecord) -> BatchRecord:
            ended = _with(
                current,
                submit_pending=False,
                submit_params=None,
                submit_until=None,
                submit_sent_at=None,
                submit_input_key=None,
            )
            ended.refreshed_ns = self.clock()  # (a pending batch's reads as far ahead: see BatchService._accept)
            target = "cancelled" if current.status == "cancelling" else status
            if target == "failed":
                ended.errors = errors
            _end_unsubmitted(ended, target, self.now())
            return ended

        saved = self._update_submission(batch_id, lease, end)
        if saved is None:
            return self.records.get_batch(batch_id)
        schedule(self.queue, None, saved)  # notify
        return saved

    def _adopt_submission(
        self, adapter: ProviderAdapter, credentials: Credentials, batch_id: str, lease: int, report: ProviderBatch
    ) -> BatchRecord | None:
        """The provider's batch recorded as the batch's own (its custom_id map written first); if a cancel came
        while it was made, cancelled at the provider now."""
        now_ns = self.clock()
        saved = self._update_submission(
            batch_id, lease, lambda current: adopt(self.blobs, adapter.spec, current, report, now_ns)
        )
        if saved is None:  # another run took the submission over (this one outran its lease): it finds this batch
            logger.warning("batch %s: submitted as %s batch %s after its lease", batch_id, adapter.name, report.id)
            return self.records.get_batch(batch_id)
        schedule(self.queue, None, saved)
        if saved.status != "cancelling":
            return saved
        assert saved.provider_batch_id is not None
        try:
            cancelled = adapter.cancel_batch(credentials, saved.provider_batch_id)
        except GatewayError as exc:
            if exc.status not in (400, 409):  # not "ended already"
                logger.warning("batch %s: its cancel did not reach the provider: %s", batch_id, exc.message)
                return saved
            cancelled = adapter.get_batch(credentials, saved.provider_batch_id)
        record: BatchRecord | None = saved
        for _ in range(SUBMIT_WRITE_ATTEMPTS):
            if record is None or record.is_terminal:
                return record
            updated = fold(adapter.spec, record, cancelled, self.clock())
            written = save(self.records, record, updated)
            schedule(self.queue, record, written)
            if written == updated:
                return written
            record = self.records.get_batch(batch_id)
        return record

    def sweep(self, deadline: float | None = None, seen: Callable[[BatchRecord], None] | None = None) -> int:
        """Queue a refresh of every batch not yet final (each a job of its own: the sweep's time does not grow
        with the provider calls), so batches finish (and webhooks fire) with nobody polling. Also re-sends what
        may have been lost: finalize for an ended batch, notify for a final one.

        ``deadline`` (``time.monotonic()``): when the process running the sweep ends; the sweep stops short of it
        (SWEEP_MARGIN_SECONDS), and the next one picks up the batches it did not reach. ``seen``: called with each
        batch not yet final it reaches (the deployment counts them by provider and status).
        """
        count = 0
        now = self.now()
        parts_due: list[BatchRecord] = []  # split batches with parts to start (or stop): queued fairly, at the end
        # each minute's sweep starts elsewhere: one that stops at its budget leaves others for the next ones
        for record in self.records.list_active_batches(start=now // 60):
            if deadline is not None and time.monotonic() > deadline - SWEEP_MARGIN_SECONDS:
                logger.warning("sweep stopped at its time budget after %d batches", count)
                break
            count += 1
            if seen is not None and not record.creating and not record.is_terminal:
                seen(record)
            if parts_runner.parts_due(record, now):
                parts_due.append(record)
            try:
                self._sweep_one(record, now)
            except Exception:  # one batch's trouble never stops the sweep
                logger.exception("sweep of batch %s failed", record.id)
        for record in parts_runner.fair_order(parts_due):  # first-come per owner, each owner in turn
            try:
                self.queue.send(Job.START_PARTS, record.id)
            except Exception:
                logger.exception("sweep of batch %s failed", record.id)
        return count

    def _sweep_one(self, record: BatchRecord, now: int) -> None:
        """What the sweep queues for one batch (its start_parts job aside)."""
        if record.creating:
            if now - record.created_at >= RECONCILE_AFTER_SECONDS:
                self.queue.send(Job.RECONCILE, record.id)
        elif record.submit_pending:
            # held by no run for a while (its job lost, or its last run released it): submit it again
            if now >= (record.submit_until or record.created_at) + _resend_after(record.submit_attempts):
                self.queue.send(Job.SUBMIT_BATCH, record.id)
        elif record.is_terminal:
            if self._notify_overdue(record, now):
                self.queue.send(Job.NOTIFY, record.id)
            if record.release_pending and now - seconds(record.refreshed_ns) >= FINALIZE_RESEND_SECONDS:
                self.queue.send(Job.RELEASE, record.id)
        elif record.provider_outcome is not None:
            # ended, not yet finalized: its job was lost or keeps failing; try again now and then
            if now - seconds(record.refreshed_ns) >= FINALIZE_RESEND_SECONDS:
                self.queue.send(Job.FINALIZE, record.id)
        elif record.started_jobs:
            self.queue.send(Job.REFRESH, refresh_reference(record.id, self.clock()))

    def parts(self) -> parts_runner.PartsRunner:
        """The start_parts job's runner (``services.parts_runner``)."""
        return parts_runner.PartsRunner(self.records, self.blobs, self.providers, self.vault, self.queue, self.clock)

    def refresh_job(self, reference: str) -> BatchRecord | None:
        """The sweep's refresh of one batch not yet final (``reference``: its ID, and when the sweep queued it): the
        provider asked, the record updated, and what its new state calls for queued (finalize). Refreshes queued
        before the batch was last refreshed ask nobody: sweeps that outpace the queue pile up no provider calls."""
        batch_id, _, queued = reference.partition("@")
        queued_ns = int(queued) if queued.isdigit() else None
        record = self.records.get_batch(batch_id)
        if (
            record is None
            or record.creating
            or record.is_terminal
            or record.provider_outcome is not None
            or not record.started_jobs
        ):
            return None  # final or ended meanwhile: nothing to ask the provider
        if queued_ns is not None and record.refreshed_ns >= queued_ns:
            return record  # refreshed since this job was queued (a poll, or a twin queued by an earlier sweep)
        for job in record.jobs:
            if record.provider == compat.PROVIDER or job.kind == "on_demand":
                # the gateway runs these itself: the sweep is also what notices a broken chunk chain
                self._executor().mend(job.id)
        saved = self.refresh(record)
        schedule(self.queue, record, saved)
        return saved

    def _executor(self) -> ChunkRunner:
        if self.executor is None:
            raise RuntimeError("this gateway runs no executor: it has no chunk jobs")
        return self.executor()

    def _notify_overdue(self, record: BatchRecord, now: int) -> bool:
        """A final batch whose webhook is still owed, with no attempt for a while (a lost notify job)."""
        if not record.notify_pending:
            return False
        delivery = self.records.get_delivery(webhooks.event_id(record.id, record.status))
        last = delivery.at if delivery is not None else record.timestamps.get(f"{record.status}_at", 0)
        return now - last >= NOTIFY_OVERDUE_SECONDS

    def refresh(self, record: BatchRecord) -> BatchRecord:
        credentials = self.vault.open(record.sealed_credentials or "", record.id)
        return save(
            self.records, record, refreshed(self.providers.get(record.provider), credentials, record, self.clock)
        )

    def notify(self, batch_id: str) -> Delivery | None:
        """One delivery attempt of the batch's final event; a failed one queues the next with backoff.

        At least once: the batch stays ``notify_pending`` (and in the sweeper's index) until the
        event is delivered or its attempts are spent; every attempt is recorded.
        """
        record = self.records.get_batch(batch_id)
        if record is None or not record.is_terminal or not record.notify_pending:
            return None
        if self.webhook is None or self.sender is None:
            self._settle(batch_id, "notify_pending")  # webhooks are off: nothing is owed
            return None
        event_id = webhooks.event_id(record.id, record.status)
        previous = self.records.get_delivery(event_id)
        if previous is not None and previous.status in ("delivered", "failed"):
            self._settle(batch_id, "notify_pending")
            return previous
        attempt = (previous.attempts if previous is not None else 0) + 1
        created_at = record.timestamps.get(f"{record.status}_at", self.now())
        body = webhooks.event_body(record.id, record.status, created_at)
        headers = webhooks.signed_headers(self.webhook.secret, event_id, self.now(), body)
        error: str | None = None
        try:
            status = self.sender.post(self.webhook.url, body, headers)
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Exception as exc:  # a failing receiver never blocks a batch
            error = f"{type(exc).__name__}: {exc}"
        outcome = "delivered" if error is None else ("failed" if attempt >= self.webhook.attempts else "retrying")
        delivery = Delivery(
            event_id=event_id,
            batch_id=record.id,
            event_type=webhooks.EVENT_TYPES[record.status],
            status=outcome,
            attempts=attempt,
            last_error=error,
            at=self.now(),
        )
        self.records.put_delivery(delivery)
        if outcome == "retrying":
            delay = self.webhook.first_backoff_seconds * 2 ** (attempt - 1)
            self.queue.send(Job.NOTIFY, record.id, delay_seconds=round(delay))
        else:
            if outcome == "failed":
                logger.warning("webhook for %s failed after %d attempts: %s", record.id, attempt, error)
            self._settle(batch_id, "notify_pending")
        return delivery

    def _settle(self, batch_id: str, pending: str) -> BatchRecord | None:
        """Clear a final batch's ``pending`` flag (``notify_pending``, ``release_pending``): what it waited for is
        done. Written on the version read, read again when another writer won."""
        record = self.records.get_batch(batch_id)
        for _ in range(FINALIZE_ATTEMPTS):
            if record is None or not getattr(record, pending):
                return record
            settled = copy.deepcopy(record)
            setattr(settled, pending, False)
            if save(self.records, record, settled) == settled:
                return settled
            record = self.records.get_batch(batch_id)
        return record


def _with_results(record: BatchRecord) -> list[ProviderJob]:
    """The jobs whose results the provider holds: started, and not failed (a part that failed, or never ran, has
    its requests' error lines made from the batch's input copy)."""
    return [job for job in record.started_jobs if job.phase != "failed"]


def _with(record: BatchRecord, **changes: Any) -> BatchRecord:
    """A copy of ``record`` (nothing shared: ``save`` compares it with the one read) with ``changes``."""
    updated = copy.deepcopy(record)
    for name, value in changes.items():
        setattr(updated, name, value)
    return updated


def _end_unsubmitted(record: BatchRecord, status: str, at: int) -> None:
    """``record`` moved to a final ``status`` with no provider batch: ``cancelled`` through ``cancelling``;
    ``expired`` at once (there are no results for a finalizer to make ours first)."""
    if status == "cancelled":
        move(record, "cancelling", at)
    if not move(record, status, at):
        record.status = status
        record.timestamps.setdefault(f"{status}_at", at)
        record.notify_pending = True


def _window_end(record: BatchRecord) -> int:
    return record.created_at + _window_seconds(record.completion_window)


def _resend_after(attempts: int) -> int:
    """How long a submission nobody holds waits for the sweeper to send it again: longer after each run that
    failed (2 minutes, doubling, at most an hour), so a provider that stays down is not asked ever more often."""
    return int(min(SUBMIT_RESEND_SECONDS * 2 ** min(max(attempts - 2, 0), 5), 3600))


def _window_seconds(window: str) -> int:
    """A completion window ("24h") in seconds."""
    return int(window.removesuffix("h")) * 3600 if window.endswith("h") and window[:-1].isdigit() else 86_400


def _has_part_input(job: ProviderJob) -> bool:
    """Whether ``job`` is a part whose input may have a copy at its provider: started, or kept from a job of it the
    gateway forgot (put back to waiting)."""
    return job.part is not None and (job.started or job.input_location is not None)


def _refused(exc: GatewayError) -> bool:
    """The provider (or the gateway, for it) refused the create: nothing was made, and asking again changes
    nothing. Unlike a timeout, a 5xx, a rate limit or a conflict, which may pass."""
    return 400 <= exc.status < 500 and exc.status not in (408, 409, 429)


def _errors(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": data}


def _errors_of(exc: GatewayError) -> dict[str, Any]:
    """A refusal as OpenAI's batch ``errors``: its code, message and param, and the line it names if any."""
    line = LINE_NUMBER.search(exc.message)
    return _errors(
        [
            {
                "code": exc.code or exc.type,
                "message": exc.message,
                "param": exc.param,
                "line": int(line.group(1)) if line else None,
            }
        ]
    )


def _unknown_outcome(record: BatchRecord, spec: ProviderSpec) -> dict[str, Any]:
    provider = spec.display_name
    message = (
        f"The batch was sent to {provider}, but its answer never reached the gateway, and {provider} keeps nothing "
        f"to tell which of its batches it is: it may be running in the {provider} account of the key it was sent "
        f"with (a batch created after unix time {record.submit_sent_at}). Look there before creating it again."
    )
    return _errors([{"code": "submission_outcome_unknown", "message": message, "param": None, "line": None}])


def _reported_at(reports: list[ProviderBatch], name: str, default: int) -> int:
    """When the providers say a batch reached a state: the latest of its jobs' (``default`` if none says)."""
    return max((report.timestamps[name] for report in reports if name in report.timestamps), default=default)
