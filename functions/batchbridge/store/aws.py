"""boto3 clients for the gateway.

Endpoints, region and credentials come from boto3's own environment (``AWS_ENDPOINT_URL``, the per-service
``AWS_ENDPOINT_URL_S3``, …); only the embedded store passes its own endpoint, through ``kwargs``.

Creating a function's first clients is most of a cold start's own work, and half of that is botocore parsing
its JSON service models with ``json.loads(..., object_pairs_hook=OrderedDict)``. Models are read through orjson
instead (the same data: plain dicts keep their order; tests compare both parsers over the models the gateway
uses). ``Loader.FILE_LOADER_CLASS`` is botocore's hook for exactly this.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any

from botocore import loaders


def client(service: str, **kwargs: Any) -> Any:
    import boto3

    use_orjson_for_models()
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


def use_orjson_for_models() -> None:
    """Make botocore read its data files (service models, endpoint rules) with orjson; idempotent. Loaders
    built before the call keep reading as they did."""
    if not issubclass(loaders.Loader.FILE_LOADER_CLASS, OrjsonFileLoader):
        loaders.Loader.FILE_LOADER_CLASS = OrjsonFileLoader


class OrjsonFileLoader(loaders.JSONFileLoader):
    """botocore's JSONFileLoader, parsing with orjson (botocore opens ``.json`` and ``.json.gz`` alike)."""

    def _load_file(self, full_path: str, open_method: Callable[..., IO[bytes]]) -> Any:
        import orjson

        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as stream:
            return orjson.loads(stream.read())
