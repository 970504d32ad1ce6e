"""The providers' Retry-After, read one way for the adapters' retries and the openai-compatible worker alike."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from batchbridge.providers import compat, http


def answer(**headers: str) -> httpx.Response:
    return httpx.Response(429, headers={name.replace("_", "-"): value for name, value in headers.items()})


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry_after_ms": "1500"}, 1.5),
        ({"retry_after_ms": "-20"}, 0.0),  # never a negative wait
        ({"retry_after_ms": "soon"}, None),
        ({"retry_after": "7"}, 7.0),
        ({"retry_after": " 2.5 "}, 2.5),
        ({"retry_after": "-3"}, None),
        ({"retry_after": "whenever"}, None),
        ({}, None),
    ],
)
def test_retry_after_reads_the_wait_asked_for(headers: dict[str, str], seconds: float | None) -> None:
    assert http.retry_after(answer(**headers)) == seconds


def test_retry_after_reads_an_http_date() -> None:
    in_ten = email.utils.formatdate(time.time() + 10, usegmt=True)
    seconds = http.retry_after(answer(retry_after=in_ten))
    assert seconds is not None and 8 <= seconds <= 10
    assert http.retry_after(answer(retry_after=email.utils.formatdate(time.time() - 60, usegmt=True))) == 0.0


def test_the_adapters_wait_at_most_five_seconds_the_worker_a_minute() -> None:
    assert http.retry_delay(0, answer(retry_after="4")) == 4.0
    assert http.retry_delay(0, answer(retry_after="30")) is None  # too long inside a request: not waited for
    assert 0 <= (http.retry_delay(0, answer()) or 0) <= http.FIRST_BACKOFF_SECONDS  # backoff with jitter
    assert compat._retry_after(answer(retry_after="30")) == 30.0
    assert compat._retry_after(answer(retry_after="600")) == compat.MAX_RETRY_AFTER_SECONDS
    assert compat._retry_after(answer()) is None
