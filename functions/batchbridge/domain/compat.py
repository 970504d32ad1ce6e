"""Batches the gateway runs itself against an OpenAI-compatible endpoint (vLLM, Ollama, Groq, …): the endpoints'
configuration, the input's chunks, and the output lines — no I/O here."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from batchbridge.domain import output_lines
from batchbridge.domain.endpoints import CHAT_ENDPOINT, EMBEDDINGS_ENDPOINT
from batchbridge.domain.output_lines import role_of as role_of

PROVIDER: Final = "openai-compatible"
# The endpoints its batches run, by the path each is sent to (the requests go as they are, the answers come back as
# they are: the table is the whole of its translations).
ENDPOINT_PATHS: Final = {CHAT_ENDPOINT: "chat/completions", EMBEDDINGS_ENDPOINT: "embeddings"}
CHUNK_REQUESTS: Final = 100  # requests per queue message: one chunk runs well inside a worker's timeout
WINDOW_SECONDS: Final = 24 * 3600  # the batch's completion window: unrun requests then expire
DEFAULT_TIMEOUT_SECONDS: Final = 300.0  # one request to an endpoint (within the worker function's 900 s)
MAX_TIMEOUT_SECONDS: Final = 420.0


@dataclass(frozen=True)
class CompatEndpoint:
    name: str
    base_url: str  # e.g. http://127.0.0.1:8000/v1; requests go to {base_url}/chat/completions
    api_key_env: str | None = None  # the variable holding its key (read when called); None: no key configured
    max_concurrency: int = 4  # requests of one batch in flight at once
    requests_per_minute: int | None = None  # requests of one batch started per minute
    # How long one request may take: a generation can run for minutes (the worker is not bound by API Gateway's
    # 29 s), so this is the endpoint's own, not BATCHBRIDGE_UPSTREAM_TIMEOUT_SECONDS.
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS

    @property
    def start_gap_seconds(self) -> float:
        """The spacing of request starts that ``requests_per_minute`` asks for (0: none)."""
        return 60.0 / self.requests_per_minute if self.requests_per_minute else 0.0


def parse_endpoints(raw: str, variable: str = "BATCHBRIDGE_COMPAT_ENDPOINTS") -> dict[str, CompatEndpoint]:
    """``{"name": {"base_url", "api_key_env"?, "max_concurrency"?, "requests_per_minute"?, "timeout_seconds"?}}``;
    anything else is a ValueError naming the variable and what is wrong (the gateway refuses to start on it)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{variable} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{variable} must be a JSON object of endpoint name -> settings.")
    endpoints: dict[str, CompatEndpoint] = {}
    for name, spec in data.items():
        where = f"{variable}[{name!r}]"
        if not isinstance(spec, dict):
            raise ValueError(f"{where} must be an object with a base_url.")
        unknown = set(spec) - {"base_url", "api_key_env", "max_concurrency", "requests_per_minute", "timeout_seconds"}
        if unknown:
            raise ValueError(f"{where} has unknown keys: {', '.join(sorted(unknown))}.")
        base_url = spec.get("base_url")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{where}.base_url must be an http(s) URL.")
        key_env = spec.get("api_key_env")
        if key_env is not None and (not isinstance(key_env, str) or not key_env):
            raise ValueError(f"{where}.api_key_env must name an environment variable.")
        concurrency = _positive(spec.get("max_concurrency", 4), f"{where}.max_concurrency")
        rpm = spec.get("requests_per_minute")
        timeout = spec.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= MAX_TIMEOUT_SECONDS:
            raise ValueError(
                f"{where}.timeout_seconds must be a number of seconds, above 0 and at most {MAX_TIMEOUT_SECONDS:g} "
                "(a request's two sends fit in one run of the worker function, 15 minutes)."
            )
        endpoints[name] = CompatEndpoint(
            name=name,
            base_url=base_url.rstrip("/"),
            api_key_env=key_env,
            max_concurrency=concurrency,
            requests_per_minute=None if rpm is None else _positive(rpm, f"{where}.requests_per_minute"),
            timeout_seconds=float(timeout),
        )
    return endpoints


def _positive(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{where} must be a positive integer.")
    return value


@dataclass(frozen=True)
class Chunk:
    number: int
    first_index: int  # the index (0-based line number) of its first request
    count: int
    offset: int  # byte range of its lines in the input file
    length: int


def chunk_sizes(total: int, chunks: int, size: int = CHUNK_REQUESTS) -> list[int]:
    """The number of requests in each chunk ``plan_chunks`` makes of ``total`` requests."""
    return [min(size, total - number * size) for number in range(chunks)]


def plan_chunks(lines: Iterable[tuple[int, int, str]], size: int = CHUNK_REQUESTS) -> tuple[list[Chunk], int]:
    """Chunks of ``size`` requests from ``(offset, length, custom_id)`` per line, and the number of requests."""
    chunks: list[Chunk] = []
    count = 0
    start_offset = end = 0
    for index, (offset, length, _) in enumerate(lines):
        if index % size == 0:
            if index:
                chunks.append(Chunk(len(chunks), index - size, size, start_offset, end - start_offset))
            start_offset = offset
        end = offset + length
        count = index + 1
    if count:
        chunks.append(
            Chunk(len(chunks), len(chunks) * size, count - len(chunks) * size, start_offset, end - start_offset)
        )
    return chunks, count


def chunk_ref(batch_id: str, number: int, generation: int | None = None) -> str:
    """What a chunk's queue message names: the batch and the chunk's number, and for a chunk sent again after its
    chain broke a generation (a FIFO queue drops a message it saw in the last five minutes: a resend must differ)."""
    return f"{batch_id}#{number}" if generation is None else f"{batch_id}#{number}#{generation}"


def parse_chunk_ref(ref: str) -> tuple[str, int]:
    batch_id, number, *_ = ref.split("#")
    return batch_id, int(number)


def output_line(
    *, line_id: str, custom_id: str, status: int | None, body: Any, request_id: str | None, error: str | None
) -> dict[str, Any]:
    """One OpenAI batch output line: the endpoint's answer (any status), or an error when none came."""
    if status is None:
        return output_lines.failed(line_id, custom_id, error or "The endpoint did not answer.")[1]
    return output_lines.answered(line_id, custom_id, status, body, request_id or "")[1]


def failed_line(custom_id: str, error: str) -> dict[str, Any]:
    """The line of a request that got no answer (the line's own ID is given when the files are assembled)."""
    return output_lines.failed("", custom_id, error)[1]


def encoded(line: dict[str, Any]) -> str:
    """A line as it is stored: compact JSON."""
    return json.dumps(line, separators=(",", ":"))
