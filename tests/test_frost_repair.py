"""Share repair (cosigner.frost.repair): helpers restore a lost share exactly.

ZF's ``repair-share.json`` vectors are run by ``test_frost_vectors.py`` through
``frost_vector_checks.check_repair_vector``; these are ZF's randomized tests
(``check_rts``, ``check_repair_share_part1``, the invalid-count case) and the
failures cosigner adds.
"""

from __future__ import annotations

import pytest

from cosigner import frost
from cosigner.frost import repair
from cosigner.frost.keys import (
    KeyPackage,
    PublicKeyPackage,
    compute_lagrange_coefficient,
    keygen_with_dealer,
)
from cosigner.groups import system_random
from test_frost_dkg import seeded_rng, sign_and_verify

SUITES = ["ed25519", "secp256k1", "ristretto255", "secp256k1-tr"]
Ident = frost.Identifier


def run_repair(
    key_packages: dict[Ident, KeyPackage],
    public: PublicKeyPackage,
    helpers: list[int],
    participant: int,
) -> KeyPackage:
    """All three parts in process: each helper's deltas, each helper's sigma, the repair."""
    deltas = {
        h: repair.repair_share_part1(helpers, key_packages[Ident(h)], system_random, participant)
        for h in helpers
    }
    sigmas = [repair.repair_share_part2([deltas[h][Ident(j)] for h in helpers]) for j in helpers]
    return repair.repair_share_part3(sigmas, participant, public)


@pytest.mark.parametrize("name", SUITES)
def test_repair_recovers_dealer_share(name: str) -> None:
    """ZF check_rts: (5, 3) dealer keys; helpers 1, 4 and 5 repair participant 2."""
    suite = frost.ciphersuite(name)
    key_packages, public = keygen_with_dealer(suite, 3, 5)
    repaired = run_repair(key_packages, public, [1, 4, 5], 2)
    assert repaired == key_packages[Ident(2)]
    assert repaired.signing_share == key_packages[Ident(2)].signing_share
    assert repaired.verifying_share == public.verifying_shares[Ident(2)]
    # Helpers given in any order produce the same share.
    assert run_repair(key_packages, public, [5, 1, 4], 2) == repaired


@pytest.mark.parametrize("name", SUITES)
def test_repair_recovers_dkg_share_and_signs(name: str) -> None:
    suite = frost.ciphersuite(name)
    key_packages, public = frost.keygen_local(suite, 2, 4)
    repaired = run_repair(key_packages, public, [1, 4], 3)
    assert repaired == key_packages[Ident(3)]
    restored = dict(key_packages)
    restored[Ident(3)] = repaired
    sign_and_verify(restored, public, [2, 3])


@pytest.mark.parametrize("name", SUITES)
def test_part1_deltas_sum_to_weighted_share(name: str) -> None:
    """ZF check_repair_share_part1: the deltas of helper 4 add up to zeta_4 * s_4."""
    suite = frost.ciphersuite(name)
    key_packages, _ = keygen_with_dealer(suite, 3, 5)
    helpers = [1, 4, 5]
    helper = key_packages[Ident(4)]
    deltas = repair.repair_share_part1(helpers, helper, seeded_rng(b"d"), 2)
    assert list(deltas) == [1, 4, 5]
    zeta = compute_lagrange_coefficient(suite, helpers, 4, 2)
    q = suite.group.order
    assert sum(d.value for d in deltas.values()) % q == zeta * helper.signing_share % q


def test_part1_errors() -> None:
    suite = frost.ciphersuite("secp256k1")
    key_packages, _ = keygen_with_dealer(suite, 2, 3)
    helper = key_packages[Ident(3)]
    # ZF ..._fails_with_invalid_min_signers: one helper for a threshold of two.
    with pytest.raises(frost.InvalidParameters):
        repair.repair_share_part1([3], helper, system_random, 2)
    with pytest.raises(frost.UnknownIdentifier):
        repair.repair_share_part1([1, 2], helper, system_random, 2)
    with pytest.raises(frost.DuplicateIdentifier):
        repair.repair_share_part1([1, 3, 3], helper, system_random, 2)
    with pytest.raises(frost.InvalidParameters, match="its own share"):
        repair.repair_share_part1([2, 3], helper, system_random, 2)
    with pytest.raises(frost.InvalidIdentifier):
        repair.repair_share_part1([1, 3], helper, system_random, 0)


def test_part2_and_part3_errors() -> None:
    suite = frost.ciphersuite("ristretto255")
    key_packages, public = keygen_with_dealer(suite, 3, 5)
    helpers = [1, 4, 5]
    deltas = {
        h: repair.repair_share_part1(helpers, key_packages[Ident(h)], system_random, 2)
        for h in helpers
    }
    with pytest.raises(frost.InvalidParameters):
        repair.repair_share_part2([])
    sigmas = [repair.repair_share_part2([deltas[h][Ident(j)] for h in helpers]) for j in helpers]
    with pytest.raises(frost.InvalidParameters):  # a sigma where a delta belongs
        repair.repair_share_part2([deltas[1][Ident(1)], sigmas[0]])  # type: ignore[list-item]
    foreign = repair.Delta(frost.ciphersuite("ed25519"), 5)
    with pytest.raises(frost.CiphersuiteMismatch):
        repair.repair_share_part2([deltas[1][Ident(1)], foreign])

    # A helper that sends a wrong value: the repaired share does not match the listed one.
    wrong = [*sigmas[:2], repair.Sigma(suite, sigmas[2].value + 1)]
    with pytest.raises(frost.InvalidSecretShare):
        repair.repair_share_part3(wrong, 2, public)
    with pytest.raises(frost.InvalidParameters):  # fewer sigmas than the threshold
        repair.repair_share_part3(sigmas[:2], 2, public)
    no_threshold = PublicKeyPackage(suite, public.verifying_shares, public.verifying_key, None)
    with pytest.raises(frost.InvalidParameters, match="min_signers"):
        repair.repair_share_part3(sigmas, 2, no_threshold)
    _, other_public = keygen_with_dealer("ed25519", 3, 5)
    with pytest.raises(frost.CiphersuiteMismatch):
        repair.repair_share_part3(sigmas, 2, other_public)
    assert repair.repair_share_part3(sigmas, 2, public) == key_packages[Ident(2)]


@pytest.mark.parametrize("name", SUITES)
def test_delta_and_sigma_encodings(name: str) -> None:
    suite = frost.ciphersuite(name)
    delta = repair.Delta(suite, 123456789)
    sigma = repair.Sigma(suite, 987654321)
    for obj in (delta, sigma):
        cls = type(obj)
        assert cls.from_bytes(obj.to_bytes()) == obj
        assert cls.from_json(obj.to_json()) == obj
        assert frost.decode_any(obj.to_bytes()) == obj
        assert "redacted" in repr(obj) and str(obj.value) not in repr(obj)
    assert delta != repair.Sigma(suite, delta.value)
    with pytest.raises(frost.FrostDecodeError):
        repair.Sigma.from_bytes(delta.to_bytes())
