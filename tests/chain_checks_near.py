"""Checks of the NEAR vector files (``shared/vectors/chains/near``), vector by vector.

``check_near_file(path, data)`` dispatches each vector on what it holds, so a
new file in a known shape needs no code change:

* ``kind: "Transaction"``: the Borsh bytes, the sha256 digest and transaction
  id, the Ed25519 signature from the secret key, the SignedTransaction from
  ``finalize``, decoding back, and the sign request rebuilt from ``ui_model``;
* ``kind: "DelegateAction"``: the NEP-366 preimage and digest, the
  SignedDelegate and the ``Action::Delegate`` bytes;
* ``kind: "Action"``: a real ``Action::Delegate`` decoded, re-encoded and its
  signature verified;
* NEP-413 vectors (``message`` and ``recipient``): preimage, digest and
  signature.

Secret keys are in near-api-js form ``ed25519:<base58(seed32 || pub32)>``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import base58
import pytest

from cosigner.chains.borsh import BorshWriter, decode_all
from cosigner.chains.engines import LocalKeyEngine
from cosigner.chains.errors import PayloadError
from cosigner.chains.near import (
    Delegate,
    DelegateAction,
    NearAdapter,
    Nep413Payload,
    PublicKey,
    SignedDelegate,
    SignedTransaction,
    Transaction,
    action_from_fields,
    read_action,
    validate_account_id,
    write_action,
)

ADAPTER = NearAdapter()


def seed_of(secret_key: str) -> bytes:
    """The Ed25519 seed of a near-api-js secret key ``ed25519:<base58(seed || pub)>``."""
    prefix, _, encoded = secret_key.partition(":")
    assert prefix == "ed25519", secret_key
    raw = base58.b58decode(encoded)
    assert len(raw) == 64
    return raw[:32]


def _engine(secret_key: str, public_key: str | None) -> LocalKeyEngine:
    engine = LocalKeyEngine()
    pub = engine.add_ed25519("vector", seed_of(secret_key))
    if public_key is not None:
        assert f"ed25519:{base58.b58encode(pub).decode()}" == public_key
    return engine


def _account_valid(account_id: str) -> bool:
    try:
        validate_account_id(account_id, "")
    except PayloadError:
        return False
    return True


def _transaction_from_vector(fields: dict[str, Any]) -> Transaction:
    """The Transaction a vector describes, without the adapter's account-id rules."""
    if "block_hash" in fields:
        block_hash = base58.b58decode(fields["block_hash"])
    else:
        block_hash = bytes.fromhex(fields["block_hash_hex"])
    return Transaction(
        fields["signer_id"],
        PublicKey.from_fields(fields["public_key"], "public_key"),
        int(fields["nonce"]),
        fields["receiver_id"],
        block_hash,
        tuple(action_from_fields(a, "actions") for a in fields["actions"]),
    )


def assert_rebuilds(kind: str, ui_model: dict[str, Any], requests: tuple[Any, ...]) -> None:
    """``build_intent(kind, ui_model["fields"])`` gives the same requests and the same model."""
    assert json.loads(json.dumps(ui_model)) == ui_model, "ui_model is not plain JSON"
    again = ADAPTER.build_intent(kind, ui_model["fields"])
    assert again.sign_requests == requests
    assert again.ui_model == ui_model


def check_transaction(v: dict[str, Any]) -> None:
    tx = _transaction_from_vector(v["fields"])
    borsh = tx.to_borsh()
    assert borsh.hex() == v["borsh_hex"]
    assert Transaction.from_borsh(borsh) == tx
    digest = hashlib.sha256(borsh).digest()
    assert digest.hex() == v["sha256_hex"] == tx.hash().hex()
    if "tx_hash_base58" in v:
        assert base58.b58encode(digest).decode() == v["tx_hash_base58"]

    if not _account_valid(tx.signer_id) or not _account_valid(tx.receiver_id):
        # A library fixture, not a transaction nearcore would accept: the adapter
        # must refuse it by field, even though the Borsh layer reproduces it.
        bad = "signer_id" if not _account_valid(tx.signer_id) else "receiver_id"
        with pytest.raises(PayloadError) as err:
            ADAPTER.build_intent("transaction", v["fields"])
        assert err.value.path == bad
        return

    intent = ADAPTER.build_intent("transaction", v["fields"])
    (request,) = intent.sign_requests
    assert request.algorithm == "ed25519" and request.prehashed
    assert request.message == digest
    assert intent.ui_model["display"]["transaction_hash"] == base58.b58encode(digest).decode()
    assert_rebuilds("transaction", dict(intent.ui_model), intent.sign_requests)
    from_borsh = ADAPTER.build_intent(
        "transaction", {"borsh_base64": base64.b64encode(borsh).decode()}
    )
    assert from_borsh.sign_requests == intent.sign_requests

    signature_hex = v.get("signature_hex")
    if "secret_key" in v:
        engine = _engine(v["secret_key"], v["fields"]["public_key"])
        signature = engine.sign(request, "vector")
        if signature_hex is not None:
            assert signature.hex() == signature_hex
        signature_hex = signature.hex()
    if signature_hex is None:
        return
    signature = bytes.fromhex(signature_hex)
    if "signature_base64" in v:
        assert base64.b64encode(signature).decode() == v["signature_base64"]
    final = intent.finalize([signature])
    assert final.raw is not None
    if "signed_transaction_hex" in v:
        assert final.raw.hex() == v["signed_transaction_hex"]
    assert final.hash == base58.b58encode(digest).decode()
    signed = SignedTransaction.from_borsh(final.raw)
    assert signed.transaction == tx and signed.signature.data == signature
    assert signed.verify()
    assert signed.to_borsh() == final.raw


