"""The two-party OT layer of threshold ECDSA: each protocol's defining property first,
then serialization, then the failures a peer or a caller can cause.

Spec: ``docs/ecdsa/ot_based_ecdsa/triples.md`` (near/threshold-signatures).
The spec has no test vectors for this layer, so each layer is checked against
its defining equation (``K^{b_i}``, ``Q = T + X·Δ``, ``v^{b_i}``,
``alpha + beta = a·b``) and the bit-level helpers against plain-Python models.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner.ecdsa.ot import (
    KAPPA,
    BaseOtReceiverMessage,
    BaseOtSenderMessage,
    BaseOtSenderState,
    CorrelatedOtMessage,
    HigherAwaitingCheck,
    HigherAwaitingMtaChallenge,
    LowerAwaitingChallenge,
    LowerAwaitingCiphertexts,
    MtaChallenge,
    MtaCiphertexts,
    MtaSenderState,
    OtConsistencyError,
    OtParameterError,
    OtProtocolError,
    OtStateReusedError,
    PairRole,
    PairSetup,
    RandomOtChallenge,
    RandomOtCheck,
    RandomOtReceiverOutput,
    RandomOtReceiverState,
    RandomOtSenderOutput,
    RandomOtSenderState,
    _scalars,
    base_ot_receiver_respond,
    base_ot_sender_finish,
    base_ot_sender_start,
    bits,
    correlated_ot_receiver,
    correlated_ot_sender,
    mta_receiver_respond,
    mta_sender_finish,
    mta_sender_start,
    multiply_batch_higher_challenge,
    multiply_batch_higher_encrypt,
    multiply_batch_higher_finish,
    multiply_batch_lower_check,
    multiply_batch_lower_finish,
    multiply_batch_lower_start,
    random_ot,
    random_ot_receiver_finish,
    random_ot_receiver_start,
    random_ot_sender_challenge,
    random_ot_sender_finish,
    setup_higher_respond,
    setup_lower_finish,
    setup_lower_start,
)
from cosigner.ecdsa.ot.correlated_ot import choice_columns, delta_mask
from cosigner.errors import DecodeError, InvalidElementError, InvalidScalarError
from cosigner.groups import SECP256K1, RandomBytes

Q = SECP256K1.order
PROPERTY = settings(max_examples=25, deadline=None)
FUZZ = settings(max_examples=300, deadline=None)


def seeded_rng(seed: int) -> RandomBytes:
    return random.Random(seed).randbytes


@dataclass(frozen=True)
class Pair:
    lower: PairSetup
    higher: PairSetup


def run_setup(seed: int) -> Pair:
    rng = seeded_rng(seed)
    state, m1 = setup_lower_start(rng)
    higher, m2 = setup_higher_respond(BaseOtSenderMessage.from_bytes(m1.to_bytes()), rng)
    lower = setup_lower_finish(state, BaseOtReceiverMessage.from_bytes(m2.to_bytes()))
    return Pair(lower, higher)


@cache
def pair() -> Pair:
    return run_setup(7)


def rows_of(keys: bytes) -> list[bytes]:
    return [keys[16 * i : 16 * i + 16] for i in range(128)]


def bit(data: bytes, i: int) -> int:
    return (data[i // 8] >> (i % 8)) & 1


def clmul(a: int, b: int) -> int:
    out = 0
    while b:
        if b & 1:
            out ^= a
        a <<= 1
        b >>= 1
    return out


def as_ints(values: np.ndarray[Any, Any]) -> list[int]:
    return _scalars.to_ints(values)


# -- base OT and setup (spec "'Simplest' OT Protocol", "Setup Phase") ------------------------


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32), choices=st.binary(min_size=16, max_size=16))
def test_base_ot_receiver_learns_the_chosen_keys(seed: int, choices: bytes) -> None:
    rng = seeded_rng(seed)
    state, msg_y = base_ot_sender_start(rng)
    k_b, msg_x = base_ot_receiver_respond(choices, msg_y, rng)
    k0, k1 = base_ot_sender_finish(state, msg_x)
    for i, (r0, r1, rb) in enumerate(zip(rows_of(k0), rows_of(k1), rows_of(k_b), strict=True)):
        assert rb == (r1 if bit(choices, i) else r0)
        assert r0 != r1


def test_base_ot_kdf_layout() -> None:
    p = SECP256K1.base_mul(5)
    x, y = SECP256K1.base_mul(3).to_bytes(), SECP256K1.base_mul(4).to_bytes()
    expected = hashlib.sha256(
        b"cosigner/ecdsa/ot/v1/batch-random-ot" + (9).to_bytes(8, "little") + x + y + p.to_bytes()
    ).digest()[:16]
    from cosigner.ecdsa.ot.base_ot import kdf

    assert kdf(9, x, y, p) == expected
    assert kdf(9, x, y, SECP256K1.identity) != expected  # the identity hashes, never raises


def test_base_ot_cheating_receiver_cannot_crash_the_sender() -> None:
    """X_i = Y makes y·X_i - Z the identity; the sender still derives keys."""
    state, msg_y = base_ot_sender_start(seeded_rng(1))
    k0, k1 = base_ot_sender_finish(state, BaseOtReceiverMessage((msg_y.big_y,) * 128))
    assert len(k0) == len(k1) == 2048


def test_setup_gives_each_side_its_half() -> None:
    p = pair()
    assert p.lower.role is PairRole.LOWER and p.higher.role is PairRole.HIGHER
    for i, (r0, r1, rd) in enumerate(
        zip(rows_of(p.lower.k0), rows_of(p.lower.k1), rows_of(p.higher.k_delta), strict=True)
    ):
        assert rd == (r1 if bit(p.higher.delta, i) else r0)
    with pytest.raises(OtParameterError):
        _ = p.lower.delta
    with pytest.raises(OtParameterError):
        _ = p.higher.k0


def test_pair_setup_round_trip_and_repr() -> None:
    p = pair()
    for setup in (p.lower, p.higher):
        assert PairSetup.from_bytes(setup.to_bytes()) == setup
        text = repr(setup)
        assert "secret" in text
        for secret in (setup._a, setup._b):
            assert secret.hex()[:16] not in text


# -- bit matrices (spec "Correlated OT Extension", "Random OT Extension" step 6) -------------


@PROPERTY
@given(count=st.integers(1, 3), width=st.sampled_from([16, 32, 48]), seed=st.integers(0, 2**32))
def test_transpose_columns_matches_a_bit_by_bit_transpose(
    count: int, width: int, seed: int
) -> None:
    cols = np.frombuffer(random.Random(seed).randbytes(count * 128 * width), np.uint8)
    cols = cols.reshape(count, 128, width)
    unpacked = np.unpackbits(cols, axis=-1, bitorder="little")
    expected = np.packbits(unpacked.transpose(0, 2, 1), axis=-1, bitorder="little")
    assert np.array_equal(bits.transpose_columns(cols), expected)


@settings(max_examples=10, deadline=None)
@given(count=st.integers(1, 10), mu=st.integers(1, 3), seed=st.integers(0, 2**32))
def test_gf_inner_products_match_carry_less_multiplication(count: int, mu: int, seed: int) -> None:
    rnd = random.Random(seed)
    ncols = 3
    cols = np.frombuffer(rnd.randbytes(count * ncols * mu * 16), np.uint8)
    cols = cols.reshape(count, ncols, mu * 16)
    chi_bytes = rnd.randbytes(count * mu * 16)
    chi = np.frombuffer(chi_bytes, "<u8").astype(np.uint64).reshape(count, mu, 2)
    out = bits.gf_inner_products(cols, chi)
    for k in range(count):
        for j in range(ncols):
            acc = 0
            for i in range(mu):
                block = int.from_bytes(cols[k, j, 16 * i : 16 * i + 16].tobytes(), "little")
                weight = int.from_bytes(
                    chi_bytes[16 * (k * mu + i) : 16 * (k * mu + i + 1)], "little"
                )
                acc ^= clmul(block, weight)
            assert int.from_bytes(out[k, j].tobytes(), "little") == acc


def poly_mod(r: int) -> int:
    """Reduction modulo X^128 + X^7 + X^2 + X + 1, bit by bit."""
    modulus = (1 << 128) | 0b10000111
    for degree in range(r.bit_length() - 1, 127, -1):
        if r >> degree & 1:
            r ^= modulus << (degree - 128)
    return r


@PROPERTY
@given(values=st.lists(st.integers(0, 2**256 - 1), min_size=1, max_size=5))
def test_gf_reduce_matches_polynomial_reduction(values: list[int]) -> None:
    data = b"".join(v.to_bytes(32, "little") for v in values)
    out = bits.gf_reduce(np.frombuffer(data, np.uint8).reshape(len(values), 32))
    assert [int.from_bytes(row.tobytes(), "little") for row in out] == [poly_mod(v) for v in values]


def test_gf_field_multiplication_facts() -> None:
    """X^127 · X = X^128 = X^7 + X^2 + X + 1; the field is a field (x · x^-1 = 1 via Fermat)."""
    x127 = (1 << 127).to_bytes(16, "little")
    chi = np.array([[[2, 0]]], dtype=np.uint64)
    product = bits.gf_reduce(
        bits.gf_inner_products(np.frombuffer(x127, np.uint8).reshape(1, 1, 16), chi)
    )
    assert int.from_bytes(product.tobytes(), "little") == 0b10000111

    def gf_mul(a: int, b: int) -> int:
        return poly_mod(clmul(a, b))

    a = 0x1234_5678_9ABC_DEF0_0FED_CBA9_8765_4321
    power, base, e = 1, a, 2**128 - 2
    while e:
        if e & 1:
            power = gf_mul(power, base)
        base = gf_mul(base, base)
        e >>= 1
    assert gf_mul(a, power) == 1


def test_gf_product_matches_rust_test_vector() -> None:
    """``bits.rs`` test: [0b10, 0b10] * [0b100, 0b100] = [0b1000, 0, 0b1000, 0] (u64 words)."""
    a = (0b10 | 0b10 << 64).to_bytes(16, "little")
    b = np.array([[[0b100, 0b100]]], dtype=np.uint64)
    out = bits.gf_inner_products(np.frombuffer(a, np.uint8).reshape(1, 1, 16), b)
    words = np.frombuffer(out.tobytes(), "<u8").tolist()
    assert words == [0b1000, 0, 0b1000, 0]


def test_prg_depends_on_every_session_input() -> None:
    keys = bits.key_rows(pair().lower.k0)
    base = bits.prg_expand(keys, b"sid", bytes(16), 256, 2)
    assert base.shape == (2, 128, 32)
    assert not np.array_equal(base[0], base[1])  # extensions of a batch differ
    assert not np.array_equal(base, bits.prg_expand(keys, b"sie", bytes(16), 256, 2))
    assert not np.array_equal(base, bits.prg_expand(keys, b"sid", bytes(15) + b"\1", 256, 2))
    # a longer batch extends the shorter one: extension k does not depend on count
    assert np.array_equal(base, bits.prg_expand(keys, b"sid", bytes(16), 256, 3)[:2])


# -- correlated OT extension ----------------------------------------------------------------


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32), count=st.integers(1, 3))
def test_correlated_ot_gives_q_equal_t_plus_x_delta(seed: int, count: int) -> None:
    p = pair()
    rng = seeded_rng(seed)
    rows = 256
    x = np.frombuffer(rng(count * 128 * rows // 8), np.uint8).reshape(count, 128, rows // 8)
    t, msg = correlated_ot_receiver(p.lower, b"batch", x, rows, count, rng)
    q = correlated_ot_sender(
        p.higher, b"batch", CorrelatedOtMessage.from_bytes(msg.to_bytes()), rows, count
    )
    assert np.array_equal(q, t ^ (x & delta_mask(p.higher.delta)))


def test_correlated_ot_refuses_a_message_of_another_shape() -> None:
    p = pair()
    x = choice_columns(bytes(64), 256, 2)
    _, msg = correlated_ot_receiver(p.lower, b"s", x, 256, 2, seeded_rng(1))
    with pytest.raises(OtProtocolError):
        correlated_ot_sender(p.higher, b"s", msg, 256, 3)
    with pytest.raises(OtParameterError):
        correlated_ot_receiver(p.higher, b"s", x, 256, 2)
    with pytest.raises(OtParameterError):
        correlated_ot_receiver(p.lower, b"s", x, 200, 2)


# -- random OT extension --------------------------------------------------------------------


def run_random_ot(
    batch_size: int, count: int, seed: int = 3, tamper: Callable[[Any], Any] | None = None
) -> tuple[RandomOtReceiverOutput, RandomOtSenderOutput]:
    p = pair()
    rng = seeded_rng(seed)
    r_state, m1 = random_ot_receiver_start(p.lower, b"rot", batch_size, count, rng)
    s_state, m2 = random_ot_sender_challenge(p.higher, b"rot", batch_size, count, m1, rng)
    r_out, m3 = random_ot_receiver_finish(r_state, m2)
    if tamper is not None:
        m3 = tamper(m3)
    s_out = random_ot_sender_finish(s_state, m3)
    return r_out, s_out


@pytest.mark.parametrize(("batch_size", "count"), [(1, 1), (200, 2), (768, 3)])
def test_random_ot_receiver_gets_the_chosen_value(batch_size: int, count: int) -> None:
    r_out, s_out = run_random_ot(batch_size, count)
    assert r_out.choices.shape == (count, batch_size)
    v0, v1, vb = as_ints(s_out.v0), as_ints(s_out.v1), as_ints(r_out.values)
    choices = r_out.choices.reshape(-1).tolist()
    assert vb == [b1 if c else b0 for b0, b1, c in zip(v0, v1, choices, strict=True)]
    assert all(0 <= v < Q for v in v0 + v1)
    assert len(set(v0 + v1)) == len(v0 + v1)
    if len(choices) > 64:
        assert 0 < sum(choices) < len(choices)


def test_random_ot_padding_sizes() -> None:
    assert random_ot.adjusted_size(768) == 1024  # Rust adjust_size: pad to λ, plus 2λ
    assert random_ot.adjusted_size(1) == 384
    assert random_ot.adjusted_size(129) == 512


def _flip_u(bit_index: int) -> Callable[[CorrelatedOtMessage], CorrelatedOtMessage]:
    def flip(msg: CorrelatedOtMessage) -> CorrelatedOtMessage:
        u = msg.u.copy()
        u.reshape(-1)[bit_index // 8] ^= 1 << (bit_index % 8)
        return CorrelatedOtMessage(msg.nonce, u)

    return flip


@pytest.mark.parametrize(
    "bit_index",
    [0, 7, 1000, 128 * 8 * 64 - 1, 128 * 8 * 128 + 5],  # first rows, padding rows, 2nd extension
)
def test_consistency_check_catches_a_receiver_that_flips_a_bit_of_u(bit_index: int) -> None:
    p = pair()
    rng = seeded_rng(11)
    r_state, m1 = random_ot_receiver_start(p.lower, b"cheat", 768, 2, rng)
    s_state, m2 = random_ot_sender_challenge(
        p.higher, b"cheat", 768, 2, _flip_u(bit_index)(m1), rng
    )
    _, m3 = random_ot_receiver_finish(r_state, m2)
    with pytest.raises(OtConsistencyError) as info:
        random_ot_sender_finish(s_state, m3)
    assert info.value.code == "ot_consistency_check_failed"


def test_consistency_check_catches_inconsistent_choice_rows() -> None:
    """A receiver whose X row is not all-equal (the selective-failure attack on Δ) is caught."""
    p = pair()
    rng = seeded_rng(12)
    rows, count = 384, 1
    choices = rng(rows // 8)
    x = np.broadcast_to(choice_columns(choices, rows, count), (count, 128, rows // 8)).copy()
    x[0, 5, 0] ^= 1  # row 0 uses a different bit in column 5
    t, m1 = correlated_ot_receiver(p.lower, b"sf", x, rows, count, rng)
    r_state = RandomOtReceiverState(b"sf", 1, count, m1.nonce, choices, t)
    s_state, m2 = random_ot_sender_challenge(p.higher, b"sf", 1, count, m1, rng)
    _, m3 = random_ot_receiver_finish(r_state, m2)
    with pytest.raises(OtConsistencyError):
        random_ot_sender_finish(s_state, m3)


def test_consistency_check_catches_tampered_check_values() -> None:
    def tamper(m3: RandomOtCheck) -> RandomOtCheck:
        values = m3.values.copy()
        values[0, 3, 0] ^= 1
        return RandomOtCheck(values)

    with pytest.raises(OtConsistencyError):
        run_random_ot(16, 1, tamper=tamper)
    with pytest.raises(OtProtocolError):
        run_random_ot(16, 2, tamper=lambda m3: RandomOtCheck(m3.values[:1]))


def test_random_ot_roles_are_enforced() -> None:
    p = pair()
    with pytest.raises(OtParameterError):
        random_ot_receiver_start(p.higher, b"x", 8, 1)
    _, m1 = random_ot_receiver_start(p.lower, b"x", 8, 1)
    with pytest.raises(OtParameterError):
        random_ot_sender_challenge(p.lower, b"x", 8, 1, m1)
    with pytest.raises(OtProtocolError):
        random_ot_sender_challenge(p.higher, b"x", 8, 2, m1)
    with pytest.raises(OtParameterError):
        random_ot_receiver_start(p.lower, b"x", 0, 1)


def test_hash_rows_rejects_values_above_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rejection path of H_i, which real inputs reach with probability 2^-127."""
    rows = np.frombuffer(random.Random(5).randbytes(2 * 3 * 16), np.uint8).reshape(2, 3, 16)
    honest = random_ot.hash_rows(bytes(32), rows)
    real = hashlib.blake2b

    def fake(data: Any, **kw: Any) -> Any:
        data = bytes(data)
        if len(data) == 56 and data[32:40] == bytes(4) + (1).to_bytes(4, "big"):

            class Forced:
                def digest(self) -> bytes:
                    return b"\xff" * 32

            return Forced()
        return real(data, **kw)

    monkeypatch.setattr(hashlib, "blake2b", fake)
    forced = random_ot.hash_rows(bytes(32), rows)
    monkeypatch.undo()
    assert np.array_equal(np.delete(forced, 1, axis=0), np.delete(honest, 1, axis=0))
    item = bytes(32) + bytes(4) + (1).to_bytes(4, "big") + rows[0, 1].tobytes()
    assert forced[1].tobytes() == random_ot._rehash(item)
    assert int.from_bytes(forced[1].tobytes(), "big") < Q


