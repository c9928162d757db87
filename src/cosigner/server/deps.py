"""FastAPI dependencies: the server context and the two kinds of session.

A session token comes from ``Authorization: Bearer ...`` or, in cookie mode,
from its cookie; the header wins when both are present. A request
authenticated by a cookie that changes state must carry the session's CSRF
token in ``X-CSRF-Token``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cosigner.server.context import ServerContext, get_ctx
from cosigner.server.errors import Unauthorized
from cosigner.server.sessions import (
    APP_COOKIE,
    CSRF_HEADER,
    THRESHOLD_COOKIES,
    AppSession,
    ThresholdClaims,
    check_csrf,
    parse_threshold_claims,
)

bearer = HTTPBearer(
    auto_error=False,
    description="An app-session or threshold-session token (or its cookie, in cookie mode)",
)

Ctx = Annotated[ServerContext, Depends(get_ctx)]
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _token(
    request: Request, credentials: HTTPAuthorizationCredentials | None, cookie: str
) -> tuple[str, bool] | None:
    if credentials is not None and credentials.credentials:
        return credentials.credentials, False
    value = request.cookies.get(cookie)
    if value:
        return value, True
    return None


def app_session_from_request(
    request: Request, ctx: ServerContext, credentials: HTTPAuthorizationCredentials | None
) -> AppSession:
    found = _token(request, credentials, APP_COOKIE)
    if found is None:
        raise Unauthorized("this route needs an app session: log in first")
    token, via_cookie = found
    return ctx.app_sessions.validate(
        token,
        via_cookie=via_cookie,
        method=request.method,
        csrf=request.headers.get(CSRF_HEADER),
    )


def require_app_session(request: Request, ctx: Ctx, credentials: BearerCredentials) -> AppSession:
    return app_session_from_request(request, ctx, credentials)


AppSessionDep = Annotated[AppSession, Depends(require_app_session)]


def threshold_session(kind: str) -> Callable[..., Awaitable[ThresholdClaims]]:
    """A dependency that requires a threshold-session token of ``kind``."""
    cookie = THRESHOLD_COOKIES[kind]

    # ``async``, though it does no I/O (an HMAC check), so FastAPI runs it inline instead of
    # handing it to its thread pool: one thread hop less on every threshold-session request.
    async def require(
        request: Request, ctx: Ctx, credentials: BearerCredentials
    ) -> ThresholdClaims:
        found = _token(request, credentials, cookie)
        if found is None:
            raise Unauthorized(f"this route needs a {kind} token: call /session first")
        token, via_cookie = found
        claims = ctx.codec.verify(token, kind)
        if via_cookie:
            check_csrf(claims, request.method, request.headers.get(CSRF_HEADER))
        return parse_threshold_claims(claims, via_cookie=via_cookie)

    return require
