"""``/threshold-ed25519/*``: two-party FROST(Ed25519), scheme ``threshold-ed25519-frost-2p-v1``.

RFC 9591 with two signers, client (identifier 1) and relayer (identifier 2),
whose shares come from :mod:`cosigner.keys` (seed 000, locked): the client's
additive secret from its passkey PRF output, the relayer's from
``COSIGNER_ED25519_MASTER_SECRET``, the user, the rpId and the client's
verifying share. Protocol shares are ``x_client / 2`` and ``x_relayer / -1``
(:func:`cosigner.keys.frost_two_party_v1`), so a signature by both verifies
as one ordinary Ed25519 signature under ``(x_client + x_relayer) * G``.

* ``keygen`` (app session): the client sends ``x_client * G``; the relayer
  derives its share, stores the key and returns the group key and its
  ``relayerKeyId``. The same inputs give the same key, so keygen is
  idempotent and a lost server recovers every key from the master secret.
* ``session`` (app session): a threshold session for one key.
* ``authorize`` (threshold session): spends one use and binds the exact
  message (``signingDigest``), or the chain intent whose digest the server
  recomputes, to a single-use ``mpcSessionId`` valid 60 s.
* ``sign/init`` (threshold session): checks the ``mpcSessionId``, takes
  the client's round-one commitments (RFC 9591 section 5.1), commits, then
  spends the ``mpcSessionId`` and stores its nonces encrypted and single-use
  under a new signing session, in one store transaction where it has them.
* ``sign/finalize`` (threshold session): takes the signing session out of
  the store, signs (section 5.2), aggregates with the client's share (5.3),
  verifies the signature with an independent Ed25519 verifier and writes its
  audit entry, all in one unit of work; the signature is returned only once
  that unit is committed, so the nonces are consumed durably before anything
  computed with them leaves the server.
* ``export`` (app session and passkey step-up): the relayer's additive
  share, encrypted to an X25519 key the client sent.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, TypeVar

from cryptography.exceptions import InvalidSignature as OpenSslInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Depends, Response
from pydantic import Field

from cosigner import frost
from cosigner.errors import CosignerError
from cosigner.keys import (
    SCHEME_ED25519_2P_V1,
    SCHEMES,
    KeyDerivationError,
    derive_relayer_share,
)
from cosigner.server.context import ServerContext, ThresholdScheme
from cosigner.server.deps import AppSessionDep, Ctx, threshold_session
from cosigner.server.errors import ERROR_RESPONSES
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
    MAX_MESSAGE_BYTES,
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
from cosigner.server.sessions import (
    CLIENT_PARTICIPANT_ID,
    RELAYER_PARTICIPANT_ID,
    THRESHOLD_ED25519_KIND,
    ThresholdClaims,
)
from cosigner.server.threshold import (
    PARTICIPANT_IDS,
    RELAYER_KEY_CACHE_SIZE,
    MasterSecretMismatch,
    check_key_scope,
    check_session_live,
    load_user_key,
    put_signing_session,
    relayer_key_id,
    take_mpc_session,
    take_signing_session,
)
from cosigner.store import (
    AlreadyExistsError,
    AuthSession,
    CommitAndRaise,
    KeyRecord,
)

NAME: Final = "ed25519"
SCHEME = SCHEMES[SCHEME_ED25519_2P_V1]
SUITE = frost.ciphersuite("ed25519")
GROUP = SCHEME.group
SIGN_KIND: Final = "sign_ed25519"
_INV_CLIENT_LAMBDA: Final = pow(SCHEME.client_lagrange, -1, GROUP.order)

ThresholdEd25519 = Annotated[ThresholdClaims, Depends(threshold_session(THRESHOLD_ED25519_KIND))]


def scheme_of(ctx: ServerContext) -> ThresholdScheme:
    return ctx.scheme(NAME)


# -- key material ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RelayerKey:
    """The relayer's side of one key, derived from the master secret (cached per process).

    The derivation is deterministic, so :func:`derive_relayer_key` keeps the
    last :data:`RELAYER_KEY_CACHE_SIZE` keys it derived.
    """

    x_relayer: int = field(repr=False)
    package: frost.KeyPackage = field(repr=False)
    public: frost.PublicKeyPackage

    @property
    def public_key(self) -> bytes:
        return self.public.verifying_key.to_bytes()

    @property
    def relayer_verifying_share(self) -> bytes:
        """``x_relayer * G``, the additive verifying share."""
        return GROUP.base_mul(self.x_relayer).to_bytes()


@functools.lru_cache(maxsize=RELAYER_KEY_CACHE_SIZE)
def derive_relayer_key(
    master_secret: bytes, user_id: str, rp_id: str, client_verifying_share: bytes
) -> RelayerKey:
    """The relayer's FROST key package and the group's public key package."""
    x_relayer = derive_relayer_share(
        master_secret,
        user_id=user_id,
        rp_id=rp_id,
        client_verifying_share=client_verifying_share,
        scheme_id=SCHEME_ED25519_2P_V1,
    )
    client_additive = GROUP.decode_element(client_verifying_share)
    verifying_key = client_additive + GROUP.base_mul(x_relayer)
    if verifying_key.is_identity:
        raise KeyDerivationError("the client's verifying share cancels the relayer's")
    relayer_share = SCHEME.relayer_share(x_relayer)
    relayer_verifying = GROUP.base_mul(relayer_share)
    package = frost.KeyPackage(
        SUITE, RELAYER_PARTICIPANT_ID, relayer_share, relayer_verifying, verifying_key, 2
    )
    public = frost.PublicKeyPackage(
        SUITE,
        {
            CLIENT_PARTICIPANT_ID: client_additive * _INV_CLIENT_LAMBDA,
            RELAYER_PARTICIPANT_ID: relayer_verifying,
        },
        verifying_key,
        2,
    )
    return RelayerKey(x_relayer, package, public)


def stored_relayer_key(master_secret: bytes, record: KeyRecord) -> RelayerKey:
    value = record.metadata.get("clientVerifyingShare")
    if not isinstance(value, str):
        raise MasterSecretMismatch(f"key {record.key_id!r} lacks its client verifying share")
    key = derive_relayer_key(master_secret, record.user_id, record.rp_id, b64u_decode(value))
    if not secrets.compare_digest(key.public_key, record.public_key):
        raise MasterSecretMismatch(
            f"key {record.key_id!r} was made under another master secret; "
            "restore COSIGNER_ED25519_MASTER_SECRET"
        )
    return key


# -- bodies -------------------------------------------------------------------------------------

Element = Annotated[str, B64u(32, 32)]
Scalar = Annotated[str, B64u(32, 32)]


class KeygenRequest(RequestModel):
    client_verifying_share: Element = Field(
        description="x_client * G (32-byte Ed25519 point), x_client derived from the passkey PRF"
    )


class KeygenResponse(ResponseModel):
    relayer_key_id: str
    scheme_id: str
    public_key: str
    client_verifying_share: str
    relayer_verifying_share: str
    participant_ids: list[int]
    client_participant_id: int
    relayer_participant_id: int
    created: bool


class Commitments(RequestModel):
    hiding: Element
    binding: Element


class CommitmentsOut(ResponseModel):
    hiding: str
    binding: str


class SignInitFields(RequestModel):
    client_commitments: Commitments


class SignInitRequest(SignInitFields):
    mpc_session_id: Id
    relayer_key_id: KeyId
    signing_digest: Annotated[str, B64u(1, MAX_MESSAGE_BYTES)]


class SignInitResponse(ResponseModel):
    signing_session_id: str
    relayer_commitments: CommitmentsOut
    expires_at: int


class Ed25519AuthorizeRequest(AuthorizeRequest):
    sign_init: SignInitFields | None = Field(
        default=None,
        description="open the signing session in this request, as sign/init would for the "
        "message authorized here: no mpcSessionId, one round trip less",
    )


class Ed25519AuthorizeResponse(AuthorizeResponse):
    sign_init: SignInitResponse | None = Field(
        default=None, description="the signing session, when the request carried signInit"
    )


class SignFinalizeRequest(RequestModel):
    signing_session_id: Id
    relayer_key_id: KeyId
    client_signature_share: Scalar


class SignFinalizeResponse(ResponseModel):
    signature: str
    public_key: str
    relayer_key_id: str
    signing_digest: str


# -- routes -------------------------------------------------------------------------------------

router = APIRouter(
    prefix="/threshold-ed25519",
    tags=["threshold-ed25519"],
    responses=ERROR_RESPONSES,
)


@router.get("/healthz", response_model=HealthResponse)
def healthz(ctx: Ctx) -> HealthResponse:
    """200 when the scheme is enabled (its master secret is configured), 503 otherwise."""
    return healthz_response(scheme_of(ctx))


@router.post("/keygen", response_model=KeygenResponse)
def keygen(body: KeygenRequest, app: AppSessionDep, ctx: Ctx) -> KeygenResponse:
    """Derive the relayer share for the client's verifying share and store the key."""
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    rp_id = ctx.settings.rp_id
    client_share = decode(body.client_verifying_share)
    derived = derive_relayer_key(master, app.user_id, rp_id, client_share)
    relayer_additive = derived.relayer_verifying_share
    key_id = relayer_key_id(SCHEME_ED25519_2P_V1, app.user_id, rp_id, client_share)
    public_key = derived.public_key
    created = True
    try:
        ctx.store.keys.create(
            key_id,
            user_id=app.user_id,
            rp_id=rp_id,
            scheme_id=SCHEME_ED25519_2P_V1,
            public_key=public_key,
            participant_ids=PARTICIPANT_IDS,
            metadata={
                "version": 1,
                "clientVerifyingShare": b64u_encode(client_share),
                "relayerVerifyingShare": b64u_encode(relayer_additive),
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
                "scheme": SCHEME_ED25519_2P_V1,
                "relayerKeyId": key_id,
                "publicKey": b64u_encode(public_key),
            },
        )
    return KeygenResponse(
        relayer_key_id=key_id,
        scheme_id=SCHEME_ED25519_2P_V1,
        public_key=b64u_encode(public_key),
        client_verifying_share=b64u_encode(client_share),
        relayer_verifying_share=b64u_encode(relayer_additive),
        participant_ids=list(PARTICIPANT_IDS),
        client_participant_id=CLIENT_PARTICIPANT_ID,
        relayer_participant_id=RELAYER_PARTICIPANT_ID,
        created=created,
    )