def test_scalar_sampling_rejects_blocks_above_the_order(monkeypatch: pytest.MonkeyPatch) -> None:
    real = hashlib.shake_128

    class Stream:
        def __init__(self, data: bytes) -> None:
            self.inner = real(data)

        def digest(self, n: int) -> bytes:
            return (b"\xff" * 32 + self.inner.digest(n))[:n]

    honest_stream = real(b"dst" + b"seed").digest(64)
    monkeypatch.setattr(hashlib, "shake_128", Stream)
    values = _scalars.sample(b"dst", b"seed", 3)
    monkeypatch.undo()
    assert values.shape == (3, 32)
    assert values[0].tobytes() == honest_stream[:32]  # the 0xff.. block was skipped
    assert values[1].tobytes() == honest_stream[32:64]


SCALARS = st.one_of(st.integers(0, Q - 1), st.sampled_from([0, 1, Q - 1, Q - 2, 2**255, 2**64 - 1]))


@PROPERTY
@given(xs=st.lists(st.tuples(SCALARS, SCALARS), min_size=1, max_size=8))
def test_limb_arithmetic_matches_integers(xs: list[tuple[int, int]]) -> None:
    a = _scalars.limbs_from_ints([x for x, _ in xs])
    b = _scalars.limbs_from_ints([y for _, y in xs])
    assert as_ints(_scalars.from_limbs(_scalars.add_mod(a, b))) == [(x + y) % Q for x, y in xs]
    assert as_ints(_scalars.from_limbs(_scalars.sub_mod(a, b))) == [(x - y) % Q for x, y in xs]


