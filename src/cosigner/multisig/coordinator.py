"""The multisig coordinator: a store-backed state machine that relays but never holds a key.

The server side of seed 004's m-of-n multisig, independent of any transport
(the HTTP routes, the WebSocket and the CLI call these methods). Every
method is one request: it reads the injected clock once, runs in one store
transaction (so a refused request writes nothing), and publishes its events
after the transaction commits. The caller authenticates owners (login below)
and passes the authenticated identity key as ``owner``; every request that
speaks for an owner is checked against the group's owner list.

What the coordinator sees: identity public keys, FROST part-one packages
(commitments and proofs of knowledge), part-two *envelopes* (ciphertexts it
cannot open, see :mod:`cosigner.multisig.e2e`), round-one signing
commitments, signature shares, the group's public key package. Never a
secret share, a nonce or an identity key's secret.

**Login.** :meth:`issue_challenge` / :meth:`complete_login`: a single-use
challenge with a short TTL, bound to the identity key that asked, answered
with that key's signature (:mod:`cosigner.multisig.identity`). The server
mints its bearer token after :meth:`complete_login` returns.

**DKG** (the Zcash Foundation's three-part DKG, :mod:`cosigner.frost.dkg`),
through four stages of a keygen session:

1. ``round1``: each owner posts its part-one package signed with its
   identity key. The coordinator checks the signature, the commitment length
   and the proof of knowledge (a bad one is refused, naming its owner).
2. ``echo``: once all n are in, each owner fetches the set, checks every
   signature, and posts the hash of the whole set as it received it
   (:func:`~cosigner.multisig.transcript.round1_set_hash`), signed, with the
   packages it received as evidence. All hashes must equal the coordinator's
   before part two opens: this is the echo broadcast that stops an owner from
   showing different packages to different owners (ZF frost issue 577). On a
   mismatch the DKG fails for all; the culprit is the owner whose two
   differently signed packages the evidence shows, else the echoing owner.
3. ``round2``: each owner posts one envelope per other owner, the part-two
   package encrypted end to end and signed; the coordinator checks the
   addressing and the signatures and stores ciphertext only.
4. ``confirm``: each owner opens its envelopes, runs part three and either
   signs (group public key, transcript hash) or complains about a bad share
   by revealing that one envelope's key. The coordinator computes the group
   key and the transcript itself: a confirmation that disagrees fails the DKG
   naming its owner; a complaint is checked (decrypt with the revealed key,
   Feldman check against the accused's commitment) and fails the DKG naming
   the accused, or the complainer if the share was good, or both if the key
   does not open the envelope. When all n confirmations agree the group is
   ``active``. Never half: no confirmation counts until all are in.

**Refresh** (:func:`cosigner.frost.refresh_dkg_part1` and the rest): the
same four stages in a ``refresh`` session started by any owner of an active
group; completion keeps the group key, installs the new verifying shares and
increments ``epoch``; failure leaves the group active on its old shares.
No refresh starts while a proposal has a fixed signing package, and no
signing progresses while a refresh runs.

**Proposals.** A ledger operation (seed 004's ``ThresholdMessage``, nonce =
the group's next nonce unless a later one is given) or a chain intent (a
Solana or NEAR payload through the adapters; its ``ui_model`` is stored so
owners review exactly what they sign). Owners post round-one commitments;
at the threshold the signing package is fixed; owners post signature
shares, each verified on arrival (:func:`cosigner.frost.verify_signature_share`).
A bad share is refused naming its owner, who is excluded; the proposal goes
back to round one for a fresh attempt with the others (shares of the old
package are useless, and every nonce is single-use). At the threshold the
shares are aggregated, the signature verified (and for an intent, finalized
into the chain's transaction) and the proposal is ``ready``.

Replay rules: a proposal for a nonce the group has executed is refused; one
executed proposal per nonce (executing one supersedes the other proposals
for that nonce); commitments and shares for a finished proposal are refused;
a commitment seen before, for any proposal of any group, is refused.
Proposals expire (:meth:`expire_due`, and refused on use); the proposer can
cancel its own live proposal.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, TypeVar

import base58

from cosigner import frost
from cosigner.chains.intent import ChainAdapter, SigningIntent
from cosigner.chains.near import NearAdapter
from cosigner.chains.solana import SolanaAdapter
from cosigner.errors import CosignerError, DecodeError
from cosigner.frost.dkg import (
    public_key_package_from_commitments,
    verify_proof_of_knowledge,
    verify_received_share,
)
from cosigner.frost.keys import evaluate_vss
from cosigner.groups import RandomBytes, system_random
from cosigner.multisig.e2e import Envelope, open_with_key
from cosigner.multisig.errors import (
    AlreadySubmitted,
    BadKeygenShare,
    ChallengeExpired,
    ChallengeNotFound,
    CommitmentReused,
    ConfirmationMismatch,
    EchoMismatch,
    GroupNotFound,
    InvalidEnvelope,
    InvalidGroupParameters,
    InvalidIdentityKey,
    InvalidIdentitySignature,
    InvalidKeygenPackage,
    InvalidOperation,
    InvalidSubmission,
    KeygenFailed,
    NonceAlreadyUsed,
    NotAnOwner,
    NotASigner,
    NotTheProposer,
    ProposalExpired,
    ProposalFinished,
    ProposalNotFound,
    SignatureShareRejected,
    SigningPackageFixed,
    SigningPackageNotReady,
    WrongGroupState,
    WrongKeygenStage,
    short_key,
)
from cosigner.multisig.events import Event, EventSink
from cosigner.multisig.identity import (
    LoginChallenge,
    check_identity_key,
    verify_identity_signature,
    verify_login,
)
from cosigner.multisig.message import (
    OPERATION_TRANSFER,
    OPERATION_TYPES,
    ThresholdMessage,
    Transfer,
    check_operation_types,
    operation_ui_model,
)
from cosigner.multisig.records import (
    KEYGEN_STAGES,
    LIVE_STATUSES,
    Failure,
    Group,
    KeygenMessage,
    KeygenSession,
    KeygenStage,
    OwnerInfo,
    Proposal,
    Rejection,
)
from cosigner.multisig.store import MultisigStore
from cosigner.multisig.transcript import (
    SUITE,
    SignedPackage,
    broadcast_digest,
    confirm_statement,
    echo_statement,
    envelope_round,
    owner_identifier,
    round1_set_hash,
    round1_statement,
    round2_set_hash,
    transcript_hash,
)

MAX_OWNERS: Final = 100
DEFAULT_PROPOSAL_TTL_MS: Final = 7 * 24 * 3600 * 1000
DEFAULT_CHALLENGE_TTL_MS: Final = 2 * 60 * 1000
ID_BYTES: Final = 16
DEFAULT_GROUP_PAGE: Final = 100
MAX_GROUP_PAGE: Final = 500

Clock = Callable[[], int]
"""Milliseconds since the Unix epoch."""

T = TypeVar("T")


def system_clock() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class _Request:
    now: int
    events: list[Event] = field(default_factory=list)
    deferred: CosignerError | None = None

    def emit(self, type_: str, group_id: str, proposal_id: str | None = None, **data: Any) -> None:
        self.events.append(Event(type_, group_id, self.now, proposal_id, data))

    def fail_after_commit(self, error: CosignerError) -> None:
        """Raise ``error`` once the state change that records it has committed."""
        self.deferred = error


def _blob(value: object, what: str) -> bytes:
    """Bytes from a caller, or :class:`InvalidSubmission` (never a TypeError from deep inside)."""
    if not isinstance(value, bytes | bytearray):
        raise InvalidSubmission(f"{what} must be bytes")
    return bytes(value)


def _culprit(owner: OwnerInfo) -> tuple[bytes, int]:
    return (owner.key, owner.identifier)


def _stage_index(stage: KeygenStage) -> int:
    return KEYGEN_STAGES.index(stage)


class Coordinator:
    """Groups, DKG, refresh and proposals over a :class:`MultisigStore`."""

    def __init__(
        self,
        store: MultisigStore,
        *,
        clock: Clock = system_clock,
        rng: RandomBytes = system_random,
        events: EventSink | None = None,
        adapters: Mapping[str, ChainAdapter] | None = None,
        operation_types: Sequence[str] = OPERATION_TYPES,
        proposal_ttl_ms: int = DEFAULT_PROPOSAL_TTL_MS,
        challenge_ttl_ms: int = DEFAULT_CHALLENGE_TTL_MS,
        audience: str = "cosigner",
    ) -> None:
        self._store = store
        self._clock = clock
        self._rng = rng
        self._events = events
        if adapters is None:
            adapters = {"solana": SolanaAdapter(), "near": NearAdapter()}
        self._adapters = dict(adapters)
        self._operation_types = check_operation_types(operation_types)
        self._proposal_ttl_ms = proposal_ttl_ms
        self._challenge_ttl_ms = challenge_ttl_ms
        self._audience = audience

    # -- plumbing -------------------------------------------------------------------------

    def _run(self, body: Callable[[_Request], T]) -> T:
        request = _Request(self._clock())
        with self._store.transaction():
            result = body(request)
        if self._events is not None:
            for event in request.events:
                self._events(event)
        if request.deferred is not None:
            raise request.deferred
        return result

    def _new_id(self, prefix: str) -> str:
        return prefix + self._rng(ID_BYTES).hex()

    def _group(self, group_id: str) -> Group:
        group = self._store.get_group(group_id) if isinstance(group_id, str) else None
        if group is None:
            raise GroupNotFound(f"no group {group_id!r}")
        return group

    def _member(self, group: Group, owner: bytes) -> OwnerInfo:
        key = _blob(owner, "the owner's identity key")
        info = group.owner(key)
        if info is None:
            raise NotAnOwner(f"identity {short_key(key)} is not an owner of this group")
        return info

    def _proposal(self, proposal_id: str) -> Proposal:
        proposal = self._store.get_proposal(proposal_id) if isinstance(proposal_id, str) else None
        if proposal is None:
            raise ProposalNotFound(f"no proposal {proposal_id!r}")
        return proposal

    # -- login ------------------------------------------------------------------------------

    def issue_challenge(self, owner: bytes) -> LoginChallenge:
        """A single-use login challenge for ``owner``, valid for the challenge TTL."""
        key = check_identity_key(owner)

        def body(request: _Request) -> LoginChallenge:
            self._store.purge_challenges(request.now)
            challenge = LoginChallenge(
                self._new_id("c_"),
                self._rng(32),
                self._audience,
                key,
                request.now,
                request.now + self._challenge_ttl_ms,
            )
            self._store.put_challenge(challenge)
            return challenge

        return self._run(body)

    def complete_login(self, challenge_id: str, owner: bytes, signature: bytes) -> bytes:
        """Consume the challenge (whatever the outcome) and return the verified identity key."""

        def body(request: _Request) -> LoginChallenge | None:
            return self._store.take_challenge(challenge_id)

        challenge = self._run(body)
        if challenge is None:
            raise ChallengeNotFound("unknown or already used login challenge; ask for a new one")
        if self._clock() >= challenge.expires_at:
            raise ChallengeExpired("the login challenge expired; ask for a new one")
        key = _blob(owner, "the identity key")
        verify_login(challenge, key, _blob(signature, "the signature"))
        return key

    # -- groups -----------------------------------------------------------------------------

    def create_group(self, creator: bytes, owners: Sequence[bytes], threshold: int) -> Group:
        """A new m-of-n group of ``owners`` (identity keys); the DKG's round one opens."""
        try:
            keys = [check_identity_key(k) for k in owners]
        except InvalidIdentityKey as exc:
            raise InvalidGroupParameters(f"owners: {exc.message}") from None
        if len(set(keys)) != len(keys):
            raise InvalidGroupParameters("an identity key appears twice in the owner list")
        if not 2 <= len(keys) <= MAX_OWNERS:
            raise InvalidGroupParameters(f"a group has 2 to {MAX_OWNERS} owners")
        if type(threshold) is not int or not 2 <= threshold <= len(keys):
            raise InvalidGroupParameters(
                f"the threshold must be an integer from 2 to the number of owners ({len(keys)})"
            )
        creator = _blob(creator, "the creator's identity key")
        if creator not in keys:
            raise NotAnOwner("the creator of a group must be one of its owners")
        infos = sorted(
            (OwnerInfo(k, int(owner_identifier(k))) for k in keys), key=lambda o: o.identifier
        )
        if len({o.identifier for o in infos}) != len(infos):  # pragma: no cover - 2^-252
            raise InvalidGroupParameters("two owners' keys derive the same identifier")

        def body(request: _Request) -> Group:
            session = KeygenSession("dkg-1", "dkg", 1, "round1", bytes(creator), request.now)
            group = Group(
                group_id=self._new_id("g_"),
                threshold=threshold,
                owners=tuple(infos),
                created_by=bytes(creator),
                created_at=request.now,
                status="dkg",
                session=session,
            )
            group = self._store.insert_group(group)
            request.emit(
                "group_created",
                group.group_id,
                threshold=threshold,
                owners=[o.key.hex() for o in infos],
                created_by=bytes(creator).hex(),
            )
            self._emit_progress(request, group, session, "round1", None, 0)
            return group

        return self._run(body)

    def get_group(self, group_id: str, owner: bytes) -> Group:
        group = self._group(group_id)
        self._member(group, owner)
        return group

    def groups_for_owner(self, owner: bytes) -> list[Group]:
        return self._store.groups_for_owner(_blob(owner, "the identity key"))

    def list_groups(
        self, limit: int = DEFAULT_GROUP_PAGE, after: str | None = None
    ) -> tuple[list[Group], str | None]:
        """Every group, a page at a time, by ``group_id`` (see :mod:`cosigner.multisig.store`).

        At most ``limit`` (1 to :data:`MAX_GROUP_PAGE`) groups whose id is above
        ``after``, and the ``after`` of the next page: None when this one is the
        last. Bound to no owner: the caller decides who may see every group (the
        server: the read-only dashboard token only).
        """
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidSubmission("the page limit must be an integer")
        if not 1 <= limit <= MAX_GROUP_PAGE:
            raise InvalidSubmission(f"the page limit is 1 to {MAX_GROUP_PAGE}")
        if after is not None and not isinstance(after, str):
            raise InvalidSubmission("after is a group id")
        found = self._store.list_groups(limit + 1, after)
        page = found[:limit]
        return page, (page[-1].group_id if len(found) > limit else None)

    # -- keygen sessions (DKG and refresh) --------------------------------------------------

    def _emit_progress(
        self,
        request: _Request,
        group: Group,
        session: KeygenSession,
        step: str,
        owner: bytes | None,
        received: int,
    ) -> None:
        request.emit(
            "dkg_progress",
            group.group_id,
            session=session.name,
            kind=session.kind,
            stage=session.stage,
            step=step,
            owner=None if owner is None else owner.hex(),
            received=received,
            expected=len(group.owners),
        )

    def _session(self, group: Group, name: str) -> KeygenSession:
        """The open session ``name``; raise the recorded failure or a stage error otherwise."""
        if group.status == "failed" and group.failure is not None:
            raise group.failure.to_error()
        session = group.session
        if session is None:
            failed = group.last_refresh_failure
            if failed is not None and failed.session == name:
                raise failed.to_error()
            raise WrongGroupState("no DKG or refresh is in progress for this group")
        if session.name != name:
            raise WrongKeygenStage(
                f"this is for session {name!r}; the open one is {session.name!r}"
            )
        return session

    def _readable_session(self, group: Group, name: str, after: KeygenStage) -> KeygenSession:
        session = self._session(group, name)
        if _stage_index(session.stage) <= _stage_index(after):
            raise WrongKeygenStage(
                f"the {after} messages are not all in yet (stage {session.stage!r})"
            )
        return session

    def _require_stage(self, session: KeygenSession, stage: KeygenStage) -> None:
        if session.stage != stage:
            raise WrongKeygenStage(
                f"session {session.name!r} is at stage {session.stage!r}, not {stage!r}"
            )

    def _messages(
        self, group: Group, session: KeygenSession, kind: KeygenStage
    ) -> list[KeygenMessage]:
        return self._store.keygen_messages(group.group_id, session.name, kind)

    def _own_message(
        self, group: Group, session: KeygenSession, kind: KeygenStage, owner: bytes
    ) -> KeygenMessage | None:
        for m in self._messages(group, session, kind):
            if m.sender == owner:
                return m
        return None

    def _check_signed_message(
        self,
        group: Group,
        session: KeygenSession,
        stage: KeygenStage,
        owner: bytes,
        body: bytes,
        signature: bytes,
        statement: bytes,
        *,
        already: str,
        unsigned: str,
    ) -> bool:
        """The checks every signed keygen message passes before it is read.

        True when this exact message was already accepted (a safe retry);
        otherwise the session must be at ``stage`` and ``signature`` must be
        ``owner``'s identity signature over ``statement``.
        """
        existing = self._own_message(group, session, stage, owner)
        if existing is not None:
            if existing.body == body and existing.signature == signature:
                return True
            raise AlreadySubmitted(already)
        self._require_stage(session, stage)
        try:
            verify_identity_signature(owner, statement, signature)
        except InvalidIdentitySignature:
            raise InvalidSubmission(unsigned) from None
        return False

    def _record_progress(
        self, group: Group, session: KeygenSession, received: int, then: KeygenStage
    ) -> tuple[Group, KeygenSession]:
        """Write the group back after every keygen message, moving to ``then`` when all are in.

        Writing even when the stage stays makes concurrent submissions conflict on
        the group's version (one retries), so under READ COMMITTED two last
        messages cannot both count n - 1 and leave the stage stuck.
        """
        if received == len(group.owners):
            session = replace(session, stage=then)
        group = self._store.update_group(replace(group, session=session))
        return group, session

    def _fail_keygen(
        self, request: _Request, group: Group, session: KeygenSession, error: KeygenFailed
    ) -> Group:
        failure = Failure.from_error(error, group.owners, request.now, session.name)
        if session.kind == "dkg":
            group = replace(group, status="failed", failure=failure)
            event = "dkg_failed"
        else:
            group = replace(group, status="active", session=None, last_refresh_failure=failure)
            event = "refresh_failed"
        group = self._store.update_group(group)
        request.emit(
            event,
            group.group_id,
            session=session.name,
            code=error.code,
            message=failure.message,
            culprits=[k.hex() for k in error.culprit_keys],
            reported_by=None if error.reported_by is None else error.reported_by.hex(),
        )
        request.fail_after_commit(failure.to_error())
        return group

    def _round1_packages(self, group: Group, session: KeygenSession) -> dict[bytes, KeygenMessage]:
        return {m.sender: m for m in self._messages(group, session, "round1")}

    def _set_hash(
        self, group: Group, session: KeygenSession, packages: Mapping[bytes, bytes]
    ) -> bytes:
        digests = [
            broadcast_digest(group.group_id, session.name, key, packages[key])
            for key in group.owner_keys
        ]
        return round1_set_hash(group.group_id, session.name, digests)

    def _commitments(
        self, group: Group, session: KeygenSession
    ) -> dict[frost.Identifier, tuple[Any, ...]]:
        """Each owner's full VSS commitment (the refresh's with the identity put back in front)."""
        out: dict[frost.Identifier, tuple[Any, ...]] = {}
        for key, message in self._round1_packages(group, session).items():
            package = frost.Round1Package.from_bytes(message.body)
            commitment = tuple(package.commitment)
            if session.kind == "refresh":
                commitment = (SUITE.group.identity, *commitment)
            info = group.owner(key)
            assert info is not None
            out[frost.Identifier(info.identifier)] = commitment
        return dict(sorted(out.items()))

    def _session_public_key_package(
        self, group: Group, session: KeygenSession
    ) -> frost.PublicKeyPackage:
        commitments = self._commitments(group, session)
        if session.kind == "dkg":
            return public_key_package_from_commitments(SUITE, commitments)
        assert group.public_key_package is not None
        old = frost.PublicKeyPackage.from_bytes(group.public_key_package)
        summed = [
            SUITE.group.sum(c[k] for c in commitments.values()) for k in range(group.threshold)
        ]
        shares = {i: old.verifying_shares[i] + evaluate_vss(SUITE, summed, i) for i in commitments}
        return frost.PublicKeyPackage(SUITE, shares, old.verifying_key, group.threshold)

    def _transcript(self, group: Group, session: KeygenSession) -> bytes:
        packages = {k: m.body for k, m in self._round1_packages(group, session).items()}
        envelopes = [
            (m.sender, m.recipient, m.body) for m in self._messages(group, session, "round2")
        ]
        return transcript_hash(
            group.group_id,
            session.name,
            group.threshold,
            group.owner_keys,
            self._set_hash(group, session, packages),
            round2_set_hash(group.group_id, session.name, envelopes),
        )

    def submit_round1(
        self, group_id: str, owner: bytes, session: str, package: bytes, signature: bytes
    ) -> Group:
        """Part one: ``package`` is a :class:`frost.Round1Package` encoding, signed by ``owner``."""
        package = _blob(package, "the part-one package")
        signature = _blob(signature, "the signature")

        def body(request: _Request) -> Group:
            group = self._group(group_id)
            me = self._member(group, owner)
            current = self._session(group, session)
            if self._check_signed_message(
                group,
                current,
                "round1",
                me.key,
                package,
                signature,
                round1_statement(group_id, current.name, package),
                already="this owner already sent a part-one package",
                unsigned="the part-one package is not signed by its owner's identity key",
            ):
                return group
            decoded = frost.Round1Package.from_bytes(package)
            if decoded.suite is not SUITE:
                raise InvalidSubmission(f"the group uses FROST({SUITE.name}); wrong ciphersuite")
            expected = group.threshold if current.kind == "dkg" else group.threshold - 1
            if len(decoded.commitment) != expected:
                raise InvalidKeygenPackage(
                    f"the package commits to {len(decoded.commitment)} coefficients; "
                    f"this {current.kind} needs {expected}",
                    [_culprit(me)],
                )
            try:
                verify_proof_of_knowledge(
                    SUITE,
                    frost.Identifier(me.identifier),
                    decoded.commitment[0],
                    decoded.proof_of_knowledge,
                    proven_key=SUITE.group.identity if current.kind == "refresh" else None,
                )
            except frost.InvalidProofOfKnowledge:
                raise InvalidKeygenPackage(
                    "the part-one proof of knowledge does not verify", [_culprit(me)]
                ) from None
            self._store.add_keygen_message(
                KeygenMessage(
                    group_id, current.name, "round1", me.key, b"", package, signature, request.now
                )
            )
            received = len(self._messages(group, current, "round1"))
            group, current = self._record_progress(group, current, received, "echo")
            self._emit_progress(request, group, current, "round1", me.key, received)
            return group

        return self._run(body)

    def round1_packages(
        self, group_id: str, owner: bytes, session: str
    ) -> dict[bytes, SignedPackage]:
        """Every owner's part-one package and signature, in owner order, once all are in."""
        group = self._group(group_id)
        self._member(group, owner)
        current = self._readable_session(group, session, "round1")
        messages = self._round1_packages(group, current)
        return {k: SignedPackage(messages[k].body, messages[k].signature) for k in group.owner_keys}

    def submit_echo(
        self,
        group_id: str,
        owner: bytes,
        session: str,
        set_hash: bytes,
        signature: bytes,
        evidence: Mapping[bytes, SignedPackage] | None = None,
    ) -> Group:
        """The echo round: the hash of the part-one set ``owner`` received, signed.

        ``evidence`` (the packages as received) is read only on a mismatch, to
        name who equivocated: a sender whose signature is on two different
        packages. Without such proof the echoing owner is named.
        """
        set_hash = _blob(set_hash, "the set hash")
        signature = _blob(signature, "the signature")

        def body(request: _Request) -> Group:
            group = self._group(group_id)
            me = self._member(group, owner)
            current = self._session(group, session)
            if self._check_signed_message(
                group,
                current,
                "echo",
                me.key,
                set_hash,
                signature,
                echo_statement(group_id, current.name, set_hash),
                already="this owner already sent its echo",
                unsigned="the echo is not signed by its owner's identity key",
            ):
                return group
            packages = {k: m.body for k, m in self._round1_packages(group, current).items()}
            self._store.add_keygen_message(
                KeygenMessage(
                    group_id,
                    current.name,
                    "echo",
                    me.key,
                    b"",
                    set_hash,
                    signature,
                    request.now,
                )
            )
            if set_hash != self._set_hash(group, current, packages):
                culprits = self._equivocators(group, current, packages, evidence) or [_culprit(me)]
                return self._fail_keygen(
                    request,
                    group,
                    current,
                    EchoMismatch(
                        f"owner {short_key(me.key)} received a different set of part-one "
                        "packages; the DKG is aborted for everyone",
                        culprits,
                        me.key,
                    ),
                )
            received = len(self._messages(group, current, "echo"))
            group, current = self._record_progress(group, current, received, "round2")
            self._emit_progress(request, group, current, "echo", me.key, received)
            return group

        return self._run(body)

    def _equivocators(
        self,
        group: Group,
        session: KeygenSession,
        packages: Mapping[bytes, bytes],
        evidence: Mapping[bytes, SignedPackage] | None,
    ) -> list[tuple[bytes, int]]:
        proven: list[tuple[bytes, int]] = []
        for sender, shown in (evidence or {}).items():
            info = group.owner(bytes(sender))
            if info is None or not isinstance(shown, SignedPackage):
                continue
            if shown.package == packages.get(info.key):
                continue
            try:
                verify_identity_signature(
                    info.key,
                    round1_statement(group.group_id, session.name, shown.package),
                    shown.signature,
                )
            except InvalidIdentitySignature:
                continue
            proven.append(_culprit(info))
        return proven

    def submit_round2(
        self, group_id: str, owner: bytes, session: str, envelopes: Sequence[bytes]
    ) -> Group:
        """Part two: one signed envelope (:mod:`cosigner.multisig.e2e`) per other owner."""
        envelopes = [_blob(e, "an envelope") for e in envelopes]

        def body(request: _Request) -> Group:
            group = self._group(group_id)
            me = self._member(group, owner)
            current = self._session(group, session)
            mine = [m for m in self._messages(group, current, "round2") if m.sender == me.key]
            if mine:
                if sorted(m.body for m in mine) == sorted(envelopes):
                    return group
                raise AlreadySubmitted("this owner already sent its part-two envelopes")
            self._require_stage(current, "round2")
            others = {k for k in group.owner_keys if k != me.key}
            decoded: dict[bytes, bytes] = {}
            for raw in envelopes:
                envelope = Envelope.from_bytes(raw)
                if (
                    envelope.group_id != group_id
                    or envelope.round != envelope_round(current.name)
                    or envelope.sender != me.key
                ):
                    raise InvalidSubmission(
                        "an envelope is not from this owner for this group and round"
                    )
                if envelope.recipient not in others or envelope.recipient in decoded:
                    raise InvalidSubmission("each other owner gets exactly one envelope")
                envelope.verify_signature()
                decoded[envelope.recipient] = raw
            if set(decoded) != others:
                raise InvalidSubmission(
                    f"expected {len(others)} envelopes, one per other owner; got {len(decoded)}"
                )
            for recipient, raw in decoded.items():
                self._store.add_keygen_message(
                    KeygenMessage(
                        group_id, current.name, "round2", me.key, recipient, raw, b"", request.now
                    )
                )
            senders = {m.sender for m in self._messages(group, current, "round2")}
            group, current = self._record_progress(group, current, len(senders), "confirm")
            self._emit_progress(request, group, current, "round2", me.key, len(senders))
            return group

        return self._run(body)

    def round2_envelopes(self, group_id: str, owner: bytes, session: str) -> list[bytes]:
        """Every part-two envelope of the session (ciphertext only), once all owners sent theirs."""
        group = self._group(group_id)
        self._member(group, owner)
        current = self._readable_session(group, session, "round2")
        return [m.body for m in self._messages(group, current, "round2")]

    def submit_confirmation(
        self,
        group_id: str,
        owner: bytes,
        session: str,
        group_public_key: bytes,
        transcript: bytes,
        signature: bytes,
    ) -> Group:
        """The final round: ``owner``'s signature over the group key and the transcript hash."""
        group_public_key = _blob(group_public_key, "the group public key")
        transcript = _blob(transcript, "the transcript hash")
        signature = _blob(signature, "the signature")

        def body(request: _Request) -> Group:
            group = self._group(group_id)
            me = self._member(group, owner)
            current = self._session(group, session)
            claim = group_public_key + transcript
            if self._check_signed_message(
                group,
                current,
                "confirm",
                me.key,
                claim,
                signature,
                confirm_statement(group_id, current.name, group_public_key, transcript),
                already="this owner already confirmed",
                unsigned="the confirmation is not signed by its owner's identity key",
            ):
                return group
            public = self._session_public_key_package(group, current)
            expected_key = public.verifying_key.to_bytes()
            if group_public_key != expected_key or transcript != self._transcript(group, current):
                return self._fail_keygen(
                    request,
                    group,
                    current,
                    ConfirmationMismatch(
                        f"owner {short_key(me.key)} confirmed a group key or transcript other "
                        "than the one the rounds produced",
                        [_culprit(me)],
                        me.key,
                    ),
                )
            self._store.add_keygen_message(
                KeygenMessage(
                    group_id, current.name, "confirm", me.key, b"", claim, signature, request.now
                )
            )
            received = len(self._messages(group, current, "confirm"))
            self._emit_progress(request, group, current, "confirm", me.key, received)
            if received < len(group.owners):
                return self._store.update_group(group)  # see _record_progress
            group = self._store.update_group(
                replace(
                    group,
                    status="active",
                    epoch=current.epoch,
                    session=None,
                    public_key_package=public.to_bytes(),
                    group_public_key=expected_key,
                    failure=None,
                )
            )
            if current.kind == "dkg":
                request.emit(
                    "group_active",
                    group.group_id,
                    group_public_key=expected_key.hex(),
                    epoch=group.epoch,
                )
            else:
                request.emit(
                    "refresh_completed",
                    group.group_id,
                    session=current.name,
                    epoch=group.epoch,
                    group_public_key=expected_key.hex(),
                )
            return group

        return self._run(body)

    def report_bad_share(
        self, group_id: str, owner: bytes, session: str, accused: bytes, envelope_key: bytes
    ) -> Failure:
        """A complaint: the share ``accused`` sent ``owner`` is bad; ``envelope_key`` proves it.

        The DKG (or refresh) fails for every owner. The coordinator opens that
        one envelope with the revealed key and checks the share against the
        accused's commitment: a bad share names the accused, a good one names
        the complainer; a key that does not open the envelope names both (the
        coordinator cannot tell a garbled envelope from a wrong key).
        """
        accused = _blob(accused, "the accused owner's key")
        envelope_key = _blob(envelope_key, "the envelope key")

        def body(request: _Request) -> Failure:
            group = self._group(group_id)
            me = self._member(group, owner)
            current = self._session(group, session)
            self._require_stage(current, "confirm")
            if self._own_message(group, current, "confirm", me.key) is not None:
                raise AlreadySubmitted("this owner already confirmed the shares it received")
            them = self._member(group, accused)
            if them.key == me.key:
                raise InvalidSubmission("an owner cannot complain about its own share")
            found = [
                m
                for m in self._messages(group, current, "round2")
                if m.sender == them.key and m.recipient == me.key
            ]
            if not found:  # pragma: no cover - the stage guarantees every envelope is in
                raise InvalidSubmission("no envelope from the accused owner to this one")
            envelope = Envelope.from_bytes(found[0].body)
            culprits: list[OwnerInfo]
            try:
                plaintext = open_with_key(envelope, envelope_key)
            except InvalidEnvelope:
                culprits = [them, me]
                why = "the revealed key does not open the envelope: one of them is at fault"
            else:
                culprits, why = self._judge_share(group, current, them, me, plaintext)
            error = BadKeygenShare(
                f"owner {short_key(me.key)} complained about the share from "
                f"{short_key(them.key)}; {why}; the {current.kind} is aborted for everyone",
                [_culprit(o) for o in culprits],
                me.key,
            )
            group = self._fail_keygen(request, group, current, error)
            request.deferred = None  # the complaint itself succeeded
            failure = group.failure if current.kind == "dkg" else group.last_refresh_failure
            assert failure is not None
            return failure

        return self._run(body)

    def _judge_share(
        self,
        group: Group,
        session: KeygenSession,
        sender: OwnerInfo,
        recipient: OwnerInfo,
        plaintext: bytes,
    ) -> tuple[list[OwnerInfo], str]:
        try:
            package = frost.Round2Package.from_bytes(plaintext)
        except DecodeError:
            return [sender], "the envelope does not hold a part-two package"
        if package.suite is not SUITE:
            return [sender], "the envelope holds a package of another ciphersuite"
        commitment = self._commitments(group, session)[frost.Identifier(sender.identifier)]
        try:
            verify_received_share(
                SUITE,
                frost.Identifier(recipient.identifier),
                frost.Identifier(sender.identifier),
                package.signing_share,
                commitment,
            )
        except frost.InvalidSecretShare:
            return [sender], "the share does not match the sender's commitment"
        return [recipient], "the share matches the sender's commitment, so the complaint is false"

    def start_refresh(self, group_id: str, owner: bytes) -> Group:
        """Open a refresh session (new shares, same group key) that every owner completes."""

        def body(request: _Request) -> Group:
            group = self._group(group_id)
            me = self._member(group, owner)
            if group.status != "active" or group.session is not None:
                raise WrongGroupState(
                    f"only an active group can be refreshed (this one is {group.status})"
                )
            signing = self._store.list_proposals(group_id, ["signing"])
            if signing:
                raise WrongGroupState(
                    f"{len(signing)} proposals have a fixed signing package; let them finish, "
                    "cancel them, or let them expire before a refresh"
                )
            epoch = group.epoch + 1
            # A fresh name per attempt: a failed refresh's messages never mix with a retry's.
            name = f"refresh-{epoch}-{self._rng(4).hex()}"
            session = KeygenSession(name, "refresh", epoch, "round1", me.key, request.now)
            group = self._store.update_group(
                replace(group, status="refreshing", session=session, last_refresh_failure=None)
            )
            request.emit(
                "refresh_started",
                group.group_id,
                session=session.name,
                epoch=epoch,
                started_by=me.key.hex(),
            )
            self._emit_progress(request, group, session, "round1", None, 0)
            return group

        return self._run(body)

    # -- proposals --------------------------------------------------------------------------

    def _active_group(self, group_id: str, owner: bytes) -> tuple[Group, OwnerInfo]:
        group = self._group(group_id)
        me = self._member(group, owner)
        if group.status == "failed" and group.failure is not None:
            raise group.failure.to_error()
        if group.status != "active":
            raise WrongGroupState(
                f"the group is {group.status}; proposals are signed by an active group"
            )
        return group, me

    def _ttl(self, ttl_ms: int | None) -> int:
        if ttl_ms is None:
            return self._proposal_ttl_ms
        if type(ttl_ms) is not int or not 0 < ttl_ms <= self._proposal_ttl_ms:
            raise InvalidSubmission(f"ttl_ms must be from 1 to {self._proposal_ttl_ms}")
        return ttl_ms

    def propose_transfer(
        self,
        group_id: str,
        proposer: bytes,
        to: str,
        amount: int,
        *,
        nonce: int | None = None,
        ttl_ms: int | None = None,
    ) -> Proposal:
        """Propose the reference ledger's ``transfer {to, amount}``."""
        transfer = Transfer(to, amount)
        return self.propose_operation(
            group_id, proposer, OPERATION_TRANSFER, transfer.to_bytes(), nonce=nonce, ttl_ms=ttl_ms
        )

    def propose_operation(
        self,
        group_id: str,
        proposer: bytes,
        operation_type: str,
        operation_data: bytes,
        *,
        nonce: int | None = None,
        ttl_ms: int | None = None,
    ) -> Proposal:
        """Propose a ``ThresholdMessage`` at the group's next nonce (or a later ``nonce``)."""
        operation_data = _blob(operation_data, "the operation data")
        if operation_type not in self._operation_types:
            raise InvalidOperation(
                f"unknown operation type {operation_type!r} "
                f"(known: {', '.join(self._operation_types)})"
            )
        if operation_type == OPERATION_TRANSFER:
            try:
                Transfer.from_bytes(operation_data)
            except DecodeError as exc:
                raise InvalidOperation(exc.message) from None
        lifetime = self._ttl(ttl_ms)

        def body(request: _Request) -> Proposal:
            group, me = self._active_group(group_id, proposer)
            chosen = group.next_nonce if nonce is None else nonce
            if type(chosen) is not int:
                raise InvalidOperation("the nonce must be an integer")
            if chosen < group.next_nonce:
                raise NonceAlreadyUsed(
                    f"nonce {chosen} was already executed; the group's next nonce is "
                    f"{group.next_nonce}"
                )
            message = ThresholdMessage(chosen, operation_type, bytes(operation_data))
            ui_model = operation_ui_model(message)
            proposal = Proposal(
                proposal_id=self._new_id("p_"),
                group_id=group_id,
                proposer=me.key,
                kind="operation",
                message=message.to_bytes(),
                ui_model=ui_model,
                created_at=request.now,
                expires_at=request.now + lifetime,
                key_epoch=group.epoch,
                nonce=chosen,
                operation_type=operation_type,
            )
            return self._insert_proposal(request, proposal)

        return self._run(body)

    def _insert_proposal(self, request: _Request, proposal: Proposal) -> Proposal:
        proposal = self._store.insert_proposal(proposal)
        request.emit(
            "proposal_created",
            proposal.group_id,
            proposal.proposal_id,
            kind=proposal.kind,
            nonce=None if proposal.nonce is None else str(proposal.nonce),
            proposer=proposal.proposer.hex(),
            summary=proposal.ui_model.get("summary"),
            expires_at=proposal.expires_at,
        )
        return proposal

    def _build_intent(self, chain: str, kind: str, payload: Mapping[str, Any]) -> SigningIntent:
        adapter = self._adapters.get(chain)
        if adapter is None:
            raise InvalidSubmission(
                f"unknown chain {chain!r} (known: {', '.join(sorted(self._adapters))})"
            )
        return adapter.build_intent(kind, payload)

    def propose_intent(
        self,
        group_id: str,
        proposer: bytes,
        chain: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        ttl_ms: int | None = None,
    ) -> Proposal:
        """Propose a chain intent (a Solana or NEAR transaction, message, ...) for the group key."""
        intent = self._build_intent(chain, kind, payload)
        if len(intent.sign_requests) != 1:
            raise InvalidSubmission(
                f"this {chain} {kind} needs {len(intent.sign_requests)} signatures; "
                "a group signs with its one key"
            )
        (request_,) = intent.sign_requests
        if request_.algorithm != "ed25519":
            raise InvalidSubmission(f"the group signs Ed25519, this asks for {request_.algorithm}")
        lifetime = self._ttl(ttl_ms)

        def body(request: _Request) -> Proposal:
            group, me = self._active_group(group_id, proposer)
            signer = intent_signer(intent)
            if signer is not None and signer != group.group_public_key:
                raise InvalidSubmission(
                    f"this {chain} {kind} is to be signed by another key than the group's"
                )
            proposal = Proposal(
                proposal_id=self._new_id("p_"),
                group_id=group_id,
                proposer=me.key,
                kind="intent",
                message=request_.message,
                ui_model=dict(intent.ui_model),
                created_at=request.now,
                expires_at=request.now + lifetime,
                key_epoch=group.epoch,
                chain=chain,
                intent_kind=kind,
            )
            return self._insert_proposal(request, proposal)

        return self._run(body)

    def get_proposal(self, proposal_id: str, owner: bytes) -> Proposal:
        """The proposal as of now (a live one past its expiry reads as ``expired``)."""
        proposal = self._proposal(proposal_id)
        self._member(self._group(proposal.group_id), owner)
        return self._as_of(proposal, self._clock())

    def list_proposals(
        self, group_id: str, owner: bytes, statuses: Sequence[str] | None = None
    ) -> list[Proposal]:
        group = self._group(group_id)
        self._member(group, owner)
        now = self._clock()
        seen = [self._as_of(p, now) for p in self._store.list_proposals(group_id)]
        return [p for p in seen if statuses is None or p.status in statuses]

    @staticmethod
    def _as_of(proposal: Proposal, now: int) -> Proposal:
        if proposal.live and now >= proposal.expires_at:
            return replace(proposal, status="expired", status_reason="expired")
        return proposal

    def _expire(self, request: _Request, proposal: Proposal) -> Proposal:
        proposal = self._store.update_proposal(
            replace(proposal, status="expired", status_reason="expired", finished_at=request.now)
        )
        request.emit(
            "proposal_expired",
            proposal.group_id,
            proposal.proposal_id,
            expires_at=proposal.expires_at,
        )
        return proposal

    def _live_proposal(
        self, request: _Request, proposal_id: str, owner: bytes, *, signing: bool = True
    ) -> tuple[Proposal, Group, OwnerInfo] | Proposal:
        """The proposal, its group and the owner, if it is live; else the recorded outcome."""
        proposal = self._proposal(proposal_id)
        group = self._group(proposal.group_id)
        me = self._member(group, owner)
        if proposal.live and request.now >= proposal.expires_at:
            expired = self._expire(request, proposal)
            request.fail_after_commit(ProposalExpired("the proposal expired before it was signed"))
            return expired
        if not proposal.live:
            if proposal.status == "expired":
                raise ProposalExpired("the proposal expired before it was signed")
            raise ProposalFinished(f"the proposal is {proposal.status}; nothing more can be added")
        if signing and group.status != "active":
            raise WrongGroupState(f"the group is {group.status}; signing waits until it is active")
        return proposal, group, me

    def submit_commitment(self, proposal_id: str, owner: bytes, commitments: bytes) -> Proposal:
        """Round one: ``owner``'s :class:`frost.SigningCommitments`; the package is fixed at m."""
        commitments = _blob(commitments, "the commitments")

        def body(request: _Request) -> Proposal:
            found = self._live_proposal(request, proposal_id, owner)
            if isinstance(found, Proposal):
                return found
            proposal, group, me = found
            if me.key in proposal.excluded:
                raise NotASigner(
                    "this owner sent an invalid share and is excluded from this proposal"
                )
            existing = proposal.commitment_of(me.key)
            if existing is not None:
                if existing == commitments:
                    return proposal
                raise AlreadySubmitted("this owner already committed for this attempt")
            if proposal.status == "signing":
                raise SigningPackageFixed(
                    "the threshold of commitments is already in; the signing package is fixed"
                )
            decoded = frost.SigningCommitments.from_bytes(commitments)
            if decoded.suite is not SUITE:
                raise InvalidSubmission(f"the group signs with FROST({SUITE.name})")
            canonical = decoded.to_bytes()
            digest = hashlib.sha256(canonical).digest()
            if not self._store.claim_commitment(group.group_id, digest, proposal_id):
                raise CommitmentReused(
                    "these commitments were already used; run round one again for fresh nonces"
                )
            pairs = (*proposal.commitments, (me.key, canonical))
            proposal = replace(proposal, commitments=pairs)
            fixed = len(pairs) == group.threshold
            if fixed:
                by_id = {}
                for key, raw in pairs:
                    info = group.owner(key)
                    assert info is not None
                    by_id[frost.Identifier(info.identifier)] = frost.SigningCommitments.from_bytes(
                        raw
                    )
                package = frost.SigningPackage(SUITE, by_id, proposal.message)
                proposal = replace(
                    proposal,
                    status="signing",
                    signing_package=package.to_bytes(),
                    key_epoch=group.epoch,
                )
            proposal = self._store.update_proposal(proposal)
            request.emit(
                "commitment_added",
                proposal.group_id,
                proposal.proposal_id,
                owner=me.key.hex(),
                received=len(pairs),
                threshold=group.threshold,
                attempt=proposal.attempt,
                signing_package_fixed=fixed,
            )
            return proposal

        return self._run(body)

    def submit_signature_share(self, proposal_id: str, owner: bytes, share: bytes) -> Proposal:
        """Round two: verified on arrival; aggregated, verified and ``ready`` at the threshold."""
        share = _blob(share, "the signature share")

        def body(request: _Request) -> Proposal:
            found = self._live_proposal(request, proposal_id, owner)
            if isinstance(found, Proposal):
                return found
            proposal, group, me = found
            if proposal.status != "signing" or proposal.signing_package is None:
                if me.key in proposal.excluded:
                    raise NotASigner("this owner sent an invalid share and is excluded")
                raise SigningPackageNotReady(
                    f"{len(proposal.commitments)} of {group.threshold} commitments are in; "
                    "shares come once the signing package is fixed"
                )
            if me.key not in proposal.signers:
                raise NotASigner("this owner is not in the fixed signing package")
            existing = proposal.share_of(me.key)
            if existing is not None:
                if existing == share:
                    return proposal
                raise AlreadySubmitted("this owner already sent its signature share")
            decoded = frost.SignatureShare.from_bytes(share)
            if decoded.suite is not SUITE:
                raise InvalidSubmission(f"the group signs with FROST({SUITE.name})")
            assert group.public_key_package is not None
            public = frost.PublicKeyPackage.from_bytes(group.public_key_package)
            package = frost.SigningPackage.from_bytes(proposal.signing_package)
            try:
                frost.verify_signature_share(package, me.identifier, decoded, public)
            except frost.InvalidSignatureShare:
                return self._reject_share(request, proposal, group, me)
            shares = (*proposal.shares, (me.key, decoded.to_bytes()))
            proposal = replace(proposal, shares=shares)
            if len(shares) < group.threshold:
                proposal = self._store.update_proposal(proposal)
                request.emit(
                    "share_added",
                    proposal.group_id,
                    proposal.proposal_id,
                    owner=me.key.hex(),
                    received=len(shares),
                    threshold=group.threshold,
                    attempt=proposal.attempt,
                )
                return proposal
            return self._complete(request, proposal, group, package, public, me)

        return self._run(body)

    def _reject_share(
        self, request: _Request, proposal: Proposal, group: Group, me: OwnerInfo
    ) -> Proposal:
        excluded = (*proposal.excluded, me.key)
        rejections = (
            *proposal.rejections,
            Rejection(me.key, proposal.attempt, "invalid_signature_share"),
        )
        eligible = [k for k in group.owner_keys if k not in excluded]
        if len(eligible) < group.threshold:
            proposal = replace(
                proposal,
                status="failed",
                excluded=excluded,
                rejections=rejections,
                status_reason="too few owners left after excluding invalid shares",
                finished_at=request.now,
            )
        else:
            proposal = replace(
                proposal,
                status="collecting",
                attempt=proposal.attempt + 1,
                commitments=(),
                shares=(),
                signing_package=None,
                excluded=excluded,
                rejections=rejections,
            )
        proposal = self._store.update_proposal(proposal)
        request.emit(
            "share_rejected",
            proposal.group_id,
            proposal.proposal_id,
            owner=me.key.hex(),
            code="invalid_signature_share",
            attempt=proposal.attempt,
            status=proposal.status,
        )
        if proposal.status == "failed":
            request.emit(
                "proposal_failed",
                proposal.group_id,
                proposal.proposal_id,
                reason=proposal.status_reason,
            )
        request.fail_after_commit(
            SignatureShareRejected(
                "the signature share does not verify; its owner is excluded from this proposal"
                + (
                    " and signing restarts with fresh commitments from the others"
                    if proposal.status == "collecting"
                    else ", and too few owners are left to sign it"
                ),
                [_culprit(me)],
            )
        )
        return proposal

    def _complete(
        self,
        request: _Request,
        proposal: Proposal,
        group: Group,
        package: frost.SigningPackage,
        public: frost.PublicKeyPackage,
        me: OwnerInfo,
    ) -> Proposal:
        shares = {}
        for key, raw in proposal.shares:
            info = group.owner(key)
            assert info is not None
            shares[frost.Identifier(info.identifier)] = frost.SignatureShare.from_bytes(raw)
        signature = frost.aggregate(package, shares, public)
        frost.verify(SUITE, public.verifying_key, proposal.message, signature)
        result: dict[str, Any] | None = None
        if proposal.kind == "intent":
            assert proposal.chain is not None and proposal.intent_kind is not None
            try:
                intent = self._build_intent(
                    proposal.chain, proposal.intent_kind, proposal.ui_model["fields"]
                )
                if intent.sign_requests[0].message != proposal.message:
                    raise InvalidSubmission("the intent no longer rebuilds to the signed bytes")
                finalized = intent.finalize([signature])
            except CosignerError as exc:
                proposal = self._store.update_proposal(
                    replace(
                        proposal,
                        status="failed",
                        signature=signature,
                        status_reason=f"{exc.code}: {exc.message}",
                        finished_at=request.now,
                    )
                )
                request.emit(
                    "proposal_failed",
                    proposal.group_id,
                    proposal.proposal_id,
                    reason=proposal.status_reason,
                )
                return proposal
            result = {
                "chain": finalized.chain,
                "kind": finalized.kind,
                "raw": None if finalized.raw is None else finalized.raw.hex(),
                "hash": finalized.hash,
                "extra": dict(finalized.extra),
            }
        proposal = self._store.update_proposal(
            replace(proposal, status="ready", signature=signature, result=result)
        )
        request.emit(
            "share_added",
            proposal.group_id,
            proposal.proposal_id,
            owner=me.key.hex(),
            received=len(shares),
            threshold=group.threshold,
            attempt=proposal.attempt,
        )
        request.emit(
            "proposal_ready",
            proposal.group_id,
            proposal.proposal_id,
            signature=signature.hex(),
            nonce=None if proposal.nonce is None else str(proposal.nonce),
            result=result,
        )
        return proposal

    def record_execution(
        self, proposal_id: str, reporter: bytes | None, execution_ref: str | None = None
    ) -> Proposal:
        """Record that a ``ready`` proposal was executed (on the ledger or the chain).

        For an operation this advances the group's next nonce and supersedes
        every other proposal for that nonce. ``reporter`` is the owner who
        reports it, or None when the server itself submitted it.
        """

        def body(request: _Request) -> Proposal:
            proposal = self._proposal(proposal_id)
            group = self._group(proposal.group_id)
            if reporter is not None:
                self._member(group, reporter)
            if proposal.status != "ready":
                raise ProposalFinished(
                    f"the proposal is {proposal.status}; only a ready proposal can be executed"
                )
            if proposal.kind == "operation":
                assert proposal.nonce is not None
                if proposal.nonce < group.next_nonce:
                    raise NonceAlreadyUsed(f"nonce {proposal.nonce} was already executed")
                if proposal.nonce > group.next_nonce:
                    raise InvalidSubmission(
                        f"nonce {proposal.nonce} cannot execute before nonce {group.next_nonce}"
                    )
                group = self._store.update_group(replace(group, next_nonce=proposal.nonce + 1))
                for other in self._store.list_proposals(group.group_id, [*LIVE_STATUSES, "ready"]):
                    if other.proposal_id == proposal_id or other.nonce != proposal.nonce:
                        continue
                    self._store.update_proposal(
                        replace(
                            other,
                            status="cancelled",
                            status_reason="superseded",
                            finished_at=request.now,
                        )
                    )
                    request.emit(
                        "proposal_cancelled",
                        other.group_id,
                        other.proposal_id,
                        reason="superseded",
                        nonce=str(other.nonce),
                    )
            proposal = self._store.update_proposal(
                replace(
                    proposal,
                    status="executed",
                    execution_ref=execution_ref,
                    finished_at=request.now,
                )
            )
            request.emit(
                "proposal_executed",
                proposal.group_id,
                proposal.proposal_id,
                nonce=None if proposal.nonce is None else str(proposal.nonce),
                execution_ref=execution_ref,
            )
            return proposal

        return self._run(body)

    def cancel_proposal(self, proposal_id: str, owner: bytes) -> Proposal:
        """The proposer withdraws its live proposal (a ready one has a signature: too late)."""

        def body(request: _Request) -> Proposal:
            found = self._live_proposal(request, proposal_id, owner, signing=False)
            if isinstance(found, Proposal):
                return found
            proposal, _, me = found
            if proposal.proposer != me.key:
                raise NotTheProposer("only the proposer can cancel a proposal")
            proposal = self._store.update_proposal(
                replace(
                    proposal,
                    status="cancelled",
                    status_reason="cancelled_by_proposer",
                    finished_at=request.now,
                )
            )
            request.emit(
                "proposal_cancelled",
                proposal.group_id,
                proposal.proposal_id,
                reason="cancelled_by_proposer",
                nonce=None if proposal.nonce is None else str(proposal.nonce),
            )
            return proposal

        return self._run(body)

    def expire_due(self) -> list[str]:
        """Mark every live proposal past its expiry ``expired``; returns their ids."""

        def body(request: _Request) -> list[str]:
            return [
                self._expire(request, p).proposal_id
                for p in self._store.expiring_proposals(request.now)
            ]

        return self._run(body)

    def __repr__(self) -> str:
        return f"Coordinator(store={self._store!r})"


def intent_signer(intent: SigningIntent) -> bytes | None:
    """The Ed25519 key an intent's finalize will check the signature against, if it names one."""
    fields = intent.ui_model.get("fields", {})
    try:
        if intent.chain == "solana":
            key = fields["account_keys"][0] if intent.kind == "transaction" else fields["signer"]
            return bytes(base58.b58decode(key))
        if intent.chain == "near":
            text = fields.get("public_key")
            if not isinstance(text, str) or not text.startswith("ed25519:"):
                return None
            return bytes(base58.b58decode(text.removeprefix("ed25519:")))
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


__all__ = [
    "DEFAULT_CHALLENGE_TTL_MS",
    "DEFAULT_GROUP_PAGE",
    "DEFAULT_PROPOSAL_TTL_MS",
    "MAX_GROUP_PAGE",
    "MAX_OWNERS",
    "SUITE",
    "Clock",
    "Coordinator",
    "SignedPackage",
    "intent_signer",
    "owner_identifier",
    "system_clock",
]
