"""EVM transactions: legacy (EIP-155), EIP-2930, EIP-1559 and EIP-7702.

Each type knows its fields, its signing preimage and its signed encoding:

* legacy, type 0 (Yellow Paper; EIP-155 https://eips.ethereum.org/EIPS/eip-155):
  signs ``keccak(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0]))``
  and is sent as ``rlp([..., v, r, s])`` with ``v = chainId * 2 + 35 + yParity``;
  without a chainId (an explicit ``null``) it signs the six fields alone and
  ``v = 27 + yParity``, a transaction every chain would accept;
* EIP-2930, type 1 (https://eips.ethereum.org/EIPS/eip-2930):
  ``[chainId, nonce, gasPrice, gas, to, value, data, accessList]``;
* EIP-1559, type 2 (https://eips.ethereum.org/EIPS/eip-1559):
  ``[chainId, nonce, maxPriorityFeePerGas, maxFeePerGas, gas, to, value,
  data, accessList]``;
* EIP-7702, type 4 (https://eips.ethereum.org/EIPS/eip-7702): the type-2
  fields and ``authorizationList``, a list of signed
  ``[chainId, address, nonce, yParity, r, s]``.

A typed transaction (EIP-2718 https://eips.ethereum.org/EIPS/eip-2718) signs
``keccak(type || rlp(fields))`` and is sent as
``type || rlp(fields + [yParity, r, s])``; its hash is keccak of those bytes.

The payload uses the JSON-RPC field names (``gas``, ``gasPrice``,
``maxFeePerGas``, ...). ``type`` may be omitted and is then inferred:
``authorizationList`` means 4, ``maxFeePerGas``/``maxPriorityFeePerGas`` mean
2, ``accessList`` means 1, anything else 0. A field the type does not have is
an error, never ignored. ``from`` is optional; it changes no signed byte, and
when given, ``finalize`` checks that the signature recovers to it.

The RLP items are built here as bytes (integers big-endian without leading
zeros, the encoding the EIPs specify) and encoded by :func:`rlp.encode` with
inference switched off, which skips rlp's per-item type dispatch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cosigner.chains.errors import FinalizeError, PayloadError
from cosigner.chains.evm.calldata import describe_calldata
from cosigner.chains.evm.signatures import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    compact_signature,
    recover_address,
    recover_checked,
    split_signature,
)
from cosigner.chains.evm.values import (
    chain_text,
    expect_list,
    expect_mapping,
    gwei_text,
    hex32,
    hex_text,
    index_path,
    int_to_min_bytes,
    join_path,
    keccak256,
    native_symbol,
    parse_address,
    parse_hex_bytes,
    parse_uint,
    reject_unknown,
    required,
    rlp_encode,
    to_checksum_address,
    wei_text,
)
from cosigner.chains.intent import Finalized

AUTHORIZATION_MAGIC = b"\x05"
"""EIP-7702's prefix of an authorization's signing preimage."""

_COMMON = ("type", "chainId", "nonce", "gas", "to", "value", "data", "from")


@dataclass(frozen=True, slots=True)
class TransactionType:
    number: int
    name: str
    fee_fields: tuple[str, ...]
    access_list: bool
    authorization_list: bool

    @property
    def title(self) -> str:
        return f"{self.name} (type {self.number})"

    @property
    def allowed(self) -> frozenset[str]:
        return _ALLOWED[self.number]


LEGACY = TransactionType(0, "legacy", ("gasPrice",), False, False)
ACCESS_LIST = TransactionType(1, "EIP-2930", ("gasPrice",), True, False)
DYNAMIC_FEE = TransactionType(2, "EIP-1559", ("maxPriorityFeePerGas", "maxFeePerGas"), True, False)
SET_CODE = TransactionType(4, "EIP-7702", ("maxPriorityFeePerGas", "maxFeePerGas"), True, True)
TRANSACTION_TYPES: dict[int, TransactionType] = {
    t.number: t for t in (LEGACY, ACCESS_LIST, DYNAMIC_FEE, SET_CODE)
}
_ALLOWED: dict[int, frozenset[str]] = {
    t.number: frozenset(
        _COMMON
        + t.fee_fields
        + (("accessList",) if t.access_list else ())
        + (("authorizationList",) if t.authorization_list else ())
    )
    for t in TRANSACTION_TYPES.values()
}

_HINTS = {
    "gasLimit": "use 'gas' for the gas limit",
    "input": "use 'data' for the calldata",
    "chain_id": "use 'chainId'",
    "gas_price": "use 'gasPrice'",
    "blobVersionedHashes": "blob transactions (EIP-4844) are not supported",
    "maxFeePerBlobGas": "blob transactions (EIP-4844) are not supported",
}


@dataclass(frozen=True, slots=True)
class SignedAuthorization:
    """One EIP-7702 authorization tuple, as carried in a type-4 transaction."""

    chain_id: int
    address: bytes
    address_text: str
    nonce: int
    y_parity: int
    r: int
    s: int

    def signing_hash(self) -> bytes:
        return authorization_signing_hash(self.chain_id, self.address, self.nonce)

    def authority(self) -> bytes | None:
        """The account this authorization sets code for, or None if the chain would skip it."""
        if self.y_parity > 1 or not (0 < self.r < SECP256K1_N and 0 < self.s <= SECP256K1_HALF_N):
            return None
        return recover_address(
            self.signing_hash(), compact_signature(self.r, self.s, self.y_parity)
        )

    def rlp_item(self) -> list[bytes]:
        return [
            int_to_min_bytes(self.chain_id),
            self.address,
            int_to_min_bytes(self.nonce),
            int_to_min_bytes(self.y_parity),
            int_to_min_bytes(self.r),
            int_to_min_bytes(self.s),
        ]

    def to_json(self) -> dict[str, str]:
        return {
            "chainId": str(self.chain_id),
            "address": self.address_text,
            "nonce": str(self.nonce),
            "yParity": str(self.y_parity),
            "r": hex32(self.r),
            "s": hex32(self.s),
        }


def authorization_signing_hash(chain_id: int, address: bytes, nonce: int) -> bytes:
    """EIP-7702: ``keccak(0x05 || rlp([chain_id, address, nonce]))``."""
    encoded = rlp_encode([int_to_min_bytes(chain_id), address, int_to_min_bytes(nonce)])
    return keccak256(AUTHORIZATION_MAGIC + encoded)


def parse_authorization_fields(item: Mapping[str, Any], path: str) -> tuple[int, bytes, str, int]:
    """``chainId`` (uint256, 0 = any chain), ``address`` and ``nonce`` (uint64) of a tuple."""
    chain_id = parse_uint(required(item, "chainId", path), join_path(path, "chainId"))
    address, address_text = parse_address(
        required(item, "address", path), join_path(path, "address")
    )
    nonce = parse_uint(required(item, "nonce", path), join_path(path, "nonce"), 64)
    return chain_id, address, address_text, nonce


_SIGNED_AUTHORIZATION_KEYS = frozenset(("chainId", "address", "nonce", "yParity", "r", "s"))


def _parse_signed_authorization(item: Any, path: str) -> SignedAuthorization:
    mapping = expect_mapping(
        item, path, "a signed authorization {chainId, address, nonce, yParity, r, s}"
    )
    reject_unknown(mapping, _SIGNED_AUTHORIZATION_KEYS, path, "signed authorizations")
    chain_id, address, address_text, nonce = parse_authorization_fields(mapping, path)
    y_parity = parse_uint(required(mapping, "yParity", path), join_path(path, "yParity"), 8)
    r = parse_uint(required(mapping, "r", path), join_path(path, "r"))
    s = parse_uint(required(mapping, "s", path), join_path(path, "s"))
    return SignedAuthorization(chain_id, address, address_text, nonce, y_parity, r, s)


# -- payload helpers ------------------------------------------------------------------


def parse_from(payload: Mapping[str, Any]) -> tuple[bytes, str] | None:
    value = payload.get("from")
    return None if value is None else parse_address(value, "from")


# -- the transaction ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvmTransaction:
    """A validated transaction of one type: the RLP items it signs and its normal form."""

    type: TransactionType
    chain_id: int | None
    nonce: int
    gas: int
    fees: dict[str, int]
    to: bytes
    to_text: str | None
    value: int
    data: bytes
    access_list: tuple[tuple[str, tuple[str, ...]], ...]
    authorizations: tuple[SignedAuthorization, ...]
    unsigned_items: list[Any]
    fields: dict[str, Any]

    def signing_preimage(self) -> bytes:
        encoded: bytes = rlp_encode(self.unsigned_items)
        return encoded if self.type.number == 0 else bytes((self.type.number,)) + encoded

    def signing_hash(self) -> bytes:
        return keccak256(self.signing_preimage())

    def v(self, y_parity: int) -> int:
        """The signature's ``v`` as encoded: yParity for typed, 27/28 or EIP-155 for legacy."""
        if self.type.number:
            return y_parity
        if self.chain_id is None:
            return 27 + y_parity
        return self.chain_id * 2 + 35 + y_parity

    def encode_signed(self, y_parity: int, r: int, s: int) -> bytes:
        """The broadcastable raw transaction."""
        signature = [int_to_min_bytes(self.v(y_parity)), int_to_min_bytes(r), int_to_min_bytes(s)]
        if self.type.number == 0:
            items = self.unsigned_items[:6] + signature
            encoded: bytes = rlp_encode(items)
            return encoded
        return bytes((self.type.number,)) + rlp_encode(self.unsigned_items + signature)

    def max_fee_per_gas(self) -> int:
        return self.fees.get("gasPrice", self.fees.get("maxFeePerGas", 0))


