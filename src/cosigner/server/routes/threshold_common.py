"""What the ``/threshold-*`` routes of every two-party scheme share: bodies and handlers.

Both schemes answer ``healthz``, ``session``, ``authorize`` and ``export``
the same way (seed 000's session model), so those are written once here and
each scheme's router calls them with its :class:`ThresholdScheme`:

* :func:`healthz_response`: 200 when the scheme's master secret is set;
* :func:`mint_session_response`: a threshold session for one of the user's keys;
* :func:`authorize_request`: one use of the session for one message, or for
  the sign request of a chain intent whose digest the server recomputes
  (:func:`bind_message`), paid with an mpcSessionId; with ``signInit`` the
  use is spent on the scheme's signing session, opened in the same request
  instead (:func:`~cosigner.server.threshold.spend_use`);
* :func:`export_response`: after a passkey step-up, the relayer's additive
  share encrypted to the client's X25519 key, and an audit entry.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Final, Protocol, TypeVar

from fastapi import Response
from pydantic import Field, StringConstraints, model_validator

from cosigner.server.auth import StepUp, verify_step_up
from cosigner.server.context import ServerContext, ThresholdScheme
from cosigner.server.crypto import EXPORT_ALGORITHM, seal_to_x25519
from cosigner.server.errors import IntentDigestMismatch, InvalidBody, UnsupportedAlgorithm
from cosigner.server.intents import build_intent, intent_digest
from cosigner.server.models import (
    B64u,
    RequestModel,
    ResponseModel,
    SessionKindField,
    b64u_encode,
    decode,
)
from cosigner.server.sessions import (
    CLIENT_PARTICIPANT_ID,
    RELAYER_PARTICIPANT_ID,
    THRESHOLD_COOKIES,
    AppSession,
    ThresholdClaims,
    set_session_cookie,
)
from cosigner.server.threshold import (
    PARTICIPANT_IDS,
    authorize,
    check_key_scope,
    load_user_key,
    mint_session,
    spend_use,
)
from cosigner.store import AuthSession, KeyRecord

MAX_MESSAGE_BYTES: Final = 4096
DIGEST_BYTES: Final = 32

KeyId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
]


# -- bodies -------------------------------------------------------------------------------------


class SessionRequest(RequestModel):
    relayer_key_id: KeyId
    ttl_seconds: int | None = Field(default=None, ge=1, le=600)
    max_uses: int | None = Field(default=None, ge=1, le=20)
    session_kind: SessionKindField = "jwt"


class SessionResponse(ResponseModel):
    session_id: str
    scheme_id: str
    relayer_key_id: str
    participant_ids: list[int]
    expires_at: int
    max_uses: int
    remaining_uses: int
    session_kind: str
    session_token: str | None = Field(default=None, repr=False)
    csrf_token: str | None = Field(default=None, repr=False)


class IntentBody(RequestModel):
    chain: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    kind: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    payload: dict[str, Any]


class AuthorizeRequest(RequestModel):
    relayer_key_id: KeyId
    signing_digest: Annotated[str, B64u(1, MAX_MESSAGE_BYTES)] | None = Field(
        default=None,
        description="the exact bytes to sign: a 32-byte digest (threshold ECDSA signs only "
        "digests), or a Solana message",
    )
    intent: IntentBody | None = None
    intent_digest: Annotated[str, B64u(32, 32)] | None = None
    sign_request_index: int = Field(default=0, ge=0, le=63)

    @model_validator(mode="after")
    def _one_binding(self) -> AuthorizeRequest:
        if (self.signing_digest is None) == (self.intent is None):
            raise ValueError("send exactly one of signingDigest and intent")
        if (self.intent is None) != (self.intent_digest is None):
            raise ValueError("intent and intentDigest go together")
        return self


class AuthorizeResponse(ResponseModel):
    mpc_session_id: str | None = Field(
        default=None,
        description="the single-use id for sign/init; absent when the request carried "
        "signInit, whose signing session the use was spent on instead",
    )
    relayer_key_id: str
    signing_digest: str
    expires_at: int
    remaining_uses: int
    intent_digest: str | None = None
    ui_model: dict[str, Any] | None = None


class ExportRequest(RequestModel):
    relayer_key_id: KeyId
    recipient_public_key: Annotated[str, B64u(32, 32)] = Field(
        description="an ephemeral X25519 public key"
    )
    step_up: StepUp


class ExportResponse(ResponseModel):
    relayer_key_id: str
    scheme_id: str
    algorithm: str
    share_encoding: str
    context: str
    ephemeral_public_key: str
    nonce: str
    ciphertext: str


class HealthResponse(ResponseModel):
    ok: bool
    scheme_id: str
    participant_ids: list[int]
    client_participant_id: int
    relayer_participant_id: int


# -- handlers -----------------------------------------------------------------------------------


def healthz_response(scheme: ThresholdScheme) -> HealthResponse:
    """200 when the scheme is enabled (its master secret is configured), 503 otherwise."""
    scheme.secrets()
    return HealthResponse(
        ok=True,
        scheme_id=scheme.scheme_id,
        participant_ids=list(PARTICIPANT_IDS),
        client_participant_id=CLIENT_PARTICIPANT_ID,
        relayer_participant_id=RELAYER_PARTICIPANT_ID,
    )


def mint_session_response(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    body: SessionRequest,
    response: Response,
    app: AppSession,
) -> SessionResponse:
    """Mint a threshold session for one of the user's keys (<= 10 minutes, <= 20 uses)."""
    scheme.secrets()
    key = load_user_key(ctx, scheme, app.user_id, body.relayer_key_id)
    cookie = body.session_kind == "cookie"
    record, issued = mint_session(
        ctx, scheme, app, key, ttl_s=body.ttl_seconds, max_uses=body.max_uses, cookie=cookie
    )
    if cookie:
        max_age = (record.expires_at_ms - ctx.clock()) // 1000
        set_session_cookie(response, THRESHOLD_COOKIES[scheme.token_kind], issued.token, max_age)
    return SessionResponse(
        session_id=record.session_id,
        scheme_id=scheme.scheme_id,
        relayer_key_id=key.key_id,
        participant_ids=list(PARTICIPANT_IDS),
        expires_at=record.expires_at_ms,
        max_uses=record.max_uses,
        remaining_uses=record.remaining_uses,
        session_kind="cookie" if cookie else "jwt",
        session_token=None if cookie else issued.token,
        csrf_token=issued.csrf_token,
    )


