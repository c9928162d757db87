"""Threshold-session uses are spent atomically: 20 concurrent authorize calls, 3 uses, 3 win.

Plain ``authorize`` calls (3 mpcSessionIds), and ``authorize`` calls with
``signInit`` (3 signing sessions, each holding its nonces, none for the rest).

The requests run concurrently through the ASGI app (httpx's ASGI transport,
handlers in FastAPI's thread pool) over a SQLite store, so the only thing
between them is the store's atomic use counter.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from server_support import ORIGIN, FakeClock, ServerFactory

from cosigner import frost
from cosigner.client import commitments_json
from cosigner.store.sqlite import SqliteStore
from cosigner.testing.wallet import b64u, bearer

CALLS = 20
USES = 3


def test_three_uses_admit_exactly_three_of_twenty_concurrent_authorize_calls(
    make_server: ServerFactory, clock: FakeClock, tmp_path: Path
) -> None:
    server = make_server(store=SqliteStore(tmp_path / "concurrency.db", clock=clock))
    try:
        wallet = server.wallet()
        key = wallet.keygen()
        token = wallet.session(key, maxUses=USES)["sessionToken"]
        body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(bytes(32))}
        transport = httpx.ASGITransport(app=server.client.app)  # type: ignore[arg-type]

        async def race() -> list[httpx.Response]:
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
                calls = [
                    client.post("/threshold-ed25519/authorize", json=body, headers=bearer(token))
                    for _ in range(CALLS)
                ]
                return await asyncio.gather(*calls)

        responses = asyncio.run(race())
        outcomes = Counter("ok" if r.status_code == 200 else r.json()["code"] for r in responses)
        assert outcomes == {"ok": USES, "session_exhausted": CALLS - USES}
        granted = {r.json()["mpcSessionId"] for r in responses if r.status_code == 200}
        assert len(granted) == USES
        remaining = sorted(r.json()["remainingUses"] for r in responses if r.status_code == 200)
        assert remaining == list(range(USES))
        authorizations = [e for e in server.store.audit.entries() if e.kind == "authorize"]
        assert len(authorizations) == USES
    finally:
        server.store.close()


def test_three_uses_admit_exactly_three_of_twenty_concurrent_authorizes_with_sign_init(
    make_server: ServerFactory, clock: FakeClock, tmp_path: Path
) -> None:
    server = make_server(store=SqliteStore(tmp_path / "concurrency.db", clock=clock))
    try:
        wallet = server.wallet()
        key = wallet.keygen()
        minted = wallet.session(key, maxUses=USES)
        token = minted["sessionToken"]

        def body() -> dict[str, Any]:
            _, commitments = frost.commit(key.package)
            return {
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(bytes(32)),
                "signInit": {"clientCommitments": commitments_json(commitments)},
            }

        transport = httpx.ASGITransport(app=server.client.app)  # type: ignore[arg-type]

        async def race() -> list[httpx.Response]:
            async with httpx.AsyncClient(transport=transport, base_url=ORIGIN) as client:
                calls = [
                    client.post("/threshold-ed25519/authorize", json=body(), headers=bearer(token))
                    for _ in range(CALLS)
                ]
                return await asyncio.gather(*calls)

        responses = asyncio.run(race())
        outcomes = Counter("ok" if r.status_code == 200 else r.json()["code"] for r in responses)
        assert outcomes == {"ok": USES, "session_exhausted": CALLS - USES}
        granted = [r.json() for r in responses if r.status_code == 200]
        assert all(g.get("mpcSessionId") is None for g in granted)
        opened = {g["signInit"]["signingSessionId"] for g in granted}
        assert len(opened) == USES
        for signing_session_id in opened:  # each one stored, sealed, until finalized
            assert server.store.sessions.get("sign_ed25519", signing_session_id).data
        assert sorted(g["remainingUses"] for g in granted) == list(range(USES))
        assert server.store.auth_sessions.get(minted["sessionId"]).remaining_uses == 0
        authorizations = [e for e in server.store.audit.entries() if e.kind == "authorize"]
        assert len(authorizations) == USES
    finally:
        server.store.close()
