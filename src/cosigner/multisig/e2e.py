"""End-to-end encrypted DKG shares: envelopes the coordinator relays but cannot open.

A part-two package of the DKG (one owner's secret share for another) travels
through the coordinator in an :class:`Envelope`. The construction is
ECIES-style, the shape of HPKE's base mode (RFC 9180) built from libsodium
and ``cryptography`` primitives, with the sender authenticated by a
signature:

* **Recipient key.** The recipient's X25519 key is its Ed25519 identity key
  converted with libsodium's ``crypto_sign_ed25519_pk_to_curve25519`` (and
  ``sk_to_curve25519`` on its side). We chose conversion over separate
  X25519 keys signed by the identity key: an owner has one key to keep and
  back up, and the group's owner list is all a sender needs. Using one key
  pair for Ed25519 signatures and an X25519 KEM is analysed as safe by
  Thormarker, "On using the same key pair for Ed25519 and an X25519 based
  KEM" (eprint 2021/509).
* **Key agreement.** A fresh ephemeral X25519 key per envelope;
  ``shared = X25519(ephemeral, recipient)``, refused if all zero (small
  order). The AEAD key is HKDF-SHA256 (RFC 5869) with ``salt = ephemeral
  public || recipient X25519 public`` and ``info`` = a domain tag and the
  envelope header, so a key belongs to one sender, recipient, group and round.
* **Encryption.** ChaCha20-Poly1305 (RFC 8439) with a zero nonce (each key
  encrypts exactly one message) and the header as associated data.
* **Sender authentication.** The sender's Ed25519 identity signature over
  the header (format, group id, round, sender, recipient, ephemeral key) and
  the ciphertext. Anyone, the coordinator included, can check it without
  being able to decrypt; the recipient checks it before decrypting.

Because each envelope has its own key, a recipient that complains about a
bad share can reveal that one key (:func:`envelope_key`) and anyone can
check the complaint with :func:`open_with_key`, learning nothing about any
other envelope.

Wire format (all lengths big-endian)::

    "CSE" 0x01 || u16 len || group id || u16 len || round ||
    sender (32) || recipient (32) || ephemeral (32) ||
    u32 len || ciphertext || signature (64)

:meth:`Envelope.from_bytes` accepts exactly this, with printable ASCII ids of
1 to 128 bytes and a ciphertext of 16 bytes (the tag) to 64 KiB, and raises
:class:`~cosigner.multisig.errors.EnvelopeDecodeError` on anything else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Final

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cosigner.groups import RandomBytes, system_random
from cosigner.multisig.errors import (
    EnvelopeDecodeError,
    InvalidEnvelope,
    InvalidIdentityKey,
    InvalidIdentitySignature,
)
from cosigner.multisig.identity import (
    IdentityKey,
    check_identity_key,
    verify_identity_signature,
    x25519_public_key,
)
from cosigner.multisig.transcript import lp, statement

MAGIC: Final = b"CSE\x01"
KEY_SIZE: Final = 32
TAG_SIZE: Final = 16
MAX_LABEL: Final = 128
MAX_CIPHERTEXT: Final = 64 * 1024 + TAG_SIZE
HKDF_INFO: Final = b"cosigner/multisig/v1/e2e"
_ZERO_NONCE: Final = bytes(12)


def _check_label(value: object, what: str) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_LABEL
        or not value.isascii()
        or not value.isprintable()
    ):
        raise InvalidEnvelope(f"the {what} must be 1 to {MAX_LABEL} printable ASCII characters")
    return value


@dataclass(frozen=True, slots=True)
class Envelope:
    """One encrypted, sender-signed message from ``sender`` to ``recipient`` (identity keys)."""

    group_id: str
    round: str
    sender: bytes
    recipient: bytes
    ephemeral: bytes
    ciphertext: bytes
    signature: bytes

    def header(self) -> bytes:
        """The authenticated header: the AEAD's associated data and the HKDF context."""
        return (
            MAGIC
            + struct.pack(">H", len(self.group_id))
            + self.group_id.encode("ascii")
            + struct.pack(">H", len(self.round))
            + self.round.encode("ascii")
            + self.sender
            + self.recipient
            + self.ephemeral
        )

    def signed_bytes(self) -> bytes:
        return statement("envelope", self.header(), self.ciphertext)

    def to_bytes(self) -> bytes:
        return (
            self.header()
            + struct.pack(">I", len(self.ciphertext))
            + self.ciphertext
            + self.signature
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        if not isinstance(data, bytes | bytearray):
            raise EnvelopeDecodeError("an envelope is bytes")
        data = bytes(data)
        pos = 0

        def take(n: int, what: str) -> bytes:
            nonlocal pos
            if pos + n > len(data):
                raise EnvelopeDecodeError(f"truncated envelope: missing {what}")
            out = data[pos : pos + n]
            pos += n
            return out

        if take(4, "the format tag") != MAGIC:
            raise EnvelopeDecodeError("not a cosigner envelope (format tag CSE v1)")
        labels = []
        for what in ("group id", "round"):
            (n,) = struct.unpack(">H", take(2, f"the {what} length"))
            raw = take(n, f"the {what}")
            try:
                labels.append(_check_label(raw.decode("ascii"), what))
            except (UnicodeDecodeError, InvalidEnvelope):
                raise EnvelopeDecodeError(
                    f"the {what} must be 1 to {MAX_LABEL} printable ASCII characters"
                ) from None
        sender = take(32, "the sender key")
        recipient = take(32, "the recipient key")
        ephemeral = take(32, "the ephemeral key")
        (n,) = struct.unpack(">I", take(4, "the ciphertext length"))
        if not TAG_SIZE <= n <= MAX_CIPHERTEXT:
            raise EnvelopeDecodeError(
                f"the ciphertext must be {TAG_SIZE} to {MAX_CIPHERTEXT} bytes, not {n}"
            )
        ciphertext = take(n, "the ciphertext")
        signature = take(64, "the signature")
        if pos != len(data):
            raise EnvelopeDecodeError(f"{len(data) - pos} trailing bytes after the envelope")
        return cls(labels[0], labels[1], sender, recipient, ephemeral, ciphertext, signature)

    def verify_signature(self) -> None:
        """Check the sender's identity signature; raise :class:`InvalidEnvelope` if it fails."""
        try:
            check_identity_key(self.sender)
            verify_identity_signature(self.sender, self.signed_bytes(), self.signature)
        except (InvalidIdentityKey, InvalidIdentitySignature):
            raise InvalidEnvelope(
                f"the envelope is not signed by its sender {self.sender[:8].hex()}"
            ) from None

    def __repr__(self) -> str:
        return (
            f"Envelope(group_id={self.group_id!r}, round={self.round!r}, "
            f"sender={self.sender[:8].hex()}, recipient={self.recipient[:8].hex()}, "
            f"{len(self.ciphertext)} ciphertext bytes)"
        )


def _derive_key(shared: bytes, ephemeral: bytes, recipient_x25519: bytes, header: bytes) -> bytes:
    if shared == bytes(32):
        raise InvalidEnvelope("the key agreement gave the all-zero secret (a small-order key)")
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=ephemeral + recipient_x25519,
        info=lp(HKDF_INFO) + lp(header),
    )
    return hkdf.derive(shared)


