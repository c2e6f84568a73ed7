"""Serve the dashboard's static files from the package.

The assets are public (they hold no data: the page asks the API for everything with the user's
key), so the routes need no key. Only the files in :data:`ASSETS` are served (no path from the
request ever reaches the file system), each with a strict Content-Security-Policy: scripts,
styles and connections from this origin only, nothing inline, no framing.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

PREFIX = "/dashboard"
ASSETS: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "api.js": "text/javascript; charset=utf-8",
    "chart.js": "text/javascript; charset=utf-8",
    "render.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _asset(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_asset(name), media_type=ASSETS[name], headers=HEADERS)


def dashboard_router() -> APIRouter:
    """The routes of ``/dashboard/`` (left out of the OpenAPI schema: they are not the API)."""
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("")
    def dashboard_redirect() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    @router.get("/")
    def dashboard_page() -> Response:
        return _serve("index.html")

    @router.get("/{name}")
    def dashboard_asset(name: str) -> Response:
        if name not in ASSETS:
            return Response(
                b'{"type":"about:blank","title":"Not Found","status":404,'
                b'"detail":"no such dashboard file"}',
                status_code=404,
                media_type="application/problem+json",
            )
        return _serve(name)

    return router
