"""Key authorizations: a root key provisions an access key (``key_authorization.rs``).

::

    rlp([chain_id u64, key_type (0 secp256k1, 1 p256, 2 webAuthn), key_id(20),
         expiry?, limits?, allowed_calls?, witness?, is_admin?, account?])

The trailing fields are optional (``#[rlp(trailing(canonical))]``): absent trailing fields
are omitted, an absent field followed by a present one is empty (``0x80``), and the last
field written is never empty. ``expiry`` is a non-zero u64; ``limits`` is
``[[token, limit u256, period?], ...]`` with ``period`` omitted when 0 (absent limits mean
unlimited spending, an empty list means none); ``allowed_calls`` is
``[[target, [[selector(4), [recipient, ...]], ...]], ...]`` (absent means any call);
``witness`` is 32 bytes; ``is_admin`` is the integer 1; ``account`` an address.

The root key signs ``keccak256(rlp(authorization))``, no type byte. Attached to a
transaction it is ``rlp([authorization, signature])`` with a primitive (not keychain)
signature envelope.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosigner.chains.errors import PayloadError
from cosigner.chains.evm.values import int_to_min_bytes, keccak256, rlp_encode
from cosigner.chains.tempo.signature import (
    KEY_TYPES,
    PrimitiveSignature,
    check_signature,
    decode_primitive,
    encode_signature,
)
from cosigner.chains.tempo.wire import (
    RlpItem,
    as_address,
    as_bytes,
    as_fixed,
    as_list,
    as_uint,
    check_address,
    check_bytes,
    check_timestamp,
    check_uint,
    rlp_decode,
)


@dataclass(frozen=True, slots=True)
class TokenLimit:
    """A TIP-20 spending limit; ``period`` > 0 resets it every ``period`` seconds."""

    token: bytes
    limit: int
    period: int = 0


@dataclass(frozen=True, slots=True)
class SelectorRule:
    """A 4-byte selector; ``recipients`` (empty = any) bounds its first address argument."""

    selector: bytes
    recipients: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class CallScope:
    """A contract the key may call; no selector rules means any selector."""

    target: bytes
    selector_rules: tuple[SelectorRule, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyAuthorization:
    """Provisions the access key ``key_id``; ``None`` fields are absent on the wire."""

    chain_id: int
    key_type: str
    key_id: bytes
    expiry: int | None = None
    limits: tuple[TokenLimit, ...] | None = None
    allowed_calls: tuple[CallScope, ...] | None = None
    witness: bytes | None = None
    is_admin: bool = False
    account: bytes | None = None

    def signature_hash(self) -> bytes:
        """``keccak256(rlp(authorization))``: what the root key signs."""
        return keccak256(encode_key_authorization(self))


@dataclass(frozen=True, slots=True)
class SignedKeyAuthorization:
    authorization: KeyAuthorization
    signature: PrimitiveSignature


def check_key_authorization(auth: KeyAuthorization, path: str) -> None:
    check_uint(auth.chain_id, f"{path}.chainId", 64)
    if auth.key_type not in KEY_TYPES:
        raise PayloadError(f"{path}.keyType", f"the key type is one of {', '.join(KEY_TYPES)}")
    check_address(auth.key_id, f"{path}.keyId")
    check_timestamp(auth.expiry, f"{path}.expiry")
    for i, limit in enumerate(auth.limits or ()):
        check_address(limit.token, f"{path}.limits[{i}].token")
        check_uint(limit.limit, f"{path}.limits[{i}].limit", 256)
        check_uint(limit.period, f"{path}.limits[{i}].period", 64)
    for i, scope in enumerate(auth.allowed_calls or ()):
        check_address(scope.target, f"{path}.allowedCalls[{i}].target")
        for j, rule in enumerate(scope.selector_rules):
            rule_path = f"{path}.allowedCalls[{i}].selectorRules[{j}]"
            check_bytes(rule.selector, f"{rule_path}.selector", 4)
            for k, recipient in enumerate(rule.recipients):
                check_address(recipient, f"{rule_path}.recipients[{k}]")
    if auth.witness is not None:
        check_bytes(auth.witness, f"{path}.witness", 32)
    if auth.account is not None:
        check_address(auth.account, f"{path}.account")


def key_authorization_item(auth: KeyAuthorization, path: str = "keyAuthorization") -> RlpItem:
    check_key_authorization(auth, path)
    limits: RlpItem | None = None
    if auth.limits is not None:
        limits = []
        for limit in auth.limits:
            entry: list[RlpItem] = [limit.token, int_to_min_bytes(limit.limit)]
            if limit.period:
                entry.append(int_to_min_bytes(limit.period))
            limits.append(entry)
    allowed_calls: RlpItem | None = None
    if auth.allowed_calls is not None:
        allowed_calls = [
            [
                scope.target,
                [[rule.selector, list(rule.recipients)] for rule in scope.selector_rules],
            ]
            for scope in auth.allowed_calls
        ]
    trailing: list[RlpItem | None] = [
        None if auth.expiry is None else int_to_min_bytes(auth.expiry),
        limits,
        allowed_calls,
        auth.witness,
        b"\x01" if auth.is_admin else None,
        auth.account,
    ]
    while trailing and trailing[-1] is None:
        trailing.pop()
    head: list[RlpItem] = [
        int_to_min_bytes(auth.chain_id),
        int_to_min_bytes(KEY_TYPES.index(auth.key_type)),
        auth.key_id,
    ]
    return head + [b"" if item is None else item for item in trailing]


def encode_key_authorization(auth: KeyAuthorization) -> bytes:
    """``rlp(authorization)``; its keccak256 is what the root key signs."""
    return rlp_encode(key_authorization_item(auth))


def signed_key_authorization_item(
    signed: SignedKeyAuthorization, path: str = "keyAuthorization"
) -> RlpItem:
    check_signature(signed.signature, f"{path}.signature", allow_keychain=False)
    return [key_authorization_item(signed.authorization, path), encode_signature(signed.signature)]


def encode_signed_key_authorization(signed: SignedKeyAuthorization) -> bytes:
    return rlp_encode(signed_key_authorization_item(signed))


_TRAILING = ("expiry", "limits", "allowedCalls", "witness", "isAdmin", "account")


def parse_key_authorization_item(item: RlpItem, path: str) -> KeyAuthorization:
    fields = as_list(item, path)
    if not 3 <= len(fields) <= 3 + len(_TRAILING):
        raise PayloadError(path, f"a key authorization has 3 to 9 fields, found {len(fields)}")
    key_type = as_uint(fields[1], f"{path}.keyType", 8)
    if key_type >= len(KEY_TYPES):
        raise PayloadError(f"{path}.keyType", f"unknown key type {key_type}")
    trailing = fields[3:]
    if trailing and trailing[-1] == b"":
        raise PayloadError(
            f"{path}.{_TRAILING[len(trailing) - 1]}",
            "an absent last field is omitted, not written empty (not canonical)",
        )
    present = {
        name: value for name, value in zip(_TRAILING, trailing, strict=False) if value != b""
    }
    limits = allowed_calls = witness = account = None
    expiry = None
    if "expiry" in present:
        expiry = as_uint(present["expiry"], f"{path}.expiry", 64)
    if "limits" in present:
        limits = tuple(
            _parse_token_limit(entry, f"{path}.limits[{i}]")
            for i, entry in enumerate(as_list(present["limits"], f"{path}.limits"))
        )
    if "allowedCalls" in present:
        allowed_calls = tuple(
            _parse_call_scope(entry, f"{path}.allowedCalls[{i}]")
            for i, entry in enumerate(as_list(present["allowedCalls"], f"{path}.allowedCalls"))
        )
    if "witness" in present:
        witness = as_fixed(present["witness"], f"{path}.witness", 32, "a witness")
    if "isAdmin" in present and as_uint(present["isAdmin"], f"{path}.isAdmin", 64) != 1:
        raise PayloadError(f"{path}.isAdmin", "the admin marker is the integer 1")
    if "account" in present:
        account = as_address(present["account"], f"{path}.account")
    return KeyAuthorization(
        chain_id=as_uint(fields[0], f"{path}.chainId", 64),
        key_type=KEY_TYPES[key_type],
        key_id=as_address(fields[2], f"{path}.keyId"),
        expiry=expiry,
        limits=limits,
        allowed_calls=allowed_calls,
        witness=witness,
        is_admin="isAdmin" in present,
        account=account,
    )


def _parse_token_limit(item: RlpItem, path: str) -> TokenLimit:
    fields = as_list(item, path)
    if len(fields) not in (2, 3):
        raise PayloadError(path, f"a token limit has 2 or 3 fields, found {len(fields)}")
    period = 0
    if len(fields) == 3:
        period = as_uint(fields[2], f"{path}.period", 64)
        if period == 0:
            raise PayloadError(f"{path}.period", "a zero period is omitted (not canonical)")
    return TokenLimit(
        as_address(fields[0], f"{path}.token"), as_uint(fields[1], f"{path}.limit", 256), period
    )


def _parse_call_scope(item: RlpItem, path: str) -> CallScope:
    fields = as_list(item, path)
    if len(fields) != 2:
        raise PayloadError(path, f"a call scope is [target, selectorRules], found {len(fields)}")
    rules = []
    for i, rule_item in enumerate(as_list(fields[1], f"{path}.selectorRules")):
        rule_path = f"{path}.selectorRules[{i}]"
        rule = as_list(rule_item, rule_path)
        if len(rule) != 2:
            raise PayloadError(rule_path, f"a selector rule has 2 fields, found {len(rule)}")
        recipients = tuple(
            as_address(r, f"{rule_path}.recipients[{k}]")
            for k, r in enumerate(as_list(rule[1], f"{rule_path}.recipients"))
        )
        rules.append(
            SelectorRule(as_fixed(rule[0], f"{rule_path}.selector", 4, "a selector"), recipients)
        )
    return CallScope(as_address(fields[0], f"{path}.target"), tuple(rules))


def parse_signed_key_authorization_item(item: RlpItem, path: str) -> SignedKeyAuthorization:
    fields = as_list(item, path)
    if len(fields) != 2:
        raise PayloadError(path, "a signed key authorization is [authorization, signature]")
    auth = parse_key_authorization_item(fields[0], path)
    signature = decode_primitive(as_bytes(fields[1], f"{path}.signature"), f"{path}.signature")
    return SignedKeyAuthorization(auth, signature)


def decode_key_authorization(data: bytes, path: str = "keyAuthorization") -> KeyAuthorization:
    """Parse ``rlp(authorization)``; PayloadError naming the field on malformed input."""
    return parse_key_authorization_item(rlp_decode(data, path), path)


def decode_signed_key_authorization(
    data: bytes, path: str = "keyAuthorization"
) -> SignedKeyAuthorization:
    """Parse ``rlp([authorization, signature])``."""
    return parse_signed_key_authorization_item(rlp_decode(data, path), path)
