"""The one-pass reading of common chat lines must give exactly what each translation's general path gives:
the same request (key order included) or the same 400."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from batchbridge.domain.errors import GatewayError
from batchbridge.domain.translate import anthropic, bedrock, chat, gemini

CLAUDE_ON_BEDROCK = "anthropic.claude-3-haiku-20240307-v1:0"


def pick(rng: random.Random, usual: list[Any], odd: list[Any]) -> Any:
    """Mostly a usual value, sometimes an odd one (which the general path must judge)."""
    return rng.choice(usual) if rng.random() < 0.85 else rng.choice(odd)


def random_body(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if rng.random() < 0.95:
        body["model"] = pick(rng, ["gpt-4o-mini"], ["", None, 3])
    messages: list[Any] = []
    for _ in range(rng.randint(0, 4)):
        message: dict[str, Any] = {
            "role": pick(rng, ["system", "developer", "user", "user", "assistant"], ["tool", "function", None, 7]),
            "content": pick(rng, ["Hi", "", "What is 2+2?"], [None, 5, [{"type": "text", "text": "part"}]]),
        }
        if rng.random() < 0.03:
            message["name"] = "bob"
        messages.append(message)
    body["messages"] = messages if rng.random() < 0.97 else "not a list"
    numbers = {
        "max_tokens": ([1, 100, 4096], [0, -1, 1.5, True, "x", None]),
        "max_completion_tokens": ([1, 256], [0, 2.0, None, "9"]),
        "temperature": ([0, 0.5, 1, 1.5, 2, 2.0], [3, -1, True, "x", None]),
        "top_p": ([0, 0.9, 1], [1.5, -0.1, False, None]),
    }
    for key, (usual, odd) in numbers.items():
        if rng.random() < 0.4:
            body[key] = pick(rng, usual, odd)
    if rng.random() < 0.4:
        body["stop"] = pick(
            rng, ["END", ["a"], ["a", "b", "c", "d"], ["a", "b", "c", "d", "e"], []], [["a"] * 6, [1], None]
        )
    if rng.random() < 0.3:
        body["user"] = pick(rng, ["user-7"], [None, 5])
    if rng.random() < 0.03:
        body["seed"] = 3
    return body


def outcome(translate: Callable[[dict[str, Any], str], dict[str, Any]], body: dict[str, Any]) -> str:
    try:
        return json.dumps(translate(body, "req-1"))  # key order counts too
    except GatewayError as exc:
        return f"{exc.status} {exc.code} {exc.message}"


@pytest.mark.parametrize(
    ("name", "public", "general"),
    [
        ("gemini", lambda body, cid: gemini.chat_to_request(body, custom_id=cid), gemini._request),
        ("anthropic", lambda body, cid: anthropic.chat_to_params(body, custom_id=cid), anthropic._params),
        (
            "bedrock claude",
            lambda body, cid: bedrock.chat_to_model_input(body, custom_id=cid, model_id=CLAUDE_ON_BEDROCK),
            bedrock._claude_general,
        ),
    ],
)
def test_the_one_pass_path_matches_the_general_one(name: str, public: Any, general: Any) -> None:
    rng = random.Random(20261126)
    fast = 0
    for _ in range(5000):
        body = random_body(rng)
        assert outcome(public, body) == outcome(general, body), body
        fast += chat.simple(body) is not None
    assert fast > 500  # the comparison covered many lines the one-pass path took
