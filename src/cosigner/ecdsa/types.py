"""The values threshold ECDSA produces and consumes, with canonical versioned bytes.

* :class:`KeyShare` - a participant's share of a secp256k1 key (output of
  key generation, docs/dkg.md): its id, the threshold, the participant set,
  the 33-byte compressed group public key and the secret share.
* :class:`Triple` / :class:`TripleShare` - a Beaver triple ``a * b = c``
  shared t-of-n (docs/ecdsa/ot_based_ecdsa/triples.md): the public
  ``(A, B, C)`` and a participant's ``(a_i, b_i, c_i)``. Single-use.
* :class:`Presignature` - ``(R, k_i, sigma_i)`` from presigning
  (docs/ecdsa/ot_based_ecdsa/signing.md), bound to its key and participant
  set. Single-use: signing consumes it.
* :class:`Signature` - ``(r, s)`` with ``s`` low and the recovery id.

Binary layouts (integers big-endian; scalars 32 bytes, points 33-byte SEC1
compressed)::

    header      "CSE" || version (u8 = 1) || type (u8: 1 key share,
                2 triple share, 3 presignature)
    participants  u16 count || u32 ids, strictly increasing
    KeyShare      header || id u32 || threshold u16 || participants
                  || public key (33) || secret share (32)
    TripleShare   header || id u32 || triple id (32) || threshold u16
                  || participants || A || B || C || a || b || c
    Presignature  header || id u32 || presignature id (32) || threshold u16
                  || participants || public key (33) || R (33) || k || sigma
    Signature     r (32) || s (32) || recovery id (u8), with 0 < r, s < n,
                  s <= n / 2 and recovery id in 0..3 (65 bytes)

Secret values never appear in a ``repr``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from cosigner.ecdsa.errors import (
    KeyShareDecodeError,
    PresignatureConsumedError,
    SignatureDecodeError,
    TripleConsumedError,
)
from cosigner.errors import DecodeError
from cosigner.groups import SECP256K1, Element, Secp256k1Element
from cosigner.groups.secp256k1 import FIELD_PRIME, ORDER
from cosigner.protocol.base import normalize_participants
from cosigner.protocol.codec import PayloadReader, PayloadWriter, record
from cosigner.protocol.message import MAX_PARTICIPANT_ID

MAGIC: Final = b"CSE"
VERSION: Final = 1
TYPE_KEY_SHARE: Final = 1
TYPE_TRIPLE_SHARE: Final = 2
TYPE_PRESIGNATURE: Final = 3


def _check_participants(participant_id: int, threshold: int, participants: Sequence[int]) -> None:
    if tuple(participants) != normalize_participants(participants):
        raise ValueError("participants must be distinct ids in increasing order")
    if participant_id not in participants:
        raise ValueError(f"participant {participant_id} is not in {list(participants)}")
    if type(threshold) is not int or not 2 <= threshold <= len(participants):
        raise ValueError(f"threshold must be in [2, {len(participants)}]")


def _check_scalar(name: str, value: int) -> None:
    if type(value) is not int or not 0 <= value < ORDER:
        raise ValueError(f"{name} must be an integer in [0, n)")


def _check_point(name: str, value: Element) -> None:
    if not isinstance(value, Secp256k1Element) or value.is_identity:
        raise ValueError(f"{name} must be a non-identity secp256k1 element")


def _header(type_tag: int) -> PayloadWriter:
    return PayloadWriter().raw(MAGIC).u8(VERSION).u8(type_tag)


def _write_participants(w: PayloadWriter, participants: Sequence[int]) -> None:
    w.u16(len(participants))
    for p in participants:
        w.u32(p)


def _reader(data: bytes, type_tag: int, what: str) -> PayloadReader:
    if not isinstance(data, bytes | bytearray):
        raise KeyShareDecodeError(f"a serialized {what} is bytes")
    r = PayloadReader(bytes(data), what)
    if len(data) < 5:
        raise KeyShareDecodeError(f"a serialized {what} is longer than {len(data)} bytes")
    if r.raw(3) != MAGIC:
        raise KeyShareDecodeError(f"not a serialized {what} (bad magic)")
    version = r.u8()
    if version != VERSION:
        raise KeyShareDecodeError(f"unsupported {what} version {version}")
    tag = r.u8()
    if tag != type_tag:
        raise KeyShareDecodeError(f"expected a serialized {what} (type {type_tag}), got {tag}")
    return r


@contextmanager
def _decoding(what: str) -> Iterator[None]:
    """Decoding failures in the body as :class:`KeyShareDecodeError`, naming ``what``."""
    try:
        yield
    except DecodeError as exc:
        raise KeyShareDecodeError(exc.message) from None
    except ValueError as exc:
        raise KeyShareDecodeError(f"{what}: {exc}") from None


def _read_participants(r: PayloadReader) -> tuple[int, ...]:
    count = r.u16()
    ids = tuple(r.u32() for _ in range(count))
    if any(b <= a for a, b in itertools.pairwise(ids)):
        raise DecodeError(f"{r.what}: participant ids must be strictly increasing")
    return ids


@record("ecdsa.KeyShare")
@dataclass(frozen=True, repr=False)
class KeyShare:
    """A participant's share of a threshold secp256k1 key."""

    participant_id: int
    threshold: int
    participants: tuple[int, ...]
    public_key: bytes
    secret_share: int

    def __post_init__(self) -> None:
        pid = self.participant_id
        if type(pid) is not int or not 0 <= pid <= MAX_PARTICIPANT_ID:
            raise ValueError("participant_id must be an id in [0, 2**32)")
        object.__setattr__(self, "participants", tuple(self.participants))
        _check_participants(self.participant_id, self.threshold, self.participants)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 33:
            raise ValueError("public_key is the 33-byte compressed group public key")
        SECP256K1.decode_element(self.public_key)
        _check_scalar("secret_share", self.secret_share)

    @property
    def public_point(self) -> Element:
        return SECP256K1.decode_element(self.public_key)

    def to_bytes(self) -> bytes:
        w = _header(TYPE_KEY_SHARE).u32(self.participant_id).u16(self.threshold)
        _write_participants(w, self.participants)
        return w.raw(self.public_key).scalar(self.secret_share).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyShare:
        r = _reader(data, TYPE_KEY_SHARE, "key share")
        with _decoding("key share"):
            pid = r.u32()
            threshold = r.u16()
            participants = _read_participants(r)
            public_key = r.point().to_bytes()
            secret = r.scalar()
            r.finish()
            return cls(pid, threshold, participants, public_key, secret)

    def __repr__(self) -> str:
        return (
            f"KeyShare(participant_id={self.participant_id}, threshold={self.threshold}, "
            f"participants={list(self.participants)}, public_key={self.public_key.hex()})"
        )


