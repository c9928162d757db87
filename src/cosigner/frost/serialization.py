"""Canonical bytes and JSON for every FROST object.

Each serializable class declares its fields once (name and kind); this module
turns that declaration into a binary codec and a JSON codec, so the two can
never drift apart.

Binary layout (all integers big-endian)::

    version (u8 = 1) || ciphersuite id (u8) || object type (u8) || fields

* scalar, identifier: the ciphersuite's SerializeScalar (fixed size);
* element: the ciphersuite's SerializeElement (fixed size, never the identity);
* u16: two bytes; bytes: u32 length then the bytes;
* signature: the ciphersuite's signature encoding (fixed size, no length);
* optional X: one byte 0 or 1, then X when 1;
* list of X: u16 count then each X;
* map identifier -> X: u16 count then (identifier, X) pairs in strictly
  increasing identifier order, so an encoding is canonical and duplicates
  are impossible.

JSON form: an object ``{"version": 1, "ciphersuite": name, "type": name, ...}``
with scalars, identifiers, elements, signatures and bytes in unpadded base64url, integers
as numbers, lists as arrays and maps as objects keyed by the base64url
identifier. Decoders reject trailing bytes, unknown or missing fields,
non-canonical base64url and every malformed value with
:class:`~cosigner.frost.errors.FrostDecodeError` (or a subclass of
:class:`~cosigner.errors.DecodeError` naming the bad scalar or element).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

from cosigner.errors import DecodeError
from cosigner.frost.ciphersuite import Ciphersuite, UnknownCiphersuiteError, ciphersuite
from cosigner.frost.ciphersuite import ciphersuite_by_id as _suite_by_id
from cosigner.frost.errors import FrostDecodeError, InvalidIdentifier, InvalidSignature
from cosigner.frost.identifier import Identifier

FORMAT_VERSION = 1

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: object, path: str = "value") -> bytes:
    """Strict unpadded base64url: rejects padding, other alphabets and non-canonical tails."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise FrostDecodeError(f"{path}: expected unpadded base64url text")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise FrostDecodeError(f"{path}: invalid base64url") from None
    if b64url_encode(data) != text:
        raise FrostDecodeError(f"{path}: non-canonical base64url")
    return data


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise FrostDecodeError(f"truncated encoding while reading {what}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, size: int, what: str) -> int:
        return int.from_bytes(self.take(size, what), "big")


class Kind:
    """How one field is encoded in bytes and in JSON."""

    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        raise NotImplementedError

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        raise NotImplementedError

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        raise NotImplementedError

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        raise NotImplementedError


class _Scalar(Kind):
    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(suite.encode_scalar(value))

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        return _decode(path, suite.decode_scalar, r.take(suite.group.scalar_size, path))

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return b64url_encode(suite.encode_scalar(value))

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        return _decode(path, suite.decode_scalar, b64url_decode(value, path))


class _Identifier(_Scalar):
    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        return _to_identifier(suite, super().read(suite, r, path), path)

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        return _to_identifier(suite, super().from_json(suite, value, path), path)


def _to_identifier(suite: Ciphersuite, value: int, path: str) -> Identifier:
    # A zero identifier is malformed input here, so it must surface as a DecodeError.
    try:
        return Identifier.from_scalar(suite, value)
    except InvalidIdentifier as exc:
        raise FrostDecodeError(f"{path}: {exc.message}") from None


class _Element(Kind):
    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(suite.encode_element(value))

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        return _decode(path, suite.decode_element, r.take(suite.group.element_size, path))

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return b64url_encode(suite.encode_element(value))

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        return _decode(path, suite.decode_element, b64url_decode(value, path))


class _U16(Kind):
    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(int(value).to_bytes(2, "big"))

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        return r.uint(2, path)

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return int(value)

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        if type(value) is not int or not 0 <= value < 1 << 16:
            raise FrostDecodeError(f"{path}: expected an integer in [0, 65535]")
        return value


class _Bytes(Kind):
    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(len(value).to_bytes(4, "big"))
        out.append(bytes(value))

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        return r.take(r.uint(4, path), path)

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return b64url_encode(value)

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        return b64url_decode(value, path)


class Optional(Kind):
    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        if value is None:
            out.append(b"\x00")
        else:
            out.append(b"\x01")
            self.inner.write(suite, value, out)

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        flag = r.uint(1, path)
        if flag == 0:
            return None
        if flag != 1:
            raise FrostDecodeError(f"{path}: optional flag must be 0 or 1")
        return self.inner.read(suite, r, path)

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return None if value is None else self.inner.to_json(suite, value)

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        return None if value is None else self.inner.from_json(suite, value, path)


class ListOf(Kind):
    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(len(value).to_bytes(2, "big"))
        for item in value:
            self.inner.write(suite, item, out)

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        n = r.uint(2, path)
        return tuple(self.inner.read(suite, r, f"{path}[{i}]") for i in range(n))

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return [self.inner.to_json(suite, v) for v in value]

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        if not isinstance(value, list) or len(value) >= 1 << 16:
            raise FrostDecodeError(f"{path}: expected an array")
        return tuple(self.inner.from_json(suite, v, f"{path}[{i}]") for i, v in enumerate(value))


class IdMap(Kind):
    """A map from identifiers to values, canonically ordered."""

    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(len(value).to_bytes(2, "big"))
        for ident in sorted(value):
            out.append(suite.encode_scalar(ident))
            self.inner.write(suite, value[ident], out)

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        n = r.uint(2, path)
        result: dict[Identifier, Any] = {}
        previous = 0
        for i in range(n):
            ident = IDENTIFIER.read(suite, r, f"{path}[{i}].identifier")
            if ident <= previous:
                raise FrostDecodeError(f"{path}: identifiers must be strictly increasing")
            previous = ident
            result[ident] = self.inner.read(suite, r, f"{path}[{ident}]")
        return result

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return {
            b64url_encode(suite.encode_scalar(i)): self.inner.to_json(suite, value[i])
            for i in sorted(value)
        }

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        if not isinstance(value, dict) or len(value) >= 1 << 16:
            raise FrostDecodeError(f"{path}: expected an object keyed by identifiers")
        result: dict[Identifier, Any] = {}
        for key, v in value.items():
            ident = IDENTIFIER.from_json(suite, key, f"{path} key")
            if ident in result:
                raise FrostDecodeError(f"{path}: duplicate identifier")
            result[ident] = self.inner.from_json(suite, v, f"{path}[{key}]")
        return dict(sorted(result.items()))


class Nested(Kind):
    """Another serializable object's fields, inline (no header of its own)."""

    def __init__(self, cls: type[Serializable]) -> None:
        self.cls = cls

    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        for name, kind in self.cls.FIELDS:
            kind.write(suite, getattr(value, name), out)

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        values = {name: kind.read(suite, r, f"{path}.{name}") for name, kind in self.cls.FIELDS}
        return self.cls._build(suite, values)

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return {name: kind.to_json(suite, getattr(value, name)) for name, kind in self.cls.FIELDS}

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        names = [name for name, _ in self.cls.FIELDS]
        if not isinstance(value, dict) or sorted(value) != sorted(names):
            raise FrostDecodeError(f"{path}: expected an object with fields {names}")
        values = {
            name: kind.from_json(suite, value[name], f"{path}.{name}")
            for name, kind in self.cls.FIELDS
        }
        return self.cls._build(suite, values)


class _Signature(Kind):
    """The ciphersuite's own signature encoding, fixed size (Taproot: 64-byte BIP-340)."""

    def write(self, suite: Ciphersuite, value: Any, out: list[bytes]) -> None:
        out.append(bytes(value))

    def read(self, suite: Ciphersuite, r: _Reader, path: str) -> Any:
        return _check_signature(suite, r.take(suite.signature_size, path), path)

    def to_json(self, suite: Ciphersuite, value: Any) -> Any:
        return b64url_encode(value)

    def from_json(self, suite: Ciphersuite, value: Any, path: str) -> Any:
        return _check_signature(suite, b64url_decode(value, path), path)


def _check_signature(suite: Ciphersuite, data: bytes, path: str) -> bytes:
    try:
        suite.deserialize_signature(data)
    except InvalidSignature as exc:
        raise FrostDecodeError(f"{path}: {exc.message}") from None
    return data


SCALAR = _Scalar()
IDENTIFIER = _Identifier()
ELEMENT = _Element()
U16 = _U16()
BYTES = _Bytes()
SIGNATURE = _Signature()

T = TypeVar("T")


_MAX_JSON_DEPTH = 32
# One left-to-right pass: a string (closed or not) or a bracket; no backtracking.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)


def _check_json_depth(text: str) -> None:
    """Refuse nesting deeper than any cosigner object has, before ``json.loads`` sees it.

    The C JSON parser recurses once per level on the C stack and relies on the
    recursion limit to stop; once a dependency raises that limit (``py_ecc``,
    which the EVM adapter imports, sets 100000), a few hundred kilobytes of
    ``[`` crash the process instead of raising ``RecursionError``.
    """
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                raise FrostDecodeError(f"JSON nested deeper than {_MAX_JSON_DEPTH} levels")
        elif token == "]" or token == "}":
            depth = max(depth - 1, 0)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: a repeated key is refused, not silently resolved to the last one."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise FrostDecodeError(f"duplicate JSON key {key!r}")
        result[key] = value
    return result


def _decode(path: str, fn: Callable[[bytes], T], data: bytes) -> T:
    try:
        return fn(data)
    except DecodeError as exc:
        raise type(exc)(f"{path}: {exc.message}") from None


S = TypeVar("S", bound="Serializable")

_REGISTRY: dict[int, type[Serializable]] = {}


class Serializable:
    """Mixin for objects with canonical bytes and a JSON form.

    A subclass sets ``TYPE_TAG``, ``TYPE_NAME`` and ``FIELDS`` and can be built
    as ``cls(suite, **fields)``; it has a ``suite`` attribute and one attribute
    per field.
    """

    TYPE_TAG: ClassVar[int]
    TYPE_NAME: ClassVar[str]
    FIELDS: ClassVar[tuple[tuple[str, Kind], ...]]
    suite: Ciphersuite

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        tag = cls.__dict__.get("TYPE_TAG")
        if tag is not None:
            if tag in _REGISTRY:
                raise RuntimeError(f"duplicate serialization tag {tag}")
            _REGISTRY[tag] = cls

    def to_bytes(self) -> bytes:
        out = [bytes([FORMAT_VERSION, self.suite.suite_id, self.TYPE_TAG])]
        for name, kind in self.FIELDS:
            kind.write(self.suite, getattr(self, name), out)
        return b"".join(out)

    @classmethod
    def from_bytes(cls: type[S], data: bytes) -> S:
        if not isinstance(data, bytes | bytearray):
            raise FrostDecodeError(f"{cls.TYPE_NAME}: expected bytes")
        r = _Reader(bytes(data))
        version = r.uint(1, "version")
        if version != FORMAT_VERSION:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: unsupported format version {version}")
        suite_id = r.uint(1, "ciphersuite")
        try:
            suite = _suite_by_id(suite_id)
        except UnknownCiphersuiteError:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: unknown ciphersuite id {suite_id}") from None
        tag = r.uint(1, "type")
        if tag != cls.TYPE_TAG:
            raise FrostDecodeError(
                f"expected a {cls.TYPE_NAME} (type {cls.TYPE_TAG}), got type {tag}"
            )
        values = {name: kind.read(suite, r, f"{cls.TYPE_NAME}.{name}") for name, kind in cls.FIELDS}
        if r.pos != len(r.data):
            raise FrostDecodeError(f"{cls.TYPE_NAME}: {len(r.data) - r.pos} trailing bytes")
        return cls._build(suite, values)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "ciphersuite": self.suite.name,
            "type": self.TYPE_NAME,
        }
        for name, kind in self.FIELDS:
            d[name] = kind.to_json(self.suite, getattr(self, name))
        return d

    @classmethod
    def from_dict(cls: type[S], d: Mapping[str, Any]) -> S:
        if not isinstance(d, Mapping):
            raise FrostDecodeError(f"{cls.TYPE_NAME}: expected a JSON object")
        expected = {"version", "ciphersuite", "type", *(name for name, _ in cls.FIELDS)}
        unknown = set(d) - expected
        if unknown:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: unknown fields {sorted(unknown)}")
        missing = expected - set(d)
        if missing:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: missing fields {sorted(missing)}")
        if d["version"] != FORMAT_VERSION or type(d["version"]) is not int:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: unsupported format version")
        if d["type"] != cls.TYPE_NAME:
            raise FrostDecodeError(f"expected a {cls.TYPE_NAME}, got {d['type']!r}")
        if not isinstance(d["ciphersuite"], str):
            raise FrostDecodeError(f"{cls.TYPE_NAME}.ciphersuite: expected a name")
        try:
            suite = ciphersuite(d["ciphersuite"])
        except UnknownCiphersuiteError as exc:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: {exc.message}") from None
        values = {
            name: kind.from_json(suite, d[name], f"{cls.TYPE_NAME}.{name}")
            for name, kind in cls.FIELDS
        }
        return cls._build(suite, values)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls: type[S], text: str | bytes) -> S:
        try:
            if isinstance(text, bytes | bytearray):
                text = bytes(text).decode(json.detect_encoding(text), "surrogatepass")
            _check_json_depth(text)
            d = json.loads(text, object_pairs_hook=_unique_keys)
        except FrostDecodeError as exc:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: {exc.message}") from None
        except (ValueError, TypeError, RecursionError) as exc:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: not JSON ({exc})") from None
        return cls.from_dict(d)

    @classmethod
    def _build(cls: type[S], suite: Ciphersuite, values: dict[str, Any]) -> S:
        try:
            return cls(suite, **values)  # type: ignore[call-arg]
        except DecodeError:
            raise
        except (ValueError, TypeError) as exc:
            raise FrostDecodeError(f"{cls.TYPE_NAME}: {exc}") from None

    def _field_values(self) -> tuple[Any, ...]:
        return (self.suite.name, *(getattr(self, name) for name, _ in self.FIELDS))


class PublicSerializable(Serializable):
    """A serializable object that carries no secret: equal and hashed by its canonical encoding."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())


class SecretSerializable(Serializable):
    """A serializable object that carries secret material.

    Equality compares the canonical encodings in constant time; the objects
    are unhashable, so a secret never becomes a dict key or a set member by
    accident. Subclasses write a ``__repr__`` that redacts the secret.
    """

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, SecretSerializable)
        return hmac.compare_digest(self.to_bytes(), other.to_bytes())

    __hash__ = None  # type: ignore[assignment]


def decode_any(data: bytes) -> Serializable:
    """Decode any cosigner FROST object from its canonical bytes, by its type byte."""
    if not isinstance(data, bytes | bytearray) or len(data) < 3:
        raise FrostDecodeError("encoding too short to carry a header")
    cls = _REGISTRY.get(data[2])
    if cls is None:
        raise FrostDecodeError(f"unknown object type {data[2]}")
    return cls.from_bytes(data)
