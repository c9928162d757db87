"""EIP-712 typed structured data: validate, normalize, hash.

Follows https://eips.ethereum.org/EIPS/eip-712:

* ``encodeType(T)`` is ``T(type1 name1,...)`` followed by every struct type
  ``T`` references, directly or through arrays and other structs, each once,
  sorted by name; ``typeHash = keccak(encodeType)``;
* ``hashStruct(s) = keccak(typeHash || encodeData(s))``, where each member
  encodes to 32 bytes: ``uintN``/``intN`` big-endian two's complement,
  ``bool`` as 0 or 1, ``address`` left-padded, ``bytesN`` right-padded,
  ``string`` and ``bytes`` as keccak of their bytes, a struct as its
  ``hashStruct``, and an array (``T[]`` or ``T[n]``, nested arrays included)
  as keccak of its members' encodings concatenated;
* ``digest = keccak(0x19 0x01 || hashStruct(domain) || hashStruct(message))``,
  the EIP-191 version 0x01 envelope.

The payload is the ``eth_signTypedData_v4`` JSON: ``types``, ``primaryType``,
``domain`` and ``message`` (plus an optional ``from`` that ``finalize``
checks). When ``types`` has no ``EIP712Domain``, it is derived from the
domain's keys in the order the EIP lists them (name, version, chainId,
verifyingContract, salt), as eth-account and ethers do, and written into the
normal form. Rules that keep the signed bytes unambiguous for the reviewer:

* type and member names are identifiers, so ``encodeType`` parses back;
* every member of a struct must be given, and no undeclared key is accepted
  (an ignored key would be a hidden field);
* ``bytesN`` values are exactly N bytes (no silent padding), ``bool`` is a
  JSON boolean, integers are range-checked against their N bits, fixed-size
  arrays have exactly their length.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cosigner.chains.errors import PayloadError
from cosigner.chains.evm.values import (
    UINT256_MAX,
    chain_text,
    describe,
    expect_list,
    expect_mapping,
    hex_text,
    index_path,
    join_path,
    keccak256,
    parse_address,
    parse_hex_bytes,
    parse_int,
    parse_uint,
    reject_unknown,
    required,
)

EIP712_PREFIX = b"\x19\x01"
DOMAIN_TYPE = "EIP712Domain"
DOMAIN_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "string"),
    ("version", "string"),
    ("chainId", "uint256"),
    ("verifyingContract", "address"),
    ("salt", "bytes32"),
)
"""EIP-712's domain fields, in the order the EIP lists them."""

MAX_DEPTH = 64
"""Nesting of structs and arrays in one value, far beyond any real use."""

_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*\Z")
_PAYLOAD_KEYS = frozenset(("types", "primaryType", "domain", "message", "from"))
_MEMBER_KEYS = frozenset(("name", "type"))
_FALSE_WORD = bytes(32)
_TRUE_WORD = bytes(31) + b"\x01"

# A parsed member type: ("uint", bits) ("int", bits) ("bool",) ("address",)
# ("fixed_bytes", n) ("bytes",) ("string",) ("struct", name) ("array", element, length|None)
TypeSpec = tuple[Any, ...]

_ATOMIC: dict[str, TypeSpec] = {"bool": ("bool",), "address": ("address",)}
_ATOMIC.update({f"uint{b}": ("uint", b) for b in range(8, 257, 8)})
_ATOMIC.update({f"int{b}": ("int", b) for b in range(8, 257, 8)})
_ATOMIC.update({f"bytes{n}": ("fixed_bytes", n) for n in range(1, 33)})
_ATOMIC.update({"bytes": ("bytes",), "string": ("string",)})
_RESERVED = frozenset(_ATOMIC) | {"uint", "int", "byte", "function", "fixed", "ufixed"}


@dataclass(frozen=True, slots=True)
class TypedData:
    """A validated typed-data payload: its normal form and its hashes."""

    fields: dict[str, Any]
    primary_type: str
    domain_separator: bytes
    struct_hash: bytes
    digest: bytes
    encoder: TypedDataEncoder


