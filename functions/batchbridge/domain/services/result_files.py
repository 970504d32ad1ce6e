"""A batch's results as our OpenAI output and error files: each job's results streamed in (bounded memory), its
result lines converted and checked to cover every request once, or its provider's own OpenAI files copied as they
are, then stored as the batch's files."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from typing import IO, Any, Final

from batchbridge.domain import codec, ids, output_lines
from batchbridge.domain.custom_ids import read_map
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.merging import merge_reports
from batchbridge.domain.ports import (
    BlobStore,
    Credentials,
    OpenAIResults,
    ProviderAdapter,
    ProviderBatch,
    ProviderFile,
    RecordStore,
    ResultContext,
)
from batchbridge.domain.records import (
    BatchRecord,
    FileRecord,
    ProviderJob,
    blob_expiry_days,
    output_filename,
    output_lifetime_seconds,
)
from batchbridge.domain.usage import UsageTally

logger = logging.getLogger(__name__)
SPOOL_BYTES: Final = 8 * 1024 * 1024  # files beyond this spill to disk while they are written
ROLES: Final = ("output", "error")


def result_line_id(batch_id: str, custom_id: str) -> str:
    """Derived, so a second finalizer run writes the same lines."""
    return "batch_req_" + hashlib.sha256(f"{batch_id}:{custom_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class StoredResults:
    """What a batch's stored result files give its record: the fields they set (file IDs, request_counts), and
    each converted job's usage, summed from its output lines (OpenAI's Batch ``usage`` shape)."""

    fields: dict[str, Any]
    line_usage: dict[str, dict[str, Any]]  # by job (provider batch) ID; a job whose files were copied has none

    def apply(self, record: BatchRecord) -> None:
        """``record`` given the files' fields, and each job its lines' usage where its provider's reports gave
        none (a provider's own figure stands), merged into the batch's ``usage`` as every job report is. Setting,
        not adding: applied again (a lost write race, a finalize run again) it gives the same figure."""
        for name, value in self.fields.items():
            setattr(record, name, value)
        for job in record.jobs:
            if job.usage is None and job.id in self.line_usage:
                job.usage = copy.deepcopy(self.line_usage[job.id])
        usage = merge_reports(record.jobs).usage
        if usage is not None:
            record.usage = usage


class ResultFiles(contextlib.ExitStack):
    """The output and error files of ``batch`` being written (spooled: to disk past SPOOL_BYTES), a line per
    request. File IDs, blob keys and line IDs derive from the batch, so a second run writes the same files."""

    def __init__(self, batch: BatchRecord, created: int) -> None:
        super().__init__()
        self.batch = batch
        self.created = created
        self.counts = {role: 0 for role in ROLES}  # the lines converted
        # the provider's own files copied in, by role: the file is then there even if empty, with their dates
        self._copied: dict[str, list[ProviderFile]] = {role: [] for role in ROLES}
        self._spools: dict[str, IO[bytes]] = {
            # closed with this stack
            role: self.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115
            for role in ROLES
        }
        self._unterminated: set[str] = set()  # roles whose last copied file ended without a newline
        self._provider_counted = False  # a provider wrote its own files: its request_counts stand
        self._line_usage: dict[str, dict[str, Any]] = {}  # each converted job's output lines' usage, summed

    def write(self, role: str, line: dict[str, Any]) -> None:
        self._spool(role).write(codec.dumps_line(line))
        self.counts[role] += 1

    def _spool(self, role: str) -> IO[bytes]:
        """The spool of ``role``, its last line ended (a provider's file may end without a newline: what follows it
        in our file must not join its last line)."""
        spool = self._spools[role]
        if role in self._unterminated:
            spool.write(b"\n")
            self._unterminated.discard(role)
        return spool

    def add_job(
        self,
        adapter: ProviderAdapter,
        credentials: Credentials,
        job: ProviderJob,
        report: ProviderBatch,
        blobs: BlobStore,
    ) -> None:
        """Every request of ``job``: the provider's own OpenAI files where its report names them (copied as they
        are), else its result line converted, or (a provider that omits those it never ran) an unrun error line. A
        result the adapter cannot read becomes an error line; fewer lines than the job's requests is a failure to
        retry (a 502), never a short file."""
        if report.openai_results is not None:
            self._provider_counted = True
            self._copy(adapter, credentials, report.openai_results)
            return
        custom_ids = read_map(blobs.open(job.custom_id_map_key)) if job.custom_id_map_key else {}
        before = self.counts["output"] + self.counts["error"]
        tally = UsageTally()
        seen = self._add_results(adapter, credentials, job, report, custom_ids, tally)
        if adapter.results_may_omit:
            self._add_unrun(custom_ids, seen)
        expected = len(custom_ids) if adapter.results_may_omit else (report.request_counts or {}).get("total", 0)
        written = self.counts["output"] + self.counts["error"] - before
        if expected and written != expected:
            raise GatewayError(
                502,
                f"The {self.batch.provider} provider returned {written} results for {expected} requests; "
                "finalizing again later.",
                type="upstream_error",
                code="provider_incomplete_results",
            )
        usage = tally.batch_usage()
        if usage is not None:
            self._line_usage[job.id] = usage

    def _add_results(
        self,
        adapter: ProviderAdapter,
        credentials: Credentials,
        job: ProviderJob,
        report: ProviderBatch,
        custom_ids: dict[str, str],
        tally: UsageTally,
    ) -> set[bytes]:
        """The job's result lines, each converted with its context (the batch's endpoint, the job's model as
        ``report`` gives it), the usage of each answered one added to ``tally``; returns the digests of the provider
        custom_ids met (16 bytes each, whatever their length). A line that names no custom_id is the request at its
        position (in the map's order)."""
        seen: set[bytes] = set()
        in_order = list(custom_ids)
        endpoint, model, created, convert = self.batch.endpoint, report.model or "", self.created, adapter.output_line
        count_usage = tally.add
        context = tuple.__new__  # ResultContext's own __new__ is a Python call: this is half the cost, once a line
        for position, (named, raw) in enumerate(adapter.results(credentials, job.id)):
            provider_custom_id = named if named is not None else _at(in_order, position)
            if provider_custom_id is None:
                logger.warning("batch %s: result line %d names no request and has no place", self.batch.id, position)
                continue
            digest = _digest(provider_custom_id)
            if digest in seen:
                logger.warning("batch %s: duplicate result for %s ignored", self.batch.id, provider_custom_id)
                continue
            seen.add(digest)
            custom_id = custom_ids.get(provider_custom_id, provider_custom_id)
            line_id = result_line_id(self.batch.id, custom_id)
            try:
                role, line = convert(raw, context(ResultContext, (endpoint, model, created, custom_id, line_id)))
            except GatewayError as exc:  # one unreadable result must not hold back the others
                role, line = output_lines.bad_result(line_id, custom_id, exc.message)
            self.write(role, line)
            if role == output_lines.OUTPUT:  # an answer (2xx): its body as the endpoint or translation gave it
                body = line["response"]["body"]
                if isinstance(body, dict):
                    count_usage(body.get("usage"))
        return seen

    def _copy(self, adapter: ProviderAdapter, credentials: Credentials, results: OpenAIResults) -> None:
        """The provider's output and error files streamed into ours a chunk at a time, byte for byte: each of its
        lines lands in the file it put it in, untouched (OpenAI's lines are the user's answer as OpenAI gave it). A
        file the provider wrote none of, or one gone there (404: expired, deleted), is left out; any other failure
        propagates (the finalizer runs again)."""
        for role, provider_file_id in (("output", results.output_file_id), ("error", results.error_file_id)):
            if provider_file_id is None:
                continue
            try:
                upstream = adapter.get_file(credentials, provider_file_id)
            except GatewayError as exc:
                if exc.status != 404:
                    raise
                logger.warning("batch %s: its %s file is gone at the provider", self.batch.id, role)
                continue
            spool, last = self._spool(role), b"\n"
            for chunk in adapter.open_file_content(credentials, provider_file_id):
                if chunk:
                    spool.write(chunk)
                    last = chunk[-1:]
            if last != b"\n":
                self._unterminated.add(role)
            self._copied[role].append(upstream)

    def _add_unrun(self, custom_ids: dict[str, str], seen: set[bytes]) -> None:
        code = output_lines.CANCELLED if self.batch.provider_outcome == "cancelled" else output_lines.EXPIRED
        for provider_custom_id, custom_id in custom_ids.items():
            if _digest(provider_custom_id) not in seen:  # the provider never ran it
                self.write(*output_lines.unrun(result_line_id(self.batch.id, custom_id), custom_id, code))

    def store(self, blobs: BlobStore, records: RecordStore) -> StoredResults:
        """The files stored (every blob first, then the records that point at them): the batch fields they set, and
        the converted jobs' usage. A role gets a file when a line was written to it or a provider's file copied in
        (even an empty one, as the provider gave it). request_counts are the lines', unless the provider wrote its
        own files: its counts, folded into the batch from its reports, stand."""
        batch = self.batch
        written: list[tuple[str, FileRecord]] = []
        for role, spool in self._spools.items():
            if self.counts[role] or self._copied[role]:
                record = self._record(role, spool.tell())
                spool.seek(0)
                lifetime = record.expires_at - record.created_at if record.expires_at is not None else None
                blobs.put(_blob_key(batch, role), spool, "application/jsonl", blob_expiry_days(lifetime))  # type: ignore[arg-type]
                written.append((role, record))
        fields: dict[str, Any] = {}
        for role, record in written:
            records.put_file(record)
            fields[f"{role}_file_id"] = record.id
        if not self._provider_counted:
            fields["request_counts"] = {
                "total": self.counts["output"] + self.counts["error"],
                "completed": self.counts["output"],
                "failed": self.counts["error"],
            }
        return StoredResults(fields, dict(self._line_usage))

    def _record(self, role: str, size: int) -> FileRecord:
        """The record of the batch's ``role`` file: written now and living the batch's output lifetime, or, copied
        from the provider's own file, with its dates and ID (its expiry, where it sets none: ours from its creation;
        with several files, the earliest)."""
        batch, lifetime, copied = self.batch, output_lifetime_seconds(self.batch), self._copied[role]
        created = min((upstream.created_at for upstream in copied), default=self.created)
        expires = min((upstream.expires_at or upstream.created_at + lifetime for upstream in copied), default=None)
        return FileRecord(
            id=ids.derived_file_id(batch.id, role),
            owner=batch.owner,
            provider=batch.provider,
            # the provider's copy, deleted with ours (one file: a single ID to name)
            provider_file_id=copied[0].id if len(copied) == 1 else None,
            filename=output_filename(batch, role),
            bytes=size,
            purpose="batch_output",
            created_at=created,
            expires_at=expires if expires is not None else created + lifetime,
            blob_key=_blob_key(batch, role),
            content_type="application/jsonl",
            source_batch_id=batch.id,
        )


def _blob_key(batch: BatchRecord, role: str) -> str:
    return f"batches/{batch.id}/{role}.jsonl"


def _digest(custom_id: str) -> bytes:
    return hashlib.blake2b(custom_id.encode(), digest_size=16).digest()


def _at(items: list[str], position: int) -> str | None:
    return items[position] if position < len(items) else None
