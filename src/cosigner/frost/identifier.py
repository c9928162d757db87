"""Participant identifiers: non-zero scalars (RFC 9591 Section 3).

An :class:`Identifier` is an ``int`` (so ``{1: ...}`` and ``{Identifier(1): ...}``
index the same dict entry) that is known to be non-zero. Which values are in
range depends on the ciphersuite's group order, so :meth:`Identifier.for_suite`
and the protocol entry points check that. :meth:`Identifier.derive` maps any
byte string (a name, an email, a public key) to an identifier with the
ciphersuite's ``HID`` hash, as the Zcash Foundation implementation does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeAlias, TypeVar

from cosigner.frost.errors import DuplicateIdentifier, InvalidIdentifier

if TYPE_CHECKING:
    from cosigner.frost.ciphersuite import Ciphersuite


V = TypeVar("V")


class Identifier(int):
    """A non-zero scalar naming one participant."""

    def __new__(cls, value: int) -> Identifier:
        if isinstance(value, Identifier):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidIdentifier(f"an identifier is a positive integer, got {value!r}")
        if value <= 0:
            raise InvalidIdentifier("an identifier must be a non-zero scalar")
        return super().__new__(cls, value)

    @classmethod
    def for_suite(cls, suite: Ciphersuite, value: int) -> Identifier:
        ident = cls(value)
        if ident >= suite.group.order:
            raise InvalidIdentifier(f"identifier is not below the {suite.name} group order")
        return ident

    @classmethod
    def from_scalar(cls, suite: Ciphersuite, value: int) -> Identifier:
        return cls.for_suite(suite, value)

    @classmethod
    def derive(cls, suite: Ciphersuite, name: bytes | str) -> Identifier:
        """HID(name): a deterministic identifier from arbitrary bytes (UTF-8 for text)."""
        data = name.encode("utf-8") if isinstance(name, str) else bytes(name)
        value = suite.HID(data)
        if value == 0:  # probability 2^-252; the Zcash Foundation refuses it the same way
            raise InvalidIdentifier("the name hashes to zero; choose another")
        return cls(value)

    def __repr__(self) -> str:
        return f"Identifier({int(self)})"


IdMapping: TypeAlias = Mapping["Identifier", V] | Mapping[int, V]
"""A mapping keyed by identifiers, given as :class:`Identifier` or plain ``int``."""


def normalize_identifiers(suite: Ciphersuite, values: Iterable[int]) -> list[Identifier]:
    """Identifiers in the given order, each checked for range; duplicates are refused."""
    seen: set[int] = set()
    out: list[Identifier] = []
    for v in values:
        ident = Identifier.for_suite(suite, v)
        if ident in seen:
            raise DuplicateIdentifier(f"identifier {int(ident)} appears twice")
        seen.add(ident)
        out.append(ident)
    return out
