"""The second-opinion verifiers accept the RFC 9591 vectors and reject everything else."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner import frost, reference

VECTORS = Path(
    os.environ.get(
        "COSIGNER_FROST_VECTORS", Path(__file__).resolve().parents[2] / "shared/vectors/frost"
    )
)
CASES = {
    "secp256k1": (reference.verify_frost_secp256k1, "frost-secp256k1-sha256.json"),
    "ristretto255": (reference.verify_frost_ristretto255, "frost-ristretto255-sha512.json"),
}


@pytest.mark.parametrize("suite", sorted(CASES))
def test_rfc_vector_signature(suite: str) -> None:
    check, name = CASES[suite]
    data = json.loads((VECTORS / suite / name).read_text())
    key = bytes.fromhex(data["inputs"]["group_public_key"])
    message = bytes.fromhex(data["inputs"]["message"])
    signature = bytes.fromhex(data["final_output"]["sig"])
    assert check(key, message, signature)
    assert not check(key, message + b"x", signature)
    bad = bytearray(signature)
    bad[-5] ^= 1
    assert not check(key, message, bytes(bad))


@settings(max_examples=10, deadline=None)
@given(message=st.binary(max_size=64), suite=st.sampled_from(sorted(CASES)))
def test_agrees_with_cosigner(message: bytes, suite: str) -> None:
    check, _ = CASES[suite]
    packages, public = frost.keygen_with_dealer(suite, 2, 3)
    rounds = {i: frost.commit(packages[i]) for i in (1, 2)}
    package = frost.SigningPackage(suite, {i: c for i, (_, c) in rounds.items()}, message)
    shares = {i: frost.sign(package, n, packages[i]) for i, (n, _) in rounds.items()}
    signature = frost.aggregate(package, shares, public)
    key = public.verifying_key.to_bytes()
    assert check(key, message, signature)
    assert not check(key, message + b"!", signature)
    assert not check(key, message, signature[:-1])
    assert not check(b"\x00" * len(key), message, signature)
