"""Prometheus metrics at ``/metrics``.

Each app has its own registry (so several apps in one process, as in tests,
do not collide):

* ``cosigner_http_requests_total{method, route, status}``;
* ``cosigner_http_request_duration_seconds{method, route}``;
* ``cosigner_errors_total{code}``, by error code;
* ``cosigner_presignature_pool_available{scheme}``, set by the routes that
  read from the store when ``/metrics`` is scraped (:meth:`Metrics.watch_pool`);
* ``cosigner_signatures_total{scheme}`` and ``cosigner_threshold_authorizations_total{scheme}``.

``route`` is the route's path template (``/threshold-ed25519/sign/init``),
never the raw path, so label cardinality stays bounded.

:meth:`Metrics.observe_request` records one request for both
:class:`MetricsMiddleware` and the fast path
(:mod:`cosigner.server.fastpath`); it keeps the labelled children it made,
because ``labels()`` costs more than the increment.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any, Final

import fastapi.routing
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_LATEST

LABEL_CACHE_SIZE: Final = 1024
"""Labelled children kept per metric; the cache starts over when full (clients choose methods)."""


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "cosigner_http_requests",
            "HTTP requests by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "cosigner_http_request_duration_seconds",
            "HTTP request latency by method and route template.",
            ("method", "route"),
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.errors = Counter(
            "cosigner_errors", "Error responses by error code.", ("code",), registry=self.registry
        )
        self.pool_size = Gauge(
            "cosigner_presignature_pool_available",
            "Available presignatures last seen, by scheme.",
            ("scheme",),
            registry=self.registry,
        )
        self.signatures = Counter(
            "cosigner_signatures",
            "Threshold signatures produced.",
            ("scheme",),
            registry=self.registry,
        )
        self.authorizations = Counter(
            "cosigner_threshold_authorizations",
            "Threshold-session authorizations granted.",
            ("scheme",),
            registry=self.registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._error_children: dict[str, Any] = {}

    def count_error(self, code: str) -> None:
        child = self._error_children.get(code)
        if child is None:
            if len(self._error_children) >= LABEL_CACHE_SIZE:
                self._error_children.clear()
            child = self._error_children[code] = self.errors.labels(code=code)
        child.inc()

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request by method, route template and status, and time it."""
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            if len(self._request_children) >= LABEL_CACHE_SIZE:
                self._request_children.clear()
            children = self._request_children[key] = (
                self.requests.labels(method=method, route=route, status=str(status)),
                self.latency.labels(method=method, route=route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def watch_pool(self, scheme: str, available: Callable[[], int]) -> None:
        """Report ``available()`` as the scheme's pool size, read at each scrape.

        Read when scraped rather than kept up to date by the routes: a count
        is a query, and a signing request should not pay for it. A store that
        does not answer reports NaN instead of failing the scrape.
        """

        def read() -> float:
            try:
                return float(available())
            except Exception:
                return math.nan

        self.pool_size.labels(scheme=scheme).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def app_routes(app: object) -> Iterator[tuple[BaseRoute, Any]]:
    """(route, its effective form) for every route of ``app``, included routers flattened.

    Recent FastAPI versions keep an included router as one entry of
    ``app.routes`` and resolve its routes lazily; the effective form is the
    route as included (full path, the dependencies of every level, its
    ``matches``). Older versions list the routes themselves.
    """
    routes = getattr(getattr(app, "router", None), "routes", ())
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    if iterate is None:
        for route in routes:
            yield route, route
        return
    for context in iterate(routes):
        yield context.original_route, context


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    # Not routed (refused by a middleware): the route the router would have picked.
    for candidate, effective in app_routes(scope.get("app")):
        match, _ = effective.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class MetricsMiddleware:
    """Counts and times every HTTP request; the outermost middleware."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.metrics.observe_request(
                str(scope.get("method", "")),
                _route_template(scope),
                status,
                time.perf_counter() - start,
            )