@dataclass(frozen=True, slots=True)
class Binding:
    """What an ``authorize`` body binds a use to, worked out before any store call."""

    message: bytes
    """The exact bytes the signature will be over."""
    audit: dict[str, Any]
    """Extra fields of the ``authorize`` audit entry (the intent's chain, kind and digest)."""
    intent_digest: str | None = None
    ui_model: dict[str, Any] | None = None


def bind_message(
    scheme: ThresholdScheme, claims: ThresholdClaims, body: AuthorizeRequest
) -> Binding:
    """The message an ``authorize`` body asks to sign, after every check that needs no store.

    A secp256k1 scheme signs 32-byte digests only; an intent's sign request
    must be of the scheme's algorithm (and prehashed, for secp256k1). An
    intent is rebuilt from its payload, and its digest must be the one the
    client showed the user.
    """
    scheme.secrets()
    check_key_scope(claims, body.relayer_key_id)
    if body.intent is None:
        assert body.signing_digest is not None
        message = decode(body.signing_digest)
        if scheme.algorithm == "secp256k1" and len(message) != DIGEST_BYTES:
            raise InvalidBody(
                f"signingDigest: threshold ECDSA signs {DIGEST_BYTES}-byte digests; "
                f"got {len(message)} bytes"
            )
        return Binding(message, {})
    assert body.intent_digest is not None
    intent = build_intent(body.intent.chain, body.intent.kind, body.intent.payload)
    expected = intent_digest(intent)
    if not secrets.compare_digest(expected, decode(body.intent_digest)):
        raise IntentDigestMismatch(
            "the intent digest does not match the intent the server rebuilt from the "
            "payload: show the user the server's uiModel and sign that"
        )
    if body.sign_request_index >= len(intent.sign_requests):
        raise InvalidBody(
            f"signRequestIndex {body.sign_request_index} is past the intent's "
            f"{len(intent.sign_requests)} sign requests"
        )
    request = intent.sign_requests[body.sign_request_index]
    if request.algorithm != scheme.algorithm:
        raise UnsupportedAlgorithm(
            f"sign request {body.sign_request_index} is {request.algorithm}; "
            f"this route signs {scheme.algorithm}"
        )
    if scheme.algorithm == "secp256k1" and not request.prehashed:
        raise UnsupportedAlgorithm("threshold ECDSA signs 32-byte digests only")
    digest_text = b64u_encode(expected)
    return Binding(
        request.message,
        {"chain": intent.chain, "kind": intent.kind, "intentDigest": digest_text},
        intent_digest=digest_text,
        ui_model=dict(intent.ui_model),
    )


R = TypeVar("R", bound=AuthorizeResponse)


class SignInitAnswer(Protocol):
    """What a scheme's ``sign/init`` answers (the part :func:`authorize_request` reads)."""

    @property
    def expires_at(self) -> int: ...


OpenSigning = Callable[[Binding, Callable[[], AuthSession]], tuple[AuthSession, SignInitAnswer]]
"""A scheme's ``open_signing(binding, spend)`` for ``authorize`` with ``signInit``."""


