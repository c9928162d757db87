"""Canonical byte codecs: a tagged value codec for session state, and payload helpers.

State codec
-----------
A session's whole state is a tree of plain values. :func:`encode_value` turns
it into bytes and :func:`decode_value` back, with one encoding per value
(integers big-endian)::

    None      00                    bytes    04 u32-length data
    False     01                    str      05 u32-length UTF-8
    True      02                    list     06 u32-count items
    int       03 sign(u8 0/1) u16-length magnitude (minimal, no leading zero)
    tuple     07 u32-count items
    dict      08 u32-count (key, value) pairs, keys in strictly increasing
              order of their encodings
    point     09 33-byte SEC1 compressed secp256k1 element
    identity  0a                    (the secp256k1 identity element)
    record    0b u8-length name, then the record's field values as a tuple

Records are registered classes (:func:`record`), encoded by name and field
values, so a state can hold key shares, triples and other typed values. The
decoder rejects unknown tags and names, non-minimal integers, unsorted or
repeated dict keys, invalid points and trailing bytes with
:class:`~cosigner.protocol.errors.StateDecodeError`.

Payload helpers
---------------
:class:`PayloadWriter` and :class:`PayloadReader` build and parse the fixed
layouts of protocol payloads: 32-byte scalars below the group order, 33-byte
compressed points (never the identity), fixed-size byte strings and counts.
A reader raises :class:`~cosigner.errors.DecodeError` (or its scalar and
element subclasses) on anything out of shape, and :meth:`PayloadReader.finish`
refuses trailing bytes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from cosigner.errors import DecodeError
from cosigner.groups import SECP256K1, Element
from cosigner.groups.secp256k1 import ORDER
from cosigner.protocol.errors import StateDecodeError

_NONE, _FALSE, _TRUE, _INT, _BYTES, _STR, _LIST, _TUPLE, _DICT, _POINT, _IDENTITY, _RECORD = range(
    12
)

_IDENTITY_ELEMENT = SECP256K1.identity


class _RecordType:
    __slots__ = ("cls", "from_fields", "name", "to_fields")

    def __init__(
        self,
        name: str,
        cls: type,
        to_fields: Callable[[Any], tuple[Any, ...]],
        from_fields: Callable[[tuple[Any, ...]], Any],
    ) -> None:
        self.name = name
        self.cls = cls
        self.to_fields = to_fields
        self.from_fields = from_fields


_RECORDS_BY_NAME: dict[str, _RecordType] = {}
_RECORDS_BY_CLASS: dict[type, _RecordType] = {}

T = TypeVar("T")


def register_record(
    name: str,
    cls: type[T],
    to_fields: Callable[[T], tuple[Any, ...]],
    from_fields: Callable[[tuple[Any, ...]], T],
) -> None:
    """Register a class whose instances can appear in session state."""
    if not 1 <= len(name.encode()) <= 255:
        raise ValueError("record names are 1 to 255 bytes")
    if name in _RECORDS_BY_NAME or cls in _RECORDS_BY_CLASS:
        raise RuntimeError(f"record {name!r} registered twice")
    entry = _RecordType(name, cls, to_fields, from_fields)
    _RECORDS_BY_NAME[name] = entry
    _RECORDS_BY_CLASS[cls] = entry


def record(name: str) -> Callable[[type[T]], type[T]]:
    """Class decorator registering a dataclass: its fields, in order, are its encoding."""

    def wrap(cls: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(cls):
            raise TypeError("@record needs a dataclass; use register_record otherwise")
        names = tuple(f.name for f in dataclasses.fields(cls) if f.init)

        def to_fields(obj: Any) -> tuple[Any, ...]:
            return tuple(getattr(obj, n) for n in names)

        def from_fields(values: tuple[Any, ...]) -> Any:
            if len(values) != len(names):
                raise StateDecodeError(f"record {name!r} has {len(names)} fields")
            return cls(**dict(zip(names, values, strict=True)))

        register_record(name, cls, to_fields, from_fields)
        return cls

    return wrap


# -- encoding ---------------------------------------------------------------------


def _encode_int(value: int, out: list[bytes]) -> None:
    magnitude = -value if value < 0 else value
    raw = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "big")
    if len(raw) > 0xFFFF:
        raise ValueError("integer too large for the state codec")
    out.append(bytes([_INT, 1 if value < 0 else 0]) + len(raw).to_bytes(2, "big") + raw)


def _encode(value: Any, out: list[bytes]) -> None:
    # Order matters: bool is an int subclass.
    if value is None:
        out.append(b"\x00")
    elif value is True:
        out.append(b"\x02")
    elif value is False:
        out.append(b"\x01")
    elif type(value) is int:
        _encode_int(value, out)
    elif isinstance(value, bytes | bytearray):
        out.append(bytes([_BYTES]) + len(value).to_bytes(4, "big"))
        out.append(bytes(value))
    elif isinstance(value, str):
        raw = value.encode("utf-8")
        out.append(bytes([_STR]) + len(raw).to_bytes(4, "big"))
        out.append(raw)
    elif isinstance(value, list):
        out.append(bytes([_LIST]) + len(value).to_bytes(4, "big"))
        for item in value:
            _encode(item, out)
    elif isinstance(value, tuple):
        out.append(bytes([_TUPLE]) + len(value).to_bytes(4, "big"))
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        items = sorted(((encode_value(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        out.append(bytes([_DICT]) + len(items).to_bytes(4, "big"))
        previous = None
        for key, item in items:
            if key == previous:
                raise ValueError("dict keys encode to the same bytes")
            previous = key
            out.append(key)
            _encode(item, out)
    elif isinstance(value, Element):
        if value.group is not SECP256K1:
            raise TypeError("the state codec holds secp256k1 elements only")
        if value.is_identity:
            out.append(b"\x0a")
        else:
            out.append(b"\x09")
            out.append(value.to_bytes())
    else:
        entry = _RECORDS_BY_CLASS.get(type(value))
        if entry is None:
            raise TypeError(f"cannot encode a {type(value).__name__} in protocol state")
        name = entry.name.encode()
        out.append(bytes([_RECORD, len(name)]) + name)
        _encode(tuple(entry.to_fields(value)), out)


def encode_value(value: Any) -> bytes:
    """The canonical encoding of a state value."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


