"""Events whose objects exist: each cold start then does its operation's real work and answers 2xx.

    python -m bench.seed <directory> <api-key> <operation>...

Creates, through the functions' own handlers, what each operation's infra/events event refers to (a file for
files.retrieve, a batch for batches.cancel, an upload with a part for uploads.complete, …) and writes
``<directory>/<operation>.json``: the event with the created objects' IDs in place of its placeholder IDs, sent
with ``api-key`` (a gateway key of its own per round: lists then see the same objects every round). Every
operation gets objects of its own: a cancel or delete leaves nothing for the next.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.coldstart import EVENTS, Context


def original(operation: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / f"{operation}.json").read_text())
    return loaded


def with_ids(original: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """``original`` with every placeholder (keys of ``ids``) replaced, in its path, parameters, headers and body."""
    body = original.get("body")
    rest = json.dumps({**original, "body": None})
    for placeholder, real in ids.items():
        rest = rest.replace(placeholder, real)
    replaced: dict[str, Any] = json.loads(rest)
    if body:
        raw = base64.b64decode(body) if original.get("isBase64Encoded") else body.encode()
        for placeholder, real in ids.items():
            raw = raw.replace(placeholder.encode(), real.encode())
        replaced["body"] = base64.b64encode(raw).decode() if original.get("isBase64Encoded") else raw.decode()
        if "Content-Length" in replaced["headers"]:
            replaced["headers"]["Content-Length"] = str(len(raw))
            replaced["multiValueHeaders"]["Content-Length"] = [str(len(raw))]
    return replaced


def invoke(operation: str, request: dict[str, Any]) -> dict[str, Any]:
    import importlib

    handler = importlib.import_module(f"batchbridge.handlers.{operation}").handler
    response = handler(request, Context())
    if not 200 <= response["statusCode"] < 300:
        raise RuntimeError(f"seeding: {operation} answered {response['statusCode']}: {response['body'][:500]}")
    answered: dict[str, Any] = json.loads(response["body"])
    return answered


PLACEHOLDER_KEY = original("files_list")["headers"]["Authorization"].removeprefix("Bearer ")
PLACEHOLDER_FILE = original("files_retrieve")["pathParameters"]["file_id"]
PLACEHOLDER_BATCH = original("batches_retrieve")["pathParameters"]["batch_id"]
PLACEHOLDER_UPLOAD = original("uploads_add_part")["pathParameters"]["upload_id"]
PLACEHOLDER_PART = json.loads(base64.b64decode(original("uploads_complete")["body"]))["part_ids"][0]


@dataclass(frozen=True)
class Round:
    """One round's objects, created and named with the round's own gateway key."""

    api_key: str

    def event(self, operation: str, ids: dict[str, str] | None = None) -> dict[str, Any]:
        """The operation's event, sent with this round's key, naming the objects in ``ids``."""
        return with_ids(original(operation), {f"Bearer {PLACEHOLDER_KEY}": f"Bearer {self.api_key}", **(ids or {})})

    def new_file(self) -> str:
        return str(invoke("files_create", self.event("files_create"))["id"])

    def new_batch(self) -> str:
        return str(invoke("batches_create", self.event("batches_create", {PLACEHOLDER_FILE: self.new_file()}))["id"])

    def new_upload(self) -> str:
        return str(invoke("uploads_create", self.event("uploads_create"))["id"])

    def new_part(self, upload_id: str) -> str:
        return str(invoke("uploads_add_part", self.event("uploads_add_part", {PLACEHOLDER_UPLOAD: upload_id}))["id"])

    def ids_for(self, operation: str) -> dict[str, str]:
        """The placeholder IDs of ``operation``'s event, mapped to newly created objects."""
        if operation in ("files_retrieve", "files_content", "files_delete", "batches_create"):
            return {PLACEHOLDER_FILE: self.new_file()}
        if operation in ("batches_retrieve", "batches_cancel"):
            return {PLACEHOLDER_BATCH: self.new_batch()}
        if operation in ("uploads_add_part", "uploads_cancel"):
            return {PLACEHOLDER_UPLOAD: self.new_upload()}
        if operation == "uploads_complete":
            upload_id = self.new_upload()
            return {PLACEHOLDER_UPLOAD: upload_id, PLACEHOLDER_PART: self.new_part(upload_id)}
        return {}  # creates and lists refer to nothing


def main() -> None:
    directory, seeding, operations = Path(sys.argv[1]), Round(sys.argv[2]), sys.argv[3:]
    for operation in operations:
        (directory / f"{operation}.json").write_text(json.dumps(seeding.event(operation, seeding.ids_for(operation))))
    print(json.dumps({"seeded": operations}))


if __name__ == "__main__":
    main()
