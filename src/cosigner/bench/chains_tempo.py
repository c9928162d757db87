"""Tempo payload kinds for ``cosigner bench chains``.

Registered at import (see :mod:`cosigner.bench.chains`), each a TIP-20 transfer on chain
42431 with a different signer or sponsorship:

* ``transaction``, secp256k1 - ``build_intent`` validates and normalizes the fields,
  RLP-encodes the sender hash preimage, hashes it and builds the review model (the TIP-20
  call decoded); ``finalize`` checks the signature, recovers the sender and encodes the
  signed ``0x76`` envelope and its hash.
* ``transaction``, P-256 with SHA-256 prehash - ``finalize`` verifies the P-256 signature
  (OpenSSL through ``cryptography``) instead of recovering.
* ``transaction``, WebAuthn - ``finalize`` parses the assertion JSON, checks the
  authenticator data and client data as the node does, and verifies P-256.
* ``transaction``, sponsored, plus a key authorization - the sender hash with the fee-payer
  placeholder, and an access key provisioned in the same transaction (its root signature
  recovered for the review model).
* ``fee_payer`` - ``build_intent`` also verifies the sender's signature (it recovers the
  sender) and hashes the ``0x78`` fee-payer preimage; ``finalize`` encodes the
  broadcastable transaction with both signatures.

No peer: no Python library encodes Tempo transactions (the references are the node, in
Rust, and ox, in TypeScript; the interop tests compare bytes with ox).

secp256k1 signatures use the registry's bench key through
:func:`~cosigner.bench.chains.sign_locally`; P-256 and WebAuthn use a fixed, public P-256
bench key (:data:`BENCH_P256_SECRET`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from coincurve import PrivateKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

from cosigner.bench.chains import BENCH_SECP256K1_SECRET, BenchKind, register, sign_locally
from cosigner.chains.evm.values import hex_text, keccak256
from cosigner.chains.intent import SigningIntent
from cosigner.chains.tempo import (
    KeyAuthorization,
    Secp256k1Signature,
    SignedKeyAuthorization,
    TempoAdapter,
    TokenLimit,
    fee_payer_payload,
    webauthn_assertion,
)
from cosigner.chains.tempo.fields import key_authorization_fields
from cosigner.chains.tempo.signature import base64url

ADAPTER = TempoAdapter()
CHAIN_ID = 42431
TOKEN = bytes.fromhex("20c0000000000000000000000000000000000001")
RECIPIENT = bytes.fromhex("3535353535353535353535353535353535353535")

BENCH_P256_SECRET = int.from_bytes(hashlib.sha256(b"cosigner bench chains: p256").digest(), "big")
"""A fixed P-256 secret for the P-256 and WebAuthn payloads; never holds value."""
_P256 = ec.derive_private_key(BENCH_P256_SECRET, ec.SECP256R1())
_NUMBERS = _P256.public_key().public_numbers()
P256_X = _NUMBERS.x.to_bytes(32, "big")
P256_Y = _NUMBERS.y.to_bytes(32, "big")
BENCH_SENDER = keccak256(
    PrivateKey(BENCH_SECP256K1_SECRET).public_key.format(compressed=False)[1:]
)[12:]

TIP20_TRANSFER: dict[str, Any] = {
    "chainId": CHAIN_ID,
    "calls": [
        {
            "to": hex_text(TOKEN),
            "input": "0xa9059cbb"
            + "00" * 12
            + RECIPIENT.hex()
            + (1_500_000).to_bytes(32, "big").hex(),
        }
    ],
    "maxFeePerGas": 20_000_000_000,
    "maxPriorityFeePerGas": 1_000_000,
    "gas": 100_000,
    "nonceKey": 0,
    "nonce": 12,
    "feeToken": hex_text(TOKEN),
    "from": hex_text(BENCH_SENDER),
}

_PUBLIC_KEY = {"x": hex_text(P256_X), "y": hex_text(P256_Y)}
P256_TRANSFER = {
    **{k: v for k, v in TIP20_TRANSFER.items() if k != "from"},
    "signer": {"type": "p256", "publicKey": _PUBLIC_KEY, "prehash": True},
}
WEBAUTHN_TRANSFER = {
    **{k: v for k, v in TIP20_TRANSFER.items() if k != "from"},
    "signer": {"type": "webAuthn", "publicKey": _PUBLIC_KEY},
}


def _key_authorization() -> dict[str, Any]:
    """An access key with a 100 TIP-20 limit, signed by the bench secp256k1 root key."""
    auth = KeyAuthorization(
        chain_id=CHAIN_ID,
        key_type="p256",
        key_id=keccak256(P256_X + P256_Y)[12:],
        expiry=1_900_000_000,
        limits=(TokenLimit(TOKEN, 100_000_000),),
    )
    signature = PrivateKey(BENCH_SECP256K1_SECRET).sign_recoverable(
        auth.signature_hash(), hasher=None
    )
    primitive = Secp256k1Signature(
        int.from_bytes(signature[:32], "big"),
        int.from_bytes(signature[32:64], "big"),
        signature[64],
    )
    return key_authorization_fields(SignedKeyAuthorization(auth, primitive))


SPONSORED_WITH_KEY: dict[str, Any] = {
    **{k: v for k, v in TIP20_TRANSFER.items() if k != "feeToken"},
    "feePayer": True,
    "keyAuthorization": _key_authorization(),
}


def sign_p256(intent: SigningIntent) -> Sequence[bytes]:
    message = intent.sign_requests[0].message
    der = _P256.sign(message, ec.ECDSA(Prehashed(hashes.SHA256())))
    r, s = decode_dss_signature(der)
    return [r.to_bytes(32, "big") + s.to_bytes(32, "big")]


def sign_webauthn(intent: SigningIntent) -> Sequence[bytes]:
    """A WebAuthn assertion over the request's challenge, as an authenticator makes it."""
    challenge = intent.sign_requests[0].message
    authenticator_data = hashlib.sha256(b"wallet.example").digest() + b"\x05\x00\x00\x00\x01"
    client_data = json.dumps(
        {
            "type": "webauthn.get",
            "challenge": base64url(challenge),
            "origin": "https://wallet.example",
        },
        separators=(",", ":"),
    ).encode()
    der = _P256.sign(
        authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
    )
    r, s = decode_dss_signature(der)
    return [webauthn_assertion(authenticator_data, client_data, r, s)]


def _fee_payer_payload() -> dict[str, Any]:
    """The sponsored transfer as its sender hands it over, signed by the bench key."""
    intent = ADAPTER.build_intent("transaction", SPONSORED_WITH_KEY)
    pending = intent.finalize(sign_locally(intent))
    assert pending.raw is not None
    return fee_payer_payload(pending.raw, TOKEN)


def _kind(
    kind: str,
    label: str,
    payload: dict[str, Any],
    sign: Callable[[SigningIntent], Sequence[bytes]] = sign_locally,
) -> BenchKind:
    return BenchKind("tempo", kind, label, ADAPTER, payload, sign)


register(
    _kind("transaction", "secp256k1, TIP-20 transfer", TIP20_TRANSFER),
    _kind("transaction", "P-256 prehash, TIP-20", P256_TRANSFER, sign_p256),
    _kind("transaction", "WebAuthn, TIP-20 transfer", WEBAUTHN_TRANSFER, sign_webauthn),
    _kind("transaction", "sponsored + key authorization", SPONSORED_WITH_KEY),
    _kind("fee_payer", "sponsored + key authorization", _fee_payer_payload()),
)
