"""A fake OpenAI-compatible server (as vLLM, Ollama or Groq serve): ``POST /v1/chat/completions`` and
``POST /v1/embeddings``, with OpenAI's response shapes.

* Answers are deterministic: a chat's reply is ``echo: <the last user message>``, its usage with OpenAI's details
  (``chat_usage``: a system message counts as cached tokens, a reasoning_effort as reasoning tokens); an embedding
  is eight numbers derived from the input's SHA-256.
* ``fake.inject(status, times=, headers=)`` answers the next requests with an OpenAI-style error (e.g. 429 with
  ``retry-after``, 500); ``fake.delay_seconds`` holds every answer that long.
* ``fake.peak`` is the most requests it ever had in flight at once; ``fake.calls`` counts the requests answered;
  ``fake.received`` counts the requests that arrived, by their text (a chat's last user message, an embedding's
  input), answered or not.
* ``fake.api_key``: when set, requests without ``Authorization: Bearer <it>`` answer 401.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

REASONING_TOKENS = 3  # what a chat with a reasoning_effort reports in completion_tokens_details.reasoning_tokens


@dataclass
class Injection:
    status: int
    times: int
    headers: dict[str, str]


@dataclass
class FakeCompat:
    delay_seconds: float = 0.0
    api_key: str | None = None
    peak: int = 0
    calls: int = 0
    in_flight: int = 0
    received: Counter[str] = field(default_factory=Counter)
    injections: list[Injection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, status: int, *, times: int = 1, headers: dict[str, str] | None = None) -> None:
        with self.lock:
            self.injections.append(Injection(status, times, dict(headers or {})))

    def take_injection(self) -> Injection | None:
        with self.lock:
            if not self.injections:
                return None
            injection = self.injections[0]
            injection.times -= 1
            if injection.times <= 0:
                self.injections.pop(0)
            return injection


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status)


def _text(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def reply_to(messages: Any) -> str:
    last = ""
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and message.get("role") == "user":
            last = _text(message.get("content"))
    return f"echo: {last}"


def chat_usage(body: dict[str, Any], reply: str) -> dict[str, Any]:
    """A chat answer's usage, with OpenAI's details: a system message's words are a prefix the server has cached
    (counted in prompt_tokens too), and a reasoning_effort other than "none" spends REASONING_TOKENS (counted in
    completion_tokens too)."""
    system = " ".join(
        _text(message.get("content"))
        for message in body["messages"]
        if isinstance(message, dict) and message.get("role") in ("system", "developer")
    )
    cached = len(system.split())
    reasoning = REASONING_TOKENS if body.get("reasoning_effort") not in (None, "none") else 0
    prompt, completion = 5 + cached, len(reply.split()) + reasoning
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


def embedding_of(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [round(byte / 255, 6) for byte in digest[:8]]


def create_app() -> FastAPI:
    app = FastAPI()
    fake = FakeCompat()
    app.state.fake = fake

    async def gate(request: Request) -> JSONResponse | None:
        if fake.api_key is not None and request.headers.get("authorization") != f"Bearer {fake.api_key}":
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        injection = fake.take_injection()
        if injection is not None:
            kind = "rate_limit_error" if injection.status == 429 else "server_error"
            response = _error(injection.status, f"Injected {injection.status} (fake).", kind)
            response.headers.update(injection.headers)
            return response
        return None

    async def in_flight(work: Any, text: str) -> Any:
        with fake.lock:
            fake.received[text] += 1
            fake.in_flight += 1
            fake.peak = max(fake.peak, fake.in_flight)
        try:
            if fake.delay_seconds:
                await asyncio.sleep(fake.delay_seconds)
            return work()
        finally:
            with fake.lock:
                fake.in_flight -= 1
                fake.calls += 1

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused is not None:
            return refused
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return _error(400, "'model' and 'messages' are required.", "invalid_request_error")

        def answer() -> JSONResponse:
            text = reply_to(body["messages"])
            return JSONResponse(
                {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                            "logprobs": None,
                        }
                    ],
                    "usage": chat_usage(body, text),
                },
                headers={"x-request-id": f"req_{uuid.uuid4().hex[:16]}"},
            )

        result: JSONResponse = await in_flight(answer, reply_to(body["messages"]).removeprefix("echo: "))
        return result

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> JSONResponse:
        refused = await gate(request)
        if refused is not None:
            return refused
        body = await request.json()
        inputs = body.get("input") if isinstance(body, dict) else None
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not inputs or not body.get("model"):
            return _error(400, "'model' and 'input' are required.", "invalid_request_error")

        def answer() -> JSONResponse:
            return JSONResponse(
                {
                    "object": "list",
                    "data": [
                        {"object": "embedding", "index": i, "embedding": embedding_of(str(text))}
                        for i, text in enumerate(inputs)
                    ],
                    "model": body["model"],
                    "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
                }
            )

        result: JSONResponse = await in_flight(answer, " ".join(str(text) for text in inputs))
        return result

    return app
