"""DKG and refresh through the coordinator, and the failures owners can cause.

* a corrupted part-two share is caught by its recipient, checked by the
  coordinator from the revealed envelope key, named, and fails the DKG for
  every owner; a false complaint names the complainer;
* an equivocated part-one broadcast (an owner signs two packages and one
  owner receives the other) is caught by the echo round and names the
  equivocator; an echo without proof names the echoer;
* a confirmation of another key fails the DKG naming its owner; bad
  part-one packages are refused naming their owner;
* refresh keeps the group key, changes every share, and signs; a failed
  refresh leaves the old shares working;
* login challenges are single-use, short-lived and bound to one key.
"""

from __future__ import annotations

import pytest

from cosigner import frost
from cosigner.frost.dkg import compute_proof_of_knowledge
from cosigner.multisig import SignedPackage, ThresholdMessage
from cosigner.multisig.e2e import Envelope, seal
from cosigner.multisig.errors import (
    AlreadySubmitted,
    BadKeygenShare,
    ChallengeExpired,
    ChallengeNotFound,
    ConfirmationMismatch,
    EchoMismatch,
    InvalidKeygenPackage,
    InvalidLoginSignature,
    InvalidSubmission,
    KeygenFailed,
    WrongGroupState,
    WrongKeygenStage,
)
from cosigner.multisig.owner import Complaint, Confirmation, Owner
from cosigner.multisig.transcript import envelope_round, round1_statement

from .helpers import Harness, make_harness

SUITE = frost.ciphersuite("ed25519")


def _identifier(h: Harness, gid: str, owner: Owner) -> int:
    info = h.group(gid).owner(owner.public_key)
    assert info is not None
    return info.identifier


def _assert_failed_for_all(h: Harness, gid: str, error: type[KeygenFailed], culprit: Owner) -> None:
    group = h.group(gid)
    assert group.status == "failed" and group.group_public_key is None
    assert group.failure is not None and group.failure.code == error.code
    assert [o.key for o in group.failure.culprits] == [culprit.public_key]
    assert "dkg_failed" in h.event_types() and "group_active" not in h.event_types()
    # Every later keygen request, from anyone, gets the same typed error naming the culprit.
    session = group.session
    assert session is not None
    for owner in h.owners:
        with pytest.raises(error) as caught:
            h.coordinator.round1_packages(gid, owner.public_key, session.name)
        assert caught.value.culprit_keys == (culprit.public_key,)
        assert caught.value.culprits == (_identifier(h, gid, culprit),)
        owner.sync(group)
        assert not owner.has_keys(gid)
    with pytest.raises(error):
        h.coordinator.propose_transfer(gid, h.keys[0], "alice", 1)


def test_corrupted_part_two_share_is_named_and_fails_the_dkg_for_all() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    a, b, c = h.owners
    cheater_identity = h.identities[1]
    h.round1(gid)
    h.echo(gid)
    session = h.group(gid).session
    assert session is not None

    def corrupt(owner: Owner, envelopes: list[bytes]) -> list[bytes]:
        if owner is not b:
            return envelopes
        out = []
        for raw in envelopes:
            env = Envelope.from_bytes(raw)
            if env.recipient == c.public_key:
                bad = frost.Round2Package(SUITE, 424242).to_bytes()
                raw = seal(
                    cheater_identity, c.public_key, gid, envelope_round(session.name), bad
                ).to_bytes()
            out.append(raw)
        return out

    h.round2(gid, tamper=corrupt)
    outcomes = h.finish(gid)
    # a confirmed before c opened its envelopes; c complains about b's share.
    assert isinstance(outcomes[a.public_key], Confirmation)
    complaint = outcomes[c.public_key]
    assert isinstance(complaint, Complaint) and complaint.accused == b.public_key
    assert "redacted" in repr(complaint) and complaint.envelope_key.hex() not in repr(complaint)
    _assert_failed_for_all(h, gid, BadKeygenShare, b)
    group = h.group(gid)
    assert group.failure is not None and group.failure.reported_by == c.public_key
    # b, honest or not, can no longer confirm: the DKG never half-succeeds.
    with pytest.raises(BadKeygenShare):
        h.coordinator.submit_confirmation(gid, b.public_key, session.name, b"", b"", b"")


