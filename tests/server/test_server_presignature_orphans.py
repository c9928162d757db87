"""Orphaned presignatures: listed, discarded by the client, and by age in the periodic purge.

An orphan is a pooled presignature whose client half is gone: the client
lost its memory, or the answer that completed its half never arrived. It is
never reserved by that client again. ``GET /threshold-ecdsa/presignatures``
shows a key's available ones (ids and ages, no secrets), ``presignatures/discard``
retires some, :meth:`CosignerClient.reconcile_presignatures` clears orphans
on both sides, and the purge discards those older than
``presignature_max_age_s``. Discarding is always safe (a discarded one is
never offered again; a client holding its half gets ``pool_empty`` and
presigns anew); nothing ever puts one back.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from coincurve import PublicKey
from server_support import FakeClock, Server, ServerFactory, error_of, new_client

from cosigner.client import CosignerClient, KeyHandle
from cosigner.client.http import b64u, bearer
from cosigner.server import Settings, SettingsError
from cosigner.server.app import purge_once
from cosigner.store import PresignatureStatus

MAX_AGE_S = 3600


@pytest.fixture
def server(make_server: ServerFactory) -> Server:
    return make_server(presignature_max_age_s=MAX_AGE_S)


def _signs(client: CosignerClient, key: KeyHandle) -> None:
    digest = os.urandom(32)
    signature = client.sign_digest(key, digest)
    recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert recovered.format(compressed=True) == key.public_key


def _held(client: CosignerClient, key: KeyHandle) -> set[str]:
    return set(client._halves.get(key.relayer_key_id, ()))


def test_list_shows_available_ones_without_secrets(server: Server, clock: FakeClock) -> None:
    client = new_client(server, "alice")
    key = client.keygen("ecdsa")
    client.refill_presignatures(key, 1)
    clock.advance(5)
    client.refill_presignatures(key, 2)
    listed = client.list_presignatures(key)
    oldest, *rest = client._halves[key.relayer_key_id]
    assert listed[0].presignature_id == oldest  # oldest first
    assert {p.presignature_id for p in listed[1:]} == set(rest)
    assert listed[0].created_at_ms + 5_000 == listed[1].created_at_ms == listed[2].created_at_ms
    token = client.connect_session(key).token
    raw = server.client.get(
        "/threshold-ecdsa/presignatures",
        params={"relayerKeyId": key.relayer_key_id},
        headers=bearer(token),
    ).json()
    assert raw["maxAgeSeconds"] == MAX_AGE_S
    assert set(raw["presignatures"][0]) == {"presignatureId", "createdAt"}
    # A reserved one is not available: it is not listed.
    client.sign_digest(key, os.urandom(32))
    assert len(client.list_presignatures(key)) == 2


def test_reconcile_discards_orphans_there_and_drops_stale_halves_here(server: Server) -> None:
    client = new_client(server, "alice")
    key = client.keygen("ecdsa")
    assert client.refill_presignatures(key, 4) == 4
    first, second, third, fourth = client._halves[key.relayer_key_id]
    client._take_half(key, first)  # this client lost a half: an orphan on the server
    server.store.presignatures.discard(key.relayer_key_id, second)  # gone on the server
    assert client.reconcile_presignatures(key) == (1, 1)
    assert _held(client, key) == {third, fourth}
    assert {p.presignature_id for p in client.list_presignatures(key)} == {third, fourth}
    pool = server.store.presignatures
    assert pool.status(key.relayer_key_id, first) is PresignatureStatus.DISCARDED
    assert client.reconcile_presignatures(key) == (0, 0)
    _signs(client, key)
    _signs(client, key)
    assert pool.available(key.relayer_key_id) == 0
    discards = [e.data_json() for e in server.store.audit.entries() if e.kind.endswith("discard")]
    assert discards == [
        {"scheme": key.scheme_id, "relayerKeyId": key.relayer_key_id, "presignatureIds": [first]}
    ]


def test_a_discarded_presignature_is_never_offered_again(server: Server) -> None:
    client = new_client(server, "alice")
    key = client.keygen("ecdsa")
    client.refill_presignatures(key, 2)
    held = list(client._halves[key.relayer_key_id])
    token = client.connect_session(key).token
    digest = os.urandom(32)

    def sign_init(presignature_id: str) -> Any:
        granted = client.api.post(
            "/threshold-ecdsa/authorize",
            {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(digest)},
            token,
        )
        return server.client.post(
            "/threshold-ecdsa/sign/init",
            json={
                "mpcSessionId": granted["mpcSessionId"],
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(digest),
                "clientEntropy": b64u(os.urandom(32)),
                "presignatureId": presignature_id,
            },
            headers=bearer(token),
        )

    # A reserved one (a signature in flight) can be discarded: that signature cannot finish.
    reserved = sign_init(held[0]).json()
    body = {"relayerKeyId": key.relayer_key_id, "presignatureIds": [held[0], "ab" * 32]}
    answer = server.client.post(
        "/threshold-ecdsa/presignatures/discard", json=body, headers=bearer(token)
    ).json()
    assert answer["discarded"] == 1  # the unknown id is ignored
    finalize = server.client.post(
        "/threshold-ecdsa/sign/finalize",
        json={
            "signingSessionId": reserved["signingSessionId"],
            "relayerKeyId": key.relayer_key_id,
            "clientSignatureShare": b64u((5).to_bytes(32, "big")),
        },
        headers=bearer(token),
    )
    assert error_of(finalize) == (400, "presignature_unavailable")
    assert client.discard_presignatures(key, [held[1]]) == 1
    assert _held(client, key) == {held[0]}  # discarded behind the SDK's back: still held
    for presignature_id in held:
        assert error_of(sign_init(presignature_id)) == (503, "pool_empty")
    _signs(client, key)  # the client presigns anew


def test_discard_is_scoped_to_the_session_key(server: Server) -> None:
    alice = new_client(server, "alice")
    key = alice.keygen("ecdsa")
    alice.refill_presignatures(key, 1)
    (pid,) = alice._halves[key.relayer_key_id]
    bob = new_client(server, "bob")
    bob_key = bob.keygen("ecdsa")
    bob_token = bob.connect_session(bob_key).token
    for path, kwargs in (
        (
            "/threshold-ecdsa/presignatures/discard",
            {"json": {"relayerKeyId": key.relayer_key_id, "presignatureIds": [pid]}},
        ),
        ("/threshold-ecdsa/presignatures", {"params": {"relayerKeyId": key.relayer_key_id}}),
    ):
        method = server.client.post if path.endswith("discard") else server.client.get
        response = method(path, headers=bearer(bob_token), **kwargs)  # type: ignore[operator]
        assert error_of(response) == (403, "scope_mismatch")
    # Bob's own key has no such presignature: nothing of Alice's is touched.
    assert bob.discard_presignatures(bob_key, [pid]) == 0
    assert server.store.presignatures.status(key.relayer_key_id, pid) is (
        PresignatureStatus.AVAILABLE
    )


def test_the_purge_discards_presignatures_past_the_age_limit(
    server: Server, clock: FakeClock
) -> None:
    client = new_client(server, "alice")
    key = client.keygen("ecdsa")
    client.refill_presignatures(key, 2)
    clock.advance(MAX_AGE_S - 60)
    client.refill_presignatures(key, 1)
    young = list(client._halves[key.relayer_key_id])[-1]
    clock.advance(60)
    assert purge_once(server.store, server.settings)[1] == 2
    assert [p.presignature_id for p in client.list_presignatures(key)] == [young]
    assert purge_once(server.store, server.settings)[1] == 0
    # The client still holds the two old halves: signing finds them gone and moves on.
    _signs(client, key)
    _signs(client, key)
    assert server.store.presignatures.status(key.relayer_key_id, young) is (
        PresignatureStatus.CONSUMED
    )
    never = server.settings.__class__(
        **{**_settings_fields(server.settings), "presignature_max_age_s": 0}
    )
    client.refill_presignatures(key, 1)
    clock.advance(365 * 24 * 3600)
    assert purge_once(server.store, never)[1] == 0


def _settings_fields(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def test_presignature_max_age_setting() -> None:
    base = {"COSIGNER_SESSION_SECRET": b64u(b"s" * 32), "COSIGNER_STORE_URL": "memory://"}
    assert Settings.from_env(base).presignature_max_age_s == 7 * 24 * 3600
    assert (
        Settings.from_env({**base, "COSIGNER_PRESIGNATURE_MAX_AGE_S": "0"}).presignature_max_age_s
        == 0
    )
    assert (
        Settings.from_env({**base, "COSIGNER_PRESIGNATURE_MAX_AGE_S": "600"}).presignature_max_age_s
        == 600
    )
    for bad in ("59", "-1", str(366 * 24 * 3600), "soon"):
        with pytest.raises(SettingsError, match="PRESIGNATURE_MAX_AGE_S"):
            Settings.from_env({**base, "COSIGNER_PRESIGNATURE_MAX_AGE_S": bad})
