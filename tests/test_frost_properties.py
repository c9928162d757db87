"""Properties of FROST signing over random groups, signer sets and identifiers.

For every ciphersuite: any ``t`` of ``n`` dealer-generated shares sign a
message into a signature an independent verifier accepts (``cryptography``
for Ed25519, libsecp256k1's BIP-340 through ``coincurve`` for Taproot, and
our own verifier, checked against the RFC 9591 vectors elsewhere, for
secp256k1 and ristretto255); ``t - 1`` shares never do, even when a
coordinator bypasses the threshold checks; and every object survives its
byte and JSON encodings exactly.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from coincurve import PublicKeyXOnly
from cryptography.exceptions import InvalidSignature as CryptographyInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner import frost
from cosigner.frost import Identifier, KeyPackage, PublicKeyPackage, SigningPackage
from cosigner.frost.serialization import Serializable
from cosigner.groups import Element, RandomBytes, Secp256k1Element

SUITE_NAMES = ["ed25519", "secp256k1", "ristretto255", "secp256k1-tr"]
suite_params = pytest.mark.parametrize("name", SUITE_NAMES)

SIGNING = settings(max_examples=15, deadline=None)
ROUND_TRIP = settings(max_examples=10, deadline=None)


def seeded_rng(seed: int) -> RandomBytes:
    """A reproducible randomness source, so hypothesis can replay a failing example."""
    return random.Random(seed).randbytes


def independently_verifies(
    suite: frost.Ciphersuite, verifying_key: Element, message: bytes, signature: bytes
) -> bool:
    if suite.name == "ed25519":
        key = Ed25519PublicKey.from_public_bytes(verifying_key.to_bytes())
        try:
            key.verify(signature, message)
        except CryptographyInvalidSignature:
            return False
        return True
    if suite.name == "secp256k1-tr":
        assert isinstance(verifying_key, Secp256k1Element)
        return bool(PublicKeyXOnly(verifying_key.x_only()).verify(signature, message))
    try:
        frost.verify(suite, verifying_key, message, signature)
    except frost.InvalidSignature:
        return False
    return True


@dataclass
class Setup:
    suite: frost.Ciphersuite
    min_signers: int
    max_signers: int
    identifiers: list[int] | None  # None: the default identifiers 1..n
    signers: list[int]
    message: bytes
    seed: int

    @property
    def all_identifiers(self) -> list[int]:
        return self.identifiers or list(range(1, self.max_signers + 1))


def identifier_strategy(suite: frost.Ciphersuite) -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(min_value=1, max_value=255),
        st.integers(min_value=256, max_value=2**32),
        st.integers(min_value=2**32, max_value=suite.group.order - 1),
        st.text(min_size=1, max_size=16).map(lambda name: Identifier.derive(suite, name)),
    )


@st.composite
def setups(
    draw: st.DrawFn,
    suite: frost.Ciphersuite,
    max_n: int = 15,
    max_t: int = 10,
    signer_count: str = "t",
) -> Setup:
    n = draw(st.integers(min_value=2, max_value=max_n))
    t = draw(st.integers(min_value=2, max_value=min(n, max_t)))
    identifiers: list[int] | None = None
    if draw(st.booleans()):
        identifiers = draw(
            st.lists(identifier_strategy(suite), min_size=n, max_size=n, unique=True)
        )
    everyone = identifiers or list(range(1, n + 1))
    at_least_t = draw(st.integers(min_value=t, max_value=n) | st.just(t))
    count = {"t": t, "t-1": t - 1, "at least t": at_least_t}[signer_count]
    signers = draw(st.permutations(everyone))[:count]
    message = draw(st.binary(max_size=80))
    seed = draw(st.integers(min_value=0, max_value=2**64))
    return Setup(suite, t, n, identifiers, signers, message, seed)


def commit_all(
    key_packages: dict[Identifier, KeyPackage], signers: list[int], rng: RandomBytes
) -> tuple[dict[int, frost.SigningNonces], dict[int, frost.SigningCommitments]]:
    nonces, commitments = {}, {}
    for i in signers:
        nonces[i], commitments[i] = frost.commit(key_packages[Identifier(i)], rng)
    return nonces, commitments


# -- t signers sign ------------------------------------------------------------------------


@suite_params
@SIGNING
@given(data=st.data())
def test_any_t_signers_produce_a_signature_an_independent_verifier_accepts(
    name: str, data: st.DataObject
) -> None:
    suite = frost.ciphersuite(name)
    s = data.draw(setups(suite, signer_count="at least t"))
    rng = seeded_rng(s.seed)
    key_packages, public = frost.keygen_with_dealer(
        suite, s.min_signers, s.max_signers, s.identifiers, rng
    )
    assert sorted(key_packages) == sorted(s.all_identifiers)
    assert sorted(public.verifying_shares) == sorted(s.all_identifiers)

    nonces, commitments = commit_all(key_packages, s.signers, rng)
    package = SigningPackage(suite, commitments, s.message)
    wire = package.to_bytes()
    shares = {}
    for i in s.signers:
        # Each signer works from its own copy of the package, as received over the wire.
        own = SigningPackage.from_bytes(wire)
        shares[i] = frost.sign(own, nonces[i], key_packages[Identifier(i)])
        frost.verify_signature_share(package, i, shares[i], public)
    signature = frost.aggregate(package, shares, public)

    assert len(signature) == suite.signature_size
    assert independently_verifies(suite, public.verifying_key, s.message, signature)
    frost.verify(suite, public.verifying_key, s.message, signature)
    frost.verify(suite.name, public.verifying_key.to_bytes(), s.message, signature)
    assert not independently_verifies(suite, public.verifying_key, s.message + b"!", signature)


@suite_params
def test_ten_of_fifteen_with_derived_and_large_identifiers(name: str) -> None:
    suite = frost.ciphersuite(name)
    rng = seeded_rng(15)
    identifiers: list[int] = [Identifier.derive(suite, f"owner-{k}@ex.com") for k in range(8)]
    identifiers += [256, 257, 65_536, 2**64 + 1, suite.group.order - 1, suite.group.order - 2, 3]
    key_packages, public = frost.keygen_with_dealer(suite, 10, 15, identifiers, rng)
    signers = random.Random(1).sample(identifiers, 10)
    message = b"10-of-15 " + name.encode()
    nonces, commitments = commit_all(key_packages, signers, rng)
    package = SigningPackage(suite, commitments, message)
    shares = {i: frost.sign(package, nonces[i], key_packages[Identifier(i)]) for i in signers}
    signature = frost.aggregate(package, shares, public)
    assert independently_verifies(suite, public.verifying_key, message, signature)


# -- t - 1 signers never do ---------------------------------------------------------------


@suite_params
@SIGNING
@given(data=st.data())
def test_fewer_than_t_signers_never_produce_a_valid_signature(
    name: str, data: st.DataObject
) -> None:
    suite = frost.ciphersuite(name)
    q = suite.group.order
    s = data.draw(setups(suite, signer_count="t-1"))
    rng = seeded_rng(s.seed)
    key_packages, public = frost.keygen_with_dealer(
        suite, s.min_signers, s.max_signers, s.identifiers, rng
    )
    nonces, commitments = commit_all(key_packages, s.signers, rng)
    package = SigningPackage(suite, commitments, s.message)

    # (a) An honest signer refuses a package with fewer than min_signers commitments,
    #     and refusing does not spend its nonces.
    for i in s.signers:
        with pytest.raises(frost.InvalidParameters):
            frost.sign(package, nonces[i], key_packages[Identifier(i)])
        assert not nonces[i].used

    # (b) A coordinator that talks signers into a lowered threshold gets shares,
    #     but no signature: aggregation refuses or fails, and the raw sum never verifies.
    lowered = {
        i: KeyPackage(
            suite,
            i,
            key_packages[Identifier(i)].signing_share,
            key_packages[Identifier(i)].verifying_share,
            public.verifying_key,
            s.min_signers - 1,
        )
        for i in s.signers
    }
    shares = {i: frost.sign(package, nonces[i], lowered[i]) for i in s.signers}
    with pytest.raises(frost.InvalidParameters):
        frost.aggregate(package, shares, public)
    lowered_public = PublicKeyPackage(suite, public.verifying_shares, public.verifying_key, None)
    with pytest.raises((frost.InvalidSignature, frost.InvalidSignatureShare)):
        frost.aggregate(package, shares, lowered_public)
    effective_key = suite.pre_aggregate(public).verifying_key
    signing_data = package.signing_data(effective_key)
    forged = suite.serialize_signature(
        signing_data.group_commitment, sum(z.share for z in shares.values()) % q
    )
    assert not independently_verifies(suite, public.verifying_key, s.message, forged)

    # (c) Shares computed directly from the RFC 9591 Section 5.2 formula, bypassing
    #     sign() entirely, with the Lagrange coefficients of the t - 1 signers.
    nonces, commitments = commit_all(key_packages, s.signers, rng)
    package = SigningPackage(suite, commitments, s.message)
    signing_data = package.signing_data(effective_key)
    z_total = 0
    for i in s.signers:
        kp = suite.pre_sign(key_packages[Identifier(i)])
        hiding, binding = suite.effective_nonces(
            signing_data.group_commitment, *nonces[i].consume()
        )
        z_total += (
            hiding
            + binding * signing_data.binding_factors[Identifier(i)]
            + signing_data.lagrange[Identifier(i)] * kp.signing_share * signing_data.challenge
        )
    forged = suite.serialize_signature(signing_data.group_commitment, z_total % q)
    assert not independently_verifies(suite, public.verifying_key, s.message, forged)
    with pytest.raises(frost.InvalidSignature):
        frost.verify(suite, public.verifying_key, s.message, forged)


# -- serialization round trips ----------------------------------------------------------


def assert_round_trips(obj: Serializable) -> None:
    cls = type(obj)
    data = obj.to_bytes()
    again = cls.from_bytes(data)
    assert type(again) is cls
    assert again == obj
    assert again.to_bytes() == data
    assert cls.from_bytes(bytearray(data)) == obj  # type: ignore[arg-type]

    decoded = frost.decode_any(data)
    assert type(decoded) is cls
    assert decoded == obj
    assert decoded.to_bytes() == data

    text = obj.to_json()
    back = cls.from_json(text)
    assert type(back) is cls
    assert back.to_json() == text
    assert back == obj
    assert back.to_bytes() == data
    assert cls.from_json(text.encode()) == obj
    assert cls.from_dict(obj.to_dict()) == obj


@suite_params
@ROUND_TRIP
@given(data=st.data())
def test_every_object_round_trips_through_bytes_and_json(name: str, data: st.DataObject) -> None:
    suite = frost.ciphersuite(name)
    s = data.draw(setups(suite, max_n=6, max_t=6))
    rng = seeded_rng(s.seed)
    secret = suite.group.random_scalar(rng)
    secret_shares, public = frost.split(
        suite, secret, s.min_signers, s.max_signers, s.identifiers, rng
    )
    key_packages = {i: KeyPackage.from_secret_share(sh) for i, sh in secret_shares.items()}
    nonces, commitments = commit_all(key_packages, s.signers, rng)
    package = SigningPackage(suite, commitments, s.message)
    shares = {i: frost.sign(package, nonces[i], key_packages[Identifier(i)]) for i in s.signers}
    frost.aggregate(package, shares, public)

    objects: list[Serializable] = [
        *secret_shares.values(),
        *key_packages.values(),
        public,
        PublicKeyPackage(suite, public.verifying_shares, public.verifying_key, None),
        *commitments.values(),
        package,
        *shares.values(),
    ]
    for obj in objects:
        assert_round_trips(obj)

    # A package decoded from either form signs exactly as the original does.
    assert SigningPackage.from_json(package.to_json()).signing_data(
        public.verifying_key
    ) == package.signing_data(public.verifying_key)
    assert frost.reconstruct(suite, list(key_packages.values())[: s.min_signers]) == secret