# -- MTA ------------------------------------------------------------------------------------


def random_correlations(
    rnd: random.Random, n: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    v0 = [rnd.randrange(Q) for _ in range(n)]
    v1 = [rnd.randrange(Q) for _ in range(n)]
    t = [rnd.getrandbits(1) for _ in range(n)]
    vt = [b1 if c else b0 for b0, b1, c in zip(v0, v1, t, strict=True)]
    choices = np.array(t, dtype=np.uint8)
    return _scalars.from_ints(v0), _scalars.from_ints(v1), choices, _scalars.from_ints(vt)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32), ab=st.lists(st.tuples(SCALARS, SCALARS), min_size=1, max_size=3))
def test_mta_outputs_sum_to_the_product(seed: int, ab: list[tuple[int, int]]) -> None:
    rnd = random.Random(seed)
    n = len(ab)
    v0, v1, choices, vt = random_correlations(rnd, n * KAPPA)
    s_state, c = mta_sender_start(v0, v1, [a for a, _ in ab], KAPPA, rnd.randbytes)
    betas, challenge = mta_receiver_respond(
        choices.reshape(n, KAPPA),
        vt,
        [b for _, b in ab],
        MtaCiphertexts.from_bytes(c.to_bytes()),
        rnd.randbytes,
    )
    alphas = mta_sender_finish(
        MtaSenderState.from_bytes(s_state.to_bytes()), MtaChallenge.from_bytes(challenge.to_bytes())
    )
    for (a, b), alpha, beta in zip(ab, alphas, betas, strict=True):
        assert (alpha + beta) % Q == a * b % Q


