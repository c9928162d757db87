"""``/threshold-ecdsa/*``: two-party threshold ECDSA, scheme ``threshold-secp256k1-ecdsa-2p-v1``.

Cait-Sith (docs/ecdsa/ot_based_ecdsa/ of near/threshold-signatures) between
the client (participant 1) and the relayer (participant 2), whose additive
secrets come from :mod:`cosigner.keys` (seed 000, locked): the client's from
its passkey PRF output, the relayer's from ``COSIGNER_SECP256K1_MASTER_SECRET``,
the user, the rpId and the client's verifying share. Protocol shares are
``x_client / 3`` and ``x_relayer / -2`` (:mod:`cosigner.ecdsa.two_party`), so
a signature by both verifies as one ordinary ECDSA signature under
``(x_client + x_relayer) * G``.

* ``keygen`` (app session): the client sends ``x_client * G`` (33 bytes,
  compressed); the relayer derives its share, stores the key and returns the
  group key, its Ethereum address and the ``relayerKeyId``. Idempotent, and
  recoverable from the master secret alone.
* ``session`` and ``authorize``: as for every scheme
  (:mod:`.threshold_common`); a signing digest is exactly 32 bytes.
* ``presign/init`` and ``presign/step`` (threshold session): a distributed
  presign session (seed 000, "Distributed Presign Sessions + Atomic
  Transitions"). ``init`` creates the store record (stage ``triples``,
  version 1, bound to the session's scope, the relayer's protocol state
  sealed under the record id) and returns the relayer's first messages.
  ``step`` takes ``expectedVersion``, the ``stage`` the client's messages
  are for, and those messages; it restores the relayer's state, feeds them,
  and compare-and-swaps the new state at version + 1. Stages follow the
  graph ``triples -> triples|triples_done``, ``triples_done ->
  triples_done|presign``, ``presign -> presign|done``: two triples are
  generated (one batch), then presigning uses them. At ``done`` the
  relayer's presignature goes into the pool, sealed, under the id both
  sides computed; the record stays at ``done`` until it expires. Whatever
  an instance computes leaves it only after its swap won: a lost race
  answers ``stale_session_state`` and nothing else, so no state ever
  answers two different inputs; a message the protocol refuses, or a round
  that aborts, ends the session for good. The record keeps the winning
  step's answer and a digest of its request (version, stage, messages), so
  the very same request sent again (its answer was lost: the instance died
  after the swap, or the connection broke) is answered again, identically,
  by any instance; the computation is never run twice. At ``done`` that
  replay needs the presignature in the pool.
* ``sign/init`` (threshold session): checks the ``mpcSessionId`` and its
  digest, reserves a presignature (``pool_empty`` 503 leaves the
  ``mpcSessionId`` unspent, so the client refills and retries), then spends
  the ``mpcSessionId`` and opens a signing session that binds digest,
  presignature and both halves of the rerandomization entropy.
* ``sign/finalize`` (threshold session): takes the signing session, marks the
  presignature consumed in the store, and only then restores it, combines
  the client's signature share with its own (the relayer coordinates, so
  its share never leaves), checks the signature, and returns ``r || s || v``
  (low ``s``). A crash or a retry after the consume finds it consumed.
* ``presignatures`` and ``presignatures/discard`` (threshold session): the
  key's available presignatures (ids and ages), and discarding some of them,
  so a client can clear the orphans it holds no half of; the periodic purge
  discards those older than ``COSIGNER_PRESIGNATURE_MAX_AGE_S``. Discarding
  is always safe, putting one back never is (see
  :class:`~cosigner.store.base.PresignaturePool`).
* ``export`` (app session and passkey step-up): the relayer's additive
  share, encrypted to an X25519 key the client sent.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, TypeVar

from coincurve import PublicKey as CoincurvePublicKey
from fastapi import APIRouter, Depends, Query, Response
from pydantic import Field, StringConstraints

from cosigner.ecdsa import Presign, Presignature, Sign, TripleGeneration, TripleShare
from cosigner.ecdsa.two_party import (
    CLIENT_ID,
    PARTICIPANTS,
    RELAYER_ID,
    TRIPLES_PER_PRESIGNATURE,
    flow_session_id,
    relayer_key_share,
    sign_entropy,
)
from cosigner.ecdsa.types import KeyShare
from cosigner.errors import CosignerError
from cosigner.keys import (
    SCHEME_ECDSA_2P_V1,
    SCHEMES,
    KeyDerivationError,
    derive_relayer_share,
    ethereum_address,
)
from cosigner.protocol import Message, Protocol
from cosigner.server.context import ServerContext, ThresholdScheme
from cosigner.server.deps import AppSessionDep, Ctx, threshold_session
from cosigner.server.errors import ERROR_RESPONSES, InvalidBody, PresignSessionExpired
from cosigner.server.faults import AFTER_CONSUME, AFTER_PRESIGN_CAS, fault_point
from cosigner.server.models import (
    B64u,
    Id,
    RequestModel,
    ResponseModel,
    b64u_decode,
    b64u_encode,
    decode,
)
from cosigner.server.routes.threshold_common import (
    AuthorizeRequest,
    AuthorizeResponse,
    Binding,
    ExportRequest,
    ExportResponse,
    HealthResponse,
    KeyId,
    SessionRequest,
    SessionResponse,
    authorize_request,
    export_response,
    healthz_response,
    mint_session_response,
)
from cosigner.server.sessions import THRESHOLD_ECDSA_KIND, ThresholdClaims
from cosigner.server.threshold import (
    RELAYER_KEY_CACHE_SIZE,
    MasterSecretMismatch,
    check_key_scope,
    check_mpc_session,
    check_session_live,
    load_user_key,
    put_signing_session,
    relayer_key_id,
    spend_mpc_session,
    take_signing_session,
)
from cosigner.store import (
    STAGE_GRAPH,
    AlreadyExistsError,
    AuthSession,
    CommitAndRaise,
    InvalidStageTransitionError,
    KeyRecord,
    NotFoundError,
    PresignSession,
    PresignStage,
    SessionExpiredError,
    StageRegressionError,
    StaleSessionStateError,
)
from cosigner.store import Presignature as ConsumedPresignature
from cosigner.store.records import is_regression

NAME: Final = "ecdsa"
SCHEME = SCHEMES[SCHEME_ECDSA_2P_V1]
GROUP = SCHEME.group
PRESIGN_KIND: Final = "presign_ecdsa"
PRESIGNATURE_KIND: Final = "presignature_ecdsa"
SIGN_KIND: Final = "sign_ecdsa"
MAX_STEP_MESSAGES: Final = 16
MAX_MESSAGE_BYTES: Final = 48 * 1024
_STEP_STATE_FORMAT: Final = b"\x02"

ThresholdEcdsa = Annotated[ThresholdClaims, Depends(threshold_session(THRESHOLD_ECDSA_KIND))]


def scheme_of(ctx: ServerContext) -> ThresholdScheme:
    return ctx.scheme(NAME)


# -- key material ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelayerEcdsaKey:
    """The relayer's side of one key, derived from the master secret (cached per process).

    The derivation is deterministic, so :func:`derive_relayer_key` keeps the
    last :data:`RELAYER_KEY_CACHE_SIZE` keys it derived.
    """

    x_relayer: int = field(repr=False)
    public_key: bytes

    @property
    def relayer_verifying_share(self) -> bytes:
        """``x_relayer * G``, the additive verifying share (33 bytes)."""
        return GROUP.base_mul(self.x_relayer).to_bytes()

    def key_share(self) -> KeyShare:
        return relayer_key_share(self.x_relayer, self.public_key)


@functools.lru_cache(maxsize=RELAYER_KEY_CACHE_SIZE)
def derive_relayer_key(
    master_secret: bytes, user_id: str, rp_id: str, client_verifying_share: bytes
) -> RelayerEcdsaKey:
    """The relayer's additive secret and the group key ``X_client + x_relayer * G``."""
    x_relayer = derive_relayer_share(
        master_secret,
        user_id=user_id,
        rp_id=rp_id,
        client_verifying_share=client_verifying_share,
        scheme_id=SCHEME_ECDSA_2P_V1,
    )
    group_key = GROUP.decode_element(client_verifying_share) + GROUP.base_mul(x_relayer)
    if group_key.is_identity:
        raise KeyDerivationError("the client's verifying share cancels the relayer's")
    return RelayerEcdsaKey(x_relayer, group_key.to_bytes())


