"""The benchmark's parts still run the product's code (figures are the benchmark's business, not the tests')."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from bench import data
from bench.__main__ import INPUT_DIRECTIONS, OUTPUT_DIRECTIONS

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