def test_mta_refuses_mismatched_instances() -> None:
    rnd = random.Random(2)
    v0, v1, choices, vt = random_correlations(rnd, 2 * KAPPA)
    state, c = mta_sender_start(v0, v1, [1, 2], KAPPA, rnd.randbytes)
    with pytest.raises(OtProtocolError):
        mta_receiver_respond(choices.reshape(2, KAPPA)[:1], vt[:KAPPA], [3], c)
    _, challenge = mta_receiver_respond(choices.reshape(2, KAPPA), vt, [3, 4], c)
    with pytest.raises(OtProtocolError):
        mta_sender_finish(state, MtaChallenge(challenge.seeds[:1], challenge.chi1[:1]))
    with pytest.raises(OtParameterError):
        mta_sender_start(v0, v1, [1], KAPPA)


# -- pairwise multiplication ----------------------------------------------------------------


def random_inputs(rnd: random.Random, count: int) -> list[tuple[int, int]]:
    return [(rnd.randrange(Q), rnd.randrange(Q)) for _ in range(count)]


def roundtrip(obj: Any) -> Any:
    return type(obj).from_bytes(obj.to_bytes())


def run_multiplication(
    count: int, seed: int, persist: bool
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[int], list[int]]:
    """Both sides of one batch; with ``persist``, every state and message crosses bytes."""
    p = pair()
    rnd = random.Random(seed)
    lower_inputs, higher_inputs = random_inputs(rnd, count), random_inputs(rnd, count)
    rng_l, rng_h = seeded_rng(seed + 1), seeded_rng(seed + 2)
    keep = roundtrip if persist else (lambda x: x)
    sid = b"batch-" + str(seed).encode()

    s1, m1 = multiply_batch_lower_start(keep(p.lower), sid, lower_inputs, rng_l)
    h1, m2 = multiply_batch_higher_challenge(keep(p.higher), sid, higher_inputs, keep(m1), rng_h)
    s2, m3 = multiply_batch_lower_check(keep(s1), keep(m2))
    h2, m4 = multiply_batch_higher_encrypt(keep(h1), keep(m3), rng_h)
    lower_shares, m5 = multiply_batch_lower_finish(keep(s2), keep(m4), rng_l)
    higher_shares = multiply_batch_higher_finish(keep(h2), keep(m5))
    return lower_inputs, higher_inputs, lower_shares, higher_shares


