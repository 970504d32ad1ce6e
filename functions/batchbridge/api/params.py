"""Request parameters from forms, JSON bodies and queries, with bracket keys made nested again.

The OpenAI SDK flattens nested extras into bracket keys (``storage_config[s3][bucket]=...``,
``items[]=a``) in multipart forms and in query strings alike; JSON bodies arrive nested.
Every route reads its parameters through ``merge_params``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, Final

from batchbridge.domain.errors import bad_request

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)\Z")
_PART = re.compile(r"\[([^\[\]]*)\]")


def _path(key: str) -> list[str]:
    match = _KEY.match(key)
    if match is None:
        return [key]  # not bracket notation: take the key literally
    return [match.group(1), *_PART.findall(match.group(2))]


MAX_PAIRS: Final = 1000
MAX_DEPTH: Final = 16


def _index(part: str) -> int | None:
    """A list index (``[0]``), or None for an object key; over-long indices are never valid."""
    if not (part.isascii() and part.isdigit()):
        return None
    return int(part) if len(part) <= 6 else 10**6


def _fully_set(node: Any, parts: list[str]) -> bool:
    """Whether ``parts`` already leads to a value in ``node`` (so ``l[][…]`` must start a new element)."""
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _conflict(key: str, parts: list[str]) -> Exception:
    return bad_request(f"Parameter {key!r} conflicts with another parameter.", param=parts[0])


def unflatten(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """``[("a[b][c]", 1), ("l[]", "x"), ("l[]", "y")]`` -> ``{"a": {"b": {"c": 1}}, "l": ["x", "y"]}``.

    Lists of objects (``l[][k]=…``) start a new element when a key repeats. Lists nested in lists of
    objects are ambiguous in bracket notation; such extras belong in a JSON body.
    """
    result: dict[str, Any] = {}
    for count, (key, value) in enumerate(pairs, start=1):
        if count > MAX_PAIRS:
            raise bad_request(f"Too many parameters: at most {MAX_PAIRS} are accepted.")
        parts = _path(key)
        if len(parts) > MAX_DEPTH:
            raise bad_request(f"Parameter {key[:80]!r} is nested too deeply.", param=parts[0])
        _put(result, key, parts, value)
    return result


def _put(result: dict[str, Any], key: str, parts: list[str], value: Any) -> None:
    """``value`` put where ``parts`` lead in ``result``, with the lists and objects on the way made as needed;
    ``key`` (as sent) names the parameter in errors."""
    container: Any = result
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(container, list):
            position = _list_position(container, key, parts, index)
            if position == len(container):
                container.append(value if last else _new_container(parts[index + 1]))
            elif last:
                raise _conflict(key, parts)
            container = container[position]
        elif not isinstance(container, dict):
            raise _conflict(key, parts)
        elif last:
            if isinstance(container.get(part), (dict, list)):
                raise _conflict(key, parts)
            container[part] = value
        else:
            container = container.setdefault(part, _new_container(parts[index + 1]))
            if not isinstance(container, (dict, list)):
                raise _conflict(key, parts)


def _new_container(following: str) -> list[Any] | dict[str, Any]:
    """The container a path part holds, by the part after it: a list for ``[]`` or ``[0]``, else an object."""
    return [] if following == "" or _index(following) is not None else {}


def _list_position(container: list[Any], key: str, parts: list[str], index: int) -> int:
    """Where ``parts[index]`` points in ``container``: ``len(container)`` for a new element."""
    part = parts[index]
    if part == "":
        # ``l[][k]=…`` fills the last object until ``k`` repeats (``l[]=…`` always appends: nothing follows it)
        reuse = container and isinstance(container[-1], dict) and not _fully_set(container[-1], parts[index + 1 :])
        return len(container) - 1 if reuse else len(container)
    number = _index(part)
    if number is None or number > len(container):  # indices must come in order: no gaps to fill
        raise bad_request(f"Parameter {key!r} has an invalid list index.", param=parts[0])
    return number


def merge_params(*sources: dict[str, Any]) -> dict[str, Any]:
    """Later sources win: e.g. query, then form or JSON body."""
    merged: dict[str, Any] = {}
    for source in sources:
        merged.update(source)
    return merged


def json_objects(params: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """``params`` with the form values under ``names`` that hold an object's JSON text decoded, at any bracket
    depth: OpenAPI clients (the /docs page's Swagger UI among them) send an object field of a multipart form as
    one JSON part (``storage_config[s3]={"bucket": …}``) where the OpenAI SDK sends bracket keys. Only the form's
    own values are decoded, each once (what the JSON holds stays as it is), and no deeper than MAX_DEPTH."""

    def decoded(value: Any, name: str) -> Any:
        if isinstance(value, dict):  # built by unflatten: at most MAX_DEPTH levels
            return {key: decoded(item, name) for key, item in value.items()}
        if isinstance(value, str) and value.lstrip().startswith("{"):
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                raise bad_request(f"'{name}' holds text that is not a JSON object.", param=name) from None
            if _depth(parsed) > MAX_DEPTH:
                raise bad_request(f"'{name}' is nested too deeply.", param=name)
            return parsed
        return value

    return params | {name: decoded(params[name], name) for name in names if name in params}


def _depth(value: Any) -> int:
    """How deeply ``value`` nests, counted without recursion (a hostile document may nest thousands deep)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if level > MAX_DEPTH:
            return level
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, level + 1) for child in children)
    return deepest
