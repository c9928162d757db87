"""What owners sign and hash during a DKG or refresh, computed the same way on both sides.

The coordinator and every owner compute these from the messages they hold;
agreement on them is what the echo round and the final round check.

Every signed statement and every hash input is a sequence of length-prefixed
fields (u32 big-endian length, then the bytes) whose first field is a
purpose-specific tag under ``cosigner/multisig/v1/``, so a signature made for
one purpose (a part-one package, an echo, a confirmation, a login, an
envelope) is never valid for another, and no two field sequences encode alike.

* :func:`round1_statement`: an owner's signature on its part-one package;
* :func:`broadcast_digest` and :func:`round1_set_hash`: the digest of each
  owner's part-one package as received, and of the whole set in owner order
  (what the echo round compares);
* :func:`echo_statement`: an owner's signature on the set hash it saw;
* :func:`round2_set_hash`: every part-two envelope (ciphertexts only), sorted
  by sender then recipient;
* :func:`transcript_hash`: the group's parameters, owners, both set hashes;
* :func:`confirm_statement`: the final round, an owner's signature over the
  group public key and the transcript hash.

Owners' FROST identifiers are derived from their identity keys
(:func:`owner_identifier`), so no owner list order or numbering has to be
agreed on.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from cosigner import frost

DOMAIN: Final = b"cosigner/multisig/v1/"
SUITE_NAME: Final = "ed25519"
SUITE: Final = frost.ciphersuite(SUITE_NAME)
"""Groups sign with FROST(Ed25519, SHA-512): the ledger, Solana and NEAR all verify Ed25519."""
SCHEME_ID: Final = "threshold-ed25519-frost-mofn-v1"
"""The scheme id of m-of-n FROST(Ed25519, SHA-512) groups (DESIGN "Scheme ids")."""


def owner_identifier(key: bytes) -> frost.Identifier:
    """An owner's FROST identifier: ``HID`` of its identity key (ZF ``Identifier::derive``)."""
    return frost.Identifier.derive(SUITE, key)


@dataclass(frozen=True, slots=True)
class SignedPackage:
    """A part-one package and its sender's identity signature (:func:`round1_statement`)."""

    package: bytes
    signature: bytes


def lp(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def statement(purpose: str, *parts: bytes) -> bytes:
    return lp(DOMAIN + purpose.encode("ascii")) + b"".join(lp(bytes(p)) for p in parts)


def _hash(purpose: str, *parts: bytes) -> bytes:
    return hashlib.sha256(statement(purpose, *parts)).digest()


def _text(value: str) -> bytes:
    return value.encode("utf-8")


def envelope_round(session: str) -> str:
    """The ``round`` label of a session's part-two envelopes."""
    return f"{session}/round2"


def round1_statement(group_id: str, session: str, package: bytes) -> bytes:
    return statement("round1", _text(group_id), _text(session), hashlib.sha256(package).digest())


def broadcast_digest(group_id: str, session: str, sender: bytes, package: bytes) -> bytes:
    return _hash("round1-digest", _text(group_id), _text(session), sender, package)


def round1_set_hash(group_id: str, session: str, digests: Sequence[bytes]) -> bytes:
    """The hash of every owner's part-one digest, in the group's owner order."""
    return _hash("round1-set", _text(group_id), _text(session), *digests)


def echo_statement(group_id: str, session: str, set_hash: bytes) -> bytes:
    return statement("echo", _text(group_id), _text(session), set_hash)


def round2_set_hash(
    group_id: str, session: str, envelopes: Iterable[tuple[bytes, bytes, bytes]]
) -> bytes:
    """``envelopes`` as ``(sender, recipient, envelope bytes)``; order does not matter."""
    entries = sorted(
        (bytes(s), bytes(r), hashlib.sha256(bytes(e)).digest()) for s, r, e in envelopes
    )
    flat = [part for entry in entries for part in entry]
    return _hash("round2-set", _text(group_id), _text(session), *flat)


def transcript_hash(
    group_id: str,
    session: str,
    threshold: int,
    owners: Sequence[bytes],
    round1_set: bytes,
    round2_set: bytes,
) -> bytes:
    return _hash(
        "transcript",
        _text(SCHEME_ID),
        _text(group_id),
        _text(session),
        struct.pack(">HH", threshold, len(owners)),
        *owners,
        round1_set,
        round2_set,
    )


def confirm_statement(
    group_id: str, session: str, group_public_key: bytes, transcript: bytes
) -> bytes:
    return statement("confirm", _text(group_id), _text(session), group_public_key, transcript)


__all__ = [
    "SCHEME_ID",
    "SUITE",
    "SUITE_NAME",
    "SignedPackage",
    "broadcast_digest",
    "confirm_statement",
    "echo_statement",
    "envelope_round",
    "owner_identifier",
    "round1_set_hash",
    "round1_statement",
    "round2_set_hash",
    "transcript_hash",
]
