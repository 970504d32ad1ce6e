"""`batchbridge serve`: every route in one process, on the embedded store by default."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from batchbridge.api.app import build_app
    from batchbridge.banner import aws_credentials_found, banner
    from batchbridge.config import Settings
    from batchbridge.gateway import Gateway
    from batchbridge.store.queue import LocalWorkQueue
    from batchbridge.store.schema import ensure_bucket, ensure_table
    from batchbridge.store.vault import ensure_key

    settings = Settings.from_env(default_storage="embedded")
    embedded = None
    if settings.storage == "embedded":
        from batchbridge.store.embedded import EmbeddedAws

        embedded = EmbeddedAws()
    # Background jobs run here as they run in the deployment's finalizer and sweeper functions.
    jobs = LocalWorkQueue()
    chunks = LocalWorkQueue()  # openai-compatible chunks on a worker of their own, as the deployment does
    sweeper = Sweeper(settings.sweep_seconds)
    try:
        client = embedded.client if embedded else _boto3_client
        ensure_table(client("dynamodb"), settings.table)
        ensure_bucket(client("s3"), settings.bucket)
        if settings.kms_key.startswith("alias/"):
            ensure_key(client("kms"), settings.kms_key)
        gateway = Gateway.from_settings(settings, aws=embedded, queue=jobs, chunk_queue=chunks)
        jobs.start(gateway.jobs.run)
        chunks.start(gateway.jobs.run)
        sweeper.start(gateway.jobs.sweep)
        where = (
            f"embedded store at {embedded.endpoint_url} (its data lives as long as this process)"
            if embedded
            else f"AWS (boto3's environment): table {settings.table}, bucket {settings.bucket}"
        )
        host = f"[{args.host}]" if ":" in args.host else args.host  # an IPv6 address, bracketed in a URL
        lines = banner(
            settings, url=f"http://{host}:{args.port}", storage=where, aws_credentials=aws_credentials_found()
        )
        print("\n".join(lines), file=sys.stderr, flush=True)
        uvicorn.run(
            build_app(gateway=gateway, body_timeout_seconds=args.body_timeout),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            # A client gets this long to send a request's head (and, between requests, to send the next): a
            # connection trickling its head is dropped. Its body has --body-timeout (api.limits.BodyLimit).
            http=_h11_with_head_timeout(),
            timeout_keep_alive=args.head_timeout,
            # Connections past this many are answered 503 at once, so no number of slow clients exhausts the
            # process (each may hold up to 1 MiB of a multipart upload in memory before it spills to disk).
            limit_concurrency=args.max_connections,
        )
    finally:
        sweeper.stop()
        chunks.stop()
        jobs.stop()
        if embedded is not None:
            embedded.stop()
    return 0


def _h11_with_head_timeout() -> type:
    """uvicorn's h11 protocol, where a client has ``timeout_keep_alive`` seconds to complete a request's head, from
    the moment it connects or its last answer was sent (uvicorn's own timer stops at the first byte a client
    sends, so one that trickles its head would hold its connection for ever), and a connection whose request was
    answered before its body was read is closed that long after its answer."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._head_timer is not None and self.conn.their_state is not h11.IDLE:  # a head is complete
                self._head_timer.cancel()
                self._head_timer = None

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.transport.is_closing():
                return
            if self.conn.their_state is not h11.IDLE:
                # Answered before its body was all read (a 401, a 413): the connection is not used again, and a
                # client trickling the rest of it would hold it for ever (each byte stops uvicorn's timer). Closed
                # after the head timeout whatever arrives: long enough to read the answer (closing at once, with
                # its body unread, would reset the connection before the client read it).
                self.loop.call_later(self.timeout_keep_alive, self.transport.close)
                return
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            super().connection_lost(exc)

        def _arm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
            self._head_timer = self.loop.call_later(self.timeout_keep_alive, self._head_timed_out)

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return HeadTimeoutH11Protocol


class Sweeper:
    """Runs the sweep every ``interval`` seconds on a thread, like the deployment's scheduled function."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, sweep: Callable[[], int]) -> None:
        def loop() -> None:
            while not self._stopping.wait(self._interval):
                try:
                    sweep()
                except Exception:
                    logging.getLogger(__name__).exception("sweep failed")

        self._thread = threading.Thread(target=loop, name="batchbridge-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def _boto3_client(service: str) -> Any:
    from batchbridge import aws

    return aws.client(service)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="batchbridge", description="OpenAI-compatible Files and Batch API gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve every route locally (embedded store unless BATCHBRIDGE_STORAGE=aws)"
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.add_argument("--log-level", default=os.environ.get("BATCHBRIDGE_LOG_LEVEL", "info").lower())
    serve.add_argument(
        "--max-connections", type=int, default=512, help="connections served at once; more are answered 503"
    )
    serve.add_argument(
        "--head-timeout", type=float, default=5.0, help="seconds a client has to send a request's head (default 5)"
    )
    serve.add_argument(
        "--body-timeout", type=float, default=60.0, help="seconds a client has to send a request's body (default 60)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the embedded store's own request log is noise
    if args.command == "serve":
        return _serve(args)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
