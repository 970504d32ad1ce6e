"""The dashboard's batch metrics, as CloudWatch embedded-metric-format lines: Batches (a batch reaching a status)
and ActiveBatches (each sweep), both by provider and status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchbridge.domain import ids, status_events
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.services.batch_writes import save
from batchbridge.handlers import _metrics as metrics


class OneRecord:
    def update_batch(self, record: BatchRecord) -> bool:
        return True


def emf_lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{") and "_aws" in line]


def batch(status: str) -> BatchRecord:
    return BatchRecord(
        id=ids.new_batch_id(),
        owner="o",
        provider="anthropic",
        endpoint="/v1/chat/completions",
        input_file_id="",
        completion_window="24h",
        status=status,
        created_at=1,
    )


def test_a_status_change_is_counted_once_by_provider_and_status(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_events, "LISTENERS", [])
    metrics.count_status_changes()
    metrics.count_status_changes()  # registering twice counts once
    before = batch("in_progress")
    after = BatchRecord(**{**before.__dict__, "status": "finalizing"})
    save(OneRecord(), before, after)  # type: ignore[arg-type]
    save(OneRecord(), after, BatchRecord(**{**after.__dict__, "request_counts": {"total": 1}}))  # no status change
    lines = emf_lines(capsys.readouterr().out)
    assert [(line["provider"], line["status"], line["Batches"]) for line in lines] == [
        ("anthropic", "finalizing", [1.0])
    ]
    assert lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == metrics.NAMESPACE


def test_a_failing_listener_never_fails_the_write(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(record: Any) -> None:
        raise RuntimeError("metrics down")

    monkeypatch.setattr(status_events, "LISTENERS", [broken])
    before = batch("in_progress")
    assert save(OneRecord(), before, BatchRecord(**{**before.__dict__, "status": "completed"})).status == "completed"  # type: ignore[arg-type]


def test_active_batches_one_line_per_provider_and_status(capsys: pytest.CaptureFixture[str]) -> None:
    metrics.active_batches({("openai", "in_progress"): 3, ("gemini", "validating"): 1})
    lines = emf_lines(capsys.readouterr().out)
    assert sorted((line["provider"], line["status"], line["ActiveBatches"]) for line in lines) == [
        ("gemini", "validating", [1.0]),
        ("openai", "in_progress", [3.0]),
    ]
