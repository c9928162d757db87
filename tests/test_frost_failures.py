"""The failures a user, a faulty signer or an attacker can cause in FROST signing.

Each must end in a typed cosigner error with a stable ``code``: cheating
signers are named, malformed input of any shape is a ``DecodeError`` (never
another exception), nonces are single-use, and secrets never print.
"""

from __future__ import annotations

import copy
import json
import pickle
import random
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner import frost
from cosigner.errors import (
    CosignerError,
    DecodeError,
    IdentityElementError,
    InvalidElementError,
    InvalidScalarError,
)
from cosigner.frost import (
    Identifier,
    KeyPackage,
    PublicKeyPackage,
    SecretShare,
    SignatureShare,
    SigningCommitments,
    SigningNonces,
    SigningPackage,
)
from cosigner.frost.ciphersuite import UnknownCiphersuiteError
from cosigner.frost.serialization import Serializable, b64url_encode
from cosigner.groups import Element, RandomBytes

SUITE_NAMES = ["ed25519", "secp256k1", "ristretto255", "secp256k1-tr"]
suite_params = pytest.mark.parametrize("name", SUITE_NAMES)

IDENTITY_ENCODINGS = {
    "ed25519": b"\x01" + bytes(31),
    "ristretto255": bytes(32),
    "secp256k1": bytes(33),
}


def seeded_rng(seed: int) -> RandomBytes:
    return random.Random(seed).randbytes


E = TypeVar("E", bound=CosignerError)


@contextmanager
def expect(error: type[E]) -> Iterator[pytest.ExceptionInfo[E]]:
    """``pytest.raises`` that also holds every error to its contract: a code and a message."""
    with pytest.raises(error) as info:
        yield info
    assert isinstance(info.value, CosignerError)
    assert isinstance(info.value.code, str) and info.value.code
    assert info.value.message


def identifiers_for(suite: frost.Ciphersuite) -> list[int]:
    return [1, 7, 300, int(Identifier.derive(suite, "alice")), suite.group.order - 5]


@cache
def group_keys(name: str) -> tuple[dict[Identifier, KeyPackage], PublicKeyPackage]:
    """A 3-of-5 group per suite, shared by the tests (key packages are immutable)."""
    suite = frost.ciphersuite(name)
    return frost.keygen_with_dealer(suite, 3, 5, identifiers_for(suite), seeded_rng(5))


def round_one(
    name: str, signers: list[int], message: bytes = b"pay 1 BTC to bob"
) -> tuple[dict[int, SigningNonces], SigningPackage]:
    key_packages, _ = group_keys(name)
    nonces, commitments = {}, {}
    for i in signers:
        nonces[i], commitments[i] = frost.commit(key_packages[Identifier(i)])
    return nonces, SigningPackage(name, commitments, message)


def round_two(
    name: str, package: SigningPackage, nonces: dict[int, SigningNonces]
) -> dict[int, SignatureShare]:
    key_packages, _ = group_keys(name)
    return {i: frost.sign(package, n, key_packages[Identifier(i)]) for i, n in nonces.items()}


def signers_of(name: str, count: int = 3) -> list[int]:
    return identifiers_for(frost.ciphersuite(name))[-count:]


# -- cheater detection ------------------------------------------------------------------


@suite_params
def test_a_tampered_share_names_its_culprit(name: str) -> None:
    signers = signers_of(name)
    nonces, package = round_one(name, signers)
    shares = round_two(name, package, nonces)
    culprit = signers[1]
    shares[culprit] = SignatureShare(package.suite, shares[culprit].share + 1)
    with expect(frost.InvalidSignatureShare) as info:
        frost.aggregate(package, shares, group_keys(name)[1])
    assert info.value.culprits == (culprit,)
    assert info.value.code == "invalid_signature_share"
    assert str(culprit) in info.value.message


