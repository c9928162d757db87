"""Triple generation: Beaver triples ``a * b = c``, shared t-of-n, in batches.

Follows docs/ecdsa/ot_based_ecdsa/triples.md, "Triple Generation", rounds
1-5, with the pairwise ``Multiplication`` of :mod:`cosigner.ecdsa.ot` running
in parallel. One :class:`TripleGeneration` session makes ``count`` triples;
every pair of participants runs one base OT (``Triples-Setup``) for the whole
batch and one batched multiplication, never one per triple.

Message rounds (``r``), with the specification's steps::

    r0  round 1     T.Add(G, P, t); e, f, l of degree t-1 (l(0) = 0);
                    E_i, F_i, L_i; broadcast Com_i = Commit((E_i, F_i, L_i))
                    [pair setup: LOWER -> HIGHER base OT message]
    r1  round 2     Confirm = H(Com_1..Com_N); T.Add(Confirm); proofs
                    pi0 (dlog0), pi1 (dlog1); broadcast (Confirm, E_i, F_i,
                    L_i, r_i, pi0, pi1); privately send e(j), f(j)
                    [pair setup: HIGHER -> LOWER base OT reply]
    r2  round 3     assert every Confirm_j = Confirm; check every opening
                    and proof; a_i = sum a_j^i, b_i = sum b_j^i; assert
                    E(i) = a_i * G, F(i) = b_i * G; C_i = e(0) * F(0);
                    broadcast (C_i, pi) with pi a dlogeq0 proof
                    [multiplication, sid from Confirm: LOWER -> HIGHER U]
    r3-r6           check every dlogeq proof, C = sum C_j (round 4, 1-3);
                    the multiplication runs: challenge, check, MTA
                    ciphertexts, MTA challenge
    r7  round 4     l0 = e(0) f(0) + pair shares (4.4); C^_i = l0 * G with a
                    dlog2 proof, broadcast; privately send l0 + l(j)
    --  round 5     check proofs; L = sum (C^_j + L_j); assert C = L(0);
                    c_i = sum c_j^i; assert L(i) = c_i * G; return
                    ((a_i, b_i, c_i), (A, B, C))

Batching. ``Com``, openings, proofs and shares of all ``count`` triples
travel together in each message, and every proof's transcript is forked
with the prover's id and the triple's index.

Confirm. Each participant sends, as its ``Confirm_i``, the digest of every
participant's batch of commitments as it received them
(:mod:`cosigner.protocol.echo`), so a mismatch names the participant whose
broadcast was inconsistent; the hash of the session id and those digests,
``Confirm``, is what the transcript absorbs and what the multiplication's
session ids derive from.

Culprits. A wrong confirmation, an opening that does not match its
commitment, a proof that does not verify, a private share off its sender's
committed polynomial, and a failed OT extension consistency check all abort
naming the participant responsible. ``C = L(0)`` (round 5, step 4) can only
fail because some pairwise multiplication went wrong, which the
specification cannot attribute: it aborts with
:class:`~cosigner.protocol.errors.ProtocolCheckFailedError`.

Hashes: ``Confirm`` is SHA-256 over a label, the session id and every
commitment in (triple, participant) order; a pair's multiplication session
id is SHA-256 of a label, ``Confirm`` and both participant ids; triple ``k``
gets the id SHA-256(label, session id, Confirm, k).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from cosigner.ecdsa import math, ot
from cosigner.ecdsa.commitment import check_commitment, commit
from cosigner.ecdsa.errors import OtViolationError
from cosigner.ecdsa.keygen import validate_threshold
from cosigner.ecdsa.math import G, N
from cosigner.ecdsa.proofs import (
    Proof,
    Transcript,
    dlog_prove,
    dlog_verify,
    dlogeq_prove,
    dlogeq_verify,
)
from cosigner.ecdsa.types import Triple, TripleShare
from cosigner.groups import Element, RandomBytes, system_random
from cosigner.protocol.base import BROADCAST, PRIVATE, Key, Outgoing, Protocol, to_all, to_one
from cosigner.protocol.codec import PayloadReader, PayloadWriter
from cosigner.protocol.echo import DIGEST_SIZE, broadcast_digest, check_echoes, echo_vector
from cosigner.protocol.errors import (
    CommitmentMismatchError,
    InvalidParametersError,
    InvalidProofError,
    InvalidShareError,
    ProtocolCheckFailedError,
)

MAX_COUNT = ot.MAX_BATCH

R_COMMIT = 0
R_REVEAL = 1
R_PRODUCT = 2
R_OT_CHALLENGE = 3
R_OT_CHECK = 4
R_MTA_CIPHERTEXTS = 5
R_MTA_CHALLENGE = 6
R_FINAL = 7

_LABEL = b"cosigner/ecdsa/triples/v1/"
T = TypeVar("T")


def _u32(i: int) -> bytes:
    return i.to_bytes(4, "big")


def _points(points: Iterable[Element]) -> bytes:
    return b"".join(p.to_bytes() for p in points)


class TripleGeneration(Protocol):
    """One participant's session generating a batch of ``count`` triples."""

    NAME = "ecdsa/triples"
    STATE_FIELDS = (
        "threshold",
        "count",
        "transcript",
        "e_polys",
        "f_polys",
        "l_polys",
        "randomizers",
        "my_big_e",
        "my_big_f",
        "my_big_l",
        "commitments",
        "com_digests",
        "confirm",
        "big_e",
        "big_f",
        "big_l",
        "big_e_zero",
        "peer_big_l",
        "a",
        "b",
        "big_c",
        "l0",
        "ot_states",
    )

    threshold: int
    count: int
    transcript: Transcript
    e_polys: list[tuple[int, ...]]
    f_polys: list[tuple[int, ...]]
    l_polys: list[tuple[int, ...]]
    randomizers: list[bytes]
    my_big_e: list[tuple[Element, ...]]
    my_big_f: list[tuple[Element, ...]]
    my_big_l: list[tuple[Element, ...]]
    commitments: dict[int, bytes]
    com_digests: dict[int, bytes]
    confirm: bytes | None
    big_e: list[tuple[Element, ...]]
    big_f: list[tuple[Element, ...]]
    big_l: list[tuple[Element, ...]]
    big_e_zero: dict[int, list[Element]]
    peer_big_l: dict[int, list[tuple[Element, ...]]]
    a: list[int]
    b: list[int]
    big_c: list[Element]
    l0: list[int]
    ot_states: dict[int, bytes]

    def __init__(
        self,
        *,
        session_id: bytes,
        me: int,
        participants: Iterable[int],
        threshold: int,
        count: int = 1,
        rng: RandomBytes = system_random,
    ) -> None:
        super().__init__(session_id=session_id, me=me, participants=participants, rng=rng)
        validate_threshold(threshold, self.participants)
        if type(count) is not int or not 1 <= count <= MAX_COUNT:
            raise InvalidParametersError(f"a batch has 1 to {MAX_COUNT} triples")
        self.threshold = threshold
        self.count = count
        # Round 1, step 1: T.Add(G, P, t), with the session and batch size.
        self.transcript = (
            Transcript.new(b"cosigner/ecdsa/triples")
            .add(b"group", b"secp256k1")
            .add(b"participants", b"".join(_u32(p) for p in self.participants))
            .add(b"threshold", _u32(threshold))
            .add(b"session", session_id)
            .add(b"count", _u32(count))
        )
        self.e_polys, self.f_polys, self.l_polys = [], [], []
        self.randomizers = []
        self.my_big_e, self.my_big_f, self.my_big_l = [], [], []
        self.commitments = {}
        self.com_digests = {}
        self.confirm = None
        self.big_e, self.big_f, self.big_l = [], [], []
        self.big_e_zero = {}
        self.peer_big_l = {}
        self.a, self.b = [], []
        self.big_c = []
        self.l0 = []
        self.ot_states = {}

    # -- who sends what when -------------------------------------------------------------

    @property
    def lower_peers(self) -> tuple[int, ...]:
        """Peers below me: I am the HIGHER party of those pairs."""
        return tuple(p for p in self.others if p < self.me)

    @property
    def higher_peers(self) -> tuple[int, ...]:
        """Peers above me: I am the LOWER party of those pairs."""
        return tuple(p for p in self.others if p > self.me)

    def _expected(self, round: int) -> Iterable[Key]:
        everyone = [(p, BROADCAST) for p in self.others]
        from_lower = [(p, PRIVATE) for p in self.lower_peers]
        from_higher = [(p, PRIVATE) for p in self.higher_peers]
        if round in (R_COMMIT, R_PRODUCT):
            return everyone + from_lower
        if round in (R_REVEAL, R_FINAL):
            return everyone + [(p, PRIVATE) for p in self.others]
        if round in (R_OT_CHECK, R_MTA_CHALLENGE):
            return from_lower
        if round in (R_OT_CHALLENGE, R_MTA_CIPHERTEXTS):
            return from_higher
        return ()

    # -- decoding ------------------------------------------------------------------------

    def _decode(self, round: int, sender: int, channel: int, payload: bytes) -> Any:
        r = PayloadReader(payload, f"{self.NAME} round {round}")
        n, t = self.count, self.threshold
        value: Any
        if channel == BROADCAST:
            if round == R_COMMIT:
                value = r.raw(32 * n)
            elif round == R_REVEAL:
                confirm = r.raw(DIGEST_SIZE * len(self.participants))
                reveals = []
                for _ in range(n):
                    big_e = tuple(r.points(t))
                    big_f = tuple(r.points(t))
                    big_l = tuple(r.points(t - 1))
                    randomizer = r.raw(32)
                    reveals.append((big_e, big_f, big_l, randomizer, Proof.read(r), Proof.read(r)))
                value = (confirm, reveals)
            else:  # R_PRODUCT, R_FINAL: one point and one proof per triple
                value = [(r.point(), Proof.read(r)) for _ in range(n)]
        elif round == R_COMMIT:
            value = self._read_ot(r, ot.BaseOtSenderMessage.from_bytes)
        elif round == R_REVEAL:
            a_shares = r.scalars(n)
            b_shares = r.scalars(n)
            reply = (
                self._read_ot(r, ot.BaseOtReceiverMessage.from_bytes) if sender > self.me else None
            )
            value = (a_shares, b_shares, reply)
        elif round == R_PRODUCT:
            value = self._read_ot(r, ot.CorrelatedOtMessage.from_bytes)
        elif round == R_OT_CHALLENGE:
            value = self._read_ot(r, ot.RandomOtChallenge.from_bytes)
        elif round == R_OT_CHECK:
            value = self._read_ot(r, ot.RandomOtCheck.from_bytes)
        elif round == R_MTA_CIPHERTEXTS:
            value = self._read_ot(r, ot.MtaCiphertexts.from_bytes)
        elif round == R_MTA_CHALLENGE:
            value = self._read_ot(r, ot.MtaChallenge.from_bytes)
        else:  # R_FINAL private: shares of c
            value = r.scalars(n)
        r.finish()
        return value

    @staticmethod
    def _read_ot(r: PayloadReader, parse: Callable[[bytes], T]) -> T:
        return parse(r.blob())

    # -- rounds --------------------------------------------------------------------------

    def _start(self) -> list[Outgoing]:
        t = self.threshold
        coms = []
        for _ in range(self.count):
            # Round 1, steps 2-4
            e = math.random_polynomial(None, t - 1, self._random_scalar)
            f = math.random_polynomial(None, t - 1, self._random_scalar)
            l_poly = math.random_polynomial(0, t - 1, self._random_scalar)
            big_e = math.commit_polynomial(e)
            big_f = math.commit_polynomial(f)
            big_l = math.commit_polynomial(l_poly[1:])  # L_i(0) is the identity
            randomizer = self._random(32)
            # Round 1, step 4 (Commit)
            coms.append(commit(_points((*big_e, *big_f, *big_l)), randomizer))
            self.e_polys.append(e)
            self.f_polys.append(f)
            self.l_polys.append(l_poly)
            self.randomizers.append(randomizer)
            self.my_big_e.append(big_e)
            self.my_big_f.append(big_f)
            self.my_big_l.append(big_l)
        self.commitments[self.me] = b"".join(coms)
        # Round 1, step 5
        out = [to_all(self.commitments[self.me])]
        # Triples-Setup: I am the base OT sender towards every higher peer.
        for peer in self.higher_peers:
            state, message = ot.setup_lower_start(self._random)
            self.ot_states[peer] = state.to_bytes()
            out.append(to_one(peer, PayloadWriter().blob(message.to_bytes()).to_bytes()))
        return out

    def _finish_round(self, round: int, messages: Mapping[Key, Any]) -> list[Outgoing]:
        broadcasts = self._by_sender(messages, BROADCAST)
        private = self._by_sender(messages, PRIVATE)
        if round == R_COMMIT:
            return self._round_reveal(broadcasts, private)
        if round == R_REVEAL:
            return self._round_product(broadcasts, private)
        if round == R_PRODUCT:
            return self._round_check_products(broadcasts, private)
        if round == R_OT_CHALLENGE:
            return self._ot_step(private, self._lower_check)
        if round == R_OT_CHECK:
            return self._ot_step(private, self._higher_encrypt)
        if round == R_MTA_CIPHERTEXTS:
            return self._ot_step(private, self._lower_finish)
        if round == R_MTA_CHALLENGE:
            out = self._ot_step(private, self._higher_finish)
            return out + self._round_share_c()
        self._round_output(broadcasts, private)
        return []

    def _proof_transcript(self, tag: bytes, prover: int, index: int) -> Transcript:
        return self.transcript.cloned(tag, _u32(prover) + _u32(index))

    def _round_reveal(
        self, coms: dict[int, bytes], setup_messages: dict[int, Any]
    ) -> list[Outgoing]:
        """Round 2: Confirm, the openings and proofs, the private shares."""
        self.commitments.update(coms)
        # Round 2, steps 2-3: Confirm_i, echoing every participant's commitments.
        self.com_digests = {
            p: broadcast_digest(b"triples/commitments", p, c) for p, c in self.commitments.items()
        }
        echo = echo_vector(self.com_digests, self.participants)
        self.confirm = hashlib.sha256(_LABEL + b"confirm" + self.session_id + echo).digest()
        self.transcript = self.transcript.add(b"confirmation", self.confirm)
        # Round 2, steps 5-7
        w = PayloadWriter().raw(echo)
        for k in range(self.count):
            e, f = self.e_polys[k], self.f_polys[k]
            big_e, big_f = self.my_big_e[k], self.my_big_f[k]
            pi0 = dlog_prove(
                self._proof_transcript(b"dlog0", self.me, k), big_e[0], e[0], self._random_scalar()
            )
            pi1 = dlog_prove(
                self._proof_transcript(b"dlog1", self.me, k), big_f[0], f[0], self._random_scalar()
            )
            w.points(big_e).points(big_f).points(self.my_big_l[k]).raw(self.randomizers[k])
            w.raw(pi0.to_bytes()).raw(pi1.to_bytes())
        out = [to_all(w.to_bytes())]
        # Round 2, step 7 (private) and the HIGHER side of Triples-Setup
        for peer in self.others:
            pw = PayloadWriter()
            pw.scalars([math.evaluate_at(e, peer) for e in self.e_polys])
            pw.scalars([math.evaluate_at(f, peer) for f in self.f_polys])
            if peer < self.me:
                setup, reply = ot.setup_higher_respond(setup_messages[peer], self._random)
                self.ot_states[peer] = setup.to_bytes()
                pw.blob(reply.to_bytes())
            out.append(to_one(peer, pw.to_bytes()))
        return out

    def _mult_sid(self, peer: int) -> bytes:
        assert self.confirm is not None
        lo, hi = sorted((self.me, peer))
        return hashlib.sha256(
            _LABEL + b"multiplication" + self.confirm + _u32(lo) + _u32(hi)
        ).digest()

    def _mult_inputs(self) -> list[tuple[int, int]]:
        return [(e[0], f[0]) for e, f in zip(self.e_polys, self.f_polys, strict=True)]

    def _round_product(self, reveals: dict[int, Any], private: dict[int, Any]) -> list[Outgoing]:
        """Round 3: check confirmations, openings, proofs and shares; C_i with its proof."""
        n = self.count
        # Round 3, steps 1-2
        check_echoes(
            "triple commitments",
            self.me,
            self.participants,
            self.com_digests,
            {sender: confirm for sender, (confirm, _) in reveals.items()},
        )
        # Round 3, steps 3-4 (degrees are fixed by the message layout)
        big_e = [list(c) for c in self.my_big_e]
        big_f = [list(c) for c in self.my_big_f]
        big_l = [list(c) for c in self.my_big_l]
        self.big_e_zero = {self.me: [c[0] for c in self.my_big_e]}
        self.peer_big_l = {}
        peer_big_e: dict[int, list[tuple[Element, ...]]] = {}
        peer_big_f: dict[int, list[tuple[Element, ...]]] = {}
        for sender, (_, items) in reveals.items():
            coms = self.commitments[sender]
            zeros = []
            ls = []
            es, fs = [], []
            for k, (e_j, f_j, l_j, randomizer, pi0, pi1) in enumerate(items):
                if not check_commitment(
                    coms[32 * k : 32 * k + 32], _points((*e_j, *f_j, *l_j)), randomizer
                ):
                    raise CommitmentMismatchError(
                        f"participant {sender}'s polynomial commitments for triple {k} do not "
                        "open its earlier commitment",
                        culprits=(sender,),
                    )
                if not dlog_verify(self._proof_transcript(b"dlog0", sender, k), e_j[0], pi0):
                    raise InvalidProofError(
                        f"participant {sender}'s dlog0 proof for triple {k} does not verify",
                        culprits=(sender,),
                    )
                if not dlog_verify(self._proof_transcript(b"dlog1", sender, k), f_j[0], pi1):
                    raise InvalidProofError(
                        f"participant {sender}'s dlog1 proof for triple {k} does not verify",
                        culprits=(sender,),
                    )
                for acc, part in ((big_e[k], e_j), (big_f[k], f_j), (big_l[k], l_j)):
                    for m, point in enumerate(part):
                        acc[m] = acc[m] + point
                zeros.append(e_j[0])
                ls.append(l_j)
                es.append(e_j)
                fs.append(f_j)
            self.big_e_zero[sender] = zeros
            self.peer_big_l[sender] = ls
            peer_big_e[sender] = es
            peer_big_f[sender] = fs
        self.big_e = [tuple(c) for c in big_e]
        self.big_f = [tuple(c) for c in big_f]
        self.big_l = [tuple(c) for c in big_l]
        # Round 3, steps 5-7
        a = [math.evaluate_at(e, self.me) for e in self.e_polys]
        b = [math.evaluate_at(f, self.me) for f in self.f_polys]
        for a_shares, b_shares, _ in private.values():
            for k in range(n):
                a[k] = (a[k] + a_shares[k]) % N
                b[k] = (b[k] + b_shares[k]) % N
        for k in range(n):
            if math.evaluate_commitment_at(self.big_e[k], self.me) != G.base_mul(
                a[k]
            ) or math.evaluate_commitment_at(self.big_f[k], self.me) != G.base_mul(b[k]):
                self._blame_shares(k, private, peer_big_e, peer_big_f)
        self.a, self.b = a, b
        # Round 3, steps 8-10
        w = PayloadWriter()
        self.big_c = []
        for k in range(n):
            e0 = self.e_polys[k][0]
            big_f0 = self.big_f[k][0]
            big_c_i = big_f0 * e0
            proof = dlogeq_prove(
                self._proof_transcript(b"dlogeq0", self.me, k),
                self.my_big_e[k][0],
                big_f0,
                big_c_i,
                e0,
                self._random_scalar(),
            )
            self.big_c.append(big_c_i)
            w.point(big_c_i).raw(proof.to_bytes())
        out = [to_all(w.to_bytes())]
        # Multiplication (round 2, step 4): LOWER starts towards every higher peer.
        for peer in self.higher_peers:
            base_state = ot.BaseOtSenderState.from_bytes(self.ot_states[peer])
            reply = private[peer][2]
            setup = self._ot_call(peer, ot.setup_lower_finish, base_state, reply)
            state, message = self._ot_call(
                peer,
                ot.multiply_batch_lower_start,
                setup,
                self._mult_sid(peer),
                self._mult_inputs(),
                self._random,
            )
            self.ot_states[peer] = state.to_bytes()
            out.append(to_one(peer, PayloadWriter().blob(message.to_bytes()).to_bytes()))
        return out

    def _blame_shares(
        self,
        k: int,
        private: dict[int, Any],
        peer_big_e: dict[int, list[tuple[Element, ...]]],
        peer_big_f: dict[int, list[tuple[Element, ...]]],
    ) -> None:
        """Find who sent a share of a or b off their committed polynomial (round 3, step 7)."""
        for sender, (a_shares, b_shares, _) in sorted(private.items()):
            if G.base_mul(a_shares[k]) != math.evaluate_commitment_at(
                peer_big_e[sender][k], self.me
            ) or G.base_mul(b_shares[k]) != math.evaluate_commitment_at(
                peer_big_f[sender][k], self.me
            ):
                raise InvalidShareError(
                    f"participant {sender}'s share of triple {k} for {self.me} is not on its "
                    "committed polynomial",
                    culprits=(sender,),
                )
        raise ProtocolCheckFailedError(f"the shares of triple {k} do not match E and F")

    def _round_check_products(
        self, products: dict[int, Any], private: dict[int, Any]
    ) -> list[Outgoing]:
        """Round 4, steps 1-3, and the HIGHER side's multiplication challenge."""
        big_c = list(self.big_c)
        for sender, items in products.items():
            for k, (big_c_j, proof) in enumerate(items):
                if not dlogeq_verify(
                    self._proof_transcript(b"dlogeq0", sender, k),
                    self.big_e_zero[sender][k],
                    self.big_f[k][0],
                    big_c_j,
                    proof,
                ):
                    raise InvalidProofError(
                        f"participant {sender}'s dlogeq0 proof for triple {k} does not verify",
                        culprits=(sender,),
                    )
                big_c[k] = big_c[k] + big_c_j
        self.big_c = big_c
        out = []
        for peer in self.lower_peers:
            setup = ot.PairSetup.from_bytes(self.ot_states[peer])
            state, challenge = self._ot_call(
                peer,
                ot.multiply_batch_higher_challenge,
                setup,
                self._mult_sid(peer),
                self._mult_inputs(),
                private[peer],
                self._random,
            )
            self.ot_states[peer] = state.to_bytes()
            out.append(to_one(peer, PayloadWriter().blob(challenge.to_bytes()).to_bytes()))
        return out

    # -- the multiplication, pair by pair -------------------------------------------------

    def _ot_call(self, peer: int, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(*args)
        except ot.OtConsistencyError:
            raise OtViolationError(
                f"participant {peer} failed the OT extension consistency check",
                culprits=(peer,),
            ) from None
        except ot.OtError as exc:
            raise OtViolationError(
                f"participant {peer} broke the OT protocol: {exc.message}", culprits=(peer,)
            ) from None

    def _ot_step(
        self, private: dict[int, Any], step: Callable[[int, Any], bytes | None]
    ) -> list[Outgoing]:
        out = []
        for peer, message in private.items():
            reply = step(peer, message)
            if reply is not None:
                out.append(to_one(peer, PayloadWriter().blob(reply).to_bytes()))
        return out

    def _lower_check(self, peer: int, challenge: Any) -> bytes:
        state = ot.LowerAwaitingChallenge.from_bytes(self.ot_states[peer])
        new_state, check = self._ot_call(peer, ot.multiply_batch_lower_check, state, challenge)
        self.ot_states[peer] = new_state.to_bytes()
        return check.to_bytes()

    def _higher_encrypt(self, peer: int, check: Any) -> bytes:
        state = ot.HigherAwaitingCheck.from_bytes(self.ot_states[peer])
        new_state, ciphertexts = self._ot_call(
            peer, ot.multiply_batch_higher_encrypt, state, check, self._random
        )
        self.ot_states[peer] = new_state.to_bytes()
        return ciphertexts.to_bytes()

    def _add_products(self, shares: list[int]) -> None:
        if not self.l0:
            self.l0 = [e[0] * f[0] % N for e, f in zip(self.e_polys, self.f_polys, strict=True)]
        self.l0 = [(x + y) % N for x, y in zip(self.l0, shares, strict=True)]

    def _lower_finish(self, peer: int, ciphertexts: Any) -> bytes:
        state = ot.LowerAwaitingCiphertexts.from_bytes(self.ot_states[peer])
        shares, challenge = self._ot_call(
            peer, ot.multiply_batch_lower_finish, state, ciphertexts, self._random
        )
        del self.ot_states[peer]
        self._add_products(shares)
        return challenge.to_bytes()

    def _higher_finish(self, peer: int, challenge: Any) -> None:
        state = ot.HigherAwaitingMtaChallenge.from_bytes(self.ot_states[peer])
        shares = self._ot_call(peer, ot.multiply_batch_higher_finish, state, challenge)
        del self.ot_states[peer]
        self._add_products(shares)

    def _round_share_c(self) -> list[Outgoing]:
        """Round 4, steps 4-8: the multiplication output l0, C^_i with its proof, shares of c."""
        if not self.l0:  # pragma: no cover - every participant has at least one peer
            self._add_products([0] * self.count)
        w = PayloadWriter()
        for k, l0 in enumerate(self.l0):
            proof = dlog_prove(
                self._proof_transcript(b"dlog2", self.me, k),
                G.base_mul(l0),
                l0,
                self._random_scalar(),
            )
            w.point(G.base_mul(l0)).raw(proof.to_bytes())
        out = [to_all(w.to_bytes())]
        for peer in self.others:
            shares = [
                (l0 + math.evaluate_at(l_poly, peer)) % N
                for l0, l_poly in zip(self.l0, self.l_polys, strict=True)
            ]
            out.append(to_one(peer, PayloadWriter().scalars(shares).to_bytes()))
        return out

    def _round_output(self, products: dict[int, Any], c_shares: dict[int, list[int]]) -> None:
        """Round 5."""
        n = self.count
        hat_c: dict[int, list[Element]] = {self.me: [G.base_mul(l0) for l0 in self.l0]}
        # Round 5, steps 1-2
        for sender, items in products.items():
            points = []
            for k, (hat_c_j, proof) in enumerate(items):
                if not dlog_verify(self._proof_transcript(b"dlog2", sender, k), hat_c_j, proof):
                    raise InvalidProofError(
                        f"participant {sender}'s dlog2 proof for triple {k} does not verify",
                        culprits=(sender,),
                    )
                points.append(hat_c_j)
            hat_c[sender] = points
        shares = []
        assert self.confirm is not None
        for k in range(n):
            # Round 5, steps 3-4: L(0) = sum C^_j (every L_j(0) is zero) must be C.
            l_zero = G.sum(hat_c[p][k] for p in self.participants)
            if l_zero != self.big_c[k]:
                raise ProtocolCheckFailedError(
                    f"triple {k}: the multiplication's output does not match C; some pairwise "
                    "multiplication was corrupted"
                )
            # Round 5, steps 5-7
            c_k = (self.l0[k] + math.evaluate_at(self.l_polys[k], self.me)) % N
            for values in c_shares.values():
                c_k = (c_k + values[k]) % N
            x = math.participant_scalar(self.me)
            expected = l_zero + (math.evaluate_commitment(self.big_l[k], x) * x)
            if expected != G.base_mul(c_k):
                self._blame_c_shares(k, hat_c, c_shares)
            shares.append(c_k)
        # Round 5, steps 8-9
        result = []
        for k in range(n):
            triple_id = hashlib.sha256(
                _LABEL + b"triple" + self.session_id + self.confirm + _u32(k)
            ).digest()
            triple = Triple(
                triple_id,
                self.threshold,
                self.participants,
                self.big_e[k][0],
                self.big_f[k][0],
                self.big_c[k],
            )
            result.append(TripleShare(self.me, triple, self.a[k], self.b[k], shares[k]))
        # Secrets not needed any more leave the state.
        self.e_polys, self.f_polys, self.l_polys, self.l0 = [], [], [], []
        self.a, self.b = [], []
        self._finish(result)

    def _blame_c_shares(
        self, k: int, hat_c: dict[int, list[Element]], c_shares: dict[int, list[int]]
    ) -> None:
        x = math.participant_scalar(self.me)
        for sender, values in sorted(c_shares.items()):
            expected = (
                hat_c[sender][k] + math.evaluate_commitment(self.peer_big_l[sender][k], x) * x
            )
            if G.base_mul(values[k]) != expected:
                raise InvalidShareError(
                    f"participant {sender}'s share of c for triple {k} is not on its committed "
                    "polynomial",
                    culprits=(sender,),
                )
        raise ProtocolCheckFailedError(f"the shares of c for triple {k} do not match L")


def generate_triples(
    *,
    session_id: bytes,
    me: int,
    participants: Iterable[int],
    threshold: int,
    count: int,
    rng: RandomBytes = system_random,
) -> TripleGeneration:
    """A session generating ``count`` triples with one pair setup per pair for the batch."""
    return TripleGeneration(
        session_id=session_id,
        me=me,
        participants=participants,
        threshold=threshold,
        count=count,
        rng=rng,
    )


__all__ = ["MAX_COUNT", "TripleGeneration", "generate_triples"]