def stored_relayer_key(master_secret: bytes, record: KeyRecord) -> RelayerEcdsaKey:
    value = record.metadata.get("clientVerifyingShare")
    if not isinstance(value, str):
        raise MasterSecretMismatch(f"key {record.key_id!r} lacks its client verifying share")
    key = derive_relayer_key(master_secret, record.user_id, record.rp_id, b64u_decode(value))
    if not secrets.compare_digest(key.public_key, record.public_key):
        raise MasterSecretMismatch(
            f"key {record.key_id!r} was made under another master secret; "
            "restore COSIGNER_SECP256K1_MASTER_SECRET"
        )
    return key


# -- bodies -------------------------------------------------------------------------------------

Point = Annotated[str, B64u(33, 33)]
Bytes32 = Annotated[str, B64u(32, 32)]
ProtocolMessage = Annotated[str, B64u(1, MAX_MESSAGE_BYTES)]
PresignatureId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
StageName = Literal["triples", "triples_done", "presign", "done"]


class EcdsaKeygenRequest(RequestModel):
    client_verifying_share: Point = Field(
        description="x_client * G (33-byte compressed secp256k1 point), x_client derived "
        "from the passkey PRF"
    )


class EcdsaKeygenResponse(ResponseModel):
    relayer_key_id: str
    scheme_id: str
    public_key: str = Field(description="the group key, 33-byte compressed")
    ethereum_address: str
    client_verifying_share: str
    relayer_verifying_share: str
    participant_ids: list[int]
    client_participant_id: int
    relayer_participant_id: int
    created: bool


