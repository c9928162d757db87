"""cosigner: threshold signing for Python.

FROST (RFC 9591) for Ed25519, secp256k1, ristretto255 and BIP-340 Taproot in
:mod:`cosigner.frost`, on the prime-order groups of :mod:`cosigner.groups`.
"""

__version__ = "0.1.0"
