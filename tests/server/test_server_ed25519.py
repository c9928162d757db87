"""``/threshold-ed25519/*``: the happy path, then seed 000's invariants one test each.

Invariants: a missing or expired threshold session, a token of the wrong
kind, a digest other than the authorized one, a replayed mpcSessionId, a
client share from another PRF output (PRF/key mismatch), an exhausted
session, and cross-user and cross-key scope are all refused, each with its
stable code. ``authorize`` with ``signInit`` (the client's commitments: the
signing session opened at once, no mpcSessionId) is checked beside each
three-request analogue.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import base58
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import RP_ID, Server, ServerFactory, error_of

from cosigner import frost
from cosigner.chains.solana import SolanaAdapter
from cosigner.client import commitments_json, frost_client_share
from cosigner.groups import ED25519
from cosigner.keys import (
    SCHEME_ED25519_2P_V1,
    derive_client_share,
    derive_relayer_share,
    frost_two_party_v1,
    verifying_share,
)
from cosigner.server.intents import intent_digest
from cosigner.server.routes.ed25519 import derive_relayer_key
from cosigner.server.threshold import relayer_key_id
from cosigner.testing import ApiError, ClientKey, SoftWallet
from cosigner.testing.wallet import b64u, bearer, unb64u

MESSAGE = bytes(range(32))


@pytest.fixture
def key(wallet: SoftWallet) -> ClientKey:
    return wallet.keygen()


def session_token(wallet: SoftWallet, key: ClientKey, **options: object) -> str:
    token = wallet.session(key, **options)["sessionToken"]
    assert isinstance(token, str)
    return token


def post(
    server: Server, path: str, body: dict[str, object], token: str | None = None
) -> httpx.Response:
    return server.client.post(
        f"/threshold-ed25519/{path}", json=body, headers=bearer(token) if token else {}
    )


def sign_init_body(key: ClientKey, mpc_session_id: str, message: bytes) -> dict[str, object]:
    _, commitments = frost.commit(key.package)
    return {
        "mpcSessionId": mpc_session_id,
        "relayerKeyId": key.relayer_key_id,
        "signingDigest": b64u(message),
        "clientCommitments": commitments_json(commitments),
    }


def init(
    server: Server, key: ClientKey, mpc_session_id: str, message: bytes, token: str
) -> httpx.Response:
    return post(server, "sign/init", sign_init_body(key, mpc_session_id, message), token)


@dataclass
class Opened:
    """An authorize with signInit: the client's round one, and the relayer's answer."""

    key: ClientKey
    message: bytes
    nonces: frost.SigningNonces
    commitments: frost.SigningCommitments
    response: httpx.Response
    share: bytes | None = None

    def client_share(self) -> bytes:
        """Round two, once (the client's nonces are single-use too)."""
        if self.share is None:
            relayer = self.response.json()["signInit"]["relayerCommitments"]
            self.share = frost_client_share(
                self.key.package, self.nonces, self.commitments, relayer, self.message
            )
        return self.share


def authorize_and_open(
    server: Server, key: ClientKey, token: str, message: bytes = MESSAGE, **body: object
) -> Opened:
    """authorize with signInit (the client's commitments), for ``message`` or ``body``'s intent."""
    nonces, commitments = frost.commit(key.package)
    binding: dict[str, object] = {} if "intent" in body else {"signingDigest": b64u(message)}
    request = {
        "relayerKeyId": key.relayer_key_id,
        **binding,
        "signInit": {"clientCommitments": commitments_json(commitments)},
        **body,
    }
    response = post(server, "authorize", request, token)
    return Opened(key, message, nonces, commitments, response)


def finalize_opened(
    server: Server, token: str, opened: Opened, *, key_id: str | None = None
) -> httpx.Response:
    """sign/finalize for the signing session authorize opened."""
    body = {
        "signingSessionId": opened.response.json()["signInit"]["signingSessionId"],
        "relayerKeyId": key_id or opened.key.relayer_key_id,
        "clientSignatureShare": b64u(opened.client_share()),
    }
    return post(server, "sign/finalize", body, token)


def mint(wallet: SoftWallet, key: ClientKey, **options: object) -> tuple[str, str]:
    """A threshold session: (token, session id)."""
    minted = wallet.session(key, **options)
    return str(minted["sessionToken"]), str(minted["sessionId"])


def remaining_uses(server: Server, session_id: str) -> int:
    return server.store.auth_sessions.get(session_id).remaining_uses


# -- the happy path ------------------------------------------------------------------------


def test_sign_verifies_as_one_ed25519_signature(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    signature = wallet.sign(token, key, MESSAGE, granted["mpcSessionId"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)
    # The same key as the locked two-party mapping gives from both additive secrets.
    x_client = wallet.client_secret()
    master = server.settings.ed25519_master_secret
    assert master is not None
    x_relayer = derive_relayer_share(
        master.reveal(),
        user_id=wallet.user_id or "",
        rp_id=server.settings.rp_id,
        client_verifying_share=verifying_share(x_client, scheme_id=SCHEME_ED25519_2P_V1),
        scheme_id=SCHEME_ED25519_2P_V1,
    )
    _, public = frost_two_party_v1(x_client, x_relayer)
    assert public.verifying_key.to_bytes() == key.public_key


def test_keygen_is_idempotent_and_stores_no_secret(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    again = wallet.keygen()
    assert (again.relayer_key_id, again.public_key) == (key.relayer_key_id, key.public_key)
    assert [e.kind for e in server.store.audit.entries()].count("keygen") == 1
    record = server.store.keys.get(key.relayer_key_id)
    assert record.sealed == b"" and record.public_key == key.public_key
    assert set(record.metadata) == {"version", "clientVerifyingShare", "relayerVerifyingShare"}


def test_the_relayer_key_recovers_from_the_master_secret_alone(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    """A server that lost its store re-derives the same relayer share: recovery needs only
    the master secret, the user, the rpId and the client's verifying share."""
    master = server.settings.ed25519_master_secret
    assert master is not None
    share = verifying_share(wallet.client_secret(), scheme_id=SCHEME_ED25519_2P_V1)
    recovered = derive_relayer_key(master.reveal(), wallet.user_id or "", RP_ID, share)
    assert recovered.public_key == key.public_key
    key_id = relayer_key_id(SCHEME_ED25519_2P_V1, wallet.user_id or "", RP_ID, share)
    assert key_id == key.relayer_key_id
    other = derive_relayer_key(
        b"another master secret, 32 bytes.", wallet.user_id or "", RP_ID, share
    )
    assert other.public_key != key.public_key


def test_audit_log_records_keygen_session_authorize_signature(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    wallet.sign(token, key, MESSAGE, granted["mpcSessionId"])
    kinds = [e.kind for e in server.store.audit.entries()]
    for kind in ("register", "login", "keygen", "threshold_session", "authorize", "signature"):
        assert kind in kinds
    assert server.store.audit.verify_chain() == len(kinds)
    signature_entry = next(e for e in server.store.audit.entries() if e.kind == "signature")
    assert signature_entry.subject == wallet.user_id


def test_authorize_with_sign_init_then_finalize(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    """Two requests: authorize opens the signing session sign/init would open; finalize signs."""
    token, session_id = mint(wallet, key)
    before = len(server.store.audit.entries(limit=1000))
    opened = authorize_and_open(server, key, token)
    assert opened.response.status_code == 200, opened.response.text
    granted = opened.response.json()
    # No mpcSessionId: the use was spent on the signing session instead.
    assert granted.get("mpcSessionId") is None
    assert granted["remainingUses"] == 19 == remaining_uses(server, session_id)
    assert granted["signingDigest"] == b64u(MESSAGE)
    init = granted["signInit"]
    assert set(init) == {"signingSessionId", "relayerCommitments", "expiresAt"}
    assert granted["expiresAt"] == init["expiresAt"]
    assert init["expiresAt"] - server.clock() == server.settings.signing_session_ttl_s * 1000
    record = server.store.sessions.get("sign_ed25519", init["signingSessionId"])
    assert record.data[0] == 1 and b"nonces" not in record.data  # sealed, as sign/init's
    entries = server.store.audit.entries(limit=1000)
    assert [e.kind for e in entries[before:]] == ["authorize"]
    authorized = entries[-1].data_json()
    assert authorized["sessionId"] == session_id
    assert authorized["signingDigestSha256"] == hashlib.sha256(MESSAGE).hexdigest()

    final = finalize_opened(server, token, opened)
    assert final.status_code == 200, final.text
    signature = unb64u(final.json()["signature"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)
    entries = server.store.audit.entries(limit=1000)
    assert [e.kind for e in entries[before:]] == ["authorize", "signature"]
    signed = entries[-1].data_json()
    assert (signed["sessionId"], signed["signature"]) == (session_id, b64u(signature))
    assert server.store.audit.verify_chain() == len(entries)
    # The signing session is single-use, as one sign/init opens.
    assert error_of(finalize_opened(server, token, opened)) == (404, "not_found")
    metrics = server.client.get("/metrics").text
    assert 'cosigner_signatures_total{scheme="ed25519"} 1.0' in metrics
    assert 'route="/threshold-ed25519/sign/init"' not in metrics


def test_healthz_and_disabled_scheme(make_server: ServerFactory) -> None:
    on = make_server()
    assert on.client.get("/threshold-ed25519/healthz").json()["schemeId"] == SCHEME_ED25519_2P_V1
    off = make_server(ed25519_master_secret=None)
    assert error_of(off.client.get("/threshold-ed25519/healthz")) == (503, "threshold_disabled")
    wallet = off.wallet()
    body = {"clientVerifyingShare": b64u(ED25519.base_mul(5).to_bytes())}
    response = off.client.post(
        "/threshold-ed25519/keygen", json=body, headers=bearer(wallet.app_token or "")
    )
    assert error_of(response) == (503, "threshold_disabled")


def test_keygen_refuses_a_bad_verifying_share(server: Server, wallet: SoftWallet) -> None:
    for share in (bytes(32), b"\x01" + bytes(31), b"\xff" * 32):
        response = post(server, "keygen", {"clientVerifyingShare": b64u(share)}, wallet.app_token)
        status, code = error_of(response)
        assert (status, code) == (400, "invalid_key_material")


# -- seed 000 invariants ---------------------------------------------------------------------


def test_missing_threshold_session(server: Server, key: ClientKey) -> None:
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(MESSAGE)}
    assert error_of(post(server, "authorize", body)) == (401, "unauthorized")
    assert error_of(post(server, "authorize", body, "not-a-token")) == (401, "unauthorized")


def test_expired_threshold_session(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    token = session_token(wallet, key, ttlSeconds=30)
    server.clock.advance(31)
    with pytest.raises(ApiError) as caught:
        wallet.authorize(token, key, MESSAGE)
    assert (caught.value.status, caught.value.code) == (401, "session_expired")


def test_threshold_session_ttl_and_uses_are_capped(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    for options in ({"ttlSeconds": 601}, {"maxUses": 21}, {"maxUses": 0}):
        with pytest.raises(ApiError) as caught:
            wallet.session(key, **options)
        assert (caught.value.status, caught.value.code) == (400, "invalid_body")
    granted = wallet.session(key)
    assert granted["maxUses"] == 20
    assert granted["expiresAt"] - server.clock() == 600_000


def test_wrong_token_kind_is_refused_both_ways(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(MESSAGE)}
    status, code = error_of(post(server, "authorize", body, wallet.app_token))
    assert (status, code) == (401, "unauthorized")
    response = post(
        server, "keygen", {"clientVerifyingShare": b64u(ED25519.base_mul(7).to_bytes())}, token
    )
    assert error_of(response) == (401, "unauthorized")
    assert "app_session_v1" in response.json()["message"]
    assert error_of(server.client.get("/session/auth", headers=bearer(token))) == (
        401,
        "unauthorized",
    )


def test_digest_other_than_the_authorized_one(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    other = bytes(reversed(MESSAGE))
    response = post(server, "sign/init", sign_init_body(key, granted["mpcSessionId"], other), token)
    assert error_of(response) == (400, "signing_digest_mismatch")
    # The id was spent by the attempt: it cannot be probed.
    response = post(
        server, "sign/init", sign_init_body(key, granted["mpcSessionId"], MESSAGE), token
    )
    assert error_of(response) == (404, "not_found")


def test_replayed_mpc_session_id(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    wallet.sign(token, key, MESSAGE, granted["mpcSessionId"])
    with pytest.raises(ApiError) as caught:
        wallet.sign(token, key, MESSAGE, granted["mpcSessionId"])
    assert (caught.value.status, caught.value.code) == (404, "not_found")


def test_mpc_session_expires_after_60_seconds(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    assert granted["expiresAt"] - server.clock() == 60_000
    server.clock.advance(61)
    response = post(
        server, "sign/init", sign_init_body(key, granted["mpcSessionId"], MESSAGE), token
    )
    assert error_of(response) == (401, "session_expired")


def test_prf_key_mismatch(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    """A client share from another PRF output than the key's fails at finalize, named."""
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    wrong_x = derive_client_share(
        b"another passkey's PRF output....",
        user_id=wallet.user_id or "",
        rp_id=wallet.rp_id,
        scheme_id=SCHEME_ED25519_2P_V1,
    )
    impostor = SoftWallet.client_key(key.relayer_key_id, key.public_key, wrong_x)
    with pytest.raises(ApiError) as caught:
        wallet.sign(token, impostor, MESSAGE, granted["mpcSessionId"])
    assert (caught.value.status, caught.value.code) == (400, "invalid_signature_share")
    assert "culprits: 1" in caught.value.message


def test_signing_session_is_single_use_even_after_a_failure(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    """The relayer's nonces are consumed before its share is computed: no second try."""
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    init_response = init(server, key, granted["mpcSessionId"], MESSAGE, token)
    assert init_response.status_code == 200
    body = {
        "signingSessionId": init_response.json()["signingSessionId"],
        "relayerKeyId": key.relayer_key_id,
        "clientSignatureShare": b64u(ED25519.encode_scalar(12345)),
    }
    assert error_of(post(server, "sign/finalize", body, token)) == (400, "invalid_signature_share")
    assert error_of(post(server, "sign/finalize", body, token)) == (404, "not_found")


def test_stored_nonces_are_encrypted(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    token = session_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    init_response = init(server, key, granted["mpcSessionId"], MESSAGE, token)
    record = server.store.sessions.get("sign_ed25519", init_response.json()["signingSessionId"])
    assert record.data[0] == 1 and b"nonces" not in record.data and MESSAGE not in record.data


def test_bad_commitments_in_sign_init_spend_no_use(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token, session_id = mint(wallet, key, maxUses=1)
    good = ED25519.base_mul(5).to_bytes()
    identity = b"\x01" + bytes(31)
    for hiding, binding, code in (
        (identity, good, "identity_element"),
        (good, identity, "identity_element"),
        (bytes(32), good, "invalid_element"),  # a point of small order
        (good, b"\xff" * 32, "invalid_element"),  # not canonical
    ):
        body = {
            "relayerKeyId": key.relayer_key_id,
            "signingDigest": b64u(MESSAGE),
            "signInit": {"clientCommitments": {"hiding": b64u(hiding), "binding": b64u(binding)}},
        }
        assert error_of(post(server, "authorize", body, token)) == (400, code)
    assert remaining_uses(server, session_id) == 1
    assert "authorize" not in [e.kind for e in server.store.audit.entries()]
    # The use is still there for a good signature.
    opened = authorize_and_open(server, key, token)
    assert opened.response.json()["remainingUses"] == 0
    assert finalize_opened(server, token, opened).status_code == 200


def test_invalid_sign_init_bodies_are_refused_and_spend_nothing(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token, session_id = mint(wallet, key)
    point = b64u(ED25519.base_mul(5).to_bytes())
    for sign_init in (
        {"clientCommitments": {"hiding": point, "binding": point}, "extra": 1},
        {"clientCommitments": {"hiding": point, "binding": point, "extra": 1}},
        {"clientCommitments": {"hiding": point}},
        {"clientCommitments": {"hiding": point, "binding": b64u(bytes(31))}},
        {"clientCommitments": {"hiding": point, "binding": point[:-1] + "+"}},
        {"clientCommitments": [point, point]},
        {"clientEntropy": b64u(bytes(32))},  # the ECDSA signInit
        {},
        "signInit",
    ):
        body = {
            "relayerKeyId": key.relayer_key_id,
            "signingDigest": b64u(MESSAGE),
            "signInit": sign_init,
        }
        response = post(server, "authorize", body, token)
        assert error_of(response) == (400, "invalid_body"), sign_init
        assert response.json()["message"].startswith("signInit"), response.text
    assert remaining_uses(server, session_id) == 20


_ELEMENTS = st.sampled_from(
    [
        b"\x01" + bytes(31),
        bytes(32),
        b"\xff" * 32,
        b"\xec" + b"\xff" * 30 + b"\x7f",
        ED25519.base_mul(7).to_bytes(),
    ]
) | st.binary(min_size=31, max_size=33)


@given(
    hiding=_ELEMENTS.map(b64u) | st.none() | st.integers() | st.text(max_size=50),
    binding=_ELEMENTS.map(b64u),
)
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_commitments_spend_a_use_only_when_accepted(
    server: Server, wallet: SoftWallet, key: ClientKey, hiding: object, binding: str
) -> None:
    """Whatever the commitments: a 200 that spent one use, or a 400 that spent none."""
    token, session_id = mint(wallet, key, maxUses=1)
    body = {
        "relayerKeyId": key.relayer_key_id,
        "signingDigest": b64u(MESSAGE),
        "signInit": {"clientCommitments": {"hiding": hiding, "binding": binding}},
    }
    response = post(server, "authorize", body, token)
    assert response.status_code in (200, 400), response.text
    assert remaining_uses(server, session_id) == (0 if response.status_code == 200 else 1)


def test_session_exhaustion(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    token = session_token(wallet, key, maxUses=2)
    assert wallet.authorize(token, key, MESSAGE)["remainingUses"] == 1
    assert wallet.authorize(token, key, MESSAGE)["remainingUses"] == 0
    with pytest.raises(ApiError) as caught:
        wallet.authorize(token, key, MESSAGE)
    assert (caught.value.status, caught.value.code) == (401, "session_exhausted")


def test_session_exhaustion_with_sign_init(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token, _ = mint(wallet, key, maxUses=2)
    for remaining in (1, 0):
        opened = authorize_and_open(server, key, token)
        assert opened.response.status_code == 200, opened.response.text
        assert opened.response.json()["remainingUses"] == remaining
    assert error_of(authorize_and_open(server, key, token).response) == (
        401,
        "session_exhausted",
    )


def test_cross_user_scope(
    server: Server, wallet: SoftWallet, other_wallet: SoftWallet, key: ClientKey
) -> None:
    other_key = other_wallet.keygen()
    # Bob cannot mint a session for Alice's key: it is not his (and not revealed).
    with pytest.raises(ApiError) as caught:
        other_wallet.session(key)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    # Bob's session cannot authorize Alice's key.
    bob_token = session_token(other_wallet, other_key)
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(MESSAGE)}
    assert error_of(post(server, "authorize", body, bob_token)) == (403, "scope_mismatch")
    # Nor use Alice's mpcSessionId, even naming his own key.
    alice_token = session_token(wallet, key)
    granted = wallet.authorize(alice_token, key, MESSAGE)
    response = post(
        server, "sign/init", sign_init_body(other_key, granted["mpcSessionId"], MESSAGE), bob_token
    )
    assert error_of(response) == (403, "scope_mismatch")
    # Alice's id survived Bob's attempt.
    wallet.sign(alice_token, key, MESSAGE, granted["mpcSessionId"])


def test_cross_key_scope(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    second = SoftWallet(server.client, wallet.authenticator.clone(), rp_id=wallet.rp_id)
    second.user_id, second.app_token = wallet.user_id, wallet.app_token
    # A second key of the same user (another client share).
    share = ED25519.base_mul(987654321).to_bytes()
    other = post(server, "keygen", {"clientVerifyingShare": b64u(share)}, wallet.app_token).json()
    assert other["relayerKeyId"] != key.relayer_key_id
    token = session_token(wallet, key)
    body = {"relayerKeyId": other["relayerKeyId"], "signingDigest": b64u(MESSAGE)}
    assert error_of(post(server, "authorize", body, token)) == (403, "scope_mismatch")
    # The refusal spent no use.
    assert wallet.authorize(token, key, MESSAGE)["remainingUses"] == 19


def test_a_session_from_another_session_cannot_spend_its_mpc_id(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    first, second = session_token(wallet, key), session_token(wallet, key)
    granted = wallet.authorize(first, key, MESSAGE)
    response = post(
        server, "sign/init", sign_init_body(key, granted["mpcSessionId"], MESSAGE), second
    )
    assert error_of(response) == (403, "scope_mismatch")


def test_a_signing_session_from_authorize_is_scoped(
    server: Server, wallet: SoftWallet, other_wallet: SoftWallet, key: ClientKey
) -> None:
    """Only the threshold session and key that opened it finalize it; refusals take nothing."""
    token, _ = mint(wallet, key)
    opened = authorize_and_open(server, key, token)
    assert opened.response.status_code == 200, opened.response.text
    # Bob, naming his key or Alice's; nor can he open one on Alice's key.
    other_key = other_wallet.keygen()
    bob_token, _ = mint(other_wallet, other_key)
    for key_id in (other_key.relayer_key_id, key.relayer_key_id):
        response = finalize_opened(server, bob_token, opened, key_id=key_id)
        assert error_of(response) == (403, "scope_mismatch")
    stolen = authorize_and_open(server, key, bob_token).response
    assert error_of(stolen) == (403, "scope_mismatch")
    # Another threshold session of the same key.
    second, _ = mint(wallet, key)
    assert error_of(finalize_opened(server, second, opened)) == (403, "scope_mismatch")
    # Alice's second key (another client share), naming it or the first.
    share = ED25519.base_mul(24681357).to_bytes()
    made = post(server, "keygen", {"clientVerifyingShare": b64u(share)}, wallet.app_token).json()
    second_key = SoftWallet.client_key(made["relayerKeyId"], unb64u(made["publicKey"]), 24681357)
    second_key_token, _ = mint(wallet, second_key)
    for key_id in (second_key.relayer_key_id, key.relayer_key_id):
        response = finalize_opened(server, second_key_token, opened, key_id=key_id)
        assert error_of(response) == (403, "scope_mismatch")
    # None of them took the nonces: Alice's finalize signs.
    final = finalize_opened(server, token, opened)
    assert final.status_code == 200, final.text
    signature = unb64u(final.json()["signature"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)


# -- chain intents ---------------------------------------------------------------------------


def _solana_message_intent(key: ClientKey) -> tuple[dict[str, object], object]:
    payload = {
        "signer": base58.b58encode(key.public_key).decode(),
        "message_utf8": "log in to dapp",
    }
    intent = SolanaAdapter().build_intent("message", payload)
    return {"chain": "solana", "kind": "message", "payload": payload}, intent


def test_authorize_an_intent_and_finalize_it(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    body, intent = _solana_message_intent(key)
    digest = intent_digest(intent)  # type: ignore[arg-type]
    granted = post(
        server,
        "authorize",
        {"relayerKeyId": key.relayer_key_id, "intent": body, "intentDigest": b64u(digest)},
        token,
    ).json()
    message = intent.sign_requests[0].message  # type: ignore[attr-defined]
    assert granted["signingDigest"] == b64u(message)
    assert granted["uiModel"]["chain"] == "solana"
    signature = wallet.sign(token, key, message, granted["mpcSessionId"])
    finalized = intent.finalize([signature])  # type: ignore[attr-defined]
    assert finalized.chain == "solana"


def test_intent_digest_mismatch(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    token = session_token(wallet, key, maxUses=1)
    body, _ = _solana_message_intent(key)
    request = {"relayerKeyId": key.relayer_key_id, "intent": body, "intentDigest": b64u(bytes(32))}
    assert error_of(post(server, "authorize", request, token)) == (400, "intent_digest_mismatch")
    # A refused intent spends no use.
    assert wallet.authorize(token, key, MESSAGE)["remainingUses"] == 0


def test_sign_init_in_an_authorize_by_intent(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token, session_id = mint(wallet, key, maxUses=1)
    body, intent = _solana_message_intent(key)
    message = intent.sign_requests[0].message  # type: ignore[attr-defined]
    digest = b64u(intent_digest(intent))  # type: ignore[arg-type]
    wrong = authorize_and_open(server, key, token, intent=body, intentDigest=b64u(bytes(32)))
    assert error_of(wrong.response) == (400, "intent_digest_mismatch")
    assert remaining_uses(server, session_id) == 1  # a refused intent spends no use
    opened = authorize_and_open(server, key, token, message, intent=body, intentDigest=digest)
    assert opened.response.status_code == 200, opened.response.text
    granted = opened.response.json()
    assert granted.get("mpcSessionId") is None and granted["remainingUses"] == 0
    assert granted["signingDigest"] == b64u(message) and granted["intentDigest"] == digest
    assert granted["uiModel"]["chain"] == "solana"
    final = finalize_opened(server, token, opened)
    assert final.status_code == 200, final.text
    finalized = intent.finalize([unb64u(final.json()["signature"])])  # type: ignore[attr-defined]
    assert finalized.chain == "solana"


def test_intent_of_another_algorithm_and_bad_payloads(
    server: Server, wallet: SoftWallet, key: ClientKey
) -> None:
    token = session_token(wallet, key)
    from cosigner.chains.evm import EvmAdapter

    payload = {"message": "hello"}
    intent = EvmAdapter().build_intent("personal_sign", payload)
    request = {
        "relayerKeyId": key.relayer_key_id,
        "intent": {"chain": "evm", "kind": "personal_sign", "payload": payload},
        "intentDigest": b64u(intent_digest(intent)),
    }
    assert error_of(post(server, "authorize", request, token)) == (400, "unsupported_algorithm")
    request["intent"] = {"chain": "near", "kind": "transaction", "payload": {"nonsense": 1}}
    status, code = error_of(post(server, "authorize", request, token))
    assert status == 400 and code == "invalid_payload"
    request["intent"] = {"chain": "dogecoin", "kind": "transaction", "payload": {}}
    assert error_of(post(server, "authorize", request, token))[0] == 400
    both = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(MESSAGE), **request}
    assert error_of(post(server, "authorize", both, token)) == (400, "invalid_body")


# -- export --------------------------------------------------------------------------------


def test_export_after_step_up(server: Server, wallet: SoftWallet, key: ClientKey) -> None:
    x = wallet.export(key)
    assert ED25519.base_mul(x).to_bytes() == key.public_key
    entry = [e for e in server.store.audit.entries() if e.kind == "export"]
    assert len(entry) == 1 and entry[0].data_json()["relayerKeyId"] == key.relayer_key_id
    assert "ciphertext" not in entry[0].data


def test_export_needs_a_fresh_step_up_of_its_purpose(
    server: Server, wallet: SoftWallet, other_wallet: SoftWallet, key: ClientKey
) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    recipient = b64u(X25519PrivateKey.generate().public_key().public_bytes_raw())
    body: dict[str, object] = {"relayerKeyId": key.relayer_key_id, "recipientPublicKey": recipient}
    assert error_of(post(server, "export", body, wallet.app_token)) == (400, "invalid_body")
    # A step-up made for unlink does not export.
    body["stepUp"] = wallet.step_up("unlink")
    assert error_of(post(server, "export", body, wallet.app_token)) == (403, "forbidden")
    # A step-up is single use.
    body["stepUp"] = wallet.step_up("export")
    assert post(server, "export", body, wallet.app_token).status_code == 200
    assert error_of(post(server, "export", body, wallet.app_token)) == (400, "invalid_challenge")
    # Bob cannot export Alice's key, even with his own step-up.
    body["stepUp"] = other_wallet.step_up("export")
    assert error_of(post(server, "export", body, other_wallet.app_token)) == (404, "not_found")
    # A low-order recipient key is refused.
    body["stepUp"] = wallet.step_up("export")
    body["recipientPublicKey"] = b64u(bytes(32))
    assert error_of(post(server, "export", body, wallet.app_token)) == (400, "invalid_export_key")