@pytest.mark.parametrize("count", [1, 3])
def test_multiplication_shares_sum_to_the_cross_products(count: int) -> None:
    lower, higher, ls, hs = run_multiplication(count, seed=20 + count, persist=False)
    for (a_l, b_l), (a_h, b_h), s_l, s_h in zip(lower, higher, ls, hs, strict=True):
        assert (s_l + s_h) % Q == (a_l * b_h + b_l * a_h) % Q


def test_multiplication_gives_shares_of_the_product_of_sums() -> None:
    """Spec step 4: c_i = a_i b_i + gamma_i; the c_i sum to (a_i + a_j)(b_i + b_j)."""
    (lower,), (higher,), (s_l,), (s_h,) = run_multiplication(1, seed=40, persist=False)
    c_lower = lower[0] * lower[1] + s_l
    c_higher = higher[0] * higher[1] + s_h
    assert (c_lower + c_higher) % Q == (lower[0] + higher[0]) * (lower[1] + higher[1]) % Q


def test_multiplication_survives_serializing_every_state_and_message() -> None:
    assert run_multiplication(2, seed=50, persist=True) == run_multiplication(
        2, seed=50, persist=False
    )


def test_multiplication_states_are_single_use_and_hide_secrets() -> None:
    p = pair()
    rng = seeded_rng(60)
    s1, m1 = multiply_batch_lower_start(p.lower, b"once", [(1, 2)], rng)
    h1, m2 = multiply_batch_higher_challenge(p.higher, b"once", [(3, 4)], m1, rng)
    for state in (s1, h1):
        assert "secret" in repr(state)
    s2, m3 = multiply_batch_lower_check(s1, m2)
    with pytest.raises(OtStateReusedError):
        multiply_batch_lower_check(s1, m2)
    with pytest.raises(OtStateReusedError):
        s1.to_bytes()
    h2, m4 = multiply_batch_higher_encrypt(h1, m3, rng)
    with pytest.raises(OtStateReusedError):
        multiply_batch_higher_encrypt(h1, m3, rng)
    assert "secret" in repr(s2) and "secret" in repr(h2)
    _, m5 = multiply_batch_lower_finish(s2, m4, rng)
    multiply_batch_higher_finish(h2, m5)
    with pytest.raises(OtStateReusedError):
        multiply_batch_higher_finish(h2, m5)
    with pytest.raises(OtStateReusedError):
        h2.to_bytes()


