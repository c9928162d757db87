"""A software passkey for tests and demos: P-256, attestation "none", PRF.

:class:`SoftAuthenticator` plays the browser and the authenticator of WebAuthn
Level 3 at once. ``create(options)`` answers the ``publicKey`` creation
options a server sent (section 5.1.3) with the ``PublicKeyCredential`` JSON a
browser's ``toJSON()`` gives; ``get(options)`` answers request options
(section 5.1.4). Credentials are discoverable, signatures are ES256 (COSE
-7) over ``authenticatorData || SHA-256(clientDataJSON)``, and the sign
counter grows by one per assertion (clone it with :meth:`clone` to test the
server's counter check).

PRF (section 10.1.4) rides on CTAP2's ``hmac-secret``: for an input ``x``
the client computes ``salt = SHA-256("WebAuthn PRF" || 0x00 || x)`` and the
authenticator answers ``HMAC-SHA-256(CredRandom, salt)``, with one random
``CredRandom`` per credential. The outputs are the client's secret: the
returned :class:`Ceremony` keeps them apart from the JSON sent to a server,
which never contains them.

Not an authenticator to protect anything real: its keys live in memory.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

_FLAG_UP = 0x01
_FLAG_UV = 0x04
_FLAG_AT = 0x40
_FLAG_ED = 0x80
_PRF_CONTEXT = b"WebAuthn PRF\x00"


def _b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AuthenticatorError(Exception):
    """The options ask for something this authenticator cannot do."""


@dataclass
class SoftCredential:
    """One credential: its id, key pair, user, counter and PRF secret (never printed)."""

    credential_id: bytes
    rp_id: str
    user_handle: bytes
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    cred_random: bytes = field(repr=False)
    sign_count: int = 0

    def prf(self, prf_input: bytes) -> bytes:
        """The PRF output for ``prf_input`` (the value of ``prf.eval.first``)."""
        salt = hashlib.sha256(_PRF_CONTEXT + prf_input).digest()
        return hmac.new(self.cred_random, salt, hashlib.sha256).digest()

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )


@dataclass(frozen=True)
class Ceremony:
    """A ceremony's result: ``response`` for the server, ``prf_first`` for the client only."""

    response: dict[str, Any]
    credential_id: bytes
    prf_first: bytes | None = field(default=None, repr=False)


