"""Hash commitments: ``Commit`` and ``CheckCommit`` of the Cait-Sith specifications.

docs/ecdsa/ot_based_ecdsa/triples.md and docs/dkg.md use a commitment
``(Com, r) <- Commit(x)`` that is binding and hiding. Ours (SHA-256, domain
separated)::

    Com = SHA-256("cosigner/ecdsa/commit/v1" || r || x)

with ``r`` 32 fresh random bytes and ``x`` the canonical bytes of the value.
``check_commitment`` compares in constant time.
"""

from __future__ import annotations

import hashlib
import hmac

COMMITMENT_SIZE = 32
RANDOMIZER_SIZE = 32
_LABEL = b"cosigner/ecdsa/commit/v1"


def commit(value: bytes, randomizer: bytes) -> bytes:
    """``Com`` for ``value`` under ``randomizer`` (32 random bytes, kept until the opening)."""
    if len(randomizer) != RANDOMIZER_SIZE:
        raise ValueError("a commitment randomizer is 32 bytes")
    return hashlib.sha256(_LABEL + randomizer + value).digest()


def check_commitment(commitment: bytes, value: bytes, randomizer: bytes) -> bool:
    """CheckCommit: does ``(value, randomizer)`` open ``commitment``?"""
    if len(randomizer) != RANDOMIZER_SIZE:
        return False
    return hmac.compare_digest(commitment, commit(value, randomizer))


__all__ = ["COMMITMENT_SIZE", "RANDOMIZER_SIZE", "check_commitment", "commit"]
