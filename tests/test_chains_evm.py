"""The EVM adapter: eth-account as the oracle, the ui_model contract, bad payloads, a real EVM.

The published vectors run in test_chain_vectors.py. Here:

* properties against eth-account (the oracle, never used by the adapter):
  random transactions of every type hash and sign to eth-account's bytes;
  random well-formed EIP-712 typed data and personal_sign messages hash to
  its digests; authorizations match ``Account.sign_authorization``;
* the seam's contract: ``build_intent(kind, ui_model["fields"])`` rebuilds the
  same sign requests, and the normal form is plain JSON and a fixed point;
* bad payloads of every kind raise PayloadError naming the field, and
  fuzzed payloads raise nothing else; bad signatures raise FinalizeError;
* in process on py-evm (eth-tester's PyEVMBackend, Prague rules): a
  LocalKeyEngine key signs EIP-1559, legacy and EIP-7702 transactions through
  build_intent -> engine -> finalize, and the chain executes them; the 2-of-2
  threshold ECDSA scheme (cosigner.ecdsa) does the same for EIP-1559 and
  legacy, and is skipped, saying why, until cosigner.ecdsa imports.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable
from typing import Any

import pytest
from coincurve import PrivateKey, PublicKey
from Crypto.Hash import keccak
from eth_account import Account
from eth_account._utils.legacy_transactions import serializable_unsigned_transaction_from_dict
from eth_account.messages import _hash_eip191_message, encode_defunct, encode_typed_data
from eth_account.typed_transactions.set_code_transaction import Authorization
from eth_utils.address import to_checksum_address as oracle_checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner.chains.engines import LocalKeyEngine, SignerEngine
from cosigner.chains.errors import FinalizeError, PayloadError, UnsupportedKindError
from cosigner.chains.evm import EvmAdapter, values
from cosigner.chains.evm.signatures import SECP256K1_N
from cosigner.chains.evm.values import address_from_public_key, to_checksum_address
from cosigner.chains.intent import SigningIntent

ADAPTER = EvmAdapter()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- strategies -----------------------------------------------------------------------

raw_addresses = st.binary(min_size=20, max_size=20)
uint64 = st.integers(0, 2**64 - 1)
uint256 = st.integers(0, 2**256 - 1)
small = st.integers(0, 10**24)
chain_ids = st.integers(1, 2**62)
secret_keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
hex_data = st.binary(max_size=80).map(lambda b: "0x" + b.hex())


@st.composite
def int_forms(draw: st.DrawFn, number: int) -> Any:
    """The same integer as our payloads accept it: int, decimal string or 0x-hex."""
    form = draw(st.sampled_from(["int", "dec", "hex", "HEX"]))
    if form == "int":
        return number
    if form == "dec":
        return str(number)
    return hex(number) if form == "hex" else "0x" + format(number, "X")


@st.composite
def address_forms(draw: st.DrawFn, raw: bytes) -> str:
    checksummed = oracle_checksum(raw)
    return draw(st.sampled_from([checksummed, checksummed.lower(), "0x" + raw.hex().upper()]))


@st.composite
def access_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    entries = draw(
        st.lists(
            st.tuples(raw_addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=3)),
            max_size=3,
        )
    )
    return [
        {"address": oracle_checksum(a), "storageKeys": ["0x" + k.hex() for k in keys]}
        for a, keys in entries
    ]


@st.composite
def signed_authorizations(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "chainId": draw(st.integers(0, 2**64)),
        "address": oracle_checksum(draw(raw_addresses)),
        "nonce": draw(uint64),
        "yParity": draw(st.integers(0, 1)),
        "r": draw(st.integers(1, SECP256K1_N - 1)),
        "s": draw(st.integers(1, SECP256K1_N // 2)),
    }


@st.composite
def transactions(draw: st.DrawFn, tx_type: int) -> dict[str, Any]:
    """An eth-account transaction dict of ``tx_type`` (ints and checksummed addresses)."""
    tx: dict[str, Any] = {
        "nonce": draw(uint64),
        "gas": draw(st.integers(21000, 2**63)),
        "value": draw(st.one_of(small, uint256)),
        "data": draw(hex_data),
    }
    creates = tx_type != 4 and draw(st.booleans()) and draw(st.booleans())
    if not creates:
        tx["to"] = oracle_checksum(draw(raw_addresses))
    if tx_type == 0:
        tx["gasPrice"] = draw(st.one_of(small, uint256))
        if draw(st.integers(0, 4)):
            tx["chainId"] = draw(chain_ids)
        return tx
    tx["type"] = tx_type
    tx["chainId"] = draw(chain_ids)
    tx["accessList"] = draw(access_lists())
    if tx_type == 1:
        tx["gasPrice"] = draw(small)
        return tx
    max_fee = draw(st.one_of(small, uint256))
    tx["maxFeePerGas"] = max_fee
    tx["maxPriorityFeePerGas"] = draw(st.integers(0, max_fee))
    if tx_type == 4:
        tx["authorizationList"] = draw(st.lists(signed_authorizations(), min_size=1, max_size=3))
    return tx


@st.composite
def our_form(draw: st.DrawFn, tx: dict[str, Any]) -> dict[str, Any]:
    """The oracle's transaction as a client of ours might write it (type may be left out)."""
    ours: dict[str, Any] = {}
    for key, value in tx.items():
        if key in ("to",):
            ours[key] = draw(address_forms(bytes.fromhex(value[2:])))
        elif key in ("accessList", "authorizationList", "data"):
            ours[key] = value
        elif key == "type":
            if draw(st.booleans()):
                ours[key] = draw(int_forms(value))
        else:
            ours[key] = draw(int_forms(value))
    if tx.get("type", 0) == 0 and "chainId" not in tx:
        ours["chainId"] = None
    if tx.get("type") == 1 and "type" not in ours and "accessList" not in ours:
        ours["type"] = 1
    return ours


