"""Checks of the Tempo vectors (``vectors/chains/tempo/*.json``) against cosigner.

``check_tempo_file(path, data)`` checks every vector of one parsed file. The vectors
come from wevm/ox's inline snapshots (see the folder's README); their ``tx`` objects use
ox's camelCase names, translated here into :class:`~cosigner.chains.tempo.TempoTransaction`.
Every vector must be recognised by at least one check, so a new vector shape fails loudly
instead of passing unchecked.

Per vector, where the fields are present:

* ``serialized`` / ``signed_serialized``: decoding and re-encoding reproduces the bytes;
  when the ``tx`` object is complete, encoding it reproduces them too;
* ``sender_signing_preimage`` / ``sender_sign_payload``: the sender hash preimage and hash;
* ``private_key`` + ``signature_65``: the adapter's sign request, signed by
  :class:`~cosigner.chains.engines.LocalKeyEngine` (RFC 6979, so deterministic), gives
  the same signature, raw transaction and ``tx_hash``, and the signature recovers to
  ``sender``;
* ``fee_payer_preimage`` / ``fee_payer_sign_payload``: the ``0x78`` preimage and hash,
  and the preimage decodes back to the transaction and sender;
* ``p256_signature_130`` / ``webauthn_signature``: the envelope decodes, re-encodes, and
  is the key authorization's signature in ``serialized``;
* ``preimage`` / ``sign_payload`` of a key authorization.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cosigner.chains.engines import LocalKeyEngine
from cosigner.chains.tempo import (
    KEY_TYPES,
    Call,
    FeePayerSignature,
    KeyAuthorization,
    KeychainSignature,
    P256Signature,
    SignedKeyAuthorization,
    TempoAdapter,
    TempoTransaction,
    TokenLimit,
    WebAuthnSignature,
    decode_signature,
    decode_transaction,
    encode_key_authorization,
    encode_signature,
    transaction_fields,
)


def _h(value: str) -> bytes:
    assert value.startswith("0x"), value
    return bytes.fromhex(value[2:])


def _key_authorization(ka: dict[str, Any]) -> SignedKeyAuthorization:
    signature = decode_signature(_h(ka["signature_65"]), allow_keychain=False)
    assert not isinstance(signature, KeychainSignature)
    auth = KeyAuthorization(
        chain_id=ka["chainId"],
        key_type=ka["type"],
        key_id=_h(ka["address"]),
        expiry=ka.get("expiry"),
        limits=None
        if "limits" not in ka
        else tuple(
            TokenLimit(_h(x["token"]), x["limit"], x.get("period", 0)) for x in ka["limits"]
        ),
    )
    return SignedKeyAuthorization(auth, signature)


_TX_KEYS = {
    "chainId",
    "calls",
    "nonce",
    "nonceKey",
    "gas",
    "maxFeePerGas",
    "maxPriorityFeePerGas",
    "validBefore",
    "validAfter",
    "feeToken",
    "feePayerSignature",
    "keyAuthorization",
}


def transaction_from_ox(tx: dict[str, Any]) -> TempoTransaction | None:
    """The vector's ox-style ``tx`` as a TempoTransaction, or None when it is partial."""
    if "chainId" not in tx or not set(tx) <= _TX_KEYS:
        return None
    fee_payer = "feePayerSignature" in tx
    fee_payer_signature = None
    if tx.get("feePayerSignature") is not None:
        sig = tx["feePayerSignature"]
        fee_payer_signature = FeePayerSignature(
            sig["yParity"], int(sig["r"], 16), int(sig["s"], 16)
        )
    return TempoTransaction(
        chain_id=tx["chainId"],
        calls=tuple(
            Call(
                _h(c["to"]) if "to" in c else None,
                c.get("value", 0),
                _h(c["data"]) if "data" in c else b"",
            )
            for c in tx["calls"]
        ),
        max_priority_fee_per_gas=tx.get("maxPriorityFeePerGas", 0),
        max_fee_per_gas=tx.get("maxFeePerGas", 0),
        gas_limit=tx.get("gas", 0),
        nonce_key=tx.get("nonceKey", 0),
        nonce=tx.get("nonce", 0),
        valid_before=tx.get("validBefore"),
        valid_after=tx.get("validAfter"),
        fee_token=_h(tx["feeToken"]) if "feeToken" in tx else None,
        fee_payer=fee_payer,
        fee_payer_signature=fee_payer_signature,
        key_authorization=_key_authorization(tx["keyAuthorization"])
        if "keyAuthorization" in tx
        else None,
    )


def _check_serialized(vector: dict[str, Any], key: str) -> None:
    raw = _h(vector[key])
    decoded = decode_transaction(raw)
    assert decoded.tx.serialize(decoded.signature) == raw, f"{vector['name']}: {key} round trip"
    tx = transaction_from_ox(vector.get("tx", {}))
    if tx is not None:
        assert tx == decoded.tx, f"{vector['name']}: decoded fields differ from the vector's tx"
        if key == "serialized":
            assert tx.serialize() == raw, f"{vector['name']}: encoding the vector's tx"


