"""TEST-ONLY trusted dealer of Beaver triples. Never use outside tests.

A dealer knows every triple it deals, so anyone running it could sign alone;
the protocol generates triples with :mod:`cosigner.ecdsa.triples` instead.
Tests use this to exercise presigning and signing in isolation.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from cosigner.ecdsa import math
from cosigner.ecdsa.math import G, N
from cosigner.ecdsa.types import Triple, TripleShare


def insecure_deal_triple_for_tests(
    participants: Sequence[int], threshold: int
) -> dict[int, TripleShare]:
    """Deal one triple ``a * b = c`` as ``threshold``-of-``participants`` shares."""
    rand = lambda: secrets.randbelow(N - 1) + 1  # noqa: E731
    a, b = rand(), rand()
    c = a * b % N
    fa = math.random_polynomial(a, threshold - 1, rand)
    fb = math.random_polynomial(b, threshold - 1, rand)
    fc = math.random_polynomial(c, threshold - 1, rand)
    triple = Triple(
        secrets.token_bytes(32),
        threshold,
        tuple(sorted(participants)),
        G.base_mul(a),
        G.base_mul(b),
        G.base_mul(c),
    )
    return {
        p: TripleShare(
            p, triple, math.evaluate_at(fa, p), math.evaluate_at(fb, p), math.evaluate_at(fc, p)
        )
        for p in participants
    }
