"""FROST(secp256k1, SHA-256) for BIP-340 Schnorr signatures and BIP-341 Taproot.

Not part of RFC 9591: this follows the Zcash Foundation's ``frost-secp256k1-tr``
(context string ``FROST-secp256k1-SHA256-TR-v1``) so that keys, DKG packages
and signatures interoperate with it.

* H1, H3, H4, H5, HDKG and HID are those of FROST(secp256k1, SHA-256) with
  the TR context string; H2 is BIP-340's ``tagged_hash("BIP0340/challenge")``
  and the challenge hashes the 32-byte x coordinates of R and the key.
* Signatures are 64 bytes, ``x(R) || z``, and verify under BIP-340 with the
  x-only group key.
* Even y is handled lazily, as BIP-340 requires and as the Zcash Foundation
  does: before round two a key package whose group key has odd y is negated
  (share, verifying share and key), and when the group commitment R has odd y
  every signer negates its nonces. Verifiers mirror both. Binding factors
  hash the 33-byte even-y key.
* DKG output is tweaked with BIP-341's ``TapTweak`` and no script tree (an
  unspendable script path), as the Zcash Foundation's ``post_dkg`` does;
  dealer keys are left as generated. :func:`tweak_key_package` and
  :func:`tweak_public_key_package` apply a tweak with an optional Merkle root.
"""

from __future__ import annotations

import hashlib

from cosigner.frost.aggregate import aggregate
from cosigner.frost.ciphersuite import Secp256k1Sha256, register
from cosigner.frost.errors import InvalidSignature
from cosigner.frost.identifier import IdMapping
from cosigner.frost.keys import KeyPackage, PublicKeyPackage
from cosigner.frost.package import SigningPackage
from cosigner.frost.round1 import SigningNonces
from cosigner.frost.round2 import SignatureShare, sign
from cosigner.groups import SECP256K1, Element, Secp256k1Element


def tagged_hash(tag: str, data: bytes) -> bytes:
    """BIP-340 ``hash_tag(x) = SHA256(SHA256(tag) || SHA256(tag) || x)``."""
    t = hashlib.sha256(tag.encode()).digest()
    return hashlib.sha256(t + t + data).digest()


def _even(e: Element) -> bool:
    assert isinstance(e, Secp256k1Element)
    return e.has_even_y


def _x(e: Element) -> bytes:
    assert isinstance(e, Secp256k1Element)
    return e.x_only()


class Secp256k1TrSha256(Secp256k1Sha256):
    """FROST(secp256k1, SHA-256) with BIP-340 signatures (``secp256k1-tr``)."""

    name = "secp256k1-tr"
    suite_id = 4
    context_string = b"FROST-secp256k1-SHA256-TR-v1"

    def H2(self, m: bytes) -> int:  # noqa: N802
        return int.from_bytes(tagged_hash("BIP0340/challenge", m), "big") % self.group.order

    def challenge(self, R: Element, verifying_key: Element, message: bytes) -> int:  # noqa: N803
        return self.H2(_x(R) + _x(verifying_key) + message)

    @property
    def signature_size(self) -> int:
        return 64

    def serialize_signature(self, R: Element, z: int) -> bytes:  # noqa: N803
        return _x(R) + self.encode_scalar(z)

    def deserialize_signature(self, signature: bytes) -> tuple[Element, int]:
        if not isinstance(signature, bytes | bytearray) or len(signature) != 64:
            raise InvalidSignature("a BIP-340 signature is 64 bytes")
        try:
            R = SECP256K1.decode_x_only(bytes(signature[:32]))  # noqa: N806
            z = self.decode_scalar(bytes(signature[32:]))
        except Exception as exc:  # a typed DecodeError; reported as a bad signature
            raise InvalidSignature(f"malformed BIP-340 signature: {exc}") from None
        return R, z

    def coerce_verifying_key(self, key: Element | bytes) -> Element:
        if isinstance(key, bytes | bytearray) and len(key) == 32:
            try:
                return SECP256K1.decode_x_only(bytes(key))
            except Exception as exc:
                raise InvalidSignature(f"malformed x-only verifying key: {exc}") from None
        return super().coerce_verifying_key(key)

    def verify_signature(self, verifying_key: Element, message: bytes, signature: bytes) -> None:
        """BIP-340 verification: ``z * G - c * P`` must be the even-y point with x = x(R)."""
        R, z = self.deserialize_signature(signature)  # noqa: N806
        if verifying_key.is_identity:
            raise InvalidSignature("the verifying key is the identity element")
        P = verifying_key if _even(verifying_key) else -verifying_key  # noqa: N806
        c = self.challenge(R, P, message)
        candidate = self.group.base_mul(z) - P * c
        if candidate.is_identity or not _even(candidate) or _x(candidate) != _x(R):
            raise InvalidSignature("BIP-340 signature does not verify")

    def pre_sign(self, key_package: KeyPackage) -> KeyPackage:
        if _even(key_package.verifying_key):
            return key_package
        return KeyPackage._trusted(
            self,
            key_package.identifier,
            -key_package.signing_share,
            -key_package.verifying_share,
            -key_package.verifying_key,
            key_package.min_signers,
        )

    def pre_aggregate(self, public_key_package: PublicKeyPackage) -> PublicKeyPackage:
        if _even(public_key_package.verifying_key):
            return public_key_package
        return PublicKeyPackage(
            self,
            {i: -e for i, e in public_key_package.verifying_shares.items()},
            -public_key_package.verifying_key,
            public_key_package.min_signers,
        )

    def effective_nonces(
        self, group_commitment: Element, hiding: int, binding: int
    ) -> tuple[int, int]:
        if _even(group_commitment):
            return hiding, binding
        return -hiding, -binding

    def effective_commitment_share(self, group_commitment: Element, share: Element) -> Element:
        return share if _even(group_commitment) else -share

    def proof_nonce(self, k: int, R: Element) -> tuple[int, Element]:  # noqa: N803
        return (k, R) if _even(R) else (-k, -R)

    def post_dkg(
        self, key_package: KeyPackage, public_key_package: PublicKeyPackage
    ) -> tuple[KeyPackage, PublicKeyPackage]:
        return tweak_key_package(key_package), tweak_public_key_package(public_key_package)


