"""The Ed25519 prime-order subgroup, on libsodium (through PyNaCl's ``nacl.bindings``).

RFC 9591 Section 6.1: elements are the RFC 8032 32-byte encodings of points
in the prime-order subgroup, scalars are 32-byte little-endian integers below
``L = 2^252 + 27742317777372353535851937790883648493``.

libsodium refuses some inputs a protocol legitimately produces (multiplying
by zero, results equal to the identity), so this module answers those cases
itself: the identity is represented by its RFC 8032 encoding and handled
before any call reaches libsodium (the arithmetic shared with ristretto255
lives in :mod:`cosigner.groups._sodium`).
"""

from __future__ import annotations

from nacl import bindings as _na

from cosigner.errors import InvalidElementError
from cosigner.groups._sodium import ORDER as ORDER
from cosigner.groups._sodium import SodiumElement, SodiumGroup
from cosigner.groups.base import Element

_P = 2**255 - 19
_IDENTITY = b"\x01" + bytes(31)
_BASE = bytes.fromhex("5866666666666666666666666666666666666666666666666666666666666666")


class Ed25519Element(SodiumElement):
    __slots__ = ()
    _IDENTITY_ENCODING = _IDENTITY
    _add = staticmethod(_na.crypto_core_ed25519_add)
    _scalarmult = staticmethod(_na.crypto_scalarmult_ed25519_noclamp)

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


class Ed25519Group(SodiumGroup):
    name = "ed25519"
    _ELEMENT = Ed25519Element
    _base_scalarmult = staticmethod(_na.crypto_scalarmult_ed25519_base_noclamp)
    _WRONG_SIZE = "an Ed25519 element is 32 bytes"
    _IDENTITY_REFUSED = "the Ed25519 identity element is not a valid element here"

    def _check_encoding(self, data: bytes) -> None:
        if int.from_bytes(data, "little") & ((1 << 255) - 1) >= _P:
            raise InvalidElementError("non-canonical Ed25519 encoding (y >= p)")
        # is_valid_point: canonical, on the curve, in the prime-order subgroup, not small order.
        if not _na.crypto_core_ed25519_is_valid_point(data):
            raise InvalidElementError(
                "not the encoding of an Ed25519 point in the prime-order subgroup"
            )


ED25519 = Ed25519Group()
Ed25519Element.group = ED25519
IDENTITY = Ed25519Element._IDENTITY = Ed25519Element(_IDENTITY)
GENERATOR = Ed25519Group._GENERATOR = Ed25519Element(_BASE)
