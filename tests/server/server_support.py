"""Helpers of the server tests: a clock the test turns, settings, error checks."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

with warnings.catch_warnings():
    # Starlette asks for httpx2; the TestClient works the same with httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from cosigner.client import CosignerClient, KeyHandle
from cosigner.server import Secret, Settings
from cosigner.store import Store
from cosigner.testing import SoftAuthenticator, SoftWallet

ORIGIN = "https://testserver"
RP_ID = "testserver"


class FakeClock:
    """Integer milliseconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "session_secret": Secret(b"s" * 32),
        "ed25519_master_secret": Secret(b"m" * 32),
        "secp256k1_master_secret": Secret(b"k" * 32),
        "rp_id": RP_ID,
        "origins": (ORIGIN,),
        "purge_interval_s": 0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Server:
    client: TestClient
    store: Store
    clock: FakeClock
    settings: Settings

    def wallet(self, user_name: str = "alice") -> SoftWallet:
        wallet = SoftWallet(self.client, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
        wallet.register(user_name)
        wallet.login()
        return wallet


ServerFactory = Callable[..., Server]


def error_of(response: httpx.Response) -> tuple[int, str]:
    """(status, code) of an error response, checking its body is exactly {code, message}."""
    body = response.json()
    assert set(body) == {"code", "message"}, body
    assert isinstance(body["message"], str) and body["message"]
    return response.status_code, body["code"]


def new_client(server: Server, name: str = "alice") -> CosignerClient:
    """An SDK client on ``server``'s app, registered as ``name`` and logged in."""
    client = CosignerClient(server.client, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    client.register(name)
    client.login()
    return client


def ecdsa_client_share(
    client: CosignerClient,
    key: KeyHandle,
    init: dict[str, Any],
    digest: bytes,
    client_entropy: bytes,
) -> bytes:
    """The client's share for an ECDSA signing session (``sign/init``'s or ``signInit``'s answer).

    Takes the client's half of the presignature the relayer reserved, as the SDK does.
    """
    return client.ecdsa_client_share(key, init, digest, client_entropy)