@router.post("/session", response_model=SessionResponse)
def session(
    body: SessionRequest, response: Response, app: AppSessionDep, ctx: Ctx
) -> SessionResponse:
    """Mint a threshold session for one of the user's keys (<= 10 minutes, <= 20 uses)."""
    return mint_session_response(ctx, scheme_of(ctx), body, response, app)


@router.post("/authorize", response_model=Ed25519AuthorizeResponse)
async def authorize_route(
    body: Ed25519AuthorizeRequest, claims: ThresholdEd25519, ctx: Ctx
) -> Ed25519AuthorizeResponse:
    """Spend one use of the threshold session on one message; returns its mpcSessionId.

    With ``signInit`` (the client's commitments), the use is spent on a signing
    session opened in the same unit instead, exactly as ``sign/init`` opens it.
    """
    return await authorize_request(
        ctx,
        scheme_of(ctx),
        claims,
        body,
        Ed25519AuthorizeResponse,
        functools.partial(_authorize_and_open, body, claims, ctx),
    )


def _authorize_and_open(
    body: Ed25519AuthorizeRequest,
    claims: ThresholdClaims,
    ctx: ServerContext,
    binding: Binding,
    spend: Callable[[], AuthSession],
) -> tuple[AuthSession, SignInitResponse]:
    key = load_user_key(ctx, scheme_of(ctx), claims.user_id, body.relayer_key_id)
    assert body.sign_init is not None, "called for a body with signInit only"
    return _open_signing(ctx, claims, key, binding.message, body.sign_init, spend)


