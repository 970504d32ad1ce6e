"""Checks of the OpenAI request parameters, with OpenAI's ranges and defaults."""

from __future__ import annotations

import json
from typing import Any, Final

from batchbridge.domain.endpoints import CHAT_ENDPOINT, EMBEDDINGS_ENDPOINT
from batchbridge.domain.errors import GatewayError, bad_request

FILE_PURPOSES: Final = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
BATCH_ENDPOINTS: Final = (
    "/v1/responses",
    CHAT_ENDPOINT,
    EMBEDDINGS_ENDPOINT,
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
COMPLETION_WINDOWS: Final = ("24h",)
MAX_FILE_BYTES: Final = 512 * 1024 * 1024
MAX_BATCH_FILE_BYTES: Final = 200 * 1024 * 1024
# OpenAI's limit for a whole Upload (the Uploads API): a batch input file sent that way may be this large (the
# gateway splits its batch into jobs within its provider's limits)
MAX_UPLOAD_BYTES: Final = 8 * 1024 * 1024 * 1024
# The most of a file a request reads or writes within API Gateway's 29 s (uploads.complete, batches.create): what
# goes past it is done by a background job (see the README's Large files).
SYNC_WORK_MAX_BYTES: Final = 8 * 1024 * 1024
EXPIRY_MIN_SECONDS: Final = 3600
EXPIRY_MAX_SECONDS: Final = 2_592_000
METADATA_MAX_PAIRS: Final = 16
METADATA_MAX_KEY: Final = 64
METADATA_MAX_VALUE: Final = 512


MAX_FILENAME_CHARS: Final = 255


def filename(value: str) -> str:
    """The name a client gave, made safe to store, show and pass on: the last path component only (no ``../``
    tricks), no control characters, at most MAX_FILENAME_CHARS; "upload" when nothing is left."""
    name = value.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    if name in ("", ".", ".."):
        return "upload"
    if len(name) > MAX_FILENAME_CHARS:
        _, dot, extension = name.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        name = name[: MAX_FILENAME_CHARS - len(keep) - (1 if keep else 0)] + (f".{keep}" if keep else "")
    return name


def file_size(size: int, purpose: str, *, uploaded_in_parts: bool = False) -> None:
    """OpenAI's limits: 512 MB a file, 200 MB for a batch input file sent whole (files.create); a batch input file
    sent through the Uploads API (``uploaded_in_parts``) as large as an Upload may be, 8 GB."""
    if purpose == "batch" and uploaded_in_parts:
        if size > MAX_UPLOAD_BYTES:
            raise GatewayError(
                413,
                f"The file is {size} bytes; batch input files are at most {MAX_UPLOAD_BYTES} bytes.",
                param="bytes",
                code="file_too_large",
            )
        return
    if size > MAX_FILE_BYTES:
        raise GatewayError(
            413,
            f"The file is {size} bytes; files are at most {MAX_FILE_BYTES} bytes.",
            param="file",
            code="file_too_large",
        )
    if purpose == "batch" and size > MAX_BATCH_FILE_BYTES:
        raise bad_request(
            f"The file is {size} bytes; batch input files are at most {MAX_BATCH_FILE_BYTES} bytes.",
            param="file",
            code="file_too_large",
        )


def required_string(params: dict[str, Any], name: str, *, allow_empty: bool = False) -> str:
    value = params.get(name)
    if value is None:
        raise bad_request(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")
    if not isinstance(value, str) or (not value and not allow_empty):
        raise bad_request(f"Invalid '{name}': expected a non-empty string.", param=name, code="invalid_type")
    return value


def one_of(value: str, allowed: tuple[str, ...], name: str) -> str:
    if value not in allowed:
        raise bad_request(
            f"Invalid '{name}': {value!r}. Supported values are: {', '.join(repr(a) for a in allowed)}.",
            param=name,
            code="invalid_value",
        )
    return value


def integer(value: Any, name: str) -> int:
    """An integer from JSON or from a form/query string."""
    if isinstance(value, bool):
        raise bad_request(f"Invalid '{name}': expected an integer.", param=name, code="invalid_type")
    if isinstance(value, int):
        return value
    text = value.strip() if isinstance(value, str) else ""
    digits = text[1:] if text.startswith("-") else text
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        return int(text)
    raise bad_request(f"Invalid '{name}': expected an integer, got {value!r}.", param=name, code="invalid_type")


def limit(value: Any, *, default: int, maximum: int) -> int:
    if value is None or value == "":
        return default
    number = integer(value, "limit")
    if not 1 <= number <= maximum:
        raise bad_request(
            f"Invalid 'limit': {number}. It must be between 1 and {maximum}.",
            param="limit",
            code="invalid_value",
        )
    return number


def order(value: Any) -> str:
    if value is None or value == "":
        return "desc"
    if not isinstance(value, str):
        raise bad_request("Invalid 'order': expected 'asc' or 'desc'.", param="order", code="invalid_value")
    return one_of(value, ("asc", "desc"), "order")


def expires_after(value: Any, name: str) -> int | None:
    """Seconds after creation from ``{anchor: "created_at", seconds: N}``; None when absent."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request(
            f"Invalid '{name}': expected an object with 'anchor' and 'seconds'.",
            param=name,
            code="invalid_type",
        )
    anchor = value.get("anchor")
    if anchor != "created_at":
        raise bad_request(
            f"Invalid '{name}[anchor]': {anchor!r}. The only supported anchor is 'created_at'.",
            param=f"{name}.anchor",
            code="invalid_value",
        )
    seconds = integer(value.get("seconds"), f"{name}.seconds")
    if not EXPIRY_MIN_SECONDS <= seconds <= EXPIRY_MAX_SECONDS:
        raise bad_request(
            f"Invalid '{name}[seconds]': {seconds}. It must be between {EXPIRY_MIN_SECONDS} and {EXPIRY_MAX_SECONDS}.",
            param=f"{name}.seconds",
            code="invalid_value",
        )
    return seconds


def metadata(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("Invalid 'metadata': expected an object of strings.", param="metadata", code="invalid_type")
    if len(value) > METADATA_MAX_PAIRS:
        raise bad_request(
            f"Invalid 'metadata': {len(value)} pairs; at most {METADATA_MAX_PAIRS} are allowed.",
            param="metadata",
            code="invalid_value",
        )
    for key, item in value.items():
        if len(key) > METADATA_MAX_KEY:
            raise bad_request(
                f"Invalid 'metadata': key {key[:20]!r}… is longer than {METADATA_MAX_KEY} characters.",
                param="metadata",
                code="invalid_value",
            )
        if not isinstance(item, str) or len(item) > METADATA_MAX_VALUE:
            raise bad_request(
                f"Invalid 'metadata[{key}]': values must be strings of at most {METADATA_MAX_VALUE} characters.",
                param="metadata",
                code="invalid_value",
            )
    return dict(value)


MAX_CONTENT_TYPE_CHARS: Final = 255
MAX_MODEL_CHARS: Final = 2048  # a Bedrock model ARN's limit
# What the gateway keeps of a request's own parameters (an Upload's, for the file it becomes): an item of its table
# holds 400 KB in all.
MAX_STORED_PARAMS_BYTES: Final = 64 * 1024


def bounded(value: str, name: str, max_chars: int) -> str:
    """A string parameter the gateway keeps, at most ``max_chars`` characters (a 400 naming it otherwise)."""
    if len(value) > max_chars:
        raise bad_request(
            f"Invalid '{name}': {len(value)} characters, at most {max_chars} are accepted.",
            param=name,
            code="string_above_max_length",
        )
    return value


def stored_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters the gateway keeps with a record, checked to fit it: over MAX_STORED_PARAMS_BYTES of JSON is a 400
    naming the largest parameter."""
    sizes = {name: len(json.dumps(value, separators=(",", ":"))) for name, value in params.items()}
    if sum(sizes.values()) > MAX_STORED_PARAMS_BYTES:
        largest = max(sizes, key=lambda name: sizes[name])
        raise bad_request(
            f"The request's parameters are {sum(sizes.values())} bytes of JSON, more than the "
            f"{MAX_STORED_PARAMS_BYTES} this gateway keeps with it; '{largest}' alone is {sizes[largest]}.",
            param=largest,
            code="parameters_too_large",
        )
    return params