@suite_params
def test_two_tampered_shares_name_both(name: str) -> None:
    signers = signers_of(name, 4)
    nonces, package = round_one(name, signers)
    shares = round_two(name, package, nonces)
    a, b = signers[0], signers[3]
    # Offsets that do not cancel: a swap, or +d and -d, leaves the sum (and so the
    # signature) intact, and then there is nothing to blame anyone for.
    shares[a] = SignatureShare(package.suite, shares[a].share + 1)
    shares[b] = shares[signers[1]]
    with expect(frost.InvalidSignatureShare) as info:
        frost.aggregate(package, shares, group_keys(name)[1])
    assert info.value.culprits == tuple(sorted((a, b)))


@suite_params
def test_verify_signature_share_accepts_good_and_rejects_bad(name: str) -> None:
    public = group_keys(name)[1]
    signers = signers_of(name)
    nonces, package = round_one(name, signers)
    shares = round_two(name, package, nonces)
    for i in signers:
        frost.verify_signature_share(package, i, shares[i], public)
        bad = SignatureShare(package.suite, shares[i].share - 1)
        with expect(frost.InvalidSignatureShare) as info:
            frost.verify_signature_share(package, i, bad, public)
        assert info.value.culprits == (i,)
    # A good share presented as another signer's is bad for that signer.
    with expect(frost.InvalidSignatureShare) as info:
        frost.verify_signature_share(package, signers[0], shares[signers[1]], public)
    assert info.value.culprits == (signers[0],)
    with expect(frost.UnknownIdentifier):
        frost.verify_signature_share(package, identifiers_for(package.suite)[0], shares[i], public)


# -- duplicate identifiers -------------------------------------------------------------------


@suite_params
def test_duplicate_identifiers_are_refused_at_keygen(name: str) -> None:
    suite = frost.ciphersuite(name)
    with expect(frost.DuplicateIdentifier):
        frost.split(suite, 12345, 2, 3, [1, 2, 2])
    with expect(frost.DuplicateIdentifier):
        frost.keygen_with_dealer(suite, 2, 3, [5, 5, 7])
    with expect(frost.DuplicateIdentifier):
        frost.keygen_with_dealer(suite, 2, 3, [Identifier(9), 9, 10])
    with expect(frost.InvalidIdentifier):
        frost.keygen_with_dealer(suite, 2, 3, [0, 1, 2])
    with expect(frost.InvalidIdentifier):
        frost.keygen_with_dealer(suite, 2, 3, [1, 2, suite.group.order])
    with expect(frost.DuplicateIdentifier):
        frost.compute_lagrange_coefficient(suite, [1, 2, 2], 1)


def raw_public_key_package(
    suite: frost.Ciphersuite, entries: Sequence[tuple[int, Element]], key: Element, t: int
) -> bytes:
    out = bytes([1, suite.suite_id, PublicKeyPackage.TYPE_TAG]) + len(entries).to_bytes(2, "big")
    for i, e in entries:
        out += suite.encode_scalar(i) + e.to_bytes()
    return out + key.to_bytes() + b"\x01" + t.to_bytes(2, "big")


def raw_signing_package(
    suite: frost.Ciphersuite, entries: Sequence[tuple[int, Element, Element]], message: bytes
) -> bytes:
    out = bytes([1, suite.suite_id, SigningPackage.TYPE_TAG]) + len(entries).to_bytes(2, "big")
    for i, hiding, binding in entries:
        out += suite.encode_scalar(i) + hiding.to_bytes() + binding.to_bytes()
    return out + len(message).to_bytes(4, "big") + message


@suite_params
def test_maps_with_repeated_or_unsorted_identifiers_do_not_decode(name: str) -> None:
    suite = frost.ciphersuite(name)
    _, public = group_keys(name)
    entries = sorted(public.verifying_shares.items())
    key = public.verifying_key
    assert raw_public_key_package(suite, entries, key, 3) == public.to_bytes()
    repeated = [entries[0], entries[0], *entries[2:]]
    unsorted = [entries[1], entries[0], *entries[2:]]
    for bad in (repeated, unsorted):
        with expect(frost.FrostDecodeError):
            PublicKeyPackage.from_bytes(raw_public_key_package(suite, bad, key, 3))
        with expect(frost.FrostDecodeError):
            frost.decode_any(raw_public_key_package(suite, bad, key, 3))

    _nonces, package = round_one(name, signers_of(name))
    rows = [(i, c.hiding, c.binding) for i, c in package.commitments.items()]
    assert raw_signing_package(suite, rows, package.message) == package.to_bytes()
    for bad_rows in ([rows[0], rows[0], rows[2]], [rows[1], rows[0], rows[2]]):
        with expect(frost.FrostDecodeError):
            SigningPackage.from_bytes(raw_signing_package(suite, bad_rows, package.message))


