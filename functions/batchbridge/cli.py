"""`batchbridge serve`: every route in one process, on the embedded store by default."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from batchbridge.api.app import build_app
    from batchbridge.config import Settings
    from batchbridge.gateway import Gateway
    from batchbridge.store.schema import ensure_bucket, ensure_table

    settings = Settings.from_env(default_storage="embedded")
    embedded = None
    if settings.storage == "embedded":
        from batchbridge.store.embedded import EmbeddedAws

        embedded = EmbeddedAws()
    try:
        gateway = Gateway.from_settings(settings, aws=embedded)
        dynamodb = embedded.client("dynamodb") if embedded else _boto3_client("dynamodb")
        s3 = embedded.client("s3") if embedded else _boto3_client("s3")
        ensure_table(dynamodb, settings.table)
        ensure_bucket(s3, settings.bucket)
        where = f"embedded store at {embedded.endpoint_url}" if embedded else "AWS (boto3's environment)"
        print(
            f"batchbridge: serving http://{args.host}:{args.port}/openai (docs: /docs) on {where}; "
            f"OpenAI upstream {settings.openai_base_url}",
            file=sys.stderr,
            flush=True,
        )
        uvicorn.run(build_app(gateway=gateway), host=args.host, port=args.port, log_level=args.log_level)
    finally:
        if embedded is not None:
            embedded.stop()
    return 0


def _boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batchbridge", description="OpenAI-compatible Files and Batch API gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve every route locally (embedded store unless BATCHBRIDGE_STORAGE=aws)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.add_argument("--log-level", default=os.environ.get("BATCHBRIDGE_LOG_LEVEL", "info").lower())
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "serve":
        return _serve(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
