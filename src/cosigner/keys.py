"""Deterministic share derivation for the fixed two-party schemes (seed 000, locked).

Two schemes share one derivation, differing only in the group:

* ``threshold-secp256k1-ecdsa-2p-v1``: secp256k1, threshold ECDSA; protocol
  participants client = 1, relayer = 2, whose ECDSA scalars are 2 and 3
  (participant id ``i`` is the scalar ``i + 1``), with Lagrange coefficients
  3 and -2.
* ``threshold-ed25519-frost-2p-v1``: Ed25519, FROST; identifiers client = 1,
  relayer = 2, with Lagrange coefficients 2 and -1.

In both, the group secret is additive, ``x = x_client + x_relayer (mod n)``,
and each party's protocol share is its additive secret divided by its
Lagrange coefficient, so that the two shares interpolate to ``x``.

This is a wire format: changing any byte below changes every user's key.
A change gets a new scheme id, never an edit here. The test vectors in
``tests/vectors/keys_v1.json`` pin it.

Derivation (HKDF-SHA256, RFC 5869; ``lp(b) = len(b) as u16 big-endian || b``;
strings UTF-8)::

    salt = b"cosigner/2p-share/v1/" || scheme_id
    client:  ikm  = PRF.first output (the passkey PRF, 32 bytes or more)
             info = b"client-share" || lp(user_id) || lp(rp_id) || counter(u8)
    relayer: ikm  = master secret (32 bytes or more)
             info = b"relayer-share" || lp(user_id) || lp(rp_id)
                    || lp(client_verifying_share) || counter(u8)
    okm = HKDF(salt, ikm, info, 48 bytes); x = int(okm, big-endian) mod n

48 bytes reduced modulo a 256-bit (or 253-bit) order leave a bias below
2^-128. ``counter`` starts at 0 and is incremented only in the (probability
2^-256) case that ``x`` is zero, so the result is always a non-zero scalar.
``client_verifying_share`` is ``x_client * G`` in the group's canonical
encoding (33-byte compressed secp256k1, 32-byte Ed25519): binding it means a
relayer share is tied to the client share it was made for.

HKDF comes from ``cryptography``; only the framing above is ours.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cosigner import frost
from cosigner.errors import CosignerError
from cosigner.frost import KeyPackage, PublicKeyPackage
from cosigner.groups import ED25519, SECP256K1, Element, Group

SCHEME_ECDSA_2P_V1 = "threshold-secp256k1-ecdsa-2p-v1"
SCHEME_ED25519_2P_V1 = "threshold-ed25519-frost-2p-v1"

_SALT_PREFIX = b"cosigner/2p-share/v1/"
_OKM_LENGTH = 48
_MIN_SECRET_LENGTH = 32


class KeyDerivationError(CosignerError, ValueError):
    code = "invalid_key_material"


@dataclass(frozen=True)
class Scheme:
    scheme_id: str
    group: Group
    client_lagrange: int
    relayer_lagrange: int

    def client_share(self, x_client: int) -> int:
        """The client's protocol share: ``x_client / lambda_client``."""
        return x_client * pow(self.client_lagrange, -1, self.group.order) % self.group.order

    def relayer_share(self, x_relayer: int) -> int:
        """The relayer's protocol share: ``x_relayer / lambda_relayer``."""
        return x_relayer * pow(self.relayer_lagrange, -1, self.group.order) % self.group.order


SCHEMES: dict[str, Scheme] = {
    SCHEME_ECDSA_2P_V1: Scheme(SCHEME_ECDSA_2P_V1, SECP256K1, 3, -2),
    SCHEME_ED25519_2P_V1: Scheme(SCHEME_ED25519_2P_V1, ED25519, 2, -1),
}


def scheme(scheme_id: str) -> Scheme:
    try:
        return SCHEMES[scheme_id]
    except KeyError:
        raise KeyDerivationError(
            f"unknown scheme {scheme_id!r}; known: {', '.join(SCHEMES)}"
        ) from None


