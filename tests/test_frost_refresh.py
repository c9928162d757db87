"""Share refresh (cosigner.frost.refresh): same group key, new shares, old ones useless."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from cosigner import frost
from cosigner.frost import dkg, refresh
from cosigner.frost.keys import KeyPackage, PublicKeyPackage, keygen_with_dealer, reconstruct
from test_frost_dkg import seeded_rng, sign_and_verify

SUITES = ["ed25519", "secp256k1", "ristretto255", "secp256k1-tr"]
KeyGen = Callable[..., tuple[dict[frost.Identifier, KeyPackage], PublicKeyPackage]]
KEYGENS: dict[str, KeyGen] = {"dealer": keygen_with_dealer, "dkg": frost.keygen_local}

Ident = frost.Identifier


def aggregate_with(
    key_packages: dict[int, KeyPackage], public: PublicKeyPackage, message: bytes = b"m"
) -> bytes:
    """Both rounds with exactly these key packages, then aggregate (which may raise)."""
    suite = public.suite
    nonces = {i: frost.commit(kp) for i, kp in key_packages.items()}
    package = frost.SigningPackage(suite, {i: n[1] for i, n in nonces.items()}, message)
    shares = {i: frost.sign(package, nonces[i][0], key_packages[i]) for i in key_packages}
    return frost.aggregate(package, shares, public)


def dkg_refresh(
    suite: frost.Ciphersuite,
    key_packages: dict[Ident, KeyPackage],
    public: PublicKeyPackage,
    participants: list[int],
) -> tuple[dict[Ident, KeyPackage], PublicKeyPackage]:
    """The three refresh parts for ``participants``, in process."""
    t = public.min_signers
    assert t is not None
    ids = [Ident(i) for i in participants]
    secrets = {}
    broadcast = {}
    for i in ids:
        secrets[i], broadcast[i] = refresh.refresh_dkg_part1(suite, i, len(ids), t)
    round2_secrets = {}
    inbox: dict[Ident, dict[Ident, dkg.Round2Package]] = {i: {} for i in ids}
    for i in ids:
        mine = {j: p for j, p in broadcast.items() if j != i}
        round2_secrets[i], outgoing = refresh.refresh_dkg_part2(secrets[i], mine)
        for j, package in outgoing.items():
            inbox[j][i] = package
    new_packages = {}
    publics = []
    for i in ids:
        mine = {j: p for j, p in broadcast.items() if j != i}
        new_packages[i], pub = refresh.refresh_dkg_shares(
            round2_secrets[i], mine, inbox[i], public, key_packages[i]
        )
        publics.append(pub)
    assert all(p == publics[0] for p in publics)
    return new_packages, publics[0]


def dealer_refresh(
    key_packages: dict[Ident, KeyPackage], public: PublicKeyPackage, participants: list[int]
) -> tuple[dict[Ident, KeyPackage], PublicKeyPackage]:
    shares, new_public = refresh.compute_refreshing_shares(public, participants)
    assert list(shares) == participants
    return {i: refresh.refresh_share(shares[i], key_packages[i]) for i in shares}, new_public


def check_refreshed(
    old: dict[Ident, KeyPackage],
    old_public: PublicKeyPackage,
    new: dict[Ident, KeyPackage],
    new_public: PublicKeyPackage,
) -> None:
    suite = new_public.suite
    assert new_public.verifying_key == old_public.verifying_key
    assert new_public.min_signers == old_public.min_signers
    assert sorted(new_public.verifying_shares) == sorted(new)
    for i, kp in new.items():
        assert kp.verifying_key == old_public.verifying_key
        assert kp.signing_share != old[i].signing_share
        # Unlike ZF, the refreshed key package's verifying share is the new one.
        assert kp.verifying_share == suite.group.base_mul(kp.signing_share)
        assert kp.verifying_share == new_public.verifying_shares[i]
        assert kp.verifying_share != old[i].verifying_share
    t = new_public.min_signers
    assert t is not None
    chosen = sorted(new)[:t]
    sign_and_verify(new, new_public, [int(i) for i in chosen])
    assert reconstruct(suite, [new[i] for i in chosen]) == reconstruct(
        suite, [old[i] for i in sorted(old)[:t]]
    )
    # One old share among new ones: aggregation names the old one as the culprit.
    mixed = {int(i): new[i] for i in chosen}
    mixed[int(chosen[0])] = old[chosen[0]]
    with pytest.raises(frost.InvalidSignatureShare) as info:
        aggregate_with(mixed, new_public)
    assert info.value.culprits == (int(chosen[0]),)
    # And under the old public package, the new shares are the culprits.
    with pytest.raises(frost.InvalidSignatureShare) as info:
        aggregate_with(mixed, old_public)
    assert info.value.culprits == tuple(int(i) for i in chosen[1:])


@pytest.mark.parametrize("source", sorted(KEYGENS))
@pytest.mark.parametrize("name", SUITES)
def test_dealer_refresh(name: str, source: str) -> None:
    suite = frost.ciphersuite(name)
    old, old_public = KEYGENS[source](suite, 2, 3)
    new, new_public = dealer_refresh(old, old_public, [1, 2, 3])
    check_refreshed(old, old_public, new, new_public)
    # Refreshing twice works as well.
    newer, newer_public = dealer_refresh(new, new_public, [1, 2, 3])
    check_refreshed(new, new_public, newer, newer_public)


@pytest.mark.parametrize("name", SUITES)
def test_dkg_refresh(name: str) -> None:
    suite = frost.ciphersuite(name)
    old, old_public = frost.keygen_local(suite, 2, 3)
    new, new_public = dkg_refresh(suite, old, old_public, [1, 2, 3])
    check_refreshed(old, old_public, new, new_public)


@pytest.mark.parametrize("method", ["dealer", "dkg"])
def test_refresh_removes_participants(method: str) -> None:
    suite = frost.ciphersuite("secp256k1-tr")
    old, old_public = frost.keygen_local(suite, 2, 4)
    if method == "dealer":
        new, new_public = dealer_refresh(old, old_public, [1, 2, 4])
    else:
        new, new_public = dkg_refresh(suite, old, old_public, [1, 2, 4])
    assert sorted(new_public.verifying_shares) == [1, 2, 4]
    check_refreshed(old, old_public, new, new_public)
    sign_and_verify(new, new_public, [2, 4])
    # The removed participant's old share does not combine with the new ones.
    with pytest.raises(frost.InvalidParameters, match="do not reconstruct"):
        reconstruct(suite, [new[Ident(1)], old[Ident(3)]])
    with pytest.raises(frost.UnknownIdentifier):
        aggregate_with({1: new[Ident(1)], 3: old[Ident(3)]}, new_public)


def test_dealer_refresh_errors() -> None:
    suite = frost.ciphersuite("ed25519")
    kps, public = keygen_with_dealer(suite, 3, 5)
    with pytest.raises(frost.InvalidParameters):  # fewer than the threshold
        refresh.compute_refreshing_shares(public, [1, 2])
    with pytest.raises(frost.UnknownIdentifier):
        refresh.compute_refreshing_shares(public, [1, 2, 6])
    with pytest.raises(frost.DuplicateIdentifier):
        refresh.compute_refreshing_shares(public, [1, 2, 2])
    no_threshold = PublicKeyPackage(suite, public.verifying_shares, public.verifying_key, None)
    with pytest.raises(frost.InvalidParameters, match="min_signers"):
        refresh.compute_refreshing_shares(no_threshold, [1, 2, 3])

    shares, _ = refresh.compute_refreshing_shares(public, [1, 2, 3], rng=seeded_rng(b"r"))
    with pytest.raises(frost.InvalidParameters, match="for participant 2"):
        refresh.refresh_share(shares[Ident(2)], kps[Ident(1)])
    bad = refresh.RefreshingShare(
        suite, 1, shares[Ident(1)].signing_share + 1, shares[Ident(1)].commitment
    )
    with pytest.raises(frost.InvalidSecretShare):
        refresh.refresh_share(bad, kps[Ident(1)])
    kps2, _public2 = keygen_with_dealer(suite, 2, 5)
    with pytest.raises(frost.InvalidParameters, match="threshold"):
        refresh.refresh_share(shares[Ident(1)], kps2[Ident(1)])
    other_kps, _ = keygen_with_dealer("ristretto255", 3, 5)
    with pytest.raises(frost.CiphersuiteMismatch):
        refresh.refresh_share(shares[Ident(1)], other_kps[Ident(1)])


def test_dkg_refresh_proof_of_knowledge() -> None:
    suite = frost.ciphersuite("secp256k1-tr")
    secrets = {}
    broadcast = {}
    for i in (1, 2, 3):
        secrets[Ident(i)], broadcast[Ident(i)] = refresh.refresh_dkg_part1(suite, i, 3, 2)
    # ZF's refresh proof is over the zero constant term: mu = k, so R = mu * G.
    for package in broadcast.values():
        r, mu = suite.deserialize_signature(package.proof_of_knowledge)
        assert suite.group.base_mul(mu) == r
        assert len(package.commitment) == 1
    forged_r, forged_mu = suite.deserialize_signature(broadcast[Ident(3)].proof_of_knowledge)
    forged = dkg.Round1Package(
        suite,
        broadcast[Ident(3)].commitment,
        suite.serialize_signature(forged_r, forged_mu + 1),
    )
    with pytest.raises(frost.InvalidProofOfKnowledge) as info:
        refresh.refresh_dkg_part2(secrets[Ident(1)], {2: broadcast[Ident(2)], 3: forged})
    assert info.value.culprits == (3,)


def test_dkg_refresh_errors() -> None:
    suite = frost.ciphersuite("secp256k1")
    old, old_public = frost.keygen_local(suite, 2, 3)
    secrets = {}
    broadcast = {}
    for i in (1, 2, 3):
        secrets[Ident(i)], broadcast[Ident(i)] = refresh.refresh_dkg_part1(suite, i, 3, 2)
    one = Ident(1)
    mine = {j: p for j, p in broadcast.items() if j != one}
    with pytest.raises(frost.InvalidDkgState):  # own package included
        refresh.refresh_dkg_part2(secrets[one], {1: broadcast[one], 2: broadcast[Ident(2)]})
    with pytest.raises(frost.InvalidDkgState):  # too few
        refresh.refresh_dkg_part2(secrets[one], {2: broadcast[Ident(2)]})
    _, dkg_package = dkg.part1(suite, 3, 3, 2)  # a DKG package has t commitments, not t - 1
    with pytest.raises(frost.InvalidDkgState, match="participant 3"):
        refresh.refresh_dkg_part2(secrets[one], {2: broadcast[Ident(2)], 3: dkg_package})

    round2_secret, _ = refresh.refresh_dkg_part2(secrets[one], mine)
    received = {}
    for j in (2, 3):
        others = {k: p for k, p in broadcast.items() if k != j}
        _, outgoing = refresh.refresh_dkg_part2(secrets[Ident(j)], others)
        received[Ident(j)] = outgoing[one]
    bad = dict(received)
    bad[Ident(2)] = dkg.Round2Package(suite, received[Ident(2)].signing_share + 1)
    with pytest.raises(frost.InvalidSecretShare) as info:
        refresh.refresh_dkg_shares(round2_secret, mine, bad, old_public, old[one])
    assert info.value.culprits == (2,)
    with pytest.raises(frost.InvalidParameters):  # someone else's old key package
        refresh.refresh_dkg_shares(round2_secret, mine, received, old_public, old[Ident(2)])
    _, unrelated_public = frost.keygen_local(suite, 2, 3)
    with pytest.raises(frost.InvalidParameters):  # old packages that do not belong together
        refresh.refresh_dkg_shares(round2_secret, mine, received, unrelated_public, old[one])
    old3, old3_public = frost.keygen_local(suite, 3, 3)
    with pytest.raises(frost.InvalidParameters, match="threshold"):
        refresh.refresh_dkg_shares(round2_secret, mine, received, old3_public, old3[one])
    with pytest.raises(frost.InvalidDkgState):
        refresh.refresh_dkg_shares(
            round2_secret, mine, {Ident(2): received[Ident(2)]}, old_public, old[one]
        )
    kp, pub = refresh.refresh_dkg_shares(round2_secret, mine, received, old_public, old[one])
    assert pub.verifying_shares[one] == kp.verifying_share


@pytest.mark.parametrize("name", SUITES)
def test_refresh_encodings_round_trip(name: str) -> None:
    suite = frost.ciphersuite(name)
    _, public = keygen_with_dealer(suite, 3, 4)
    shares, _ = refresh.compute_refreshing_shares(public, [1, 2, 4])
    secret1, package1 = refresh.refresh_dkg_part1(suite, 1, 3, 3)
    _secret1b, package1b = refresh.refresh_dkg_part1(suite, 2, 3, 3)
    _secret1c, package1c = refresh.refresh_dkg_part1(suite, 3, 3, 3)
    secret2, outgoing = refresh.refresh_dkg_part2(secret1, {2: package1b, 3: package1c})
    objects = [shares[Ident(4)], secret1, package1, secret2, outgoing[Ident(2)]]
    for obj in objects:
        cls = type(obj)
        assert cls.from_bytes(obj.to_bytes()) == obj
        assert cls.from_json(obj.to_json()) == obj
        assert frost.decode_any(obj.to_bytes()) == obj
    for secret_obj, value in (
        (shares[Ident(4)], shares[Ident(4)].signing_share),
        (secret1, secret1.coefficients[0]),
        (secret2, secret2.secret_share),
    ):
        text = repr(secret_obj)
        assert "redacted" in text
        assert suite.encode_scalar(value).hex() not in text and str(value) not in text
