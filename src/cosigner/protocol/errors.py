"""The errors a protocol session raises, each with a stable ``code``.

Two families:

* rejections: a message that is malformed, addressed to someone else, from
  the wrong session, repeated, or early or late for the current round. The
  session refuses it and its state is unchanged, so the caller can drop the
  message (or, for an early one, hold it until its round comes).
* aborts: a well-formed message that breaks the protocol (a proof that does
  not verify, an opening that does not match its commitment, a confirmation
  hash that differs, a share off its committed polynomial). The session
  stops for good. Where the specification can tell who cheated, the error is
  a :class:`~cosigner.errors.CulpritError` naming them.
"""

from __future__ import annotations

from collections.abc import Iterable

from cosigner.errors import CosignerError, CulpritError, DecodeError


class ProtocolError(CosignerError):
    """Base class of protocol session errors."""

    code = "protocol_error"


class InvalidParametersError(ProtocolError, ValueError):
    """A session was set up with inputs the protocol cannot run with."""

    code = "invalid_protocol_parameters"


class MessageDecodeError(DecodeError):
    """Bytes that are not a well-formed protocol message envelope."""

    code = "malformed_message"


class StateDecodeError(DecodeError):
    """Bytes that are not a well-formed serialized protocol state."""

    code = "malformed_state"


class MalformedPayloadError(CulpritError, DecodeError):
    """A message from an authenticated sender whose payload does not decode.

    The message is rejected and the session state is unchanged; the sender is
    named because channels are authenticated, so only it could have sent it.
    """

    code = "malformed_message"


class UnexpectedMessageError(ProtocolError):
    """A message for another protocol or session, from a non-participant, or not due."""

    code = "unexpected_message"


class WrongRecipientError(ProtocolError):
    """A private message addressed to another participant."""

    code = "wrong_recipient"


class DuplicateMessageError(ProtocolError):
    """A second message from the same sender for the same round and channel."""

    code = "duplicate_message"


class OutOfOrderMessageError(ProtocolError):
    """A message for a round this session has already finished or not reached yet."""

    code = "out_of_order_message"

    def __init__(self, message: str, *, round: int, expected_round: int) -> None:
        super().__init__(message)
        self.round = round
        self.expected_round = expected_round

    @property
    def is_future(self) -> bool:
        """True when the message is early: hold it and deliver it when its round comes."""
        return self.round > self.expected_round


class ProtocolStateError(ProtocolError):
    """A call the session cannot take in its current state (not started, finished, ...)."""

    code = "protocol_state"


class ProtocolAbortedError(ProtocolError):
    """The session aborted earlier; it takes no more messages."""

    code = "protocol_aborted"


class ProtocolCheckFailedError(ProtocolError):
    """A check of the specification failed and no single participant can be blamed."""

    code = "protocol_check_failed"


class InvalidProofError(CulpritError):
    """A zero-knowledge proof that does not verify."""

    code = "invalid_proof"


class CommitmentMismatchError(CulpritError):
    """An opening that does not match the commitment its sender made earlier."""

    code = "commitment_mismatch"


class InconsistentConfirmationError(CulpritError):
    """A confirmation (echo) hash that differs from ours: the parties saw different messages."""

    code = "inconsistent_confirmation"


class InvalidShareError(CulpritError):
    """A private share that does not lie on its sender's committed polynomial."""

    code = "invalid_share"


class InvalidContributionError(CulpritError):
    """A public contribution of the wrong shape (degree, missing or extra parts)."""

    code = "invalid_contribution"


def culprit_error(cls: type[CulpritError], message: str, culprit: int) -> CulpritError:
    """Build a culprit error naming one participant."""
    return cls(message, culprits=(culprit,))


def culprits_of(error: BaseException) -> tuple[int, ...]:
    """The participants an error blames, or ``()``."""
    culprits: Iterable[int] = getattr(error, "culprits", ())
    return tuple(culprits)
