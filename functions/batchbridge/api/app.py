"""The FastAPI app: every operation for `batchbridge serve`, or just one for its Lambda function."""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI

from batchbridge.api import errors
from batchbridge.api.limits import BodyLimit
from batchbridge.api.operations import OPERATIONS, PREFIXES

# operation -> module holding its route function (same name as the operation)
_MODULES = {name: "batchbridge.api." + name.split("_")[0] for name in OPERATIONS}


def build_app(
    operations: Iterable[str] | None = None,
    *,
    gateway: Any = None,
    inline_blocking: bool = False,
    body_timeout_seconds: float | None = None,
) -> FastAPI:
    """An app serving ``operations`` (all when None) under every prefix.

    Only the route modules named are imported, so a Lambda function loads what its operation needs.
    ``gateway`` overrides the one built from the environment on first use. ``inline_blocking``: one request at a
    time (Lambda), so blocking work runs in the event loop's thread. Every request's body is capped
    (``limits.BodyLimit``); ``body_timeout_seconds``: and must arrive within that long (`serve`: Lambda gets whole
    bodies from API Gateway).
    """
    names = list(OPERATIONS) if operations is None else list(operations)
    app = FastAPI(
        title="batchbridge",
        description="OpenAI-compatible Files and Batch API for OpenAI, Anthropic, Amazon Bedrock and Gemini.",
        version="0.1.0",
    )
    app.state.gateway = gateway
    app.state.inline_blocking = inline_blocking
    errors.install(app)
    app.add_middleware(BodyLimit, timeout_seconds=body_timeout_seconds)
    for name in names:
        method, path = OPERATIONS[name]
        endpoint = getattr(importlib.import_module(_MODULES[name]), name)
        for prefix in PREFIXES:
            app.add_api_route(
                prefix + path,
                endpoint,
                methods=[method],
                name=f"{name}{prefix.replace('/', '_')}",
                include_in_schema=prefix == PREFIXES[0],
                tags=[name.split("_")[0]],
                openapi_extra=_path_parameters(path),
            )
    return app


def _path_parameters(path: str) -> dict[str, Any] | None:
    """The path's parameters for the docs. Endpoints read them from ``request.path_params`` rather than as typed
    arguments: FastAPI's analysis of typed arguments imports pydantic.v1 (tens of ms of every cold start)."""
    names = re.findall(r"{(\w+)}", path)
    if not names:
        return None
    return {
        "parameters": [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}} for name in names]
    }
