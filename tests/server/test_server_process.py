"""The real server process: ``cosigner serve`` on a free loopback port, driven over HTTP.

register -> login -> keygen -> session -> authorize -> sign (two-party FROST)
-> verify, with a software passkey, against uvicorn and a SQLite store.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner.testing import SoftAuthenticator, SoftWallet

STARTUP_TIMEOUT_S = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _secret(byte: bytes) -> str:
    return base64.urlsafe_b64encode(byte * 32).rstrip(b"=").decode()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str]]:
    port = _free_port()
    origin = f"http://localhost:{port}"
    env = {
        **os.environ,
        "COSIGNER_ENV": "production",
        "COSIGNER_STORE_URL": f"sqlite:///{tmp_path / 'cosigner.db'}",
        "COSIGNER_SESSION_SECRET": _secret(b"s"),
        "COSIGNER_ED25519_MASTER_SECRET": _secret(b"m"),
        "COSIGNER_RP_ID": "localhost",
        "COSIGNER_ORIGINS": origin,
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "cosigner.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited: {(tmp_path / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer /healthz in time")
            time.sleep(0.1)
        yield base_url, origin
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_register_login_keygen_session_authorize_sign_verify(served: tuple[str, str]) -> None:
    base_url, origin = served
    with httpx.Client(base_url=base_url, timeout=10.0) as http:
        wallet = SoftWallet(http, SoftAuthenticator(origin=origin), rp_id="localhost")
        wallet.register("process-test")
        wallet.login()
        key = wallet.keygen()
        token = wallet.session(key, maxUses=2)["sessionToken"]
        message = b"transfer 1 coin to bob, nonce 7"
        granted = wallet.authorize(token, key, message)
        signature = wallet.sign(token, key, message, granted["mpcSessionId"])
        Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, message)

        assert http.get("/readyz").json()["store"] == "sqlite"
        assert "/threshold-ed25519/sign/init" in http.get("/openapi.json").json()["paths"]
        metrics = http.get("/metrics").text
        assert 'route="/threshold-ed25519/sign/finalize",status="200"' in metrics
        response = http.post("/threshold-ed25519/authorize", json={"relayerKeyId": "x"})
        assert response.status_code == 401 and response.json()["code"] == "unauthorized"