SECP256K1_TR_SHA256 = Secp256k1TrSha256()
register(SECP256K1_TR_SHA256)


def taproot_tweak(verifying_key: Element, merkle_root: bytes | None = None) -> int:
    """BIP-341 ``t = hash_TapTweak(x(P) || merkle_root)`` as a scalar (no root: key path only)."""
    data = _x(verifying_key) + (bytes(merkle_root) if merkle_root else b"")
    return int.from_bytes(tagged_hash("TapTweak", data), "big") % SECP256K1.order


def tweak_key_package(key_package: KeyPackage, merkle_root: bytes | None = None) -> KeyPackage:
    """The key package for the BIP-341 output key ``Q = P_even + t * G``."""
    suite = SECP256K1_TR_SHA256
    kp = suite.pre_sign(key_package)
    t = taproot_tweak(kp.verifying_key, merkle_root)
    tG = SECP256K1.base_mul(t)  # noqa: N806
    return KeyPackage._trusted(
        suite,
        kp.identifier,
        kp.signing_share + t,
        kp.verifying_share + tG,
        kp.verifying_key + tG,
        kp.min_signers,
    )


def tweak_public_key_package(
    public_key_package: PublicKeyPackage, merkle_root: bytes | None = None
) -> PublicKeyPackage:
    """The public key package for the BIP-341 output key ``Q = P_even + t * G``."""
    suite = SECP256K1_TR_SHA256
    pkp = suite.pre_aggregate(public_key_package)
    t = taproot_tweak(pkp.verifying_key, merkle_root)
    tG = SECP256K1.base_mul(t)  # noqa: N806
    return PublicKeyPackage(
        suite,
        {i: e + tG for i, e in pkp.verifying_shares.items()},
        pkp.verifying_key + tG,
        pkp.min_signers,
    )


def sign_with_tweak(
    package: SigningPackage,
    nonces: SigningNonces,
    key_package: KeyPackage,
    merkle_root: bytes | None = None,
) -> SignatureShare:
    """Round two for the tweaked output key (do not use on DKG output, which is tweaked)."""
    return sign(package, nonces, tweak_key_package(key_package, merkle_root))


def aggregate_with_tweak(
    package: SigningPackage,
    shares: IdMapping[SignatureShare],
    public_key_package: PublicKeyPackage,
    merkle_root: bytes | None = None,
) -> bytes:
    return aggregate(package, shares, tweak_public_key_package(public_key_package, merkle_root))
