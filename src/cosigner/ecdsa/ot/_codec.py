"""Canonical byte encoding shared by every OT message and state.

Layout (integers big-endian)::

    version (u8 = 1) || type tag (u8) || fields

Fields are fixed-size or preceded by the counts that determine their size, so
an encoding has exactly one length and decoders refuse trailing bytes.
Scalars are 32-byte big-endian integers below the secp256k1 order; elements
are 33-byte SEC1 compressed points, never the identity. Every failure is a
:class:`~cosigner.errors.DecodeError` subclass: :class:`OtDecodeError` for
structure, :class:`~cosigner.errors.InvalidScalarError` and
:class:`~cosigner.errors.InvalidElementError` for values.

All type tags of the package live here, so two objects can never share one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np

from cosigner.ecdsa.ot._scalars import below_order
from cosigner.ecdsa.ot.errors import OtDecodeError
from cosigner.errors import DecodeError, InvalidScalarError
from cosigner.groups import SECP256K1, Element

FORMAT_VERSION: Final = 1
SCALAR_SIZE: Final = 32
ELEMENT_SIZE: Final = 33
ORDER: Final = SECP256K1.order

# Messages (public, sent to the peer).
TAG_BASE_OT_SENDER_MESSAGE: Final = 0x01
TAG_BASE_OT_RECEIVER_MESSAGE: Final = 0x02
TAG_CORRELATED_OT_MESSAGE: Final = 0x10
TAG_RANDOM_OT_CHALLENGE: Final = 0x11
TAG_RANDOM_OT_CHECK: Final = 0x12
TAG_MTA_CIPHERTEXTS: Final = 0x20
TAG_MTA_CHALLENGE: Final = 0x21
# States and outputs (secret, kept by their owner).
TAG_BASE_OT_SENDER_STATE: Final = 0x80
TAG_PAIR_SETUP: Final = 0x81
TAG_RANDOM_OT_RECEIVER_STATE: Final = 0x90
TAG_RANDOM_OT_SENDER_STATE: Final = 0x91
TAG_RANDOM_OT_RECEIVER_OUTPUT: Final = 0x92
TAG_RANDOM_OT_SENDER_OUTPUT: Final = 0x93
TAG_MTA_SENDER_STATE: Final = 0xA0
TAG_LOWER_AWAITING_CHALLENGE: Final = 0xB0
TAG_LOWER_AWAITING_CIPHERTEXTS: Final = 0xB1
TAG_HIGHER_AWAITING_CHECK: Final = 0xB2
TAG_HIGHER_AWAITING_MTA_CHALLENGE: Final = 0xB3


class Writer:
    """Accumulates the fields of one encoding."""

    __slots__ = ("_parts",)

    def __init__(self, tag: int) -> None:
        self._parts: list[bytes] = [bytes((FORMAT_VERSION, tag))]

    def u8(self, value: int) -> None:
        self._parts.append(value.to_bytes(1, "big"))

    def u32(self, value: int) -> None:
        self._parts.append(value.to_bytes(4, "big"))

    def raw(self, data: bytes) -> None:
        self._parts.append(data)

    def var_bytes(self, data: bytes) -> None:
        self.u32(len(data))
        self._parts.append(data)

    def scalar(self, value: int) -> None:
        self._parts.append(value.to_bytes(SCALAR_SIZE, "big"))

    def scalars(self, values: Sequence[int]) -> None:
        self._parts.append(encode_scalars(values))

    def element(self, value: Element) -> None:
        self._parts.append(value.to_bytes())

    def finish(self) -> bytes:
        return b"".join(self._parts)


class Reader:
    """Reads the fields of one encoding, refusing truncation and trailing bytes."""

    __slots__ = ("_data", "_name", "_pos")

    def __init__(self, data: object, tag: int, name: str) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise OtDecodeError(f"{name}: expected bytes, got {type(data).__name__}")
        self._data = bytes(data)
        self._name = name
        self._pos = 0
        version = self.u8("version")
        if version != FORMAT_VERSION:
            raise OtDecodeError(f"{name}: unsupported format version {version}")
        found = self.u8("type tag")
        if found != tag:
            raise OtDecodeError(f"{name}: expected type tag {tag:#04x}, got {found:#04x}")

    def error(self, message: str) -> OtDecodeError:
        return OtDecodeError(f"{self._name}: {message}")

    def take(self, n: int, what: str) -> bytes:
        end = self._pos + n
        if n < 0 or end > len(self._data):
            raise self.error(f"truncated while reading {what}")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "big")

    def count(self, what: str, low: int, high: int) -> int:
        """A u32 that must lie in ``[low, high]`` (bounds sizes before anything is allocated)."""
        value = self.u32(what)
        if not low <= value <= high:
            raise self.error(f"{what} must be in [{low}, {high}], got {value}")
        return value

    def var_bytes(self, what: str, max_size: int) -> bytes:
        return self.take(self.count(f"length of {what}", 0, max_size), what)

    def scalar(self, what: str) -> int:
        try:
            return SECP256K1.decode_scalar(self.take(SCALAR_SIZE, what))
        except DecodeError as exc:
            raise type(exc)(f"{self._name}.{what}: {exc.message}") from None

    def scalars(self, n: int, what: str) -> list[int]:
        return decode_scalars(self.take(n * SCALAR_SIZE, what), f"{self._name}.{what}")

    def element(self, what: str) -> Element:
        try:
            return SECP256K1.decode_element(self.take(ELEMENT_SIZE, what))
        except DecodeError as exc:
            raise type(exc)(f"{self._name}.{what}: {exc.message}") from None

    def rest(self) -> bytes:
        """Everything not read yet (a nested encoding that checks its own length)."""
        out = self._data[self._pos :]
        self._pos = len(self._data)
        return out

    def done(self) -> None:
        extra = len(self._data) - self._pos
        if extra:
            raise self.error(f"{extra} trailing bytes")


def encode_scalars(values: Sequence[int]) -> bytes:
    return b"".join([v.to_bytes(SCALAR_SIZE, "big") for v in values])


def check_scalars_reduced(data: bytes, what: str) -> None:
    """Refuse any 32-byte big-endian scalar in ``data`` that is not below the group order.

    Vectorized: an MTA message carries thousands of scalars, and converting
    each to an int only to compare it would dominate decoding.
    """
    if len(data) % SCALAR_SIZE:
        raise OtDecodeError(f"{what}: scalar data of {len(data)} bytes is not a multiple of 32")
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, SCALAR_SIZE)
    if not bool(below_order(blocks).all()):
        raise InvalidScalarError(f"{what}: secp256k1 scalar is not reduced modulo the group order")


def decode_scalars(data: bytes, what: str) -> list[int]:
    check_scalars_reduced(data, what)
    mv = memoryview(data)
    step = SCALAR_SIZE
    return [int.from_bytes(mv[o : o + step], "big") for o in range(0, len(data), step)]