def _engine_for(secret: bytes) -> tuple[LocalKeyEngine, str]:
    engine = LocalKeyEngine()
    public = engine.add_secp256k1("key", secret)
    uncompressed = PublicKey(public).format(compressed=False)
    return engine, to_checksum_address(address_from_public_key(uncompressed))


def _sign_and_finalize(intent: SigningIntent, engine: SignerEngine, key_ref: str) -> Any:
    return intent.finalize([engine.sign(r, key_ref) for r in intent.sign_requests])


def _assert_rebuilds(kind: str, intent: SigningIntent) -> None:
    fields = json.loads(json.dumps(intent.ui_model["fields"]))  # plain JSON, nothing else
    again = ADAPTER.build_intent(kind, fields)
    assert [r.to_dict() for r in again.sign_requests] == [r.to_dict() for r in intent.sign_requests]
    assert again.ui_model == intent.ui_model
    json.dumps(intent.ui_model)


# -- transactions against eth-account ---------------------------------------------------


@pytest.mark.parametrize("tx_type", [0, 1, 2, 4], ids=["legacy", "eip2930", "eip1559", "eip7702"])
@SETTINGS
@given(data=st.data(), secret=secret_keys)
def test_transactions_match_eth_account(tx_type: int, data: st.DataObject, secret: bytes) -> None:
    tx = data.draw(transactions(tx_type))
    ours = data.draw(our_form(tx))
    intent = ADAPTER.build_intent("transaction", ours)
    expected_hash = serializable_unsigned_transaction_from_dict(dict(tx)).hash()
    assert intent.sign_requests[0].message == bytes(expected_hash)
    assert intent.ui_model["fields"]["type"] == str(tx_type)
    _assert_rebuilds("transaction", intent)

    engine, address = _engine_for(secret)
    result = _sign_and_finalize(intent, engine, "key")
    signed = Account.sign_transaction(dict(tx), secret)
    assert result.raw == bytes(signed.raw_transaction)
    assert result.hash == "0x" + bytes(signed.hash).hex()
    assert result.extra["v"] == signed.v
    assert int(result.extra["r"], 16) == signed.r
    assert int(result.extra["s"], 16) == signed.s
    assert result.extra["from"] == address == Account.recover_transaction(result.raw)


@SETTINGS
@given(
    chain_id=st.integers(0, 2**64),
    address=raw_addresses,
    nonce=uint64,
    secret=secret_keys,
)
def test_authorization_matches_eth_account(
    chain_id: int, address: bytes, nonce: int, secret: bytes
) -> None:
    auth = {"chainId": chain_id, "address": oracle_checksum(address), "nonce": nonce}
    intent = ADAPTER.build_intent("authorization", auth)
    theirs = Account.sign_authorization(auth, secret)
    assert intent.sign_requests[0].message == bytes(theirs.authorization_hash)
    _assert_rebuilds("authorization", intent)

    engine, signer = _engine_for(secret)
    result = _sign_and_finalize(intent, engine, "key")
    signed = result.extra["authorization"]
    assert (int(signed["yParity"]), int(signed["r"], 16), int(signed["s"], 16)) == (
        theirs.y_parity,
        theirs.r,
        theirs.s,
    )
    assert result.extra["authority"] == signer == oracle_checksum(theirs.authority)


# -- EIP-712 against eth-account --------------------------------------------------------

ATOMIC = [
    "uint8",
    "uint64",
    "uint256",
    "int8",
    "int128",
    "int256",
    "bool",
    "address",
    "bytes1",
    "bytes4",
    "bytes32",
    "bytes",
    "string",
]
STRUCT_NAMES = ["Mail", "Person", "asset", "Order", "Zeta", "item_2", "B", "$Group"]
MEMBER_NAMES = ["from", "to", "amount", "id", "data", "wallet", "z", "Name", "_tag"]
texts = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)


