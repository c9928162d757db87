"""HTTP errors: every failure answers ``{"code", "message"}``, never a bare 500.

A :class:`~cosigner.errors.CosignerError` keeps its stable ``code``; the
status comes from :data:`STATUS_BY_CODE` (the seed's mapping), and any code
not listed there is a 400, because every ``CosignerError`` is one a caller
can cause. Request validation answers ``invalid_body``. Anything else is a
bug: the catch-all middleware logs it with a correlation id and answers
``internal_error`` 500 carrying only that id, so nothing internal leaks.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cosigner.errors import CosignerError

if TYPE_CHECKING:
    from cosigner.server.metrics import Metrics

log = logging.getLogger("cosigner.server")

CORRELATION_HEADER: Final = "X-Correlation-Id"

STATUS_BY_CODE: Final[Mapping[str, int]] = {
    # 401: who are you?
    "unauthorized": 401,
    "session_expired": 401,
    "session_exhausted": 401,
    # 403: you, but not this.
    "forbidden": 403,
    "scope_mismatch": 403,
    "csrf_failed": 403,
    # 404, 405, 409, 413
    "not_found": 404,
    "method_not_allowed": 405,
    "already_exists": 409,
    "identity_conflict": 409,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    # 5xx: the server's side.
    "internal_error": 500,
    "not_implemented": 501,
    "pool_empty": 503,
    "threshold_disabled": 503,
    "provider_disabled": 503,
    "provider_unavailable": 503,
    "store_unavailable": 503,
    "store_schema_too_new": 503,
    "master_secret_mismatch": 503,
    "audit_chain_broken": 500,
    "invalid_store_config": 500,
}
"""Status per code; every other code (validation and protocol) is 400."""


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 400)


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str


ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    "default": {"description": 'An error: {"code", "message"}', "model": ErrorBody},
}
"""The OpenAPI responses every route declares: any error status answers an ErrorBody."""


class ServerError(CosignerError):
    """Base of the errors the server raises itself."""

    code = "server_error"


class Unauthorized(ServerError):
    """No credentials, bad credentials, or a token of the wrong kind."""

    code = "unauthorized"


class SessionExpired(ServerError):
    code = "session_expired"


class Forbidden(ServerError):
    code = "forbidden"


class InvalidBody(ServerError, ValueError):
    code = "invalid_body"


class NotVerified(ServerError):
    """A WebAuthn response or an identity token that does not verify."""

    code = "not_verified"


class InvalidChallenge(ServerError):
    code = "invalid_challenge"


class SigningDigestMismatch(ServerError):
    code = "signing_digest_mismatch"


class IntentDigestMismatch(ServerError):
    code = "intent_digest_mismatch"


class UnsupportedAlgorithm(ServerError):
    code = "unsupported_algorithm"


class ThresholdDisabled(ServerError):
    code = "threshold_disabled"


class ProviderDisabled(ServerError):
    code = "provider_disabled"


class ProviderUnavailable(ServerError):
    code = "provider_unavailable"


class NotImplementedYet(ServerError):
    code = "not_implemented"


class IdentityConflict(ServerError):
    code = "identity_conflict"


class PresignSessionExpired(ServerError):
    code = "presign_session_expired"


class CsrfFailed(ServerError):
    code = "csrf_failed"


def error_response(
    code: str, message: str, *, status: int | None = None, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message},
        status_code=status if status is not None else status_for(code),
        headers=dict(headers or {}),
    )


def metrics_of(app: object) -> Metrics | None:
    """The app's :class:`~cosigner.server.metrics.Metrics`, when it has one."""
    metrics: Metrics | None = getattr(getattr(app, "state", None), "metrics", None)
    return metrics


def _count(metrics: Metrics | None, code: str) -> None:
    if metrics is not None:
        metrics.count_error(code)


def cosigner_error_response(exc: CosignerError, metrics: Metrics | None) -> JSONResponse:
    """The answer to a :class:`CosignerError`: its code, its status, a challenge on a 401."""
    _count(metrics, exc.code)
    headers = {"WWW-Authenticate": "Bearer"} if status_for(exc.code) == 401 else None
    return error_response(exc.code, exc.message, headers=headers)


async def _cosigner_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, CosignerError)
    return cosigner_error_response(exc, metrics_of(request.app))


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


def validation_message(errors: Iterable[Mapping[str, Any]]) -> str:
    """One line from pydantic error dicts (``loc`` with FastAPI's ``"body"`` prefix, ``msg``).

    Messages name the field and the rule, never the value (it may be a credential).
    """
    problems = [f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors]
    message = "; ".join(problems[:5]) + ("; ..." if len(problems) > 5 else "")
    return message or "the request body is not valid"


def validation_error_response(
    errors: Iterable[Mapping[str, Any]], metrics: Metrics | None
) -> JSONResponse:
    """``invalid_body`` 400 for request-validation errors."""
    _count(metrics, "invalid_body")
    return error_response("invalid_body", validation_message(errors))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return validation_error_response(exc.errors(), metrics_of(request.app))


_HTTP_CODES: Final = {
    400: ("invalid_body", "the request body could not be parsed"),
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "this route does not take that method"),
    413: ("body_too_large", "the request body is too large"),
    415: ("unsupported_media_type", "send the body as application/json"),
}


def http_error_response(exc: StarletteHTTPException, metrics: Metrics | None) -> JSONResponse:
    """The answer to an HTTP exception raised by Starlette or FastAPI (404, 405, a bad body...)."""
    code, message = _HTTP_CODES.get(exc.status_code, ("invalid_request", str(exc.detail)))
    if exc.status_code >= 500:
        code, message = "internal_error", "internal error"
    _count(metrics, code)
    return error_response(code, message, status=exc.status_code, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return http_error_response(exc, metrics_of(request.app))


EXCEPTION_HANDLERS: Final[Mapping[type[Exception], Callable[..., Awaitable[JSONResponse]]]] = {
    CosignerError: _cosigner_error,
    RequestValidationError: _validation_error,
    StarletteHTTPException: _http_error,
}
"""The app's exception handlers (the fast path answers these exceptions the same way)."""


def install_error_handlers(app: FastAPI) -> None:
    for exc_class, handler in EXCEPTION_HANDLERS.items():
        app.add_exception_handler(exc_class, handler)


def internal_error_response(metrics: Metrics | None) -> JSONResponse:
    """``internal_error`` 500 for an unexpected exception; call it in its ``except`` block.

    Logs the traceback under a new correlation id and counts the error; the
    response carries only the id.
    """
    correlation_id = secrets.token_hex(8)
    log.exception("unhandled error, correlation id %s", correlation_id)
    _count(metrics, "internal_error")
    return error_response(
        "internal_error",
        f"internal error; quote correlation id {correlation_id} when reporting it",
        headers={CORRELATION_HEADER: correlation_id},
    )


class CatchAllMiddleware:
    """Turns an unexpected exception into ``internal_error`` 500 with a correlation id.

    The traceback goes to the server log under the id; the client gets only
    the id, so a bug never leaks internals (or a secret in an exception
    message) over HTTP.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            response = internal_error_response(metrics_of(scope.get("app")))
            if started:
                raise
            await response(scope, receive, send)
