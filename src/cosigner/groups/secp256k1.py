"""The secp256k1 group, on libsecp256k1 (through coincurve's bundled library).

RFC 9591 Section 6.5: elements are 33-byte SEC1 compressed points, scalars
32-byte big-endian integers below the group order ``n``.

This module calls libsecp256k1 through coincurve's cffi handle
(``coincurve._libsecp256k1``) rather than its ``PublicKey`` class because
``PublicKey`` cannot hold the point at infinity and raises where a protocol
legitimately meets it (``P + (-P)``, ``0 * P``). Going straight to the C
functions also keeps the per-operation overhead to one cffi call. The
identity is represented here (``_pk is None``) and never reaches the library.
"""

from __future__ import annotations

from typing import Any, ClassVar

from coincurve._libsecp256k1 import ffi as _ffi
from coincurve._libsecp256k1 import lib as _lib
from coincurve.context import GLOBAL_CONTEXT

from cosigner.errors import IdentityElementError, InvalidElementError
from cosigner.groups.base import Element, Group

ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
FIELD_PRIME = 2**256 - 2**32 - 977
_CTX: Any = GLOBAL_CONTEXT.ctx
_COMPRESSED = 258  # SECP256K1_EC_COMPRESSED


def _new_pubkey() -> Any:
    return _ffi.new("secp256k1_pubkey *")


class Secp256k1Element(Element):
    __slots__ = ("_enc", "_pk")
    group: ClassVar[Group]

    def __init__(self, pk: Any, enc: bytes | None = None) -> None:
        self._pk = pk
        self._enc = enc

    @property
    def is_identity(self) -> bool:
        return self._pk is None

    def _encode(self) -> bytes:
        enc = self._enc
        if enc is None:
            out = _ffi.new("unsigned char[33]")
            size = _ffi.new("size_t *", 33)
            _lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, self._pk, _COMPRESSED)
            enc = self._enc = bytes(out)
        return enc

    @property
    def has_even_y(self) -> bool:
        """True for the identity and for points whose y coordinate is even (BIP-340)."""
        return self._pk is None or self._encode()[0] == 2

    def x_only(self) -> bytes:
        """The 32-byte x coordinate (BIP-340 encoding of the even-y representative)."""
        return self.to_bytes()[1:]

    def __add__(self, other: Element) -> Element:
        if not isinstance(other, Secp256k1Element):
            return NotImplemented
        if self._pk is None:
            return other
        if other._pk is None:
            return self
        out = _new_pubkey()
        if not _lib.secp256k1_ec_pubkey_combine(_CTX, out, [self._pk, other._pk], 2):
            return IDENTITY  # P + (-P)
        return Secp256k1Element(out)

    def __neg__(self) -> Element:
        if self._pk is None:
            return self
        out = _new_pubkey()
        _ffi.memmove(out, self._pk, 64)
        _lib.secp256k1_ec_pubkey_negate(_CTX, out)
        return Secp256k1Element(out)

    def __mul__(self, k: int) -> Element:
        if not isinstance(k, int):
            return NotImplemented
        k %= ORDER
        if k == 0 or self._pk is None:
            return IDENTITY
        out = _new_pubkey()
        _ffi.memmove(out, self._pk, 64)
        _lib.secp256k1_ec_pubkey_tweak_mul(_CTX, out, k.to_bytes(32, "big"))
        return Secp256k1Element(out)


class Secp256k1Group(Group):
    name = "secp256k1"
    order = ORDER
    scalar_size = 32
    element_size = 33

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
        out = _new_pubkey()
        _lib.secp256k1_ec_pubkey_create(_CTX, out, k.to_bytes(32, "big"))
        return Secp256k1Element(out)

    def decode_element(self, data: bytes) -> Element:
        if not isinstance(data, bytes | bytearray) or len(data) != 33:
            raise InvalidElementError("a secp256k1 element is 33 bytes (SEC1 compressed)")
        data = bytes(data)
        if data[0] not in (2, 3):
            if data == bytes(33):
                raise IdentityElementError("the secp256k1 identity element is not valid here")
            raise InvalidElementError("a secp256k1 element starts with 0x02 or 0x03")
        if int.from_bytes(data[1:], "big") >= FIELD_PRIME:
            raise InvalidElementError("non-canonical secp256k1 encoding (x >= p)")
        out = _new_pubkey()
        if not _lib.secp256k1_ec_pubkey_parse(_CTX, out, data, 33):
            raise InvalidElementError("not the encoding of a point on secp256k1")
        return Secp256k1Element(out, data)

    def decode_x_only(self, data: bytes) -> Secp256k1Element:
        """BIP-340 lift_x: the even-y point with the given 32-byte x coordinate."""
        if not isinstance(data, bytes | bytearray) or len(data) != 32:
            raise InvalidElementError("an x-only secp256k1 point is 32 bytes")
        element = self.decode_element(b"\x02" + bytes(data))
        assert isinstance(element, Secp256k1Element)
        return element

    def encode_scalar(self, k: int) -> bytes:
        return (k % ORDER).to_bytes(32, "big")

    def _scalar_from_bytes(self, data: bytes) -> int:
        return int.from_bytes(data, "big")


SECP256K1 = Secp256k1Group()
Secp256k1Element.group = SECP256K1
IDENTITY = Secp256k1Element(None)
GENERATOR = SECP256K1.base_mul(1)
