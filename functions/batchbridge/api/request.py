"""Reading a request: the gateway, the caller, and the parameters from wherever they arrived."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from batchbridge.api.arguments import check_known, named_provider
from batchbridge.api.params import merge_params, unflatten
from batchbridge.domain.errors import bad_request
from batchbridge.domain.providers import DEFAULT_PROVIDER
from batchbridge.gateway import Gateway, default_gateway

T = TypeVar("T")


async def blocking(request: Request, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (storage, provider calls): inline where the process serves one request at a time (a
    Lambda function: a worker thread would only add its start-up to every cold start), on the threadpool under
    `serve`, so other requests go on meanwhile."""
    if getattr(request.app.state, "inline_blocking", False):
        return work(*args, **kwargs)
    return await run_in_threadpool(work, *args, **kwargs)


def gateway_of(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    return gateway if gateway is not None else default_gateway()


def query_params(request: Request) -> dict[str, Any]:
    return unflatten(request.query_params.multi_items())


async def json_params(request: Request, operation: str) -> dict[str, Any]:
    """Query parameters, then the JSON body's fields on top (the SDK's extra_body lands there); a body argument
    ``operation`` does not know is a 400."""
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
        check_known(operation, body)
    return merge_params(query_params(request), body)


def created_on(gateway: Gateway, params: dict[str, Any]) -> str:
    """The provider a create runs on: the one named, else the default."""
    name = named_provider(params) or DEFAULT_PROVIDER
    gateway.providers.check(name)  # a provider whose adapter is not built is a 400 on every route
    return name


def provider_hint(gateway: Gateway, params: dict[str, Any]) -> str | None:
    """The provider a request names, if any: it filters lists and must match an object's record."""
    name = named_provider(params)
    if name is not None:
        gateway.providers.check(name)
    return name


def list_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """A page of files or batches, as OpenAI sends both: first_id and last_id always there, null on an empty page."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