class TypedDataEncoder:
    """The struct types of one payload, with their encodeType and typeHash cached."""

    def __init__(self, structs: dict[str, list[tuple[str, str, TypeSpec]]]) -> None:
        self.structs = structs
        self._type_hashes: dict[str, bytes] = {}

    @classmethod
    def from_json(cls, types: Mapping[str, Any], path: str = "types") -> TypedDataEncoder:
        """Validate ``{"Name": [{"name": ..., "type": ...}, ...], ...}``."""
        members: dict[str, list[tuple[str, str]]] = {}
        for type_name, entries in types.items():
            if not isinstance(type_name, str):
                raise PayloadError(path, f"type names must be strings, got {describe(type_name)}")
            type_path = join_path(path, type_name)
            if not _IDENTIFIER.match(type_name):
                raise PayloadError(
                    type_path, "a type name must be an identifier ([A-Za-z_$][A-Za-z0-9_$]*)"
                )
            if type_name in _RESERVED:
                raise PayloadError(type_path, f"{type_name!r} is an atomic type, not a struct name")
            seen: set[str] = set()
            parsed: list[tuple[str, str]] = []
            for index, entry in enumerate(
                expect_list(entries, type_path, "a list of {name, type}")
            ):
                entry_path = index_path(type_path, index)
                member = expect_mapping(entry, entry_path, "a member {name, type}")
                reject_unknown(member, _MEMBER_KEYS, entry_path, "struct members")
                name = required(member, "name", entry_path)
                kind = required(member, "type", entry_path)
                if not isinstance(name, str) or not _IDENTIFIER.match(name):
                    raise PayloadError(
                        join_path(entry_path, "name"), "a member name must be an identifier"
                    )
                if name in seen:
                    raise PayloadError(join_path(entry_path, "name"), f"duplicate member {name!r}")
                if not isinstance(kind, str):
                    raise PayloadError(
                        join_path(entry_path, "type"), f"expected a type name, got {describe(kind)}"
                    )
                seen.add(name)
                parsed.append((name, kind))
            members[type_name] = parsed
        structs: dict[str, list[tuple[str, str, TypeSpec]]] = {}
        for type_name, parsed in members.items():
            structs[type_name] = [
                (
                    name,
                    kind,
                    _parse_type(
                        kind, members, join_path(index_path(join_path(path, type_name), i), "type")
                    ),
                )
                for i, (name, kind) in enumerate(parsed)
            ]
        return cls(structs)

    def to_json(self) -> dict[str, list[dict[str, str]]]:
        return {
            type_name: [{"name": name, "type": kind} for name, kind, _ in members]
            for type_name, members in self.structs.items()
        }

    def dependencies(self, type_name: str) -> list[str]:
        """Every struct ``type_name`` references, transitively, itself excluded, sorted."""
        found: set[str] = set()
        stack = [type_name]
        while stack:
            for _, _, spec in self.structs[stack.pop()]:
                while spec[0] == "array":
                    spec = spec[1]
                if spec[0] == "struct" and spec[1] not in found:
                    found.add(spec[1])
                    stack.append(spec[1])
        found.discard(type_name)
        return sorted(found)

    def encode_type(self, type_name: str) -> str:
        return "".join(
            name
            + "("
            + ",".join(f"{kind} {member}" for member, kind, _ in self.structs[name])
            + ")"
            for name in [type_name, *self.dependencies(type_name)]
        )

    def type_hash(self, type_name: str) -> bytes:
        cached = self._type_hashes.get(type_name)
        if cached is None:
            cached = keccak256(self.encode_type(type_name).encode("ascii"))
            self._type_hashes[type_name] = cached
        return cached

    def hash_struct(
        self, type_name: str, value: Any, path: str, depth: int = 0
    ) -> tuple[bytes, dict[str, Any]]:
        """``hashStruct`` of ``value`` as ``type_name``, and its normal form."""
        if depth > MAX_DEPTH:
            raise PayloadError(path, f"nested more than {MAX_DEPTH} levels deep")
        mapping = expect_mapping(value, path, f"a {type_name} object")
        members = self.structs[type_name]
        if len(mapping) != len(members):
            allowed = frozenset(name for name, _, _ in members)
            reject_unknown(mapping, allowed, path, type_name)
        parts = [self.type_hash(type_name)]
        normal: dict[str, Any] = {}
        for name, _, spec in members:
            member_path = join_path(path, name)
            if name not in mapping:
                raise PayloadError(member_path, f"is required (a member of {type_name})")
            word, normal[name] = self._encode(spec, mapping[name], member_path, depth)
            parts.append(word)
        return keccak256(b"".join(parts)), normal

    def _encode(self, spec: TypeSpec, value: Any, path: str, depth: int) -> tuple[bytes, Any]:
        kind = spec[0]
        if kind == "uint":
            number = parse_uint(value, path, spec[1])
            return number.to_bytes(32, "big"), str(number)
        if kind == "address":
            raw, text = parse_address(value, path)
            return bytes(12) + raw, text
        if kind == "string":
            if not isinstance(value, str):
                raise PayloadError(path, f"expected a string, got {describe(value)}")
            try:
                return keccak256(value.encode("utf-8")), value
            except UnicodeEncodeError:
                raise PayloadError(path, "is not valid Unicode text (lone surrogate)") from None
        if kind == "struct":
            return self.hash_struct(spec[1], value, path, depth + 1)
        if kind == "fixed_bytes":
            data = parse_hex_bytes(value, path, spec[1])
            return data + bytes(32 - spec[1]), hex_text(data)
        if kind == "bytes":
            data = parse_hex_bytes(value, path)
            return keccak256(data), hex_text(data)
        if kind == "bool":
            if type(value) is not bool:
                raise PayloadError(path, f"expected true or false, got {describe(value)}")
            return (_TRUE_WORD if value else _FALSE_WORD), value
        if kind == "int":
            number = parse_int(value, path, spec[1])
            return (number & UINT256_MAX).to_bytes(32, "big"), str(number)
        # array
        if depth >= MAX_DEPTH:
            raise PayloadError(path, f"nested more than {MAX_DEPTH} levels deep")
        items = expect_list(value, path, "an array")
        length = spec[2]
        if length is not None and len(items) != length:
            raise PayloadError(path, f"expected exactly {length} items, got {len(items)}")
        words: list[bytes] = []
        normal: list[Any] = []
        element = spec[1]
        for index, item in enumerate(items):
            word, item_normal = self._encode(element, item, index_path(path, index), depth + 1)
            words.append(word)
            normal.append(item_normal)
        return keccak256(b"".join(words)), normal


