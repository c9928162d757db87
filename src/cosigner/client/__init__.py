"""The participant side: a Python SDK for the client role of the co-signing server.

* :class:`CosignerClient` - passkey sign-in, keygen for ``ecdsa`` (threshold
  ECDSA on secp256k1) and ``ed25519`` (FROST), threshold sessions, the
  presignature pool, signing digests and chain intents, key export;
* :mod:`.ecdsa` - the client's side of two-party threshold ECDSA, without I/O;
* :mod:`.ed25519` - the client's side of two-party FROST(Ed25519) signing,
  without I/O (:func:`commitments_json`, :func:`frost_client_share`);
* :mod:`.http` - JSON over HTTP, :class:`ApiError` for every error answer,
  :class:`TransportError` when no answer came, :class:`BadResponseError` for an
  answer the client cannot read.
"""

from __future__ import annotations

from cosigner.client.client import (
    Authenticator,
    Ceremony,
    CosignerClient,
    KeyHandle,
    PooledPresignature,
    ThresholdSession,
)
from cosigner.client.ed25519 import commitments_json, frost_client_share
from cosigner.client.errors import (
    ApiError,
    BadResponseError,
    ClientError,
    KeyMismatchError,
    TransportError,
)

__all__ = [
    "ApiError",
    "Authenticator",
    "BadResponseError",
    "Ceremony",
    "ClientError",
    "CosignerClient",
    "KeyHandle",
    "KeyMismatchError",
    "PooledPresignature",
    "ThresholdSession",
    "TransportError",
    "commitments_json",
    "frost_client_share",
]
