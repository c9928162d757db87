"""Pedersen DKG (cosigner.frost.dkg): signing with its output, culprits, encodings.

The Zcash Foundation's ``vectors_dkg.json`` are run by ``test_frost_vectors.py``
through ``frost_vector_checks.check_dkg_vector``.
"""

from __future__ import annotations

import hashlib
import itertools

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner import frost
from cosigner.frost import dkg
from cosigner.frost.keys import KeyPackage, PublicKeyPackage, reconstruct
from cosigner.groups import RandomBytes, Secp256k1Element

SUITES = ["ed25519", "secp256k1", "ristretto255", "secp256k1-tr"]


def seeded_rng(seed: bytes) -> RandomBytes:
    """A deterministic randomness source, for reproducible runs."""
    counter = itertools.count()

    def rng(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + next(counter).to_bytes(8, "big")).digest()
        return out[:n]

    return rng


def sign_and_verify(
    key_packages: dict[frost.Identifier, KeyPackage],
    public: PublicKeyPackage,
    signers: list[int],
    message: bytes = b"cosigner dkg test",
) -> bytes:
    """Run both rounds and aggregation, verify with cosigner and an independent library."""
    suite = public.suite
    nonces = {i: frost.commit(key_packages[frost.Identifier(i)]) for i in signers}
    package = frost.SigningPackage(suite, {i: n[1] for i, n in nonces.items()}, message)
    shares = {
        i: frost.sign(package, nonces[i][0], key_packages[frost.Identifier(i)]) for i in signers
    }
    signature = frost.aggregate(package, shares, public)
    frost.verify(suite, public.verifying_key, message, signature)
    key = public.verifying_key
    if suite.name == "ed25519":
        Ed25519PublicKey.from_public_bytes(key.to_bytes()).verify(signature, message)
    elif suite.name == "secp256k1-tr":
        assert isinstance(key, Secp256k1Element)
        assert coincurve.PublicKeyXOnly(key.x_only()).verify(signature, message)
    return signature


def run_parts(
    suite: frost.Ciphersuite, ids: list[int], min_signers: int
) -> tuple[
    dict[frost.Identifier, dkg.Round1SecretPackage],
    dict[frost.Identifier, dkg.Round1Package],
]:
    secrets: dict[frost.Identifier, dkg.Round1SecretPackage] = {}
    broadcast: dict[frost.Identifier, dkg.Round1Package] = {}
    for i in ids:
        ident = frost.Identifier(i)
        secrets[ident], broadcast[ident] = dkg.part1(suite, i, len(ids), min_signers)
    return secrets, broadcast


def others(
    packages: dict[frost.Identifier, dkg.Round1Package], me: int
) -> dict[frost.Identifier, dkg.Round1Package]:
    return {j: p for j, p in packages.items() if j != me}


@pytest.mark.parametrize("name", SUITES)
def test_keygen_local_then_sign(name: str) -> None:
    suite = frost.ciphersuite(name)
    key_packages, public = frost.keygen_local(suite, 2, 3)
    assert sorted(key_packages) == [1, 2, 3]
    assert public.min_signers == 2
    for ident, kp in key_packages.items():
        assert kp.identifier == ident
        assert kp.verifying_key == public.verifying_key
        assert public.verifying_shares[ident] == kp.verifying_share
        assert suite.group.base_mul(kp.signing_share) == kp.verifying_share
    sign_and_verify(key_packages, public, [1, 3])
    sign_and_verify(key_packages, public, [2, 3])
    assert reconstruct(suite, [key_packages[frost.Identifier(i)] for i in (1, 2)]) == reconstruct(
        suite, [key_packages[frost.Identifier(i)] for i in (2, 3)]
    )


@pytest.mark.parametrize("name", SUITES)
def test_dkg_parts_with_derived_identifiers(name: str) -> None:
    suite = frost.ciphersuite(name)
    ids = [frost.Identifier.derive(suite, who) for who in ("alice", "bob", "carol", "dave")]
    key_packages, public = frost.keygen_local(suite, 3, 4, identifiers=ids)
    assert sorted(public.verifying_shares) == sorted(ids)
    by_small = dict(enumerate(sorted(ids), start=1))
    chosen = [int(by_small[1]), int(by_small[3]), int(by_small[4])]
    sign_and_verify(key_packages, public, chosen)


def test_keygen_local_by_name_and_reproducible() -> None:
    kps1, pub1 = frost.keygen_local("secp256k1", 2, 3, rng=seeded_rng(b"a"))
    kps2, pub2 = frost.keygen_local("secp256k1", 2, 3, rng=seeded_rng(b"a"))
    _, pub3 = frost.keygen_local("secp256k1", 2, 3, rng=seeded_rng(b"b"))
    assert pub1 == pub2 and kps1 == kps2
    assert pub1.verifying_key != pub3.verifying_key


