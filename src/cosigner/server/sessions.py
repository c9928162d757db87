"""Session tokens: app sessions and threshold sessions, told apart by ``kind``.

Both are JWTs (PyJWT, HS256) under one key derived from
``COSIGNER_SESSION_SECRET``, issuer ``cosigner``. The ``kind`` claim says
which token it is, and every check names the kind it requires, so a token
of one kind is refused where another is required:

* ``app_session_v1``: ``sub`` (the user), ``sid`` (this session),
  ``ver`` (the user's session version), ``rpId``, ``exp``. Issued by login,
  accepted by ``/auth/*``, ``/session/*`` and the threshold ``keygen``,
  ``session`` and export routes.
* ``threshold_ed25519_session_v1`` / ``threshold_ecdsa_session_v1``:
  ``sub, sessionId, relayerKeyId, rpId, participantIds, exp``. Minted by
  ``/threshold-*/session``; its budget of uses lives in the store.

A token is only a claim: each app session also has a store record (so
logout and refresh revoke it), and each user a session *version* (so
unlinking an identity revokes all the user's app sessions at once: a counter
in the store, bumped atomically, :class:`cosigner.store.SessionVersionStore`). Expiry
is checked against the server's clock.

Cookie mode puts the token in a ``Secure; HttpOnly; SameSite=Strict``
cookie instead of the body; the token then carries a ``csrf`` claim, and a
state-changing request authenticated by the cookie must repeat it in the
``X-CSRF-Token`` header.
"""

from __future__ import annotations

import functools
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from starlette.responses import Response

from cosigner.server.errors import CsrfFailed, SessionExpired, Unauthorized
from cosigner.store import (
    Clock,
    NotFoundError,
    SessionExpiredError,
    SessionScope,
    Store,
)

ISSUER: Final = "cosigner"
ALGORITHM: Final = "HS256"
APP_SESSION_KIND: Final = "app_session_v1"
THRESHOLD_ED25519_KIND: Final = "threshold_ed25519_session_v1"
THRESHOLD_ECDSA_KIND: Final = "threshold_ecdsa_session_v1"
THRESHOLD_KINDS: Final = (THRESHOLD_ED25519_KIND, THRESHOLD_ECDSA_KIND)

APP_COOKIE: Final = "cosigner_app_session"
THRESHOLD_COOKIES: Final = {
    THRESHOLD_ED25519_KIND: "cosigner_threshold_ed25519",
    THRESHOLD_ECDSA_KIND: "cosigner_threshold_ecdsa",
}
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})

CLIENT_PARTICIPANT_ID: Final = 1
RELAYER_PARTICIPANT_ID: Final = 2

_SESSION_RECORD: Final = "app_session"
TOKEN_CACHE_SIZE: Final = 4096


class TokenCodec:
    """Signs and checks session JWTs; the key never leaves this object."""

    __slots__ = ("_clock", "_decoded", "_key")

    def __init__(self, session_secret: bytes, clock: Clock) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"cosigner/session-jwt/v1", info=b"HS256"
        ).derive(session_secret)
        self._clock = clock
        # A token's signature and claims never change, so a checked token need not be checked
        # again: a threshold token serves up to 20 signatures of 3 requests each. Expiry and
        # kind are checked on every use; only valid tokens are remembered, at most this many.
        self._decoded = functools.lru_cache(maxsize=TOKEN_CACHE_SIZE)(self._decode)

    def issue(self, kind: str, claims: Mapping[str, Any], *, expires_at_ms: int) -> str:
        body = dict(claims)
        body.update(kind=kind, iss=ISSUER, iat=self._clock() // 1000, exp=expires_at_ms // 1000)
        return jwt.encode(body, self._key, algorithm=ALGORITHM)

    def _decode(self, token: str) -> Mapping[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            token,
            self._key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
                "require": ["kind", "sub", "exp", "iss"],
            },
        )
        return claims

    def verify(self, token: str, kind: str) -> dict[str, Any]:
        """The claims of a valid, unexpired token of ``kind``; 401 otherwise."""
        try:
            claims = dict(self._decoded(token))
        except jwt.InvalidTokenError:
            raise Unauthorized("the session token is not valid: log in again") from None
        found = claims.get("kind")
        if found != kind:
            raise Unauthorized(
                f"this route needs a {kind} token, not {found if isinstance(found, str) else '?'}"
            )
        exp = claims.get("exp")
        if not isinstance(exp, int) or isinstance(exp, bool):
            raise Unauthorized("the session token has no valid expiry")
        if self._clock() >= exp * 1000:
            raise SessionExpired(f"the {kind} token has expired: start a new session")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("the session token names no user")
        return claims

    def __repr__(self) -> str:
        return "TokenCodec(<redacted>)"


def csrf_matches(expected: object, presented: str | None) -> bool:
    if not isinstance(expected, str) or not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode(), presented.encode())


def check_csrf(claims: Mapping[str, Any], method: str, header: str | None) -> None:
    """Refuse a state-changing cookie-authenticated request without the token's CSRF value."""
    if method.upper() in SAFE_METHODS:
        return
    if not csrf_matches(claims.get("csrf"), header):
        raise CsrfFailed(
            f"a request authenticated by a session cookie must send the {CSRF_HEADER} header "
            "returned when the session was created"
        )


def set_session_cookie(response: Response, name: str, token: str, max_age_s: int) -> None:
    response.set_cookie(
        name,
        token,
        max_age=max(max_age_s, 0),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=True, httponly=True, samesite="strict")


@dataclass(frozen=True, slots=True)
class IssuedSession:
    token: str = field(repr=False)
    session_id: str
    expires_at_ms: int
    csrf_token: str | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class AppSession:
    """A verified app session."""

    user_id: str
    session_id: str
    rp_id: str
    expires_at_ms: int
    via_cookie: bool


