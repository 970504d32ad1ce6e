"""A fresh clone, with nothing beside it, holds everything its tests need: collected there, every test is found,
and neither collecting them nor validating against OpenAI's schemas opens a file outside the clone (and the
Python installation running them)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs pytest with an audit hook that records every file opened outside the allowed roots.
WATCHED_PYTEST = r"""
import json, os, sys
allowed = tuple(os.path.realpath(root) for root in json.loads(os.environ["ALLOWED_ROOTS"]))
outside = set()

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)) and args[0]:
        path = os.path.realpath(os.fsdecode(args[0]))
        # installed packages' metadata (entry points) wherever an installation put it
        if not path.startswith(allowed) and ".egg-info" not in path and ".dist-info" not in path:
            outside.add(path)

sys.addaudithook(hook)
import pytest
code = pytest.main(sys.argv[1:])
allowed += (os.environ["OUTSIDE_REPORT"],)
with open(os.environ["OUTSIDE_REPORT"], "w") as report:
    json.dump(sorted(outside), report)
sys.exit(code)
"""


def collected(cwd: Path, *args: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-n0", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines() if "::" in line]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout: there is no clone to make")
def test_a_fresh_clone_runs_its_tests_reading_nothing_outside_it(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    assert not (clone.parent / "shared").exists()  # nothing beside it
    report = tmp_path / "outside.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(clone / "functions"),  # the clone's package, not this checkout's installed one
        "ALLOWED_ROOTS": json.dumps(
            [str(clone), sys.prefix, sys.base_prefix, tempfile.gettempdir(), "/usr", "/etc", "/proc", "/dev"]
        ),
        "OUTSIDE_REPORT": str(report),
        "HOME": str(tmp_path),
    }
    contract = "tests/contract/test_fake_openai.py"
    result = subprocess.run(
        [sys.executable, "-c", WATCHED_PYTEST, "-q", "-n0", "-p", "no:cacheprovider", contract, "-k", "schema"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout
    outside = json.loads(report.read_text())
    assert outside == [], outside
    in_clone = collected(clone)
    assert any(test.startswith("tests/contract/") for test in in_clone)
    uncommitted = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    if not uncommitted:  # (a working tree with changes has tests the clone has not)
        assert in_clone == collected(ROOT)  # every test of this checkout is there
    shutil.rmtree(clone)
