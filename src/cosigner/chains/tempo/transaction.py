"""The TempoTransaction, EIP-2718 type ``0x76`` (``tempo_transaction.rs``, ``tt_signed.rs``).

::

    0x76 || rlp([
        chain_id,                  u64
        max_priority_fee_per_gas,  u128
        max_fee_per_gas,           u128
        gas_limit,                 u64
        calls,                     [[to, value u256, input], ...]   to empty = CREATE
        access_list,               [[address, [storage_key(32), ...]], ...]
        nonce_key,                 u256   (2**256 - 1: an expiring nonce)
        nonce,                     u64
        valid_before,              u64 > 0, empty = no upper bound
        valid_after,               u64 > 0, empty = no lower bound
        fee_token,                 address, empty = no preference
        fee_payer_signature,       empty = no fee payer; [y_parity, r, s] once it signed;
                                   0x00 = a fee payer is still to sign
        aa_authorization_list,     [[chain_id, address, nonce, signature], ...]
        key_authorization?,        [[...], signature], omitted entirely when there is none
        sender_signature?          the sender's envelope, in the signed form only
    ])

* Sender hash: ``keccak256(0x76 || rlp(fields))`` without the sender signature; when a
  fee payer sponsors the transaction the sender commits to neither the fee token nor the
  fee payer's signature, so ``fee_token`` is empty and the fee payer slot is the single
  byte ``0x00``, before and after the fee payer signs (``encode_for_signing``).
* Fee-payer hash: ``keccak256(0x78 || rlp(fields))`` with ``fee_token`` and with the
  sender's address in the fee payer slot (``fee_payer_signature_hash``).
* Transaction hash: ``keccak256`` of the signed envelope.
* The fee-payer service form, what a sender hands its fee payer, is the signed envelope
  with ``0x00`` in the fee payer slot and no fee token (``encode_for_fee_payer_service``);
  ox writes the same bytes for ``feePayerSignature: null``.

Node rules (``TempoTransaction::validate``, checked when encoding and decoding): calls are
not empty; only the first call may be a CREATE, and none may when the AA authorization list
is not empty; ``valid_before > valid_after`` when both are set.
"""

from __future__ import annotations

from dataclasses import dataclass

from cosigner.chains.errors import FinalizeError, PayloadError
from cosigner.chains.evm.values import int_to_min_bytes, keccak256, rlp_encode
from cosigner.chains.tempo.authorization import (
    TempoAuthorization,
    authorization_item,
    check_authorization,
    parse_authorization_item,
)
from cosigner.chains.tempo.key_authorization import (
    SignedKeyAuthorization,
    check_key_authorization,
    parse_signed_key_authorization_item,
    signed_key_authorization_item,
)
from cosigner.chains.tempo.signature import (
    TempoSignature,
    check_signature,
    decode_signature,
    encode_signature,
    recover_signer,
)
from cosigner.chains.tempo.wire import (
    RlpItem,
    as_address,
    as_bytes,
    as_fixed,
    as_list,
    as_opt_address,
    as_opt_nonzero_u64,
    as_uint,
    check_address,
    check_bytes,
    check_timestamp,
    check_uint,
    opt_bytes,
    rlp_decode,
)

TEMPO_TX_TYPE = 0x76
FEE_PAYER_MAGIC = 0x78
EXPIRING_NONCE_KEY = 2**256 - 1
"""``nonce_key`` of an expiring-nonce transaction (replay protection by hash, TIP-1009)."""


class TempoRuleError(PayloadError):
    """A transaction the Tempo node refuses by its own rules (``TempoTransaction::validate``)."""

    code = "tempo_rule_violation"


@dataclass(frozen=True, slots=True)
class Call:
    """One call of the batch; ``to`` is None for a CREATE."""

    to: bytes | None
    value: int = 0
    input: bytes = b""


@dataclass(frozen=True, slots=True)
class AccessListItem:
    address: bytes
    storage_keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class FeePayerSignature:
    """The fee payer's secp256k1 signature, ``[y_parity, r, s]`` on the wire."""

    y_parity: int
    r: int
    s: int


