"""Streaming check of an OpenAI batch input file, one line at a time, with bounded memory."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

from batchbridge.domain import codec
from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.validation import BATCH_ENDPOINTS, MAX_MODEL_CHARS

CHAT_ENDPOINT: Final = "/v1/chat/completions"
MAX_REQUESTS: Final = 50_000
MAX_LINE_BYTES: Final = 16 * 1024 * 1024
MAX_CUSTOM_ID_CHARS: Final = 512  # where the gateway reads the lines itself (an OpenAI upload is OpenAI's to judge)
UTF8_BOM: Final = b"\xef\xbb\xbf"


@dataclass
class BatchInputSummary:
    request_count: int
    url: str
    models: set[str] = field(default_factory=set)

    @property
    def model(self) -> str | None:
        return next(iter(self.models)) if len(self.models) == 1 else None


def _line_error(number: int, message: str, code: str) -> GatewayError:
    return bad_request(f"Invalid batch input file, line {number}: {message}", param="file", code=code)


def check_batch_input(
    stream: BinaryIO,
    max_requests: int = MAX_REQUESTS,
    *,
    require_model: bool = True,
    max_custom_id_chars: int | None = MAX_CUSTOM_ID_CHARS,
) -> BatchInputSummary:
    """Validate every line of an OpenAI batch input file; raise a 400 naming the first bad line.

    Reads the stream once, line by line; memory holds one line plus the set of custom_ids. ``max_custom_id_chars``:
    None where the provider judges custom_ids itself (OpenAI).
    """
    first_lines: dict[str, int] = {}
    url: str | None = None
    models: set[str] = set()
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise _line_error(number, f"the line is longer than {MAX_LINE_BYTES} bytes.", "line_too_long")
        if number == 1 and raw.startswith(UTF8_BOM):
            raise _line_error(
                number,
                "the file starts with a UTF-8 byte order mark; save it without one.",
                "invalid_encoding",
            )
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _line_error(number, "the line is not valid UTF-8.", "invalid_encoding") from None
        try:
            line = codec.loads(text)
        except codec.JSONDecodeError as exc:
            raise _line_error(number, f"not valid JSON ({exc.msg}).", "invalid_json_line") from None
        except RecursionError:
            raise _line_error(number, "the JSON is nested too deeply.", "invalid_json_line") from None
        except ValueError as exc:  # e.g. an integer beyond Python's digit limit
            raise _line_error(number, f"not valid JSON ({exc}).", "invalid_json_line") from None
        if not isinstance(line, dict):
            raise _line_error(number, "expected a JSON object.", "invalid_json_line")
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise _line_error(number, "'custom_id' must be a non-empty string.", "invalid_custom_id")
        if max_custom_id_chars is not None and len(custom_id) > max_custom_id_chars:
            raise _line_error(
                number,
                f"'custom_id' is {len(custom_id)} characters long; at most {max_custom_id_chars} are accepted.",
                "invalid_custom_id",
            )
        if custom_id in first_lines:
            raise _line_error(
                number,
                f"duplicate custom_id {custom_id!r} (first used on line {first_lines[custom_id]}).",
                "duplicate_custom_id",
            )
        first_lines[custom_id] = number
        if line.get("method") != "POST":
            raise _line_error(number, f"'method' must be 'POST', got {line.get('method')!r}.", "invalid_method")
        line_url = line.get("url")
        if not isinstance(line_url, str) or line_url not in BATCH_ENDPOINTS:
            raise _line_error(
                number,
                f"'url' must be one of {', '.join(BATCH_ENDPOINTS)}; got {line_url!r}.",
                "invalid_url",
            )
        if url is None:
            url = line_url
        elif line_url != url:
            raise _line_error(
                number,
                f"'url' is {line_url!r} but earlier lines use {url!r}; one batch calls one endpoint.",
                "url_mismatch",
            )
        body = line.get("body")
        if not isinstance(body, dict):
            raise _line_error(number, "'body' must be a JSON object.", "invalid_body")
        model = body.get("model")
        if "model" not in body and not require_model:
            pass  # the provider takes the model per batch (Gemini): the batch may name it
        elif not isinstance(model, str) or not model:
            raise _line_error(number, "'body.model' must be a non-empty string.", "missing_model")
        elif len(model) > MAX_MODEL_CHARS:
            raise _line_error(number, f"'body.model' is longer than {MAX_MODEL_CHARS} characters.", "invalid_model")
        else:
            models.add(model)
        if len(first_lines) > max_requests:
            raise _line_error(number, f"a batch holds at most {max_requests} requests.", "too_many_requests")
    if url is None:
        raise bad_request("Invalid batch input file: it holds no requests.", param="file", code="empty_file")
    return BatchInputSummary(request_count=len(first_lines), url=url, models=models)


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[bytes]:
    """The non-blank lines of a stream that arrives in chunks, one at a time (memory: one line).

    ``iter_lines_at`` is the same walk, also telling where each line lies; this one stays on its own because every
    conversion runs through it line by line, and a layer over the other costs that path measurably."""
    pending = bytearray()
    for chunk in chunks:
        search = len(pending)  # only the new bytes can hold a newline not seen yet
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", search)) >= 0:
            line = bytes(pending[start:end])
            if line.strip():
                yield line
            start = search = end + 1
        del pending[:start]
        if len(pending) > max_line_bytes:
            raise ValueError(f"a line is longer than {max_line_bytes} bytes")
    if pending.strip():
        yield bytes(pending)


def iter_lines_at(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, int, bytes]]:
    """``(offset, length, line)`` of each non-blank line of a chunked stream: its byte range in the stream (newline
    included) and its bytes (without), as ``iter_lines`` reads them."""
    pending = bytearray()
    consumed = 0  # bytes of the stream before ``pending``
    for chunk in chunks:
        search = len(pending)
        pending += chunk
        start = 0
        while (end := pending.find(b"\n", search)) >= 0:
            line = bytes(pending[start:end])
            if line.strip():
                yield consumed + start, end + 1 - start, line
            start = search = end + 1
        del pending[:start]
        consumed += start
        if len(pending) > max_line_bytes:
            raise ValueError(f"a line is longer than {max_line_bytes} bytes")
    if pending.strip():
        yield consumed, len(pending), bytes(pending)


def chat_requests(chunks: Iterable[bytes], provider: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(custom_id, body)`` of each line of a batch input file (already checked as JSONL) for a provider that runs
    chat completions only: a line calling another endpoint is a 400 naming its custom_id."""
    for raw in iter_lines(chunks):
        line = codec.loads(raw)
        custom_id = line["custom_id"]
        if line.get("url") != CHAT_ENDPOINT:
            raise bad_request(
                f"custom_id {custom_id!r}: {provider} runs {CHAT_ENDPOINT!r} only, not {line.get('url')!r}.",
                param="file",
                code="unsupported_endpoint",
            )
        yield custom_id, line["body"]