def _decode_commitments(c: Commitments) -> frost.SigningCommitments:
    return frost.SigningCommitments(
        SUITE, GROUP.decode_element(decode(c.hiding)), GROUP.decode_element(decode(c.binding))
    )


def _commitments_out(c: frost.SigningCommitments) -> CommitmentsOut:
    return CommitmentsOut(
        hiding=b64u_encode(c.hiding.to_bytes()), binding=b64u_encode(c.binding.to_bytes())
    )


@router.post("/sign/init", response_model=SignInitResponse)
async def sign_init(body: SignInitRequest, claims: ThresholdEd25519, ctx: Ctx) -> SignInitResponse:
    """Round one: consume the mpcSessionId, commit, store the nonces sealed and single-use.

    One unit of work, committed without waiting for the disk (``flush=False``): only
    commitments leave here, and the finalize that takes the nonces flushes this commit
    with its own. A power cut before that loses the nonces unused.
    """
    return await ctx.store.atomic(functools.partial(_sign_init, body, claims, ctx), flush=False)


def _sign_init(
    body: SignInitRequest, claims: ThresholdClaims, ctx: ServerContext
) -> SignInitResponse:
    scheme = scheme_of(ctx)
    check_key_scope(claims, body.relayer_key_id)
    check_session_live(ctx, claims)
    key = load_user_key(ctx, scheme, claims.user_id, body.relayer_key_id)
    digest = decode(body.signing_digest)
    # The mpcSessionId is spent and the nonces stored in one unit: one commit on SQL stores. Of
    # concurrent calls with one id, one spends it; the others store nothing.
    spend = functools.partial(
        take_mpc_session, ctx, scheme, claims, body.mpc_session_id, body.relayer_key_id, digest
    )
    _, answer = _open_signing(ctx, claims, key, digest, body, spend)
    return answer


