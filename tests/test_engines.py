"""Signer engines: each turns a SignRequest into a signature the chain's verifier accepts."""

from __future__ import annotations

import hashlib

import coincurve
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner import ecdsa, frost
from cosigner.chains.engines import FrostEngine, LocalKeyEngine, ThresholdEcdsaEngine
from cosigner.chains.errors import EngineError
from cosigner.chains.intent import SignRequest
from cosigner.groups import SECP256K1

DIGEST = hashlib.sha256(b"engine test").digest()
HALF_ORDER = SECP256K1.order // 2


def _check_secp256k1(public_key: bytes, signature: bytes) -> None:
    assert len(signature) == 65
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    assert s <= HALF_ORDER, "high s"
    recovered = coincurve.PublicKey.from_signature_and_message(
        r + s.to_bytes(32, "big") + bytes([v]), DIGEST, hasher=None
    )
    assert recovered.format() == public_key


def test_local_engine_signs_both_algorithms() -> None:
    engine = LocalKeyEngine()
    ed_pub = engine.add_ed25519("ed", bytes(range(32)))
    k1_pub = engine.add_secp256k1("k1", hashlib.sha256(b"k").digest())
    sig = engine.sign(SignRequest("ed25519", b"any message", "m", prehashed=False), "ed")
    Ed25519PublicKey.from_public_bytes(ed_pub).verify(sig, b"any message")
    _check_secp256k1(k1_pub, engine.sign(SignRequest("secp256k1", DIGEST, "d"), "k1"))
    assert "ed" in repr(engine) and ed_pub.hex() not in repr(engine)
    with pytest.raises(EngineError):
        engine.sign(SignRequest("secp256k1", DIGEST, "d"), "ed")
    with pytest.raises(EngineError):
        engine.sign(SignRequest("p256", DIGEST, "d"), "k1")


def test_frost_engine_signs_ed25519_with_any_quorum() -> None:
    packages, public = frost.keygen_with_dealer("ed25519", 2, 3)
    engine = FrostEngine()
    key = engine.add_group("wallet", packages, public)
    request = SignRequest("ed25519", b"solana message bytes", "tx", prehashed=False)
    for signers in ((1, 2), (2, 3), (1, 3)):
        signature = engine.sign(request, "wallet", signers)
        Ed25519PublicKey.from_public_bytes(key).verify(signature, request.message)
    with pytest.raises(EngineError):
        engine.sign(request, "wallet", [1])
    with pytest.raises(EngineError):
        engine.sign(SignRequest("secp256k1", DIGEST, "d"), "wallet")


def test_threshold_ecdsa_engine_signs_low_s_with_recovery_id() -> None:
    shares = ecdsa.keygen_local([1, 2, 3], threshold=2)
    engine = ThresholdEcdsaEngine()
    key = engine.add_group("evm", shares)
    assert key == shares[1].public_key
    _check_secp256k1(key, engine.sign(SignRequest("secp256k1", DIGEST, "d"), "evm", [1, 3]))
    with pytest.raises(EngineError):
        engine.sign(SignRequest("secp256k1", DIGEST, "d"), "evm", [2])
    with pytest.raises(EngineError):
        engine.sign(SignRequest("ed25519", b"x", "m", prehashed=False), "evm")
    other = ecdsa.keygen_local([1, 2], threshold=2)
    with pytest.raises(EngineError):
        engine.add_group("mixed", {1: shares[1], 2: other[2]})


def test_threshold_ecdsa_engine_with_the_two_party_v1_scheme() -> None:
    pair = ecdsa.two_party_v1_shares(12345, 67890)
    engine = ThresholdEcdsaEngine()
    key = engine.add_group("2p", pair)
    assert key == SECP256K1.base_mul(12345 + 67890).to_bytes()
    _check_secp256k1(key, engine.sign(SignRequest("secp256k1", DIGEST, "d"), "2p"))


def test_adapter_registry() -> None:
    from cosigner import chains
    from cosigner.chains.errors import PayloadError

    for name in chains.CHAINS:
        adapter = chains.adapter(name)
        assert adapter.chain == name and adapter is chains.adapter(name)
    with pytest.raises(PayloadError, match="unknown chain"):
        chains.adapter("btc")