def test_false_complaint_names_the_complainer() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    _a, b, c = h.owners
    h.round1(gid)
    h.echo(gid)
    h.round2(gid)
    session = h.group(gid).session
    assert session is not None
    envelopes = h.coordinator.round2_envelopes(gid, c.public_key, session.name)
    outcome = c.keygen_finish(h.group(gid), envelopes)
    assert isinstance(outcome, Confirmation)
    from cosigner.multisig.e2e import envelope_key

    from_b = next(
        Envelope.from_bytes(raw)
        for raw in envelopes
        if Envelope.from_bytes(raw).sender == b.public_key
        and Envelope.from_bytes(raw).recipient == c.public_key
    )
    key = envelope_key(h.identities[2], from_b)
    failure = h.coordinator.report_bad_share(gid, c.public_key, session.name, b.public_key, key)
    assert failure.code == "dkg_bad_share"
    assert [o.key for o in failure.culprits] == [c.public_key]
    _assert_failed_for_all(h, gid, BadKeygenShare, c)


def test_complaint_with_a_wrong_key_names_both() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    _, b, c = h.owners
    h.round1(gid)
    h.echo(gid)
    h.round2(gid)
    session = h.group(gid).session
    assert session is not None
    failure = h.coordinator.report_bad_share(
        gid, c.public_key, session.name, b.public_key, bytes(32)
    )
    assert {o.key for o in failure.culprits} == {b.public_key, c.public_key}
    assert h.group(gid).status == "failed"


def _equivocation(h: Harness, gid: str, cheater: int) -> SignedPackage:
    """A second, validly signed part-one package from owner ``cheater``."""
    group = h.group(gid)
    session = group.session
    assert session is not None
    ident = _identifier(h, gid, h.owners[cheater])
    _, other = frost.dkg.part1(SUITE, ident, len(group.owners), group.threshold)
    raw = other.to_bytes()
    signature = h.identities[cheater].sign(round1_statement(gid, session.name, raw))
    return SignedPackage(raw, signature)


def test_equivocated_broadcast_is_caught_by_the_echo_round() -> None:
    h = make_harness(4)
    gid = h.create_group(3).group_id
    cheater, victim = h.owners[1], h.owners[3]
    h.round1(gid)
    alternative = _equivocation(h, gid, 1)

    def show_victim_another_package(
        owner: Owner, received: dict[bytes, SignedPackage]
    ) -> dict[bytes, SignedPackage]:
        if owner is victim:
            received[cheater.public_key] = alternative
        return received

    with pytest.raises(EchoMismatch) as caught:
        h.echo(gid, tamper=show_victim_another_package)
    assert caught.value.code == "dkg_echo_mismatch"
    assert caught.value.culprit_keys == (cheater.public_key,)
    assert caught.value.reported_by == victim.public_key
    _assert_failed_for_all(h, gid, EchoMismatch, cheater)


def test_echo_mismatch_without_proof_names_the_echoer() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    liar = h.owners[2]
    h.round1(gid)
    session = h.group(gid).session
    assert session is not None
    from cosigner.multisig.transcript import echo_statement

    fake = bytes(32)
    signature = h.identities[2].sign(echo_statement(gid, session.name, fake))
    with pytest.raises(EchoMismatch) as caught:
        h.coordinator.submit_echo(gid, liar.public_key, session.name, fake, signature)
    assert caught.value.culprit_keys == (liar.public_key,)
    # An unsigned claim of equivocation is no proof: the echoer is still the one named.
    h2 = make_harness(3, label="second")
    gid2 = h2.create_group(2).group_id
    h2.round1(gid2)
    forged = SignedPackage(_equivocation(h2, gid2, 0).package, bytes(64))
    session2 = h2.group(gid2).session
    assert session2 is not None
    echoer = h2.owners[2]
    sig2 = h2.identities[2].sign(echo_statement(gid2, session2.name, fake))
    with pytest.raises(EchoMismatch) as caught2:
        h2.coordinator.submit_echo(
            gid2, echoer.public_key, session2.name, fake, sig2, {h2.keys[0]: forged}
        )
    assert caught2.value.culprit_keys == (echoer.public_key,)


