"""The API docs pages of `batchbridge serve`: Swagger UI at /docs, ReDoc at /redoc.

Their scripts and styles are the package's own (``static/``, with their licenses), so the pages render with no
network: FastAPI's defaults would fetch them from a CDN. Only the app serving every operation has them; a Lambda
function's app serves its one route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

STATIC: Final = Path(__file__).with_name("static")
ASSETS: Final = "/docs/assets"

# What the pages may load: the gateway's own scripts, styles and answers (and the images and workers they make
# themselves). Nothing leaves for another host: Redoc's sidebar, for one, would fetch its vendor's logo.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",  # FastAPI's pages start Swagger UI from an inline script
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
    )
)

SWAGGER_UI_PARAMETERS: Final = {
    "validatorUrl": None,  # else Swagger UI asks a public validator about the document (and shows its badge)
    "displayRequestDuration": True,
    "persistAuthorization": False,  # a key given to "Authorize" stays in the tab, not in the browser's storage
}


def install(app: FastAPI, openapi_url: str) -> None:
    title = f"{app.title} API"

    async def swagger_ui(_: Request) -> HTMLResponse:
        return _confined(
            get_swagger_ui_html(
                openapi_url=openapi_url,
                title=title,
                swagger_js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
                swagger_css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
                swagger_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
                oauth2_redirect_url=None,
                swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
            )
        )

    async def redoc(_: Request) -> HTMLResponse:
        return _confined(
            get_redoc_html(
                openapi_url=openapi_url,
                title=title,
                redoc_js_url=f"{ASSETS}/redoc/redoc.standalone.js",
                redoc_favicon_url=f"{ASSETS}/swagger-ui/favicon-32x32.png",
                with_google_fonts=False,
            )
        )

    app.mount(ASSETS, StaticFiles(directory=STATIC), name="docs_assets")
    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)


def _confined(page: HTMLResponse) -> HTMLResponse:
    page.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return page
