"""Lambda entry point of the API's REQUEST authorizer: the gateway key is checked before any operation's function
runs, so a request with a bad key never takes an operation's concurrency.

The key is read and compared as ``Gateway.caller`` does (``Authorization: Bearer <key>``, one of the gateway's keys
from ``KeySource``, compared in constant time); the operations still check it themselves. API Gateway caches an
answer per Authorization header for the authorizer's TTL and reuses it on every route, so an Allow covers the whole
stage. A wrong key gets a Deny: API Gateway's ACCESS_DENIED, a 401 in OpenAI's error shape (template.yaml); a request
with no Authorization header at all is API Gateway's own 401 (UNAUTHORIZED) before this function is invoked.
Anything else that fails (the keys secret unreadable) is API Gateway's 500 and is not cached.

It imports little (no web framework); boto3 comes with the first read of the keys secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

from batchbridge.config import Settings
from batchbridge.handlers import started
from batchbridge.store.keys import KeySource

logger = logging.getLogger(__name__)


@cache
def key_source() -> KeySource:
    settings = Settings.from_env()
    if not settings.gateway_keys_mode:
        # the deployment always names its keys: without them every key would pass, so refuse to run
        raise RuntimeError("The authorizer needs BATCHBRIDGE_API_KEYS or BATCHBRIDGE_API_KEYS_SECRET_ARN.")
    return KeySource(settings)


def bearer_key(headers: Mapping[str, Any] | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header (any casing of its name), or None."""
    value = next(
        (str(v) for name, v in (headers or {}).items() if name.lower() == "authorization" and v is not None), ""
    )
    scheme, _, key = value.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or not key.isascii() or not key.isprintable():
        return None
    return key


def tenant_of(key: str, gateway_keys: Mapping[str, str | None]) -> tuple[bool, str | None]:
    """Whether ``key`` is one of ``gateway_keys``, and its named tenant; every key is compared (constant time)."""
    accepted, tenant = False, None
    for gateway_key, named in gateway_keys.items():
        match = hmac.compare_digest(key.encode(), gateway_key.encode())
        accepted |= match
        if match:
            tenant = named
    return accepted, tenant


def stage_arn(method_arn: str) -> str:
    """arn:…:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path> -> every method and path of that stage."""
    api, stage = method_arn.split("/")[:2]
    return f"{api}/{stage}/*/*"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    key = bearer_key(event.get("headers"))
    accepted, tenant = tenant_of(key, key_source().gateway_keys()) if key else (False, None)
    if key is None or not accepted:
        # A Deny, not an error: a wrong key is no failure of this function (its Errors alarm stays for real ones),
        # and API Gateway caches the Deny per header too, so a client repeating it does not invoke it again.
        logger.info("refused a request: %s", "no bearer key" if key is None else "not one of the gateway's keys")
        return _policy("refused", "Deny", event["methodArn"], None)
    # never the key itself: a named tenant, else a short digest that tells keys apart in the access logs
    principal = tenant if tenant is not None else "key-" + hashlib.sha256(key.encode()).hexdigest()[:16]
    return _policy(principal, "Allow", event["methodArn"], tenant)


def _policy(principal: str, effect: str, method_arn: str, tenant: str | None) -> dict[str, Any]:
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_arn(method_arn)}],
        },
        "context": {"tenant": tenant or ""},
    }


started()  # see batchbridge.handlers
