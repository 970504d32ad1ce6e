"""Writes shared by the API operations and the background jobs on batches."""

from __future__ import annotations

import copy
import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from typing import Final

from batchbridge.domain import status_events
from batchbridge.domain.clock import seconds
from batchbridge.domain.custom_ids import map_lines
from batchbridge.domain.errors import bad_provider_response
from batchbridge.domain.lifecycle import UnknownProviderState
from batchbridge.domain.ports import BlobStore, Credentials, Job, ProviderAdapter, ProviderBatch, RecordStore, WorkQueue
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import (
    WORKING_EXPIRY_DAYS,
    BatchRecord,
    FileRecord,
    ProviderJob,
)
from batchbridge.domain.refresh import apply_report

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


def adopt(
    blobs: BlobStore,
    spec: ProviderSpec,
    intent: BatchRecord,
    report: ProviderBatch,
    now_ns: int,
    input_file: FileRecord | None = None,
    part_number: int | None = None,
) -> BatchRecord:
    """The batch record an intent becomes once its provider's (``spec``) batch is known (stored by the caller): the
    batch's job, its custom_id map written (the first job's under the batch's key, as records before jobs had it;
    a later job's under its own), and where the provider holds its input (as the report names it, else the provider's
    copy of ``input_file``). With ``part_number``: the provider job of that part of a split batch, filling the part's
    waiting job (the batch's other fields as they are)."""
    if part_number is not None:
        return _adopt_part(blobs, spec, intent, report, now_ns, part_number)
    others = [job for job in intent.jobs if job.id != report.id]
    job = ProviderJob(
        id=report.id, input_location=report.input_location or _provider_copy(input_file), kind=report.job_kind
    )
    record = dataclasses.replace(
        intent,
        jobs=[*others, job],
        model=report.model or intent.model,
        creating=False,
        submit_pending=False,
        submit_params=None,
        submit_until=None,
        submit_sent_at=None,
        submit_input_key=None,
    )
    _write_map(blobs, job, report, intent.id, len(others))
    return fold(spec, record, report, now_ns)


def _adopt_part(
    blobs: BlobStore, spec: ProviderSpec, record: BatchRecord, report: ProviderBatch, now_ns: int, part_number: int
) -> BatchRecord:
    updated = copy.deepcopy(record)
    index = next(
        index for index, job in enumerate(updated.jobs) if job.part is not None and job.part["number"] == part_number
    )
    waiting = updated.jobs[index]
    job = ProviderJob(
        id=report.id,
        input_location=report.input_location,
        kind=report.job_kind,
        part=waiting.part,
        attempts=waiting.attempts,
        request_counts=waiting.request_counts,
    )
    updated.jobs[index] = job
    if report.model and not updated.model:
        updated.model = report.model
    _write_map(blobs, job, report, record.id, index)
    return fold(spec, updated, report, now_ns)


def _write_map(blobs: BlobStore, job: ProviderJob, report: ProviderBatch, batch_id: str, job_number: int) -> None:
    """The job's custom_id map (where its report gives one) written, and named on the job."""
    if not report.custom_id_map:
        return
    job.custom_id_map_key = custom_id_map_key(batch_id, job_number)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        for line in map_lines(report.custom_id_map):
            spool.write(line)
        spool.seek(0)
        # a working object: the finalizer removes it; the expiry tag removes one a failed batch leaves
        blobs.put(job.custom_id_map_key, spool, "application/jsonl", WORKING_EXPIRY_DAYS)  # type: ignore[arg-type]


def custom_id_map_key(batch_id: str, job_number: int) -> str:
    """Where the custom_id map of a batch's job (``job_number``: its place among the batch's jobs) is kept."""
    if job_number == 0:
        return f"batches/{batch_id}/custom_ids.json"
    return f"batches/{batch_id}/custom_ids-{job_number}.json"


def _provider_copy(input_file: FileRecord | None) -> str | None:
    """The provider's copy of a batch's input file: its file ID there, or the key the gateway staged it at."""
    if input_file is None:
        return None
    return input_file.provider_file_id or input_file.staged_key


def fold(spec: ProviderSpec, record: BatchRecord, report: ProviderBatch, now_ns: int) -> BatchRecord:
    """``record`` updated with a report of its provider's (``spec``), stamped as refreshed now."""
    try:
        updated = apply_report(spec, record, report, seconds(now_ns))
    except UnknownProviderState as exc:
        raise bad_provider_response(f"The {record.provider} provider reported {exc}.") from None
    updated.refreshed_ns = now_ns
    return updated


def fold_all(spec: ProviderSpec, record: BatchRecord, reports: list[ProviderBatch], now_ns: int) -> BatchRecord:
    """``record`` updated with a report of each of its jobs (by its provider: ``spec``): a copy, even with no report
    (a split batch's parts may all have ended unstarted)."""
    if not reports:
        return copy.deepcopy(record)
    for report in reports:
        record = fold(spec, record, report, now_ns)
    return record


def refreshed(
    adapter: ProviderAdapter, credentials: Credentials, record: BatchRecord, clock: Callable[[], int]
) -> BatchRecord:
    """``record`` updated with what its provider reports now of each of its jobs."""
    reports = [adapter.get_batch(credentials, job.id) for job in record.started_jobs]
    return fold_all(adapter.spec, record, reports, clock())


def schedule(queue: WorkQueue, before: BatchRecord | None, after: BatchRecord) -> None:
    """Background work a change calls for: finalize a batch its provider ended, announce a final one; for a split
    batch, start waiting parts when a running one ended (room opened), and release one that ended with nothing to
    finalize (every part failed)."""
    if after.provider_outcome and not after.is_terminal and (before is None or not before.provider_outcome):
        queue.send(Job.FINALIZE, after.id)
    if after.is_terminal and (before is None or not before.is_terminal):
        queue.send(Job.NOTIFY, after.id)
        if after.release_pending and after.input_copy_key is not None:
            queue.send(Job.RELEASE, after.id)
    elif (
        not after.is_terminal
        and after.parts_pending
        and before is not None
        and _running(after) < _running(before)
        and any(job.waiting for job in after.jobs)
    ):
        queue.send(Job.START_PARTS, after.id)


def _running(record: BatchRecord) -> int:
    """The batch's provider jobs still running."""
    return sum(1 for job in record.jobs if job.started and not job.finished)


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
