"""Streaming check of an OpenAI batch input file, one line at a time, with bounded memory."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final, TypeVar

from batchbridge.domain import codec
from batchbridge.domain.endpoints import unsupported_line
from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.parts import DEFAULT_MAX_REQUESTS_PER_BATCH
from batchbridge.domain.validation import BATCH_ENDPOINTS, MAX_MODEL_CHARS

T = TypeVar("T")
# The most requests one batch input file may hold: the gateway's, whatever its provider's per-job limit (a larger
# batch is split into jobs, ``domain.parts``)
MAX_REQUESTS: Final = DEFAULT_MAX_REQUESTS_PER_BATCH
MAX_REQUESTS_SETTING: Final = "BATCHBRIDGE_MAX_REQUESTS_PER_BATCH"
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
    None where the provider judges custom_ids itself (OpenAI)."""
    checker = BatchInputChecker(max_requests, require_model=require_model, max_custom_id_chars=max_custom_id_chars)
    for _ in checker.lines(stream):
        pass
    return checker.summary()


class BatchInputChecker:
    """The check of one OpenAI batch input file, a line at a time: ``check`` each line in file order (or read them
    through ``lines``), then ``summary``. It holds what the lines must agree on: the custom_ids seen (with the line
    each was first used on), the url every line calls, the models named.

    It runs on every line of files up to 200 MB: the usual line passes one test per field, and the functions that
    word an error run only when there is one."""

    def __init__(
        self,
        max_requests: int = MAX_REQUESTS,
        *,
        require_model: bool = True,
        max_custom_id_chars: int | None = MAX_CUSTOM_ID_CHARS,
    ) -> None:
        """``max_custom_id_chars``: None where the provider judges custom_ids itself (OpenAI)."""
        self._max_requests = max_requests
        self._require_model = require_model
        self._max_custom_id_chars = max_custom_id_chars
        self._custom_id_limit = sys.maxsize if max_custom_id_chars is None else max_custom_id_chars  # one test
        self._first_lines: dict[str, int] = {}
        self._url: str | None = None  # the first line's, which every line must call
        self._models: set[str] = set()

    def lines(self, stream: BinaryIO) -> Iterator[dict[str, Any]]:
        """Each line of ``stream`` as an object, once it has passed the check; a 400 naming the first that does
        not. (``summary`` tells the rest once they are all read.)"""
        check = self.check
        for number, line in _json_objects(stream):
            check(number, line)
            yield line

    def check(self, number: int, line: dict[str, Any]) -> None:
        """Line ``number`` of the file (an object), checked by itself and against the lines before it."""
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not 0 < len(custom_id) <= self._custom_id_limit:
            raise _custom_id_error(number, custom_id, self._max_custom_id_chars)
        first_lines = self._first_lines
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
        if line_url != self._url or self._url is None:
            self._url = _batch_url(number, line_url, self._url)
        body = line.get("body")
        if not isinstance(body, dict):
            raise _line_error(number, "'body' must be a JSON object.", "invalid_body")
        model = body.get("model")
        if isinstance(model, str) and 0 < len(model) <= MAX_MODEL_CHARS:
            self._models.add(model)
        elif self._require_model or "model" in body:  # else the provider takes the model per batch (Gemini)
            raise _model_error(number, model)
        if len(first_lines) > self._max_requests:
            raise _line_error(
                number,
                f"a batch holds at most {self._max_requests} requests (this gateway's {MAX_REQUESTS_SETTING}).",
                "too_many_requests",
            )

    def summary(self) -> BatchInputSummary:
        """What the lines checked so far hold; a 400 when there were none."""
        if self._url is None:
            raise bad_request("Invalid batch input file: it holds no requests.", param="file", code="empty_file")
        return BatchInputSummary(request_count=len(self._first_lines), url=self._url, models=self._models)


def convert_each(
    lines: Iterator[dict[str, Any]],
    convert: Callable[[dict[str, Any]], None],
    finish: Callable[[], None] | None = None,
) -> Exception | None:
    """``convert(line)`` for each of ``lines`` (a ``BatchInputChecker.lines``: each line parsed once, checked, then
    converted), then ``finish()`` (what a conversion held back, e.g. lines waiting for their images), until one
    fails; returns that failure. The lines after it are still read, and so checked: a line the check refuses
    anywhere in the file is the error (raised from here), as when a whole file was checked before any of it was
    converted; the conversion's failure is the caller's to raise where a conversion's errors come."""
    for line in lines:
        try:
            convert(line)
        except Exception as exc:  # whatever it is, it is raised later, in its turn (translators raise 400s)
            for _ in lines:
                pass
            return exc
    if finish is not None:
        try:
            finish()
        except Exception as exc:
            return exc
    return None


