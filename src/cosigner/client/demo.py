"""``cosigner demo --server URL``: the whole client flow against a running server.

With a software passkey (:class:`cosigner.testing.SoftAuthenticator`) and
:class:`~cosigner.client.CosignerClient`: check the server is ready,
register, log in, keygen for threshold ECDSA and for FROST(Ed25519),
connect a threshold session for each, fill the presignature pool, sign an
EIP-1559 transaction and a NEAR transfer, and verify both signatures with
verifiers that share no code with cosigner (eth-account's sender recovery,
OpenSSL's Ed25519 through ``cryptography``). Each step is printed with its
time; the first failure stops the demo, and the exit status is non-zero.

The passkey's origin must be one the server accepts (``COSIGNER_ORIGINS``);
by default it is the server URL with ``127.0.0.1`` written ``localhost``,
which matches a server started with the default settings.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit, urlunsplit

import base58
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner.chains.near import SignedTransaction
from cosigner.client.client import CosignerClient, KeyHandle
from cosigner.client.errors import ClientError
from cosigner.testing.authenticator import SoftAuthenticator

T = TypeVar("T")
DEMO_RECIPIENT: Final = "0x000000000000000000000000000000000000bEEF"
DEMO_CHAIN_ID: Final = 11155111
"""Sepolia's chain id: the demo signs, it does not broadcast."""


class DemoFailed(Exception):
    """A step failed; its message says which and why."""


def default_origin(server: str) -> str:
    """The server URL's scheme, host and port, with ``127.0.0.1`` written ``localhost``."""
    parts = urlsplit(server)
    netloc = parts.netloc.replace("127.0.0.1", "localhost")
    return urlunsplit((parts.scheme, netloc, "", "", ""))


class _Steps:
    def __init__(self, out: Callable[[str], None]) -> None:
        self.out = out
        self.count = 0

    def run(self, label: str, action: Callable[[], T], describe: Callable[[T], str]) -> T:
        self.count += 1
        start = time.perf_counter()
        try:
            result = action()
            ms = (time.perf_counter() - start) * 1000
            summary = describe(result)
        except Exception as exc:  # reported, and the demo exits non-zero
            self.out(f"  {self.count:>2}. {label:<34} FAILED: {type(exc).__name__}: {exc}")
            raise DemoFailed(label) from exc
        self.out(f"  {self.count:>2}. {label:<34} {summary}  ({ms:.0f} ms)")
        return result


def _evm_transaction(client: CosignerClient, key: KeyHandle) -> dict[str, Any]:
    finalized = client.sign_evm_transaction(
        key,
        {
            "type": 2,
            "chainId": DEMO_CHAIN_ID,
            "nonce": 0,
            "maxPriorityFeePerGas": 10**9,
            "maxFeePerGas": 3 * 10**10,
            "gas": 21000,
            "to": DEMO_RECIPIENT,
            "value": 10**15,
            "data": "0x",
        },
    )
    from eth_account import Account

    assert finalized.raw is not None
    sender = Account.recover_transaction(finalized.raw)
    if sender != key.address:
        raise AssertionError(f"eth-account recovers {sender}, not {key.address}")
    return {"hash": finalized.hash, "sender": sender, "bytes": len(finalized.raw)}


def _near_transaction(client: CosignerClient, key: KeyHandle) -> dict[str, Any]:
    block_hash = base58.b58encode(hashlib.sha256(b"cosigner demo block").digest()).decode()
    finalized = client.sign_near_transaction(
        key,
        {
            "signer_id": "cosigner-demo.testnet",
            "nonce": 1,
            "receiver_id": "bob.testnet",
            "block_hash": block_hash,
            "actions": [{"Transfer": {"deposit": str(10**24)}}],
        },
    )
    assert finalized.raw is not None
    signed = SignedTransaction.from_borsh(finalized.raw)
    digest = hashlib.sha256(signed.transaction.to_borsh()).digest()
    signature = finalized.raw[-64:]
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, digest)
    return {"hash": finalized.hash, "bytes": len(finalized.raw)}


def run_server_demo(
    server: str, *, origin: str | None = None, out: Callable[[str], None] = print
) -> int:
    """Run the demo against ``server``; returns the exit status (0 when every step passed)."""
    try:
        origin = origin or default_origin(server)
        client = CosignerClient(server, SoftAuthenticator(origin=origin))
    except (ValueError, ClientError) as exc:
        out(f"cosigner demo: FAILED: {server} is not a usable server URL ({exc})")
        return 1
    out(f"cosigner demo against {server} (passkey origin {origin})")
    steps = _Steps(out)
    try:
        ready = steps.run(
            "server ready",
            lambda: client.api.get("/readyz"),
            lambda r: f"store {r['store']}, {sum(bool(v) for v in r['schemes'].values())} schemes",
        )
        if not all(ready["schemes"].values()):
            raise DemoFailed("a threshold scheme is disabled on the server")
        steps.run(
            "register a passkey",
            lambda: client.register("cosigner-demo"),
            lambda r: f"user {r['userId']}",
        )
        steps.run("log in (passkey + PRF)", client.login, lambda r: f"user {r['userId']}")
        ecdsa_key = steps.run(
            "keygen threshold ECDSA",
            lambda: client.keygen("ecdsa"),
            lambda k: f"address {k.address}",
        )
        ed_key = steps.run(
            "keygen FROST(Ed25519)",
            lambda: client.keygen("ed25519"),
            lambda k: f"NEAR key {k.near_public_key}",
        )
        steps.run(
            "connect threshold sessions",
            lambda: (client.connect_session(ecdsa_key), client.connect_session(ed_key)),
            lambda s: f"{s[0].remaining_uses} + {s[1].remaining_uses} uses",
        )
        steps.run(
            "presign (triples, presign)",
            lambda: client.refill_presignatures(ecdsa_key, 2),
            lambda n: f"{n} presignatures pooled on both sides",
        )
        steps.run(
            "sign EIP-1559 transaction",
            lambda: _evm_transaction(client, ecdsa_key),
            lambda r: f"tx {r['hash']}, sender recovered by eth-account",
        )
        steps.run(
            "sign NEAR transfer (FROST)",
            lambda: _near_transaction(client, ed_key),
            lambda r: f"tx {r['hash']}, verified by OpenSSL Ed25519",
        )
    except DemoFailed as exc:
        out(f"FAILED at: {exc}")
        return 1
    finally:
        client.close()
    out(f"all {steps.count} steps passed")
    return 0


__all__ = ["DemoFailed", "default_origin", "run_server_demo"]