def _infer_type(payload: Mapping[str, Any]) -> TransactionType:
    if "type" in payload:
        number = parse_uint(payload["type"], "type", 8)
        found = TRANSACTION_TYPES.get(number)
        if found is None:
            if number == 3:
                raise PayloadError("type", "blob transactions (EIP-4844, type 3) are not supported")
            raise PayloadError(
                "type", f"unknown transaction type {number}; supported: 0, 1, 2 and 4"
            )
        return found
    if "authorizationList" in payload:
        return SET_CODE
    if "maxFeePerGas" in payload or "maxPriorityFeePerGas" in payload:
        return DYNAMIC_FEE
    if "accessList" in payload:
        return ACCESS_LIST
    return LEGACY


def _parse_access_list(
    value: Any,
) -> tuple[list[Any], list[dict[str, Any]], tuple[tuple[str, tuple[str, ...]], ...]]:
    entries = expect_list(value, "accessList", "a list of {address, storageKeys}")
    items: list[Any] = []
    normal: list[dict[str, Any]] = []
    summary: list[tuple[str, tuple[str, ...]]] = []
    for index, entry in enumerate(entries):
        path = index_path("accessList", index)
        mapping = expect_mapping(entry, path, "an access list entry {address, storageKeys}")
        reject_unknown(mapping, _ACCESS_ENTRY_KEYS, path, "access list entries")
        address, address_text = parse_address(
            required(mapping, "address", path), join_path(path, "address")
        )
        keys_path = join_path(path, "storageKeys")
        keys = expect_list(required(mapping, "storageKeys", path), keys_path, "storage keys")
        raw_keys = [parse_hex_bytes(k, index_path(keys_path, i), 32) for i, k in enumerate(keys)]
        key_texts = tuple(hex_text(k) for k in raw_keys)
        items.append([address, raw_keys])
        normal.append({"address": address_text, "storageKeys": list(key_texts)})
        summary.append((address_text, key_texts))
    return items, normal, tuple(summary)


