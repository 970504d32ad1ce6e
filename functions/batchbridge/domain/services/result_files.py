"""A batch's results as our OpenAI output and error files: each job's result lines streamed in (bounded memory),
checked to cover every request once, then stored as the batch's files."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tempfile
from typing import IO, Any, Final

from batchbridge.domain import codec, ids, output_lines
from batchbridge.domain.custom_ids import read_map
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.ports import (
    BlobStore,
    Credentials,
    ProviderAdapter,
    ProviderBatch,
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

logger = logging.getLogger(__name__)
SPOOL_BYTES: Final = 8 * 1024 * 1024  # files beyond this spill to disk while they are written
ROLES: Final = ("output", "error")


def result_line_id(batch_id: str, custom_id: str) -> str:
    """Derived, so a second finalizer run writes the same lines."""
    return "batch_req_" + hashlib.sha256(f"{batch_id}:{custom_id}".encode()).hexdigest()[:32]


class ResultFiles(contextlib.ExitStack):
    """The output and error files of ``batch`` being written (spooled: to disk past SPOOL_BYTES), a line per
    request. File IDs, blob keys and line IDs derive from the batch, so a second run writes the same files."""

    def __init__(self, batch: BatchRecord, created: int) -> None:
        super().__init__()
        self.batch = batch
        self.created = created
        self.counts = {role: 0 for role in ROLES}
        self._spools: dict[str, IO[bytes]] = {
            # closed with this stack
            role: self.enter_context(tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))  # noqa: SIM115
            for role in ROLES
        }

    def write(self, role: str, line: dict[str, Any]) -> None:
        self._spools[role].write(codec.dumps_line(line))
        self.counts[role] += 1

    def add_job(
        self,
        adapter: ProviderAdapter,
        credentials: Credentials,
        job: ProviderJob,
        report: ProviderBatch,
        blobs: BlobStore,
    ) -> None:
        """Every request of ``job``: its result line converted, or (a provider that omits those it never ran) an
        unrun error line. A result the adapter cannot read becomes an error line; fewer lines than the job's
        requests is a failure to retry (a 502), never a short file."""
        custom_ids = read_map(blobs.open(job.custom_id_map_key)) if job.custom_id_map_key else {}
        before = self.counts["output"] + self.counts["error"]
        seen = self._add_results(adapter, credentials, job, report, custom_ids)
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

    def _add_results(
        self,
        adapter: ProviderAdapter,
        credentials: Credentials,
        job: ProviderJob,
        report: ProviderBatch,
        custom_ids: dict[str, str],
    ) -> set[bytes]:
        """The job's result lines, each converted with its context (the batch's endpoint, the job's model as
        ``report`` gives it); returns the digests of the provider custom_ids met (16 bytes each, whatever their
        length). A line that names no custom_id is the request at its position (in the map's order)."""
        seen: set[bytes] = set()
        in_order = list(custom_ids)
        endpoint, model, created, convert = self.batch.endpoint, report.model or "", self.created, adapter.output_line
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
        return seen

    def _add_unrun(self, custom_ids: dict[str, str], seen: set[bytes]) -> None:
        code = output_lines.CANCELLED if self.batch.provider_outcome == "cancelled" else output_lines.EXPIRED
        for provider_custom_id, custom_id in custom_ids.items():
            if _digest(provider_custom_id) not in seen:  # the provider never ran it
                self.write(*output_lines.unrun(result_line_id(self.batch.id, custom_id), custom_id, code))

    def store(self, blobs: BlobStore, records: RecordStore) -> dict[str, Any]:
        """The files stored (every blob first, then the records that point at them): the batch fields they set."""
        batch, lifetime = self.batch, output_lifetime_seconds(self.batch)
        written: list[tuple[str, int]] = []
        for role, spool in self._spools.items():
            if self.counts[role]:
                written.append((role, spool.tell()))
                spool.seek(0)
                blobs.put(_blob_key(batch, role), spool, "application/jsonl", blob_expiry_days(lifetime))  # type: ignore[arg-type]
        fields: dict[str, Any] = {}
        for role, size in written:
            file_id = ids.derived_file_id(batch.id, role)
            records.put_file(
                FileRecord(
                    id=file_id,
                    owner=batch.owner,
                    provider=batch.provider,
                    filename=output_filename(batch, role),
                    bytes=size,
                    purpose="batch_output",
                    created_at=self.created,
                    expires_at=self.created + lifetime,
                    blob_key=_blob_key(batch, role),
                    content_type="application/jsonl",
                    source_batch_id=batch.id,
                )
            )
            fields[f"{role}_file_id"] = file_id
        fields["request_counts"] = {
            "total": self.counts["output"] + self.counts["error"],
            "completed": self.counts["output"],
            "failed": self.counts["error"],
        }
        return fields


def _blob_key(batch: BatchRecord, role: str) -> str:
    return f"batches/{batch.id}/{role}.jsonl"


def _digest(custom_id: str) -> bytes:
    return hashlib.blake2b(custom_id.encode(), digest_size=16).digest()


def _at(items: list[str], position: int) -> str | None:
    return items[position] if position < len(items) else None