def test_multiplication_aborts_when_the_lower_party_cheats() -> None:
    """LOWER sends a U that is not what its T and choices imply: HIGHER must abort."""
    p = pair()
    rng = seeded_rng(70)
    s1, m1 = multiply_batch_lower_start(p.lower, b"cheat", [(1, 2), (3, 4)], rng)
    h1, m2 = multiply_batch_higher_challenge(
        p.higher, b"cheat", [(5, 6), (7, 8)], _flip_u(9)(m1), rng
    )
    _, m3 = multiply_batch_lower_check(s1, m2)
    with pytest.raises(OtConsistencyError):
        multiply_batch_higher_encrypt(h1, m3, rng)


def test_multiplication_parameter_errors() -> None:
    p = pair()
    with pytest.raises(OtParameterError):
        multiply_batch_lower_start(p.higher, b"s", [(1, 2)])
    with pytest.raises(OtParameterError):
        multiply_batch_lower_start(p.lower, b"s", [])
    with pytest.raises(OtParameterError):
        multiply_batch_lower_start(p.lower, b"s", [(1, 2, 3)])  # type: ignore[list-item]
    with pytest.raises(OtParameterError):
        multiply_batch_lower_start(p.lower, b"s" * 2000, [(1, 2)])
    _, m1 = multiply_batch_lower_start(p.lower, b"s", [(1, 2)])
    with pytest.raises(OtParameterError):
        multiply_batch_higher_challenge(p.lower, b"s", [(1, 2)], m1)
    with pytest.raises(OtProtocolError):
        multiply_batch_higher_challenge(p.higher, b"s", [(1, 2), (3, 4)], m1)


