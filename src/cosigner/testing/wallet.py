"""A wallet in software: the client side of the co-signing server, for tests and demos.

:class:`SoftWallet` drives the HTTP API with a :class:`SoftAuthenticator` and
an ``httpx.Client`` (or Starlette's ``TestClient``, which is one), doing what
a browser wallet does: register or log in with a passkey, derive its client
share from the passkey's PRF output (:func:`cosigner.keys.derive_client_share`),
run keygen, mint a threshold session, authorize a message and sign it by
two-party FROST(Ed25519) as participant 1. The PRF output and the client
share stay in this object; only the verifying share, commitments and
signature share are sent.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from cosigner import frost
from cosigner.keys import SCHEME_ED25519_2P_V1, SCHEMES, derive_client_share, verifying_share
from cosigner.server.crypto import SealedExport, open_x25519_export
from cosigner.testing.authenticator import SoftAuthenticator

SUITE = frost.ciphersuite("ed25519")
_SCHEME = SCHEMES[SCHEME_ED25519_2P_V1]
_GROUP = _SCHEME.group


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ApiError(Exception):
    """A non-2xx answer: ``status``, and the body's ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def check(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a 2xx response, or :class:`ApiError`."""
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not response.is_success:
        raise ApiError(
            response.status_code, str(body.get("code", "")), str(body.get("message", ""))
        )
    assert isinstance(body, dict)
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class ClientKey:
    """The client's half of an Ed25519 key: never leaves the wallet."""

    relayer_key_id: str
    public_key: bytes
    x_client: int = field(repr=False)
    package: frost.KeyPackage = field(repr=False)


class SoftWallet:
    def __init__(self, http: httpx.Client, authenticator: SoftAuthenticator, *, rp_id: str) -> None:
        self.http = http
        self.authenticator = authenticator
        self.rp_id = rp_id
        self.user_id: str | None = None
        self.app_token: str | None = None
        self.credential_id: bytes | None = None
        self._prf_first: bytes | None = None

    def __repr__(self) -> str:
        return f"SoftWallet(user_id={self.user_id!r})"

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = bearer(token) if token else {}
        return check(self.http.post(path, json=body, headers=headers))

    # -- passkeys -------------------------------------------------------------------------

    def register(self, user_name: str = "alice") -> dict[str, Any]:
        options = self.post(
            "/auth/passkey/options", {"mode": "registration", "userName": user_name}
        )
        ceremony = self.authenticator.create(options["publicKey"])
        result = self.post(
            "/auth/passkey/verify",
            {"challengeId": options["challengeId"], "credential": ceremony.response},
        )
        self.user_id = result["userId"]
        self.app_token = result["sessionToken"]
        self.credential_id = ceremony.credential_id
        return result

    def login(self) -> dict[str, Any]:
        """Log in; also reads the PRF output the client share comes from."""
        options = self.post("/auth/passkey/options", {"mode": "login"})
        ceremony = self.authenticator.get(options["publicKey"], credential_id=self.credential_id)
        result = self.post(
            "/auth/passkey/verify",
            {"challengeId": options["challengeId"], "credential": ceremony.response},
        )
        self.user_id = result["userId"]
        self.app_token = result["sessionToken"]
        self.credential_id = ceremony.credential_id
        self._prf_first = ceremony.prf_first
        return result

    def step_up(self, purpose: str) -> dict[str, Any]:
        """A fresh passkey assertion for ``unlink`` or ``export``."""
        options = self.post(
            "/auth/passkey/options", {"mode": "step_up", "purpose": purpose}, self.app_token
        )
        ceremony = self.authenticator.get(options["publicKey"], credential_id=self.credential_id)
        return {"challengeId": options["challengeId"], "credential": ceremony.response}

    # -- threshold Ed25519 ------------------------------------------------------------------

    def client_secret(self) -> int:
        if self._prf_first is None or self.user_id is None:
            raise RuntimeError("log in first: the client share comes from the passkey PRF")
        return derive_client_share(
            self._prf_first, user_id=self.user_id, rp_id=self.rp_id, scheme_id=SCHEME_ED25519_2P_V1
        )

    def keygen(self) -> ClientKey:
        x_client = self.client_secret()
        share = verifying_share(x_client, scheme_id=SCHEME_ED25519_2P_V1)
        result = self.post(
            "/threshold-ed25519/keygen", {"clientVerifyingShare": b64u(share)}, self.app_token
        )
        return self.client_key(result["relayerKeyId"], unb64u(result["publicKey"]), x_client)

    @staticmethod
    def client_key(relayer_key_id: str, public_key: bytes, x_client: int) -> ClientKey:
        signing_share = _SCHEME.client_share(x_client)
        package = frost.KeyPackage(
            SUITE,
            1,
            signing_share,
            _GROUP.base_mul(signing_share),
            _GROUP.decode_element(public_key),
            2,
        )
        return ClientKey(relayer_key_id, public_key, x_client, package)

    def session(self, key: ClientKey, **options: Any) -> dict[str, Any]:
        body = {"relayerKeyId": key.relayer_key_id, **options}
        return self.post("/threshold-ed25519/session", body, self.app_token)

    def authorize(self, token: str, key: ClientKey, message: bytes) -> dict[str, Any]:
        body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(message)}
        return self.post("/threshold-ed25519/authorize", body, token)

    def sign(self, token: str, key: ClientKey, message: bytes, mpc_session_id: str) -> bytes:
        """Two-party FROST: round one with the relayer, then round two and aggregation there."""
        nonces, commitments = frost.commit(key.package)
        init = self.post(
            "/threshold-ed25519/sign/init",
            {
                "mpcSessionId": mpc_session_id,
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(message),
                "clientCommitments": {
                    "hiding": b64u(commitments.hiding.to_bytes()),
                    "binding": b64u(commitments.binding.to_bytes()),
                },
            },
            token,
        )
        relayer = init["relayerCommitments"]
        relayer_commitments = frost.SigningCommitments(
            SUITE,
            _GROUP.decode_element(unb64u(relayer["hiding"])),
            _GROUP.decode_element(unb64u(relayer["binding"])),
        )
        package = frost.SigningPackage(SUITE, {1: commitments, 2: relayer_commitments}, message)
        share = frost.sign(package, nonces, key.package)
        final = self.post(
            "/threshold-ed25519/sign/finalize",
            {
                "signingSessionId": init["signingSessionId"],
                "relayerKeyId": key.relayer_key_id,
                "clientSignatureShare": b64u(_GROUP.encode_scalar(share.share)),
            },
            token,
        )
        return unb64u(final["signature"])

    def export(self, key: ClientKey) -> int:
        """The whole private scalar ``x``: the relayer's share, opened, plus the client's."""
        recipient = X25519PrivateKey.generate()
        result = self.post(
            "/threshold-ed25519/export",
            {
                "relayerKeyId": key.relayer_key_id,
                "recipientPublicKey": b64u(recipient.public_key().public_bytes_raw()),
                "stepUp": self.step_up("export"),
            },
            self.app_token,
        )
        sealed = SealedExport(
            unb64u(result["ephemeralPublicKey"]),
            unb64u(result["nonce"]),
            unb64u(result["ciphertext"]),
        )
        share = open_x25519_export(recipient, sealed, context=result["context"].encode())
        x_relayer = _GROUP.decode_scalar(share)
        return (key.x_client + x_relayer) % _GROUP.order
