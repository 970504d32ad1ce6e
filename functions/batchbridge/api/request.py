"""Reading a request: the gateway, the caller, and the parameters from wherever they arrived."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from batchbridge.api.params import merge_params, unflatten
from batchbridge.domain.errors import bad_request
from batchbridge.domain.providers import DEFAULT_PROVIDER, parse_provider
from batchbridge.gateway import Gateway, default_gateway


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    return gateway if gateway is not None else default_gateway()


def query_params(request: Request) -> dict[str, Any]:
    return unflatten(request.query_params.multi_items())


async def json_params(request: Request) -> dict[str, Any]:
    """Query parameters, then the JSON body's fields on top (the SDK's extra_body lands there)."""
    raw = await request.body()
    body: Any = {}
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise bad_request(
                "The request body is not valid JSON (or is nested too deeply).", code="invalid_json"
            ) from None
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.", code="invalid_json")
    return merge_params(query_params(request), body)


def created_on(gateway: Gateway, params: dict[str, Any]) -> str:
    """The provider a create runs on: the one named, else the default."""
    name = parse_provider(params.get("provider"), default=DEFAULT_PROVIDER) or DEFAULT_PROVIDER
    gateway.providers.check(name)  # a provider whose adapter is not built is a 400 on every route
    return name


def provider_hint(gateway: Gateway, params: dict[str, Any]) -> str | None:
    """The provider a read names, if any: it filters lists and must match an object's record."""
    name = parse_provider(params.get("provider"), default=None)
    if name is not None:
        gateway.providers.check(name)
    return name