class PresignInitRequest(RequestModel):
    relayer_key_id: KeyId


class PresignStepRequest(RequestModel):
    presign_session_id: Id
    relayer_key_id: KeyId
    expected_version: int = Field(ge=1, le=2**31)
    stage: StageName = Field(
        description="the stage the messages are for: triples (triple generation), or "
        "presign (presigning, once the session is at triples_done or presign)"
    )
    messages: list[ProtocolMessage] = Field(default_factory=list, max_length=MAX_STEP_MESSAGES)


class PresignResponse(ResponseModel):
    presign_session_id: str
    version: int
    stage: str
    expires_at: int
    messages: list[str] = Field(description="the relayer's protocol messages, in order")
    triple_count: int = TRIPLES_PER_PRESIGNATURE
    presignature_id: str | None = Field(
        default=None, description="at stage done: the id the presignature is pooled under"
    )


class EcdsaSignInitFields(RequestModel):
    client_entropy: Bytes32 = Field(description="32 random bytes, half of the rerandomization")
    presignature_id: PresignatureId | None = Field(
        default=None,
        description="a presignature whose client half the caller holds; the oldest "
        "available one when absent",
    )


class EcdsaSignInitRequest(EcdsaSignInitFields):
    mpc_session_id: Id
    relayer_key_id: KeyId
    signing_digest: Bytes32


class EcdsaSignInitResponse(ResponseModel):
    signing_session_id: str
    presignature_id: str
    relayer_entropy: str
    expires_at: int


class EcdsaAuthorizeRequest(AuthorizeRequest):
    sign_init: EcdsaSignInitFields | None = Field(
        default=None,
        description="open the signing session in this request, as sign/init would for the "
        "message authorized here: no mpcSessionId, one round trip less",
    )


class EcdsaAuthorizeResponse(AuthorizeResponse):
    sign_init: EcdsaSignInitResponse | None = Field(
        default=None, description="the signing session, when the request carried signInit"
    )


class EcdsaSignFinalizeRequest(RequestModel):
    signing_session_id: Id
    relayer_key_id: KeyId
    client_signature_share: Bytes32


class EcdsaSignFinalizeResponse(ResponseModel):
    signature: str = Field(description="65 bytes r || s || recovery id, s low")
    recovery_id: int
    public_key: str
    relayer_key_id: str
    signing_digest: str


# -- routes -------------------------------------------------------------------------------------

router = APIRouter(prefix="/threshold-ecdsa", tags=["threshold-ecdsa"], responses=ERROR_RESPONSES)


@router.get("/healthz", response_model=HealthResponse)
def healthz(ctx: Ctx) -> HealthResponse:
    """200 when the scheme is enabled (its master secret is configured), 503 otherwise."""
    return healthz_response(scheme_of(ctx))


@router.post("/keygen", response_model=EcdsaKeygenResponse)
def keygen(body: EcdsaKeygenRequest, app: AppSessionDep, ctx: Ctx) -> EcdsaKeygenResponse:
    """Derive the relayer share for the client's verifying share and store the key."""
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    rp_id = ctx.settings.rp_id
    client_share = decode(body.client_verifying_share)
    derived = derive_relayer_key(master, app.user_id, rp_id, client_share)
    key_id = relayer_key_id(SCHEME_ECDSA_2P_V1, app.user_id, rp_id, client_share)
    address = ethereum_address(derived.public_key)
    created = True
    try:
        ctx.store.keys.create(
            key_id,
            user_id=app.user_id,
            rp_id=rp_id,
            scheme_id=SCHEME_ECDSA_2P_V1,
            public_key=derived.public_key,
            participant_ids=PARTICIPANTS,
            metadata={
                "version": 1,
                "clientVerifyingShare": b64u_encode(client_share),
                "relayerVerifyingShare": b64u_encode(derived.relayer_verifying_share),
                "ethereumAddress": address,
            },
        )
    except AlreadyExistsError:
        created = False
        load_user_key(ctx, scheme, app.user_id, key_id)
    if created:
        ctx.audit(
            "keygen",
            app.user_id,
            {
                "scheme": SCHEME_ECDSA_2P_V1,
                "relayerKeyId": key_id,
                "publicKey": b64u_encode(derived.public_key),
            },
        )
    return EcdsaKeygenResponse(
        relayer_key_id=key_id,
        scheme_id=SCHEME_ECDSA_2P_V1,
        public_key=b64u_encode(derived.public_key),
        ethereum_address=address,
        client_verifying_share=b64u_encode(client_share),
        relayer_verifying_share=b64u_encode(derived.relayer_verifying_share),
        participant_ids=list(PARTICIPANTS),
        client_participant_id=CLIENT_ID,
        relayer_participant_id=RELAYER_ID,
        created=created,
    )


@router.post("/session", response_model=SessionResponse)
def session(
    body: SessionRequest, response: Response, app: AppSessionDep, ctx: Ctx
) -> SessionResponse:
    """Mint a threshold session for one of the user's keys (<= 10 minutes, <= 20 uses)."""
    return mint_session_response(ctx, scheme_of(ctx), body, response, app)