@suite_params
def test_json_with_duplicate_keys_does_not_decode(name: str) -> None:
    _nonces, package = round_one(name, signers_of(name))
    d = package.to_dict()
    (k1, v1), (k2, v2), (k3, v3) = d["commitments"].items()

    def obj(pairs: list[tuple[str, object]]) -> str:
        return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"

    header = [(k, json.dumps(d[k])) for k in ("ciphersuite", "type", "version")]
    message = ("message", json.dumps(d["message"]))
    good = obj([(k1, json.dumps(v1)), (k2, json.dumps(v2)), (k3, json.dumps(v3))])
    duplicate = obj([(k1, json.dumps(v1)), (k2, json.dumps(v2)), (k1, json.dumps(v3))])
    assert SigningPackage.from_json(obj([*header, ("commitments", good), message])) == package
    with expect(frost.FrostDecodeError) as info:
        SigningPackage.from_json(obj([*header, ("commitments", duplicate), message]))
    assert "duplicate" in info.value.message
    with expect(frost.FrostDecodeError):
        SigningPackage.from_json(obj([*header, ("commitments", good), message, message]))
    # A nested object repeating a field is refused the same way.
    hiding = json.dumps(v1["hiding"])
    nested = obj([("hiding", hiding), ("binding", json.dumps(v1["binding"])), ("hiding", hiding)])
    with expect(frost.FrostDecodeError):
        SigningPackage.from_json(
            obj([*header, ("commitments", obj([(k1, nested), (k2, json.dumps(v2))])), message])
        )


# -- identity commitments ------------------------------------------------------------------


@suite_params
def test_identity_commitments_are_refused(name: str) -> None:
    suite = frost.ciphersuite(name)
    _nonces, package = round_one(name, signers_of(name))
    first, second = list(package.commitments)[:2]
    good = package.commitments[first]
    ident = suite.group.identity
    for bad in (
        SigningCommitments(suite, ident, good.binding),
        SigningCommitments(suite, good.hiding, ident),
        SigningCommitments(suite, ident, ident),
    ):
        with expect(frost.InvalidSigningPackage):
            SigningPackage(suite, {first: bad, second: package.commitments[second]}, b"m")
        with pytest.raises(IdentityElementError):
            bad.to_bytes()

    identity = IDENTITY_ENCODINGS[suite.group.name]
    header = bytes([1, suite.suite_id, SigningCommitments.TYPE_TAG])
    assert header + good.hiding.to_bytes() + good.binding.to_bytes() == good.to_bytes()
    for body in (identity + good.binding.to_bytes(), good.hiding.to_bytes() + identity):
        with expect(IdentityElementError):
            SigningCommitments.from_bytes(header + body)
        with expect(IdentityElementError):
            frost.decode_any(header + body)
    d = good.to_dict()
    d["binding"] = b64url_encode(identity)
    with expect(IdentityElementError):
        SigningCommitments.from_json(json.dumps(d))

    rows = [(i, c.hiding, c.binding) for i, c in package.commitments.items()]
    encoded = raw_signing_package(suite, rows, b"m")
    hiding_at = 3 + 2 + suite.group.scalar_size
    tampered = encoded[:hiding_at] + identity + encoded[hiding_at + len(identity) :]
    with expect(IdentityElementError):
        SigningPackage.from_bytes(tampered)


# -- malformed encodings: targeted ------------------------------------------------------------


