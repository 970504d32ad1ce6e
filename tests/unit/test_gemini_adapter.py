"""The Gemini adapter's reading of Gemini's wire: operations, int64 strings, timestamps, errors, base URLs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from batchbridge.domain.lifecycle import observe
from batchbridge.providers.gemini import SPEC, _operation, _unix, gemini_error, split_base_url

BATCH = "batches/abc123"


def operation(state: str, **metadata: Any) -> dict[str, Any]:
    return {"name": BATCH, "metadata": {"model": "models/gemini-2.5-flash", "state": state, **metadata}}


def test_a_pending_operation_as_created() -> None:
    report = _operation(
        operation(
            "BATCH_STATE_PENDING",
            createTime="2026-08-20T20:08:31.015405218Z",
            batchStats={"requestCount": "9", "pendingRequestCount": "9"},
        )
    )
    assert report.id == BATCH and report.raw_status == "BATCH_STATE_PENDING" and report.model == "gemini-2.5-flash"
    assert report.request_counts == {"total": 9, "completed": 0, "failed": 0}  # zeros are omitted on the wire
    assert report.timestamps == {"expires_at": 1787256511 + 48 * 3600}
    assert observe(SPEC, report.raw_status).phase == "validating"


@pytest.mark.parametrize("spelling", ["BATCH_STATE_SUCCEEDED", "JOB_STATE_SUCCEEDED"])
def test_a_succeeded_operation_in_either_spelling(spelling: str) -> None:
    op = operation(
        spelling,
        createTime="2026-08-20T20:08:31Z",
        endTime="2026-08-20T21:00:00.5Z",
        batchStats={"requestCount": "10", "successfulRequestCount": "7", "failedRequestCount": "3"},
        output={"responsesFile": "files/batch-xyz"},
    )
    op["done"] = True
    report = _operation(op)
    assert report.request_counts == {"total": 10, "completed": 7, "failed": 3}
    assert report.timestamps["completed_at"] == report.timestamps["finalizing_at"] == 1787259600
    assert "failed_at" not in report.timestamps and report.errors is None
    assert observe(SPEC, report.raw_status).outcome == "completed"


def test_a_failed_operation_carries_its_error() -> None:
    op = operation("BATCH_STATE_FAILED", endTime="2026-08-20T21:00:00Z")
    op |= {"done": True, "error": {"code": 400, "message": "bad file", "status": "INVALID_ARGUMENT"}}
    report = _operation(op)
    assert report.timestamps["failed_at"] == 1787259600 and "completed_at" not in report.timestamps
    assert report.errors == {
        "object": "list",
        "data": [{"code": "invalid_argument", "message": "Gemini: bad file"}],
    }


def test_done_without_a_state_and_a_bare_batch_object() -> None:
    assert _operation({"name": BATCH, "done": True, "response": {"responsesFile": "files/x"}}).raw_status.endswith(
        "SUCCEEDED"
    )
    assert _operation({"name": BATCH, "done": True, "error": {"message": "x"}}).raw_status.endswith("FAILED")
    assert _operation({"name": BATCH}).raw_status.endswith("PENDING")
    bare = _operation({"name": BATCH, "state": "BATCH_STATE_RUNNING", "batchStats": {"requestCount": "2"}})
    assert bare.raw_status == "BATCH_STATE_RUNNING" and bare.request_counts == {"total": 2, "completed": 0, "failed": 0}


def test_a_batch_name_that_is_not_one_is_a_502() -> None:
    with pytest.raises(Exception) as caught:
        _operation({"name": "batches/../files/x", "metadata": {"state": "BATCH_STATE_PENDING"}})
    assert getattr(caught.value, "status", None) == 502


@pytest.mark.parametrize(
    ("stamp", "unix"),
    [
        ("2026-08-20T20:08:31Z", 1787256511),
        ("2026-08-20T20:08:31.015Z", 1787256511),
        ("2026-08-20T20:08:31.015405Z", 1787256511),
        ("2026-08-20T20:08:31.015405218Z", 1787256511),
        ("2026-08-20T22:08:31.9+02:00", 1787256511),
        ("not a time", None),
        (None, None),
    ],
)
def test_rfc3339_with_up_to_nine_fractional_digits(stamp: Any, unix: int | None) -> None:
    assert _unix(stamp) == unix


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            400,
            {"error": {"code": 400, "message": "API key not valid.", "status": "INVALID_ARGUMENT"}},
            (400, "invalid_request_error", "invalid_argument", "Gemini: API key not valid."),
        ),
        (
            429,
            {"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}},
            (429, "rate_limit_error", "resource_exhausted", "Gemini: Quota exceeded."),
        ),
        (503, "<html>busy</html>", (503, "upstream_error", "provider_error", "The gemini provider answered HTTP 503.")),
    ],
)
def test_google_errors_become_openai_errors(status: int, body: Any, expected: tuple[int, str, str, str]) -> None:
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, text=body)
    error = gemini_error(response)
    assert (error.status, error.type, error.code, error.message) == expected


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("https://generativelanguage.googleapis.com", ("https://generativelanguage.googleapis.com", "v1beta")),
        ("https://generativelanguage.googleapis.com/", ("https://generativelanguage.googleapis.com", "v1beta")),
        ("https://generativelanguage.googleapis.com/v1beta", ("https://generativelanguage.googleapis.com", "v1beta")),
        ("http://127.0.0.1:9000/v1", ("http://127.0.0.1:9000", "v1")),
        ("http://proxy.internal/gemini", ("http://proxy.internal/gemini", "v1beta")),
    ],
)
def test_base_urls(configured: str, expected: tuple[str, str]) -> None:
    assert split_base_url(configured) == expected
