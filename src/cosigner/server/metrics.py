"""Prometheus metrics at ``/metrics``.

Each app has its own registry (so several apps in one process, as in tests,
do not collide):

* ``cosigner_http_requests_total{method, route, status}``;
* ``cosigner_http_request_duration_seconds{method, route}``;
* ``cosigner_errors_total{code}``, by error code;
* ``cosigner_presignature_pool_available{scheme}``, set by the routes that
  reserve or add presignatures (:meth:`Metrics.set_pool_size`);
* ``cosigner_signatures_total{scheme}`` and ``cosigner_threshold_authorizations_total{scheme}``.

``route`` is the route's path template (``/threshold-ed25519/sign/init``),
never the raw path, so label cardinality stays bounded.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_TYPE = CONTENT_TYPE_LATEST


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

    def count_error(self, code: str) -> None:
        self.errors.labels(code=code).inc()

    def set_pool_size(self, scheme: str, available: int) -> None:
        self.pool_size.labels(scheme=scheme).set(available)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    router = getattr(app, "router", None)
    for candidate in getattr(router, "routes", ()):
        match, _ = candidate.matches(scope)
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
            route = _route_template(scope)
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=route).observe(
                time.perf_counter() - start
            )