@router.post("/authorize", response_model=EcdsaAuthorizeResponse)
async def authorize_route(
    body: EcdsaAuthorizeRequest, claims: ThresholdEcdsa, ctx: Ctx
) -> EcdsaAuthorizeResponse:
    """Spend one use of the threshold session on one 32-byte digest; returns its mpcSessionId.

    With ``signInit``, the use is spent on a signing session opened in the same
    unit instead, exactly as ``sign/init`` opens it (a presignature reserved,
    the relayer's entropy drawn); ``pool_empty`` leaves the use unspent.
    """
    return await authorize_request(
        ctx,
        scheme_of(ctx),
        claims,
        body,
        EcdsaAuthorizeResponse,
        functools.partial(_authorize_and_open, body, claims, ctx),
    )


def _authorize_and_open(
    body: EcdsaAuthorizeRequest,
    claims: ThresholdClaims,
    ctx: ServerContext,
    binding: Binding,
    spend: Callable[[], AuthSession],
) -> tuple[AuthSession, EcdsaSignInitResponse]:
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    key_id = body.relayer_key_id
    # The relayer's side of the key first: a master secret that does not match it is refused
    # before anything is reserved or spent, as sign/init refuses it.
    stored_relayer_key(master, load_user_key(ctx, scheme, claims.user_id, key_id))
    assert body.sign_init is not None, "called for a body with signInit only"
    return _open_signing(ctx, claims, key_id, binding.message, body.sign_init, spend)


# -- presign ----------------------------------------------------------------------------------


def _relayer_for(ctx: ServerContext, claims: ThresholdClaims, key_id: str) -> RelayerEcdsaKey:
    """Scope, live session, the user's key and the relayer's side of it, in that order."""
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    check_key_scope(claims, key_id)
    check_session_live(ctx, claims)
    return stored_relayer_key(master, load_user_key(ctx, scheme, claims.user_id, key_id))


