"""A reference ledger: what seed 004's ``ThresholdMultisigContract`` does on chain.

The tests use it as the on-chain side of the multisig. It keeps the seed's
state (``MultisigState``: owners, threshold, the 32-byte aggregate Ed25519
key, the nonce), takes the seed's one operation
(``ExecuteWithThresholdSignature {to, amount, nonce, threshold_signature,
message}``) and refuses with the seed's error vocabulary (``MultisigError``:
``InvalidNonce``, ``InvalidSignature``, ``InvalidSignatureFormat``,
``AmountTooHigh``, ``InvalidRecipient``, ``ContractPaused``), each error
carrying the seed's ``log_message``.

The checks run in the seed's order ("Validaciones On-Chain"), with the two
the seed declares but does not place put where a contract would:

1. ``ContractPaused``: an emergency pause refuses every operation;
2. ``InvalidNonce``: ``op.nonce`` must equal the state's nonce (replay);
3. ``InvalidSignatureFormat``: the signature must be 64 bytes;
4. ``InvalidSignature``: Ed25519 verification (libsodium, RFC 8032 with
   canonical encodings) of ``op.message`` under the aggregate key;
5. ``AmountTooHigh``: the optional per-operation limit;
6. ``InvalidRecipient``: the recipient must be a well-formed account other
   than the multisig's own;

then the transfer and the nonce increment, atomically.

One deliberate strengthening: the seed's contract verifies the signature
over ``op.message`` but executes ``op.to`` and ``op.amount``, so anyone
holding one signed message could replay its signature with another recipient
or amount. Here ``op.message`` must be exactly the ``ThresholdMessage`` of
this transfer at this nonce (:meth:`Transfer.message`), else
``InvalidSignature``: the signature does not cover the operation.

A transfer larger than the multisig's balance is refused with
``insufficient_balance``: that is the runtime's refusal (Linera's
``runtime.transfer`` fails), not one of the contract's codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from cosigner.errors import CosignerError
from cosigner.multisig.errors import InvalidOperation
from cosigner.multisig.message import U64_MAX, Transfer


class LedgerError(CosignerError):
    """A refusal of the reference ledger. ``variant`` is the seed's enum variant name."""

    code = "ledger_error"
    variant: ClassVar[str] = ""
    log_message: ClassVar[str] = ""


class InvalidNonce(LedgerError):
    code = "invalid_nonce"
    variant = "InvalidNonce"
    log_message = "Nonce inválido: posible replay attack"


class InvalidSignature(LedgerError):
    code = "invalid_signature"
    variant = "InvalidSignature"
    log_message = "Firma threshold inválida"


class InvalidSignatureFormat(LedgerError):
    code = "invalid_signature_format"
    variant = "InvalidSignatureFormat"
    log_message = "Formato de firma incorrecto"


class AmountTooHigh(LedgerError):
    code = "amount_too_high"
    variant = "AmountTooHigh"
    log_message = "Monto excede máximo permitido"


class InvalidRecipient(LedgerError):
    code = "invalid_recipient"
    variant = "InvalidRecipient"
    log_message = "Destinatario inválido"


class ContractPaused(LedgerError):
    code = "contract_paused"
    variant = "ContractPaused"
    log_message = "Contract en pausa de emergencia"


class InsufficientBalance(LedgerError):
    """The runtime's refusal of a transfer above the balance (not a contract error code)."""

    code = "insufficient_balance"
    variant = ""
    log_message = ""


CONTRACT_ERRORS: tuple[type[LedgerError], ...] = (
    InvalidNonce,
    InvalidSignature,
    InvalidSignatureFormat,
    AmountTooHigh,
    InvalidRecipient,
    ContractPaused,
)
"""Seed 004's ``MultisigError`` variants, in the seed's order."""

SIGNATURE_LENGTH = 64


