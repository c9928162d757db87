"""The EVM chain adapter: transactions, personal_sign, EIP-712 and EIP-7702 authorizations.

``EvmAdapter().build_intent(kind, payload)`` validates and normalizes a
payload and returns a :class:`~cosigner.chains.intent.SigningIntent` holding
one secp256k1 :class:`~cosigner.chains.intent.SignRequest` (a 32-byte
keccak-256 digest), the reviewable ``ui_model`` and ``finalize``. Kinds and
the specifications they follow:

* ``transaction`` (:mod:`.transactions`): legacy with EIP-155
  (https://eips.ethereum.org/EIPS/eip-155), EIP-2930 access lists
  (https://eips.ethereum.org/EIPS/eip-2930), EIP-1559 fees
  (https://eips.ethereum.org/EIPS/eip-1559) and EIP-7702 set-code
  transactions (https://eips.ethereum.org/EIPS/eip-7702), typed by EIP-2718
  (https://eips.ethereum.org/EIPS/eip-2718). ``finalize`` gives the raw
  signed transaction, its hash, ``v``/``yParity``, ``r`` and ``s``.
* ``personal_sign`` (:mod:`.messages`): EIP-191 version 0x45
  (https://eips.ethereum.org/EIPS/eip-191).
* ``typed_data`` (:mod:`.typed_data`): EIP-712
  (https://eips.ethereum.org/EIPS/eip-712), any well-formed types.
* ``authorization`` (:mod:`.authorization`): an EIP-7702 authorization tuple.

Message-like kinds finalize to the wallet-style 65-byte signature with ``v``
27 or 28. Every kind checks the recovered signer against ``from`` when the
payload names one. Addresses are shown EIP-55 checksummed
(https://eips.ethereum.org/EIPS/eip-55) and ERC-20 calldata is decoded for
display (:mod:`.calldata`).

What is written here and why: RLP comes from ``rlp`` and keccak-256 from
pycryptodome (eth-hash's backend); secp256k1 recovery from libsecp256k1
through coincurve. The transaction field lists, signing preimages, EIP-712
encoding and the review model are ours: eth-account, the well-kept library
that has them, validates loosely where a signing service must not (it pads
short ``bytesN``, reads any non-empty string as ``true``, fills missing
EIP-712 members with zeros and ignores unknown fields), builds no reviewable
model, and spends most of its time in generic conversions (see
``cosigner bench chains``). eth-account is the oracle our tests compare
against, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cosigner.chains.errors import PayloadError, UnsupportedKindError
from cosigner.chains.evm.authorization import (
    describe_authorization,
    finalize_authorization,
    parse_authorization,
)
from cosigner.chains.evm.messages import (
    describe_message,
    finalize_message,
    parse_personal_message,
    personal_sign_digest,
    personal_sign_preimage,
)
from cosigner.chains.evm.transactions import (
    TRANSACTION_TYPES,
    EvmTransaction,
    authorization_signing_hash,
    describe_transaction,
    finalize_transaction,
    parse_from,
    parse_transaction,
)
from cosigner.chains.evm.typed_data import TypedData, describe_typed_data, parse_typed_data
from cosigner.chains.evm.values import describe, keccak256, to_checksum_address
from cosigner.chains.intent import Finalized, SigningIntent, SignRequest, make_ui_model

CHAIN = "evm"
KINDS = ("transaction", "personal_sign", "typed_data", "authorization")


class EvmAdapter:
    """Payload in; the exact digest to sign, a reviewable model and ``finalize`` out."""

    chain = CHAIN
    kinds: tuple[str, ...] = KINDS

    def __init__(self) -> None:
        self._builders: dict[str, Callable[[Mapping[str, Any]], SigningIntent]] = {
            "transaction": build_transaction_intent,
            "personal_sign": build_personal_sign_intent,
            "typed_data": build_typed_data_intent,
            "authorization": build_authorization_intent,
        }

    def build_intent(self, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
        builder = self._builders.get(kind) if isinstance(kind, str) else None
        if builder is None:
            raise UnsupportedKindError(
                "kind", f"the evm adapter signs {', '.join(KINDS)}; got {describe(kind)}"
            )
        if not isinstance(payload, Mapping):
            raise PayloadError("", f"the payload must be a JSON object, got {describe(payload)}")
        return builder(payload)


def build_transaction_intent(payload: Mapping[str, Any]) -> SigningIntent:
    tx = parse_transaction(payload)
    sender = parse_from(payload)
    digest = tx.signing_hash()
    fields = tx.fields
    if sender is not None:
        fields["from"] = sender[1]
    summary, display = describe_transaction(tx, sender, digest)
    label = f"{tx.type.name} transaction signing hash"

    def finalize(signatures: Sequence[bytes]) -> Finalized:
        return finalize_transaction(tx, digest, label, sender, signatures)

    return SigningIntent(
        CHAIN,
        "transaction",
        make_ui_model(CHAIN, "transaction", summary, fields, display),
        (SignRequest("secp256k1", digest, label),),
        finalize,
    )


def build_personal_sign_intent(payload: Mapping[str, Any]) -> SigningIntent:
    message, fields = parse_personal_message(payload)
    signer = parse_from(payload)
    if signer is not None:
        fields["from"] = signer[1]
    digest = personal_sign_digest(message)
    summary, display = describe_message(message, digest)
    label = "EIP-191 personal_sign digest"

    def finalize(signatures: Sequence[bytes]) -> Finalized:
        return finalize_message("personal_sign", digest, label, signer, signatures)

    return SigningIntent(
        CHAIN,
        "personal_sign",
        make_ui_model(CHAIN, "personal_sign", summary, fields, display),
        (SignRequest("secp256k1", digest, label),),
        finalize,
    )


def build_typed_data_intent(payload: Mapping[str, Any]) -> SigningIntent:
    data = parse_typed_data(payload)
    signer = parse_from(payload)
    fields = dict(data.fields)
    if signer is not None:
        fields["from"] = signer[1]
    summary, display = describe_typed_data(data)
    label = f"EIP-712 {data.primary_type} digest"
    digest = data.digest

    def finalize(signatures: Sequence[bytes]) -> Finalized:
        return finalize_message("typed_data", digest, label, signer, signatures)

    return SigningIntent(
        CHAIN,
        "typed_data",
        make_ui_model(CHAIN, "typed_data", summary, fields, display),
        (SignRequest("secp256k1", digest, label),),
        finalize,
    )


def build_authorization_intent(payload: Mapping[str, Any]) -> SigningIntent:
    chain_id, address, address_text, nonce, fields, digest = parse_authorization(payload)
    authority = parse_from(payload)
    if authority is not None:
        fields["from"] = authority[1]
    summary, display = describe_authorization(
        chain_id, address, address_text, nonce, digest, authority[1] if authority else None
    )
    label = "EIP-7702 authorization digest"

    def finalize(signatures: Sequence[bytes]) -> Finalized:
        return finalize_authorization(
            chain_id, address, address_text, nonce, digest, label, authority, signatures
        )

    return SigningIntent(
        CHAIN,
        "authorization",
        make_ui_model(CHAIN, "authorization", summary, fields, display),
        (SignRequest("secp256k1", digest, label),),
        finalize,
    )


__all__ = [
    "KINDS",
    "TRANSACTION_TYPES",
    "EvmAdapter",
    "EvmTransaction",
    "TypedData",
    "authorization_signing_hash",
    "keccak256",
    "parse_transaction",
    "parse_typed_data",
    "personal_sign_digest",
    "personal_sign_preimage",
    "to_checksum_address",
]
