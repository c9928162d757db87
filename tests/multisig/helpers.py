"""An in-process multisig: a coordinator, its store, a fake clock and n owners.

:class:`Harness` drives every round of a DKG or refresh through the
coordinator exactly as the HTTP layer will (fetch, compute on the owner,
submit), with hooks to tamper with what one owner receives or sends, and
signs proposals with a chosen set of owners.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cosigner.multisig import (
    Coordinator,
    Event,
    Group,
    IdentityKey,
    MemoryMultisigStore,
    MultisigStore,
    Owner,
    Proposal,
    SignedPackage,
)
from cosigner.multisig.owner import Complaint, Confirmation

START_MS = 1_700_000_000_000

Round1Tamper = Callable[[Owner, dict[bytes, SignedPackage]], dict[bytes, SignedPackage]]
Round2Tamper = Callable[[Owner, list[bytes]], list[bytes]]


class FakeClock:
    """Milliseconds that move only when a test says so."""

    def __init__(self, now: int = START_MS) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def identity(i: int, label: str = "owner") -> IdentityKey:
    return IdentityKey(hashlib.sha256(f"{label}-{i}".encode()).digest())


@dataclass
class Harness:
    coordinator: Coordinator
    store: MultisigStore
    clock: FakeClock
    identities: list[IdentityKey]
    owners: list[Owner]
    events: list[Event] = field(default_factory=list)

    @property
    def keys(self) -> list[bytes]:
        return [o.public_key for o in self.owners]

    def group(self, group_id: str) -> Group:
        return self.coordinator.get_group(group_id, self.keys[0])

    def proposal(self, proposal_id: str) -> Proposal:
        return self.coordinator.get_proposal(proposal_id, self.keys[0])

    def event_types(self) -> list[str]:
        return [e.type for e in self.events]

    def create_group(self, threshold: int, creator: int = 0) -> Group:
        return self.coordinator.create_group(self.keys[creator], self.keys, threshold)

    # -- keygen, one phase at a time -----------------------------------------------------------

    def _session(self, group_id: str) -> str:
        session = self.group(group_id).session
        assert session is not None
        return session.name

    def round1(self, group_id: str, who: Sequence[Owner] | None = None) -> None:
        session = self._session(group_id)
        for owner in who or self.owners:
            m = owner.keygen_round1(self.group(group_id))
            self.coordinator.submit_round1(
                group_id, owner.public_key, session, m.package, m.signature
            )

    def echo(
        self,
        group_id: str,
        tamper: Round1Tamper | None = None,
        who: Sequence[Owner] | None = None,
    ) -> None:
        session = self._session(group_id)
        for owner in who or self.owners:
            received = self.coordinator.round1_packages(group_id, owner.public_key, session)
            if tamper is not None:
                received = tamper(owner, dict(received))
            e = owner.keygen_echo(self.group(group_id), received)
            self.coordinator.submit_echo(
                group_id, owner.public_key, session, e.set_hash, e.signature, e.evidence
            )

    def round2(self, group_id: str, tamper: Round2Tamper | None = None) -> None:
        session = self._session(group_id)
        for owner in self.owners:
            envelopes = owner.keygen_round2(self.group(group_id))
            if tamper is not None:
                envelopes = tamper(owner, list(envelopes))
            self.coordinator.submit_round2(group_id, owner.public_key, session, envelopes)

    def finish(self, group_id: str) -> dict[bytes, Confirmation | Complaint]:
        """Each owner opens its envelopes and confirms or complains (in owner order)."""
        session = self._session(group_id)
        outcomes: dict[bytes, Confirmation | Complaint] = {}
        for owner in self.owners:
            envelopes = self.coordinator.round2_envelopes(group_id, owner.public_key, session)
            outcome = owner.keygen_finish(self.group(group_id), envelopes)
            outcomes[owner.public_key] = outcome
            if isinstance(outcome, Confirmation):
                self.coordinator.submit_confirmation(
                    group_id,
                    owner.public_key,
                    session,
                    outcome.group_public_key,
                    outcome.transcript,
                    outcome.signature,
                )
            else:
                self.coordinator.report_bad_share(
                    group_id, owner.public_key, session, outcome.accused, outcome.envelope_key
                )
                break
        return outcomes

    def sync(self, group_id: str) -> Group:
        group = self.group(group_id)
        for owner in self.owners:
            owner.sync(group)
        return group

    def run_keygen(self, group_id: str) -> Group:
        self.round1(group_id)
        self.echo(group_id)
        self.round2(group_id)
        self.finish(group_id)
        return self.sync(group_id)

    def dkg(self, threshold: int) -> Group:
        group = self.create_group(threshold)
        return self.run_keygen(group.group_id)

    # -- signing ----------------------------------------------------------------------------

    def commit(self, proposal_id: str, who: Sequence[Owner]) -> Proposal:
        proposal = self.proposal(proposal_id)
        for owner in who:
            group = self.group(proposal.group_id)
            current = self.coordinator.get_proposal(proposal_id, owner.public_key)
            proposal = self.coordinator.submit_commitment(
                proposal_id, owner.public_key, owner.commit(group, current)
            )
        return proposal

    def sign(self, proposal_id: str, who: Sequence[Owner]) -> Proposal:
        proposal = self.proposal(proposal_id)
        for owner in who:
            group = self.group(proposal.group_id)
            current = self.coordinator.get_proposal(proposal_id, owner.public_key)
            proposal = self.coordinator.submit_signature_share(
                proposal_id, owner.public_key, owner.sign(group, current)
            )
        return proposal

    def approve(self, proposal_id: str, who: Sequence[Owner]) -> Proposal:
        self.commit(proposal_id, who)
        return self.sign(proposal_id, who)


def make_harness(n: int, store: MultisigStore | None = None, label: str = "owner") -> Harness:
    clock = FakeClock()
    events: list[Event] = []
    store = store if store is not None else MemoryMultisigStore()
    coordinator = Coordinator(store, clock=clock, events=events.append)
    identities = [identity(i, label) for i in range(n)]
    owners = [Owner(k) for k in identities]
    return Harness(coordinator, store, clock, identities, owners, events)


def owner_by_key(harness: Harness, key: bytes) -> Owner:
    return next(o for o in harness.owners if o.public_key == key)
