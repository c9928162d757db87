"""The client role of the co-signing server, end to end over HTTP.

:class:`CosignerClient` is what a wallet does, in Python: sign in with a
passkey, derive the client share from the passkey's PRF output
(:func:`cosigner.keys.derive_client_share`), run keygen for a scheme,
connect a threshold session, keep its half of the ECDSA presignature pool
topped up, and sign digests or chain intents (EVM, Tempo, NEAR, Solana). The
PRF output, the client shares and the presignature halves stay in this
object; only verifying shares, protocol messages, commitments and signature
shares are sent.

>>> client = CosignerClient("http://127.0.0.1:8080", SoftAuthenticator(origin=...))
>>> client.register("alice"); client.login()
>>> key = client.keygen("ecdsa")
>>> signed = client.sign_evm_transaction(key, {"chainId": 1, "nonce": 0, ...})

Recoveries it makes on its own: a threshold session that expired or ran out
of uses is minted again; ``pool_empty`` refills the pool and retries (it
spends neither the use nor the ``mpcSessionId``); a presign session that loses a
race (``stale_session_state``) is abandoned for a fresh one. Given several
instances' URLs, a request whose connection fails goes to the next instance:
a presign step is answered there from the stored state (or again, if the
dead instance had stored its answer); a repeated ``authorize`` simply runs
again, spending another use (for ECDSA its ``signInit`` may get
``pool_empty`` for the half the lost attempt reserved: that half is dropped
and, as for any ``pool_empty``, the next one or a refill is used); a
``sign/finalize`` whose answer died with its instance after the signature
was made is refused when repeated (``not_found``), and that signature is
started again under a new authorization (the spent presignature is never
offered again).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol, TypeVar

import base58
import httpx
from coincurve import PublicKey as CoincurvePublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cosigner import frost
from cosigner.chains import Finalized, SigningIntent, adapter
from cosigner.client.ecdsa import STAGE_DONE, ClientPresign, signature_share
from cosigner.client.ed25519 import commitments_json, frost_client_share
from cosigner.client.errors import ApiError, ClientError, KeyMismatchError
from cosigner.client.http import Api, FailoverTransport, b64u, required, unb64u
from cosigner.ecdsa import Presignature
from cosigner.ecdsa.two_party import client_key_share
from cosigner.keys import (
    SCHEME_ECDSA_2P_V1,
    SCHEME_ED25519_2P_V1,
    SCHEMES,
    KeyDerivationError,
    derive_client_share,
    ethereum_address,
    group_public_key,
    verifying_share,
)
from cosigner.protocol import Message, ProtocolCheckFailedError
from cosigner.server.crypto import SealedExport, open_x25519_export
from cosigner.server.intents import intent_digest

SchemeName = Literal["ecdsa", "ed25519"]
SCHEME_IDS: Final[Mapping[str, str]] = {
    "ecdsa": SCHEME_ECDSA_2P_V1,
    "ed25519": SCHEME_ED25519_2P_V1,
}
ALGORITHMS: Final[Mapping[str, str]] = {"ecdsa": "secp256k1", "ed25519": "ed25519"}
ROUTES: Final[Mapping[str, str]] = {"ecdsa": "/threshold-ecdsa", "ed25519": "/threshold-ed25519"}
MAX_PRESIGN_STEPS: Final = 64
PRESIGN_ATTEMPTS: Final = 3
SIGN_INIT_ATTEMPTS: Final = 3
LOST_ANSWER_ATTEMPTS: Final = 2
MAX_DISCARD_IDS: Final = 256
_SESSION_RETRY_CODES: Final = frozenset({"session_expired", "session_exhausted", "unauthorized"})
_SUITE = frost.ciphersuite("ed25519")
_ED25519 = SCHEMES[SCHEME_ED25519_2P_V1].group
_SECP256K1 = SCHEMES[SCHEME_ECDSA_2P_V1].group

T = TypeVar("T")


class Ceremony(Protocol):
    """What a passkey ceremony hands back: the JSON for the server, the PRF for the client."""

    @property
    def response(self) -> dict[str, Any]: ...
    @property
    def credential_id(self) -> bytes: ...
    @property
    def prf_first(self) -> bytes | None: ...


class Authenticator(Protocol):
    """A passkey: :class:`cosigner.testing.SoftAuthenticator`, or a bridge to a real one."""

    def create(self, options: Mapping[str, Any]) -> Ceremony: ...
    def get(
        self, options: Mapping[str, Any], *, credential_id: bytes | None = None
    ) -> Ceremony: ...


@dataclass(frozen=True)
class KeyHandle:
    """The client's half of a two-party key; ``x_client`` never leaves the client."""

    scheme: SchemeName
    relayer_key_id: str
    public_key: bytes
    x_client: int = field(repr=False)
    address: str | None = None
    """The EIP-55 address of a secp256k1 key."""

    @property
    def scheme_id(self) -> str:
        return SCHEME_IDS[self.scheme]

    @property
    def near_public_key(self) -> str:
        """``ed25519:<base58>``, as NEAR writes an Ed25519 key."""
        return "ed25519:" + base58.b58encode(self.public_key).decode()

    def frost_package(self) -> frost.KeyPackage:
        """The FROST(Ed25519) key package of participant 1 (``x_client / 2``)."""
        if self.scheme != "ed25519":
            raise ClientError("FROST key packages are for Ed25519 keys")
        share = SCHEMES[SCHEME_ED25519_2P_V1].client_share(self.x_client)
        return frost.KeyPackage(
            _SUITE,
            1,
            share,
            _ED25519.base_mul(share),
            _ED25519.decode_element(self.public_key),
            2,
        )


