"""Realistic batch files: OpenAI chat lines of varied shape, and each provider's result lines for them."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

WORDS = [
    "the",
    "quarterly",
    "report",
    "shows",
    "revenue",
    "growth",
    "across",
    "regions",
    "while",
    "costs",
    "rose",
    "in",
    "logistics",
    "and",
    "support",
    "customers",
    "asked",
    "about",
    "delivery",
    "times",
    "refunds",
    "and",
    "product",
    "compatibility",
    "with",
    "older",
    "devices",
    "please",
    "summarise",
    "classify",
    "translate",
    "extract",
    "entities",
    "answer",
    "concisely",
    "in",
    "json",
    "with",
    "reasons",
    "and",
    "a",
    "score",
]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def chat_body(rng: random.Random, model: str) -> dict[str, object]:
    """One chat request: a system prompt, a user document of 50..1500 words, sometimes a prior turn or a tool."""
    messages: list[dict[str, object]] = [{"role": "system", "content": "You are a careful analyst. " + _text(rng, 30)}]
    if rng.random() < 0.3:
        messages += [{"role": "user", "content": _text(rng, 40)}, {"role": "assistant", "content": _text(rng, 60)}]
    messages.append({"role": "user", "content": _text(rng, rng.randint(50, 1500))})
    body: dict[str, object] = {
        "model": model,
        "messages": messages,
        "max_tokens": rng.choice([256, 512, 1024]),
        "temperature": round(rng.random(), 2),
    }
    if rng.random() < 0.2:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": "record_score",
                    "description": "Record a score for the document.",
                    "parameters": {
                        "type": "object",
                        "properties": {"score": {"type": "number"}},
                        "required": ["score"],
                    },
                },
            }
        ]
    return body


def input_lines(total_bytes: int, model: str, seed: int = 7) -> Iterator[bytes]:
    rng = random.Random(seed)
    written, n = 0, 0
    while written < total_bytes:
        line = (
            json.dumps(
                {
                    "custom_id": f"req-{n}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": chat_body(rng, model),
                }
            ).encode()
            + b"\n"
        )
        written += len(line)
        n += 1
        yield line


def write_input(path: Path, total_bytes: int, model: str) -> int:
    count = 0
    with path.open("wb") as out:
        for line in input_lines(total_bytes, model):
            out.write(line)
            count += 1
    return count


def anthropic_result(custom_id: str, text: str) -> dict[str, object]:
    return {
        "custom_id": custom_id,
        "result": {
            "type": "succeeded",
            "message": {
                "id": "msg_" + custom_id,
                "type": "message",
                "role": "assistant",
                "model": "claude-3-5-haiku-20241022",
                "content": [{"type": "text", "text": text}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 900, "output_tokens": 300},
            },
        },
    }


def bedrock_record(record_id: str, text: str) -> dict[str, object]:
    return {
        "recordId": record_id,
        "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 512, "messages": []},
        "modelOutput": {
            "id": "msg_" + record_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-3-haiku-20240307",
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 900, "output_tokens": 300},
        },
    }


def gemini_result(key: str, text: str) -> dict[str, object]:
    return {
        "key": key,
        "response": {
            "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 900, "candidatesTokenCount": 300, "totalTokenCount": 1200},
            "modelVersion": "gemini-2.5-flash",
            "responseId": "resp-" + key,
        },
    }


def write_results(path: Path, provider: str, total_bytes: int, seed: int = 11) -> int:
    """A provider's result file of about ``total_bytes``: answers of 50..1500 words."""
    rng = random.Random(seed)
    written, n = 0, 0
    with path.open("wb") as out:
        while written < total_bytes:
            text = _text(rng, rng.randint(50, 1500))
            if provider == "anthropic":
                item = anthropic_result(f"req-{n}", text)
            elif provider == "bedrock":
                item = bedrock_record(f"r{n:010d}", text)
            else:
                item = gemini_result(f"req-{n}", text)
            line = json.dumps(item).encode() + b"\n"
            out.write(line)
            written += len(line)
            n += 1
    return n
