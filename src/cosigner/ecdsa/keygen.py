"""Distributed key generation, refresh and reshare: PedPop+ of near/threshold-signatures.

Follows docs/dkg.md ("Technical Details: Key Generation & Key Resharing"):
one core protocol, ``do_keyshare``, run three ways:

* :class:`Keygen` - every participant contributes a random secret;
* :class:`Reshare` - participants of the old set that stay (``I``) contribute
  ``lambda_i(I) * secret_i``, newcomers contribute 0 (and commit to a
  polynomial without a constant term, with no proof), and everyone checks
  that the public key is the old one; the new set and threshold may differ;
* :class:`Refresh` - reshare to the same participants and threshold.

Rounds of one session (``r`` is the message round number)::

    r0  1.2-1.3  broadcast sid_i (32 random bytes)
    r1  2.1-2.9  sid = H1(sid_1..sid_N); polynomial f_i, C_i = f_i * G,
                 proof of knowledge of f_i(0); broadcast (echo of every sid_j,
                 h_i = H2(i, C_i, sid))
    r2  3.1-3.2  check the echoes; broadcast (C_i, proof_i)
    r3  4.1-4.6  check proofs and h_j; pk = sum C_j(0) (+++ reshare: pk = OldPK);
                 broadcast the echo of every (C_j, proof_j); privately send f_i(j)
    r4  5.1-5.4  check the echoes and every f_j(i) * G = C_j(i); sk_i = sum f_j(i);
                 broadcast success
    r5  5.5      wait for every success; output (sk_i, pk)

Reliable broadcast. The specification sends ``sid_i`` and ``(C_i, proof_i)``
over an echo broadcast. Here every participant broadcasts, and in the next
round echoes a digest of every participant's value as it received it
(:mod:`cosigner.protocol.echo`); any difference aborts the session, naming
the sender whose broadcast was inconsistent. With unanimity required, this
gives the agreement the echo broadcast provides: all honest participants
continue with the same values, or all abort.

Proof of knowledge. Steps 2.5-2.7 and 4.2-4.3 are the Schnorr proof
``(R_i, s_i)`` with ``c_i = H3(sid, i, C_i(0), R_i)``; we send the
equivalent ``(e, s)`` form of our dlog proof (:mod:`cosigner.ecdsa.proofs`)
on the transcript ``("cosigner/ecdsa/dkg", sid)`` forked with ``("dlog0", i)``.
Hashes H1, H2 and the echo hashes are SHA-256 with distinct labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cosigner.ecdsa import math
from cosigner.ecdsa.math import G, N
from cosigner.ecdsa.proofs import Proof, Transcript, dlog_prove, dlog_verify
from cosigner.ecdsa.types import KeyShare
from cosigner.errors import DecodeError
from cosigner.groups import Element, RandomBytes, system_random
from cosigner.protocol.base import (
    BROADCAST,
    PRIVATE,
    Key,
    Outgoing,
    Protocol,
    normalize_participants,
    to_all,
    to_one,
)
from cosigner.protocol.codec import PayloadReader, PayloadWriter
from cosigner.protocol.echo import DIGEST_SIZE, broadcast_digest, check_echoes, echo_vector
from cosigner.protocol.errors import (
    CommitmentMismatchError,
    InconsistentConfirmationError,
    InvalidContributionError,
    InvalidParametersError,
    InvalidProofError,
    InvalidShareError,
    ProtocolCheckFailedError,
)

_LABEL = b"cosigner/ecdsa/dkg/v1/"

ROUND_SESSION_IDS = 0
ROUND_COMMITMENT_HASHES = 1
ROUND_COMMITMENTS = 2
ROUND_SHARES = 3
ROUND_SUCCESS = 4
LAST_ROUND = 5


def _hash(label: bytes, *parts: bytes) -> bytes:
    h = hashlib.sha256(_LABEL + label)
    for part in parts:
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def _encode_commitment(commitment: Sequence[Element]) -> bytes:
    """Coefficient commitments; a newcomer's identity constant term is left out."""
    points = commitment[1:] if commitment and commitment[0].is_identity else commitment
    return bytes([len(points)]) + b"".join(p.to_bytes() for p in points)


def _reveal_bytes(commitment: Sequence[Element], proof: Proof | None) -> bytes:
    """The round-2 broadcast: constant-term flag, coefficient commitments, proof."""
    has_constant = not commitment[0].is_identity
    w = PayloadWriter().u8(1 if has_constant else 0)
    w.points(commitment if has_constant else commitment[1:])
    if proof is not None:
        w.raw(proof.to_bytes())
    return w.to_bytes()


