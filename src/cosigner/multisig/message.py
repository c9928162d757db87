"""Seed 004's ``ThresholdMessage``: the exact bytes the group signs for a ledger operation.

Layout (seed 004, "Mensaje a Firmar", ``ThresholdMessage::to_bytes``)::

    nonce (u64 big-endian) || operation_type (UTF-8, no length) ||
    len(operation_data) (u64 big-endian) || operation_data

The operation type carries no length, so the encoding can be decoded only
against a known set of operation types, and only if no type is a prefix of
another (then at most one type fits). :data:`OPERATION_TYPES` is that set;
types are lowercase ASCII ``[a-z0-9_]``.

Operation data of ``transfer`` (the reference ledger's only operation; the
seed leaves its encoding open)::

    len(to) (u16 big-endian) || to (UTF-8) || amount (u64 big-endian)

Decoders accept exactly one encoding per value (no trailing bytes) and raise
:class:`~cosigner.multisig.errors.ThresholdMessageError` (a
:class:`~cosigner.errors.DecodeError`) on anything else.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cosigner.chains.intent import make_ui_model
from cosigner.multisig.errors import InvalidOperation, ThresholdMessageError, UnknownOperationType

U64_MAX: Final = 2**64 - 1
OPERATION_TRANSFER: Final = "transfer"
OPERATION_TYPES: Final[tuple[str, ...]] = (OPERATION_TRANSFER,)
"""The operation types the reference ledger and the coordinator know."""

MAX_RECIPIENT_BYTES: Final = 256
MAX_OPERATION_DATA: Final = 64 * 1024

_TYPE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")


def check_operation_types(types: Iterable[str]) -> tuple[str, ...]:
    """The types as a tuple, checked to be well-formed, distinct and prefix-free."""
    out = tuple(types)
    for t in out:
        if not isinstance(t, str) or not _TYPE_NAME.match(t):
            raise InvalidOperation(f"operation type {t!r} is not lowercase [a-z0-9_], 1 to 64 long")
    for a in out:
        for b in out:
            if a is not b and b.startswith(a):
                raise InvalidOperation(
                    f"operation types {a!r} and {b!r}: one is a prefix of the other, "
                    "so ThresholdMessage bytes could not be decoded"
                )
    return out


def _u64(value: object, what: str) -> int:
    if type(value) is not int or not 0 <= value <= U64_MAX:
        raise InvalidOperation(f"{what} must be an integer from 0 to 2^64 - 1")
    return value


@dataclass(frozen=True, slots=True)
class ThresholdMessage:
    """What the group signs: a nonce, an operation type and the operation's data."""

    nonce: int
    operation_type: str
    operation_data: bytes

    def __post_init__(self) -> None:
        _u64(self.nonce, "nonce")
        check_operation_types((self.operation_type,))
        if not isinstance(self.operation_data, bytes):
            raise InvalidOperation("operation_data must be bytes")
        if len(self.operation_data) > MAX_OPERATION_DATA:
            raise InvalidOperation(f"operation_data is limited to {MAX_OPERATION_DATA} bytes")

    def to_bytes(self) -> bytes:
        return (
            struct.pack(">Q", self.nonce)
            + self.operation_type.encode("ascii")
            + struct.pack(">Q", len(self.operation_data))
            + self.operation_data
        )

    @classmethod
    def from_bytes(
        cls, data: bytes, operation_types: Sequence[str] = OPERATION_TYPES
    ) -> ThresholdMessage:
        """Decode, recognizing only ``operation_types`` (which must be prefix-free)."""
        if not isinstance(data, bytes | bytearray):
            raise ThresholdMessageError("a ThresholdMessage is bytes")
        data = bytes(data)
        types = check_operation_types(operation_types)
        if len(data) < 8:
            raise ThresholdMessageError("truncated: a ThresholdMessage starts with an 8-byte nonce")
        (nonce,) = struct.unpack(">Q", data[:8])
        rest = data[8:]
        matches = [t for t in types if rest.startswith(t.encode("ascii"))]
        if not matches:
            raise UnknownOperationType(
                f"the operation type is none of the known ones ({', '.join(types)})"
            )
        (op,) = matches  # the types are prefix-free, so at most one fits
        rest = rest[len(op) :]
        if len(rest) < 8:
            raise ThresholdMessageError("truncated: missing the u64 length of the operation data")
        (length,) = struct.unpack(">Q", rest[:8])
        body = rest[8:]
        if length != len(body):
            raise ThresholdMessageError(
                f"the length field says {length} bytes of operation data, {len(body)} follow"
            )
        if length > MAX_OPERATION_DATA:
            raise ThresholdMessageError(f"operation data over {MAX_OPERATION_DATA} bytes")
        return cls(nonce, op, body)


