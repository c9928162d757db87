"""Threshold ECDSA on two app instances sharing one store, under concurrent load.

* 50 concurrent ``sign/init`` calls (each a presignature reservation) against
  a pool of 10 presignatures, spread over two instances: exactly 10 succeed,
  with 10 different presignatures, and 40 answer ``pool_empty``.
* 20 concurrent ``authorize`` calls with ``signInit`` (each a use and a
  reservation) on a threshold session of 3 uses, against a pool of 20:
  exactly 3 open a signing session (3 different presignatures, each of which
  then signs), 17 answer ``session_exhausted``, and those reserve nothing.
* 50 concurrent, identical ``presign/step`` calls advancing one version of
  one presign session, spread over two instances: exactly one computation
  wins the compare-and-swap and every caller gets its answer (the others
  lost the swap, or came after it, and are answered from the stored step:
  the same request is answered the same way, never computed twice); a
  different request for that version is ``stale_session_state``, and the
  session goes on from the winner.

Every other request (register, keygen, the presign sessions that fill the
pool, authorize) alternates between the two instances, so presign sessions
are continued by an instance other than the one that started them. The
store is SQLite (one file, two connections), and PostgreSQL and Redis when
``COSIGNER_TEST_POSTGRES_URL`` / ``COSIGNER_TEST_REDIS_URL`` are set.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from coincurve import PublicKey
from server_support import ORIGIN, RP_ID, FakeClock, Server, ServerFactory, ecdsa_client_share

from cosigner.client import CosignerClient, KeyHandle
from cosigner.client.ecdsa import ClientPresign
from cosigner.client.http import b64u, bearer, unb64u
from cosigner.ecdsa.two_party import client_key_share
from cosigner.protocol import Message
from cosigner.store import Store, open_store
from cosigner.store.migrations import TABLES
from cosigner.testing import SoftAuthenticator

CALLS = 50
POOL = 10
POSTGRES_ENV = "COSIGNER_TEST_POSTGRES_URL"
REDIS_ENV = "COSIGNER_TEST_REDIS_URL"


def _server_url(env: str) -> str:
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"{env} is not set: this backend needs a real server (see .ci/run)")
    return url


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    import psycopg

    schema = "cosigner_srv_" + uuid.uuid4().hex[:16]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@contextmanager
def _redis_namespace(url: str) -> Iterator[str]:
    import redis

    namespace = "srv-" + uuid.uuid4().hex[:16]
    try:
        yield namespace
    finally:
        with redis.Redis.from_url(url) as client:
            keys = list(client.scan_iter(match=f"cosigner:{{{namespace}}}:*", count=1000))
            if keys:
                client.delete(*keys)


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[tuple[Store, Store]]:
    """Two store instances on the same data, as two server processes would have."""
    with ExitStack() as stack:
        if request.param == "sqlite":
            url, namespace = f"sqlite:///{tmp_path / 'shared.db'}", "default"
        elif request.param == "postgresql":
            url = stack.enter_context(_postgres_schema(_server_url(POSTGRES_ENV)))
            namespace = "default"
            assert "cosigner_session_versions" in TABLES
        else:
            url = _server_url(REDIS_ENV)
            namespace = stack.enter_context(_redis_namespace(url))
        stores = (
            open_store(url, namespace=namespace, clock=clock),
            open_store(url, namespace=namespace, clock=clock),
        )
        for store in stores:
            stack.callback(store.close)
        yield stores


class Alternating(httpx.BaseTransport):
    """Sends each request to the next of several in-process servers, in turn."""

    def __init__(self, *servers: Server) -> None:
        self._transports: list[httpx.BaseTransport] = [
            s.client._transport  # type: ignore[attr-defined]
            for s in servers
        ]
        self._next = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports[self._next % len(self._transports)]
        self._next += 1
        return transport.handle_request(request)


def _two_servers(
    make_server: ServerFactory, stores: tuple[Store, Store]
) -> tuple[Server, Server, CosignerClient, KeyHandle]:
    a, b = (make_server(store=s) for s in stores)
    http = httpx.Client(transport=Alternating(a, b), base_url=ORIGIN)
    client = CosignerClient(http, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    client.register("alice")
    client.login()
    return a, b, client, client.keygen("ecdsa")


def _race(
    servers: tuple[Server, Server], calls: list[tuple[str, dict[str, Any], str]]
) -> list[httpx.Response]:
    """Send every call at once, alternating between the servers; the answers, in order."""

    async def run() -> list[httpx.Response]:
        clients = [
            httpx.AsyncClient(transport=httpx.ASGITransport(app=s.client.app), base_url=ORIGIN)
            for s in servers
        ]
        try:
            return await asyncio.gather(
                *(
                    clients[i % 2].post(path, json=body, headers=bearer(token))
                    for i, (path, body, token) in enumerate(calls)
                )
            )
        finally:
            for c in clients:
                await c.aclose()

    return asyncio.run(run())


def test_fifty_reservations_against_ten_presignatures_on_two_instances(
    make_server: ServerFactory, two_stores: tuple[Store, Store]
) -> None:
    a, b, client, key = _two_servers(make_server, two_stores)
    assert client.refill_presignatures(key, POOL) == POOL
    pooled = set(client._halves[key.relayer_key_id])
    assert a.store.presignatures.available(key.relayer_key_id) == POOL
    digest = bytes(range(32))
    grants: list[tuple[str, str]] = []
    for uses in (20, 20, CALLS - 40):
        token = client.connect_session(key, max_uses=uses).token
        for _ in range(uses):
            body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(digest)}
            grants.append(
                (client.api.post("/threshold-ecdsa/authorize", body, token)["mpcSessionId"], token)
            )
    calls = [
        (
            "/threshold-ecdsa/sign/init",
            {
                "mpcSessionId": mpc,
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(digest),
                "clientEntropy": b64u(os.urandom(32)),
            },
            token,
        )
        for mpc, token in grants
    ]
    responses = _race((a, b), calls)
    outcomes = Counter("ok" if r.status_code == 200 else r.json()["code"] for r in responses)
    assert outcomes == {"ok": POOL, "pool_empty": CALLS - POOL}
    reserved = [r.json()["presignatureId"] for r in responses if r.status_code == 200]
    assert sorted(reserved) == sorted(pooled)  # ten different presignatures, none twice
    assert b.store.presignatures.available(key.relayer_key_id) == 0
    # pool_empty left those mpcSessionIds unspent; the winners' ids are spent.
    losers = [g for g, r in zip(grants, responses, strict=True) if r.status_code != 200]
    winners = [g for g, r in zip(grants, responses, strict=True) if r.status_code == 200]
    assert b.store.sessions.get("mpc_ecdsa", losers[0][0]).session_id == losers[0][0]
    assert all(_spent(a.store, mpc) for mpc, _ in winners)


def _spent(store: Store, mpc_session_id: str) -> bool:
    try:
        store.sessions.get("mpc_ecdsa", mpc_session_id)
    except LookupError:
        return True
    return False


COMBINED_CALLS = 20
USES = 3


def test_three_uses_admit_three_of_twenty_authorizes_with_sign_init(
    make_server: ServerFactory, two_stores: tuple[Store, Store]
) -> None:
    """signInit: of 20 concurrent authorizes on a 3-use session, 3 open a signing session.

    The refused ones reserve nothing: the pool keeps all but the winners' three.
    """
    a, b, client, key = _two_servers(make_server, two_stores)
    assert client.refill_presignatures(key, COMBINED_CALLS) == COMBINED_CALLS
    session = client.connect_session(key, max_uses=USES)
    digest = bytes(range(32))
    entropies = [os.urandom(32) for _ in range(COMBINED_CALLS)]
    calls = [
        (
            "/threshold-ecdsa/authorize",
            {
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(digest),
                "signInit": {"clientEntropy": b64u(entropy)},
            },
            session.token,
        )
        for entropy in entropies
    ]
    responses = _race((a, b), calls)
    outcomes = Counter("ok" if r.status_code == 200 else r.json()["code"] for r in responses)
    assert outcomes == {"ok": USES, "session_exhausted": COMBINED_CALLS - USES}
    won = [(r.json(), e) for r, e in zip(responses, entropies, strict=True) if r.status_code == 200]
    assert sorted(g["remainingUses"] for g, _ in won) == list(range(USES))
    assert all(g.get("mpcSessionId") is None for g, _ in won)
    reserved = {g["signInit"]["presignatureId"] for g, _ in won}
    assert len(reserved) == USES  # three different presignatures
    assert a.store.auth_sessions.get(session.session_id).remaining_uses == 0
    authorizations = [e for e in b.store.audit.entries(limit=1000) if e.kind == "authorize"]
    assert len(authorizations) == USES
    # Each winner finalizes its own signing session, on either instance.
    for granted, entropy in won:
        init = granted["signInit"]
        share = ecdsa_client_share(client, key, init, digest, entropy)
        final = client.api.post(
            "/threshold-ecdsa/sign/finalize",
            {
                "signingSessionId": init["signingSessionId"],
                "relayerKeyId": key.relayer_key_id,
                "clientSignatureShare": b64u(share),
            },
            session.token,
        )
        signature = unb64u(final["signature"])
        recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
        assert recovered.format() == key.public_key
    assert b.store.presignatures.available(key.relayer_key_id) == COMBINED_CALLS - USES


def test_fifty_cas_advances_of_one_version_have_one_winner(
    make_server: ServerFactory, two_stores: tuple[Store, Store]
) -> None:
    a, b, client, key = _two_servers(make_server, two_stores)
    token = client.connect_session(key).token
    init = client.api.post(
        "/threshold-ecdsa/presign/init", {"relayerKeyId": key.relayer_key_id}, token
    )
    flow = ClientPresign(
        client_key_share(key.x_client, key.public_key),
        key.relayer_key_id,
        init["presignSessionId"],
    )
    flow.receive(init["stage"], [Message.from_bytes(unb64u(m)) for m in init["messages"]])
    body = {
        "presignSessionId": init["presignSessionId"],
        "relayerKeyId": key.relayer_key_id,
        "expectedVersion": init["version"],
        "stage": flow.stage,
        "messages": [b64u(m.to_bytes()) for m in flow.outgoing()],
    }
    responses = _race((a, b), [("/threshold-ecdsa/presign/step", body, token)] * CALLS)
    outcomes = Counter("ok" if r.status_code == 200 else r.json()["code"] for r in responses)
    assert outcomes == {"ok": CALLS}
    # One computation: its messages are randomized, so two winners would answer differently.
    answers = {json.dumps(r.json(), sort_keys=True) for r in responses}
    assert len(answers) == 1
    winner = responses[0].json()
    assert winner["version"] == 2
    other = {**body, "messages": body["messages"][:-1]}
    stale = client.http.post("/threshold-ecdsa/presign/step", json=other, headers=bearer(token))
    assert (stale.status_code, stale.json()["code"]) == (400, "stale_session_state")
    record = b.store.presign_sessions.get_session(init["presignSessionId"])
    assert (record.version, str(record.stage)) == (2, winner["stage"])
    # The session continues from the winner's answer, on both instances in turn.
    flow.receive(winner["stage"], [Message.from_bytes(unb64u(m)) for m in winner["messages"]])
    version = winner["version"]
    while flow.stage != "done":
        answer = client.api.post(
            "/threshold-ecdsa/presign/step",
            {
                **body,
                "expectedVersion": version,
                "stage": flow.stage,
                "messages": [b64u(m.to_bytes()) for m in flow.outgoing()],
            },
            token,
        )
        version = answer["version"]
        flow.receive(answer["stage"], [Message.from_bytes(unb64u(m)) for m in answer["messages"]])
    presignature_id = flow.presignature.presignature_id.hex()
    assert a.store.presignatures.available(key.relayer_key_id) == 1
    assert a.store.presignatures.reserve(key.relayer_key_id).presignature_id == presignature_id
