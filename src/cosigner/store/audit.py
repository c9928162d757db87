"""The audit log's hash chain: entry hashing and chain verification (no I/O).

Each entry commits to the one before it::

    hash_n = SHA-256( "cosigner/audit/v1" || 0x00 || canonical_n )
    canonical_n = JSON [seq, at_ms, kind, subject, data, hex(prev_hash)]
                  compact, ASCII, sorted keys inside ``data``

with ``prev_hash`` of entry 1 being 32 zero bytes. ``data`` is kept as the
canonical JSON text it was hashed from (never re-encoded by a database), so
any change to any field of any entry, a removed entry or a reordering breaks
the chain at the first entry touched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from typing import Final

from cosigner.store.errors import AuditChainError
from cosigner.store.records import AuditEntry

GENESIS_HASH: Final = bytes(32)
_DOMAIN: Final = b"cosigner/audit/v1\x00"


def entry_hash(seq: int, at_ms: int, kind: str, subject: str, data: str, prev_hash: bytes) -> bytes:
    """SHA-256 of the canonical encoding of one entry's fields."""
    canonical = json.dumps(
        [seq, at_ms, kind, subject, data, prev_hash.hex()],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(_DOMAIN + canonical.encode("ascii")).digest()


def chain_entry(
    prev_seq: int, prev_hash: bytes, *, at_ms: int, kind: str, subject: str, data: str
) -> AuditEntry:
    """The entry that follows (``prev_seq``, ``prev_hash``) in the chain."""
    seq = prev_seq + 1
    digest = entry_hash(seq, at_ms, kind, subject, data, prev_hash)
    return AuditEntry(seq, at_ms, kind, subject, data, prev_hash, digest)


def verify_entries(
    entries: Iterable[AuditEntry], *, start_seq: int = 1, start_hash: bytes = GENESIS_HASH
) -> tuple[int, bytes]:
    """Check entries in order from ``start_seq``; returns the last (seq, hash) checked.

    Raises :class:`AuditChainError` naming the first entry at fault.
    """
    expected_seq, prev = start_seq, start_hash
    for entry in entries:
        if entry.seq != expected_seq:
            raise AuditChainError(
                f"expected entry {expected_seq} here, found {entry.seq} (missing entries)",
                seq=expected_seq,
            )
        if not hmac.compare_digest(entry.prev_hash, prev):
            raise AuditChainError("prev_hash does not match the previous entry", seq=entry.seq)
        recomputed = entry_hash(
            entry.seq, entry.at_ms, entry.kind, entry.subject, entry.data, entry.prev_hash
        )
        if not hmac.compare_digest(recomputed, entry.hash):
            raise AuditChainError("content does not match its hash", seq=entry.seq)
        prev = entry.hash
        expected_seq += 1
    return expected_seq - 1, prev
