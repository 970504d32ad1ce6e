"""One cold start in its own process: prints milliseconds as JSON.

python -m bench.coldstart floor                    import fastapi + mangum + boto3
python -m bench.coldstart floor-paused             the same with the garbage collector paused, as functions start
python -m bench.coldstart <operation> [event]      import the operation's handler and answer the event (default:
                                                   its infra/events event; bench.seed writes ones whose objects exist)
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

EVENTS = Path(__file__).resolve().parents[1] / "infra" / "events"


class Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"


def main() -> None:
    target = sys.argv[1]
    if target.startswith("floor"):
        if target == "floor-paused":
            import gc

            gc.disable()
        import boto3  # noqa: F401
        import fastapi  # noqa: F401
        import mangum  # noqa: F401

        print(json.dumps({"ms": (time.perf_counter() - STARTED) * 1000}))
        return
    event = json.loads((Path(sys.argv[2]) if len(sys.argv) > 2 else EVENTS / f"{target}.json").read_text())
    import importlib

    handler = importlib.import_module(f"batchbridge.handlers.{target}").handler
    imported = time.perf_counter()
    response = handler(event, Context())
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "ms": (done - STARTED) * 1000,
                "import_ms": (imported - STARTED) * 1000,
                "status": response["statusCode"],
            }
        )
    )


if __name__ == "__main__":
    main()
