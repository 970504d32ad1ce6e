"""How a batch the gateway runs itself shows to the services: as a provider's batch, and its result lines (as a
sender gives them, as they are stored, as the output and error files take them)."""

from __future__ import annotations

import json
from typing import Any

from batchbridge.domain import output_lines
from batchbridge.domain.executor.ports import RunState
from batchbridge.domain.ports import ProviderBatch


def report(state: RunState) -> ProviderBatch:
    timestamps = {"in_progress_at": state.created_at, "expires_at": state.expires_at}
    if state.ended_at is not None:
        timestamps["finalizing_at"] = state.ended_at
        timestamps[f"{state.status}_at"] = state.ended_at
    return ProviderBatch(
        id=state.batch_id,
        raw_status=state.status,
        timestamps=timestamps,
        request_counts={"total": state.total, "completed": state.completed, "failed": state.failed},
        errors=None
        if state.status != "failed"
        else {
            "object": "list",
            "data": [{"code": "endpoint_unavailable", "message": "The endpoint is not configured."}],
        },
    )


def output_line(raw: dict[str, Any], *, custom_id: str, line_id: str) -> tuple[str, dict[str, Any]]:
    """A stored answer as a line of the output or error file."""
    return output_lines.placed(raw, line_id, custom_id)


def answer_line(
    *, line_id: str, custom_id: str, status: int | None, body: Any, request_id: str | None, error: str | None
) -> dict[str, Any]:
    """One OpenAI batch output line: the endpoint's answer (any status), or an error when none came."""
    if status is None:
        return output_lines.failed(line_id, custom_id, error or "The endpoint did not answer.")[1]
    return output_lines.answered(line_id, custom_id, status, body, request_id or "")[1]


def failed_line(custom_id: str, error: str) -> dict[str, Any]:
    """The line of a request that got no answer (the line's own ID is given when the files are assembled)."""
    return output_lines.failed("", custom_id, error)[1]


def encoded(line: dict[str, Any]) -> str:
    """A line as it is stored: compact JSON."""
    return json.dumps(line, separators=(",", ":"))
