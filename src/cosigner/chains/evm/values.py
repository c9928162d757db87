"""EVM values: strict parsing, one normal form, and text for people.

Payload values arrive as JSON. Integers are ``int`` or strings, decimal
(``"1000"``) or 0x-hex (``"0x3e8"``); byte strings are 0x-hex (``bytes`` is
accepted from Python callers); addresses are 0x-hex in any case, and a
mixed-case address must carry a valid EIP-55 checksum
(https://eips.ethereum.org/EIPS/eip-55), because mixed case is how a person
copying an address gets a typo caught. Every parser raises
:class:`~cosigner.chains.errors.PayloadError` naming the field path, and
nothing else: no whitespace, underscores, signs or non-ASCII digits slip
through ``int()``.

The normal form written to ``ui_model["fields"]`` is decimal strings for
integers, lowercase 0x-hex for bytes and EIP-55 checksummed addresses, and
every parser here accepts its own output.

keccak-256 is pycryptodome's, the backend ``eth-hash[pycryptodome]`` wraps,
called on a cached per-thread state (:func:`_cached_state_keccak256`):
eth-hash's front door and ``keccak.new`` spend more time building objects
than hashing, which shows up in :mod:`cosigner.bench.chains`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, cast

import rlp  # type: ignore[import-untyped, unused-ignore]  # rlp ships no type information
from Crypto.Hash import keccak as _keccak

from cosigner.chains.errors import PayloadError

UINT256_MAX = (1 << 256) - 1
UINT64_MAX = (1 << 64) - 1

_HEX_DIGITS = re.compile(r"[0-9a-fA-F]*\Z")
_DECIMAL_MAX_DIGITS = 78  # len(str(2**256)); longer decimal strings are out of range anyway
_OUT_OF_RANGE = 1 << 257  # stands for any number too large for every caller


def _keccak256_public(data: bytes) -> bytes:
    return _keccak.new(data=data, digest_bits=256).digest()


_KECCAK_PADDING = 0x01  # Keccak's pad10*1 domain byte; FIPS 202 SHA-3 uses 0x06
_KECCAK256_CAPACITY_BYTES = 64
_KECCAK_ROUNDS = 24


def _cached_state_keccak256() -> Callable[[bytes], bytes]:
    """keccak-256 that reuses one pycryptodome Keccak state per thread.

    pycryptodome's ``keccak.new(...)`` allocates and wraps a fresh C state on
    every call, which costs twice the hashing itself for the short inputs an
    adapter hashes. This calls the same C functions (``keccak_reset``,
    ``keccak_absorb``, ``keccak_digest``) on a per-thread state and buffer
    instead, through pycryptodome's cffi binding (which converts arguments by
    the C declarations; the ctypes fallback binding would not). They are
    pycryptodome internals, so the result is checked against the public API
    first, and the public API is used when anything differs.
    """
    import Crypto.Hash.keccak as module
    import Crypto.Util._raw_api as raw_api

    binding: Any = raw_api
    if binding.backend != "cffi":
        raise RuntimeError("pycryptodome is not using its cffi binding")
    lib: Any = vars(module)["_raw_keccak_lib"]
    ffi: Any = binding.ffi
    reset, absorb, squeeze = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
    local = threading.local()

    def thread_state() -> tuple[Any, Any]:
        pointer = ffi.new("void **")
        status = lib.keccak_init(pointer, _KECCAK256_CAPACITY_BYTES, _KECCAK_ROUNDS)
        if status:
            raise RuntimeError(f"keccak_init failed ({status})")
        state = ffi.gc(pointer[0], lib.keccak_destroy)  # freed with the thread's locals
        local.state = (state, ffi.new("uint8_t[32]"))
        return state, local.state[1]

    def keccak256(data: bytes) -> bytes:
        try:
            state, out = local.state
        except AttributeError:
            state, out = thread_state()
        if (
            reset(state)
            or absorb(state, data, len(data))
            or squeeze(state, out, 32, _KECCAK_PADDING)
        ):
            return _keccak256_public(data)
        digest: bytes = ffi.buffer(out)[:]
        return digest

    for sample in (b"", b"abc", bytes(range(256)) * 2):
        if keccak256(sample) != _keccak256_public(sample):
            raise RuntimeError("cached keccak state disagrees with pycryptodome's keccak.new")
    return keccak256


try:
    keccak256 = _cached_state_keccak256()
except Exception:  # another pycryptodome layout: its public API is always right
    keccak256 = _keccak256_public
keccak256.__doc__ = "keccak-256 (the pre-standard SHA-3 padding Ethereum uses) of ``data``."


def rlp_encode(items: bytes | Sequence[Any]) -> bytes:
    """RLP of bytes and nested lists of bytes (integers already big-endian, no leading zeros).

    Sedes inference is off: the caller has built every item as the EIP
    specifies it, so rlp's serialization pass over the items is skipped.
    """
    return cast(bytes, rlp.encode(items, infer_serializer=False))


def join_path(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def index_path(prefix: str, index: int) -> str:
    return f"{prefix}[{index}]"


def describe(value: Any) -> str:
    """A short, safe description of a bad value for an error message."""
    if isinstance(value, str):
        return repr(value) if len(value) <= 48 else repr(value[:45] + "...")
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


# -- payload structure ----------------------------------------------------------------


def expect_mapping(value: Any, path: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise PayloadError(path, f"expected {what}, got {describe(value)}")
    return value


def expect_list(value: Any, path: str, what: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise PayloadError(path, f"expected {what} (a JSON array), got {describe(value)}")
    return value


def required(mapping: Mapping[str, Any], key: str, path: str) -> Any:
    try:
        return mapping[key]
    except KeyError:
        raise PayloadError(join_path(path, key), "is required") from None


def reject_unknown(
    mapping: Mapping[Any, Any],
    allowed: frozenset[str],
    path: str,
    what: str,
    hints: Mapping[str, str] | None = None,
) -> None:
    """Refuse a key the schema does not have: an ignored field would be a hidden one."""
    if allowed.issuperset(mapping.keys()):
        return
    for key in mapping:
        if key not in allowed:
            name = key if isinstance(key, str) else repr(key)
            hint = hints.get(name, "") if hints else ""
            problem = f"not a field of {what}" + (f"; {hint}" if hint else "")
            raise PayloadError(join_path(path, name), problem)


# -- integers ---------------------------------------------------------------------------


def _int_from_text(text: str) -> int | None:
    if text.startswith("0x"):
        digits = text[2:]
        if not digits or not _HEX_DIGITS.match(digits):
            return None
        if len(digits) > 64 and len(digits.lstrip("0")) > 64:
            return _OUT_OF_RANGE  # spares int() a huge string
        return int(digits, 16)
    if text.isascii() and text.isdigit():
        if len(text) > _DECIMAL_MAX_DIGITS and len(text.lstrip("0")) > _DECIMAL_MAX_DIGITS:
            return _OUT_OF_RANGE
        return int(text)
    return None


def parse_uint(value: Any, path: str, bits: int = 256) -> int:
    """A non-negative integer below ``2**bits`` from an int or a decimal/0x-hex string."""
    kind = type(value)
    parsed = value if kind is int else _int_from_text(value) if kind is str else None
    if parsed is None:
        raise PayloadError(
            path,
            f"expected an integer (a number, a decimal or 0x-hex string), got {describe(value)}",
        )
    number: int = parsed
    if number < 0:
        raise PayloadError(path, f"must not be negative, got {number}")
    if number >> bits:
        raise PayloadError(path, f"must be below 2**{bits}")
    return number


def parse_int(value: Any, path: str, bits: int) -> int:
    """A two's-complement ``int<bits>`` value; strings may carry a leading ``-``."""
    if type(value) is str and value.startswith("-"):
        magnitude = parse_uint(value[1:], path, bits)
        number = -magnitude
    elif type(value) is int and value < 0:
        number = value
    else:
        number = parse_uint(value, path, bits)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not low <= number <= high:
        raise PayloadError(path, f"must lie in [-2**{bits - 1}, 2**{bits - 1} - 1] for int{bits}")
    return number


