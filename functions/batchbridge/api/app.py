"""The FastAPI app: every operation for `batchbridge serve`, or just one for its Lambda function."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, Final

from fastapi import FastAPI

from batchbridge.api import errors
from batchbridge.api.limits import BodyLimit
from batchbridge.api.operations import OPERATIONS, PREFIXES
from batchbridge.api.request_id import RequestId

OPENAPI_URL: Final = "/openapi.json"  # the app serving every operation's (`serve`)
# operation -> module holding its route function (same name as the operation)
_MODULES = {name: "batchbridge.api." + name.split("_")[0] for name in OPERATIONS}


class GatewayApp(FastAPI):
    def build_middleware_stack(self) -> Any:
        # Outside even Starlette's own error middleware, so a 500 carries its x-request-id too.
        return RequestId(super().build_middleware_stack())

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            # Built when first asked for, by a module nothing else imports: a Lambda function never loads the
            # operations' descriptions nor OpenAI's schemas.
            from batchbridge.api.openapi_doc import document

            self.openapi_schema = document(self)
        return self.openapi_schema


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
    bodies from API Gateway). The app serving every operation (`serve`) also serves its OpenAPI document and the
    docs pages (``api.docs``); a Lambda function's has its one route (API Gateway routes nothing else to it).
    """
    names = list(OPERATIONS) if operations is None else list(operations)
    docs = operations is None
    app = GatewayApp(
        title="batchbridge",
        description="OpenAI-compatible Files and Batch API for OpenAI, Anthropic, Amazon Bedrock and Gemini.",
        version="0.1.0",
        openapi_url=OPENAPI_URL if docs else None,
        docs_url=None,  # api.docs serves them from the package, not from a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
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
                include_in_schema=prefix == PREFIXES[0],  # api.openapi_doc describes each operation once
            )
    if docs:
        from batchbridge.api import docs as pages

        pages.install(app, OPENAPI_URL)
    return app