def seal(
    sender: IdentityKey,
    recipient: bytes,
    group_id: str,
    round: str,
    plaintext: bytes,
    rng: RandomBytes = system_random,
) -> Envelope:
    """Encrypt ``plaintext`` to ``recipient``'s identity key and sign it as ``sender``."""
    _check_label(group_id, "group id")
    _check_label(round, "round")
    recipient = check_identity_key(recipient)
    if len(plaintext) + TAG_SIZE > MAX_CIPHERTEXT:
        raise InvalidEnvelope(f"an envelope carries at most {MAX_CIPHERTEXT - TAG_SIZE} bytes")
    recipient_x = x25519_public_key(recipient)
    ephemeral_secret = rng(32)
    ephemeral = bytes(nacl.bindings.crypto_scalarmult_base(ephemeral_secret))
    try:
        shared = bytes(nacl.bindings.crypto_scalarmult(ephemeral_secret, recipient_x))
    except nacl.exceptions.CryptoError:
        raise InvalidEnvelope("the recipient's X25519 key is of small order") from None
    unsigned = Envelope(group_id, round, sender.public_key, recipient, ephemeral, b"", b"")
    header = unsigned.header()
    key = _derive_key(shared, ephemeral, recipient_x, header)
    ciphertext = ChaCha20Poly1305(key).encrypt(_ZERO_NONCE, bytes(plaintext), header)
    body = Envelope(group_id, round, sender.public_key, recipient, ephemeral, ciphertext, b"")
    return Envelope(
        group_id,
        round,
        sender.public_key,
        recipient,
        ephemeral,
        ciphertext,
        sender.sign(body.signed_bytes()),
    )


def envelope_key(recipient: IdentityKey, envelope: Envelope) -> bytes:
    """The envelope's AEAD key, derived by its recipient (revealed only to prove a complaint)."""
    if envelope.recipient != recipient.public_key:
        raise InvalidEnvelope("this envelope is addressed to another owner")
    shared = recipient.x25519_shared_secret(envelope.ephemeral)
    return _derive_key(shared, envelope.ephemeral, recipient.x25519_public_key, envelope.header())


def open_with_key(envelope: Envelope, key: bytes) -> bytes:
    """Decrypt with a given AEAD key; :class:`InvalidEnvelope` if it does not authenticate."""
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise InvalidEnvelope("an envelope key is 32 bytes")
    try:
        return ChaCha20Poly1305(bytes(key)).decrypt(
            _ZERO_NONCE, envelope.ciphertext, envelope.header()
        )
    except InvalidTag:
        raise InvalidEnvelope("the envelope does not decrypt under this key") from None


def open_envelope(recipient: IdentityKey, envelope: Envelope) -> bytes:
    """Check the sender's signature and the addressing, then decrypt."""
    envelope.verify_signature()
    try:
        key = envelope_key(recipient, envelope)
    except InvalidIdentityKey:
        raise InvalidEnvelope("the envelope's ephemeral key is of small order") from None
    return open_with_key(envelope, key)


__all__ = [
    "Envelope",
    "envelope_key",
    "open_envelope",
    "open_with_key",
    "seal",
]