def _lp(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise KeyDerivationError("a derivation input is longer than 65535 bytes")
    return len(data).to_bytes(2, "big") + data


def _text(name: str, value: str) -> bytes:
    if not isinstance(value, str) or not value:
        raise KeyDerivationError(f"{name} must be a non-empty string")
    return value.encode("utf-8")


def _derive(group: Group, scheme_id: str, ikm: bytes, info_prefix: bytes) -> int:
    for counter in range(256):
        okm = HKDF(
            algorithm=hashes.SHA256(),
            length=_OKM_LENGTH,
            salt=_SALT_PREFIX + scheme_id.encode("utf-8"),
            info=info_prefix + bytes([counter]),
        ).derive(ikm)
        x = int.from_bytes(okm, "big") % group.order
        if x:
            return x
    raise KeyDerivationError("no non-zero scalar derived")  # pragma: no cover


def derive_client_share(
    prf_first: bytes, *, user_id: str, rp_id: str, scheme_id: str = SCHEME_ECDSA_2P_V1
) -> int:
    """The client's additive secret ``x_client`` from the passkey PRF output."""
    s = scheme(scheme_id)
    if not isinstance(prf_first, bytes | bytearray) or len(prf_first) < _MIN_SECRET_LENGTH:
        raise KeyDerivationError(f"the PRF output must be at least {_MIN_SECRET_LENGTH} bytes")
    info = b"client-share" + _lp(_text("user_id", user_id)) + _lp(_text("rp_id", rp_id))
    return _derive(s.group, scheme_id, bytes(prf_first), info)


def derive_relayer_share(
    master_secret: bytes,
    *,
    user_id: str,
    rp_id: str,
    client_verifying_share: bytes,
    scheme_id: str = SCHEME_ECDSA_2P_V1,
) -> int:
    """The relayer's additive secret ``x_relayer``; the same inputs always give the same share."""
    s = scheme(scheme_id)
    if not isinstance(master_secret, bytes | bytearray) or len(master_secret) < _MIN_SECRET_LENGTH:
        raise KeyDerivationError(f"the master secret must be at least {_MIN_SECRET_LENGTH} bytes")
    try:
        s.group.decode_element(bytes(client_verifying_share))
    except CosignerError as exc:
        raise KeyDerivationError(f"client_verifying_share: {exc.message}") from None
    info = (
        b"relayer-share"
        + _lp(_text("user_id", user_id))
        + _lp(_text("rp_id", rp_id))
        + _lp(bytes(client_verifying_share))
    )
    return _derive(s.group, scheme_id, bytes(master_secret), info)


def verifying_share(x: int, *, scheme_id: str = SCHEME_ECDSA_2P_V1) -> bytes:
    """``x * G`` in the group's canonical encoding (the additive verifying share)."""
    return scheme(scheme_id).group.base_mul(x).to_bytes()


def group_public_key(
    client_verifying_share: bytes,
    relayer_verifying_share: bytes,
    *,
    scheme_id: str = SCHEME_ECDSA_2P_V1,
) -> bytes:
    """The group key ``X_client + X_relayer`` from the two additive verifying shares."""
    group = scheme(scheme_id).group
    try:
        a = group.decode_element(bytes(client_verifying_share))
        b = group.decode_element(bytes(relayer_verifying_share))
    except CosignerError as exc:
        raise KeyDerivationError(exc.message) from None
    total: Element = a + b
    if total.is_identity:
        raise KeyDerivationError("the two verifying shares cancel out")
    return total.to_bytes()


def ethereum_address(public_key: bytes) -> str:
    """The EIP-55 checksummed address of a secp256k1 public key (33 or 65 bytes)."""
    from coincurve import PublicKey
    from eth_hash.auto import keccak

    try:
        uncompressed = PublicKey(bytes(public_key)).format(compressed=False)
    except Exception:
        raise KeyDerivationError("not a secp256k1 public key") from None
    raw = keccak(uncompressed[1:])[-20:].hex()
    digest = keccak(raw.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c.isalpha() and int(digest[i], 16) >= 8 else c for i, c in enumerate(raw)
    )


def frost_two_party_v1(
    x_client: int, x_relayer: int
) -> tuple[dict[int, KeyPackage], PublicKeyPackage]:
    """FROST(Ed25519) key packages for client (identifier 1) and relayer (identifier 2).

    The shares are ``x_client / 2`` and ``x_relayer / -1``, so any signature by
    both is a signature under ``(x_client + x_relayer) * G``.
    """
    s = SCHEMES[SCHEME_ED25519_2P_V1]
    suite = frost.ciphersuite("ed25519")
    group = s.group
    x_client %= group.order
    x_relayer %= group.order
    if not x_client or not x_relayer or not (x_client + x_relayer) % group.order:
        raise KeyDerivationError("degenerate additive secrets")
    verifying_key = group.base_mul(x_client + x_relayer)
    shares = {1: s.client_share(x_client), 2: s.relayer_share(x_relayer)}
    packages = {
        i: KeyPackage(suite, i, share, group.base_mul(share), verifying_key, 2)
        for i, share in shares.items()
    }
    public = PublicKeyPackage(
        suite, {i: kp.verifying_share for i, kp in packages.items()}, verifying_key, 2
    )
    return dict(packages), public
