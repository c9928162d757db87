"""The ``/multisig`` routes in process: auth, statuses, error bodies, long polling, WebSocket.

Each error the issue names is provoked once and its status and body checked
(``{code, message}`` plus ``culprit_keys`` when owners are to blame). Owners
are :class:`~cosigner.multisig.client.MultisigClient` over Starlette's
TestClient, with the server's clock in the test's hands.
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from cosigner import frost
from cosigner.multisig import IdentityKey, Owner
from cosigner.multisig.client import MultisigApiError, MultisigClient, approve, run_keygen
from cosigner.multisig.e2e import Envelope, seal
from cosigner.multisig.records import Group
from cosigner.multisig.transcript import envelope_round
from cosigner.server import Secret, Settings, create_app
from cosigner.server.routes import multisig as multisig_routes
from cosigner.server.routes.multisig import OWNER_TOKEN_KIND, MultisigService, _dashboard_token
from cosigner.server.settings import SettingsError
from cosigner.store import open_store
from cosigner.store.memory import MemoryStore

BASE = "https://testserver"
DASHBOARD = "dashboard-token-" + "x" * 32
SUITE = frost.ciphersuite("ed25519")


class Clock:
    def __init__(self) -> None:
        self.now = time.time_ns() // 1_000_000
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self.now

    def advance(self, ms: int) -> None:
        with self._lock:
            self.now += ms


@dataclass
class App:
    app: Any
    clock: Clock

    @property
    def service(self) -> MultisigService:
        service = self.app.state.multisig
        assert isinstance(service, MultisigService)
        return service

    def http(self) -> TestClient:
        return TestClient(self.app, base_url=BASE)

    def owner(self) -> tuple[MultisigClient, Owner]:
        identity = IdentityKey.generate()
        client = MultisigClient(BASE, http=self.http())
        client.login(identity)
        return client, Owner(identity)


def make_app(
    monkeypatch: pytest.MonkeyPatch, store_url: str = "memory://", clock: Clock | None = None
) -> App:
    """An app whose server store and multisig store both come from ``store_url``."""
    monkeypatch.setenv("COSIGNER_DASHBOARD_TOKEN", DASHBOARD)
    clock = clock or Clock()
    settings = Settings(
        session_secret=Secret(b"s" * 32),
        ed25519_master_secret=Secret(b"m" * 32),
        rp_id="testserver",
        origins=(BASE,),
        purge_interval_s=0,
        store_url=store_url,
    )
    store = (
        MemoryStore(clock=clock) if store_url == "memory://" else open_store(store_url, clock=clock)
    )
    return App(create_app(settings, store, clock=clock), clock)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> App:
    return make_app(monkeypatch)


def error(response: httpx.Response) -> tuple[int, str, dict[str, Any]]:
    body = response.json()
    assert set(body) <= {"code", "message", "culprit_keys"}, body
    assert isinstance(body["message"], str) and body["message"]
    return response.status_code, body["code"], body


def refused(exc: pytest.ExceptionInfo[MultisigApiError]) -> tuple[int, str]:
    return exc.value.status, exc.value.code


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def dkg(owners: list[tuple[MultisigClient, Owner]], threshold: int) -> Group:
    """A group of these owners with its DKG run by every owner at once."""
    group = owners[0][0].create_group([o.public_key for _, o in owners], threshold)
    results: list[Any] = [None] * len(owners)

    def run(i: int) -> None:
        client, owner = owners[i]
        try:
            results[i] = run_keygen(client, owner, group.group_id, timeout_s=30)
        except BaseException as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(owners))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for r in results:
        assert isinstance(r, Group) and r.status == "active", r
    return owners[0][0].group(group.group_id)


# -- login and tokens ----------------------------------------------------------------------------


def test_login_and_token_kinds(env: App) -> None:
    http = env.http()
    identity = IdentityKey.generate()
    client = MultisigClient(BASE, http=http)
    token = client.login(identity)
    me = client.me()
    assert me == {"role": "owner", "owner": identity.public_key.hex(), "expiresAt": me["expiresAt"]}

    # An owner token is refused by the other routes...
    status, code, _ = error(http.get("/session/auth", headers=bearer(token)))
    assert (status, code) == (401, "unauthorized")
    # ... and their tokens here.
    app_token = env.service.ctx.codec.issue(
        "app_session_v1",
        {"sub": "user-1", "sid": "s", "ver": 1},
        expires_at_ms=env.clock() + 60_000,
    )
    response = http.get("/multisig/groups", headers=bearer(app_token))
    status, code, _ = error(response)
    assert (status, code) == (401, "unauthorized") and response.headers["WWW-Authenticate"]
    assert error(http.get("/multisig/groups"))[:2] == (401, "unauthorized")
    assert error(http.get("/multisig/groups", headers=bearer("nonsense")))[:2] == (
        401,
        "unauthorized",
    )
    # An owner token past its expiry.
    env.clock.advance(13 * 3600 * 1000)
    assert error(http.get("/multisig/groups", headers=bearer(token)))[:2] == (
        401,
        "session_expired",
    )
    assert OWNER_TOKEN_KIND == "multisig_owner_v1"


def test_login_failures(env: App) -> None:
    http = env.http()
    identity, other = IdentityKey.generate(), IdentityKey.generate()
    from cosigner.multisig.client import b64u
    from cosigner.multisig.identity import LoginChallenge

    def challenge() -> LoginChallenge:
        body = {"owner": identity.public_key.hex()}
        return LoginChallenge.from_dict(
            http.post("/multisig/auth/challenge", json=body).json()["challenge"]
        )

    def login(c: LoginChallenge, signer: IdentityKey) -> httpx.Response:
        return http.post(
            "/multisig/auth/login",
            json={
                "challengeId": c.challenge_id,
                "owner": identity.public_key.hex(),
                "signature": b64u(signer.sign_login(c)),
            },
        )

    c = challenge()
    assert error(login(c, other))[:2] == (401, "invalid_login_signature")
    assert error(login(c, identity))[:2] == (404, "challenge_not_found")  # single use
    c = challenge()
    env.clock.advance(3 * 60 * 1000)
    assert error(login(c, identity))[:2] == (401, "challenge_expired")
    c = challenge()
    assert login(c, identity).status_code == 200
    bad = http.post("/multisig/auth/challenge", json={"owner": "ab" * 32, "extra": 1})
    assert error(bad)[:2] == (400, "invalid_body")
    small = http.post("/multisig/auth/challenge", json={"owner": "00" * 32})
    assert error(small)[:2] == (400, "invalid_identity_key")


def test_dashboard_token_reads_only(env: App) -> None:
    owners = [env.owner() for _ in range(2)]
    group = owners[0][0].create_group([o.public_key for _, o in owners], 2)
    http = env.http()
    found = http.get(f"/multisig/groups/{group.group_id}", headers=bearer(DASHBOARD))
    assert found.status_code == 200 and found.json()["group_id"] == group.group_id
    assert http.get(
        f"/multisig/groups/{group.group_id}/proposals", headers=bearer(DASHBOARD)
    ).json() == {"proposals": []}
    assert http.get("/multisig/auth/me", headers=bearer(DASHBOARD)).json()["role"] == "dashboard"
    refresh = http.post(
        f"/multisig/groups/{group.group_id}/refresh", headers=bearer(DASHBOARD), json={}
    )
    assert error(refresh)[:2] == (403, "forbidden")
    missing = http.get("/multisig/groups/g_missing", headers=bearer(DASHBOARD))
    assert error(missing)[:2] == (404, "group_not_found")


def test_the_dashboard_lists_every_group_and_an_owner_its_own(env: App) -> None:
    (alice, a), (bob, b), (carol, c) = (env.owner() for _ in range(3))
    made = []
    for client, keys in (
        (alice, [a, b]),
        (bob, [b, c]),
        (carol, [c, a]),
        (carol, [c, b]),
    ):
        made.append(client.create_group([k.public_key for k in keys], 2))
        env.clock.advance(1000)  # owners list theirs oldest first
    by_id = sorted(g.group_id for g in made)
    http = env.http()

    def listed(token: str, query: str = "") -> tuple[list[str], str | None]:
        response = http.get(f"/multisig/groups{query}", headers=bearer(token))
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"groups", "next"}
        return [g["group_id"] for g in body["groups"]], body["next"]

    assert listed(DASHBOARD) == (by_id, None)
    assert listed(DASHBOARD, "?limit=4") == (by_id, None)
    assert listed(DASHBOARD, "?limit=3") == (by_id[:3], by_id[2])
    assert listed(DASHBOARD, f"?limit=3&after={by_id[2]}") == (by_id[3:], None)
    assert listed(DASHBOARD, f"?after={by_id[-1]}") == ([], None)
    full = http.get("/multisig/groups?limit=1", headers=bearer(DASHBOARD)).json()["groups"][0]
    assert Group.from_dict(full) == next(g for g in made if g.group_id == by_id[0])

    # Owners: their own groups only, oldest first, in one page whatever the parameters.
    assert listed(alice.token) == ([made[0].group_id, made[2].group_id], None)
    assert listed(alice.token, f"?limit=1&after={by_id[0]}") == (
        [made[0].group_id, made[2].group_id],
        None,
    )
    assert [g.group_id for g in bob.groups()] == [
        made[0].group_id,
        made[1].group_id,
        made[3].group_id,
    ]

    for token in (DASHBOARD, carol.token):
        for query in (
            "?limit=0",
            "?limit=501",
            "?limit=two",
            "?limit=",
            "?after=",
            "?after=g_1%20OR%201",
            "?after=g_%C3%A9",
            f"?after=g_{'a' * 127}",
        ):
            response = http.get(f"/multisig/groups{query}", headers=bearer(token))
            assert error(response)[:2] == (400, "invalid_body"), query
    assert error(http.get("/multisig/groups?limit=2"))[:2] == (401, "unauthorized")


# -- groups and keygen ---------------------------------------------------------------------------


def test_keygen_errors_and_safe_retries(env: App) -> None:
    owners = [env.owner() for _ in range(3)]
    (c0, o0), (c1, o1), (c2, _) = owners
    stranger, _ = env.owner()
    keys = [o.public_key for _, o in owners]

    with pytest.raises(MultisigApiError) as exc:
        c0.create_group(keys, 4)
    assert refused(exc) == (400, "invalid_group_parameters")
    with pytest.raises(MultisigApiError) as exc:
        stranger.create_group(keys, 2)
    assert refused(exc) == (403, "not_a_group_owner")
    http = env.http()
    wrong_type = http.post(
        "/multisig/groups",
        json={"owners": [k.hex() for k in keys], "threshold": "2"},
        headers=bearer(c0.token),
    )
    assert error(wrong_type)[:2] == (400, "invalid_body")

    group = c0.create_group(keys, 2)
    gid = group.group_id
    with pytest.raises(MultisigApiError) as exc:
        stranger.group(gid)
    assert refused(exc) == (403, "not_a_group_owner")
    with pytest.raises(MultisigApiError) as exc:
        c0.group("g_nope")
    assert refused(exc) == (404, "group_not_found")
    with pytest.raises(MultisigApiError) as exc:
        c0.round1_packages(gid, "dkg-1")
    assert refused(exc) == (409, "wrong_keygen_stage")

    first = o0.keygen_round1(group)
    c0.submit_round1(gid, first)
    assert c0.submit_round1(gid, first).version == c0.group(gid).version  # identical: accepted
    with pytest.raises(MultisigApiError) as exc:
        c0.submit_round1(
            gid,
            type(first)(
                first.session, first.package[:-1] + bytes([first.package[-1] ^ 1]), first.signature
            ),
        )
    assert refused(exc) == (409, "already_submitted")
    with pytest.raises(MultisigApiError) as exc:
        c0.submit_round2(gid, "dkg-1", [])
    assert refused(exc) == (409, "wrong_keygen_stage")
    with pytest.raises(MultisigApiError) as exc:
        c0.submit_round1(gid, type(first)("refresh-9", first.package, first.signature))
    assert refused(exc) == (409, "wrong_keygen_stage")

    # Owner 0 sends owner 1 a share that does not match its commitment.
    for client, owner in owners[1:]:
        client.submit_round1(gid, owner.keygen_round1(client.group(gid)))
    for client, owner in owners:
        current = client.group(gid)
        client.submit_echo(gid, owner.keygen_echo(current, client.round1_packages(gid, "dkg-1")))
    for client, owner in owners:
        envelopes = owner.keygen_round2(client.group(gid))
        if owner is o0:
            envelopes = [
                seal(
                    o0._identity,  # the test plays a dishonest owner 0
                    o1.public_key,
                    gid,
                    envelope_round("dkg-1"),
                    frost.Round2Package(SUITE, 7).to_bytes(),
                ).to_bytes()
                if Envelope.from_bytes(e).recipient == o1.public_key
                else e
                for e in envelopes
            ]
        client.submit_round2(gid, "dkg-1", envelopes)
    outcome = o1.keygen_finish(c1.group(gid), c1.round2_envelopes(gid, "dkg-1"))
    from cosigner.multisig.owner import Complaint

    assert isinstance(outcome, Complaint) and outcome.accused == o0.public_key
    confirmation = owners[2][1].keygen_finish(c2.group(gid), c2.round2_envelopes(gid, "dkg-1"))
    failure = c1.complain(gid, outcome)
    assert failure.code == "dkg_bad_share"
    assert [o.key for o in failure.culprits] == [o0.public_key]
    response = http.post(
        f"/multisig/groups/{gid}/keygen/dkg-1/confirm",
        headers=bearer(c2.token),
        json={
            "groupPublicKey": getattr(confirmation, "group_public_key", b"\x00" * 32).hex(),
            "transcript": "A" * 43,
            "signature": "A" * 86,
        },
    )
    status, code, body = error(response)
    assert (status, code) == (409, "dkg_bad_share")
    assert body["culprit_keys"] == [o0.public_key.hex()]


# -- proposals -----------------------------------------------------------------------------------


def test_proposal_errors_and_statuses(env: App) -> None:
    owners = [env.owner() for _ in range(3)]
    group = dkg(owners, 2)
    gid = group.group_id
    (c0, o0), (c1, o1), (c2, o2) = owners
    http = env.http()

    bad_amount = http.post(
        f"/multisig/groups/{gid}/proposals",
        headers=bearer(c0.token),
        json={"kind": "transfer", "to": "alice", "amount": -1},
    )
    assert error(bad_amount)[:2] == (400, "invalid_body")
    unknown = http.post(
        f"/multisig/groups/{gid}/proposals",
        headers=bearer(c0.token),
        json={"kind": "wire", "to": "alice", "amount": 1},
    )
    assert error(unknown)[:2] == (400, "invalid_body")
    as_int = http.post(
        f"/multisig/groups/{gid}/proposals",
        headers=bearer(c0.token),
        json={"kind": "transfer", "to": "alice", "amount": 2**64 - 1},
    )
    assert as_int.status_code == 201 and as_int.json()["ui_model"]["fields"]["amount"] == str(
        2**64 - 1
    )
    bad_intent = http.post(
        f"/multisig/groups/{gid}/proposals",
        headers=bearer(c0.token),
        json={"kind": "intent", "chain": "bitcoin", "intentKind": "transaction", "payload": {}},
    )
    assert error(bad_intent)[:2] == (400, "invalid_submission")

    p = c0.propose_transfer(gid, "alice", 10)
    pid = p.proposal_id
    assert p.nonce == 0
    g = c0.group(gid)
    with pytest.raises(MultisigApiError) as exc:
        c0.submit_share(pid, b"\x00" * 36)
    assert refused(exc) == (409, "signing_package_not_ready")
    with pytest.raises(MultisigApiError) as exc:
        c1.cancel(pid)
    assert refused(exc) == (403, "not_the_proposer")

    commitments0 = o0.commit(g, p)
    c0.submit_commitment(pid, commitments0)
    assert c0.submit_commitment(pid, commitments0).status == "collecting"  # identical retry
    other = c1.propose_transfer(gid, "bob", 1)
    with pytest.raises(MultisigApiError) as exc:
        c0.submit_commitment(other.proposal_id, commitments0)
    assert refused(exc) == (409, "commitment_reused")
    fixed = c1.submit_commitment(pid, o1.commit(g, c1.proposal(pid)))
    assert fixed.status == "signing"
    with pytest.raises(MultisigApiError) as exc:
        c2.submit_commitment(pid, o2.commit(g, c2.proposal(pid)))
    assert refused(exc) == (409, "signing_package_fixed")
    with pytest.raises(MultisigApiError) as exc:
        c2.submit_share(pid, b"\x00" * 36)
    assert refused(exc) == (403, "not_a_signer")

    # A share that does not verify: refused naming its owner, who is excluded.
    good = o1.sign(g, fixed)
    response = http.post(
        f"/multisig/proposals/{pid}/shares",
        headers=bearer(c0.token),
        json={"share": __import__("base64").urlsafe_b64encode(good).rstrip(b"=").decode()},
    )
    status, code, body = error(response)
    assert (status, code) == (400, "invalid_signature_share")
    assert body["culprit_keys"] == [o0.public_key.hex()]
    restarted = c1.proposal(pid)
    assert restarted.status == "collecting" and restarted.attempt == 2
    assert o0.public_key in restarted.excluded

    # Owners one and two complete it.
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda c=c, o=o: results.append(approve(c, o, pid, timeout_s=30)))
        for c, o in owners[1:]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert [r.status for r in results] == ["ready", "ready"]
    with pytest.raises(MultisigApiError) as exc:
        c0.submit_commitment(pid, b"\x00")
    assert refused(exc) in ((403, "not_a_signer"), (409, "proposal_finished"))
    assert c2.report_execution(pid, "ref").status == "executed"
    with pytest.raises(MultisigApiError) as exc:
        c2.report_execution(pid)
    assert refused(exc) == (409, "proposal_finished")
    with pytest.raises(MultisigApiError) as exc:
        c0.propose_transfer(gid, "alice", 10, nonce=0)
    assert refused(exc) == (409, "nonce_already_used")
    superseded = c0.proposal(other.proposal_id)
    assert superseded.status == "cancelled" and superseded.status_reason == "superseded"

    short = c0.propose_transfer(gid, "carol", 3, ttl_ms=1000)
    env.clock.advance(1500)
    with pytest.raises(MultisigApiError) as exc:
        c1.submit_commitment(short.proposal_id, b"\x00")
    assert refused(exc) == (410, "proposal_expired")

    history = c0.proposals(gid)
    assert {p.status for p in history} >= {"executed", "cancelled", "expired"}
    assert [p.proposal_id for p in c0.proposals(gid, ["executed"])] == [pid]
    events = c0.proposal_events(pid)
    assert [e["type"] for e in events][:2] == ["proposal_created", "commitment_added"]
    assert "share_rejected" in [e["type"] for e in events]
    assert events[-1]["type"] == "proposal_executed"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)


def test_long_poll_answers_on_change(env: App) -> None:
    owners = [env.owner() for _ in range(2)]
    group = owners[0][0].create_group([o.public_key for _, o in owners], 2)
    client, owner = owners[1]
    timer = threading.Timer(
        0.3, lambda: client.submit_round1(group.group_id, owner.keygen_round1(group))
    )
    start = time.monotonic()
    timer.start()
    changed = owners[0][0].group(group.group_id, after_version=group.version, wait_ms=10_000)
    elapsed = time.monotonic() - start
    timer.join()
    assert changed.version > group.version and 0.25 < elapsed < 5
    # Nothing changes: the wait ends at waitMs with the record as it is.
    start = time.monotonic()
    same = owners[0][0].group(group.group_id, after_version=changed.version, wait_ms=300)
    assert same.version == changed.version and time.monotonic() - start >= 0.25
    # whileStage: a message that does not change the stage does not end the wait.
    client0, owner0 = owners[0]
    waited = owners[1][0].group(group.group_id, while_stage="round1", wait_ms=200)
    assert waited.session is not None and waited.session.stage == "round1"
    client0.submit_round1(group.group_id, owner0.keygen_round1(group))
    moved = owners[1][0].group(group.group_id, while_stage="round1", wait_ms=5000)
    assert moved.session is not None and moved.session.stage == "echo"


# -- WebSocket and the expiry task -----------------------------------------------------------------


def test_websocket_events_by_membership(env: App) -> None:
    owners = [env.owner() for _ in range(2)]
    stranger, stranger_owner = env.owner()
    http = env.http()
    with (
        http.websocket_connect("/multisig/ws", headers=bearer(owners[0][0].token)) as mine,
        http.websocket_connect("/multisig/ws") as browser,
        http.websocket_connect("/multisig/ws", headers=bearer(stranger.token)) as theirs,
        http.websocket_connect("/multisig/ws", headers=bearer(DASHBOARD)) as dashboard,
    ):
        assert mine.receive_json()["data"] == {
            "role": "owner",
            "owner": owners[0][1].public_key.hex(),
        }
        browser.send_json({"type": "auth", "token": owners[1][0].token})
        assert browser.receive_json()["type"] == "subscribed"
        assert theirs.receive_json()["type"] == "subscribed"
        assert dashboard.receive_json()["data"]["role"] == "dashboard"

        group = owners[0][0].create_group([o.public_key for _, o in owners], 2)
        for socket in (mine, browser, dashboard):
            event = socket.receive_json()
            assert event["type"] == "group_created" and event["groupId"] == group.group_id
            assert set(event) == {"id", "type", "groupId", "data", "at"}
            assert socket.receive_json()["type"] == "dkg_progress"
        # The stranger hears nothing of that group: its first event is of its own group.
        own = stranger.create_group([stranger_owner.public_key, owners[0][1].public_key], 2)
        first = theirs.receive_json()
        assert first["type"] == "group_created" and first["groupId"] == own.group_id
        theirs.send_json({"type": "ping"})
        assert theirs.receive_json()["type"] in ("dkg_progress", "pong")

    with http.websocket_connect("/multisig/ws") as late:
        late.send_json({"type": "auth", "token": "not-a-token"})
        with pytest.raises(Exception) as closed:
            late.receive_json()
        assert getattr(closed.value, "code", None) == 4401


def test_expiry_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGNER_MULTISIG_EXPIRE_INTERVAL_S", "1")
    env = make_app(monkeypatch)
    with TestClient(env.app, base_url=BASE):  # runs the lifespan: the expiry task
        owners = [env.owner() for _ in range(2)]
        group = dkg(owners, 2)
        client = owners[0][0]
        proposal = client.propose_transfer(group.group_id, "dave", 1, ttl_ms=500)
        env.clock.advance(1000)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stored = env.service.store.get_proposal(proposal.proposal_id)
            if stored is not None and stored.status == "expired":
                break
            time.sleep(0.1)
        assert stored is not None and stored.status == "expired"
        env.service.bridge.flush()
        types = [e["type"] for e in client.proposal_events(proposal.proposal_id)]
        assert types == ["proposal_created", "proposal_expired"]


def test_events_cross_instances_over_redis(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    clock = Clock()
    one = make_app(monkeypatch, redis_url, clock)
    two = make_app(monkeypatch, redis_url, clock)
    with TestClient(one.app, base_url=BASE), TestClient(two.app, base_url=BASE) as http_two:
        _wait_for_subscribers(redis_url, 2)
        owners = [one.owner() for _ in range(2)]
        with http_two.websocket_connect("/multisig/ws", headers=bearer(DASHBOARD)) as socket:
            assert socket.receive_json()["type"] == "subscribed"
            group = owners[0][0].create_group([o.public_key for _, o in owners], 2)
            event = socket.receive_json()
            assert event["type"] == "group_created" and event["groupId"] == group.group_id
        # The second instance reads the group the first one wrote (the Redis store).
        client = MultisigClient(BASE, http=two.http())
        client.token = owners[1][0].token
        assert client.group(group.group_id).version == group.version


def _wait_for_subscribers(redis_url: str, count: int) -> None:
    """Until ``count`` instances listen on the namespace's event channel."""
    import redis

    namespace = redis_url.rsplit("namespace=", 1)[1]
    channel = f"cosigner:{{{namespace}}}:ms:events"
    client = redis.Redis.from_url(redis_url.split("?", 1)[0])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ((_, listening),) = client.pubsub_numsub(channel)
            if listening >= count:
                return
            time.sleep(0.02)
        raise AssertionError("the instances did not subscribe to the event channel")
    finally:
        client.close()