@record("ecdsa.Triple")
@dataclass(frozen=True)
class Triple:
    """The public side of a Beaver triple: ``A = a * G``, ``B = b * G``, ``C = c * G``."""

    triple_id: bytes
    threshold: int
    participants: tuple[int, ...]
    big_a: Element
    big_b: Element
    big_c: Element

    def __post_init__(self) -> None:
        object.__setattr__(self, "participants", tuple(self.participants))
        if not isinstance(self.triple_id, bytes) or len(self.triple_id) != 32:
            raise ValueError("triple_id is 32 bytes")
        if tuple(self.participants) != normalize_participants(self.participants):
            raise ValueError("participants must be distinct ids in increasing order")
        if type(self.threshold) is not int or not 2 <= self.threshold <= len(self.participants):
            raise ValueError("threshold out of range")
        for name in ("big_a", "big_b", "big_c"):
            _check_point(name, getattr(self, name))


@record("ecdsa.TripleShare")
@dataclass(eq=False, repr=False)
class TripleShare:
    """A participant's shares ``(a_i, b_i, c_i)`` of a triple, with its public side.

    Single-use: :meth:`consume` (called by presigning) refuses a second use.
    """

    participant_id: int
    triple: Triple
    a: int
    b: int
    c: int
    _consumed: bool = field(default=False, init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.triple, Triple):
            raise ValueError("triple must be a Triple")
        if self.participant_id not in self.triple.participants:
            raise ValueError("participant is not in the triple's participant set")
        for name in ("a", "b", "c"):
            _check_scalar(name, getattr(self, name))

    @property
    def consumed(self) -> bool:
        return self._consumed

    def consume(self) -> None:
        if self._consumed:
            raise TripleConsumedError(
                f"triple {self.triple.triple_id.hex()[:16]} was already used; generate new triples"
            )
        self._consumed = True

    def to_bytes(self) -> bytes:
        t = self.triple
        w = _header(TYPE_TRIPLE_SHARE).u32(self.participant_id).raw(t.triple_id).u16(t.threshold)
        _write_participants(w, t.participants)
        return w.points((t.big_a, t.big_b, t.big_c)).scalars((self.a, self.b, self.c)).to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> TripleShare:
        r = _reader(data, TYPE_TRIPLE_SHARE, "triple share")
        with _decoding("triple share"):
            pid = r.u32()
            triple_id = r.raw(32)
            threshold = r.u16()
            participants = _read_participants(r)
            big_a, big_b, big_c = r.points(3)
            a, b, c = r.scalars(3)
            r.finish()
            triple = Triple(triple_id, threshold, participants, big_a, big_b, big_c)
            return cls(pid, triple, a, b, c)

    def __repr__(self) -> str:
        state = ", consumed" if self._consumed else ""
        return (
            f"TripleShare(participant_id={self.participant_id}, "
            f"triple_id={self.triple.triple_id.hex()[:16]}{state})"
        )


