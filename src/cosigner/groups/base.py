"""The prime-order group interface every protocol in cosigner is written against.

RFC 9591 Section 3.1 names the operations a FROST ciphersuite needs from its
group: Order, Identity, RandomScalar, ElementAdd, ScalarMult, ScalarBaseMult,
SerializeElement / DeserializeElement and SerializeScalar / DeserializeScalar.
This module gives them one Python shape:

* scalars are plain ``int`` values reduced modulo :attr:`Group.order`;
* elements are immutable :class:`Element` objects with ``+``, ``-``, unary
  ``-``, ``k * P`` and ``P * k``, equality and hashing;
* the identity is an ordinary element (``group.identity``): adding it,
  multiplying by zero or negating it all work. Only serialization refuses it,
  because RFC 9591 forbids encoding the identity in every ciphersuite.

The arithmetic itself is done by C libraries (libsodium, libsecp256k1); this
layer only adapts their calling conventions and hides the cases they refuse.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from cosigner.errors import IdentityElementError, InvalidScalarError

RandomBytes = Callable[[int], bytes]
"""An injected randomness source: ``rng(n)`` returns ``n`` uniformly random bytes."""


def system_random(n: int) -> bytes:
    return secrets.token_bytes(n)


class Element(ABC):
    """An element of a prime-order group. Immutable; equal elements hash equal."""

    __slots__ = ()

    group: ClassVar[Group]

    @property
    @abstractmethod
    def is_identity(self) -> bool: ...

    @abstractmethod
    def __add__(self, other: Element) -> Element: ...

    @abstractmethod
    def __neg__(self) -> Element: ...

    @abstractmethod
    def __mul__(self, k: int) -> Element: ...

    def __rmul__(self, k: int) -> Element:
        return self.__mul__(k)

    def __sub__(self, other: Element) -> Element:
        return self + (-other)

    @abstractmethod
    def _encode(self) -> bytes:
        """The canonical encoding; only called on non-identity elements."""

    def to_bytes(self) -> bytes:
        """SerializeElement: the canonical encoding. The identity has none."""
        if self.is_identity:
            raise IdentityElementError(
                f"the identity element of {self.group.name} cannot be serialized"
            )
        return self._encode()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Element) or other.group is not self.group:
            return NotImplemented
        if self.is_identity or other.is_identity:
            return self.is_identity and other.is_identity
        return self._encode() == other._encode()

    def __hash__(self) -> int:
        return hash((self.group.name, b"" if self.is_identity else self._encode()))

    def __repr__(self) -> str:
        if self.is_identity:
            return f"<{self.group.name} identity>"
        return f"<{self.group.name} element {self._encode().hex()}>"


class Group(ABC):
    """A prime-order group with its scalar field."""

    name: str
    order: int
    scalar_size: int
    element_size: int

    @property
    @abstractmethod
    def identity(self) -> Element: ...

    @property
    @abstractmethod
    def generator(self) -> Element: ...

    @abstractmethod
    def base_mul(self, k: int) -> Element:
        """ScalarBaseMult: ``k * G``."""

    @abstractmethod
    def decode_element(self, data: bytes) -> Element:
        """DeserializeElement: strict; rejects the identity and anything non-canonical."""

    @abstractmethod
    def encode_scalar(self, k: int) -> bytes:
        """SerializeScalar."""

    @abstractmethod
    def _scalar_from_bytes(self, data: bytes) -> int: ...

    def decode_scalar(self, data: bytes) -> int:
        """DeserializeScalar: the encoding must be exactly ``scalar_size`` bytes and < order."""
        if not isinstance(data, bytes | bytearray) or len(data) != self.scalar_size:
            raise InvalidScalarError(
                f"a {self.name} scalar is {self.scalar_size} bytes, got "
                f"{len(data) if isinstance(data, bytes | bytearray) else type(data).__name__}"
            )
        k = self._scalar_from_bytes(bytes(data))
        if k >= self.order:
            raise InvalidScalarError(f"{self.name} scalar is not reduced modulo the group order")
        return k

    def random_scalar(self, rng: RandomBytes = system_random) -> int:
        """RandomScalar: uniform in [1, order) (wide reduction, so the bias is negligible)."""
        while True:
            k = int.from_bytes(rng(self.scalar_size + 16), "big") % self.order
            if k:
                return k

    def sum(self, elements: Iterable[Element]) -> Element:
        acc = self.identity
        for e in elements:
            acc = acc + e
        return acc

    def multi_mul(self, pairs: Iterable[tuple[int, Element]]) -> Element:
        """``sum(k_i * P_i)``; backends with a faster multi-scalar multiply override this."""
        return self.sum(k * p for k, p in pairs)

    def inverse(self, k: int) -> int:
        k %= self.order
        if k == 0:
            raise ZeroDivisionError("zero has no inverse modulo the group order")
        return pow(k, -1, self.order)

    def __repr__(self) -> str:
        return f"<group {self.name}>"

    def __reduce__(self) -> Any:
        from cosigner.groups import group_by_name

        return (group_by_name, (self.name,))
