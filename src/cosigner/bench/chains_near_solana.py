"""NEAR and Solana payload kinds for ``cosigner bench chains``.

Registered at import (see :mod:`cosigner.bench.chains`):

* NEAR ``transaction``: a 1.5 NEAR transfer. ``build_intent`` validates the
  fields, Borsh-encodes the Transaction, hashes it with sha256 and builds the
  review model; ``finalize`` verifies the Ed25519 signature and encodes the
  SignedTransaction. No peer: no maintained Python NEAR library is installed.
* Solana ``transaction``: a v0 transfer whose recipient is read from an
  address lookup table, and the same transfer as a legacy message. The peer is
  solders, compiling the same instructions itself (``MessageV0.try_compile``
  or ``Message.new_with_blockhash``, then ``to_bytes_versioned``); its bytes
  must equal our sign request. ``build_intent`` does that compile too, plus
  validating the payload, the sanitize checks and the review model, so the
  ratio measures what the review costs on top of solders.

The signer is the registry's fixed Ed25519 bench key
(:data:`~cosigner.bench.chains.BENCH_ED25519_SEED`), signing through
:func:`~cosigner.bench.chains.sign_locally`; a FROST(Ed25519) signature is an
ordinary Ed25519 signature, so ``finalize`` costs the same for either.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import struct
from collections.abc import Callable
from typing import Any

from nacl.signing import SigningKey
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.message import Message, MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey

from cosigner.bench.chains import BENCH_ED25519_SEED, BenchKind, Peer, register, sign_locally
from cosigner.chains.near import NearAdapter
from cosigner.chains.payload import b58
from cosigner.chains.solana import SYSTEM_PROGRAM, SolanaAdapter

BENCH_ED25519_KEY = bytes(SigningKey(BENCH_ED25519_SEED).verify_key)
"""The public key of the registry's Ed25519 bench seed: the NEAR signer, the Solana fee payer."""

SOLANA_LAMPORTS = 250_000_000


def _fixed(label: str) -> bytes:
    return hashlib.sha256(b"cosigner bench chains: " + label.encode()).digest()


NEAR_TRANSFER: dict[str, Any] = {
    "signer_id": "alice.near",
    "public_key": "ed25519:" + b58(BENCH_ED25519_KEY),
    "nonce": "1000001",
    "receiver_id": "bob.near",
    "block_hash": b58(_fixed("near block")),
    "actions": [{"Transfer": {"deposit": str(15 * 10**23)}}],
}

_RECIPIENT = _fixed("solana recipient")
_TABLE = _fixed("solana table")
_FILLER = _fixed("solana filler")
_BLOCKHASH = _fixed("solana blockhash")


def solana_transfer(version: str | int) -> dict[str, Any]:
    """0.25 SOL from the bench key; v0 reads the recipient from an address lookup table."""
    payload: dict[str, Any] = {
        "version": version,
        "fee_payer": b58(BENCH_ED25519_KEY),
        "recent_blockhash": b58(_BLOCKHASH),
        "instructions": [
            {
                "program_id": SYSTEM_PROGRAM,
                "accounts": [
                    {"pubkey": b58(BENCH_ED25519_KEY), "is_signer": True, "is_writable": True},
                    {"pubkey": b58(_RECIPIENT), "is_signer": False, "is_writable": True},
                ],
                "data_hex": struct.pack("<IQ", 2, SOLANA_LAMPORTS).hex(),
            }
        ],
    }
    if version == 0:
        payload["address_lookup_tables"] = [
            {"key": b58(_TABLE), "addresses": [b58(_FILLER), b58(_RECIPIENT)]}
        ]
    return payload


def _solders_peer(version: str | int) -> Callable[[], Peer | None]:
    """solders compiling the same transfer: the bytes a Solana signer signs."""

    def build() -> Peer | None:
        payer = Pubkey.from_bytes(BENCH_ED25519_KEY)
        recipient = Pubkey.from_bytes(_RECIPIENT)
        blockhash = Hash(_BLOCKHASH)
        instruction = Instruction(
            Pubkey.from_string(SYSTEM_PROGRAM),
            struct.pack("<IQ", 2, SOLANA_LAMPORTS),
            [AccountMeta(payer, True, True), AccountMeta(recipient, False, True)],
        )
        name = f"solders {importlib.metadata.version('solders')}"
        if version == 0:
            table = AddressLookupTableAccount(
                Pubkey.from_bytes(_TABLE), [Pubkey.from_bytes(_FILLER), recipient]
            )

            def compile_v0() -> bytes:
                message = MessageV0.try_compile(payer, [instruction], [table], blockhash)
                return to_bytes_versioned(message)

            operation = "to_bytes_versioned(MessageV0.try_compile(payer, [ix], [table], hash))"
            return Peer(name, operation, compile_v0)

        def compile_legacy() -> bytes:
            return bytes(Message.new_with_blockhash([instruction], payer, blockhash))

        return Peer(name, "bytes(Message.new_with_blockhash([ix], payer, hash))", compile_legacy)

    return build


def near_solana_bench_kinds() -> list[BenchKind]:
    near, solana = NearAdapter(), SolanaAdapter()
    return [
        BenchKind("near", "transaction", "transfer", near, NEAR_TRANSFER, sign_locally),
        BenchKind(
            "solana",
            "transaction",
            "v0 transfer, lookup table",
            solana,
            solana_transfer(0),
            sign_locally,
            peer=_solders_peer(0),
        ),
        BenchKind(
            "solana",
            "transaction",
            "legacy transfer",
            solana,
            solana_transfer("legacy"),
            sign_locally,
            peer=_solders_peer("legacy"),
        ),
    ]


register(*near_solana_bench_kinds())

__all__ = ["BENCH_ED25519_KEY", "NEAR_TRANSFER", "near_solana_bench_kinds", "solana_transfer"]
