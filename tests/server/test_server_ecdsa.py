"""``/threshold-ecdsa/*``: the happy path, the presign stage graph, then seed 000's invariants.

Invariants, one test each: a missing or expired threshold session, a token of
the wrong kind, a digest other than the authorized one, a replayed
mpcSessionId, ``pool_empty`` then refill and retry, a client share from
another PRF output (PRF/key mismatch), an exhausted session, and cross-user
and cross-key scope. Then the presign session's own rules (stale version,
stage regression, cross-scope reuse, TTL, sealed state, abort) and the
presignature's single use through a failure, a crash and a retry.

``authorize`` with ``signInit`` (the SDK's two-request signing) opens the
signing session ``sign/init`` would open: each invariant that applies to it
is checked beside its three-request analogue (a single-use, scoped signing
session; ``pool_empty`` and refused bodies or intents spending no use and
reserving nothing; exhaustion).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from coincurve import PrivateKey, PublicKey
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import (
    RP_ID,
    FakeClock,
    Server,
    ServerFactory,
    ecdsa_client_share,
    error_of,
    new_client,
)

from cosigner.client import ApiError, CosignerClient, KeyHandle, KeyMismatchError
from cosigner.client.ecdsa import ClientPresign
from cosigner.client.http import b64u, bearer, unb64u
from cosigner.ecdsa import Presign
from cosigner.ecdsa.math import N
from cosigner.ecdsa.two_party import client_key_share, flow_session_id
from cosigner.keys import (
    SCHEME_ECDSA_2P_V1,
    derive_client_share,
    derive_relayer_share,
    ethereum_address,
    verifying_share,
)
from cosigner.protocol import Message
from cosigner.server import Secret, SettingsError
from cosigner.server.intents import intent_digest
from cosigner.server.routes import ecdsa as ecdsa_routes
from cosigner.server.threshold import relayer_key_id
from cosigner.store import PoolEmptyError, PresignatureStatus, PresignStage
from cosigner.store.sqlite import SqliteStore

DIGEST = hashlib.sha256(b"pay bob 1 coin, nonce 7").digest()


@pytest.fixture
def client(server: Server) -> CosignerClient:
    return new_client(server)


@pytest.fixture
def key(client: CosignerClient) -> KeyHandle:
    return client.keygen("ecdsa")


def post(server: Server, path: str, body: dict[str, Any], token: str | None) -> httpx.Response:
    headers = bearer(token) if token else {}
    return server.client.post(f"/threshold-ecdsa/{path}", json=body, headers=headers)


def token_for(client: CosignerClient, key: KeyHandle, **options: Any) -> str:
    return client.connect_session(key, **options).token


def authorize(server: Server, key: KeyHandle, token: str, digest: bytes = DIGEST) -> str:
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(digest)}
    response = post(server, "authorize", body, token)
    assert response.status_code == 200, response.text
    return str(response.json()["mpcSessionId"])


def sign_init_body(
    key: KeyHandle, mpc_session_id: str, digest: bytes = DIGEST, **extra: Any
) -> dict[str, Any]:
    return {
        "mpcSessionId": mpc_session_id,
        "relayerKeyId": key.relayer_key_id,
        "signingDigest": b64u(digest),
        "clientEntropy": b64u(os.urandom(32)),
        **extra,
    }


def check_ecdsa(key: KeyHandle, digest: bytes, signature: bytes) -> None:
    """Independent checks: libsecp256k1 recovery and verification, eth-account recovery, low s."""
    assert len(signature) == 65
    assert PublicKey.from_signature_and_message(signature, digest, hasher=None).format() == (
        key.public_key
    )
    assert int.from_bytes(signature[32:64], "big") <= N // 2
    vrs = (signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64]))
    assert Account._recover_hash(digest, vrs=vrs) == key.address


def combined_body(key: KeyHandle, digest: bytes = DIGEST, **sign_init: Any) -> dict[str, Any]:
    """An authorize body carrying ``signInit``: the use spent on a signing session at once."""
    return {
        "relayerKeyId": key.relayer_key_id,
        "signingDigest": b64u(digest),
        "signInit": {"clientEntropy": b64u(os.urandom(32)), **sign_init},
    }


def combined_share(
    client: CosignerClient,
    key: KeyHandle,
    body: dict[str, Any],
    granted: dict[str, Any],
    digest: bytes = DIGEST,
) -> bytes:
    """The client's signature share for the signing session an authorize with signInit opened."""
    init = granted["signInit"]
    return ecdsa_client_share(client, key, init, digest, unb64u(body["signInit"]["clientEntropy"]))


def audit_kinds(server: Server) -> list[str]:
    return [e.kind for e in server.store.audit.entries(limit=1000)]


# -- keygen --------------------------------------------------------------------------------------


