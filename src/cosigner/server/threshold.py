"""What every two-party threshold scheme shares: key ids, sessions, authorize, mpc sessions.

Seed 000's session model, scheme-independent, so the Ed25519 routes and the
ECDSA routes run the same code:

* :func:`relayer_key_id` names a key by version, scheme, user, rpId and the
  client's verifying share;
* :func:`mint_session` creates a threshold session in the store (at most
  10 minutes, at most 20 uses) and its token;
* :func:`authorize` spends one use, atomically, and binds one signing
  digest to a fresh single-use ``mpcSessionId`` valid 60 s;
* :func:`take_mpc_session` consumes that id at signing time, after checking
  the caller's scope, and refuses a digest other than the authorized one
  (:func:`check_mpc_session` then :func:`spend_mpc_session` do the same in
  two steps, for a route that must do something in between);
* :func:`put_signing_session` stores a scheme's signing session, sealed and
  bound to the caller's scope; :func:`take_signing_session` takes it back
  out, once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from cosigner.errors import CosignerError
from cosigner.server.context import ServerContext, ThresholdScheme
from cosigner.server.errors import SessionExpired, SigningDigestMismatch
from cosigner.server.models import b64u_decode, b64u_encode
from cosigner.server.sessions import (
    CLIENT_PARTICIPANT_ID,
    RELAYER_PARTICIPANT_ID,
    AppSession,
    IssuedSession,
    ThresholdClaims,
    issue_threshold_token,
)
from cosigner.store import (
    AuthSession,
    CommitAndRaise,
    KeyRecord,
    NotFoundError,
    ScopeMismatchError,
    SessionExpiredError,
    SessionRecord,
    SessionScope,
)

KEY_ID_TAG: Final = b"cosigner/relayer-key-id/v1"
KEY_ID_PREFIX: Final = "rk1_"
MPC_SESSION_TTL_MS: Final = 60_000
KEY_CACHE_TTL_MS: Final = 60_000
KEY_CACHE_SIZE: Final = 4096
RELAYER_KEY_CACHE_SIZE: Final = 4096
"""Derived relayer keys each scheme keeps per process (the derivation is deterministic; a
hit skips HKDF and three scalar multiplications on every signing request)."""
PARTICIPANT_IDS: Final = (CLIENT_PARTICIPANT_ID, RELAYER_PARTICIPANT_ID)


class MasterSecretMismatch(CosignerError):
    """A stored key whose public key the configured master secret no longer derives."""

    code = "master_secret_mismatch"


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def relayer_key_id(scheme_id: str, user_id: str, rp_id: str, client_verifying_share: bytes) -> str:
    """``rk1_`` + base64url(SHA-256(tag || lp(scheme) || lp(user) || lp(rpId) || lp(share)))."""
    digest = hashlib.sha256(
        KEY_ID_TAG
        + _lp(scheme_id.encode())
        + _lp(user_id.encode())
        + _lp(rp_id.encode())
        + _lp(client_verifying_share)
    ).digest()
    return KEY_ID_PREFIX + b64u_encode(digest)


def _stored_key(ctx: ServerContext, key_id: str) -> KeyRecord | None:
    """The key record, from this process's cache when it was read lately.

    A key record never changes once written, and no route deletes one, so a
    signing request (three per signature read the key) need not read it from
    the store each time. Only keys found are kept (one created on another
    instance is seen at once), for at most :data:`KEY_CACHE_TTL_MS`, so a key
    removed from the store out of band stops working everywhere soon after.
    """
    now = ctx.clock()
    cache = ctx.key_cache
    cached = cache.get(key_id)
    if cached is not None and now - cached[1] < KEY_CACHE_TTL_MS:
        return cached[0]
    try:
        record = ctx.store.keys.get(key_id)
    except NotFoundError:
        with ctx.key_cache_lock:
            cache.pop(key_id, None)
        return None
    # Unit threads and the thread pool share the cache: every change is made under the lock,
    # so the eviction's iteration never sees the dict change size.
    with ctx.key_cache_lock:
        if len(cache) >= KEY_CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[key_id] = (record, now)
    return record


def load_user_key(
    ctx: ServerContext, scheme: ThresholdScheme, user_id: str, key_id: str
) -> KeyRecord:
    """The key, if it is this user's key of this scheme; ``not_found`` otherwise (no oracle)."""
    record = _stored_key(ctx, key_id)
    if (
        record is None
        or record.user_id != user_id
        or record.scheme_id != scheme.scheme_id
        or record.rp_id != ctx.settings.rp_id
    ):
        raise NotFoundError(f"no {scheme.scheme_id} key {key_id!r} for this user")
    return record


