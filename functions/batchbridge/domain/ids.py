"""Gateway IDs: our own, 128 random bits each, never the provider's."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

FILE_ID: Final = re.compile(r"^file-[0-9a-f]{32}\Z")
BATCH_ID: Final = re.compile(r"^batch_[0-9a-f]{32}\Z")
UPLOAD_ID: Final = re.compile(r"^upload_[0-9a-f]{32}\Z")
PART_ID: Final = re.compile(r"^part_[0-9a-f]{32}\Z")


def new_file_id() -> str:
    return "file-" + secrets.token_hex(16)


def new_batch_id() -> str:
    return "batch_" + secrets.token_hex(16)


def new_upload_id() -> str:
    return "upload_" + secrets.token_hex(16)


def new_part_id() -> str:
    return "part_" + secrets.token_hex(16)


def derived_file_id(batch_id: str, role: str) -> str:
    """The ID of a batch's output or error file: derived, so every writer agrees on it.

    Refreshes racing each other (or a finalizer run twice) register the same file, never two.
    The batch ID already carries 128 random bits; hashing keeps them.
    """
    return "file-" + hashlib.sha256(f"{batch_id}:{role}".encode()).hexdigest()[:32]


def is_file_id(value: str) -> bool:
    return bool(FILE_ID.match(value))


def is_batch_id(value: str) -> bool:
    return bool(BATCH_ID.match(value))


def is_upload_id(value: str) -> bool:
    return bool(UPLOAD_ID.match(value))


def is_part_id(value: str) -> bool:
    return bool(PART_ID.match(value))