@dataclass(frozen=True, slots=True)
class ThresholdClaims:
    """A verified threshold-session token (its budget is checked in the store)."""

    kind: str
    user_id: str
    session_id: str
    relayer_key_id: str
    rp_id: str
    participant_ids: tuple[int, ...]
    expires_at_ms: int
    via_cookie: bool

    def scope(self) -> SessionScope:
        return SessionScope(
            user_id=self.user_id,
            rp_id=self.rp_id,
            relayer_key_id=self.relayer_key_id,
            participant_ids=self.participant_ids,
            client_participant_id=CLIENT_PARTICIPANT_ID,
            relayer_participant_id=RELAYER_PARTICIPANT_ID,
        )


def parse_threshold_claims(claims: Mapping[str, Any], *, via_cookie: bool) -> ThresholdClaims:
    session_id = claims.get("sessionId")
    key_id = claims.get("relayerKeyId")
    rp_id = claims.get("rpId")
    ids = claims.get("participantIds")
    if not (
        isinstance(session_id, str)
        and isinstance(key_id, str)
        and isinstance(rp_id, str)
        and isinstance(ids, list)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
    ):
        raise Unauthorized("the threshold session token lacks its scope claims")
    return ThresholdClaims(
        kind=str(claims["kind"]),
        user_id=str(claims["sub"]),
        session_id=session_id,
        relayer_key_id=key_id,
        rp_id=rp_id,
        participant_ids=tuple(ids),
        expires_at_ms=int(claims["exp"]) * 1000,
        via_cookie=via_cookie,
    )


def issue_threshold_token(
    codec: TokenCodec,
    kind: str,
    *,
    user_id: str,
    session_id: str,
    relayer_key_id: str,
    rp_id: str,
    participant_ids: Sequence[int],
    expires_at_ms: int,
    cookie: bool,
) -> IssuedSession:
    csrf = secrets.token_urlsafe(24) if cookie else None
    claims: dict[str, Any] = {
        "sub": user_id,
        "sessionId": session_id,
        "relayerKeyId": relayer_key_id,
        "rpId": rp_id,
        "participantIds": list(participant_ids),
    }
    if csrf is not None:
        claims["csrf"] = csrf
    token = codec.issue(kind, claims, expires_at_ms=expires_at_ms)
    return IssuedSession(token, session_id, expires_at_ms, csrf)


class AppSessions:
    """App sessions: issue, validate, refresh (single use), log out, revoke all of a user's."""

    def __init__(self, store: Store, codec: TokenCodec, *, rp_id: str, ttl_s: int, clock: Clock):
        self._store = store
        self._codec = codec
        self._rp_id = rp_id
        self._ttl_ms = ttl_s * 1000
        self._clock = clock

    # The session version: a counter per user in the store; bumping it revokes every session.

    def rotate_version(self, user_id: str) -> None:
        """Revoke every app session of the user (a new one must be issued afterwards)."""
        self._store.session_versions.bump(user_id)

    def issue(self, user_id: str, *, cookie: bool) -> IssuedSession:
        version = self._store.session_versions.current(user_id)
        session_id = secrets.token_urlsafe(24)
        expires = self._clock() + self._ttl_ms
        record = json.dumps({"user": user_id, "ver": version}).encode()
        self._store.sessions.put(_SESSION_RECORD, session_id, record, ttl_ms=self._ttl_ms)
        csrf = secrets.token_urlsafe(24) if cookie else None
        claims: dict[str, Any] = {
            "sub": user_id,
            "sid": session_id,
            "ver": version,
            "rpId": self._rp_id,
        }
        if csrf is not None:
            claims["csrf"] = csrf
        token = self._codec.issue(APP_SESSION_KIND, claims, expires_at_ms=expires)
        return IssuedSession(token, session_id, expires, csrf)

    def validate(
        self, token: str, *, via_cookie: bool, method: str, csrf: str | None
    ) -> AppSession:
        claims = self._codec.verify(token, APP_SESSION_KIND)
        session_id, version = claims.get("sid"), claims.get("ver")
        if (
            not isinstance(session_id, str)
            or not session_id
            or not isinstance(version, int)
            or isinstance(version, bool)
        ):
            raise Unauthorized("the app session token lacks its session claims")
        if via_cookie:
            check_csrf(claims, method, csrf)
        user_id = str(claims["sub"])
        try:
            record = json.loads(self._store.sessions.get(_SESSION_RECORD, session_id).data)
        except SessionExpiredError:
            raise SessionExpired("the app session has expired: log in again") from None
        except NotFoundError:
            raise Unauthorized(
                "this app session was logged out or refreshed already: log in again"
            ) from None
        current = self._store.session_versions.current(user_id)
        if (
            not isinstance(record, dict)
            or record.get("user") != user_id
            or current != version
            or record.get("ver") != version
        ):
            raise Unauthorized("this app session was revoked: log in again")
        return AppSession(
            user_id=user_id,
            session_id=session_id,
            rp_id=str(claims.get("rpId", self._rp_id)),
            expires_at_ms=int(claims["exp"]) * 1000,
            via_cookie=via_cookie,
        )

    def refresh(self, session: AppSession, *, cookie: bool) -> IssuedSession:
        """Replace the session by a new one; of two refreshes of one session, one wins."""
        try:
            self._store.sessions.take(_SESSION_RECORD, session.session_id)
        except NotFoundError:
            raise Unauthorized("this app session was refreshed already: log in again") from None
        return self.issue(session.user_id, cookie=cookie)

    def logout(self, session: AppSession) -> None:
        self._store.sessions.delete(_SESSION_RECORD, session.session_id)
