"""Sans-I/O protocol sessions: messages, the state-machine base class, and a local runner.

* :class:`Message` - one protocol message with its canonical versioned bytes;
* :class:`Protocol` - a participant's session: ``start()``, ``receive()``,
  ``done``, ``result``, ``to_bytes()`` / ``from_bytes()`` of the whole state;
* :func:`run_local` / :class:`LocalNetwork` - deliver messages between
  in-process sessions, holding early ones until their round;
* :mod:`cosigner.protocol.errors` - the typed rejections and aborts.

The ECDSA sessions (:mod:`cosigner.ecdsa`) are built on this.
"""

from __future__ import annotations

from cosigner.protocol.base import (
    BROADCAST,
    PRIVATE,
    Outgoing,
    Protocol,
    normalize_participants,
    to_all,
    to_one,
)
from cosigner.protocol.errors import (
    CommitmentMismatchError,
    DuplicateMessageError,
    InconsistentConfirmationError,
    InvalidContributionError,
    InvalidParametersError,
    InvalidProofError,
    InvalidShareError,
    MalformedPayloadError,
    MessageDecodeError,
    OutOfOrderMessageError,
    ProtocolAbortedError,
    ProtocolCheckFailedError,
    ProtocolError,
    ProtocolStateError,
    StateDecodeError,
    UnexpectedMessageError,
    WrongRecipientError,
)
from cosigner.protocol.message import Message
from cosigner.protocol.runner import LocalNetwork, run_local

__all__ = [
    "BROADCAST",
    "PRIVATE",
    "CommitmentMismatchError",
    "DuplicateMessageError",
    "InconsistentConfirmationError",
    "InvalidContributionError",
    "InvalidParametersError",
    "InvalidProofError",
    "InvalidShareError",
    "LocalNetwork",
    "MalformedPayloadError",
    "Message",
    "MessageDecodeError",
    "OutOfOrderMessageError",
    "Outgoing",
    "Protocol",
    "ProtocolAbortedError",
    "ProtocolCheckFailedError",
    "ProtocolError",
    "ProtocolStateError",
    "StateDecodeError",
    "UnexpectedMessageError",
    "WrongRecipientError",
    "normalize_participants",
    "run_local",
    "to_all",
    "to_one",
]