# -- decoding ---------------------------------------------------------------------


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise StateDecodeError("serialized state is truncated")
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise StateDecodeError("serialized state is truncated")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")


def _decode(cur: _Cursor, depth: int) -> Any:
    if depth > 64:
        raise StateDecodeError("serialized state is nested too deeply")
    tag = cur.byte()
    if tag == _NONE:
        return None
    if tag == _FALSE:
        return False
    if tag == _TRUE:
        return True
    if tag == _INT:
        sign = cur.byte()
        raw = cur.take(int.from_bytes(cur.take(2), "big"))
        if sign > 1 or (raw and raw[0] == 0) or (sign == 1 and not raw):
            raise StateDecodeError("non-canonical integer in serialized state")
        magnitude = int.from_bytes(raw, "big")
        return -magnitude if sign else magnitude
    if tag == _BYTES:
        return cur.take(cur.u32())
    if tag == _STR:
        try:
            return cur.take(cur.u32()).decode("utf-8")
        except UnicodeDecodeError:
            raise StateDecodeError("invalid UTF-8 in serialized state") from None
    if tag in (_LIST, _TUPLE):
        count = cur.u32()
        if count > len(cur.data) - cur.pos:
            raise StateDecodeError("serialized state is truncated")
        items = [_decode(cur, depth + 1) for _ in range(count)]
        return items if tag == _LIST else tuple(items)
    if tag == _DICT:
        count = cur.u32()
        if count > len(cur.data) - cur.pos:
            raise StateDecodeError("serialized state is truncated")
        result: dict[Any, Any] = {}
        previous: bytes | None = None
        for _ in range(count):
            start = cur.pos
            key = _decode(cur, depth + 1)
            key_bytes = cur.data[start : cur.pos]
            if previous is not None and key_bytes <= previous:
                raise StateDecodeError("dict keys in serialized state are not strictly sorted")
            previous = key_bytes
            try:
                result[key] = _decode(cur, depth + 1)
            except TypeError:
                raise StateDecodeError("unhashable dict key in serialized state") from None
        return result
    if tag == _POINT:
        try:
            return SECP256K1.decode_element(cur.take(33))
        except DecodeError as exc:
            raise StateDecodeError(f"invalid point in serialized state: {exc.message}") from None
    if tag == _IDENTITY:
        return _IDENTITY_ELEMENT
    if tag == _RECORD:
        try:
            name = cur.take(cur.byte()).decode("utf-8")
        except UnicodeDecodeError:
            raise StateDecodeError("invalid record name in serialized state") from None
        entry = _RECORDS_BY_NAME.get(name)
        if entry is None:
            raise StateDecodeError(f"unknown record {name!r} in serialized state")
        fields = _decode(cur, depth + 1)
        if not isinstance(fields, tuple):
            raise StateDecodeError(f"record {name!r} fields are not a tuple")
        try:
            return entry.from_fields(fields)
        except StateDecodeError:
            raise
        except (TypeError, ValueError) as exc:
            raise StateDecodeError(f"invalid {name!r} in serialized state: {exc}") from None
    raise StateDecodeError(f"unknown tag {tag} in serialized state")