@dataclass(frozen=True, slots=True)
class TempoTransaction:
    """A TempoTransaction's fields, in the node's terms.

    ``fee_payer`` marks a sponsored transaction; ``fee_payer_signature`` is None until the
    fee payer signs. The fee token of a sponsored transaction is the fee payer's choice: the
    sender hash leaves it out, and so does the fee-payer service form.
    """

    chain_id: int
    calls: tuple[Call, ...]
    max_priority_fee_per_gas: int = 0
    max_fee_per_gas: int = 0
    gas_limit: int = 0
    access_list: tuple[AccessListItem, ...] = ()
    nonce_key: int = 0
    nonce: int = 0
    valid_before: int | None = None
    valid_after: int | None = None
    fee_token: bytes | None = None
    fee_payer: bool = False
    fee_payer_signature: FeePayerSignature | None = None
    aa_authorization_list: tuple[TempoAuthorization, ...] = ()
    key_authorization: SignedKeyAuthorization | None = None

    @property
    def fee_payer_pending(self) -> bool:
        """Sponsored, and the fee payer has not signed yet."""
        return self.fee_payer and self.fee_payer_signature is None

    def encode_for_signing(self) -> bytes:
        """``0x76 || rlp(fields)``, the sender hash preimage."""
        validate_transaction(self)
        if self.fee_payer:
            items = self._rlp_fields(fee_token=b"", fee_payer_slot=b"\x00")
        else:
            items = self._rlp_fields(fee_token=opt_bytes(self.fee_token), fee_payer_slot=b"")
        return bytes([TEMPO_TX_TYPE]) + rlp_encode(items)

    def sender_hash(self) -> bytes:
        """What the sender signs (before a keychain or P-256 prehash layer)."""
        return keccak256(self.encode_for_signing())

    def encode_for_fee_payer(self, sender: bytes) -> bytes:
        """``0x78 || rlp(fields)`` with the fee token and ``sender`` in the fee payer slot."""
        validate_transaction(self)
        check_address(sender, "sender")
        items = self._rlp_fields(fee_token=opt_bytes(self.fee_token), fee_payer_slot=sender)
        return bytes([FEE_PAYER_MAGIC]) + rlp_encode(items)

    def fee_payer_hash(self, sender: bytes) -> bytes:
        """What the fee payer signs to pay for ``sender``'s transaction."""
        return keccak256(self.encode_for_fee_payer(sender))

    def serialize(self, signature: TempoSignature | None = None) -> bytes:
        """The ``0x76`` envelope, signed when ``signature`` is given.

        While a fee payer is still to sign this is the fee-payer service form (``0x00`` in
        the fee payer slot, no fee token).
        """
        validate_transaction(self)
        slot: RlpItem
        fee_token = opt_bytes(self.fee_token)
        if self.fee_payer_signature is not None:
            sig = self.fee_payer_signature
            slot = [
                int_to_min_bytes(sig.y_parity),
                int_to_min_bytes(sig.r),
                int_to_min_bytes(sig.s),
            ]
        elif self.fee_payer:
            slot, fee_token = b"\x00", b""
        else:
            slot = b""
        items = self._rlp_fields(fee_token=fee_token, fee_payer_slot=slot)
        if signature is not None:
            check_signature(signature, "signature", allow_keychain=True)
            items.append(encode_signature(signature))
        return bytes([TEMPO_TX_TYPE]) + rlp_encode(items)

    def _rlp_fields(self, *, fee_token: bytes, fee_payer_slot: RlpItem) -> list[RlpItem]:
        items: list[RlpItem] = [
            int_to_min_bytes(self.chain_id),
            int_to_min_bytes(self.max_priority_fee_per_gas),
            int_to_min_bytes(self.max_fee_per_gas),
            int_to_min_bytes(self.gas_limit),
            [[opt_bytes(c.to), int_to_min_bytes(c.value), c.input] for c in self.calls],
            [[a.address, list(a.storage_keys)] for a in self.access_list],
            int_to_min_bytes(self.nonce_key),
            int_to_min_bytes(self.nonce),
            int_to_min_bytes(self.valid_before or 0),
            int_to_min_bytes(self.valid_after or 0),
            fee_token,
            fee_payer_slot,
            [
                authorization_item(a, f"aaAuthorizationList[{i}]")
                for i, a in enumerate(self.aa_authorization_list)
            ],
        ]
        if self.key_authorization is not None:
            items.append(signed_key_authorization_item(self.key_authorization))
        return items


