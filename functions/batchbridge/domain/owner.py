"""Owners are keyed hashes of the client's bearer key: records never hold the key itself."""

from __future__ import annotations

import hashlib
import hmac


def owner_of(api_key: str, secret: bytes) -> str:
    return hmac.new(secret, api_key.encode(), hashlib.sha256).hexdigest()
