"""A Tempo transaction as JSON payload fields, both ways.

Names are the Tempo node's serde names (camelCase, as its RPC and ox write them):
``chainId``, ``maxPriorityFeePerGas``, ``maxFeePerGas``, ``gas``, ``calls``
(``{to, value, input}``; ``data`` is accepted for ``input``), ``accessList``, ``nonceKey``,
``nonce``, ``validBefore``, ``validAfter``, ``feeToken``, ``feePayer`` (sponsored: true or
false), ``feePayerSignature`` (``{yParity, r, s}``), ``aaAuthorizationList``
(``{chainId, address, nonce, signature}``) and ``keyAuthorization`` (``{chainId, keyType,
keyId, expiry, limits, allowedCalls, witness, isAdmin, account, signature}``). Signatures
inside the transaction are written as their Tempo envelope in 0x-hex.

Values are parsed by :mod:`cosigner.chains.evm.values` (integers as numbers or decimal /
0x-hex strings, EIP-55 checked addresses, 0x-hex bytes) and written in its normal form
(decimal strings, checksummed addresses, lowercase hex), which these parsers read back.
Unknown fields are refused: a misspelt field that fell back to a default would change what
is signed without anyone seeing it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cosigner.chains.errors import PayloadError
from cosigner.chains.evm.values import (
    expect_list,
    expect_mapping,
    hex32,
    hex_text,
    index_path,
    join_path,
    parse_address,
    parse_hex_bytes,
    parse_uint,
    reject_unknown,
    required,
    to_checksum_address,
)
from cosigner.chains.payload import expect_bool
from cosigner.chains.tempo.authorization import TempoAuthorization
from cosigner.chains.tempo.key_authorization import (
    CallScope,
    KeyAuthorization,
    SelectorRule,
    SignedKeyAuthorization,
    TokenLimit,
)
from cosigner.chains.tempo.signature import (
    KEY_TYPES,
    TempoSignature,
    decode_primitive,
    decode_signature,
    encode_signature,
)
from cosigner.chains.tempo.transaction import (
    AccessListItem,
    Call,
    FeePayerSignature,
    TempoTransaction,
    validate_transaction,
)

TRANSACTION_FIELDS = frozenset(
    (
        "chainId",
        "maxPriorityFeePerGas",
        "maxFeePerGas",
        "gas",
        "calls",
        "accessList",
        "nonceKey",
        "nonce",
        "validBefore",
        "validAfter",
        "feeToken",
        "feePayer",
        "feePayerSignature",
        "aaAuthorizationList",
        "keyAuthorization",
    )
)
_HINTS = {
    "gasLimit": "use 'gas' for the gas limit",
    "chain_id": "use 'chainId'",
    "authorizationList": "use 'aaAuthorizationList' (Tempo signatures)",
    "to": "a Tempo transaction carries its calls in 'calls'",
    "data": "a Tempo transaction carries its calls in 'calls'",
    "value": "a Tempo transaction carries its calls in 'calls'",
    "type": "a Tempo transaction is always type 0x76; leave 'type' out",
}


def address(value: Any, path: str) -> bytes:
    return parse_address(value, path)[0]


def opt_address(value: Any, path: str) -> bytes | None:
    return None if value is None else address(value, path)


def timestamp(value: Any, path: str) -> int | None:
    """An optional bound in Unix seconds; 0 cannot be written (null means no bound)."""
    if value is None:
        return None
    number = parse_uint(value, path, 64)
    if number == 0:
        raise PayloadError(path, "0 is not a bound; use null for no bound")
    return number


def signature_field(value: Any, path: str, *, allow_keychain: bool = True) -> TempoSignature:
    """A Tempo signature envelope in 0x-hex."""
    return decode_signature(parse_hex_bytes(value, path), path, allow_keychain=allow_keychain)


def _call(value: Any, path: str) -> Call:
    mapping = expect_mapping(value, path, "a call {to, value, input}")
    reject_unknown(mapping, frozenset(("to", "value", "input", "data")), path, "a call")
    if "input" in mapping and "data" in mapping:
        raise PayloadError(join_path(path, "data"), "give input or data, not both")
    key = "data" if "data" in mapping else "input"
    return Call(
        opt_address(mapping.get("to"), join_path(path, "to")),
        parse_uint(mapping.get("value", 0), join_path(path, "value")),
        parse_hex_bytes(mapping.get(key, "0x"), join_path(path, key)),
    )


def _access_list(value: Any, path: str) -> tuple[AccessListItem, ...]:
    out = []
    for i, entry in enumerate(expect_list(value, path, "an access list")):
        entry_path = index_path(path, i)
        item = expect_mapping(entry, entry_path, "an access list entry {address, storageKeys}")
        reject_unknown(item, frozenset(("address", "storageKeys")), entry_path, "an entry")
        keys_path = join_path(entry_path, "storageKeys")
        keys = expect_list(item.get("storageKeys", []), keys_path, "storage keys")
        out.append(
            AccessListItem(
                address(required(item, "address", entry_path), join_path(entry_path, "address")),
                tuple(parse_hex_bytes(k, index_path(keys_path, j), 32) for j, k in enumerate(keys)),
            )
        )
    return tuple(out)


def _fee_payer_signature(value: Any, path: str) -> FeePayerSignature | None:
    if value is None:
        return None
    mapping = expect_mapping(value, path, "a signature {yParity, r, s}")
    reject_unknown(mapping, frozenset(("yParity", "r", "s")), path, "a fee payer signature")
    y_parity = parse_uint(required(mapping, "yParity", path), join_path(path, "yParity"), 8)
    if y_parity > 1:
        raise PayloadError(join_path(path, "yParity"), "y parity is 0 or 1")
    return FeePayerSignature(
        y_parity,
        parse_uint(required(mapping, "r", path), join_path(path, "r")),
        parse_uint(required(mapping, "s", path), join_path(path, "s")),
    )


def _aa_authorization_list(value: Any, path: str) -> tuple[TempoAuthorization, ...]:
    out = []
    for i, entry in enumerate(expect_list(value, path, "an AA authorization list")):
        p = index_path(path, i)
        item = expect_mapping(entry, p, "an authorization {chainId, address, nonce, signature}")
        reject_unknown(
            item, frozenset(("chainId", "address", "nonce", "signature")), p, "an authorization"
        )
        out.append(
            TempoAuthorization(
                parse_uint(required(item, "chainId", p), join_path(p, "chainId")),
                address(required(item, "address", p), join_path(p, "address")),
                parse_uint(required(item, "nonce", p), join_path(p, "nonce"), 64),
                signature_field(required(item, "signature", p), join_path(p, "signature")),
            )
        )
    return tuple(out)


def _limits(value: Any, path: str) -> tuple[TokenLimit, ...] | None:
    if value is None:
        return None
    out = []
    for i, entry in enumerate(expect_list(value, path, "token limits")):
        p = index_path(path, i)
        item = expect_mapping(entry, p, "a token limit {token, limit, period}")
        reject_unknown(item, frozenset(("token", "limit", "period")), p, "a token limit")
        out.append(
            TokenLimit(
                address(required(item, "token", p), join_path(p, "token")),
                parse_uint(required(item, "limit", p), join_path(p, "limit")),
                parse_uint(item.get("period", 0), join_path(p, "period"), 64),
            )
        )
    return tuple(out)


def _allowed_calls(value: Any, path: str) -> tuple[CallScope, ...] | None:
    if value is None:
        return None
    scopes = []
    for i, entry in enumerate(expect_list(value, path, "call scopes")):
        p = index_path(path, i)
        scope = expect_mapping(entry, p, "a call scope {target, selectorRules}")
        reject_unknown(scope, frozenset(("target", "selectorRules")), p, "a call scope")
        rules_path = join_path(p, "selectorRules")
        rules = []
        for j, rule_entry in enumerate(
            expect_list(scope.get("selectorRules", []), rules_path, "selector rules")
        ):
            rp = index_path(rules_path, j)
            rule = expect_mapping(rule_entry, rp, "a selector rule {selector, recipients}")
            reject_unknown(rule, frozenset(("selector", "recipients")), rp, "a selector rule")
            recipients_path = join_path(rp, "recipients")
            recipients = expect_list(rule.get("recipients", []), recipients_path, "addresses")
            rules.append(
                SelectorRule(
                    parse_hex_bytes(required(rule, "selector", rp), join_path(rp, "selector"), 4),
                    tuple(
                        address(r, index_path(recipients_path, k)) for k, r in enumerate(recipients)
                    ),
                )
            )
        scopes.append(
            CallScope(address(required(scope, "target", p), join_path(p, "target")), tuple(rules))
        )
    return tuple(scopes)


_KEY_AUTHORIZATION_FIELDS = frozenset(
    (
        "chainId",
        "keyType",
        "keyId",
        "expiry",
        "limits",
        "allowedCalls",
        "witness",
        "isAdmin",
        "account",
        "signature",
    )
)


def key_authorization_from_fields(value: Any, path: str) -> SignedKeyAuthorization:
    mapping = expect_mapping(value, path, "a signed key authorization")
    reject_unknown(mapping, _KEY_AUTHORIZATION_FIELDS, path, "a key authorization")
    key_type = required(mapping, "keyType", path)
    if key_type not in KEY_TYPES:
        raise PayloadError(join_path(path, "keyType"), f"the key type is one of {KEY_TYPES}")
    witness = mapping.get("witness")
    auth = KeyAuthorization(
        chain_id=parse_uint(required(mapping, "chainId", path), join_path(path, "chainId"), 64),
        key_type=key_type,
        key_id=address(required(mapping, "keyId", path), join_path(path, "keyId")),
        expiry=timestamp(mapping.get("expiry"), join_path(path, "expiry")),
        limits=_limits(mapping.get("limits"), join_path(path, "limits")),
        allowed_calls=_allowed_calls(mapping.get("allowedCalls"), join_path(path, "allowedCalls")),
        witness=None
        if witness is None
        else parse_hex_bytes(witness, join_path(path, "witness"), 32),
        is_admin=expect_bool(mapping.get("isAdmin", False), join_path(path, "isAdmin")),
        account=opt_address(mapping.get("account"), join_path(path, "account")),
    )
    signature_path = join_path(path, "signature")
    signature = decode_primitive(
        parse_hex_bytes(required(mapping, "signature", path), signature_path), signature_path
    )
    return SignedKeyAuthorization(auth, signature)


def transaction_from_fields(
    payload: Mapping[str, Any], extra_fields: Sequence[str] = ()
) -> TempoTransaction:
    """The transaction that ``payload`` describes (as :func:`transaction_fields` writes it).

    ``extra_fields`` are the other top-level fields the caller reads from the same payload;
    any other unknown field is refused.
    """
    mapping = expect_mapping(payload, "", "a Tempo transaction payload (a JSON object)")
    reject_unknown(
        mapping, TRANSACTION_FIELDS | frozenset(extra_fields), "", "a Tempo transaction", _HINTS
    )
    calls = expect_list(required(mapping, "calls", ""), "calls", "calls")
    key_authorization = mapping.get("keyAuthorization")
    tx = TempoTransaction(
        chain_id=parse_uint(required(mapping, "chainId", ""), "chainId", 64),
        calls=tuple(_call(call, index_path("calls", i)) for i, call in enumerate(calls)),
        max_priority_fee_per_gas=parse_uint(
            mapping.get("maxPriorityFeePerGas", 0), "maxPriorityFeePerGas", 128
        ),
        max_fee_per_gas=parse_uint(mapping.get("maxFeePerGas", 0), "maxFeePerGas", 128),
        gas_limit=parse_uint(mapping.get("gas", 0), "gas", 64),
        access_list=_access_list(mapping.get("accessList", []), "accessList"),
        nonce_key=parse_uint(mapping.get("nonceKey", 0), "nonceKey"),
        nonce=parse_uint(mapping.get("nonce", 0), "nonce", 64),
        valid_before=timestamp(mapping.get("validBefore"), "validBefore"),
        valid_after=timestamp(mapping.get("validAfter"), "validAfter"),
        fee_token=opt_address(mapping.get("feeToken"), "feeToken"),
        fee_payer=expect_bool(mapping.get("feePayer", False), "feePayer"),
        fee_payer_signature=_fee_payer_signature(
            mapping.get("feePayerSignature"), "feePayerSignature"
        ),
        aa_authorization_list=_aa_authorization_list(
            mapping.get("aaAuthorizationList", []), "aaAuthorizationList"
        ),
        key_authorization=None
        if key_authorization is None
        else key_authorization_from_fields(key_authorization, "keyAuthorization"),
    )
    validate_transaction(tx)
    return tx


# -- fields out --------------------------------------------------------------------------------


def _opt_checksum(data: bytes | None) -> str | None:
    return None if data is None else to_checksum_address(data)


def _opt_decimal(value: int | None) -> str | None:
    return None if value is None else str(value)


def key_authorization_fields(signed: SignedKeyAuthorization) -> dict[str, Any]:
    auth = signed.authorization
    limits = None
    if auth.limits is not None:
        limits = [
            {"token": to_checksum_address(x.token), "limit": str(x.limit), "period": str(x.period)}
            for x in auth.limits
        ]
    allowed_calls = None
    if auth.allowed_calls is not None:
        allowed_calls = [
            {
                "target": to_checksum_address(scope.target),
                "selectorRules": [
                    {
                        "selector": hex_text(rule.selector),
                        "recipients": [to_checksum_address(r) for r in rule.recipients],
                    }
                    for rule in scope.selector_rules
                ],
            }
            for scope in auth.allowed_calls
        ]
    return {
        "chainId": str(auth.chain_id),
        "keyType": auth.key_type,
        "keyId": to_checksum_address(auth.key_id),
        "expiry": _opt_decimal(auth.expiry),
        "limits": limits,
        "allowedCalls": allowed_calls,
        "witness": None if auth.witness is None else hex_text(auth.witness),
        "isAdmin": auth.is_admin,
        "account": _opt_checksum(auth.account),
        "signature": hex_text(encode_signature(signed.signature)),
    }


def transaction_fields(tx: TempoTransaction) -> dict[str, Any]:
    """Every field of ``tx`` as plain JSON in the normal form; the parsers read it back."""
    fee_payer_signature = None
    if tx.fee_payer_signature is not None:
        sig = tx.fee_payer_signature
        fee_payer_signature = {"yParity": sig.y_parity, "r": hex32(sig.r), "s": hex32(sig.s)}
    return {
        "chainId": str(tx.chain_id),
        "maxPriorityFeePerGas": str(tx.max_priority_fee_per_gas),
        "maxFeePerGas": str(tx.max_fee_per_gas),
        "gas": str(tx.gas_limit),
        "calls": [
            {"to": _opt_checksum(c.to), "value": str(c.value), "input": hex_text(c.input)}
            for c in tx.calls
        ],
        "accessList": [
            {
                "address": to_checksum_address(a.address),
                "storageKeys": [hex_text(k) for k in a.storage_keys],
            }
            for a in tx.access_list
        ],
        "nonceKey": str(tx.nonce_key),
        "nonce": str(tx.nonce),
        "validBefore": _opt_decimal(tx.valid_before),
        "validAfter": _opt_decimal(tx.valid_after),
        "feeToken": _opt_checksum(tx.fee_token),
        "feePayer": tx.fee_payer,
        "feePayerSignature": fee_payer_signature,
        "aaAuthorizationList": [
            {
                "chainId": str(a.chain_id),
                "address": to_checksum_address(a.address),
                "nonce": str(a.nonce),
                "signature": hex_text(encode_signature(a.signature)),
            }
            for a in tx.aa_authorization_list
        ],
        "keyAuthorization": None
        if tx.key_authorization is None
        else key_authorization_fields(tx.key_authorization),
    }
