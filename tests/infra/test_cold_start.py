"""A Lambda function imports only what its operation needs (cold start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    "batchbridge.providers.bedrock_runtime",  # Bedrock's runtime sender: only where a chunk of an on-demand run runs
    "batchbridge.cli",
    "batchbridge.store.embedded",
    # the OpenAPI document and the docs pages: `serve`'s alone
    "batchbridge.api.openapi_doc",
    "batchbridge.api.openapi_requests",
    "batchbridge.api.docs",
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


ENTRY_POINTS = sorted(
    path.stem
    for path in (Path(__file__).resolve().parents[2] / "functions" / "batchbridge" / "handlers").glob("*.py")
    if not path.stem.startswith("_")
)


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_in_lambda_a_function_starts_with_the_collector_paused_and_resumes_it(module: str) -> None:
    """Paused through start-up (see batchbridge.handlers), frozen at its end, collecting again once the first
    invocation is answered (an API function's, even one that fails) or at once (a background function)."""
    script = f"""
import gc, json, sys
import batchbridge.handlers.{module} as entry
from batchbridge.api.operations import OPERATIONS
state = {{"after_import": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}}
if "{module}" in OPERATIONS:
    class Context:
        function_name = "test"; memory_limit_in_mb = 128; aws_request_id = "r"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test"
    try:
        entry.handler({{"httpMethod": "GET", "path": "/nowhere", "headers": {{}}, "requestContext": {{}}}}, Context())
    except Exception:
        pass
state["after_first_invocation"] = gc.isenabled()
print(json.dumps(state))
"""
    env = {**os.environ, "AWS_LAMBDA_FUNCTION_NAME": "test", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    state = json.loads(done.stdout.strip().splitlines()[-1])
    api = module in OPERATIONS
    assert state == {"after_import": not api, "frozen": True, "after_first_invocation": True}, done.stderr[-2000:]


def test_outside_lambda_the_collector_is_left_alone() -> None:
    script = "import gc, batchbridge.handlers.files_list; print(gc.isenabled(), gc.get_freeze_count())"
    env = {key: value for key, value in os.environ.items() if key != "AWS_LAMBDA_FUNCTION_NAME"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert done.stdout.split() == ["True", "0"]


def test_the_background_jobs_load_no_executor_until_a_chunk_runs() -> None:
    """Building the background jobs (the finalizer's, the sweeper's first work) builds no executor: neither its
    HTTP client nor its store nor the openai-compatible adapter load (only a chunk job needs them)."""
    unwanted = [
        "httpx",
        "batchbridge.store.executor_state",
        "batchbridge.providers.compat",
        "batchbridge.providers.bedrock_runtime",
    ]
    script = (
        "import sys, json\n"
        "from batchbridge.config import Settings\n"
        "from batchbridge.gateway import Gateway\n"
        "gateway = Gateway.from_settings(Settings.from_env())\n"
        "gateway.jobs\n"
        f"print(json.dumps([m for m in {unwanted!r} if m in sys.modules]))"
    )
    env = {
        **os.environ,
        "BATCHBRIDGE_STORAGE": "aws",
        "BATCHBRIDGE_OWNER_SECRET": "cold-start-owner-secret-0123456789",
        "BATCHBRIDGE_WORK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/work",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