# -- serialization --------------------------------------------------------------------------


@cache
def samples() -> dict[type, bytes]:
    """One valid encoding of every message and state class, from real protocol runs."""
    p = pair()
    rng = seeded_rng(80)
    out: dict[type, bytes] = {PairSetup: p.lower.to_bytes()}
    b_state, b1 = base_ot_sender_start(rng)
    _, b2 = base_ot_receiver_respond(bytes(16), b1, rng)
    out.update({BaseOtSenderState: b_state.to_bytes(), BaseOtSenderMessage: b1.to_bytes()})
    out[BaseOtReceiverMessage] = b2.to_bytes()
    r_state, r1 = random_ot_receiver_start(p.lower, b"ser", 5, 2, rng)
    s_state, r2 = random_ot_sender_challenge(p.higher, b"ser", 5, 2, r1, rng)
    out.update({RandomOtReceiverState: r_state.to_bytes(), RandomOtSenderState: s_state.to_bytes()})
    r_out, r3 = random_ot_receiver_finish(r_state, r2)
    s_out = random_ot_sender_finish(s_state, r3)
    out.update({CorrelatedOtMessage: r1.to_bytes(), RandomOtChallenge: r2.to_bytes()})
    out.update({RandomOtCheck: r3.to_bytes(), RandomOtReceiverOutput: r_out.to_bytes()})
    out[RandomOtSenderOutput] = s_out.to_bytes()
    l1, m1 = multiply_batch_lower_start(p.lower, b"ser", [(1, 2)], rng)
    out[LowerAwaitingChallenge] = l1.to_bytes()
    h1, m2 = multiply_batch_higher_challenge(p.higher, b"ser", [(3, 4)], m1, rng)
    out[HigherAwaitingCheck] = h1.to_bytes()
    l2, m3 = multiply_batch_lower_check(l1, m2)
    out[LowerAwaitingCiphertexts] = l2.to_bytes()
    h2, m4 = multiply_batch_higher_encrypt(h1, m3, rng)
    out.update({HigherAwaitingMtaChallenge: h2.to_bytes(), MtaCiphertexts: m4.to_bytes()})
    out[MtaSenderState] = h2.mta.to_bytes()
    _, m5 = multiply_batch_lower_finish(l2, m4, rng)
    out[MtaChallenge] = m5.to_bytes()
    return out


SERIALIZABLE = [
    PairSetup,
    BaseOtSenderState,
    BaseOtSenderMessage,
    BaseOtReceiverMessage,
    CorrelatedOtMessage,
    RandomOtChallenge,
    RandomOtCheck,
    RandomOtReceiverState,
    RandomOtSenderState,
    RandomOtReceiverOutput,
    RandomOtSenderOutput,
    MtaCiphertexts,
    MtaChallenge,
    MtaSenderState,
    LowerAwaitingChallenge,
    LowerAwaitingCiphertexts,
    HigherAwaitingCheck,
    HigherAwaitingMtaChallenge,
]
cls_params = pytest.mark.parametrize("cls", SERIALIZABLE, ids=lambda c: c.__name__)


def test_every_serializable_class_has_a_sample_with_a_distinct_tag() -> None:
    assert set(samples()) == set(SERIALIZABLE)
    assert len({data[1] for data in samples().values()}) == len(SERIALIZABLE)


@cls_params
def test_encodings_round_trip_exactly(cls: Any) -> None:
    data = samples()[cls]
    obj = cls.from_bytes(data)
    assert obj.to_bytes() == data
    assert cls.from_bytes(bytearray(data)).to_bytes() == data


@cls_params
def test_decoders_refuse_structural_damage(cls: Any) -> None:
    data = samples()[cls]
    damaged = [
        b"",
        data[:1],
        data[:-1],
        data + b"\x00",
        bytes([2]) + data[1:],  # unknown version
        data[:1] + bytes([data[1] ^ 0x40]) + data[2:],  # another type tag
    ]
    for bad in damaged:
        with pytest.raises(DecodeError):
            cls.from_bytes(bad)
    with pytest.raises(DecodeError):
        cls.from_bytes("not bytes")