@dataclass(frozen=True, slots=True)
class _StepState:
    """What a presign session record holds, sealed: the relayer's protocol state and the
    step that produced it (its request digest and the relayer's answer), for replay.

    Encoded as: a format byte, then ``u32 length || protocol state`` (empty at done),
    ``u8 length || request digest`` (empty after init), ``u32 length || answer`` (the
    answer's messages as compact JSON) and ``u8 length || presignature id`` (at done).
    """

    protocol: bytes = field(repr=False)
    request: bytes = b""
    answer: tuple[str, ...] = ()
    presignature_id: str = ""

    def to_bytes(self) -> bytes:
        answer = json.dumps(list(self.answer), separators=(",", ":")).encode()
        pid = self.presignature_id.encode()
        return b"".join(
            (
                _STEP_STATE_FORMAT,
                len(self.protocol).to_bytes(4, "big"),
                self.protocol,
                bytes([len(self.request)]),
                self.request,
                len(answer).to_bytes(4, "big"),
                answer,
                bytes([len(pid)]),
                pid,
            )
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> _StepState:
        if data[:1] != _STEP_STATE_FORMAT:
            raise CosignerError("a presign session state of an unknown format")
        at = 1
        n = int.from_bytes(data[at : at + 4], "big")
        protocol, at = data[at + 4 : at + 4 + n], at + 4 + n
        n = data[at]
        request, at = data[at + 1 : at + 1 + n], at + 1 + n
        n = int.from_bytes(data[at : at + 4], "big")
        answer, at = json.loads(data[at + 4 : at + 4 + n]), at + 4 + n
        n = data[at]
        pid = data[at + 1 : at + 1 + n].decode()
        return cls(protocol, request, tuple(str(m) for m in answer), pid)


def _seal_state(ctx: ServerContext, state: _StepState, presign_session_id: str) -> bytes:
    _, cipher = scheme_of(ctx).secrets()
    return cipher.seal(state.to_bytes(), kind=PRESIGN_KIND, record_id=presign_session_id)


def _open_state(ctx: ServerContext, record: PresignSession) -> _StepState:
    _, cipher = scheme_of(ctx).secrets()
    return _StepState.from_bytes(
        cipher.open(record.state, kind=PRESIGN_KIND, record_id=record.session_id)
    )


def _step_digest(body: PresignStepRequest) -> bytes:
    """What identifies a step request: the version and stage it is for, and its messages."""
    digest = hashlib.sha256(b"cosigner/ecdsa-2p/presign-step/v1")
    digest.update(body.expected_version.to_bytes(4, "big") + body.stage.encode() + b"\0")
    for message in body.messages:
        digest.update(len(message).to_bytes(4, "big") + message.encode())
    return digest.digest()


def _messages_out(messages: Sequence[Message]) -> list[str]:
    return [b64u_encode(m.to_bytes()) for m in messages]


def _messages_in(texts: Sequence[str]) -> list[Message]:
    messages = [Message.from_bytes(decode(text)) for text in texts]
    for m in messages:
        if m.sender != CLIENT_ID:
            raise InvalidBody(f"messages: every message is the client's (sender {CLIENT_ID})")
    return messages


@router.post("/presign/init", response_model=PresignResponse)
def presign_init(body: PresignInitRequest, claims: ThresholdEcdsa, ctx: Ctx) -> PresignResponse:
    """Open a presign session: the store record at stage triples, version 1, and round 0."""
    _relayer_for(ctx, claims, body.relayer_key_id)
    presign_session_id = "ps_" + secrets.token_urlsafe(24)
    generation = TripleGeneration(
        session_id=flow_session_id("triples", body.relayer_key_id, presign_session_id),
        me=RELAYER_ID,
        participants=PARTICIPANTS,
        threshold=2,
        count=TRIPLES_PER_PRESIGNATURE,
    )
    outgoing = generation.start()
    record = ctx.store.presign_sessions.create_session(
        presign_session_id,
        scope=claims.scope(),
        state=_seal_state(ctx, _StepState(generation.to_bytes()), presign_session_id),
        ttl_ms=ctx.settings.presign_session_ttl_s * 1000,
    )
    return PresignResponse(
        presign_session_id=presign_session_id,
        version=record.version,
        stage=str(record.stage),
        expires_at=record.expires_at_ms,
        messages=_messages_out(outgoing),
    )


_STEPS: Final = {
    (PresignStage.TRIPLES, PresignStage.TRIPLES),
    (PresignStage.TRIPLES_DONE, PresignStage.PRESIGN),
    (PresignStage.PRESIGN, PresignStage.PRESIGN),
}
"""(stored stage, stage of the client's messages) pairs a step can run."""


def _check_step(record: PresignSession, requested: PresignStage) -> None:
    if (record.stage, requested) in _STEPS:
        return
    what = f"presign session {record.session_id!r}"
    if is_regression(record.stage, requested):
        raise StageRegressionError(f"{what} is at {record.stage}; it cannot go back to {requested}")
    if requested not in STAGE_GRAPH[record.stage]:
        raise InvalidStageTransitionError(
            f"{what} is at {record.stage} and cannot move to {requested}"
        )
    raise InvalidStageTransitionError(
        f"{what} is at {record.stage}: send the first presign messages with stage presign"
    )


def _feed(protocol: Protocol, messages: Sequence[Message]) -> list[Message]:
    out: list[Message] = []
    for message in messages:
        out.extend(protocol.receive(message))
    return out


@router.post("/presign/step", response_model=PresignResponse)
def presign_step(body: PresignStepRequest, claims: ThresholdEcdsa, ctx: Ctx) -> PresignResponse:
    """Feed the client's messages to the relayer's restored state; CAS the next state."""
    relayer = _relayer_for(ctx, claims, body.relayer_key_id)
    scope = claims.scope()
    sessions = ctx.store.presign_sessions
    try:
        record = sessions.get_session(body.presign_session_id, scope=scope)
    except SessionExpiredError:
        raise PresignSessionExpired(
            "the presign session has expired: start a new one with presign/init"
        ) from None
    request = _step_digest(body)
    if record.version != body.expected_version:
        replayed = _replay(ctx, body, record, request)
        if replayed is not None:
            return replayed
        raise StaleSessionStateError(
            f"presign session {record.session_id!r} is at version {record.version}, not "
            f"{body.expected_version}: another step won; start a new presign session",
            expected_version=body.expected_version,
            current_version=record.version,
        )
    requested = PresignStage(body.stage)
    _check_step(record, requested)
    incoming = _messages_in(body.messages)
    protocol = Protocol.from_bytes(_open_state(ctx, record).protocol)
    presignature_id: str | None = None
    try:
        if record.stage is PresignStage.TRIPLES:
            assert isinstance(protocol, TripleGeneration), "sealed state of another stage"
            outgoing = _feed(protocol, incoming)
            stage = PresignStage.TRIPLES_DONE if protocol.done else PresignStage.TRIPLES
        else:
            if record.stage is PresignStage.TRIPLES_DONE:
                assert isinstance(protocol, TripleGeneration), "sealed state of another stage"
                triples: list[TripleShare] = protocol.result
                protocol = Presign(
                    session_id=flow_session_id("presign", body.relayer_key_id, record.session_id),
                    key_share=relayer.key_share(),
                    triple0=triples[0],
                    triple1=triples[1],
                    participants=PARTICIPANTS,
                )
                outgoing = protocol.start()
            else:
                assert isinstance(protocol, Presign), "sealed state of another stage"
                outgoing = []
            outgoing += _feed(protocol, incoming)
            stage = PresignStage.DONE if protocol.done else PresignStage.PRESIGN
    except CosignerError:
        # A refused message or an aborted round ends the session: a state is never run twice,
        # so no input can be tried against it again (no selective-failure oracle).
        sessions.delete_session(record.session_id)
        raise
    answer = tuple(_messages_out(outgoing))
    if stage is PresignStage.DONE:
        presignature = protocol.result
        assert isinstance(presignature, Presignature)
        presignature_id = presignature.presignature_id.hex()
        state = _StepState(b"", request, answer, presignature_id)
    else:
        state = _StepState(protocol.to_bytes(), request, answer)
    # The swap decides which computation counts; only its winner's messages leave. The record
    # keeps them (sealed) with the request's digest, so a retry of this very request, on any
    # instance, is answered with them again instead of being refused (_replay).
    try:
        moved = sessions.advance_session_cas(
            record.session_id,
            body.expected_version,
            scope=scope,
            stage=stage,
            state=_seal_state(ctx, state, record.session_id),
        )
    except StaleSessionStateError:
        # The same request may have won on another instance meanwhile (a client's retry).
        replayed = _replay(ctx, body, sessions.get_session(record.session_id, scope=scope), request)
        if replayed is None:
            raise
        return replayed
    fault_point(AFTER_PRESIGN_CAS)
    if stage is PresignStage.DONE:
        presignature = protocol.result
        assert isinstance(presignature, Presignature)
        _pool_presignature(ctx, claims, body.relayer_key_id, presignature)
        # The record stays, at done, until it expires: the last answer can be replayed too.
    return PresignResponse(
        presign_session_id=record.session_id,
        version=moved.version,
        stage=str(moved.stage),
        expires_at=moved.expires_at_ms,
        messages=list(answer),
        presignature_id=presignature_id,
    )


def _replay(
    ctx: ServerContext, body: PresignStepRequest, record: PresignSession, request: bytes
) -> PresignResponse | None:
    """The answer the winning step gave, if ``body`` is that very step again; else None.

    A client that lost an answer (its instance died after the swap, or the
    connection broke) sends the same request again; it gets the same answer,
    computed once. Any other request for an old version is stale. At done the
    answer is replayed only if the presignature reached the pool (an instance
    that died between the swap and the pool lost it: start over).
    """
    if record.version != body.expected_version + 1:
        return None
    stored = _open_state(ctx, record)
    if not stored.request or not secrets.compare_digest(stored.request, request):
        return None
    presignature_id: str | None = None
    if record.stage is PresignStage.DONE:
        try:
            ctx.store.presignatures.status(body.relayer_key_id, stored.presignature_id)
        except NotFoundError:
            return None
        presignature_id = stored.presignature_id
    return PresignResponse(
        presign_session_id=record.session_id,
        version=record.version,
        stage=str(record.stage),
        expires_at=record.expires_at_ms,
        messages=list(stored.answer),
        presignature_id=presignature_id,
    )


def _presignature_record_id(key_id: str, presignature_id: str) -> str:
    return f"{key_id}/{presignature_id}"


def _pool_presignature(
    ctx: ServerContext, claims: ThresholdClaims, key_id: str, presignature: Presignature
) -> None:
    _, cipher = scheme_of(ctx).secrets()
    presignature_id = presignature.presignature_id.hex()
    secret = cipher.seal(
        presignature.to_bytes(),
        kind=PRESIGNATURE_KIND,
        record_id=_presignature_record_id(key_id, presignature_id),
    )
    ctx.store.presignatures.put(
        key_id,
        presignature_id,
        secret=secret,
        public=presignature.big_r.to_bytes(),
        scheme=SCHEME_ECDSA_2P_V1,
    )
    ctx.audit(
        "presignature",
        claims.user_id,
        {"scheme": SCHEME_ECDSA_2P_V1, "relayerKeyId": key_id, "presignatureId": presignature_id},
    )


# -- orphaned presignatures ---------------------------------------------------------------------

MAX_DISCARD: Final = 256


class PooledPresignatureOut(ResponseModel):
    presignature_id: str
    created_at: int = Field(description="when it was pooled, ms since the epoch")


class PresignaturesResponse(ResponseModel):
    relayer_key_id: str
    presignatures: list[PooledPresignatureOut] = Field(
        description="the key's available presignatures, oldest first (ids only, no secrets)"
    )
    max_age_seconds: int = Field(
        description="the server discards available presignatures older than this (0: never)"
    )


class DiscardPresignaturesRequest(RequestModel):
    relayer_key_id: KeyId
    presignature_ids: list[PresignatureId] = Field(min_length=1, max_length=MAX_DISCARD)


class DiscardPresignaturesResponse(ResponseModel):
    relayer_key_id: str
    discarded: int = Field(
        description="how many of the ids were ever pooled for this key; each of them is "
        "consumed or discarded now, never to be offered again"
    )


@router.get("/presignatures", response_model=PresignaturesResponse)
def list_presignatures(
    claims: ThresholdEcdsa,
    ctx: Ctx,
    relayer_key_id: Annotated[KeyId, Query(alias="relayerKeyId")],
) -> PresignaturesResponse:
    """The key's available presignatures, so a client can find the orphans among them.

    An orphan is a pooled presignature whose client half is gone (the client
    lost its memory, or the answer that completed its half never arrived).
    """
    _relayer_for(ctx, claims, relayer_key_id)
    pooled = ctx.store.presignatures.list_available(relayer_key_id)
    return PresignaturesResponse(
        relayer_key_id=relayer_key_id,
        presignatures=[
            PooledPresignatureOut(presignature_id=p.presignature_id, created_at=p.created_at_ms)
            for p in pooled
        ],
        max_age_seconds=ctx.settings.presignature_max_age_s,
    )


@router.post("/presignatures/discard", response_model=DiscardPresignaturesResponse)
def discard_presignatures(
    body: DiscardPresignaturesRequest, claims: ThresholdEcdsa, ctx: Ctx
) -> DiscardPresignaturesResponse:
    """Discard some of the key's presignatures for good (available or reserved ones).

    Discarding is always safe: a discarded presignature is never used again,
    and a client that did hold its half gets ``pool_empty`` for it and
    presigns anew. Nothing ever puts one back: a presignature that may have
    left the pool may have had its client half used, and a second signature
    with one presignature reveals the key. Ids that were never pooled for this
    key are ignored.
    """
    key_id = body.relayer_key_id
    _relayer_for(ctx, claims, key_id)
    pool = ctx.store.presignatures
    discarded = []
    for presignature_id in dict.fromkeys(body.presignature_ids):
        try:
            pool.discard(key_id, presignature_id)
        except NotFoundError:
            continue
        discarded.append(presignature_id)
    if discarded:
        ctx.audit(
            "presignature_discard",
            claims.user_id,
            {"scheme": SCHEME_ECDSA_2P_V1, "relayerKeyId": key_id, "presignatureIds": discarded},
        )
    return DiscardPresignaturesResponse(relayer_key_id=key_id, discarded=len(discarded))


# -- sign -------------------------------------------------------------------------------------


@router.post("/sign/init", response_model=EcdsaSignInitResponse)
async def sign_init(
    body: EcdsaSignInitRequest, claims: ThresholdEcdsa, ctx: Ctx
) -> EcdsaSignInitResponse:
    """Check the mpcSessionId, reserve a presignature, then spend the id and open a signing session.

    ``pool_empty`` leaves the mpcSessionId unspent: refill and call again. One unit of
    work (:meth:`cosigner.store.Store.atomic`), committed without waiting for the disk
    (``flush=False``): nothing made with a secret leaves here, and the finalize that
    consumes the presignature flushes this commit with its own. A power cut before that
    only undoes the reservation and the signing session.
    """
    return await ctx.store.atomic(functools.partial(_sign_init, body, claims, ctx), flush=False)


def _sign_init(
    body: EcdsaSignInitRequest, claims: ThresholdClaims, ctx: ServerContext
) -> EcdsaSignInitResponse:
    scheme = scheme_of(ctx)
    key_id = body.relayer_key_id
    _relayer_for(ctx, claims, key_id)
    digest = decode(body.signing_digest)
    check_mpc_session(ctx, scheme, claims, body.mpc_session_id, key_id, digest)
    spend = functools.partial(spend_mpc_session, ctx, scheme, body.mpc_session_id)
    _, answer = _open_signing(ctx, claims, key_id, digest, body, spend)
    return answer


T = TypeVar("T")


def _open_signing(
    ctx: ServerContext,
    claims: ThresholdClaims,
    key_id: str,
    digest: bytes,
    fields: EcdsaSignInitFields,
    spend: Callable[[], T],
) -> tuple[T, EcdsaSignInitResponse]:
    """Reserve a presignature, ``spend()`` what pays for it, store the signing session.

    The reservation comes first, so ``pool_empty`` spends nothing. If the
    spend or the store fails, nothing made with the reservation has left, so
    it is put back (:meth:`~cosigner.store.PresignaturePool.release`; on SQL
    stores the unit's rollback undoes it as well): a refused request never
    costs a presignature.
    """
    pool = ctx.store.presignatures
    reservation = pool.reserve(key_id, presignature_id=fields.presignature_id)
    relayer_entropy = secrets.token_bytes(32)
    state = {
        "digest": b64u_encode(digest),
        "presignatureId": reservation.presignature_id,
        "clientEntropy": fields.client_entropy,
        "relayerEntropy": b64u_encode(relayer_entropy),
    }
    ttl_ms = min(reservation.expires_at_ms - ctx.clock(), ctx.settings.signing_session_ttl_s * 1000)
    try:
        spent = spend()
        record = put_signing_session(
            ctx, scheme_of(ctx), claims, SIGN_KIND, key_id, state, ttl_ms=max(ttl_ms, 1)
        )
    except CosignerError:
        pool.release(key_id, reservation.presignature_id)
        raise
    return spent, EcdsaSignInitResponse(
        signing_session_id=record.session_id,
        presignature_id=reservation.presignature_id,
        relayer_entropy=b64u_encode(relayer_entropy),
        expires_at=record.expires_at_ms,
    )


@router.post("/sign/finalize", response_model=EcdsaSignFinalizeResponse)
async def sign_finalize(
    body: EcdsaSignFinalizeRequest, claims: ThresholdEcdsa, ctx: Ctx
) -> EcdsaSignFinalizeResponse:
    """Consume the presignature durably, then combine both shares, check, return the signature.

    One unit of work: the signing session is taken, the presignature
    consumed, the signature combined and checked and its audit entry written
    in one transaction, and the signature leaves only once that is committed.
    A client share that does not combine into a valid signature still
    consumes the presignature.
    """
    answer = await ctx.store.atomic(functools.partial(_sign_finalize, body, claims, ctx))
    # The consumption is durable now; a crash here loses the answer, never the single use.
    fault_point(AFTER_CONSUME)
    ctx.metrics.signatures.labels(scheme=NAME).inc()
    return answer


def _sign_finalize(
    body: EcdsaSignFinalizeRequest, claims: ThresholdClaims, ctx: ServerContext
) -> EcdsaSignFinalizeResponse:
    key_id = body.relayer_key_id
    relayer = _relayer_for(ctx, claims, key_id)
    client_share = decode(body.client_signature_share)
    if not 0 < int.from_bytes(client_share, "big") < GROUP.order:
        raise InvalidBody("clientSignatureShare: a scalar in [1, n), 32 bytes big-endian")
    state = take_signing_session(
        ctx, scheme_of(ctx), claims, SIGN_KIND, body.signing_session_id, key_id
    )
    # From here on the signing session is spent, whatever happens: a refusal keeps the take.
    try:
        presignature_id = str(state["presignatureId"])
        # The single-winner consumption, durable before the signature leaves (sign_finalize).
        consumed = ctx.store.presignatures.consume(key_id, presignature_id)
        signature, digest = _combine(ctx, state, consumed, body, relayer, client_share)
    except CosignerError as exc:
        raise CommitAndRaise(exc) from None
    ctx.audit(
        "signature",
        claims.user_id,
        {
            "scheme": SCHEME_ECDSA_2P_V1,
            "relayerKeyId": key_id,
            "sessionId": claims.session_id,
            "presignatureId": presignature_id,
            "signingDigestSha256": hashlib.sha256(digest).hexdigest(),
            "signature": b64u_encode(signature),
        },
    )
    return EcdsaSignFinalizeResponse(
        signature=b64u_encode(signature),
        recovery_id=signature[64],
        public_key=b64u_encode(relayer.public_key),
        relayer_key_id=key_id,
        signing_digest=b64u_encode(digest),
    )


def _combine(
    ctx: ServerContext,
    state: dict[str, Any],
    consumed: ConsumedPresignature,
    body: EcdsaSignFinalizeRequest,
    relayer: RelayerEcdsaKey,
    client_share: bytes,
) -> tuple[bytes, bytes]:
    """The relayer's share from the consumed presignature, combined with the client's, checked."""
    _, cipher = scheme_of(ctx).secrets()
    key_id = body.relayer_key_id
    presignature_id = consumed.presignature_id
    presignature = Presignature.from_bytes(
        cipher.open(
            consumed.secret,
            kind=PRESIGNATURE_KIND,
            record_id=_presignature_record_id(key_id, presignature_id),
        )
    )
    digest = b64u_decode(state["digest"])
    sign_session_id = flow_session_id("sign", key_id, body.signing_session_id)
    signing = Sign(
        session_id=sign_session_id,
        presignature=presignature,
        digest=digest,
        coordinator=RELAYER_ID,
        participants=PARTICIPANTS,
        public_key=relayer.public_key,
        entropy=sign_entropy(
            b64u_decode(state["clientEntropy"]), b64u_decode(state["relayerEntropy"])
        ),
    )
    signing.start()
    signing.receive(Message(Sign.NAME, sign_session_id, 0, CLIENT_ID, RELAYER_ID, client_share))
    signature = signing.result.to_bytes()
    # An independent check (libsecp256k1's recovery) before the signature leaves.
    recovered = CoincurvePublicKey.from_signature_and_message(signature, digest, hasher=None)
    if not secrets.compare_digest(recovered.format(compressed=True), relayer.public_key):
        raise CosignerError("the combined signature does not recover the group key")
    return signature, digest


# -- export -------------------------------------------------------------------------------------

EXPORT_SHARE_ENCODING: Final = "x_relayer, the relayer's additive secret, 32-byte big-endian scalar"


@router.post("/export", response_model=ExportResponse)
def export(body: ExportRequest, app: AppSessionDep, ctx: Ctx) -> ExportResponse:
    """After a passkey step-up: the relayer's share, encrypted to the client's X25519 key.

    With its own ``x_client``, the client gets the whole key
    ``x = x_client + x_relayer (mod n)``; ``x * G`` is the group key.
    """
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    key = load_user_key(ctx, scheme, app.user_id, body.relayer_key_id)
    return export_response(
        ctx,
        scheme,
        app,
        body,
        key,
        lambda: GROUP.encode_scalar(stored_relayer_key(master, key).x_relayer),
        EXPORT_SHARE_ENCODING,
    )
