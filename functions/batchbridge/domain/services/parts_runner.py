"""The start_parts job: a split batch's parts planned, and started as their provider has room for them.

A batch beyond one job of its provider (``parts.JobLimits``) is accepted at once, ``validating``, with its own copy
of its input (``BatchService.create``). This job plans its parts on its first run (each a waiting ``ProviderJob``:
``id`` "", its ``part``), then starts the waiting ones in order while the provider has room (an adapter's optional
``room``), each through ``create_batch`` with the part (its bytes read from the batch's input copy), its report
adopted into that part's job. A 429 or a queue-full refusal puts the part back to waiting with backoff; any other
refusal (4xx) fails the part (its requests become error lines when the batch is finalized); a passing failure (5xx,
timeout) releases the run and raises, so the queue runs it again. A part put back to waiting after its provider job
failed for a full queue keeps where that job's input was copied at the provider (``refresh.requeued``): the copy is
removed before the part starts again (else by the batch's release); a create whose answer was lost and that left no
job has what it made removed where the adapter can tell it (``release_unused_part_input``).

One run at a time per batch: a run holds the batch's ``parts_until`` lease (as the submit_batch job holds a
submission) and writes only while it holds it. Before each create it notes the part's ``sent_at``: a later run
finding the note without a provider job asks the provider for what that create left (``find_batch``) before
creating again, so no part gets two provider jobs; where the provider cannot tell (Anthropic), the part fails,
saying where to look. A cancel meanwhile ends the waiting parts cancelled (a part created by a run that raced it is
cancelled at the provider); past the batch's completion window the waiting parts end expired and the running ones
are stopped (the window is the whole batch's, however late a part started).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain.clock import Clocked
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.jsonl import iter_lines_at
from batchbridge.domain.parts import JobPart, plan_parts
from batchbridge.domain.ports import (
    BatchRequest,
    BlobStore,
    Credentials,
    Job,
    ProviderAdapter,
    ProviderBatch,
    ProviderRegistry,
    RecordStore,
    Vault,
    WorkQueue,
)
from batchbridge.domain.records import BatchRecord, FileRecord, ProviderJob
from batchbridge.domain.refresh import end_waiting_parts, merge_jobs, requeued, unstarted_counts
from batchbridge.domain.services.batch_writes import (
    NOT_IDENTIFIABLE,
    RECONCILE_AFTER_SECONDS,
    SUBMIT_LEASE_SECONDS,
    adopt,
    fold,
    input_opener,
    save,
    schedule,
)

logger = logging.getLogger(__name__)
PARTS_WRITE_ATTEMPTS: Final = 5  # a run's writes, each made again on the version another writer left
MAX_DELAY_SECONDS: Final = 900  # the longest a queued job may be put off (SQS's limit): the sweeper does the rest
# A split batch just accepted is not sent its start_parts job again by the sweeper before this (its first is queued)
PARTS_RESEND_SECONDS: Final = 120
# A create that failed with one of these may have reached the provider (no answer was read); any other error is
# the provider's answer, so nothing was created.
UNANSWERED: Final = frozenset({"provider_timeout", "provider_unreachable"})


class _LeaseLost(Exception):
    """This run no longer holds the batch (its lease lapsed and another run took over): it stops, writing nothing."""


@dataclass
class PartsRunner(Clocked):
    records: RecordStore
    blobs: BlobStore
    providers: ProviderRegistry
    vault: Vault
    queue: WorkQueue
    clock: Callable[[], int]  # nanoseconds since the epoch

    def run(self, batch_id: str) -> BatchRecord | None:
        """One run of the start_parts job for ``batch_id`` (nothing when another run holds it, or nothing is left
        to do)."""
        record, lease = self._claim(batch_id)
        if lease is None:
            return record
        assert record is not None
        try:
            return _Run(self, record, lease).run()
        except _LeaseLost:
            logger.warning("batch %s: its start_parts run outlived its lease; another run carries on", batch_id)
            return self.records.get_batch(batch_id)
        except Exception:
            # A passing failure: released at once, so the job's next delivery (or the sweeper) carries on.
            with contextlib.suppress(Exception):
                now = self.now()
                self.update(batch_id, lease, lambda current: _with(current, parts_until=now))
            raise

    def _claim(self, batch_id: str) -> tuple[BatchRecord | None, int | None]:
        for _ in range(PARTS_WRITE_ATTEMPTS):
            record = self.records.get_batch(batch_id)
            now = self.now()
            if record is None or not has_work(record, now):
                return record, None
            if record.parts_until is not None and now < record.parts_until:
                return record, None  # another run holds it: its lease decides (the sweeper sends the job after it)
            claimed = _with(record, parts_until=now + SUBMIT_LEASE_SECONDS)
            if save(self.records, record, claimed) == claimed:
                return claimed, now + SUBMIT_LEASE_SECONDS
        return self.records.get_batch(batch_id), None

    def update(self, batch_id: str, lease: int, change: Callable[[BatchRecord], BatchRecord]) -> BatchRecord:
        """``change`` written while this run holds the batch, made again on the version another writer (a cancel,
        a refresh) left; _LeaseLost when the run no longer holds it."""
        for _ in range(PARTS_WRITE_ATTEMPTS):
            record = self.records.get_batch(batch_id)
            if record is None or record.parts_until != lease:
                raise _LeaseLost
            updated = change(record)
            saved = save(self.records, record, updated)
            if saved == updated:
                schedule(self.queue, record, saved)
                return saved
        raise RuntimeError(f"the parts of {batch_id} kept losing races with other writers")


def has_work(record: BatchRecord, now: int) -> bool:
    """Whether the start_parts job has anything to do for ``record``: parts to plan or start, or (past the batch's
    window) running parts to stop."""
    if record.is_terminal or record.input_copy_key is None:
        return False
    return record.parts_pending or (now >= window_end(record) and bool(_to_stop(record)))


def parts_due(record: BatchRecord, now: int) -> bool:
    """Whether the sweeper should send ``record`` its start_parts job: it has work, no run holds it, and a waiting
    part may be tried (its backoff passed), or the batch is being cancelled or its window closed."""
    if not has_work(record, now) or (record.parts_until is not None and now < record.parts_until):
        return False
    if not record.jobs and record.parts_until is None and now - record.created_at < PARTS_RESEND_SECONDS:
        return False  # just accepted: its own job is queued
    waits = [job.waiting_until or 0 for job in record.jobs if job.waiting]
    return not waits or min(waits) <= now or record.status == "cancelling" or now >= window_end(record)


def fair_order(records: list[BatchRecord]) -> list[BatchRecord]:
    """``records`` first-come per owner, taking each owner's next in turn (no owner's many batches starve another's
    few)."""
    by_owner: dict[str, list[BatchRecord]] = {}
    for record in sorted(records, key=lambda item: (item.created_ns, item.id)):
        by_owner.setdefault(record.owner, []).append(record)
    queues = list(by_owner.values())
    ordered: list[BatchRecord] = []
    while queues:
        ordered.extend(queue.pop(0) for queue in queues)
        queues = [queue for queue in queues if queue]
    return ordered


def window_end(record: BatchRecord) -> int:
    window = record.completion_window
    hours = int(window.removesuffix("h")) if window.endswith("h") and window[:-1].isdigit() else 24
    return record.created_at + hours * 3600


def _to_stop(record: BatchRecord) -> list[ProviderJob]:
    """Started parts still running that the gateway has not stopped yet."""
    return [job for job in record.jobs if job.started and not job.finished and job.stopped is None]


class _Run:
    """One run, holding the batch's lease."""

    def __init__(self, runner: PartsRunner, record: BatchRecord, lease: int) -> None:
        self.runner = runner
        self.record = record
        self.lease = lease
        self.adapter: ProviderAdapter = runner.providers.get(record.provider)
        self.credentials: Credentials = runner.vault.open(record.sealed_credentials or "", record.id)
        self.later: list[int] = []  # when parts put off by this run may be tried again (unix seconds)

    def update(self, change: Callable[[BatchRecord], BatchRecord]) -> BatchRecord:
        self.record = self.runner.update(self.record.id, self.lease, change)
        return self.record

    def run(self) -> BatchRecord:
        if not self.record.jobs:
            self._plan()
        self._settle_notes()
        now = self.runner.now()
        if self.record.status == "cancelling":
            self.update(lambda current: _ended_waiting(current, "cancelled", now))
            self._stop(None)
        elif now >= window_end(self.record):
            self.update(lambda current: _ended_waiting(current, "expired", now))
            self._stop("expired")
        else:
            self._start_waiting()
        return self._finish()

    # -- planning ------------------------------------------------------------------------------------------------------

    def _plan(self) -> None:
        """The batch's parts, from the lines of its input copy, stored as waiting jobs."""
        key = self.record.input_copy_key
        assert key is not None
        lines = ((offset, length) for offset, length, _ in iter_lines_at(self.runner.blobs.open(key)))
        limits = self.adapter.job_limits
        planner = getattr(self.adapter, "plan_parts", None)  # (hasattr: wrappers forward through __getattr__)
        if planner is not None:
            parts: list[JobPart] = planner(self.credentials, self._input_file(), lines, limits)
        else:
            parts = plan_parts(lines, limits)
        jobs = [
            ProviderJob(id="", part=part.stored(), request_counts={"total": part.count, "completed": 0, "failed": 0})
            for part in parts
        ]
        now = self.runner.now()
        logger.info("batch %s: split into %d parts", self.record.id, len(jobs))

        def planned(current: BatchRecord) -> BatchRecord:
            if current.jobs:  # (planned by a run before this one's lease)
                return current
            updated = _with(current, jobs=copy.deepcopy(jobs))
            merge_jobs(updated, now)
            return updated

        self.update(planned)

    # -- one part ------------------------------------------------------------------------------------------------------

    def _input_file(self) -> FileRecord:
        """The batch's input file as the adapter sees it: read from the batch's own copy."""
        record = self.record
        found = self.runner.records.get_file(record.input_file_id, include_deleted=True)
        if found is None:  # (its record gone: what the batch knows of it)
            found = FileRecord(
                id=record.input_file_id,
                owner=record.owner,
                provider=record.provider,
                filename="input.jsonl",
                bytes=0,
                purpose="batch",
                created_at=record.created_at,
            )
        return dataclasses.replace(found, blob_key=record.input_copy_key)

    def _request(self, job: ProviderJob) -> BatchRequest:
        """The create of ``job``'s part: the batch's create, with the part and its bytes (from the input copy)."""
        assert job.part is not None
        part = JobPart.from_stored(job.part)
        record, blobs = self.record, self.runner.blobs
        input_file = self._input_file()
        key = record.input_copy_key
        assert key is not None
        return BatchRequest(
            batch_id=record.id,
            input_file=input_file,
            open_input=input_opener(blobs, input_file),
            endpoint=record.endpoint,
            completion_window=record.completion_window,
            metadata=record.metadata,
            output_expires_after_seconds=record.output_expires_after_seconds,
            extras=dict(record.submit_params or {}) | ({"model": record.model} if record.model else {}),
            part=part,
            open_part=lambda: blobs.open_range(key, part.offset, part.length),
        )

    def _adopt(self, number: int, report: ProviderBatch) -> None:
        now_ns = self.runner.clock()
        spec = self.adapter.spec
        self.update(lambda current: adopt(self.runner.blobs, spec, current, report, now_ns, part_number=number))

    def _change_part(self, number: int, change: Callable[[ProviderJob], None]) -> None:
        """The part ``number``'s job changed by ``change`` (the batch's merge made again)."""
        now = self.runner.now()

        def changed(current: BatchRecord) -> BatchRecord:
            updated = copy.deepcopy(current)
            job = _part(updated, number)
            if job is None or job.started or job.finished:
                return current
            change(job)
            merge_jobs(updated, now)
            return updated

        self.update(changed)

    def _fail_part(self, number: int, errors: dict[str, Any]) -> None:
        """The part refused (nothing made at the provider): failed, its requests counted failed."""

        def fail(job: ProviderJob) -> None:
            job.phase, job.errors, job.sent_at, job.waiting_until = "failed", errors, None, None
            job.request_counts = unstarted_counts(job, failed=True)

        self._change_part(number, fail)

    def _put_off(self, number: int) -> None:
        """The part the provider had no room for: waiting again, after backoff."""
        now = self.runner.now()

        def put_off(current: BatchRecord) -> BatchRecord:
            updated = copy.deepcopy(current)
            updated.jobs = [
                requeued(job, now) if job.waiting and job.part is not None and job.part["number"] == number else job
                for job in updated.jobs
            ]
            return updated

        self.update(put_off)
        job = _part(self.record, number)
        if job is not None and job.waiting_until is not None:
            self.later.append(job.waiting_until)

    # -- notes of creates whose answer was lost ------------------------------------------------------------------------

    def _settle_notes(self) -> None:
        """Each part whose create an earlier run sent without recording its answer: the provider job that create
        left adopted; none: the note cleared (the part is created as any other); unknowable: the part failed."""
        now = self.runner.now()
        for job in list(self.record.jobs):
            if job.started or job.finished or job.sent_at is None or job.part is None:
                continue
            waited = now - job.sent_at
            if waited < RECONCILE_AFTER_SECONDS:  # it may still be in flight (or not yet in the provider's lists)
                self.later.append(job.sent_at + RECONCILE_AFTER_SECONDS)
                continue
            self._settle_note(job)

    def _settle_note(self, job: ProviderJob) -> None:
        assert job.part is not None and job.sent_at is not None
        number, sent_at = job.part["number"], job.sent_at
        try:
            found = self.adapter.find_batch(self.credentials, self._request(job), sent_at)
        except GatewayError as exc:
            if exc.code != NOT_IDENTIFIABLE and not _refused(exc):
                raise
            logger.warning("batch %s: part %d's create outcome cannot be known: %s", self.record.id, number, exc)
            self._fail_part(number, self._unknown_outcome(number, sent_at))
            return
        if found is not None:
            logger.info("batch %s: adopting job %s for part %d", self.record.id, found.id, number)
            self._adopt(number, found)
            return

        self._release_unused_input(job, sent_at)

        def forget(part_job: ProviderJob) -> None:
            part_job.sent_at = None

        self._change_part(number, forget)

    def _release_unused_input(self, job: ProviderJob, sent_at: int) -> None:
        """What the part's unanswered create made at the provider though it left no batch there (OpenAI's part file,
        sent before the create of its batch) removed, where the adapter can tell it (an optional
        ``release_unused_part_input(credentials, request, created_at)``); best effort (else the provider's own
        expiry removes it)."""
        release = getattr(self.adapter, "release_unused_part_input", None)  # (hasattr: wrappers forward it)
        if release is None:
            return
        try:
            release(self.credentials, self._request(job), sent_at)
        except Exception:
            logger.warning("batch %s: an unused part input could not be removed", self.record.id, exc_info=True)

    def _release_forgotten_input(self, job: ProviderJob) -> None:
        """The copy of the part's input its forgotten job (put back to waiting: ``refresh.requeued``) ran on, removed
        before the part starts again (its next job makes its own); best effort (a copy left behind is removed by its
        own expiry: OpenAI's batch files live 30 days)."""
        release = getattr(self.adapter, "release_part_input", None)  # (hasattr: wrappers forward it)
        assert job.part is not None
        if release is None:
            return
        try:
            release(self.credentials, job)
        except Exception:
            logger.warning("batch %s: a forgotten part input could not be removed", self.record.id, exc_info=True)
            return

        def released(part_job: ProviderJob) -> None:
            part_job.input_location = None

        self._change_part(job.part["number"], released)

    def _unknown_outcome(self, number: int, sent_at: int) -> dict[str, Any]:
        provider = self.adapter.spec.display_name
        message = (
            f"Part {number} of the batch was sent to {provider}, but its answer never reached the gateway, and "
            f"{provider} keeps nothing to tell which of its batches it is: it may be running in the {provider} "
            f"account of the key it was sent with (a batch created after unix time {sent_at}). Look there; its "
            "requests are reported failed here."
        )
        return _errors([{"code": "submission_outcome_unknown", "message": message, "param": None, "line": None}])

    # -- starting ------------------------------------------------------------------------------------------------------

    def _start_waiting(self) -> None:
        """The waiting parts started in order, while the provider has room (stopping at the first put off)."""
        room: int | None = None
        asked = False
        now = self.runner.now()
        for job in list(self.record.jobs):
            if not job.waiting or job.sent_at is not None or job.part is None:
                continue
            if job.waiting_until is not None and now < job.waiting_until:
                self.later.append(job.waiting_until)
                return  # (in order: later parts wait behind it)
            request = self._request(job)
            if not asked:
                room, asked = self._room(request), True
            if room is not None and room <= 0:
                return  # a part that ends makes room: its refresh queues this job again (and the sweeper does)
            if job.input_location is not None:
                self._release_forgotten_input(job)
            if not self._create(job.part["number"], request):
                return
            room = None if room is None else room - 1

    def _room(self, request: BatchRequest) -> int | None:
        room = getattr(self.adapter, "room", None)  # (hasattr: wrappers forward through __getattr__)
        return room(self.credentials, request) if room is not None else None

    def _create(self, number: int, request: BatchRequest) -> bool:
        """Part ``number`` created at the provider and adopted; False when starting more should wait (put off)."""
        now = self.runner.now()

        def note(current: BatchRecord) -> BatchRecord:
            job = _part(current, number)
            if current.status == "cancelling" or job is None or not job.waiting:
                return current  # cancelled meanwhile (the part ended with it): nothing is sent
            updated = copy.deepcopy(current)
            noted = _part(updated, number)
            assert noted is not None
            noted.sent_at = now
            return updated

        self.update(note)
        noted = _part(self.record, number)
        if self.record.status == "cancelling" or noted is None or noted.sent_at != now:
            return False  # cancelled meanwhile: nothing is sent
        try:
            report = self.adapter.create_batch(self.credentials, request)
        except GatewayError as exc:
            return self._refusal(number, exc)
        self._adopt(number, report)
        adopted = _part(self.record, number)
        if self.record.status == "cancelling" and adopted is not None and adopted.started:
            self._stop(None)  # a cancel came while it was created
        return True

    def _refusal(self, number: int, exc: GatewayError) -> bool:
        """Part ``number``'s create refused: put off (no room), failed (refused), or raised (passing)."""
        if exc.status == 429 or exc.code in self.adapter.spec.queue_full_codes:
            logger.info("batch %s: part %d put off, the provider has no room: %s", self.record.id, number, exc)
            self._put_off(number)
            return False
        if _refused(exc):
            self._fail_part(number, _errors_of(exc))
            return True
        if exc.code not in UNANSWERED:  # the provider answered it (5xx, 529): it made nothing

            def forget(job: ProviderJob) -> None:
                job.sent_at = None

            self._change_part(number, forget)
        raise exc  # passing (unanswered, it may have been created: the note stays, for the next run to look)

    # -- stopping ------------------------------------------------------------------------------------------------------

    def _stop(self, stopped: str | None) -> None:
        """Every started part still running cancelled at the provider (``stopped`` "expired": at the window's end,
        noted on the job so its end reads as the batch's expiry); None: those the user's cancel did not reach."""
        for job in list(self.record.jobs):
            if not job.started or job.finished or job.stopped is not None:
                continue
            if stopped is None and job.phase == "cancelling":
                continue
            try:
                report = self.adapter.cancel_batch(self.credentials, job.id)
            except GatewayError as exc:
                if exc.status not in (400, 409):  # not "ended already"
                    raise
                report = self.adapter.get_batch(self.credentials, job.id)
            self._stopped(job.id, report, stopped)

    def _stopped(self, job_id: str, report: ProviderBatch, stopped: str | None) -> None:
        """The provider's report of a job it was asked to stop folded in (the job marked ``stopped`` first)."""
        now_ns = self.runner.clock()

        def stop(current: BatchRecord) -> BatchRecord:
            marked = copy.deepcopy(current)
            target = marked.job(job_id)
            if target is not None and stopped is not None:
                target.stopped = stopped
            return fold(self.adapter.spec, marked, report, now_ns)

        self.update(stop)

    # -- the run's end -------------------------------------------------------------------------------------------------

    def _finish(self) -> BatchRecord:
        """The lease released, with whether parts still wait; the job queued again for parts put off till later."""
        now = self.runner.now()

        def finished(current: BatchRecord) -> BatchRecord:
            updated = _with(current, parts_until=None)
            if updated.status == "cancelling":  # (a part put off while a cancel came)
                end_waiting_parts(updated, "cancelled", now)
            updated.parts_pending = not updated.is_terminal and (
                not updated.jobs or any(job.waiting for job in updated.jobs)
            )
            merge_jobs(updated, now)
            return updated

        record = self.update(finished)
        if record.parts_pending and self.later:
            delay = max(1, min(min(self.later) - now, MAX_DELAY_SECONDS))
            self.runner.queue.send(Job.START_PARTS, record.id, delay_seconds=delay)
        return record


def _part(record: BatchRecord, number: int) -> ProviderJob | None:
    return next((job for job in record.jobs if job.part is not None and job.part["number"] == number), None)


def _ended_waiting(record: BatchRecord, outcome: str, now: int) -> BatchRecord:
    updated = copy.deepcopy(record)
    end_waiting_parts(updated, outcome, now)
    return updated


def _with(record: BatchRecord, **changes: Any) -> BatchRecord:
    """A copy of ``record`` (nothing shared: ``save`` compares it with the one read) with ``changes``."""
    updated = copy.deepcopy(record)
    for name, value in changes.items():
        setattr(updated, name, value)
    return updated


def _refused(exc: GatewayError) -> bool:
    """The provider (or the gateway, for it) refused the create: nothing was made, and asking again changes
    nothing. Unlike a timeout, a 5xx, a rate limit or a conflict, which may pass."""
    return 400 <= exc.status < 500 and exc.status not in (408, 409, 429)


def _errors(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": data}


def _errors_of(exc: GatewayError) -> dict[str, Any]:
    """A part's refusal as OpenAI's batch ``errors``: its code, message and param."""
    return _errors([{"code": exc.code or exc.type, "message": exc.message, "param": exc.param, "line": None}])
