"""The Tempo chain adapter: the 0x76 TempoTransaction, signed by its sender or its fee payer.

The encoding is the Tempo node's: tempoxyz/tempo ``crates/primitives/src/transaction/``
(``tempo_transaction.rs``, ``tt_signature.rs``, ``tt_signed.rs``, ``key_authorization.rs``,
``tt_authorization.rs``), with the transaction spec (``spec-tempo-transaction`` in
tempoxyz/docs). wevm/ox ``src/tempo/`` (``TxEnvelopeTempo.ts``, ``SignatureEnvelope.ts``,
``KeyAuthorization.ts``, ``AuthorizationTempo.ts``) is the second reference: the interop
tests have ox parse our bytes back. One module per node file:

* :mod:`.transaction` - the transaction's byte layout, sender hash (with the fee-payer
  placeholder), fee-payer hash (``0x78``), encoding, decoding and the node's rules;
* :mod:`.signature` - the secp256k1, P-256, WebAuthn and keychain envelopes and their
  verification;
* :mod:`.key_authorization` - access-key provisioning and its trailing optional fields;
* :mod:`.authorization` - the AA authorization list (EIP-7702 with Tempo signatures);
* :mod:`.fields` - the transaction as JSON payload fields, both ways;
* :mod:`.signing` - who signs, what their key signs, engine output to envelopes;
* :mod:`.display` - the review model (TIP-20 and ERC-20 calls decoded).

Kinds of :class:`TempoAdapter`:

* ``transaction`` - the sender signs. Payload: the transaction fields of :mod:`.fields`,
  ``signer`` (:mod:`.signing`; default secp256k1) and optionally ``from``, the expected
  sender (checked in ``finalize``; for P-256, WebAuthn and keychain signers it is known up
  front). One sign request. ``finalize`` returns the signed ``0x76`` envelope, its hash and
  in ``extra`` the sender, the sender hash and the signature envelope. With ``feePayer:
  true`` and no fee payer signature yet, the raw bytes are the fee-payer service form to
  hand to the fee payer, and ``hash`` is None: the hash is known once the fee payer signs.
* ``fee_payer`` - the fee payer signs a sponsored transaction (secp256k1, the fee-payer
  hash). Payload: the transaction fields with ``feePayer: true``, the ``feeToken`` the fee
  payer picks, and ``senderSignature`` (verified here; the sender is recovered from it) or
  ``sender`` alone. ``finalize`` returns the broadcastable transaction when the sender's
  signature is known, and the fee payer's ``{yParity, r, s}`` in ``extra`` in any case.
  :func:`fee_payer_payload` turns the bytes a sender hands over into this payload.

Beyond the node's structural rules, a payload must have a non-zero ``chainId`` and
``maxPriorityFeePerGas <= maxFeePerGas`` (the transaction pool's rule, which ox also
enforces), and a sender may not name a ``feeToken`` for a transaction a fee payer will pay
(the sender hash does not cover it; the fee payer chooses).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from cosigner.chains.errors import FinalizeError, PayloadError, UnsupportedKindError
from cosigner.chains.evm.values import describe, hex32, hex_text, keccak256, to_checksum_address
from cosigner.chains.intent import Finalized, SigningIntent, SignRequest, make_ui_model
from cosigner.chains.tempo.authorization import (
    TempoAuthorization,
    decode_authorization,
    encode_authorization,
)
from cosigner.chains.tempo.display import decode_tip20_call, describe_transaction, is_tip20
from cosigner.chains.tempo.fields import (
    opt_address,
    signature_field,
    transaction_fields,
    transaction_from_fields,
)
from cosigner.chains.tempo.key_authorization import (
    CallScope,
    KeyAuthorization,
    SelectorRule,
    SignedKeyAuthorization,
    TokenLimit,
    decode_key_authorization,
    decode_signed_key_authorization,
    encode_key_authorization,
    encode_signed_key_authorization,
)
from cosigner.chains.tempo.signature import (
    KEY_TYPES,
    KeychainSignature,
    P256Signature,
    PrimitiveSignature,
    Secp256k1Signature,
    TempoSignature,
    WebAuthnSignature,
    decode_signature,
    encode_signature,
    keychain_signing_hash,
    p256_address,
    recover_signer,
    signature_type,
    webauthn_message_hash,
)
from cosigner.chains.tempo.signing import (
    SenderSigner,
    fee_payer_signature_from_engine,
    parse_signer,
    sender_signature_from_engine,
    webauthn_assertion,
)
from cosigner.chains.tempo.transaction import (
    EXPIRING_NONCE_KEY,
    AccessListItem,
    Call,
    DecodedTransaction,
    FeePayerSignature,
    TempoRuleError,
    TempoTransaction,
    check_node_rules,
    decode_transaction,
    validate_transaction,
)

CHAIN = "tempo"
KINDS = ("transaction", "fee_payer")


class TempoAdapter:
    """Payload in; the exact digest to sign, a reviewable model and ``finalize`` out."""

    chain = CHAIN
    kinds: tuple[str, ...] = KINDS

    def build_intent(self, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
        if kind == "transaction":
            return build_transaction_intent(payload)
        if kind == "fee_payer":
            return build_fee_payer_intent(payload)
        raise UnsupportedKindError(
            "kind", f"the tempo adapter signs {', '.join(KINDS)}; got {describe(kind)}"
        )


def _check_payload_rules(tx: TempoTransaction) -> None:
    if tx.chain_id == 0:
        raise PayloadError("chainId", "chainId 0 is not a Tempo chain")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise PayloadError("maxPriorityFeePerGas", "must not exceed maxFeePerGas")


def build_transaction_intent(payload: Mapping[str, Any]) -> SigningIntent:
    tx = transaction_from_fields(payload, ("signer", "from"))
    _check_payload_rules(tx)
    if tx.fee_payer_pending and tx.fee_token is not None:
        raise PayloadError(
            "feeToken",
            "the fee payer chooses the fee token of a sponsored transaction and the sender "
            "does not sign it; leave feeToken out",
        )
    signer = parse_signer(payload.get("signer"))
    expected = opt_address(payload.get("from"), "from")
    if expected is not None and signer.address is not None and expected != signer.address:
        raise PayloadError("from", "is not the address of the signer's key or keychain account")
    sender = expected or signer.address
    sender_hash = tx.sender_hash()
    signed_hash = signer.signed_hash(sender_hash)
    request = SignRequest(signer.algorithm, signer.request_message(sender_hash), signer.label())
    summary, display = describe_transaction(tx, sender, signer.describe())
    display["senderHash"] = hex_text(sender_hash)
    fields = transaction_fields(tx)
    fields["signer"] = signer.fields()
    fields["from"] = None if sender is None else to_checksum_address(sender)
    ui_model = make_ui_model(CHAIN, "transaction", summary, fields, display)

    def finalize(signatures: Sequence[bytes]) -> Finalized:
        primitive, key = sender_signature_from_engine(signatures[0], signer, signed_hash)
        envelope: TempoSignature = primitive
        signed_by = key
        if signer.keychain_account is not None:
            envelope = KeychainSignature(
                signer.keychain_account, primitive, signer.keychain_version
            )
            signed_by = signer.keychain_account
        if sender is not None and signed_by != sender:
            raise FinalizeError(
                f"the signature is by {to_checksum_address(signed_by)}, "
                f"not by {to_checksum_address(sender)}"
            )
        raw = tx.serialize(envelope)
        extra: dict[str, Any] = {
            "from": to_checksum_address(signed_by),
            "senderHash": hex_text(sender_hash),
            "signature": hex_text(encode_signature(envelope)),
            "signatureType": signature_type(envelope),
            "feePayerPending": tx.fee_payer_pending,
        }
        if signer.keychain_account is not None:
            extra["accessKey"] = to_checksum_address(key)
        tx_hash = None if tx.fee_payer_pending else hex_text(keccak256(raw))
        return Finalized(CHAIN, "transaction", raw, tx_hash, extra)

    return SigningIntent(CHAIN, "transaction", ui_model, (request,), finalize)


def build_fee_payer_intent(payload: Mapping[str, Any]) -> SigningIntent:
    tx = transaction_from_fields(payload, ("sender", "senderSignature"))
    if not tx.fee_payer:
        raise PayloadError("feePayer", "must be true: the fee payer signs sponsored transactions")
    if tx.fee_payer_signature is not None:
        raise PayloadError("feePayerSignature", "the fee payer has signed already")
    _check_payload_rules(tx)
    sender = opt_address(payload.get("sender"), "sender")
    sender_signature = None
    if payload.get("senderSignature") is not None:
        sender_signature = signature_field(payload["senderSignature"], "senderSignature")
        try:
            signed_by = recover_signer(sender_signature, tx.sender_hash())
        except FinalizeError as exc:
            raise PayloadError("senderSignature", f"does not verify: {exc}") from None
        if sender is not None and sender != signed_by:
            raise PayloadError("sender", "is not the signer of senderSignature")
        sender = signed_by
    if sender is None:
        raise PayloadError("sender", "is required (or senderSignature, which names the sender)")
    fee_payer_hash = tx.fee_payer_hash(sender)
    request = SignRequest("secp256k1", fee_payer_hash, "Tempo fee payer hash")
    summary, display = describe_transaction(tx, sender, "secp256k1 fee payer")
    summary = f"Pay the fees of {to_checksum_address(sender)}: {summary}"
    display["feePayerHash"] = hex_text(fee_payer_hash)
    fields = transaction_fields(tx)
    fields["sender"] = to_checksum_address(sender)
    fields["senderSignature"] = (
        None if sender_signature is None else hex_text(encode_signature(sender_signature))
    )
    ui_model = make_ui_model(CHAIN, "fee_payer", summary, fields, display)

    def finalize(signatures: Sequence[bytes]) -> Finalized:
        signature, fee_payer = fee_payer_signature_from_engine(signatures[0], fee_payer_hash)
        extra: dict[str, Any] = {
            "sender": to_checksum_address(sender),
            "feePayer": to_checksum_address(fee_payer),
            "feePayerHash": hex_text(fee_payer_hash),
            "feePayerSignature": {
                "yParity": signature.y_parity,
                "r": hex32(signature.r),
                "s": hex32(signature.s),
            },
        }
        if sender_signature is None:
            return Finalized(CHAIN, "fee_payer", None, None, extra)
        raw = replace(tx, fee_payer_signature=signature).serialize(sender_signature)
        extra["signature"] = hex_text(encode_signature(sender_signature))
        return Finalized(CHAIN, "fee_payer", raw, hex_text(keccak256(raw)), extra)

    return SigningIntent(CHAIN, "fee_payer", ui_model, (request,), finalize)


def fee_payer_payload(raw: bytes, fee_token: bytes | None = None) -> dict[str, Any]:
    """The ``fee_payer`` payload for the bytes a sender hands its fee payer.

    ``raw`` is the sender-signed fee-payer service form (``0x00`` in the fee payer slot);
    ``fee_token`` is the fee payer's choice.
    """
    decoded = decode_transaction(raw)
    if not decoded.tx.fee_payer_pending:
        raise PayloadError("feePayerSignature", "this transaction is not waiting for a fee payer")
    if decoded.signature is None:
        raise PayloadError("signature", "the sender has not signed this transaction")
    fields = transaction_fields(decoded.tx)
    fields["feeToken"] = None if fee_token is None else to_checksum_address(fee_token)
    fields["senderSignature"] = hex_text(encode_signature(decoded.signature))
    return fields


__all__ = [
    "CHAIN",
    "EXPIRING_NONCE_KEY",
    "KEY_TYPES",
    "KINDS",
    "AccessListItem",
    "Call",
    "CallScope",
    "DecodedTransaction",
    "FeePayerSignature",
    "KeyAuthorization",
    "KeychainSignature",
    "P256Signature",
    "PrimitiveSignature",
    "Secp256k1Signature",
    "SelectorRule",
    "SenderSigner",
    "SignedKeyAuthorization",
    "TempoAdapter",
    "TempoAuthorization",
    "TempoRuleError",
    "TempoSignature",
    "TempoTransaction",
    "TokenLimit",
    "WebAuthnSignature",
    "build_fee_payer_intent",
    "build_transaction_intent",
    "check_node_rules",
    "decode_authorization",
    "decode_key_authorization",
    "decode_signature",
    "decode_signed_key_authorization",
    "decode_tip20_call",
    "decode_transaction",
    "encode_authorization",
    "encode_key_authorization",
    "encode_signature",
    "encode_signed_key_authorization",
    "fee_payer_payload",
    "is_tip20",
    "keychain_signing_hash",
    "p256_address",
    "recover_signer",
    "signature_type",
    "transaction_fields",
    "transaction_from_fields",
    "validate_transaction",
    "webauthn_assertion",
    "webauthn_message_hash",
]