def int_to_min_bytes(number: int) -> bytes:
    """Big-endian without leading zeros, ``b""`` for 0: RLP's integer encoding."""
    return number.to_bytes((number.bit_length() + 7) >> 3, "big")


def hex32(number: int) -> str:
    """A 256-bit integer as 0x and 64 hex digits (the conventional form of r and s)."""
    return "0x" + number.to_bytes(32, "big").hex()


# -- byte strings ---------------------------------------------------------------------


def parse_hex_bytes(value: Any, path: str, length: int | None = None) -> bytes:
    """0x-prefixed hex (any case) or ``bytes``; ``length`` demands an exact byte count."""
    if type(value) is str:
        if not value.startswith("0x"):
            raise PayloadError(path, f"expected 0x-prefixed hex, got {describe(value)}")
        digits = value[2:]
        if len(digits) % 2 or not _HEX_DIGITS.match(digits):
            raise PayloadError(
                path, "expected 0x followed by an even number of hex digits (whole bytes)"
            )
        data = bytes.fromhex(digits)
    elif isinstance(value, bytes | bytearray):
        data = bytes(value)
    else:
        raise PayloadError(path, f"expected 0x-prefixed hex, got {describe(value)}")
    if length is not None and len(data) != length:
        raise PayloadError(path, f"expected exactly {length} bytes, got {len(data)}")
    return data


