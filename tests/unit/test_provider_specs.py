"""A provider is one spec: its adapter module declares it (``SPEC``) and builds its adapter (``build``).

Adding a provider takes its adapter module (``SPEC``: a ``domain.providers.ProviderSpec``, and ``build(settings,
parts)``), its translations (``domain/translate``), its fake upstream (``tests/fakes``), its name in
``domain.providers.PROVIDERS`` and its module's line in ``providers.registry.MODULES``; plus, for a provider with a
key or a base URL of its own, the setting holding it (``config.Settings``) and its line in the ``serve`` banner.
These tests hold every registered provider to that: its module declares its own spec, with a state table the
lifecycle can read, and is imported only when the provider is first used.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from importlib import import_module
from typing import Any, get_args

import pytest

from batchbridge.banner import KEYED_PROVIDERS
from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.lifecycle import Outcome, Phase, UnknownProviderState, observe
from batchbridge.domain.providers import PROVIDERS, ProviderSpec
from batchbridge.providers.keyed import GatewayKeyed
from batchbridge.providers.registry import FACTORIES, MODULES, Parts, Registry, factories, spec

NAMES = list(MODULES)


def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.delenv("BATCHBRIDGE_STORAGE", raising=False)
    return Settings.from_env(default_storage="embedded")


def reachable_outcomes(declared: ProviderSpec) -> set[str]:
    """How a batch of the provider can end: as its ended states say, or (``ended_says_how`` False) as the gateway
    knows it (a cancel sent, every request expired)."""
    outcomes = {str(o.outcome) for o in declared.states.values() if o.phase == "ended"}
    if outcomes and not declared.ended_says_how:
        outcomes |= {"cancelled", "expired"}
    return outcomes


def test_every_provider_has_one_module_and_only_they_do() -> None:
    assert tuple(MODULES) == PROVIDERS
    assert set(FACTORIES) == set(MODULES)


@pytest.mark.parametrize("name", NAMES)
def test_its_module_declares_its_own_spec_and_a_build(name: str) -> None:
    module = import_module(MODULES[name])
    assert isinstance(module.SPEC, ProviderSpec)
    assert module.SPEC.name == name and module.SPEC.display_name
    assert spec(name) is module.SPEC
    assert callable(module.build)


@pytest.mark.parametrize("name", NAMES)
def test_its_state_table_is_one_the_lifecycle_can_read(name: str) -> None:
    declared = spec(name)
    assert declared.states, "a provider reports some state"
    for raw, observation in declared.states.items():
        assert observation.phase in get_args(Phase), raw
        assert (observation.phase == "ended") == (observation.outcome is not None), raw
        assert observation.outcome is None or observation.outcome in get_args(Outcome), raw
        for prefix in ("", *declared.state_prefixes):  # every spelling reads alike
            assert observe(declared, prefix + raw).phase == observation.phase
    assert any(o.phase == "in_progress" for o in declared.states.values()), "a batch runs"
    assert reachable_outcomes(declared) == set(get_args(Outcome)), "a batch completes, expires and is cancelled"
    with pytest.raises(UnknownProviderState, match=name):
        observe(declared, "<no such state>")


@pytest.mark.parametrize("name", NAMES)
def test_its_settings_are_settings(name: str) -> None:
    declared = spec(name)
    fields = {field.name: field.type for field in dataclasses.fields(Settings)}
    if declared.base_url_setting is not None:
        assert fields[declared.base_url_setting] == "str"
    if declared.key_variable is not None:
        assert declared.key_variable.isupper()


def test_keys_are_read_and_shown_by_each_providers_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    keyed = {name: spec(name) for name in NAMES if spec(name).key_variable is not None}
    for name, declared in keyed.items():
        monkeypatch.setenv(str(declared.key_variable), f"key-of-{name}")
    assert settings(monkeypatch).provider_keys == {name: f"key-of-{name}" for name in keyed}
    assert set(KEYED_PROVIDERS) == {(name, s.display_name, s.key_variable) for name, s in keyed.items()}


def built(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the executor's own parts are the composition root's; any object stands for the executor here
    parts = Parts(executor=lambda sender: object())
    return Registry(settings(monkeypatch), factories(parts)).get(name)


@pytest.mark.parametrize("name", NAMES)
def test_its_adapter_carries_its_spec(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    adapter = built(name, monkeypatch)
    assert adapter.spec is spec(name) and adapter.name == name
    assert GatewayKeyed(adapter, lambda: "key").spec is spec(name)


def test_a_gateway_without_an_executor_offers_no_self_run_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GatewayError) as refused:
        Registry(settings(monkeypatch)).get("openai-compatible")
    assert (refused.value.status, refused.value.code) == (400, "unsupported_provider")


@pytest.mark.parametrize("name", NAMES)
def test_the_registry_imports_a_module_only_when_its_provider_is_used(name: str) -> None:
    script = f"""
import json, sys
from batchbridge.config import Settings
from batchbridge.providers.registry import MODULES, Parts, Registry, factories
registry = Registry(Settings.from_env(default_storage="embedded"), factories(Parts(executor=lambda sender: object())))
for known in MODULES:
    registry.check(known)
loaded = lambda: sorted(module for module in MODULES.values() if module in sys.modules)
before = loaded()
registry.get({name!r})
print(json.dumps([before, loaded()]))
"""
    env = {key: value for key, value in os.environ.items() if key != "BATCHBRIDGE_STORAGE"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout) == [[], [MODULES[name]]]
