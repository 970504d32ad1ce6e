"""`response_format` JSON as a forced tool, for providers (and models) without a native JSON switch: the tool the
request forces, and the answer's content.

Pure functions, standard library only. The tool's name is reserved: a line's own tool may not use it (400), so a
tool call of that name in an answer can only be the forced one, and the result side turns it back into what
OpenAI would have answered: the tool's input as the message ``content`` (compact JSON), no ``tool_calls``,
``finish_reason`` ``stop``.
"""

from __future__ import annotations

import json
from typing import Any, Final

from batchbridge.domain.translate import chat
from batchbridge.domain.translate.chat import ChatBody, ResponseFormat

RESPONSE_TOOL: Final = "batchbridge_json_response"  # reserved: no line's own tool may be called so
OPEN_OBJECT: Final[dict[str, Any]] = {"type": "object"}  # json_object: any JSON object


def tool_schema(b: ChatBody, fmt: ResponseFormat) -> dict[str, Any]:
    """The forced tool's input schema: the json_schema's schema, or any object for json_object. A tool's input
    is an object, so a schema of anything else is a 400."""
    if fmt.schema is None:
        return OPEN_OBJECT
    if fmt.schema.get("type") != "object":
        b.fail(
            f"{chat.SCHEMA_PARAM}.type",
            f'must be "object" for {b.provider}: its JSON answers come as a tool\'s input, which is an object',
        )
    return fmt.schema


def tool_description(fmt: ResponseFormat) -> str:
    """What the forced tool tells the model: answer through it, in the format's words when it has them."""
    what = f"the JSON object {fmt.name!r}" if fmt.name else "a JSON object"
    text = f"Give your whole answer as this tool's input: {what}."
    return f"{text} {fmt.description}" if fmt.description else text


def check_tool_name(b: ChatBody, name: str, where: str) -> None:
    """A line's own tool may not take the reserved name."""
    if name == RESPONSE_TOOL:
        b.unsupported(f"{where}.function.name", name, "the name is reserved for response_format's tool")


def content(tool_input: Any) -> str:
    """The forced tool's input as the message content: compact JSON, as OpenAI's JSON answers are."""
    return json.dumps(tool_input if tool_input is not None else {}, separators=(",", ":"), ensure_ascii=False)
