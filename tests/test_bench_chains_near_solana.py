"""The NEAR and Solana kinds of ``cosigner bench chains``: registered, correct, measurable."""

from __future__ import annotations

import hashlib
import io

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from solders.transaction import VersionedTransaction

from cosigner.bench import chains
from cosigner.bench.chains_near_solana import BENCH_ED25519_KEY, near_solana_bench_kinds
from cosigner.chains.near import SignedTransaction


def test_registered_with_bench_chains() -> None:
    kinds = chains.load_kinds()
    labels = {(k.chain, k.label) for k in kinds}
    assert ("near", "transfer") in labels
    assert ("solana", "v0 transfer, lookup table") in labels


def test_each_kind_signs_what_the_chain_accepts() -> None:
    verifier = Ed25519PublicKey.from_public_bytes(BENCH_ED25519_KEY)
    for kind in near_solana_bench_kinds():
        intent = kind.adapter.build_intent(kind.kind, kind.payload)
        final = intent.finalize(kind.sign(intent))
        assert final.raw is not None
        if kind.chain == "near":
            signed = SignedTransaction.from_borsh(final.raw)
            verifier.verify(
                signed.signature.data, hashlib.sha256(signed.transaction.to_borsh()).digest()
            )
        else:
            assert VersionedTransaction.from_bytes(final.raw).verify_with_results() == [True]
            if "v0" in kind.label:
                assert final.raw[1 + 64] == 0x80  # the v0 message after the one signature
                assert intent.ui_model["fields"]["address_table_lookups"]
        if kind.peer is not None:
            peer = kind.peer()
            assert peer is not None
            assert peer.digest() == intent.sign_requests[0].message


def test_measure_and_report() -> None:
    for kind in near_solana_bench_kinds():
        line = chains.measure(kind, repeat=1, number=2)
        assert line.build_us > 0 and line.finalize_us > 0
        assert (line.peer_us is not None) == (kind.chain == "solana")
    out = io.StringIO()
    lines = chains.run(repeat=1, number=1, chains=["near", "solana"], out=out)
    assert {ln.kind.chain for ln in lines} == {"near", "solana"}
    assert "v0 transfer, lookup table" in out.getvalue()
