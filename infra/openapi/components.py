"""Generate functions/batchbridge/api/openai_components.json: the OpenAI schemas the gateway's OpenAPI document uses.

They are copied from OpenAI's own document, the subset kept as test data in tests/contract/spec/ (MIT, Copyright (c)
OpenAI: the license travels beside the copy as openai_components.LICENSE). The copy keeps each schema as published
except for two things a page of this gateway's docs needs: OpenAI's documentation-site metadata (``x-oaiMeta``) is
left out, and links relative to OpenAI's site are made absolute (on /docs they would point into the gateway).

Usage (from the repository root):

    .venv/bin/python infra/openapi/components.py          # (re)write the copy
    .venv/bin/python infra/openapi/components.py --check  # exit 1 if it is missing or stale
"""

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "contract" / "spec" / "openai-files-batches.openapi.json"
TARGET = ROOT / "functions" / "batchbridge" / "api" / "openai_components.json"

# What the gateway's document refers to: the objects it answers with, and the requests whose arguments it describes
# (the schemas these refer to come along).
WANTED = (
    "OpenAIFile",
    "ListFilesResponse",
    "DeleteFileResponse",
    "Batch",
    "ListBatchesResponse",
    "Upload",
    "UploadPart",
    "CreateFileRequest",
    "CreateUploadRequest",
    "AddUploadPartRequest",
    "CompleteUploadRequest",
    "CreateBatchRequest",
)
REF = "#/components/schemas/"
SITE_LINK = re.compile(r"\]\((/docs/[^)\s]*)\)")


def _referenced(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"].removeprefix(REF)} if isinstance(value.get("$ref"), str) else set()
        return found.union(*(_referenced(item) for item in value.values()))
    if isinstance(value, list):
        return set().union(*(_referenced(item) for item in value))
    return set()


def _cleaned(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _cleaned(item) for key, item in value.items() if key != "x-oaiMeta"}
    if isinstance(value, list):
        return [_cleaned(item) for item in value]
    if isinstance(value, str):
        return SITE_LINK.sub(r"](https://platform.openai.com\1)", value)
    return value


def build() -> dict[str, Any]:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    schemas = spec["components"]["schemas"]
    names: set[str] = set()
    pending = set(WANTED)
    while pending:
        name = pending.pop()
        names.add(name)
        pending |= _referenced(schemas[name]) - names
    return {
        "x-source": (
            f"OpenAI's OpenAPI document (Files, Uploads and Batches; info.version {spec['info']['version']}), "
            "https://github.com/openai/openai-openapi: the schemas below as published, without x-oaiMeta, links "
            "to OpenAI's site made absolute"
        ),
        "x-license": "MIT, Copyright (c) OpenAI (https://openai.com): see openai_components.LICENSE beside this file",
        "schemas": {name: _cleaned(schemas[name]) for name in sorted(names)},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the copy is missing or stale")
    args = parser.parse_args(argv)
    text = render(build())
    if TARGET.exists() and TARGET.read_text(encoding="utf-8") == text:
        return 0
    if args.check:
        print(f"stale or missing: {TARGET.relative_to(ROOT)}", file=sys.stderr)
        return 1
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
