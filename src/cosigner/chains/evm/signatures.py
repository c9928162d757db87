"""secp256k1 signatures as the EVM uses them: check, split, recover the signer.

Engines hand back 65 bytes ``r || s || recovery_id`` with low ``s`` (the
seam's contract, :mod:`cosigner.chains.intent`). Ethereum rejects high ``s``
in transactions since Homestead (EIP-2) and the EIP-7702 authorization rule
does the same, so a high-``s`` signature is refused here rather than
normalized: an engine that returns one is broken. Recovery ids 2 and 3 (an
``r`` at or above the group order) cannot be written as ``yParity`` and are
refused too.

Public-key recovery is libsecp256k1's, through coincurve (DESIGN.md principle
7: curve arithmetic only in C).
"""

from __future__ import annotations

from coincurve import PublicKey

from cosigner.chains.errors import FinalizeError
from cosigner.chains.evm.values import address_from_public_key

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2


def split_signature(signature: bytes, label: str) -> tuple[int, int, int]:
    """``(r, s, y_parity)`` of a 65-byte ``r || s || recovery_id`` signature, checked."""
    if len(signature) != 65:
        raise FinalizeError(
            f"the signature for {label!r} must be 65 bytes r || s || recovery_id, "
            f"got {len(signature)} bytes"
        )
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    recovery_id = signature[64]
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N):
        raise FinalizeError(f"the signature for {label!r} has r or s outside [1, n-1]")
    if s > SECP256K1_HALF_N:
        raise FinalizeError(
            f"the signature for {label!r} has a high s; the EVM accepts only low-s signatures"
        )
    if recovery_id > 1:
        raise FinalizeError(
            f"the signature for {label!r} has recovery id {recovery_id}; only 0 and 1 "
            "can be written as the EVM's yParity"
        )
    return r, s, recovery_id


def recover_address(digest: bytes, signature: bytes) -> bytes | None:
    """The 20-byte address whose key made ``signature`` over ``digest``, or None if none did."""
    try:
        public = PublicKey.from_signature_and_message(bytes(signature), digest, hasher=None)
    except (ValueError, TypeError):
        return None
    return address_from_public_key(public.format(compressed=False))


def recover_checked(digest: bytes, signature: bytes, label: str) -> bytes:
    """Like :func:`recover_address`, for a signature already checked by split_signature."""
    address = recover_address(digest, signature)
    if address is None:
        raise FinalizeError(f"no public key recovers from the signature for {label!r}")
    return address


def compact_signature(r: int, s: int, y_parity: int) -> bytes:
    """65 bytes ``r || s || y_parity``, coincurve's recoverable form."""
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([y_parity])
