"""FastAPI dependencies: the server context and the two kinds of session.

A session token comes from ``Authorization: Bearer ...`` or, in cookie mode,
from its cookie; the header wins when both are present. A request
authenticated by a cookie that changes state must carry the session's CSRF
token in ``X-CSRF-Token``.

The checks are plain functions (:func:`bearer_credentials`,
:func:`session_token`, :func:`threshold_claims`) so that the fast path
(:mod:`cosigner.server.fastpath`) runs the very same code without a
``Request``; the FastAPI dependencies call them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Annotated, Protocol, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import cookie_parser

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


def bearer_credentials(authorization: str | None) -> str | None:
    """The token of an ``Authorization`` header as :data:`bearer` reads it; None if absent.

    ``HTTPBearer(auto_error=False)``: the scheme is the text before the first
    space, matched case-insensitively against ``bearer``; the credentials are
    the rest, stripped. Another scheme, or no credentials, count as no header.
    """
    if not authorization:
        return None
    scheme, _, param = authorization.partition(" ")
    credentials = param.strip()
    if not (scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def parse_cookies(headers: Iterable[str]) -> dict[str, str]:
    """The cookies of the request's ``Cookie`` headers, as Starlette's ``Request.cookies``."""
    cookies: dict[str, str] = {}
    for header in headers:
        cookies.update(cookie_parser(header))
    return cookies


def session_token(
    credentials: str | None, cookie_headers: Iterable[str], cookie: str
) -> tuple[str, bool] | None:
    """(token, whether it came from the cookie): the bearer token first, then the cookie."""
    if credentials:
        return credentials, False
    value = parse_cookies(cookie_headers).get(cookie)
    if value:
        return value, True
    return None


def _credentials(credentials: HTTPAuthorizationCredentials | None) -> str | None:
    return credentials.credentials if credentials is not None else None


def app_session_from_request(
    request: Request, ctx: ServerContext, credentials: HTTPAuthorizationCredentials | None
) -> AppSession:
    found = session_token(_credentials(credentials), request.headers.getlist("cookie"), APP_COOKIE)
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


def threshold_claims(
    ctx: ServerContext,
    kind: str,
    *,
    method: str,
    credentials: str | None,
    cookie_headers: Iterable[str],
    csrf: str | None,
) -> ThresholdClaims:
    """The claims of the request's threshold-session token of ``kind``, or a 401/403.

    ``credentials`` is the bearer token (:func:`bearer_credentials`),
    ``cookie_headers`` the ``Cookie`` header values, ``csrf`` the first
    ``X-CSRF-Token`` header.
    """
    found = session_token(credentials, cookie_headers, THRESHOLD_COOKIES[kind])
    if found is None:
        raise Unauthorized(f"this route needs a {kind} token: call /session first")
    token, via_cookie = found
    claims = ctx.codec.verify(token, kind)
    if via_cookie:
        check_csrf(claims, method, csrf)
    return parse_threshold_claims(claims, via_cookie=via_cookie)


class ThresholdSessionDependency(Protocol):
    """What :func:`threshold_session` returns: the dependency, and the token kind it wants."""

    token_kind: str

    def __call__(
        self,
        request: Request,
        ctx: ServerContext,
        credentials: HTTPAuthorizationCredentials | None,
    ) -> Awaitable[ThresholdClaims]: ...


def threshold_session(kind: str) -> ThresholdSessionDependency:
    """A dependency that requires a threshold-session token of ``kind``.

    Its ``token_kind`` attribute is ``kind`` (the fast path reads it).
    """

    # ``async``, though it does no I/O (an HMAC check), so FastAPI runs it inline instead of
    # handing it to its thread pool: one thread hop less on every threshold-session request.
    async def require(
        request: Request, ctx: Ctx, credentials: BearerCredentials
    ) -> ThresholdClaims:
        return threshold_claims(
            ctx,
            kind,
            method=request.method,
            credentials=_credentials(credentials),
            cookie_headers=request.headers.getlist("cookie"),
            csrf=request.headers.get(CSRF_HEADER),
        )

    dependency = cast(ThresholdSessionDependency, require)
    dependency.token_kind = kind
    return dependency
