"""``/healthz`` (the process answers), ``/readyz`` (the store answers), ``/metrics``."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Response

from cosigner import __version__
from cosigner.errors import CosignerError
from cosigner.server.deps import Ctx
from cosigner.server.errors import ERROR_RESPONSES
from cosigner.server.metrics import CONTENT_TYPE
from cosigner.server.models import ResponseModel
from cosigner.store import StoreUnavailableError

log = logging.getLogger("cosigner.server")

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


class Health(ResponseModel):
    ok: bool
    version: str


class Ready(ResponseModel):
    ok: bool
    store: str
    schemes: dict[str, bool]


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(ok=True, version=__version__)


@router.get("/readyz", response_model=Ready)
def readyz(ctx: Ctx) -> Ready:
    """200 when the store answers a read; ``store_unavailable`` 503 otherwise."""
    try:
        ctx.store.audit.head()
    except CosignerError:
        raise
    except Exception:  # a driver error the backend did not wrap
        log.warning("readiness check: the store did not answer", exc_info=True)
        raise StoreUnavailableError("the store did not answer") from None
    return Ready(
        ok=True,
        store=ctx.store.backend,
        schemes={s.scheme_id: s.enabled for s in ctx.schemes.values()},
    )


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: Ctx) -> Response:
    return Response(ctx.metrics.render(), media_type=CONTENT_TYPE)
