"""The ristretto255 group (RFC 9496), on libsodium.

RFC 9591 Section 6.2: elements are the 32-byte ristretto255 encodings,
scalars 32-byte little-endian integers below the Ed25519 group order.

PyNaCl does not expose libsodium's ``crypto_core_ristretto255_*`` and
``crypto_scalarmult_ristretto255*`` functions, so this backend calls the same
libsodium functions through ``rbcl``, a wheel that bundles libsodium and
wraps exactly those. The identity (all-zero encoding) is handled here, since
libsodium's scalar multiplication refuses to produce it (the arithmetic
shared with Ed25519 lives in :mod:`cosigner.groups._sodium`).
"""

from __future__ import annotations

import rbcl as _rb

from cosigner.errors import InvalidElementError
from cosigner.groups._sodium import ORDER as ORDER
from cosigner.groups._sodium import SodiumElement, SodiumGroup
from cosigner.groups.base import Element

_IDENTITY = bytes(32)
_BASE = bytes.fromhex("e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76")


class Ristretto255Element(SodiumElement):
    __slots__ = ()
    _IDENTITY_ENCODING = _IDENTITY
    _add = staticmethod(_rb.crypto_core_ristretto255_add)
    _scalarmult = staticmethod(_rb.crypto_scalarmult_ristretto255)

    def __sub__(self, other: Element) -> Element:
        if not isinstance(other, Ristretto255Element):
            return NotImplemented
        return Ristretto255Element(_rb.crypto_core_ristretto255_sub(self._enc, other._enc))

    def __neg__(self) -> Element:
        if self._enc == _IDENTITY:
            return self
        return Ristretto255Element(_rb.crypto_core_ristretto255_sub(_IDENTITY, self._enc))


class Ristretto255Group(SodiumGroup):
    name = "ristretto255"
    _ELEMENT = Ristretto255Element
    _base_scalarmult = staticmethod(_rb.crypto_scalarmult_ristretto255_base)
    _WRONG_SIZE = "a ristretto255 element is 32 bytes"
    _IDENTITY_REFUSED = "the ristretto255 identity element is not valid here"

    def _check_encoding(self, data: bytes) -> None:
        # RFC 9496 Section 4.3.1 requires s < p, so the top bit must be clear; the
        # libsodium bundled in rbcl ignores that bit, and accepting it would give one
        # element two encodings (and equality here compares encodings).
        if data[31] & 0x80:
            raise InvalidElementError("non-canonical ristretto255 encoding (s >= p)")
        if not _rb.crypto_core_ristretto255_is_valid_point(data):
            raise InvalidElementError("not a canonical ristretto255 encoding")


RISTRETTO255 = Ristretto255Group()
Ristretto255Element.group = RISTRETTO255
IDENTITY = Ristretto255Element._IDENTITY = Ristretto255Element(_IDENTITY)
GENERATOR = Ristretto255Group._GENERATOR = Ristretto255Element(_BASE)
