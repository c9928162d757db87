"""The multisig dashboard: ``/`` and its static assets under ``/dashboard/``.

Plain HTML, CSS and JavaScript from ``cosigner/server/static/dashboard/``,
no build step. The page is read-only: it reads ``/multisig/...`` with the
dashboard token (``COSIGNER_DASHBOARD_TOKEN``, given in the URL fragment
``#token=...`` or typed into the page) and follows ``/multisig/ws``.

Every response here carries a Content-Security-Policy that allows scripts,
styles and connections from this origin only (no inline script or style, no
framing), so a string from the server that slipped past the page's escaping
still could not run. The assets are a fixed list read once from the package,
so no request path ever reaches the file system.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Final

from fastapi import APIRouter, Response

from cosigner.server.errors import ERROR_RESPONSES

CONTENT_SECURITY_POLICY: Final = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
ASSETS: Final = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
}

router = APIRouter(tags=["dashboard"], responses=ERROR_RESPONSES)


@cache
def asset(name: str) -> bytes:
    """The bytes of one of :data:`ASSETS`, read from the installed package once."""
    if name not in ASSETS:
        raise KeyError(name)
    folder = resources.files("cosigner.server").joinpath("static", "dashboard")
    return folder.joinpath(name).read_bytes()


def _serve(name: str) -> Response:
    return Response(asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)


@router.get("/", include_in_schema=False)
def index() -> Response:
    return _serve("index.html")


@router.get("/dashboard/dashboard.css", include_in_schema=False)
def stylesheet() -> Response:
    return _serve("dashboard.css")


@router.get("/dashboard/dashboard.js", include_in_schema=False)
def script() -> Response:
    return _serve("dashboard.js")


__all__ = ["ASSETS", "CONTENT_SECURITY_POLICY", "asset", "router"]