def test_taproot_dkg_output_is_tweaked() -> None:
    """ZF's post_dkg: Q = P_even + TapTweak(x(P)) G, for the key and every share."""
    suite = frost.ciphersuite("secp256k1-tr")
    secrets, broadcast = run_parts(suite, [1, 2, 3], 2)
    untweaked = suite.group.sum(p.commitment[0] for p in broadcast.values())
    key_packages, public = _finish(suite, secrets, broadcast)
    assert isinstance(untweaked, Secp256k1Element)
    even = untweaked if untweaked.has_even_y else -untweaked
    t = frost.taproot.taproot_tweak(even)
    assert public.verifying_key == even + suite.group.base_mul(t)
    sign_and_verify(key_packages, public, [1, 2])


def _finish(
    suite: frost.Ciphersuite,
    secrets: dict[frost.Identifier, dkg.Round1SecretPackage],
    broadcast: dict[frost.Identifier, dkg.Round1Package],
) -> tuple[dict[frost.Identifier, KeyPackage], PublicKeyPackage]:
    round2_secrets = {}
    inbox: dict[frost.Identifier, dict[frost.Identifier, dkg.Round2Package]] = {
        i: {} for i in secrets
    }
    for i, secret in secrets.items():
        round2_secrets[i], outgoing = dkg.part2(secret, others(broadcast, i))
        for j, package in outgoing.items():
            inbox[j][i] = package
    key_packages = {}
    publics = []
    for i, secret2 in round2_secrets.items():
        key_packages[i], pub = dkg.part3(secret2, others(broadcast, i), inbox[i])
        publics.append(pub)
    assert all(p == publics[0] for p in publics)
    return key_packages, publics[0]


@pytest.mark.parametrize("name", SUITES)
def test_bad_proof_of_knowledge_names_culprit(name: str) -> None:
    suite = frost.ciphersuite(name)
    secrets, broadcast = run_parts(suite, [1, 2, 3], 2)
    # 2's proof on 3's commitment, and a replay of 2's whole package under 3's identifier.
    forged = dkg.Round1Package(
        suite,
        broadcast[frost.Identifier(3)].commitment,
        broadcast[frost.Identifier(2)].proof_of_knowledge,
    )
    tampered = dict(broadcast)
    tampered[frost.Identifier(3)] = forged
    with pytest.raises(frost.InvalidProofOfKnowledge) as info:
        dkg.part2(secrets[frost.Identifier(1)], others(tampered, 1))
    assert info.value.culprits == (3,)
    assert info.value.code == "invalid_proof_of_knowledge"

    replayed = dict(broadcast)
    replayed[frost.Identifier(3)] = broadcast[frost.Identifier(2)]
    with pytest.raises(frost.InvalidProofOfKnowledge) as info:
        dkg.part2(secrets[frost.Identifier(1)], others(replayed, 1))
    assert info.value.culprits == (3,)


@pytest.mark.parametrize("name", SUITES)
def test_bad_share_names_culprit(name: str) -> None:
    suite = frost.ciphersuite(name)
    secrets, broadcast = run_parts(suite, [1, 2, 3], 2)
    round2_secrets = {}
    inbox: dict[frost.Identifier, dict[frost.Identifier, dkg.Round2Package]] = {
        i: {} for i in secrets
    }
    for i, secret in secrets.items():
        round2_secrets[i], outgoing = dkg.part2(secret, others(broadcast, i))
        for j, package in outgoing.items():
            inbox[j][i] = package
    one = frost.Identifier(1)
    bad = dict(inbox[one])
    bad[frost.Identifier(3)] = dkg.Round2Package(suite, bad[frost.Identifier(3)].signing_share + 1)
    with pytest.raises(frost.InvalidSecretShare) as info:
        dkg.part3(round2_secrets[one], others(broadcast, 1), bad)
    assert info.value.culprits == (3,)
    assert str(bad[frost.Identifier(3)].signing_share) not in str(info.value)
    # The honest inbox still works.
    kp, _ = dkg.part3(round2_secrets[one], others(broadcast, 1), inbox[one])
    assert kp.identifier == 1


def test_package_set_errors() -> None:
    suite = frost.ciphersuite("ristretto255")
    secrets, broadcast = run_parts(suite, [1, 2, 3, 4], 3)
    one = frost.Identifier(1)
    full = others(broadcast, 1)
    p = {i: broadcast[frost.Identifier(i)] for i in (1, 2, 3, 4)}
    with pytest.raises(frost.InvalidDkgState):  # too few
        dkg.part2(secrets[one], {2: p[2], 3: p[3]})
    with pytest.raises(frost.InvalidDkgState):  # own package included
        dkg.part2(secrets[one], {1: p[1], 2: p[2], 3: p[3]})
    short = dkg.Round1Package(suite, p[4].commitment[:2], p[4].proof_of_knowledge)
    with pytest.raises(frost.InvalidDkgState, match="participant 4"):
        dkg.part2(secrets[one], {2: p[2], 3: p[3], 4: short})
    other_suite = frost.ciphersuite("ed25519")
    _, foreign = dkg.part1(other_suite, 4, 4, 3)
    with pytest.raises(frost.CiphersuiteMismatch):
        dkg.part2(secrets[one], {2: p[2], 3: p[3], 4: foreign})

    round2_secret, _ = dkg.part2(secrets[one], full)
    shares: dict[int, dkg.Round2Package] = {}
    for j in (2, 3, 4):
        _, outgoing = dkg.part2(secrets[frost.Identifier(j)], others(broadcast, j))
        shares[j] = outgoing[one]
    with pytest.raises(frost.InvalidDkgState):  # a round-two package missing
        dkg.part3(round2_secret, full, {2: shares[2], 3: shares[3]})
    with pytest.raises(frost.InvalidDkgState):  # round-two from a non-participant
        dkg.part3(round2_secret, full, {2: shares[2], 3: shares[3], 5: shares[4]})
    with pytest.raises(frost.InvalidDkgState):  # own round-two package
        dkg.part3(round2_secret, full, {1: shares[2], 3: shares[3], 4: shares[4]})
    kp, pub = dkg.part3(round2_secret, full, shares)
    assert pub.min_signers == 3 and kp.min_signers == 3


