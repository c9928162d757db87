"""The ristretto255 group (RFC 9496), on libsodium.

RFC 9591 Section 6.2: elements are the 32-byte ristretto255 encodings,
scalars 32-byte little-endian integers below the Ed25519 group order.

PyNaCl does not expose libsodium's ``crypto_core_ristretto255_*`` and
``crypto_scalarmult_ristretto255*`` functions, so this backend calls the same
libsodium functions through ``rbcl``, a wheel that bundles libsodium and
wraps exactly those. The identity (all-zero encoding) is handled here, since
libsodium's scalar multiplication refuses to produce it.
"""

from __future__ import annotations

from typing import ClassVar

import rbcl as _rb

from cosigner.errors import IdentityElementError, InvalidElementError
from cosigner.groups.base import Element, Group

ORDER = 2**252 + 27742317777372353535851937790883648493
_IDENTITY = bytes(32)
_BASE = bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")


class Ristretto255Element(Element):
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
        if not isinstance(other, Ristretto255Element):
            return NotImplemented
        if self._enc == _IDENTITY:
            return other
        if other._enc == _IDENTITY:
            return self
        return Ristretto255Element(_rb.crypto_core_ristretto255_add(self._enc, other._enc))

    def __sub__(self, other: Element) -> Element:
        if not isinstance(other, Ristretto255Element):
            return NotImplemented
        return Ristretto255Element(_rb.crypto_core_ristretto255_sub(self._enc, other._enc))

    def __neg__(self) -> Element:
        if self._enc == _IDENTITY:
            return self
        return Ristretto255Element(_rb.crypto_core_ristretto255_sub(_IDENTITY, self._enc))

    def __mul__(self, k: int) -> Element:
        if not isinstance(k, int):
            return NotImplemented
        k %= ORDER
        if k == 0 or self._enc == _IDENTITY:
            return IDENTITY
        return Ristretto255Element(
            _rb.crypto_scalarmult_ristretto255(k.to_bytes(32, "little"), self._enc)
        )


class Ristretto255Group(Group):
    name = "ristretto255"
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
        return Ristretto255Element(
            _rb.crypto_scalarmult_ristretto255_base(k.to_bytes(32, "little"))
        )

    def decode_element(self, data: bytes) -> Element:
        if not isinstance(data, bytes | bytearray) or len(data) != 32:
            raise InvalidElementError("a ristretto255 element is 32 bytes")
        data = bytes(data)
        if data == _IDENTITY:
            raise IdentityElementError("the ristretto255 identity element is not valid here")
        # RFC 9496 Section 4.3.1 requires s < p, so the top bit must be clear; the
        # libsodium bundled in rbcl ignores that bit, and accepting it would give one
        # element two encodings (and equality here compares encodings).
        if data[31] & 0x80:
            raise InvalidElementError("non-canonical ristretto255 encoding (s >= p)")
        if not _rb.crypto_core_ristretto255_is_valid_point(data):
            raise InvalidElementError("not a canonical ristretto255 encoding")
        return Ristretto255Element(data)

    def encode_scalar(self, k: int) -> bytes:
        return (k % ORDER).to_bytes(32, "little")

    def _scalar_from_bytes(self, data: bytes) -> int:
        return int.from_bytes(data, "little")


RISTRETTO255 = Ristretto255Group()
Ristretto255Element.group = RISTRETTO255
IDENTITY = Ristretto255Element(_IDENTITY)
GENERATOR = Ristretto255Element(_BASE)
