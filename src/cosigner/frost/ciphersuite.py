"""FROST ciphersuites: a group, a context string and the hash functions H1..H5.

RFC 9591 Section 6 defines each ciphersuite by its group and five hash
functions; the protocol code in this package is written once against
:class:`Ciphersuite`. Two more hashes come from the Zcash Foundation
implementation, which our DKG and identifiers interoperate with:
``HDKG`` (proof-of-knowledge challenge, prefix ``"dkg"``) and ``HID``
(identifiers derived from names, prefix ``"id"``).

* FROST(Ed25519, SHA-512), Section 6.1, ``FROST-ED25519-SHA512-v1``.
* FROST(ristretto255, SHA-512), Section 6.2, ``FROST-RISTRETTO255-SHA512-v1``.
* FROST(secp256k1, SHA-256), Section 6.5, ``FROST-secp256k1-SHA256-v1``.
* FROST(secp256k1, SHA-256) for BIP-340 Taproot, ``FROST-secp256k1-SHA256-TR-v1``,
  after the Zcash Foundation's ``frost-secp256k1-tr``: see :mod:`cosigner.frost.taproot`.

Hashing to a secp256k1 scalar uses ``hash_to_field`` of RFC 9380 Section 5.2
with ``expand_message_xmd`` (Section 5.3.1), SHA-256 and L = 48; no
well-kept Python library exposes it on its own, so it is written here.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, ClassVar

from cosigner.errors import CosignerError
from cosigner.frost.errors import FrostError, InvalidSignature
from cosigner.groups import ED25519, RISTRETTO255, SECP256K1, Element, Group

if TYPE_CHECKING:
    from cosigner.frost.keys import KeyPackage, PublicKeyPackage


class UnknownCiphersuiteError(FrostError, ValueError):
    code = "unknown_ciphersuite"


def expand_message_xmd_sha256(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 Section 5.3.1 with SHA-256 (b_in_bytes = 32, s_in_bytes = 64)."""
    if len(dst) > 255:
        raise ValueError("DST longer than 255 bytes")
    ell = -(-length // 32)
    if ell > 255:
        raise ValueError("expand_message_xmd: requested length too large")
    dst_prime = dst + bytes([len(dst)])
    b0 = hashlib.sha256(bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime).digest()
    bi = hashlib.sha256(b0 + b"\x01" + dst_prime).digest()
    out = [bi]
    for i in range(2, ell + 1):
        mixed = int.from_bytes(b0, "big") ^ int.from_bytes(bi, "big")
        bi = hashlib.sha256(mixed.to_bytes(32, "big") + bytes([i]) + dst_prime).digest()
        out.append(bi)
    return b"".join(out)[:length]


class Ciphersuite:
    """A FROST ciphersuite. Instances are singletons; compare them with ``is``."""

    name: ClassVar[str]
    suite_id: ClassVar[int]
    """One byte naming the suite in cosigner's canonical encodings."""
    context_string: ClassVar[bytes]
    group: ClassVar[Group]

    # -- hashing -------------------------------------------------------------------
    def hash_to_scalar(self, prefix: bytes, msg: bytes) -> int:
        raise NotImplementedError

    def hash_bytes(self, prefix: bytes, msg: bytes) -> bytes:
        raise NotImplementedError

    def H1(self, m: bytes) -> int:  # noqa: N802 - the RFC's names
        return self.hash_to_scalar(b"rho", m)

    def H2(self, m: bytes) -> int:  # noqa: N802
        return self.hash_to_scalar(b"chal", m)

    def H3(self, m: bytes) -> int:  # noqa: N802
        return self.hash_to_scalar(b"nonce", m)

    def H4(self, m: bytes) -> bytes:  # noqa: N802
        return self.hash_bytes(b"msg", m)

    def H5(self, m: bytes) -> bytes:  # noqa: N802
        return self.hash_bytes(b"com", m)

    def HDKG(self, m: bytes) -> int:  # noqa: N802
        return self.hash_to_scalar(b"dkg", m)

    def HID(self, m: bytes) -> int:  # noqa: N802
        return self.hash_to_scalar(b"id", m)

    # -- encodings -----------------------------------------------------------------
    def encode_scalar(self, k: int) -> bytes:
        return self.group.encode_scalar(k)

    def decode_scalar(self, data: bytes) -> int:
        return self.group.decode_scalar(data)

    def encode_element(self, e: Element) -> bytes:
        return e.to_bytes()

    def decode_element(self, data: bytes) -> Element:
        return self.group.decode_element(data)

    @property
    def signature_size(self) -> int:
        return self.group.element_size + self.group.scalar_size

    def serialize_signature(self, R: Element, z: int) -> bytes:  # noqa: N803
        return self.encode_element(R) + self.encode_scalar(z)

    def deserialize_signature(self, signature: bytes) -> tuple[Element, int]:
        if not isinstance(signature, bytes | bytearray) or len(signature) != self.signature_size:
            raise InvalidSignature(f"a {self.name} signature is {self.signature_size} bytes")
        n = self.group.element_size
        try:
            R = self.decode_element(bytes(signature[:n]))  # noqa: N806
            z = self.decode_scalar(bytes(signature[n:]))
        except CosignerError as exc:
            raise InvalidSignature(f"malformed signature: {exc.message}") from None
        return R, z

    # -- the Schnorr parts a variant may change --------------------------------------
    def challenge(self, R: Element, verifying_key: Element, message: bytes) -> int:  # noqa: N803
        """RFC 9591 Section 4.6 compute_challenge."""
        return self.H2(self.encode_element(R) + self.encode_element(verifying_key) + message)

    def verify_signature(self, verifying_key: Element, message: bytes, signature: bytes) -> None:
        """Schnorr verification ``z * G == R + c * PK``; raises :class:`InvalidSignature`."""
        R, z = self.deserialize_signature(signature)  # noqa: N806
        if verifying_key.is_identity:
            raise InvalidSignature("the verifying key is the identity element")
        c = self.challenge(R, verifying_key, message)
        if self.group.base_mul(z) - verifying_key * c != R:
            raise InvalidSignature(f"{self.name} signature does not verify")

    def coerce_verifying_key(self, key: Element | bytes) -> Element:
        """A verifying key given as an element or in its serialized form."""
        if isinstance(key, Element):
            if key.group is not self.group:
                raise InvalidSignature(f"the verifying key is not a {self.group.name} element")
            return key
        try:
            return self.decode_element(bytes(key))
        except CosignerError as exc:
            raise InvalidSignature(f"malformed verifying key: {exc.message}") from None

    # -- hooks for variants (the Zcash Foundation's Ciphersuite hooks) ------------------
    def pre_sign(self, key_package: KeyPackage) -> KeyPackage:
        """Adjust a key package before round two (Taproot: even-y group key)."""
        return key_package

    def pre_aggregate(self, public_key_package: PublicKeyPackage) -> PublicKeyPackage:
        """Adjust a public key package before share verification and aggregation."""
        return public_key_package

    def effective_nonces(
        self, group_commitment: Element, hiding: int, binding: int
    ) -> tuple[int, int]:
        """The nonces a signer actually uses, given the group commitment (Taproot: even y)."""
        return hiding, binding

    def effective_commitment_share(self, group_commitment: Element, share: Element) -> Element:
        """The commitment share a verifier checks against, mirroring :meth:`effective_nonces`."""
        return share

    def post_dkg(
        self, key_package: KeyPackage, public_key_package: PublicKeyPackage
    ) -> tuple[KeyPackage, PublicKeyPackage]:
        """Adjust DKG output (Taproot: BIP-341 tweak with no script tree)."""
        return key_package, public_key_package

    def proof_nonce(self, k: int, R: Element) -> tuple[int, Element]:  # noqa: N803
        """The DKG proof-of-knowledge nonce (Taproot: even y)."""
        return k, R

    def __repr__(self) -> str:
        return f"<FROST ciphersuite {self.name}>"

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (ciphersuite, (self.name,))


class _Sha512Suite(Ciphersuite):
    def hash_to_scalar(self, prefix: bytes, msg: bytes) -> int:
        digest = hashlib.sha512(self.context_string + prefix + msg).digest()
        return int.from_bytes(digest, "little") % self.group.order

    def hash_bytes(self, prefix: bytes, msg: bytes) -> bytes:
        return hashlib.sha512(self.context_string + prefix + msg).digest()


class Ed25519Sha512(_Sha512Suite):
    """FROST(Ed25519, SHA-512), RFC 9591 Section 6.1. Signatures are RFC 8032 signatures."""

    name = "ed25519"
    suite_id = 1
    context_string = b"FROST-ED25519-SHA512-v1"
    group = ED25519

    def H2(self, m: bytes) -> int:  # noqa: N802
        # Section 6.1: H2 is SHA-512 with no prefix, so the challenge is RFC 8032's.
        return int.from_bytes(hashlib.sha512(m).digest(), "little") % self.group.order

    def verify_signature(self, verifying_key: Element, message: bytes, signature: bytes) -> None:
        # Parse strictly first (canonical R in the subgroup, z < L), then let libsodium
        # do the double-scalar multiplication of RFC 8032 Section 5.1.7.
        self.deserialize_signature(signature)
        if verifying_key.is_identity:
            raise InvalidSignature("the verifying key is the identity element")
        from nacl import bindings
        from nacl.exceptions import BadSignatureError

        try:
            bindings.crypto_sign_open(bytes(signature) + message, verifying_key.to_bytes())
        except BadSignatureError:
            raise InvalidSignature("ed25519 signature does not verify") from None


class Ristretto255Sha512(_Sha512Suite):
    """FROST(ristretto255, SHA-512), RFC 9591 Section 6.2."""

    name = "ristretto255"
    suite_id = 3
    context_string = b"FROST-RISTRETTO255-SHA512-v1"
    group = RISTRETTO255


class Secp256k1Sha256(Ciphersuite):
    """FROST(secp256k1, SHA-256), RFC 9591 Section 6.5."""

    name = "secp256k1"
    suite_id = 2
    context_string = b"FROST-secp256k1-SHA256-v1"
    group = SECP256K1

    def hash_to_scalar(self, prefix: bytes, msg: bytes) -> int:
        uniform = expand_message_xmd_sha256(msg, self.context_string + prefix, 48)
        return int.from_bytes(uniform, "big") % self.group.order

    def hash_bytes(self, prefix: bytes, msg: bytes) -> bytes:
        return hashlib.sha256(self.context_string + prefix + msg).digest()


ED25519_SHA512 = Ed25519Sha512()
RISTRETTO255_SHA512 = Ristretto255Sha512()
SECP256K1_SHA256 = Secp256k1Sha256()

_SUITES: dict[str, Ciphersuite] = {}


def register(suite: Ciphersuite) -> None:
    _SUITES[suite.name] = suite


for _s in (ED25519_SHA512, SECP256K1_SHA256, RISTRETTO255_SHA512):
    register(_s)


def ciphersuite(name: str) -> Ciphersuite:
    """The ciphersuite named ``ed25519``, ``secp256k1``, ``ristretto255`` or ``secp256k1-tr``."""
    if isinstance(name, Ciphersuite):
        return name
    try:
        return _SUITES[name]
    except KeyError:
        raise UnknownCiphersuiteError(
            f"unknown FROST ciphersuite {name!r}; choose one of {', '.join(sorted(_SUITES))}"
        ) from None


def ciphersuite_by_id(suite_id: int) -> Ciphersuite:
    for suite in _SUITES.values():
        if suite.suite_id == suite_id:
            return suite
    raise UnknownCiphersuiteError(f"unknown ciphersuite id {suite_id}")


def all_ciphersuites() -> list[Ciphersuite]:
    return list(_SUITES.values())
