"""Random OT extension with the SoftSpokenOT consistency check, batched.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md``, "Extended Oblivious
Transfer", section "Random OT Extension" (protocol ``Random-OT-Extension``,
steps 1-13). Rust counterpart:
``src/ecdsa/ot_based_ecdsa/triples/random_ot_extension.rs``.

The output of one extension of size κ is κ pairs of scalars ``v^0_i, v^1_i``
for the sender and ``(b_i, v^{b_i}_i)`` for the receiver, ``b_i`` a random
bit. Roles as in :mod:`cosigner.ecdsa.ot.correlated_ot`: the receiver R is
the LOWER party of the pair, the sender S the HIGHER. Message flow::

    R (LOWER)                                   S (HIGHER)
    random_ot_receiver_start(...)  [steps 1-2]
        -- CorrelatedOtMessage (nonce, U) -->
                                            random_ot_sender_challenge(...)  [steps 2-4]
        <-- RandomOtChallenge (s) --
    random_ot_receiver_finish(...)  [5-9, 13]
    -> (b_i, v^{b_i}_i) (done)
        -- RandomOtCheck (x, t_1..t_λ) -->
                                            random_ot_sender_finish(...)  [steps 10-12]
                                            -> (v^0_i, v^1_i) (done),
                                               or OtConsistencyError

Details the spec leaves open (as the Rust code decides them unless noted):

* **Padding.** An extension of κ OTs runs the correlated extension on
  ``κ' = ⌈κ/λ⌉·λ + 2λ`` rows (Rust ``adjust_size``); the extra rows carry
  random choice bits that mask ``x`` and are discarded after the check.
* **Check arithmetic.** ``mul`` is multiplication in GF(2^128) modulo
  X^128 + X^7 + X^2 + X + 1, as the spec says; the Rust code keeps unreduced
  255-bit products instead, which can leak a few linear relations among the
  receiver's choice bits (see :mod:`cosigner.ecdsa.ot.bits`). In the field,
  the uniform padding blocks mask ``x`` perfectly.
* **χ.** One seed ``s`` of λ bits per batch; extension ``k`` takes its own
  slice of ``PRG(s)`` (:func:`cosigner.ecdsa.ot.bits.expand_chi`).
* **H_i.** ``v = H_i(row)`` is BLAKE2b-256 (personalization
  ``cosigner-rot-v1``) of a 32-byte tweak bound to the extension's session
  id, the extension index ``k`` and the row index ``i`` (u32 each), and the
  16-byte row, read big-endian; in the (probability 2^-127) event that this
  is not below q, the input is rehashed with a counter byte appended until
  it is, so ``v`` is uniform in F_q. Binding the session id to the tweak
  keeps the hash inputs of different extensions apart, which matters because
  every extension of a setup shares the same Δ. (Rust: SHA-256 of ``i`` and
  the row, expanded to 64 bytes and reduced.)

Outputs hold the scalars as ``(n, 32)`` arrays of big-endian encodings (see
:mod:`cosigner.ecdsa.ot._scalars`), extension-major: extension ``k`` owns
rows ``[k * κ, (k + 1) * κ)``.

The receiver's output is ready after its second step; the sender's only after
the check passes, and nothing derived from ``Q`` may leave the sender before.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np

from cosigner.ecdsa.ot import _codec, _scalars
from cosigner.ecdsa.ot._state import SingleUse
from cosigner.ecdsa.ot.bits import (
    LAMBDA,
    LAMBDA_BYTES,
    U8Array,
    expand_chi,
    gf_inner_products,
    gf_reduce,
    transpose_columns,
)
from cosigner.ecdsa.ot.correlated_ot import (
    MAX_ROWS,
    MAX_SID_SIZE,
    MAX_TOTAL_ROWS,
    NONCE_SIZE,
    CorrelatedOtMessage,
    check_batch_shape,
    choice_columns,
    correlated_ot_receiver,
    correlated_ot_sender,
    delta_mask,
)
from cosigner.ecdsa.ot.errors import (
    OtConsistencyError,
    OtParameterError,
    OtProtocolError,
)
from cosigner.ecdsa.ot.setup import PairRole, PairSetup
from cosigner.groups import RandomBytes, system_random

SEED_SIZE: Final = LAMBDA_BYTES
_TWEAK_DST: Final = b"cosigner/ecdsa/ot/v1/random-ot-hash"
_HASH_PERSON: Final = b"cosigner-rot-v1"
_ROW_INPUT: Final = 32 + 4 + 4 + LAMBDA_BYTES


def adjusted_size(batch_size: int) -> int:
    """Rows of the correlated extension behind ``batch_size`` random OTs (Rust ``adjust_size``)."""
    return -(-batch_size // LAMBDA) * LAMBDA + 2 * LAMBDA


def _check_params(batch_size: int, count: int) -> int:
    if batch_size <= 0:
        raise OtParameterError("a random OT extension has at least one OT")
    rows = adjusted_size(batch_size)
    check_batch_shape(rows, count)
    return rows


def _tweak(sid: bytes, nonce: bytes, rows: int) -> bytes:
    h = hashlib.sha256(_TWEAK_DST)
    h.update(len(sid).to_bytes(4, "big") + sid + nonce + rows.to_bytes(4, "big"))
    return h.digest()


def hash_rows(tweak: bytes, rows: U8Array) -> U8Array:
    """``H_i(row)`` for every row of every extension: ``rows`` is ``(count, n, 16)``.

    Returns ``count * n`` scalars as a ``(count * n, 32)`` array,
    extension-major. One BLAKE2b call per row over a buffer laid out by
    NumPy; this is the dominant cost of the extension, so the loop body is
    the hash alone.
    """
    count, n, _ = rows.shape
    buf = np.empty((count, n, _ROW_INPUT), dtype=np.uint8)
    buf[..., :32] = np.frombuffer(tweak, dtype=np.uint8)
    buf[..., 32:36] = np.arange(count, dtype=">u4").view(np.uint8).reshape(count, 1, 4)
    buf[..., 36:40] = np.arange(n, dtype=">u4").view(np.uint8).reshape(1, n, 4)
    buf[..., 40:] = rows
    data = memoryview(buf.tobytes())
    blake2b = hashlib.blake2b
    n = _ROW_INPUT
    p = _HASH_PERSON
    offsets = range(0, len(data), n)
    digests = [blake2b(data[o : o + n], digest_size=32, person=p).digest() for o in offsets]
    out = np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, _scalars.SIZE)
    ok = _scalars.below_order(out)
    if not bool(ok.all()):
        out = out.copy()
        for index in np.flatnonzero(~ok).tolist():
            out[index] = np.frombuffer(_rehash(bytes(data[index * n : (index + 1) * n])), np.uint8)
    return out


def _rehash(item: bytes) -> bytes:
    """The rejection-sampling continuation of :func:`hash_rows` for one row."""
    for counter in range(1, 256):
        digest = hashlib.blake2b(item + bytes((counter,)), digest_size=32, person=_HASH_PERSON)
        if int.from_bytes(digest.digest(), "big") < _scalars.ORDER:
            return digest.digest()
    raise AssertionError("255 consecutive hashes above the group order")


# -- messages ---------------------------------------------------------------------------


class RandomOtChallenge:
    """S to R (spec step 4): the seed ``s`` of the consistency-check weights χ."""

    __slots__ = ("seed",)

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise OtParameterError(f"a random OT challenge seed is {SEED_SIZE} bytes")
        self.seed = bytes(seed)

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_RANDOM_OT_CHALLENGE)
        w.raw(self.seed)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomOtChallenge:
        r = _codec.Reader(data, _codec.TAG_RANDOM_OT_CHALLENGE, "RandomOtChallenge")
        seed = r.take(SEED_SIZE, "seed")
        r.done()
        return cls(seed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RandomOtChallenge):
            return NotImplemented
        return self.seed == other.seed

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RandomOtChallenge(seed={self.seed.hex()})"


class RandomOtCheck:
    """R to S (spec step 9): ``x`` and ``t_1..t_λ`` of every extension.

    ``values`` has shape ``(count, 1 + λ, 16)``: ``values[k, 0]`` is ``x``,
    ``values[k, 1 + j]`` is ``t_j``, elements of GF(2^128).
    """

    __slots__ = ("count", "values")

    def __init__(self, values: U8Array) -> None:
        count, n, size = values.shape
        if n != 1 + LAMBDA or size != LAMBDA_BYTES or values.dtype != np.uint8 or count < 1:
            raise OtParameterError("malformed random OT check values")
        self.count = count
        self.values = values

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_RANDOM_OT_CHECK)
        w.u32(self.count)
        w.raw(self.values.tobytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomOtCheck:
        r = _codec.Reader(data, _codec.TAG_RANDOM_OT_CHECK, "RandomOtCheck")
        count = r.count("count", 1, MAX_TOTAL_ROWS // (3 * LAMBDA))
        raw = r.take(count * (1 + LAMBDA) * LAMBDA_BYTES, "values")
        r.done()
        return cls(np.frombuffer(raw, dtype=np.uint8).reshape(count, 1 + LAMBDA, LAMBDA_BYTES))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RandomOtCheck):
            return NotImplemented
        return np.array_equal(self.values, other.values)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RandomOtCheck(count={self.count})"


# -- outputs ----------------------------------------------------------------------------


def _write_header(w: _codec.Writer, batch_size: int, count: int) -> None:
    w.u32(batch_size)
    w.u32(count)


def _read_header(r: _codec.Reader) -> tuple[int, int]:
    batch_size = r.count("batch_size", 1, MAX_ROWS - 2 * LAMBDA)
    count = r.count("count", 1, MAX_TOTAL_ROWS // adjusted_size(batch_size))
    return batch_size, count


class RandomOtReceiverOutput:
    """R's result (spec step 13): choice bits ``b_i`` and ``v^{b_i}_i``. Secret.

    ``choices`` has shape ``(count, batch_size)`` (0/1 bytes); ``values`` has
    shape ``(count * batch_size, 32)``, extension ``k`` at rows
    ``[k * batch_size, (k + 1) * batch_size)``.
    """

    __slots__ = ("batch_size", "choices", "count", "values")

    def __init__(self, choices: U8Array, values: U8Array) -> None:
        count, batch_size = choices.shape
        if values.shape != (count * batch_size, _scalars.SIZE):
            raise OtParameterError("random OT receiver output sizes disagree")
        self.batch_size = batch_size
        self.count = count
        self.choices = choices
        self.values = values

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_RANDOM_OT_RECEIVER_OUTPUT)
        _write_header(w, self.batch_size, self.count)
        w.raw(np.packbits(self.choices, axis=-1, bitorder="little").tobytes())
        w.raw(self.values.tobytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomOtReceiverOutput:
        r = _codec.Reader(data, _codec.TAG_RANDOM_OT_RECEIVER_OUTPUT, "RandomOtReceiverOutput")
        batch_size, count = _read_header(r)
        choices = _read_bits(r, batch_size, count)
        values = _read_scalar_array(r, count * batch_size, "values")
        r.done()
        return cls(choices, values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RandomOtReceiverOutput):
            return NotImplemented
        return np.array_equal(self.choices, other.choices) and np.array_equal(
            self.values, other.values
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RandomOtReceiverOutput(count={self.count}, batch_size={self.batch_size}, <secret>)"


def _read_scalar_array(r: _codec.Reader, n: int, what: str) -> U8Array:
    data = r.take(n * _scalars.SIZE, what)
    _codec.check_scalars_reduced(data, what)
    return np.frombuffer(data, dtype=np.uint8).reshape(n, _scalars.SIZE)


def _read_bits(r: _codec.Reader, batch_size: int, count: int) -> U8Array:
    width = -(-batch_size // 8)
    packed = np.frombuffer(r.take(count * width, "choices"), dtype=np.uint8)
    bits = np.unpackbits(packed.reshape(count, width), axis=-1, bitorder="little")
    if bool(bits[:, batch_size:].any()):
        raise r.error("choice padding bits must be zero")
    return np.ascontiguousarray(bits[:, :batch_size])


class RandomOtSenderOutput:
    """S's result (spec step 12): ``v^0_i, v^1_i`` for every OT. Secret.

    ``v0`` and ``v1`` have shape ``(count * batch_size, 32)``, extension ``k``
    at rows ``[k * batch_size, (k + 1) * batch_size)``.
    """

    __slots__ = ("batch_size", "count", "v0", "v1")

    def __init__(self, batch_size: int, count: int, v0: U8Array, v1: U8Array) -> None:
        shape = (count * batch_size, _scalars.SIZE)
        if v0.shape != shape or v1.shape != shape:
            raise OtParameterError("random OT sender output sizes disagree")
        self.batch_size = batch_size
        self.count = count
        self.v0 = v0
        self.v1 = v1

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_RANDOM_OT_SENDER_OUTPUT)
        _write_header(w, self.batch_size, self.count)
        w.raw(self.v0.tobytes())
        w.raw(self.v1.tobytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomOtSenderOutput:
        r = _codec.Reader(data, _codec.TAG_RANDOM_OT_SENDER_OUTPUT, "RandomOtSenderOutput")
        batch_size, count = _read_header(r)
        v0 = _read_scalar_array(r, count * batch_size, "v0")
        v1 = _read_scalar_array(r, count * batch_size, "v1")
        r.done()
        return cls(batch_size, count, v0, v1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RandomOtSenderOutput):
            return NotImplemented
        return (
            self.batch_size == other.batch_size
            and np.array_equal(self.v0, other.v0)
            and np.array_equal(self.v1, other.v1)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RandomOtSenderOutput(count={self.count}, batch_size={self.batch_size}, <secret>)"


# -- states -----------------------------------------------------------------------------


def _write_session(w: _codec.Writer, sid: bytes, batch_size: int, count: int, nonce: bytes) -> None:
    """The start both states share: ``sid``, the header and the extension's nonce."""
    w.var_bytes(sid)
    _write_header(w, batch_size, count)
    w.raw(nonce)