@dataclass(frozen=True, slots=True)
class DecodedTransaction:
    """A parsed envelope: the transaction, the sender's signature if any, and for a ``0x78``
    fee-payer preimage the sender address written in it."""

    tx: TempoTransaction
    signature: TempoSignature | None = None
    fee_payer_sender: bytes | None = None

    def recover_sender(self) -> bytes:
        """Verify the sender signature over the sender hash; return the sender's address."""
        if self.signature is None:
            raise FinalizeError("the transaction carries no sender signature")
        return recover_signer(self.signature, self.tx.sender_hash())


def validate_transaction(tx: TempoTransaction) -> None:
    """Every field fits the wire, then the node's rules; errors name the field at fault."""
    check_uint(tx.chain_id, "chainId", 64)
    check_uint(tx.max_priority_fee_per_gas, "maxPriorityFeePerGas", 128)
    check_uint(tx.max_fee_per_gas, "maxFeePerGas", 128)
    check_uint(tx.gas_limit, "gas", 64)
    for i, call in enumerate(tx.calls):
        if call.to is not None:
            check_address(call.to, f"calls[{i}].to")
        check_uint(call.value, f"calls[{i}].value", 256)
        check_bytes(call.input, f"calls[{i}].input")
    for i, item in enumerate(tx.access_list):
        check_address(item.address, f"accessList[{i}].address")
        for j, key in enumerate(item.storage_keys):
            check_bytes(key, f"accessList[{i}].storageKeys[{j}]", 32)
    check_uint(tx.nonce_key, "nonceKey", 256)
    check_uint(tx.nonce, "nonce", 64)
    check_timestamp(tx.valid_before, "validBefore")
    check_timestamp(tx.valid_after, "validAfter")
    if tx.fee_token is not None:
        check_address(tx.fee_token, "feeToken")
    if tx.fee_payer_signature is not None:
        if not tx.fee_payer:
            raise PayloadError("feePayerSignature", "a fee payer signature needs feePayer")
        sig = tx.fee_payer_signature
        if sig.y_parity not in (0, 1):
            raise PayloadError("feePayerSignature.yParity", "y parity is 0 or 1")
        check_uint(sig.r, "feePayerSignature.r", 256)
        check_uint(sig.s, "feePayerSignature.s", 256)
    for i, auth in enumerate(tx.aa_authorization_list):
        check_authorization(auth, f"aaAuthorizationList[{i}]")
    if tx.key_authorization is not None:
        check_key_authorization(tx.key_authorization.authorization, "keyAuthorization")
        check_signature(
            tx.key_authorization.signature, "keyAuthorization.signature", allow_keychain=False
        )
    check_node_rules(tx)


def check_node_rules(tx: TempoTransaction) -> None:
    """``TempoTransaction::validate``: the node's structural rules, as TempoRuleError."""
    if not tx.calls:
        raise TempoRuleError("calls", "a Tempo transaction needs at least one call")
    if tx.aa_authorization_list and tx.calls[0].to is None:
        raise TempoRuleError(
            "calls[0].to", "no call may be a CREATE when aaAuthorizationList is not empty"
        )
    for i, call in enumerate(tx.calls[1:], start=1):
        if call.to is None:
            raise TempoRuleError(
                f"calls[{i}].to", "only the first call of the batch may be a CREATE"
            )
    if (
        tx.valid_before is not None
        and tx.valid_after is not None
        and tx.valid_before <= tx.valid_after
    ):
        raise TempoRuleError("validBefore", "validBefore must be greater than validAfter")