def _parse_type(text: str, members: Mapping[str, Any], path: str) -> TypeSpec:
    if text.endswith("]"):
        opening = text.rfind("[")
        if opening <= 0:
            raise PayloadError(path, f"malformed array type {text!r}")
        size = text[opening + 1 : -1]
        length: int | None = None
        if size:
            if not (size.isascii() and size.isdigit()) or size[0] == "0" or len(size) > 9:
                raise PayloadError(path, f"malformed array length in {text!r}")
            length = int(size)
        return ("array", _parse_type(text[:opening], members, path), length)
    atomic = _ATOMIC.get(text)
    if atomic is not None:
        return atomic
    if text in members:
        return ("struct", text)
    raise PayloadError(
        path, f"unknown type {text!r}: not an EIP-712 atomic type nor a struct in types"
    )


def _domain_types(domain: Mapping[str, Any]) -> list[dict[str, str]]:
    known = dict(DOMAIN_FIELDS)
    for key in domain:
        if key not in known:
            name = key if isinstance(key, str) else repr(key)
            raise PayloadError(
                join_path("domain", name),
                "not a standard EIP712Domain field (name, version, chainId, verifyingContract, "
                "salt); declare types.EIP712Domain to use it",
            )
    return [{"name": n, "type": t} for n, t in DOMAIN_FIELDS if n in domain]


