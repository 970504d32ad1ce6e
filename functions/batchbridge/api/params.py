"""Request parameters from forms, JSON bodies and queries, with bracket keys made nested again.

The OpenAI SDK flattens nested extras into bracket keys (``storage_config[s3][bucket]=...``,
``items[]=a``) in multipart forms and in query strings alike; JSON bodies arrive nested.
Every route reads its parameters through ``merge_params``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from batchbridge.domain.errors import bad_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _path(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        return [key]  # not bracket notation: take the key literally
    return [match.group(1), *_PART.findall(match.group(2))]


def unflatten(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``[("a[b][c]", 1), ("l[]", "x"), ("l[]", "y")]`` -> ``{"a": {"b": {"c": 1}}, "l": ["x", "y"]}``."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        parts = _path(key)
        container: Any = result
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            following = None if last else parts[index + 1]
            child_default: Any = value if last else ([] if following == "" or (following or "").isdigit() else {})
            if isinstance(container, list):
                if part == "" or part.isdigit():
                    position = len(container) if part == "" else int(part)
                    # ``l[][k]=…`` repeats: a key already in the last element starts a new one.
                    if part == "" and not last and container and isinstance(container[-1], dict):
                        if following is not None and following in container[-1] and index + 2 == len(parts):
                            position = len(container)
                        else:
                            position = len(container) - 1
                    while len(container) <= position:
                        container.append(None)
                    if last:
                        container[position] = value
                        break
                    if container[position] is None:
                        container[position] = child_default
                    container = container[position]
                    continue
                raise bad_request(f"Parameter {key!r} mixes list and object notation.", param=parts[0])
            if not isinstance(container, dict):
                raise bad_request(f"Parameter {key!r} conflicts with another parameter.", param=parts[0])
            if last:
                if part in container and isinstance(container[part], (dict, list)):
                    raise bad_request(f"Parameter {key!r} conflicts with another parameter.", param=parts[0])
                container[part] = value
            else:
                existing = container.setdefault(part, child_default)
                if not isinstance(existing, (dict, list)):
                    raise bad_request(f"Parameter {key!r} conflicts with another parameter.", param=parts[0])
                container = existing
    return result


def merge_params(*sources: dict[str, Any]) -> dict[str, Any]:
    """Later sources win: e.g. query, then form or JSON body."""
    merged: dict[str, Any] = {}
    for source in sources:
        merged.update(source)
    return merged
