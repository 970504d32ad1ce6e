"""An executor serving more than one kind of target: the targets, configured by name or made from their name, and
the sender of each kind (``SendTarget.sender``), each built on its first send."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from batchbridge.domain.executor.ports import RequestSender, SendTarget

# A kind of target whose targets are made from their name ("<kind>/..."): the target, or None for a name it cannot
# read.
TargetMaker = Callable[[str], SendTarget | None]


class Targets(Mapping[str, SendTarget]):
    """The executor's targets: ``named`` ones (the openai-compatible endpoints the settings configure), and those
    a ``makers`` entry makes from a name that starts with its kind and "/" (a Bedrock runtime target names its
    region and model: there is one for every run, none to configure). Iterating lists the named ones only."""

    def __init__(self, named: Mapping[str, SendTarget], makers: Mapping[str, TargetMaker] | None = None) -> None:
        self._named = named
        self._makers: Mapping[str, TargetMaker] = makers or {}

    def __getitem__(self, name: str) -> SendTarget:
        if name in self._named:
            return self._named[name]
        kind, slash, _ = name.partition("/")
        maker = self._makers.get(kind) if slash else None
        target = maker(name) if maker is not None else None
        if target is None:
            raise KeyError(name)
        return target

    def __iter__(self) -> Iterator[str]:
        return iter(self._named)

    def __len__(self) -> int:
        return len(self._named)


class RoutingSender:
    """The executor's ``RequestSender`` for targets of several kinds: each send goes to the sender of its target's
    ``sender`` kind, built by its factory on the first send (a worker that never sends to Bedrock never loads
    boto3's runtime client)."""

    def __init__(self, factories: Mapping[str, Callable[[], RequestSender]]) -> None:
        self._factories = factories
        self._built: dict[str, RequestSender] = {}
        self._lock = threading.Lock()

    def send(self, target: SendTarget, path: str, custom_id: str, body: Any) -> dict[str, Any]:
        return self.sender(target.sender).send(target, path, custom_id, body)

    def sender(self, kind: str) -> RequestSender:
        with self._lock:
            built = self._built.get(kind)
            if built is None:
                factory = self._factories.get(kind)
                if factory is None:
                    raise LookupError(f"no sender for targets of kind {kind!r}")
                built = self._built[kind] = factory()
            return built