# -- ids, tokens and the dashboard token file ----------------------------------------------------


def _nul_ids_are_refused(env: App) -> None:
    client, _ = env.owner()
    http = env.http()
    owner = bearer(client.token)
    for path in (
        "/multisig/groups/g%00x",
        "/multisig/groups/g%00x/proposals",
        "/multisig/groups/g%00x/events",
        "/multisig/proposals/p%00x",
        "/multisig/proposals/p%00x/events",
    ):
        for token in (owner, bearer(DASHBOARD)):
            assert error(http.get(path, headers=token))[:2] == (400, "invalid_body"), path
    for path in ("/multisig/groups/g_1/keygen/dkg%001/round1", "/multisig/groups/g%00x/refresh"):
        assert error(http.request("GET" if "round" in path else "POST", path, headers=owner))[
            :2
        ] == (400, "invalid_body"), path
    posted = http.post("/multisig/proposals/p%00x/cancel", headers=owner, json={})
    assert error(posted)[:2] == (400, "invalid_body")
    login = http.post(
        "/multisig/auth/login",
        json={"challengeId": "c_\x00", "owner": "ab" * 32, "signature": "A" * 86},
    )
    assert error(login)[:2] == (400, "invalid_body")


def test_nul_ids_are_refused(env: App) -> None:
    _nul_ids_are_refused(env)


