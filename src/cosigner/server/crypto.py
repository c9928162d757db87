"""Encryption the server does: state at rest, and key export to the client.

**State at rest** (:class:`StateCipher`). Signing nonces and protocol state
are stored encrypted, so a copy of the database alone reveals nothing. The
key is ``HKDF-SHA256(master secret, salt = "cosigner/server/state/v1",
info = purpose)``, one key per scheme. A sealed blob is::

    0x01 || nonce (12 bytes, random) || ChaCha20-Poly1305(key, nonce, plaintext, aad)

with ``aad = lp(kind) || lp(record id)``, so a blob moved to another record
or another kind does not open.

**Key export** (:func:`seal_to_x25519`). The client sends an ephemeral X25519
public key; the server makes its own ephemeral key, and encrypts with::

    shared = X25519(server ephemeral, client public)
    key    = HKDF-SHA256(shared, salt = server public || client public,
                         info = "cosigner/export/v1" || lp(context))
    ciphertext = ChaCha20-Poly1305(key, nonce, plaintext, aad = context)

Every primitive is from ``cryptography``; only the framing is ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cosigner.errors import CosignerError

STATE_VERSION: Final = 1
NONCE_BYTES: Final = 12
EXPORT_ALGORITHM: Final = "X25519-HKDF-SHA256-ChaCha20Poly1305"
_STATE_SALT: Final = b"cosigner/server/state/v1"
_EXPORT_INFO: Final = b"cosigner/export/v1"


class SealedStateError(CosignerError):
    """Stored state that does not decrypt: altered, moved, or sealed under another key."""

    code = "stale_session_state"


class ExportKeyError(CosignerError, ValueError):
    code = "invalid_export_key"


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def _hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


class StateCipher:
    """Seals and opens server state with a key derived from a master secret."""

    __slots__ = ("_aead",)

    def __init__(self, master_secret: bytes, purpose: str) -> None:
        self._aead = ChaCha20Poly1305(_hkdf(master_secret, _STATE_SALT, purpose.encode()))

    @staticmethod
    def _aad(kind: str, record_id: str) -> bytes:
        return _lp(kind.encode()) + _lp(record_id.encode())

    def seal(self, plaintext: bytes, *, kind: str, record_id: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, self._aad(kind, record_id))
        return bytes([STATE_VERSION]) + nonce + sealed

    def open(self, blob: bytes, *, kind: str, record_id: str) -> bytes:
        if len(blob) < 1 + NONCE_BYTES + 16 or blob[0] != STATE_VERSION:
            raise SealedStateError("stored state has an unknown format")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, sealed, self._aad(kind, record_id))
        except InvalidTag:
            raise SealedStateError("stored state does not decrypt; start over") from None

    def __repr__(self) -> str:
        return "StateCipher(<redacted>)"


@dataclass(frozen=True, slots=True)
class SealedExport:
    """What the client needs to open an export: all public values."""

    ephemeral_public_key: bytes
    nonce: bytes
    ciphertext: bytes


def _export_key(shared: bytes, server_public: bytes, client_public: bytes, context: bytes) -> bytes:
    return _hkdf(shared, server_public + client_public, _EXPORT_INFO + _lp(context))


def seal_to_x25519(client_public_key: bytes, plaintext: bytes, *, context: bytes) -> SealedExport:
    """Encrypt ``plaintext`` to the client's X25519 key under a fresh server key."""
    try:
        client_public = X25519PublicKey.from_public_bytes(client_public_key)
    except ValueError:
        raise ExportKeyError("the recipient key is not a 32-byte X25519 public key") from None
    ephemeral = X25519PrivateKey.generate()
    try:
        shared = ephemeral.exchange(client_public)
    except ValueError:
        shared = bytes(32)
    if shared == bytes(32):
        raise ExportKeyError("the recipient key is a low-order point; send a fresh X25519 key")
    server_public = ephemeral.public_key().public_bytes_raw()
    key = _export_key(shared, server_public, client_public_key, context)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = ChaCha20Poly1305(key).encrypt(nonce, plaintext, context)
    return SealedExport(server_public, nonce, ciphertext)


def open_x25519_export(
    client_private_key: X25519PrivateKey, sealed: SealedExport, *, context: bytes
) -> bytes:
    """The client's side of :func:`seal_to_x25519`."""
    client_public = client_private_key.public_key().public_bytes_raw()
    server_public = X25519PublicKey.from_public_bytes(sealed.ephemeral_public_key)
    shared = client_private_key.exchange(server_public)
    key = _export_key(shared, sealed.ephemeral_public_key, client_public, context)
    try:
        return ChaCha20Poly1305(key).decrypt(sealed.nonce, sealed.ciphertext, context)
    except InvalidTag:
        raise ExportKeyError("the export does not decrypt with this key and context") from None
