"""Property-based requests from two OpenAPI documents: the gateway's own, and OpenAI's Files/Uploads/Batches spec.
Whatever arrives, no 5xx; what succeeds conforms to OpenAI's schemas."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from batchbridge.api.app import build_app
from batchbridge.gateway import Gateway
from tests.contract.openai_schema import assert_valid, spec_path

pytestmark = pytest.mark.heavy  # generated requests on every operation of two documents: some 12 s

AUTH = {"Authorization": "Bearer sk-fuzz-key"}
EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same inputs on every run: a failure reproduces
    database=None,
)


def conforming(ctx: Any, response: Any, case: Any) -> bool | None:
    """OpenAI's response schemas, except where the spec itself differs from the live API: CreateFileRequest
    accepts purpose "evals" but OpenAIFile's purpose enum lacks it (the API returns "evals" as given, and so do
    we), and the spec types fields as non-null that the API sends as null (an empty page's first_id and last_id,
    a batch's unset timestamps, …): those are checked with nulls allowed (``openai_schema``)."""
    try:
        body = response.json()
    except Exception:
        body = None
    if isinstance(body, dict) and (
        body.get("purpose") == "evals" or (body.get("file") or {}).get("purpose") == "evals"
    ):
        return None
    if isinstance(body, dict) and 200 <= response.status_code < 300:
        name = {"batch": "Batch", "file": "OpenAIFile", "upload": "Upload"}.get(str(body.get("object")))
        if body.get("object") == "list":
            name = "ListBatchesResponse" if str(case.path).endswith("/batches") else "ListFilesResponse"
        if name is not None:
            assert_valid(name, body)
            return None
    result: bool | None = response_schema_conformance(ctx, response, case)
    return result


def exercise(schema: Any, **call: Any) -> list[str]:
    """Every operation of ``schema`` with generated requests; returns the operations exercised."""
    exercised = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @EXAMPLES
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(headers=AUTH, **call)

        run()
        exercised.append(operation.label)
    return exercised


def test_own_openapi_never_a_5xx(gateway: Gateway) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", build_app(gateway=gateway))
    exercised = exercise(schema, checks=[not_a_server_error])
    assert len(exercised) >= 13


def test_openai_spec_never_a_5xx_and_conforming(gateway_url: str) -> None:
    schema = schemathesis.openapi.from_path(spec_path())
    exercised = exercise(schema, base_url=gateway_url + "/openai/v1", checks=[not_a_server_error, conforming])
    assert any("/uploads" in label for label in exercised) and any("/batches" in label for label in exercised)
