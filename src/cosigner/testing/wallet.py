"""A wallet in software for the server tests: a thin layer over :class:`CosignerClient`.

:class:`SoftWallet` keeps the step-by-step Ed25519 calls the server tests
drive one at a time (``session``, ``authorize``, ``sign`` with a token of
their choosing, ``export``), each answering the server's raw JSON, while
:attr:`SoftWallet.client` (a :class:`cosigner.client.CosignerClient` on the
same HTTP client and passkey) does the work. New code uses the client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from cosigner import frost
from cosigner.client import ApiError, CosignerClient, KeyHandle
from cosigner.client.http import b64u, bearer, check, unb64u
from cosigner.keys import SCHEME_ED25519_2P_V1, SCHEMES
from cosigner.testing.authenticator import SoftAuthenticator

SUITE = frost.ciphersuite("ed25519")
_SCHEME = SCHEMES[SCHEME_ED25519_2P_V1]
_GROUP = _SCHEME.group


@dataclass
class ClientKey:
    """The client's half of an Ed25519 key: never leaves the wallet."""

    relayer_key_id: str
    public_key: bytes
    x_client: int = field(repr=False)
    package: frost.KeyPackage = field(repr=False)

    def handle(self) -> KeyHandle:
        return KeyHandle("ed25519", self.relayer_key_id, self.public_key, self.x_client)


class SoftWallet:
    def __init__(self, http: httpx.Client, authenticator: SoftAuthenticator, *, rp_id: str) -> None:
        self.client = CosignerClient(http, authenticator, rp_id=rp_id)
        self.http = http
        self.authenticator = authenticator
        self.rp_id = rp_id

    def __repr__(self) -> str:
        return f"SoftWallet(user_id={self.user_id!r})"

    # The signed-in state lives in the client; tests read and set it here.

    @property
    def user_id(self) -> str | None:
        return self.client.user_id

    @user_id.setter
    def user_id(self, value: str | None) -> None:
        self.client.user_id = value

    @property
    def app_token(self) -> str | None:
        return self.client.app_token

    @app_token.setter
    def app_token(self, value: str | None) -> None:
        self.client.app_token = value

    @property
    def credential_id(self) -> bytes | None:
        return self.client.credential_id

    def post(self, path: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        return self.client.api.post(path, body, token)

    # -- passkeys -------------------------------------------------------------------------

    def register(self, user_name: str = "alice") -> dict[str, Any]:
        return self.client.register(user_name)

    def login(self) -> dict[str, Any]:
        """Log in; also reads the PRF output the client share comes from."""
        return self.client.login()

    def step_up(self, purpose: str) -> dict[str, Any]:
        """A fresh passkey assertion for ``unlink`` or ``export``."""
        return self.client.step_up(purpose)

    # -- threshold Ed25519 ------------------------------------------------------------------

    def client_secret(self) -> int:
        return self.client.client_secret("ed25519")

    def keygen(self) -> ClientKey:
        key = self.client.keygen("ed25519")
        return self.client_key(key.relayer_key_id, key.public_key, key.x_client)

    @staticmethod
    def client_key(relayer_key_id: str, public_key: bytes, x_client: int) -> ClientKey:
        handle = KeyHandle("ed25519", relayer_key_id, public_key, x_client)
        return ClientKey(relayer_key_id, public_key, x_client, handle.frost_package())

    def session(self, key: ClientKey, **options: Any) -> dict[str, Any]:
        body = {"relayerKeyId": key.relayer_key_id, **options}
        return self.post("/threshold-ed25519/session", body, self.app_token)

    def authorize(self, token: str, key: ClientKey, message: bytes) -> dict[str, Any]:
        body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(message)}
        return self.post("/threshold-ed25519/authorize", body, token)

    def sign(self, token: str, key: ClientKey, message: bytes, mpc_session_id: str) -> bytes:
        """Two-party FROST: round one with the relayer, then round two and aggregation there."""
        return self.client.sign_authorized(key.handle(), token, mpc_session_id, message)

    def export(self, key: ClientKey) -> int:
        """The whole private scalar ``x``: the relayer's share, opened, plus the client's."""
        return _GROUP.decode_scalar(self.client.export_key(key.handle()))


__all__ = ["ApiError", "ClientKey", "SoftWallet", "b64u", "bearer", "check", "unb64u"]