@record("ecdsa.Presignature")
@dataclass(eq=False, repr=False)
class Presignature:
    """A participant's presignature ``(R, k_i, sigma_i)``, bound to its key and participants.

    Single-use: signing calls :meth:`consume`, and a second use raises
    :class:`~cosigner.ecdsa.errors.PresignatureConsumedError`. A stored
    presignature must also be marked used in durable storage before the
    signature share that uses it leaves the process (DESIGN.md principle 4).
    """

    participant_id: int
    presignature_id: bytes
    threshold: int
    participants: tuple[int, ...]
    public_key: bytes
    big_r: Element
    k: int
    sigma: int
    _consumed: bool = field(default=False, init=False, compare=False)

    def __post_init__(self) -> None:
        self.participants = tuple(self.participants)
        _check_participants(self.participant_id, self.threshold, self.participants)
        if not isinstance(self.presignature_id, bytes) or len(self.presignature_id) != 32:
            raise ValueError("presignature_id is 32 bytes")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 33:
            raise ValueError("public_key is 33 bytes")
        SECP256K1.decode_element(self.public_key)
        _check_point("big_r", self.big_r)
        _check_scalar("k", self.k)
        _check_scalar("sigma", self.sigma)

    @property
    def consumed(self) -> bool:
        return self._consumed

    def consume(self) -> None:
        if self._consumed:
            raise PresignatureConsumedError(
                f"presignature {self.presignature_id.hex()[:16]} was already used; "
                "reusing one would leak the key, so presign again"
            )
        self._consumed = True

    def to_bytes(self) -> bytes:
        w = (
            _header(TYPE_PRESIGNATURE)
            .u32(self.participant_id)
            .raw(self.presignature_id)
            .u16(self.threshold)
        )
        _write_participants(w, self.participants)
        w.raw(self.public_key).point(self.big_r).scalar(self.k).scalar(self.sigma)
        return w.to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Presignature:
        r = _reader(data, TYPE_PRESIGNATURE, "presignature")
        with _decoding("presignature"):
            pid = r.u32()
            presignature_id = r.raw(32)
            threshold = r.u16()
            participants = _read_participants(r)
            public_key = r.point().to_bytes()
            big_r = r.point()
            k = r.scalar()
            sigma = r.scalar()
            r.finish()
            return cls(pid, presignature_id, threshold, participants, public_key, big_r, k, sigma)

    def __repr__(self) -> str:
        state = ", consumed" if self._consumed else ""
        return (
            f"Presignature(participant_id={self.participant_id}, "
            f"id={self.presignature_id.hex()[:16]}, participants={list(self.participants)}{state})"
        )


