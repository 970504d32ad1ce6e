"""Which part may import which: the providers do not reach into the stores (the composition root hands them what
they need), and the domain stays free of AWS and HTTP clients and of the edges that use them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def imports(source: str, package: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import in a module of ``package``: those inside functions (imported on first
    use) and under TYPE_CHECKING too; ``from a import b`` gives both ``a`` and ``a.b`` (``b`` may be a module), a
    relative import its absolute name."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                parts = package.split(".")
                module = ".".join([*parts[: len(parts) - node.level + 1], *([module] if module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def offending(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    """The imports of the modules under ``batchbridge/<folder>`` of a module in ``forbidden`` or under one."""
    found = set()
    for path in sorted((FUNCTIONS / "batchbridge" / folder).rglob("*.py")):
        package = ".".join(path.relative_to(FUNCTIONS).parts[:-1])
        for line, module in imports(path.read_text(encoding="utf-8"), package):
            if any(module == name or module.startswith(name + ".") for name in forbidden):
                found.add(f"{path.relative_to(FUNCTIONS)}:{line} imports {module}")
    return sorted(found)


def test_imports_are_found_wherever_they_are() -> None:
    source = """
import boto3
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    from batchbridge.store.blobs import S3BlobStore
def later():
    from batchbridge import store
    from ..store import records
    from . import http
"""
    found = {module for _, module in imports(source, "batchbridge.providers")}
    assert {"boto3", "batchbridge.store.blobs", "batchbridge.store", "batchbridge.store.records"} <= found
    assert "batchbridge.providers.http" in found


def test_no_provider_imports_the_store() -> None:
    assert offending("providers", ("batchbridge.store",)) == []


@pytest.mark.parametrize(
    "forbidden",
    [
        ("boto3", "botocore", "s3transfer", "batchbridge.aws"),
        ("httpx", "requests", "urllib3", "aiohttp"),
        # the rest of the gateway: its edges, the composition root, the API
        (
            "batchbridge.store",
            "batchbridge.providers",
            "batchbridge.api",
            "batchbridge.handlers",
            "batchbridge.gateway",
        ),
    ],
    ids=["aws", "http", "edges"],
)
def test_the_domain_imports_no_client_nor_edge(forbidden: tuple[str, ...]) -> None:
    assert offending("domain", forbidden) == []


def test_the_chat_endpoint_is_spelled_in_one_domain_module() -> None:
    """Each provider's translations are tables keyed by endpoint, and the endpoint is a constant: its string is in
    its home module only, everything else imports it (a new endpoint is a new table entry, not a new comparison)."""
    domain = FUNCTIONS / "batchbridge" / "domain"
    spelled = [
        str(path.relative_to(FUNCTIONS))
        for path in sorted(domain.rglob("*.py"))
        if "/v1/chat/completions" in path.read_text(encoding="utf-8")
    ]
    assert spelled == ["batchbridge/domain/endpoints.py"]
