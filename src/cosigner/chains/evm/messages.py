"""``personal_sign``: EIP-191 version 0x45 signed messages.

EIP-191 (https://eips.ethereum.org/EIPS/eip-191) version ``0x45`` ("E") is
what wallets call ``personal_sign`` and ``eth_sign`` today:

    digest = keccak256(0x19 || "Ethereum Signed Message:\\n" || len(message) || message)

with ``len`` the message's byte length in decimal ASCII. The prefix keeps a
signed message from ever being a valid transaction.

Payload: ``message`` and ``encoding``, which says how to read it: ``"utf8"``
(the default for a string: sign its UTF-8 bytes) or ``"hex"`` (the default
for ``bytes``: a 0x-hex string of the exact bytes). ``encoding`` is explicit
in the normal form, so ``"0x1234"`` signed as text can never be mistaken for
the two bytes 0x12 0x34. ``from`` is optional; when given, ``finalize``
checks the signature recovers to it.

The signature is returned the way wallets return it: 65 bytes
``r || s || v`` with ``v`` 27 or 28.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cosigner.chains.errors import FinalizeError, PayloadError
from cosigner.chains.evm.signatures import recover_checked, split_signature
from cosigner.chains.evm.values import (
    describe,
    hex32,
    hex_text,
    keccak256,
    parse_hex_bytes,
    reject_unknown,
    to_checksum_address,
)
from cosigner.chains.intent import Finalized

PERSONAL_SIGN_PREFIX = b"\x19Ethereum Signed Message:\n"
ENCODINGS = ("utf8", "hex")
_KEYS = frozenset(("message", "encoding", "from"))


def personal_sign_preimage(message: bytes) -> bytes:
    return PERSONAL_SIGN_PREFIX + str(len(message)).encode("ascii") + message


def personal_sign_digest(message: bytes) -> bytes:
    return keccak256(personal_sign_preimage(message))


def parse_personal_message(payload: Mapping[str, Any]) -> tuple[bytes, dict[str, Any]]:
    """The message bytes and the normal form ``{message, encoding}``."""
    reject_unknown(payload, _KEYS, "", "personal_sign payloads")
    if "message" not in payload:
        raise PayloadError("message", "is required")
    value = payload["message"]
    encoding = payload.get("encoding")
    if encoding is None:
        encoding = "hex" if isinstance(value, bytes | bytearray) else "utf8"
    if encoding not in ENCODINGS:
        raise PayloadError(
            "encoding",
            f"must be 'utf8' (sign the text) or 'hex' (sign the bytes), got {describe(encoding)}",
        )
    if encoding == "hex":
        message = parse_hex_bytes(value, "message")
        return message, {"message": hex_text(message), "encoding": "hex"}
    if not isinstance(value, str):
        raise PayloadError("message", f"expected text for encoding 'utf8', got {describe(value)}")
    try:
        message = value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError("message", "is not valid Unicode text (lone surrogate)") from None
    return message, {"message": value, "encoding": "utf8"}


def describe_message(message: bytes, digest: bytes) -> tuple[str, dict[str, Any]]:
    try:
        text: str | None = message.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    display: dict[str, Any] = {
        "standard": "EIP-191 version 0x45 (personal_sign)",
        "text": text,
        "hex": hex_text(message),
        "length": f"{len(message)} bytes",
        "digest": hex_text(digest),
    }
    if len(message) == 32:
        display["warnings"] = [
            "the message is exactly 32 bytes: it may be the hash of something you cannot see"
        ]
    if text is not None and text.isprintable():
        preview = text if len(text) <= 80 else text[:77] + "..."
        summary = f"sign the message {preview!r}"
    else:
        summary = f"sign {len(message)} bytes of binary data {hex_text(message[:16])}"
        summary += "..." if len(message) > 16 else ""
    return summary, display


def finalize_message(
    kind: str,
    digest: bytes,
    label: str,
    signer: tuple[bytes, str] | None,
    signatures: Sequence[bytes],
) -> Finalized:
    """The wallet-style signature ``r || s || v`` (v = 27 + yParity) after checking it."""
    signature = signatures[0]
    r, s, y_parity = split_signature(signature, label)
    recovered = recover_checked(digest, signature, label)
    if signer is not None and recovered != signer[0]:
        raise FinalizeError(
            f"the signature recovers to {to_checksum_address(recovered)}, "
            f"not to the payload's from {signer[1]}"
        )
    v = 27 + y_parity
    return Finalized(
        "evm",
        kind,
        None,
        None,
        {
            "signature": hex_text(signature[:64] + bytes((v,))),
            "v": v,
            "yParity": y_parity,
            "r": hex32(r),
            "s": hex32(s),
            "signer": to_checksum_address(recovered),
            "digest": hex_text(digest),
        },
    )
