"""A bounded load test on `batchbridge serve` over loopback, on its embedded store: 8 workers x 200 mixed calls.
No 5xx; every object created is retrievable and listed exactly once. Figures are printed (README: Reliability),
never asserted as timings."""

from __future__ import annotations

import random
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_serve import _serve

WORKERS = 8
CALLS = 200
LINE = (
    '{"custom_id": "r%d", "method": "POST", "url": "/v1/chat/completions", "body": {"model": "gpt-4o-mini", '
    '"messages": [{"role": "user", "content": "Hi %d"}]}}\n'
)


@pytest.fixture
def served(fake_openai: tuple[Any, str], tmp_path: Path) -> Any:
    yield from _serve(fake_openai, tmp_path, {"BATCHBRIDGE_REFRESH_SECONDS": "0"})


def worker(base: str, number: int) -> dict[str, Any]:
    rng = random.Random(number)
    key = f"sk-load-{number % 2}"  # two tenants, four workers each
    files: list[str] = []
    batches: list[str] = []
    statuses: Counter[int] = Counter()
    timings: list[float] = []
    with httpx.Client(base_url=base + "/openai/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:

        def call(method: str, path: str, **kwargs: Any) -> httpx.Response:
            started = time.perf_counter()
            response = http.request(method, path, **kwargs)
            timings.append(time.perf_counter() - started)
            statuses[response.status_code] += 1
            return response

        for step in range(CALLS):
            roll = rng.random()
            if roll < 0.3 or not files:
                content = (LINE % (step, step)).encode()
                response = call("POST", "/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
                if response.status_code == 200:
                    files.append(response.json()["id"])
            elif roll < 0.4:
                body = {
                    "input_file_id": rng.choice(files),
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                }
                response = call("POST", "/batches", json=body)
                if response.status_code == 200:
                    batches.append(response.json()["id"])
            elif roll < 0.7:
                call("GET", f"/files/{rng.choice(files)}")
            elif roll < 0.85 and batches:
                call("GET", f"/batches/{rng.choice(batches)}")
            else:
                call("GET", "/files", params={"limit": 20})
    return {"key": key, "files": files, "batches": batches, "statuses": statuses, "timings": timings}


def listed(base: str, key: str, path: str, purpose: str | None = None) -> list[str]:
    """Every ID a tenant's list returns, following the cursor (files of ``purpose`` only, when given)."""
    ids: list[str] = []
    after: str | None = None
    with httpx.Client(base_url=base + "/openai/v1", headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = http.get(path, params=params).json()
            ids += [item["id"] for item in page["data"] if purpose is None or item["purpose"] == purpose]
            if not page["has_more"]:
                return ids
            after = page["data"][-1]["id"]


@pytest.mark.heavy
def test_eight_workers_by_two_hundred_calls(served: str) -> None:
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        results = list(pool.map(lambda n: worker(served, n), range(WORKERS)))
    elapsed = time.perf_counter() - started
    statuses = sum((r["statuses"] for r in results), Counter())
    timings = sorted(t for r in results for t in r["timings"])
    assert sum(statuses.values()) == WORKERS * CALLS
    assert not [status for status in statuses if status >= 500], statuses
    assert set(statuses) <= {200}, statuses  # nothing in this mix is a client error either

    for key in ("sk-load-0", "sk-load-1"):
        created_files = [f for r in results if r["key"] == key for f in r["files"]]
        created_batches = [b for r in results if r["key"] == key for b in r["batches"]]
        files_listed = listed(served, key, "/files", purpose="batch")  # batches add their output files
        batches_listed = listed(served, key, "/batches")
        assert sorted(files_listed) == sorted(created_files)  # each exactly once, nobody else's
        assert sorted(batches_listed) == sorted(created_batches)
        with httpx.Client(base_url=served + "/openai/v1", headers={"Authorization": f"Bearer {key}"}) as http:
            for file_id in created_files:
                assert http.get(f"/files/{file_id}").status_code == 200
    print(
        f"\nload: {WORKERS} workers x {CALLS} calls = {len(timings)} requests in {elapsed:.1f} s "
        f"({len(timings) / elapsed:.0f}/s); p50 {statistics.median(timings) * 1000:.1f} ms, "
        f"p99 {timings[int(0.99 * (len(timings) - 1))] * 1000:.1f} ms; statuses {dict(statuses)}"
    )