def off_curve_encoding(suite: frost.Ciphersuite) -> bytes:
    """An encoding of the right length that names no point of the group."""
    if suite.group.name == "secp256k1":
        return b"\x02" + (5).to_bytes(32, "big")  # 5^3 + 7 is not a square mod p
    if suite.group.name == "ed25519":
        return (2).to_bytes(32, "little")  # y = 2 is not on edwards25519
    return (1).to_bytes(32, "little")  # a negative field element in ristretto255


def unreduced_scalar(suite: frost.Ciphersuite) -> bytes:
    order = suite.group.order
    return order.to_bytes(32, "big" if suite.group.name == "secp256k1" else "little")


@suite_params
def test_off_curve_and_unreduced_values_are_refused_by_every_decoder(name: str) -> None:
    suite = frost.ciphersuite(name)
    with pytest.raises(InvalidElementError):
        suite.group.decode_element(off_curve_encoding(suite))
    key_packages, public = group_keys(name)
    kp = next(iter(key_packages.values()))
    nonces, package = round_one(name, signers_of(name))
    share = round_two(name, package, nonces)[signers_of(name)[0]]
    shares, _ = frost.split(suite, 99, 2, 2)
    secret_share = next(iter(shares.values()))
    n_elem, n_scalar = suite.group.element_size, suite.group.scalar_size
    header = 3

    # (object, offsets of its elements, offsets of its scalars) in the byte encoding
    cases: list[tuple[Serializable, list[int], list[int]]] = [
        (kp, [header + 2 * n_scalar, header + 2 * n_scalar + n_elem], [header + n_scalar]),
        (public, [header + 2 + n_scalar], []),
        (package.commitments[Identifier(signers_of(name)[0])], [header, header + n_elem], []),
        (share, [], [header]),
        (secret_share, [header + 2 * n_scalar + 2], [header + n_scalar]),
    ]
    for obj, element_offsets, scalar_offsets in cases:
        data = obj.to_bytes()
        cls = type(obj)
        for at in element_offsets:
            bad = data[:at] + off_curve_encoding(suite) + data[at + n_elem :]
            with expect(InvalidElementError):
                cls.from_bytes(bad)
            with expect(InvalidElementError):
                frost.decode_any(bad)
        for at in scalar_offsets:
            bad = data[:at] + unreduced_scalar(suite) + data[at + n_scalar :]
            with expect(InvalidScalarError):
                cls.from_bytes(bad)
        with expect(frost.FrostDecodeError):
            cls.from_bytes(data[:-1])
        with expect(frost.FrostDecodeError):
            cls.from_bytes(data + b"\x00")
        for field, kind in obj.to_dict().items():
            if not isinstance(kind, str) or field in ("ciphersuite", "type"):
                continue
            d = obj.to_dict()
            d[field] = kind[:-2]  # base64url of a value one or two bytes short
            with pytest.raises(DecodeError):
                cls.from_json(json.dumps(d))


@suite_params
def test_zero_identifiers_do_not_decode(name: str) -> None:
    suite = frost.ciphersuite(name)
    kp = next(iter(group_keys(name)[0].values()))
    data = kp.to_bytes()
    zeroed = data[:3] + bytes(suite.group.scalar_size) + data[3 + suite.group.scalar_size :]
    with expect(frost.FrostDecodeError):
        KeyPackage.from_bytes(zeroed)
    d = kp.to_dict()
    d["identifier"] = b64url_encode(bytes(suite.group.scalar_size))
    with expect(frost.FrostDecodeError):
        KeyPackage.from_json(json.dumps(d))
    public = group_keys(name)[1]
    pd = public.to_dict()
    pd["verifying_shares"][b64url_encode(bytes(suite.group.scalar_size))] = next(
        iter(pd["verifying_shares"].values())
    )
    with expect(frost.FrostDecodeError):
        PublicKeyPackage.from_json(json.dumps(pd))


DEEP_JSON = [
    "[" * 200_000,
    '{"a":' * 200_000,
    '["]",' * 200_000,  # brackets inside strings must not hide the real nesting
    '["\\"]",' * 200_000,
    '"' + '\\"' * 200_000,  # an unterminated string of escapes: linear, not quadratic
]


