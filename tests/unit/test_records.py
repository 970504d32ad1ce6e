"""OpenAI views of our records, and owner hashing."""

from __future__ import annotations

import pytest

from batchbridge.domain import ids, validation
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.owner import owner_of
from batchbridge.domain.records import BatchRecord, FileRecord
from tests.contract.openai_schema import assert_valid, load_spec


def test_file_view_carries_every_field_null_where_openai_sends_null() -> None:
    record = FileRecord(
        id=ids.new_file_id(),
        owner="o",
        provider="openai",
        filename="a.jsonl",
        bytes=3,
        purpose="batch",
        created_at=1_700_000_000,
    )
    view = record.to_openai()
    assert set(view) == set(load_spec()["components"]["schemas"]["OpenAIFile"]["properties"])
    assert view["expires_at"] is None and view["status_details"] is None and view["status"] == "processed"
    assert_valid("OpenAIFile", view)
    record.expires_at = 1_700_003_600
    assert record.to_openai()["expires_at"] == 1_700_003_600


def test_batch_view() -> None:
    record = BatchRecord(
        id=ids.new_batch_id(),
        owner="o",
        provider="openai",
        endpoint="/v1/chat/completions",
        input_file_id=ids.new_file_id(),
        completion_window="24h",
        status="in_progress",
        created_at=1_700_000_000,
        timestamps={"in_progress_at": 1_700_000_010, "expires_at": 1_700_086_400},
    )
    view = record.to_openai()
    assert set(view) == set(load_spec()["components"]["schemas"]["Batch"]["properties"])
    assert view["in_progress_at"] == 1_700_000_010 and view["completed_at"] is None and view["output_file_id"] is None
    assert view["errors"] is None and view["error_file_id"] is None and view["model"] is None
    assert view["metadata"] is None and view["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert_valid("Batch", view)


def test_ids() -> None:
    assert ids.is_file_id(ids.new_file_id()) and ids.is_batch_id(ids.new_batch_id())
    assert ids.new_file_id() != ids.new_file_id()
    batch_id = ids.new_batch_id()
    assert ids.derived_file_id(batch_id, "output") == ids.derived_file_id(batch_id, "output")
    assert ids.derived_file_id(batch_id, "output") != ids.derived_file_id(batch_id, "error")
    assert ids.is_file_id(ids.derived_file_id(batch_id, "error"))
    assert not ids.is_file_id("file-abc123") and not ids.is_batch_id("batch_../x")


def test_owner_is_a_keyed_hash() -> None:
    owner = owner_of("sk-secret-key", b"k1")
    assert "sk-secret-key" not in owner and len(owner) == 64
    assert owner == owner_of("sk-secret-key", b"k1") != owner_of("sk-secret-key", b"k2")
    assert owner != owner_of("sk-other-key", b"k1")


def test_file_size_limits() -> None:
    validation.file_size(200 * 1024 * 1024, "batch")
    validation.file_size(300 * 1024 * 1024, "user_data")
    with pytest.raises(GatewayError) as caught:
        validation.file_size(200 * 1024 * 1024 + 1, "batch")
    assert (caught.value.status, caught.value.code) == (400, "file_too_large")
    with pytest.raises(GatewayError) as caught:
        validation.file_size(512 * 1024 * 1024 + 1, "user_data")
    assert caught.value.status == 413


def test_a_record_written_by_a_later_release_still_reads() -> None:
    import json

    from batchbridge.store.records import _decoded

    record = FileRecord(
        id=ids.new_file_id(), owner="o", provider="openai", filename="a", bytes=1, purpose="batch", created_at=1
    )
    stored = {"record": {"S": json.dumps({**record.__dict__, "a_field_from_the_future": {"x": 1}})}}
    assert _decoded(FileRecord, stored) == record
