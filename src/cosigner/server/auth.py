"""Login: passkeys (WebAuthn), Google OIDC, the identity map, link and unlink.

Routes (seed 000, "Passkey auth hard-cut to /auth/passkey/*"):

* ``POST /auth/passkey/options``: a challenge for ``registration`` (a new
  user), ``login``, ``link`` (another passkey for the signed-in user) or
  ``step_up`` (re-prove a passkey before ``unlink`` or a key export). The
  challenge is stored single-use with a TTL.
* ``POST /auth/passkey/verify``: the registration or login response; on
  success, an app session.
* ``POST /auth/google/verify``: a Google ``id_token``; a new subject gets a
  new user.
* ``GET /auth/identities``, ``POST /auth/link``, ``POST /auth/unlink``: the
  signed-in user's identities. Unlink needs a passkey step-up, refuses the
  last identity, and rotates the user's app-session version, which revokes
  every older app session (the response carries a fresh one).

WebAuthn Level 3 verification is the ``webauthn`` library's (challenge,
origin, rpId hash, user presence and verification, signature, sign
counter); the store then records the new counter atomically, so a cloned
authenticator racing the original is refused too. PRF outputs belong to the
client alone: a response that carries ``clientExtensionResults.prf.results``
is refused before anything else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Request, Response
from pydantic import Field, StringConstraints, field_validator, model_validator
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import options_to_json_dict
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from cosigner.server.context import ServerContext
from cosigner.server.deps import AppSessionDep, BearerCredentials, Ctx, app_session_from_request
from cosigner.server.errors import (
    ERROR_RESPONSES,
    Forbidden,
    IdentityConflict,
    InvalidChallenge,
    NotVerified,
    ProviderDisabled,
)
from cosigner.server.models import (
    B64u,
    Id,
    RequestModel,
    ResponseModel,
    SessionKindField,
    b64u_encode,
    decode,
)
from cosigner.server.sessions import APP_COOKIE, IssuedSession, set_session_cookie
from cosigner.store import AlreadyExistsError, NotFoundError, WebAuthnCredential

log = logging.getLogger("cosigner.server")

PASSKEY: Final = "passkey"
GOOGLE: Final = "google-oidc"
CHALLENGE_KIND: Final = "webauthn_challenge"
PRF_SALT: Final = hashlib.sha256(b"cosigner/passkey-prf/v1").digest()
"""The PRF input (``prf.eval.first``) the options ask for; clients derive their share from it."""
_TRANSPORTS: Final = frozenset(t.value for t in AuthenticatorTransport)

# -- login providers -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginProvider:
    id: str
    name: str
    enabled: bool


def login_providers(ctx: ServerContext) -> dict[str, LoginProvider]:
    """The login-provider registry: which ways of signing in this server offers."""
    return {
        PASSKEY: LoginProvider(PASSKEY, "Passkey (WebAuthn)", True),
        GOOGLE: LoginProvider(GOOGLE, "Google", ctx.google is not None),
    }


def new_user_id() -> str:
    return "usr_" + secrets.token_urlsafe(16)


# -- request and response bodies -----------------------------------------------------------

ClientDataJSON = Annotated[str, Field(alias="clientDataJSON"), Annotated[str, B64u(1, 4096)]]


class AttestationResponseBody(RequestModel):
    client_data_json: ClientDataJSON
    attestation_object: Annotated[str, B64u(1, 16384)]
    transports: list[Annotated[str, StringConstraints(max_length=32)]] | None = Field(
        default=None, max_length=10
    )
    authenticator_data: Annotated[str, B64u(1, 16384)] | None = None
    public_key: Annotated[str, B64u(1, 4096)] | None = None
    public_key_algorithm: int | None = None


class AssertionResponseBody(RequestModel):
    client_data_json: ClientDataJSON
    authenticator_data: Annotated[str, B64u(37, 16384)]
    signature: Annotated[str, B64u(1, 1024)]
    user_handle: Annotated[str, B64u(0, 64)] | None = None


def _no_prf_outputs(results: dict[str, Any]) -> dict[str, Any]:
    prf = results.get("prf")
    if isinstance(prf, dict) and "results" in prf:
        raise ValueError(
            "PRF outputs are the client's secret: remove clientExtensionResults.prf.results"
        )
    return results


MAX_CREDENTIAL_ID_BYTES: Final = 192
"""The longest credential id taken: its base64url (256 characters) is the passkey identity's
subject, and the store takes subjects of at most 256 characters."""


class _CredentialBody(RequestModel):
    id: Annotated[str, B64u(1, MAX_CREDENTIAL_ID_BYTES)]
    raw_id: Annotated[str, B64u(1, MAX_CREDENTIAL_ID_BYTES)]
    type: Literal["public-key"]
    authenticator_attachment: Literal["platform", "cross-platform"] | None = None
    client_extension_results: dict[str, Any] = Field(default_factory=dict)

    @field_validator("client_extension_results")
    @classmethod
    def _check_extensions(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _no_prf_outputs(value)

    @model_validator(mode="after")
    def _ids_agree(self) -> _CredentialBody:
        if self.id != self.raw_id:
            raise ValueError("id and rawId must be the same credential id")
        return self

    def to_webauthn(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True)


class RegistrationCredential(_CredentialBody):
    """A ``PublicKeyCredential`` from ``navigator.credentials.create()``, as JSON."""

    response: AttestationResponseBody


class AuthenticationCredential(_CredentialBody):
    """A ``PublicKeyCredential`` from ``navigator.credentials.get()``, as JSON."""

    response: AssertionResponseBody


class StepUp(RequestModel):
    """A fresh passkey assertion for a challenge from options with ``mode: step_up``."""

    challenge_id: Id
    credential: AuthenticationCredential


Purpose = Literal["unlink", "export"]


class PasskeyOptionsRequest(RequestModel):
    mode: Literal["registration", "login", "link", "step_up"]
    user_name: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    purpose: Purpose | None = Field(default=None, description="what a step_up is for")

    @model_validator(mode="after")
    def _purpose_for_step_up(self) -> PasskeyOptionsRequest:
        if (self.mode == "step_up") != (self.purpose is not None):
            raise ValueError("purpose is required with mode step_up, and only there")
        return self


class PasskeyOptionsResponse(ResponseModel):
    challenge_id: str
    mode: str
    public_key: dict[str, Any] = Field(
        description="PublicKeyCredentialCreationOptionsJSON or ...RequestOptionsJSON"
    )


class PasskeyVerifyRequest(RequestModel):
    challenge_id: Id
    credential: RegistrationCredential | AuthenticationCredential
    session_kind: SessionKindField = "jwt"


class GoogleVerifyRequest(RequestModel):
    id_token: Annotated[str, StringConstraints(min_length=1, max_length=16384)]
    session_kind: SessionKindField = "jwt"


class AppSessionResponse(ResponseModel):
    user_id: str
    session_kind: str
    expires_at: int = Field(description="milliseconds since the Unix epoch")
    session_token: str | None = Field(default=None, description="absent in cookie mode", repr=False)
    csrf_token: str | None = Field(default=None, description="cookie mode only", repr=False)
    new_user: bool = False
    credential_id: str | None = None


class IdentityBody(ResponseModel):
    provider: str
    subject: str
    created_at: int


class ProviderBody(ResponseModel):
    id: str
    name: str
    enabled: bool


class IdentitiesResponse(ResponseModel):
    user_id: str
    identities: list[IdentityBody]
    providers: list[ProviderBody]


class LinkGoogle(RequestModel):
    provider: Literal["google-oidc"]
    id_token: Annotated[str, StringConstraints(min_length=1, max_length=16384)]


class LinkPasskey(RequestModel):
    provider: Literal["passkey"]
    challenge_id: Id
    credential: RegistrationCredential


class LinkResponse(ResponseModel):
    identity: IdentityBody


class UnlinkRequest(RequestModel):
    provider: Literal["passkey", "google-oidc"]
    subject: Annotated[str, StringConstraints(min_length=1, max_length=1400)]
    step_up: StepUp
    session_kind: SessionKindField = "jwt"


class UnlinkResponse(ResponseModel):
    unlinked: IdentityBody
    session: AppSessionResponse


# -- challenges ------------------------------------------------------------------------------


def _store_challenge(ctx: ServerContext, data: dict[str, Any]) -> str:
    challenge_id = secrets.token_urlsafe(24)
    ctx.store.sessions.put(
        CHALLENGE_KIND,
        challenge_id,
        json.dumps(data, sort_keys=True).encode(),
        ttl_ms=ctx.settings.challenge_ttl_s * 1000,
    )
    return challenge_id


def take_challenge(ctx: ServerContext, challenge_id: str, mode: str) -> dict[str, Any]:
    """Consume a challenge (single use); refuse one of another mode."""
    try:
        record = ctx.store.sessions.take(CHALLENGE_KIND, challenge_id)
    except NotFoundError:
        raise InvalidChallenge(
            "the challenge is unknown, used or expired: request new options"
        ) from None
    data: dict[str, Any] = json.loads(record.data)
    if data.get("mode") != mode:
        raise InvalidChallenge(f"this challenge was issued for {data.get('mode')}, not {mode}")
    return data


def _prf_extension() -> dict[str, Any]:
    return {"prf": {"eval": {"first": b64u_encode(PRF_SALT)}}}


def _user_verification(ctx: ServerContext) -> UserVerificationRequirement:
    if ctx.settings.require_user_verification:
        return UserVerificationRequirement.REQUIRED
    return UserVerificationRequirement.PREFERRED


def _descriptors(
    credentials: tuple[WebAuthnCredential, ...],
) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(
            id=c.credential_id,
            transports=[AuthenticatorTransport(t) for t in c.transports if t in _TRANSPORTS],
        )
        for c in credentials
    ]


def _creation_options(
    ctx: ServerContext, user_id: str, user_name: str, exclude: tuple[WebAuthnCredential, ...]
) -> tuple[bytes, dict[str, Any]]:
    challenge = secrets.token_bytes(32)
    options = generate_registration_options(
        rp_id=ctx.settings.rp_id,
        rp_name=ctx.settings.rp_name,
        user_name=user_name,
        user_id=user_id.encode(),
        challenge=challenge,
        timeout=ctx.settings.challenge_ttl_s * 1000,
        attestation=AttestationConveyancePreference.NONE,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=_user_verification(ctx),
        ),
        exclude_credentials=_descriptors(exclude),
    )
    body = options_to_json_dict(options)
    body["extensions"] = _prf_extension()
    return challenge, body


def _request_options(
    ctx: ServerContext, allow: tuple[WebAuthnCredential, ...]
) -> tuple[bytes, dict[str, Any]]:
    challenge = secrets.token_bytes(32)
    options = generate_authentication_options(
        rp_id=ctx.settings.rp_id,
        challenge=challenge,
        timeout=ctx.settings.challenge_ttl_s * 1000,
        allow_credentials=_descriptors(allow),
        user_verification=_user_verification(ctx),
    )
    body = options_to_json_dict(options)
    body["extensions"] = _prf_extension()
    return challenge, body


# -- ceremonies ------------------------------------------------------------------------------


def _why(exc: Exception) -> str:
    return str(exc) if isinstance(exc, WebAuthnException) and str(exc) else "malformed response"


def _register(
    ctx: ServerContext, challenge: dict[str, Any], credential: RegistrationCredential
) -> WebAuthnCredential:
    """Verify an attestation and store the credential and its identity."""
    try:
        verified = verify_registration_response(
            credential=credential.to_webauthn(),
            expected_challenge=decode(str(challenge["challenge"])),
            expected_rp_id=ctx.settings.rp_id,
            expected_origin=list(ctx.settings.origins),
            require_user_verification=ctx.settings.require_user_verification,
        )
    except Exception as exc:
        raise NotVerified(f"the passkey registration does not verify: {_why(exc)}") from None
    user_id = str(challenge["userId"])
    transports = [t for t in (credential.response.transports or []) if t in _TRANSPORTS]
    try:
        stored = ctx.store.credentials.add(
            verified.credential_id,
            user_id=user_id,
            rp_id=ctx.settings.rp_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports,
        )
    except AlreadyExistsError:
        raise IdentityConflict("this passkey is registered already") from None
    try:
        ctx.store.identities.link(PASSKEY, b64u_encode(verified.credential_id), user_id)
    except BaseException:
        # No credential without its identity: it would log in a user nobody can see.
        ctx.store.credentials.delete(verified.credential_id)
        raise
    return stored


def _assert(
    ctx: ServerContext, challenge: dict[str, Any], credential: AuthenticationCredential
) -> WebAuthnCredential:
    """Verify an assertion by a registered credential; records the new sign counter."""
    credential_id = decode(credential.raw_id)
    try:
        stored = ctx.store.credentials.get(credential_id)
    except NotFoundError:
        raise NotVerified("this passkey is not registered here") from None
    if stored.rp_id != ctx.settings.rp_id:
        raise NotVerified("this passkey is registered for another relying party")
    handle = credential.response.user_handle
    if handle is not None and decode(handle) not in (b"", stored.user_id.encode()):
        raise NotVerified("the assertion's user handle is not this passkey's user")
    try:
        verified = verify_authentication_response(
            credential=credential.to_webauthn(),
            expected_challenge=decode(str(challenge["challenge"])),
            expected_rp_id=ctx.settings.rp_id,
            expected_origin=list(ctx.settings.origins),
            credential_public_key=stored.public_key,
            credential_current_sign_count=stored.sign_count,
            require_user_verification=ctx.settings.require_user_verification,
        )
    except Exception as exc:
        raise NotVerified(f"the passkey assertion does not verify: {_why(exc)}") from None
    return ctx.store.credentials.record_use(credential_id, verified.new_sign_count)


def verify_step_up(ctx: ServerContext, user_id: str, purpose: str, step_up: StepUp) -> str:
    """Check a fresh passkey assertion by the user for ``purpose``; returns the credential id."""
    challenge = take_challenge(ctx, step_up.challenge_id, "step_up")
    if challenge.get("purpose") != purpose or challenge.get("userId") != user_id:
        raise Forbidden(f"this step-up challenge was not issued to this user for {purpose}")
    stored = _assert(ctx, challenge, step_up.credential)
    if stored.user_id != user_id:
        raise Forbidden("the step-up passkey belongs to another user")
    return b64u_encode(stored.credential_id)


def session_response(
    ctx: ServerContext,
    response: Response,
    user_id: str,
    issued: IssuedSession,
    *,
    cookie: bool,
    new_user: bool = False,
    credential_id: str | None = None,
) -> AppSessionResponse:
    if cookie:
        max_age = (issued.expires_at_ms - ctx.clock()) // 1000
        set_session_cookie(response, APP_COOKIE, issued.token, max_age)
    return AppSessionResponse(
        user_id=user_id,
        session_kind="cookie" if cookie else "jwt",
        expires_at=issued.expires_at_ms,
        session_token=None if cookie else issued.token,
        csrf_token=issued.csrf_token,
        new_user=new_user,
        credential_id=credential_id,
    )


# -- routes ------------------------------------------------------------------------------------

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post("/passkey/options", response_model=PasskeyOptionsResponse)
def passkey_options(
    body: PasskeyOptionsRequest, request: Request, ctx: Ctx, credentials: BearerCredentials
) -> PasskeyOptionsResponse:
    """A WebAuthn challenge; ``link`` and ``step_up`` need an app session."""
    data: dict[str, Any] = {"mode": body.mode}
    if body.mode == "registration":
        user_id = new_user_id()
        challenge, options = _creation_options(ctx, user_id, body.user_name or user_id, ())
        data["userId"] = user_id
    elif body.mode == "login":
        challenge, options = _request_options(ctx, ())
    else:
        app = app_session_from_request(request, ctx, credentials)
        mine = ctx.store.credentials.list_for_user(app.user_id, rp_id=ctx.settings.rp_id)
        data["userId"] = app.user_id
        if body.mode == "link":
            name = body.user_name or app.user_id
            challenge, options = _creation_options(ctx, app.user_id, name, mine)
        else:
            if not mine:
                raise Forbidden("a step-up needs a passkey, and this user has none")
            challenge, options = _request_options(ctx, mine)
            data["purpose"] = body.purpose
    data["challenge"] = b64u_encode(challenge)
    challenge_id = _store_challenge(ctx, data)
    return PasskeyOptionsResponse(challenge_id=challenge_id, mode=body.mode, public_key=options)


@router.post("/passkey/verify", response_model=AppSessionResponse)
def passkey_verify(body: PasskeyVerifyRequest, response: Response, ctx: Ctx) -> AppSessionResponse:
    """Finish a registration (creates the user) or a login; returns an app session."""
    cookie = body.session_kind == "cookie"
    if isinstance(body.credential, RegistrationCredential):
        challenge = take_challenge(ctx, body.challenge_id, "registration")
        stored = _register(ctx, challenge, body.credential)
        credential_id = b64u_encode(stored.credential_id)
        ctx.audit("register", stored.user_id, {"provider": PASSKEY, "credentialId": credential_id})
        issued = ctx.app_sessions.issue(stored.user_id, cookie=cookie)
        return session_response(
            ctx,
            response,
            stored.user_id,
            issued,
            cookie=cookie,
            new_user=True,
            credential_id=credential_id,
        )
    challenge = take_challenge(ctx, body.challenge_id, "login")
    stored = _assert(ctx, challenge, body.credential)
    credential_id = b64u_encode(stored.credential_id)
    ctx.audit("login", stored.user_id, {"provider": PASSKEY, "credentialId": credential_id})
    issued = ctx.app_sessions.issue(stored.user_id, cookie=cookie)
    return session_response(
        ctx, response, stored.user_id, issued, cookie=cookie, credential_id=credential_id
    )


def _google(ctx: ServerContext, id_token: str) -> str:
    if ctx.google is None:
        raise ProviderDisabled("Google sign-in is not configured on this server")
    return ctx.google.verify(id_token).subject


@router.post("/google/verify", response_model=AppSessionResponse)
def google_verify(body: GoogleVerifyRequest, response: Response, ctx: Ctx) -> AppSessionResponse:
    """Sign in with a Google id_token; an unknown subject becomes a new user."""
    subject = _google(ctx, body.id_token)
    cookie = body.session_kind == "cookie"
    new_user = False
    try:
        user_id = ctx.store.identities.get(GOOGLE, subject).user_id
    except NotFoundError:
        user_id = ctx.store.identities.link(GOOGLE, subject, new_user_id()).user_id
        new_user = True
        ctx.audit("register", user_id, {"provider": GOOGLE})
    ctx.audit("login", user_id, {"provider": GOOGLE})
    issued = ctx.app_sessions.issue(user_id, cookie=cookie)
    return session_response(ctx, response, user_id, issued, cookie=cookie, new_user=new_user)


def _identity_body(provider: str, subject: str, created_at: int) -> IdentityBody:
    return IdentityBody(provider=provider, subject=subject, created_at=created_at)


@router.get("/identities", response_model=IdentitiesResponse)
def identities(app: AppSessionDep, ctx: Ctx) -> IdentitiesResponse:
    """The signed-in user's identities, and the login providers this server offers."""
    found = ctx.store.identities.list_for_user(app.user_id)
    return IdentitiesResponse(
        user_id=app.user_id,
        identities=[_identity_body(i.provider, i.subject, i.created_at_ms) for i in found],
        providers=[
            ProviderBody(id=p.id, name=p.name, enabled=p.enabled)
            for p in login_providers(ctx).values()
        ],
    )