def decode_value(data: bytes) -> Any:
    """Decode one state value; the whole input must be consumed."""
    cur = _Cursor(bytes(data))
    value = _decode(cur, 0)
    if cur.pos != len(cur.data):
        raise StateDecodeError("trailing bytes after serialized state")
    return value


# -- payloads ---------------------------------------------------------------------


class PayloadWriter:
    """Builds a payload from fixed-size fields."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def scalar(self, k: int) -> PayloadWriter:
        self._parts.append(k.to_bytes(32, "big"))
        return self

    def scalars(self, ks: Sequence[int]) -> PayloadWriter:
        self._parts.append(b"".join(k.to_bytes(32, "big") for k in ks))
        return self

    def point(self, p: Element) -> PayloadWriter:
        self._parts.append(p.to_bytes())
        return self

    def points(self, ps: Sequence[Element]) -> PayloadWriter:
        self._parts.append(b"".join(p.to_bytes() for p in ps))
        return self

    def raw(self, data: bytes) -> PayloadWriter:
        self._parts.append(data)
        return self

    def u8(self, value: int) -> PayloadWriter:
        self._parts.append(bytes([value]))
        return self

    def u16(self, value: int) -> PayloadWriter:
        self._parts.append(value.to_bytes(2, "big"))
        return self

    def u32(self, value: int) -> PayloadWriter:
        self._parts.append(value.to_bytes(4, "big"))
        return self

    def blob(self, data: bytes) -> PayloadWriter:
        """Length-prefixed (u32) bytes."""
        self._parts.append(len(data).to_bytes(4, "big"))
        self._parts.append(data)
        return self

    def to_bytes(self) -> bytes:
        return b"".join(self._parts)


class PayloadReader:
    """Parses a payload; every method raises :class:`DecodeError` on malformed input."""

    __slots__ = ("_data", "_pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self._data = data
        self._pos = 0
        self.what = what

    def raw(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            raise DecodeError(f"{self.what}: payload truncated")
        out = self._data[self._pos : end]
        self._pos = end
        return out

    def remaining(self) -> int:
        return len(self._data) - self._pos

    def scalar(self) -> int:
        k = int.from_bytes(self.raw(32), "big")
        if k >= ORDER:
            raise DecodeError(f"{self.what}: scalar not reduced modulo the group order")
        return k

    def nonzero_scalar(self) -> int:
        k = self.scalar()
        if k == 0:
            raise DecodeError(f"{self.what}: scalar must not be zero")
        return k

    def scalars(self, count: int) -> list[int]:
        raw = self.raw(32 * count)
        out = [int.from_bytes(raw[i : i + 32], "big") for i in range(0, 32 * count, 32)]
        for k in out:
            if k >= ORDER:
                raise DecodeError(f"{self.what}: scalar not reduced modulo the group order")
        return out

    def point(self) -> Element:
        try:
            return SECP256K1.decode_element(self.raw(33))
        except DecodeError as exc:
            raise type(exc)(f"{self.what}: {exc.message}") from None

    def points(self, count: int) -> list[Element]:
        return [self.point() for _ in range(count)]

    def u8(self) -> int:
        return self.raw(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.raw(2), "big")

    def u32(self) -> int:
        return int.from_bytes(self.raw(4), "big")

    def blob(self, max_len: int | None = None) -> bytes:
        n = self.u32()
        if max_len is not None and n > max_len:
            raise DecodeError(f"{self.what}: field longer than {max_len} bytes")
        return self.raw(n)

    def finish(self) -> None:
        if self._pos != len(self._data):
            raise DecodeError(f"{self.what}: {len(self._data) - self._pos} trailing bytes")


__all__ = [
    "PayloadReader",
    "PayloadWriter",
    "decode_value",
    "encode_value",
    "record",
    "register_record",
]
