"""A Lambda function imports only what its operation needs (cold start)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from batchbridge.api.operations import OPERATIONS

# Only `batchbridge serve` and the tests need these; boto3 and the provider adapters load on first use.
NEVER_AT_IMPORT = (
    "moto",
    "uvicorn",
    "flask",
    "werkzeug",
    "httpx",
    "boto3",
    "batchbridge.providers.openai",
    "batchbridge.cli",
    "batchbridge.store.embedded",
)


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_handler_imports_only_its_own_route(operation: str) -> None:
    other_routes = {
        "files": "batchbridge.api.batches",
        "batches": "batchbridge.api.files",
        "uploads": "batchbridge.api.batches",
    }[operation.split("_")[0]]
    script = (
        f"import sys, json, batchbridge.handlers.{operation}; "
        f"print(json.dumps([m for m in {[*NEVER_AT_IMPORT, other_routes]!r} if m in sys.modules]))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(output) == []


@pytest.mark.parametrize("job", ["finalizer", "sweeper"])
def test_background_functions_load_no_web_framework(job: str) -> None:
    unwanted = ["fastapi", "starlette", "mangum", "batchbridge.api.app", *NEVER_AT_IMPORT]
    script = (
        f"import sys, json, batchbridge.handlers.{job}; "
        f"print(json.dumps([m for m in {unwanted!r} if m in sys.modules]))"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert json.loads(output) == []