def test_owner_refuses_an_unsigned_or_foreign_part_one_set() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    a, b, _ = h.owners
    h.round1(gid)
    session = h.group(gid).session
    assert session is not None
    received = h.coordinator.round1_packages(gid, a.public_key, session.name)
    unsigned = dict(received)
    unsigned[b.public_key] = SignedPackage(received[b.public_key].package, bytes(64))
    with pytest.raises(InvalidSubmission):
        a.keygen_echo(h.group(gid), unsigned)
    not_mine = dict(received)
    not_mine[a.public_key] = received[b.public_key]
    with pytest.raises(InvalidSubmission):
        a.keygen_echo(h.group(gid), not_mine)


def test_confirmation_of_another_key_fails_the_dkg() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    h.round1(gid)
    h.echo(gid)
    h.round2(gid)
    session = h.group(gid).session
    assert session is not None
    liar = h.owners[0]
    from cosigner.multisig.transcript import confirm_statement

    wrong_key = SUITE.group.base_mul(7).to_bytes()
    transcript = bytes(32)
    signature = h.identities[0].sign(confirm_statement(gid, session.name, wrong_key, transcript))
    with pytest.raises(ConfirmationMismatch):
        h.coordinator.submit_confirmation(
            gid, liar.public_key, session.name, wrong_key, transcript, signature
        )
    _assert_failed_for_all(h, gid, ConfirmationMismatch, liar)


def test_bad_part_one_packages_are_refused_naming_their_owner() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    a = h.owners[0]
    group = h.group(gid)
    session = group.session
    assert session is not None
    ident = _identifier(h, gid, a)
    secret, package = frost.dkg.part1(SUITE, ident, 3, 2)
    # A proof of knowledge made for another identifier does not verify for this owner.
    proof = compute_proof_of_knowledge(
        SUITE, ident + 1, secret.coefficients[0], secret.commitment[0]
    )
    forged = frost.Round1Package(SUITE, package.commitment, proof).to_bytes()
    signature = h.identities[0].sign(round1_statement(gid, session.name, forged))
    with pytest.raises(InvalidKeygenPackage) as caught:
        h.coordinator.submit_round1(gid, a.public_key, session.name, forged, signature)
    assert caught.value.culprit_keys == (a.public_key,)
    # Too short a commitment for the threshold.
    _, short = frost.dkg.part1(SUITE, ident, 3, 3)
    short_raw = frost.Round1Package(
        SUITE, short.commitment[:1], short.proof_of_knowledge
    ).to_bytes()
    with pytest.raises(InvalidKeygenPackage):
        h.coordinator.submit_round1(
            gid,
            a.public_key,
            session.name,
            short_raw,
            h.identities[0].sign(round1_statement(gid, session.name, short_raw)),
        )
    # Not signed by its owner.
    with pytest.raises(InvalidSubmission):
        h.coordinator.submit_round1(gid, a.public_key, session.name, package.to_bytes(), bytes(64))
    # Nothing was stored: the group is still waiting for every package.
    assert h.group(gid).session == session
    m = a.keygen_round1(h.group(gid))
    h.coordinator.submit_round1(gid, a.public_key, session.name, m.package, m.signature)
    # A retry of the same message is accepted; a different one is not.
    h.coordinator.submit_round1(gid, a.public_key, session.name, m.package, m.signature)
    with pytest.raises(AlreadySubmitted):
        h.coordinator.submit_round1(gid, a.public_key, session.name, package.to_bytes(), signature)
    with pytest.raises(WrongKeygenStage):
        h.coordinator.round1_packages(gid, a.public_key, session.name)
    with pytest.raises(WrongKeygenStage):
        h.coordinator.submit_round1(gid, a.public_key, "dkg-9", m.package, m.signature)


