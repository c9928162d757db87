"""The NEAR adapter: every payload kind, FROST signing, Borsh round trips, bad payloads.

* every payload kind and every classic action rebuilds the same sign requests
  (and the same ui_model) from ``ui_model["fields"]`` alone;
* a transfer signed by FROST(Ed25519) 2-of-3 verifies under cryptography's
  Ed25519 verifier against the sha256 of its Borsh bytes;
* hypothesis round trips for every encoder (actions, Transaction,
  SignedTransaction, DelegateAction, SignedDelegate, NEP-413 payload), and
  truncated, extended or corrupted encodings raise DecodeError and nothing else;
* bad payloads raise PayloadError naming the field path;
* the interop lane: near-api-js (``@near-js/transactions``) decodes our
  SignedTransactions, re-encodes them to the same bytes and verifies their
  signatures (skipped, with the reason, without Node.js).

The vector files are checked by ``test_chain_vectors.py`` through
``chain_checks_near.py``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import base58
import pytest
from coincurve import PublicKey as Secp256k1PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosigner import frost
from cosigner.chains.borsh import BorshReader, BorshWriter, decode_all
from cosigner.chains.engines import FrostEngine, LocalKeyEngine
from cosigner.chains.errors import FinalizeError, PayloadError, UnsupportedKindError
from cosigner.chains.near import (
    AccessKey,
    Action,
    AddKey,
    CreateAccount,
    Delegate,
    DelegateAction,
    DeleteAccount,
    DeleteKey,
    DeployContract,
    FullAccess,
    FunctionCall,
    FunctionCallPermission,
    NearAdapter,
    Nep413Payload,
    PublicKey,
    Signature,
    SignedDelegate,
    SignedTransaction,
    Stake,
    Transaction,
    Transfer,
    action_from_fields,
    action_to_fields,
    read_action,
    write_action,
)
from cosigner.errors import DecodeError

ADAPTER = NearAdapter()
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys from fixed seeds, so the payloads below are stable.
ALICE_SEED = hashlib.sha256(b"cosigner near test alice").digest()
RELAYED_SEED = hashlib.sha256(b"cosigner near test relayed").digest()
_KEYS = LocalKeyEngine()
ALICE = "ed25519:" + base58.b58encode(_KEYS.add_ed25519("alice", ALICE_SEED)).decode()
RELAYED = "ed25519:" + base58.b58encode(_KEYS.add_ed25519("relayed", RELAYED_SEED)).decode()
OTHER_KEY = "ed25519:" + base58.b58encode(bytes(range(32))).decode()
BLOCK_HASH = base58.b58encode(hashlib.sha256(b"block").digest()).decode()
ONE_NEAR = 10**24


def near_secp256k1_key(compressed: bytes) -> str:
    """NEAR writes a secp256k1 key as its 64-byte uncompressed point, without the 0x04."""
    point = Secp256k1PublicKey(compressed).format(compressed=False)[1:]
    return "secp256k1:" + base58.b58encode(point).decode()


def transfer_payload(public_key: str = ALICE, deposit: int = ONE_NEAR) -> dict[str, Any]:
    return {
        "signer_id": "alice.near",
        "public_key": public_key,
        "nonce": 7,
        "receiver_id": "bob.near",
        "block_hash": BLOCK_HASH,
        "actions": [{"Transfer": {"deposit": str(deposit)}}],
    }


def delegate_payload() -> dict[str, Any]:
    return {
        "sender_id": "relayed.near",
        "receiver_id": "contract.near",
        "actions": [
            {
                "FunctionCall": {
                    "method_name": "set_greeting",
                    "args_json": {"greeting": "hi"},
                    "gas": "30000000000000",
                    "deposit": "0",
                }
            }
        ],
        "nonce": "12",
        "max_block_height": "1000",
        "public_key": RELAYED,
    }


def signed_delegate_fields() -> dict[str, Any]:
    """A Delegate action's fields, with the relayed user's real NEP-366 signature."""
    intent = ADAPTER.build_intent("delegate_action", delegate_payload())
    signature = _KEYS.sign(intent.sign_requests[0], "relayed")
    action: dict[str, Any] = intent.finalize([signature]).extra["action"]
    return action


def all_actions_payload() -> dict[str, Any]:
    return {
        "signer_id": "alice.near",
        "public_key": ALICE,
        "nonce": "8",
        "receiver_id": "sub.alice.near",
        "block_hash": BLOCK_HASH,
        "actions": [
            "CreateAccount",
            {"DeployContract": {"code_base64": base64.b64encode(b"\0asm\1\0\0\0").decode()}},
            {
                "FunctionCall": {
                    "method_name": "new",
                    "args_json": {"owner_id": "alice.near", "total": "1000"},
                    "gas": 30 * 10**12,
                    "deposit": "1",
                }
            },
            {
                "FunctionCall": {
                    "method_name": "raw",
                    "args_base64": base64.b64encode(b"\xff\x00binary").decode(),
                    "gas": "1",
                    "deposit": "0",
                }
            },
            {"Transfer": {"deposit": str(5 * ONE_NEAR // 2)}},
            {"Stake": {"stake": str(100 * ONE_NEAR), "public_key": OTHER_KEY}},
            {
                "AddKey": {
                    "public_key": OTHER_KEY,
                    "access_key": {"nonce": 0, "permission": "FullAccess"},
                }
            },
            {
                "AddKey": {
                    "public_key": RELAYED,
                    "access_key": {
                        "nonce": "0",
                        "permission": {
                            "FunctionCall": {
                                "allowance": str(ONE_NEAR // 4),
                                "receiver_id": "app.near",
                                "method_names": ["play", "claim"],
                            }
                        },
                    },
                }
            },
            {
                "AddKey": {
                    "public_key": ALICE,
                    "access_key": {
                        "nonce": "3",
                        "permission": {
                            "FunctionCall": {
                                "allowance": None,
                                "receiver_id": "app.near",
                                "method_names": [],
                            }
                        },
                    },
                }
            },
            {"DeleteKey": {"public_key": OTHER_KEY}},
            {"DeleteAccount": {"beneficiary_id": "alice.near"}},
            signed_delegate_fields(),
        ],
    }


def nep413_payload(callback: str | None = "https://app.example/cb") -> dict[str, Any]:
    return {
        "message": "Sign in to app.example",
        "recipient": "app.example",
        "nonce_base64": base64.b64encode(bytes(range(32))).decode(),
        "callback_url": callback,
        "account_id": "alice.near",
        "public_key": ALICE,
    }


def _borsh_payload(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    if kind == "transaction":
        data = Transaction.from_fields(payload).to_borsh()
    else:
        data = DelegateAction.from_fields(payload).to_borsh()
    return {"borsh_base64": base64.b64encode(data).decode()}


SAMPLES: list[tuple[str, str, Any]] = [
    ("transfer", "transaction", transfer_payload),
    ("all-actions", "transaction", all_actions_payload),
    (
        "all-actions-borsh",
        "transaction",
        lambda: _borsh_payload("transaction", all_actions_payload()),
    ),
    (
        "block-hash-hex",
        "transaction",
        lambda: {
            **{k: v for k, v in transfer_payload().items() if k != "block_hash"},
            "block_hash_hex": base58.b58decode(BLOCK_HASH).hex(),
        },
    ),
    ("delegate-action", "delegate_action", delegate_payload),
    (
        "delegate-action-borsh",
        "delegate_action",
        lambda: _borsh_payload("delegate_action", delegate_payload()),
    ),
    ("nep413-callback", "nep413", nep413_payload),
    ("nep413-no-callback", "nep413", lambda: nep413_payload(None)),
    (
        "nep413-bare",
        "nep413",
        lambda: {
            "message": "hi",
            "recipient": "app",
            "nonce_hex": "11" * 32,
        },
    ),
]


# -- every payload kind: ui_model alone rebuilds the sign requests ----------------------


@pytest.mark.parametrize(
    ("kind", "make"), [(k, m) for _, k, m in SAMPLES], ids=[n for n, _, _ in SAMPLES]
)
def test_ui_model_rebuilds_sign_requests(kind: str, make: Any) -> None:
    intent = ADAPTER.build_intent(kind, make())
    ui = intent.ui_model
    assert set(ui) == {"chain", "kind", "summary", "fields", "display"}
    assert ui["chain"] == "near" and ui["kind"] == kind
    assert json.loads(json.dumps(ui)) == ui
    again = ADAPTER.build_intent(kind, json.loads(json.dumps(ui["fields"])))
    assert again.sign_requests == intent.sign_requests
    assert again.ui_model == ui
    for request in intent.sign_requests:
        assert request.prehashed and len(request.message) == 32


def test_all_actions_are_shown() -> None:
    intent = ADAPTER.build_intent("transaction", all_actions_payload())
    display = intent.ui_model["display"]
    types = [a["type"] for a in display["actions"]]
    assert types == [
        "CreateAccount",
        "DeployContract",
        "FunctionCall",
        "FunctionCall",
        "Transfer",
        "Stake",
        "AddKey",
        "AddKey",
        "AddKey",
        "DeleteKey",
        "DeleteAccount",
        "Delegate",
    ]
    call = display["actions"][2]
    assert call["args_json"] == {"owner_id": "alice.near", "total": "1000"}
    assert call["gas"] == {"gas": "30000000000000", "TGas": "30"}
    assert display["actions"][4]["deposit"] == {"yoctoNEAR": str(5 * ONE_NEAR // 2), "NEAR": "2.5"}
    assert (
        display["actions"][6]["permission"] == "FullAccess" and "warning" in display["actions"][6]
    )
    assert display["actions"][7]["allowance"]["NEAR"] == "0.25"
    assert display["actions"][8]["allowance"] == "unlimited"
    delegate = display["actions"][11]
    assert delegate["sender_id"] == "relayed.near" and delegate["signature_valid"] is True
    assert delegate["actions"][0]["args_json"] == {"greeting": "hi"}
    fields = intent.ui_model["fields"]["actions"]
    assert fields[0] == {"CreateAccount": {}}
    assert fields[2]["FunctionCall"]["args_utf8"] == '{"owner_id":"alice.near","total":"1000"}'
    assert "args_base64" in fields[3]["FunctionCall"]
    assert "FULL-ACCESS" in intent.ui_model["summary"]


# -- FROST(Ed25519) 2-of-3 -----------------------------------------------------------------


@pytest.fixture(scope="module")
def frost_group() -> tuple[FrostEngine, str]:
    key_packages, public = frost.keygen_with_dealer("ed25519", 2, 3)
    engine = FrostEngine()
    group_key = engine.add_group("near", {int(i): kp for i, kp in key_packages.items()}, public)
    return engine, "ed25519:" + base58.b58encode(group_key).decode()


@pytest.mark.parametrize("signers", [(1, 2), (1, 3), (2, 3)])
def test_frost_transfer_verifies_under_standard_ed25519(
    frost_group: tuple[FrostEngine, str], signers: tuple[int, int]
) -> None:
    engine, public_key = frost_group
    intent = ADAPTER.build_intent("transaction", transfer_payload(public_key))
    (request,) = intent.sign_requests
    signature = engine.sign(request, "near", signers=signers)
    final = intent.finalize([signature])
    assert final.raw is not None

    signed = SignedTransaction.from_borsh(final.raw)
    borsh_tx = signed.transaction.to_borsh()
    assert final.raw == borsh_tx + b"\x00" + signature
    digest = hashlib.sha256(borsh_tx).digest()
    assert final.hash == base58.b58encode(digest).decode()
    group_key = base58.b58decode(public_key.removeprefix("ed25519:"))
    Ed25519PublicKey.from_public_bytes(group_key).verify(signature, digest)  # raises if invalid


def test_frost_delegate_and_nep413(frost_group: tuple[FrostEngine, str]) -> None:
    engine, public_key = frost_group
    for kind, payload in (
        ("delegate_action", {**delegate_payload(), "public_key": public_key}),
        ("nep413", {**nep413_payload(), "public_key": public_key}),
    ):
        intent = ADAPTER.build_intent(kind, payload)
        (request,) = intent.sign_requests
        signature = engine.sign(request, "near", signers=(3, 1))
        intent.finalize([signature])  # checks the signature against the key
        key = base58.b58decode(public_key.removeprefix("ed25519:"))
        Ed25519PublicKey.from_public_bytes(key).verify(signature, request.message)


def test_secp256k1_signer_key() -> None:
    engine = LocalKeyEngine()
    compressed = engine.add_secp256k1("k1", hashlib.sha256(b"near k1").digest())
    public_key = near_secp256k1_key(compressed)
    intent = ADAPTER.build_intent("transaction", transfer_payload(public_key))
    (request,) = intent.sign_requests
    assert request.algorithm == "secp256k1"
    final = intent.finalize([engine.sign(request, "k1")])
    assert final.raw is not None
    signed = SignedTransaction.from_borsh(final.raw)
    assert signed.signature.key_type == 1 and len(signed.signature.data) == 65
    assert signed.verify()


# -- finalize refuses what does not fit -------------------------------------------------


def test_finalize_refuses_bad_signatures() -> None:
    intent = ADAPTER.build_intent("transaction", transfer_payload())
    (request,) = intent.sign_requests
    good = _KEYS.sign(request, "alice")
    wrong_key = _KEYS.sign(request, "relayed")
    with pytest.raises(FinalizeError, match="does not verify"):
        intent.finalize([wrong_key])
    with pytest.raises(FinalizeError, match="64 bytes"):
        intent.finalize([good[:63]])
    with pytest.raises(FinalizeError, match="1 signatures expected"):
        intent.finalize([good, good])
    tampered = bytearray(good)
    tampered[0] ^= 1
    with pytest.raises(FinalizeError):
        intent.finalize([bytes(tampered)])
    assert intent.finalize([good]).hash == intent.ui_model["display"]["transaction_hash"]


def test_nep413_without_public_key_is_not_checked_but_encoded() -> None:
    payload = {k: v for k, v in nep413_payload().items() if k != "public_key"}
    intent = ADAPTER.build_intent("nep413", payload)
    signature = _KEYS.sign(intent.sign_requests[0], "alice")
    final = intent.finalize([signature])
    assert final.raw is None and final.hash is None
    assert base64.b64decode(final.extra["signature"]) == signature
    assert final.extra["accountId"] == "alice.near" and "publicKey" not in final.extra


# -- bad payloads -------------------------------------------------------------------------


def _with(payload: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_DELETE = object()
_TX = transfer_payload()
_CALL = {"FunctionCall": {"method_name": "m", "args_utf8": "{}", "gas": "1", "deposit": "0"}}
_ADD_FC = {
    "AddKey": {
        "public_key": OTHER_KEY,
        "access_key": {
            "nonce": "0",
            "permission": {
                "FunctionCall": {"allowance": None, "receiver_id": "app.near", "method_names": []}
            },
        },
    }
}
_DA = delegate_payload()
_NEP = nep413_payload()

BAD: list[tuple[str, str, dict[str, Any] | Any, str]] = [
    (
        "addkey-fullaccess-extra",
        "transaction",
        {
            **_TX,
            "actions": [
                _with(_ADD_FC, ["AddKey", "access_key", "permission"], {"FullAccess": {"x": 1}})
            ],
        },
        "actions[0].AddKey.access_key.permission.FullAccess.x",
    ),
    ("not-an-object", "transaction", ["not", "an", "object"], ""),
    ("unknown-field", "transaction", {**_TX, "fee": "1"}, "fee"),
    ("signer-uppercase", "transaction", {**_TX, "signer_id": "Alice.near"}, "signer_id"),
    ("signer-number", "transaction", {**_TX, "signer_id": 5}, "signer_id"),
    ("signer-too-long", "transaction", {**_TX, "signer_id": "a" * 65}, "signer_id"),
    ("receiver-double-dot", "transaction", {**_TX, "receiver_id": "bob..near"}, "receiver_id"),
    ("receiver-missing", "transaction", _with(_TX, ["receiver_id"], _DELETE), "receiver_id"),
    ("key-no-prefix", "transaction", {**_TX, "public_key": ALICE[8:]}, "public_key"),
    ("key-bad-base58", "transaction", {**_TX, "public_key": "ed25519:0OIl"}, "public_key"),
    (
        "key-short",
        "transaction",
        {**_TX, "public_key": "ed25519:" + base58.b58encode(b"1" * 31).decode()},
        "public_key",
    ),
    ("key-unknown-type", "transaction", {**_TX, "public_key": "rsa:abc"}, "public_key"),
    ("nonce-negative", "transaction", {**_TX, "nonce": -1}, "nonce"),
    ("nonce-hex", "transaction", {**_TX, "nonce": "0x10"}, "nonce"),
    ("nonce-too-big", "transaction", {**_TX, "nonce": 2**64}, "nonce"),
    ("nonce-bool", "transaction", {**_TX, "nonce": True}, "nonce"),
    ("nonce-float", "transaction", {**_TX, "nonce": 1.5}, "nonce"),
    ("block-hash-short", "transaction", {**_TX, "block_hash": "abc"}, "block_hash"),
    ("block-hash-twice", "transaction", {**_TX, "block_hash_hex": "00" * 32}, "block_hash_hex"),
    ("block-hash-missing", "transaction", _with(_TX, ["block_hash"], _DELETE), "block_hash"),
    ("actions-not-list", "transaction", {**_TX, "actions": {"Transfer": {}}}, "actions"),
    (
        "deposit-negative",
        "transaction",
        _with(_TX, ["actions", 0, "Transfer", "deposit"], "-1"),
        "actions[0].Transfer.deposit",
    ),
    (
        "deposit-too-big",
        "transaction",
        _with(_TX, ["actions", 0, "Transfer", "deposit"], str(2**128)),
        "actions[0].Transfer.deposit",
    ),
    (
        "deposit-missing",
        "transaction",
        _with(_TX, ["actions", 0, "Transfer", "deposit"], _DELETE),
        "actions[0].Transfer.deposit",
    ),
    (
        "action-extra-field",
        "transaction",
        _with(_TX, ["actions", 0, "Transfer", "memo"], "x"),
        "actions[0].Transfer.memo",
    ),
    (
        "action-unknown",
        "transaction",
        {**_TX, "actions": [{"Transferr": {}}]},
        "actions[0].Transferr",
    ),
    (
        "action-two-keys",
        "transaction",
        {**_TX, "actions": [{"Transfer": {"deposit": "1"}, "CreateAccount": {}}]},
        "actions[0]",
    ),
    (
        "action-not-object",
        "transaction",
        {**_TX, "actions": [{"Transfer": "1"}]},
        "actions[0].Transfer",
    ),
    (
        "action-global-contract",
        "transaction",
        {**_TX, "actions": [{"UseGlobalContract": {}}]},
        "actions[0].UseGlobalContract",
    ),
    (
        "call-no-args",
        "transaction",
        {**_TX, "actions": [_with(_CALL, ["FunctionCall", "args_utf8"], _DELETE)]},
        "actions[0].FunctionCall.args_utf8",
    ),
    (
        "call-two-args",
        "transaction",
        {**_TX, "actions": [_with(_CALL, ["FunctionCall", "args_base64"], "e30=")]},
        "actions[0].FunctionCall.args_base64",
    ),
    (
        "call-bad-base64",
        "transaction",
        {
            **_TX,
            "actions": [
                {
                    "FunctionCall": {
                        "method_name": "m",
                        "args_base64": "!!",
                        "gas": "1",
                        "deposit": "0",
                    }
                }
            ],
        },
        "actions[0].FunctionCall.args_base64",
    ),
    (
        "call-gas-too-big",
        "transaction",
        {**_TX, "actions": [_with(_CALL, ["FunctionCall", "gas"], str(2**64))]},
        "actions[0].FunctionCall.gas",
    ),
    (
        "call-empty-method",
        "transaction",
        {**_TX, "actions": [_with(_CALL, ["FunctionCall", "method_name"], "")]},
        "actions[0].FunctionCall.method_name",
    ),
    (
        "call-args-json-nan",
        "transaction",
        {
            **_TX,
            "actions": [
                {
                    "FunctionCall": {
                        "method_name": "m",
                        "args_json": float("nan"),
                        "gas": "1",
                        "deposit": "0",
                    }
                }
            ],
        },
        "actions[0].FunctionCall.args_json",
    ),
    (
        "call-args-lone-surrogate",
        "transaction",
        {**_TX, "actions": [_with(_CALL, ["FunctionCall", "args_utf8"], "\ud800")]},
        "actions[0].FunctionCall.args_utf8",
    ),
    (
        "addkey-bad-permission",
        "transaction",
        {**_TX, "actions": [_with(_ADD_FC, ["AddKey", "access_key", "permission"], "Partial")]},
        "actions[0].AddKey.access_key.permission",
    ),
    (
        "addkey-bad-receiver",
        "transaction",
        {
            **_TX,
            "actions": [
                _with(
                    _ADD_FC,
                    ["AddKey", "access_key", "permission", "FunctionCall", "receiver_id"],
                    "APP",
                )
            ],
        },
        "actions[0].AddKey.access_key.permission.FunctionCall.receiver_id",
    ),
    (
        "addkey-methods-not-list",
        "transaction",
        {
            **_TX,
            "actions": [
                _with(
                    _ADD_FC,
                    ["AddKey", "access_key", "permission", "FunctionCall", "method_names"],
                    "play",
                )
            ],
        },
        "actions[0].AddKey.access_key.permission.FunctionCall.method_names",
    ),
    (
        "addkey-method-number",
        "transaction",
        {
            **_TX,
            "actions": [
                _with(
                    _ADD_FC,
                    ["AddKey", "access_key", "permission", "FunctionCall", "method_names"],
                    [1],
                )
            ],
        },
        "actions[0].AddKey.access_key.permission.FunctionCall.method_names[0]",
    ),
    (
        "addkey-allowance-bad",
        "transaction",
        {
            **_TX,
            "actions": [
                _with(
                    _ADD_FC,
                    ["AddKey", "access_key", "permission", "FunctionCall", "allowance"],
                    "lots",
                )
            ],
        },
        "actions[0].AddKey.access_key.permission.FunctionCall.allowance",
    ),
    (
        "addkey-nonce-missing",
        "transaction",
        {**_TX, "actions": [_with(_ADD_FC, ["AddKey", "access_key", "nonce"], _DELETE)]},
        "actions[0].AddKey.access_key.nonce",
    ),
    (
        "delete-account-empty",
        "transaction",
        {**_TX, "actions": [{"DeleteAccount": {"beneficiary_id": ""}}]},
        "actions[0].DeleteAccount.beneficiary_id",
    ),
    (
        "stake-bad-key",
        "transaction",
        {**_TX, "actions": [{"Stake": {"stake": "1", "public_key": "ed25519:"}}]},
        "actions[0].Stake.public_key",
    ),
    (
        "deploy-bad-code",
        "transaction",
        {**_TX, "actions": [{"DeployContract": {"code_base64": "%%"}}]},
        "actions[0].DeployContract.code_base64",
    ),
    (
        "delegate-bad-signature",
        "transaction",
        {**_TX, "actions": [{"Delegate": {"delegate_action": _DA, "signature": "ed25519:abc"}}]},
        "actions[0].Delegate.signature",
    ),
    (
        "delegate-nested",
        "transaction",
        {
            **_TX,
            "actions": [
                {
                    "Delegate": {
                        "delegate_action": {**_DA, "actions": [{"Delegate": {}}]},
                        "signature": "ed25519:abc",
                    }
                }
            ],
        },
        "actions[0].Delegate.delegate_action.actions[0].Delegate",
    ),
    (
        "delegate-inner-path",
        "transaction",
        {
            **_TX,
            "actions": [
                {
                    "Delegate": {
                        "delegate_action": _with(_DA, ["actions", 0, "FunctionCall", "gas"], "x"),
                        "signature": "ed25519:abc",
                    }
                }
            ],
        },
        "actions[0].Delegate.delegate_action.actions[0].FunctionCall.gas",
    ),
    ("borsh-not-base64", "transaction", {"borsh_base64": "***"}, "borsh_base64"),
    (
        "borsh-truncated",
        "transaction",
        {"borsh_base64": base64.b64encode(Transaction.from_fields(_TX).to_borsh()[:-1]).decode()},
        "borsh_base64",
    ),
    (
        "borsh-trailing",
        "transaction",
        {
            "borsh_base64": base64.b64encode(
                Transaction.from_fields(_TX).to_borsh() + b"\0"
            ).decode()
        },
        "borsh_base64",
    ),
    ("borsh-plus-field", "transaction", {"borsh_base64": "AA==", "nonce": 1}, "nonce"),
    ("da-height", "delegate_action", {**_DA, "max_block_height": "soon"}, "max_block_height"),
    (
        "da-nested-delegate",
        "delegate_action",
        {**_DA, "actions": [{"Delegate": {}}]},
        "actions[0].Delegate",
    ),
    ("da-sender", "delegate_action", {**_DA, "sender_id": "-bad"}, "sender_id"),
    ("da-missing-key", "delegate_action", _with(_DA, ["public_key"], _DELETE), "public_key"),
    (
        "nep413-nonce-short",
        "nep413",
        {**_NEP, "nonce_base64": base64.b64encode(bytes(31)).decode()},
        "nonce_base64",
    ),
    ("nep413-nonce-twice", "nep413", {**_NEP, "nonce_hex": "00" * 32}, "nonce_hex"),
    ("nep413-no-nonce", "nep413", _with(_NEP, ["nonce_base64"], _DELETE), "nonce_base64"),
    ("nep413-no-recipient", "nep413", _with(_NEP, ["recipient"], _DELETE), "recipient"),
    ("nep413-empty-recipient", "nep413", {**_NEP, "recipient": ""}, "recipient"),
    ("nep413-callback-number", "nep413", {**_NEP, "callback_url": 5}, "callback_url"),
    ("nep413-account", "nep413", {**_NEP, "account_id": "A"}, "account_id"),
    ("nep413-message-number", "nep413", {**_NEP, "message": 1}, "message"),
]


@pytest.mark.parametrize(("kind", "payload", "path"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_payload_names_the_field(kind: str, payload: Any, path: str) -> None:
    with pytest.raises(PayloadError) as err:
        ADAPTER.build_intent(kind, payload)
    assert err.value.path == path, err.value
    assert err.value.code == "invalid_payload"
    assert str(err.value)


def test_unknown_kind() -> None:
    with pytest.raises(UnsupportedKindError) as err:
        ADAPTER.build_intent("message", _TX)
    assert err.value.path == "kind" and err.value.code == "unsupported_kind"


# -- Borsh: the writer, the reader, and malformed bytes ----------------------------------


def test_borsh_writer_refuses_out_of_range() -> None:
    with pytest.raises(ValueError):
        BorshWriter().u8(256)
    with pytest.raises(ValueError):
        BorshWriter().u64(-1)
    with pytest.raises(ValueError):
        BorshWriter().u128(2**128)
    with pytest.raises(ValueError):
        BorshWriter().fixed(b"\0" * 31, 32)


MALFORMED: list[tuple[str, bytes, Any]] = [
    ("empty", b"", Transaction.from_borsh),
    ("unknown-key-type", bytes.fromhex("0100000061") + b"\x02" + bytes(32), Transaction.from_borsh),
    ("string-not-utf8", bytes.fromhex("01000000ff"), Transaction.from_borsh),
    (
        "vec-length-huge",
        b"\xff\xff\xff\xff",
        lambda b: decode_all(b, lambda r: r.vec(BorshReader.u8), "v"),
    ),
    ("option-tag-2", b"\x02", lambda b: decode_all(b, lambda r: r.option(BorshReader.u8), "o")),
    ("action-tag-11", b"\x0b", lambda b: decode_all(b, read_action, "a")),
    ("action-global-contract", b"\x09", lambda b: decode_all(b, read_action, "a")),
    ("permission-tag-2", bytes(8) + b"\x02", lambda b: decode_all(b, AccessKey.read, "k")),
    ("signature-type-5", b"\x05" + bytes(64), lambda b: decode_all(b, Signature.read, "s")),
]


@pytest.mark.parametrize(
    ("data", "decode"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_borsh_raises_decode_error(data: bytes, decode: Any) -> None:
    with pytest.raises(DecodeError):
        decode(data)


def test_delegate_inside_delegate_action_is_refused() -> None:
    inner = DelegateAction.from_fields(delegate_payload())
    signed = SignedDelegate(inner, Signature(0, bytes(64)))
    nested = DelegateAction("a.near", "b.near", (Delegate(signed),), 1, 1, inner.public_key)
    with pytest.raises(DecodeError, match="Delegate"):
        DelegateAction.from_borsh(nested.to_borsh())


# -- hypothesis: every encoder round-trips, every corruption is a DecodeError ------------

_label = st.from_regex(r"[a-z0-9]{1,6}([-_][a-z0-9]{1,6}){0,2}", fullmatch=True)
account_ids = (
    st.lists(_label, min_size=1, max_size=3).map(".".join).filter(lambda s: 2 <= len(s) <= 64)
)
any_strings = st.text(max_size=12)
u64 = st.integers(0, 2**64 - 1)
u128 = st.integers(0, 2**128 - 1)
public_keys = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: PublicKey(0, b)),
    st.binary(min_size=64, max_size=64).map(lambda b: PublicKey(1, b)),
)
signatures = st.one_of(
    st.binary(min_size=64, max_size=64).map(lambda b: Signature(0, b)),
    st.binary(min_size=65, max_size=65).map(lambda b: Signature(1, b)),
)


def actions_strategy(
    names: st.SearchStrategy[str], methods: st.SearchStrategy[str], nested: bool
) -> st.SearchStrategy[Action]:
    permission = st.one_of(
        st.just(FullAccess()),
        st.builds(
            FunctionCallPermission,
            st.none() | u128,
            names,
            st.lists(any_strings, max_size=3).map(tuple),
        ),
    )
    simple: list[st.SearchStrategy[Any]] = [
        st.just(CreateAccount()),
        st.builds(DeployContract, st.binary(max_size=40)),
        st.builds(FunctionCall, methods, st.binary(max_size=40), u64, u128),
        st.builds(Transfer, u128),
        st.builds(Stake, u128, public_keys),
        st.builds(AddKey, public_keys, st.builds(AccessKey, u64, permission)),
        st.builds(DeleteKey, public_keys),
        st.builds(DeleteAccount, names),
    ]
    if nested:
        return st.one_of(simple)
    inner = delegate_actions_strategy(names, methods)
    return st.one_of([*simple, st.builds(Delegate, st.builds(SignedDelegate, inner, signatures))])


def delegate_actions_strategy(
    names: st.SearchStrategy[str], methods: st.SearchStrategy[str]
) -> st.SearchStrategy[DelegateAction]:
    return st.builds(
        DelegateAction,
        names,
        names,
        st.lists(actions_strategy(names, methods, nested=True), max_size=3).map(tuple),
        u64,
        u64,
        public_keys,
    )


def transactions_strategy(
    names: st.SearchStrategy[str], methods: st.SearchStrategy[str]
) -> st.SearchStrategy[Transaction]:
    return st.builds(
        Transaction,
        names,
        public_keys,
        u64,
        names,
        st.binary(min_size=32, max_size=32),
        st.lists(actions_strategy(names, methods, nested=False), max_size=4).map(tuple),
    )


borsh_transactions = transactions_strategy(any_strings, any_strings)
valid_transactions = transactions_strategy(account_ids, st.text(min_size=1, max_size=12))
borsh_delegates = delegate_actions_strategy(any_strings, any_strings)
nep413_payloads = st.builds(
    Nep413Payload,
    any_strings,
    st.binary(min_size=32, max_size=32),
    any_strings,
    st.none() | any_strings,
)


def _action_bytes(action: Action) -> bytes:
    writer = BorshWriter()
    write_action(writer, action)
    return bytes(writer)


ENCODERS: dict[str, tuple[st.SearchStrategy[Any], Any, Any]] = {
    "action": (
        actions_strategy(any_strings, any_strings, nested=False),
        _action_bytes,
        lambda b: decode_all(b, read_action, "Action"),
    ),
    "transaction": (borsh_transactions, Transaction.to_borsh, Transaction.from_borsh),
    "signed_transaction": (
        st.builds(SignedTransaction, borsh_transactions, signatures),
        SignedTransaction.to_borsh,
        SignedTransaction.from_borsh,
    ),
    "delegate_action": (borsh_delegates, DelegateAction.to_borsh, DelegateAction.from_borsh),
    "signed_delegate": (
        st.builds(SignedDelegate, borsh_delegates, signatures),
        SignedDelegate.to_borsh,
        SignedDelegate.from_borsh,
    ),
    "nep413_payload": (nep413_payloads, Nep413Payload.to_borsh, Nep413Payload.from_borsh),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_borsh_round_trip(name: str) -> None:
    strategy, encode, decode = ENCODERS[name]

    @HYPOTHESIS
    @given(value=strategy, data=st.data())
    def run(value: Any, data: st.DataObject) -> None:
        encoded = encode(value)
        assert decode(encoded) == value
        cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")
        with pytest.raises(DecodeError):
            decode(encoded[:cut])
        with pytest.raises(DecodeError):
            decode(encoded + data.draw(st.binary(min_size=1, max_size=3), label="tail"))
        flipped = bytearray(encoded)
        at = data.draw(st.integers(0, len(encoded) - 1), label="at")
        flipped[at] ^= data.draw(st.integers(1, 255), label="xor")
        with contextlib.suppress(DecodeError):
            decode(bytes(flipped))

    run()


@HYPOTHESIS
@given(valid_transactions)
def test_fields_round_trip(tx: Transaction) -> None:
    fields = tx.to_fields()
    assert Transaction.from_fields(json.loads(json.dumps(fields))) == tx
    intent = ADAPTER.build_intent("transaction", fields)
    assert intent.sign_requests[0].message == tx.hash()
    again = ADAPTER.build_intent("transaction", intent.ui_model["fields"])
    assert again.sign_requests == intent.sign_requests


@HYPOTHESIS
@given(actions_strategy(account_ids, st.text(min_size=1, max_size=12), nested=False))
def test_action_fields_round_trip(action: Action) -> None:
    assert action_from_fields(json.loads(json.dumps(action_to_fields(action))), "a") == action


@HYPOTHESIS
@given(st.binary(max_size=200))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    for decode in (
        Transaction.from_borsh,
        SignedTransaction.from_borsh,
        DelegateAction.from_borsh,
        Nep413Payload.from_borsh,
    ):
        with contextlib.suppress(DecodeError):
            decode(data)


# -- interop: near-api-js decodes and verifies what we sign -----------------------------


def _interop_transactions(engine: FrostEngine, frost_key: str) -> list[tuple[str, Any, bytes]]:
    out = []
    intent = ADAPTER.build_intent("transaction", transfer_payload(frost_key, 123))
    signature = engine.sign(intent.sign_requests[0], "near", signers=(2, 3))
    out.append(("frost-transfer", intent, intent.finalize([signature]).raw or b""))
    intent = ADAPTER.build_intent("transaction", all_actions_payload())
    signature = _KEYS.sign(intent.sign_requests[0], "alice")
    out.append(("all-actions", intent, intent.finalize([signature]).raw or b""))
    k1 = LocalKeyEngine()
    compressed = k1.add_secp256k1("k1", hashlib.sha256(b"interop k1").digest())
    k1_key = near_secp256k1_key(compressed)
    intent = ADAPTER.build_intent("transaction", transfer_payload(k1_key, 5))
    out.append(
        (
            "secp256k1-transfer",
            intent,
            intent.finalize([k1.sign(intent.sign_requests[0], "k1")]).raw or b"",
        )
    )
    return out


def test_near_api_js_decodes_and_verifies(
    interop_node_modules: Path, frost_group: tuple[FrostEngine, str]
) -> None:
    engine, frost_key = frost_group
    cases = _interop_transactions(engine, frost_key)
    request = [
        {"name": name, "signed_transaction_base64": base64.b64encode(raw).decode()}
        for name, _, raw in cases
    ]
    done = subprocess.run(
        ["node", "near_check.mjs"],
        cwd=interop_node_modules,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = {r["name"]: r for r in json.loads(done.stdout)}
    for name, intent, _ in cases:
        result = results[name]
        fields = intent.ui_model["fields"]
        assert result["reencoded_equal"], name
        assert result["verified"], name
        assert result["hash_hex"] == intent.sign_requests[0].message.hex()
        assert result["signer_id"] == fields["signer_id"]
        assert result["receiver_id"] == fields["receiver_id"]
        assert result["nonce"] == fields["nonce"]
        assert result["public_key"] == fields["public_key"]
        assert result["block_hash_hex"] == base58.b58decode(fields["block_hash"]).hex()
        names = [next(iter(a)) for a in fields["actions"]]
        js_names = {"Delegate": "signedDelegate"}
        assert result["actions"] == [js_names.get(n, n[0].lower() + n[1:]) for n in names]
    everything = results["all-actions"]
    decoded = everything["decoded_actions"]
    assert decoded[2]["functionCall"]["methodName"] == "new"
    assert decoded[2]["functionCall"]["gas"] == str(30 * 10**12)
    assert decoded[4]["transfer"]["deposit"] == str(5 * ONE_NEAR // 2)
    assert decoded[5]["stake"]["stake"] == str(100 * ONE_NEAR)
    assert decoded[7]["addKey"]["accessKey"]["permission"]["functionCall"]["methodNames"] == [
        "play",
        "claim",
    ]
    assert decoded[10]["deleteAccount"]["beneficiaryId"] == "alice.near"
    (delegate,) = everything["delegates"]
    assert delegate["verified"] and delegate["sender_id"] == "relayed.near"
    inner = DelegateAction.from_fields(delegate_payload())
    assert delegate["digest_hex"] == inner.signing_digest().hex()