def validate_threshold(threshold: int, participants: Sequence[int]) -> None:
    """Step 1.1: ``2 <= threshold <= N``."""
    if type(threshold) is not int or not 2 <= threshold <= len(participants):
        raise InvalidParametersError(
            f"threshold must be between 2 and the number of participants ({len(participants)})"
        )


class _KeyShareProtocol(Protocol):
    """``do_keyshare`` of docs/dkg.md; see the module docstring."""

    STATE_FIELDS = (
        "threshold",
        "old_participants",
        "old_public_key",
        "contribution",
        "contributes_constant",
        "my_session_part",
        "sid",
        "polynomial",
        "commitments",
        "commitment_hashes",
        "proofs",
        "public_key",
        "sid_digests",
        "reveal_digests",
        "secret_share",
    )

    threshold: int
    old_participants: tuple[int, ...] | None
    old_public_key: bytes | None
    contribution: int
    contributes_constant: bool
    my_session_part: bytes | None
    sid: bytes | None
    polynomial: tuple[int, ...] | None
    commitments: dict[int, tuple[Element, ...]]
    commitment_hashes: dict[int, bytes]
    proofs: dict[int, tuple[int, int] | None]
    public_key: Element | None
    sid_digests: dict[int, bytes]
    reveal_digests: dict[int, bytes]
    secret_share: int | None

    def _setup(
        self,
        threshold: int,
        contribution: int,
        old_participants: tuple[int, ...] | None,
        old_public_key: bytes | None,
    ) -> None:
        validate_threshold(threshold, self.participants)
        self.threshold = threshold
        self.old_participants = old_participants
        self.old_public_key = old_public_key
        self.contribution = contribution % N
        # Newcomers to a reshare contribute zero and prove nothing (docs/dkg.md 2.3 +++).
        self.contributes_constant = old_participants is None or self.me in old_participants
        self.my_session_part = None
        self.sid = None
        self.polynomial = None
        self.commitments = {}
        self.commitment_hashes = {}
        self.proofs = {}
        self.public_key = None
        self.sid_digests = {}
        self.reveal_digests = {}
        self.secret_share = None

    def _contributes(self, participant: int) -> bool:
        return self.old_participants is None or participant in self.old_participants

    # -- rounds -----------------------------------------------------------------------

    def _expected(self, round: int) -> Iterable[Key]:
        keys = [(p, BROADCAST) for p in self.others]
        if round == ROUND_SHARES:
            keys += [(p, PRIVATE) for p in self.others]
        return keys if round < LAST_ROUND else ()

    def _start(self) -> list[Outgoing]:
        # Step 1.2-1.3
        self.my_session_part = self._random(32)
        return [to_all(self.my_session_part)]

    def _decode(self, round: int, sender: int, channel: int, payload: bytes) -> Any:
        r = PayloadReader(payload, f"{self.NAME} round {round}")
        value: Any
        if round == ROUND_SESSION_IDS:
            value = r.raw(32)
        elif round == ROUND_COMMITMENT_HASHES:
            value = (r.raw(DIGEST_SIZE * len(self.participants)), r.raw(32))
        elif round == ROUND_COMMITMENTS:
            has_constant = r.u8()
            if has_constant > 1:
                raise DecodeError(f"{r.what}: the constant-term flag must be 0 or 1")
            points = r.points(self.threshold - 1 + has_constant)
            proof = Proof.read(r) if has_constant else None
            value = (bool(has_constant), tuple(points), proof)
        elif round == ROUND_SHARES:
            value = (
                r.raw(DIGEST_SIZE * len(self.participants)) if channel == BROADCAST else r.scalar()
            )
        else:
            value = r.raw(32)
        r.finish()
        return value

    def _finish_round(self, round: int, messages: Mapping[Key, Any]) -> list[Outgoing]:
        broadcasts = self._by_sender(messages, BROADCAST)
        if round == ROUND_SESSION_IDS:
            return self._round_commit(broadcasts)
        if round == ROUND_COMMITMENT_HASHES:
            return self._round_reveal(broadcasts)
        if round == ROUND_COMMITMENTS:
            return self._round_deal(broadcasts)
        if round == ROUND_SHARES:
            return self._round_verify_shares(broadcasts, self._by_sender(messages, PRIVATE))
        self._round_success(broadcasts)
        return []

    def _transcript(self) -> Transcript:
        assert self.sid is not None
        return Transcript.new(b"cosigner/ecdsa/dkg").add(b"sid", self.sid)

    def _round_commit(self, parts: dict[int, bytes]) -> list[Outgoing]:
        assert self.my_session_part is not None
        parts = {**parts, self.me: self.my_session_part}
        self.sid_digests = {p: broadcast_digest(b"dkg/sid", p, v) for p, v in parts.items()}
        # Step 2.2: sid = H1(sid_1, ..., sid_N), bound to the session's public parameters.
        self.sid = _hash(
            b"sid",
            self.NAME.encode(),
            self.session_id,
            b"".join(p.to_bytes(4, "big") for p in self.participants),
            self.threshold.to_bytes(2, "big"),
            *(parts[p] for p in self.participants),
        )
        # Step 2.3: f_i of degree threshold - 1 with f_i(0) = the contribution.
        self.polynomial = math.random_polynomial(
            self.contribution, self.threshold - 1, self._random_scalar
        )
        # Step 2.4
        commitment = math.commit_polynomial(self.polynomial)
        self.commitments[self.me] = commitment
        # Steps 2.5-2.7
        if self.contributes_constant:
            proof = dlog_prove(
                self._transcript().cloned(b"dlog0", self.me.to_bytes(4, "big")),
                commitment[0],
                self.polynomial[0],
                self._random_scalar(),
            )
            self.proofs[self.me] = (proof.e, proof.s)
        else:
            self.proofs[self.me] = None
        # Step 2.8-2.9
        h = _hash(
            b"commitment", self.me.to_bytes(4, "big"), _encode_commitment(commitment), self.sid
        )
        self.commitment_hashes[self.me] = h
        return [to_all(echo_vector(self.sid_digests, self.participants) + h)]

    def _round_reveal(self, received: dict[int, tuple[bytes, bytes]]) -> list[Outgoing]:
        # Step 3.1, and the echo check of the round-0 (reliable) broadcast.
        check_echoes(
            "session-id contributions",
            self.me,
            self.participants,
            self.sid_digests,
            {sender: echo for sender, (echo, _) in received.items()},
        )
        for sender, (_, h) in received.items():
            self.commitment_hashes[sender] = h
        # Step 3.2
        proof = self.proofs[self.me]
        return [
            to_all(
                _reveal_bytes(self.commitments[self.me], None if proof is None else Proof(*proof))
            )
        ]

    def _round_deal(
        self, received: dict[int, tuple[bool, tuple[Element, ...], Proof | None]]
    ) -> list[Outgoing]:
        assert self.sid is not None and self.polynomial is not None
        transcript = self._transcript()
        for sender, (has_constant, points, proof) in received.items():
            # The shape follows the sender's role (docs/dkg.md, verify_proof_of_knowledge).
            if has_constant != self._contributes(sender):
                role = "an old participant" if self._contributes(sender) else "a newcomer"
                raise InvalidContributionError(
                    f"participant {sender} is {role} but sent a commitment of the wrong shape",
                    culprits=(sender,),
                )
            commitment = points if has_constant else (G.identity, *points)
            # Step 4.2-4.3
            if proof is not None and not dlog_verify(
                transcript.cloned(b"dlog0", sender.to_bytes(4, "big")), commitment[0], proof
            ):
                raise InvalidProofError(
                    f"participant {sender}'s proof of knowledge does not verify",
                    culprits=(sender,),
                )
            # Step 4.4
            expected = _hash(
                b"commitment", sender.to_bytes(4, "big"), _encode_commitment(commitment), self.sid
            )
            if expected != self.commitment_hashes[sender]:
                raise CommitmentMismatchError(
                    f"participant {sender}'s commitment does not match the hash it sent earlier",
                    culprits=(sender,),
                )
            self.commitments[sender] = commitment
            self.proofs[sender] = None if proof is None else (proof.e, proof.s)
            self.reveal_digests[sender] = broadcast_digest(
                b"dkg/commitment", sender, _reveal_bytes(commitment, proof)
            )
        mine = self.proofs[self.me]
        self.reveal_digests[self.me] = broadcast_digest(
            b"dkg/commitment",
            self.me,
            _reveal_bytes(self.commitments[self.me], None if mine is None else Proof(*mine)),
        )
        # Step 4.5
        public_key = G.sum(self.commitments[p][0] for p in self.participants)
        if public_key.is_identity:
            raise ProtocolCheckFailedError("the contributions sum to the identity: no key")
        if self.old_public_key is not None and public_key.to_bytes() != self.old_public_key:
            raise ProtocolCheckFailedError(
                "the reshared public key differs from the old one: some old participant "
                "contributed a wrong share"
            )
        self.public_key = public_key
        # Step 4.6, with the echo of the round-2 (reliable) broadcast.
        out = [to_all(echo_vector(self.reveal_digests, self.participants))]
        for p in self.others:
            out.append(to_one(p, math.evaluate_at(self.polynomial, p).to_bytes(32, "big")))
        return out

    def _round_verify_shares(
        self, echoes: dict[int, bytes], shares: dict[int, int]
    ) -> list[Outgoing]:
        assert self.polynomial is not None and self.sid is not None
        check_echoes(
            "polynomial commitments", self.me, self.participants, self.reveal_digests, echoes
        )
        # Steps 5.1-5.3
        total = math.evaluate_at(self.polynomial, self.me)
        for sender, share in shares.items():
            expected = math.evaluate_commitment_at(self.commitments[sender], self.me)
            if G.base_mul(share) != expected:
                raise InvalidShareError(
                    f"participant {sender}'s share for {self.me} is not on its "
                    "committed polynomial",
                    culprits=(sender,),
                )
            total = (total + share) % N
        self.secret_share = total
        # The polynomial is no longer needed; drop it from the state.
        self.polynomial = None
        # Step 5.4
        return [to_all(_hash(b"success", self.sid))]

    def _round_success(self, votes: dict[int, bytes]) -> None:
        assert self.sid is not None and self.public_key is not None
        assert self.secret_share is not None
        expected = _hash(b"success", self.sid)
        for sender, vote in votes.items():
            if vote != expected:
                raise InconsistentConfirmationError(
                    f"participant {sender} did not confirm success for this session",
                    culprits=(sender,),
                )
        self._finish(
            KeyShare(
                self.me,
                self.threshold,
                self.participants,
                self.public_key.to_bytes(),
                self.secret_share,
            )
        )


