"""A lean dispatcher for the two-party signing routes, the server's hottest.

Why: on ``authorize``, ``sign/init`` and ``sign/finalize`` FastAPI and
Starlette cost about a third of the CPU of a request: nine or so middleware
and wrapper layers, matching the path against every route in turn, solving
the dependency graph, ``json.loads`` then validating the Python objects,
validating the response again and encoding it. :class:`FastPathMiddleware`,
outside the app's whole middleware stack (``app.CosignerApp``), answers a ``POST`` to one of
:data:`FAST_ROUTES` itself: a dict lookup on (method, path), one scan of
the headers, the body straight through pydantic's JSON parser, the token
check, the endpoint, the response model dumped to JSON, two ASGI messages.

What it reproduces, byte for byte where it can, by calling the same code
the full stack calls (:mod:`~cosigner.server.limits`,
:mod:`~cosigner.server.deps`, :mod:`~cosigner.server.errors`,
:mod:`~cosigner.server.metrics`):

* the body limit: ``Content-Length`` checks, then the read loop (413
  ``body_too_large``, 400 ``invalid_body`` for a non-numeric length);
* FastAPI's body handling: the body is parsed as JSON only with a JSON
  content type; invalid JSON is a 400 before the token is looked at; an
  empty body, a JSON non-object or a body that does not validate is a 400
  after it, with FastAPI's error locations (``("body", ...)``) formatted by
  :func:`~cosigner.server.errors.validation_message`. Pydantic's JSON parser
  reads valid bodies; anything it refuses takes FastAPI's own route
  (``json.loads``, then validation of the Python value), so every refusal
  answers exactly as FastAPI does;
* the threshold-session token: ``Authorization: Bearer`` as
  ``HTTPBearer(auto_error=False)`` reads it, else the scheme's cookie with
  its CSRF check (:func:`~cosigner.server.deps.threshold_claims`);
* the answer: the response model dumped by alias, ``content-length`` and
  ``content-type: application/json``; a ``CosignerError``, an HTTP
  exception or anything else answered as the exception handlers and the
  catch-all answer them; the request counted and timed under the route's
  path template.

FastAPI still declares these routes: OpenAPI is unchanged, and a request the
fast path does not take (another method, another path, a ``root_path``,
dependency overrides, a websocket) goes through the full stack untouched.
The dispatch table is built on the first HTTP request from the app's routes,
and refuses to build (``RuntimeError``) when a route or the app is no longer
shaped as this module assumes, rather than answer differently from FastAPI.
"""

from __future__ import annotations

import email.message
import functools
import inspect
import json
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from fastapi.datastructures import DefaultPlaceholder
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from cosigner.errors import CosignerError
from cosigner.server.context import get_ctx
from cosigner.server.deps import bearer_credentials, threshold_claims
from cosigner.server.errors import (
    EXCEPTION_HANDLERS,
    CatchAllMiddleware,
    cosigner_error_response,
    http_error_response,
    internal_error_response,
    metrics_of,
    validation_error_response,
)
from cosigner.server.limits import (
    BodyLimitMiddleware,
    BodyTooLarge,
    content_length_refusal,
    read_body,
    too_large_response,
)
from cosigner.server.metrics import Metrics, MetricsMiddleware, app_routes
from cosigner.server.models import RequestModel

FAST_ROUTES: Final = frozenset(
    {
        "/threshold-ed25519/authorize",
        "/threshold-ed25519/sign/init",
        "/threshold-ed25519/sign/finalize",
        "/threshold-ecdsa/authorize",
        "/threshold-ecdsa/sign/init",
        "/threshold-ecdsa/sign/finalize",
    }
)
"""The routes the fast path serves (``POST`` only)."""

METHOD: Final = "POST"
ENDPOINT_PARAMETERS: Final = ("body", "claims", "ctx")

Headers = list[tuple[bytes, bytes]]
Answer = tuple[int, Headers, bytes]
"""A response to send: status, raw headers, body."""

_MISSING: Final[Any] = object()
"""No body at all (FastAPI's ``Undefined``)."""

_JSON_CONTENT_TYPE: Final = b"application/json"
_UNPARSABLE: Final = "There was an error parsing the body"
_DECODE: Final = "JSON decode error"


