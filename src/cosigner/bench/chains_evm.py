"""EVM payload kinds for ``cosigner bench chains``, with eth-account as the peer.

The peer times eth-account's own encode-and-hash of the same payload, the
part of its signing path that corresponds to our ``build_intent``:

* legacy: ``serializable_unsigned_transaction_from_dict(tx).hash()``;
* typed transactions: ``TypedTransaction.from_dict(tx).hash()``;
* personal_sign: ``_hash_eip191_message(encode_defunct(text=...))``;
* typed data: ``_hash_eip191_message(encode_typed_data(full_message=...))``;
* EIP-7702 authorization: ``Authorization(chainId, address, nonce).hash()``.

The target (DESIGN.md principle 7 and the EVM adapter's brief): our
``build_intent``, which also builds the review model, at most 1x the peer.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from typing import Any

from cosigner.bench.chains import BenchKind, Peer, register, sign_locally
from cosigner.chains.evm import EvmAdapter

TARGET = 1.0
ADAPTER = EvmAdapter()

TOKEN = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
RECIPIENT = "0x3535353535353535353535353535353535353535"
ERC20_TRANSFER = (
    "0xa9059cbb"
    + "000000000000000000000000"
    + RECIPIENT[2:].lower()
    + (1_500_000).to_bytes(32, "big").hex()
)

LEGACY: dict[str, Any] = {
    "nonce": 9,
    "gasPrice": 20_000_000_000,
    "gas": 21000,
    "to": RECIPIENT,
    "value": 10**18,
    "data": "0x",
    "chainId": 1,
}
ACCESS_LIST_TX: dict[str, Any] = {
    "type": 1,
    "chainId": 1,
    "nonce": 34,
    "gasPrice": 1_000_000_000,
    "gas": 100_000,
    "to": "0x09616C3d61b3331fc4109a9E41a8BDB7d9776609",
    "value": 100_000_000_000_000,
    "data": "0x616263646566",
    "accessList": [
        {
            "address": "0x0000000000000000000000000000000000000001",
            "storageKeys": ["0x" + "01".ljust(64, "0")],
        }
    ],
}
DYNAMIC_FEE_TX: dict[str, Any] = {
    "type": 2,
    "chainId": 1,
    "nonce": 2,
    "maxPriorityFeePerGas": 1_000_000_000,
    "maxFeePerGas": 30_000_000_000,
    "gas": 60_000,
    "to": TOKEN,
    "value": 0,
    "data": ERC20_TRANSFER,
    "accessList": [],
}
SET_CODE_TX: dict[str, Any] = {
    **DYNAMIC_FEE_TX,
    "type": 4,
    "to": RECIPIENT,
    "data": "0x",
    "authorizationList": [
        {
            "chainId": 1,
            "address": "0x3e6C95D880401e4E36Ee62f4eBDed346e1aDf42d",
            "nonce": 2,
            "yParity": 1,
            "r": 0x31F464E6A607FC66E0F982A2D21498799B0571760A272F3D903ACA6594CEF595,
            "s": 0x343B0B143924A5DB42A3200AE72D5C6DD03633847BC2DA025CFF5214E28708EC,
        }
    ],
}
MESSAGE = "cosigner bench chains: sign in to example.org at 2026-01-01T00:00:00Z, nonce 42"
TYPED_DATA: dict[str, Any] = {
    "types": {
        "EIP712Domain": [
            {"name": "name", "type": "string"},
            {"name": "version", "type": "string"},
            {"name": "chainId", "type": "uint256"},
            {"name": "verifyingContract", "type": "address"},
        ],
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person[]"},
            {"name": "contents", "type": "string"},
        ],
    },
    "primaryType": "Mail",
    "domain": {
        "name": "Ether Mail",
        "version": "1",
        "chainId": 1,
        "verifyingContract": "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC",
    },
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": [
            {"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},
            {"name": "Alice", "wallet": "0xB0BdaBea57B0BDABeA57b0bdABEA57b0BDabEa57"},
        ],
        "contents": "Hello, Bob!",
    },
}
AUTHORIZATION: dict[str, Any] = {
    "chainId": 1,
    "address": "0x3e6C95D880401e4E36Ee62f4eBDed346e1aDf42d",
    "nonce": 7,
}


def _eth_account_name() -> str:
    return f"eth-account {importlib.metadata.version('eth-account')}"


def _peer(operation: str, factory: Callable[[], Callable[[], bytes]]) -> Callable[[], Peer | None]:
    def build() -> Peer | None:
        try:
            digest = factory()
        except ImportError:
            return None
        return Peer(_eth_account_name(), operation, digest)

    return build


def _legacy_peer(tx: Mapping[str, Any]) -> Callable[[], bytes]:
    from eth_account._utils.legacy_transactions import (
        serializable_unsigned_transaction_from_dict,
    )

    def digest() -> bytes:
        return bytes(serializable_unsigned_transaction_from_dict(dict(tx)).hash())

    return digest


def _typed_peer(tx: Mapping[str, Any]) -> Callable[[], bytes]:
    from eth_account.typed_transactions.typed_transaction import TypedTransaction

    def digest() -> bytes:
        return bytes(TypedTransaction.from_dict(dict(tx)).hash())

    return digest


def _personal_peer() -> Callable[[], bytes]:
    from eth_account.messages import _hash_eip191_message, encode_defunct

    def digest() -> bytes:
        return bytes(_hash_eip191_message(encode_defunct(text=MESSAGE)))

    return digest


def _typed_data_peer() -> Callable[[], bytes]:
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    def digest() -> bytes:
        return bytes(_hash_eip191_message(encode_typed_data(full_message=TYPED_DATA)))

    return digest


def _authorization_peer() -> Callable[[], bytes]:
    from eth_account.typed_transactions.set_code_transaction import Authorization

    address = bytes.fromhex(AUTHORIZATION["address"][2:])

    def digest() -> bytes:
        auth = Authorization(AUTHORIZATION["chainId"], address, AUTHORIZATION["nonce"])
        return bytes(auth.hash())

    return digest


def _kind(
    kind: str,
    label: str,
    payload: Mapping[str, Any],
    operation: str,
    factory: Callable[[], Callable[[], bytes]],
) -> BenchKind:
    return BenchKind(
        chain="evm",
        kind=kind,
        label=label,
        adapter=ADAPTER,
        payload=payload,
        sign=sign_locally,
        peer=_peer(operation, factory),
        target=TARGET,
    )


register(
    _kind(
        "transaction",
        "legacy (EIP-155)",
        LEGACY,
        "serializable_unsigned_transaction_from_dict(tx).hash()",
        lambda: _legacy_peer(LEGACY),
    ),
    _kind(
        "transaction",
        "EIP-2930, access list",
        ACCESS_LIST_TX,
        "TypedTransaction.from_dict(tx).hash()",
        lambda: _typed_peer(ACCESS_LIST_TX),
    ),
    _kind(
        "transaction",
        "EIP-1559, ERC-20 transfer",
        DYNAMIC_FEE_TX,
        "TypedTransaction.from_dict(tx).hash()",
        lambda: _typed_peer(DYNAMIC_FEE_TX),
    ),
    _kind(
        "transaction",
        "EIP-7702, one authorization",
        SET_CODE_TX,
        "TypedTransaction.from_dict(tx).hash()",
        lambda: _typed_peer(SET_CODE_TX),
    ),
    _kind(
        "personal_sign",
        "EIP-191 text, 80 bytes",
        {"message": MESSAGE},
        "_hash_eip191_message(encode_defunct(text=message))",
        _personal_peer,
    ),
    _kind(
        "typed_data",
        "EIP-712 Mail, Person[] array",
        TYPED_DATA,
        "_hash_eip191_message(encode_typed_data(full_message=data))",
        _typed_data_peer,
    ),
    _kind(
        "authorization",
        "EIP-7702 authorization",
        AUTHORIZATION,
        "Authorization(chainId, address, nonce).hash()",
        _authorization_peer,
    ),
)
