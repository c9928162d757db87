"""The Solana adapter: payload forms, LiteSVM execution with FROST, round trips, bad payloads.

* every payload form (compiled, wire bytes, instructions) and kind
  (``transaction`` legacy and v0, ``message``) rebuilds the same sign requests
  and ui_model from ``ui_model["fields"]`` alone;
* executed in process on ``solders.litesvm.LiteSVM``: a legacy transfer, a v0
  transfer whose recipient comes from an address lookup table, and a v0
  transaction with two signers, each signed by FROST(Ed25519) 2-of-3, are
  accepted and move the lamports;
* hypothesis: compiled messages (legacy and v0, with lookups) survive
  fields -> bytes -> parse -> fields, solders-compiled messages parse back to
  the same bytes, and arbitrary bytes give a message or a PayloadError;
* bad payloads raise PayloadError naming the field path.

The vector files are checked by ``test_chain_vectors.py`` through
``chain_checks_solana.py``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from solders.account import Account
from solders.address_lookup_table_account import ID as LOOKUP_TABLE_PROGRAM
from solders.address_lookup_table_account import AddressLookupTable
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.litesvm import LiteSVM
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from chain_checks_solana import transfer_payload
from cosigner import frost
from cosigner.chains.engines import FrostEngine, LocalKeyEngine
from cosigner.chains.errors import FinalizeError, PayloadError, UnsupportedKindError
from cosigner.chains.solana import (
    COMPUTE_BUDGET_PROGRAM,
    SYSTEM_PROGRAM,
    SolanaAdapter,
    parse_transaction,
)

ADAPTER = SolanaAdapter()
HYPOTHESIS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_KEYS = LocalKeyEngine()
PAYER = str(Pubkey.from_bytes(_KEYS.add_ed25519("payer", hashlib.sha256(b"payer").digest())))
SOURCE = str(Pubkey.from_bytes(_KEYS.add_ed25519("source", hashlib.sha256(b"source").digest())))
RECIPIENT = str(Pubkey.from_bytes(hashlib.sha256(b"recipient").digest()))
TABLE = str(Pubkey.from_bytes(hashlib.sha256(b"table").digest()))
BLOCKHASH = str(Hash(hashlib.sha256(b"blockhash").digest()))
LAMPORTS_PER_SOL = 10**9


def _compute_budget(units: int, price: int) -> list[dict[str, Any]]:
    return [
        {
            "program_id": COMPUTE_BUDGET_PROGRAM,
            "accounts": [],
            "data_hex": struct.pack("<BI", 2, units).hex(),
        },
        {
            "program_id": COMPUTE_BUDGET_PROGRAM,
            "accounts": [],
            "data_hex": struct.pack("<BQ", 3, price).hex(),
        },
    ]


def lookup_payload() -> dict[str, Any]:
    tables = [{"key": TABLE, "addresses": [SOURCE, RECIPIENT]}]
    return transfer_payload(0, PAYER, RECIPIENT, 1234, BLOCKHASH, tables)


def two_signer_payload(version: str | int = 0) -> dict[str, Any]:
    payload = transfer_payload(
        version, PAYER, RECIPIENT, 5 * LAMPORTS_PER_SOL, BLOCKHASH, source=SOURCE
    )
    payload["instructions"] = _compute_budget(200_000, 1_000) + payload["instructions"]
    return payload


def _wire(payload: dict[str, Any]) -> dict[str, Any]:
    message = ADAPTER.build_intent("transaction", payload).sign_requests[0].message
    return {"message_base64": base64.b64encode(message).decode()}


def _without_table_contents() -> dict[str, Any]:
    fields = dict(ADAPTER.build_intent("transaction", lookup_payload()).ui_model["fields"])
    del fields["address_lookup_tables"]
    return fields


SAMPLES: list[tuple[str, str, Any]] = [
    (
        "legacy-transfer",
        "transaction",
        lambda: transfer_payload("legacy", PAYER, RECIPIENT, 49, BLOCKHASH),
    ),
    ("v0-transfer", "transaction", lambda: transfer_payload(0, PAYER, RECIPIENT, 10**6, BLOCKHASH)),
    ("v0-lookup-table", "transaction", lookup_payload),
    ("v0-lookup-unresolved", "transaction", _without_table_contents),
    (
        "v0-lookup-wire",
        "transaction",
        lambda: {
            **_wire(lookup_payload()),
            "address_lookup_tables": lookup_payload()["address_lookup_tables"],
        },
    ),
    (
        "legacy-wire",
        "transaction",
        lambda: _wire(transfer_payload("legacy", PAYER, RECIPIENT, 49, BLOCKHASH)),
    ),
    ("legacy-two-signers", "transaction", lambda: two_signer_payload("legacy")),
    ("v0-two-signers", "transaction", two_signer_payload),
    (
        "message-utf8",
        "message",
        lambda: {"message_utf8": "Sign in to app.example", "signer": PAYER},
    ),
    ("message-hex", "message", lambda: {"message_hex": "ff00ff", "signer": PAYER}),
]


@pytest.mark.parametrize(
    ("kind", "make"), [(k, m) for _, k, m in SAMPLES], ids=[n for n, _, _ in SAMPLES]
)
def test_ui_model_rebuilds_sign_requests(kind: str, make: Any) -> None:
    intent = ADAPTER.build_intent(kind, make())
    ui = intent.ui_model
    assert set(ui) == {"chain", "kind", "summary", "fields", "display"}
    assert ui["chain"] == "solana" and ui["kind"] == kind
    assert json.loads(json.dumps(ui)) == ui
    again = ADAPTER.build_intent(kind, json.loads(json.dumps(ui["fields"])))
    assert again.sign_requests == intent.sign_requests
    assert again.ui_model == ui
    for request in intent.sign_requests:
        assert request.algorithm == "ed25519" and not request.prehashed


def test_v0_signs_versioned_bytes_and_shows_table_accounts() -> None:
    intent = ADAPTER.build_intent("transaction", lookup_payload())
    (request,) = intent.sign_requests
    assert request.message[0] == 0x80
    message = MessageV0.from_bytes(request.message[1:])
    assert to_bytes_versioned(message) == request.message
    assert str(message.address_table_lookups[0].account_key) == TABLE
    display = intent.ui_model["display"]
    transfer = display["instructions"][0]["decoded"]
    assert transfer == {
        "instruction": "transfer",
        "from": PAYER,
        "to": RECIPIENT,
        "amount": {"lamports": "1234", "SOL": "0.000001234"},
    }
    loaded = [a for a in display["accounts"] if a["source"] != "static"]
    assert loaded == [
        {
            "pubkey": RECIPIENT,
            "signer": False,
            "writable": True,
            "source": f"lookup table {TABLE} [1]",
        }
    ]
    unresolved = ADAPTER.build_intent("transaction", _without_table_contents())
    assert unresolved.sign_requests == intent.sign_requests
    assert unresolved.ui_model["display"]["accounts"][-1]["pubkey"].startswith("(unresolved)")


def test_one_request_per_signer() -> None:
    intent = ADAPTER.build_intent("transaction", two_signer_payload())
    assert len(intent.sign_requests) == 2
    assert "fee payer" in intent.sign_requests[0].label and PAYER in intent.sign_requests[0].label
    assert SOURCE in intent.sign_requests[1].label
    display = intent.ui_model["display"]
    assert display["signers"] == [PAYER, SOURCE]
    assert display["base_fee"] == {"lamports": "10000", "SOL": "0.00001"}
    decoded = [i.get("decoded", {}).get("instruction") for i in display["instructions"]]
    assert decoded == ["set_compute_unit_limit", "set_compute_unit_price", "transfer"]
    signatures = [
        _KEYS.sign(intent.sign_requests[0], "payer"),
        _KEYS.sign(intent.sign_requests[1], "source"),
    ]
    final = intent.finalize(signatures)
    assert final.raw is not None
    tx = parse_transaction(final.raw)
    assert tx.verify_with_results() == [True, True]
    assert final.hash == str(tx.signatures[0])
    with pytest.raises(FinalizeError, match="signature 1 does not verify"):
        intent.finalize([signatures[0], signatures[0]])
    with pytest.raises(FinalizeError, match="2 signatures expected"):
        intent.finalize(signatures[:1])
    with pytest.raises(FinalizeError, match="64"):
        intent.finalize([signatures[0], signatures[1][:-1]])


def test_message_kind() -> None:
    intent = ADAPTER.build_intent("message", {"message_utf8": "hello", "signer": PAYER})
    (request,) = intent.sign_requests
    assert request.message == b"hello" and not request.prehashed
    signature = _KEYS.sign(request, "payer")
    final = intent.finalize([signature])
    assert final.raw is None and final.extra["signer"] == PAYER
    with pytest.raises(FinalizeError):
        intent.finalize([_KEYS.sign(request, "source")])
    message = ADAPTER.build_intent("transaction", lookup_payload()).sign_requests[0].message
    with pytest.raises(PayloadError) as err:
        ADAPTER.build_intent("message", {"message_hex": message.hex(), "signer": PAYER})
    assert err.value.path == "message_hex" and "transaction" in err.value.problem


# -- executed on LiteSVM, signed by FROST(Ed25519) 2-of-3 -------------------------------


def _frost_group(engine: FrostEngine, ref: str) -> Pubkey:
    key_packages, public = frost.keygen_with_dealer("ed25519", 2, 3)
    return Pubkey.from_bytes(
        engine.add_group(ref, {int(i): kp for i, kp in key_packages.items()}, public)
    )


def _lookup_table_account(svm: LiteSVM, addresses: list[Pubkey]) -> Account:
    """An active lookup table in its on-chain layout (solana-address-lookup-table-interface).

    A 56-byte header - u32 1 (``ProgramState::LookupTable``), deactivation slot
    u64::MAX (active), last extended slot 0, start index 0, no authority, zero
    padding - then the addresses.
    """
    header = struct.pack("<IQQBB", 1, 2**64 - 1, 0, 0, 0).ljust(56, b"\0")
    data = header + b"".join(bytes(a) for a in addresses)
    table = AddressLookupTable.deserialize(data)
    assert table.addresses == addresses and table.meta.deactivation_slot == 2**64 - 1
    return Account(
        svm.minimum_balance_for_rent_exemption(len(data)), data, LOOKUP_TABLE_PROGRAM, False, 0
    )


def _send(svm: LiteSVM, raw: bytes) -> None:
    result = svm.send_transaction(VersionedTransaction.from_bytes(raw))
    assert not isinstance(result, FailedTransactionMetadata), result


@pytest.fixture()
def frost_engine() -> FrostEngine:
    return FrostEngine()


@pytest.mark.parametrize("version", ["legacy", 0])
def test_litesvm_accepts_frost_signed_transfer(
    frost_engine: FrostEngine, version: str | int
) -> None:
    svm = LiteSVM()
    payer = _frost_group(frost_engine, "payer")
    recipient = Pubkey.from_bytes(hashlib.sha256(f"litesvm recipient {version}".encode()).digest())
    svm.airdrop(payer, 10 * LAMPORTS_PER_SOL)
    amount = 2 * LAMPORTS_PER_SOL + 1
    payload = transfer_payload(
        version, str(payer), str(recipient), amount, str(svm.latest_blockhash())
    )
    intent = ADAPTER.build_intent("transaction", payload)
    (request,) = intent.sign_requests
    final = intent.finalize([frost_engine.sign(request, "payer", signers=(1, 3))])
    assert final.raw is not None
    _send(svm, final.raw)
    assert svm.get_balance(recipient) == amount
    assert svm.get_balance(payer) == 10 * LAMPORTS_PER_SOL - amount - 5000
    assert svm.get_transaction(VersionedTransaction.from_bytes(final.raw).signatures[0]) is not None


def test_litesvm_accepts_frost_signed_v0_with_lookup_table(frost_engine: FrostEngine) -> None:
    svm = LiteSVM()
    payer = _frost_group(frost_engine, "payer")
    recipient = Pubkey.from_bytes(hashlib.sha256(b"litesvm lookup recipient").digest())
    table = Pubkey.from_bytes(hashlib.sha256(b"litesvm table").digest())
    filler = Pubkey.from_bytes(hashlib.sha256(b"litesvm filler").digest())
    svm.set_account(table, _lookup_table_account(svm, [filler, recipient]))
    svm.warp_to_slot(10)  # addresses are usable from the slot after they were added
    svm.airdrop(payer, 10 * LAMPORTS_PER_SOL)
    tables = [{"key": str(table), "addresses": [str(filler), str(recipient)]}]
    amount = 3 * LAMPORTS_PER_SOL
    payload = transfer_payload(
        0, str(payer), str(recipient), amount, str(svm.latest_blockhash()), tables
    )
    intent = ADAPTER.build_intent("transaction", payload)
    lookups = intent.ui_model["fields"]["address_table_lookups"]
    assert lookups == [{"account_key": str(table), "writable_indexes": [1], "readonly_indexes": []}]
    assert str(recipient) not in intent.ui_model["fields"]["account_keys"]
    (request,) = intent.sign_requests
    final = intent.finalize([frost_engine.sign(request, "payer", signers=(2, 3))])
    assert final.raw is not None
    _send(svm, final.raw)
    assert svm.get_balance(recipient) == amount


def test_litesvm_accepts_two_frost_signers(frost_engine: FrostEngine) -> None:
    svm = LiteSVM()
    payer = _frost_group(frost_engine, "payer")
    source = _frost_group(frost_engine, "source")
    recipient = Pubkey.from_bytes(hashlib.sha256(b"litesvm two signers").digest())
    svm.airdrop(payer, LAMPORTS_PER_SOL)
    svm.airdrop(source, 10 * LAMPORTS_PER_SOL)
    payload = transfer_payload(
        0,
        str(payer),
        str(recipient),
        4 * LAMPORTS_PER_SOL,
        str(svm.latest_blockhash()),
        source=str(source),
    )
    intent = ADAPTER.build_intent("transaction", payload)
    refs = ["payer", "source"]
    signatures = [
        frost_engine.sign(r, ref, signers=(1, 2))
        for r, ref in zip(intent.sign_requests, refs, strict=True)
    ]
    final = intent.finalize(signatures)
    assert final.raw is not None
    _send(svm, final.raw)
    assert svm.get_balance(recipient) == 4 * LAMPORTS_PER_SOL
    assert svm.get_balance(source) == 6 * LAMPORTS_PER_SOL
    assert svm.get_balance(payer) == LAMPORTS_PER_SOL - 10_000


def test_litesvm_refuses_a_signature_over_other_bytes(frost_engine: FrostEngine) -> None:
    """The bytes the adapter asks to sign are the ones the runtime checks."""
    svm = LiteSVM()
    payer = _frost_group(frost_engine, "payer")
    recipient = Pubkey.from_bytes(hashlib.sha256(b"litesvm refused").digest())
    svm.airdrop(payer, 10 * LAMPORTS_PER_SOL)
    blockhash = str(svm.latest_blockhash())
    intent = ADAPTER.build_intent(
        "transaction", transfer_payload(0, str(payer), str(recipient), LAMPORTS_PER_SOL, blockhash)
    )
    other = ADAPTER.build_intent(
        "transaction",
        transfer_payload(0, str(payer), str(recipient), 2 * LAMPORTS_PER_SOL, blockhash),
    )
    wrong = frost_engine.sign(other.sign_requests[0], "payer")
    with pytest.raises(FinalizeError):
        intent.finalize([wrong])
    forged = bytes([1]) + wrong + intent.sign_requests[0].message
    result = svm.send_transaction(VersionedTransaction.from_bytes(forged))
    assert isinstance(result, FailedTransactionMetadata)
    assert svm.get_balance(recipient) is None


# -- bad payloads -------------------------------------------------------------------------

_DELETE = object()


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


_IX = transfer_payload(0, PAYER, RECIPIENT, 1, BLOCKHASH)
_LEGACY = dict(
    ADAPTER.build_intent(
        "transaction", transfer_payload("legacy", PAYER, RECIPIENT, 1, BLOCKHASH)
    ).ui_model["fields"]
)
_V0 = dict(ADAPTER.build_intent("transaction", lookup_payload()).ui_model["fields"])
_MSG = {"message_utf8": "hi", "signer": PAYER}

_LEGACY_BYTES = ADAPTER.build_intent("transaction", _LEGACY).sign_requests[0].message
_V0_BYTES = ADAPTER.build_intent("transaction", _V0).sign_requests[0].message
_SHORT_TABLE = [{"key": TABLE, "addresses": [SOURCE]}]

BAD: list[tuple[str, str, Any, str]] = [
    (
        "wire-readonly-payer",
        "transaction",
        {"message_hex": (_LEGACY_BYTES[:1] + b"\x01" + _LEGACY_BYTES[2:]).hex()},
        "message_hex.header.num_readonly_signed_accounts",
    ),
    (
        "wire-index-beyond-table",
        "transaction",
        {"message_hex": _V0_BYTES.hex(), "address_lookup_tables": _SHORT_TABLE},
        "message_hex.address_table_lookups[0].writable_indexes[0]",
    ),
    ("not-an-object", "transaction", "0x00", ""),
    ("no-form", "transaction", {"version": 0}, "account_keys"),
    ("wire-bad-base64", "transaction", {"message_base64": "@@"}, "message_base64"),
    (
        "wire-two-forms",
        "transaction",
        {"message_base64": "AA==", "message_hex": "00"},
        "message_hex",
    ),
    ("wire-garbage", "transaction", {"message_hex": "0102"}, "message_hex"),
    (
        "wire-trailing",
        "transaction",
        {
            "message_hex": bytes(
                ADAPTER.build_intent("transaction", _LEGACY).sign_requests[0].message
            ).hex()
            + "00"
        },
        "message_hex",
    ),
    ("wire-v1", "transaction", {"message_hex": "81" + "00" * 40}, "message_hex"),
    ("wire-extra-field", "transaction", {"message_hex": "00", "fee_payer": PAYER}, "fee_payer"),
    ("version-2", "transaction", {**_LEGACY, "version": 1}, "version"),
    ("version-bool", "transaction", {**_LEGACY, "version": False}, "version"),
    ("header-missing", "transaction", _with(_LEGACY, ["header"], _DELETE), "header"),
    (
        "header-count-bad",
        "transaction",
        _with(_LEGACY, ["header", "num_required_signatures"], -1),
        "header.num_required_signatures",
    ),
    (
        "header-zero-signers",
        "transaction",
        _with(_LEGACY, ["header", "num_required_signatures"], 0),
        "header.num_required_signatures",
    ),
    (
        "header-readonly-payer",
        "transaction",
        _with(_LEGACY, ["header", "num_readonly_signed_accounts"], 1),
        "header.num_readonly_signed_accounts",
    ),
    (
        "header-too-many",
        "transaction",
        _with(_LEGACY, ["header", "num_readonly_unsigned_accounts"], 3),
        "header",
    ),
    ("header-extra", "transaction", _with(_LEGACY, ["header", "extra"], 1), "header.extra"),
    (
        "account-key-bad",
        "transaction",
        _with(_LEGACY, ["account_keys", 1], "0OIl"),
        "account_keys[1]",
    ),
    (
        "account-key-short",
        "transaction",
        _with(_LEGACY, ["account_keys", 1], "abc"),
        "account_keys[1]",
    ),
    (
        "account-key-repeat",
        "transaction",
        _with(_LEGACY, ["account_keys", 1], PAYER),
        "account_keys[1]",
    ),
    ("blockhash-bad", "transaction", {**_LEGACY, "recent_blockhash": "x"}, "recent_blockhash"),
    (
        "program-index-out",
        "transaction",
        _with(_LEGACY, ["instructions", 0, "program_id_index"], 9),
        "instructions[0].program_id_index",
    ),
    (
        "program-is-payer",
        "transaction",
        _with(_LEGACY, ["instructions", 0, "program_id_index"], 0),
        "instructions[0].program_id_index",
    ),
    (
        "account-index-out",
        "transaction",
        _with(_LEGACY, ["instructions", 0, "accounts", 1], 3),
        "instructions[0].accounts[1]",
    ),
    (
        "account-index-256",
        "transaction",
        _with(_LEGACY, ["instructions", 0, "accounts", 1], 256),
        "instructions[0].accounts[1]",
    ),
    (
        "data-bad-hex",
        "transaction",
        _with(_LEGACY, ["instructions", 0, "data_hex"], "zz"),
        "instructions[0].data_hex",
    ),
    (
        "data-missing",
        "transaction",
        _with(_LEGACY, ["instructions", 0, "data_hex"], _DELETE),
        "instructions[0].data_hex",
    ),
    (
        "legacy-with-lookups",
        "transaction",
        {**_LEGACY, "address_table_lookups": []},
        "address_table_lookups",
    ),
    (
        "lookup-empty",
        "transaction",
        _with(_V0, ["address_table_lookups", 0, "writable_indexes"], []),
        "address_table_lookups[0]",
    ),
    (
        "lookup-index-beyond-table",
        "transaction",
        _with(_V0, ["address_table_lookups", 0, "writable_indexes"], [5]),
        "address_table_lookups[0].writable_indexes[0]",
    ),
    (
        "lookup-bad-key",
        "transaction",
        _with(_V0, ["address_table_lookups", 0, "account_key"], 1),
        "address_table_lookups[0].account_key",
    ),
    (
        "table-twice",
        "transaction",
        {**_V0, "address_lookup_tables": _V0["address_lookup_tables"] * 2},
        "address_lookup_tables[1].key",
    ),
    (
        "table-bad-address",
        "transaction",
        _with(_V0, ["address_lookup_tables", 0, "addresses", 0], "x"),
        "address_lookup_tables[0].addresses[0]",
    ),
    ("ix-fee-payer-bad", "transaction", {**_IX, "fee_payer": "nope"}, "fee_payer"),
    (
        "ix-program-bad",
        "transaction",
        _with(_IX, ["instructions", 0, "program_id"], 7),
        "instructions[0].program_id",
    ),
    (
        "ix-signer-not-bool",
        "transaction",
        _with(_IX, ["instructions", 0, "accounts", 0, "is_signer"], "yes"),
        "instructions[0].accounts[0].is_signer",
    ),
    (
        "ix-meta-missing",
        "transaction",
        _with(_IX, ["instructions", 0, "accounts", 1, "is_writable"], _DELETE),
        "instructions[0].accounts[1].is_writable",
    ),
    (
        "ix-unknown-field",
        "transaction",
        _with(_IX, ["instructions", 0, "memo"], "x"),
        "instructions[0].memo",
    ),
    (
        "ix-legacy-tables",
        "transaction",
        {**_IX, "version": "legacy", "address_lookup_tables": [{"key": TABLE, "addresses": []}]},
        "address_lookup_tables",
    ),
    ("message-empty", "message", {**_MSG, "message_utf8": ""}, "message_utf8"),
    ("message-no-signer", "message", {"message_utf8": "hi"}, "signer"),
    ("message-bad-signer", "message", {**_MSG, "signer": "abc"}, "signer"),
    ("message-two-forms", "message", {**_MSG, "message_hex": "00"}, "message_hex"),
    ("message-bad-hex", "message", {"message_hex": "0g", "signer": PAYER}, "message_hex"),
]


@pytest.mark.parametrize(("kind", "payload", "path"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_payload_names_the_field(kind: str, payload: Any, path: str) -> None:
    with pytest.raises(PayloadError) as err:
        ADAPTER.build_intent(kind, payload)
    assert err.value.path == path, err.value
    assert err.value.code == "invalid_payload"


def test_unknown_kind() -> None:
    with pytest.raises(UnsupportedKindError) as err:
        ADAPTER.build_intent("typedData", _LEGACY)
    assert err.value.path == "kind"


def test_parse_transaction_refuses_trailing_bytes() -> None:
    intent = ADAPTER.build_intent("transaction", _LEGACY)
    raw = intent.finalize([_KEYS.sign(intent.sign_requests[0], "payer")]).raw
    assert raw is not None and parse_transaction(raw)
    with pytest.raises(PayloadError):
        parse_transaction(raw + b"\0")
    with pytest.raises(PayloadError):
        parse_transaction(raw[:-1])


# -- hypothesis: parse and build round trips ---------------------------------------------

pubkeys = st.binary(min_size=32, max_size=32).map(Pubkey.from_bytes)
_data = st.binary(max_size=24)


@st.composite
def compiled_messages(draw: st.DrawFn) -> dict[str, Any]:
    """A compiled message that obeys the sanitize rules, in the fields form."""
    keys = draw(st.lists(pubkeys, min_size=2, max_size=8, unique=True))
    signers = draw(st.integers(1, len(keys) - 1))
    readonly_signed = draw(st.integers(0, signers - 1))
    readonly_unsigned = draw(st.integers(0, len(keys) - signers))
    version = draw(st.sampled_from(["legacy", 0]))
    lookups = []
    loaded = 0
    if version == 0:
        for key in draw(st.lists(pubkeys, max_size=2, unique=True)):
            writable = draw(st.lists(st.integers(0, 255), max_size=3))
            readonly = draw(
                st.lists(st.integers(0, 255), min_size=0 if writable else 1, max_size=3)
            )
            lookups.append(
                {
                    "account_key": str(key),
                    "writable_indexes": writable,
                    "readonly_indexes": readonly,
                }
            )
            loaded += len(writable) + len(readonly)
    total = len(keys) + loaded
    instructions = [
        {
            "program_id_index": draw(st.integers(1, len(keys) - 1)),
            "accounts": draw(st.lists(st.integers(0, total - 1), max_size=5)),
            "data_hex": draw(_data).hex(),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    fields: dict[str, Any] = {
        "version": version,
        "header": {
            "num_required_signatures": signers,
            "num_readonly_signed_accounts": readonly_signed,
            "num_readonly_unsigned_accounts": readonly_unsigned,
        },
        "account_keys": [str(k) for k in keys],
        "recent_blockhash": str(Hash(draw(st.binary(min_size=32, max_size=32)))),
        "instructions": instructions,
    }
    if version == 0:
        fields["address_table_lookups"] = lookups
    return fields


@HYPOTHESIS
@given(compiled_messages())
def test_compiled_fields_round_trip(fields: dict[str, Any]) -> None:
    intent = ADAPTER.build_intent("transaction", fields)
    assert intent.ui_model["fields"] == fields
    message = intent.sign_requests[0].message
    assert len(intent.sign_requests) == fields["header"]["num_required_signatures"]
    parsed = ADAPTER.build_intent("transaction", {"message_hex": message.hex()})
    assert parsed.ui_model["fields"] == fields
    assert parsed.sign_requests == intent.sign_requests
    if fields["version"] == "legacy":
        assert bytes(Message.from_bytes(message)) == message
    else:
        assert message[0] == 0x80 and bytes(MessageV0.from_bytes(message[1:])) == message[1:]


@st.composite
def solders_messages(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """A message solders compiles from instructions, and the same instructions as a payload."""
    program = Pubkey.from_string(SYSTEM_PROGRAM)
    payer = draw(pubkeys.filter(lambda k: k != program))
    others = draw(
        st.lists(pubkeys, min_size=1, max_size=5, unique=True).filter(
            lambda ks: payer not in ks and program not in ks
        )
    )
    instructions = []
    for _ in range(draw(st.integers(1, 3))):
        metas = [
            AccountMeta(key, draw(st.booleans()), draw(st.booleans()))
            for key in draw(st.lists(st.sampled_from(others), max_size=3))
        ]
        instructions.append(Instruction(program, draw(_data), metas))
    blockhash = Hash(draw(st.binary(min_size=32, max_size=32)))
    version = draw(st.sampled_from(["legacy", 0]))
    if version == "legacy":
        message: Message | MessageV0 = Message.new_with_blockhash(instructions, payer, blockhash)
    else:
        message = MessageV0.try_compile(payer, instructions, [], blockhash)
    payload = {
        "version": version,
        "fee_payer": str(payer),
        "recent_blockhash": str(blockhash),
        "instructions": [
            {
                "program_id": SYSTEM_PROGRAM,
                "accounts": [
                    {
                        "pubkey": str(m.pubkey),
                        "is_signer": m.is_signer,
                        "is_writable": m.is_writable,
                    }
                    for m in ix.accounts
                ],
                "data_base64": base64.b64encode(ix.data).decode(),
            }
            for ix in instructions
        ],
    }
    return to_bytes_versioned(message), payload


@HYPOTHESIS
@given(solders_messages())
def test_solders_messages_parse_and_build(case: tuple[bytes, dict[str, Any]]) -> None:
    message, payload = case
    parsed = ADAPTER.build_intent(
        "transaction", {"message_base64": base64.b64encode(message).decode()}
    )
    assert all(r.message == message for r in parsed.sign_requests)
    compiled = ADAPTER.build_intent("transaction", payload)
    assert compiled.sign_requests == parsed.sign_requests
    assert compiled.ui_model == parsed.ui_model


@HYPOTHESIS
@given(st.binary(max_size=300))
def test_random_bytes_parse_or_raise_payload_error(data: bytes) -> None:
    try:
        intent = ADAPTER.build_intent("transaction", {"message_hex": data.hex()})
    except PayloadError:
        return
    assert intent.sign_requests[0].message == data
