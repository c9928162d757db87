"""Errors of the two-party OT layer (base OT, OT extension, MTA, pairwise multiplication).

Every failure a caller or the peer can cause is typed and carries a stable
``code``. The OT layer only ever talks to one peer, so an error caused by the
peer does not name it; the multi-party protocol above knows who the peer is
and turns :class:`OtProtocolError` into a culprit error.
"""

from __future__ import annotations

from cosigner.errors import CosignerError, DecodeError


class OtError(CosignerError):
    """Base class of the OT layer's own errors."""

    code = "ot_error"


class OtDecodeError(DecodeError):
    """Bytes that are not a well-formed OT message or OT state of the expected type."""

    code = "malformed_ot_encoding"


class OtParameterError(OtError, ValueError):
    """A call with impossible parameters: an empty batch, a setup of the wrong role, ..."""

    code = "invalid_ot_parameters"


class OtProtocolError(OtError):
    """The peer sent a message that does not belong to this session (wrong sizes or counts)."""

    code = "ot_protocol_violation"


class OtConsistencyError(OtProtocolError):
    """The OT extension consistency check failed: the peer (the extension receiver) cheated.

    The session must be aborted and the peer reported. Do not retry with the
    same pair setup without investigating: a failed check is what a receiver
    trying to learn the sender's correlation would cause.
    """

    code = "ot_consistency_check_failed"


class OtStateReusedError(OtError):
    """A protocol state was continued twice. Each state is single-use: reuse leaks secrets."""

    code = "ot_state_reused"


__all__ = [
    "OtConsistencyError",
    "OtDecodeError",
    "OtError",
    "OtParameterError",
    "OtProtocolError",
    "OtStateReusedError",
]
