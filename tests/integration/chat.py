"""Lines of OpenAI batch input files, for tests: a chat model each provider runs, and chat lines made with them."""

from __future__ import annotations

import json
from typing import Final

MODELS: Final = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
    "gemini": "gemini-2.5-flash",
    "openai-compatible": "llama3",
}


def chat_line(custom_id: str, model: str, content: str = "Hi") -> bytes:
    """One ``/v1/chat/completions`` request line (a user message of ``content``, five tokens at most)."""
    body = {"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 5}
    return json.dumps({"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}).encode()


def chat_jsonl(count: int, model: str, id_prefix: str = "req-") -> bytes:
    """``count`` chat lines, custom_ids ``{id_prefix}0`` …, asking ``Q0`` …"""
    return b"\n".join(chat_line(f"{id_prefix}{n}", model, f"Q{n}") for n in range(count))
