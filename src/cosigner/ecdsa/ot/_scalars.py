"""Arrays of secp256k1 scalars in NumPy: sampling, range checks, addition mod q.

The OT extension produces thousands of scalars per triple and the MTA adds
them to masks and inputs. Converting each to a Python ``int`` and back would
cost more than the hashing that made it, so these values stay in arrays of
32-byte big-endian encodings (shape ``(n, 32)``, the wire format) and are
added modulo q four 64-bit limbs at a time. Only values that take part in a
multiplication become ints.

Sampling is by rejection, not wide reduction: a 32-byte string is a scalar
exactly when it is below q, which fails with probability below 2^-127, so
the slow path exists for correctness only.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt

from cosigner.groups import SECP256K1

ORDER: Final = SECP256K1.order
SIZE: Final = 32

U8Array = npt.NDArray[np.uint8]
Limbs = npt.NDArray[np.uint64]

_MASK64: Final = (1 << 64) - 1
_Q_LIMBS: Final = np.array([(ORDER >> (64 * i)) & _MASK64 for i in range(4)], dtype=np.uint64)


def below_order(values: U8Array) -> npt.NDArray[np.bool_]:
    """For each 32-byte big-endian row of ``values``, whether it is below q."""
    w = np.ascontiguousarray(values).view(">u8").reshape(-1, 4)
    q = _Q_LIMBS
    # Lexicographic comparison, from the least significant word up.
    below = w[:, 3] < q[0]
    for i in (2, 1, 0):
        below = (w[:, i] < q[3 - i]) | ((w[:, i] == q[3 - i]) & below)
    return np.asarray(below, dtype=np.bool_)


def sample(dst: bytes, seed: bytes, n: int) -> U8Array:
    """The first ``n`` 32-byte blocks of ``SHAKE128(dst || seed)`` that are below q."""
    length = n * SIZE
    while True:
        stream = np.frombuffer(hashlib.shake_128(dst + seed).digest(length), dtype=np.uint8)
        blocks = stream.reshape(-1, SIZE)
        ok = below_order(blocks)
        if bool(ok[:n].all()):
            return blocks[:n]
        good = blocks[ok]
        if len(good) >= n:
            return np.ascontiguousarray(good[:n])
        length += (n - len(good) + 1) * SIZE


def to_ints(values: U8Array) -> list[int]:
    data = values.tobytes()
    return [int.from_bytes(data[o : o + SIZE], "big") for o in range(0, len(data), SIZE)]


def from_ints(values: list[int]) -> U8Array:
    data = b"".join([v.to_bytes(SIZE, "big") for v in values])
    return np.frombuffer(data, dtype=np.uint8).reshape(len(values), SIZE)


def limbs_from_ints(values: list[int]) -> Limbs:
    return to_limbs(from_ints(values))


def to_limbs(values: U8Array) -> Limbs:
    """``(n, 32)`` big-endian bytes to ``(n, 4)`` limbs, least significant first."""
    words = np.ascontiguousarray(values).view(">u8").reshape(-1, 4)
    return words[:, ::-1].astype(np.uint64)


def from_limbs(limbs: Limbs) -> U8Array:
    words = np.ascontiguousarray(limbs[:, ::-1]).astype(">u8")
    return words.view(np.uint8).reshape(-1, SIZE)


def _add(x: Limbs, y: Limbs) -> tuple[Limbs, npt.NDArray[np.bool_]]:
    """Row-wise ``x + y`` modulo 2^256 and the carry out; ``y`` may broadcast, ``x`` not."""
    out = np.empty_like(x)
    carry = np.zeros(len(x), dtype=np.uint64)
    for i in range(4):
        s = x[:, i] + y[:, i]
        c = s < x[:, i]
        s2 = s + carry
        carry = (c | (s2 < s)).astype(np.uint64)
        out[:, i] = s2
    return out, carry.astype(np.bool_)


def _sub(x: Limbs, y: Limbs) -> tuple[Limbs, npt.NDArray[np.bool_]]:
    """Row-wise ``x - y`` modulo 2^256 and the borrow out; ``y`` may broadcast, ``x`` not."""
    out = np.empty_like(x)
    borrow = np.zeros(len(x), dtype=np.uint64)
    for i in range(4):
        d = x[:, i] - y[:, i]
        b = x[:, i] < y[:, i]
        d2 = d - borrow
        borrow = (b | (d < borrow)).astype(np.uint64)
        out[:, i] = d2
    return out, borrow.astype(np.bool_)


def add_mod(x: Limbs, y: Limbs) -> Limbs:
    """``(x + y) mod q`` row by row, for ``x, y < q`` (``y`` may broadcast)."""
    s, carry = _add(x, y)
    d, borrow = _sub(s, _Q_LIMBS[None, :])
    # s >= q exactly when the sum overflowed 256 bits or subtracting q did not borrow.
    return np.where((carry | ~borrow)[:, None], d, s)


def sub_mod(x: Limbs, y: Limbs) -> Limbs:
    """``(x - y) mod q`` row by row, for ``x, y < q`` (``y`` may broadcast)."""
    d, borrow = _sub(x, y)
    s, _ = _add(d, _Q_LIMBS[None, :])
    return np.where(borrow[:, None], s, d)


def limbs_of(value: int) -> Limbs:
    """One scalar as a ``(1, 4)`` limb row, for broadcasting."""
    value %= ORDER
    return np.array([[(value >> (64 * i)) & _MASK64 for i in range(4)]], dtype=np.uint64)
