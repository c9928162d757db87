"""Pairwise multiplication: one pair's part of ``Multiplication``, for a batch of triples.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md``, section "Multiplication",
steps 1-3, for one ordered pair of parties. Rust counterpart:
``src/ecdsa/ot_based_ecdsa/triples/multiplication.rs`` (``multiplication_sender``
and ``multiplication_receiver``).

For each triple ``k`` of the batch the two parties hold ``(a, b)`` inputs;
the pair runs one ``Random-OT-Extension`` of ``2κ = 768`` OTs and two
``MTA`` instances on its halves:

* instance ``2k``: HIGHER's ``a`` times LOWER's ``b`` (first κ OTs);
* instance ``2k + 1``: HIGHER's ``b`` times LOWER's ``a`` (last κ OTs).

Each party's output for triple ``k`` is its additive share ``gamma = gamma^0 + gamma^1``
of ``a_H·b_L + b_H·a_L``: the two shares sum to that value modulo q. The
multi-party protocol adds, per party, ``a_i·b_i`` and the shares of every pair
it belongs to (spec step 4).

**Roles.** The spec's section calls the lower party of the pair the sender,
but the setup phase gives the lower party ``K^0, K^1``, which makes it the
*receiver* of every extension (spec, "Correlated OT Extension": "the sender
was the receiver in the original setup"). We follow the setup and the
original cait-sith code: the LOWER party is the OT extension receiver and the
MTA receiver; the HIGHER party, which holds Δ, is the OT extension sender and
the MTA sender. Both roles compute the same kind of share.

**Batching.** One :class:`~cosigner.ecdsa.ot.setup.PairSetup` per pair serves
every batch. A batch of ``count`` triples is one call per step: extension
``k`` of the batch uses the session id ``(sid, nonce, rows, k)`` (see
:mod:`cosigner.ecdsa.ot.correlated_ot`), and the PRG expansion, the bit
matrix transposition, the consistency check and the row hashing each run
once over the whole batch. ``count = 1`` is the spec's single multiplication.

Message flow (five messages; each arrow is one message object)::

    LOWER (OT-ext receiver, MTA receiver)      HIGHER (OT-ext sender, MTA sender)
    multiply_batch_lower_start
        -- CorrelatedOtMessage -->
                                               multiply_batch_higher_challenge
        <-- RandomOtChallenge --
    multiply_batch_lower_check
        -- RandomOtCheck -->
                                               multiply_batch_higher_encrypt
                                                 (raises OtConsistencyError)
        <-- MtaCiphertexts --
    multiply_batch_lower_finish -> shares
        -- MtaChallenge -->
                                               multiply_batch_higher_finish -> shares

All messages must travel over a private, authenticated channel. Every state
object serializes with ``to_bytes``/``from_bytes`` and is single-use.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Final, Generic, Self, TypeVar

from cosigner.ecdsa.ot import _codec
from cosigner.ecdsa.ot._state import SingleUse
from cosigner.ecdsa.ot.correlated_ot import CorrelatedOtMessage
from cosigner.ecdsa.ot.errors import OtParameterError, OtProtocolError
from cosigner.ecdsa.ot.mta import (
    KAPPA,
    MtaChallenge,
    MtaCiphertexts,
    MtaSenderState,
    mta_receiver_respond,
    mta_sender_finish,
    mta_sender_start,
)
from cosigner.ecdsa.ot.random_ot import (
    RandomOtChallenge,
    RandomOtCheck,
    RandomOtReceiverOutput,
    RandomOtReceiverState,
    RandomOtSenderState,
    random_ot_receiver_finish,
    random_ot_receiver_start,
    random_ot_sender_challenge,
    random_ot_sender_finish,
)
from cosigner.ecdsa.ot.setup import PairRole, PairSetup
from cosigner.groups import RandomBytes, system_random

OTS_PER_TRIPLE: Final = 2 * KAPPA
"""Random OTs one triple consumes per pair: ``2κ = 768``."""
MAX_BATCH: Final = 1024
"""Most triples in one batch."""

_Q: Final = _codec.ORDER

Inputs = Sequence[tuple[int, int]]
"""One ``(a, b)`` pair of scalars per triple of the batch."""


def _check_inputs(inputs: Inputs) -> list[tuple[int, int]]:
    if not 1 <= len(inputs) <= MAX_BATCH:
        raise OtParameterError(f"a multiplication batch has 1 to {MAX_BATCH} triples")
    out = []
    for pair in inputs:
        if len(pair) != 2 or not all(isinstance(x, int) for x in pair):
            raise OtParameterError("each multiplication input is a pair of integer scalars")
        out.append((pair[0] % _Q, pair[1] % _Q))
    return out


def _write_inputs(w: _codec.Writer, inputs: list[tuple[int, int]]) -> None:
    w.u32(len(inputs))
    w.scalars([x for pair in inputs for x in pair])


def _read_inputs(r: _codec.Reader) -> list[tuple[int, int]]:
    n = r.count("input count", 1, MAX_BATCH)
    flat = r.scalars(2 * n, "inputs")
    return list(zip(flat[0::2], flat[1::2], strict=True))


_Rot = TypeVar("_Rot", RandomOtReceiverState, RandomOtReceiverOutput, RandomOtSenderState)


def _pair_shares(values: list[int]) -> list[int]:
    return [(x + y) % _Q for x, y in zip(values[0::2], values[1::2], strict=True)]


# -- states -----------------------------------------------------------------------------


class _InputsState(SingleUse, Generic[_Rot]):
    """The shape of the three states that hold a party's inputs and its random OT state."""

    __slots__ = ("inputs", "rot")

    rot: _Rot
    inputs: list[tuple[int, int]]
    _TAG: ClassVar[int]
    _ROT_MISMATCH: ClassVar[str]

    def __init__(self, rot: _Rot, inputs: list[tuple[int, int]]) -> None:
        super().__init__()
        if rot.count != len(inputs) or rot.batch_size != OTS_PER_TRIPLE:
            raise OtParameterError("multiplication state parts disagree")
        self.rot = rot
        self.inputs = inputs

    @classmethod
    def _read_rot(cls, data: bytes) -> _Rot:
        raise NotImplementedError

    @property
    def count(self) -> int:
        return len(self.inputs)

    def to_bytes(self) -> bytes:
        self._check_storable()
        w = _codec.Writer(self._TAG)
        _write_inputs(w, self.inputs)
        w.raw(self.rot.to_bytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> Self:
        r = _codec.Reader(data, cls._TAG, cls.__name__)
        inputs = _read_inputs(r)
        rot = cls._read_rot(r.rest())
        if rot.count != len(inputs) or rot.batch_size != OTS_PER_TRIPLE:
            raise r.error(cls._ROT_MISMATCH)
        return cls(rot, inputs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(count={self.count}, <secret>)"


class LowerAwaitingChallenge(_InputsState[RandomOtReceiverState]):
    """LOWER after :func:`multiply_batch_lower_start`, waiting for the RandomOtChallenge."""

    __slots__ = ()
    _TAG = _codec.TAG_LOWER_AWAITING_CHALLENGE
    _ROT_MISMATCH = "the random OT state does not match the inputs"

    @classmethod
    def _read_rot(cls, data: bytes) -> RandomOtReceiverState:
        return RandomOtReceiverState.from_bytes(data)


class LowerAwaitingCiphertexts(_InputsState[RandomOtReceiverOutput]):
    """LOWER after :func:`multiply_batch_lower_check`, waiting for the MtaCiphertexts."""

    __slots__ = ()
    _TAG = _codec.TAG_LOWER_AWAITING_CIPHERTEXTS
    _ROT_MISMATCH = "the random OT output does not match the inputs"

    @classmethod
    def _read_rot(cls, data: bytes) -> RandomOtReceiverOutput:
        return RandomOtReceiverOutput.from_bytes(data)


class HigherAwaitingCheck(_InputsState[RandomOtSenderState]):
    """HIGHER after :func:`multiply_batch_higher_challenge`, waiting for the RandomOtCheck."""

    __slots__ = ()
    _TAG = _codec.TAG_HIGHER_AWAITING_CHECK
    _ROT_MISMATCH = "the random OT state does not match the inputs"

    @classmethod
    def _read_rot(cls, data: bytes) -> RandomOtSenderState:
        return RandomOtSenderState.from_bytes(data)


class HigherAwaitingMtaChallenge(SingleUse):
    """HIGHER after :func:`multiply_batch_higher_encrypt`, waiting for the MtaChallenge."""

    __slots__ = ("mta",)

    def __init__(self, mta: MtaSenderState) -> None:
        super().__init__()
        if mta.size != KAPPA or mta.instances % 2:
            raise OtParameterError("a multiplication runs two MTA instances of κ OTs per triple")
        self.mta = mta

    @property
    def count(self) -> int:
        return self.mta.instances // 2

    def to_bytes(self) -> bytes:
        self._check_storable()
        w = _codec.Writer(_codec.TAG_HIGHER_AWAITING_MTA_CHALLENGE)
        w.raw(self.mta.to_bytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> HigherAwaitingMtaChallenge:
        r = _codec.Reader(
            data, _codec.TAG_HIGHER_AWAITING_MTA_CHALLENGE, "HigherAwaitingMtaChallenge"
        )
        mta = MtaSenderState.from_bytes(r.rest())
        if mta.size != KAPPA or mta.instances % 2:
            raise r.error("a multiplication runs two MTA instances of κ OTs per triple")
        return cls(mta)

    def __repr__(self) -> str:
        return f"HigherAwaitingMtaChallenge(count={self.count}, <secret>)"


# -- steps ------------------------------------------------------------------------------


def multiply_batch_lower_start(
    setup: PairSetup, sid: bytes, inputs: Inputs, rng: RandomBytes = system_random
) -> tuple[LowerAwaitingChallenge, CorrelatedOtMessage]:
    """LOWER, step 1 of 3 (spec step 1): start the random OT extension of ``2κ`` OTs per triple.

    Send the :class:`CorrelatedOtMessage` to HIGHER.
    """
    if setup.role is not PairRole.LOWER:
        raise OtParameterError("multiply_batch_lower_* needs the LOWER side's pair setup")
    checked = _check_inputs(inputs)
    rot, message = random_ot_receiver_start(setup, sid, OTS_PER_TRIPLE, len(checked), rng)
    return LowerAwaitingChallenge(rot, checked), message


def multiply_batch_higher_challenge(
    setup: PairSetup,
    sid: bytes,
    inputs: Inputs,
    message: CorrelatedOtMessage,
    rng: RandomBytes = system_random,
) -> tuple[HigherAwaitingCheck, RandomOtChallenge]:
    """HIGHER, step 1 of 3 (spec step 1): answer ``U`` with the consistency challenge.

    Send the :class:`RandomOtChallenge` to LOWER.
    """
    if setup.role is not PairRole.HIGHER:
        raise OtParameterError("multiply_batch_higher_* needs the HIGHER side's pair setup")
    checked = _check_inputs(inputs)
    rot, challenge = random_ot_sender_challenge(
        setup, sid, OTS_PER_TRIPLE, len(checked), message, rng
    )
    return HigherAwaitingCheck(rot, checked), challenge


def multiply_batch_lower_check(
    state: LowerAwaitingChallenge, challenge: RandomOtChallenge
) -> tuple[LowerAwaitingCiphertexts, RandomOtCheck]:
    """LOWER, step 2 of 3 (spec step 1): answer the challenge; LOWER's OTs are ready.

    Send the :class:`RandomOtCheck` to HIGHER.
    """
    state._consume()
    output, check = random_ot_receiver_finish(state.rot, challenge)
    return LowerAwaitingCiphertexts(output, state.inputs), check


def multiply_batch_higher_encrypt(
    state: HigherAwaitingCheck, check: RandomOtCheck, rng: RandomBytes = system_random
) -> tuple[HigherAwaitingMtaChallenge, MtaCiphertexts]:
    """HIGHER, step 2 of 3 (spec steps 1-2): verify the extension, start both MTAs.

    Raises :class:`~cosigner.ecdsa.ot.errors.OtConsistencyError` when LOWER
    cheated in the extension. Send the :class:`MtaCiphertexts` to LOWER.
    """
    state._consume()
    output = random_ot_sender_finish(state.rot, check)
    mta_inputs = [x for a, b in state.inputs for x in (a, b)]
    mta, ciphertexts = mta_sender_start(output.v0, output.v1, mta_inputs, KAPPA, rng)
    return HigherAwaitingMtaChallenge(mta), ciphertexts


def multiply_batch_lower_finish(
    state: LowerAwaitingCiphertexts,
    ciphertexts: MtaCiphertexts,
    rng: RandomBytes = system_random,
) -> tuple[list[int], MtaChallenge]:
    """LOWER, step 3 of 3 (spec steps 2-3): finish both MTAs; LOWER is done.

    Returns LOWER's share of ``a_H·b_L + b_H·a_L`` for every triple, and the
    :class:`MtaChallenge` to send to HIGHER.
    """
    state._consume()
    count = state.count
    if ciphertexts.size != KAPPA or ciphertexts.instances != 2 * count:
        raise OtProtocolError(
            f"expected MTA ciphertexts for {2 * count} instances of {KAPPA} OTs, got "
            f"{ciphertexts.instances} of {ciphertexts.size}"
        )
    choices = state.rot.choices.reshape(2 * count, KAPPA)
    mta_inputs = [x for a, b in state.inputs for x in (b, a)]
    betas, challenge = mta_receiver_respond(choices, state.rot.values, mta_inputs, ciphertexts, rng)
    return _pair_shares(betas), challenge


def multiply_batch_higher_finish(
    state: HigherAwaitingMtaChallenge, challenge: MtaChallenge
) -> list[int]:
    """HIGHER, step 3 of 3 (spec steps 2-3): finish both MTAs; HIGHER is done.

    Returns HIGHER's share of ``a_H·b_L + b_H·a_L`` for every triple.
    """
    state._consume()
    return _pair_shares(mta_sender_finish(state.mta, challenge))


__all__ = [
    "MAX_BATCH",
    "OTS_PER_TRIPLE",
    "HigherAwaitingCheck",
    "HigherAwaitingMtaChallenge",
    "Inputs",
    "LowerAwaitingChallenge",
    "LowerAwaitingCiphertexts",
    "multiply_batch_higher_challenge",
    "multiply_batch_higher_encrypt",
    "multiply_batch_higher_finish",
    "multiply_batch_lower_check",
    "multiply_batch_lower_finish",
    "multiply_batch_lower_start",
]
