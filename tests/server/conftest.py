"""Fixtures for the server tests: an app over an in-memory store with a clock the test turns.

``make_server`` builds an app; ``server`` is one with defaults; ``wallet`` and
``other_wallet`` are two users who registered and logged in with their own
software passkeys. Everything runs in process (Starlette's TestClient over
``https://testserver``, so Secure cookies are sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from server_support import ORIGIN, FakeClock, Server, ServerFactory, TestClient, make_settings

from cosigner.server import create_app
from cosigner.store import Store
from cosigner.store.memory import MemoryStore
from cosigner.testing import SoftWallet


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_server(clock: FakeClock) -> Iterator[ServerFactory]:
    made: list[Server] = []

    def make(
        *,
        store: Store | None = None,
        google_http: httpx.Client | None = None,
        raise_server_exceptions: bool = True,
        **overrides: Any,
    ) -> Server:
        settings = make_settings(**overrides)
        store = store or MemoryStore(clock=clock)
        app = create_app(settings, store, clock=clock, google_http=google_http)
        client = TestClient(app, base_url=ORIGIN, raise_server_exceptions=raise_server_exceptions)
        server = Server(client, store, clock, settings)
        made.append(server)
        return server

    yield make
    for server in made:
        server.client.close()


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server()


@pytest.fixture
def wallet(server: Server) -> SoftWallet:
    return server.wallet("alice")


@pytest.fixture
def other_wallet(server: Server) -> SoftWallet:
    return server.wallet("bob")
