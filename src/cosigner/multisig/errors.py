"""Errors of the m-of-n multisig: one stable ``code`` per failure a caller can cause.

Errors that blame participants (a bad DKG share, an equivocating broadcast, an
invalid signature share) are :class:`MultisigCulpritError`: ``culprits`` holds
the FROST identifiers of the owners at fault (as every
:class:`~cosigner.errors.CulpritError` does) and ``culprit_keys`` their
Ed25519 identity keys, which is how owners know each other. Messages name
owners by a short prefix of their key and never carry secret material.

The on-chain errors of seed 004's contract live in :mod:`cosigner.multisig.ledger`.
"""

from __future__ import annotations

from collections.abc import Iterable

from cosigner.errors import CosignerError, CulpritError, DecodeError


def short_key(key: bytes) -> str:
    """An owner's identity key as people read it in messages: the first 8 bytes in hex."""
    return key[:8].hex()


class MultisigError(CosignerError):
    """Base class of the multisig coordinator's and owners' errors."""

    code = "multisig_error"


class MultisigCulpritError(CulpritError, MultisigError):
    """An error caused by identified owners.

    ``culprit_keys`` are their identity keys (32 bytes each), ``culprits``
    their FROST identifiers, in the same order; ``reported_by`` is the owner
    whose submission revealed the fault, if any.
    """

    def __init__(
        self,
        message: str,
        culprits: Iterable[tuple[bytes, int]] = (),
        reported_by: bytes | None = None,
    ) -> None:
        pairs = sorted({(bytes(k), int(i)) for k, i in culprits}, key=lambda p: p[1])
        self.culprit_keys: tuple[bytes, ...] = tuple(k for k, _ in pairs)
        self.reported_by = reported_by
        if pairs:
            message = f"{message} (culprits: {', '.join(short_key(k) for k, _ in pairs)})"
        CosignerError.__init__(self, message)
        self.culprits = tuple(i for _, i in pairs)


# -- groups and keygen ---------------------------------------------------------------------


class InvalidGroupParameters(MultisigError, ValueError):
    code = "invalid_group_parameters"


class GroupNotFound(MultisigError):
    code = "group_not_found"


class NotAnOwner(MultisigError):
    """The authenticated identity is not one of the group's owners."""

    code = "not_a_group_owner"


class WrongGroupState(MultisigError):
    """The group is not in a state that allows this request (still in DKG, refreshing, failed)."""

    code = "wrong_group_state"


class WrongKeygenStage(MultisigError):
    """A DKG or refresh message for a round that is not the current one."""

    code = "wrong_keygen_stage"


class AlreadySubmitted(MultisigError):
    """This owner already sent a different message for this round."""

    code = "already_submitted"


class InvalidSubmission(MultisigError, ValueError):
    """A message that does not decode, is not signed by its sender, or does not fit the round."""

    code = "invalid_submission"


class InvalidKeygenPackage(MultisigCulpritError):
    """A part-one package whose proof of knowledge or commitment does not verify."""

    code = "invalid_proof_of_knowledge"


class KeygenFailed(MultisigCulpritError):
    """The DKG (or refresh) failed for every owner; ``culprits`` names who caused it."""

    code = "dkg_failed"


class EchoMismatch(KeygenFailed):
    """Owners saw different part-one sets: a broadcast was equivocated (ZF frost issue 577)."""

    code = "dkg_echo_mismatch"


class BadKeygenShare(KeygenFailed):
    """A part-two share that does not match its sender's commitment (or a false complaint)."""

    code = "dkg_bad_share"


class ConfirmationMismatch(KeygenFailed):
    """An owner confirmed a group key or transcript other than the one the rounds produced."""

    code = "dkg_confirmation_mismatch"


KEYGEN_FAILURES: dict[str, type[KeygenFailed]] = {
    cls.code: cls for cls in (KeygenFailed, EchoMismatch, BadKeygenShare, ConfirmationMismatch)
}


# -- proposals ----------------------------------------------------------------------------


class ProposalNotFound(MultisigError):
    code = "proposal_not_found"


class ProposalFinished(MultisigError):
    """The proposal is ready, executed, cancelled or failed: nothing more can be added."""

    code = "proposal_finished"


class ProposalExpired(ProposalFinished):
    code = "proposal_expired"


class NotTheProposer(MultisigError):
    code = "not_the_proposer"


class NonceAlreadyUsed(MultisigError):
    """A proposal for a nonce the group has already executed (replay)."""

    code = "nonce_already_used"


class CommitmentReused(MultisigError):
    """A round-one commitment that was already sent for this or another proposal."""

    code = "commitment_reused"


class NotASigner(MultisigError):
    """The owner is not in the fixed signing package, or was excluded after a bad share."""

    code = "not_a_signer"


class SigningPackageFixed(MultisigError):
    """Round one is over for this attempt: the threshold of commitments is already in."""

    code = "signing_package_fixed"


class SigningPackageNotReady(MultisigError):
    """Signature shares come after the signing package is fixed (at the threshold)."""

    code = "signing_package_not_ready"


class SignatureShareRejected(MultisigCulpritError):
    """A signature share that does not verify; its owner is named and excluded."""

    code = "invalid_signature_share"


class ProposalMismatch(MultisigError):
    """What the owner was asked to sign is not what the proposal says (the owner refuses)."""

    code = "signing_digest_mismatch"


class InvalidOperation(MultisigError, ValueError):
    """An operation with out-of-range or ill-typed fields (nonce, type, amount, recipient)."""

    code = "invalid_operation"


class ThresholdMessageError(DecodeError):
    """Bytes that are not a seed 004 ``ThresholdMessage`` (or its transfer data)."""

    code = "malformed_threshold_message"


class UnknownOperationType(ThresholdMessageError):
    code = "unknown_operation_type"


# -- identity, login and envelopes --------------------------------------------------------------


class InvalidIdentityKey(MultisigError, ValueError):
    """Not an Ed25519 public key usable as an owner identity (wrong length, small order)."""

    code = "invalid_identity_key"


class InvalidIdentitySignature(MultisigError):
    code = "invalid_identity_signature"


class IdentityDecodeError(DecodeError):
    """A sealed (passphrase-encrypted) file that does not decode."""

    code = "malformed_sealed_secret"


class WrongPassphrase(MultisigError):
    """The passphrase does not open the sealed secret (or the file was altered)."""

    code = "wrong_passphrase"


class ChallengeNotFound(MultisigError):
    """An unknown login challenge, or one already used (challenges are single-use)."""

    code = "challenge_not_found"


class ChallengeExpired(MultisigError):
    code = "challenge_expired"


class InvalidLoginSignature(MultisigError):
    code = "invalid_login_signature"


class EnvelopeDecodeError(DecodeError):
    code = "malformed_envelope"


class InvalidEnvelope(MultisigError):
    """An envelope whose sender signature, addressing or ciphertext does not verify."""

    code = "invalid_envelope"


class StaleState(MultisigError):
    """Another request changed the record first; read it again and retry."""

    code = "stale_session_state"