@pytest.mark.parametrize(("min_signers", "max_signers"), [(1, 3), (0, 2), (3, 2), (2, 1)])
def test_part1_rejects_bad_thresholds(min_signers: int, max_signers: int) -> None:
    with pytest.raises(frost.InvalidParameters):
        dkg.part1("ed25519", 1, max_signers, min_signers)
    with pytest.raises(frost.InvalidParameters):
        frost.keygen_local("ed25519", min_signers, max_signers)


def test_keygen_local_identifier_errors() -> None:
    with pytest.raises(frost.InvalidParameters):
        frost.keygen_local("ed25519", 2, 3, identifiers=[1, 2])
    with pytest.raises(frost.DuplicateIdentifier):
        frost.keygen_local("ed25519", 2, 3, identifiers=[1, 2, 2])
    with pytest.raises(frost.InvalidIdentifier):
        dkg.part1("ed25519", 0, 3, 2)


@pytest.mark.parametrize("name", SUITES)
def test_package_encodings_round_trip(name: str) -> None:
    suite = frost.ciphersuite(name)
    secrets, broadcast = run_parts(suite, [1, 2, 3], 2)
    one = frost.Identifier(1)
    round2_secret, outgoing = dkg.part2(secrets[one], others(broadcast, 1))
    objects = [secrets[one], broadcast[one], round2_secret, outgoing[frost.Identifier(2)]]
    for obj in objects:
        cls = type(obj)
        assert cls.from_bytes(obj.to_bytes()) == obj
        assert cls.from_json(obj.to_json()) == obj
        assert frost.decode_any(obj.to_bytes()) == obj
        assert cls.from_bytes(obj.to_bytes()).to_bytes() == obj.to_bytes()
    assert len(broadcast[one].proof_of_knowledge) == suite.signature_size
    # Secrets never reach a repr.
    for secret_obj, value in (
        (secrets[one], secrets[one].coefficients[0]),
        (round2_secret, round2_secret.secret_share),
        (outgoing[frost.Identifier(2)], outgoing[frost.Identifier(2)].signing_share),
    ):
        text = repr(secret_obj)
        assert "redacted" in text
        assert suite.encode_scalar(value).hex() not in text and str(value) not in text


def test_decoding_rejects_tampered_packages() -> None:
    suite = frost.ciphersuite("secp256k1-tr")
    secrets, broadcast = run_parts(suite, [1, 2, 3], 2)
    package = broadcast[frost.Identifier(1)]
    data = bytearray(package.to_bytes())
    # x(R) of the BIP-340 encoded proof: all 0xff is above the field prime, never a point.
    data[-64:-32] = b"\xff" * 32
    with pytest.raises(frost.FrostDecodeError):
        dkg.Round1Package.from_bytes(bytes(data))
    with pytest.raises(frost.FrostDecodeError):
        dkg.Round1Package.from_bytes(package.to_bytes() + b"\x00")
    # A secret package whose commitment does not match its coefficients.
    secret = secrets[frost.Identifier(1)]
    d = secret.to_dict()
    d["commitment"] = list(reversed(d["commitment"]))
    with pytest.raises(frost.FrostDecodeError):
        dkg.Round1SecretPackage.from_dict(d)
    round2_secret, _ = dkg.part2(secret, others(broadcast, 1))
    d = round2_secret.to_dict()
    d["secret_share"] = dkg.Round2Package(suite, 5).to_dict()["signing_share"]
    with pytest.raises(frost.FrostDecodeError):
        dkg.Round2SecretPackage.from_dict(d)


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=2, max_value=4), st.integers(min_value=0, max_value=2))
def test_any_threshold_subset_signs(min_signers: int, extra: int) -> None:
    suite = frost.ciphersuite("ristretto255")
    max_signers = min_signers + extra
    key_packages, public = frost.keygen_local(suite, min_signers, max_signers)
    signers = list(range(max_signers - min_signers + 1, max_signers + 1))
    sign_and_verify(key_packages, public, signers)