class Keygen(_KeyShareProtocol):
    """Distributed key generation: a fresh t-of-n secp256k1 key (docs/dkg.md)."""

    NAME = "ecdsa/keygen"

    def __init__(
        self,
        *,
        session_id: bytes,
        me: int,
        participants: Iterable[int],
        threshold: int,
        rng: RandomBytes = system_random,
    ) -> None:
        super().__init__(session_id=session_id, me=me, participants=participants, rng=rng)
        self._setup(threshold, self._random_scalar(), None, None)


class Reshare(_KeyShareProtocol):
    """Move a key to a new participant set and/or threshold; the public key stays.

    ``old_share`` is this participant's share of the old key, or ``None`` for
    a newcomer. ``old_participants``, ``old_threshold`` and ``public_key``
    describe the old key; every old participant that is also in
    ``participants`` must take part with its share, and there must be at least
    ``old_threshold`` of them.
    """

    NAME = "ecdsa/reshare"

    def __init__(
        self,
        *,
        session_id: bytes,
        me: int,
        participants: Iterable[int],
        threshold: int,
        old_share: KeyShare | None,
        old_participants: Iterable[int],
        old_threshold: int,
        public_key: bytes,
        rng: RandomBytes = system_random,
    ) -> None:
        super().__init__(session_id=session_id, me=me, participants=participants, rng=rng)
        old = normalize_participants(old_participants)
        staying = tuple(p for p in self.participants if p in old)
        if len(staying) < old_threshold:
            raise InvalidParametersError(
                f"only {len(staying)} of the old participants take part; "
                f"the old threshold is {old_threshold}"
            )
        if me in old:
            if old_share is None:
                raise InvalidParametersError(
                    f"participant {me} holds a share of the old key and must provide it"
                )
            if (
                old_share.participant_id != me
                or old_share.participants != old
                or old_share.threshold != old_threshold
                or old_share.public_key != public_key
            ):
                raise InvalidParametersError("the old key share does not match the old key")
            contribution = math.lagrange(staying, me) * old_share.secret_share % N
        else:
            if old_share is not None:
                raise InvalidParametersError(
                    f"participant {me} is not in the old participant set but provided a share"
                )
            contribution = 0
        G.decode_element(public_key)
        self._setup(threshold, contribution, old, public_key)


class Refresh(Reshare):
    """New shares of the same key for the same participants and threshold."""

    NAME = "ecdsa/refresh"

    def __init__(
        self, *, session_id: bytes, share: KeyShare, rng: RandomBytes = system_random
    ) -> None:
        super().__init__(
            session_id=session_id,
            me=share.participant_id,
            participants=share.participants,
            threshold=share.threshold,
            old_share=share,
            old_participants=share.participants,
            old_threshold=share.threshold,
            public_key=share.public_key,
            rng=rng,
        )


__all__ = ["Keygen", "Refresh", "Reshare", "validate_threshold"]
