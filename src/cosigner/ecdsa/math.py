"""Scalars, polynomials and Lagrange coefficients for threshold ECDSA on secp256k1.

Participant ``i`` is the scalar ``i + 1`` (as in near/threshold-signatures),
so no participant sits at zero, where the shared secret lives. Lagrange
coefficients follow docs/ecdsa/ot_based_ecdsa/intro.md: ``lambda(P)_i``
interpolates a value shared among the set ``P`` at zero; for the fixed
two-party set ``{1, 2}`` (scalars 2 and 3) they are 3 and -2.

A polynomial is the tuple of its coefficients, constant term first; its
commitment is the tuple of ``coefficient * G``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from cosigner.groups import SECP256K1, Element
from cosigner.groups.secp256k1 import ORDER

G = SECP256K1
N = ORDER


def participant_scalar(participant: int) -> int:
    """The scalar a participant id stands for: ``id + 1``."""
    return participant + 1


def lagrange(participants: Sequence[int], participant: int) -> int:
    """``lambda(P)_i``: the coefficient of participant ``i``'s share when interpolating at 0."""
    xi = participant_scalar(participant)
    num = 1
    den = 1
    for j in participants:
        if j == participant:
            continue
        xj = participant_scalar(j)
        num = num * xj % N
        den = den * (xj - xi) % N
    return num * pow(den, -1, N) % N


def random_polynomial(
    constant: int | None, degree: int, random_scalar: Callable[[], int]
) -> tuple[int, ...]:
    """A uniformly random polynomial of the given degree; ``constant`` fixes ``f(0)``."""
    first = random_scalar() if constant is None else constant % N
    return (first, *(random_scalar() for _ in range(degree)))


def evaluate(coefficients: Sequence[int], x: int) -> int:
    """``f(x)`` by Horner's rule."""
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % N
    return acc


def evaluate_at(coefficients: Sequence[int], participant: int) -> int:
    """``f(i + 1)``: the share of participant ``i``."""
    return evaluate(coefficients, participant_scalar(participant))


def commit_polynomial(coefficients: Sequence[int]) -> tuple[Element, ...]:
    """``f * G``: each coefficient times the generator (zero gives the identity)."""
    return tuple(G.base_mul(c) for c in coefficients)


def evaluate_commitment(commitment: Sequence[Element], x: int) -> Element:
    """``F(x)`` for a committed polynomial, by Horner's rule in the group."""
    acc = G.identity
    for point in reversed(commitment):
        acc = acc * x + point if not acc.is_identity else point
    return acc


def evaluate_commitment_at(commitment: Sequence[Element], participant: int) -> Element:
    return evaluate_commitment(commitment, participant_scalar(participant))


def add_commitments(a: Sequence[Element], b: Sequence[Element]) -> tuple[Element, ...]:
    """The commitment of ``f + g`` from those of ``f`` and ``g`` (padded to the longer)."""
    if len(a) < len(b):
        a, b = b, a
    return tuple(p + b[i] if i < len(b) else p for i, p in enumerate(a))


def sum_commitments(commitments: Sequence[Sequence[Element]]) -> tuple[Element, ...]:
    if not commitments:
        return ()
    acc = tuple(commitments[0])
    for c in commitments[1:]:
        acc = add_commitments(acc, c)
    return acc


def scalar_from_digest(digest: bytes) -> int:
    """ECDSA's bits2int for a 32-byte digest on secp256k1, reduced modulo the order."""
    return int.from_bytes(digest, "big") % N


def is_high(s: int) -> bool:
    """True for ``s`` in the upper half ``(n/2, n)``, which low-s normalization negates."""
    return s > N // 2


__all__ = [
    "G",
    "N",
    "add_commitments",
    "commit_polynomial",
    "evaluate",
    "evaluate_at",
    "evaluate_commitment",
    "evaluate_commitment_at",
    "is_high",
    "lagrange",
    "participant_scalar",
    "random_polynomial",
    "scalar_from_digest",
    "sum_commitments",
]
