"""Batches: create, retrieve (with refresh), list, cancel — the same for every provider."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain import ids, status_events, validation
from batchbridge.domain.clock import NS_PER_SECOND, Clocked, seconds
from batchbridge.domain.errors import GatewayError, bad_request, conflict, not_found
from batchbridge.domain.jsonl import MAX_REQUESTS_SETTING
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH
from batchbridge.domain.ports import (
    BatchRequest,
    BlobStore,
    Caller,
    Job,
    Page,
    ProviderAdapter,
    ProviderBatch,
    ProviderRegistry,
    RecordStore,
    Vault,
    WorkQueue,
)
from batchbridge.domain.records import WORKING_EXPIRY_DAYS, BatchRecord, FileRecord
from batchbridge.domain.refresh import end_waiting_parts, move
from batchbridge.domain.services.batch_writes import (
    RECONCILE_AFTER_SECONDS,
    adopt,
    fold,
    fold_all,
    input_opener,
    refreshed,
    save,
    schedule,
)
from batchbridge.domain.services.files import find_file, require_processed

logger = logging.getLogger(__name__)
INLINE_PROVIDER = "anthropic"
LIST_REFRESH_MAX = 10  # stale batches a list asks the provider about; the sweeper keeps the rest fresh
LIST_REFRESH_BUDGET_NS = 3_000_000_000  # and for at most this long, well inside API Gateway's 29 s
CANCEL_WRITE_ATTEMPTS = 5
PENDING_FRESH_NS: Final = 10 * 365 * 86_400 * NS_PER_SECOND  # see _accept
# The largest input file a create that reads the whole input (``ProviderSpec.create_reads_input``) reads within the
# request: a batch of a larger one is accepted at once, ``validating``, and submitted by the submit_batch job. The
# bound uploads.complete keeps (read at call time, so tests may lower it).
SYNC_CREATE_MAX_BYTES: Final = validation.SYNC_WORK_MAX_BYTES
# The create's parameters kept apart on the record already (or never submitted by the job: inline requests).
UNSTORED_PARAMS: Final = frozenset(
    {"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after", "requests"}
)


def find_batch(records: RecordStore, caller: Caller, batch_id: str, provider: str | None) -> BatchRecord:
    record = records.get_batch(batch_id) if ids.is_batch_id(batch_id) else None
    if (
        record is None
        or record.creating
        or record.owner != caller.owner
        or (provider is not None and provider != record.provider)
    ):
        raise not_found("batch", batch_id)
    return record


@dataclass
class BatchService(Clocked):
    records: RecordStore
    blobs: BlobStore
    providers: ProviderRegistry
    clock: Callable[[], int]  # nanoseconds since the epoch
    vault: Vault
    queue: WorkQueue
    fresh_ns: int  # a record refreshed this recently is served without asking the provider
    # the most requests a batch may hold (BATCHBRIDGE_MAX_REQUESTS_PER_BATCH): an OpenAI file's lines are counted,
    # never refused, at upload, so its batch is where a file beyond it is refused
    max_requests_per_batch: int = DEFAULT_MAX_REQUESTS_PER_BATCH

    def create(self, caller: Caller, provider: str | None, params: dict[str, Any]) -> BatchRecord:
        """A batch on ``provider``; None: on its input file's provider (Anthropic for inline requests)."""
        asked = _parsed(params)
        input_file = self._input_file(caller, params)
        if input_file is not None:
            provider = provider or input_file.provider
            self._check_input_file(input_file, provider, asked.endpoint)
            _check_request_count(input_file, self.max_requests_per_batch)
        else:
            provider = provider or INLINE_PROVIDER  # the one provider whose batches take inline requests
        adapter = self.providers.get(provider)
        if input_file is None:
            _check_inline_size(params, adapter)
        intent = self._intent(caller, provider, asked, input_file)
        if input_file is not None and not adapter.job_limits.fits(input_file.request_count or 0, input_file.bytes):
            return self._accept(intent, input_file, params, split=True)  # more than one job of its provider holds
        if input_file is not None and adapter.spec.create_reads_input and input_file.bytes > SYNC_CREATE_MAX_BYTES:
            return self._accept(intent, input_file, params)
        request = BatchRequest(
            batch_id=intent.id,
            input_file=input_file,
            open_input=input_opener(self.blobs, input_file),
            endpoint=asked.endpoint,
            completion_window=asked.window,
            metadata=asked.metadata,
            output_expires_after_seconds=asked.output_expires_after,
            extras=params,
        )
        return self._create_at_provider(caller, adapter, intent, request)

    def _intent(self, caller: Caller, provider: str, asked: _Asked, input_file: FileRecord | None) -> BatchRecord:
        """The batch's record before any provider knows of it (credentials sealed first: fail early)."""
        batch_id = ids.new_batch_id()
        sealed = self.vault.seal(caller.credentials, batch_id)
        created_ns = self.now_ns()
        model = asked.model()
        return BatchRecord(
            id=batch_id,
            owner=caller.owner,
            provider=provider,
            endpoint=asked.endpoint,
            input_file_id=input_file.id if input_file is not None else "",
            completion_window=asked.window,
            status="validating",
            created_at=seconds(created_ns),
            created_ns=created_ns,
            metadata=asked.metadata,
            model=model or (input_file.model if input_file is not None else None),
            refreshed_ns=created_ns,
            sealed_credentials=sealed,
            output_expires_after_seconds=asked.output_expires_after,
            creating=True,
        )

    def _create_at_provider(
        self, caller: Caller, adapter: ProviderAdapter, intent: BatchRecord, request: BatchRequest
    ) -> BatchRecord:
        """The provider's batch made and recorded. The intent is stored before the provider hears of the batch: if
        its answer never reaches our record, the reconcile job still knows to look for what the create left."""
        self.records.put_batch(intent)
        try:
            report = adapter.create_batch(caller.credentials, request)
        except GatewayError as exc:
            if exc.status < 500 and exc.status != 408:  # refused: nothing was created
                with contextlib.suppress(Exception):  # else the sweeper finds it, and the reconciler drops it
                    self.records.delete_batch(intent)
            else:
                self._reconcile_later(intent)
            raise
        except BaseException:
            self._reconcile_later(intent)
            raise
        try:
            record = adopt(self.blobs, adapter.spec, intent, report, intent.created_ns, request.input_file)
            saved = save(self.records, intent, record)
        except BaseException:
            # A provider batch nobody can see would run (and bill) unobserved: stop it, and let the reconcile
            # job record whatever is left of it.
            with contextlib.suppress(Exception):
                adapter.cancel_batch(caller.credentials, report.id)
            self._reconcile_later(intent)
            raise
        schedule(self.queue, None, saved)
        return saved

    def _accept(
        self, intent: BatchRecord, input_file: FileRecord | None, params: dict[str, Any], *, split: bool = False
    ) -> BatchRecord:
        """A batch whose create would outrun API Gateway's 29 s, answered at once: stored visible, ``validating``
        with no provider batch yet, and submitted by the submit_batch job (which ends it ``failed``, with
        ``errors``, if the provider refuses it). ``split``: a batch beyond one job of its provider, whose parts the
        start_parts job plans and starts (``services.parts_runner``), each read from the batch's input copy (kept
        until the batch is released)."""
        extras = {name: value for name, value in params.items() if name not in UNSTORED_PARAMS}
        input_copy = None
        if input_file is not None and input_file.blob_key is not None:
            # a server-side copy (one call, seconds for 200 MB): the batch outlives its input file's deletion
            input_copy = f"batches/{intent.id}/input.jsonl"
            self.blobs.copy(input_file.blob_key, input_copy, WORKING_EXPIRY_DAYS)
        if split:
            if input_copy is None:
                raise bad_request(
                    f"The input file {intent.input_file_id!r} has no stored content.", param="input_file_id"
                )
            pending = dataclasses.replace(
                intent,
                creating=False,
                parts_pending=True,
                submit_params=validation.stored_params(extras),
                input_copy_key=input_copy,
            )
        else:
            pending = dataclasses.replace(
                intent,
                creating=False,
                submit_pending=True,
                submit_params=validation.stored_params(extras),
                submit_input_key=input_copy,
                # A release before this one knows no pending submissions, and would ask the provider about a batch
                # it has none of: to it the batch reads as refreshed far ahead (never stale), so a rollback leaves it
                # waiting, intact, for this release's sweeper to submit. Its adoption stamps the real time.
                refreshed_ns=intent.created_ns + PENDING_FRESH_NS,
            )
        self.records.put_batch(pending)
        try:
            self.queue.send(Job.START_PARTS if split else Job.SUBMIT_BATCH, pending.id)
        except BaseException:
            # Nothing was sent to the provider: the batch goes, as if never asked for (else the sweeper submits it).
            with contextlib.suppress(Exception):
                self.records.delete_batch(pending)
                if input_copy is not None:
                    self.blobs.delete(input_copy)
            raise
        status_events.announce(pending)
        return pending

    def _input_file(self, caller: Caller, params: dict[str, Any]) -> FileRecord | None:
        """The batch's input file; None for inline requests. With inline requests, an ``input_file_id`` that names
        no file of the caller is ignored (clients send placeholders, e.g. Bifrost's "dummy-file-id"); one that
        names a file is a 400: which of the two should run is unclear."""
        input_file_id = params.get("input_file_id")
        inline = params.get("requests") is not None
        if not inline:
            if input_file_id is None or input_file_id == "":
                raise bad_request(
                    "Missing required parameter: 'input_file_id' (or, with provider 'anthropic', inline 'requests').",
                    param="input_file_id",
                    code="missing_required_parameter",
                )
            return self._find_input(caller, validation.required_string(params, "input_file_id"))
        if input_file_id is None or input_file_id == "":
            return None
        try:
            self._find_input(caller, validation.required_string(params, "input_file_id"))
        except GatewayError as exc:
            if exc.status == 404:
                return None
            raise
        raise bad_request(
            "Give either 'input_file_id' or inline 'requests', not both.", param="requests", code="invalid_value"
        )

    def _find_input(self, caller: Caller, file_id: str) -> FileRecord:
        now = self.now()
        return find_file(self.records, caller, file_id, None, now=now, param="input_file_id")

    def _reconcile_later(self, intent: BatchRecord) -> None:
        # Best effort: the sweeper finds intents left behind too.
        with contextlib.suppress(Exception):
            self.queue.send(Job.RECONCILE, intent.id, delay_seconds=RECONCILE_AFTER_SECONDS)

    def retrieve(self, caller: Caller, batch_id: str, provider: str | None) -> BatchRecord:
        record = find_batch(self.records, caller, batch_id, provider)
        if record.is_terminal or record.submit_pending or self.clock() - record.refreshed_ns < self.fresh_ns:
            return record  # (a batch still being submitted has nothing at the provider to ask about)
        return self._refresh(caller, record)

    def cancel(self, caller: Caller, batch_id: str, provider: str | None) -> BatchRecord:
        record = find_batch(self.records, caller, batch_id, provider)
        if record.is_terminal:
            raise conflict(f"Cannot cancel batch {batch_id!r}: its status is already {record.status!r}.")
        if record.submit_pending:
            record = self._cancel_submission(record)
            if record.submit_pending or record.is_terminal:
                return record
            # submitted meanwhile: its provider batch is cancelled as any other (unless the cancel came first)
        if record.status == "cancelling" or not (record.jobs or record.parts_pending):
            return record
        adapter = self.providers.get(record.provider)
        reports: list[ProviderBatch] = []
        refusals: list[GatewayError] = []
        started = record.started_jobs
        for job in started:  # every job cancelled (one that had ended already is done: its report kept)
            cancelled = self._cancel_job(caller, adapter, record, job.id, provider)
            if isinstance(cancelled, BatchRecord):  # another cancel got there first: answered as it left the batch
                return cancelled
            reports.append(cancelled.report)
            if cancelled.refusal is not None:
                refusals.append(cancelled.refusal)
        if started and len(refusals) == len(started) and not record.parts_pending:
            raise refusals[0]  # no job left to cancel: the provider's refusal stands
        now_ns = self.clock()
        for _ in range(CANCEL_WRITE_ATTEMPTS):
            # The cancel was sent: it must be recorded even if a refresh wrote meanwhile (start over from it).
            updated = fold_all(adapter.spec, copy.deepcopy(record), reports, now_ns)
            end_waiting_parts(updated, "cancelled", seconds(now_ns))
            if updated.provider_outcome is None:  # providers that answer a cancel with their old state
                move(updated, "cancelling", seconds(now_ns))
            saved = save(self.records, record, updated)
            schedule(self.queue, record, saved)
            if saved == updated or saved.is_terminal or "cancelling_at" in saved.timestamps:
                if saved.parts_pending:  # a part's create in flight: the start_parts job settles it
                    self.queue.send(Job.START_PARTS, saved.id)
                return saved
            record = saved
        return saved

    def _cancel_job(
        self, caller: Caller, adapter: ProviderAdapter, record: BatchRecord, job_id: str, provider: str | None
    ) -> _JobCancel | BatchRecord:
        """The provider's report of a job it was asked to cancel; or, when it would not cancel it (again) because
        another cancel racing this one got there first, the batch as that cancel left it (every cancel answers
        alike). A job of several that the provider would not cancel because it had ended is done: its fresh report,
        with the refusal (raised when no job of the batch could be cancelled). A batch's one job that had ended is
        the refusal, raised."""
        try:
            return _JobCancel(adapter.cancel_batch(caller.credentials, job_id))
        except GatewayError as exc:
            if exc.status not in (400, 409):
                raise
            current = find_batch(self.records, caller, record.id, provider)
            if current.status in ("cancelling", "cancelled"):
                return current
            report = adapter.get_batch(caller.credentials, job_id)
            seen = fold(adapter.spec, record, report, self.clock())
            if seen.status in ("cancelling", "cancelled") or seen.provider_outcome == "cancelled":
                return _JobCancel(report)
            job = seen.job(job_id)
            if len(record.jobs) == 1 or job is None:
                raise
            if job.phase == "cancelling" or job.outcome == "cancelled":  # cancelled already (the batch still runs)
                return _JobCancel(report)
            if job.phase not in ("ended", "failed"):
                raise
            return _JobCancel(report, refusal=exc)

    def _cancel_submission(self, record: BatchRecord) -> BatchRecord:
        """A batch not yet submitted, ``cancelling``: its submit_batch job ends it ``cancelled`` without creating it
        (or, when a run is creating it right now, cancels what that run made). Answers the batch as written: or as
        another writer left it (submitted meanwhile, or ended)."""
        for _ in range(CANCEL_WRITE_ATTEMPTS):
            if not record.submit_pending or record.is_terminal or record.status == "cancelling":
                return record
            updated = copy.deepcopy(record)
            move(updated, "cancelling", self.now())
            saved = save(self.records, record, updated)
            if saved == updated:
                self.queue.send(Job.SUBMIT_BATCH, record.id)  # (lost, the sweeper sends it again)
                return saved
            record = saved
        return record

    def list(self, caller: Caller, provider: str | None, params: dict[str, Any]) -> Page[BatchRecord]:
        limit = validation.limit(params.get("limit"), default=20, maximum=100)
        after_id = params.get("after") or None
        after = None
        if after_id is not None:
            after = (
                self.records.get_batch(after_id) if isinstance(after_id, str) and ids.is_batch_id(after_id) else None
            )
            if after is None or after.creating or after.owner != caller.owner:
                raise bad_request(
                    f"Invalid 'after': no batch {after_id!r} to continue from.",
                    param="after",
                    code="invalid_cursor",
                )

        model = params.get("model") or None  # the product docs filter Bedrock lists by model

        def keep(record: BatchRecord) -> bool:
            return (provider is None or record.provider == provider) and (model is None or record.model == model)

        page = self.records.list_batches(caller.owner, order="desc", after=after, limit=limit, keep=keep)
        stale = [
            index
            for index, record in enumerate(page.items)
            if not record.is_terminal
            and not record.submit_pending
            and self.clock() - record.refreshed_ns >= self.fresh_ns
        ]
        started = self.clock()
        for index in sorted(stale, key=lambda i: page.items[i].refreshed_ns)[:LIST_REFRESH_MAX]:
            if self.clock() - started > LIST_REFRESH_BUDGET_NS:
                break
            try:
                page.items[index] = self._refresh(caller, page.items[index])
            except GatewayError as exc:  # a list still answers: this one is shown as last known
                logger.warning("refresh of %s failed: %s", page.items[index].id, exc.message)
        return page

    def _refresh(self, caller: Caller, record: BatchRecord) -> BatchRecord:
        updated = refreshed(self.providers.get(record.provider), caller.credentials, record, self.clock)
        saved = save(self.records, record, updated)
        schedule(self.queue, record, saved)
        return saved

    @staticmethod
    def _check_input_file(input_file: FileRecord, provider: str, endpoint: str) -> None:
        require_processed(input_file, param="input_file_id")  # a large Upload's file still being assembled
        if input_file.purpose != "batch":
            raise bad_request(
                f"File {input_file.id!r} has purpose {input_file.purpose!r}; a batch input file needs purpose 'batch'.",
                param="input_file_id",
                code="invalid_input_file",
            )
        if input_file.provider != provider:
            raise bad_request(
                f"File {input_file.id!r} was uploaded for provider {input_file.provider!r}; create the batch with "
                f"provider {input_file.provider!r} or upload the file for {provider!r}.",
                param="input_file_id",
                code="provider_mismatch",
            )
        if input_file.line_url is not None and input_file.line_url != endpoint:
            raise bad_request(
                f"The lines of file {input_file.id!r} call {input_file.line_url!r}, but the batch endpoint is "
                f"{endpoint!r}; they must match.",
                param="endpoint",
                code="url_mismatch",
            )