_ACCESS_ENTRY_KEYS = frozenset(("address", "storageKeys"))


def parse_transaction(payload: Any) -> EvmTransaction:
    """Validate and normalize a transaction payload; raises PayloadError naming the field."""
    payload = expect_mapping(payload, "", "a transaction object")
    tx_type = _infer_type(payload)
    reject_unknown(payload, tx_type.allowed, "", f"{tx_type.name} transactions", _HINTS)
    number = tx_type.number

    if number == 0:
        if "chainId" not in payload:
            raise PayloadError(
                "chainId",
                "is required; pass null only to sign a pre-EIP-155 transaction that any "
                "chain can replay",
            )
        raw_chain = payload["chainId"]
        chain_id = None if raw_chain is None else parse_uint(raw_chain, "chainId")
    else:
        chain_id = parse_uint(required(payload, "chainId", ""), "chainId")
    nonce = parse_uint(required(payload, "nonce", ""), "nonce", 64)
    gas = parse_uint(required(payload, "gas", ""), "gas", 64)
    fees = {name: parse_uint(required(payload, name, ""), name) for name in tx_type.fee_fields}
    if number >= 2 and fees["maxPriorityFeePerGas"] > fees["maxFeePerGas"]:
        raise PayloadError(
            "maxPriorityFeePerGas", "must not exceed maxFeePerGas (EIP-1559 validity rule)"
        )
    raw_to = payload.get("to")
    if raw_to is None:
        if tx_type.authorization_list:
            raise PayloadError("to", "is required: EIP-7702 transactions cannot create contracts")
        to, to_text = b"", None
    else:
        to, to_text = parse_address(raw_to, "to")
    raw_value = payload.get("value", 0)
    value = parse_uint(raw_value, "value")
    raw_data = payload.get("data", "0x")
    data = parse_hex_bytes(raw_data, "data")

    fields: dict[str, Any] = {
        "type": str(number),
        "chainId": None if chain_id is None else str(chain_id),
        "nonce": str(nonce),
    }
    for name, amount in fees.items():
        fields[name] = str(amount)
    fields["gas"] = str(gas)
    fields["to"] = to_text
    fields["value"] = str(value)
    fields["data"] = hex_text(data)

    items: list[Any]
    if number == 0:
        items = [
            int_to_min_bytes(nonce),
            int_to_min_bytes(fees["gasPrice"]),
            int_to_min_bytes(gas),
            to,
            int_to_min_bytes(value),
            data,
        ]
        if chain_id is not None:
            items += [int_to_min_bytes(chain_id), b"", b""]
    else:
        assert chain_id is not None
        items = [int_to_min_bytes(chain_id), int_to_min_bytes(nonce)]
        items += [int_to_min_bytes(fees[name]) for name in tx_type.fee_fields]
        items += [int_to_min_bytes(gas), to, int_to_min_bytes(value), data]

    access_summary: tuple[tuple[str, tuple[str, ...]], ...] = ()
    if tx_type.access_list:
        raw_access = payload.get("accessList")
        if raw_access is None or (type(raw_access) is list and not raw_access):
            items.append([])
            fields["accessList"] = []
        else:
            access_items, access_normal, access_summary = _parse_access_list(raw_access)
            items.append(access_items)
            fields["accessList"] = access_normal

    authorizations: tuple[SignedAuthorization, ...] = ()
    if tx_type.authorization_list:
        raw_auths = expect_list(
            required(payload, "authorizationList", ""), "authorizationList", "signed authorizations"
        )
        if not raw_auths:
            raise PayloadError(
                "authorizationList", "must hold at least one authorization (EIP-7702 validity rule)"
            )
        authorizations = tuple(
            _parse_signed_authorization(a, index_path("authorizationList", i))
            for i, a in enumerate(raw_auths)
        )
        items.append([a.rlp_item() for a in authorizations])
        fields["authorizationList"] = [a.to_json() for a in authorizations]

    return EvmTransaction(
        tx_type,
        chain_id,
        nonce,
        gas,
        fees,
        to,
        to_text,
        value,
        data,
        access_summary,
        authorizations,
        items,
        fields,
    )


