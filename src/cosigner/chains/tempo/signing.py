"""Who signs a Tempo transaction, what their key signs, and how an engine's signature
becomes a Tempo envelope.

The payload's ``signer`` field (default ``{"type": "secp256k1"}``)::

    {"type": "secp256k1" | "p256" | "webAuthn",
     "publicKey": {"x": "0x..", "y": "0x.."},     p256 and webAuthn: the sender's key
     "prehash": false,                            p256 only
     "keychain": {"account": "0x..", "version": 2} | null}

Sign request per type (``message`` is always 32 bytes):

* ``secp256k1``: the sender hash; the engine returns 65 bytes ``r || s || recovery_id``
  (low ``s``), written as the 65-byte envelope with ``v = 27 + recovery_id``.
* ``p256``: the sender hash, or ``sha256`` of it when ``prehash`` is set (for keys that
  hash before signing, as WebCrypto does), to be signed as a digest; the engine returns 64
  bytes ``r || s`` or the 130-byte envelope. ``s`` is normalized to low-s.
* ``webAuthn``: the 32 bytes are the WebAuthn challenge; the authenticator signs
  ``sha256(authenticatorData || sha256(clientDataJSON))``. ``finalize`` takes the assertion
  as :func:`webauthn_assertion` JSON (or the ``0x02`` envelope) and checks it as the node
  will: flags, ``type``, ``challenge``, and the P-256 signature.
* ``keychain``: the key signs as an access key of ``account``; with version 2 the hash
  above becomes ``keccak256(0x04 || sender_hash || account)`` first, and the envelope is
  wrapped as ``0x04 || account || inner`` (``0x03`` for version 1, which signs the sender
  hash itself).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, replace
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from cosigner.chains.errors import FinalizeError, PayloadError
from cosigner.chains.evm.signatures import split_signature
from cosigner.chains.evm.values import (
    expect_mapping,
    hex32,
    hex_text,
    join_path,
    parse_hex_bytes,
    parse_uint,
    reject_unknown,
    required,
    to_checksum_address,
)
from cosigner.chains.payload import expect_bool
from cosigner.chains.tempo.fields import address
from cosigner.chains.tempo.signature import (
    KEY_TYPES,
    MAX_WEBAUTHN_SIGNATURE_LENGTH,
    P256_SIGNATURE_LENGTH,
    P256Signature,
    PrimitiveSignature,
    Secp256k1Signature,
    WebAuthnSignature,
    decode_primitive,
    keychain_signing_hash,
    low_s_p256,
    p256_address,
    p256_public_key,
    recover_secp256k1,
    verify_p256,
    webauthn_message_hash,
)
from cosigner.chains.tempo.transaction import FeePayerSignature


@dataclass(frozen=True, slots=True)
class SenderSigner:
    """How the sender signs: key type, P-256 key and prehash flag, keychain account."""

    type: str = "secp256k1"
    public_key_x: bytes | None = None
    public_key_y: bytes | None = None
    prehash: bool = False
    keychain_account: bytes | None = None
    keychain_version: int = 2

    @property
    def algorithm(self) -> str:
        """The sign request's algorithm: ``secp256k1`` or ``p256`` (WebAuthn is P-256)."""
        return "secp256k1" if self.type == "secp256k1" else "p256"

    @property
    def address(self) -> bytes | None:
        """The sender's address when it is known before signing."""
        if self.keychain_account is not None:
            return self.keychain_account
        if self.public_key_x is not None and self.public_key_y is not None:
            return p256_address(self.public_key_x, self.public_key_y)
        return None

    def signed_hash(self, sender_hash: bytes) -> bytes:
        """The hash the key's signature covers: the sender hash, or the keychain v2 hash."""
        if self.keychain_account is not None and self.keychain_version == 2:
            return keychain_signing_hash(sender_hash, self.keychain_account)
        return sender_hash

    def request_message(self, sender_hash: bytes) -> bytes:
        """The sign request's 32 bytes (the WebAuthn challenge for ``webAuthn``)."""
        signed = self.signed_hash(sender_hash)
        return hashlib.sha256(signed).digest() if self.type == "p256" and self.prehash else signed

    def label(self) -> str:
        label = "Tempo sender hash" if self.keychain_account is None else "Tempo access-key hash"
        if self.type == "p256":
            return label + (", SHA-256 prehashed, P-256" if self.prehash else ", P-256")
        if self.type == "webAuthn":
            return label + " as a WebAuthn challenge"
        return label

    def describe(self) -> str:
        text = {"secp256k1": "secp256k1", "p256": "P-256", "webAuthn": "WebAuthn (P-256)"}[
            self.type
        ]
        if self.type == "p256" and self.prehash:
            text += ", SHA-256 prehash"
        if self.keychain_account is not None:
            account = to_checksum_address(self.keychain_account)
            text += f", access key of {account} (keychain v{self.keychain_version})"
        return text

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.public_key_x is not None and self.public_key_y is not None:
            out["publicKey"] = {"x": hex_text(self.public_key_x), "y": hex_text(self.public_key_y)}
        if self.type == "p256":
            out["prehash"] = self.prehash
        out["keychain"] = (
            None
            if self.keychain_account is None
            else {
                "account": to_checksum_address(self.keychain_account),
                "version": self.keychain_version,
            }
        )
        return out


