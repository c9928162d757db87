"""Tempo signature envelopes: encode, decode, verify (``tt_signature.rs``).

::

    secp256k1  r(32) || s(32) || v(1)                  65 bytes, no type byte, v = 27 + y_parity
    P-256      0x01 || r || s || x || y || prehash(1)  130 bytes
    WebAuthn   0x02 || authenticatorData || clientDataJSON || r || s || x || y
               (128 to 2048 bytes after the type byte)
    keychain   0x03 (v1) | 0x04 (v2) || user_address(20) || a primitive envelope

A 65-byte envelope is always secp256k1 (the node checks the length before the type byte).
Verification follows ``recover_signer``: secp256k1 recovers the address (low ``s``); P-256
verifies over the hash, or over ``sha256(hash)`` when ``prehash`` is set, with low ``s``,
and the signer is ``keccak256(x || y)[12:]``; WebAuthn checks ``authenticatorData`` (37
bytes: user present or verified, no attested data, no extensions) and ``clientDataJSON``
(``type`` ``webauthn.get``, ``challenge`` ``base64url(hash)``) and verifies P-256 over
``sha256(authenticatorData || sha256(clientDataJSON))``; a keychain signature verifies its
inner signature over ``keccak256(0x04 || hash || user_address)`` (v2) or ``hash`` (v1) and
stands for ``user_address``.

P-256 arithmetic is OpenSSL's through ``cryptography``; secp256k1 recovery is
libsecp256k1's (:mod:`cosigner.chains.evm.signatures`).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, encode_dss_signature

from cosigner.chains.errors import FinalizeError, PayloadError
from cosigner.chains.evm.signatures import SECP256K1_HALF_N, SECP256K1_N, recover_address
from cosigner.chains.evm.values import keccak256
from cosigner.chains.tempo.wire import check_address, check_bytes, check_uint

KEY_TYPES: tuple[str, ...] = ("secp256k1", "p256", "webAuthn")
"""Signature and key types by wire number (``SignatureType``), named as the node's serde."""

SECP256K1_SIGNATURE_LENGTH = 65
P256_SIGNATURE_LENGTH = 129
"""Bytes after the type byte of a P-256 envelope."""
MIN_WEBAUTHN_SIGNATURE_LENGTH = 128
MAX_WEBAUTHN_SIGNATURE_LENGTH = 2048
"""Bounds on the bytes after the type byte of a WebAuthn envelope."""
WEBAUTHN_AUTHENTICATOR_DATA_LENGTH = 37
KEYCHAIN_V2_MAGIC = 0x04

P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_HALF_N = P256_N // 2


@dataclass(frozen=True, slots=True)
class Secp256k1Signature:
    r: int
    s: int
    y_parity: int


@dataclass(frozen=True, slots=True)
class P256Signature:
    r: int
    s: int
    public_key_x: bytes
    public_key_y: bytes
    prehash: bool


@dataclass(frozen=True, slots=True)
class WebAuthnSignature:
    """``webauthn_data`` is ``authenticatorData || clientDataJSON``, as the node keeps it."""

    webauthn_data: bytes
    r: int
    s: int
    public_key_x: bytes
    public_key_y: bytes

    @property
    def authenticator_data(self) -> bytes:
        return self.webauthn_data[:WEBAUTHN_AUTHENTICATOR_DATA_LENGTH]

    @property
    def client_data_json(self) -> bytes:
        return self.webauthn_data[WEBAUTHN_AUTHENTICATOR_DATA_LENGTH:]


PrimitiveSignature: TypeAlias = Secp256k1Signature | P256Signature | WebAuthnSignature


@dataclass(frozen=True, slots=True)
class KeychainSignature:
    """An access key's signature on behalf of the root account ``user_address``."""

    user_address: bytes
    inner: PrimitiveSignature
    version: int = 2


TempoSignature: TypeAlias = PrimitiveSignature | KeychainSignature


def check_signature(signature: object, path: str, *, allow_keychain: bool) -> None:
    """Every value of ``signature`` fits its envelope; PayloadError naming the part otherwise."""
    if isinstance(signature, KeychainSignature):
        if not allow_keychain:
            raise PayloadError(path, "a keychain signature is not allowed here")
        check_address(signature.user_address, f"{path}.userAddress")
        if signature.version not in (1, 2):
            raise PayloadError(f"{path}.version", "the keychain version is 1 or 2")
        check_signature(signature.inner, f"{path}.inner", allow_keychain=False)
        return
    if isinstance(signature, Secp256k1Signature):
        check_uint(signature.r, f"{path}.r", 256)
        check_uint(signature.s, f"{path}.s", 256)
        if signature.y_parity not in (0, 1):
            raise PayloadError(f"{path}.yParity", "y parity is 0 or 1")
        return
    if isinstance(signature, P256Signature | WebAuthnSignature):
        check_uint(signature.r, f"{path}.r", 256)
        check_uint(signature.s, f"{path}.s", 256)
        check_bytes(signature.public_key_x, f"{path}.publicKey.x", 32)
        check_bytes(signature.public_key_y, f"{path}.publicKey.y", 32)
        if isinstance(signature, WebAuthnSignature):
            check_bytes(signature.webauthn_data, f"{path}.webauthnData")
            if len(signature.webauthn_data) + 128 > MAX_WEBAUTHN_SIGNATURE_LENGTH:
                raise PayloadError(
                    f"{path}.webauthnData",
                    f"a WebAuthn signature is at most {MAX_WEBAUTHN_SIGNATURE_LENGTH} bytes",
                )
        return
    raise PayloadError(path, "not a Tempo signature")