@FUZZ
@given(data=st.binary(max_size=200), cls=st.sampled_from(SERIALIZABLE))
def test_random_bytes_decode_or_raise_decode_error(data: bytes, cls: Any) -> None:
    for candidate in (data, samples()[cls][:2] + data):
        try:
            obj = cls.from_bytes(candidate)
        except DecodeError:
            continue
        assert obj.to_bytes() == candidate


@FUZZ
@given(cls=st.sampled_from(SERIALIZABLE), index=st.integers(0, 2**32), value=st.integers(0, 255))
def test_mutated_encodings_decode_canonically_or_raise_decode_error(
    cls: Any, index: int, value: int
) -> None:
    data = bytearray(samples()[cls])
    data[index % len(data)] = value
    try:
        obj = cls.from_bytes(bytes(data))
    except DecodeError:
        return
    assert obj.to_bytes() == bytes(data)


def test_decoders_refuse_unreduced_scalars_and_invalid_points() -> None:
    ciphertexts = bytearray(samples()[MtaCiphertexts])
    ciphertexts[10 : 10 + 32] = b"\xff" * 32
    with pytest.raises(InvalidScalarError):
        MtaCiphertexts.from_bytes(bytes(ciphertexts))
    challenge = bytearray(samples()[MtaChallenge])
    challenge[6 + 16 : 6 + 48] = Q.to_bytes(32, "big")
    with pytest.raises(InvalidScalarError):
        MtaChallenge.from_bytes(bytes(challenge))
    output = bytearray(samples()[RandomOtSenderOutput])
    output[-32:] = Q.to_bytes(32, "big")
    with pytest.raises(InvalidScalarError):
        RandomOtSenderOutput.from_bytes(bytes(output))
    y = bytearray(samples()[BaseOtSenderMessage])
    y[2:] = b"\x02" + b"\xff" * 32  # x >= p
    with pytest.raises(InvalidElementError):
        BaseOtSenderMessage.from_bytes(bytes(y))
    with pytest.raises(InvalidElementError):
        BaseOtSenderMessage.from_bytes(bytes(y[:2]) + bytes(33))  # the identity
    state = bytearray(samples()[BaseOtSenderState])
    state[2:] = bytes(32)
    with pytest.raises(DecodeError):
        BaseOtSenderState.from_bytes(bytes(state))


def test_huge_declared_sizes_are_refused_before_allocation() -> None:
    header = bytes([1, 0x10]) + bytes(16)
    with pytest.raises(DecodeError):
        CorrelatedOtMessage.from_bytes(
            header + (1 << 20).to_bytes(4, "big") + (1).to_bytes(4, "big")
        )
    with pytest.raises(DecodeError):
        CorrelatedOtMessage.from_bytes(
            header + (1024).to_bytes(4, "big") + (1 << 30).to_bytes(4, "big")
        )
    with pytest.raises(DecodeError):
        MtaCiphertexts.from_bytes(
            bytes([1, 0x20]) + (1 << 31).to_bytes(4, "big") + (384).to_bytes(4, "big")
        )


@settings(max_examples=15, deadline=None)
@given(
    choices=st.lists(st.integers(0, 1), min_size=1, max_size=40),
    count=st.integers(1, 3),
    seed=st.integers(0, 2**32),
)
def test_random_ot_outputs_round_trip(choices: list[int], count: int, seed: int) -> None:
    rnd = random.Random(seed)
    n = len(choices)
    bits_array = np.array([choices] * count, dtype=np.uint8)
    values = _scalars.from_ints([rnd.randrange(Q) for _ in range(n * count)])
    out = RandomOtReceiverOutput(bits_array, values)
    assert RandomOtReceiverOutput.from_bytes(out.to_bytes()) == out
    sender = RandomOtSenderOutput(n, count, values, values[::-1].copy())
    assert RandomOtSenderOutput.from_bytes(sender.to_bytes()) == sender


@settings(max_examples=15, deadline=None)
@given(seeds=st.lists(st.binary(min_size=16, max_size=16), min_size=1, max_size=4), data=st.data())
def test_mta_challenge_round_trips(seeds: list[bytes], data: st.DataObject) -> None:
    chi1 = data.draw(st.lists(SCALARS, min_size=len(seeds), max_size=len(seeds)))
    msg = MtaChallenge(seeds, chi1)
    assert MtaChallenge.from_bytes(msg.to_bytes()) == msg
