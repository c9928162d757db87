"""The ASGI app: :func:`create_app` wires settings, a store and the routes together.

Middleware, outermost first: the fast path (:mod:`cosigner.server.fastpath`:
answers the two-party signing routes itself, exactly as the layers below
would; it sits outside even Starlette's own layers, see :class:`CosignerApp`),
metrics (counts every request, 500s included), the catch-all (an unexpected
exception becomes ``internal_error`` 500 with a correlation id), the
body-size limit. Typed errors, validation errors and unknown routes are
answered by the handlers in :mod:`cosigner.server.errors`, all as
``{"code", "message"}``.

Route handlers are plain functions: FastAPI runs them in its thread pool,
which suits the synchronous store API. The signing routes are the
exception: each runs its body as one unit of work,
:meth:`cosigner.store.Store.atomic` (one write transaction, answered once
durable; on SQLite the units of one event-loop turn share one commit, on a
network store the unit runs in the thread pool).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import anyio.to_thread
import httpx
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.middleware import Middleware
from starlette.types import ASGIApp

from cosigner import __version__
from cosigner.keys import SCHEME_ECDSA_2P_V1, SCHEME_ED25519_2P_V1
from cosigner.server import auth
from cosigner.server.context import ServerContext, ThresholdScheme
from cosigner.server.errors import CatchAllMiddleware, install_error_handlers
from cosigner.server.fastpath import FastPathMiddleware
from cosigner.server.google import GoogleVerifier
from cosigner.server.limits import BodyLimitMiddleware
from cosigner.server.metrics import Metrics, MetricsMiddleware
from cosigner.server.routes import dashboard, ecdsa, ed25519, health, multisig, session
from cosigner.server.sessions import (
    THRESHOLD_ECDSA_KIND,
    THRESHOLD_ED25519_KIND,
    AppSessions,
    TokenCodec,
)
from cosigner.server.settings import Settings
from cosigner.store import Clock, Store, system_clock

log = logging.getLogger("cosigner.server")

DESCRIPTION = (
    "Threshold co-signing: passkey and Google login, app and threshold sessions, "
    "two-party FROST(Ed25519) and two-party threshold ECDSA (secp256k1) with distributed "
    "presign sessions and a presignature pool. Errors are `{code, message}`."
)


def build_context(
    settings: Settings,
    store: Store,
    *,
    clock: Clock = system_clock,
    google_http: httpx.Client | None = None,
) -> ServerContext:
    codec = TokenCodec(settings.session_secret.reveal(), clock)
    google = None
    if settings.google_enabled:
        google = GoogleVerifier(
            client_ids=settings.google_client_ids,
            issuers=settings.google_issuers,
            jwks_url=settings.google_jwks_url,
            cache_s=settings.google_jwks_cache_s,
            http=google_http or httpx.Client(),
            clock=clock,
        )
    schemes = {
        ed25519.NAME: ThresholdScheme.build(
            name=ed25519.NAME,
            route="threshold-ed25519",
            scheme_id=SCHEME_ED25519_2P_V1,
            token_kind=THRESHOLD_ED25519_KIND,
            algorithm="ed25519",
            master_secret=settings.ed25519_master_secret,
        ),
        ecdsa.NAME: ThresholdScheme.build(
            name=ecdsa.NAME,
            route="threshold-ecdsa",
            scheme_id=SCHEME_ECDSA_2P_V1,
            token_kind=THRESHOLD_ECDSA_KIND,
            algorithm="secp256k1",
            master_secret=settings.secp256k1_master_secret,
        ),
    }
    metrics = Metrics()
    metrics.watch_pool(ecdsa.NAME, lambda: store.presignatures.available_total(SCHEME_ECDSA_2P_V1))
    return ServerContext(
        settings=settings,
        store=store,
        clock=clock,
        codec=codec,
        app_sessions=AppSessions(
            store, codec, rp_id=settings.rp_id, ttl_s=settings.app_session_ttl_s, clock=clock
        ),
        metrics=metrics,
        google=google,
        schemes=schemes,
    )


def purge_once(store: Store, settings: Settings) -> tuple[int, int]:
    """Delete expired sessions; discard presignatures past ``presignature_max_age_s``.

    Returns (sessions purged, presignatures discarded). An available
    presignature that old is most likely an orphan (its client half is gone),
    and discarding one is always safe: a client that still holds the half gets
    ``pool_empty`` for it and presigns anew (see
    :class:`~cosigner.store.base.PresignaturePool`).
    """
    purged = store.purge_expired()
    max_age_s = settings.presignature_max_age_s
    discarded = store.presignatures.discard_stale(max_age_s * 1000) if max_age_s else 0
    return purged, discarded


async def _purge_periodically(store: Store, settings: Settings) -> None:
    while True:
        await asyncio.sleep(settings.purge_interval_s)
        try:
            purged, discarded = await anyio.to_thread.run_sync(purge_once, store, settings)
        except Exception:
            log.warning("purging expired sessions failed", exc_info=True)
        else:
            if purged or discarded:
                log.debug(
                    "purged %d expired sessions, discarded %d stale presignatures",
                    purged,
                    discarded,
                )


AUDIT_SEAL_INTERVAL_S: Final = 0.2
"""How often a server chains the audit entries its requests recorded, on a store that
chains later (PostgreSQL: see :meth:`cosigner.store.AuditLog.record`)."""


async def _seal_audit_periodically(store: Store) -> None:
    while True:
        await asyncio.sleep(AUDIT_SEAL_INTERVAL_S)
        try:
            await anyio.to_thread.run_sync(store.audit.seal_pending)
        except Exception:
            log.warning("chaining recorded audit entries failed", exc_info=True)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema without its 422 responses: validation errors here are 400s."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
    return app.openapi_schema


class CosignerApp(FastAPI):
    """FastAPI with the fast path (when set) outside every layer of its middleware stack.

    :class:`~cosigner.server.fastpath.FastPathMiddleware` answers the signing
    routes completely (errors and metrics included), so it sits even outside
    Starlette's and FastAPI's own outer layers, which it would only pass
    through.
    """

    fast_path: Callable[[ASGIApp], ASGIApp] | None = None

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack if self.fast_path is None else self.fast_path(stack)


def _freeze_startup_objects() -> None:
    """Move everything made at start-up out of the garbage collector's sight.

    The app, its routes, models and imported modules are hundreds of
    thousands of objects that live as long as the process; without this
    every full collection walks them all again, a pause of several
    milliseconds in the middle of some request (the p99 of the signing
    routes). ``gc.freeze`` is meant for exactly this.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings,
    store: Store,
    *,
    clock: Clock = system_clock,
    google_http: httpx.Client | None = None,
    fast_path: bool = True,
) -> FastAPI:
    """The cosigner ASGI app over ``store`` (which the caller opens and closes).

    ``clock`` (integer milliseconds) must be the store's clock; ``google_http``
    is the HTTP client the JWKS is fetched with (tests pass one that serves
    their own JWKS). ``fast_path=False`` leaves out
    :class:`~cosigner.server.fastpath.FastPathMiddleware`, so every request
    goes through FastAPI (the tests compare the two).
    """
    ctx = build_context(settings, store, clock=clock, google_http=google_http)
    middleware = [
        Middleware(MetricsMiddleware, metrics=ctx.metrics),
        Middleware(CatchAllMiddleware),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.purge_interval_s:
            tasks.append(asyncio.create_task(_purge_periodically(store, settings)))
        if store.audit.defers_chaining:
            tasks.append(asyncio.create_task(_seal_audit_periodically(store)))
        try:
            async with multisig.lifespan(app):
                _freeze_startup_objects()
                yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if store.audit.defers_chaining:
                with contextlib.suppress(Exception):
                    await anyio.to_thread.run_sync(store.audit.seal_pending)

    app = CosignerApp(
        title="cosigner",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        middleware=middleware,
    )
    if fast_path:
        app.fast_path = FastPathMiddleware.factory(
            metrics=ctx.metrics, max_body_bytes=settings.max_body_bytes
        )
    app.state.ctx = ctx
    app.state.metrics = ctx.metrics
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.include_router(auth.router)
    app.include_router(session.router)
    app.include_router(ed25519.router)
    multisig.install(app, ctx)
    app.include_router(ecdsa.router)

    def openapi() -> dict[str, Any]:
        return _openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
