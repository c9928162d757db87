"""Transcripts and Maurer zero-knowledge proofs (dlog, dlogeq) on secp256k1.

Follows docs/crypto/proofs.md of near/threshold-signatures (and docs/proofs.md
of cait-sith): proofs of knowledge of ``x`` with ``phi(x) = X`` for a group
homomorphism ``phi``, made non-interactive with Fiat-Shamir over a
:class:`Transcript` that binds each proof to its context.

Transcript (our own construction, SHA-256 with domain separation; the
specification fixes the API, not the bytes). The state is a 32-byte chaining
value::

    start:           state = SHA-256("cosigner/ecdsa/transcript/v1" || frame(label))
    T.Add(l, d):     state = SHA-256(state || 0x01 || frame(l) || frame(d))
    T.Cloned(t, d):  a copy of T, then Add("fork/" || t, d); T itself is unchanged
    challenge(l):    c = SHA-256(state || 0x02 || frame(l) || u8 counter) for counters
                     0 and 1, concatenated (64 bytes), as an integer modulo n;
                     a zero result moves to the next pair of counters

where ``frame(x)`` is the 4-byte big-endian length of ``x`` followed by ``x``.
Because the state is 32 bytes, a transcript serializes with its session.

Proofs (``Prove`` / ``Verify`` of the specification), each ``(e, s)``: two
32-byte scalars, 64 bytes.

* dlog, ``phi(x) = x * G``: the prover adds the statement ``X`` and
  ``K = k * G`` to the transcript, derives ``e`` and answers ``s = k + e * x``;
  the verifier recomputes ``K = s * G - e * X`` and checks ``e``.
* dlogeq, ``phi(x) = (x * G, x * H)``: the same with ``(X0, H, X1)`` as the
  statement and ``(K0, K1) = (k * G, k * H)`` as the commitment.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cosigner.groups import SECP256K1, Element
from cosigner.groups.secp256k1 import ORDER
from cosigner.protocol.codec import PayloadReader, record

PROOF_SIZE = 64
_TRANSCRIPT_LABEL = b"cosigner/ecdsa/transcript/v1"


def _frame(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


@record("ecdsa.Transcript")
@dataclass(frozen=True)
class Transcript:
    """A Fiat-Shamir transcript: ``add`` absorbs, ``cloned`` forks, ``challenge`` squeezes."""

    state: bytes

    @classmethod
    def new(cls, label: bytes) -> Transcript:
        return cls(hashlib.sha256(_TRANSCRIPT_LABEL + _frame(label)).digest())

    def __post_init__(self) -> None:
        if not isinstance(self.state, bytes) or len(self.state) != 32:
            raise ValueError("a transcript state is 32 bytes")

    def add(self, label: bytes, data: bytes) -> Transcript:
        """T.Add: a new transcript that has also absorbed ``(label, data)``."""
        h = hashlib.sha256(self.state)
        h.update(b"\x01" + _frame(label) + _frame(data))
        return Transcript(h.digest())

    def cloned(self, tag: bytes, data: bytes = b"") -> Transcript:
        """T.Cloned(tag, data): a fork for one proof; this transcript is unchanged."""
        return self.add(b"fork/" + tag, data)

    def challenge(self, label: bytes) -> int:
        counter = 0
        while True:
            prefix = self.state + b"\x02" + _frame(label)
            wide = hashlib.sha256(prefix + bytes([counter])).digest()
            wide += hashlib.sha256(prefix + bytes([counter + 1])).digest()
            e = int.from_bytes(wide, "big") % ORDER
            if e:
                return e
            counter += 2

    def __repr__(self) -> str:
        return f"<Transcript {self.state.hex()[:16]}>"


@dataclass(frozen=True)
class Proof:
    """A Maurer proof ``(e, s)``."""

    e: int
    s: int

    def to_bytes(self) -> bytes:
        return self.e.to_bytes(32, "big") + self.s.to_bytes(32, "big")

    @classmethod
    def read(cls, reader: PayloadReader) -> Proof:
        return cls(reader.scalar(), reader.scalar())


def dlog_prove(transcript: Transcript, public: Element, x: int, k: int) -> Proof:
    """Prove knowledge of ``x`` with ``public = x * G``, with the nonce ``k`` (never reused)."""
    t = transcript.add(b"dlog/statement", public.to_bytes())
    big_k = SECP256K1.base_mul(k)
    e = t.add(b"dlog/commitment", big_k.to_bytes()).challenge(b"dlog/challenge")
    return Proof(e, (k + e * x) % ORDER)


def dlog_verify(transcript: Transcript, public: Element, proof: Proof) -> bool:
    if public.is_identity:
        return False
    big_k = SECP256K1.base_mul(proof.s) - public * proof.e
    if big_k.is_identity:
        return False
    t = transcript.add(b"dlog/statement", public.to_bytes())
    e = t.add(b"dlog/commitment", big_k.to_bytes()).challenge(b"dlog/challenge")
    return e == proof.e


def _dlogeq_statement(transcript: Transcript, p0: Element, h: Element, p1: Element) -> Transcript:
    return transcript.add(b"dlogeq/statement", p0.to_bytes() + h.to_bytes() + p1.to_bytes())


def dlogeq_prove(
    transcript: Transcript, public0: Element, generator1: Element, public1: Element, x: int, k: int
) -> Proof:
    """Prove knowledge of ``x`` with ``public0 = x * G`` and ``public1 = x * generator1``."""
    t = _dlogeq_statement(transcript, public0, generator1, public1)
    k0 = SECP256K1.base_mul(k)
    k1 = generator1 * k
    e = t.add(b"dlogeq/commitment", k0.to_bytes() + k1.to_bytes()).challenge(b"dlogeq/challenge")
    return Proof(e, (k + e * x) % ORDER)


def dlogeq_verify(
    transcript: Transcript, public0: Element, generator1: Element, public1: Element, proof: Proof
) -> bool:
    if public0.is_identity or generator1.is_identity or public1.is_identity:
        return False
    k0 = SECP256K1.base_mul(proof.s) - public0 * proof.e
    k1 = generator1 * proof.s - public1 * proof.e
    if k0.is_identity or k1.is_identity:
        return False
    t = _dlogeq_statement(transcript, public0, generator1, public1)
    e = t.add(b"dlogeq/commitment", k0.to_bytes() + k1.to_bytes()).challenge(b"dlogeq/challenge")
    return e == proof.e


__all__ = [
    "PROOF_SIZE",
    "Proof",
    "Transcript",
    "dlog_prove",
    "dlog_verify",
    "dlogeq_prove",
    "dlogeq_verify",
]