def authorize_response(
    cls: type[R],
    body: AuthorizeRequest,
    binding: Binding,
    *,
    mpc_session_id: str | None,
    expires_at: int,
    remaining_uses: int,
    **extra: Any,
) -> R:
    """The answer to ``authorize``; ``extra`` carries a scheme's ``signInit`` answer."""
    return cls(
        mpc_session_id=mpc_session_id,
        relayer_key_id=body.relayer_key_id,
        signing_digest=b64u_encode(binding.message),
        expires_at=expires_at,
        remaining_uses=remaining_uses,
        intent_digest=binding.intent_digest,
        ui_model=binding.ui_model,
        **extra,
    )


async def authorize_request(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    claims: ThresholdClaims,
    body: AuthorizeRequest,
    cls: type[R],
    open_signing: OpenSigning | None = None,
) -> R:
    """Spend one use of the threshold session on one message.

    The message is bound first (:func:`bind_message`). Then, as one unit of
    work (:meth:`cosigner.store.Store.atomic`, no flush):

    * without ``signInit``: the use, a new mpcSessionId for the message and
      the audit entry (:func:`~cosigner.server.threshold.authorize`); the
      answer carries the mpcSessionId;
    * with ``signInit`` (the body's ``sign_init`` set, and the scheme's
      ``open_signing`` given): ``open_signing(binding, spend)``, which calls
      ``spend()`` (:func:`~cosigner.server.threshold.spend_use`: the use and
      its audit entry) where its scheme wants it and opens the scheme's
      signing session for ``binding.message``, exactly what ``sign/init``
      would open; it answers ``spend()``'s session and the ``sign/init``
      answer, which the answer carries as ``signInit``. That saves the client
      a round trip and the server a request and a commit; no mpcSessionId is
      issued, since nothing is left for one to authorize.
    """
    binding = bind_message(scheme, claims, body)
    key_id = body.relayer_key_id
    # No flush (see Store.atomic): a power cut before the next flushed commit undoes the use
    # and what it paid for together, and nothing was signed with them yet.
    mpc_session_id: str | None = None
    extra: dict[str, Any] = {}
    if open_signing is None or getattr(body, "sign_init", None) is None:
        granted = await ctx.store.atomic(
            functools.partial(
                authorize, ctx, scheme, claims, key_id, binding.message, audit_data=binding.audit
            ),
            flush=False,
        )
        mpc_session_id, expires_at, session = (
            granted.mpc_session_id,
            granted.expires_at_ms,
            granted.session,
        )
    else:
        spend = functools.partial(
            spend_use, ctx, scheme, claims, key_id, binding.message, audit_data=binding.audit
        )
        session, init = await ctx.store.atomic(
            functools.partial(open_signing, binding, spend), flush=False
        )
        expires_at, extra["sign_init"] = init.expires_at, init
    ctx.metrics.authorizations.labels(scheme=scheme.name).inc()
    return authorize_response(
        cls,
        body,
        binding,
        mpc_session_id=mpc_session_id,
        expires_at=expires_at,
        remaining_uses=session.remaining_uses,
        **extra,
    )


def export_context(scheme_id: str, key_id: str) -> bytes:
    """The export's AEAD context: ``{scheme id}/export/{relayerKeyId}``."""
    return f"{scheme_id}/export/{key_id}".encode()


def export_response(
    ctx: ServerContext,
    scheme: ThresholdScheme,
    app: AppSession,
    body: ExportRequest,
    key: KeyRecord,
    share: Callable[[], bytes],
    share_encoding: str,
) -> ExportResponse:
    """After a passkey step-up: ``share()`` sealed to the client's X25519 key, and audited.

    The caller has loaded ``key`` as the user's key; the step-up is checked
    here, before the share is derived and sealed.
    """
    credential_id = verify_step_up(ctx, app.user_id, "export", body.step_up)
    context = export_context(scheme.scheme_id, key.key_id)
    sealed = seal_to_x25519(decode(body.recipient_public_key), share(), context=context)
    ctx.audit(
        "export",
        app.user_id,
        {
            "scheme": scheme.scheme_id,
            "relayerKeyId": key.key_id,
            "stepUpCredentialId": credential_id,
        },
    )
    return ExportResponse(
        relayer_key_id=key.key_id,
        scheme_id=scheme.scheme_id,
        algorithm=EXPORT_ALGORITHM,
        share_encoding=share_encoding,
        context=context.decode(),
        ephemeral_public_key=b64u_encode(sealed.ephemeral_public_key),
        nonce=b64u_encode(sealed.nonce),
        ciphertext=b64u_encode(sealed.ciphertext),
    )
