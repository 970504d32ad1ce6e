"""The CPU an upload costs the gateway, one measurement over one file in its own process: prints it as JSON.

    python -m bench.upload_cpu floor <path>
    python -m bench.upload_cpu pass <provider> <path>
    python -m bench.upload_cpu upload <provider> <path>

``floor``: orjson loads + dumps of each line. ``pass``: the file service's pass over an upload's lines
(``FileService.checked_input``: each line parsed, checked and, for a provider that takes the file converted,
converted), the conversion writing into a sink that keeps nothing (as bench.convert does: what the gateway would
spool); for openai-compatible, the pass-through, the check alone. ``upload``: the whole ``files.create``, the
provider's real adapter spooling and sending what it converted; what lies past the gateway's process (its bucket,
Bedrock's S3, Gemini's upload endpoint) is a sink that reads what it is sent. Providers: openai-compatible,
bedrock, gemini, anthropic. The figure is ``time.process_time()``: the gateway's own CPU.
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO, cast

import httpx

from batchbridge.domain.ports import Caller, Credentials, LineConversion, ProviderAdapter, RecordStore
from batchbridge.domain.services.files import FileService
from bench.convert import Sink

PASS_THROUGH = "openai-compatible"  # checked, kept as it is: no conversion
CONVERTING = ("bedrock", "gemini", "anthropic")
READ_BYTES = 1024 * 1024


def _drain(stream: Any) -> None:
    """Read ``stream`` to its end, keeping nothing (what a provider or a bucket does with what it is sent)."""
    while stream.read(READ_BYTES):
        pass


class SinkBlobs:
    """The gateway's bucket, reading each object it is given and keeping none."""

    def put(self, key: str, stream: BinaryIO, content_type: str, expire_days: int | None = None) -> None:
        _drain(stream)

    def delete(self, key: str) -> None:
        return None


class SinkS3:
    """Bedrock's staging bucket (boto3's S3 client, as far as the adapter's upload uses it)."""

    def upload_fileobj(self, fileobj: BinaryIO, bucket: str, key: str, **_: Any) -> None:
        _drain(fileobj)

    def delete_object(self, **_: Any) -> None:
        return None


def _gemini_upload(request: httpx.Request) -> httpx.Response:
    """Google's resumable upload endpoint: a session, then chunks, the last one finalizing into a file."""
    if request.headers.get("x-goog-upload-command") == "start":
        return httpx.Response(200, headers={"x-goog-upload-url": "http://gemini.bench/upload/session"})
    request.read()
    if "finalize" in request.headers.get("x-goog-upload-command", ""):
        file = {"name": "files/bench", "createTime": "2026-01-01T00:00:00Z"}
        return httpx.Response(200, headers={"x-goog-upload-status": "final"}, json={"file": file})
    return httpx.Response(200, headers={"x-goog-upload-status": "active"})


def _adapter(provider: str) -> ProviderAdapter:
    if provider == "bedrock":
        from batchbridge.providers.bedrock import BedrockAdapter

        return BedrockAdapter(bucket="bench", role_arn=None, min_records=0, client=lambda service, region: SinkS3())
    if provider == "gemini":
        from batchbridge.providers.gemini import GeminiAdapter

        return GeminiAdapter("http://gemini.bench", timeout=10, transport=httpx.MockTransport(_gemini_upload))
    if provider == "anthropic":
        from batchbridge.providers.anthropic import AnthropicAdapter

        return AnthropicAdapter("http://anthropic.bench", timeout=10)
    from batchbridge.providers.compat import CompatAdapter

    return CompatAdapter(cast(Any, None))  # an upload reaches no executor


def _sink_conversion(provider: str) -> LineConversion:
    """The provider's conversion of an upload, writing into sinks rather than its spools."""
    if provider == "bedrock":
        from batchbridge.providers.bedrock import BedrockRecords

        return BedrockRecords(Sink(), Sink())  # type: ignore[arg-type]
    if provider == "gemini":
        from batchbridge.providers.gemini import GeminiLines

        return GeminiLines(Sink())  # type: ignore[arg-type]
    from batchbridge.providers.anthropic import AnthropicParams

    return AnthropicParams()  # keeps nothing of its own


class SinkConverted:
    """The provider's adapter as the file service's pass sees it, its conversion writing into sinks."""

    def __init__(self, provider: str) -> None:
        self._adapter = _adapter(provider)
        self._provider = provider

    def __getattr__(self, name: str) -> Any:
        return getattr(self._adapter, name)

    def line_conversion(self) -> LineConversion:
        return _sink_conversion(self._provider)


class Providers:
    """The one adapter an upload goes to (``ProviderRegistry``'s face)."""

    def __init__(self, adapter: Any) -> None:
        self.adapter = adapter

    def check(self, name: str) -> None:
        return None

    def get(self, name: str) -> ProviderAdapter:
        adapter: ProviderAdapter = self.adapter
        return adapter


def _floor(source: BinaryIO) -> None:
    import orjson

    from batchbridge.domain.jsonl import iter_lines

    sink = Sink()
    for raw in iter_lines(iter(lambda: source.read(64 * 1024), b"")):
        sink.write(orjson.dumps(orjson.loads(raw)))


def _files(adapter: Any) -> FileService:
    return FileService(cast(RecordStore, None), SinkBlobs(), Providers(adapter), clock=time.time_ns)  # type: ignore[arg-type]


def run(what: str, provider: str, source: BinaryIO, size: int) -> None:
    if what == "floor":
        _floor(source)
    elif what == "pass":
        adapter = SinkConverted(provider) if provider in CONVERTING else _adapter(provider)
        with _files(adapter).checked_input(provider, "batch", source) as checked:
            assert checked.summary is not None
            assert checked.converted is None or checked.converted.error is None, checked.converted.error
    else:
        _files(_adapter(provider)).create(
            Caller("bench", Credentials(api_key="bench")),
            provider,
            stream=source,
            size=size,
            filename="bench.jsonl",
            content_type="application/jsonl",
            params={"purpose": "batch"},
            store=lambda record: None,
        )


def main() -> None:
    what = sys.argv[1]
    provider, path = ("", Path(sys.argv[2])) if what == "floor" else (sys.argv[2], Path(sys.argv[3]))
    with path.open("rb") as source:  # one line first: every module loaded before the measurement
        first = source.readline()
    run(what, provider, io.BytesIO(first), len(first))
    size = path.stat().st_size
    with path.open("rb") as source:
        started = time.process_time()
        run(what, provider, source, size)
        cpu_seconds = time.process_time() - started
    print(json.dumps({"cpu_seconds": cpu_seconds, "bytes": size}))


if __name__ == "__main__":
    main()
