"""Owner identity keys: Ed25519 (PyNaCl), sealed at rest with a passphrase, and login.

Every owner of a multisig group has one Ed25519 identity key, kept by the
owner's client. The group's owner list is the list of these public keys;
every DKG message an owner sends is signed with it, its X25519 form receives
the end-to-end encrypted DKG shares (:mod:`cosigner.multisig.e2e`), and it
answers the server's login challenges.

Sealed at rest (:func:`seal_secret`, :meth:`IdentityKey.seal`): the key is
derived from the passphrase with Argon2id (libsodium ``crypto_pwhash``,
version 1.3, a random 16-byte salt, libsodium's MODERATE limits by default:
3 passes over 256 MiB) and the secret is encrypted with ``SecretBox``
(XSalsa20-Poly1305, a random 24-byte nonce). The file is JSON::

    {"format": "cosigner-sealed/v1", "purpose": ..., "kdf": "argon2id13",
     "opslimit": ..., "memlimit": ..., "salt": ..., "nonce": ...,
     "public": {...}, "ciphertext": ...}

(bytes in unpadded base64url). ``SecretBox`` has no associated data, so the
plaintext starts with SHA-256 of the canonical JSON of every other field:
changing the purpose, the limits or the public metadata makes the file fail
to open, exactly like a wrong passphrase. Passphrases are text, normalized to
Unicode NFC before hashing so the same passphrase typed on two systems opens
the same file. Limits read from a file are bounded by libsodium's SENSITIVE
ones, so a hostile file cannot make opening it take unbounded memory.

Login (:class:`LoginChallenge`): the server issues a single-use challenge with
a short TTL, bound to the owner key that asked for it; the owner signs
:func:`login_statement`, which names the audience (the server), the
challenge id, its random nonce, its expiry and the owner key, under its own
domain separation tag so a login signature can never be taken for a DKG or
envelope signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import struct
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import nacl.bindings
import nacl.exceptions
import nacl.pwhash
import nacl.secret
from nacl.signing import SigningKey, VerifyKey

from cosigner.groups import RandomBytes, system_random
from cosigner.multisig.errors import (
    IdentityDecodeError,
    InvalidIdentityKey,
    InvalidIdentitySignature,
    InvalidLoginSignature,
    WrongPassphrase,
)

PUBLIC_KEY_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64
SEED_SIZE: Final = 32

SEALED_FORMAT: Final = "cosigner-sealed/v1"
KDF_NAME: Final = "argon2id13"
IDENTITY_PURPOSE: Final = "multisig-identity-key"
OPSLIMIT_MIN: Final[int] = nacl.pwhash.argon2id.OPSLIMIT_MIN
MEMLIMIT_MIN: Final[int] = nacl.pwhash.argon2id.MEMLIMIT_MIN
OPSLIMIT_DEFAULT: Final[int] = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
MEMLIMIT_DEFAULT: Final[int] = nacl.pwhash.argon2id.MEMLIMIT_MODERATE
OPSLIMIT_MAX: Final[int] = 16
MEMLIMIT_MAX: Final[int] = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE
MAX_SEALED_BYTES: Final = 1 << 20

LOGIN_DOMAIN: Final = b"cosigner/multisig/v1/login"


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: object, what: str) -> bytes:
    if not isinstance(text, str):
        raise IdentityDecodeError(f"{what}: expected base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise IdentityDecodeError(f"{what}: invalid base64url") from None
    if _b64e(data) != text:
        raise IdentityDecodeError(f"{what}: non-canonical base64url")
    return data


# -- public keys and signatures -----------------------------------------------------------------


def check_identity_key(key: object) -> bytes:
    """A 32-byte Ed25519 public key usable as an identity (not of small order), as bytes."""
    if not isinstance(key, bytes | bytearray) or len(key) != PUBLIC_KEY_SIZE:
        raise InvalidIdentityKey("an identity key is a 32-byte Ed25519 public key")
    x25519_public_key(bytes(key))
    return bytes(key)


def x25519_public_key(identity_key: bytes) -> bytes:
    """The key's X25519 form (libsodium ``crypto_sign_ed25519_pk_to_curve25519``).

    libsodium refuses encodings that are not on the curve and points of
    small order; those are not usable identities.
    """
    try:
        return bytes(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(bytes(identity_key)))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        raise InvalidIdentityKey(
            "not a usable Ed25519 public key (off the curve or of small order)"
        ) from None


def verify_identity_signature(identity_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise :class:`InvalidIdentitySignature` unless ``signature`` is the key's on ``message``."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_SIZE:
        raise InvalidIdentitySignature("an identity signature is 64 bytes")
    try:
        VerifyKey(bytes(identity_key)).verify(bytes(message), bytes(signature))
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        raise InvalidIdentitySignature(
            f"the signature is not identity key {bytes(identity_key)[:8].hex()}'s"
        ) from None


# -- sealing with a passphrase -----------------------------------------------------------------


def _passphrase_bytes(passphrase: str) -> bytes:
    if not isinstance(passphrase, str) or not passphrase:
        raise WrongPassphrase("the passphrase must be non-empty text")
    try:
        return unicodedata.normalize("NFC", passphrase).encode("utf-8")
    except UnicodeEncodeError:
        raise WrongPassphrase("the passphrase is not valid text") from None


def _check_limits(opslimit: object, memlimit: object) -> tuple[int, int]:
    if type(opslimit) is not int or not OPSLIMIT_MIN <= opslimit <= OPSLIMIT_MAX:
        raise IdentityDecodeError(
            f"opslimit must be an integer from {OPSLIMIT_MIN} to {OPSLIMIT_MAX}"
        )
    if type(memlimit) is not int or not MEMLIMIT_MIN <= memlimit <= MEMLIMIT_MAX:
        raise IdentityDecodeError(
            f"memlimit must be an integer from {MEMLIMIT_MIN} to {MEMLIMIT_MAX}"
        )
    return opslimit, memlimit


def _header_digest(header: Mapping[str, Any]) -> bytes:
    text = json.dumps(header, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).digest()


def _derive_box(
    passphrase: str, salt: bytes, opslimit: int, memlimit: int
) -> nacl.secret.SecretBox:
    key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        _passphrase_bytes(passphrase),
        salt,
        opslimit=opslimit,
        memlimit=memlimit,
    )
    return nacl.secret.SecretBox(key)


def seal_secret(
    purpose: str,
    secret: bytes,
    passphrase: str,
    *,
    public: Mapping[str, Any] | None = None,
    opslimit: int = OPSLIMIT_DEFAULT,
    memlimit: int = MEMLIMIT_DEFAULT,
    rng: RandomBytes = system_random,
) -> bytes:
    """Encrypt ``secret`` under ``passphrase`` (Argon2id + SecretBox); returns the JSON file bytes.

    ``purpose`` names what the secret is (checked on opening); ``public`` is
    plain JSON kept readable beside the ciphertext (and authenticated).
    """
    if not isinstance(purpose, str) or not purpose:
        raise ValueError("purpose must be non-empty text")
    _check_limits(opslimit, memlimit)
    salt = rng(nacl.pwhash.argon2id.SALTBYTES)
    nonce = rng(nacl.secret.SecretBox.NONCE_SIZE)
    header: dict[str, Any] = {
        "format": SEALED_FORMAT,
        "purpose": purpose,
        "kdf": KDF_NAME,
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": _b64e(salt),
        "nonce": _b64e(nonce),
        "public": dict(public or {}),
    }
    box = _derive_box(passphrase, salt, opslimit, memlimit)
    sealed = box.encrypt(_header_digest(header) + bytes(secret), nonce)
    document = {**header, "ciphertext": _b64e(sealed.ciphertext)}
    return json.dumps(document, sort_keys=True, indent=1).encode("ascii")


def sealed_metadata(blob: bytes) -> tuple[str, dict[str, Any]]:
    """The purpose and public metadata of a sealed file, without the passphrase."""
    header, _ = _parse_sealed(blob)
    return header["purpose"], dict(header["public"])


def _parse_sealed(blob: bytes) -> tuple[dict[str, Any], bytes]:
    if not isinstance(blob, bytes | bytearray | str):
        raise IdentityDecodeError("a sealed secret is JSON text")
    if len(blob) > MAX_SEALED_BYTES:
        raise IdentityDecodeError("the sealed file is too large")
    try:
        document = json.loads(blob)
    except (ValueError, RecursionError):
        raise IdentityDecodeError("the sealed file is not JSON") from None
    expected = {"format", "purpose", "kdf", "opslimit", "memlimit", "salt", "nonce", "public"}
    if not isinstance(document, dict) or set(document) != expected | {"ciphertext"}:
        raise IdentityDecodeError(
            f"a sealed file has exactly the fields {sorted(expected)} and ciphertext"
        )
    if document["format"] != SEALED_FORMAT:
        raise IdentityDecodeError(f"unsupported sealed format {document['format']!r}")
    if document["kdf"] != KDF_NAME:
        raise IdentityDecodeError(f"unsupported key derivation {document['kdf']!r}")
    if not isinstance(document["purpose"], str) or not isinstance(document["public"], dict):
        raise IdentityDecodeError("purpose must be text and public an object")
    _check_limits(document["opslimit"], document["memlimit"])
    if len(_b64d(document["salt"], "salt")) != nacl.pwhash.argon2id.SALTBYTES:
        raise IdentityDecodeError("the salt must be 16 bytes")
    if len(_b64d(document["nonce"], "nonce")) != nacl.secret.SecretBox.NONCE_SIZE:
        raise IdentityDecodeError("the nonce must be 24 bytes")
    ciphertext = _b64d(document["ciphertext"], "ciphertext")
    header = {k: v for k, v in document.items() if k != "ciphertext"}
    return header, ciphertext


def open_secret(purpose: str, blob: bytes, passphrase: str) -> bytes:
    """Decrypt a :func:`seal_secret` file; :class:`WrongPassphrase` if it does not open."""
    header, ciphertext = _parse_sealed(blob)
    if header["purpose"] != purpose:
        raise IdentityDecodeError(f"this file seals a {header['purpose']!r}, not a {purpose!r}")
    box = _derive_box(
        passphrase,
        _b64d(header["salt"], "salt"),
        header["opslimit"],
        header["memlimit"],
    )
    try:
        plaintext = box.decrypt(ciphertext, _b64d(header["nonce"], "nonce"))
    except nacl.exceptions.CryptoError:
        raise WrongPassphrase(
            "the passphrase does not open this file (or the file was altered)"
        ) from None
    digest, secret = plaintext[:32], plaintext[32:]
    if digest != _header_digest(header):
        raise WrongPassphrase("the file's header was altered after it was sealed")
    return bytes(secret)


# -- login challenges ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginChallenge:
    """A single-use login challenge for one owner key, valid until ``expires_at`` (ms)."""

    challenge_id: str
    nonce: bytes
    audience: str
    owner: bytes
    issued_at: int
    expires_at: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "challenge_id": self.challenge_id,
            "nonce": _b64e(self.nonce),
            "audience": self.audience,
            "owner": self.owner.hex(),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LoginChallenge:
        try:
            return cls(
                str(d["challenge_id"]),
                _b64d(d["nonce"], "nonce"),
                str(d["audience"]),
                bytes.fromhex(d["owner"]),
                int(d["issued_at"]),
                int(d["expires_at"]),
            )
        except (KeyError, TypeError, ValueError):
            raise IdentityDecodeError("not a login challenge") from None


def _lp(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def login_statement(challenge: LoginChallenge, owner: bytes) -> bytes:
    """The bytes an owner signs to answer ``challenge``."""
    return (
        _lp(LOGIN_DOMAIN)
        + _lp(challenge.audience.encode("utf-8"))
        + _lp(challenge.challenge_id.encode("utf-8"))
        + _lp(challenge.nonce)
        + struct.pack(">Q", challenge.expires_at)
        + _lp(bytes(owner))
    )


def verify_login(challenge: LoginChallenge, owner: bytes, signature: bytes) -> None:
    """Raise :class:`InvalidLoginSignature` unless ``signature`` answers ``challenge``."""
    if bytes(owner) != challenge.owner:
        raise InvalidLoginSignature("this challenge was issued to another identity key")
    try:
        verify_identity_signature(owner, login_statement(challenge, owner), signature)
    except InvalidIdentitySignature:
        raise InvalidLoginSignature("the login signature does not verify") from None


# -- the private key --------------------------------------------------------------------------


class IdentityKey:
    """An owner's Ed25519 identity key. Never printed, pickled or compared by value in the clear."""

    __slots__ = ("_signing_key", "public_key")

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes | bytearray) or len(seed) != SEED_SIZE:
            raise InvalidIdentityKey("an identity key seed is 32 bytes")
        self._signing_key = SigningKey(bytes(seed))
        self.public_key: bytes = bytes(self._signing_key.verify_key)

    @classmethod
    def generate(cls, rng: RandomBytes = system_random) -> IdentityKey:
        return cls(rng(SEED_SIZE))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (callers domain-separate)."""
        return bytes(self._signing_key.sign(bytes(message)).signature)

    def sign_login(self, challenge: LoginChallenge) -> bytes:
        return self.sign(login_statement(challenge, self.public_key))

    @property
    def x25519_public_key(self) -> bytes:
        return x25519_public_key(self.public_key)

    def x25519_shared_secret(self, their_x25519_public: bytes) -> bytes:
        """X25519 with this key's converted secret (libsodium ``sk_to_curve25519``)."""
        secret = bytes(self._signing_key.to_curve25519_private_key())
        try:
            return bytes(nacl.bindings.crypto_scalarmult(secret, bytes(their_x25519_public)))
        except (nacl.exceptions.CryptoError, ValueError, TypeError):
            raise InvalidIdentityKey("the peer's X25519 key is of small order") from None

    def seal(
        self,
        passphrase: str,
        *,
        opslimit: int = OPSLIMIT_DEFAULT,
        memlimit: int = MEMLIMIT_DEFAULT,
        rng: RandomBytes = system_random,
    ) -> bytes:
        """The key encrypted under ``passphrase``, with its public key readable."""
        return seal_secret(
            IDENTITY_PURPOSE,
            bytes(self._signing_key),
            passphrase,
            public={"public_key": self.public_key.hex()},
            opslimit=opslimit,
            memlimit=memlimit,
            rng=rng,
        )

    @classmethod
    def unseal(cls, blob: bytes, passphrase: str) -> IdentityKey:
        seed = open_secret(IDENTITY_PURPOSE, blob, passphrase)
        _, public = sealed_metadata(blob)
        key = cls(seed)
        if public.get("public_key") != key.public_key.hex():
            raise IdentityDecodeError("the sealed key does not match its recorded public key")
        return key

    def __repr__(self) -> str:
        return f"IdentityKey(public_key={self.public_key.hex()}, <redacted>)"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("an IdentityKey cannot be pickled; seal it with a passphrase instead")


__all__ = [
    "IdentityKey",
    "LoginChallenge",
    "check_identity_key",
    "login_statement",
    "open_secret",
    "seal_secret",
    "sealed_metadata",
    "verify_identity_signature",
    "verify_login",
    "x25519_public_key",
]