def decode_transaction(raw: bytes) -> DecodedTransaction:
    """Parse a ``0x76`` envelope (signed, unsigned or the fee-payer service form) or a
    ``0x78`` fee-payer preimage back into fields.

    Every malformation raises PayloadError naming the field; the node's rules raise
    TempoRuleError. A 2718 decoder in the node takes only the signed form; the unsigned and
    ``0x78`` forms are read here as ox reads them.
    """
    if not isinstance(raw, bytes | bytearray):
        raise PayloadError("raw", "a serialized transaction is bytes")
    raw = bytes(raw)
    if not raw:
        raise PayloadError("raw", "empty transaction")
    if raw[0] not in (TEMPO_TX_TYPE, FEE_PAYER_MAGIC):
        raise PayloadError("raw", f"type byte 0x{raw[0]:02x} is not a Tempo transaction (0x76)")
    fee_payer_form = raw[0] == FEE_PAYER_MAGIC
    items = as_list(rlp_decode(raw[1:], "raw"), "raw")
    if not 13 <= len(items) <= 15:
        raise PayloadError("raw", f"a Tempo transaction has 13 to 15 fields, found {len(items)}")

    fee_token = as_opt_address(items[10], "feeToken")
    slot = items[11]
    fee_payer = fee_payer_form
    fee_payer_signature = None
    fee_payer_sender = None
    if fee_payer_form:
        fee_payer_sender = as_address(slot, "feePayerSignature")
    elif isinstance(slot, list):
        if len(slot) != 3:
            raise PayloadError("feePayerSignature", "a fee payer signature is [yParity, r, s]")
        y_parity = as_uint(slot[0], "feePayerSignature.yParity", 8)
        if y_parity > 1:
            raise PayloadError("feePayerSignature.yParity", "y parity is 0 or 1")
        fee_payer = True
        fee_payer_signature = FeePayerSignature(
            y_parity,
            as_uint(slot[1], "feePayerSignature.r", 256),
            as_uint(slot[2], "feePayerSignature.s", 256),
        )
    elif slot == b"\x00":
        fee_payer = True
        if fee_token is not None:
            raise PayloadError("feeToken", "the fee-payer service form carries no fee token")
    elif slot != b"":
        raise PayloadError(
            "feePayerSignature", "expected empty, 0x00 (fee payer to sign) or [yParity, r, s]"
        )

    rest = items[13:]
    key_authorization = None
    if rest and isinstance(rest[0], list):
        key_authorization = parse_signed_key_authorization_item(rest[0], "keyAuthorization")
        rest = rest[1:]
    signature = None
    if len(rest) > 1:
        raise PayloadError("raw", "unexpected fields after the sender signature")
    if rest:
        if fee_payer_form:
            raise PayloadError("signature", "a fee-payer preimage carries no sender signature")
        signature = decode_signature(as_bytes(rest[0], "signature"), "signature")

    tx = TempoTransaction(
        chain_id=as_uint(items[0], "chainId", 64),
        max_priority_fee_per_gas=as_uint(items[1], "maxPriorityFeePerGas", 128),
        max_fee_per_gas=as_uint(items[2], "maxFeePerGas", 128),
        gas_limit=as_uint(items[3], "gas", 64),
        calls=tuple(
            _parse_call(item, f"calls[{i}]") for i, item in enumerate(as_list(items[4], "calls"))
        ),
        access_list=tuple(
            _parse_access_list_item(item, f"accessList[{i}]")
            for i, item in enumerate(as_list(items[5], "accessList"))
        ),
        nonce_key=as_uint(items[6], "nonceKey", 256),
        nonce=as_uint(items[7], "nonce", 64),
        valid_before=as_opt_nonzero_u64(items[8], "validBefore"),
        valid_after=as_opt_nonzero_u64(items[9], "validAfter"),
        fee_token=fee_token,
        fee_payer=fee_payer,
        fee_payer_signature=fee_payer_signature,
        aa_authorization_list=tuple(
            parse_authorization_item(item, f"aaAuthorizationList[{i}]")
            for i, item in enumerate(as_list(items[12], "aaAuthorizationList"))
        ),
        key_authorization=key_authorization,
    )
    validate_transaction(tx)
    return DecodedTransaction(tx, signature, fee_payer_sender)


def _parse_call(item: RlpItem, path: str) -> Call:
    fields = as_list(item, path)
    if len(fields) != 3:
        raise PayloadError(path, f"a call is [to, value, input], found {len(fields)} fields")
    return Call(
        as_opt_address(fields[0], f"{path}.to"),
        as_uint(fields[1], f"{path}.value", 256),
        as_bytes(fields[2], f"{path}.input"),
    )


def _parse_access_list_item(item: RlpItem, path: str) -> AccessListItem:
    fields = as_list(item, path)
    if len(fields) != 2:
        raise PayloadError(path, "an access list entry is [address, storageKeys]")
    keys = tuple(
        as_fixed(key, f"{path}.storageKeys[{j}]", 32, "a storage key")
        for j, key in enumerate(as_list(fields[1], f"{path}.storageKeys"))
    )
    return AccessListItem(as_address(fields[0], f"{path}.address"), keys)