def _check_sender_signature(vector: dict[str, Any]) -> None:
    name = vector["name"]
    tx = transaction_from_ox(vector["tx"])
    assert tx is not None, name
    if "sender_signing_preimage" in vector:
        assert tx.encode_for_signing() == _h(vector["sender_signing_preimage"]), name
    if "sender_sign_payload" in vector:
        assert tx.sender_hash() == _h(vector["sender_sign_payload"]), name
    if "private_key" not in vector:
        return
    engine = LocalKeyEngine()
    engine.add_secp256k1("vector", _h(vector["private_key"]))
    payload = transaction_fields(tx)
    payload["from"] = vector["sender"]
    intent = TempoAdapter().build_intent("transaction", payload)
    (request,) = intent.sign_requests
    assert request.message == _h(vector["sender_sign_payload"]), name
    signature = engine.sign(request, "vector")
    expected = _h(vector["signature_65"])
    # The engine's recovery id is 0/1; Tempo's envelope writes v = 27 + y_parity.
    assert signature[:64] == expected[:64] and signature[64] + 27 == expected[64], name
    result = intent.finalize([signature])
    assert result.extra["signature"] == vector["signature_65"], name
    assert result.raw == _h(vector["signed_serialized"]), name
    assert result.hash == vector["tx_hash"], name
    decoded = decode_transaction(_h(vector["signed_serialized"]))
    assert decoded.recover_sender() == _h(vector["sender"]), name


def _check_fee_payer(vector: dict[str, Any]) -> None:
    name = vector["name"]
    tx = transaction_from_ox(vector["tx"])
    assert tx is not None, name
    sender = _h(vector["sender"])
    preimage = _h(vector["fee_payer_preimage"])
    assert tx.encode_for_fee_payer(sender) == preimage, name
    assert tx.fee_payer_hash(sender) == _h(vector["fee_payer_sign_payload"]), name
    decoded = decode_transaction(preimage)
    assert decoded.fee_payer_sender == sender, name
    assert decoded.tx.fee_payer_hash(sender) == _h(vector["fee_payer_sign_payload"]), name


def _check_key_authorization_signature(vector: dict[str, Any]) -> None:
    name = vector["name"]
    key = "p256_signature_130" if "p256_signature_130" in vector else "webauthn_signature"
    envelope = _h(vector[key])
    signature = decode_signature(envelope, allow_keychain=False)
    assert encode_signature(signature) == envelope, name
    ka = decode_transaction(_h(vector["serialized"])).tx.key_authorization
    assert ka is not None and ka.signature == signature, name
    if key == "p256_signature_130":
        assert isinstance(signature, P256Signature), name
        assert ka.authorization.key_type == "p256", name
    else:
        assert isinstance(signature, WebAuthnSignature), name
        assert ka.authorization.key_type == "webAuthn", name
        assert signature.authenticator_data == _h(vector["authenticator_data"]), name
        assert signature.client_data_json == vector["client_data_json"].encode(), name
    # ox's placeholders: the envelope parses but the signature does not verify.


def _check_key_authorization_payload(vector: dict[str, Any]) -> None:
    name = vector["name"]
    ka = vector["key_authorization"]
    auth = KeyAuthorization(
        chain_id=ka["chainId"],
        key_type=KEY_TYPES[ka["key_type"]],
        key_id=_h(ka["key_id"]),
        expiry=ka.get("expiry"),
        limits=tuple(TokenLimit(_h(x["token"]), x["limit"]) for x in ka["limits"]),
    )
    assert encode_key_authorization(auth) == _h(vector["preimage"]), name
    assert auth.signature_hash() == _h(vector["sign_payload"]), name


def check_tempo_vector(vector: dict[str, Any]) -> None:
    checked = False
    for key in ("serialized", "signed_serialized"):
        if key in vector:
            _check_serialized(vector, key)
            checked = True
    if "sender_signing_preimage" in vector or "private_key" in vector:
        _check_sender_signature(vector)
        checked = True
    if "fee_payer_preimage" in vector:
        _check_fee_payer(vector)
        checked = True
    if "p256_signature_130" in vector or "webauthn_signature" in vector:
        _check_key_authorization_signature(vector)
        checked = True
    if "key_authorization" in vector and "preimage" in vector:
        _check_key_authorization_payload(vector)
        checked = True
    assert checked, f"no check knows the Tempo vector {vector.get('name')!r}"


def check_tempo_file(path: Path | str, data: dict[str, Any]) -> None:
    """Check every vector of one Tempo vector file."""
    vectors = data.get("vectors")
    assert vectors, f"{path}: no vectors"
    for vector in vectors:
        check_tempo_vector(vector)


__all__ = ["check_tempo_file", "check_tempo_vector", "transaction_from_ox"]
