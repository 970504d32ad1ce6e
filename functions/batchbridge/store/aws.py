"""The boto3 clients, now ``batchbridge.aws`` (neutral: the providers that call AWS use it too); kept here for
the code that still imports them from the store."""

from __future__ import annotations

from batchbridge.aws import (
    BOUNDED_CALLS,
    BOUNDED_SERVICES,
    OrjsonFileLoader,
    ServiceLoader,
    client,
    use_orjson_for_models,
)

__all__ = ["BOUNDED_CALLS", "BOUNDED_SERVICES", "OrjsonFileLoader", "ServiceLoader", "client", "use_orjson_for_models"]
