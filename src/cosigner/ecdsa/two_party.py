"""The fixed two-party key of scheme ``threshold-secp256k1-ecdsa-2p-v1`` (seed 000).

The client (participant 1, scalar 2) and the relayer (participant 2, scalar
3) each derive an additive secret, ``x_client`` from the passkey PRF output
and ``x_relayer`` from the relayer's master secret; the key is
``x = x_client + x_relayer (mod n)``. Cait-Sith wants threshold shares, so
each additive secret is divided by its Lagrange coefficient in the set
``{1, 2}`` (``lambda_1 = 3``, ``lambda_2 = -2``)::

    share_client  = x_client  * inv(3)
    share_relayer = x_relayer * inv(-2)

These are the values at 2 and 3 of the degree-1 polynomial through
``(0, x)``, so every Cait-Sith step (presign, sign) works on them unchanged,
and ``3 * share_client - 2 * share_relayer = x``. The mapping is locked; an
incompatible change gets a new scheme id.
"""

from __future__ import annotations

from cosigner.ecdsa import math
from cosigner.ecdsa.math import G, N
from cosigner.ecdsa.types import KeyShare
from cosigner.protocol.errors import InvalidParametersError

SCHEME_ID = "threshold-secp256k1-ecdsa-2p-v1"
CLIENT_ID = 1
RELAYER_ID = 2
PARTICIPANTS = (CLIENT_ID, RELAYER_ID)
LAMBDA_CLIENT = 3
LAMBDA_RELAYER = N - 2


def two_party_v1_shares(x_client: int, x_relayer: int) -> dict[int, KeyShare]:
    """``{1: client KeyShare, 2: relayer KeyShare}`` from the two additive secrets."""
    for name, value in (("x_client", x_client), ("x_relayer", x_relayer)):
        if type(value) is not int or not 0 < value < N:
            raise InvalidParametersError(f"{name} must be a scalar in [1, n)")
    x = (x_client + x_relayer) % N
    if x == 0:
        raise InvalidParametersError("x_client + x_relayer is zero modulo n: no key")
    assert math.lagrange(PARTICIPANTS, CLIENT_ID) == LAMBDA_CLIENT
    assert math.lagrange(PARTICIPANTS, RELAYER_ID) == LAMBDA_RELAYER
    public_key = G.base_mul(x).to_bytes()
    return {
        CLIENT_ID: KeyShare(
            CLIENT_ID, 2, PARTICIPANTS, public_key, x_client * pow(LAMBDA_CLIENT, -1, N) % N
        ),
        RELAYER_ID: KeyShare(
            RELAYER_ID, 2, PARTICIPANTS, public_key, x_relayer * pow(LAMBDA_RELAYER, -1, N) % N
        ),
    }


__all__ = [
    "CLIENT_ID",
    "LAMBDA_CLIENT",
    "LAMBDA_RELAYER",
    "PARTICIPANTS",
    "RELAYER_ID",
    "SCHEME_ID",
    "two_party_v1_shares",
]