def session_scope(user_id: str, rp_id: str, key_id: str) -> SessionScope:
    return SessionScope(
        user_id=user_id,
        rp_id=rp_id,
        relayer_key_id=key_id,
        participant_ids=PARTICIPANT_IDS,
        client_participant_id=CLIENT_PARTICIPANT_ID,
        relayer_participant_id=RELAYER_PARTICIPANT_ID,
    )


def mint_session(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    app: AppSession,
    key: KeyRecord,
    *,
    ttl_s: int | None,
    max_uses: int | None,
    cookie: bool,
) -> tuple[AuthSession, IssuedSession]:
    settings = ctx.settings
    ttl = min(ttl_s or settings.threshold_session_ttl_s, settings.threshold_session_ttl_s)
    uses = min(max_uses or settings.threshold_session_max_uses, settings.threshold_session_max_uses)
    session_id = secrets.token_urlsafe(24)
    record = ctx.store.auth_sessions.create(
        session_id,
        scheme_id=scheme.scheme_id,
        scope=session_scope(app.user_id, key.rp_id, key.key_id),
        max_uses=uses,
        ttl_ms=ttl * 1000,
    )
    issued = issue_threshold_token(
        ctx.codec,
        scheme.token_kind,
        user_id=app.user_id,
        session_id=session_id,
        relayer_key_id=key.key_id,
        rp_id=key.rp_id,
        participant_ids=PARTICIPANT_IDS,
        expires_at_ms=record.expires_at_ms,
        cookie=cookie,
    )
    ctx.audit(
        "threshold_session",
        app.user_id,
        {
            "scheme": scheme.scheme_id,
            "relayerKeyId": key.key_id,
            "sessionId": session_id,
            "maxUses": uses,
            "expiresAtMs": record.expires_at_ms,
        },
    )
    return record, issued


def check_session_live(ctx: ServerContext, claims: ThresholdClaims) -> AuthSession:
    """The store's record of the session (revoked, expired or out of scope: refused)."""
    try:
        session = ctx.store.auth_sessions.get(claims.session_id)
    except SessionExpiredError:
        raise SessionExpired("the threshold session has expired: mint a new one") from None
    except NotFoundError:
        raise SessionExpired("the threshold session is gone: mint a new one") from None
    if session.scope != claims.scope():
        raise ScopeMismatchError("the threshold session is bound to another scope")
    return session


def check_key_scope(claims: ThresholdClaims, relayer_key_id: str) -> None:
    if not hmac.compare_digest(claims.relayer_key_id.encode(), relayer_key_id.encode()):
        raise ScopeMismatchError(
            "this threshold session is for another key: mint a session for this relayerKeyId"
        )


@dataclass(frozen=True, slots=True)
class Authorization:
    mpc_session_id: str
    expires_at_ms: int
    session: AuthSession


