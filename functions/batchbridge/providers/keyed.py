"""Gateway-key mode: every provider call uses the gateway's own key for that provider, never the client's.

The services pass the caller's credentials as in pass-through mode; this wrapper swaps them at the edge, so a
client holding a gateway key can never make the gateway act with a key of its choosing (nor learn the real one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any, Final, TypeVar

from batchbridge.domain.errors import GatewayError, bad_request
from batchbridge.domain.parts import JobLimits
from batchbridge.domain.ports import (
    BatchRequest,
    Credentials,
    ProviderAdapter,
    ProviderBatch,
    ProviderFile,
    ResultContext,
    ResultItem,
    UploadRequest,
)
from batchbridge.domain.providers import ProviderSpec
from batchbridge.domain.records import FileRecord

logger = logging.getLogger(__name__)
T = TypeVar("T")
# The adapters' optional methods that take the caller's credentials first (see ``__getattr__``)
CREDENTIALED_OPTIONALS: Final = frozenset({"release_part_input", "release_unused_part_input", "room", "plan_parts"})


class GatewayKeyed:
    """``adapter`` with the gateway's key for its provider in place of whatever credentials a call carries."""

    def __init__(self, adapter: ProviderAdapter, key: Callable[[], str | None]) -> None:
        self._adapter = adapter
        self._key = key
        self.name: str = adapter.name
        self.spec: ProviderSpec = adapter.spec
        self.max_batch_requests: int = adapter.max_batch_requests
        self.job_limits: JobLimits = adapter.job_limits
        self.results_may_omit: bool = adapter.results_may_omit
        self.lines_need_model: bool = adapter.lines_need_model
        self.custom_id_max_chars: int | None = adapter.custom_id_max_chars
        self.judges_lines: bool = adapter.judges_lines

    def __getattr__(self, name: str) -> Any:
        # what takes no credentials (a self-run provider's chunk worker) is the adapter's own; an optional method
        # that calls the provider (told by hasattr: absent here when the adapter has none) goes with the gateway's key
        value = getattr(self._adapter, name)
        if name not in CREDENTIALED_OPTIONALS:
            return value

        def keyed(credentials: Credentials, *args: Any, **kwargs: Any) -> Any:
            return self._guarded(lambda: value(self._credentials(), *args, **kwargs))

        return keyed

    def _guarded(self, call: Callable[[], T]) -> T:
        """``call()``; the provider refusing the gateway's own credentials (401, 403) is the operator's to fix, and
        its text (which may quote the gateway's key) is not the tenant's to read: a 502 ``provider_auth_failed``.
        (A download read later, lazily, raises as it is: only background jobs read those.)"""
        try:
            return call()
        except GatewayError as exc:
            if exc.status not in (401, 403):
                raise
            logger.error("provider %s refused the gateway's credentials: %s", self.name, exc.message)
            raise GatewayError(
                502,
                f"{self.spec.display_name} refused this gateway's own credentials; the gateway's "
                "operator has been told (the gateway's logs say why).",
                type="upstream_error",
                code="provider_auth_failed",
            ) from None

    def _credentials(self) -> Credentials:
        variable = self.spec.key_variable
        if variable is None:  # runs on no key of the gateway's provider keys (see ProviderSpec.key_variable)
            return Credentials(api_key="")
        key = self._key()
        if not key:
            raise bad_request(
                f"This gateway holds no key for provider {self.name!r} ({variable} or "
                "BATCHBRIDGE_PROVIDER_KEYS_SECRET_ARN), so it does not offer it.",
                param="provider",
                code="provider_not_configured",
            )
        return Credentials(api_key=key)

    def upload_file(self, credentials: Credentials, request: UploadRequest) -> ProviderFile | None:
        return self._guarded(lambda: self._adapter.upload_file(self._credentials(), request))

    def get_file(self, credentials: Credentials, provider_file_id: str) -> ProviderFile:
        return self._guarded(lambda: self._adapter.get_file(self._credentials(), provider_file_id))

    def delete_file(self, credentials: Credentials, file: FileRecord) -> None:
        self._guarded(lambda: self._adapter.delete_file(self._credentials(), file))

    def open_file_content(self, credentials: Credentials, provider_file_id: str) -> Iterator[bytes]:
        return self._guarded(lambda: self._adapter.open_file_content(self._credentials(), provider_file_id))

    def create_batch(self, credentials: Credentials, request: BatchRequest) -> ProviderBatch:
        return self._guarded(lambda: self._adapter.create_batch(self._credentials(), request))

    def get_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return self._guarded(lambda: self._adapter.get_batch(self._credentials(), provider_batch_id))

    def cancel_batch(self, credentials: Credentials, provider_batch_id: str) -> ProviderBatch:
        return self._guarded(lambda: self._adapter.cancel_batch(self._credentials(), provider_batch_id))

    def find_batch(self, credentials: Credentials, request: BatchRequest, created_at: int) -> ProviderBatch | None:
        return self._guarded(lambda: self._adapter.find_batch(self._credentials(), request, created_at))

    def results(self, credentials: Credentials, provider_batch_id: str) -> Iterator[ResultItem]:
        return self._guarded(lambda: self._adapter.results(self._credentials(), provider_batch_id))

    def release_results(self, credentials: Credentials, provider_batch_id: str) -> None:
        self._guarded(lambda: self._adapter.release_results(self._credentials(), provider_batch_id))

    def output_line(self, raw: dict[str, Any], context: ResultContext) -> tuple[str, dict[str, Any]]:
        return self._adapter.output_line(raw, context)