# -- the reviewable summary -----------------------------------------------------------


def contract_address(sender: bytes, nonce: int) -> bytes:
    """The address a creation from ``sender`` at ``nonce`` deploys to (Yellow Paper 7)."""
    encoded = rlp_encode([sender, int_to_min_bytes(nonce)])
    return keccak256(encoded)[12:]


def describe_transaction(
    tx: EvmTransaction, sender: tuple[bytes, str] | None, digest: bytes
) -> tuple[str, dict[str, Any]]:
    """The one-line summary and the ``display`` values of a transaction."""
    symbol = native_symbol(tx.chain_id)
    network = chain_text(tx.chain_id)
    call = describe_calldata(tx.data, tx.to_text)
    display: dict[str, Any] = {"transactionType": tx.type.title, "network": network}
    warnings: list[str] = []
    if sender is not None:
        display["from"] = sender[1]
    display["to"] = tx.to_text if tx.to_text is not None else "none: creates a contract"
    display["value"] = wei_text(tx.value, symbol)
    display["call"] = call
    display["nonce"] = str(tx.nonce)
    display["gasLimit"] = str(tx.gas)
    for name, amount in tx.fees.items():
        display[name] = gwei_text(amount)
    max_fee = tx.gas * tx.max_fee_per_gas()
    display["maxNetworkFee"] = wei_text(max_fee, symbol)
    display["maxTotalCost"] = wei_text(max_fee + tx.value, symbol)
    if tx.type.access_list:
        keys = sum(len(k) for _, k in tx.access_list)
        display["accessList"] = f"{len(tx.access_list)} addresses, {keys} storage keys"
    if tx.to_text is None and sender is not None:
        display["contractAddress"] = to_checksum_address(contract_address(sender[0], tx.nonce))
    if tx.chain_id is None:
        warnings.append("no chainId: this pre-EIP-155 transaction can be replayed on any chain")
    if "warning" in call:
        warnings.append(call["warning"])
    if tx.authorizations:
        display["authorizations"] = [_describe_authorization(a) for a in tx.authorizations]
        warnings.append(
            "EIP-7702: each valid authorization makes its authority account run the delegate's code"
        )
    display["signingHash"] = hex_text(digest)
    if warnings:
        display["warnings"] = warnings

    if tx.to_text is None:
        action = f"deploy a contract ({len(tx.data)} bytes of init code) with {display['value']}"
    elif call.get("arguments"):
        arguments = call["arguments"]
        action = f"{call['action']} on token {tx.to_text}: " + ", ".join(
            f"{k} {v}" for k, v in arguments.items()
        )
        if tx.value:
            action += f", sending {display['value']}"
    elif tx.data:
        action = (
            f"call {tx.to_text} with {len(tx.data)} bytes of calldata, sending {display['value']}"
        )
    else:
        action = f"send {display['value']} to {tx.to_text}"
    summary = f"{tx.type.name} transaction on {network}: {action}"
    if tx.authorizations:
        summary += f"; carries {len(tx.authorizations)} EIP-7702 authorization(s)"
    return summary, display


