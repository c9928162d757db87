"""Test and demo helpers: a software passkey and a software wallet.

* :class:`SoftAuthenticator` - WebAuthn in software (P-256, attestation
  "none", PRF through hmac-secret);
* :class:`SoftWallet` - the client side of the co-signing server over HTTP.

Neither protects anything real: their keys live in memory.
"""

from __future__ import annotations

from cosigner.testing.authenticator import (
    AuthenticatorError,
    Ceremony,
    SoftAuthenticator,
    SoftCredential,
)
from cosigner.testing.wallet import ApiError, ClientKey, SoftWallet

__all__ = [
    "ApiError",
    "AuthenticatorError",
    "Ceremony",
    "ClientKey",
    "SoftAuthenticator",
    "SoftCredential",
    "SoftWallet",
]
