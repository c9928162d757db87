"""Round two: signature shares and their verification (RFC 9591 Sections 5.2 and 5.4).

:func:`sign` checks that the package includes this signer with exactly the
commitments its nonces produced, consumes the nonces, and returns
``z_i = d_i + e_i * rho_i + lambda_i * s_i * c``.

:func:`verify_signature_share` checks ``z_i * G == D_i + rho_i * E_i +
(c * lambda_i) * Y_i`` for one signer; aggregation uses it to name culprits.
"""

from __future__ import annotations

from cosigner.frost.ciphersuite import Ciphersuite
from cosigner.frost.errors import (
    CiphersuiteMismatch,
    IncorrectCommitment,
    InvalidParameters,
    InvalidSignatureShare,
    UnknownIdentifier,
)
from cosigner.frost.identifier import Identifier
from cosigner.frost.keys import KeyPackage, PublicKeyPackage
from cosigner.frost.package import SigningData, SigningPackage
from cosigner.frost.round1 import SigningNonces
from cosigner.frost.serialization import SCALAR, Serializable
from cosigner.groups import Element


class SignatureShare(Serializable):
    """One signer's round-two output ``z_i``."""

    TYPE_TAG = 4
    TYPE_NAME = "signature_share"
    FIELDS = (("share", SCALAR),)
    __slots__ = ("share", "suite")

    def __init__(self, suite: Ciphersuite, share: int) -> None:
        self.suite = suite
        self.share = share % suite.group.order

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SignatureShare):
            return NotImplemented
        return self.suite is other.suite and self.share == other.share

    def __hash__(self) -> int:
        return hash((self.suite.name, self.share))

    def __repr__(self) -> str:
        return f"SignatureShare({self.suite.name}, {self.suite.encode_scalar(self.share).hex()})"


def sign(package: SigningPackage, nonces: SigningNonces, key_package: KeyPackage) -> SignatureShare:
    """RFC 9591 Section 5.2 ``sign``. Consumes ``nonces``; a second call with them raises."""
    suite = key_package.suite
    if package.suite is not suite or nonces.suite is not suite:
        raise CiphersuiteMismatch("the package, nonces and key package use different ciphersuites")
    if len(package.commitments) < key_package.min_signers:
        raise InvalidParameters(
            f"the package has {len(package.commitments)} signers; "
            f"at least {key_package.min_signers} are required"
        )
    ident = key_package.identifier
    own = package.commitments.get(ident)
    if own is None:
        raise UnknownIdentifier(f"signer {int(ident)} is not in the signing package")
    if own != nonces.commitments:
        raise IncorrectCommitment(
            f"the package's commitments for signer {int(ident)} are not the ones these nonces made"
        )
    kp = suite.pre_sign(key_package)
    data = package.signing_data(kp.verifying_key)
    hiding, binding = suite.effective_nonces(data.group_commitment, *nonces.consume())
    q = suite.group.order
    z = (
        hiding
        + binding * data.binding_factors[ident]
        + data.lagrange[ident] * kp.signing_share * data.challenge
    ) % q
    return SignatureShare(suite, z)


def _share_is_valid(
    suite: Ciphersuite,
    data: SigningData,
    identifier: Identifier,
    share: SignatureShare,
    verifying_share: Element,
) -> bool:
    commitment_share = suite.effective_commitment_share(
        data.group_commitment, data.commitment_shares[identifier]
    )
    c_lambda = data.challenge * data.lagrange[identifier] % suite.group.order
    return suite.group.base_mul(share.share) == commitment_share + verifying_share * c_lambda


def verify_signature_share(
    package: SigningPackage,
    identifier: int,
    share: SignatureShare,
    public_key_package: PublicKeyPackage,
) -> None:
    """RFC 9591 Section 5.4: raise :class:`InvalidSignatureShare` naming ``identifier`` if bad."""
    suite = package.suite
    if public_key_package.suite is not suite or share.suite is not suite:
        raise CiphersuiteMismatch("the package, share and public key package use different suites")
    ident = Identifier.for_suite(suite, identifier)
    if ident not in package.commitments:
        raise UnknownIdentifier(f"signer {int(ident)} is not in the signing package")
    pkp = suite.pre_aggregate(public_key_package)
    verifying_share = pkp.verifying_shares.get(ident)
    if verifying_share is None:
        raise UnknownIdentifier(f"signer {int(ident)} is not in the public key package")
    data = package.signing_data(pkp.verifying_key)
    if not _share_is_valid(suite, data, ident, share, verifying_share):
        raise InvalidSignatureShare("signature share does not verify", [ident])
