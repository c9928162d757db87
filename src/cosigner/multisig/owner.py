"""The owner's side of the multisig: DKG, refresh and signing, with no I/O.

An :class:`Owner` holds what must never reach the coordinator: the identity
key, the DKG's secret packages between rounds, the FROST key package and the
signing nonces. It turns public records from the coordinator
(:class:`~cosigner.multisig.records.Group`,
:class:`~cosigner.multisig.records.Proposal`, part-one sets, envelopes) into
the messages to send back; the CLI and the tests move them. It checks what
it is given rather than trusting the coordinator:

* part one: every package in the set must carry its owner's identity
  signature, and our own must be the one we sent; the echo hash is computed
  over the set as received;
* part two: each share is sent in an envelope only its recipient can open;
  received envelopes are opened, their senders' signatures checked, and part
  three verifies every share (a bad one becomes a :class:`Complaint` naming
  its sender, with that envelope's key as proof);
* the final round signs the group key and the transcript hash computed from
  what this owner saw;
* a new key package (DKG or refresh) is used only after :meth:`Owner.sync`
  sees the group complete that session: a refresh that fails for someone
  else must not cost this owner its old share;
* before signing, the proposal is rebuilt from its own bytes (the
  ``ThresholdMessage``, or the chain intent from ``ui_model["fields"]``) and
  must match the stored ``ui_model`` and the signing package's message;
  nonces are single-use and dropped before the share leaves
  :meth:`Owner.sign`.

State lives in memory; :meth:`Owner.export_keys` / :meth:`Owner.import_keys`
seal a group's key material with a passphrase (Argon2id + SecretBox, see
:mod:`cosigner.multisig.identity`) for a client that persists it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cosigner import frost
from cosigner.chains.intent import ChainAdapter
from cosigner.chains.near import NearAdapter
from cosigner.chains.solana import SolanaAdapter
from cosigner.errors import CosignerError, DecodeError
from cosigner.groups import RandomBytes, system_random
from cosigner.multisig.e2e import Envelope, envelope_key, open_envelope, seal
from cosigner.multisig.errors import (
    IdentityDecodeError,
    InvalidEnvelope,
    InvalidIdentityKey,
    InvalidIdentitySignature,
    InvalidSubmission,
    NotAnOwner,
    NotASigner,
    ProposalFinished,
    ProposalMismatch,
    WrongGroupState,
    WrongKeygenStage,
    short_key,
)
from cosigner.multisig.identity import (
    IdentityKey,
    open_secret,
    seal_secret,
    sealed_metadata,
    verify_identity_signature,
)
from cosigner.multisig.message import OPERATION_TYPES, ThresholdMessage, operation_ui_model
from cosigner.multisig.records import Group, KeygenSession, OwnerInfo, Proposal
from cosigner.multisig.transcript import (
    SUITE,
    SignedPackage,
    broadcast_digest,
    confirm_statement,
    echo_statement,
    envelope_round,
    lp,
    round1_set_hash,
    round1_statement,
    round2_set_hash,
    transcript_hash,
)

KEYS_PURPOSE = "multisig-key-package"


@dataclass(frozen=True, slots=True)
class Round1Message:
    session: str
    package: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class EchoMessage:
    session: str
    set_hash: bytes
    signature: bytes
    evidence: Mapping[bytes, SignedPackage]


@dataclass(frozen=True, slots=True)
class Confirmation:
    session: str
    group_public_key: bytes
    transcript: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class Complaint:
    """Part three failed on ``accused``'s share; ``envelope_key`` opens that one envelope."""

    session: str
    accused: bytes
    envelope_key: bytes
    reason: str

    def __repr__(self) -> str:
        return (
            f"Complaint(session={self.session!r}, accused={short_key(self.accused)}, "
            f"reason={self.reason!r}, envelope_key=<redacted>)"
        )


@dataclass(frozen=True, slots=True)
class Review:
    """What a proposal asks the owner to sign, rebuilt by the owner."""

    summary: str
    ui_model: Mapping[str, Any]
    message: bytes