def _value_strategy(kind: str, types: dict[str, list[dict[str, str]]]) -> st.SearchStrategy[Any]:
    if kind.endswith("]"):
        opening = kind.rindex("[")
        inner = _value_strategy(kind[:opening], types)
        size = kind[opening + 1 : -1]
        if size:
            return st.lists(inner, min_size=int(size), max_size=int(size))
        return st.lists(inner, max_size=3)
    if kind in types:
        return st.fixed_dictionaries(
            {m["name"]: _value_strategy(m["type"], types) for m in types[kind]}
        )
    if kind.startswith("uint"):
        return st.integers(0, 2 ** int(kind[4:]) - 1)
    if kind.startswith("int"):
        bits = int(kind[3:])
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if kind == "bool":
        return st.booleans()
    if kind == "address":
        return raw_addresses.map(oracle_checksum)
    if kind == "string":
        return texts
    if kind == "bytes":
        return st.binary(max_size=40).map(lambda b: "0x" + b.hex())
    width = int(kind[5:])
    return st.binary(min_size=width, max_size=width).map(lambda b: "0x" + b.hex())


@st.composite
def array_suffix(draw: st.DrawFn) -> str:
    dims = draw(st.lists(st.one_of(st.none(), st.integers(1, 3)), max_size=2))
    return "".join("[]" if d is None else f"[{d}]" for d in dims)