T = TypeVar("T")


def _open_signing(
    ctx: ServerContext,
    claims: ThresholdClaims,
    key: KeyRecord,
    digest: bytes,
    fields: SignInitFields,
    spend: Callable[[], T],
) -> tuple[T, SignInitResponse]:
    """Commit, check both commitments, ``spend()`` what pays, store the nonces sealed.

    The commitments are checked (no identity elements) before anything is
    spent or stored; the nonces are stored for ``digest``, the message that
    ``spend`` paid for.
    """
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    client_commitments = _decode_commitments(fields.client_commitments)
    nonces, relayer_commitments = frost.commit(stored_relayer_key(master, key).package)
    frost.SigningPackage(
        SUITE,
        {CLIENT_PARTICIPANT_ID: client_commitments, RELAYER_PARTICIPANT_ID: relayer_commitments},
        digest,
    )
    spent = spend()
    hiding, binding = nonces.consume()
    state = {
        "message": b64u_encode(digest),
        "client": [
            b64u_encode(client_commitments.hiding.to_bytes()),
            b64u_encode(client_commitments.binding.to_bytes()),
        ],
        "nonces": [
            b64u_encode(GROUP.encode_scalar(hiding)),
            b64u_encode(GROUP.encode_scalar(binding)),
        ],
    }
    record = put_signing_session(
        ctx,
        scheme,
        claims,
        SIGN_KIND,
        key.key_id,
        state,
        ttl_ms=ctx.settings.signing_session_ttl_s * 1000,
    )
    return spent, SignInitResponse(
        signing_session_id=record.session_id,
        relayer_commitments=_commitments_out(relayer_commitments),
        expires_at=record.expires_at_ms,
    )


