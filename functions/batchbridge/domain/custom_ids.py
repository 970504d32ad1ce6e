"""custom_ids a provider cannot take (Anthropic: ``^[a-zA-Z0-9_-]{1,64}$``) are swapped for ones it can.

The map back (provider id -> the user's) is stored with the batch and applied to the results: as JSON lines of
``[provider id, user's id]``, written and read one pair at a time (a map of 100,000 custom_ids of 512 characters is
tens of MB: never held twice, nor as one string).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping

from batchbridge.domain import codec
from batchbridge.domain.jsonl import iter_lines


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


def map_line(provider_id: str, original: str) -> bytes:
    """One pair of a map back, in its stored form."""
    return codec.dumps_line([provider_id, original])


def map_lines(back: Mapping[str, str]) -> Iterator[bytes]:
    """The stored form of a map back: one JSON line per pair, in the map's order."""
    for provider_id, original in back.items():
        yield map_line(provider_id, original)


def read_map(chunks: Iterable[bytes]) -> dict[str, str]:
    """A stored map back, read a line at a time (a map stored as one JSON object, as earlier versions did, too)."""
    stream = iter(chunks)
    first = next(stream, b"")
    if first.lstrip().startswith(b"{"):  # the earlier form: the whole map as one object
        legacy: dict[str, str] = codec.loads(b"".join([first, *stream]))
        return legacy
    back: dict[str, str] = {}
    for line in iter_lines(itertools.chain([first], stream)):
        provider_id, original = codec.loads(line)
        back[str(provider_id)] = str(original)
    return back