def test_round2_envelopes_are_checked_and_hold_only_ciphertext() -> None:
    h = make_harness(3)
    gid = h.create_group(2).group_id
    a, b, _ = h.owners
    h.round1(gid)
    h.echo(gid)
    session = h.group(gid).session
    assert session is not None
    envelopes = a.keygen_round2(h.group(gid))
    assert a.keygen_round2(h.group(gid)) == envelopes  # retries resend the same bytes
    with pytest.raises(InvalidSubmission):
        h.coordinator.submit_round2(gid, a.public_key, session.name, envelopes[:1])
    with pytest.raises(InvalidSubmission):
        h.coordinator.submit_round2(gid, b.public_key, session.name, envelopes)
    env = Envelope.from_bytes(envelopes[0])
    tampered = Envelope(
        env.group_id,
        env.round,
        env.sender,
        env.recipient,
        env.ephemeral,
        bytes([env.ciphertext[0] ^ 1]) + env.ciphertext[1:],
        env.signature,
    ).to_bytes()
    with pytest.raises(Exception) as caught:
        h.coordinator.submit_round2(gid, a.public_key, session.name, [tampered, envelopes[1]])
    assert getattr(caught.value, "code", None) == "invalid_envelope"
    h.coordinator.submit_round2(gid, a.public_key, session.name, envelopes)


def test_refresh_keeps_the_group_key_and_signs_with_new_shares() -> None:
    h = make_harness(3)
    group = h.dkg(2)
    gid = group.group_id
    a, b, c = h.owners
    old_public = group.public_key_package
    old_shares = [o._group_keys(gid).key_package.signing_share for o in h.owners]  # type: ignore[attr-defined]
    refreshing = h.coordinator.start_refresh(gid, b.public_key)
    assert refreshing.status == "refreshing" and refreshing.session is not None
    assert refreshing.session.kind == "refresh"
    with pytest.raises(WrongGroupState):
        h.coordinator.propose_transfer(gid, a.public_key, "alice", 1)
    refreshed = h.run_keygen(gid)
    assert refreshed.status == "active" and refreshed.epoch == 2
    assert refreshed.group_public_key == group.group_public_key
    assert refreshed.public_key_package != old_public
    new_shares = [o._group_keys(gid).key_package.signing_share for o in h.owners]  # type: ignore[attr-defined]
    assert all(x != y for x, y in zip(old_shares, new_shares, strict=True))
    assert "refresh_started" in h.event_types() and "refresh_completed" in h.event_types()
    proposal = h.coordinator.propose_transfer(gid, a.public_key, "alice", 9)
    ready = h.approve(proposal.proposal_id, [a, c])
    assert ready.signature is not None and group.group_public_key is not None
    frost.verify(SUITE, group.group_public_key, ready.message, ready.signature)
    assert ThresholdMessage.from_bytes(ready.message).nonce == 0


