"""Aggregation and verification (RFC 9591 Sections 5.3 and 6).

:func:`aggregate` sums the shares, verifies the resulting signature and, only
if that fails, verifies every share to name the culprits (the Zcash
Foundation's cheater detection, reporting all culprits). The happy path
costs one signature verification, not one per share.
"""

from __future__ import annotations

from cosigner.frost.ciphersuite import Ciphersuite, ciphersuite
from cosigner.frost.errors import (
    CiphersuiteMismatch,
    InvalidParameters,
    InvalidSignature,
    InvalidSignatureShare,
    UnknownIdentifier,
)
from cosigner.frost.identifier import Identifier, IdMapping
from cosigner.frost.keys import PublicKeyPackage
from cosigner.frost.package import SigningPackage
from cosigner.frost.round2 import SignatureShare, _share_is_valid
from cosigner.groups import Element


def aggregate(
    package: SigningPackage,
    shares: IdMapping[SignatureShare],
    public_key_package: PublicKeyPackage,
) -> bytes:
    """RFC 9591 Section 5.3: the signature, or :class:`InvalidSignatureShare` with culprits."""
    suite = package.suite
    if public_key_package.suite is not suite:
        raise CiphersuiteMismatch("the public key package is for another ciphersuite")
    normalized: dict[Identifier, SignatureShare] = {}
    for ident, share in shares.items():
        i = Identifier.for_suite(suite, ident)
        if not isinstance(share, SignatureShare) or share.suite is not suite:
            raise CiphersuiteMismatch(f"the share of {int(i)} is not a {suite.name} SignatureShare")
        normalized[i] = share
    if set(normalized) != set(package.commitments):
        missing = sorted(set(package.commitments) - set(normalized))
        extra = sorted(set(normalized) - set(package.commitments))
        raise UnknownIdentifier(
            "shares and commitments name different signers"
            + (f"; missing shares from {[int(i) for i in missing]}" if missing else "")
            + (f"; shares from non-signers {[int(i) for i in extra]}" if extra else "")
        )
    min_signers = public_key_package.min_signers
    if min_signers is not None and len(normalized) < min_signers:
        raise InvalidParameters(f"{len(normalized)} shares; at least {min_signers} are required")
    unknown = [int(i) for i in normalized if i not in public_key_package.verifying_shares]
    if unknown:
        raise UnknownIdentifier(f"signers {unknown} are not in the public key package")

    pkp = suite.pre_aggregate(public_key_package)
    data = package.signing_data(pkp.verifying_key)
    z = sum(s.share for s in normalized.values()) % suite.group.order
    signature = suite.serialize_signature(data.group_commitment, z)
    try:
        suite.verify_signature(pkp.verifying_key, package.message, signature)
    except InvalidSignature:
        culprits = [
            i
            for i, share in normalized.items()
            if not _share_is_valid(suite, data, i, share, pkp.verifying_shares[i])
        ]
        if culprits:
            raise InvalidSignatureShare("invalid signature shares", culprits) from None
        raise
    return signature


def verify(
    suite: Ciphersuite | str,
    verifying_key: Element | bytes,
    message: bytes,
    signature: bytes,
) -> None:
    """Verify a FROST signature as an ordinary signature of the ciphersuite.

    Returns None, or raises :class:`InvalidSignature`. ``verifying_key`` is the
    group's key as an element or in its serialized form.
    """
    s = ciphersuite(suite) if isinstance(suite, str) else suite
    if not isinstance(message, bytes | bytearray):
        raise InvalidSignature("the message must be bytes")
    s.verify_signature(s.coerce_verifying_key(verifying_key), bytes(message), signature)
