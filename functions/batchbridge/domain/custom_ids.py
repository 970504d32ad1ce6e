"""custom_ids a provider cannot take (Anthropic: ``^[a-zA-Z0-9_-]{1,64}$``) are swapped for ones it can.

The map back (provider id -> the user's) is stored with the batch and applied to the results.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable


def provider_ids(originals: Iterable[str], pattern: re.Pattern[str]) -> tuple[list[str], dict[str, str]]:
    """The id to send for each original, in order, and the map back for those that differ.

    An original the provider accepts is kept; any other gets ``cid-<hash>``, never colliding with
    an id already in use (originals are unique, checked before).
    """
    originals = list(originals)
    used = {original for original in originals if pattern.match(original)}
    sent: list[str] = []
    back: dict[str, str] = {}
    for original in originals:
        if pattern.match(original):
            sent.append(original)
            continue
        digest = hashlib.sha256(original.encode()).hexdigest()
        candidate, attempt = "cid-" + digest[:16], 0
        while candidate in used:  # astronomically rare: another hash, until one is free
            attempt += 1
            candidate = "cid-" + hashlib.sha256(f"{attempt}:{original}".encode()).hexdigest()[:16]
        used.add(candidate)
        sent.append(candidate)
        back[candidate] = original
    return sent, back
