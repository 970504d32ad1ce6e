"""Writes shared by the API operations and the background jobs on batches."""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from typing import Final

from batchbridge.domain import ids, status_events
from batchbridge.domain.clock import seconds
from batchbridge.domain.custom_ids import map_lines
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.lifecycle import UnknownProviderState
from batchbridge.domain.ports import BlobStore, Credentials, Job, ProviderAdapter, ProviderBatch, RecordStore, WorkQueue
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import (
    WORKING_EXPIRY_DAYS,
    BatchRecord,
    FileRecord,
    ProviderJob,
    blob_expiry_days,
    output_filename,
    output_lifetime_seconds,
)
from batchbridge.domain.refresh import apply_report
from batchbridge.domain.streams import reader

logger = logging.getLogger(__name__)
# An intent younger than this may still have its create in flight (API Gateway gives a request 29 s).
RECONCILE_AFTER_SECONDS: Final = 60
SPOOL_BYTES: Final = 8 * 1024 * 1024  # files beyond this spill to disk while they are written
# The work queue's job that creates the provider batch of a batch accepted before it had one (batches.create of a
# large input file): see BatchJobs.submit.
SUBMIT_JOB: Final = Job.SUBMIT_BATCH  # (its name in the tests)
# A submitting run's lease: longer than the work queue's function may run (600 s), so once it lapses that run is
# gone and another may take the submission over.
SUBMIT_LEASE_SECONDS: Final = 660
# A submission nobody holds (its job lost, or released by a passing failure) is sent again by the sweeper this long
# after it was accepted or last held.
SUBMIT_RESEND_SECONDS: Final = 120
# What an adapter's find_batch raises (a 409 with this code) when a batch the create may have left could be at the
# provider but nothing tells which it is: the caller cannot know, and must neither adopt nor create again.
NOT_IDENTIFIABLE: Final = "batch_not_identifiable"


def input_opener(blobs: BlobStore, input_file: FileRecord | None) -> Callable[[], Iterator[bytes]] | None:
    """How a provider reads a batch's input file from our bucket (None when the gateway holds no copy)."""
    if input_file is None or input_file.blob_key is None:
        return None
    blob_key = input_file.blob_key
    return lambda: blobs.open(blob_key)


def adopt(blobs: BlobStore, spec: ProviderSpec, intent: BatchRecord, report: ProviderBatch, now_ns: int) -> BatchRecord:
    """The batch record an intent becomes once its provider's (``spec``) batch is known (stored by the caller)."""
    job = ProviderJob(id=report.id)
    record = dataclasses.replace(
        intent,
        jobs=[job],
        model=report.model or intent.model,
        creating=False,
        submit_pending=False,
        submit_params=None,
        submit_until=None,
        submit_sent_at=None,
        submit_input_key=None,
    )
    if report.custom_id_map:
        job.custom_id_map_key = f"batches/{intent.id}/custom_ids.json"
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            for line in map_lines(report.custom_id_map):
                spool.write(line)
            spool.seek(0)
            # a working object: the finalizer removes it; the expiry tag removes one a failed batch leaves
            blobs.put(job.custom_id_map_key, spool, "application/jsonl", WORKING_EXPIRY_DAYS)  # type: ignore[arg-type]
    return fold(spec, record, report, now_ns)


def fold(spec: ProviderSpec, record: BatchRecord, report: ProviderBatch, now_ns: int) -> BatchRecord:
    """``record`` updated with a report of its provider's (``spec``), stamped as refreshed now."""
    try:
        updated = apply_report(spec, record, report, seconds(now_ns))
    except UnknownProviderState as exc:
        raise GatewayError(
            502, f"The {record.provider} provider reported {exc}.", type="upstream_error", code="provider_bad_response"
        ) from None
    updated.refreshed_ns = now_ns
    return updated


def fold_all(spec: ProviderSpec, record: BatchRecord, reports: list[ProviderBatch], now_ns: int) -> BatchRecord:
    """``record`` updated with a report of each of its jobs (by its provider: ``spec``)."""
    for report in reports:
        record = fold(spec, record, report, now_ns)
    return record


def refreshed(
    adapter: ProviderAdapter, credentials: Credentials, record: BatchRecord, clock: Callable[[], int]
) -> BatchRecord:
    """``record`` updated with what its provider reports now of each of its jobs."""
    reports = [adapter.get_batch(credentials, job.id) for job in record.jobs]
    return fold_all(adapter.spec, record, reports, clock())


def schedule(queue: WorkQueue, before: BatchRecord | None, after: BatchRecord) -> None:
    """Background work a change calls for: finalize a batch its provider ended, announce a final one."""
    if after.provider_outcome and not after.is_terminal and (before is None or not before.provider_outcome):
        queue.send(Job.FINALIZE, after.id)
    if after.is_terminal and (before is None or not before.is_terminal):
        queue.send(Job.NOTIFY, after.id)


def save(records: RecordStore, before: BatchRecord, after: BatchRecord) -> BatchRecord:
    """Write ``after`` if nobody wrote since ``before`` was read; else answer with the winner's record."""
    if after == before:
        return before
    after.version = before.version + 1
    if records.update_batch(after):
        if after.status != before.status or before.creating != after.creating:
            status_events.announce(after)  # every status change is a save
        return after
    winner = records.get_batch(before.id)
    return winner if winner is not None else before


def register_result_files(
    records: RecordStore,
    blobs: BlobStore,
    adapter: ProviderAdapter,
    credentials: Credentials,
    batch: BatchRecord,
    report: ProviderBatch,
) -> None:
    """Make the provider's output and error files ours, owned by the batch's owner, their bytes copied into our
    bucket (streamed): content is then served like every other result file (large ones through a download URL,
    which a Lambda response could not carry) and outlives the provider's retention.

    IDs derive from the batch ID, so a second run registers the same files. A file gone at the
    provider (404, e.g. expired) is left out; any other failure propagates so the job is retried.
    """
    for role, provider_file_id in (("output", report.output_file_id), ("error", report.error_file_id)):
        if provider_file_id is None or getattr(batch, f"{role}_file_id") is not None:
            continue
        file_id = ids.derived_file_id(batch.id, role)
        if records.get_file(file_id, include_deleted=True) is None:
            try:
                upstream = adapter.get_file(credentials, provider_file_id)
            except GatewayError as exc:
                if exc.status != 404:
                    raise
                logger.warning("%s file of batch %s is gone at the provider", role, batch.id)
                continue
            blob_key = f"batches/{batch.id}/{role}.jsonl"
            copied = [0]

            def counted(chunks: Iterator[bytes], copied: list[int] = copied) -> Iterator[bytes]:
                for chunk in chunks:
                    copied[0] += len(chunk)
                    yield chunk

            content = counted(adapter.open_file_content(credentials, provider_file_id))
            # The provider's expiry; where it sets none, our copy's (every result file has one)
            expires_at = upstream.expires_at or upstream.created_at + output_lifetime_seconds(batch)
            lifetime = expires_at - upstream.created_at
            blobs.put(blob_key, reader(content), "application/jsonl", blob_expiry_days(lifetime))
            records.put_file_if_absent(
                FileRecord(
                    id=file_id,
                    owner=batch.owner,
                    provider=batch.provider,
                    provider_file_id=upstream.id,
                    filename=output_filename(batch, role),
                    bytes=copied[0],
                    purpose="batch_output",
                    created_at=upstream.created_at,
                    expires_at=expires_at,
                    source_batch_id=batch.id,
                    blob_key=blob_key,
                    content_type="application/jsonl",
                )
            )
        setattr(batch, f"{role}_file_id", file_id)
