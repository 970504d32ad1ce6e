"""The fake OpenAI-compatible server, driven by the official OpenAI SDK: it answers as such servers do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.fakes.compat_upstream import REASONING_TOKENS, create_app, embedding_of
from tests.fakes.server import running_server


@pytest.fixture
def served() -> Iterator[tuple[Any, str]]:
    app = create_app()
    with running_server(app) as base:
        yield app.state.fake, base + "/v1"


def test_chat_and_embeddings_through_the_sdk(served: tuple[Any, str]) -> None:
    fake, base = served
    client = OpenAI(base_url=base, api_key="none", max_retries=0)
    chat = client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "Hi there"}])
    assert chat.choices[0].message.content == "echo: Hi there" and chat.model == "llama3"
    assert chat.usage is not None and chat.usage.total_tokens > 0
    vectors = client.embeddings.create(model="nomic-embed", input=["a", "b"])
    assert [item.embedding for item in vectors.data] == [embedding_of("a"), embedding_of("b")]
    assert fake.calls == 2 and fake.peak == 1


def test_chat_usage_details_parse_in_the_sdk(served: tuple[Any, str]) -> None:
    _, base = served
    client = OpenAI(base_url=base, api_key="none", max_retries=0)
    plain = client.chat.completions.create(model="llama3", messages=[{"role": "user", "content": "Hi"}]).usage
    assert plain is not None and plain.prompt_tokens_details is not None and plain.completion_tokens_details is not None
    assert (plain.prompt_tokens_details.cached_tokens, plain.completion_tokens_details.reasoning_tokens) == (0, 0)
    usage = client.chat.completions.create(
        model="o-like",
        messages=[{"role": "system", "content": "Be very brief."}, {"role": "user", "content": "Hi"}],
        reasoning_effort="low",
    ).usage
    assert usage is not None and usage.prompt_tokens_details is not None and usage.completion_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 3 and usage.prompt_tokens == 5 + 3
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert usage.completion_tokens == 2 + REASONING_TOKENS  # "echo: Hi"
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_injected_errors_are_what_the_sdk_expects(served: tuple[Any, str]) -> None:
    fake, base = served
    fake.inject(429, headers={"retry-after": "0"})
    retrying = OpenAI(base_url=base, api_key="none", max_retries=1)
    assert retrying.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}]).choices
    fake.inject(500)
    with pytest.raises(openai.InternalServerError):
        OpenAI(base_url=base, api_key="none", max_retries=0).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "x"}]
        )
    fake.api_key = "sk-right"
    with pytest.raises(openai.AuthenticationError):
        OpenAI(base_url=base, api_key="sk-wrong", max_retries=0).embeddings.create(model="m", input="x")
    assert OpenAI(base_url=base, api_key="sk-right", max_retries=0).embeddings.create(model="m", input="x").data
