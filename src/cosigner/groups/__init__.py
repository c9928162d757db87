"""Prime-order groups backed by C libraries: Ed25519, ristretto255, secp256k1.

See :mod:`cosigner.groups.base` for the interface. ``group_by_name`` returns
the singleton for a name.
"""

from __future__ import annotations

from cosigner.groups.base import Element, Group, RandomBytes, system_random
from cosigner.groups.ed25519 import ED25519
from cosigner.groups.ristretto255 import RISTRETTO255
from cosigner.groups.secp256k1 import SECP256K1, Secp256k1Element

GROUPS: dict[str, Group] = {g.name: g for g in (ED25519, RISTRETTO255, SECP256K1)}


def group_by_name(name: str) -> Group:
    try:
        return GROUPS[name]
    except KeyError:
        raise ValueError(f"unknown group {name!r}; known: {', '.join(GROUPS)}") from None


__all__ = [
    "ED25519",
    "GROUPS",
    "RISTRETTO255",
    "SECP256K1",
    "Element",
    "Group",
    "RandomBytes",
    "Secp256k1Element",
    "group_by_name",
    "system_random",
]
