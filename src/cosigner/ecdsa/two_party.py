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

Each side builds its own :class:`KeyShare` from its additive secret and the
group public key (:func:`client_key_share`, :func:`relayer_key_share`). The
co-signing flow between them names every protocol session after the key
and the session the server issued (:func:`flow_session_id`), and signs with
rerandomized presignatures whose entropy both sides contribute to
(:func:`sign_entropy`), so neither picks it alone.
"""

from __future__ import annotations

import hashlib
from typing import Final

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
TRIPLES_PER_PRESIGNATURE: Final = 2
FLOW_PURPOSES: Final = ("triples", "presign", "sign")
_FLOW_LABEL: Final = b"cosigner/ecdsa-2p/flow/v1/"
_ENTROPY_LABEL: Final = b"cosigner/ecdsa-2p/sign-entropy/v1"


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


def _share(participant_id: int, additive: int, lam: int, public_key: bytes) -> KeyShare:
    if type(additive) is not int or not 0 < additive < N:
        raise InvalidParametersError("an additive secret is a scalar in [1, n)")
    return KeyShare(participant_id, 2, PARTICIPANTS, public_key, additive * pow(lam, -1, N) % N)


def client_key_share(x_client: int, public_key: bytes) -> KeyShare:
    """The client's KeyShare (participant 1) from ``x_client`` and the 33-byte group key."""
    return _share(CLIENT_ID, x_client, LAMBDA_CLIENT, public_key)


def relayer_key_share(x_relayer: int, public_key: bytes) -> KeyShare:
    """The relayer's KeyShare (participant 2) from ``x_relayer`` and the 33-byte group key."""
    return _share(RELAYER_ID, x_relayer, LAMBDA_RELAYER, public_key)


def _lp(data: bytes) -> bytes:
    return len(data).to_bytes(2, "big") + data


def flow_session_id(purpose: str, key_id: str, session_id: str) -> bytes:
    """The 32-byte protocol session id of one step of the co-signing flow.

    ``SHA-256("cosigner/ecdsa-2p/flow/v1/" || purpose || lp(key id) || lp(session id))``
    with ``purpose`` one of ``triples``, ``presign`` (both under the presign
    session's id) and ``sign`` (under the signing session's id).
    """
    if purpose not in FLOW_PURPOSES:
        raise InvalidParametersError(f"purpose is one of {', '.join(FLOW_PURPOSES)}")
    return hashlib.sha256(
        _FLOW_LABEL + purpose.encode() + _lp(key_id.encode()) + _lp(session_id.encode())
    ).digest()


def sign_entropy(client_entropy: bytes, relayer_entropy: bytes) -> bytes:
    """The rerandomization entropy of a signature: SHA-256 of a label and both contributions."""
    for name, value in (("client_entropy", client_entropy), ("relayer_entropy", relayer_entropy)):
        if not isinstance(value, bytes) or len(value) != 32:
            raise InvalidParametersError(f"{name} is 32 bytes")
    return hashlib.sha256(_ENTROPY_LABEL + client_entropy + relayer_entropy).digest()


__all__ = [
    "CLIENT_ID",
    "LAMBDA_CLIENT",
    "LAMBDA_RELAYER",
    "PARTICIPANTS",
    "RELAYER_ID",
    "SCHEME_ID",
    "TRIPLES_PER_PRESIGNATURE",
    "client_key_share",
    "flow_session_id",
    "relayer_key_share",
    "sign_entropy",
    "two_party_v1_shares",
]