def hex_text(data: bytes) -> str:
    return "0x" + data.hex()


# -- addresses ------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def checksum_hex(lower_hex: str) -> str:
    """EIP-55: uppercase each letter whose nibble of keccak(lowercase hex) is 8 or more."""
    digest = keccak256(lower_hex.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c > "9" and digest[i] > "7" else c for i, c in enumerate(lower_hex)
    )


def to_checksum_address(address: bytes) -> str:
    return checksum_hex(address.hex())


@lru_cache(maxsize=8192)
def _address_from_text(text: str) -> tuple[bytes, str]:
    if len(text) != 42 or not text.startswith("0x") or not _HEX_DIGITS.match(text, 2):
        raise ValueError("expected an address: 0x followed by 40 hex digits")
    digits = text[2:]
    lower = digits.lower()
    checksummed = checksum_hex(lower)
    if digits != lower and digits != digits.upper() and text != checksummed:
        raise ValueError(
            f"mixed-case address fails its EIP-55 checksum (expected {checksummed}); "
            "check it for a typo, or pass it all lowercase"
        )
    return bytes.fromhex(lower), checksummed


def parse_address(value: Any, path: str) -> tuple[bytes, str]:
    """20 address bytes and their EIP-55 form, from 0x-hex in any case (or 20 raw bytes)."""
    if type(value) is str:
        try:
            return _address_from_text(value)
        except ValueError as exc:
            raise PayloadError(path, str(exc)) from None
    if isinstance(value, bytes | bytearray) and len(value) == 20:
        raw = bytes(value)
        return raw, to_checksum_address(raw)
    raise PayloadError(path, f"expected an address (0x and 40 hex digits), got {describe(value)}")


def address_from_public_key(uncompressed: bytes) -> bytes:
    """The last 20 bytes of keccak-256 of the 64-byte public key (without the 0x04 prefix)."""
    return keccak256(uncompressed[1:])[12:]


# -- text for people ------------------------------------------------------------------


def format_units(number: int, decimals: int) -> str:
    """``number / 10**decimals`` written exactly, without trailing zeros: 1500000000 -> "1.5"."""
    whole, fraction = divmod(number, 10**decimals)
    if not fraction:
        return str(whole)
    return f"{whole}.{str(fraction).rjust(decimals, '0').rstrip('0')}"


def wei_text(amount: int, symbol: str = "ETH") -> str:
    """An amount of the native currency in display and base units: "1.5 ETH (1500... wei)"."""
    return f"{format_units(amount, 18)} {symbol} ({amount} wei)"


def gwei_text(amount: int) -> str:
    """A gas price in gwei and wei: "30 gwei (30000000000 wei)"."""
    return f"{format_units(amount, 9)} gwei ({amount} wei)"


KNOWN_CHAINS: dict[int, tuple[str, str]] = {
    1: ("Ethereum Mainnet", "ETH"),
    10: ("OP Mainnet", "ETH"),
    56: ("BNB Smart Chain", "BNB"),
    100: ("Gnosis", "xDAI"),
    137: ("Polygon PoS", "POL"),
    8453: ("Base", "ETH"),
    17000: ("Holesky testnet", "ETH"),
    42161: ("Arbitrum One", "ETH"),
    43114: ("Avalanche C-Chain", "AVAX"),
    11155111: ("Sepolia testnet", "ETH"),
}
"""chainId -> (network name, native currency symbol), for display only."""


def chain_text(chain_id: int | None) -> str:
    if chain_id is None:
        return "no chainId (pre-EIP-155): valid on every chain that accepts it"
    known = KNOWN_CHAINS.get(chain_id)
    return f"{known[0]} (chainId {chain_id})" if known else f"chainId {chain_id}"


def native_symbol(chain_id: int | None) -> str:
    known = KNOWN_CHAINS.get(chain_id) if chain_id is not None else None
    return known[1] if known else "ETH"
