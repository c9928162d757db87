"""Second-opinion Schnorr verifiers, written from RFC 9591 and sharing no code with cosigner.

``cosigner.frost.verify`` is checked against the RFC's vectors; the demo and
the tests still want a verifier that did not come out of the same code. For
Ed25519 and BIP-340 there are standard ones (OpenSSL through ``cryptography``,
libsecp256k1 through ``coincurve``). For FROST(secp256k1, SHA-256) and
FROST(ristretto255, SHA-512) signatures no library verifies them, so this
module does, straight from the RFC text (Sections 6.2 and 6.5, the ``verify``
of Section 5.3 / Appendix B), with its own hashing and the libraries' own
public point APIs (coincurve's ``PublicKey``, rbcl's ristretto255 functions),
never cosigner.groups or cosigner.frost.
"""

from __future__ import annotations

import hashlib

import rbcl
from coincurve import PublicKey

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_ED25519_L = 2**252 + 27742317777372353535851937790883648493


def _xmd_sha256(msg: bytes, dst: bytes, length: int) -> bytes:
    # RFC 9380 Section 5.3.1, written out again on purpose (see the module docstring).
    dst_prime = dst + len(dst).to_bytes(1, "big")
    msg_prime = b"\x00" * 64 + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    b_0 = hashlib.sha256(msg_prime).digest()
    blocks = [hashlib.sha256(b_0 + b"\x01" + dst_prime).digest()]
    while len(blocks) * 32 < length:
        prev = blocks[-1]
        mixed = bytes(a ^ b for a, b in zip(b_0, prev, strict=True))
        blocks.append(hashlib.sha256(mixed + bytes([len(blocks) + 1]) + dst_prime).digest())
    return b"".join(blocks)[:length]


def verify_frost_secp256k1(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """FROST(secp256k1, SHA-256): ``z*G == R + H2(R || PK || m) * PK``."""
    if len(public_key) != 33 or len(signature) != 65:
        return False
    try:
        pk = PublicKey(public_key)
        r = PublicKey(signature[:33])
    except Exception:
        return False
    z = int.from_bytes(signature[33:], "big")
    if not 0 < z < _SECP256K1_N:
        return False
    dst = b"FROST-secp256k1-SHA256-v1chal"
    c = int.from_bytes(_xmd_sha256(signature[:33] + public_key + message, dst, 48), "big")
    c %= _SECP256K1_N
    if c == 0:
        return False
    left = PublicKey.from_secret(z.to_bytes(32, "big"))
    try:
        right = PublicKey.combine_keys([r, pk.multiply(c.to_bytes(32, "big"))])
    except Exception:
        return False
    return bool(left.format() == right.format())


def verify_frost_ristretto255(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """FROST(ristretto255, SHA-512): ``z*B == R + H2(R || PK || m) * PK``."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    r_enc, z_enc = signature[:32], signature[32:]
    if not (
        rbcl.crypto_core_ristretto255_is_valid_point(public_key)
        and rbcl.crypto_core_ristretto255_is_valid_point(r_enc)
    ):
        return False
    z = int.from_bytes(z_enc, "little")
    if z >= _ED25519_L:
        return False
    digest = hashlib.sha512(b"FROST-RISTRETTO255-SHA512-v1chal" + r_enc + public_key + message)
    c = int.from_bytes(digest.digest(), "little") % _ED25519_L
    if z == 0 or c == 0:
        return False
    try:
        left = rbcl.crypto_scalarmult_ristretto255_base(z_enc)
        c_pk = rbcl.crypto_scalarmult_ristretto255(c.to_bytes(32, "little"), public_key)
        right = rbcl.crypto_core_ristretto255_add(r_enc, c_pk)
    except Exception:
        return False
    return bool(left == right)
