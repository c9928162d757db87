"""FROST errors. Each has a stable ``code``; culprit errors name the identifiers at fault."""

from __future__ import annotations

from cosigner.errors import CosignerError, CulpritError, DecodeError


class FrostError(CosignerError):
    code = "frost_error"


class InvalidSignature(FrostError):
    """A signature that does not verify under the given key and message."""

    code = "invalid_signature"


class InvalidSignatureShare(CulpritError, FrostError):
    """One or more signature shares are invalid; ``culprits`` names their senders."""

    code = "invalid_signature_share"


class InvalidParameters(FrostError, ValueError):
    """Thresholds or participant counts outside what the protocol allows."""

    code = "invalid_parameters"


class InvalidIdentifier(FrostError, ValueError):
    code = "invalid_identifier"


class DuplicateIdentifier(InvalidIdentifier):
    code = "duplicate_identifier"


class UnknownIdentifier(InvalidIdentifier):
    code = "unknown_identifier"


class NonceReuseError(FrostError):
    """A SigningNonces object was used a second time. Reusing a nonce leaks the key share."""

    code = "nonce_reused"


class IncorrectCommitment(FrostError):
    """The signing package carries a commitment that is not this signer's own."""

    code = "incorrect_commitment"


class InvalidSigningPackage(FrostError, ValueError):
    code = "invalid_signing_package"


class CiphersuiteMismatch(FrostError, ValueError):
    code = "ciphersuite_mismatch"


class InvalidProofOfKnowledge(CulpritError, FrostError):
    """A DKG participant's proof of knowledge of its secret does not verify."""

    code = "invalid_proof_of_knowledge"


class InvalidSecretShare(CulpritError, FrostError):
    """A secret share does not match its sender's VSS commitment."""

    code = "invalid_secret_share"


class InvalidDkgState(FrostError):
    """A DKG or refresh step called with packages that do not fit the participants."""

    code = "invalid_dkg_state"


class FrostDecodeError(DecodeError):
    code = "malformed_encoding"
