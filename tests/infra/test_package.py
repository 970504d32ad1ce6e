"""The Lambda package (functions/Makefile, what `sam build` runs): every function's Handler imports from it
alone, from bytecode shipped in it, and template.yaml builds every function that way.

The build installs functions/requirements.txt from the package index, as `sam build` does; boto3, which the Lambda
runtime provides, is added at the local version (bench/package.py builds it the same way for the benchmarks)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench import package
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parents[2]


def functions() -> dict[str, dict[str, Any]]:
    resources = yaml_parse((ROOT / "template.yaml").read_text())["Resources"]
    return {name: body for name, body in resources.items() if body["Type"] == "AWS::Serverless::Function"}


def test_sam_builds_every_function_with_the_makefile() -> None:
    assert functions()
    for name, body in functions().items():
        assert body.get("Metadata", {}).get("BuildMethod") == "makefile", name
        assert body["Properties"].get("CodeUri", "functions/") == "functions/", name  # where the Makefile is


def test_the_makefile_refuses_a_python_whose_bytecode_the_runtime_would_not_load(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            "make",
            "-C",
            str(ROOT / "functions"),
            "build-AnyFunction",
            f"ARTIFACTS_DIR={tmp_path}",
            f"PYTHON={sys.executable}",
            "PYTHON_VERSION=2.7",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "not 2.7" in done.stderr
    assert list(tmp_path.iterdir()) == []  # nothing installed


CHECK = """
import importlib, json, os, sys
package = sys.argv[1]
for handler in sys.argv[2:]:
    module, attribute = handler.rsplit(".", 1)
    assert callable(getattr(importlib.import_module(module), attribute)), handler
stdlib = os.path.dirname(os.__file__)
loaded = [m for m in list(sys.modules.values()) if getattr(m, "__file__", None)]
outside = sorted(m.__name__ for m in loaded if not m.__file__.startswith((package, stdlib)))

def unchecked_bytecode(module):
    cached = getattr(module, "__cached__", None)
    if not cached or not os.path.exists(cached):
        return False
    with open(cached, "rb") as pyc:
        header = pyc.read(8)
    return int.from_bytes(header[4:8], "little") == 0b01  # hash-based, source not checked

in_package = [m for m in loaded if m.__file__.startswith(package) and m.__file__.endswith(".py")]
from_source = sorted(m.__name__ for m in in_package if not unchecked_bytecode(m))
print(json.dumps({"outside": outside, "from_source": from_source, "modules": len(loaded)}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return package.build(tmp_path_factory.mktemp("lambda") / "package")


@pytest.mark.heavy  # builds the Lambda package (pip installs its requirements): some 10 s
def test_every_handler_imports_from_the_package_alone_and_from_its_bytecode(built: Path) -> None:
    handlers = sorted({body["Properties"]["Handler"] for body in functions().values()})
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "AWS_LAMBDA"))}
    done = subprocess.run(
        [sys.executable, "-S", "-c", CHECK, str(built), *handlers],
        capture_output=True,
        text=True,
        env=env | {"PYTHONPATH": str(built), "AWS_DEFAULT_REGION": "us-east-1", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outside"] == []  # nothing from the development environment
    assert report["from_source"] == []  # every module of the package came with its bytecode
    assert report["modules"] > 500  # fastapi, pydantic, boto3, the gateway: really imported


@pytest.mark.heavy  # the same build
def test_the_package_carries_its_data_files(built: Path) -> None:
    """What the modules read beside themselves: OpenAI's schemas for the OpenAPI document (with their license), the
    docs pages' assets (with theirs)."""
    api = built / "batchbridge" / "api"
    source = ROOT / "functions" / "batchbridge" / "api"
    wanted = ["openai_components.json", "openai_components.LICENSE"]
    wanted += [str(path.relative_to(source)) for path in (source / "static").rglob("*") if path.is_file()]
    assert [name for name in wanted if not (api / name).is_file()] == []
    assert any(name.endswith("swagger-ui-bundle.js") for name in wanted)