def parse_typed_data(payload: Mapping[str, Any]) -> TypedData:
    """Validate, normalize and hash an EIP-712 payload; raises PayloadError naming the field."""
    reject_unknown(payload, _PAYLOAD_KEYS, "", "typed data")
    types = expect_mapping(required(payload, "types", ""), "types", "a map of struct types")
    primary = required(payload, "primaryType", "")
    domain = expect_mapping(required(payload, "domain", ""), "domain", "the EIP712Domain object")
    message = expect_mapping(required(payload, "message", ""), "message", "the message object")
    if DOMAIN_TYPE not in types:
        types = {DOMAIN_TYPE: _domain_types(domain), **types}
    elif next(iter(types)) != DOMAIN_TYPE:
        types = {DOMAIN_TYPE: types[DOMAIN_TYPE], **types}
    encoder = TypedDataEncoder.from_json(types)
    if not isinstance(primary, str) or primary not in encoder.structs:
        raise PayloadError("primaryType", f"must name a struct in types, got {describe(primary)}")
    if primary == DOMAIN_TYPE:
        raise PayloadError("primaryType", "must name the message's struct, not EIP712Domain")
    domain_separator, domain_normal = encoder.hash_struct(DOMAIN_TYPE, domain, "domain")
    struct_hash, message_normal = encoder.hash_struct(primary, message, "message")
    digest = keccak256(EIP712_PREFIX + domain_separator + struct_hash)
    fields = {
        "types": encoder.to_json(),
        "primaryType": primary,
        "domain": domain_normal,
        "message": message_normal,
    }
    return TypedData(fields, primary, domain_separator, struct_hash, digest, encoder)


def describe_typed_data(data: TypedData) -> tuple[str, dict[str, Any]]:
    domain = data.fields["domain"]
    declared = {name: kind for name, kind, _ in data.encoder.structs[DOMAIN_TYPE]}
    shown: dict[str, Any] = {}
    for key, value in domain.items():
        if key == "chainId" and declared[key] == "uint256":
            shown["chain"] = chain_text(int(value))
        else:
            shown[key] = value
    display: dict[str, Any] = {
        "standard": "EIP-712 typed structured data",
        "domain": shown,
        "primaryType": data.primary_type,
        "domainSeparator": hex_text(data.domain_separator),
        "messageHash": hex_text(data.struct_hash),
        "digest": hex_text(data.digest),
    }
    warnings: list[str] = []
    if "chainId" not in domain:
        warnings.append("the domain has no chainId: the signature is valid on every chain")
    where = domain.get("name") or domain.get("verifyingContract") or "an unnamed domain"
    summary = f"sign {data.primary_type} typed data for {where}"
    if "verifyingContract" in domain and "name" in domain:
        summary += f" ({domain['verifyingContract']})"
    if "chainId" in domain:
        summary += f" on {shown.get('chain', 'chainId ' + str(domain['chainId']))}"
    permit = _describe_permit(data)
    if permit is not None:
        display["permit"] = permit
        summary = (
            f"EIP-2612 permit: {permit['spender']} may spend {permit['value']} of token "
            f"{permit['token']} owned by {permit['owner']}, until {permit['deadline']}"
        )
        if permit.get("warning"):
            warnings.append(permit["warning"])
    if warnings:
        display["warnings"] = warnings
    return summary, display


_PERMIT_MEMBERS = [
    ("owner", "address"),
    ("spender", "address"),
    ("value", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
]


def _describe_permit(data: TypedData) -> dict[str, Any] | None:
    """EIP-2612's Permit, the typed data most likely to move a person's tokens."""
    if data.primary_type != "Permit":
        return None
    members = [(name, kind) for name, kind, _ in data.encoder.structs["Permit"]]
    if members != _PERMIT_MEMBERS:
        return None
    message = data.fields["message"]
    value = int(message["value"])
    out: dict[str, Any] = {
        "token": data.fields["domain"].get("verifyingContract", "unknown (no verifyingContract)"),
        "owner": message["owner"],
        "spender": message["spender"],
        "value": f"{value} (token base units)",
        "nonce": message["nonce"],
        "deadline": f"unix time {message['deadline']}",
    }
    if value == UINT256_MAX:
        out["warning"] = "unlimited permit: the spender may move every token you hold"
    return out


__all__ = [
    "DOMAIN_FIELDS",
    "DOMAIN_TYPE",
    "TypedData",
    "TypedDataEncoder",
    "describe_typed_data",
    "parse_typed_data",
]
