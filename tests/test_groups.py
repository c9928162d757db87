"""Properties of the prime-order groups and the strictness of their decoders.

Arithmetic is checked as group laws over random scalars; decoding is checked
against independent pure-Python models of each curve (used only here, off any
hot path), so an encoding the model calls non-canonical, off the curve or
outside the prime-order subgroup must be refused with the right typed error.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cosigner.errors import (
    DecodeError,
    IdentityElementError,
    InvalidElementError,
    InvalidScalarError,
)
from cosigner.groups import ED25519, GROUPS, RISTRETTO255, SECP256K1, Group, group_by_name

ALL_GROUPS = [ED25519, RISTRETTO255, SECP256K1]
group_params = pytest.mark.parametrize("g", ALL_GROUPS, ids=lambda g: g.name)

PROPERTY = settings(max_examples=25, deadline=None)

ORDER = ED25519.order  # ristretto255 shares it
SCALARS = st.one_of(
    st.integers(min_value=0, max_value=2**256 - 1),
    st.sampled_from([0, 1, 2, ORDER - 1, SECP256K1.order - 1]),
)

IDENTITY_ENCODINGS = {
    "ed25519": b"\x01" + bytes(31),
    "ristretto255": bytes(32),
    "secp256k1": bytes(33),
}


def raw_scalar(g: Group, n: int) -> bytes:
    return n.to_bytes(32, "big" if g is SECP256K1 else "little")


# -- group laws --------------------------------------------------------------------------


@group_params
@PROPERTY
@given(a=SCALARS, b=SCALARS, c=SCALARS)
def test_addition_is_associative_and_commutative(g: Group, a: int, b: int, c: int) -> None:
    p, q, r = g.base_mul(a), g.base_mul(b), g.base_mul(c)
    assert (p + q) + r == p + (q + r)
    assert p + q == q + p
    assert p + q == g.base_mul(a + b)
    assert g.sum([p, q, r]) == g.base_mul(a + b + c)


@group_params
@PROPERTY
@given(a=SCALARS, b=SCALARS, k=SCALARS)
def test_scalar_multiplication_distributes(g: Group, a: int, b: int, k: int) -> None:
    p, q = g.base_mul(a), g.base_mul(b)
    assert (a + b) * q == a * q + b * q
    assert k * (p + q) == k * p + k * q
    assert p * k == k * p
    assert (a * b) * g.generator == a * (b * g.generator) == g.base_mul(a * b)
    assert g.multi_mul([(a, p), (b, q)]) == a * p + b * q
    assert g.base_mul(k) == k * g.generator


@group_params
@PROPERTY
@given(a=SCALARS, k=SCALARS)
def test_identity_behaviour(g: Group, a: int, k: int) -> None:
    p = g.base_mul(a)
    ident = g.identity
    assert ident.is_identity
    assert p + ident == p
    assert ident + p == p
    assert p - ident == p
    assert ident - p == -p
    assert 0 * p == ident
    assert p * 0 == ident
    assert g.order * p == ident
    assert p - p == ident
    assert p + (-p) == ident
    assert -ident == ident
    assert ident * k == ident
    negated = -p
    assert -negated == p
    assert (g.order + k) * p == k * p
    assert g.base_mul(-a) == -p
    assert (g.order - 1) * p == -p
    assert g.base_mul(g.order).is_identity
    assert (p == ident) == (a % g.order == 0)


@group_params
def test_identity_cannot_be_serialized(g: Group) -> None:
    with pytest.raises(IdentityElementError):
        g.identity.to_bytes()
    with pytest.raises(IdentityElementError):
        (g.generator - g.generator).to_bytes()
    with pytest.raises(IdentityElementError):
        g.decode_element(IDENTITY_ENCODINGS[g.name])
    assert IdentityElementError.code != InvalidElementError.code


@group_params
@PROPERTY
@given(a=st.integers(min_value=1, max_value=ORDER - 1))
def test_element_encoding_round_trips(g: Group, a: int) -> None:
    p = g.base_mul(a)
    data = p.to_bytes()
    assert len(data) == g.element_size
    decoded = g.decode_element(data)
    assert decoded == p
    assert hash(decoded) == hash(p)
    assert decoded.to_bytes() == data
    assert g.decode_element(bytearray(data)) == p  # type: ignore[arg-type]
    assert (-decoded).to_bytes() == (-p).to_bytes()


@group_params
@PROPERTY
@given(k=st.integers(min_value=0, max_value=2**300))
def test_scalar_encoding_round_trips(g: Group, k: int) -> None:
    data = g.encode_scalar(k)
    assert len(data) == g.scalar_size
    assert g.decode_scalar(data) == k % g.order


@group_params
@PROPERTY
@given(k=st.integers(min_value=0, max_value=2**256 - 1))
def test_decode_scalar_rejects_values_not_below_the_order(g: Group, k: int) -> None:
    k = max(k, g.order)
    with pytest.raises(InvalidScalarError):
        g.decode_scalar(raw_scalar(g, k))
    with pytest.raises(InvalidScalarError):
        g.decode_scalar(raw_scalar(g, g.order))


@group_params
@PROPERTY
@given(data=st.binary(max_size=70))
def test_decode_scalar_rejects_wrong_lengths(g: Group, data: bytes) -> None:
    assume(len(data) != g.scalar_size)
    with pytest.raises(InvalidScalarError):
        g.decode_scalar(data)


@group_params
def test_decode_rejects_non_bytes(g: Group) -> None:
    with pytest.raises(InvalidScalarError):
        g.decode_scalar("00" * 32)  # type: ignore[arg-type]
    with pytest.raises(InvalidElementError):
        g.decode_element(g.generator.to_bytes().hex())  # type: ignore[arg-type]


@group_params
@PROPERTY
@given(data=st.binary(max_size=70))
def test_decode_element_rejects_wrong_lengths(g: Group, data: bytes) -> None:
    assume(len(data) != g.element_size)
    with pytest.raises(InvalidElementError):
        g.decode_element(data)


@group_params
def test_decode_element_rejects_truncated_and_extended_valid_encodings(g: Group) -> None:
    good = g.base_mul(7).to_bytes()
    for bad in (good[:-1], good[1:], good + b"\x00", b"\x00" + good, b""):
        with pytest.raises(InvalidElementError):
            g.decode_element(bad)


@group_params
@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=33, max_size=33))
def test_decode_element_accepts_only_canonical_encodings(g: Group, data: bytes) -> None:
    data = data[: g.element_size]
    try:
        element = g.decode_element(data)
    except InvalidElementError:
        return
    assert element.to_bytes() == data
    assert not element.is_identity
    # An encoding the library derives afresh must be the accepted one: one element, one encoding.
    assert (1 * element).to_bytes() == data
    assert element + g.generator - g.generator == element


def test_group_lookup() -> None:
    for g in ALL_GROUPS:
        assert group_by_name(g.name) is g
        assert GROUPS[g.name] is g
    with pytest.raises(ValueError):
        group_by_name("p256")


def test_elements_of_different_groups_are_never_equal() -> None:
    assert ED25519.generator != RISTRETTO255.generator
    assert ED25519.identity != RISTRETTO255.identity
    assert ED25519.identity != SECP256K1.identity


# -- Ed25519: a pure-Python model of RFC 8032 decoding ----------------------------------

P25519 = 2**255 - 19
D25519 = -121665 * pow(121666, -1, P25519) % P25519
SQRT_M1 = pow(2, (P25519 - 1) // 4, P25519)

# The eight points of order dividing 8 (the torsion subgroup), in RFC 8032 encoding.
ED25519_TORSION = [
    bytes.fromhex(h)
    for h in (
        "0100000000000000000000000000000000000000000000000000000000000000",  # order 1
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # order 2
        "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
        "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",  # order 8
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    )
]

EdPoint = tuple[int, int]


def ed_decode(data: bytes) -> EdPoint | None:
    """RFC 8032 Section 5.1.3 decoding; None for non-canonical or off-curve input."""
    n = int.from_bytes(data, "little")
    y, sign = n & ((1 << 255) - 1), n >> 255
    if y >= P25519:
        return None
    xx = (y * y - 1) * pow(D25519 * y * y + 1, -1, P25519) % P25519
    if xx == 0:
        return None if sign else (0, y)
    x = pow(xx, (P25519 + 3) // 8, P25519)
    if (x * x - xx) % P25519:
        x = x * SQRT_M1 % P25519
    if (x * x - xx) % P25519:
        return None
    if x & 1 != sign:
        x = P25519 - x
    return (x, y)


def ed_encode(pt: EdPoint) -> bytes:
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ed_add(a: EdPoint, b: EdPoint) -> EdPoint:
    (x1, y1), (x2, y2) = a, b
    t = D25519 * x1 * x2 * y1 * y2
    x3 = (x1 * y2 + x2 * y1) * pow(1 + t, -1, P25519) % P25519
    y3 = (y1 * y2 + x1 * x2) * pow(1 - t, -1, P25519) % P25519
    return (x3, y3)


def ed_mul(k: int, pt: EdPoint) -> EdPoint:
    acc: EdPoint = (0, 1)
    while k:
        if k & 1:
            acc = ed_add(acc, pt)
        pt = ed_add(pt, pt)
        k >>= 1
    return acc


def test_ed25519_torsion_list_is_the_eight_torsion_subgroup() -> None:
    points = [ed_decode(t) for t in ED25519_TORSION]
    assert len(set(points)) == 8
    for pt, enc in zip(points, ED25519_TORSION, strict=True):
        assert pt is not None
        assert ed_encode(pt) == enc
        assert ed_mul(8, pt) == (0, 1)


@pytest.mark.parametrize("torsion", ED25519_TORSION[1:], ids=lambda b: b.hex()[:8])
def test_ed25519_rejects_small_order_points(torsion: bytes) -> None:
    with pytest.raises(InvalidElementError) as info:
        ED25519.decode_element(torsion)
    assert type(info.value) is InvalidElementError


@pytest.mark.parametrize("torsion", ED25519_TORSION[1:], ids=lambda b: b.hex()[:8])
def test_ed25519_rejects_valid_point_plus_torsion(torsion: bytes) -> None:
    for k in (1, 2, 12345):
        valid = ED25519.base_mul(k).to_bytes()
        p, t = ed_decode(valid), ed_decode(torsion)
        assert p is not None and t is not None
        mixed = ed_encode(ed_add(p, t))
        assert mixed != valid
        with pytest.raises(InvalidElementError):
            ED25519.decode_element(mixed)
        # The model agrees the valid point is in the subgroup and the mixed one is not.
        assert ed_mul(ORDER, p) == (0, 1)
        assert ed_mul(ORDER, ed_add(p, t)) != (0, 1)


def test_ed25519_rejects_the_identity_with_the_identity_error() -> None:
    with pytest.raises(IdentityElementError):
        ED25519.decode_element(ED25519_TORSION[0])
    # x = 0 with the sign bit set is a non-canonical encoding of the identity.
    with pytest.raises(InvalidElementError):
        ED25519.decode_element(b"\x01" + bytes(30) + b"\x80")


@PROPERTY
@given(excess=st.integers(min_value=0, max_value=18), sign=st.booleans())
def test_ed25519_rejects_y_not_below_p(excess: int, sign: bool) -> None:
    y = P25519 + excess
    data = (y | (int(sign) << 255)).to_bytes(32, "little")
    with pytest.raises(InvalidElementError) as info:
        ED25519.decode_element(data)
    assert type(info.value) is InvalidElementError


def test_ed25519_rejects_non_canonical_encoding_of_a_curve_point() -> None:
    # y and y + p name the same field element; only y < p is canonical.
    for y in range(2, 19):
        pt = ed_decode(y.to_bytes(32, "little"))
        if pt is None:
            continue
        with pytest.raises(InvalidElementError):
            ED25519.decode_element((y + P25519).to_bytes(32, "little"))


@settings(max_examples=60, deadline=None)
@given(y=st.integers(min_value=0, max_value=P25519 - 1), sign=st.booleans())
def test_ed25519_decoding_matches_the_model(y: int, sign: bool) -> None:
    data = (y | (int(sign) << 255)).to_bytes(32, "little")
    pt = ed_decode(data)
    in_subgroup = pt is not None and pt != (0, 1) and ed_mul(ORDER, pt) == (0, 1)
    if in_subgroup:
        assert ED25519.decode_element(data).to_bytes() == data
    else:
        with pytest.raises(InvalidElementError):
            ED25519.decode_element(data)


def test_ed25519_rejects_off_curve_points() -> None:
    found = 0
    for y in range(2, 200):
        data = y.to_bytes(32, "little")
        if ed_decode(data) is None:
            found += 1
            with pytest.raises(InvalidElementError) as info:
                ED25519.decode_element(data)
            assert type(info.value) is InvalidElementError
    assert found > 10


# -- ristretto255 -------------------------------------------------------------------------

# RFC 9496 Appendix A.2: invalid encodings.
RISTRETTO_BAD_ENCODINGS = [
    bytes.fromhex(h)
    for h in (
        # non-canonical field encodings
        "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        # negative field elements
        "0100000000000000000000000000000000000000000000000000000000000000",
        "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
        "c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
        # non-square x^2
        "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
        "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
        "de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
    )
]


def ristretto_decode(data: bytes) -> EdPoint | None:
    """RFC 9496 Section 4.3.1 decoding; None where the RFC says decoding fails."""
    p = P25519
    s = int.from_bytes(data, "little")
    if s >= p or s & 1:
        return None
    ss = s * s % p
    u1, u2 = (1 - ss) % p, (1 + ss) % p
    u2_sqr = u2 * u2 % p
    v = (-(D25519 * u1 * u1) - u2_sqr) % p
    was_square, invsqrt = sqrt_ratio_m1(1, v * u2_sqr % p)
    den_x = invsqrt * u2 % p
    den_y = invsqrt * den_x * v % p
    x = 2 * s * den_x % p
    if x & 1:
        x = p - x
    y = u1 * den_y % p
    if not was_square or (x * y % p) & 1 or y == 0:
        return None
    return (x, y)


def sqrt_ratio_m1(u: int, v: int) -> tuple[bool, int]:
    p = P25519
    r = (u * pow(v, 3, p)) * pow(u * pow(v, 7, p), (p - 5) // 8, p) % p
    check = v * r * r % p
    correct, flipped, flipped_i = check == u % p, check == -u % p, check == -u * SQRT_M1 % p
    if flipped or flipped_i:
        r = r * SQRT_M1 % p
    if r & 1:
        r = p - r
    return correct or flipped, r


def test_ristretto255_model_accepts_the_basepoint_multiples() -> None:
    for k in range(1, 16):
        assert ristretto_decode(RISTRETTO255.base_mul(k).to_bytes()) is not None
    assert ristretto_decode(bytes(32)) == (0, 1)


@settings(max_examples=150, deadline=None)
@given(data=st.binary(min_size=32, max_size=32))
def test_ristretto255_decoding_matches_the_model(data: bytes) -> None:
    pt = ristretto_decode(data)
    if pt == (0, 1):
        with pytest.raises(IdentityElementError):
            RISTRETTO255.decode_element(data)
    elif pt is None:
        with pytest.raises(InvalidElementError) as info:
            RISTRETTO255.decode_element(data)
        assert type(info.value) is InvalidElementError
    else:
        assert (1 * RISTRETTO255.decode_element(data)).to_bytes() == data


@pytest.mark.parametrize("data", RISTRETTO_BAD_ENCODINGS, ids=lambda b: b.hex()[:8])
def test_ristretto255_rejects_invalid_encodings(data: bytes) -> None:
    assert ristretto_decode(data) is None
    with pytest.raises(InvalidElementError) as info:
        RISTRETTO255.decode_element(data)
    assert type(info.value) is InvalidElementError


@PROPERTY
@given(a=st.integers(min_value=1, max_value=ORDER - 1))
def test_ristretto255_rejects_high_bit_and_non_canonical_s(a: int) -> None:
    good = RISTRETTO255.base_mul(a).to_bytes()
    high_bit = good[:31] + bytes([good[31] | 0x80])
    with pytest.raises(InvalidElementError):
        RISTRETTO255.decode_element(high_bit)
    s = int.from_bytes(good, "little")
    non_canonical = (s + P25519).to_bytes(32, "little")
    with pytest.raises(InvalidElementError):
        RISTRETTO255.decode_element(non_canonical)
    negated_s = ((P25519 - s) % P25519).to_bytes(32, "little")  # odd, so "negative"
    with pytest.raises(InvalidElementError):
        RISTRETTO255.decode_element(negated_s)


# -- secp256k1 ------------------------------------------------------------------------------

PSECP = 2**256 - 2**32 - 977


def secp_on_curve(x: int) -> bool:
    rhs = (pow(x, 3, PSECP) + 7) % PSECP
    return rhs == 0 or pow(rhs, (PSECP - 1) // 2, PSECP) == 1


@PROPERTY
@given(
    excess=st.integers(min_value=0, max_value=2**256 - 1 - PSECP), prefix=st.sampled_from([2, 3])
)
def test_secp256k1_rejects_x_not_below_p(excess: int, prefix: int) -> None:
    data = bytes([prefix]) + (PSECP + excess).to_bytes(32, "big")
    with pytest.raises(InvalidElementError) as info:
        SECP256K1.decode_element(data)
    assert type(info.value) is InvalidElementError


@PROPERTY
@given(
    a=st.integers(min_value=1, max_value=SECP256K1.order - 1),
    prefix=st.integers(min_value=0, max_value=255).filter(lambda b: b not in (2, 3)),
)
def test_secp256k1_rejects_bad_prefix_bytes(a: int, prefix: int) -> None:
    good = SECP256K1.base_mul(a).to_bytes()
    with pytest.raises(InvalidElementError) as info:
        SECP256K1.decode_element(bytes([prefix]) + good[1:])
    # Only the all-zero encoding is the identity; anything else is merely malformed.
    assert type(info.value) is InvalidElementError


def test_secp256k1_rejects_uncompressed_and_identity_encodings() -> None:
    g = SECP256K1.generator.to_bytes()
    with pytest.raises(InvalidElementError):
        SECP256K1.decode_element(b"\x04" + g[1:] + bytes(32))
    with pytest.raises(IdentityElementError):
        SECP256K1.decode_element(bytes(33))
    with pytest.raises(InvalidElementError):
        SECP256K1.decode_element(b"\x00")


@settings(max_examples=60, deadline=None)
@given(x=st.integers(min_value=0, max_value=PSECP - 1))
def test_secp256k1_decoding_matches_the_curve_equation(x: int) -> None:
    even, odd = b"\x02" + x.to_bytes(32, "big"), b"\x03" + x.to_bytes(32, "big")
    if secp_on_curve(x):
        p, q = SECP256K1.decode_element(even), SECP256K1.decode_element(odd)
        assert p.to_bytes() == even and q.to_bytes() == odd
        assert p == -q
        assert SECP256K1.decode_x_only(x.to_bytes(32, "big")) == p
    else:
        for data in (even, odd):
            with pytest.raises(InvalidElementError) as info:
                SECP256K1.decode_element(data)
            assert type(info.value) is InvalidElementError
        with pytest.raises(InvalidElementError):
            SECP256K1.decode_x_only(x.to_bytes(32, "big"))


def test_secp256k1_rejects_off_curve_points() -> None:
    off = [x for x in range(1, 100) if not secp_on_curve(x)]
    assert len(off) > 10
    for x in off:
        with pytest.raises(InvalidElementError):
            SECP256K1.decode_element(b"\x02" + x.to_bytes(32, "big"))


def test_decode_errors_are_decode_errors() -> None:
    for cls in (InvalidElementError, IdentityElementError, InvalidScalarError):
        assert issubclass(cls, DecodeError)
        assert issubclass(cls, ValueError)
        assert cls.code