_SIGNER_FIELDS = frozenset(("type", "publicKey", "prehash", "keychain"))


def parse_signer(value: Any, path: str = "signer") -> SenderSigner:
    if value is None:
        return SenderSigner()
    mapping = expect_mapping(value, path, "a signer {type, publicKey, prehash, keychain}")
    reject_unknown(mapping, _SIGNER_FIELDS, path, "a signer")
    kind = required(mapping, "type", path)
    if kind not in KEY_TYPES:
        raise PayloadError(join_path(path, "type"), f"the signer type is one of {KEY_TYPES}")
    x = y = None
    key_path = join_path(path, "publicKey")
    if kind == "secp256k1":
        if mapping.get("publicKey") is not None:
            raise PayloadError(key_path, "a secp256k1 signer's key is recovered, not given")
    else:
        key = expect_mapping(required(mapping, "publicKey", path), key_path, "a key {x, y}")
        reject_unknown(key, frozenset(("x", "y")), key_path, "a P-256 public key")
        x = parse_hex_bytes(required(key, "x", key_path), join_path(key_path, "x"), 32)
        y = parse_hex_bytes(required(key, "y", key_path), join_path(key_path, "y"), 32)
        try:
            p256_public_key(x, y)
        except FinalizeError:
            raise PayloadError(key_path, "is not a point on P-256") from None
    if "prehash" in mapping and kind != "p256":
        raise PayloadError(join_path(path, "prehash"), "only a p256 signer has a prehash flag")
    prehash = expect_bool(mapping.get("prehash", False), join_path(path, "prehash"))
    account = None
    version = 2
    if mapping.get("keychain") is not None:
        keychain_path = join_path(path, "keychain")
        keychain = expect_mapping(mapping["keychain"], keychain_path, "{account, version}")
        reject_unknown(keychain, frozenset(("account", "version")), keychain_path, "a keychain")
        account = address(
            required(keychain, "account", keychain_path), join_path(keychain_path, "account")
        )
        version = parse_uint(keychain.get("version", 2), join_path(keychain_path, "version"), 8)
        if version not in (1, 2):
            raise PayloadError(join_path(keychain_path, "version"), "the version is 1 or 2")
    return SenderSigner(kind, x, y, prehash, account, version)


# -- engine output to envelopes -----------------------------------------------------------------


def webauthn_assertion(
    authenticator_data: bytes,
    client_data_json: bytes,
    r: int,
    s: int,
    public_key_x: bytes | None = None,
    public_key_y: bytes | None = None,
) -> bytes:
    """The bytes a WebAuthn sender passes to ``finalize``: the assertion as UTF-8 JSON.

    ``{"authenticatorData": "0x..", "clientDataJSON": "0x..", "r": "0x..", "s": "0x.."}``,
    optionally with ``"x"`` and ``"y"`` (checked against the signer's key). ``finalize``
    also reads binary values in base64url (as ``PublicKeyCredential.toJSON()`` writes them),
    ``clientDataJSON`` as the JSON text itself, and ``"signature"`` (the DER signature a
    browser returns) in place of ``r`` and ``s``.
    """
    body = {
        "authenticatorData": hex_text(authenticator_data),
        "clientDataJSON": hex_text(client_data_json),
        "r": hex32(r),
        "s": hex32(s),
    }
    if public_key_x is not None and public_key_y is not None:
        body["x"] = hex_text(public_key_x)
        body["y"] = hex_text(public_key_y)
    return json.dumps(body, separators=(",", ":")).encode()


