"""A provider is one spec: its adapter module declares it (``SPEC``) and builds its adapter (``build``).

Adding a provider takes its adapter module (``SPEC``: a ``domain.providers.ProviderSpec``, and ``build(settings,
parts)``), its translations (``domain/translate``), its fake upstream (``tests/fakes``), its line in
``domain.providers.SETUPS`` (display name, key variable, base-URL variable and default: what is read before any
adapter) and its module's line in ``providers.registry.MODULES``. These tests hold every registered provider to
that: its module declares its own spec, with a state table the lifecycle can read, and is imported only when the
provider is first used; its key and base URL are read, and shown by ``serve``'s banner, as its setup names them,
with no adapter imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import import_module
from typing import Any, cast, get_args

import pytest

from batchbridge.banner import banner, keyed_providers
from batchbridge.config import Settings
from batchbridge.domain.errors import GatewayError
from batchbridge.domain.lifecycle import Outcome, Phase, UnknownProviderState, observe
from batchbridge.domain.providers import PROVIDERS, SETUPS, ProviderSetup, ProviderSpec
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
    assert tuple(MODULES) == PROVIDERS == tuple(SETUPS)
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
def test_its_names_and_variables_are_its_setups(name: str) -> None:
    declared, setup = spec(name), SETUPS[name]
    assert declared.setup is setup
    assert (declared.display_name, declared.key_variable) == (setup.display_name, setup.key_variable)
    for variable in (setup.key_variable, setup.base_url_variable):
        assert variable is None or (variable.isupper() and variable.isidentifier())
    assert (setup.base_url_variable is None) == (setup.default_base_url == "")


def test_keys_and_base_urls_are_read_and_shown_by_each_providers_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in [s.key_variable for s in SETUPS.values()] + [s.base_url_variable for s in SETUPS.values()]:
        if variable is not None:
            monkeypatch.delenv(variable, raising=False)
    keyed = {name: spec(name) for name in NAMES if spec(name).key_variable is not None}
    for name, declared in keyed.items():
        monkeypatch.setenv(str(declared.key_variable), f"key-of-{name}")
    read = settings(monkeypatch)
    assert read.provider_keys == {name: f"key-of-{name}" for name in keyed}
    assert read.base_urls == {
        name: setup.default_base_url.rstrip("/") for name, setup in SETUPS.items() if setup.base_url_variable
    }
    assert keyed_providers() == [(name, s.display_name, s.key_variable) for name, s in keyed.items()]


def test_a_provider_added_to_the_setups_is_read_and_shown_with_no_other_edit(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings and ``serve``'s banner read the setups, not lists of their own: a new line there is enough."""
    monkeypatch.setitem(
        cast(dict[str, ProviderSetup], SETUPS),
        "mistral",
        ProviderSetup("Mistral", "MISTRAL_API_KEY", "BATCHBRIDGE_MISTRAL_BASE_URL", "https://api.mistral.ai/v1/"),
    )
    monkeypatch.setenv("MISTRAL_API_KEY", "sk-mistral")
    monkeypatch.setenv("BATCHBRIDGE_API_KEYS", "gw-key")
    read = settings(monkeypatch)
    assert read.provider_keys["mistral"] == "sk-mistral"
    assert read.base_urls["mistral"] == "https://api.mistral.ai/v1"
    monkeypatch.setenv("BATCHBRIDGE_MISTRAL_BASE_URL", "https://eu.mistral.test/v1")
    assert settings(monkeypatch).base_urls["mistral"] == "https://eu.mistral.test/v1"
    lines = banner(read, url="http://127.0.0.1:8000", storage="memory", aws_credentials=False)
    assert (
        "batchbridge:   mistral: usable, the gateway's key from MISTRAL_API_KEY (https://api.mistral.ai/v1)" in lines
    )


def test_settings_read_every_providers_key_and_base_url_without_importing_an_adapter() -> None:
    """A Lambda function reads its settings at its cold start: the setups hold what they need, not the adapters."""
    script = """
import json, sys
from batchbridge.config import Settings
from batchbridge.providers.registry import MODULES
settings = Settings.from_env(default_storage="embedded")
print(json.dumps([sorted(settings.base_urls), sorted(m for m in MODULES.values() if m in sys.modules)]))
"""
    env = {key: value for key, value in os.environ.items() if key != "BATCHBRIDGE_STORAGE"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert json.loads(done.stdout) == [sorted(n for n, s in SETUPS.items() if s.base_url_variable), []]


def built(name: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    # the executor is the composition root's; any object stands for it here
    parts = Parts(executor=lambda: object())
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
registry = Registry(Settings.from_env(default_storage="embedded"), factories(Parts(executor=lambda: object())))
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