def test_nul_ids_are_refused_on_postgres(
    monkeypatch: pytest.MonkeyPatch, postgres_url: str
) -> None:
    _nul_ids_are_refused(make_app(monkeypatch, postgres_url))


def test_an_empty_token_is_never_the_dashboard(env: App) -> None:
    env.service.dashboard_token = ""
    assert not env.service.is_dashboard("")
    with env.http().websocket_connect("/multisig/ws") as socket:
        socket.send_json({"type": "auth", "token": ""})
        with pytest.raises(Exception) as closed:
            socket.receive_json()
        assert getattr(closed.value, "code", None) == 4401


def test_a_token_that_is_no_text_closes_the_socket(env: App) -> None:
    for token in ("\ud800", DASHBOARD + "\ud800", "é" * 40):
        with env.http().websocket_connect("/multisig/ws") as socket:
            socket.send_text(json.dumps({"type": "auth", "token": token}))  # \ud800 escaped
            with pytest.raises(Exception) as closed:
                socket.receive_json()
            assert getattr(closed.value, "code", None) == 4401


def _dev_ctx(tmp_path: Path) -> Any:
    settings = SimpleNamespace(production=False, dev_secrets_file=str(tmp_path / "secrets.json"))
    return SimpleNamespace(settings=settings)


def test_the_dashboard_token_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = _dev_ctx(tmp_path)
    token = _dashboard_token(ctx, {})
    assert token is not None and len(token) >= 32
    assert _dashboard_token(ctx, {}) == token  # read back, not generated again
    monkeypatch.setattr(multisig_routes, "DASHBOARD_TOKEN_WAIT_S", 0.1)
    path = tmp_path / multisig_routes.DASHBOARD_TOKEN_FILE
    for short in ("", "\n", "x" * 31 + "\n"):
        path.write_text(short, encoding="utf-8")
        with pytest.raises(SettingsError, match="at least 32"):
            _dashboard_token(ctx, {})


def test_the_dashboard_token_file_is_awaited_while_written(tmp_path: Path) -> None:
    """Another worker created the file (O_EXCL) and writes it a moment later."""
    ctx = _dev_ctx(tmp_path)
    path = tmp_path / multisig_routes.DASHBOARD_TOKEN_FILE
    path.touch(mode=0o600)
    written = "w" * 43
    writer = threading.Timer(0.2, lambda: path.write_text(written + "\n", encoding="utf-8"))
    writer.start()
    try:
        assert _dashboard_token(ctx, {}) == written
    finally:
        writer.join()
