"""RLP reading and field checks shared by the Tempo encoders.

Decoding goes through ``rlp.decode``, which refuses non-canonical lengths and trailing
bytes; these helpers then give each item its type (list, byte string, canonical unsigned
integer of a width, fixed-length bytes) and raise
:class:`~cosigner.chains.errors.PayloadError` naming the field path (``calls[0].to``).
The ``check_*`` helpers guard the encoders against values that do not fit the wire.
"""

from __future__ import annotations

from typing import TypeAlias, cast

import rlp  # type: ignore[import-untyped, unused-ignore]  # rlp ships no type information

from cosigner.chains.errors import PayloadError

RlpItem: TypeAlias = bytes | list["RlpItem"]


def opt_bytes(value: bytes | None) -> bytes:
    """An absent value is the empty string (``0x80``)."""
    return b"" if value is None else value


def rlp_decode(data: bytes, path: str) -> RlpItem:
    try:
        return cast(RlpItem, rlp.decode(data))
    except rlp.exceptions.RLPException as exc:
        raise PayloadError(path, f"is not canonical RLP ({exc})") from None


def as_list(item: RlpItem, path: str) -> list[RlpItem]:
    if not isinstance(item, list):
        raise PayloadError(path, "expected an RLP list, found a byte string")
    return item


def as_bytes(item: RlpItem, path: str) -> bytes:
    if not isinstance(item, bytes):
        raise PayloadError(path, "expected an RLP byte string, found a list")
    return item


def as_uint(item: RlpItem, path: str, bits: int) -> int:
    data = as_bytes(item, path)
    if data[:1] == b"\x00":
        raise PayloadError(path, "integer with a leading zero byte (not canonical)")
    if len(data) * 8 > bits:
        raise PayloadError(path, f"integer wider than {bits} bits")
    return int.from_bytes(data, "big")


def as_fixed(item: RlpItem, path: str, length: int, what: str) -> bytes:
    data = as_bytes(item, path)
    if len(data) != length:
        raise PayloadError(path, f"{what} must be {length} bytes, found {len(data)}")
    return data


def as_address(item: RlpItem, path: str) -> bytes:
    return as_fixed(item, path, 20, "an address")


def as_opt_address(item: RlpItem, path: str) -> bytes | None:
    data = as_bytes(item, path)
    return None if data == b"" else as_fixed(data, path, 20, "an address")


def as_opt_nonzero_u64(item: RlpItem, path: str) -> int | None:
    """``Option<NonZeroU64>`` as the node reads it: empty (0) is None."""
    return as_uint(item, path, 64) or None


def check_uint(value: object, path: str, bits: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(path, "expected an integer")
    if value < 0 or value.bit_length() > bits:
        raise PayloadError(path, f"must be an unsigned {bits}-bit integer")


def check_bytes(value: object, path: str, length: int | None = None) -> None:
    if not isinstance(value, bytes):
        raise PayloadError(path, "expected bytes")
    if length is not None and len(value) != length:
        raise PayloadError(path, f"must be {length} bytes, found {len(value)}")


def check_address(value: object, path: str) -> None:
    check_bytes(value, path, 20)


def check_timestamp(value: object, path: str) -> None:
    """An optional non-zero u64 (``Option<NonZeroU64>``): 0 cannot be written."""
    if value is None:
        return
    check_uint(value, path, 64)
    if value == 0:
        raise PayloadError(path, "0 is not a bound; leave it out (null) for no bound")
