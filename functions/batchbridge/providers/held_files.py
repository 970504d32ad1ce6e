"""Providers that keep no copy of a file the client uploaded: the gateway's bytes are the file."""

from __future__ import annotations

from collections.abc import Iterator

from batchbridge.domain.errors import not_found
from batchbridge.domain.ports import Credentials, ProviderFile
from batchbridge.domain.records import FileRecord


class GatewayHeldFiles:
    """The file operations of such a provider: there is nothing of it to show, read or delete there."""

    def get_file(self, credentials: Credentials, provider_file_id: str) -> ProviderFile:
        raise not_found("file", provider_file_id)

    def delete_file(self, credentials: Credentials, file: FileRecord) -> None:
        return None

    def open_file_content(self, credentials: Credentials, provider_file_id: str) -> Iterator[bytes]:
        raise not_found("file", provider_file_id)