def test_keygen_is_deterministic_idempotent_and_recoverable(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    assert client.user_id is not None
    x_client = client.client_secret("ecdsa")
    share = verifying_share(x_client, scheme_id=SCHEME_ECDSA_2P_V1)
    assert len(share) == 33 and len(key.public_key) == 33
    assert key.relayer_key_id == relayer_key_id(SCHEME_ECDSA_2P_V1, client.user_id, RP_ID, share)
    x_relayer = derive_relayer_share(
        b"k" * 32, user_id=client.user_id, rp_id=RP_ID, client_verifying_share=share
    )
    assert PrivateKey.from_int((x_client + x_relayer) % N).public_key.format() == key.public_key
    assert key.address == ethereum_address(key.public_key)
    # The master secret alone re-derives the relayer's side: a lost store loses no key.
    derived = ecdsa_routes.derive_relayer_key(b"k" * 32, client.user_id, RP_ID, share)
    assert derived.public_key == key.public_key
    again = client.keygen("ecdsa")
    assert again == key
    record = server.store.keys.get(key.relayer_key_id)
    assert record.sealed == b"" and record.metadata["ethereumAddress"] == key.address
    assert set(record.metadata) == {
        "version",
        "clientVerifyingShare",
        "relayerVerifyingShare",
        "ethereumAddress",
    }
    assert [e.kind for e in server.store.audit.entries()].count("keygen") == 1
    body = {"clientVerifyingShare": b64u(share)}
    assert error_of(post(server, "keygen", body, None)) == (401, "unauthorized")
    off_curve = {"clientVerifyingShare": b64u(b"\x05" * 33)}
    assert error_of(post(server, "keygen", off_curve, client.app_token)) == (
        400,
        "invalid_key_material",
    )


def test_healthz_and_disabled_scheme(make_server: ServerFactory) -> None:
    on = make_server()
    assert on.client.get("/threshold-ecdsa/healthz").json()["schemeId"] == SCHEME_ECDSA_2P_V1
    off = make_server(secp256k1_master_secret=None)
    assert error_of(off.client.get("/threshold-ecdsa/healthz")) == (503, "threshold_disabled")
    assert off.client.get("/threshold-ed25519/healthz").status_code == 200


# -- the happy path ------------------------------------------------------------------------------


def test_sign_digest_verifies_as_ordinary_ecdsa(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    signature = client.sign_digest(key, DIGEST)
    check_ecdsa(key, DIGEST, signature)
    kinds = [e.kind for e in server.store.audit.entries()]
    for kind in ("keygen", "threshold_session", "authorize", "presignature", "signature"):
        assert kind in kinds
    assert server.store.audit.verify_chain() == len(kinds)
    metrics = server.client.get("/metrics").text
    assert 'cosigner_signatures_total{scheme="ecdsa"} 1.0' in metrics
    # Read from the store at the scrape: it follows reservations the routes no longer report.
    gauge = next(
        line
        for line in metrics.splitlines()
        if line.startswith('cosigner_presignature_pool_available{scheme="ecdsa"}')
    )
    available = server.store.presignatures.available_total("threshold-secp256k1-ecdsa-2p-v1")
    assert float(gauge.rsplit(" ", 1)[1]) == available


def test_authorize_with_sign_init_then_finalize(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    """Two requests: authorize opens the signing session sign/init would open; finalize signs."""
    client.refill_presignatures(key, 1)
    (pooled,) = list(client._halves[key.relayer_key_id])
    session = client.connect_session(key)
    before = len(audit_kinds(server))
    body = combined_body(key)
    response = post(server, "authorize", body, session.token)
    assert response.status_code == 200, response.text
    granted = response.json()
    # No mpcSessionId: the use was spent on the signing session instead.
    assert granted.get("mpcSessionId") is None
    assert granted["remainingUses"] == session.remaining_uses - 1 == 19
    assert server.store.auth_sessions.get(session.session_id).remaining_uses == 19
    assert granted["signingDigest"] == b64u(DIGEST)
    init = granted["signInit"]
    assert set(init) == {"signingSessionId", "presignatureId", "relayerEntropy", "expiresAt"}
    assert init["presignatureId"] == pooled and granted["expiresAt"] == init["expiresAt"]
    assert len(unb64u(init["relayerEntropy"])) == 32
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, pooled) is PresignatureStatus.RESERVED
    entries = server.store.audit.entries(limit=1000)
    assert [e.kind for e in entries[before:]] == ["authorize"]
    authorized = entries[-1].data_json()
    assert authorized["sessionId"] == session.session_id
    assert authorized["signingDigestSha256"] == hashlib.sha256(DIGEST).hexdigest()

    share = combined_share(client, key, body, granted)
    final = _finalize(server, key, session.token, init, share)
    assert final.status_code == 200, final.text
    signature = unb64u(final.json()["signature"])
    check_ecdsa(key, DIGEST, signature)
    assert final.json()["signingDigest"] == b64u(DIGEST)
    entries = server.store.audit.entries(limit=1000)
    assert [e.kind for e in entries[before:]] == ["authorize", "signature"]
    signed = entries[-1].data_json()
    assert (signed["presignatureId"], signed["sessionId"]) == (pooled, session.session_id)
    assert signed["signature"] == b64u(signature)
    assert server.store.audit.verify_chain() == len(entries)
    assert pool.status(key.relayer_key_id, pooled) is PresignatureStatus.CONSUMED
    # The signing session is single-use, as one sign/init opens.
    assert error_of(_finalize(server, key, session.token, init, share)) == (404, "not_found")
    metrics = server.client.get("/metrics").text
    assert 'cosigner_signatures_total{scheme="ecdsa"} 1.0' in metrics
    assert 'route="/threshold-ecdsa/sign/init"' not in metrics


def test_evm_and_tempo_transactions_by_intent(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    evm = client.sign_evm_transaction(
        key,
        {
            "chainId": 1,
            "nonce": 0,
            "maxFeePerGas": 10**10,
            "maxPriorityFeePerGas": 10**9,
            "gas": 21000,
            "to": "0x000000000000000000000000000000000000bEEF",
            "value": 1,
        },
    )
    assert evm.raw is not None and Account.recover_transaction(evm.raw) == key.address
    tempo = client.sign_tempo_transaction(
        key,
        {
            "chainId": 42431,
            "calls": [{"to": "0x20c0000000000000000000000000000000000001", "input": "0x"}],
            "maxFeePerGas": "20000000000",
            "maxPriorityFeePerGas": "1",
            "gas": 100_000,
            "nonce": 7,
        },
    )
    assert tempo.raw is not None and tempo.raw[0] == 0x76
    assert tempo.extra["from"] == key.address
    intents = [e.data_json() for e in server.store.audit.entries() if e.kind == "authorize"]
    assert [i.get("chain") for i in intents] == ["evm", "tempo"]


def test_sign_init_in_an_authorize_by_intent(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    transaction = {
        "from": key.address,
        "chainId": 1,
        "nonce": 3,
        "maxFeePerGas": 10**10,
        "maxPriorityFeePerGas": 10**9,
        "gas": 21000,
        "to": "0x000000000000000000000000000000000000bEEF",
        "value": 5,
    }
    intent = client.build_intent("evm", "transaction", transaction)
    (request,) = intent.sign_requests
    digest = request.message
    client.refill_presignatures(key, 1)
    session = client.connect_session(key, max_uses=2)
    body = {
        "relayerKeyId": key.relayer_key_id,
        "intent": {"chain": "evm", "kind": "transaction", "payload": transaction},
        "intentDigest": b64u(intent_digest(intent)),
        "signInit": {"clientEntropy": b64u(os.urandom(32))},
    }
    # A wrong intent digest is refused before the use is spent or a presignature reserved.
    wrong = {**body, "intentDigest": b64u(bytes(32))}
    assert error_of(post(server, "authorize", wrong, session.token)) == (
        400,
        "intent_digest_mismatch",
    )
    pool = server.store.presignatures
    assert server.store.auth_sessions.get(session.session_id).remaining_uses == 2
    assert pool.available(key.relayer_key_id) == 1
    assert "authorize" not in audit_kinds(server)

    response = post(server, "authorize", body, session.token)
    assert response.status_code == 200, response.text
    granted = response.json()
    assert granted.get("mpcSessionId") is None and granted["remainingUses"] == 1
    assert granted["signingDigest"] == b64u(digest)
    assert granted["intentDigest"] == body["intentDigest"]
    assert granted["uiModel"]["chain"] == "evm"
    share = combined_share(client, key, body, granted, digest)
    final = _finalize(server, key, session.token, granted["signInit"], share)
    assert final.status_code == 200, final.text
    signature = unb64u(final.json()["signature"])
    check_ecdsa(key, digest, signature)
    raw = intent.finalize([signature]).raw
    assert raw is not None and Account.recover_transaction(raw) == key.address
    (entry,) = [e.data_json() for e in server.store.audit.entries() if e.kind == "authorize"]
    assert (entry["chain"], entry["intentDigest"]) == ("evm", body["intentDigest"])


def test_authorize_takes_32_byte_digests_only(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    token = token_for(client, key)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(b"short")}
    assert error_of(post(server, "authorize", body, token)) == (400, "invalid_body")
    ed_intent_body: dict[str, Any] = {
        "relayerKeyId": key.relayer_key_id,
        "intent": {"chain": "solana", "kind": "message", "payload": {"message_hex": "00"}},
        "intentDigest": b64u(bytes(32)),
    }
    assert error_of(post(server, "authorize", ed_intent_body, token))[0] == 400


# -- the presign session ------------------------------------------------------------------------


class Presigning:
    """Drives one presign session by hand, so tests can stop, replay or tamper with steps."""

    def __init__(self, server: Server, key: KeyHandle, token: str) -> None:
        self.server, self.key, self.token = server, key, token
        init = post(server, "presign/init", {"relayerKeyId": key.relayer_key_id}, token)
        assert init.status_code == 200, init.text
        body = init.json()
        self.session_id: str = body["presignSessionId"]
        self.version: int = body["version"]
        self.stages = [body["stage"]]
        self.flow = ClientPresign(
            client_key_share(key.x_client, key.public_key), key.relayer_key_id, self.session_id
        )
        self.flow.receive(body["stage"], [Message.from_bytes(unb64u(m)) for m in body["messages"]])
        self.pending: list[Message] = []
        self.presignature_id: str | None = None

    def body(self, messages: list[Message] | None = None, **overrides: Any) -> dict[str, Any]:
        if messages is None:
            self.pending = self.pending or self.flow.outgoing()
            messages = self.pending
        return {
            "presignSessionId": self.session_id,
            "relayerKeyId": self.key.relayer_key_id,
            "expectedVersion": self.version,
            "stage": self.flow.stage,
            "messages": [b64u(m.to_bytes()) for m in messages],
            **overrides,
        }

    def step(self, token: str | None = None) -> httpx.Response:
        response = post(self.server, "presign/step", self.body(), token or self.token)
        if response.status_code == 200:
            answer = response.json()
            self.pending = []
            self.version = answer["version"]
            self.stages.append(answer["stage"])
            self.presignature_id = answer["presignatureId"]
            self.flow.receive(
                answer["stage"], [Message.from_bytes(unb64u(m)) for m in answer["messages"]]
            )
        return response

    def run_until(self, stage: str) -> None:
        while self.stages[-1] != stage:
            response = self.step()
            assert response.status_code == 200, response.text


def test_presign_walks_the_stage_graph_and_pools_both_halves(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    run = Presigning(server, key, token_for(client, key))
    record = server.store.presign_sessions.get_session(run.session_id)
    assert (record.stage, record.version) == (PresignStage.TRIPLES, 1)
    assert record.scope.relayer_key_id == key.relayer_key_id
    assert record.scope.user_id == client.user_id
    assert record.expires_at_ms - record.created_at_ms == 120_000
    # The stored state is sealed: no protocol framing, no key material in the clear.
    assert record.state[0] == 1 and b"CSS" not in record.state
    run.run_until("done")
    stages = run.stages
    assert stages[0] == "triples" and stages[-1] == "done"
    assert stages.count("triples_done") == 1
    first = {s: stages.index(s) for s in ("triples", "triples_done", "presign", "done")}
    assert first["triples"] < first["triples_done"] < first["presign"] < first["done"]
    assert run.version == len(stages)  # every step moved the version by exactly one
    assert run.presignature_id == run.flow.presignature.presignature_id.hex()
    # Kept at done until it expires, so a lost last answer can be replayed.
    done = server.store.presign_sessions.get_session(run.session_id)
    assert (done.stage, done.version) == (PresignStage.DONE, run.version)
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, run.presignature_id) is PresignatureStatus.AVAILABLE
    assert pool.available_total(SCHEME_ECDSA_2P_V1) == 1
    # The pooled half is sealed too, under its key and id.
    row = server.store._state.presignatures[key.relayer_key_id, run.presignature_id]  # type: ignore[attr-defined]
    assert row.secret[0] == 1 and b"CSE" not in row.secret
    assert row.public == run.flow.presignature.big_r.to_bytes()


def test_a_repeated_step_is_answered_again_never_recomputed(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(raise_server_exceptions=False)
    client = new_client(server)
    key = client.keygen("ecdsa")
    run = Presigning(server, key, token_for(client, key))
    answers: list[tuple[dict[str, Any], dict[str, Any]]] = []
    while run.stages[-1] != "presign":
        body = run.body()
        response = run.step()
        assert response.status_code == 200, response.text
        answers.append((body, response.json()))
    # Each earlier step, sent again as it was, gets the answer it got then (the lost answer
    # of a dead instance); anything else for an old version is stale.
    body, answer = answers[-1]
    assert post(server, "presign/step", body, run.token).json() == answer
    for body, _ in answers[:-1]:
        assert error_of(post(server, "presign/step", body, run.token))[1] == "stale_session_state"
    changed = {**body, "messages": body["messages"][:-1]}
    assert error_of(post(server, "presign/step", changed, run.token))[1] == "stale_session_state"
    assert server.store.presign_sessions.get_session(run.session_id).version == run.version
    # The last step too, once its presignature is pooled; not when it was lost on the way.
    last = run.body()
    monkeypatch.setattr(ecdsa_routes, "_pool_presignature", _crash)
    assert post(server, "presign/step", last, run.token).status_code == 500
    monkeypatch.undo()
    assert error_of(post(server, "presign/step", last, run.token))[1] == "stale_session_state"
    again = Presigning(server, key, run.token)
    while again.stages[-1] != "done":
        last = again.body()
        assert again.step().status_code == 200
    replayed = post(server, "presign/step", last, run.token).json()
    assert replayed["stage"] == "done" and replayed["presignatureId"] == again.presignature_id


def _crash(*args: object) -> str:
    raise RuntimeError("the instance died between the swap and the pool")


def test_stale_version_is_refused_and_changes_nothing(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    run = Presigning(server, key, token_for(client, key))
    assert run.step().status_code == 200
    stale = run.body(expectedVersion=run.version - 1)
    assert error_of(post(server, "presign/step", stale, run.token)) == (
        400,
        "stale_session_state",
    )
    future = run.body(expectedVersion=run.version + 5)
    assert error_of(post(server, "presign/step", future, run.token))[1] == "stale_session_state"
    assert server.store.presign_sessions.get_session(run.session_id).version == run.version
    run.run_until("done")  # the honest continuation still works


def test_stage_regression_and_skipping_are_refused(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    run = Presigning(server, key, token_for(client, key))
    skip = run.body(stage="presign")
    assert error_of(post(server, "presign/step", skip, run.token)) == (
        400,
        "invalid_stage_transition",
    )
    run.run_until("presign")
    back = run.body(stage="triples")
    assert error_of(post(server, "presign/step", back, run.token)) == (400, "stage_regression")
    done = run.body(stage="done")
    assert error_of(post(server, "presign/step", done, run.token))[1] == (
        "invalid_stage_transition"
    )
    run.run_until("done")


def test_cross_scope_presign_reuse_is_refused(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    run = Presigning(server, key, token_for(client, key))
    bob = new_client(server, "bob")
    bob_key = bob.keygen("ecdsa")
    bob_token = token_for(bob, bob_key)
    # Bob names his own key: the session is bound to Alice's scope.
    theirs = run.body(relayerKeyId=bob_key.relayer_key_id)
    assert error_of(post(server, "presign/step", theirs, bob_token)) == (403, "scope_mismatch")
    # Bob names Alice's key: his token is not for it.
    assert error_of(post(server, "presign/step", run.body(), bob_token)) == (403, "scope_mismatch")
    assert error_of(
        post(server, "presign/init", {"relayerKeyId": key.relayer_key_id}, bob_token)
    ) == (403, "scope_mismatch")
    # Alice's second key (another client share) cannot continue it either.
    share = verifying_share(12345, scheme_id=SCHEME_ECDSA_2P_V1)
    other = server.client.post(
        "/threshold-ecdsa/keygen",
        json={"clientVerifyingShare": b64u(share)},
        headers=bearer(client.app_token or ""),
    ).json()
    other_key = KeyHandle("ecdsa", other["relayerKeyId"], unb64u(other["publicKey"]), 12345)
    other_token = token_for(client, other_key)
    moved = run.body(relayerKeyId=other_key.relayer_key_id)
    assert error_of(post(server, "presign/step", moved, other_token)) == (403, "scope_mismatch")
    assert server.store.presign_sessions.get_session(run.session_id).version == 1
    run.run_until("done")


def test_presign_session_ttl(
    server: Server, client: CosignerClient, key: KeyHandle, make_server: ServerFactory
) -> None:
    run = Presigning(server, key, token_for(client, key, ttl_seconds=600))
    assert run.step().status_code == 200
    server.clock.advance(120)
    assert error_of(run.step()) == (400, "presign_session_expired")
    with pytest.raises(SettingsError):
        make_server(presign_session_ttl_s=301)  # never more than 5 minutes
    longest = make_server(presign_session_ttl_s=300)
    other = new_client(longest)
    other_key = other.keygen("ecdsa")
    record_id = Presigning(longest, other_key, token_for(other, other_key)).session_id
    record = longest.store.presign_sessions.get_session(record_id)
    assert record.expires_at_ms - record.created_at_ms == 300_000


def test_a_protocol_abort_ends_the_session(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    run = Presigning(server, key, token_for(client, key))
    run.run_until("triples_done")
    # A wrong share of e = k * d fails the relayer's check (presign step 1.5) and aborts it.
    presign_id = flow_session_id("presign", key.relayer_key_id, run.session_id)
    wrong = Message(Presign.NAME, presign_id, 0, 1, None, (7).to_bytes(32, "big"))
    tampered = run.body([wrong], stage="presign")
    assert error_of(post(server, "presign/step", tampered, run.token)) == (
        400,
        "protocol_check_failed",
    )
    # The aborted round never runs again, with this input or another.
    assert error_of(run.step())[1] == "not_found"


def test_undecodable_messages_change_nothing_refused_ones_end_the_session(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    run = Presigning(server, key, token_for(client, key))
    garbage = run.body()
    garbage["messages"] = [b64u(b"not a protocol message")]
    assert error_of(post(server, "presign/step", garbage, run.token)) == (400, "malformed_message")
    assert server.store.presign_sessions.get_session(run.session_id).version == 1
    assert run.step().status_code == 200
    # A well-formed message the protocol refuses (a round that is not the current one).
    (sample, *_) = run.flow.outgoing() or run.pending
    early = Message(sample.protocol, sample.session_id, sample.round + 3, 1, None, b"")
    refused = run.body([early])
    assert error_of(post(server, "presign/step", refused, run.token)) == (
        400,
        "out_of_order_message",
    )
    assert error_of(run.step())[1] == "not_found"


# -- seed 000's invariants -------------------------------------------------------------------------


def test_missing_threshold_session(server: Server, key: KeyHandle) -> None:
    for path in ("authorize", "presign/init", "presign/step", "sign/init", "sign/finalize"):
        assert error_of(post(server, path, {}, None)) == (401, "unauthorized")


def test_expired_threshold_session(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    token = token_for(client, key, ttl_seconds=30)
    mpc = authorize(server, key, token)
    server.clock.advance(31)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(DIGEST)}
    assert error_of(post(server, "authorize", body, token)) == (401, "session_expired")
    assert error_of(post(server, "sign/init", sign_init_body(key, mpc), token)) == (
        401,
        "session_expired",
    )
    init = {"relayerKeyId": key.relayer_key_id}
    assert error_of(post(server, "presign/init", init, token)) == (401, "session_expired")
    # The SDK mints a new session on its own.
    check_ecdsa(key, DIGEST, client.sign_digest(key, DIGEST))


def test_wrong_token_kind_is_refused_both_ways(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    ed_key = client.keygen("ed25519")
    ed_token = token_for(client, ed_key)
    ecdsa_token = token_for(client, key)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(DIGEST)}
    for token in (ed_token, client.app_token):
        assert error_of(post(server, "authorize", body, token)) == (401, "unauthorized")
    ed_body = {"relayerKeyId": ed_key.relayer_key_id, "signingDigest": b64u(DIGEST)}
    response = server.client.post(
        "/threshold-ed25519/authorize", json=ed_body, headers=bearer(ecdsa_token)
    )
    assert error_of(response) == (401, "unauthorized")
    # A threshold token is not an app session either.
    keygen = {"clientVerifyingShare": b64u(verifying_share(5))}
    assert error_of(post(server, "keygen", keygen, ecdsa_token)) == (401, "unauthorized")


def test_digest_other_than_the_authorized_one(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    token = token_for(client, key)
    client.refill_presignatures(key, 1)
    mpc = authorize(server, key, token)
    other = hashlib.sha256(b"pay mallory").digest()
    response = post(server, "sign/init", sign_init_body(key, mpc, other), token)
    assert error_of(response) == (400, "signing_digest_mismatch")
    # The mismatch spent the id, and reserved nothing.
    assert error_of(post(server, "sign/init", sign_init_body(key, mpc), token)) == (
        404,
        "not_found",
    )
    assert server.store.presignatures.available(key.relayer_key_id) == 1


def test_replayed_mpc_session_id(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    token = token_for(client, key)
    client.refill_presignatures(key, 2)
    mpc = authorize(server, key, token)
    assert post(server, "sign/init", sign_init_body(key, mpc), token).status_code == 200
    assert error_of(post(server, "sign/init", sign_init_body(key, mpc), token)) == (
        404,
        "not_found",
    )
    assert server.store.presignatures.available(key.relayer_key_id) == 1


def test_pool_empty_then_refill_and_retry(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    token = token_for(client, key)
    mpc = authorize(server, key, token)
    assert error_of(post(server, "sign/init", sign_init_body(key, mpc), token)) == (
        503,
        "pool_empty",
    )
    # pool_empty left the mpcSessionId unspent: refill, then retry with the same id.
    assert client.refill_presignatures(key, 1) == 1
    body = sign_init_body(key, mpc)
    response = post(server, "sign/init", body, token)
    assert response.status_code == 200, response.text
    init = response.json()
    share = ecdsa_client_share(client, key, init, DIGEST, unb64u(body["clientEntropy"]))
    final = _finalize(server, key, token, init, share)
    assert final.status_code == 200, final.text
    check_ecdsa(key, DIGEST, unb64u(final.json()["signature"]))


def test_pool_empty_is_recovered_by_the_sdk(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    """The client holds a half whose pooled copy is gone: pool_empty, refill, retry, signed."""
    client.refill_presignatures(key, 1)
    (gone,) = list(client._halves[key.relayer_key_id])
    server.store.presignatures.discard(key.relayer_key_id, gone)
    check_ecdsa(key, DIGEST, client.sign_digest(key, DIGEST))
    assert gone not in client._halves[key.relayer_key_id]
    # One signature, one use: the refused authorize spent none.
    assert client._sessions[key.relayer_key_id].remaining_uses == 19
    # The SDK reserves in authorize (signInit): pool_empty came from there, spending no use.
    metrics = server.client.get("/metrics").text
    assert 'route="/threshold-ecdsa/authorize",status="503"' in metrics
    assert 'route="/threshold-ecdsa/sign/init"' not in metrics


def test_pool_empty_at_authorize_spends_no_use(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    """signInit reserves before the use is spent: pool_empty leaves the use, refill, retry."""
    session = client.connect_session(key, max_uses=2)

    def remaining() -> int:
        return server.store.auth_sessions.get(session.session_id).remaining_uses

    body = combined_body(key)
    assert error_of(post(server, "authorize", body, session.token)) == (503, "pool_empty")
    assert remaining() == 2
    assert client.refill_presignatures(key, 2) == 2
    pool = server.store.presignatures
    # A presignature the relayer does not have: pool_empty as well, and nothing reserved.
    unknown = combined_body(key, presignatureId="ab" * 32)
    assert error_of(post(server, "authorize", unknown, session.token)) == (503, "pool_empty")
    assert remaining() == 2 and pool.available(key.relayer_key_id) == 2
    assert "authorize" not in audit_kinds(server)
    # The same request again, once refilled.
    response = post(server, "authorize", body, session.token)
    assert response.status_code == 200, response.text
    granted = response.json()
    assert granted["remainingUses"] == 1 == remaining()
    assert pool.available(key.relayer_key_id) == 1
    share = combined_share(client, key, body, granted)
    final = _finalize(server, key, session.token, granted["signInit"], share)
    assert final.status_code == 200, final.text
    check_ecdsa(key, DIGEST, unb64u(final.json()["signature"]))
    assert audit_kinds(server).count("authorize") == 1


def test_invalid_sign_init_bodies_are_refused_and_spend_nothing(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    client.refill_presignatures(key, 1)
    session = client.connect_session(key)
    entropy = b64u(os.urandom(32))
    commitments = {"hiding": entropy, "binding": entropy}
    for sign_init in (
        {"clientEntropy": entropy, "extra": 1},
        {"clientEntropy": b64u(os.urandom(31))},
        {"clientEntropy": b64u(os.urandom(33))},
        {"clientEntropy": entropy[:-1] + "+"},
        {"clientEntropy": 7},
        {},
        {"clientEntropy": entropy, "presignatureId": "AB" * 32},
        {"clientEntropy": entropy, "presignatureId": "ab" * 31},
        {"clientEntropy": entropy, "mpcSessionId": "m"},  # sign/init's own fields: not here
        {"clientCommitments": commitments},  # the Ed25519 signInit
        [entropy],
        "signInit",
    ):
        body = {**combined_body(key), "signInit": sign_init}
        response = post(server, "authorize", body, session.token)
        assert error_of(response) == (400, "invalid_body"), sign_init
        assert response.json()["message"].startswith("signInit"), response.text
    # sign/init's fields beside signInit are refused too.
    beside = {**combined_body(key), "clientEntropy": entropy}
    assert error_of(post(server, "authorize", beside, session.token)) == (400, "invalid_body")
    assert server.store.auth_sessions.get(session.session_id).remaining_uses == 20
    assert server.store.presignatures.available(key.relayer_key_id) == 1
    assert "authorize" not in audit_kinds(server)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=70)
    | st.binary(max_size=40).map(b64u)
    | st.sampled_from(["ab" * 32, "AB" * 32, "0" * 64]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(
    sign_init=st.fixed_dictionaries(
        {},
        optional={
            "clientEntropy": st.binary(min_size=31, max_size=33).map(b64u) | _JSON,
            "presignatureId": st.none()
            | st.text(alphabet="0123456789abcdef", min_size=63, max_size=65)
            | _JSON,
            "clientCommitments": _JSON,
            "x": _JSON,
        },
    )
    | _JSON.filter(lambda value: value is not None)  # null is no signInit: a plain authorize
)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_sign_init_is_refused_cleanly_and_spends_nothing(
    server: Server, client: CosignerClient, key: KeyHandle, sign_init: Any
) -> None:
    """With an empty pool, no signInit spends a use: invalid_body or pool_empty, never a 500."""
    session = client.connect_session(key, max_uses=1)
    body = {**combined_body(key), "signInit": sign_init}
    outcome = error_of(post(server, "authorize", body, session.token))
    assert outcome in {(400, "invalid_body"), (503, "pool_empty")}, sign_init
    assert server.store.auth_sessions.get(session.session_id).remaining_uses == 1


def test_prf_key_mismatch(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    """A client share from another PRF output than the key's: presigning fails, named.

    The client finishes presigning first, so its own check of ``x * G`` against
    the group key (presign step 2.5) catches the mismatch; the relayer never
    gets the client's last message and pools nothing.
    """
    assert client.user_id is not None
    wrong_x = derive_client_share(
        b"another passkey's PRF output....", user_id=client.user_id, rp_id=RP_ID
    )
    impostor = KeyHandle("ecdsa", key.relayer_key_id, key.public_key, wrong_x, key.address)
    with pytest.raises(KeyMismatchError) as caught:
        client.refill_presignatures(impostor, 1)
    assert caught.value.code == "prf_key_mismatch"
    assert "PRF" in caught.value.message
    assert server.store.presignatures.available(key.relayer_key_id) == 0
    # Keygen with the other PRF output names another key altogether.
    share = verifying_share(wrong_x, scheme_id=SCHEME_ECDSA_2P_V1)
    assert relayer_key_id(SCHEME_ECDSA_2P_V1, client.user_id, RP_ID, share) != (key.relayer_key_id)


def test_session_exhaustion(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    token = token_for(client, key, max_uses=2)
    authorize(server, key, token)
    authorize(server, key, token)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(DIGEST)}
    assert error_of(post(server, "authorize", body, token)) == (401, "session_exhausted")
    # Presigning spends no uses.
    assert Presigning(server, key, token).session_id


def test_session_exhaustion_with_sign_init(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    client.refill_presignatures(key, 3)
    token = token_for(client, key, max_uses=2)
    for remaining in (1, 0):
        response = post(server, "authorize", combined_body(key), token)
        assert response.status_code == 200, response.text
        assert response.json()["remainingUses"] == remaining
    assert error_of(post(server, "authorize", combined_body(key), token)) == (
        401,
        "session_exhausted",
    )
    assert audit_kinds(server).count("authorize") == 2


@pytest.mark.parametrize(
    "backend",
    [
        "sqlite",
        "memory",
    ],
)
def test_a_refused_use_reserves_no_presignature(
    make_server: ServerFactory, clock: FakeClock, tmp_path: Path, backend: str
) -> None:
    store = SqliteStore(tmp_path / "refused.db", clock=clock) if backend == "sqlite" else None
    server = make_server(store=store)
    try:
        client = new_client(server)
        key = client.keygen("ecdsa")
        client.refill_presignatures(key, 2)
        token = token_for(client, key, max_uses=1)
        assert post(server, "authorize", combined_body(key), token).status_code == 200
        pool = server.store.presignatures
        assert pool.available(key.relayer_key_id) == 1
        assert error_of(post(server, "authorize", combined_body(key), token)) == (
            401,
            "session_exhausted",
        )
        assert pool.available(key.relayer_key_id) == 1
    finally:
        server.store.close()


def test_cross_user_scope(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    bob = new_client(server, "bob")
    bob_key = bob.keygen("ecdsa")
    with pytest.raises(ApiError) as caught:
        bob.connect_session(key)  # Alice's key is not his (and not revealed)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    bob_token = token_for(bob, bob_key)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(DIGEST)}
    assert error_of(post(server, "authorize", body, bob_token)) == (403, "scope_mismatch")
    alice_token = token_for(client, key)
    client.refill_presignatures(key, 1)
    mpc = authorize(server, key, alice_token)
    # Bob cannot spend Alice's mpcSessionId, even naming his own key.
    stolen = sign_init_body(bob_key, mpc)
    assert error_of(post(server, "sign/init", stolen, bob_token)) == (403, "scope_mismatch")
    init = post(server, "sign/init", sign_init_body(key, mpc), alice_token).json()
    finalize = {
        "signingSessionId": init["signingSessionId"],
        "relayerKeyId": bob_key.relayer_key_id,
        "clientSignatureShare": b64u((5).to_bytes(32, "big")),
    }
    assert error_of(post(server, "sign/finalize", finalize, bob_token)) == (403, "scope_mismatch")
    assert (
        server.store.presignatures.status(key.relayer_key_id, init["presignatureId"])
        is PresignatureStatus.RESERVED
    )  # Bob's attempt consumed nothing


def test_cross_key_scope(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    share = verifying_share(987654321, scheme_id=SCHEME_ECDSA_2P_V1)
    other = server.client.post(
        "/threshold-ecdsa/keygen",
        json={"clientVerifyingShare": b64u(share)},
        headers=bearer(client.app_token or ""),
    ).json()
    assert other["relayerKeyId"] != key.relayer_key_id
    token = token_for(client, key)
    body = {"relayerKeyId": other["relayerKeyId"], "signingDigest": b64u(DIGEST)}
    assert error_of(post(server, "authorize", body, token)) == (403, "scope_mismatch")
    init = {"relayerKeyId": other["relayerKeyId"]}
    assert error_of(post(server, "presign/init", init, token)) == (403, "scope_mismatch")
    # The refusals spent no use.
    body["relayerKeyId"] = key.relayer_key_id
    assert post(server, "authorize", body, token).json()["remainingUses"] == 19


def test_a_signing_session_from_authorize_is_scoped(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    """Only the threshold session and key that opened it finalize it; refusals consume nothing."""
    client.refill_presignatures(key, 1)
    token = token_for(client, key)
    body = combined_body(key)
    granted = post(server, "authorize", body, token).json()
    init = granted["signInit"]
    share = combined_share(client, key, body, granted)
    # Bob, naming his key or Alice's; nor can he open one on Alice's key.
    bob = new_client(server, "bob")
    bob_key = bob.keygen("ecdsa")
    bob_token = token_for(bob, bob_key)
    assert error_of(_finalize(server, bob_key, bob_token, init, share)) == (403, "scope_mismatch")
    assert error_of(_finalize(server, key, bob_token, init, share)) == (403, "scope_mismatch")
    stolen = combined_body(key)
    assert error_of(post(server, "authorize", stolen, bob_token)) == (403, "scope_mismatch")
    # Another threshold session of the same key.
    second = token_for(client, key)
    assert error_of(_finalize(server, key, second, init, share)) == (403, "scope_mismatch")
    # Alice's second key (another client share), naming it or the first.
    x_other = 24681357
    other = server.client.post(
        "/threshold-ecdsa/keygen",
        json={"clientVerifyingShare": b64u(verifying_share(x_other))},
        headers=bearer(client.app_token or ""),
    ).json()
    other_key = KeyHandle("ecdsa", other["relayerKeyId"], unb64u(other["publicKey"]), x_other)
    other_token = token_for(client, other_key)
    for named in (other_key, key):
        assert error_of(_finalize(server, named, other_token, init, share)) == (
            403,
            "scope_mismatch",
        )
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, init["presignatureId"]) is PresignatureStatus.RESERVED
    final = _finalize(server, key, token, init, share)
    assert final.status_code == 200, final.text
    check_ecdsa(key, DIGEST, unb64u(final.json()["signature"]))


# -- the presignature is single-use, whatever happens -----------------------------------------


def _signing_session(
    server: Server, client: CosignerClient, key: KeyHandle
) -> tuple[str, dict[str, Any], bytes]:
    """A reserved presignature and the client's share for it: (token, init answer, share)."""
    token = token_for(client, key)
    client.refill_presignatures(key, 1)
    mpc = authorize(server, key, token)
    body = sign_init_body(key, mpc)
    init = post(server, "sign/init", body, token).json()
    share = ecdsa_client_share(client, key, init, DIGEST, unb64u(body["clientEntropy"]))
    return token, init, share


def _finalize(
    server: Server, key: KeyHandle, token: str, init: dict[str, Any], share: bytes
) -> httpx.Response:
    body = {
        "signingSessionId": init["signingSessionId"],
        "relayerKeyId": key.relayer_key_id,
        "clientSignatureShare": b64u(share),
    }
    return post(server, "sign/finalize", body, token)


def test_finalize_is_single_use(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    token, init, share = _signing_session(server, client, key)
    first = _finalize(server, key, token, init, share)
    assert first.status_code == 200, first.text
    signature = unb64u(first.json()["signature"])
    check_ecdsa(key, DIGEST, signature)
    assert first.json()["recoveryId"] == signature[64]
    assert error_of(_finalize(server, key, token, init, share)) == (404, "not_found")
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, init["presignatureId"]) is PresignatureStatus.CONSUMED


def test_a_wrong_share_still_consumes_the_presignature(
    server: Server, client: CosignerClient, key: KeyHandle
) -> None:
    token, init, share = _signing_session(server, client, key)
    wrong = ((int.from_bytes(share, "big") + 1) % N).to_bytes(32, "big")
    assert error_of(_finalize(server, key, token, init, wrong)) == (400, "invalid_signature_share")
    assert error_of(_finalize(server, key, token, init, share)) == (404, "not_found")
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, init["presignatureId"]) is PresignatureStatus.CONSUMED


def test_a_crash_after_the_consume_cannot_sign_twice(
    make_server: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = make_server(raise_server_exceptions=False)
    client = new_client(server)
    key = client.keygen("ecdsa")
    token, init, share = _signing_session(server, client, key)

    class Crash(Exception):
        pass

    def crash(*args: object, **kwargs: object) -> None:
        raise Crash("the process died right after the consume")

    monkeypatch.setattr(ecdsa_routes, "Sign", crash)
    assert error_of(_finalize(server, key, token, init, share))[1] == "internal_error"
    monkeypatch.undo()
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, init["presignatureId"]) is PresignatureStatus.CONSUMED
    # A retry of the same finalize, or a new signing session naming the presignature: refused.
    assert error_of(_finalize(server, key, token, init, share)) == (404, "not_found")
    mpc = authorize(server, key, token)
    again = sign_init_body(key, mpc, presignatureId=init["presignatureId"])
    assert error_of(post(server, "sign/init", again, token)) == (503, "pool_empty")


def test_a_reservation_expires_after_120_seconds(
    make_server: ServerFactory,
) -> None:
    server = make_server(signing_session_ttl_s=300)
    client = new_client(server)
    key = client.keygen("ecdsa")
    token, init, share = _signing_session(server, client, key)
    assert init["expiresAt"] - server.clock() == 120_000
    server.clock.advance(120)
    assert error_of(_finalize(server, key, token, init, share)) == (404, "not_found")
    pool = server.store.presignatures
    with pytest.raises(PoolEmptyError):
        pool.reserve(key.relayer_key_id)
    assert pool.status(key.relayer_key_id, init["presignatureId"]) is PresignatureStatus.DISCARDED


# -- export -------------------------------------------------------------------------------------


def test_export_after_step_up(server: Server, client: CosignerClient, key: KeyHandle) -> None:
    secret = client.export_key(key)
    assert PrivateKey(secret).public_key.format() == key.public_key
    assert Account.from_key(secret).address == key.address
    exports = [e for e in server.store.audit.entries() if e.kind == "export"]
    assert [e.data_json()["scheme"] for e in exports] == [SCHEME_ECDSA_2P_V1]
    body = {
        "relayerKeyId": key.relayer_key_id,
        "recipientPublicKey": b64u(os.urandom(32)),
        "stepUp": client.step_up("unlink"),
    }
    assert error_of(post(server, "export", body, client.app_token)) == (403, "forbidden")
    assert len([e for e in server.store.audit.entries() if e.kind == "export"]) == 1


def test_secrets_stay_out_of_reprs(client: CosignerClient, key: KeyHandle) -> None:
    assert str(key.x_client) not in repr(key)
    assert "x_client" not in repr(key)
    assert repr(Secret(b"k" * 32)) == "Secret(<redacted>)"