def _affine(point: Element) -> tuple[int, int]:
    """The affine coordinates ``(x, y)`` of a non-identity point."""
    enc = point.to_bytes()
    x = int.from_bytes(enc[1:], "big")
    y_squared = (pow(x, 3, FIELD_PRIME) + 7) % FIELD_PRIME
    y = pow(y_squared, (FIELD_PRIME + 1) // 4, FIELD_PRIME)
    if (y & 1) != (enc[0] & 1):
        y = FIELD_PRIME - y
    return x, y


def x_coordinate(point: Element) -> int:
    """The affine x coordinate of a non-identity point, as an integer below p."""
    return int.from_bytes(point.to_bytes()[1:], "big")


def recovery_id_for(big_r: Element, s_was_negated: bool) -> int:
    """The recovery id of ``(r, s)`` with nonce point ``R``: bit 0 y parity, bit 1 x >= n."""
    enc = big_r.to_bytes()
    parity = enc[0] & 1
    if s_was_negated:
        parity ^= 1
    overflow = 2 if int.from_bytes(enc[1:], "big") >= ORDER else 0
    return parity | overflow


@record("ecdsa.Signature")
@dataclass(frozen=True)
class Signature:
    """An ECDSA signature with low ``s`` and its recovery id; 65 bytes ``r || s || v``."""

    r: int
    s: int
    recovery_id: int

    def __post_init__(self) -> None:
        if type(self.r) is not int or not 0 < self.r < ORDER:
            raise ValueError("r must be in [1, n)")
        if type(self.s) is not int or not 0 < self.s <= ORDER // 2:
            raise ValueError("s must be in [1, n/2] (low-s)")
        if type(self.recovery_id) is not int or not 0 <= self.recovery_id <= 3:
            raise ValueError("recovery_id must be in 0..3")

    @property
    def v(self) -> int:
        """Ethereum's legacy ``v`` (27 or 28) for recovery ids 0 and 1."""
        return 27 + (self.recovery_id & 1)

    def to_bytes(self) -> bytes:
        return self.r.to_bytes(32, "big") + self.s.to_bytes(32, "big") + bytes([self.recovery_id])

    def to_compact(self) -> bytes:
        """The 64-byte ``r || s`` form."""
        return self.to_bytes()[:64]

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if not isinstance(data, bytes | bytearray) or len(data) != 65:
            raise SignatureDecodeError("a signature is 65 bytes: r || s || recovery_id")
        try:
            return cls(
                int.from_bytes(data[:32], "big"), int.from_bytes(data[32:64], "big"), data[64]
            )
        except ValueError as exc:
            raise SignatureDecodeError(f"invalid signature: {exc}") from None

    def verify(self, public_key: bytes | Element, digest: bytes) -> bool:
        """Ordinary ECDSA verification of this signature on a 32-byte digest."""
        point = (
            public_key if isinstance(public_key, Element) else SECP256K1.decode_element(public_key)
        )
        return verify_ecdsa(point, digest, self.r, self.s)


def verify_ecdsa(public_key: Element, digest: bytes, r: int, s: int) -> bool:
    """ECDSA verification: ``x(h/s * G + r/s * X) mod n == r``, for ``0 < r, s < n``."""
    if not (0 < r < ORDER and 0 < s < ORDER) or len(digest) != 32 or public_key.is_identity:
        return False
    h = int.from_bytes(digest, "big") % ORDER
    s_inv = pow(s, -1, ORDER)
    point = SECP256K1.base_mul(h * s_inv) + public_key * (r * s_inv)
    if point.is_identity:
        return False
    return x_coordinate(point) % ORDER == r


__all__ = [
    "KeyShare",
    "Presignature",
    "Signature",
    "Triple",
    "TripleShare",
    "recovery_id_for",
    "verify_ecdsa",
    "x_coordinate",
]
