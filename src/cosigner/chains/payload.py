"""Reading JSON payloads field by field, with the path of every field at fault.

The NEAR and Solana adapters validate their payloads with these helpers, so
each bad value raises :class:`~cosigner.chains.errors.PayloadError` naming
where it sits (``actions[2].FunctionCall.gas``) and what is wrong with it.
Unknown keys are refused rather than ignored: a misspelt field that silently
fell back to a default would change what is signed without the user seeing it.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import base58
from solders.pubkey import Pubkey
from solders.signature import Signature

from cosigner.chains.errors import PayloadError


def join(path: str, key: str | int) -> str:
    """The path of a field: ``join("actions", 0)`` is ``actions[0]``.

    ``join("actions[0]", "gas")`` is ``actions[0].gas``; at the top, ``join("", "nonce")``
    is ``nonce``.
    """
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def expect_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(path, f"must be a JSON object, got {_kind(value)}")
    return value


def expect_list(value: Any, path: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise PayloadError(path, f"must be a JSON array, got {_kind(value)}")
    return value


def expect_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise PayloadError(path, f"must be a string, got {_kind(value)}")
    return value


def expect_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise PayloadError(path, f"must be true or false, got {_kind(value)}")
    return value


def check_keys(
    obj: Mapping[str, Any],
    path: str,
    required: Sequence[str] = (),
    optional: Sequence[str] = (),
) -> None:
    """Every required key present, no key outside ``required`` and ``optional``."""
    for key in obj:
        if key not in required and key not in optional:
            allowed = ", ".join([*required, *optional])
            raise PayloadError(join(path, str(key)), f"unknown field (expected one of: {allowed})")
    for key in required:
        if key not in obj:
            raise PayloadError(join(path, key), "is required")


def one_of(obj: Mapping[str, Any], path: str, keys: Sequence[str]) -> str:
    """The one key of ``keys`` that ``obj`` holds; PayloadError if none or several."""
    present = [k for k in keys if k in obj]
    if not present:
        raise PayloadError(join(path, keys[0]), f"is required (or one of: {', '.join(keys[1:])})")
    if len(present) > 1:
        raise PayloadError(join(path, present[1]), f"give only one of {', '.join(present)}")
    return present[0]


def uint(value: Any, path: str, bits: int) -> int:
    """An unsigned integer as a JSON number or a decimal string, checked to fit ``bits``."""
    if isinstance(value, bool):
        raise PayloadError(path, "must be an integer, got a boolean")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        if not value.isascii() or not value.isdigit():
            raise PayloadError(path, f"must be a decimal integer string, got {value!r}")
        number = int(value)
    else:
        raise PayloadError(path, f"must be an integer, got {_kind(value)}")
    if not 0 <= number < (1 << bits):
        raise PayloadError(path, f"{number} does not fit in u{bits}")
    return number


def small_uint(value: Any, path: str, maximum: int) -> int:
    """A JSON integer between 0 and ``maximum`` (indexes and counts)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError(path, f"must be an integer, got {_kind(value)}")
    if not 0 <= value <= maximum:
        raise PayloadError(path, f"{value} is outside 0..{maximum}")
    return value


def b58decode(text: str) -> bytes:
    """Base58 (Bitcoin alphabet) to bytes; ValueError if ``text`` is not base58.

    Keys and hashes (32 bytes) and signatures (64 bytes) go through solders'
    Rust codec, twenty times faster than the pure-Python ``base58`` package,
    which handles every other length (and explains what is wrong).
    """
    if len(text) <= 44:
        try:
            return bytes(Pubkey.from_string(text))
        except ValueError:
            pass
    elif len(text) <= 88:
        try:
            return bytes(Signature.from_string(text))
        except ValueError:
            pass
    return base58.b58decode(text.encode("ascii"))


def from_base58(value: Any, path: str, length: int | None = None) -> bytes:
    text = expect_str(value, path)
    try:
        data = b58decode(text)
    except (ValueError, UnicodeEncodeError):
        raise PayloadError(path, f"is not base58: {text!r}") from None
    if length is not None and len(data) != length:
        raise PayloadError(path, f"must decode to {length} bytes, got {len(data)}")
    return data


def from_base64(value: Any, path: str, length: int | None = None) -> bytes:
    text = expect_str(value, path)
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise PayloadError(path, "is not standard base64") from None
    if length is not None and len(data) != length:
        raise PayloadError(path, f"must decode to {length} bytes, got {len(data)}")
    return data


def from_hex(value: Any, path: str, length: int | None = None) -> bytes:
    text = expect_str(value, path)
    digits = text[2:] if text[:2] in ("0x", "0X") else text
    try:
        data = bytes.fromhex(digits)
    except ValueError:
        raise PayloadError(path, "is not hexadecimal") from None
    if len(digits) != 2 * len(data):  # fromhex skips whitespace; we do not
        raise PayloadError(path, "is not hexadecimal")
    if length is not None and len(data) != length:
        raise PayloadError(path, f"must decode to {length} bytes, got {len(data)}")
    return data


def b58(data: bytes) -> str:
    """Bytes to base58, through solders' codec for 32- and 64-byte values (see b58decode)."""
    if len(data) == 32:
        return str(Pubkey.from_bytes(data))
    if len(data) == 64:
        return str(Signature.from_bytes(data))
    return base58.b58encode(data).decode("ascii")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def format_units(value: int, decimals: int) -> str:
    """``format_units(1500, 3)`` is ``"1.5"``: an amount in base units, in display units."""
    whole, fraction = divmod(value, 10**decimals)
    if not fraction:
        return str(whole)
    return f"{whole}.{str(fraction).rjust(decimals, '0').rstrip('0')}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


__all__ = [
    "b58",
    "b58decode",
    "b64",
    "check_keys",
    "expect_bool",
    "expect_list",
    "expect_object",
    "expect_str",
    "format_units",
    "from_base58",
    "from_base64",
    "from_hex",
    "join",
    "one_of",
    "small_uint",
    "uint",
]