@dataclass(frozen=True)
class PooledPresignature:
    """A presignature the server offers for a key: its id and when it was pooled (ms)."""

    presignature_id: str
    created_at_ms: int


@dataclass
class ThresholdSession:
    """A threshold session for one key: its token, expiry and remaining uses."""

    relayer_key_id: str
    session_id: str
    token: str = field(repr=False)
    expires_at_ms: int
    remaining_uses: int


class CosignerClient:
    """The client role, end to end; see the module docstring.

    ``server`` is a base URL, several base URLs of instances of one
    deployment (requests go to each in turn, and one whose connection fails
    is sent again to the next: :class:`~cosigner.client.http.FailoverTransport`),
    or an ``httpx.Client`` whose base URL is the server (Starlette's
    ``TestClient`` works too). ``rp_id`` defaults to the one the server's
    passkey options name.
    """

    def __init__(
        self,
        server: str | Sequence[str] | httpx.Client,
        authenticator: Authenticator,
        *,
        rp_id: str | None = None,
        timeout_s: float = 30.0,
        presign_batch: int = 2,
        clock: Callable[[], int] | None = None,
    ) -> None:
        try:
            if isinstance(server, str):
                self.http = httpx.Client(base_url=server, timeout=timeout_s)
                self._owns_http = True
            elif isinstance(server, httpx.Client):
                self.http = server
                self._owns_http = False
            else:
                urls = list(server)
                transport = FailoverTransport(urls)
                self.http = httpx.Client(base_url=urls[0], transport=transport, timeout=timeout_s)
                self._owns_http = True
        except httpx.InvalidURL as exc:
            raise ClientError(f"not a server URL: {exc}") from exc
        if presign_batch < 1:
            raise ClientError("presign_batch is at least 1")
        self.api = Api(self.http)
        self.authenticator = authenticator
        self.rp_id = rp_id
        self.presign_batch = presign_batch
        self.user_id: str | None = None
        self.app_token: str | None = None
        self.credential_id: bytes | None = None
        self._prf_first: bytes | None = None
        self._sessions: dict[str, ThresholdSession] = {}
        self._halves: dict[str, OrderedDict[str, Presignature]] = {}
        self._lock = threading.Lock()
        self._clock = clock or _now_ms

    def __repr__(self) -> str:
        return f"CosignerClient(user_id={self.user_id!r}, rp_id={self.rp_id!r})"

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> CosignerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- passkeys -------------------------------------------------------------------------

    def register(self, user_name: str = "user") -> dict[str, Any]:
        """Register a new user with a new passkey; signs in."""
        options = self.api.post(
            "/auth/passkey/options", {"mode": "registration", "userName": user_name}
        )
        public_key = required(options, "publicKey")
        self.rp_id = self.rp_id or public_key.get("rp", {}).get("id")
        ceremony = self.authenticator.create(public_key)
        result = self.api.post(
            "/auth/passkey/verify",
            {"challengeId": required(options, "challengeId"), "credential": ceremony.response},
        )
        self._signed_in(result, ceremony)
        return result

    def login(self) -> dict[str, Any]:
        """Sign in with the passkey; also reads the PRF output the client shares come from."""
        options = self.api.post("/auth/passkey/options", {"mode": "login"})
        public_key = required(options, "publicKey")
        self.rp_id = self.rp_id or public_key.get("rpId")
        ceremony = self.authenticator.get(public_key, credential_id=self.credential_id)
        result = self.api.post(
            "/auth/passkey/verify",
            {"challengeId": required(options, "challengeId"), "credential": ceremony.response},
        )
        self._signed_in(result, ceremony)
        return result

    def _signed_in(self, result: Mapping[str, Any], ceremony: Ceremony) -> None:
        self.user_id = str(required(result, "userId"))
        self.app_token = result.get("sessionToken")
        self.credential_id = ceremony.credential_id
        if ceremony.prf_first is not None:
            self._prf_first = ceremony.prf_first

    def step_up(self, purpose: str) -> dict[str, Any]:
        """A fresh passkey assertion for ``unlink`` or ``export``."""
        options = self.api.post(
            "/auth/passkey/options", {"mode": "step_up", "purpose": purpose}, self._app()
        )
        ceremony = self.authenticator.get(
            required(options, "publicKey"), credential_id=self.credential_id
        )
        return {"challengeId": required(options, "challengeId"), "credential": ceremony.response}

    def _app(self) -> str:
        if self.app_token is None:
            raise ClientError("log in first: this needs an app session")
        return self.app_token

    # -- keys -----------------------------------------------------------------------------

    def client_secret(self, scheme: SchemeName) -> int:
        """``x_client`` of ``scheme`` from the passkey PRF output."""
        if self._prf_first is None or self.user_id is None or self.rp_id is None:
            raise ClientError("log in first: the client share comes from the passkey PRF")
        return derive_client_share(
            self._prf_first, user_id=self.user_id, rp_id=self.rp_id, scheme_id=SCHEME_IDS[scheme]
        )

    def keygen(self, scheme: SchemeName = "ecdsa") -> KeyHandle:
        """Keygen with the relayer; the same passkey always gives the same key.

        The group key the relayer answers is checked: it must be the client's
        verifying share plus the relayer's (``X_client + X_relayer``), and the
        client verifying share it names must be this client's.
        """
        if scheme not in SCHEME_IDS:
            raise ClientError(f"scheme is one of {', '.join(SCHEME_IDS)}")
        x_client = self.client_secret(scheme)
        share = verifying_share(x_client, scheme_id=SCHEME_IDS[scheme])
        result = self.api.post(
            f"{ROUTES[scheme]}/keygen", {"clientVerifyingShare": b64u(share)}, self._app()
        )
        public_key = unb64u(str(required(result, "publicKey")))
        named = result.get("clientVerifyingShare")
        if named is not None and unb64u(str(named)) != share:
            raise ClientError("the relayer's keygen answer names another client verifying share")
        relayer_share = unb64u(str(required(result, "relayerVerifyingShare")))
        try:
            expected = group_public_key(share, relayer_share, scheme_id=SCHEME_IDS[scheme])
        except KeyDerivationError as exc:
            raise ClientError(f"the relayer's verifying share is unusable: {exc.message}") from None
        if public_key != expected:
            raise ClientError("the relayer's group key is not the sum of the two verifying shares")
        return self.key_handle(scheme, str(required(result, "relayerKeyId")), public_key, x_client)

    @staticmethod
    def key_handle(
        scheme: SchemeName, relayer_key_id: str, public_key: bytes, x_client: int
    ) -> KeyHandle:
        address = ethereum_address(public_key) if scheme == "ecdsa" else None
        return KeyHandle(scheme, relayer_key_id, public_key, x_client, address)

    # -- threshold sessions ---------------------------------------------------------------------

    def connect_session(
        self, key: KeyHandle, *, ttl_seconds: int | None = None, max_uses: int | None = None
    ) -> ThresholdSession:
        """Mint a threshold session for ``key``; later signing uses it until it runs out."""
        body: dict[str, Any] = {"relayerKeyId": key.relayer_key_id}
        if ttl_seconds is not None:
            body["ttlSeconds"] = ttl_seconds
        if max_uses is not None:
            body["maxUses"] = max_uses
        result = self.api.post(f"{ROUTES[key.scheme]}/session", body, self._app())
        session = ThresholdSession(
            relayer_key_id=key.relayer_key_id,
            session_id=str(required(result, "sessionId")),
            token=str(required(result, "sessionToken")),
            expires_at_ms=int(required(result, "expiresAt")),
            remaining_uses=int(required(result, "remainingUses")),
        )
        with self._lock:
            self._sessions[key.relayer_key_id] = session
        return session

    def _session(self, key: KeyHandle) -> ThresholdSession:
        with self._lock:
            session = self._sessions.get(key.relayer_key_id)
        if session is None or session.expires_at_ms - 5_000 <= self._clock():
            return self.connect_session(key)
        return session

    def _with_session(self, key: KeyHandle, call: Callable[[ThresholdSession], T]) -> T:
        """Run ``call``; mint a new session once if the server says the old one is spent."""
        session = self._session(key)
        try:
            return call(session)
        except ApiError as exc:
            if exc.code not in _SESSION_RETRY_CODES:
                raise
        return call(self.connect_session(key))

    def _authorize(
        self, key: KeyHandle, body: dict[str, Any]
    ) -> tuple[ThresholdSession, dict[str, Any]]:
        def run(session: ThresholdSession) -> tuple[ThresholdSession, dict[str, Any]]:
            if session.remaining_uses <= 0:
                raise ApiError(401, "session_exhausted", "no uses left")
            granted = self.api.post(f"{ROUTES[key.scheme]}/authorize", body, session.token)
            session.remaining_uses = int(required(granted, "remainingUses"))
            return session, granted

        return self._with_session(key, run)

    # -- presignatures (ECDSA) ---------------------------------------------------------------

    def presignatures_held(self, key: KeyHandle) -> int:
        """How many presignature halves of ``key`` this client holds."""
        with self._lock:
            return len(self._halves.get(key.relayer_key_id, ()))

    def refill_presignatures(self, key: KeyHandle, n: int | None = None) -> int:
        """Run ``n`` presign sessions (default ``presign_batch``); returns how many succeeded.

        A session that loses a race (``stale_session_state``) is replaced by a
        new one, up to a few times.
        """
        self._require(key, "ecdsa")
        count = self.presign_batch if n is None else n
        made = 0
        for _ in range(count):
            for attempt in range(PRESIGN_ATTEMPTS):
                try:
                    self._presign_once(key)
                except ApiError as exc:
                    if exc.code not in ("stale_session_state", "presign_session_expired"):
                        raise
                    if attempt == PRESIGN_ATTEMPTS - 1:
                        raise
                    continue
                made += 1
                break
        return made

    def _presign_once(self, key: KeyHandle) -> str:
        def run(session: ThresholdSession) -> str:
            route = ROUTES["ecdsa"]
            init = self.api.post(
                f"{route}/presign/init", {"relayerKeyId": key.relayer_key_id}, session.token
            )
            presign_session_id = str(required(init, "presignSessionId"))
            flow = ClientPresign(
                client_key_share(key.x_client, key.public_key),
                key.relayer_key_id,
                presign_session_id,
            )
            flow.receive(str(required(init, "stage")), _messages(required(init, "messages")))
            version = int(required(init, "version"))
            answer: dict[str, Any] = init
            for _ in range(MAX_PRESIGN_STEPS):
                if flow.stage == STAGE_DONE:
                    break
                answer = self.api.post(
                    f"{route}/presign/step",
                    {
                        "presignSessionId": presign_session_id,
                        "relayerKeyId": key.relayer_key_id,
                        "expectedVersion": version,
                        "stage": flow.stage,
                        "messages": [b64u(m.to_bytes()) for m in flow.outgoing()],
                    },
                    session.token,
                )
                version = int(required(answer, "version"))
                try:
                    flow.receive(
                        str(required(answer, "stage")), _messages(required(answer, "messages"))
                    )
                except ProtocolCheckFailedError as exc:
                    if "X + B" not in exc.message:
                        raise
                    raise KeyMismatchError(
                        "this client share does not fit the key: the passkey's PRF output (or "
                        "the user or rpId) is not the one the key was made with"
                    ) from None
            else:
                raise ClientError(f"presign session did not finish in {MAX_PRESIGN_STEPS} steps")
            presignature = flow.presignature
            presignature_id = presignature.presignature_id.hex()
            if answer.get("presignatureId") != presignature_id:
                raise ClientError("the relayer pooled its presignature under another id")
            with self._lock:
                self._halves.setdefault(key.relayer_key_id, OrderedDict())[presignature_id] = (
                    presignature
                )
            return presignature_id

        return self._with_session(key, run)

    def list_presignatures(self, key: KeyHandle) -> list[PooledPresignature]:
        """The server's available presignatures of ``key``, oldest first (ids and ages)."""
        self._require(key, "ecdsa")

        def run(session: ThresholdSession) -> dict[str, Any]:
            path = f"{ROUTES['ecdsa']}/presignatures?relayerKeyId={key.relayer_key_id}"
            return self.api.get(path, session.token)

        listed = self._with_session(key, run)
        return [
            PooledPresignature(str(required(p, "presignatureId")), int(required(p, "createdAt")))
            for p in required(listed, "presignatures")
        ]

    def discard_presignatures(self, key: KeyHandle, presignature_ids: Sequence[str]) -> int:
        """Discard these presignatures on the server, and their halves here; how many were pooled.

        Always safe: a discarded presignature is never used again.
        """
        self._require(key, "ecdsa")
        ids = list(dict.fromkeys(presignature_ids))
        for presignature_id in ids:
            self._take_half(key, presignature_id)
        discarded = 0
        for start in range(0, len(ids), MAX_DISCARD_IDS):
            body = {
                "relayerKeyId": key.relayer_key_id,
                "presignatureIds": ids[start : start + MAX_DISCARD_IDS],
            }

            def run(session: ThresholdSession, body: dict[str, Any] = body) -> dict[str, Any]:
                path = f"{ROUTES['ecdsa']}/presignatures/discard"
                return self.api.post(path, body, session.token)

            discarded += int(required(self._with_session(key, run), "discarded"))
        return discarded

    def reconcile_presignatures(self, key: KeyHandle) -> tuple[int, int]:
        """Clear orphans on both sides; returns (discarded on the server, dropped here).

        The server's available presignatures this client holds no half of
        (lost with an earlier client, or with an answer that never arrived)
        are discarded there; the halves this client holds that the server no
        longer offers (discarded, or taken by a signature whose answer was
        lost) are dropped here. Run it while no presign or signature of this
        key is in flight: a presignature pooled meanwhile would be discarded,
        and a half reserved by a signature under way dropped (both safely:
        that presign or signature fails, and is done again).
        """
        pooled = {p.presignature_id for p in self.list_presignatures(key)}
        with self._lock:
            held = set(self._halves.get(key.relayer_key_id, ()))
        for presignature_id in held - pooled:
            self._take_half(key, presignature_id)
        orphans = sorted(pooled - held)
        discarded = self.discard_presignatures(key, orphans) if orphans else 0
        return discarded, len(held - pooled)

    def oldest_presignature_id(self, key: KeyHandle) -> str | None:
        """The id of the oldest presignature half of ``key`` this client holds, or None."""
        with self._lock:
            held = self._halves.get(key.relayer_key_id)
            return next(iter(held)) if held else None

    def _take_half(self, key: KeyHandle, presignature_id: str) -> Presignature | None:
        with self._lock:
            return self._halves.get(key.relayer_key_id, OrderedDict()).pop(presignature_id, None)

    def _take_oldest_half(self, key: KeyHandle) -> Presignature | None:
        """Take the oldest half of ``key`` held, so that no other signature can pick it."""
        with self._lock:
            held = self._halves.get(key.relayer_key_id)
            return held.popitem(last=False)[1] if held else None

    def _put_back_half(self, key: KeyHandle, presignature: Presignature) -> None:
        """Return an unused half taken by :meth:`_take_oldest_half` to its place, the oldest."""
        presignature_id = presignature.presignature_id.hex()
        with self._lock:
            held = self._halves.setdefault(key.relayer_key_id, OrderedDict())
            held[presignature_id] = presignature
            held.move_to_end(presignature_id, last=False)

    def ecdsa_client_share(
        self,
        key: KeyHandle,
        init: Mapping[str, Any],
        digest: bytes,
        client_entropy: bytes,
        *,
        presignature: Presignature | None = None,
    ) -> bytes:
        """The client's signature share for an ECDSA signing session; no I/O.

        ``init`` is the answer of ``sign/init`` (or the ``signInit`` of
        ``authorize``'s): the presignature the relayer reserved, the signing
        session and the relayer's entropy; ``client_entropy`` is what the
        client sent. The half of that presignature is taken from this client
        (it is single-use); :class:`ClientError` if this client does not hold it.
        ``presignature`` is a half the caller already took from this client
        for this signature: it is used instead, and must be the one reserved.
        """
        presignature_id = str(required(init, "presignatureId"))
        if presignature is None:
            presignature = self._take_half(key, presignature_id)
        elif presignature.presignature_id.hex() != presignature_id:
            raise ClientError("the relayer reserved another presignature than the one named")
        if presignature is None:
            raise ClientError("the relayer reserved a presignature this client does not hold")
        return signature_share(
            presignature,
            key_id=key.relayer_key_id,
            signing_session_id=str(required(init, "signingSessionId")),
            digest=digest,
            client_entropy=client_entropy,
            relayer_entropy=unb64u(str(required(init, "relayerEntropy"))),
        )

    # -- signing ------------------------------------------------------------------------------

    def sign_digest(self, key: KeyHandle, digest: bytes) -> bytes:
        """Authorize and sign exact bytes: 65 bytes ``r || s || v`` (ECDSA) or 64 (Ed25519)."""
        return self._authorize_and_sign(
            key, {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(digest)}, digest
        )

    def _authorize_and_sign(self, key: KeyHandle, body: dict[str, Any], message: bytes) -> bytes:
        """Authorize ``body`` and sign ``message``; once more if an answer was lost.

        ``authorize`` carries ``signInit`` (the FROST commitments, or the ECDSA
        entropy and presignature), so it opens the signing session too: two
        round trips per signature, ``authorize`` and ``sign/finalize``.

        A lost ``authorize`` answer needs nothing here: the repeat runs again
        as a new authorization (another use; for ECDSA, ``pool_empty`` for the
        half the lost attempt reserved, which :meth:`_ecdsa_init` drops before
        refilling or taking the next). An instance that died after finishing
        ``sign/finalize`` (spending the signing session and, for ECDSA,
        consuming the presignature) leaves its repeat ``not_found`` on the
        next instance: nothing can finish that signature any more, so it is
        started again under a new authorization, with fresh nonces or a fresh
        presignature.
        """
        for attempt in range(LOST_ANSWER_ATTEMPTS):
            try:
                if key.scheme == "ecdsa":
                    return self._cosign_ecdsa(key, body, message)
                return self._cosign_ed25519(key, body, message)
            except ApiError as exc:
                lost = exc.retried and exc.code == "not_found"
                if not lost or attempt == LOST_ANSWER_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _cosign_ecdsa(self, key: KeyHandle, body: dict[str, Any], digest: bytes) -> bytes:
        client_entropy = secrets.token_bytes(32)

        def authorize_and_init(fields: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            session, granted = self._authorize(key, {**body, "signInit": fields})
            return session.token, dict(required(granted, "signInit"))

        (token, init), half = self._ecdsa_init(key, client_entropy, authorize_and_init)
        return self._ecdsa_finish(key, token, init, digest, client_entropy, half)

    def _cosign_ed25519(self, key: KeyHandle, body: dict[str, Any], message: bytes) -> bytes:
        package = key.frost_package()
        nonces, commitments = frost.commit(package)
        session, granted = self._authorize(
            key, {**body, "signInit": {"clientCommitments": commitments_json(commitments)}}
        )
        return self._ed25519_finish(
            key,
            session.token,
            required(granted, "signInit"),
            message,
            package,
            nonces,
            commitments,
        )

    def sign_intent(
        self, key: KeyHandle, chain: str, kind: str, payload: Mapping[str, Any]
    ) -> Finalized:
        """Build the chain intent, authorize each of its sign requests by intent, sign, finalize."""
        intent = adapter(chain).build_intent(kind, payload)
        digest = b64u(intent_digest(intent))
        signatures = []
        for index, request in enumerate(intent.sign_requests):
            if request.algorithm != ALGORITHMS[key.scheme]:
                raise ClientError(
                    f"sign request {index} is {request.algorithm}; this key signs "
                    f"{ALGORITHMS[key.scheme]}"
                )
            body = {
                "relayerKeyId": key.relayer_key_id,
                "intent": {"chain": chain, "kind": kind, "payload": dict(payload)},
                "intentDigest": digest,
                "signRequestIndex": index,
            }
            signatures.append(self._authorize_and_sign(key, body, request.message))
        return intent.finalize(signatures)

    def build_intent(self, chain: str, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
        """The intent this client would sign, for showing its ``ui_model`` first."""
        return adapter(chain).build_intent(kind, payload)

    def sign_evm_transaction(self, key: KeyHandle, transaction: Mapping[str, Any]) -> Finalized:
        """An EVM transaction (legacy, 2930, 1559, 7702); ``from`` defaults to the key's address."""
        self._require(key, "ecdsa")
        return self.sign_intent(key, "evm", "transaction", {"from": key.address, **transaction})

    def sign_tempo_transaction(self, key: KeyHandle, transaction: Mapping[str, Any]) -> Finalized:
        """A Tempo 0x76 transaction signed by its secp256k1 sender (this key)."""
        self._require(key, "ecdsa")
        payload = dict(transaction)
        if "signer" not in payload:
            payload.setdefault("from", key.address)
        return self.sign_intent(key, "tempo", "transaction", payload)

    def sign_near_transaction(self, key: KeyHandle, transaction: Mapping[str, Any]) -> Finalized:
        """A NEAR transaction; ``public_key`` defaults to the key's ``ed25519:...``."""
        self._require(key, "ed25519")
        payload = dict(transaction)
        if "borsh_base64" not in payload:
            payload.setdefault("public_key", key.near_public_key)
        return self.sign_intent(key, "near", "transaction", payload)

    def sign_solana_transaction(self, key: KeyHandle, transaction: Mapping[str, Any]) -> Finalized:
        """A Solana transaction whose signer is this key."""
        self._require(key, "ed25519")
        return self.sign_intent(key, "solana", "transaction", transaction)

    def sign_authorized(
        self, key: KeyHandle, token: str, mpc_session_id: str, message: bytes
    ) -> bytes:
        """Sign ``message`` under an ``mpcSessionId`` the caller obtained with ``token``.

        The three-request flow: ``sign/init`` with the mpcSessionId, then
        ``sign/finalize``. :meth:`sign_digest` and the ``sign_*`` methods save
        the middle request by opening the signing session in ``authorize``.
        """
        route = ROUTES[key.scheme]
        if key.scheme == "ecdsa":
            client_entropy = secrets.token_bytes(32)

            def init(fields: dict[str, Any]) -> dict[str, Any]:
                answer = {
                    "mpcSessionId": mpc_session_id,
                    "relayerKeyId": key.relayer_key_id,
                    "signingDigest": b64u(message),
                    **fields,
                }
                return self.api.post(f"{route}/sign/init", answer, token)

            started, half = self._ecdsa_init(key, client_entropy, init)
            return self._ecdsa_finish(key, token, started, message, client_entropy, half)
        package = key.frost_package()
        nonces, commitments = frost.commit(package)
        started = self.api.post(
            f"{route}/sign/init",
            {
                "mpcSessionId": mpc_session_id,
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(message),
                "clientCommitments": commitments_json(commitments),
            },
            token,
        )
        return self._ed25519_finish(key, token, started, message, package, nonces, commitments)

    def _ecdsa_init(
        self,
        key: KeyHandle,
        client_entropy: bytes,
        init: Callable[[dict[str, Any]], T],
    ) -> tuple[T, Presignature | None]:
        """``init`` with the oldest presignature half held; on ``pool_empty``, refill and retry.

        The half is taken before ``init`` is sent, so that a signature running
        beside this one picks another; it is returned with ``init``'s answer,
        for :meth:`_ecdsa_finish`. ``pool_empty`` spends nothing (neither the
        mpcSessionId nor the session's use), so the same request can be made
        again; the half it names is dropped (the relayer has no such
        presignature any more). On any other failure the half, unused, is
        put back.
        """
        for _ in range(SIGN_INIT_ATTEMPTS):
            half = self._take_oldest_half(key)
            if half is None:
                self.refill_presignatures(key)
                half = self._take_oldest_half(key)
            wanted = None if half is None else half.presignature_id.hex()
            try:
                answer = init({"clientEntropy": b64u(client_entropy), "presignatureId": wanted})
            except BaseException as exc:
                if isinstance(exc, ApiError) and exc.code == "pool_empty":
                    continue  # the half, taken, is dropped
                if half is not None:
                    self._put_back_half(key, half)
                raise
            return answer, half
        raise ClientError("the presignature pool stayed empty after refilling")

    def _ecdsa_finish(
        self,
        key: KeyHandle,
        token: str,
        init: Mapping[str, Any],
        digest: bytes,
        client_entropy: bytes,
        half: Presignature | None = None,
    ) -> bytes:
        """The client's share for the reserved presignature, ``sign/finalize``, the check.

        ``half`` is the half :meth:`_ecdsa_init` took for this signature, if any.
        """
        share = self.ecdsa_client_share(key, init, digest, client_entropy, presignature=half)
        final = self.api.post(
            f"{ROUTES['ecdsa']}/sign/finalize",
            {
                "signingSessionId": required(init, "signingSessionId"),
                "relayerKeyId": key.relayer_key_id,
                "clientSignatureShare": b64u(share),
            },
            token,
        )
        signature = unb64u(str(required(final, "signature")))
        recovered = CoincurvePublicKey.from_signature_and_message(signature, digest, hasher=None)
        if recovered.format(compressed=True) != key.public_key:
            raise ClientError("the relayer's signature does not recover this key")
        return signature

    def _ed25519_finish(
        self,
        key: KeyHandle,
        token: str,
        init: Mapping[str, Any],
        message: bytes,
        package: frost.KeyPackage,
        nonces: frost.SigningNonces,
        commitments: frost.SigningCommitments,
    ) -> bytes:
        """Round two with the relayer's commitments: the client's share, finalize, the check."""
        share = frost_client_share(
            package, nonces, commitments, required(init, "relayerCommitments"), message
        )
        final = self.api.post(
            f"{ROUTES['ed25519']}/sign/finalize",
            {
                "signingSessionId": required(init, "signingSessionId"),
                "relayerKeyId": key.relayer_key_id,
                "clientSignatureShare": b64u(share),
            },
            token,
        )
        signature = unb64u(str(required(final, "signature")))
        frost.verify("ed25519", key.public_key, message, signature)
        return signature

    # -- export -------------------------------------------------------------------------------

    def export_key(self, key: KeyHandle) -> bytes:
        """The whole private key, after a passkey step-up; 32 bytes.

        secp256k1: the big-endian secret ``x``; Ed25519: the little-endian
        scalar ``x`` (not an RFC 8032 seed: the key was never made from one).
        The relayer's share arrives encrypted to a fresh X25519 key and is
        opened here; ``x * G`` is checked against the group key.
        """
        recipient = X25519PrivateKey.generate()
        result = self.api.post(
            f"{ROUTES[key.scheme]}/export",
            {
                "relayerKeyId": key.relayer_key_id,
                "recipientPublicKey": b64u(recipient.public_key().public_bytes_raw()),
                "stepUp": self.step_up("export"),
            },
            self._app(),
        )
        sealed = SealedExport(
            unb64u(str(required(result, "ephemeralPublicKey"))),
            unb64u(str(required(result, "nonce"))),
            unb64u(str(required(result, "ciphertext"))),
        )
        context = str(required(result, "context")).encode()
        share = open_x25519_export(recipient, sealed, context=context)
        group = _SECP256K1 if key.scheme == "ecdsa" else _ED25519
        x = (key.x_client + group.decode_scalar(share)) % group.order
        if group.base_mul(x).to_bytes() != key.public_key:
            raise ClientError("the exported share does not complete this key")
        return group.encode_scalar(x)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _require(key: KeyHandle, scheme: SchemeName) -> None:
        if key.scheme != scheme:
            raise ClientError(f"this needs a {scheme} key, not {key.scheme}")


def _messages(texts: Any) -> list[Message]:
    return [Message.from_bytes(unb64u(str(t))) for t in texts]


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


__all__ = [
    "ALGORITHMS",
    "Authenticator",
    "Ceremony",
    "CosignerClient",
    "KeyHandle",
    "PooledPresignature",
    "ThresholdSession",
]