@dataclass(frozen=True, slots=True)
class FastRoute:
    """One route the fast path serves, read from its FastAPI declaration."""

    path: str
    """The path requests are matched on."""
    api_route: APIRoute
    """FastAPI's declaration, set as ``scope["route"]`` as FastAPI's router sets it."""
    template: str
    """The metrics label: the route's path, as ``scope["route"].path`` gives it to the metrics."""
    endpoint: Callable[..., Awaitable[Any]]
    body_model: type[RequestModel]
    response_model: type[BaseModel]
    token_kind: str
    json_without_content_type: bool
    """Whether a body without a ``Content-Type`` is parsed as JSON (FastAPI's non-strict mode)."""

    def is_json(self, content_type: bytes | None) -> bool:
        """Whether FastAPI parses a body of this content type as JSON."""
        if not content_type:
            return self.json_without_content_type
        return content_type == _JSON_CONTENT_TYPE or _is_json_media_type(content_type)


@functools.lru_cache(maxsize=64)
def _is_json_media_type(content_type: bytes) -> bool:
    """FastAPI's test: ``application/json`` or ``application/*+json``, parameters ignored."""
    message = email.message.Message()
    message["content-type"] = content_type.decode("latin-1")
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _answer_of(response: JSONResponse) -> Answer:
    return response.status_code, response.raw_headers, bytes(response.body)


