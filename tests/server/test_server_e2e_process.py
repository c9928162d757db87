"""End to end through the real server process: ``cosigner serve`` (uvicorn) on a free port.

With the client SDK and a software passkey over real HTTP: register, log in,
keygen for both schemes, connect threshold sessions, sign an EIP-1559
transaction by threshold ECDSA and execute it on py-evm (eth-tester), sign a
NEAR transfer by FROST and verify it with OpenSSL's Ed25519, export both keys
and check them against the group keys; then ``cosigner demo --server`` against
the same process. The server is always terminated.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import base58
import httpx
import pytest
from coincurve import PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eth_account import Account
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp

from cosigner.chains.near import SignedTransaction
from cosigner.client import CosignerClient
from cosigner.store import open_store
from cosigner.testing import SoftAuthenticator

STARTUP_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class Served:
    base_url: str
    origin: str
    store_url: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _secret(byte: bytes) -> str:
    return base64.urlsafe_b64encode(byte * 32).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp: Path = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    origin = f"http://localhost:{port}"
    store_url = f"sqlite:///{tmp / 'cosigner.db'}"
    env = {
        **os.environ,
        "COSIGNER_ENV": "production",
        "COSIGNER_STORE_URL": store_url,
        "COSIGNER_SESSION_SECRET": _secret(b"s"),
        "COSIGNER_ED25519_MASTER_SECRET": _secret(b"m"),
        "COSIGNER_SECP256K1_MASTER_SECRET": _secret(b"k"),
        "COSIGNER_RP_ID": "localhost",
        "COSIGNER_ORIGINS": origin,
    }
    log_path = tmp / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cosigner.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_TIMEOUT_S
            while True:
                if process.poll() is not None:
                    pytest.fail(f"the server exited: {log_path.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{base_url}/readyz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("the server did not answer /readyz in time")
                time.sleep(0.1)
            yield Served(base_url, origin, store_url)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _fund(tester: object, address: str) -> None:
    funder = tester.get_accounts()[0]  # type: ignore[attr-defined]
    tester.send_transaction(  # type: ignore[attr-defined]
        {
            "from": funder,
            "to": address,
            "value": 10**18,
            "gas": 21000,
            "max_fee_per_gas": 10**10,
            "max_priority_fee_per_gas": 10**9,
        }
    )


def test_register_keygen_sign_evm_and_near_export_both(served: Served) -> None:
    eth_tester = pytest.importorskip("eth_tester")
    client = CosignerClient(served.base_url, SoftAuthenticator(origin=served.origin))
    with client:
        client.register("e2e")
        client.login()
        ecdsa_key = client.keygen("ecdsa")
        ed_key = client.keygen("ed25519")
        assert client.connect_session(ecdsa_key, max_uses=5).remaining_uses == 5
        assert client.connect_session(ed_key, max_uses=5).remaining_uses == 5

        # EIP-1559 by threshold ECDSA, executed on py-evm.
        tester = eth_tester.EthereumTester(eth_tester.PyEVMBackend())
        assert ecdsa_key.address is not None
        _fund(tester, ecdsa_key.address)
        recipient = "0x000000000000000000000000000000000000bEEF"
        signed = client.sign_evm_transaction(
            ecdsa_key,
            {
                "chainId": tester.backend.chain.chain_id,
                "nonce": 0,
                "gas": 21000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 10**9,
                "to": recipient,
                "value": 12345,
            },
        )
        assert signed.raw is not None and signed.raw[0] == 2
        tx_hash = tester.send_raw_transaction("0x" + signed.raw.hex())
        assert tx_hash == signed.hash
        assert tester.get_transaction_receipt(tx_hash)["status"] == 1
        assert tester.get_balance(recipient) == 12345

        # A NEAR transfer by FROST(Ed25519), checked by OpenSSL.
        block_hash = base58.b58encode(hashlib.sha256(b"e2e block").digest()).decode()
        near = client.sign_near_transaction(
            ed_key,
            {
                "signer_id": "e2e.testnet",
                "nonce": 3,
                "receiver_id": "bob.testnet",
                "block_hash": block_hash,
                "actions": [{"Transfer": {"deposit": "1000000000000000000000000"}}],
            },
        )
        assert near.raw is not None
        transaction = SignedTransaction.from_borsh(near.raw).transaction
        digest = hashlib.sha256(transaction.to_borsh()).digest()
        Ed25519PublicKey.from_public_bytes(ed_key.public_key).verify(near.raw[-64:], digest)

        # Export both keys: each completes its group key.
        secret = client.export_key(ecdsa_key)
        assert PrivateKey(secret).public_key.format() == ecdsa_key.public_key
        assert Account.from_key(secret).address == ecdsa_key.address
        scalar = client.export_key(ed_key)
        assert crypto_scalarmult_ed25519_base_noclamp(scalar) == ed_key.public_key

    # The process wrote every step to its audit chain.
    with open_store(served.store_url) as store:
        kinds = [e.kind for e in store.audit.entries(limit=10_000)]
        assert store.audit.verify_chain() == len(kinds)
    assert kinds.count("export") == 2
    assert kinds.count("signature") == 2
    assert "presignature" in kinds


def test_cosigner_demo_against_the_server(served: Served) -> None:
    command = [sys.executable, "-m", "cosigner.cli", "demo", "--server", served.base_url]
    done = subprocess.run(
        [*command, "--origin", served.origin],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("register a passkey", "sign EIP-1559 transaction", "sign NEAR transfer"):
        assert step in done.stdout
    assert "all 9 steps passed" in done.stdout
    refused = subprocess.run(
        [*command, "--origin", "http://evil.example"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode == 1
    assert "FAILED" in refused.stdout and "register a passkey" in refused.stdout


def test_demo_origin_needs_a_server(capsys: pytest.CaptureFixture[str]) -> None:
    from cosigner.cli import main

    with pytest.raises(SystemExit) as caught:
        main(["demo", "--origin", "http://localhost:8080"])
    assert caught.value.code == 2
    assert "--origin goes with --server" in capsys.readouterr().err
