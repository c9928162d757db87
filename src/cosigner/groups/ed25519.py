"""The Ed25519 prime-order subgroup, on libsodium (through PyNaCl's ``nacl.bindings``).

RFC 9591 Section 6.1: elements are the RFC 8032 32-byte encodings of points
in the prime-order subgroup, scalars are 32-byte little-endian integers below
``L = 2^252 + 27742317777372353535851937790883648493``.

libsodium refuses some inputs a protocol legitimately produces (multiplying
by zero, results equal to the identity), so this module answers those cases
itself: the identity is represented by its RFC 8032 encoding and handled
before any call reaches libsodium.
"""

from __future__ import annotations

from typing import ClassVar

from nacl import bindings as _na

from cosigner.errors import IdentityElementError, InvalidElementError
from cosigner.groups.base import Element, Group

ORDER = 2**252 + 27742317777372353535851937790883648493
_P = 2**255 - 19
_IDENTITY = b"\x01" + bytes(31)
_BASE = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")


class Ed25519Element(Element):
    __slots__ = ("_enc",)
    group: ClassVar[Group]

    def __init__(self, enc: bytes) -> None:
        self._enc = enc

    @property
    def is_identity(self) -> bool:
        return self._enc == _IDENTITY

    def _encode(self) -> bytes:
        return self._enc

    def __add__(self, other: Element) -> Element:
        if not isinstance(other, Ed25519Element):
            return NotImplemented
        if self._enc == _IDENTITY:
            return other
        if other._enc == _IDENTITY:
            return self
        return Ed25519Element(_na.crypto_core_ed25519_add(self._enc, other._enc))

    def __sub__(self, other: Element) -> Element:
        if not isinstance(other, Ed25519Element):
            return NotImplemented
        if other._enc == _IDENTITY:
            return self
        if self._enc == _IDENTITY:
            return -other
        return Ed25519Element(_na.crypto_core_ed25519_sub(self._enc, other._enc))

    def __neg__(self) -> Element:
        if self._enc == _IDENTITY:
            return self
        # Negation flips the sign of x, which is the top bit of the encoding.
        # x == 0 only for the identity and (0, -1), which is not in the subgroup.
        return Ed25519Element(self._enc[:31] + bytes([self._enc[31] ^ 0x80]))

    def __mul__(self, k: int) -> Element:
        if not isinstance(k, int):
            return NotImplemented
        k %= ORDER
        if k == 0 or self._enc == _IDENTITY:
            return IDENTITY
        return Ed25519Element(
            _na.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), self._enc)
        )


class Ed25519Group(Group):
    name = "ed25519"
    order = ORDER
    scalar_size = 32
    element_size = 32

    @property
    def identity(self) -> Element:
        return IDENTITY

    @property
    def generator(self) -> Element:
        return GENERATOR

    def base_mul(self, k: int) -> Element:
        k %= ORDER
        if k == 0:
            return IDENTITY
        return Ed25519Element(_na.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little")))

    def decode_element(self, data: bytes) -> Element:
        if not isinstance(data, bytes | bytearray) or len(data) != 32:
            raise InvalidElementError("an Ed25519 element is 32 bytes")
        data = bytes(data)
        if data == _IDENTITY:
            raise IdentityElementError("the Ed25519 identity element is not a valid element here")
        if int.from_bytes(data, "little") & ((1 << 255) - 1) >= _P:
            raise InvalidElementError("non-canonical Ed25519 encoding (y >= p)")
        # is_valid_point: canonical, on the curve, in the prime-order subgroup, not small order.
        if not _na.crypto_core_ed25519_is_valid_point(data):
            raise InvalidElementError(
                "not the encoding of an Ed25519 point in the prime-order subgroup"
            )
        return Ed25519Element(data)

    def encode_scalar(self, k: int) -> bytes:
        return (k % ORDER).to_bytes(32, "little")

    def _scalar_from_bytes(self, data: bytes) -> int:
        return int.from_bytes(data, "little")


ED25519 = Ed25519Group()
Ed25519Element.group = ED25519
IDENTITY = Ed25519Element(_IDENTITY)
GENERATOR = Ed25519Element(_BASE)