@dataclass
class _Keygen:
    """One DKG or refresh in progress. Holds secrets; never printed."""

    session: str
    kind: str
    epoch: int
    round1_secret: frost.Round1SecretPackage | frost.RefreshRound1SecretPackage | None
    round1: Round1Message
    received: dict[bytes, SignedPackage] | None = None
    round2_secret: frost.Round2SecretPackage | frost.RefreshRound2SecretPackage | None = None
    envelopes: list[bytes] | None = None
    result: tuple[frost.KeyPackage, frost.PublicKeyPackage] | None = None

    def __repr__(self) -> str:
        return f"_Keygen({self.session!r}, <redacted>)"


@dataclass
class _Keys:
    key_package: frost.KeyPackage
    public_key_package: frost.PublicKeyPackage
    epoch: int
    nonces: dict[str, tuple[int, frost.SigningNonces]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"_Keys(epoch={self.epoch}, <redacted>)"


class Owner:
    """One owner's client logic for every group it belongs to."""

    def __init__(
        self,
        identity: IdentityKey,
        *,
        rng: RandomBytes = system_random,
        adapters: Mapping[str, ChainAdapter] | None = None,
        operation_types: Sequence[str] = OPERATION_TYPES,
    ) -> None:
        self._identity = identity
        self._rng = rng
        if adapters is None:
            adapters = {"solana": SolanaAdapter(), "near": NearAdapter()}
        self._adapters = dict(adapters)
        self._operation_types = tuple(operation_types)
        self._keygen: dict[str, _Keygen] = {}
        self._keys: dict[str, _Keys] = {}

    @property
    def public_key(self) -> bytes:
        return self._identity.public_key

    def __repr__(self) -> str:
        return f"Owner({short_key(self.public_key)}, groups={sorted(self._keys)}, <redacted>)"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("an Owner holds secrets and cannot be pickled; use export_keys")

    # -- helpers ----------------------------------------------------------------------------

    def _me(self, group: Group) -> OwnerInfo:
        info = group.owner(self.public_key)
        if info is None:
            raise NotAnOwner("this identity is not an owner of the group")
        return info

    def _open_session(self, group: Group, stage: str) -> KeygenSession:
        if group.status == "failed" and group.failure is not None:
            raise group.failure.to_error()
        session = group.session
        if session is None:
            raise WrongGroupState("no DKG or refresh is in progress for this group")
        if session.stage != stage:
            raise WrongKeygenStage(f"the session is at stage {session.stage!r}, not {stage!r}")
        return session

    def _state(self, group: Group, session: KeygenSession) -> _Keygen:
        state = self._keygen.get(group.group_id)
        if state is None or state.session != session.name:
            raise WrongKeygenStage(f"this owner has not taken part in session {session.name!r}")
        return state

    def _key_of(self, group: Group, identifier: int) -> bytes:
        info = group.by_identifier(identifier)
        assert info is not None
        return info.key

    # -- DKG and refresh ------------------------------------------------------------------------

    def keygen_round1(self, group: Group) -> Round1Message:
        """Part one of the open session: the package to broadcast, signed."""
        session = self._open_session(group, "round1")
        me = self._me(group)
        state = self._keygen.get(group.group_id)
        if state is not None and state.session == session.name:
            return state.round1
        n, m = len(group.owners), group.threshold
        secret: frost.Round1SecretPackage | frost.RefreshRound1SecretPackage
        if session.kind == "dkg":
            secret, package = frost.dkg.part1(SUITE, me.identifier, n, m, self._rng)
        else:
            if group.group_id not in self._keys:
                raise WrongGroupState("a refresh needs this owner's current key package")
            secret, package = frost.refresh_dkg_part1(SUITE, me.identifier, n, m, self._rng)
        raw = package.to_bytes()
        signature = self._identity.sign(round1_statement(group.group_id, session.name, raw))
        message = Round1Message(session.name, raw, signature)
        self._keygen[group.group_id] = _Keygen(
            session.name, session.kind, session.epoch, secret, message
        )
        return message

    def keygen_echo(self, group: Group, received: Mapping[bytes, SignedPackage]) -> EchoMessage:
        """Check the part-one set as received and sign its hash."""
        session = self._open_session(group, "echo")
        state = self._state(group, session)
        if set(received) != set(group.owner_keys):
            raise InvalidSubmission("the part-one set does not hold exactly one package per owner")
        own = received[self.public_key]
        if own.package != state.round1.package:
            raise InvalidSubmission(
                "the coordinator shows a part-one package this owner never sent"
            )
        for key, signed in received.items():
            try:
                verify_identity_signature(
                    key,
                    round1_statement(group.group_id, session.name, signed.package),
                    signed.signature,
                )
            except InvalidIdentitySignature:
                raise InvalidSubmission(
                    f"the part-one package shown for {short_key(key)} is not signed by that owner"
                ) from None
        state.received = dict(received)
        set_hash = self._set_hash(group, session, state.received)
        signature = self._identity.sign(echo_statement(group.group_id, session.name, set_hash))
        return EchoMessage(session.name, set_hash, signature, dict(received))

    @staticmethod
    def _set_hash(
        group: Group, session: KeygenSession, received: Mapping[bytes, SignedPackage]
    ) -> bytes:
        digests = [
            broadcast_digest(group.group_id, session.name, key, received[key].package)
            for key in group.owner_keys
        ]
        return round1_set_hash(group.group_id, session.name, digests)

    def _others_round1(
        self, group: Group, state: _Keygen
    ) -> dict[frost.Identifier, frost.Round1Package]:
        assert state.received is not None
        out: dict[frost.Identifier, frost.Round1Package] = {}
        for key, signed in state.received.items():
            if key == self.public_key:
                continue
            info = group.owner(key)
            assert info is not None
            out[frost.Identifier(info.identifier)] = frost.Round1Package.from_bytes(signed.package)
        return out

    def keygen_round2(self, group: Group) -> list[bytes]:
        """Part two: one envelope per other owner, each holding that owner's share."""
        session = self._open_session(group, "round2")
        state = self._state(group, session)
        if state.envelopes is not None:
            return list(state.envelopes)
        if state.received is None or state.round1_secret is None:
            raise WrongKeygenStage("the echo round has not been done by this owner")
        others = self._others_round1(group, state)
        outgoing: Mapping[frost.Identifier, frost.Round2Package]
        if isinstance(state.round1_secret, frost.RefreshRound1SecretPackage):
            state.round2_secret, outgoing = frost.refresh_dkg_part2(state.round1_secret, others)
        else:
            state.round2_secret, outgoing = frost.dkg.part2(state.round1_secret, others)
        state.round1_secret = None
        label = envelope_round(session.name)
        envelopes = [
            seal(
                self._identity,
                self._key_of(group, identifier),
                group.group_id,
                label,
                package.to_bytes(),
                self._rng,
            ).to_bytes()
            for identifier, package in outgoing.items()
        ]
        state.envelopes = envelopes
        return list(envelopes)

    def keygen_finish(self, group: Group, envelopes: Sequence[bytes]) -> Confirmation | Complaint:
        """Part three: open this owner's envelopes, verify the shares, confirm or complain."""
        session = self._open_session(group, "confirm")
        state = self._state(group, session)
        if state.round2_secret is None or state.received is None:
            raise WrongKeygenStage("part two has not been done by this owner")
        parsed = [Envelope.from_bytes(raw) for raw in envelopes]
        label = envelope_round(session.name)
        mine: dict[bytes, Envelope] = {}
        for envelope in parsed:
            if envelope.group_id != group.group_id or envelope.round != label:
                raise InvalidSubmission("an envelope is for another group or round")
            if envelope.recipient == self.public_key:
                if envelope.sender in mine or group.owner(envelope.sender) is None:
                    raise InvalidSubmission("more than one envelope from one sender, or a stranger")
                mine[envelope.sender] = envelope
        others = [k for k in group.owner_keys if k != self.public_key]
        if set(mine) != set(others):
            raise InvalidSubmission("this owner did not get one envelope from every other owner")
        packages: dict[frost.Identifier, frost.Round2Package] = {}
        for sender, envelope in mine.items():
            complaint_reason: str | None = None
            try:
                plaintext = open_envelope(self._identity, envelope)
            except InvalidEnvelope as exc:
                envelope.verify_signature()  # a forged envelope is the coordinator's doing
                complaint_reason = exc.message
            else:
                try:
                    package = frost.Round2Package.from_bytes(plaintext)
                except DecodeError:
                    complaint_reason = "the envelope does not hold a part-two package"
                else:
                    if package.suite is not SUITE:
                        complaint_reason = "the envelope holds a package of another ciphersuite"
                    else:
                        info = group.owner(sender)
                        assert info is not None
                        packages[frost.Identifier(info.identifier)] = package
            if complaint_reason is not None:
                return self._complaint(session, envelope, complaint_reason)
        try:
            result = self._part3(group, state, packages)
        except frost.InvalidSecretShare as exc:
            (culprit,) = exc.culprits
            sender = self._key_of(group, culprit)
            return self._complaint(session, mine[sender], "the share does not match its commitment")
        state.result = result
        state.round2_secret = None
        public = result[1]
        transcript = transcript_hash(
            group.group_id,
            session.name,
            group.threshold,
            group.owner_keys,
            self._set_hash(group, session, state.received),
            round2_set_hash(
                group.group_id,
                session.name,
                [(e.sender, e.recipient, raw) for e, raw in zip(parsed, envelopes, strict=True)],
            ),
        )
        group_key = public.verifying_key.to_bytes()
        signature = self._identity.sign(
            confirm_statement(group.group_id, session.name, group_key, transcript)
        )
        return Confirmation(session.name, group_key, transcript, signature)

    def _complaint(self, session: KeygenSession, envelope: Envelope, reason: str) -> Complaint:
        try:
            key = envelope_key(self._identity, envelope)
        except (InvalidEnvelope, InvalidIdentityKey):
            key = bytes(32)  # no key opens it: the coordinator will name both of us
        return Complaint(session.name, envelope.sender, key, reason)

    def _part3(
        self,
        group: Group,
        state: _Keygen,
        packages: Mapping[frost.Identifier, frost.Round2Package],
    ) -> tuple[frost.KeyPackage, frost.PublicKeyPackage]:
        others = self._others_round1(group, state)
        secret = state.round2_secret
        if isinstance(secret, frost.RefreshRound2SecretPackage):
            keys = self._keys[group.group_id]
            return frost.refresh_dkg_shares(
                secret, others, packages, keys.public_key_package, keys.key_package
            )
        assert isinstance(secret, frost.Round2SecretPackage)
        return frost.dkg.part3(secret, others, packages)

    def sync(self, group: Group) -> bool:
        """Adopt the key package of a completed session, or drop a failed one's state.

        Returns True when this owner's key material changed.
        """
        state = self._keygen.get(group.group_id)
        if state is None:
            return False
        if group.session is not None and group.session.name == state.session:
            return False  # still running
        failed = group.failure if state.kind == "dkg" else group.last_refresh_failure
        completed = (
            group.status == "active"
            and group.epoch == state.epoch
            and state.result is not None
            and group.public_key_package == state.result[1].to_bytes()
        )
        if completed:
            assert state.result is not None
            key_package, public = state.result
            self._keys[group.group_id] = _Keys(key_package, public, state.epoch)
            del self._keygen[group.group_id]
            return True
        if (failed is not None and failed.session == state.session) or group.session is not None:
            del self._keygen[group.group_id]
        return False

    def has_keys(self, group_id: str) -> bool:
        return group_id in self._keys

    def public_key_package(self, group_id: str) -> frost.PublicKeyPackage:
        return self._group_keys(group_id).public_key_package

    def _group_keys(self, group_id: str) -> _Keys:
        keys = self._keys.get(group_id)
        if keys is None:
            raise WrongGroupState("this owner has no key package for the group (run the DKG)")
        return keys

    def export_keys(self, group_id: str, passphrase: str, **kdf: int) -> bytes:
        """The group's key package and public key package, sealed under ``passphrase``."""
        keys = self._group_keys(group_id)
        secret = lp(keys.key_package.to_bytes()) + lp(keys.public_key_package.to_bytes())
        return seal_secret(
            KEYS_PURPOSE,
            secret,
            passphrase,
            public={
                "group_id": group_id,
                "epoch": keys.epoch,
                "owner": self.public_key.hex(),
                "group_public_key": keys.public_key_package.verifying_key.to_bytes().hex(),
            },
            rng=self._rng,
            **kdf,
        )

    def import_keys(self, blob: bytes, passphrase: str) -> str:
        """Load key material sealed by :meth:`export_keys`; returns its group id."""
        secret = open_secret(KEYS_PURPOSE, blob, passphrase)
        _, public = sealed_metadata(blob)
        try:
            n = int.from_bytes(secret[:4], "big")
            key_package = frost.KeyPackage.from_bytes(secret[4 : 4 + n])
            rest = secret[4 + n :]
            m = int.from_bytes(rest[:4], "big")
            public_package = frost.PublicKeyPackage.from_bytes(rest[4 : 4 + m])
            group_id = str(public["group_id"])
            epoch = int(public["epoch"])
        except (DecodeError, KeyError, TypeError, ValueError):
            raise IdentityDecodeError(
                "the sealed file does not hold a group's key material"
            ) from None
        if public.get("owner") != self.public_key.hex():
            raise IdentityDecodeError("this key material belongs to another owner")
        self._keys[group_id] = _Keys(key_package, public_package, epoch)
        return group_id

    # -- signing --------------------------------------------------------------------------------

    def review(self, group: Group, proposal: Proposal) -> Review:
        """Rebuild what ``proposal`` asks to sign; :class:`ProposalMismatch` if it disagrees."""
        if proposal.group_id != group.group_id:
            raise ProposalMismatch("the proposal belongs to another group")
        if proposal.kind == "operation":
            try:
                message = ThresholdMessage.from_bytes(proposal.message, self._operation_types)
            except DecodeError as exc:
                raise ProposalMismatch(
                    f"the proposal's bytes are not an operation: {exc.message}"
                ) from None
            if message.nonce != proposal.nonce or message.operation_type != proposal.operation_type:
                raise ProposalMismatch("the proposal's nonce or type disagrees with its bytes")
            ui_model: Mapping[str, Any] = operation_ui_model(message)
        else:
            adapter = self._adapters.get(proposal.chain or "")
            if adapter is None or proposal.intent_kind is None:
                raise ProposalMismatch(f"this owner cannot review {proposal.chain!r} intents")
            try:
                intent = adapter.build_intent(proposal.intent_kind, proposal.ui_model["fields"])
            except (CosignerError, KeyError, TypeError) as exc:
                raise ProposalMismatch(f"the intent does not rebuild: {exc}") from None
            if (
                len(intent.sign_requests) != 1
                or intent.sign_requests[0].message != proposal.message
            ):
                raise ProposalMismatch("the intent rebuilds to other bytes than the proposal's")
            ui_model = intent.ui_model
        if dict(ui_model) != dict(proposal.ui_model):
            raise ProposalMismatch("the proposal's ui_model does not describe its bytes")
        return Review(str(ui_model["summary"]), ui_model, proposal.message)

    def commit(self, group: Group, proposal: Proposal) -> bytes:
        """Round one for the proposal's current attempt: fresh nonces, their commitments."""
        keys = self._active_keys(group)
        if not proposal.live:
            raise ProposalFinished(f"the proposal is {proposal.status}; there is nothing to sign")
        held = keys.nonces.get(proposal.proposal_id)
        if held is not None and held[0] == proposal.attempt and not held[1].used:
            return held[1].commitments.to_bytes()  # a retry of the same round one
        nonces, commitments = frost.commit(keys.key_package, self._rng)
        keys.nonces[proposal.proposal_id] = (proposal.attempt, nonces)
        return commitments.to_bytes()

    def sign(self, group: Group, proposal: Proposal) -> bytes:
        """Round two: review, check the fixed signing package, sign once."""
        keys = self._active_keys(group)
        review = self.review(group, proposal)
        if proposal.signing_package is None:
            raise WrongGroupState("the signing package is not fixed yet")
        package = frost.SigningPackage.from_bytes(proposal.signing_package)
        if package.message != review.message:
            raise ProposalMismatch("the signing package's message is not the proposal's")
        if len(package.commitments) != group.threshold:
            raise ProposalMismatch(
                f"the signing package has {len(package.commitments)} signers, not {group.threshold}"
            )
        held = keys.nonces.pop(proposal.proposal_id, None)
        if held is None or held[0] != proposal.attempt:
            raise NotASigner(f"this owner holds no unused nonces for attempt {proposal.attempt}")
        share = frost.sign(package, held[1], keys.key_package)
        return share.to_bytes()

    def _active_keys(self, group: Group) -> _Keys:
        self._me(group)
        keys = self._group_keys(group.group_id)
        if group.status != "active":
            raise WrongGroupState(f"the group is {group.status}")
        if group.public_key_package != keys.public_key_package.to_bytes():
            raise WrongGroupState(
                "this owner's key material is not the group's current one; sync after a refresh"
            )
        return keys


__all__ = [
    "Complaint",
    "Confirmation",
    "EchoMessage",
    "Owner",
    "Review",
    "Round1Message",
]