def _json_objects(stream: BinaryIO) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of each non-blank line of a batch input file; a 400 naming the first line that is
    not one JSON object in UTF-8 (a byte order mark included)."""
    number = 0
    while raw := stream.readline(MAX_LINE_BYTES + 1):
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
            line = codec.loads(raw.decode("utf-8"))
        except ValueError as exc:  # the decoding's UnicodeDecodeError and the parser's errors alike
            raise _unparsable_line_error(number, exc) from None
        except RecursionError:
            raise _line_error(number, "the JSON is nested too deeply.", "invalid_json_line") from None
        if not isinstance(line, dict):
            raise _line_error(number, "expected a JSON object.", "invalid_json_line")
        yield number, line


def _unparsable_line_error(number: int, exc: ValueError) -> GatewayError:
    if isinstance(exc, UnicodeDecodeError):
        return _line_error(number, "the line is not valid UTF-8.", "invalid_encoding")
    if isinstance(exc, codec.JSONDecodeError):
        return _line_error(number, f"not valid JSON ({exc.msg}).", "invalid_json_line")
    return _line_error(number, f"not valid JSON ({exc}).", "invalid_json_line")  # e.g. an integer too long


def _custom_id_error(number: int, custom_id: Any, max_chars: int | None) -> GatewayError:
    if not isinstance(custom_id, str) or not custom_id:
        return _line_error(number, "'custom_id' must be a non-empty string.", "invalid_custom_id")
    return _line_error(
        number,
        f"'custom_id' is {len(custom_id)} characters long; at most {max_chars} are accepted.",
        "invalid_custom_id",
    )


def _batch_url(number: int, line_url: Any, url: str | None) -> str:
    """The url every line of the batch calls, at the first line (``url`` None) or at one whose url is not the earlier
    lines' ``url``: ``line_url`` once it is an endpoint and the first line's, else a 400."""
    if not isinstance(line_url, str) or line_url not in BATCH_ENDPOINTS:
        raise _line_error(
            number, f"'url' must be one of {', '.join(BATCH_ENDPOINTS)}; got {line_url!r}.", "invalid_url"
        )
    if url is not None:
        raise _line_error(
            number,
            f"'url' is {line_url!r} but earlier lines use {url!r}; one batch calls one endpoint.",
            "url_mismatch",
        )
    return line_url


def _model_error(number: int, model: Any) -> GatewayError:
    if not isinstance(model, str) or not model:
        return _line_error(number, "'body.model' must be a non-empty string.", "missing_model")
    return _line_error(number, f"'body.model' is longer than {MAX_MODEL_CHARS} characters.", "invalid_model")


class LineCounter:
    """The requests of a batch input file the gateway does not judge (OpenAI's), counted as its bytes stream past:
    its non-blank lines, whatever they hold and however long (nothing is refused). ``add`` each chunk in order,
    then read ``count``."""

    def __init__(self) -> None:
        self._ended = 0  # lines ended by a newline that hold more than blanks
        self._open = False  # the line not ended yet holds more than blanks

    def add(self, chunk: bytes) -> None:
        if b"\n" not in chunk:
            self._open = self._open or bool(chunk.strip())
            return
        lines = chunk.split(b"\n")
        last = lines.pop()
        ended = self._ended + (self._open or bool(lines[0].strip()))
        self._ended = ended + sum(1 for line in lines[1:] if line.strip())
        self._open = bool(last.strip())

    @property
    def count(self) -> int:
        return self._ended + self._open

    def counted(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """``chunks``, each counted as it passes."""
        for chunk in chunks:
            self.add(chunk)
            yield chunk


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


def table_requests(
    chunks: Iterable[bytes], provider: str, table: Mapping[str, T]
) -> Iterator[tuple[str, T, dict[str, Any]]]:
    """``(custom_id, what table holds for the line's url, body)`` of each line of a batch input file (already
    checked as JSONL), for a provider whose translations ``table`` keys by endpoint: a line calling an endpoint
    it does not hold is a 400 naming its custom_id."""
    for raw in iter_lines(chunks):
        line = codec.loads(raw)
        yield line["custom_id"], line_translation(line, provider, table), line["body"]


def parsed_lines(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Each line of a batch input file the gateway checked earlier, parsed."""
    for raw in iter_lines(chunks):
        yield codec.loads(raw)


def line_translation(line: dict[str, Any], provider: str, table: Mapping[str, T]) -> T:
    """What ``table`` (a provider's translations, keyed by endpoint) holds for a checked batch input line's url;
    a 400 naming its custom_id when it holds none."""
    url: Any = line.get("url")
    translate = table.get(url)
    if translate is None:
        raise unsupported_line(line["custom_id"], provider, table, url)
    return translate
