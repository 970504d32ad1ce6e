"""OpenAI batch-output lines the gateway writes itself, for requests no provider answered."""

from __future__ import annotations

from typing import Any


def unrun_line(line_id: str, custom_id: str, code: str) -> dict[str, Any]:
    """A request the batch never ran: ``code`` is ``batch_cancelled`` or ``batch_expired``."""
    what = "was cancelled" if code == "batch_cancelled" else "ended"
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": f"The batch {what} before this request ran."},
    }


def unreadable_result_line(line_id: str, custom_id: str, problem: str) -> dict[str, Any]:
    """A provider's result the gateway could not read."""
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": None,
        "error": {"code": "provider_bad_result", "message": f"The provider's result could not be read: {problem}"},
    }
