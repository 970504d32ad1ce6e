"""Reproducible Lambda builds: functions/requirements.lock pins every dependency with its hashes, functions/Makefile
installs only that (pip --require-hashes), and two builds of the same sources are the same bytes, their bytecode
naming its sources by their path in Lambda (/var/task/...)."""

from __future__ import annotations

import marshal
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"


def locked() -> dict[str, tuple[str, list[str]]]:
    """requirements.lock: package -> (version, its sha256 hashes)."""
    text = (FUNCTIONS / "requirements.lock").read_text()
    entries: dict[str, tuple[str, list[str]]] = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        if not block.strip() or block.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==([^\s\\;]+)", block)
        assert match, block
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def wanted() -> list[Requirement]:
    lines = (FUNCTIONS / "requirements.txt").read_text().splitlines()
    return [Requirement(line) for line in (line.split("#")[0].strip() for line in lines) if line]


def test_every_requirement_is_pinned_with_hashes() -> None:
    pins = locked()
    assert pins
    for name, (version, hashes) in pins.items():
        assert hashes, name  # pip --require-hashes installs nothing unhashed
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", version), (name, version)
    for requirement in wanted():
        name = canonicalize_name(requirement.name)
        assert name in pins, requirement
        assert requirement.specifier.contains(pins[name][0], prereleases=True), (requirement, pins[name][0])


def test_boto3_is_the_packages_own() -> None:
    """Pinned in the package, not taken from the runtime, whose version varies with the region and the date."""
    pins = locked()
    assert {"boto3", "botocore", "s3transfer"} <= set(pins)
    assert pins["boto3"][0].split(".")[:2] == pins["botocore"][0].split(".")[:2]  # released together


def test_the_makefile_installs_the_lock_and_compiles_for_var_task(tmp_path: Path) -> None:
    done = subprocess.run(
        ["make", "-n", "--no-print-directory", "-C", str(FUNCTIONS), "build-AnyFunction", f"ARTIFACTS_DIR={tmp_path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    commands = done.stdout
    assert "--require-hashes -r requirements.lock" in commands
    assert "--platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all:" in commands
    compile_line = next(line for line in commands.splitlines() if "compileall" in line)
    assert f'-s "{tmp_path}" -p "/var/task"' in compile_line and "unchecked-hash" in compile_line
    assert "PYTHONHASHSEED=0" in compile_line and " -j" not in compile_line  # one process: the same bytes each time
    assert "touch -h -t" in commands  # one date for every file


@pytest.mark.heavy
def test_two_builds_are_the_same_bytes(tmp_path: Path) -> None:
    """As SAM builds each function: same sources, other directories; what Lambda would get is identical."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    trees = []
    for name in ("FilesCreateFunction", "SweeperFunction"):
        target = tmp_path / name
        subprocess.run(
            [
                "make",
                "--no-print-directory",
                "-C",
                str(FUNCTIONS),
                f"build-{name}",
                f"ARTIFACTS_DIR={target}",
                f"PYTHON={sys.executable}",
                f"PYTHON_VERSION={version}",
                "PLATFORM=",  # this machine's wheels, from the same lock
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=True,
        )
        trees.append(target)
    first, second = (
        {
            str(path.relative_to(tree)): (path.read_bytes() if path.is_file() else b"", path.lstat().st_mtime)
            for path in sorted(tree.rglob("*"))
        }
        for tree in trees
    )
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []
    assert not (trees[0] / "bin").exists()
    pyc = next((trees[0] / "batchbridge" / "handlers" / "__pycache__").glob("authorizer.*.pyc"))
    assert marshal.loads(pyc.read_bytes()[16:]).co_filename == "/var/task/batchbridge/handlers/authorizer.py"
    assert {mtime for _, mtime in first.values()} == {os.stat(pyc).st_mtime}