def spend_use(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    relayer_key_id: str,
    message: bytes,
    *,
    audit_data: Mapping[str, Any] | None = None,
) -> AuthSession:
    """Spend one use of the session on ``message`` and write its ``authorize`` audit entry.

    Run inside a unit of :meth:`~cosigner.store.Store.atomic` with what the use
    pays for (an mpcSessionId, or a signing session opened in the same request),
    so that both commit together.
    """
    try:
        session = ctx.store.auth_sessions.consume_use(claims.session_id, scope=claims.scope())
    except SessionExpiredError:
        raise SessionExpired("the threshold session has expired: mint a new one") from None
    except NotFoundError:
        raise SessionExpired("the threshold session is gone: mint a new one") from None
    ctx.audit(
        "authorize",
        claims.user_id,
        {
            "scheme": scheme.scheme_id,
            "relayerKeyId": relayer_key_id,
            "sessionId": claims.session_id,
            "uses": session.uses,
            "signingDigestSha256": hashlib.sha256(message).hexdigest(),
            **dict(audit_data or {}),
        },
    )
    return session


def authorize(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    relayer_key_id: str,
    message: bytes,
    *,
    audit_data: Mapping[str, Any] | None = None,
) -> Authorization:
    """Spend one use of the session and bind ``message`` to a new single-use mpcSessionId.

    The caller has checked that ``relayer_key_id`` is the session's
    (:func:`check_key_scope`; ``bind_message`` does, for ``authorize``).
    Run it in a unit of :meth:`~cosigner.store.Store.atomic`: on SQL stores the
    unit makes the use, the mpcSessionId it pays for and its audit entry one commit.
    """
    load_user_key(ctx, scheme, claims.user_id, relayer_key_id)
    # Inside the caller's unit of work (what makes these one commit) this joins it; called
    # outside any unit, it groups the use, the mpcSessionId and the audit entry itself.
    with ctx.store.group():
        session = spend_use(ctx, scheme, claims, relayer_key_id, message, audit_data=audit_data)
        mpc_session_id = secrets.token_urlsafe(32)
        data = {
            "user": claims.user_id,
            "rpId": claims.rp_id,
            "key": relayer_key_id,
            "session": claims.session_id,
            "message": b64u_encode(message),
        }
        record = ctx.store.sessions.put(
            f"mpc_{scheme.name}",
            mpc_session_id,
            json.dumps(data, sort_keys=True).encode(),
            ttl_ms=MPC_SESSION_TTL_MS,
            fresh_id=True,
        )
    return Authorization(mpc_session_id, record.expires_at_ms, session)


def check_mpc_session(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    mpc_session_id: str,
    relayer_key_id: str,
    signing_digest: bytes,
) -> bytes:
    """Check an mpcSessionId without consuming it; returns the authorized message.

    Scope is checked first (another user cannot burn the id). A digest other
    than the authorized one spends the id, so it cannot be probed (the
    refusal is a :class:`~cosigner.store.CommitAndRaise`: run this in a unit
    of :meth:`~cosigner.store.Store.atomic`). Follow with
    :func:`spend_mpc_session`, which makes the id single-use.
    """
    check_key_scope(claims, relayer_key_id)
    try:
        record = ctx.store.sessions.get(f"mpc_{scheme.name}", mpc_session_id)
    except NotFoundError as exc:
        raise _mpc_session_gone(exc) from None
    data = json.loads(record.data)
    _check_mpc_scope(data, claims, relayer_key_id)
    message = b64u_decode(str(data["message"]))
    if not hmac.compare_digest(message, signing_digest):
        spend_mpc_session(ctx, scheme, mpc_session_id)
        raise CommitAndRaise(_digest_mismatch())
    return message


def spend_mpc_session(ctx: ServerContext, scheme: ThresholdScheme, mpc_session_id: str) -> None:
    """Consume the mpcSessionId; of concurrent calls exactly one succeeds (``not_found`` else)."""
    try:
        ctx.store.sessions.take(f"mpc_{scheme.name}", mpc_session_id)
    except NotFoundError as exc:
        raise _mpc_session_gone(exc) from None


def _mpc_session_gone(exc: NotFoundError) -> CosignerError:
    """The store's refusal of an mpcSessionId (expired, or unknown), as the routes answer it."""
    if isinstance(exc, SessionExpiredError):
        return SessionExpired("the mpcSessionId has expired (60 s): authorize again")
    return NotFoundError(
        "unknown mpcSessionId: it was used already, has expired or was never issued; "
        "authorize again"
    )