def _binary(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise FinalizeError(f"WebAuthn assertion: {what} must be a string")
    try:
        if value.startswith("0x"):
            return bytes.fromhex(value[2:])
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise FinalizeError(f"WebAuthn assertion: {what} is neither 0x-hex nor base64url") from None


def _webauthn_from_assertion(data: bytes, x: bytes, y: bytes) -> WebAuthnSignature:
    try:
        assertion = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise FinalizeError(
            "a WebAuthn signature is the assertion JSON (webauthn_assertion) or the 0x02 envelope"
        ) from None
    if not isinstance(assertion, dict):
        raise FinalizeError("WebAuthn assertion: expected a JSON object")
    authenticator_data = _binary(assertion.get("authenticatorData"), "authenticatorData")
    client_data = assertion.get("clientDataJSON")
    if isinstance(client_data, str) and client_data.startswith("{"):
        client_data_json = client_data.encode()
    else:
        client_data_json = _binary(client_data, "clientDataJSON")
    if "signature" in assertion:
        try:
            r, s = decode_dss_signature(_binary(assertion["signature"], "signature"))
        except ValueError:
            raise FinalizeError("WebAuthn assertion: the signature is not DER") from None
    else:
        r = int.from_bytes(_binary(assertion.get("r"), "r"), "big")
        s = int.from_bytes(_binary(assertion.get("s"), "s"), "big")
    for name, expected in (("x", x), ("y", y)):
        if name in assertion and _binary(assertion[name], name) != expected:
            raise FinalizeError(f"WebAuthn assertion: {name} is not the signer's public key")
    if r.bit_length() > 256 or s.bit_length() > 256:
        raise FinalizeError("WebAuthn assertion: r or s is longer than 32 bytes")
    return WebAuthnSignature(authenticator_data + client_data_json, r, low_s_p256(s), x, y)


def sender_signature_from_engine(
    signature: bytes, signer: SenderSigner, signed_hash: bytes
) -> tuple[PrimitiveSignature, bytes]:
    """The primitive envelope for an engine's signature over ``signed_hash``, verified, and
    the address of the key that made it."""
    if signer.type == "secp256k1":
        r, s, y_parity = split_signature(signature, signer.label())
        return Secp256k1Signature(r, s, y_parity), recover_secp256k1(r, s, y_parity, signed_hash)
    assert signer.public_key_x is not None and signer.public_key_y is not None
    x, y = signer.public_key_x, signer.public_key_y
    if signer.type == "p256":
        if len(signature) == 64:
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        elif len(signature) == 1 + P256_SIGNATURE_LENGTH and signature[0] == 0x01:
            given = decode_primitive(signature)
            assert isinstance(given, P256Signature)
            if (given.public_key_x, given.public_key_y, given.prehash) != (x, y, signer.prehash):
                raise FinalizeError("the P-256 envelope's key or prehash flag is not the signer's")
            r, s = given.r, given.s
        else:
            raise FinalizeError("a P-256 signature is 64 bytes r || s or the 130-byte envelope")
        p256 = P256Signature(r, low_s_p256(s), x, y, signer.prehash)
        digest = hashlib.sha256(signed_hash).digest() if signer.prehash else signed_hash
        verify_p256(p256.r, p256.s, x, y, digest)
        return p256, p256_address(x, y)
    if signature[:1] == b"\x02":
        try:
            envelope = decode_primitive(signature)
        except PayloadError as exc:
            raise FinalizeError(f"the WebAuthn envelope is malformed: {exc.problem}") from None
        assert isinstance(envelope, WebAuthnSignature)
        if (envelope.public_key_x, envelope.public_key_y) != (x, y):
            raise FinalizeError("the WebAuthn envelope's public key is not the signer's")
        webauthn = replace(envelope, s=low_s_p256(envelope.s))
    else:
        webauthn = _webauthn_from_assertion(signature, x, y)
    if len(webauthn.webauthn_data) + 128 > MAX_WEBAUTHN_SIGNATURE_LENGTH:
        raise FinalizeError("the WebAuthn signature is longer than Tempo accepts")
    digest = webauthn_message_hash(webauthn.webauthn_data, signed_hash)
    verify_p256(webauthn.r, webauthn.s, x, y, digest)
    return webauthn, p256_address(x, y)


def fee_payer_signature_from_engine(
    signature: bytes, fee_payer_hash: bytes
) -> tuple[FeePayerSignature, bytes]:
    """The fee payer's ``[yParity, r, s]`` from an engine's 65 bytes, and its address."""
    r, s, y_parity = split_signature(signature, "Tempo fee payer hash")
    return FeePayerSignature(y_parity, r, s), recover_secp256k1(r, s, y_parity, fee_payer_hash)