def encode_signature(signature: TempoSignature) -> bytes:
    """The envelope of a sender, key-authorization or AA-authorization signature."""
    check_signature(signature, "signature", allow_keychain=True)
    if isinstance(signature, KeychainSignature):
        type_byte = 0x03 if signature.version == 1 else 0x04
        return bytes([type_byte]) + signature.user_address + encode_signature(signature.inner)
    rs = signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big")
    if isinstance(signature, Secp256k1Signature):
        return rs + bytes([27 + signature.y_parity])
    key = signature.public_key_x + signature.public_key_y
    if isinstance(signature, P256Signature):
        return b"\x01" + rs + key + (b"\x01" if signature.prehash else b"\x00")
    return b"\x02" + signature.webauthn_data + rs + key


def decode_signature(
    data: bytes, path: str = "signature", *, allow_keychain: bool = True
) -> TempoSignature:
    """Parse an envelope as ``TempoSignature::from_bytes`` does.

    A secp256k1 ``v`` of 0 or 1 is read like 27 or 28 (re-encoding writes 27 or 28); a
    P-256 prehash byte other than 0 or 1 is refused.
    """
    if not isinstance(data, bytes | bytearray):
        raise PayloadError(path, "a signature envelope is bytes")
    data = bytes(data)
    if not data:
        raise PayloadError(path, "empty signature")
    if len(data) == SECP256K1_SIGNATURE_LENGTH:
        v = data[64]
        if v not in (0, 1, 27, 28):
            raise PayloadError(path, f"a secp256k1 v is 27 or 28 (or 0 or 1), found {v}")
        return Secp256k1Signature(
            int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big"), v % 27
        )
    if len(data) < 2:
        raise PayloadError(path, "too short for a type byte and a signature")
    type_byte, body = data[0], data[1:]
    if type_byte in (0x03, 0x04) and allow_keychain:
        if len(body) < 20:
            raise PayloadError(path, "a keychain signature is too short for its user address")
        inner = decode_primitive(body[20:], f"{path}.inner")
        return KeychainSignature(body[:20], inner, 1 if type_byte == 0x03 else 2)
    if type_byte == 0x01:
        if len(body) != P256_SIGNATURE_LENGTH:
            raise PayloadError(
                path, f"a P-256 signature is 1 + {P256_SIGNATURE_LENGTH} bytes, found {len(data)}"
            )
        if body[128] not in (0, 1):
            raise PayloadError(path, f"the P-256 prehash flag is 0 or 1, found {body[128]}")
        return P256Signature(
            int.from_bytes(body[:32], "big"),
            int.from_bytes(body[32:64], "big"),
            body[64:96],
            body[96:128],
            body[128] == 1,
        )
    if type_byte == 0x02:
        if not MIN_WEBAUTHN_SIGNATURE_LENGTH <= len(body) <= MAX_WEBAUTHN_SIGNATURE_LENGTH:
            raise PayloadError(
                path,
                f"a WebAuthn signature has {MIN_WEBAUTHN_SIGNATURE_LENGTH} to "
                f"{MAX_WEBAUTHN_SIGNATURE_LENGTH} bytes after its type byte, found {len(body)}",
            )
        tail = body[-128:]
        return WebAuthnSignature(
            body[:-128],
            int.from_bytes(tail[:32], "big"),
            int.from_bytes(tail[32:64], "big"),
            tail[64:96],
            tail[96:],
        )
    raise PayloadError(path, f"unknown signature type byte 0x{type_byte:02x}")


def decode_primitive(data: bytes, path: str = "signature") -> PrimitiveSignature:
    """A secp256k1, P-256 or WebAuthn envelope (``PrimitiveSignature::from_bytes``)."""
    signature = decode_signature(data, path, allow_keychain=False)
    assert not isinstance(signature, KeychainSignature)
    return signature


def signature_type(signature: TempoSignature) -> str:
    """``secp256k1``, ``p256``, ``webAuthn``, or ``keychain:<inner type>``."""
    if isinstance(signature, KeychainSignature):
        return f"keychain:{signature_type(signature.inner)}"
    if isinstance(signature, Secp256k1Signature):
        return "secp256k1"
    if isinstance(signature, P256Signature):
        return "p256"
    return "webAuthn"


# -- verification ------------------------------------------------------------------------------


