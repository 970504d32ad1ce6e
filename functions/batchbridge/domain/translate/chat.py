"""Reading an OpenAI chat.completions request body: the checks every provider translation shares.

Pure functions, standard library only. Each provider module decides what a field becomes; this module only
checks what any chat body must be (known fields, types, ranges) and names the line's custom_id and the field in
every 400. Texts that differ per provider (the provider's name, why a field is rejected) are passed in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final, NamedTuple, NoReturn, TypeVar

from batchbridge.domain.errors import bad_request

T = TypeVar("T")

MAX_STOP_SEQUENCES: Final = 4

# Fields of a chat body the translations know; anything else is rejected by name.
FIELDS: Final = frozenset(
    {
        "model",
        "messages",
        "max_completion_tokens",
        "max_tokens",
        "stop",
        "temperature",
        "top_p",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        # checked, then dropped or rejected
        "seed",
        "n",
        "stream",
        "stream_options",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "service_tier",
        "store",
        "metadata",
        "audio",
        "modalities",
        "prediction",
        "functions",
        "function_call",
        "logit_bias",
    }
)

MESSAGE_KEYS: Final[dict[str, frozenset[str]]] = {
    "system": frozenset({"role", "content", "name"}),
    "developer": frozenset({"role", "content", "name"}),
    "user": frozenset({"role", "content", "name"}),
    "assistant": frozenset({"role", "content", "name", "tool_calls", "refusal", "audio", "function_call"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


class ChatBody:
    """A chat body being translated for one provider: every error names the custom_id."""

    def __init__(self, body: dict[str, Any], custom_id: str, provider: str) -> None:
        self.body = body
        self.custom_id = custom_id
        self.provider = provider

    def fail(self, param: str, problem: str, code: str = "invalid_value") -> NoReturn:
        raise bad_request(f"custom_id {self.custom_id!r}: {param} {problem}", param=param, code=code)

    def unsupported(self, param: str, value: Any, why: str, code: str = "unsupported_value") -> NoReturn:
        raise bad_request(
            f"custom_id {self.custom_id!r}: {param} = {json.dumps(value)} is not supported by {self.provider} ({why})",
            param=param,
            code=code,
        )

    def get(self, key: str) -> Any:
        return self.body.get(key)


class Reasons(NamedTuple):
    """Why a provider rejects each field `check_dropped_and_rejected` checks (shown in the 400 message)."""

    logprobs: str
    penalties: str
    response_format: str
    audio: str
    prediction: str
    modalities: str
    logit_bias: str


def check_fields(b: ChatBody) -> None:
    """Every top-level field is one of FIELDS."""
    for key in b.body:
        if key not in FIELDS:
            b.fail(f"body.{key}", "is not a known chat.completions parameter", "unknown_parameter")


def model(b: ChatBody) -> str:
    """`model`, required and a non-empty string."""
    return _required(b, "model", str, "a non-empty string")


def check_dropped_and_rejected(b: ChatBody, why: Reasons) -> None:
    """n, stream, logprobs, top_logprobs, penalties, response_format, audio, prediction, functions, function_call,
    modalities and logit_bias: their defaults pass (and are dropped), anything else is a 400."""
    n = b.get("n")
    if n is not None:
        if not is_int(n) or n < 1:
            b.fail("body.n", "must be a positive integer", "invalid_type")
        if n > 1:
            b.unsupported("body.n", n, "one choice per request")
    if b.get("stream") is not None and b.get("stream") is not False:
        b.unsupported("body.stream", b.get("stream"), "batch requests never stream")
    if b.get("logprobs") is not None and b.get("logprobs") is not False:
        b.unsupported("body.logprobs", b.get("logprobs"), why.logprobs)
    if b.get("top_logprobs") is not None:
        b.unsupported("body.top_logprobs", b.get("top_logprobs"), why.logprobs, "unsupported_parameter")
    for penalty in ("presence_penalty", "frequency_penalty"):
        value = b.get(penalty)
        if value is None:
            continue
        if not is_number(value):
            b.fail(f"body.{penalty}", "must be a number", "invalid_type")
        if value != 0:
            b.unsupported(f"body.{penalty}", value, why.penalties)
    response_format = b.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind != "text":
            b.unsupported("body.response_format", response_format, why.response_format)
    for key, reason in (
        ("audio", why.audio),
        ("prediction", why.prediction),
        ("functions", "deprecated; use tools"),
        ("function_call", "deprecated; use tool_choice"),
    ):
        if b.get(key) is not None:
            b.unsupported(f"body.{key}", b.get(key), reason, "unsupported_parameter")
    modalities = b.get("modalities")
    if modalities is not None:
        if not isinstance(modalities, list):
            b.fail("body.modalities", "must be a list", "invalid_type")
        if any(m != "text" for m in modalities):
            b.unsupported("body.modalities", modalities, why.modalities)
    logit_bias = b.get("logit_bias")
    if logit_bias is not None:
        if not isinstance(logit_bias, dict):
            b.fail("body.logit_bias", "must be an object", "invalid_type")
        if logit_bias:
            b.unsupported("body.logit_bias", logit_bias, why.logit_bias, "unsupported_parameter")


def max_tokens(b: ChatBody) -> int | None:
    """`max_completion_tokens` ?? `max_tokens`, each checked; None when both are absent."""
    for key in ("max_completion_tokens", "max_tokens"):
        value = b.get(key)
        if value is None:
            continue
        if not is_int(value):
            b.fail(f"body.{key}", "must be an integer", "invalid_type")
        if value < 1:
            b.fail(f"body.{key}", f"= {value} must be at least 1")
        result: int = value
        return result
    return None


def stop(b: ChatBody) -> list[str]:
    """`stop` (a string or at most MAX_STOP_SEQUENCES strings) -> the sequences; [] when absent."""
    value = b.get("stop")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        b.fail("body.stop", "must be a string or a list of strings", "invalid_type")
    if len(value) > MAX_STOP_SEQUENCES:
        b.fail("body.stop", f"has {len(value)} sequences; at most {MAX_STOP_SEQUENCES} are allowed")
    return list(value)


def number(b: ChatBody, key: str, low: float, high: float) -> float | int | None:
    """An optional number in low..high; None when absent."""
    value = b.get(key)
    if value is None:
        return None
    if not is_number(value):
        b.fail(f"body.{key}", "must be a number", "invalid_type")
    if not low <= value <= high:
        b.fail(f"body.{key}", f"= {value} must be between {low:g} and {high:g}")
    result: float | int = value
    return result


def parallel_tool_calls(b: ChatBody) -> bool | None:
    return _optional(b, b.body, "parallel_tool_calls", "body.parallel_tool_calls", bool, "a boolean")


def user(b: ChatBody) -> str | None:
    return _optional(b, b.body, "user", "body.user", str, "a string")


def messages(b: ChatBody) -> list[Any]:
    """`messages`, required and a non-empty list (each message is checked by `message_role`)."""
    return _required(b, "messages", list, "a non-empty list")


def message_role(b: ChatBody, message: Any, where: str, rejected: Mapping[str, str], roles: str) -> str:
    """A message's role, once the message is an object with a known role and only that role's fields.

    `rejected` maps roles the provider does not translate to why (400 unsupported_value); `roles` lists the
    accepted ones for the error message.
    """
    if not isinstance(message, dict):
        b.fail(where, "must be an object", "invalid_type")
    role = message.get("role")
    if isinstance(role, str) and role in rejected:
        b.unsupported(f"{where}.role", role, rejected[role])
    if not isinstance(role, str) or role not in MESSAGE_KEYS:
        b.fail(f"{where}.role", f"= {json.dumps(role)} must be {roles}")
    for key in message:
        if key not in MESSAGE_KEYS[role]:
            b.fail(f"{where}.{key}", f"is not a known field of a {role} message", "unknown_parameter")
    return role


def part_text(b: ChatBody, part: dict[str, Any], where: str, kind: str = "text") -> str:
    """The string a text (or refusal) content part carries under its `kind` key."""
    value = part.get(kind)
    if not isinstance(value, str):
        b.fail(f"{where}.{kind}", "is required and must be a string", "missing_required_parameter")
    return value


def check_assistant_extras(b: ChatBody, message: dict[str, Any], where: str, no_audio: str) -> None:
    """An assistant message's `audio` and `function_call` are rejected."""
    for key, why in (("audio", no_audio), ("function_call", "deprecated; use tool_calls")):
        if message.get(key) is not None:
            b.unsupported(f"{where}.{key}", message[key], why, "unsupported_parameter")


def refusal(b: ChatBody, message: dict[str, Any], where: str) -> str | None:
    """An assistant message's `refusal` field: what the assistant said, so the provider sees it as text."""
    return _optional(b, message, "refusal", f"{where}.refusal", str, "a string")


def _required(b: ChatBody, key: str, kind: type[T], what: str) -> T:
    """`body[key]`: 400 missing_required_parameter when absent or null, invalid_type unless a non-empty `kind`."""
    value = b.get(key)
    if value is None:
        b.fail(f"body.{key}", "is required", "missing_required_parameter")
    if not isinstance(value, kind) or not value:
        b.fail(f"body.{key}", f"must be {what}", "invalid_type")
    return value


def _optional(b: ChatBody, source: dict[str, Any], key: str, param: str, kind: type[T], what: str) -> T | None:
    """`source[key]` when present and not null (400 invalid_type unless a `kind`), else None."""
    value = source.get(key)
    if value is None:
        return None
    if not isinstance(value, kind):
        b.fail(param, f"must be {what}", "invalid_type")
    return value


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
