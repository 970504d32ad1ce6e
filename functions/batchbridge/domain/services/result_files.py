"""A batch's results as our OpenAI output and error files: each job's results streamed in (bounded memory), its
result lines converted and checked to cover every request once, or (a provider that writes OpenAI lines itself) its
raw lines written as they are, then stored as the batch's files."""

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
from batchbridge.domain.jsonl import iter_lines
from batchbridge.domain.merging import merge_reports
from batchbridge.domain.output_lines import result_line_id
from batchbridge.domain.parts import JobPart
from batchbridge.domain.ports import (
    BlobStore,
    Credentials,
    ProviderAdapter,
    ProviderBatch,
    ProviderFile,
    RawResultFile,
    RawResultLine,
    RecordStore,
    ResultContext,
    UnreadableResult,
    UnrunResult,
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


@dataclass(frozen=True)
class StoredResults:
    """What a batch's stored result files give its record: the fields they set (file IDs, request_counts), and
    each converted job's usage, summed from its output lines (OpenAI's Batch ``usage`` shape)."""

    fields: dict[str, Any]
    line_usage: dict[str, dict[str, Any]]  # by job (provider batch) ID; a job of raw lines (OpenAI's) has none

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
        # the provider's own files whose raw lines were written, by role: ours is then there even if empty, with their
        # dates
        self._copied: dict[str, list[ProviderFile]] = {role: [] for role in ROLES}
        self._spools: dict[str, IO[bytes]] = {
            # closed with this stack
            role: self.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115
            for role in ROLES
        }
        self._unterminated: set[str] = set()  # roles whose last raw line ended without a newline
        self._provider_counted = False  # a provider wrote its own files: its request_counts stand
        self._line_usage: dict[str, dict[str, Any]] = {}  # each converted job's output lines' usage, summed

    def write(self, role: str, line: dict[str, Any]) -> None:
        self._spool(role).write(codec.dumps_line(line))
        self.counts[role] += 1

    def _spool(self, role: str) -> IO[bytes]:
        """The spool of ``role``, its last line ended (a provider's raw last line may have no newline: what follows
        it in our file must not join it)."""
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
        """Every request of ``job``: its result line converted, or (a provider that omits those it never ran) an
        unrun error line; or, where the provider ``writes_result_lines`` (OpenAI), its raw lines as they are, with its
        request_counts. A result the adapter cannot read becomes an error line; fewer lines than the job's requests
        is a failure to retry (a 502), never a short file."""
        custom_ids = read_map(blobs.open(job.custom_id_map_key)) if job.custom_id_map_key else {}
        before = self.counts["output"] + self.counts["error"]
        tally = UsageTally()
        seen = self._add_results(adapter, credentials, job, report, custom_ids, tally)
        if report.writes_result_lines:  # the provider counted its own lines: nothing to check them against
            self._provider_counted = True
            return
        if adapter.results_may_omit:
            self._add_unrun(job, custom_ids, seen)
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
        """The job's results: each result line converted with its context (the batch's endpoint, the job's model as
        ``report`` gives it), the usage of each answered one added to ``tally``, and each raw line (RawResultLine)
        written as it is; returns the digests of the provider custom_ids met (16 bytes each, whatever their length).
        A line that names no custom_id is the request at its position (in the map's order)."""
        seen: set[bytes] = set()
        in_order = list(custom_ids)
        endpoint, model, created, convert = self.batch.endpoint, report.model or "", self.created, adapter.output_line
        count_usage = tally.add
        context = tuple.__new__  # ResultContext's own __new__ is a Python call: this is half the cost, once a line
        for position, item in enumerate(adapter.results(credentials, job.id)):
            if not isinstance(item, tuple):  # the provider's own lines and files, written as they are
                self._add_raw(item)
                continue
            named, raw = item
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
                if isinstance(raw, UnreadableResult):
                    raise output_lines.bad_response(self.batch.provider, raw.problem)
                if isinstance(raw, UnrunResult):
                    role, line = output_lines.unrun(line_id, custom_id, raw.code)
                else:
                    role, line = convert(raw, context(ResultContext, (endpoint, model, created, custom_id, line_id)))
            except GatewayError as exc:  # one unreadable result must not hold back the others
                role, line = output_lines.bad_result(line_id, custom_id, exc.message)
            self.write(role, line)
            if role == output_lines.OUTPUT:  # an answer (2xx): its body as the endpoint or translation gave it
                body = line["response"]["body"]
                if isinstance(body, dict):
                    count_usage(body.get("usage"))
        return seen

    def _add_raw(self, item: RawResultLine | RawResultFile) -> None:
        """A line of the provider's own file written byte for byte into ours of its role (OpenAI's lines are the
        user's answer as OpenAI gave it: never re-serialised, never moved to the other file); or one of its files,
        noted so that ours of its role is there (even empty) with its dates."""
        if isinstance(item, RawResultFile):
            self._copied[item.role].append(item.file)
            return
        if item.data:
            self._spool(item.role).write(item.data)
            if not item.data.endswith(b"\n"):
                self._unterminated.add(item.role)

    def _add_unrun(self, job: ProviderJob, custom_ids: dict[str, str], seen: set[bytes]) -> None:
        """An error line for each request of ``job`` its provider never ran: cancelled or expired as the job itself
        ended (a job may have expired in a batch another job's cancel ended cancelled)."""
        code = output_lines.CANCELLED if job.outcome == "cancelled" else output_lines.EXPIRED
        for provider_custom_id, custom_id in custom_ids.items():
            if _digest(provider_custom_id) not in seen:  # the provider never ran it
                self.write(*output_lines.unrun(result_line_id(self.batch.id, custom_id), custom_id, code))

    def add_unrun_part(self, job: ProviderJob, blobs: BlobStore, input_copy_key: str | None) -> None:
        """An error line for each request of a part that never ran at its provider, its custom_ids read from the
        part's lines of the batch's input copy: ``part_failed`` for a part that failed (refused at its create, or
        failed by its provider), with the part's error; ``batch_cancelled`` / ``batch_expired`` for one the batch's
        cancel or expiry ended before it started."""
        if job.part is None:  # (a job of the whole batch that failed: the batch's errors say why, as they do alone)
            return
        if input_copy_key is None:
            raise RuntimeError(f"batch {self.batch.id}: part {job.part['number']} has no input copy to read")
        part = JobPart.from_stored(job.part)
        message = _part_error(job)
        for raw in iter_lines(blobs.open_range(input_copy_key, part.offset, part.length)):
            custom_id = _custom_id(raw)
            line_id = result_line_id(self.batch.id, custom_id)
            if job.phase == "failed":
                self.write(*output_lines.part_failed(line_id, custom_id, message))
            else:
                code = output_lines.CANCELLED if job.outcome == "cancelled" else output_lines.EXPIRED
                self.write(*output_lines.unrun(line_id, custom_id, code))

    def store(self, blobs: BlobStore, records: RecordStore) -> StoredResults:
        """The files stored (every blob first, then the records that point at them): the batch fields they set, and
        the converted jobs' usage. A role gets a file when a line was converted into it or a provider's own file was
        written into it (even an empty one, as the provider gave it). request_counts are the converted lines', unless
        the provider wrote its own lines: its counts, folded into the batch from its reports, stand."""
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
        """The record of the batch's ``role`` file: written now and living the batch's output lifetime, or, holding
        the provider's own file's lines, with its dates and ID (its expiry, where it sets none: ours from its creation;
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


def _custom_id(raw: bytes) -> str:
    """A batch input line's custom_id ("" where it has none: a line OpenAI itself would have refused)."""
    try:
        line = codec.loads(raw)
    except ValueError:
        return ""
    custom_id = line.get("custom_id") if isinstance(line, dict) else None
    return custom_id if isinstance(custom_id, str) else ""


def _part_error(job: ProviderJob) -> str:
    """Why a part failed: its errors' messages (as the provider, or the gateway, gave them)."""
    data = (job.errors or {}).get("data")
    messages = [str(entry.get("message")) for entry in data or [] if isinstance(entry, dict) and entry.get("message")]
    number = (job.part or {}).get("number", 0)
    reason = " ".join(messages) if messages else "its provider refused it"
    return f"Part {number} of the batch, which held this request, failed: {reason}"


def _at(items: list[str], position: int) -> str | None:
    return items[position] if position < len(items) else None