def test_deeply_nested_json_is_a_decode_error() -> None:
    for text in DEEP_JSON:
        with expect(frost.FrostDecodeError):
            SigningPackage.from_json(text)
        with expect(frost.FrostDecodeError):
            KeyPackage.from_json(text.encode())


def test_deeply_nested_json_does_not_crash_under_a_raised_recursion_limit() -> None:
    # py_ecc (imported by the EVM adapter) raises the limit to 100000; the C JSON parser
    # then overflows the C stack long before RecursionError, killing the process.
    script = (
        "import sys; sys.setrecursionlimit(1_000_000)\n"
        "from cosigner import frost\n"
        "for text in ('[' * 500_000, '{\"a\":' * 500_000):\n"
        "    try:\n"
        "        frost.SigningPackage.from_json(text)\n"
        "    except frost.FrostDecodeError:\n"
        "        pass\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode()[-500:]
    assert result.stdout.strip() == b"ok"


# -- malformed encodings: fuzzed --------------------------------------------------------------


@cache
def samples() -> list[Serializable]:
    """One valid object of every type for every suite, to mutate."""
    out: list[Serializable] = []
    for name in SUITE_NAMES:
        suite = frost.ciphersuite(name)
        key_packages, public = group_keys(name)
        nonces, package = round_one(name, signers_of(name), b"fuzz")
        shares = round_two(name, package, nonces)
        secret_shares, _ = frost.split(suite, 4242, 3, 4, None, seeded_rng(1))
        out += [
            next(iter(key_packages.values())),
            public,
            PublicKeyPackage(suite, public.verifying_shares, public.verifying_key, None),
            next(iter(package.commitments.values())),
            package,
            next(iter(shares.values())),
            next(iter(secret_shares.values())),
        ]
    return out


DECODERS: list[type[Serializable]] = [
    KeyPackage,
    PublicKeyPackage,
    SigningCommitments,
    SigningPackage,
    SignatureShare,
    SecretShare,
]


def decodes_canonically_or_refuses(data: bytes) -> None:
    """Any decoder given ``data`` either raises a DecodeError or re-encodes it exactly."""
    for decoder in [*(cls.from_bytes for cls in DECODERS), frost.decode_any]:
        try:
            obj = decoder(data)
        except DecodeError:
            continue
        assert obj.to_bytes() == data


@st.composite
def mutated_encodings(draw: st.DrawFn) -> bytes:
    data = draw(st.sampled_from(samples())).to_bytes()
    how = draw(st.sampled_from(["flip", "set", "truncate", "extend", "splice"]))
    if how == "flip":
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        bit = draw(st.integers(min_value=0, max_value=7))
        return data[:at] + bytes([data[at] ^ (1 << bit)]) + data[at + 1 :]
    if how == "set":
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if how == "truncate":
        return data[: draw(st.integers(min_value=0, max_value=len(data) - 1))]
    if how == "extend":
        return data + draw(st.binary(min_size=1, max_size=40))
    at = draw(st.integers(min_value=0, max_value=len(data)))
    return data[:at] + draw(st.binary(min_size=1, max_size=40)) + data[at:]


@settings(max_examples=300, deadline=None)
@given(data=mutated_encodings())
def test_mutated_encodings_decode_canonically_or_raise_decode_errors(data: bytes) -> None:
    decodes_canonically_or_refuses(data)


@settings(max_examples=150, deadline=None)
@given(
    header=st.tuples(st.integers(0, 2), st.integers(0, 5), st.integers(0, 16)),
    body=st.binary(max_size=200),
)
def test_random_bytes_decode_canonically_or_raise_decode_errors(
    header: tuple[int, int, int], body: bytes
) -> None:
    decodes_canonically_or_refuses(body)
    decodes_canonically_or_refuses(bytes(header) + body)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


def json_decodes_or_refuses(cls: type[Serializable], text: str) -> None:
    try:
        obj = cls.from_json(text)
    except DecodeError:
        return
    assert type(obj).from_json(obj.to_json()) == obj
    assert type(obj).from_bytes(obj.to_bytes()) == obj


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_mutated_json_decodes_or_raises_decode_errors(data: st.DataObject) -> None:
    obj = data.draw(st.sampled_from(samples()))
    cls = type(obj)
    d = obj.to_dict()
    how = data.draw(st.sampled_from(["replace field", "add field", "drop field", "text"]))
    if how == "replace field":
        d[data.draw(st.sampled_from(sorted(d)))] = data.draw(JSON_VALUES)
        text = json.dumps(d)
    elif how == "add field":
        d[data.draw(st.text(max_size=10))] = data.draw(JSON_VALUES)
        text = json.dumps(d)
    elif how == "drop field":
        del d[data.draw(st.sampled_from(sorted(d)))]
        text = json.dumps(d)
    else:
        text = obj.to_json()
        at = data.draw(st.integers(min_value=0, max_value=len(text) - 1))
        text = (
            text[:at] + data.draw(st.text(max_size=3)) + text[at + data.draw(st.integers(0, 2)) :]
        )
    json_decodes_or_refuses(cls, text)
    for other in DECODERS:
        json_decodes_or_refuses(other, text)


@settings(max_examples=50, deadline=None)
@given(value=JSON_VALUES)
def test_arbitrary_json_is_a_decode_error(value: object) -> None:
    for cls in DECODERS:
        with pytest.raises(DecodeError):
            cls.from_json(json.dumps(value))
        with pytest.raises(DecodeError):
            cls.from_dict(value)  # type: ignore[arg-type]


def test_non_bytes_inputs_are_decode_errors() -> None:
    for cls in DECODERS:
        for bad in (None, "0102", 12, [1, 2, 3]):
            with pytest.raises(DecodeError):
                cls.from_bytes(bad)  # type: ignore[arg-type]
            with pytest.raises(DecodeError):
                frost.decode_any(bad)  # type: ignore[arg-type]
        with pytest.raises(DecodeError):
            cls.from_json(None)  # type: ignore[arg-type]


# -- a message changed between rounds --------------------------------------------------------


@suite_params
def test_a_message_changed_between_rounds_is_caught(name: str) -> None:
    suite = frost.ciphersuite(name)
    public = group_keys(name)[1]
    signers = signers_of(name)
    nonces, package_m1 = round_one(name, signers, b"m1: pay alice")
    package_m2 = SigningPackage(suite, package_m1.commitments, b"m2: pay mallory")
    shares = round_two(name, package_m1, nonces)
    with expect(frost.InvalidSignatureShare) as info:
        frost.aggregate(package_m2, shares, public)
    assert info.value.culprits == tuple(sorted(signers))

    signature = frost.aggregate(package_m1, shares, public)
    frost.verify(suite, public.verifying_key, b"m1: pay alice", signature)
    with expect(frost.InvalidSignature):
        frost.verify(suite, public.verifying_key, b"m2: pay mallory", signature)


@suite_params
def test_verify_rejects_malformed_signatures_and_keys(name: str) -> None:
    suite = frost.ciphersuite(name)
    public = group_keys(name)[1]
    nonces, package = round_one(name, signers_of(name), b"msg")
    signature = frost.aggregate(package, round_two(name, package, nonces), public)
    key = public.verifying_key
    other_key = frost.keygen_with_dealer(suite, 2, 2)[1].verifying_key
    bad_signatures = [
        signature[:-1],
        signature + b"\x00",
        b"",
        signature[: len(signature) - 32] + unreduced_scalar(suite),
        bytes(len(signature)),
    ]
    for bad in bad_signatures:
        with expect(frost.InvalidSignature):
            frost.verify(suite, key, b"msg", bad)
    with expect(frost.InvalidSignature):
        frost.verify(suite, other_key, b"msg", signature)
    with expect(frost.InvalidSignature):
        frost.verify(suite, suite.group.identity, b"msg", signature)
    with expect(frost.InvalidSignature):
        frost.verify(suite, IDENTITY_ENCODINGS[suite.group.name], b"msg", signature)
    with expect(frost.InvalidSignature):
        frost.verify(suite, b"\x05" * 7, b"msg", signature)
    with expect(frost.InvalidSignature):
        frost.verify(suite, key, "msg", signature)  # type: ignore[arg-type]


# -- nonces ---------------------------------------------------------------------------------


@suite_params
def test_nonce_reuse_is_refused(name: str) -> None:
    key_packages, _ = group_keys(name)
    signers = signers_of(name)
    nonces, package = round_one(name, signers)
    signer = signers[0]
    kp = key_packages[Identifier(signer)]
    frost.sign(package, nonces[signer], kp)
    assert nonces[signer].used
    with expect(frost.NonceReuseError) as info:
        frost.sign(package, nonces[signer], kp)
    assert info.value.code == "nonce_reused"
    other = SigningPackage(package.suite, package.commitments, b"another message")
    with expect(frost.NonceReuseError):
        frost.sign(other, nonces[signer], kp)
    for clone in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            clone(nonces[signers[1]])


@suite_params
def test_commitments_that_do_not_match_the_nonces_are_refused(name: str) -> None:
    key_packages, _ = group_keys(name)
    signers = signers_of(name)
    nonces, package = round_one(name, signers)
    signer = signers[0]
    kp = key_packages[Identifier(signer)]
    stray_nonces, _ = frost.commit(kp)
    with expect(frost.IncorrectCommitment):
        frost.sign(package, stray_nonces, kp)
    with expect(frost.IncorrectCommitment):
        frost.sign(package, nonces[signers[1]], kp)
    assert not nonces[signers[1]].used
    frost.sign(package, nonces[signer], kp)


@suite_params
def test_a_signer_outside_the_package_is_refused(name: str) -> None:
    key_packages, _ = group_keys(name)
    outsider = key_packages[Identifier(identifiers_for(frost.ciphersuite(name))[0])]
    _nonces, package = round_one(name, signers_of(name))
    own_nonces, _ = frost.commit(outsider)
    with expect(frost.UnknownIdentifier):
        frost.sign(package, own_nonces, outsider)


# -- aggregation inputs ------------------------------------------------------------------------


@suite_params
def test_aggregate_with_missing_or_extra_shares_is_refused(name: str) -> None:
    suite = frost.ciphersuite(name)
    public = group_keys(name)[1]
    signers = signers_of(name, 4)
    nonces, package = round_one(name, signers)
    shares = round_two(name, package, nonces)
    missing = dict(list(shares.items())[1:])
    with expect(frost.UnknownIdentifier) as info:
        frost.aggregate(package, missing, public)
    assert str(signers[0]) in info.value.message
    outsider = identifiers_for(suite)[0]
    assert outsider not in shares
    with expect(frost.UnknownIdentifier):
        frost.aggregate(package, {**shares, outsider: shares[signers[0]]}, public)
    with expect(frost.UnknownIdentifier):
        frost.aggregate(package, {**shares, 424242: shares[signers[0]]}, public)
    # Every share present, but one signer is not in the public key package at all.
    stranger_keys, _ = frost.keygen_with_dealer(suite, 2, 2, [424242, 1])
    _stranger_nonces, stranger_commitment = frost.commit(stranger_keys[Identifier(424242)])
    with_stranger = {int(i): c for i, c in package.commitments.items()}
    with_stranger[424242] = stranger_commitment
    package = SigningPackage(suite, with_stranger, package.message)
    with expect(frost.UnknownIdentifier):
        frost.aggregate(package, {**shares, 424242: shares[signers[0]]}, public)


def test_mismatched_ciphersuites_are_refused() -> None:
    pairs = [
        ("ed25519", "ristretto255"),
        ("secp256k1", "secp256k1-tr"),
        ("ristretto255", "ed25519"),
    ]
    for a, b in pairs:
        suite_a, suite_b = frost.ciphersuite(a), frost.ciphersuite(b)
        _keys_a, public_a = group_keys(a)
        keys_b, public_b = group_keys(b)
        signers_a = signers_of(a)
        nonces_a, package_a = round_one(a, signers_a)
        _nonces_b, package_b = round_one(b, signers_of(b))
        signer = signers_a[0]
        kp_b = next(iter(keys_b.values()))
        with expect(frost.CiphersuiteMismatch):
            frost.sign(package_a, nonces_a[signer], kp_b)
        with expect(frost.CiphersuiteMismatch):
            frost.sign(package_b, nonces_a[signer], kp_b)
        assert not nonces_a[signer].used
        foreign = next(iter(package_b.commitments.values()))
        with expect(frost.CiphersuiteMismatch):
            mixed = {int(i): c for i, c in package_a.commitments.items()} | {99: foreign}
            SigningPackage(suite_a, mixed, b"m")
        shares_a = round_two(a, package_a, nonces_a)
        with expect(frost.CiphersuiteMismatch):
            frost.aggregate(package_a, shares_a, public_b)
        foreign_share = SignatureShare(suite_b, shares_a[signer].share)
        with expect(frost.CiphersuiteMismatch):
            frost.aggregate(package_a, {**shares_a, signer: foreign_share}, public_a)
        with expect(frost.CiphersuiteMismatch):
            frost.verify_signature_share(package_a, signer, foreign_share, public_a)
        with expect(frost.CiphersuiteMismatch):
            frost.verify_signature_share(package_a, signer, shares_a[signer], public_b)
        assert frost.aggregate(package_a, shares_a, public_a)


# -- secrets and error codes ---------------------------------------------------------------------


def secret_spellings(suite: frost.Ciphersuite, value: int) -> list[str]:
    encoded = suite.encode_scalar(value)
    return [
        str(value),
        hex(value),
        format(value, "x"),
        encoded.hex(),
        encoded[::-1].hex(),
        b64url_encode(encoded),
    ]


def assert_hidden(suite: frost.Ciphersuite, text: str, value: int) -> None:
    for spelling in secret_spellings(suite, value):
        assert spelling not in text
        assert spelling.upper() not in text
        if len(spelling) >= 32:  # a partial leak of a long secret is still a leak
            assert spelling[:16] not in text
            assert spelling[-16:] not in text


@suite_params
def test_secrets_do_not_appear_in_reprs(name: str) -> None:
    suite = frost.ciphersuite(name)
    key_packages, _ = group_keys(name)
    for kp in key_packages.values():
        assert_hidden(suite, repr(kp) + str(kp), kp.signing_share)
        assert "redacted" in repr(kp)
    shares, _ = frost.split(suite, 0xC0FFEE, 2, 3)
    for share in shares.values():
        assert_hidden(suite, repr(share) + str(share), share.signing_share)
        assert_hidden(suite, repr(share), 0xC0FFEE)
    nonces, _ = frost.commit(next(iter(key_packages.values())))
    hiding, binding = nonces._hiding, nonces._binding
    for value in (hiding, binding):
        assert_hidden(suite, repr(nonces) + str(nonces), value)
    assert "redacted" in repr(nonces)


def all_error_classes() -> list[type[CosignerError]]:
    seen: list[type[CosignerError]] = []
    todo: list[type[CosignerError]] = [CosignerError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return seen


def test_every_error_has_a_code() -> None:
    classes = all_error_classes()
    names = {cls.__name__ for cls in classes}
    for expected in frost.__all__:
        obj = getattr(frost, expected)
        if isinstance(obj, type) and issubclass(obj, CosignerError):
            assert obj.__name__ in names
    assert UnknownCiphersuiteError in classes
    for cls in classes:
        assert isinstance(cls.code, str) and cls.code, cls
        assert cls.code == cls.code.strip().lower() and " " not in cls.code, cls
        if cls.__module__.startswith("cosigner.frost") and cls is not frost.FrostDecodeError:
            assert cls.code not in ("cosigner_error",), cls
    with expect(UnknownCiphersuiteError):
        frost.ciphersuite("p384")
