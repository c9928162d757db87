"""The whole multisig in process: DKG through the coordinator, proposals, the ledger.

* 2-of-3 (SQLite store) and 3-of-5 (memory store): DKG, a transfer proposed
  and approved by m owners, executed by the reference ledger;
* late approvals, replays (coordinator and ledger), reused commitments,
  expiry and cancellation are refused;
* a bad signature share is refused naming its owner, and the proposal
  completes with another owner;
* events follow the issue's vocabulary;
* every group is listed, page by page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nacl.signing import VerifyKey

from cosigner import frost
from cosigner.multisig import (
    Coordinator,
    ExecuteWithThresholdSignature,
    ReferenceLedger,
    SQLiteMultisigStore,
    ThresholdMessage,
    Transfer,
)
from cosigner.multisig.errors import (
    AlreadySubmitted,
    CommitmentReused,
    InvalidGroupParameters,
    InvalidSubmission,
    NonceAlreadyUsed,
    NotAnOwner,
    NotASigner,
    NotTheProposer,
    ProposalExpired,
    ProposalFinished,
    SignatureShareRejected,
    SigningPackageFixed,
    SigningPackageNotReady,
    WrongGroupState,
)
from cosigner.multisig.ledger import InvalidNonce

from .helpers import Harness, make_harness

SUITE = frost.ciphersuite("ed25519")


def _ledger(h: Harness, group_id: str, balance: int = 10_000) -> ReferenceLedger:
    group = h.group(group_id)
    assert group.group_public_key is not None
    return ReferenceLedger(
        [k.hex() for k in group.owner_keys], group.threshold, group.group_public_key, balance
    )


def _execute(ledger: ReferenceLedger, h: Harness, proposal_id: str) -> None:
    proposal = h.proposal(proposal_id)
    assert proposal.status == "ready" and proposal.signature is not None
    assert proposal.nonce is not None
    transfer = Transfer.from_bytes(ThresholdMessage.from_bytes(proposal.message).operation_data)
    ledger.execute(
        ExecuteWithThresholdSignature(
            transfer.to, transfer.amount, proposal.nonce, proposal.signature, proposal.message
        )
    )
    h.coordinator.record_execution(proposal_id, h.keys[0], f"ledger nonce {proposal.nonce}")


def _end_to_end(h: Harness, threshold: int) -> None:
    group = h.dkg(threshold)
    assert group.status == "active" and group.epoch == 1
    assert all(o.has_keys(group.group_id) for o in h.owners)
    # Every owner derived the group key the coordinator computed from public data.
    assert {o.public_key_package(group.group_id).to_bytes() for o in h.owners} == {
        group.public_key_package
    }
    ledger = _ledger(h, group.group_id)
    proposal = h.coordinator.propose_transfer(group.group_id, h.keys[1], "alice", 1234)
    assert proposal.nonce == 0 and proposal.status == "collecting"
    assert proposal.ui_model["fields"] == {
        "nonce": "0",
        "operation_type": "transfer",
        "to": "alice",
        "amount": "1234",
    }
    signers = h.owners[-threshold:]
    h.commit(proposal.proposal_id, signers[:-1])
    assert h.proposal(proposal.proposal_id).status == "collecting"
    fixed = h.commit(proposal.proposal_id, signers[-1:])
    assert fixed.status == "signing" and len(fixed.signers) == threshold
    ready = h.sign(proposal.proposal_id, signers)
    assert ready.status == "ready" and ready.signature is not None
    # The aggregate is one ordinary Ed25519 signature over seed 004's message bytes.
    assert group.group_public_key is not None
    VerifyKey(group.group_public_key).verify(ready.message, ready.signature)
    _execute(ledger, h, proposal.proposal_id)
    assert ledger.balances == {"alice": 1234} and ledger.nonce == 1
    assert h.group(group.group_id).next_nonce == 1
    assert h.proposal(proposal.proposal_id).status == "executed"

    # The next proposal takes the next nonce.
    second = h.coordinator.propose_transfer(group.group_id, h.keys[0], "bob", 1)
    assert second.nonce == 1
    h.approve(second.proposal_id, h.owners[:threshold])
    _execute(ledger, h, second.proposal_id)
    assert ledger.balances == {"alice": 1234, "bob": 1} and ledger.nonce == 2

    for kind in (
        "group_created",
        "dkg_progress",
        "group_active",
        "proposal_created",
        "commitment_added",
        "share_added",
        "proposal_ready",
        "proposal_executed",
    ):
        assert kind in h.event_types(), kind


def test_two_of_three_end_to_end_on_sqlite(tmp_path: Path) -> None:
    store = SQLiteMultisigStore(tmp_path / "multisig.sqlite")
    _end_to_end(make_harness(3, store), 2)
    store.close()


def test_three_of_five_end_to_end() -> None:
    _end_to_end(make_harness(5), 3)


@pytest.fixture()
def active() -> tuple[Harness, str]:
    h = make_harness(3)
    return h, h.dkg(2).group_id


def test_late_approval_is_refused(active: tuple[Harness, str]) -> None:
    h, gid = active
    a, b, c = h.owners
    proposal = h.coordinator.propose_transfer(gid, a.public_key, "alice", 5)
    h.commit(proposal.proposal_id, [a, b])
    group = h.group(gid)
    with pytest.raises(SigningPackageFixed):
        h.coordinator.submit_commitment(
            proposal.proposal_id,
            c.public_key,
            c.commit(group, h.proposal(proposal.proposal_id)),
        )
    h.sign(proposal.proposal_id, [a, b])
    assert h.proposal(proposal.proposal_id).status == "ready"
    # The owner's client refuses to commit to a finished proposal; so does the coordinator.
    with pytest.raises(ProposalFinished):
        c.commit(group, h.proposal(proposal.proposal_id))
    late = frost.commit(_key_package(c, gid))[1].to_bytes()
    with pytest.raises(ProposalFinished):
        h.coordinator.submit_commitment(proposal.proposal_id, c.public_key, late)
    stray = frost.SignatureShare(SUITE, 12345).to_bytes()
    with pytest.raises(ProposalFinished):
        h.coordinator.submit_signature_share(proposal.proposal_id, c.public_key, stray)
    # A ready proposal has a signature: cancelling it would change nothing, so it is refused.
    with pytest.raises(ProposalFinished):
        h.coordinator.cancel_proposal(proposal.proposal_id, a.public_key)


def test_replay_refused_by_coordinator_and_ledger(active: tuple[Harness, str]) -> None:
    h, gid = active
    a, b, c = h.owners
    ledger = _ledger(h, gid)
    first = h.coordinator.propose_transfer(gid, a.public_key, "alice", 10)
    rival = h.coordinator.propose_transfer(gid, b.public_key, "mallory", 10)
    assert first.nonce == rival.nonce == 0
    h.approve(first.proposal_id, [a, b])
    h.approve(rival.proposal_id, [b, c])
    _execute(ledger, h, first.proposal_id)

    # One executed proposal per nonce: the rival for nonce 0 is superseded...
    superseded = h.proposal(rival.proposal_id)
    assert superseded.status == "cancelled" and superseded.status_reason == "superseded"
    with pytest.raises(ProposalFinished):
        h.coordinator.record_execution(rival.proposal_id, a.public_key)
    # ...and its signature, valid as it is, does not get past the ledger's nonce check.
    assert superseded.signature is not None
    op = ExecuteWithThresholdSignature("mallory", 10, 0, superseded.signature, superseded.message)
    with pytest.raises(InvalidNonce) as caught:
        ledger.execute(op)
    assert caught.value.code == "invalid_nonce"
    # Replaying the executed operation itself is refused by the ledger too.
    done = h.proposal(first.proposal_id)
    assert done.signature is not None
    with pytest.raises(InvalidNonce):
        ledger.execute(ExecuteWithThresholdSignature("alice", 10, 0, done.signature, done.message))
    # A second proposal for the executed nonce, or a second execution, is refused.
    with pytest.raises(NonceAlreadyUsed):
        h.coordinator.propose_transfer(gid, a.public_key, "alice", 10, nonce=0)
    with pytest.raises(ProposalFinished):
        h.coordinator.record_execution(first.proposal_id, a.public_key)
    assert ledger.balances == {"alice": 10}


def test_commitment_reused_across_proposals_is_refused(active: tuple[Harness, str]) -> None:
    h, gid = active
    a = h.owners[0]
    group = h.group(gid)
    p1 = h.coordinator.propose_transfer(gid, a.public_key, "alice", 1)
    p2 = h.coordinator.propose_transfer(gid, a.public_key, "bob", 2)
    commitments = a.commit(group, h.proposal(p1.proposal_id))
    h.coordinator.submit_commitment(p1.proposal_id, a.public_key, commitments)
    # Sending the same bytes again to the same proposal is an idempotent retry...
    h.coordinator.submit_commitment(p1.proposal_id, a.public_key, commitments)
    # ...to another proposal, a reuse.
    with pytest.raises(CommitmentReused):
        h.coordinator.submit_commitment(p2.proposal_id, a.public_key, commitments)
    other = frost.commit(_key_package(a, gid))[1].to_bytes()
    with pytest.raises(AlreadySubmitted):
        h.coordinator.submit_commitment(p1.proposal_id, a.public_key, other)


def _key_package(owner: object, group_id: str) -> frost.KeyPackage:
    # Tests reach into the owner for its key package; production code never exposes it.
    return owner._group_keys(group_id).key_package  # type: ignore[attr-defined,no-any-return]


def test_bad_signature_share_is_named_and_another_owner_completes(
    active: tuple[Harness, str],
) -> None:
    h, gid = active
    a, b, c = h.owners
    ledger = _ledger(h, gid)
    proposal = h.coordinator.propose_transfer(gid, c.public_key, "alice", 77)
    pid = proposal.proposal_id
    h.commit(pid, [a])
    stray = frost.SignatureShare(SUITE, 1).to_bytes()
    with pytest.raises(SigningPackageNotReady):
        h.coordinator.submit_signature_share(pid, c.public_key, stray)
    h.commit(pid, [b])
    with pytest.raises(NotASigner):
        h.coordinator.submit_signature_share(pid, c.public_key, stray)
    h.sign(pid, [a])
    group = h.group(gid)
    good = frost.SignatureShare.from_bytes(b.sign(group, h.proposal(pid)))
    bad = frost.SignatureShare(SUITE, good.share + 1).to_bytes()
    with pytest.raises(SignatureShareRejected) as caught:
        h.coordinator.submit_signature_share(pid, b.public_key, bad)
    info = group.owner(b.public_key)
    assert info is not None
    assert caught.value.code == "invalid_signature_share"
    assert caught.value.culprit_keys == (b.public_key,)
    assert caught.value.culprits == (info.identifier,)
    # The rejection is recorded (not rolled back with the error) and signing restarts.
    restarted = h.proposal(pid)
    assert restarted.status == "collecting" and restarted.attempt == 2
    assert restarted.excluded == (b.public_key,)
    assert restarted.rejections[0].owner == b.public_key
    assert "share_rejected" in h.event_types()
    with pytest.raises(NotASigner):
        h.coordinator.submit_commitment(pid, b.public_key, b.commit(group, restarted))
    ready = h.approve(pid, [a, c])
    assert ready.status == "ready" and ready.attempt == 2
    _execute(ledger, h, pid)
    assert ledger.balances == {"alice": 77}


def test_too_many_bad_shares_fail_the_proposal() -> None:
    h = make_harness(2)
    gid = h.dkg(2).group_id
    a, b = h.owners
    pid = h.coordinator.propose_transfer(gid, a.public_key, "alice", 1).proposal_id
    h.commit(pid, [a, b])
    group = h.group(gid)
    good = frost.SignatureShare.from_bytes(b.sign(group, h.proposal(pid)))
    with pytest.raises(SignatureShareRejected):
        h.coordinator.submit_signature_share(
            pid, b.public_key, frost.SignatureShare(SUITE, good.share + 1).to_bytes()
        )
    assert h.proposal(pid).status == "failed"
    assert "proposal_failed" in h.event_types()


def test_expiry_and_cancellation(active: tuple[Harness, str]) -> None:
    h, gid = active
    a, b, _ = h.owners
    short = h.coordinator.propose_transfer(gid, a.public_key, "alice", 1, ttl_ms=1_000)
    swept = h.coordinator.propose_transfer(gid, a.public_key, "alice", 2, ttl_ms=1_000)
    h.clock.advance(1_000)
    assert h.proposal(short.proposal_id).status == "expired"  # reads as expired at once
    raw = frost.commit(_key_package(b, gid))[1].to_bytes()
    with pytest.raises(ProposalExpired):
        h.coordinator.submit_commitment(short.proposal_id, b.public_key, raw)
    # The refusal recorded the expiry (and said so), it was not rolled back with the error.
    assert h.store.get_proposal(short.proposal_id).status == "expired"  # type: ignore[union-attr]
    assert h.coordinator.expire_due() == [swept.proposal_id]
    assert h.event_types().count("proposal_expired") == 2

    mine = h.coordinator.propose_transfer(gid, a.public_key, "alice", 3)
    with pytest.raises(NotTheProposer):
        h.coordinator.cancel_proposal(mine.proposal_id, b.public_key)
    cancelled = h.coordinator.cancel_proposal(mine.proposal_id, a.public_key)
    assert cancelled.status == "cancelled" and cancelled.status_reason == "cancelled_by_proposer"
    assert "proposal_cancelled" in h.event_types()
    with pytest.raises(ProposalFinished):
        h.coordinator.submit_commitment(
            mine.proposal_id, b.public_key, frost.commit(_key_package(b, gid))[1].to_bytes()
        )


def test_requests_are_checked_against_the_owner_list(active: tuple[Harness, str]) -> None:
    h, gid = active
    outsider = make_harness(1, label="outsider").owners[0]
    with pytest.raises(NotAnOwner):
        h.coordinator.get_group(gid, outsider.public_key)
    with pytest.raises(NotAnOwner):
        h.coordinator.propose_transfer(gid, outsider.public_key, "alice", 1)
    pid = h.coordinator.propose_transfer(gid, h.keys[0], "alice", 1).proposal_id
    with pytest.raises(NotAnOwner):
        h.coordinator.get_proposal(pid, outsider.public_key)
    with pytest.raises(NotAnOwner):
        h.coordinator.submit_commitment(pid, outsider.public_key, b"")
    assert [g.group_id for g in h.coordinator.groups_for_owner(h.keys[2])] == [gid]
    assert h.coordinator.groups_for_owner(outsider.public_key) == []


def test_every_group_is_listed_page_by_page() -> None:
    h = make_harness(3)
    assert h.coordinator.list_groups() == ([], None)
    made = [h.create_group(2, creator=i % 3) for i in range(5)]
    by_id = sorted(made, key=lambda g: g.group_id)
    assert h.coordinator.list_groups() == (by_id, None)
    assert h.coordinator.list_groups(5) == (by_id, None)  # an exact fit is the last page
    walked, after = [], None
    while True:
        page, after = h.coordinator.list_groups(2, after)
        walked += page
        if after is None:
            break
        assert after == page[-1].group_id
    assert walked == by_id
    for limit in (0, 501, True, "2"):
        with pytest.raises(InvalidSubmission):
            h.coordinator.list_groups(limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidSubmission):
        h.coordinator.list_groups(2, b"g_")  # type: ignore[arg-type]


def test_group_parameters_are_checked() -> None:
    h = make_harness(3)
    keys = h.keys
    with pytest.raises(InvalidGroupParameters):
        h.coordinator.create_group(keys[0], keys, 1)
    with pytest.raises(InvalidGroupParameters):
        h.coordinator.create_group(keys[0], keys, 4)
    with pytest.raises(InvalidGroupParameters):
        h.coordinator.create_group(keys[0], [keys[0], keys[0], keys[1]], 2)
    with pytest.raises(InvalidGroupParameters):
        h.coordinator.create_group(keys[0], [keys[0], bytes(32)], 2)
    with pytest.raises(NotAnOwner):
        h.coordinator.create_group(keys[0], keys[1:], 2)
    group = h.create_group(2)
    with pytest.raises(WrongGroupState):
        h.coordinator.propose_transfer(group.group_id, keys[0], "alice", 1)


def test_no_refresh_while_a_signing_package_is_fixed(active: tuple[Harness, str]) -> None:
    h, gid = active
    a, b, _ = h.owners
    pid = h.coordinator.propose_transfer(gid, a.public_key, "alice", 1).proposal_id
    h.commit(pid, [a, b])
    with pytest.raises(WrongGroupState):
        h.coordinator.start_refresh(gid, a.public_key)


def test_coordinator_default_wiring() -> None:
    from cosigner.multisig import MemoryMultisigStore

    coordinator = Coordinator(MemoryMultisigStore())
    assert "Coordinator" in repr(coordinator)
