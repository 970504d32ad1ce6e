"""Batches: create, retrieve (with refresh), list, cancel — the same for every provider."""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchbridge.domain import ids, validation
from batchbridge.domain.errors import GatewayError, bad_request, conflict, not_found
from batchbridge.domain.ports import (
    BatchRequest,
    Page,
    ProviderAdapter,
    ProviderBatch,
    ProviderRegistry,
    RecordStore,
)
from batchbridge.domain.records import BatchRecord, FileRecord
from batchbridge.domain.services.files import Caller, find_file

logger = logging.getLogger(__name__)
TERMINAL_TIMESTAMPS = ("completed_at", "failed_at", "expired_at", "cancelled_at")


def find_batch(records: RecordStore, caller: Caller, batch_id: str, provider: str | None) -> BatchRecord:
    record = records.get_batch(batch_id) if ids.is_batch_id(batch_id) else None
    if record is None or record.owner != caller.owner or (provider is not None and provider != record.provider):
        raise not_found("batch", batch_id)
    return record


@dataclass
class BatchService:
    records: RecordStore
    providers: ProviderRegistry
    clock: Callable[[], int]  # nanoseconds since the epoch

    def create(self, caller: Caller, provider: str, params: dict[str, Any]) -> BatchRecord:
        adapter = self.providers.get(provider)
        input_file_id = validation.required_string(params, "input_file_id")
        endpoint = validation.one_of(
            validation.required_string(params, "endpoint"), validation.BATCH_ENDPOINTS, "endpoint"
        )
        window = validation.one_of(
            validation.required_string(params, "completion_window"),
            validation.COMPLETION_WINDOWS,
            "completion_window",
        )
        metadata = validation.metadata(params.get("metadata"))
        output_expires_after = validation.expires_after(params.get("output_expires_after"), "output_expires_after")
        input_file = find_file(self.records, caller, input_file_id, None, param="input_file_id")
        self._check_input_file(input_file, provider, endpoint)
        upstream = adapter.create_batch(
            caller.credentials,
            BatchRequest(
                input_file=input_file,
                endpoint=endpoint,
                completion_window=window,
                metadata=metadata,
                output_expires_after_seconds=output_expires_after,
                extras=params,
            ),
        )
        created_ns = self.clock()
        record = BatchRecord(
            id=ids.new_batch_id(),
            owner=caller.owner,
            provider=provider,
            provider_batch_id=upstream.id,
            endpoint=endpoint,
            input_file_id=input_file.id,
            completion_window=window,
            status=upstream.status,
            created_at=created_ns // 1_000_000_000,
            created_ns=created_ns,
            metadata=metadata,
            model=upstream.model or input_file.model,
        )
        self._merge(record, upstream)
        try:
            self.records.put_batch(record)
        except BaseException:
            # A provider batch nobody can see would run (and bill) unobserved: stop it.
            with contextlib.suppress(Exception):
                adapter.cancel_batch(caller.credentials, upstream.id)
            raise
        return record

    def retrieve(self, caller: Caller, batch_id: str, provider: str | None) -> BatchRecord:
        record = find_batch(self.records, caller, batch_id, provider)
        if record.is_terminal or record.provider_batch_id is None:
            return record
        adapter = self.providers.get(record.provider)
        return self._apply(caller, adapter, record, adapter.get_batch(caller.credentials, record.provider_batch_id))

    def cancel(self, caller: Caller, batch_id: str, provider: str | None) -> BatchRecord:
        record = find_batch(self.records, caller, batch_id, provider)
        if record.is_terminal:
            raise conflict(f"Cannot cancel batch {batch_id!r}: its status is already {record.status!r}.")
        if record.status == "cancelling" or record.provider_batch_id is None:
            return record
        adapter = self.providers.get(record.provider)
        return self._apply(caller, adapter, record, adapter.cancel_batch(caller.credentials, record.provider_batch_id))

    def list(self, caller: Caller, provider: str | None, params: dict[str, Any]) -> Page[BatchRecord]:
        limit = validation.limit(params.get("limit"), default=20, maximum=100)
        after_id = params.get("after") or None
        after = None
        if after_id is not None:
            after = (
                self.records.get_batch(after_id) if isinstance(after_id, str) and ids.is_batch_id(after_id) else None
            )
            if after is None or after.owner != caller.owner:
                raise bad_request(
                    f"Invalid 'after': no batch {after_id!r} to continue from.",
                    param="after",
                    code="invalid_cursor",
                )

        def keep(record: BatchRecord) -> bool:
            return provider is None or record.provider == provider

        return self.records.list_batches(caller.owner, order="desc", after=after, limit=limit, keep=keep)

    @staticmethod
    def _check_input_file(input_file: FileRecord, provider: str, endpoint: str) -> None:
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

    def _apply(
        self, caller: Caller, adapter: ProviderAdapter, record: BatchRecord, upstream: ProviderBatch
    ) -> BatchRecord:
        """Store what the provider reports; on a lost race, answer with the winner's record."""
        updated = copy.deepcopy(record)
        self._merge(updated, upstream)
        unregistered = False
        for role, provider_file_id in (("output", upstream.output_file_id), ("error", upstream.error_file_id)):
            if provider_file_id is None or getattr(updated, f"{role}_file_id") is not None:
                continue
            try:
                file_id = self._register_result_file(caller, adapter, updated, provider_file_id, role)
            except GatewayError as exc:
                if exc.status != 404:
                    unregistered = True
                else:  # gone at the provider (e.g. expired): the batch ends without it
                    logger.warning("%s file of batch %s is gone at the provider", role, record.id)
                continue
            setattr(updated, f"{role}_file_id", file_id)
        if unregistered and updated.is_terminal:
            # The results are not reachable through us yet: report finalizing, retry on the next refresh.
            updated.status = "finalizing"
            for name in TERMINAL_TIMESTAMPS:
                if name not in record.timestamps:
                    updated.timestamps.pop(name, None)
        if updated == record:
            return record
        updated.version = record.version + 1
        if self.records.update_batch(updated):
            return updated
        winner = self.records.get_batch(record.id)
        return winner if winner is not None else updated

    @staticmethod
    def _merge(record: BatchRecord, upstream: ProviderBatch) -> None:
        record.status = upstream.status
        record.provider_status = upstream.raw_status
        for name, value in upstream.timestamps.items():
            record.timestamps.setdefault(name, value)  # each *_at is set once
        if upstream.request_counts is not None:
            record.request_counts = dict(upstream.request_counts)
        if upstream.errors is not None:
            record.errors = upstream.errors
        if upstream.model and not record.model:
            record.model = upstream.model
        if upstream.usage is not None:
            record.usage = upstream.usage

    def _register_result_file(
        self, caller: Caller, adapter: ProviderAdapter, batch: BatchRecord, provider_file_id: str, role: str
    ) -> str:
        """Make the provider's output or error file one of ours, owned by the batch's owner."""
        file_id = ids.derived_file_id(batch.id, role)
        if self.records.get_file(file_id, include_deleted=True) is None:
            upstream = adapter.get_file(caller.credentials, provider_file_id)
            self.records.put_file_if_absent(
                FileRecord(
                    id=file_id,
                    owner=batch.owner,
                    provider=batch.provider,
                    provider_file_id=upstream.id,
                    filename=upstream.filename,
                    bytes=upstream.bytes,
                    purpose="batch_output",
                    created_at=upstream.created_at,
                    expires_at=upstream.expires_at,
                    source_batch_id=batch.id,
                )
            )
        return file_id
