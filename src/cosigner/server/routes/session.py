"""``/session/*``: the app session itself.

* ``GET /session/auth``: who the session is (checks it like every route does);
* ``POST /session/refresh``: a new session for the old one, which ends (single use,
  so of two refreshes racing with one token, one wins);
* ``POST /session/logout``: ends the session and clears its cookie.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from cosigner.server.auth import AppSessionResponse, session_response
from cosigner.server.deps import AppSessionDep, Ctx
from cosigner.server.errors import ERROR_RESPONSES
from cosigner.server.models import (
    OkResponse,
    RequestModel,
    ResponseModel,
    SessionKindField,
)
from cosigner.server.sessions import APP_COOKIE, clear_session_cookie

router = APIRouter(prefix="/session", tags=["session"], responses=ERROR_RESPONSES)


class SessionInfo(ResponseModel):
    user_id: str
    rp_id: str
    session_kind: str
    expires_at: int


class RefreshRequest(RequestModel):
    session_kind: SessionKindField | None = None


@router.get("/auth", response_model=SessionInfo)
def session_auth(app: AppSessionDep) -> SessionInfo:
    """The current app session, if it is valid."""
    return SessionInfo(
        user_id=app.user_id,
        rp_id=app.rp_id,
        session_kind="cookie" if app.via_cookie else "jwt",
        expires_at=app.expires_at_ms,
    )


@router.post("/refresh", response_model=AppSessionResponse)
def refresh(
    app: AppSessionDep,
    ctx: Ctx,
    response: Response,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> AppSessionResponse:
    """Exchange the app session for a new one (same kind unless ``sessionKind`` says)."""
    kind = body.session_kind if body is not None and body.session_kind else None
    cookie = app.via_cookie if kind is None else kind == "cookie"
    issued = ctx.app_sessions.refresh(app, cookie=cookie)
    ctx.audit("session_refresh", app.user_id, {})
    return session_response(ctx, response, app.user_id, issued, cookie=cookie)


@router.post("/logout", response_model=OkResponse)
def logout(app: AppSessionDep, ctx: Ctx, response: Response) -> OkResponse:
    """End the app session."""
    ctx.app_sessions.logout(app)
    clear_session_cookie(response, APP_COOKIE)
    ctx.audit("logout", app.user_id, {})
    return OkResponse()
