"""Multiplicative-to-additive conversion (HMRT21) over random OT outputs, batched.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md``, section "Multiplicative to
Additive Conversion" (protocol ``MTA``), after [HMRT21]
(https://eprint.iacr.org/2021/1373). Rust counterpart:
``src/ecdsa/ot_based_ecdsa/triples/mta.rs``.

The sender S holds ``a``, the receiver R holds ``b``; they end with ``alpha`` and
``beta`` such that ``alpha + beta = a·b (mod q)``. Each instance consumes
``κ = ⌈lg q⌉ + λ = 384`` random OTs made beforehand: S has ``(v^0_i, v^1_i)``,
R has ``(t_i, v^{t_i}_i)``. In the pairwise multiplication S is the HIGHER
party (the random OT sender) and R the LOWER party. Message flow, for any
number of instances at once::

    S (HIGHER, inputs a)                         R (LOWER, inputs b)
    mta_sender_start(v0, v1, a, rng)             [steps 1-2]
        -- MtaCiphertexts (c^0_i, c^1_i) -->
                                                 mta_receiver_respond(t, v, b, msg, rng)
                                                 -> beta (done)              [steps 3-6]
        <-- MtaChallenge (s, χ_1) --
    mta_sender_finish(state, msg)                [steps 7-8]
    -> alpha (done)

Two corrections to the spec text, both following the Rust code (and the
cronokirby/cait-sith original):

* Step 2 as written, ``(-a + δ_i + v^0_i, a + δ_i + v^1_i)``, gives
  ``alpha + beta = -a·b``. We send ``c^0_i = v^0_i + δ_i + a`` and
  ``c^1_i = v^1_i + δ_i - a``, so ``m_i = δ_i + (-1)^{t_i}·a`` and
  ``beta = ⟨χ, δ⟩ + a·b``.
* Step 4 says S sets ``χ_1``; it is R that does (it alone knows the ``t_i``).

``χ_2..χ_κ = PRG(s)`` is SHAKE128 over a domain tag and R's seed ``s`` of λ
bits, read as 32-byte big-endian blocks, rejecting blocks not below q
(:func:`cosigner.ecdsa.ot._scalars.sample`). S's masks ``δ_i`` come from the
same kind of expansion of a 32-byte seed drawn from S's random source, so
S's state between its steps is 32 bytes, not κ scalars per instance.

Random OT outputs come as ``(n, 32)`` arrays of scalar encodings (as
:mod:`cosigner.ecdsa.ot.random_ot` produces them); instance ``m`` uses rows
``[m·κ, (m + 1)·κ)``. The additions of step 2 and the subtractions of step 3
run on whole arrays; only the inner products of steps 5 and 8 use ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from operator import mul
from typing import Final

import numpy as np

from cosigner.ecdsa.ot import _codec, _scalars
from cosigner.ecdsa.ot._state import SingleUse
from cosigner.ecdsa.ot.bits import LAMBDA, LAMBDA_BYTES, U8Array
from cosigner.ecdsa.ot.errors import OtParameterError, OtProtocolError
from cosigner.groups import RandomBytes, system_random

KAPPA: Final = 256 + LAMBDA
"""κ = ⌈lg q⌉ + λ: random OTs consumed by one MTA instance over secp256k1."""
SEED_SIZE: Final = LAMBDA_BYTES
DELTA_SEED_SIZE: Final = 32
MAX_TOTAL_OTS: Final = 1 << 20
"""Most random OTs one batch of MTA instances may consume (bounds messages to 64 MiB)."""

_CHI_DST: Final = b"cosigner/ecdsa/ot/v1/mta-chi"
_DELTA_DST: Final = b"cosigner/ecdsa/ot/v1/mta-delta"
_SCALAR: Final = _codec.SCALAR_SIZE
_Q: Final = _codec.ORDER


def expand_chi(seed: bytes, size: int) -> list[int]:
    """Spec step 4: ``χ_2, ..., χ_κ <- PRG(s)`` (``size - 1`` scalars)."""
    return _scalars.to_ints(_scalars.sample(_CHI_DST, seed, size - 1))


def _check_shape(instances: int, size: int) -> None:
    if instances < 1 or not 2 <= size <= MAX_TOTAL_OTS or instances * size > MAX_TOTAL_OTS:
        raise OtParameterError(
            f"an MTA batch has at least one instance of at least 2 OTs, {MAX_TOTAL_OTS} OTs at most"
        )


class MtaCiphertexts:
    """S to R (spec step 2): ``(c^0_i, c^1_i)`` for every OT of every instance.

    ``data`` is the raw scalar bytes, instance-major, ``c^0`` before ``c^1``.
    """

    __slots__ = ("data", "instances", "size")

    def __init__(self, instances: int, size: int, data: bytes) -> None:
        _check_shape(instances, size)
        if len(data) != instances * size * 2 * _SCALAR:
            raise OtParameterError("MTA ciphertext data has the wrong length")
        self.instances = instances
        self.size = size
        self.data = data

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_MTA_CIPHERTEXTS)
        w.u32(self.instances)
        w.u32(self.size)
        w.raw(self.data)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> MtaCiphertexts:
        r = _codec.Reader(data, _codec.TAG_MTA_CIPHERTEXTS, "MtaCiphertexts")
        instances = r.count("instances", 1, MAX_TOTAL_OTS // 2)
        size = r.count("size", 2, MAX_TOTAL_OTS // instances)
        raw = r.take(instances * size * 2 * _SCALAR, "ciphertexts")
        r.done()
        _codec.check_scalars_reduced(raw, "MtaCiphertexts.ciphertexts")
        return cls(instances, size, raw)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MtaCiphertexts):
            return NotImplemented
        return (self.size, self.data) == (other.size, other.data)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MtaCiphertexts(instances={self.instances}, size={self.size})"


class MtaChallenge:
    """R to S (spec step 6): the seed ``s`` and ``χ_1`` of every instance."""

    __slots__ = ("chi1", "seeds")

    def __init__(self, seeds: Sequence[bytes], chi1: Sequence[int]) -> None:
        if not seeds or len(seeds) != len(chi1) or any(len(s) != SEED_SIZE for s in seeds):
            raise OtParameterError("an MTA challenge has one seed and one χ_1 per instance")
        self.seeds = tuple(bytes(s) for s in seeds)
        self.chi1 = tuple(c % _Q for c in chi1)

    @property
    def instances(self) -> int:
        return len(self.seeds)

    def to_bytes(self) -> bytes:
        w = _codec.Writer(_codec.TAG_MTA_CHALLENGE)
        w.u32(len(self.seeds))
        for seed, chi1 in zip(self.seeds, self.chi1, strict=True):
            w.raw(seed)
            w.scalar(chi1)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> MtaChallenge:
        r = _codec.Reader(data, _codec.TAG_MTA_CHALLENGE, "MtaChallenge")
        n = r.count("instances", 1, MAX_TOTAL_OTS // 2)
        seeds = []
        chi1 = []
        for m in range(n):
            seeds.append(r.take(SEED_SIZE, f"seed[{m}]"))
            chi1.append(r.scalar(f"chi1[{m}]"))
        r.done()
        return cls(seeds, chi1)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MtaChallenge):
            return NotImplemented
        return (self.seeds, self.chi1) == (other.seeds, other.chi1)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"MtaChallenge(instances={self.instances})"


class MtaSenderState(SingleUse):
    """S between its steps: the seed of its masks δ. Secret, single-use."""

    __slots__ = ("_delta_seed", "instances", "size")

    def __init__(self, instances: int, size: int, delta_seed: bytes) -> None:
        super().__init__()
        _check_shape(instances, size)
        if len(delta_seed) != DELTA_SEED_SIZE:
            raise OtParameterError(f"the MTA mask seed is {DELTA_SEED_SIZE} bytes")
        self.instances = instances
        self.size = size
        self._delta_seed = bytes(delta_seed)

    def _deltas(self) -> U8Array:
        return _scalars.sample(_DELTA_DST, self._delta_seed, self.instances * self.size)

    def to_bytes(self) -> bytes:
        self._check_storable()
        w = _codec.Writer(_codec.TAG_MTA_SENDER_STATE)
        w.u32(self.instances)
        w.u32(self.size)
        w.raw(self._delta_seed)
        return w.finish()

    @classmethod
    def from_bytes(cls, data: bytes) -> MtaSenderState:
        r = _codec.Reader(data, _codec.TAG_MTA_SENDER_STATE, "MtaSenderState")
        instances = r.count("instances", 1, MAX_TOTAL_OTS // 2)
        size = r.count("size", 2, MAX_TOTAL_OTS // instances)
        seed = r.take(DELTA_SEED_SIZE, "delta seed")
        r.done()
        return cls(instances, size, seed)

    def __repr__(self) -> str:
        return f"MtaSenderState(instances={self.instances}, size={self.size}, <secret>)"


def mta_sender_start(
    v0: U8Array,
    v1: U8Array,
    a: Sequence[int],
    size: int = KAPPA,
    rng: RandomBytes = system_random,
) -> tuple[MtaSenderState, MtaCiphertexts]:
    """S, steps 1-2: sample ``δ``, send ``(v^0_i + δ_i + a, v^1_i + δ_i - a)``.

    ``a`` holds one input per instance; ``v0``/``v1`` hold ``len(a) * size``
    random OT outputs each, shape ``(len(a) * size, 32)``.
    """
    instances = len(a)
    _check_shape(instances, size)
    n = instances * size
    if v0.shape != (n, _SCALAR) or v1.shape != (n, _SCALAR):
        raise OtParameterError(f"{instances} MTA instances need {n} OTs on each side")
    state = MtaSenderState(instances, size, rng(DELTA_SEED_SIZE))
    deltas = _scalars.to_limbs(state._deltas())
    a_limbs = np.repeat(_scalars.limbs_from_ints([x % _Q for x in a]), size, axis=0)
    minus_a = np.repeat(_scalars.limbs_from_ints([-x % _Q for x in a]), size, axis=0)
    c0 = _scalars.add_mod(_scalars.to_limbs(v0), _scalars.add_mod(deltas, a_limbs))
    c1 = _scalars.add_mod(_scalars.to_limbs(v1), _scalars.add_mod(deltas, minus_a))
    pairs = np.stack([_scalars.from_limbs(c0), _scalars.from_limbs(c1)], axis=1)
    return state, MtaCiphertexts(instances, size, pairs.tobytes())


def mta_receiver_respond(
    choices: U8Array,
    values: U8Array,
    b: Sequence[int],
    message: MtaCiphertexts,
    rng: RandomBytes = system_random,
) -> tuple[list[int], MtaChallenge]:
    """R, steps 3-6: ``m_i = c^{t_i}_i - v^{t_i}_i``, ``χ``, ``beta = ⟨χ, m⟩``; send ``(s, χ_1)``.

    ``choices`` has shape ``(instances, size)`` (0/1), ``values`` holds the
    ``v^{t_i}_i``, shape ``(instances * size, 32)``, and ``b`` one input per
    instance. Returns the ``beta`` of every instance and the message for S.
    """
    instances = len(b)
    size = message.size
    if message.instances != instances:
        raise OtProtocolError(
            f"expected MTA ciphertexts for {instances} instances, got {message.instances}"
        )
    if choices.ndim != 2 or choices.shape[0] != instances:
        raise OtParameterError("MTA receiver choices have the shape (instances, size)")
    if choices.shape[1] != size:
        raise OtProtocolError(f"expected MTA ciphertexts of {choices.shape[1]} OTs, got {size}")
    n = instances * size
    if values.shape != (n, _SCALAR):
        raise OtParameterError("MTA receiver values do not match its choices")
    c = np.frombuffer(message.data, dtype=np.uint8).reshape(n, 2, _SCALAR)
    picked = np.take_along_axis(c, choices.reshape(n, 1, 1).astype(np.intp), axis=1)[:, 0]
    m_all = _scalars.to_ints(
        _scalars.from_limbs(_scalars.sub_mod(_scalars.to_limbs(picked), _scalars.to_limbs(values)))
    )
    q = _Q
    betas = []
    seeds = []
    chi1s = []
    for k in range(instances):
        t = choices[k].tolist()
        ms = m_all[k * size : (k + 1) * size]
        seed = rng(SEED_SIZE)
        chi = expand_chi(seed, size)
        # b = Σ χ_i (-1)^{t_i}: solve for χ_1 (spec step 4).
        signed = sum(compress(chi, [1 - bit for bit in t[1:]])) - sum(compress(chi, t[1:]))
        chi1 = (b[k] - signed) % q
        if t[0]:
            chi1 = -chi1 % q
        betas.append((chi1 * ms[0] + sum(map(mul, chi, ms[1:]))) % q)
        seeds.append(seed)
        chi1s.append(chi1)
    return betas, MtaChallenge(seeds, chi1s)


def mta_sender_finish(state: MtaSenderState, message: MtaChallenge) -> list[int]:
    """S, steps 7-8: expand ``χ`` from ``s``; ``alpha = -⟨χ, δ⟩`` for every instance."""
    state._consume()
    if message.instances != state.instances:
        raise OtProtocolError(
            f"expected an MTA challenge for {state.instances} instances, got {message.instances}"
        )
    deltas = _scalars.to_ints(state._deltas())
    size = state.size
    q = _Q
    alphas = []
    for k in range(state.instances):
        ds = deltas[k * size : (k + 1) * size]
        chi = expand_chi(message.seeds[k], size)
        alphas.append(-(message.chi1[k] * ds[0] + sum(map(mul, chi, ds[1:]))) % q)
    return alphas


__all__ = [
    "KAPPA",
    "MtaChallenge",
    "MtaCiphertexts",
    "MtaSenderState",
    "expand_chi",
    "mta_receiver_respond",
    "mta_sender_finish",
    "mta_sender_start",
]
