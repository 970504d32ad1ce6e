"""Owners are keyed hashes of the client's bearer key, or of a named tenant's name (whose keys may change without
its records changing hands): records never hold a key itself."""

from __future__ import annotations

import hashlib
import hmac


def owner_of(api_key: str, secret: bytes) -> str:
    return hmac.new(secret, api_key.encode(), hashlib.sha256).hexdigest()


def tenant_owner(name: str, secret: bytes) -> str:
    """A named tenant's owner ID: never one of a key's (keys are printable ASCII, this input starts with NUL)."""
    return hmac.new(secret, b"\x00tenant\x00" + name.encode(), hashlib.sha256).hexdigest()