def _digest_mismatch() -> SigningDigestMismatch:
    return SigningDigestMismatch(
        "the signing digest is not the one this mpcSessionId authorized; authorize it first"
    )


def take_mpc_session(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    mpc_session_id: str,
    relayer_key_id: str,
    signing_digest: bytes,
) -> bytes:
    """Consume the mpcSessionId and return the message it authorized.

    In one store call (:meth:`~cosigner.store.SessionStore.take_checked`): an
    id of another session or key is refused and left alone; a digest other
    than the authorized one spends the id and is refused
    (:class:`~cosigner.store.CommitAndRaise`: run this in a unit of
    :meth:`~cosigner.store.Store.atomic`).
    """
    check_key_scope(claims, relayer_key_id)
    data: dict[str, Any] = {}

    def in_scope(record: SessionRecord) -> None:
        data.update(json.loads(record.data))
        _check_mpc_scope(data, claims, relayer_key_id)

    try:
        ctx.store.sessions.take_checked(f"mpc_{scheme.name}", mpc_session_id, in_scope)
    except NotFoundError as exc:
        raise _mpc_session_gone(exc) from None
    message = b64u_decode(str(data["message"]))
    if not hmac.compare_digest(message, signing_digest):
        raise CommitAndRaise(_digest_mismatch())
    return message


def _check_mpc_scope(data: dict[str, Any], claims: ThresholdClaims, relayer_key_id: str) -> None:
    if (
        data.get("user") != claims.user_id
        or data.get("key") != relayer_key_id
        or data.get("session") != claims.session_id
        or data.get("rpId") != claims.rp_id
    ):
        raise ScopeMismatchError("this mpcSessionId was authorized for another session or key")


def put_signing_session(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    kind: str,
    relayer_key_id: str,
    fields: Mapping[str, Any],
    ttl_ms: int,
) -> SessionRecord:
    """Store a new signing session of the caller's, sealed; its record (``session_id``: its id).

    The state is ``fields`` and the scope :func:`take_signing_session`
    checks (the user, the key and the threshold session), sealed with the
    scheme's cipher under ``kind`` and the session's id, a fresh random one
    (:meth:`~cosigner.store.SessionStore.put` with ``fresh_id``).
    """
    _, cipher = scheme.secrets()
    signing_session_id = secrets.token_urlsafe(32)
    state: dict[str, Any] = {
        "user": claims.user_id,
        "key": relayer_key_id,
        "session": claims.session_id,
    }
    assert not state.keys() & fields.keys(), "the scope fields are written here"
    state.update(fields)
    sealed = cipher.seal(json.dumps(state).encode(), kind=kind, record_id=signing_session_id)
    return ctx.store.sessions.put(kind, signing_session_id, sealed, ttl_ms=ttl_ms, fresh_id=True)


def take_signing_session(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    kind: str,
    signing_session_id: str,
    relayer_key_id: str,
) -> dict[str, Any]:
    """Take the caller's signing session out of the store; its state, opened once.

    A session of another user, key or threshold session is refused and left
    alone (:meth:`~cosigner.store.SessionStore.take_checked`: run this in a
    unit of :meth:`~cosigner.store.Store.atomic`). The record is written once
    and never changed, so the state checked is the state taken.
    """
    _, cipher = scheme.secrets()
    opened: dict[str, Any] = {}

    def in_scope(record: SessionRecord) -> None:
        state = json.loads(cipher.open(record.data, kind=kind, record_id=signing_session_id))
        if (
            state["user"] != claims.user_id
            or state["key"] != relayer_key_id
            or state["session"] != claims.session_id
        ):
            raise ScopeMismatchError("this signing session belongs to another session or key")
        opened.update(state)

    try:
        ctx.store.sessions.take_checked(kind, signing_session_id, in_scope)
    except NotFoundError:
        raise NotFoundError(
            "unknown signingSessionId: it was finalized already, has expired or was never "
            "issued; run sign/init again"
        ) from None
    return opened
