"""Client credentials sealed with KMS, so background jobs can reach the provider for the batch's owner."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any

from batchbridge.domain.ports import Credentials


class KmsVault:
    """``client`` makes the KMS client on first use: functions that never seal pay nothing for it."""

    def __init__(self, client: Callable[[], Any], key_id: str) -> None:
        self._make_client = client
        self._client_made: Any = None
        self._key_id = key_id
        self._lock = threading.Lock()  # `serve` seals and opens from request, worker and sweeper threads

    @property
    def _client(self) -> Any:
        with self._lock:
            if self._client_made is None:
                self._client_made = self._make_client()
            return self._client_made

    def seal(self, credentials: Credentials, context: str) -> str:
        plaintext = json.dumps(
            {"api_key": credentials.api_key, "organization": credentials.organization, "project": credentials.project}
        ).encode()
        # The encryption context binds the ciphertext to its batch: it cannot be replayed onto another.
        response = self._client.encrypt(
            KeyId=self._key_id, Plaintext=plaintext, EncryptionContext={"batchbridge:batch": context}
        )
        return base64.b64encode(response["CiphertextBlob"]).decode()

    def open(self, sealed: str, context: str) -> Credentials:
        response = self._client.decrypt(
            CiphertextBlob=base64.b64decode(sealed), EncryptionContext={"batchbridge:batch": context}
        )
        return Credentials(**json.loads(response["Plaintext"]))


def ensure_key(client: Any, alias: str) -> str:
    """The key behind ``alias`` (``alias/...``), created if missing (embedded store, local `serve`)."""
    try:
        return str(client.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"])
    except client.exceptions.NotFoundException:
        key_id = str(client.create_key(Description="batchbridge: seals client credentials")["KeyMetadata"]["KeyId"])
        client.create_alias(AliasName=alias, TargetKeyId=key_id)
        return key_id


class NoVault:
    """Gateway-key mode: background jobs use the gateway's own provider keys, so no client credential is kept
    (and no KMS call is made)."""

    def seal(self, credentials: Credentials, context: str) -> str:
        return ""

    def open(self, sealed: str, context: str) -> Credentials:
        return Credentials(api_key="")