def _describe_authorization(auth: SignedAuthorization) -> dict[str, Any]:
    authority = auth.authority()
    return {
        "delegate": auth.address_text
        if any(auth.address)
        else f"{auth.address_text} (clears the delegation)",
        "chain": "any chain (chainId 0)" if auth.chain_id == 0 else chain_text(auth.chain_id),
        "nonce": str(auth.nonce),
        "authority": to_checksum_address(authority)
        if authority is not None
        else "none: the signature is invalid and the chain skips this authorization",
    }


# -- finalize -------------------------------------------------------------------------


def finalize_transaction(
    tx: EvmTransaction,
    digest: bytes,
    label: str,
    sender: tuple[bytes, str] | None,
    signatures: Sequence[bytes],
) -> Finalized:
    signature = signatures[0]
    r, s, y_parity = split_signature(signature, label)
    recovered = recover_checked(digest, signature, label)
    if sender is not None and recovered != sender[0]:
        raise FinalizeError(
            f"the signature recovers to {to_checksum_address(recovered)}, "
            f"not to the payload's from {sender[1]}"
        )
    raw = tx.encode_signed(y_parity, r, s)
    tx_hash = hex_text(keccak256(raw))
    extra: dict[str, Any] = {
        "type": tx.type.number,
        "rawTransaction": hex_text(raw),
        "transactionHash": tx_hash,
        "from": to_checksum_address(recovered),
        "v": tx.v(y_parity),
        "yParity": y_parity,
        "r": hex32(r),
        "s": hex32(s),
    }
    if tx.to_text is None:
        extra["contractAddress"] = to_checksum_address(contract_address(recovered, tx.nonce))
    return Finalized("evm", "transaction", raw, tx_hash, extra)


__all__ = [
    "ACCESS_LIST",
    "DYNAMIC_FEE",
    "LEGACY",
    "SET_CODE",
    "TRANSACTION_TYPES",
    "EvmTransaction",
    "SignedAuthorization",
    "TransactionType",
    "authorization_signing_hash",
    "contract_address",
    "describe_transaction",
    "finalize_transaction",
    "parse_authorization_fields",
    "parse_transaction",
]
