"""Errors specific to threshold ECDSA (the protocol errors live in cosigner.protocol.errors)."""

from __future__ import annotations

from cosigner.errors import CosignerError, CulpritError, DecodeError
from cosigner.protocol.errors import ProtocolError


class PresignatureConsumedError(CosignerError):
    """A presignature that was already used: reusing one would leak the key."""

    code = "presignature_consumed"


class TripleConsumedError(CosignerError):
    """A triple that was already used by a presign: each triple is single-use."""

    code = "triple_consumed"


class PresignatureMismatchError(CosignerError, ValueError):
    """A presignature made for another key or another set of participants."""

    code = "presignature_mismatch"


class TripleMismatchError(CosignerError, ValueError):
    """Triples that do not fit the presign (other participants, threshold, or not a pair)."""

    code = "triple_mismatch"


class KeyShareMismatchError(CosignerError, ValueError):
    """Key shares that do not belong together (different keys, thresholds or sets)."""

    code = "key_share_mismatch"


class InvalidDigestError(CosignerError, ValueError):
    """A message digest that is not 32 bytes."""

    code = "invalid_digest"


class SignatureCheckFailedError(ProtocolError):
    """The combined signature does not verify: some signature share was wrong."""

    code = "invalid_signature_share"


class InvalidSignatureError(CosignerError, ValueError):
    """An ECDSA signature that does not verify."""

    code = "invalid_signature"


class SignatureDecodeError(DecodeError):
    """Bytes that are not a 65-byte low-s ``r || s || recovery_id`` signature."""

    code = "malformed_signature"


class KeyShareDecodeError(DecodeError):
    """Bytes that are not a serialized key share, triple share or presignature."""

    code = "malformed_key_share"


class OtViolationError(CulpritError):
    """The peer broke the two-party OT layer (failed consistency check, wrong sizes)."""

    code = "ot_protocol_violation"


__all__ = [
    "InvalidDigestError",
    "InvalidSignatureError",
    "KeyShareDecodeError",
    "KeyShareMismatchError",
    "OtViolationError",
    "PresignatureConsumedError",
    "PresignatureMismatchError",
    "SignatureCheckFailedError",
    "SignatureDecodeError",
    "TripleConsumedError",
    "TripleMismatchError",
]