@router.post("/link", response_model=LinkResponse)
def link(
    body: Annotated[LinkGoogle | LinkPasskey, Field(discriminator="provider")],
    app: AppSessionDep,
    ctx: Ctx,
) -> LinkResponse:
    """Link another identity (a Google account, another passkey) to the signed-in user."""
    if isinstance(body, LinkGoogle):
        subject = _google(ctx, body.id_token)
        try:
            identity = ctx.store.identities.link(GOOGLE, subject, app.user_id)
        except AlreadyExistsError:
            raise IdentityConflict("this Google account is linked to another user") from None
    else:
        challenge = take_challenge(ctx, body.challenge_id, "link")
        if challenge.get("userId") != app.user_id:
            raise Forbidden("this link challenge was issued to another user")
        stored = _register(ctx, challenge, body.credential)
        identity = ctx.store.identities.get(PASSKEY, b64u_encode(stored.credential_id))
    ctx.audit("link", app.user_id, {"provider": identity.provider, "subject": identity.subject})
    return LinkResponse(
        identity=_identity_body(identity.provider, identity.subject, identity.created_at_ms)
    )


@router.post("/unlink", response_model=UnlinkResponse)
def unlink(body: UnlinkRequest, response: Response, app: AppSessionDep, ctx: Ctx) -> UnlinkResponse:
    """Unlink an identity after a passkey step-up; revokes every older app session."""
    try:
        identity = ctx.store.identities.get(body.provider, body.subject)
    except NotFoundError:
        identity = None
    if identity is None or identity.user_id != app.user_id:
        raise NotFoundError(f"no {body.provider} identity with this subject for this user")
    verify_step_up(ctx, app.user_id, "unlink", body.step_up)
    # One atomic step: of two concurrent unlinks, the user keeps at least one identity.
    ctx.store.identities.unlink_unless_last(body.provider, body.subject, user_id=app.user_id)
    if body.provider == PASSKEY:
        ctx.store.credentials.delete(decode(body.subject))
    ctx.app_sessions.rotate_version(app.user_id)
    ctx.audit("unlink", app.user_id, {"provider": body.provider, "subject": body.subject})
    cookie = body.session_kind == "cookie"
    issued = ctx.app_sessions.issue(app.user_id, cookie=cookie)
    return UnlinkResponse(
        unlinked=_identity_body(identity.provider, identity.subject, identity.created_at_ms),
        session=session_response(ctx, response, app.user_id, issued, cookie=cookie),
    )