def keychain_signing_hash(sig_hash: bytes, user_address: bytes) -> bytes:
    """``keccak256(0x04 || sig_hash || user_address)``: what a v2 access key signs."""
    return keccak256(bytes([KEYCHAIN_V2_MAGIC]) + sig_hash + user_address)


def p256_address(public_key_x: bytes, public_key_y: bytes) -> bytes:
    """``keccak256(x || y)[12:]``: the address of a P-256 (or WebAuthn) key."""
    return keccak256(public_key_x + public_key_y)[12:]


def p256_public_key(x: bytes, y: bytes) -> ec.EllipticCurvePublicKey:
    """The P-256 key at ``(x, y)``; FinalizeError when that is not a point on the curve."""
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    except ValueError:
        raise FinalizeError("the P-256 public key is not a point on the curve") from None


def low_s_p256(s: int) -> int:
    """``s`` or ``n - s``, whichever is at most ``n / 2`` (P-256 has no recovery id to flip)."""
    return P256_N - s if s > P256_HALF_N else s


def verify_p256(r: int, s: int, x: bytes, y: bytes, digest: bytes) -> None:
    """ECDSA P-256 over the 32-byte ``digest`` itself, low ``s`` required."""
    if not (0 < r < P256_N and 0 < s <= P256_HALF_N):
        raise FinalizeError("the P-256 signature is out of range or not low-s")
    try:
        p256_public_key(x, y).verify(
            encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256()))
        )
    except InvalidSignature:
        raise FinalizeError("the P-256 signature does not verify") from None


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def webauthn_message_hash(webauthn_data: bytes, challenge: bytes) -> bytes:
    """Check ``authenticatorData || clientDataJSON`` as the node does and return the
    P-256 digest ``sha256(authenticatorData || sha256(clientDataJSON))``."""
    if len(webauthn_data) < WEBAUTHN_AUTHENTICATOR_DATA_LENGTH + 32:
        raise FinalizeError("WebAuthn data too short")
    flags = webauthn_data[32]
    if not flags & 0x01 and not flags & 0x04:
        raise FinalizeError("WebAuthn: neither the user-present nor the user-verified flag is set")
    if flags & 0x40:
        raise FinalizeError("WebAuthn: the attested-credential-data flag must not be set")
    if flags & 0x80:
        raise FinalizeError("WebAuthn: Tempo supports no extensions (the ED flag is set)")
    authenticator_data = webauthn_data[:WEBAUTHN_AUTHENTICATOR_DATA_LENGTH]
    client_data_json = webauthn_data[WEBAUTHN_AUTHENTICATOR_DATA_LENGTH:]
    try:
        client_data = json.loads(client_data_json)
    except (ValueError, UnicodeDecodeError):
        raise FinalizeError("WebAuthn: clientDataJSON is not JSON") from None
    if not isinstance(client_data, dict) or client_data.get("type") != "webauthn.get":
        raise FinalizeError("WebAuthn: the clientDataJSON type is not webauthn.get")
    if client_data.get("challenge") != base64url(challenge):
        raise FinalizeError("WebAuthn: the clientDataJSON challenge is not the signed hash")
    return hashlib.sha256(authenticator_data + hashlib.sha256(client_data_json).digest()).digest()


def recover_secp256k1(r: int, s: int, y_parity: int, digest: bytes) -> bytes:
    """The address that signed ``digest``; low ``s`` and a 0/1 recovery id required."""
    if not (0 < r < SECP256K1_N and 0 < s <= SECP256K1_HALF_N):
        raise FinalizeError("the secp256k1 signature is out of range or not low-s")
    if y_parity not in (0, 1):
        raise FinalizeError("the secp256k1 recovery id is 0 or 1")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
    address = recover_address(digest, signature)
    if address is None:
        raise FinalizeError("no public key recovers from the secp256k1 signature")
    return address


def recover_signer(signature: TempoSignature, sig_hash: bytes) -> bytes:
    """Verify ``signature`` over ``sig_hash`` by Tempo's rules; return the signer's address.

    For a keychain signature the inner signature is verified and the root account
    (``user_address``) is returned, as the node's ``recover_signer`` does; whether the
    access key is authorized for that account is the chain's state, not checked here.
    """
    if isinstance(signature, KeychainSignature):
        inner_hash = (
            sig_hash
            if signature.version == 1
            else keychain_signing_hash(sig_hash, signature.user_address)
        )
        recover_signer(signature.inner, inner_hash)
        return signature.user_address
    if isinstance(signature, Secp256k1Signature):
        return recover_secp256k1(signature.r, signature.s, signature.y_parity, sig_hash)
    if isinstance(signature, P256Signature):
        digest = hashlib.sha256(sig_hash).digest() if signature.prehash else sig_hash
    else:
        digest = webauthn_message_hash(signature.webauthn_data, sig_hash)
    verify_p256(signature.r, signature.s, signature.public_key_x, signature.public_key_y, digest)
    return p256_address(signature.public_key_x, signature.public_key_y)
