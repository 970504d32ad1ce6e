"""The benchmark's parts still run the product's code (figures are the benchmark's business, not the tests')."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench import data
from bench.__main__ import INPUT_DIRECTIONS, OUTPUT_DIRECTIONS, UPLOAD_MODELS

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("direction", ["floor", *INPUT_DIRECTIONS, *OUTPUT_DIRECTIONS])
def test_each_conversion_runs_on_a_small_file(direction: str, tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl"
    if direction in OUTPUT_DIRECTIONS:
        lines = data.write_results(path, OUTPUT_DIRECTIONS[direction], 100_000)
    else:
        lines = data.write_input(path, 100_000, INPUT_DIRECTIONS.get(direction, "gpt-4o-mini"))
    assert lines > 3
    done = subprocess.run(
        [sys.executable, "-m", "bench.convert", direction, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bytes"] == path.stat().st_size
    assert result["out_bytes"] > result["bytes"] // 2  # every line converted, none dropped on the way


@pytest.mark.parametrize(
    "measure",
    [
        ["floor"],
        *(["pass", provider] for provider in ["openai-compatible", *UPLOAD_MODELS]),
        *(["upload", provider] for provider in ["openai-compatible", *UPLOAD_MODELS]),
    ],
    ids=" ".join,
)
def test_each_upload_cpu_measure_runs_on_a_small_file(measure: list[str], tmp_path: Path) -> None:
    """Each runs the file service's own code to its end: a pass whose conversion refused a line, or an upload
    refused, fails the run."""
    path = tmp_path / "lines.jsonl"
    assert data.write_input(path, 100_000, UPLOAD_MODELS.get(measure[-1], "gpt-4o-mini")) > 3
    done = subprocess.run(
        [sys.executable, "-m", "bench.upload_cpu", *measure, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bytes"] == path.stat().st_size and result["cpu_seconds"] > 0


@pytest.mark.heavy
def test_every_cold_start_answers_its_seeded_event_with_real_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One round of the cold-start benchmark: the package built, each event's objects created, every function's
    first invocation answered 2xx in a process of its own (cold_starts raises on anything else)."""
    import bench.__main__ as suite

    from batchbridge.api.operations import OPERATIONS
    from tests.fakes.openai_upstream import create_app
    from tests.fakes.server import running_server

    monkeypatch.setattr(suite, "COLD_RUNS", 1)
    with suite.moto_server() as endpoint:
        env = suite.aws_env(endpoint)
        suite.prepare_aws(env)
        with running_server(create_app()) as upstream:
            floors, results = suite.cold_starts(env | {"BATCHBRIDGE_OPENAI_BASE_URL": upstream + "/v1"}, tmp_path)
    assert set(floors) == {"floor", "floor-paused"} and all(ms > 0 for ms in floors.values())
    assert set(results) == set(OPERATIONS)
    assert {operation: result["status"] for operation, result in results.items()} == {
        operation: 200 for operation in OPERATIONS
    }
