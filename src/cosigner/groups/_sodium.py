"""What the two libsodium-backed groups, Ed25519 and ristretto255, share.

Both encode an element in 32 bytes and a scalar as 32 little-endian bytes
below the same order ``L = 2^252 + 27742317777372353535851937790883648493``.
libsodium refuses some inputs a protocol legitimately produces (multiplying
by zero, results equal to the identity), so the identity is represented by
the group's own fixed encoding and handled here before any call reaches the
library. A concrete group names its identity encoding, its libsodium
functions and its DeserializeElement checks.
"""

from __future__ import annotations

from typing import ClassVar

from cosigner.errors import IdentityElementError, InvalidElementError
from cosigner.groups.base import Element, Group

ORDER = 2**252 + 27742317777372353535851937790883648493


class SodiumElement(Element):
    """A point held as its 32-byte encoding; the identity never reaches libsodium."""

    __slots__ = ("_enc",)
    group: ClassVar[Group]
    _IDENTITY_ENCODING: ClassVar[bytes]
    _IDENTITY: ClassVar[SodiumElement]

    def __init__(self, enc: bytes) -> None:
        self._enc = enc

    @property
    def is_identity(self) -> bool:
        return self._enc == self._IDENTITY_ENCODING

    def _encode(self) -> bytes:
        return self._enc

    @staticmethod
    def _add(p: bytes, q: bytes, /) -> bytes:
        """libsodium's point addition of two non-identity encodings."""
        raise NotImplementedError

    @staticmethod
    def _scalarmult(k: bytes, p: bytes, /) -> bytes:
        """libsodium's unclamped ``k * P``: ``k`` in 32 little-endian bytes, non-zero."""
        raise NotImplementedError

    def __add__(self, other: Element) -> Element:
        if not isinstance(other, type(self)):
            return NotImplemented
        if self._enc == self._IDENTITY_ENCODING:
            return other
        if other._enc == self._IDENTITY_ENCODING:
            return self
        return type(self)(self._add(self._enc, other._enc))

    def __mul__(self, k: int) -> Element:
        if not isinstance(k, int):
            return NotImplemented
        k %= ORDER
        if k == 0 or self._enc == self._IDENTITY_ENCODING:
            return self._IDENTITY
        return type(self)(self._scalarmult(k.to_bytes(32, "little"), self._enc))


class SodiumGroup(Group):
    """A libsodium group: 32-byte elements, 32-byte little-endian scalars below ``ORDER``."""

    order = ORDER
    scalar_size = 32
    element_size = 32
    _ELEMENT: ClassVar[type[SodiumElement]]
    _GENERATOR: ClassVar[SodiumElement]
    _WRONG_SIZE: ClassVar[str]
    """The error message for an encoding that is not 32 bytes."""
    _IDENTITY_REFUSED: ClassVar[str]
    """The error message for the identity's encoding."""

    @staticmethod
    def _base_scalarmult(k: bytes, /) -> bytes:
        """libsodium's unclamped ``k * G``: ``k`` in 32 little-endian bytes, non-zero."""
        raise NotImplementedError

    @property
    def identity(self) -> Element:
        return self._ELEMENT._IDENTITY

    @property
    def generator(self) -> Element:
        return self._GENERATOR

    def base_mul(self, k: int) -> Element:
        k %= ORDER
        if k == 0:
            return self._ELEMENT._IDENTITY
        return self._ELEMENT(self._base_scalarmult(k.to_bytes(32, "little")))

    def decode_element(self, data: bytes) -> Element:
        if not isinstance(data, bytes | bytearray) or len(data) != 32:
            raise InvalidElementError(self._WRONG_SIZE)
        data = bytes(data)
        if data == self._ELEMENT._IDENTITY_ENCODING:
            raise IdentityElementError(self._IDENTITY_REFUSED)
        self._check_encoding(data)
        return self._ELEMENT(data)

    def _check_encoding(self, data: bytes) -> None:
        """Raise :class:`InvalidElementError` unless ``data`` (32 bytes, not the identity) is
        the canonical encoding of a group element."""
        raise NotImplementedError

    def encode_scalar(self, k: int) -> bytes:
        return (k % ORDER).to_bytes(32, "little")

    def _scalar_from_bytes(self, data: bytes) -> int:
        return int.from_bytes(data, "little")
