"""The adapters' optional methods (told by ``hasattr``/``getattr``, not by the ProviderAdapter protocol): each one the
domain looks up is documented by a protocol in ``domain.ports``, every adapter that has it takes the parameters that
protocol names (the callers pass them so), and the gateway-key wrapper swaps the credentials of exactly those that
take them."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from batchbridge.domain import ports
from batchbridge.domain.ports import Credentials
from batchbridge.providers.anthropic import AnthropicAdapter
from batchbridge.providers.bedrock import BedrockAdapter
from batchbridge.providers.compat import CompatAdapter
from batchbridge.providers.gemini import GeminiAdapter
from batchbridge.providers.keyed import CREDENTIALED_OPTIONALS, GatewayKeyed
from batchbridge.providers.openai import OpenAIAdapter

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions" / "batchbridge"
ADAPTERS: tuple[type[Any], ...] = (OpenAIAdapter, AnthropicAdapter, BedrockAdapter, GeminiAdapter, CompatAdapter)
# what the domain may look up on an object that is not an adapter (a stream's optional close)
NOT_ADAPTER_METHODS = {"close"}


def looked_up(folder: Path) -> set[str]:
    """The names ``hasattr(x, "name")`` and ``getattr(x, "name", ...)`` look up anywhere under ``folder``."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("hasattr", "getattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
            ):
                names.add(node.args[1].value)
    return names


def optional_protocols() -> dict[str, Any]:
    """method name -> the protocol of ``domain.ports`` that documents it as an adapter's optional method (a protocol
    of one method, other than the ports the domain is handed whole)."""
    found: dict[str, Any] = {}
    for value in vars(ports).values():
        if not (inspect.isclass(value) and getattr(value, "_is_protocol", False)):
            continue
        methods = [
            name for name, member in vars(value).items() if inspect.isfunction(member) and not name.startswith("_")
        ]
        if len(methods) == 1:
            found[methods[0]] = getattr(value, methods[0])
    return found


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_every_optional_method_the_domain_looks_up_is_documented_by_a_protocol_in_ports() -> None:
    wanted = looked_up(FUNCTIONS / "domain") - NOT_ADAPTER_METHODS
    assert {"plan_parts", "room", "release_part_input", "release_unused_part_input", "default_file_lifetime"} <= wanted
    assert sorted(wanted - set(optional_protocols())) == []


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda adapter: adapter.__name__)
def test_an_adapter_s_optional_methods_take_what_their_protocol_names(adapter: type[Any]) -> None:
    documented_methods = optional_protocols()
    assert {"room", "release_unused_part_input", "line_conversion"} <= set(documented_methods)
    for name, documented in documented_methods.items():
        own = getattr(adapter, name, None)
        if own is not None:
            assert parameters(own) == parameters(documented), f"{adapter.__name__}.{name}"


def test_the_adapters_that_make_part_files_before_their_job_remove_those_a_lost_create_left() -> None:
    makers = [adapter for adapter in ADAPTERS if hasattr(adapter, "release_part_input")]
    assert {OpenAIAdapter, GeminiAdapter} <= set(makers)
    assert [adapter.__name__ for adapter in makers if not hasattr(adapter, "release_unused_part_input")] == []


def test_the_gateway_key_wrapper_swaps_the_credentials_of_exactly_the_optional_methods_that_take_them() -> None:
    credentialed = {name for name, method in optional_protocols().items() if parameters(method)[1:2] == ["credentials"]}
    assert "release_unused_part_input" in credentialed and "default_file_lifetime" not in credentialed
    assert set(CREDENTIALED_OPTIONALS) == credentialed


class _Recording:
    """An adapter's optional methods, recording the credentials each was called with."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Credentials | str]] = []

    def release_unused_part_input(self, credentials: Credentials, request: Any, created_at: int) -> None:
        self.calls.append(("release_unused_part_input", credentials))

    def default_file_lifetime(self, purpose: str) -> int | None:
        self.calls.append(("default_file_lifetime", purpose))
        return 60


def test_behind_the_gateway_key_an_unused_part_input_is_released_with_the_gateway_s_key() -> None:
    recording = _Recording()
    keyed = object.__new__(GatewayKeyed)  # (its attributes copied from a whole adapter: only the forwarding here)
    keyed._adapter = recording  # type: ignore[assignment]
    keyed._key = lambda: "sk-gateway"
    keyed.name = "recording"
    keyed.spec = OpenAIAdapter.spec

    keyed.release_unused_part_input(Credentials("sk-tenant"), None, 1)
    assert keyed.default_file_lifetime("batch") == 60
    assert recording.calls == [
        ("release_unused_part_input", Credentials("sk-gateway")),
        ("default_file_lifetime", "batch"),
    ]