@st.composite
def typed_data_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Random well-formed typed data: a DAG of structs whose only root is primaryType."""
    names = draw(st.lists(st.sampled_from(STRUCT_NAMES), min_size=1, max_size=4, unique=True))
    types: dict[str, list[dict[str, str]]] = {}
    for index, name in enumerate(names):
        later = names[index + 1 :]
        member_names = draw(
            st.lists(st.sampled_from(MEMBER_NAMES), min_size=1, max_size=4, unique=True)
        )
        members = []
        for member in member_names:
            base = draw(st.sampled_from(ATOMIC + later if later else ATOMIC))
            members.append({"name": member, "type": base + draw(array_suffix())})
        types[name] = members
    for index, name in enumerate(names[1:], start=1):
        referenced = any(
            m["type"].split("[")[0] == name for other in names[:index] for m in types[other]
        )
        if not referenced:
            parent = names[draw(st.integers(0, index - 1))]
            used = {m["name"] for m in types[parent]}
            field = next(f"ref{i}" for i in range(10) if f"ref{i}" not in used)
            types[parent].append({"name": field, "type": name + draw(array_suffix())})
    domain_fields = [
        f
        for f in [
            ("name", "string", texts),
            ("version", "string", texts),
            ("chainId", "uint256", chain_ids),
            ("verifyingContract", "address", raw_addresses.map(oracle_checksum)),
            ("salt", "bytes32", st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())),
        ]
        if draw(st.booleans())
    ]
    domain = {name: draw(values) for name, _, values in domain_fields}
    payload_types = dict(types)
    if draw(st.booleans()) or not domain:
        payload_types = {
            "EIP712Domain": [{"name": n, "type": t} for n, t, _ in domain_fields],
            **types,
        }
    message = draw(_value_strategy(names[0], types))
    return {"types": payload_types, "primaryType": names[0], "domain": domain, "message": message}


@SETTINGS
@given(payload=typed_data_payloads(), secret=secret_keys)
def test_typed_data_matches_eth_account(payload: dict[str, Any], secret: bytes) -> None:
    intent = ADAPTER.build_intent("typed_data", payload)
    signable = encode_typed_data(full_message=json.loads(json.dumps(payload)))
    assert intent.sign_requests[0].message == _hash_eip191_message(signable)
    _assert_rebuilds("typed_data", intent)

    engine, signer = _engine_for(secret)
    result = _sign_and_finalize(intent, engine, "key")
    theirs = Account.sign_message(signable, secret)
    assert result.extra["signature"] == "0x" + bytes(theirs.signature).hex()
    assert result.extra["signer"] == signer


def test_typed_data_recursive_struct_and_nested_arrays() -> None:
    """A struct that contains arrays of itself, and arrays of arrays of structs."""
    payload = {
        "types": {
            "Tree": [
                {"name": "label", "type": "string"},
                {"name": "children", "type": "Tree[]"},
                {"name": "grid", "type": "Leaf[2][]"},
            ],
            "Leaf": [{"name": "v", "type": "int8"}],
        },
        "primaryType": "Tree",
        "domain": {"name": "trees", "chainId": 5},
        "message": {
            "label": "root",
            "children": [
                {"label": "a", "children": [], "grid": []},
                {"label": "b", "children": [], "grid": [[{"v": -1}, {"v": 127}]]},
            ],
            "grid": [[{"v": 0}, {"v": -128}], [{"v": 1}, {"v": 2}]],
        },
    }
    intent = ADAPTER.build_intent("typed_data", payload)
    signable = encode_typed_data(full_message=payload)
    assert intent.sign_requests[0].message == _hash_eip191_message(signable)
    _assert_rebuilds("typed_data", intent)


def test_typed_data_encode_type_orders_references() -> None:
    from cosigner.chains.evm.typed_data import TypedDataEncoder

    encoder = TypedDataEncoder.from_json(
        {
            "Z": [{"name": "a", "type": "A[]"}, {"name": "b", "type": "B"}],
            "B": [{"name": "c", "type": "C[2][]"}],
            "A": [{"name": "x", "type": "uint256"}],
            "C": [{"name": "z", "type": "Z"}],
        }
    )
    assert encoder.encode_type("Z") == "Z(A[] a,B b)A(uint256 x)B(C[2][] c)C(Z z)"
    assert encoder.encode_type("C") == "C(Z z)A(uint256 x)B(C[2][] c)Z(A[] a,B b)"


def test_permit_is_described() -> None:
    token = "0x6B175474E89094C44Da98b954EedeAC495271d0F"
    payload = {
        "types": {
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        },
        "primaryType": "Permit",
        "domain": {"name": "Dai", "version": "1", "chainId": 1, "verifyingContract": token},
        "message": {
            "owner": "0x" + "11" * 20,
            "spender": "0x" + "22" * 20,
            "value": str(2**256 - 1),
            "nonce": 0,
            "deadline": "0x7fffffff",
        },
    }
    ui = ADAPTER.build_intent("typed_data", payload).ui_model
    assert ui["summary"].startswith("EIP-2612 permit")
    assert ui["display"]["permit"]["token"] == token
    assert any("unlimited" in w for w in ui["display"]["warnings"])
    assert ui["fields"]["message"]["deadline"] == str(0x7FFFFFFF)


# -- personal_sign against eth-account --------------------------------------------------


@SETTINGS
@given(message=st.one_of(texts, st.binary(max_size=100)), secret=secret_keys)
def test_personal_sign_matches_eth_account(message: str | bytes, secret: bytes) -> None:
    if isinstance(message, str):
        payload: dict[str, Any] = {"message": message}
        signable = encode_defunct(text=message)
    else:
        payload = {"message": "0x" + message.hex(), "encoding": "hex"}
        signable = encode_defunct(primitive=message)
    intent = ADAPTER.build_intent("personal_sign", payload)
    assert intent.sign_requests[0].message == _hash_eip191_message(signable)
    _assert_rebuilds("personal_sign", intent)
    engine, signer = _engine_for(secret)
    result = _sign_and_finalize(intent, engine, "key")
    assert (
        result.extra["signature"]
        == "0x" + bytes(Account.sign_message(signable, secret).signature).hex()
    )
    assert Account.recover_message(signable, signature=result.extra["signature"]) == signer


def test_personal_sign_text_that_looks_like_hex_is_text() -> None:
    as_text = ADAPTER.build_intent("personal_sign", {"message": "0x1234"})
    as_hex = ADAPTER.build_intent("personal_sign", {"message": "0x1234", "encoding": "hex"})
    assert as_text.sign_requests[0].message == _hash_eip191_message(encode_defunct(text="0x1234"))
    assert as_hex.sign_requests[0].message == _hash_eip191_message(
        encode_defunct(primitive=b"\x12\x34")
    )
    assert as_text.ui_model["fields"]["encoding"] == "utf8"


@SETTINGS
@given(data=st.binary(max_size=600))
def test_cached_keccak_state_matches_pycryptodome(data: bytes) -> None:
    assert values.keccak256(data) == keccak.new(data=data, digest_bits=256).digest()
    assert values._keccak256_public(data) == values.keccak256(data)


# -- the reviewable model ---------------------------------------------------------------


def test_erc20_transfer_and_approve_are_decoded() -> None:
    token = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
    recipient = "0x" + "ab" * 20
    transfer = "0xa9059cbb" + "00" * 12 + "ab" * 20 + format(1_500_000, "064x")
    ui = ADAPTER.build_intent(
        "transaction",
        {
            "chainId": 1,
            "nonce": 3,
            "gas": 60000,
            "maxFeePerGas": 30 * 10**9,
            "maxPriorityFeePerGas": 10**9,
            "to": token.lower(),
            "data": transfer,
        },
    ).ui_model
    call = ui["display"]["call"]
    assert call["method"] == "transfer(address,uint256)"
    assert call["arguments"] == {
        "to": oracle_checksum(recipient),
        "amount": "1500000 (token base units)",
    }
    assert ui["fields"]["to"] == token
    assert ui["display"]["maxFeePerGas"] == "30 gwei (30000000000 wei)"
    assert ui["display"]["maxNetworkFee"] == "0.0018 ETH (1800000000000000 wei)"
    assert ui["display"]["network"] == "Ethereum Mainnet (chainId 1)"
    assert "ERC-20 transfer" in ui["summary"]

    approve = "0x095ea7b3" + "00" * 12 + "cd" * 20 + "ff" * 32
    ui = ADAPTER.build_intent(
        "transaction",
        {
            "chainId": 1,
            "nonce": 4,
            "gas": 60000,
            "gasPrice": "1000000000",
            "to": token,
            "data": approve,
        },
    ).ui_model
    assert ui["display"]["call"]["method"] == "approve(address,uint256)"
    assert any("unlimited approval" in w for w in ui["display"]["warnings"])

    truncated = approve[:-2]
    ui = ADAPTER.build_intent(
        "transaction",
        {"chainId": 1, "nonce": 4, "gas": 60000, "gasPrice": 1, "to": token, "data": truncated},
    ).ui_model
    assert ui["display"]["call"]["arguments"] is None


def test_display_units_and_warnings() -> None:
    ui = ADAPTER.build_intent(
        "transaction",
        {
            "chainId": None,
            "nonce": 0,
            "gas": 21000,
            "gasPrice": "0x4a817c800",
            "to": None,
            "value": "1500000000000000000",
            "data": "0x6080",
            "from": "0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0",
        },
    ).ui_model
    assert ui["display"]["value"] == "1.5 ETH (1500000000000000000 wei)"
    assert ui["display"]["gasPrice"] == "20 gwei (20000000000 wei)"
    assert ui["display"]["to"].startswith("none")
    # the well-known first contract of 0x6ac7...dbf0 (Yellow Paper: keccak(rlp([sender, 0])))
    assert ui["display"]["contractAddress"] == oracle_checksum(
        "0xcd234a471b72ba2f1ccf0a70fcaba648a5eecd8d"
    )
    assert any("replayed on any chain" in w for w in ui["display"]["warnings"])
    assert ui["fields"]["chainId"] is None
    assert ui["fields"]["from"] == oracle_checksum("0x6ac7ea33f8831ea9dcc53393aaa88b25a785dbf0")


# -- bad payloads -----------------------------------------------------------------------

GOOD_1559: dict[str, Any] = {
    "chainId": 1,
    "nonce": 0,
    "gas": 21000,
    "maxFeePerGas": 2,
    "maxPriorityFeePerGas": 1,
    "to": "0x96216849c49358B10257cb55b28eA603c874b05E",
    "value": 1,
}
GOOD_7702 = {
    **GOOD_1559,
    "authorizationList": [
        {"chainId": 1, "address": "0x" + "11" * 20, "nonce": 0, "yParity": 0, "r": 1, "s": 1}
    ],
}
GOOD_TYPED: dict[str, Any] = {
    "types": {
        "Person": [{"name": "name", "type": "string"}, {"name": "wallet", "type": "address"}],
        "Mail": [
            {"name": "from", "type": "Person"},
            {"name": "to", "type": "Person[]"},
            {"name": "tag", "type": "bytes4"},
            {"name": "n", "type": "int8[2]"},
            {"name": "ok", "type": "bool"},
        ],
    },
    "primaryType": "Mail",
    "domain": {"name": "Ether Mail", "chainId": 1},
    "message": {
        "from": {"name": "Cow", "wallet": "0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},
        "to": [{"name": "Bob", "wallet": "0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"}],
        "tag": "0x01020304",
        "n": [-1, 1],
        "ok": True,
    },
}
GOOD_AUTH = {"chainId": 1, "address": "0x" + "11" * 20, "nonce": 5}
GOOD_PERSONAL = {"message": "hello"}
GOOD = {
    "transaction": GOOD_1559,
    "typed_data": GOOD_TYPED,
    "authorization": GOOD_AUTH,
    "personal_sign": GOOD_PERSONAL,
}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(base))
    for key, value in changes.items():
        if value is _DELETE:
            out.pop(key)
        else:
            out[key] = value
    return out


_DELETE = object()
BAD_MAILBOX_CHECKSUM = "0xcD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"

BAD_PAYLOADS: list[tuple[str, Any, str]] = [
    ("transaction", [], ""),
    ("transaction", _with(GOOD_1559, nonce=-1), "nonce"),
    ("transaction", _with(GOOD_1559, nonce=2**64), "nonce"),
    ("transaction", _with(GOOD_1559, nonce="1_000"), "nonce"),
    ("transaction", _with(GOOD_1559, nonce=" 1"), "nonce"),
    ("transaction", _with(GOOD_1559, nonce="0x"), "nonce"),
    ("transaction", _with(GOOD_1559, nonce=1.0), "nonce"),
    ("transaction", _with(GOOD_1559, nonce=True), "nonce"),
    ("transaction", _with(GOOD_1559, nonce="١٢"), "nonce"),
    ("transaction", _with(GOOD_1559, nonce=_DELETE), "nonce"),
    ("transaction", _with(GOOD_1559, gas=_DELETE), "gas"),
    ("transaction", _with(GOOD_1559, gasLimit=21000), "gasLimit"),
    ("transaction", _with(GOOD_1559, value=2**256), "value"),
    ("transaction", _with(GOOD_1559, value="9" * 5000), "value"),
    ("transaction", _with(GOOD_1559, value=None), "value"),
    ("transaction", _with(GOOD_1559, chainId=_DELETE), "chainId"),
    ("transaction", _with(GOOD_1559, chainId=None), "chainId"),
    ("transaction", _with(GOOD_1559, to="0x1234"), "to"),
    ("transaction", _with(GOOD_1559, to="0x96216849c49358b10257cb55b28eA603c874b05E"), "to"),
    ("transaction", _with(GOOD_1559, to=""), "to"),
    ("transaction", _with(GOOD_1559, data="0x123"), "data"),
    ("transaction", _with(GOOD_1559, data="1234"), "data"),
    ("transaction", _with(GOOD_1559, data="0x12 34"), "data"),
    ("transaction", _with(GOOD_1559, maxPriorityFeePerGas=3), "maxPriorityFeePerGas"),
    ("transaction", _with(GOOD_1559, gasPrice=1), "gasPrice"),
    ("transaction", _with(GOOD_1559, type=3), "type"),
    ("transaction", _with(GOOD_1559, type=5), "type"),
    ("transaction", _with(GOOD_1559, type="two"), "type"),
    ("transaction", _with(GOOD_1559, type=0), "maxFeePerGas"),
    ("transaction", _with(GOOD_1559, accessList={}), "accessList"),
    (
        "transaction",
        _with(GOOD_1559, accessList=[{"address": "0x" + "11" * 20}]),
        "accessList[0].storageKeys",
    ),
    (
        "transaction",
        _with(GOOD_1559, accessList=[{"address": "0x" + "11" * 20, "storageKeys": ["0x01"]}]),
        "accessList[0].storageKeys[0]",
    ),
    (
        "transaction",
        _with(GOOD_1559, accessList=[{"address": "0x11", "storageKeys": []}]),
        "accessList[0].address",
    ),
    (
        "transaction",
        _with(GOOD_1559, accessList=[{"address": "0x" + "11" * 20, "storageKeys": [], "x": 1}]),
        "accessList[0].x",
    ),
    ("transaction", _with(GOOD_1559, **{"from": "0xabc"}), "from"),
    ("transaction", _with(GOOD_1559, **{"input": "0x"}), "input"),
    (
        "transaction",
        {"chainId": 1, "nonce": 0, "gas": 1, "gasPrice": 1, "accessList": [], "type": 0},
        "accessList",
    ),
    ("transaction", {"nonce": 0, "gas": 1, "gasPrice": 1, "to": None}, "chainId"),
    ("transaction", _with(GOOD_7702, authorizationList=[]), "authorizationList"),
    ("transaction", _with(GOOD_7702, to=None), "to"),
    (
        "transaction",
        _with(GOOD_7702, authorizationList=[{"chainId": 1}]),
        "authorizationList[0].address",
    ),
    (
        "transaction",
        _with(GOOD_7702, authorizationList=[{**GOOD_7702["authorizationList"][0], "yParity": 256}]),
        "authorizationList[0].yParity",
    ),
    (
        "transaction",
        _with(GOOD_7702, authorizationList=[{**GOOD_7702["authorizationList"][0], "nonce": 2**64}]),
        "authorizationList[0].nonce",
    ),
    (
        "transaction",
        _with(GOOD_7702, authorizationList=[{**GOOD_7702["authorizationList"][0], "v": 27}]),
        "authorizationList[0].v",
    ),
    ("transaction", {**GOOD_1559, 7: 1}, "7"),
    ("authorization", _with(GOOD_AUTH, nonce=2**64), "nonce"),
    ("authorization", _with(GOOD_AUTH, chainId=-1), "chainId"),
    ("authorization", _with(GOOD_AUTH, address=None), "address"),
    ("authorization", _with(GOOD_AUTH, address=_DELETE), "address"),
    ("authorization", _with(GOOD_AUTH, yParity=0), "yParity"),
    ("personal_sign", {}, "message"),
    ("personal_sign", {"message": 5}, "message"),
    ("personal_sign", {"message": "\ud800"}, "message"),
    ("personal_sign", {"message": "0x123", "encoding": "hex"}, "message"),
    ("personal_sign", {"message": "hi", "encoding": "base64"}, "encoding"),
    ("personal_sign", {"message": "hi", "text": "hi"}, "text"),
    ("personal_sign", {"message": "hi", "from": BAD_MAILBOX_CHECKSUM}, "from"),
    ("typed_data", _with(GOOD_TYPED, types=_DELETE), "types"),
    ("typed_data", _with(GOOD_TYPED, primaryType="Nope"), "primaryType"),
    ("typed_data", _with(GOOD_TYPED, primaryType="EIP712Domain"), "primaryType"),
    ("typed_data", _with(GOOD_TYPED, domain={"name": "x", "foo": 1}), "domain.foo"),
    ("typed_data", _with(GOOD_TYPED, extra=1), "extra"),
]


def _typed_case(path: str, mutate: Callable[[dict[str, Any]], None]) -> tuple[str, Any, str]:
    payload = json.loads(json.dumps(GOOD_TYPED))
    mutate(payload)
    return ("typed_data", payload, path)


def _set(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(payload: dict[str, Any]) -> None:
        target = payload
        for key in keys[:-1]:
            target = target[key]
        if value is _DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value

    return mutate


BAD_PAYLOADS += [
    _typed_case(
        "message.from.wallet", _set("message", "from", "wallet", value=BAD_MAILBOX_CHECKSUM)
    ),
    _typed_case("message.from.name", _set("message", "from", "name", value=7)),
    _typed_case("message.from.name", _set("message", "from", "name", value=_DELETE)),
    _typed_case("message.from.age", _set("message", "from", "age", value=3)),
    _typed_case("message.to[0].wallet", _set("message", "to", 0, "wallet", value="0x00")),
    _typed_case("message.to", _set("message", "to", value={"name": "Bob"})),
    _typed_case("message.tag", _set("message", "tag", value="0x0102")),
    _typed_case("message.tag", _set("message", "tag", value="0x0102030405")),
    _typed_case("message.n", _set("message", "n", value=[1])),
    _typed_case("message.n[1]", _set("message", "n", 1, value=128)),
    _typed_case("message.n[0]", _set("message", "n", 0, value="-129")),
    _typed_case("message.ok", _set("message", "ok", value="false")),
    _typed_case("message.ok", _set("message", "ok", value=1)),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value="Persona")),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value="uint")),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value="uint7")),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value="Person[0]")),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value="Person[01]")),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value="[]")),
    _typed_case("types.Mail[0].type", _set("types", "Mail", 0, "type", value=5)),
    _typed_case("types.Mail[0].name", _set("types", "Mail", 0, "name", value="fr om")),
    _typed_case("types.Mail[1].name", _set("types", "Mail", 1, "name", value="from")),
    _typed_case("types.Mail[0].x", _set("types", "Mail", 0, "x", value="y")),
    _typed_case("types.Mail", _set("types", "Mail", value={"name": "x"})),
    _typed_case("types.uint256", _set("types", "uint256", value=[])),
    _typed_case("types.Bad Name", _set("types", "Bad Name", value=[])),
    _typed_case(
        "types.EIP712Domain[0].type",
        _set("types", "EIP712Domain", value=[{"name": "name", "type": "strin"}]),
    ),
    _typed_case(
        "domain.chainId", _set("types", "EIP712Domain", value=[{"name": "name", "type": "string"}])
    ),
]


@pytest.mark.parametrize(
    ("kind", "payload", "path"),
    BAD_PAYLOADS,
    ids=[f"{kind}:{path or 'root'}:{i}" for i, (kind, _, path) in enumerate(BAD_PAYLOADS)],
)
def test_bad_payload_names_the_field(kind: str, payload: Any, path: str) -> None:
    with pytest.raises(PayloadError) as caught:
        ADAPTER.build_intent(kind, payload)
    assert caught.value.path == path, caught.value
    assert caught.value.problem


def test_unknown_kind() -> None:
    with pytest.raises(UnsupportedKindError) as caught:
        ADAPTER.build_intent("eth_sign", {})
    assert caught.value.path == "kind"


def test_good_payloads_build() -> None:
    for kind, payload in GOOD.items():
        _assert_rebuilds(kind, ADAPTER.build_intent(kind, payload))
    _assert_rebuilds("transaction", ADAPTER.build_intent("transaction", GOOD_7702))


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**300), 2**300),
        st.floats(allow_nan=True),
        st.text(max_size=70),
        st.sampled_from(["0x", "0x00", "0x" + "ab" * 20, "0xZZ", "-1", "1e3", "\uff10", "\ud800"]),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def _leaf_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            paths += _leaf_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths += _leaf_paths(item, (*prefix, index))
    return paths


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(GOOD)),
    data=st.data(),
    replacement=json_values,
    delete=st.booleans(),
)
def test_fuzzed_payloads_raise_only_payload_errors(
    kind: str, data: st.DataObject, replacement: Any, delete: bool
) -> None:
    payload = json.loads(json.dumps(GOOD_7702 if kind == "transaction" else GOOD[kind]))
    paths = _leaf_paths(payload)
    path = data.draw(st.sampled_from(paths))
    if not path:
        payload = replacement
    else:
        target = payload
        for key in path[:-1]:
            target = target[key]
        if delete and isinstance(target, dict):
            del target[path[-1]]
        else:
            target[path[-1]] = replacement
    try:
        intent = ADAPTER.build_intent(kind, payload)
    except PayloadError as exc:
        assert isinstance(exc.path, str) and exc.problem
        return
    _assert_rebuilds(kind, intent)


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(sorted(GOOD)), payload=json_values)
def test_random_json_raises_only_payload_errors(kind: str, payload: Any) -> None:
    with contextlib.suppress(PayloadError):
        ADAPTER.build_intent(kind, payload)


# -- bad signatures ---------------------------------------------------------------------

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_bad_signatures_raise_finalize_error(kind: str) -> None:
    intent = ADAPTER.build_intent(kind, GOOD[kind])
    engine, _ = _engine_for(KEY)
    good = engine.sign(intent.sign_requests[0], "key")
    r, s = good[:32], int.from_bytes(good[32:64], "big")
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([good[64] ^ 1])
    for bad in (good[:64], good + b"\x00", high_s, good[:64] + b"\x02", bytes(64) + b"\x00"):
        with pytest.raises(FinalizeError):
            intent.finalize([bad])
    with pytest.raises(FinalizeError):
        intent.finalize([])
    with pytest.raises(FinalizeError):
        intent.finalize([good, good])
    with pytest.raises(FinalizeError):
        ADAPTER.build_intent(kind, {**GOOD[kind], "from": "0x" + "00" * 20}).finalize([good])
    assert intent.finalize([good]).chain == "evm"


# -- executed on a real EVM, in process -------------------------------------------------

DELEGATE = "0x" + "d7" * 20


def _execute_on_pyevm(
    engine: SignerEngine, key_ref: str, sender: str, *, with_set_code: bool = True
) -> None:
    """Fund ``sender``, then send EIP-1559, legacy (and EIP-7702) transactions it signs."""
    eth_tester = pytest.importorskip("eth_tester")
    tester = eth_tester.EthereumTester(eth_tester.PyEVMBackend())
    chain_id = tester.backend.chain.chain_id
    funder = tester.get_accounts()[0]
    tester.send_transaction(
        {
            "from": funder,
            "to": sender,
            "value": 10**18,
            "gas": 21000,
            "max_fee_per_gas": 10**10,
            "max_priority_fee_per_gas": 10**9,
        }
    )
    recipient = "0x000000000000000000000000000000000000bEEF"
    fees = {"maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9}

    def send(kind: str, payload: dict[str, Any]) -> Any:
        intent = ADAPTER.build_intent(kind, payload)
        result = _sign_and_finalize(intent, engine, key_ref)
        if kind == "transaction":
            tx_hash = tester.send_raw_transaction("0x" + result.raw.hex())
            assert tx_hash == result.hash
            assert tester.get_transaction_receipt(tx_hash)["status"] == 1
        return result

    send(
        "transaction",
        {
            "chainId": chain_id,
            "nonce": 0,
            "gas": 21000,
            "to": recipient,
            "value": 12345,
            "from": sender,
            **fees,
        },
    )
    assert tester.get_balance(recipient) == 12345
    send(
        "transaction",
        {
            "chainId": chain_id,
            "nonce": 1,
            "gas": 21000,
            "gasPrice": 10**10,
            "to": recipient,
            "value": "1000",
            "from": sender,
        },
    )
    assert tester.get_balance(recipient) == 13345
    if not with_set_code:
        return

    # EIP-7702: the sender is also the authority, so the authorization carries the nonce
    # the account will have once the transaction's own nonce is spent (EIP-7702 note).
    auth = send(
        "authorization", {"chainId": chain_id, "address": DELEGATE, "nonce": 3, "from": sender}
    )
    assert auth.extra["authority"] == sender
    # eth-account's own hash of the tuple, and its recovery, name the same authority.
    signed = auth.extra["authorization"]
    their_hash = Authorization(chain_id, bytes.fromhex(DELEGATE[2:]), 3).hash()
    vrs = (int(signed["yParity"]), int(signed["r"], 16), int(signed["s"], 16))
    assert Account._recover_hash(their_hash, vrs=vrs) == sender
    send(
        "transaction",
        {
            "chainId": chain_id,
            "nonce": 2,
            "gas": 100000,
            "to": recipient,
            "authorizationList": [signed],
            "from": sender,
            **fees,
        },
    )
    assert tester.get_code(sender) == "0xef0100" + DELEGATE[2:]


def test_local_key_transactions_execute_on_pyevm() -> None:
    secret = bytes.fromhex("ab" * 32)
    engine, sender = _engine_for(secret)
    assert PrivateKey(secret).public_key.format() == engine.public_key("key")
    _execute_on_pyevm(engine, "key", sender)


def test_threshold_ecdsa_transactions_execute_on_pyevm() -> None:
    """EIP-1559, legacy and EIP-7702 signed by the 2-of-2 ``threshold-secp256k1-ecdsa-2p-v1``."""
    from cosigner import keys
    from cosigner.chains.engines import ThresholdEcdsaEngine
    from cosigner.ecdsa import two_party_v1_shares

    x_client = keys.derive_client_share(bytes(range(32)), user_id="alice", rp_id="example.org")
    x_relayer = keys.derive_relayer_share(
        bytes(range(32, 64)),
        user_id="alice",
        rp_id="example.org",
        client_verifying_share=keys.verifying_share(x_client),
    )
    shares = two_party_v1_shares(x_client, x_relayer)
    engine = ThresholdEcdsaEngine()
    group_key = engine.add_group("two-party", shares)
    sender = keys.ethereum_address(group_key)
    public = PublicKey(group_key).format(compressed=False)
    assert sender == to_checksum_address(address_from_public_key(public))
    _execute_on_pyevm(engine, "two-party", sender, with_set_code=True)


# -- the benchmark ----------------------------------------------------------------------


def test_bench_chains_checks_every_evm_kind_against_eth_account(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cosigner import cli
    from cosigner.bench import chains as bench

    argv = ["bench", "chains", "--repeat", "1", "--number", "1", "--chains", "evm"]
    assert cli.main(argv) == 0
    report = capsys.readouterr().out
    assert "targets:" in report
    lines = bench.run(repeat=1, number=1, chains=["evm"], out=io.StringIO())
    assert {line.kind.kind for line in lines} == set(EvmAdapter.kinds)
    # run() checked that eth-account's digest equals ours for every kind before timing it
    assert all(line.peer is not None and line.ratio is not None for line in lines)
