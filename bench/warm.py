"""Warm overhead of a retrieve through the Lambda handler, against asking the fake upstream directly.

    python -m bench.warm <requests>

Both sides talk to the same fake OpenAI upstream on loopback; the handler side adds the event and response
mapping, the record read and write in DynamoDB (a moto server in another process) and the gateway's logic.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[1] / "infra" / "events"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    import os

    import httpx
    from tests.fakes.openai_upstream import create_app
    from tests.fakes.server import running_server

    from bench.coldstart import Context

    count = int(sys.argv[1])
    app = create_app()
    fake = app.state.fake
    fake.step_batches_on_retrieve = False  # the batch stays in progress: every retrieve asks the upstream
    with running_server(app) as base:
        os.environ["BATCHBRIDGE_OPENAI_BASE_URL"] = base + "/v1"
        from batchbridge.handlers import batches_create, batches_retrieve, files_create

        def event(name: str) -> dict[str, Any]:
            loaded: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
            return loaded

        created = json.loads(files_create.handler(event("files_create"), Context())["body"])  # type: ignore[arg-type]
        create = event("batches_create")
        body = {"input_file_id": created["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
        create["body"] = base64.b64encode(json.dumps(body).encode()).decode()
        create["headers"]["Content-Length"] = str(len(json.dumps(body)))
        create["multiValueHeaders"]["Content-Length"] = [create["headers"]["Content-Length"]]
        batch = json.loads(batches_create.handler(create, Context())["body"])  # type: ignore[arg-type]
        retrieve = event("batches_retrieve")
        retrieve["pathParameters"] = {"batch_id": batch["id"]}
        retrieve["path"] = f"/openai/v1/batches/{batch['id']}"
        (upstream_id,) = list(fake._batches)
        # what the gateway itself sends upstream: its own key in gateway-key mode, else the caller's
        upstream_key = os.environ.get("OPENAI_API_KEY") or retrieve["headers"]["Authorization"].split()[-1]
        auth = {"Authorization": f"Bearer {upstream_key}"}

        def through_handler() -> None:
            response = batches_retrieve.handler(retrieve, Context())  # type: ignore[arg-type]
            assert response["statusCode"] == 200, response

        with httpx.Client(base_url=base + "/v1", headers=auth) as client:

            def direct() -> None:
                client.get(f"/batches/{upstream_id}").raise_for_status()

            results = {}
            for name, call in (("direct", direct), ("handler", through_handler)):
                for _ in range(20):  # warm
                    call()
                timings = []
                for _ in range(count):
                    started = time.perf_counter()
                    call()
                    timings.append((time.perf_counter() - started) * 1000)
                results[name] = {
                    "p50_ms": statistics.median(timings),
                    "p99_ms": percentile(timings, 0.99),
                }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