class SoftAuthenticator:
    """A platform authenticator and its browser, in software."""

    def __init__(
        self,
        *,
        origin: str,
        user_verified: bool = True,
        aaguid: bytes = bytes(16),
        rng: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self.origin = origin
        self.user_verified = user_verified
        self.aaguid = aaguid
        self._rng = rng
        self.credentials: dict[bytes, SoftCredential] = {}

    def __repr__(self) -> str:
        return f"SoftAuthenticator(origin={self.origin!r}, credentials={len(self.credentials)})"

    # -- helpers --------------------------------------------------------------------------

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False},
            separators=(",", ":"),
        ).encode()

    def _flags(self) -> int:
        return _FLAG_UP | (_FLAG_UV if self.user_verified else 0)

    @staticmethod
    def _prf_input(options: Mapping[str, Any]) -> bytes | None:
        prf = options.get("extensions", {}).get("prf", {})
        first = prf.get("eval", {}).get("first") if isinstance(prf, Mapping) else None
        return _unb64u(first) if isinstance(first, str) else None

    def clone(self) -> SoftAuthenticator:
        """A copy with the same credentials and counters, as a cloned authenticator would be."""
        twin = SoftAuthenticator(
            origin=self.origin, user_verified=self.user_verified, aaguid=self.aaguid, rng=self._rng
        )
        twin.credentials = {cid: copy.copy(c) for cid, c in self.credentials.items()}
        return twin

    # -- ceremonies -----------------------------------------------------------------------

    def create(
        self,
        options: Mapping[str, Any],
        *,
        rp_id: str | None = None,
        include_prf_results: bool = False,
    ) -> Ceremony:
        """``navigator.credentials.create({publicKey: options})``.

        ``include_prf_results`` puts the PRF output into ``clientExtensionResults``,
        as a careless page forwarding the browser's results would.
        """
        rp = options["rp"]
        rp_id = rp_id or rp.get("id")
        if not isinstance(rp_id, str):
            raise AuthenticatorError("the options name no rp.id")
        algorithms = [p.get("alg") for p in options.get("pubKeyCredParams", [])]
        if -7 not in algorithms:
            raise AuthenticatorError("this authenticator only makes ES256 (-7) credentials")
        excluded = {_unb64u(c["id"]) for c in options.get("excludeCredentials", [])}
        if excluded & set(self.credentials):
            raise AuthenticatorError("InvalidStateError: a credential here is excluded")
        credential = SoftCredential(
            credential_id=self._rng(32),
            rp_id=rp_id,
            user_handle=_unb64u(options["user"]["id"]),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            cred_random=self._rng(32),
        )
        self.credentials[credential.credential_id] = credential
        cid = credential.credential_id
        attested = self.aaguid + len(cid).to_bytes(2, "big") + cid + credential.cose_public_key()
        wants_prf = "prf" in options.get("extensions", {})
        extensions = cbor2.dumps({"hmac-secret": True}) if wants_prf else b""
        flags = self._flags() | _FLAG_AT | (_FLAG_ED if wants_prf else 0)
        auth_data = (
            hashlib.sha256(rp_id.encode()).digest()
            + bytes([flags])
            + credential.sign_count.to_bytes(4, "big")
            + attested
            + extensions
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data("webauthn.create", options["challenge"])
        prf_input = self._prf_input(options)
        prf_first = credential.prf(prf_input) if prf_input is not None else None
        response = {
            "id": _b64u(cid),
            "rawId": _b64u(cid),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": _b64u(client_data),
                "attestationObject": _b64u(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": _prf_results(wants_prf, prf_first, include_prf_results),
        }
        return Ceremony(response, cid, prf_first)

    def get(
        self,
        options: Mapping[str, Any],
        *,
        credential_id: bytes | None = None,
        include_prf_results: bool = False,
    ) -> Ceremony:
        """``navigator.credentials.get({publicKey: options})`` by the newest or named credential."""
        rp_id = options.get("rpId")
        allowed = {_unb64u(c["id"]) for c in options.get("allowCredentials", [])}
        candidates = [
            c
            for c in self.credentials.values()
            if c.rp_id == rp_id and (not allowed or c.credential_id in allowed)
        ]
        if credential_id is not None:
            candidates = [c for c in candidates if c.credential_id == credential_id]
        if not candidates:
            raise AuthenticatorError("NotAllowedError: no credential for these options")
        credential = candidates[-1]
        credential.sign_count += 1
        auth_data = (
            hashlib.sha256(credential.rp_id.encode()).digest()
            + bytes([self._flags()])
            + credential.sign_count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"])
        signature = credential.private_key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        prf_input = self._prf_input(options)
        prf_first = credential.prf(prf_input) if prf_input is not None else None
        response = {
            "id": _b64u(credential.credential_id),
            "rawId": _b64u(credential.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": _b64u(client_data),
                "authenticatorData": _b64u(auth_data),
                "signature": _b64u(signature),
                "userHandle": _b64u(credential.user_handle),
            },
            # A browser reports PRF results to the page; the page keeps them.
            "clientExtensionResults": _prf_results(False, prf_first, include_prf_results),
        }
        return Ceremony(response, credential.credential_id, prf_first)


def _prf_results(enabled: bool, prf_first: bytes | None, include: bool) -> dict[str, Any]:
    prf: dict[str, Any] = {"enabled": True} if enabled else {}
    if include and prf_first is not None:
        prf["results"] = {"first": _b64u(prf_first)}
    return {"prf": prf} if prf else {}
