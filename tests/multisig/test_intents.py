"""Chain intents as proposals: the group key signs a Solana or NEAR transaction.

The proposal stores the adapter's ``ui_model``; owners rebuild the intent
from its fields before signing; the aggregated signature finalizes into a
transaction that verifies with the standard Ed25519 verifier and that
LiteSVM executes.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

import base58
import pytest
from nacl.signing import VerifyKey
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from cosigner.chains.errors import PayloadError
from cosigner.chains.near import NearAdapter, SignedTransaction
from cosigner.chains.solana import SYSTEM_PROGRAM, SolanaAdapter
from cosigner.multisig.errors import InvalidSubmission, ProposalMismatch

from .helpers import Harness, make_harness

LAMPORTS_PER_SOL = 1_000_000_000


def _solana_transfer(payer: str, recipient: str, lamports: int, blockhash: str) -> dict[str, Any]:
    return {
        "version": 0,
        "fee_payer": payer,
        "recent_blockhash": blockhash,
        "instructions": [
            {
                "program_id": SYSTEM_PROGRAM,
                "accounts": [
                    {"pubkey": payer, "is_signer": True, "is_writable": True},
                    {"pubkey": recipient, "is_signer": False, "is_writable": True},
                ],
                "data_hex": struct.pack("<IQ", 2, lamports).hex(),
            }
        ],
    }


@pytest.fixture()
def active() -> tuple[Harness, str, bytes]:
    h = make_harness(3)
    group = h.dkg(2)
    assert group.group_public_key is not None
    return h, group.group_id, group.group_public_key


def test_solana_transaction_proposal_executes_on_litesvm(
    active: tuple[Harness, str, bytes],
) -> None:
    h, gid, group_key = active
    a, b, c = h.owners
    svm = LiteSVM()
    payer = Pubkey.from_bytes(group_key)
    recipient = Pubkey.from_bytes(hashlib.sha256(b"multisig recipient").digest())
    svm.airdrop(payer, 10 * LAMPORTS_PER_SOL)
    payload = _solana_transfer(
        str(payer), str(recipient), 3 * LAMPORTS_PER_SOL, str(svm.latest_blockhash())
    )
    intent = SolanaAdapter().build_intent("transaction", payload)
    proposal = h.coordinator.propose_intent(gid, a.public_key, "solana", "transaction", payload)
    # The proposal stores the adapter's review model and the exact bytes to sign.
    stored = h.store.get_proposal(proposal.proposal_id)
    assert stored is not None
    assert stored.ui_model == intent.ui_model and stored.message == intent.sign_requests[0].message
    assert stored.nonce is None and stored.chain == "solana"
    review = b.review(h.group(gid), stored)
    assert review.summary == intent.ui_model["summary"]

    ready = h.approve(proposal.proposal_id, [b, c])
    assert ready.status == "ready" and ready.signature is not None and ready.result is not None
    # The standard Ed25519 verifier accepts the aggregate over the message bytes.
    VerifyKey(group_key).verify(ready.message, ready.signature)
    raw = bytes.fromhex(ready.result["raw"])
    tx = VersionedTransaction.from_bytes(raw)
    assert tx.verify_with_results() == [True]
    assert ready.result["hash"] == str(tx.signatures[0])
    result = svm.send_transaction(tx)
    assert not isinstance(result, FailedTransactionMetadata), result
    assert svm.get_balance(recipient) == 3 * LAMPORTS_PER_SOL
    executed = h.coordinator.record_execution(
        proposal.proposal_id, a.public_key, ready.result["hash"]
    )
    assert executed.status == "executed"
    # Intents do not use the group's ledger nonce.
    assert h.group(gid).next_nonce == 0


def test_near_transaction_proposal_finalizes(active: tuple[Harness, str, bytes]) -> None:
    h, gid, group_key = active
    a, _, c = h.owners
    payload = {
        "signer_id": "multisig.near",
        "public_key": "ed25519:" + base58.b58encode(group_key).decode(),
        "nonce": 11,
        "receiver_id": "bob.near",
        "block_hash": base58.b58encode(hashlib.sha256(b"block").digest()).decode(),
        "actions": [{"Transfer": {"deposit": "1000000000000000000000000"}}],
    }
    intent = NearAdapter().build_intent("transaction", payload)
    proposal = h.coordinator.propose_intent(gid, c.public_key, "near", "transaction", payload)
    assert proposal.ui_model == intent.ui_model
    ready = h.approve(proposal.proposal_id, [a, c])
    assert ready.result is not None and ready.signature is not None
    signed = SignedTransaction.from_borsh(bytes.fromhex(ready.result["raw"]))
    assert signed.verify()
    assert base64.b64decode(ready.result["extra"]["signed_transaction_base64"]) == bytes.fromhex(
        ready.result["raw"]
    )


def test_intent_for_another_key_or_with_two_signers_is_refused(
    active: tuple[Harness, str, bytes],
) -> None:
    h, gid, group_key = active
    a = h.owners[0]
    stranger = str(Pubkey.from_bytes(hashlib.sha256(b"stranger").digest()))
    blockhash = base58.b58encode(hashlib.sha256(b"bh").digest()).decode()
    with pytest.raises(InvalidSubmission):
        h.coordinator.propose_intent(
            gid,
            a.public_key,
            "solana",
            "transaction",
            _solana_transfer(stranger, stranger, 1, blockhash),
        )
    two = _solana_transfer(str(Pubkey.from_bytes(group_key)), stranger, 1, blockhash)
    two["instructions"][0]["accounts"][1]["is_signer"] = True
    with pytest.raises(InvalidSubmission):
        h.coordinator.propose_intent(gid, a.public_key, "solana", "transaction", two)
    with pytest.raises(PayloadError):
        h.coordinator.propose_intent(gid, a.public_key, "solana", "transaction", {"nonsense": 1})
    with pytest.raises(InvalidSubmission):
        h.coordinator.propose_intent(gid, a.public_key, "dogecoin", "transaction", {})


def test_owner_refuses_a_proposal_whose_review_model_lies(
    active: tuple[Harness, str, bytes],
) -> None:
    from dataclasses import replace

    h, gid, group_key = active
    a, b, _ = h.owners
    blockhash = base58.b58encode(hashlib.sha256(b"bh").digest()).decode()
    payload = _solana_transfer(
        str(Pubkey.from_bytes(group_key)), str(Pubkey.default()), 5, blockhash
    )
    proposal = h.coordinator.propose_intent(gid, a.public_key, "solana", "transaction", payload)
    group = h.group(gid)
    lying = replace(proposal, ui_model={**proposal.ui_model, "summary": "a harmless message"})
    with pytest.raises(ProposalMismatch):
        b.review(group, lying)
    swapped = replace(proposal, message=b"\x80" + proposal.message[1:] + b"\x00")
    with pytest.raises(ProposalMismatch):
        b.review(group, swapped)
    operation = h.coordinator.propose_transfer(gid, a.public_key, "alice", 5)
    inflated = replace(
        operation,
        ui_model={**operation.ui_model, "fields": {**operation.ui_model["fields"], "amount": "1"}},
    )
    with pytest.raises(ProposalMismatch):
        b.review(group, inflated)
    # And a signing package over other bytes than the proposal's is refused before signing.
    h.commit(operation.proposal_id, [a, b])
    fixed = h.proposal(operation.proposal_id)
    other = h.proposal(proposal.proposal_id)
    with pytest.raises(ProposalMismatch):
        b.sign(
            group,
            replace(
                fixed,
                message=other.message,
                kind="intent",
                chain="solana",
                intent_kind="transaction",
                ui_model=other.ui_model,
            ),
        )
