"""Checks of the Solana vector files (``shared/vectors/chains/solana``), vector by vector.

``check_solana_file(path, data)`` checks, for every vector with a
``message_hex``:

* parsing the message bytes gives one sign request per required signer, each
  carrying exactly those bytes (with the 0x80 prefix for v0), not a digest;
* compiling the described system transfer (``fee_payer``, ``recipient``,
  ``lamports``, ``recent_blockhash``, lookup tables) with solders gives the
  same bytes;
* the Ed25519 signature from the seed, the wire transaction from
  ``finalize`` (hex and base64), the base58 id, and solders' own verification
  of the wire transaction;
* the sign requests and the ui_model rebuilt from ``ui_model["fields"]``.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path
from typing import Any

from solders.transaction import VersionedTransaction

from cosigner.chains.engines import LocalKeyEngine
from cosigner.chains.solana import SYSTEM_PROGRAM, SolanaAdapter, parse_transaction

ADAPTER = SolanaAdapter()


def transfer_payload(
    version: str | int,
    fee_payer: str,
    recipient: str,
    lamports: int,
    recent_blockhash: str,
    tables: list[dict[str, Any]] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """A system transfer in the instruction form of a ``transaction`` payload."""
    source = source or fee_payer
    payload: dict[str, Any] = {
        "version": version,
        "fee_payer": fee_payer,
        "recent_blockhash": recent_blockhash,
        "instructions": [
            {
                "program_id": SYSTEM_PROGRAM,
                "accounts": [
                    {"pubkey": source, "is_signer": True, "is_writable": True},
                    {"pubkey": recipient, "is_signer": False, "is_writable": True},
                ],
                "data_hex": struct.pack("<IQ", 2, lamports).hex(),
            }
        ],
    }
    if tables:
        payload["address_lookup_tables"] = tables
    return payload


def assert_rebuilds(kind: str, ui_model: dict[str, Any], requests: tuple[Any, ...]) -> None:
    assert json.loads(json.dumps(ui_model)) == ui_model, "ui_model is not plain JSON"
    again = ADAPTER.build_intent(kind, ui_model["fields"])
    assert again.sign_requests == requests
    assert again.ui_model == ui_model


def check_vector(v: dict[str, Any]) -> None:
    message = bytes.fromhex(v["message_hex"])
    version = v.get("version")
    if version == 0:
        assert message[0] == 0x80, "a v0 message is signed with its 0x80 prefix"
    intent = ADAPTER.build_intent("transaction", {"message_hex": v["message_hex"]})
    assert intent.sign_requests, "no signers"
    for request in intent.sign_requests:
        assert request.algorithm == "ed25519"
        assert not request.prehashed
        assert request.message == message
    assert intent.ui_model["fields"]["account_keys"][0] == v["fee_payer"]
    assert_rebuilds("transaction", dict(intent.ui_model), intent.sign_requests)

    if {"fee_payer", "recipient", "lamports", "recent_blockhash"} <= v.keys():
        tables = [
            {"key": t["key"], "addresses": t["addresses"]}
            for t in v.get("address_lookup_tables", [])
        ]
        payload = transfer_payload(
            version if version is not None else "legacy",
            v["fee_payer"],
            v["recipient"],
            v["lamports"],
            v["recent_blockhash"],
            tables,
        )
        compiled = ADAPTER.build_intent("transaction", payload)
        assert compiled.sign_requests[0].message == message
        decoded = compiled.ui_model["display"]["instructions"][0]["decoded"]
        assert decoded["amount"]["lamports"] == str(v["lamports"])

    signature_hex = v.get("signature_hex")
    if "ed25519_seed_hex" in v:
        engine = LocalKeyEngine()
        engine.add_ed25519("vector", bytes.fromhex(v["ed25519_seed_hex"]))
        signature = engine.sign(intent.sign_requests[0], "vector")
        if signature_hex is not None:
            assert signature.hex() == signature_hex
        signature_hex = signature.hex()
    if signature_hex is None or len(intent.sign_requests) != 1:
        return
    final = intent.finalize([bytes.fromhex(signature_hex)])
    assert final.raw is not None
    if "wire_transaction_hex" in v:
        assert final.raw.hex() == v["wire_transaction_hex"]
    if "wire_transaction_base64" in v:
        assert final.extra["transaction_base64"] == v["wire_transaction_base64"]
        assert base64.b64decode(v["wire_transaction_base64"]) == final.raw
    if "signature_base58" in v:
        assert final.hash == v["signature_base58"]
    tx = parse_transaction(final.raw)
    assert tx.verify_with_results() == [True]
    assert VersionedTransaction.from_bytes(final.raw).signatures[0] == tx.signatures[0]


def check_solana_file(path: Path, data: dict[str, Any]) -> None:
    """Check every vector of one Solana vector file (AssertionError names the vector)."""
    vectors = data.get("vectors")
    assert isinstance(vectors, list) and vectors, f"{path.name}: no vectors"
    for v in vectors:
        try:
            if "message_hex" not in v:
                raise AssertionError("unknown Solana vector shape (no message_hex)")
            check_vector(v)
        except AssertionError as exc:
            raise AssertionError(f"{path.name}: {v.get('name')}: {exc}") from exc


__all__ = ["check_solana_file", "transfer_payload"]