def _read_session(r: _codec.Reader) -> tuple[bytes, int, int, bytes]:
    """``(sid, batch_size, count, nonce)``, as :func:`_write_session` wrote them."""
    sid = r.var_bytes("sid", MAX_SID_SIZE)
    batch_size, count = _read_header(r)
    nonce = r.take(NONCE_SIZE, "nonce")
    return sid, batch_size, count, nonce


def _take_matrix(r: _codec.Reader, batch_size: int, count: int, what: str) -> U8Array:
    """``T`` or ``Q``, of shape ``(count, λ, rows / 8)``."""
    width = adjusted_size(batch_size) // 8
    data = r.take(count * LAMBDA * width, what)
    return np.frombuffer(data, dtype=np.uint8).reshape(count, LAMBDA, width)


class RandomOtReceiverState(SingleUse):
    """R between its steps: session, choice bits (with padding) and ``T``. Secret, single-use."""

    __slots__ = ("batch_size", "choices", "count", "nonce", "sid", "t")

    def __init__(
        self, sid: bytes, batch_size: int, count: int, nonce: bytes, choices: bytes, t: U8Array
    ) -> None:
        super().__init__()
        rows = _check_params(batch_size, count)
        if (
            len(choices) != count * rows // 8
            or t.shape != (count, LAMBDA, rows // 8)
            or len(nonce) != NONCE_SIZE
        ):
            raise OtParameterError("random OT receiver state sizes disagree")
        self.sid = sid
        self.batch_size = batch_size
        self.count = count
        self.nonce = nonce
        self.choices = choices
        self.t = t

    def to_bytes(self) -> bytes:
        self._check_storable()
        w = _codec.Writer(_codec.TAG_RANDOM_OT_RECEIVER_STATE)
        _write_session(w, self.sid, self.batch_size, self.count, self.nonce)
        w.raw(self.choices)
        w.raw(self.t.tobytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomOtReceiverState:
        r = _codec.Reader(data, _codec.TAG_RANDOM_OT_RECEIVER_STATE, "RandomOtReceiverState")
        sid, batch_size, count, nonce = _read_session(r)
        width = adjusted_size(batch_size) // 8
        choices = r.take(count * width, "choices")
        t = _take_matrix(r, batch_size, count, "T")
        r.done()
        return cls(sid, batch_size, count, nonce, choices, t)

    def __repr__(self) -> str:
        return f"RandomOtReceiverState(count={self.count}, batch_size={self.batch_size}, <secret>)"


class RandomOtSenderState(SingleUse):
    """S between its steps: session, Δ, the challenge seed and ``Q``. Secret, single-use."""

    __slots__ = ("batch_size", "count", "delta", "nonce", "q", "seed", "sid")

    def __init__(
        self,
        sid: bytes,
        batch_size: int,
        count: int,
        nonce: bytes,
        seed: bytes,
        delta: bytes,
        q: U8Array,
    ) -> None:
        super().__init__()
        rows = _check_params(batch_size, count)
        if (
            len(delta) != LAMBDA_BYTES
            or len(seed) != SEED_SIZE
            or len(nonce) != NONCE_SIZE
            or q.shape != (count, LAMBDA, rows // 8)
        ):
            raise OtParameterError("random OT sender state sizes disagree")
        self.sid = sid
        self.batch_size = batch_size
        self.count = count
        self.nonce = nonce
        self.seed = seed
        self.delta = delta
        self.q = q

    def to_bytes(self) -> bytes:
        self._check_storable()
        w = _codec.Writer(_codec.TAG_RANDOM_OT_SENDER_STATE)
        _write_session(w, self.sid, self.batch_size, self.count, self.nonce)
        w.raw(self.seed)
        w.raw(self.delta)
        w.raw(self.q.tobytes())
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomOtSenderState:
        r = _codec.Reader(data, _codec.TAG_RANDOM_OT_SENDER_STATE, "RandomOtSenderState")
        sid, batch_size, count, nonce = _read_session(r)
        seed = r.take(SEED_SIZE, "seed")
        delta = r.take(LAMBDA_BYTES, "delta")
        q = _take_matrix(r, batch_size, count, "Q")
        r.done()
        return cls(sid, batch_size, count, nonce, seed, delta, q)

    def __repr__(self) -> str:
        return f"RandomOtSenderState(count={self.count}, batch_size={self.batch_size}, <secret>)"


# -- steps ------------------------------------------------------------------------------


def random_ot_receiver_start(
    setup: PairSetup,
    sid: bytes,
    batch_size: int,
    count: int,
    rng: RandomBytes = system_random,
) -> tuple[RandomOtReceiverState, CorrelatedOtMessage]:
    """R (LOWER), steps 1-2: random choice bits, the correlated extension; send ``U``."""
    if setup.role is not PairRole.LOWER:
        raise OtParameterError("the random OT extension receiver is the LOWER party")
    rows = _check_params(batch_size, count)
    choices = rng(count * rows // 8)
    x = choice_columns(choices, rows, count)
    t, message = correlated_ot_receiver(setup, sid, x, rows, count, rng)
    return RandomOtReceiverState(sid, batch_size, count, message.nonce, choices, t), message


def random_ot_sender_challenge(
    setup: PairSetup,
    sid: bytes,
    batch_size: int,
    count: int,
    message: CorrelatedOtMessage,
    rng: RandomBytes = system_random,
) -> tuple[RandomOtSenderState, RandomOtChallenge]:
    """S (HIGHER), steps 2-4: finish the correlated extension (``Q``); send the seed ``s``."""
    if setup.role is not PairRole.HIGHER:
        raise OtParameterError("the random OT extension sender is the HIGHER party")
    rows = _check_params(batch_size, count)
    q = correlated_ot_sender(setup, sid, message, rows, count)
    seed = rng(SEED_SIZE)
    state = RandomOtSenderState(sid, batch_size, count, message.nonce, seed, setup.delta, q)
    return state, RandomOtChallenge(seed)


def random_ot_receiver_finish(
    state: RandomOtReceiverState, challenge: RandomOtChallenge
) -> tuple[RandomOtReceiverOutput, RandomOtCheck]:
    """R (LOWER), steps 5-9 and 13: the check values for S, and R's output."""
    state._consume()
    rows = adjusted_size(state.batch_size)
    count = state.count
    chi = expand_chi(challenge.seed, rows, count)
    b = choice_columns(state.choices, rows, count)
    # Column 0 is the choice vector, so its "t" is x (step 8); columns 1.. are T.
    values = gf_reduce(gf_inner_products(np.concatenate([b, state.t], axis=1), chi))
    t_rows = transpose_columns(state.t)[:, : state.batch_size]
    tweak = _tweak(state.sid, state.nonce, rows)
    choice_bits = np.unpackbits(
        np.frombuffer(state.choices, dtype=np.uint8).reshape(count, rows // 8),
        axis=-1,
        bitorder="little",
    )[:, : state.batch_size]
    output = RandomOtReceiverOutput(np.ascontiguousarray(choice_bits), hash_rows(tweak, t_rows))
    return output, RandomOtCheck(values)


def random_ot_sender_finish(
    state: RandomOtSenderState, check: RandomOtCheck
) -> RandomOtSenderOutput:
    """S (HIGHER), steps 10-12: verify ``q_j = t_j + Δ_j·x``, then ``v^0, v^1``.

    Raises :class:`OtConsistencyError` if any extension's check fails; then
    nothing about ``Q`` has been used.
    """
    state._consume()
    if check.count != state.count:
        raise OtProtocolError(
            f"expected check values for {state.count} extensions, got {check.count}"
        )
    rows = adjusted_size(state.batch_size)
    chi = expand_chi(state.seed, rows, state.count)
    q = gf_reduce(gf_inner_products(state.q, chi))
    x = check.values[:, :1]
    t = check.values[:, 1:]
    if not np.array_equal(q, t ^ (x & delta_mask(state.delta))):
        raise OtConsistencyError(
            "the OT extension consistency check failed: the peer's U is not consistent"
        )
    q_rows = transpose_columns(state.q)[:, : state.batch_size]
    tweak = _tweak(state.sid, state.nonce, rows)
    v0 = hash_rows(tweak, q_rows)
    v1 = hash_rows(tweak, q_rows ^ np.frombuffer(state.delta, dtype=np.uint8))
    return RandomOtSenderOutput(state.batch_size, state.count, v0, v1)


__all__ = [
    "SEED_SIZE",
    "RandomOtChallenge",
    "RandomOtCheck",
    "RandomOtReceiverOutput",
    "RandomOtReceiverState",
    "RandomOtSenderOutput",
    "RandomOtSenderState",
    "adjusted_size",
    "hash_rows",
    "random_ot_receiver_finish",
    "random_ot_receiver_start",
    "random_ot_sender_challenge",
    "random_ot_sender_finish",
]
