"""Seed 004's ThresholdMessage and its reference ledger (the contract's semantics and codes).

* the byte layout, by example and by property; decoders fuzzed with
  hypothesis raise only typed decode errors;
* the ledger refuses with the seed's codes in the seed's order, executes a
  signed transfer once, and refuses a signature moved to another recipient,
  amount or nonce.
"""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from cosigner.errors import DecodeError
from cosigner.multisig.errors import InvalidOperation, ThresholdMessageError, UnknownOperationType
from cosigner.multisig.ledger import (
    CONTRACT_ERRORS,
    AmountTooHigh,
    ContractPaused,
    ExecuteWithThresholdSignature,
    InsufficientBalance,
    InvalidNonce,
    InvalidRecipient,
    InvalidSignature,
    InvalidSignatureFormat,
    ReferenceLedger,
)
from cosigner.multisig.message import (
    U64_MAX,
    ThresholdMessage,
    Transfer,
    check_operation_types,
    operation_ui_model,
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_layout_matches_seed_004() -> None:
    message = ThresholdMessage(7, "transfer", b"\x01\x02\x03")
    expected = struct.pack(">Q", 7) + b"transfer" + struct.pack(">Q", 3) + b"\x01\x02\x03"
    assert message.to_bytes() == expected
    assert ThresholdMessage.from_bytes(expected) == message
    transfer = Transfer("alice", 1000)
    assert transfer.to_bytes() == b"\x00\x05alice" + struct.pack(">Q", 1000)
    assert transfer.message(3).to_bytes() == (
        struct.pack(">Q", 3) + b"transfer" + struct.pack(">Q", 15) + transfer.to_bytes()
    )
    model = operation_ui_model(transfer.message(3))
    assert model["fields"] == {
        "nonce": "3",
        "operation_type": "transfer",
        "to": "alice",
        "amount": "1000",
    }
    assert model["summary"] == "nonce 3: transfer 1000 to alice"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", ThresholdMessageError),
        (b"\x00" * 7, ThresholdMessageError),
        (b"\x00" * 8 + b"transfex", UnknownOperationType),
        (b"\x00" * 8 + b"transfer" + b"\x00" * 7, ThresholdMessageError),
        (b"\x00" * 8 + b"transfer" + struct.pack(">Q", 2) + b"\x00", ThresholdMessageError),
        (b"\x00" * 8 + b"transfer" + struct.pack(">Q", 0) + b"\x00", ThresholdMessageError),
        (b"\x00" * 8 + b"transfer" + struct.pack(">Q", 2**64 - 1), ThresholdMessageError),
    ],
)
def test_malformed_messages(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        ThresholdMessage.from_bytes(data)


def test_operation_types_must_be_prefix_free_and_values_in_range() -> None:
    with pytest.raises(InvalidOperation):
        check_operation_types(("transfer", "transfer_all"))
    with pytest.raises(InvalidOperation):
        check_operation_types(("Transfer",))
    assert ThresholdMessage.from_bytes(
        ThresholdMessage(1, "pause", b"").to_bytes(), ("transfer", "pause")
    ) == ThresholdMessage(1, "pause", b"")
    for bad in (
        lambda: ThresholdMessage(-1, "transfer", b""),
        lambda: ThresholdMessage(2**64, "transfer", b""),
        lambda: Transfer("", 1),
        lambda: Transfer("a\nb", 1),
        lambda: Transfer("x" * 257, 1),
        lambda: Transfer("alice", -1),
    ):
        with pytest.raises(InvalidOperation):
            bad()
    with pytest.raises(ThresholdMessageError):
        Transfer.from_bytes(b"\x00\x01\xff" + bytes(8))  # not UTF-8
    with pytest.raises(ThresholdMessageError):
        Transfer.from_bytes(b"\x00\x00" + bytes(8))  # empty recipient


@FUZZ
@given(st.binary(max_size=200))
def test_fuzz_decoders_raise_only_typed_errors(data: bytes) -> None:
    for decode in (ThresholdMessage.from_bytes, Transfer.from_bytes):
        with contextlib.suppress(DecodeError):
            decode(data)


@FUZZ
@given(
    st.integers(0, U64_MAX),
    st.text(min_size=1, max_size=40).filter(lambda s: s.isprintable()),
    st.integers(0, U64_MAX),
    st.data(),
)
def test_round_trip_and_mutations(nonce: int, to: str, amount: int, data: st.DataObject) -> None:
    encoded = Transfer(to, amount).message(nonce).to_bytes()
    decoded = ThresholdMessage.from_bytes(encoded)
    assert decoded.nonce == nonce and Transfer.from_bytes(decoded.operation_data) == Transfer(
        to, amount
    )
    cut = data.draw(st.integers(0, len(encoded) - 1))
    flip = data.draw(st.integers(0, len(encoded) - 1))
    mutated = [encoded[:cut], encoded[:flip] + bytes([encoded[flip] ^ 0x41]) + encoded[flip + 1 :]]
    for candidate in mutated:
        try:
            message = ThresholdMessage.from_bytes(candidate)
            Transfer.from_bytes(message.operation_data)
        except DecodeError:
            pass


# -- the ledger -----------------------------------------------------------------------------

KEY = SigningKey(b"\x11" * 32)


def _ledger(**kwargs: object) -> ReferenceLedger:
    return ReferenceLedger(["a", "b", "c"], 2, bytes(KEY.verify_key), 1000, **kwargs)  # type: ignore[arg-type]


def _op(to: str = "alice", amount: int = 10, nonce: int = 0) -> ExecuteWithThresholdSignature:
    message = Transfer(to, amount).message(nonce).to_bytes()
    return ExecuteWithThresholdSignature(to, amount, nonce, KEY.sign(message).signature, message)


def test_seed_error_vocabulary() -> None:
    assert [e.variant for e in CONTRACT_ERRORS] == [
        "InvalidNonce",
        "InvalidSignature",
        "InvalidSignatureFormat",
        "AmountTooHigh",
        "InvalidRecipient",
        "ContractPaused",
    ]
    assert [e.code for e in CONTRACT_ERRORS] == [
        "invalid_nonce",
        "invalid_signature",
        "invalid_signature_format",
        "amount_too_high",
        "invalid_recipient",
        "contract_paused",
    ]
    assert InvalidNonce.log_message == "Nonce inválido: posible replay attack"


def test_executes_once_then_refuses_the_replay() -> None:
    ledger = _ledger()
    receipt = ledger.execute(_op())
    assert receipt.balance_after == 990 and ledger.balances == {"alice": 10}
    assert ledger.state.nonce == 1
    with pytest.raises(InvalidNonce):
        ledger.execute(_op())
    ledger.execute(_op("bob", 5, 1))
    assert ledger.nonce == 2 and ledger.balance == 985


def test_checks_in_the_seeds_order() -> None:
    ledger = _ledger(max_amount=100)
    op = _op(nonce=0)
    bad_everything = ExecuteWithThresholdSignature("", 1000, 5, b"\x00" * 10, op.message)
    ledger.pause()
    with pytest.raises(ContractPaused):
        ledger.execute(op)
    ledger.resume()
    with pytest.raises(InvalidNonce):
        ledger.execute(bad_everything)
    with pytest.raises(InvalidSignatureFormat):
        ledger.execute(ExecuteWithThresholdSignature("", 1000, 0, b"\x00" * 10, op.message))
    with pytest.raises(InvalidSignature):
        ledger.execute(ExecuteWithThresholdSignature("", 1000, 0, b"\x00" * 64, op.message))
    with pytest.raises(AmountTooHigh):
        ledger.execute(_op(amount=101))
    with pytest.raises(InvalidRecipient):
        ledger.execute(_op(to="multisig"))
    assert ledger.nonce == 0 and ledger.balance == 1000  # nothing moved
    with pytest.raises(InsufficientBalance):
        _ledger().execute(_op(amount=1001))


def test_a_signature_authorizes_only_its_own_operation() -> None:
    # Seed 004's contract verifies op.message but pays op.to / op.amount; here they must agree.
    ledger = _ledger()
    signed = _op("alice", 10, 0)
    for redirected in (
        ExecuteWithThresholdSignature("mallory", 10, 0, signed.threshold_signature, signed.message),
        ExecuteWithThresholdSignature("alice", 999, 0, signed.threshold_signature, signed.message),
    ):
        with pytest.raises(InvalidSignature):
            ledger.execute(redirected)
    ledger.execute(signed)
    assert ledger.balances == {"alice": 10}
