"""Every provider's state sequences map to legal OpenAI transitions; timestamps are set once."""

from __future__ import annotations

import pytest

from batchbridge.domain import ids
from batchbridge.domain.lifecycle import STATUSES, TERMINAL, TRANSITIONS, UnknownProviderState, can_move, observe
from batchbridge.domain.ports import ProviderBatch
from batchbridge.domain.records import BatchRecord
from batchbridge.domain.refresh import apply_report, move
from batchbridge.providers.registry import spec

CANCEL = "<client cancels>"
STALE = "<a stale read>"

# provider, raw states in the order polls see them (CANCEL: the client's cancel), final OpenAI status
SEQUENCES = [
    ("openai", ["validating", "in_progress", "finalizing", "completed"], "completed"),
    ("openai", ["validating", "completed"], "completed"),  # polls missed the middle
    ("openai", ["validating", "failed"], "failed"),
    ("openai", ["in_progress", "expired"], "expired"),
    ("openai", ["in_progress", CANCEL, "cancelling", "cancelled"], "cancelled"),
    ("openai", ["in_progress", CANCEL, "completed"], "completed"),  # a cancel racing a completion
    ("openai", ["in_progress", "finalizing", STALE, "completed"], "completed"),
    ("anthropic", ["in_progress", "ended"], "completed"),
    ("anthropic", ["in_progress", CANCEL, "canceling", "ended"], "cancelled"),
    ("anthropic", ["in_progress", "ended:all_expired"], "expired"),
    ("bedrock", ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"], "completed"),
    ("bedrock", ["Submitted", "InProgress", "PartiallyCompleted"], "completed"),
    ("bedrock", ["Submitted", "Failed"], "failed"),
    ("bedrock", ["InProgress", CANCEL, "Stopping", "Stopped"], "cancelled"),
    ("bedrock", ["InProgress", CANCEL, "Completed"], "completed"),  # stop raced the end
    ("bedrock", ["Scheduled", "Expired"], "expired"),
    ("gemini", ["BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED"], "completed"),
    ("gemini", ["JOB_STATE_PENDING", "JOB_STATE_RUNNING", "JOB_STATE_SUCCEEDED"], "completed"),
    ("gemini", ["BATCH_STATE_RUNNING", "BATCH_STATE_FAILED"], "failed"),
    ("gemini", ["BATCH_STATE_RUNNING", CANCEL, "JOB_STATE_CANCELLED"], "cancelled"),
    ("gemini", ["JOB_STATE_PENDING", "BATCH_STATE_EXPIRED"], "expired"),
]


def new_record(provider: str) -> BatchRecord:
    return BatchRecord(
        id=ids.new_batch_id(),
        owner="o",
        provider=provider,
        endpoint="/v1/chat/completions",
        input_file_id=ids.new_file_id(),
        completion_window="24h",
        status="validating",
        created_at=1000,
    )


@pytest.mark.parametrize(("provider", "states", "final"), SEQUENCES)
def test_sequences_take_only_legal_moves(provider: str, states: list[str], final: str) -> None:
    record = new_record(provider)
    seen = [record.status]
    last_raw = None
    for now, raw in enumerate(states, start=1001):
        before = record
        if raw == CANCEL:
            record = apply_report(spec(provider), record, ProviderBatch(id="p", raw_status=last_raw or "x"), now)
            move(record, "cancelling", now)
        else:
            raw_state, _, flag = raw.partition(":")
            if raw == STALE:
                raw_state = "in_progress"
            else:
                last_raw = raw_state
            record = apply_report(
                spec(provider),
                record,
                ProviderBatch(id="p", raw_status=raw_state, all_expired=flag == "all_expired"),
                now,
            )
        assert record.status == before.status or can_move(before.status, record.status), (before.status, raw)
        for name, stamp in before.timestamps.items():
            assert record.timestamps[name] == stamp, f"{name} was set twice"
        seen.append(record.status)
    assert record.status not in ("completed", "expired", "cancelled"), "only the finalizer ends a batch"
    if record.provider_outcome is not None:  # what the finalizer does once the results are ours
        assert move(record, record.provider_outcome, 2000)
    assert record.status == final
    assert f"{final}_at" in record.timestamps
    assert record.status in TERMINAL


def test_stale_read_never_moves_back() -> None:
    record = new_record("openai")
    record = apply_report(spec("openai"), record, ProviderBatch(id="p", raw_status="finalizing"), 1)
    record = apply_report(spec("openai"), record, ProviderBatch(id="p", raw_status="in_progress"), 2)
    assert record.status == "finalizing"


def test_terminal_is_final() -> None:
    for status in TERMINAL:
        assert TRANSITIONS[status] == frozenset()
        assert not any(can_move(status, other) for other in STATUSES)
    assert set(TRANSITIONS) == set(STATUSES)


def test_unknown_raw_state() -> None:
    with pytest.raises(UnknownProviderState):
        observe(spec("bedrock"), "Exploded")
    assert observe(spec("gemini"), "JOB_STATE_CANCELLING").phase == "cancelling"
