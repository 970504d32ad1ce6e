"""One conversion over one file, in its own process: prints its time and memory as JSON.

    python -m bench.convert <direction> <path>

Directions: floor (orjson loads + dumps of each line), openai-to-anthropic, openai-to-bedrock, openai-to-gemini,
anthropic-to-openai, bedrock-to-openai, gemini-to-openai. Each runs the product's own conversion code, writing
into a sink that counts bytes (what the gateway would spool or send).
"""

from __future__ import annotations

import functools
import io
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO


class Sink:
    """A write-only file that keeps nothing."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> int:
        self.bytes += len(data)
        return len(data)

    def close(self) -> None:
        return None


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(direction: str, source: BinaryIO, sink: Sink) -> None:
    from batchbridge.domain.jsonl import iter_lines

    def lines() -> Any:
        return iter_lines(iter(lambda: source.read(64 * 1024), b""))

    if direction == "floor":
        import orjson

        for raw in lines():
            sink.write(orjson.dumps(orjson.loads(raw)) + b"\n")
    elif direction == "openai-to-gemini":
        from batchbridge.domain.jsonl import parsed_lines
        from batchbridge.providers.gemini import GeminiLines

        converted = GeminiLines(sink)  # type: ignore[arg-type]
        for line in parsed_lines(iter(lambda: source.read(64 * 1024), b"")):
            converted.add(line)
    elif direction == "openai-to-bedrock":
        from batchbridge.providers.bedrock import convert

        convert(source, sink, Sink())  # type: ignore[arg-type]
    elif direction == "openai-to-anthropic":
        from batchbridge.domain import codec
        from batchbridge.providers.anthropic import _requests_from_lines

        # as the adapter's request body does it
        for custom_id, params in _requests_from_lines(iter(lambda: source.read(64 * 1024), b"")):
            sink.write(codec.dumps({"custom_id": custom_id, "params": params}) + b",")
    else:
        from batchbridge.domain import codec
        from batchbridge.domain.endpoints import CHAT_ENDPOINT
        from batchbridge.domain.ports import ResultContext

        provider = direction.split("-")[0]
        adapter = _adapter(provider)
        model = RESULT_MODELS.get(provider, "")  # the job's model, as its provider reports it
        for number, raw in enumerate(lines()):  # as the adapters' results() and the finalizer do
            context = ResultContext(CHAT_ENDPOINT, model, 0, f"req-{number}", f"batch_req_{number}")
            _, out = adapter.output_line(codec.loads(raw), context)
            sink.write(codec.dumps_line(out))


RESULT_MODELS = {"bedrock": "anthropic.claude-3-haiku-20240307-v1:0", "gemini": "gemini-2.5-flash"}


@functools.cache
def _adapter(provider: str) -> Any:
    if provider == "anthropic":
        from batchbridge.providers.anthropic import AnthropicAdapter

        return AnthropicAdapter("http://127.0.0.1:9", timeout=1)
    if provider == "bedrock":
        from batchbridge.providers.bedrock import BedrockAdapter

        return BedrockAdapter(bucket=None, role_arn=None, min_records=0)
    from batchbridge.providers.gemini import GeminiAdapter

    return GeminiAdapter("http://127.0.0.1:9", timeout=1)


def main() -> None:
    direction, path = sys.argv[1], Path(sys.argv[2])
    with path.open("rb") as source:  # one line first: every module loaded before the baseline
        run(direction, io.BytesIO(source.readline()), Sink())
    sink = Sink()
    baseline = rss_mb()
    with path.open("rb") as source:
        # the process's CPU time: the conversion is one thread's work, and CPU time is what a shared or virtual
        # machine's neighbours do not change (the file is read from the page cache, warmed by the first line's run)
        started = time.process_time()
        run(direction, source, sink)
        seconds = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = path.stat().st_size
    print(
        json.dumps({"seconds": seconds, "bytes": size, "out_bytes": sink.bytes, "peak_mb": peak, "base_mb": baseline})
    )


if __name__ == "__main__":
    main()