def check_delegate_action(v: dict[str, Any]) -> None:
    action = DelegateAction.from_fields(v["fields"])
    borsh = action.to_borsh()
    assert borsh.hex() == v["borsh_hex"]
    assert DelegateAction.from_borsh(borsh) == action
    assert action.signing_preimage().hex() == v["signing_preimage_hex"]
    assert action.signing_digest().hex() == v["sha256_hex"]

    intent = ADAPTER.build_intent("delegate_action", v["fields"])
    (request,) = intent.sign_requests
    assert request.message.hex() == v["sha256_hex"]
    assert_rebuilds("delegate_action", dict(intent.ui_model), intent.sign_requests)

    engine = _engine(v["secret_key"], v["fields"]["public_key"])
    signature = engine.sign(request, "vector")
    assert signature.hex() == v["signature_hex"]
    final = intent.finalize([signature])
    assert final.raw is not None
    assert final.raw.hex() == v["signed_delegate_action_hex"]
    signed = SignedDelegate.from_borsh(final.raw)
    assert signed.verify()
    writer = BorshWriter()
    write_action(writer, Delegate(signed))
    assert bytes(writer).hex() == v["action_delegate_hex"]
    assert action_from_fields(final.extra["action"], "action") == Delegate(signed)


def check_delegate_fixture(v: dict[str, Any]) -> None:
    raw = bytes.fromhex(v["action_borsh_hex"])
    action = decode_all(raw, read_action, "Action")
    assert isinstance(action, Delegate)
    inner = action.signed_delegate.delegate_action
    assert inner == DelegateAction.from_fields(v["fields"])
    assert inner.to_borsh().hex() == v["delegate_action_borsh_hex"]
    assert inner.signing_digest().hex() == v["sha256_hex"]
    assert action.signed_delegate.signature.data.hex() == v["signature_hex"]
    assert action.signed_delegate.verify()
    writer = BorshWriter()
    write_action(writer, action)
    assert bytes(writer) == raw


def check_nep413(v: dict[str, Any]) -> None:
    payload: dict[str, Any] = {
        "message": v["message"],
        "recipient": v["recipient"],
        "nonce_base64": v["nonce_base64"],
        "callback_url": v.get("callback_url"),
    }
    if "public_key" in v:
        payload["public_key"] = v["public_key"]
    if "nonce_hex" in v:
        assert base64.b64decode(v["nonce_base64"]).hex() == v["nonce_hex"]
    message = Nep413Payload(
        v["message"], base64.b64decode(v["nonce_base64"]), v["recipient"], v.get("callback_url")
    )
    if "preimage_hex" in v:
        assert message.signing_preimage().hex() == v["preimage_hex"]
    assert Nep413Payload.from_borsh(message.to_borsh()) == message
    intent = ADAPTER.build_intent("nep413", payload)
    (request,) = intent.sign_requests
    assert request.message.hex() == v["sha256_hex"] == message.signing_digest().hex()
    assert_rebuilds("nep413", dict(intent.ui_model), intent.sign_requests)
    if "secret_key" not in v:
        return
    signature = _engine(v["secret_key"], v.get("public_key")).sign(request, "vector")
    if "signature_hex" in v:
        assert signature.hex() == v["signature_hex"]
    final = intent.finalize([signature])
    if "signature_base64" in v:
        assert final.extra["signature"] == v["signature_base64"]


def check_near_file(path: Path, data: dict[str, Any]) -> None:
    """Check every vector of one NEAR vector file (AssertionError names the vector)."""
    vectors = data.get("vectors")
    assert isinstance(vectors, list) and vectors, f"{path.name}: no vectors"
    for v in vectors:
        kind = v.get("kind")
        try:
            if kind == "Transaction":
                check_transaction(v)
            elif kind == "DelegateAction":
                check_delegate_action(v)
            elif kind == "Action" and "action_borsh_hex" in v:
                check_delegate_fixture(v)
            elif "message" in v and "recipient" in v:
                check_nep413(v)
            else:
                raise AssertionError(f"unknown NEAR vector shape (kind {kind!r})")
        except AssertionError as exc:
            raise AssertionError(f"{path.name}: {v.get('name')}: {exc}") from exc


__all__ = ["check_near_file", "seed_of"]