@dataclass(frozen=True, slots=True)
class ExecuteWithThresholdSignature:
    """Seed 004's ``MultisigOperation::ExecuteWithThresholdSignature``."""

    to: str
    amount: int
    nonce: int
    threshold_signature: bytes
    message: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.to, str):
            raise InvalidOperation("to must be text")
        for name in ("amount", "nonce"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= U64_MAX:
                raise InvalidOperation(f"{name} must be an integer from 0 to 2^64 - 1")
        for name in ("threshold_signature", "message"):
            if not isinstance(getattr(self, name), bytes):
                raise InvalidOperation(f"{name} must be bytes")


@dataclass(frozen=True, slots=True)
class MultisigState:
    """Seed 004's contract state."""

    owners: tuple[str, ...]
    threshold: int
    aggregate_public_key: bytes
    nonce: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """What an executed operation did."""

    nonce: int
    to: str
    amount: int
    balance_after: int


@dataclass
class ReferenceLedger:
    """The contract plus the few runtime facilities it uses (balances, transfer)."""

    owners: Sequence[str]
    threshold: int
    aggregate_public_key: bytes
    balance: int = 0
    max_amount: int | None = None
    account: str = "multisig"
    nonce: int = 0
    paused: bool = False
    balances: dict[str, int] = field(default_factory=dict)
    executed: list[Receipt] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.owners = tuple(self.owners)
        if type(self.threshold) is not int or not 1 <= self.threshold <= len(self.owners):
            raise InvalidOperation("the threshold must be between 1 and the number of owners")
        key = bytes(self.aggregate_public_key)
        try:
            self._verify_key = VerifyKey(key)
        except Exception:
            raise InvalidOperation("the aggregate public key must be 32 bytes") from None
        if len(key) != 32:
            raise InvalidOperation("the aggregate public key must be 32 bytes")
        self.aggregate_public_key = key
        if self.max_amount is not None and (
            type(self.max_amount) is not int or not 0 <= self.max_amount <= U64_MAX
        ):
            raise InvalidOperation("max_amount must be an integer from 0 to 2^64 - 1")

    @property
    def state(self) -> MultisigState:
        return MultisigState(
            tuple(self.owners), self.threshold, self.aggregate_public_key, self.nonce
        )

    def validate_operation(self, op: ExecuteWithThresholdSignature) -> None:
        """Seed 004 ``validate_operation``: raise the first error that applies, change nothing."""
        if self.paused:
            raise ContractPaused("the contract is paused; no operation executes until it resumes")
        if op.nonce != self.nonce:
            raise InvalidNonce(
                f"the operation's nonce is {op.nonce}, the contract expects {self.nonce}"
            )
        if len(op.threshold_signature) != SIGNATURE_LENGTH:
            raise InvalidSignatureFormat(
                f"the threshold signature is {len(op.threshold_signature)} bytes; "
                f"Ed25519 signatures are {SIGNATURE_LENGTH}"
            )
        try:
            self._verify_key.verify(op.message, op.threshold_signature)
        except (BadSignatureError, ValueError):
            raise InvalidSignature(
                "the threshold signature does not verify under the aggregate public key"
            ) from None
        try:
            expected = Transfer(op.to, op.amount).message(op.nonce).to_bytes()
        except InvalidOperation:
            expected = None
        if expected is not None and op.message != expected:
            raise InvalidSignature(
                "the signed message is not this transfer at this nonce; "
                "the signature does not authorize the operation"
            )
        if self.max_amount is not None and op.amount > self.max_amount:
            raise AmountTooHigh(
                f"the amount {op.amount} is above the limit of {self.max_amount} per operation"
            )
        if expected is None or op.to == self.account:
            raise InvalidRecipient(
                "the recipient must be non-empty printable text of at most 256 bytes, "
                "other than the multisig's own account"
            )

    def execute_operation(self, op: ExecuteWithThresholdSignature) -> Receipt:
        """Validate, transfer and increment the nonce; all or nothing."""
        self.validate_operation(op)
        if op.amount > self.balance:
            raise InsufficientBalance(
                f"the multisig holds {self.balance}, the transfer needs {op.amount}"
            )
        if self.nonce == U64_MAX:  # pragma: no cover - 2^64 operations
            raise InvalidNonce("the nonce space is exhausted")
        self.balance -= op.amount
        self.balances[op.to] = self.balances.get(op.to, 0) + op.amount
        self.nonce += 1
        receipt = Receipt(op.nonce, op.to, op.amount, self.balance)
        self.executed.append(receipt)
        return receipt

    execute = execute_operation

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False


__all__ = [
    "CONTRACT_ERRORS",
    "AmountTooHigh",
    "ContractPaused",
    "ExecuteWithThresholdSignature",
    "InsufficientBalance",
    "InvalidNonce",
    "InvalidRecipient",
    "InvalidSignature",
    "InvalidSignatureFormat",
    "LedgerError",
    "MultisigState",
    "Receipt",
    "ReferenceLedger",
]