def _body_errors(model: type[RequestModel], value: Any) -> tuple[RequestModel | None, list[Any]]:
    """FastAPI's validation of a body value: the model, or its errors located under ``body``."""
    if value is _MISSING:
        return None, [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
    try:
        return model.model_validate(value, from_attributes=True), []
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        return None, [{**e, "loc": ("body", *e["loc"])} for e in errors]


# -- the dispatch table ---------------------------------------------------------------------


def _fail(path: str, why: str) -> NoReturn:
    raise RuntimeError(
        f"fast path: {path} {why}; make it match FastAPI again or take it out of FAST_ROUTES"
    )


def _resolved(value: Any) -> Any:
    return value.value if isinstance(value, DefaultPlaceholder) else value


def _fast_route(path: str, route: APIRoute, effective: Any) -> FastRoute:
    """Check that FastAPI would serve ``route`` exactly as the fast path does; describe it."""
    endpoint = effective.endpoint
    if not inspect.iscoroutinefunction(endpoint):
        _fail(path, "is not an async def")
    signature = inspect.signature(endpoint)
    if tuple(signature.parameters) != ENDPOINT_PARAMETERS:
        _fail(path, f"does not take exactly {ENDPOINT_PARAMETERS}")
    if signature.parameters["body"].default is not inspect.Parameter.empty:
        _fail(path, "has an optional body")
    try:
        hints = typing.get_type_hints(endpoint)
    except Exception as exc:
        _fail(path, f"has annotations that do not resolve ({exc})")
    body_model = hints.get("body")
    if not (isinstance(body_model, type) and issubclass(body_model, RequestModel)):
        _fail(path, "does not take a RequestModel body")
    returns = hints.get("return")
    if not (isinstance(returns, type) and issubclass(returns, BaseModel)):
        # A Response returned would be sent as it is by FastAPI; the fast path dumps models.
        _fail(path, "is not annotated to return a pydantic model")
    dependant = effective.dependant
    body_params = list(dependant.body_params)
    if [p.name for p in body_params] != ["body"] or getattr(effective, "_embed_body_fields", False):
        _fail(path, "does not take its body as the whole request body")
    if getattr(body_params[0].field_info, "annotation", body_model) is not body_model:
        _fail(path, "declares another body type than its annotation")
    if dependant.path_params or dependant.query_params or dependant.header_params:
        _fail(path, "takes path, query or header parameters")
    if dependant.cookie_params:
        _fail(path, "takes cookie parameters")
    dependencies = {d.name: d.call for d in dependant.dependencies}
    if len(dependant.dependencies) != 2 or set(dependencies) != {"claims", "ctx"}:
        _fail(path, "has dependencies other than claims and ctx")
    token_kind = getattr(dependencies["claims"], "token_kind", None)
    if not isinstance(token_kind, str):
        _fail(path, "does not take its claims from deps.threshold_session(kind)")
    if dependencies["ctx"] is not get_ctx:
        _fail(path, "does not take its ctx from context.get_ctx")
    response_model = effective.response_model
    if not (isinstance(response_model, type) and issubclass(response_model, BaseModel)):
        _fail(path, "has no response model")
    if response_model.model_config.get("revalidate_instances", "never") != "never":
        _fail(path, "has a response model that revalidates instances")
    if effective.status_code not in (None, 200) or not isinstance(
        effective.response_class, DefaultPlaceholder
    ):
        _fail(path, "sets a status code or a response class")
    if (
        effective.response_model_include is not None
        or effective.response_model_exclude is not None
        or not effective.response_model_by_alias
        or effective.response_model_exclude_unset
        or effective.response_model_exclude_defaults
        or effective.response_model_exclude_none
    ):
        _fail(path, "filters its response model")
    if getattr(effective, "max_body_size", None) is not None:
        _fail(path, "sets FastAPI's own body limit")
    # FastAPI without strict_content_type parses a body without a Content-Type as JSON.
    strict = bool(_resolved(getattr(effective, "strict_content_type", False)))
    return FastRoute(
        path=path,
        api_route=route,
        template=route.path,
        endpoint=endpoint,
        body_model=body_model,
        response_model=response_model,
        token_kind=token_kind,
        json_without_content_type=not strict,
    )


def _check_app(app: Any, middleware: FastPathMiddleware) -> None:
    """The app around the routes must be the one the fast path stands in for."""
    stack = [(m.cls, m.kwargs) for m in app.user_middleware]
    expected = [MetricsMiddleware, CatchAllMiddleware, BodyLimitMiddleware]
    if [cls for cls, _ in stack] != expected:
        _fail("the app", f"has the middleware {[c for c, _ in stack]}, not {expected}")
    if stack[0][1].get("metrics") is not middleware.metrics:
        _fail("the app", "counts requests in another Metrics than the fast path")
    if stack[2][1].get("max_bytes") != middleware.max_body_bytes:
        _fail("the app", "limits bodies to another size than the fast path")
    if getattr(app, "max_body_size", None) is not None:
        _fail("the app", "sets FastAPI's own body limit")
    handlers = dict(app.exception_handlers)
    handlers.pop(WebSocketRequestValidationError, None)
    if handlers != dict(EXCEPTION_HANDLERS):
        _fail("the app", "has other exception handlers than errors.EXCEPTION_HANDLERS")


def build_routes(app: Any, middleware: FastPathMiddleware) -> dict[tuple[str, str], FastRoute]:
    """The dispatch table: (method, path) -> route, for every path of :data:`FAST_ROUTES`."""
    _check_app(app, middleware)
    table: dict[tuple[str, str], FastRoute] = {}
    routes = list(app_routes(app))
    for path in sorted(FAST_ROUTES):
        scope = {
            "type": "http",
            "method": METHOD,
            "path": path,
            "root_path": "",
            "headers": [],
            "query_string": b"",
        }
        # The route FastAPI picks: the first that matches in full.
        for route, effective in routes:
            match, _ = effective.matches(scope)
            if match is Match.FULL:
                if not isinstance(route, APIRoute):
                    _fail(path, f"is served by {type(route).__name__}, not an APIRoute")
                if effective.path != path:
                    _fail(path, f"is served by the templated route {effective.path}")
                table[(METHOD, path)] = _fast_route(path, route, effective)
                break
        else:
            _fail(path, f"has no {METHOD} route")
    return table


# -- the middleware -------------------------------------------------------------------------


class FastPathMiddleware:
    """Serves :data:`FAST_ROUTES` without FastAPI's machinery; passes everything else on."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.routes: dict[tuple[str, str], FastRoute] | None = None

    @classmethod
    def factory(cls, *, metrics: Metrics, max_body_bytes: int) -> Callable[[ASGIApp], ASGIApp]:
        """A function that puts the fast path around an ASGI app (the app's middleware stack)."""
        return functools.partial(cls, metrics=metrics, max_body_bytes=max_body_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            routes = self.routes
            if routes is None:
                routes = self.routes = build_routes(scope["app"], self)
            route = routes.get((scope["method"], scope["path"]))
            if (
                route is not None
                and not scope.get("root_path")
                and not scope["app"].dependency_overrides
            ):
                await self._serve(route, scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _serve(self, route: FastRoute, scope: Scope, receive: Receive, send: Send) -> None:
        start = time.perf_counter()
        status = 500
        # What FastAPI's router leaves in the scope for the layers outside it.
        scope["endpoint"] = route.endpoint
        scope["path_params"] = {}
        scope["route"] = route.api_route
        try:
            answer = await self._answer(route, scope, receive)
            if answer is None:
                return
            status, headers, body = answer
            try:
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
            except Exception:
                # As the catch-all does once the response has started: log, count, re-raise.
                internal_error_response(metrics_of(scope["app"]))
                raise
        finally:
            self.metrics.observe_request(
                scope["method"], route.template, status, time.perf_counter() - start
            )

    async def _answer(self, route: FastRoute, scope: Scope, receive: Receive) -> Answer | None:
        """The response to send, or None when the client left before sending its body."""
        app = scope["app"]
        try:
            return await self._respond(route, scope, receive, app)
        except Exception:
            # The catch-all: internal_error 500 with a correlation id, the traceback logged.
            return _answer_of(internal_error_response(metrics_of(app)))

    async def _respond(
        self, route: FastRoute, scope: Scope, receive: Receive, app: Any
    ) -> Answer | None:
        content_lengths: list[bytes] = []
        cookies: list[bytes] = []
        content_type = authorization = csrf = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_lengths.append(value)
            elif name == b"content-type":
                if content_type is None:
                    content_type = value
            elif name == b"authorization":
                if authorization is None:
                    authorization = value
            elif name == b"cookie":
                cookies.append(value)
            elif name == b"x-csrf-token" and csrf is None:
                csrf = value
        # The body limit.
        if content_lengths:
            refusal = content_length_refusal(content_lengths, self.max_body_bytes)
            if refusal is not None:
                return _answer_of(refusal)
        try:
            raw = await read_body(receive, self.max_body_bytes)
        except BodyTooLarge:
            return _answer_of(too_large_response(self.max_body_bytes))
        if raw is None:
            return None
        # The route, and the exception handlers around it.
        try:
            return await self._call(route, app, raw, content_type, authorization, cookies, csrf)
        except CosignerError as exc:
            return _answer_of(cosigner_error_response(exc, metrics_of(app)))
        except StarletteHTTPException as exc:
            return _answer_of(http_error_response(exc, metrics_of(app)))
        except RequestValidationError as exc:
            return _answer_of(validation_error_response(exc.errors(), metrics_of(app)))

    async def _call(
        self,
        route: FastRoute,
        app: Any,
        raw: bytes,
        content_type: bytes | None,
        authorization: bytes | None,
        cookies: Iterable[bytes],
        csrf: bytes | None,
    ) -> Answer:
        body: RequestModel | None = None
        value: Any = _MISSING
        if raw:
            try:
                is_json = route.is_json(content_type)
            except Exception:
                raise StarletteHTTPException(400, _UNPARSABLE) from None
            if not is_json:
                value = raw
            else:
                try:
                    body = route.body_model.model_validate_json(raw)
                except Exception:
                    # FastAPI's own route, for its exact refusals: json.loads, then validation
                    # of the Python value once the token has been checked.
                    try:
                        value = json.loads(raw)
                    except json.JSONDecodeError as exc:
                        raise RequestValidationError(
                            [{"type": "json_invalid", "loc": ("body", exc.pos), "msg": _DECODE}]
                        ) from None
                    except Exception:
                        raise StarletteHTTPException(400, _UNPARSABLE) from None
        ctx = app.state.ctx
        claims = threshold_claims(
            ctx,
            route.token_kind,
            method=METHOD,
            credentials=bearer_credentials(authorization.decode("latin-1"))
            if authorization is not None
            else None,
            cookie_headers=(c.decode("latin-1") for c in cookies),
            csrf=csrf.decode("latin-1") if csrf is not None else None,
        )
        if body is None:
            body, errors = _body_errors(route.body_model, value)
            if errors:
                raise RequestValidationError(errors)
        result = await route.endpoint(body=body, claims=claims, ctx=ctx)
        model = route.response_model
        if not isinstance(result, model):
            result = model.model_validate(result, from_attributes=True)
        content = model.__pydantic_serializer__.to_json(result, by_alias=True)
        return 200, _json_headers(content), content


def _json_headers(content: bytes) -> Headers:
    """What FastAPI's ``Response(content, media_type="application/json")`` sends."""
    return [(b"content-length", str(len(content)).encode()), (b"content-type", _JSON_CONTENT_TYPE)]


def fast_path_routes(app: Any) -> Mapping[tuple[str, str], FastRoute]:
    """The dispatch table of ``app``'s fast path (built now if no request has built it yet)."""
    stack = app.middleware_stack or app.build_middleware_stack()
    if app.middleware_stack is None:
        app.middleware_stack = stack
    layer = stack
    while layer is not None and not isinstance(layer, FastPathMiddleware):
        layer = getattr(layer, "app", None)
    if layer is None:
        raise LookupError("this app has no fast path")
    if layer.routes is None:
        layer.routes = build_routes(app, layer)
    return layer.routes