@router.post("/sign/finalize", response_model=SignFinalizeResponse)
async def sign_finalize(
    body: SignFinalizeRequest, claims: ThresholdEd25519, ctx: Ctx
) -> SignFinalizeResponse:
    """Round two: consume the nonces durably, sign, aggregate, verify, return the signature.

    One unit of work: the nonces are taken out of the store, the signature is
    made and checked, and its audit entry written, in one transaction; the
    signature leaves only once that is committed. A client share that does
    not verify still consumes the nonces.
    """
    answer = await ctx.store.atomic(functools.partial(_sign_finalize, body, claims, ctx))
    ctx.metrics.signatures.labels(scheme=NAME).inc()
    return answer


def _sign_finalize(
    body: SignFinalizeRequest, claims: ThresholdClaims, ctx: ServerContext
) -> SignFinalizeResponse:
    scheme = scheme_of(ctx)
    master, _ = scheme.secrets()
    check_key_scope(claims, body.relayer_key_id)
    check_session_live(ctx, claims)
    client_share = frost.SignatureShare(
        SUITE, GROUP.decode_scalar(decode(body.client_signature_share))
    )
    # The key before the take: an unknown key or another master secret spends no nonces.
    key = load_user_key(ctx, scheme, claims.user_id, body.relayer_key_id)
    relayer = stored_relayer_key(master, key)
    # The single-winner consumption of the relayer's nonces, durable when this unit commits.
    state = take_signing_session(
        ctx, scheme, claims, SIGN_KIND, body.signing_session_id, body.relayer_key_id
    )
    # From here on the nonces are spent, whatever happens: a refusal keeps the take.
    try:
        message = b64u_decode(state["message"])
        signature = _sign_and_aggregate(state, message, client_share, relayer)
    except CosignerError as exc:
        raise CommitAndRaise(exc) from None
    public_key = relayer.public_key
    ctx.audit(
        "signature",
        claims.user_id,
        {
            "scheme": SCHEME_ED25519_2P_V1,
            "relayerKeyId": key.key_id,
            "sessionId": claims.session_id,
            "signingDigestSha256": hashlib.sha256(message).hexdigest(),
            "signature": b64u_encode(signature),
        },
    )
    return SignFinalizeResponse(
        signature=b64u_encode(signature),
        public_key=b64u_encode(public_key),
        relayer_key_id=key.key_id,
        signing_digest=b64u_encode(message),
    )


def _sign_and_aggregate(
    state: dict[str, Any], message: bytes, client_share: frost.SignatureShare, relayer: RelayerKey
) -> bytes:
    """The relayer's share with the stored nonces, aggregated with the client's and checked."""
    client_commitments = frost.SigningCommitments(
        SUITE, *(GROUP.decode_element(b64u_decode(v)) for v in state["client"])
    )
    hiding, binding = (GROUP.decode_scalar(b64u_decode(v)) for v in state["nonces"])
    nonces = frost.SigningNonces(SUITE, hiding, binding)
    package = frost.SigningPackage(
        SUITE,
        {CLIENT_PARTICIPANT_ID: client_commitments, RELAYER_PARTICIPANT_ID: nonces.commitments},
        message,
    )
    relayer_share = frost.sign(package, nonces, relayer.package)
    signature = frost.aggregate(
        package,
        {CLIENT_PARTICIPANT_ID: client_share, RELAYER_PARTICIPANT_ID: relayer_share},
        relayer.public,
    )
    try:
        Ed25519PublicKey.from_public_bytes(relayer.public_key).verify(signature, message)
    except OpenSslInvalidSignature:  # pragma: no cover - aggregate verified it already
        raise CosignerError("the aggregated signature does not verify") from None
    return signature


EXPORT_SHARE_ENCODING: Final = (
    "x_relayer, the relayer's additive secret, 32-byte little-endian scalar"
)


@router.post("/export", response_model=ExportResponse)
def export(body: ExportRequest, app: AppSessionDep, ctx: Ctx) -> ExportResponse:
    """After a passkey step-up: the relayer's share, encrypted to the client's X25519 key.

    With its own ``x_client``, the client gets the whole key
    ``x = x_client + x_relayer (mod L)``; ``x * G`` is the group key.
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