@dataclass
class _JobCancel:
    """A job's cancel: the provider's report of the job, and its refusal when the job had ended before it."""

    report: ProviderBatch
    refusal: GatewayError | None = None


@dataclass
class _Asked:
    """A create's own parameters, checked (its input file and provider are looked up apart)."""

    endpoint: str
    window: str
    metadata: dict[str, str] | None
    output_expires_after: int | None
    params: dict[str, Any]  # all of them: ``model`` is checked last (after the input file is found)

    def model(self) -> str | None:
        model = self.params.get("model")
        if not isinstance(model, str) or not model:
            return None
        return validation.bounded(model, "model", validation.MAX_MODEL_CHARS)


def _check_request_count(input_file: FileRecord, limit: int) -> None:
    """An input file of more requests than a batch may hold: a 400 naming the limit (an OpenAI file, whose lines
    the gateway counts but leaves OpenAI to judge, gets here with any count; another provider's was refused at
    upload, unless the limit was lowered since)."""
    count = input_file.request_count
    if count is not None and count > limit:
        raise bad_request(
            f"The input file {input_file.id!r} holds {count} requests; a batch holds at most {limit} requests "
            f"(this gateway's {MAX_REQUESTS_SETTING}).",
            param="input_file_id",
            code="too_many_requests",
        )


def _check_inline_size(params: dict[str, Any], adapter: ProviderAdapter) -> None:
    """Inline requests beyond one job of the provider: a 400 (only a batch of an input file is split)."""
    requests = params.get("requests")
    limit = adapter.job_limits.max_requests
    if isinstance(requests, list) and len(requests) > limit:
        raise bad_request(
            f"The batch has {len(requests)} inline requests; a batch of inline requests holds at most {limit} "
            "(upload a batch file for more: it is split into several provider jobs).",
            param="requests",
            code="too_many_requests",
        )


def _parsed(params: dict[str, Any]) -> _Asked:
    endpoint = validation.one_of(validation.required_string(params, "endpoint"), validation.BATCH_ENDPOINTS, "endpoint")
    window = validation.one_of(
        validation.required_string(params, "completion_window"), validation.COMPLETION_WINDOWS, "completion_window"
    )
    metadata = validation.metadata(params.get("metadata"))
    output_expires_after = validation.expires_after(params.get("output_expires_after"), "output_expires_after")
    return _Asked(endpoint, window, metadata, output_expires_after, params)
