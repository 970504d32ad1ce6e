"""How the gateway meets AWS, shared by its stores (``store``) and the providers that call AWS themselves
(Bedrock), so that neither imports the other: the boto3 clients, and the tag by which the bucket's lifecycle rules
remove an object. The composition root (``gateway``) makes the stores' clients here and hands them in.

Endpoints, region and credentials come from boto3's own environment (``AWS_ENDPOINT_URL``, the per-service
``AWS_ENDPOINT_URL_S3``, …); only the embedded store passes its own endpoint, through ``kwargs``.

Creating a function's first clients is most of a cold start's own work. Half of it is botocore parsing its JSON
service models with ``json.loads(..., object_pairs_hook=OrderedDict)``: models are read through orjson instead
(the same data: plain dicts keep their order; tests compare both parsers over the models the gateway uses), with
``Loader.FILE_LOADER_CLASS``, botocore's hook for exactly this. Another sixth is botocore listing the directories
of every service it has (~450, some 3,000 stat calls) before loading a model, to check the one asked for is
among them: the default session's loader checks that service's own directory instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, Any, Final

from botocore import loaders
from botocore.exceptions import DataNotFoundError


def client(service: str, **kwargs: Any) -> Any:
    import boto3

    use_orjson_for_models()
    if boto3.DEFAULT_SESSION is None:  # boto3 makes it on first use; moto's mocks reset it, as may others
        import botocore.session

        core = botocore.session.get_session()
        core.register_component("data_loader", ServiceLoader.for_session(core))
        boto3.setup_default_session(botocore_session=core)
    if service in BOUNDED_SERVICES and "config" not in kwargs:
        from botocore.config import Config

        kwargs["config"] = Config(**BOUNDED_CALLS)
    return boto3.client(service, **kwargs)  # type: ignore[call-overload]


# Calls that answer in milliseconds when well get timeouts that fit a function's clock (botocore's default: 60 s to
# connect and 60 s to read, each retried): a stuck DynamoDB or SQS call fails fast and is retried, instead of
# outlasting API Gateway's 29 s or the sweeper's minute. S3 keeps botocore's, for transfers of large objects.
BOUNDED_SERVICES = frozenset({"dynamodb", "sqs", "kms"})
BOUNDED_CALLS: dict[str, Any] = {
    "connect_timeout": 3,
    "read_timeout": 10,
    "retries": {"mode": "standard", "max_attempts": 3},
}


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


class ServiceLoader(loaders.Loader):
    """botocore's Loader, but a service model's name is checked against that service's own directory (its API
    versions) rather than against the list of every service botocore has. The model, its extras and the errors
    for an unknown service are botocore's (tests compare both loaders)."""

    FILE_LOADER_CLASS = OrjsonFileLoader

    @classmethod
    def for_session(cls, session: Any) -> ServiceLoader:
        """The loader botocore's own session would make (``create_loader``), as this class."""
        data_path = session.get_config_variable("data_path")
        if not data_path:
            return cls()
        return cls(extra_search_paths=[os.path.expanduser(os.path.expandvars(p)) for p in data_path.split(os.pathsep)])

    @loaders.instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        try:
            latest = self.determine_latest_version(service_name, type_name)
        except DataNotFoundError:
            # not a service with this model: botocore's own path raises its error, naming the services it knows
            return super().load_service_model(service_name, type_name, api_version)
        version = api_version or latest
        model = self.load_data(os.path.join(service_name, version, type_name))
        # the rest of botocore's load_service_model, as it does it (members the stubs do not declare)
        extras = self._find_extras(service_name, type_name, version)  # type: ignore[attr-defined]
        self._extras_processor.process(model, extras)  # type: ignore[attr-defined]
        return model


EXPIRY_TAG: Final = "batchbridge-expire-days"  # value: whole days; the bucket's lifecycle rule for it removes it


def tagging(expire_days: int | None) -> dict[str, str]:
    """The tag a bucket lifecycle rule removes the object by (schema.lifecycle_rules: one rule per day count), as
    the ``Tagging`` argument of an S3 put."""
    return {} if expire_days is None else {"Tagging": f"{EXPIRY_TAG}={expire_days}"}
