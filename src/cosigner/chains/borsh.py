"""A tiny Borsh writer and reader, for the NEAR adapter.

Borsh (https://borsh.io, specification in near/borsh's ``README`` and
``specification.md``) is the binary encoding NEAR transactions are signed in:
little-endian fixed-width integers, ``u32`` length prefixes for strings and
dynamic arrays, a ``u8`` tag for enums and options, fixed arrays written bare.

It is hand-written because no well-kept Python Borsh library exists: the
packages on PyPI are unmaintained or pull in a schema compiler, and NEAR needs
only the dozen primitives below. Decoding is strict, as nearcore's is:
strings must be UTF-8, option tags 0 or 1, and a reader that is ``finish``ed
with bytes left over raises. Every malformed input raises
:class:`~cosigner.errors.DecodeError`, never IndexError or struct.error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from cosigner.errors import DecodeError

T = TypeVar("T")

U8_MAX = (1 << 8) - 1
U32_MAX = (1 << 32) - 1
U64_MAX = (1 << 64) - 1
U128_MAX = (1 << 128) - 1


class BorshWriter:
    """Appends Borsh encodings to a buffer; ``bytes(writer)`` is the result."""

    def __init__(self) -> None:
        self._out = bytearray()

    def __bytes__(self) -> bytes:
        return bytes(self._out)

    def _uint(self, value: int, size: int, maximum: int, name: str) -> BorshWriter:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            raise ValueError(f"{value!r} does not fit in {name}")
        self._out += value.to_bytes(size, "little")
        return self

    def u8(self, value: int) -> BorshWriter:
        return self._uint(value, 1, U8_MAX, "u8")

    def u32(self, value: int) -> BorshWriter:
        return self._uint(value, 4, U32_MAX, "u32")

    def u64(self, value: int) -> BorshWriter:
        return self._uint(value, 8, U64_MAX, "u64")

    def u128(self, value: int) -> BorshWriter:
        return self._uint(value, 16, U128_MAX, "u128")

    def fixed(self, data: bytes, length: int) -> BorshWriter:
        """A fixed-size array ``[u8; length]``, written without a length prefix."""
        if len(data) != length:
            raise ValueError(f"expected {length} bytes, got {len(data)}")
        self._out += data
        return self

    def byte_vec(self, data: bytes) -> BorshWriter:
        """A dynamic ``Vec<u8>``: u32 length, then the bytes."""
        self.u32(len(data))
        self._out += data
        return self

    def string(self, text: str) -> BorshWriter:
        return self.byte_vec(text.encode("utf-8"))

    def vec(self, items: Sequence[T], write: Callable[[BorshWriter, T], object]) -> BorshWriter:
        self.u32(len(items))
        for item in items:
            write(self, item)
        return self

    def option(self, value: T | None, write: Callable[[BorshWriter, T], object]) -> BorshWriter:
        if value is None:
            return self.u8(0)
        self.u8(1)
        write(self, value)
        return self

    def raw(self, data: bytes) -> BorshWriter:
        """Bytes that are already a Borsh encoding (a nested struct)."""
        self._out += data
        return self


class BorshReader:
    """Reads Borsh values from ``data`` in order; :meth:`finish` checks nothing is left."""

    def __init__(self, data: bytes, what: str = "Borsh data") -> None:
        self._data = bytes(data)
        self._pos = 0
        self._what = what

    @property
    def position(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def _take(self, size: int, name: str) -> bytes:
        end = self._pos + size
        if end > len(self._data):
            raise DecodeError(
                f"{self._what}: {name} at byte {self._pos} needs {size} bytes, "
                f"{len(self._data) - self._pos} left"
            )
        chunk = self._data[self._pos : end]
        self._pos = end
        return chunk

    def u8(self) -> int:
        return self._take(1, "u8")[0]

    def u32(self) -> int:
        return int.from_bytes(self._take(4, "u32"), "little")

    def u64(self) -> int:
        return int.from_bytes(self._take(8, "u64"), "little")

    def u128(self) -> int:
        return int.from_bytes(self._take(16, "u128"), "little")

    def fixed(self, length: int) -> bytes:
        return self._take(length, f"[u8; {length}]")

    def byte_vec(self) -> bytes:
        length = self.u32()
        return self._take(length, "Vec<u8>")

    def string(self) -> str:
        start = self._pos
        raw = self.byte_vec()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError(f"{self._what}: the string at byte {start} is not UTF-8") from None

    def vec(self, read: Callable[[BorshReader], T]) -> list[T]:
        length = self.u32()
        # Every element takes at least one byte, except zero-sized ones we never use;
        # refusing impossible lengths early keeps a hostile length from looping.
        if length > self.remaining:
            raise DecodeError(
                f"{self._what}: a vector of {length} elements at byte {self._pos - 4} "
                f"cannot fit in the {self.remaining} bytes left"
            )
        return [read(self) for _ in range(length)]

    def option(self, read: Callable[[BorshReader], T]) -> T | None:
        start = self._pos
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return read(self)
        raise DecodeError(f"{self._what}: option tag {tag} at byte {start} (must be 0 or 1)")

    def enum_tag(self, names: Sequence[str], enum: str) -> int:
        """An enum's u8 tag, checked against the variants this reader knows."""
        start = self._pos
        tag = self.u8()
        if tag >= len(names):
            raise DecodeError(f"{self._what}: unknown {enum} tag {tag} at byte {start}")
        return tag

    def finish(self) -> None:
        if self.remaining:
            raise DecodeError(
                f"{self._what}: {self.remaining} trailing bytes after byte {self._pos}"
            )


def decode_all(data: bytes, read: Callable[[BorshReader], T], what: str) -> T:
    """Read one value that must span all of ``data``."""
    reader = BorshReader(data, what)
    value = read(reader)
    reader.finish()
    return value


__all__ = [
    "U8_MAX",
    "U32_MAX",
    "U64_MAX",
    "U128_MAX",
    "BorshReader",
    "BorshWriter",
    "decode_all",
]
