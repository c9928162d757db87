"""FROST: Flexible Round-Optimized Schnorr Threshold signatures (RFC 9591).

The public API, one module per protocol step (after the Zcash Foundation's
``frost-core``):

* :mod:`.ciphersuite` - ``ciphersuite(name)``, H1..H5, HDKG, HID;
* :mod:`.keys` - dealer key generation, ``KeyPackage``, ``PublicKeyPackage``;
* :mod:`.round1` - ``commit``, ``SigningNonces``, ``SigningCommitments``;
* :mod:`.package` - ``SigningPackage``, binding factors, group commitment;
* :mod:`.round2` - ``sign``, ``SignatureShare``, ``verify_signature_share``;
* :mod:`.aggregate` - ``aggregate`` (with cheater detection) and ``verify``;
* :mod:`.dkg`, :mod:`.refresh`, :mod:`.repair` - distributed key generation,
  share refresh, share repair;
* :mod:`.taproot` - the BIP-340 / BIP-341 ciphersuite ``secp256k1-tr``.
"""

from __future__ import annotations

from cosigner.frost import dkg, refresh, repair, taproot
from cosigner.frost.aggregate import aggregate, verify
from cosigner.frost.ciphersuite import Ciphersuite, all_ciphersuites, ciphersuite
from cosigner.frost.dkg import (
    Round1Package,
    Round1SecretPackage,
    Round2Package,
    Round2SecretPackage,
    keygen_local,
)
from cosigner.frost.errors import (
    CiphersuiteMismatch,
    DuplicateIdentifier,
    FrostDecodeError,
    FrostError,
    IncorrectCommitment,
    InvalidDkgState,
    InvalidIdentifier,
    InvalidParameters,
    InvalidProofOfKnowledge,
    InvalidSecretShare,
    InvalidSignature,
    InvalidSignatureShare,
    InvalidSigningPackage,
    NonceReuseError,
    UnknownIdentifier,
)
from cosigner.frost.identifier import Identifier
from cosigner.frost.keys import (
    KeyPackage,
    PublicKeyPackage,
    SecretShare,
    compute_lagrange_coefficient,
    keygen_with_dealer,
    reconstruct,
    split,
)
from cosigner.frost.package import SigningPackage
from cosigner.frost.refresh import (
    RefreshingShare,
    RefreshRound1SecretPackage,
    RefreshRound2SecretPackage,
    compute_refreshing_shares,
    refresh_dkg_part1,
    refresh_dkg_part2,
    refresh_dkg_shares,
    refresh_share,
)
from cosigner.frost.repair import (
    Delta,
    Sigma,
    repair_share_part1,
    repair_share_part2,
    repair_share_part3,
)
from cosigner.frost.round1 import SigningCommitments, SigningNonces, commit
from cosigner.frost.round2 import SignatureShare, sign, verify_signature_share
from cosigner.frost.serialization import decode_any

__all__ = [
    "Ciphersuite",
    "CiphersuiteMismatch",
    "Delta",
    "DuplicateIdentifier",
    "FrostDecodeError",
    "FrostError",
    "Identifier",
    "IncorrectCommitment",
    "InvalidDkgState",
    "InvalidIdentifier",
    "InvalidParameters",
    "InvalidProofOfKnowledge",
    "InvalidSecretShare",
    "InvalidSignature",
    "InvalidSignatureShare",
    "InvalidSigningPackage",
    "KeyPackage",
    "NonceReuseError",
    "PublicKeyPackage",
    "RefreshRound1SecretPackage",
    "RefreshRound2SecretPackage",
    "RefreshingShare",
    "Round1Package",
    "Round1SecretPackage",
    "Round2Package",
    "Round2SecretPackage",
    "SecretShare",
    "Sigma",
    "SignatureShare",
    "SigningCommitments",
    "SigningNonces",
    "SigningPackage",
    "UnknownIdentifier",
    "aggregate",
    "all_ciphersuites",
    "ciphersuite",
    "commit",
    "compute_lagrange_coefficient",
    "compute_refreshing_shares",
    "decode_any",
    "dkg",
    "keygen_local",
    "keygen_with_dealer",
    "reconstruct",
    "refresh",
    "refresh_dkg_part1",
    "refresh_dkg_part2",
    "refresh_dkg_shares",
    "refresh_share",
    "repair",
    "repair_share_part1",
    "repair_share_part2",
    "repair_share_part3",
    "sign",
    "split",
    "taproot",
    "verify",
    "verify_signature_share",
]
