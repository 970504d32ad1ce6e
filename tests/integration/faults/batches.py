"""What the fault tests share: one small batch input per provider, and the calls that upload and create it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import OpenAI

from tests.fakes.server import Unreliable

KEY = "sk-reconcile-user"
MODELS = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-20241022",
    "gemini": "gemini-2.5-flash",
    "bedrock": "anthropic.claude-3-haiku-20240307-v1:0",
}
CREATE_PATHS = {
    "openai": "/v1/batches",
    "anthropic": "/v1/messages/batches",
    "gemini": ":batchGenerateContent",
    "bedrock": "/model-invocation-job",
}


def unreliable(request: pytest.FixtureRequest, provider: str) -> Unreliable:
    app: Unreliable = request.getfixturevalue(f"fake_{provider}")[0]
    return app


def jsonl(provider: str, count: int = 2) -> bytes:
    return "\n".join(
        json.dumps(
            {
                "custom_id": f"req-{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {
                    "model": MODELS[provider],
                    "messages": [{"role": "user", "content": f"Q{n}?"}],
                    "max_tokens": 9,
                },
            }
        )
        for n in range(count)
    ).encode()


def upload(client: OpenAI, provider: str) -> str:
    file = client.files.create(
        file=("in.jsonl", jsonl(provider), "application/jsonl"), purpose="batch", extra_body={"provider": provider}
    )
    return file.id


def create(client: OpenAI, provider: str, file_id: str, **kwargs: Any) -> Any:
    return client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        completion_window="24h",
        extra_body={"provider": provider},
        **kwargs,
    )
