"""The Lambda package, built as `sam build` builds it (functions/Makefile), for this machine's Python.

Cold starts are measured in it, floor included, with ``python -S``: only the package's modules are importable, as
in Lambda, where boto3 comes from the runtime (here: the version installed locally, put in the package). The
development environment would add what the deployment lacks: httpx, for one, imports its command-line client at
start-up when rich, click and pygments happen to be installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(target: Path) -> Path:
    """Build the package into ``target`` (created) and return it."""
    import boto3

    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT / "functions"),
            "build-LocalPackage",
            f"ARTIFACTS_DIR={target}",
            f"PYTHON={sys.executable}",
            f"PYTHON_VERSION={version}",
            "PLATFORM=",  # this machine's wheels
            f"RUNTIME_PACKAGES=boto3=={boto3.__version__}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"building the Lambda package failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return target


def python(package: Path) -> tuple[list[str], dict[str, str]]:
    """The command prefix and environment additions that run Python on ``package`` alone (and this repository,
    for the bench's own modules)."""
    return [sys.executable, "-S"], {"PYTHONPATH": f"{package}:{ROOT}"}