def test_failed_refresh_keeps_the_old_shares() -> None:
    h = make_harness(3)
    group = h.dkg(2)
    gid = group.group_id
    a, b, c = h.owners
    h.coordinator.start_refresh(gid, a.public_key)
    h.round1(gid)
    h.echo(gid)
    session = h.group(gid).session
    assert session is not None

    def corrupt(owner: Owner, envelopes: list[bytes]) -> list[bytes]:
        if owner is not a:
            return envelopes
        bad = frost.Round2Package(SUITE, 99).to_bytes()
        label = envelope_round(session.name)
        return [
            seal(h.identities[0], Envelope.from_bytes(r).recipient, gid, label, bad).to_bytes()
            for r in envelopes
        ]

    h.round2(gid, tamper=corrupt)
    h.finish(gid)
    after = h.group(gid)
    assert after.status == "active" and after.epoch == 1 and after.session is None
    assert after.public_key_package == group.public_key_package
    assert after.last_refresh_failure is not None
    assert [o.key for o in after.last_refresh_failure.culprits] == [a.public_key]
    assert "refresh_failed" in h.event_types()
    with pytest.raises(BadKeygenShare):
        h.coordinator.round2_envelopes(gid, b.public_key, session.name)
    for owner in h.owners:
        owner.sync(after)
    proposal = h.coordinator.propose_transfer(gid, b.public_key, "alice", 3)
    assert h.approve(proposal.proposal_id, [b, c]).status == "ready"
    # A new refresh gets a new session name, so the failed one's messages never mix in.
    retry = h.coordinator.start_refresh(gid, c.public_key)
    assert retry.session is not None and retry.session.name != session.name
    assert h.run_keygen(gid).epoch == 2


def test_login_challenges_are_single_use_short_lived_and_bound() -> None:
    h = make_harness(2)
    a, b = h.identities
    challenge = h.coordinator.issue_challenge(a.public_key)
    assert challenge.owner == a.public_key and challenge.expires_at > h.clock.now
    signature = a.sign_login(challenge)
    assert h.coordinator.complete_login(challenge.challenge_id, a.public_key, signature) == (
        a.public_key
    )
    with pytest.raises(ChallengeNotFound):
        h.coordinator.complete_login(challenge.challenge_id, a.public_key, signature)
    other = h.coordinator.issue_challenge(a.public_key)
    with pytest.raises(InvalidLoginSignature):
        h.coordinator.complete_login(other.challenge_id, b.public_key, b.sign_login(other))
    # A failed attempt consumed the challenge too: no guessing against one challenge.
    with pytest.raises(ChallengeNotFound):
        h.coordinator.complete_login(other.challenge_id, a.public_key, a.sign_login(other))
    late = h.coordinator.issue_challenge(a.public_key)
    h.clock.advance(late.expires_at - h.clock.now)
    with pytest.raises(ChallengeExpired):
        h.coordinator.complete_login(late.challenge_id, a.public_key, a.sign_login(late))


def test_key_material_survives_export_and_import() -> None:
    from cosigner.multisig.identity import MEMLIMIT_MIN, OPSLIMIT_MIN

    h = make_harness(3)
    gid = h.dkg(2).group_id
    a, b, _ = h.owners
    blob = b.export_keys(gid, "owner passphrase", opslimit=OPSLIMIT_MIN, memlimit=MEMLIMIT_MIN)
    share = SUITE.encode_scalar(b._group_keys(gid).key_package.signing_share)  # type: ignore[attr-defined]
    assert share not in blob and share.hex().encode() not in blob
    restarted = Owner(h.identities[1])
    assert restarted.import_keys(blob, "owner passphrase") == gid
    with pytest.raises(Exception) as caught:
        Owner(h.identities[0]).import_keys(blob, "owner passphrase")
    assert getattr(caught.value, "code", None) == "malformed_sealed_secret"
    h.owners[1] = restarted
    proposal = h.coordinator.propose_transfer(gid, a.public_key, "alice", 4)
    assert h.approve(proposal.proposal_id, [a, restarted]).status == "ready"


def test_an_owner_that_missed_a_refresh_cannot_sign() -> None:
    h = make_harness(3)
    gid = h.dkg(2).group_id
    a, b, c = h.owners
    h.coordinator.start_refresh(gid, a.public_key)
    h.round1(gid)
    h.echo(gid)
    h.round2(gid)
    h.finish(gid)
    group = h.group(gid)
    a.sync(group)
    b.sync(group)  # c does not: its key package is the old epoch's
    pid = h.coordinator.propose_transfer(gid, a.public_key, "alice", 1).proposal_id
    with pytest.raises(WrongGroupState):
        c.commit(group, h.proposal(pid))
    assert c.sync(group) and c.commit(group, h.proposal(pid))