def check_recipient(to: object) -> str:
    """A recipient: non-empty printable text of at most 256 UTF-8 bytes."""
    if not isinstance(to, str) or not to or not to.isprintable():
        raise InvalidOperation("the recipient must be non-empty printable text")
    try:
        encoded = to.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidOperation("the recipient is not valid text") from None
    if len(encoded) > MAX_RECIPIENT_BYTES:
        raise InvalidOperation(f"the recipient is limited to {MAX_RECIPIENT_BYTES} UTF-8 bytes")
    return to


@dataclass(frozen=True, slots=True)
class Transfer:
    """The ``transfer`` operation: move ``amount`` from the multisig to ``to``."""

    to: str
    amount: int

    def __post_init__(self) -> None:
        check_recipient(self.to)
        _u64(self.amount, "amount")

    def to_bytes(self) -> bytes:
        to = self.to.encode("utf-8")
        return struct.pack(">H", len(to)) + to + struct.pack(">Q", self.amount)

    @classmethod
    def from_bytes(cls, data: bytes) -> Transfer:
        if not isinstance(data, bytes | bytearray):
            raise ThresholdMessageError("transfer data is bytes")
        data = bytes(data)
        if len(data) < 2:
            raise ThresholdMessageError("truncated transfer data: missing the recipient length")
        (n,) = struct.unpack(">H", data[:2])
        if len(data) != 2 + n + 8:
            raise ThresholdMessageError(
                f"transfer data is {len(data)} bytes; a {n}-byte recipient needs {2 + n + 8}"
            )
        try:
            to = data[2 : 2 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise ThresholdMessageError("the transfer recipient is not UTF-8") from None
        (amount,) = struct.unpack(">Q", data[2 + n :])
        try:
            return cls(to, amount)
        except InvalidOperation as exc:
            raise ThresholdMessageError(f"transfer data: {exc.message}") from None

    def message(self, nonce: int) -> ThresholdMessage:
        """The ThresholdMessage that authorizes this transfer at ``nonce``."""
        return ThresholdMessage(nonce, OPERATION_TRANSFER, self.to_bytes())


def decode_operation(message: ThresholdMessage) -> Transfer | None:
    """The typed operation of a message, or None for an operation type without a decoder."""
    if message.operation_type == OPERATION_TRANSFER:
        return Transfer.from_bytes(message.operation_data)
    return None


def operation_ui_model(message: ThresholdMessage) -> dict[str, Any]:
    """The review model of an operation (the chain adapters' ``ui_model`` shape).

    ``fields`` holds every input of the signed bytes (nonce, operation type,
    and the decoded operation, or its data in hex); ``display`` the exact
    bytes. Owners rebuild it from the message bytes and compare.
    """
    fields: dict[str, Any] = {"nonce": str(message.nonce), "operation_type": message.operation_type}
    operation = decode_operation(message)
    if isinstance(operation, Transfer):
        fields.update(to=operation.to, amount=str(operation.amount))
        summary = f"transfer {operation.amount} to {operation.to}"
    else:
        fields["operation_data_hex"] = message.operation_data.hex()
        summary = f"{message.operation_type} ({len(message.operation_data)} bytes of data)"
    return make_ui_model(
        "multisig",
        message.operation_type,
        f"nonce {message.nonce}: {summary}",
        fields,
        {"message_hex": message.to_bytes().hex()},
    )


__all__ = [
    "OPERATION_TRANSFER",
    "OPERATION_TYPES",
    "ThresholdMessage",
    "Transfer",
    "U64_MAX",
    "check_operation_types",
    "check_recipient",
    "decode_operation",
    "operation_ui_model",
]
