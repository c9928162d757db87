"""``/auth/*``: passkey registration and login, Google OIDC, identities, link and unlink.

WebAuthn: challenges are single-use and expire; origin and rpId are
checked; a sign counter that does not grow is refused; PRF outputs are
refused outright. Google: tokens are checked against a JWKS the test
serves, for signature, issuer, audience and expiry.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from server_support import ORIGIN, RP_ID, Server, ServerFactory, error_of

from cosigner.store import InvalidStoreArgumentError, NotFoundError
from cosigner.testing import SoftAuthenticator, SoftWallet
from cosigner.testing.wallet import bearer

CLIENT_ID = "cosigner-test.apps.example"
ISSUER = "https://accounts.google.com"
JWKS_URL = "https://oidc.test/jwks"


def options(server: Server, mode: str, token: str | None = None, **extra: Any) -> dict[str, Any]:
    response = server.client.post(
        "/auth/passkey/options",
        json={"mode": mode, **extra},
        headers=bearer(token) if token else {},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def verify(server: Server, challenge_id: str, credential: dict[str, Any]) -> httpx.Response:
    return server.client.post(
        "/auth/passkey/verify", json={"challengeId": challenge_id, "credential": credential}
    )


# -- passkeys ------------------------------------------------------------------------------


def test_register_then_login(server: Server) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    created = options(server, "registration", userName="carol")
    assert created["publicKey"]["rp"]["id"] == RP_ID
    assert created["publicKey"]["authenticatorSelection"]["residentKey"] == "required"
    registration = authenticator.create(created["publicKey"])
    response = verify(server, created["challengeId"], registration.response)
    assert response.status_code == 200
    user_id = response.json()["userId"]
    assert response.json()["newUser"] is True
    login = options(server, "login")
    assert "prf" in login["publicKey"]["extensions"]
    assertion = authenticator.get(login["publicKey"])
    assert assertion.prf_first is not None and len(assertion.prf_first) == 32
    response = verify(server, login["challengeId"], assertion.response)
    assert response.status_code == 200 and response.json()["userId"] == user_id
    stored = server.store.credentials.get(registration.credential_id)
    assert stored.sign_count == 1 and stored.user_id == user_id


def test_challenge_is_single_use(server: Server, wallet: SoftWallet) -> None:
    login = options(server, "login")
    assertion = wallet.authenticator.get(login["publicKey"])
    assert verify(server, login["challengeId"], assertion.response).status_code == 200
    again = wallet.authenticator.get(login["publicKey"])
    assert error_of(verify(server, login["challengeId"], again.response)) == (
        400,
        "invalid_challenge",
    )


def test_challenge_expires(server: Server, wallet: SoftWallet) -> None:
    login = options(server, "login")
    server.clock.advance(server.settings.challenge_ttl_s + 1)
    assertion = wallet.authenticator.get(login["publicKey"])
    assert error_of(verify(server, login["challengeId"], assertion.response)) == (
        400,
        "invalid_challenge",
    )


def test_challenge_of_another_mode(server: Server) -> None:
    authenticator = SoftAuthenticator(origin=ORIGIN)
    created = options(server, "registration")
    login = options(server, "login")
    registration = authenticator.create(created["publicKey"])
    assert error_of(verify(server, login["challengeId"], registration.response)) == (
        400,
        "invalid_challenge",
    )


def test_origin_and_rp_id_are_checked(server: Server, wallet: SoftWallet) -> None:
    created = options(server, "registration")
    evil = SoftAuthenticator(origin="https://evil.example")
    status, code = error_of(
        verify(server, created["challengeId"], evil.create(created["publicKey"]).response)
    )
    assert (status, code) == (400, "not_verified")
    created = options(server, "registration")
    other_rp = SoftAuthenticator(origin=ORIGIN)
    ceremony = other_rp.create(created["publicKey"], rp_id="evil.example")
    response = verify(server, created["challengeId"], ceremony.response)
    assert error_of(response) == (400, "not_verified")
    assert "RP ID" in response.json()["message"]


def test_the_challenge_itself_is_checked(server: Server, wallet: SoftWallet) -> None:
    first, second = options(server, "login"), options(server, "login")
    assertion = wallet.authenticator.get(first["publicKey"])
    assert error_of(verify(server, second["challengeId"], assertion.response)) == (
        400,
        "not_verified",
    )


def test_sign_counter_regression_is_refused(server: Server, wallet: SoftWallet) -> None:
    clone = wallet.authenticator.clone()
    wallet.login()  # counter moves on in the original
    login = options(server, "login")
    assertion = clone.get(login["publicKey"])  # the clone replays an old counter
    response = verify(server, login["challengeId"], assertion.response)
    assert error_of(response) == (400, "not_verified")
    assert "sign count" in response.json()["message"]


def test_prf_outputs_are_refused(server: Server, wallet: SoftWallet) -> None:
    login = options(server, "login")
    leaky = wallet.authenticator.get(login["publicKey"], include_prf_results=True)
    assert "results" in leaky.response["clientExtensionResults"]["prf"]
    response = verify(server, login["challengeId"], leaky.response)
    assert error_of(response) == (400, "invalid_body")
    assert leaky.response["clientExtensionResults"]["prf"]["results"]["first"] not in response.text


def test_unknown_credential_fields_are_refused(server: Server, wallet: SoftWallet) -> None:
    login = options(server, "login")
    assertion = wallet.authenticator.get(login["publicKey"])
    assertion.response["response"]["surprise"] = "x"
    assert error_of(verify(server, login["challengeId"], assertion.response)) == (
        400,
        "invalid_body",
    )


def test_unknown_passkey(server: Server) -> None:
    stranger = SoftAuthenticator(origin=ORIGIN)
    stranger.create(options(server, "registration")["publicKey"])  # never verified
    login = options(server, "login")
    response = verify(server, login["challengeId"], stranger.get(login["publicKey"]).response)
    assert error_of(response) == (400, "not_verified")


def test_link_and_step_up_need_an_app_session(server: Server) -> None:
    for body in ({"mode": "link"}, {"mode": "step_up", "purpose": "export"}):
        response = server.client.post("/auth/passkey/options", json=body)
        assert error_of(response) == (401, "unauthorized")
    response = server.client.post("/auth/passkey/options", json={"mode": "step_up"})
    assert error_of(response) == (400, "invalid_body")


# -- identities, link and unlink -------------------------------------------------------------


def test_link_a_second_passkey_then_unlink_it(server: Server, wallet: SoftWallet) -> None:
    old_token = wallet.app_token
    second = SoftAuthenticator(origin=ORIGIN)
    link = options(server, "link", wallet.app_token)
    ceremony = second.create(link["publicKey"])
    response = server.client.post(
        "/auth/link",
        json={
            "provider": "passkey",
            "challengeId": link["challengeId"],
            "credential": ceremony.response,
        },
        headers=bearer(wallet.app_token or ""),
    )
    assert response.status_code == 200, response.text
    subject = response.json()["identity"]["subject"]
    listed = server.client.get("/auth/identities", headers=bearer(wallet.app_token or "")).json()
    assert [i["provider"] for i in listed["identities"]] == ["passkey", "passkey"]
    assert {p["id"]: p["enabled"] for p in listed["providers"]} == {
        "passkey": True,
        "google-oidc": False,
    }
    unlink = server.client.post(
        "/auth/unlink",
        json={"provider": "passkey", "subject": subject, "stepUp": wallet.step_up("unlink")},
        headers=bearer(wallet.app_token or ""),
    )
    assert unlink.status_code == 200, unlink.text
    new_token = unlink.json()["session"]["sessionToken"]
    # Unlinking rotated the session version: the old app session is revoked, the new one works.
    response = server.client.get("/session/auth", headers=bearer(old_token or ""))
    assert error_of(response) == (401, "unauthorized")
    assert server.client.get("/session/auth", headers=bearer(new_token)).status_code == 200
    # The unlinked passkey no longer logs in.
    login = options(server, "login")
    response = verify(server, login["challengeId"], second.get(login["publicKey"]).response)
    assert error_of(response) == (400, "not_verified")
    assert "unlink" in [e.kind for e in server.store.audit.entries()]


def test_unlink_refuses_the_last_identity_and_needs_a_step_up(
    server: Server, wallet: SoftWallet
) -> None:
    subject = server.client.get("/auth/identities", headers=bearer(wallet.app_token or "")).json()[
        "identities"
    ][0]["subject"]
    body: dict[str, Any] = {"provider": "passkey", "subject": subject}
    response = server.client.post("/auth/unlink", json=body, headers=bearer(wallet.app_token or ""))
    assert error_of(response) == (400, "invalid_body")
    body["stepUp"] = wallet.step_up("unlink")
    response = server.client.post("/auth/unlink", json=body, headers=bearer(wallet.app_token or ""))
    assert error_of(response) == (400, "last_identity")


def test_step_up_of_another_user_is_refused(
    server: Server, wallet: SoftWallet, other_wallet: SoftWallet
) -> None:
    second = SoftAuthenticator(origin=ORIGIN)
    link = options(server, "link", wallet.app_token)
    server.client.post(
        "/auth/link",
        json={
            "provider": "passkey",
            "challengeId": link["challengeId"],
            "credential": second.create(link["publicKey"]).response,
        },
        headers=bearer(wallet.app_token or ""),
    )
    subject = server.client.get("/auth/identities", headers=bearer(wallet.app_token or "")).json()[
        "identities"
    ][1]["subject"]
    body = {"provider": "passkey", "subject": subject, "stepUp": other_wallet.step_up("unlink")}
    response = server.client.post("/auth/unlink", json=body, headers=bearer(wallet.app_token or ""))
    assert error_of(response) == (403, "forbidden")
    # Bob cannot unlink Alice's identity at all.
    body["stepUp"] = other_wallet.step_up("unlink")
    response = server.client.post(
        "/auth/unlink", json=body, headers=bearer(other_wallet.app_token or "")
    )
    assert error_of(response) == (404, "not_found")


# -- Google ------------------------------------------------------------------------------------


class Google:
    """An OIDC provider for tests: an RSA key, its JWKS, and tokens it signs."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "test-key-1"
        self.jwks_requests = 0
        self.down = False

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.jwks_requests += 1
            if self.down or str(request.url) != JWKS_URL:
                return httpx.Response(503)
            return httpx.Response(200, json=self.jwks())

        return httpx.MockTransport(handle)

    def token(self, sub: str = "1234567890", now: float | None = None, **claims: Any) -> str:
        now = time.time() if now is None else now
        body = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": sub,
            "iat": int(now),
            "exp": int(now) + 3600,
            "email": "carol@example.com",
            "email_verified": True,
        }
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture
def google() -> Google:
    return Google()


@pytest.fixture
def google_server(make_server: ServerFactory, google: Google) -> Server:
    return make_server(
        google_http=httpx.Client(transport=google.transport()),
        google_client_ids=(CLIENT_ID,),
        google_issuers=(ISSUER,),
        google_jwks_url=JWKS_URL,
    )


def google_verify(server: Server, token: str) -> httpx.Response:
    return server.client.post("/auth/google/verify", json={"idToken": token})


def test_google_sign_in(google_server: Server, google: Google) -> None:
    now = google_server.clock() / 1000
    first = google_verify(google_server, google.token(now=now))
    assert first.status_code == 200, first.text
    assert first.json()["newUser"] is True
    again = google_verify(google_server, google.token(now=now))
    assert again.json()["userId"] == first.json()["userId"] and again.json()["newUser"] is False
    assert google.jwks_requests == 1  # cached


@pytest.mark.parametrize(
    ("claims", "fragment"),
    [
        ({"aud": "someone-else"}, "another client"),
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"exp": 1}, "expired"),
        ({"sub": ""}, "subject"),
    ],
)
def test_google_token_claims_are_checked(
    google_server: Server, google: Google, claims: dict[str, Any], fragment: str
) -> None:
    now = google_server.clock() / 1000
    response = google_verify(google_server, google.token(now=now, **claims))
    assert error_of(response) == (400, "not_verified")
    assert fragment in response.json()["message"]


def test_google_signature_and_key_are_checked(google_server: Server, google: Google) -> None:
    now = google_server.clock() / 1000
    forged = Google()  # same kid, another key
    response = google_verify(google_server, forged.token(now=now))
    assert error_of(response) == (400, "not_verified")
    unknown = jwt.encode(
        {"iss": ISSUER, "aud": CLIENT_ID, "sub": "x", "iat": int(now), "exp": int(now) + 60},
        google.key,
        algorithm="RS256",
        headers={"kid": "rotated-away"},
    )
    assert error_of(google_verify(google_server, unknown)) == (400, "not_verified")
    hs = jwt.encode({"sub": "x"}, "s" * 32, algorithm="HS256", headers={"kid": google.kid})
    assert error_of(google_verify(google_server, hs)) == (400, "not_verified")
    assert error_of(google_verify(google_server, "not.a.jwt")) == (400, "not_verified")


def test_google_jwks_unavailable(google_server: Server, google: Google) -> None:
    google.down = True
    response = google_verify(google_server, google.token(now=google_server.clock() / 1000))
    assert error_of(response) == (503, "provider_unavailable")


def test_google_disabled(server: Server, google: Google) -> None:
    assert error_of(google_verify(server, google.token())) == (503, "provider_disabled")


def test_link_google_then_unlink_it(google_server: Server, google: Google) -> None:
    server = google_server
    wallet = server.wallet()
    now = server.clock() / 1000
    token = wallet.app_token or ""
    response = server.client.post(
        "/auth/link",
        json={"provider": "google-oidc", "idToken": google.token(sub="g-1", now=now)},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    # Signing in with Google now reaches the same user.
    assert (
        google_verify(server, google.token(sub="g-1", now=now)).json()["userId"] == wallet.user_id
    )
    # Another user cannot link the same Google account.
    other = server.wallet("bob")
    response = server.client.post(
        "/auth/link",
        json={"provider": "google-oidc", "idToken": google.token(sub="g-1", now=now)},
        headers=bearer(other.app_token or ""),
    )
    assert error_of(response) == (409, "identity_conflict")
    response = server.client.post(
        "/auth/unlink",
        json={"provider": "google-oidc", "subject": "g-1", "stepUp": wallet.step_up("unlink")},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert google_verify(server, google.token(sub="g-1", now=now)).json()["newUser"] is True


# -- credential ids that do not fit an identity --------------------------------------------------


def _long_id_authenticator(id_bytes: int) -> SoftAuthenticator:
    """An authenticator whose next credential has an id of ``id_bytes`` bytes."""
    sizes = iter([id_bytes])
    return SoftAuthenticator(origin=ORIGIN, rng=lambda n: os.urandom(next(sizes, n)))


def test_a_credential_id_too_long_for_its_identity_is_refused(server: Server) -> None:
    authenticator = _long_id_authenticator(193)
    created = options(server, "registration", userName="dave")
    registration = authenticator.create(created["publicKey"])
    assert len(registration.credential_id) == 193
    response = verify(server, created["challengeId"], registration.response)
    assert error_of(response) == (400, "invalid_body")
    with pytest.raises(NotFoundError):
        server.store.credentials.get(registration.credential_id)


def test_a_link_too_long_for_its_identity_is_refused(server: Server, wallet: SoftWallet) -> None:
    link = options(server, "link", wallet.app_token)
    ceremony = _long_id_authenticator(300).create(link["publicKey"])
    response = server.client.post(
        "/auth/link",
        json={
            "provider": "passkey",
            "challengeId": link["challengeId"],
            "credential": ceremony.response,
        },
        headers=bearer(wallet.app_token or ""),
    )
    assert error_of(response) == (400, "invalid_body")
    with pytest.raises(NotFoundError):
        server.store.credentials.get(ceremony.credential_id)


def test_the_longest_credential_id_registers_and_logs_in(server: Server) -> None:
    authenticator = _long_id_authenticator(192)
    created = options(server, "registration", userName="erin")
    registration = authenticator.create(created["publicKey"])
    response = verify(server, created["challengeId"], registration.response)
    assert response.status_code == 200, response.text
    user_id = response.json()["userId"]
    subject = response.json()["credentialId"]
    assert len(subject) == 256
    assert server.store.identities.get("passkey", subject).user_id == user_id
    login = options(server, "login")
    assertion = authenticator.get(login["publicKey"])
    response = verify(server, login["challengeId"], assertion.response)
    assert response.status_code == 200 and response.json()["userId"] == user_id


def test_a_failed_identity_link_leaves_no_credential(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise InvalidStoreArgumentError("subject must be a string of 1 to 256 chars")

    monkeypatch.setattr(server.store.identities, "link", refuse)
    authenticator = SoftAuthenticator(origin=ORIGIN)
    created = options(server, "registration", userName="frank")
    registration = authenticator.create(created["publicKey"])
    response = verify(server, created["challengeId"], registration.response)
    assert response.status_code == 400
    with pytest.raises(NotFoundError):
        server.store.credentials.get(registration.credential_id)


# -- tokens stay out of reprs --------------------------------------------------------------------


def test_tokens_are_not_in_reprs(server: Server, wallet: SoftWallet) -> None:
    from cosigner.server.auth import AppSessionResponse
    from cosigner.server.routes.threshold_common import SessionResponse
    from cosigner.server.sessions import IssuedSession

    issued = IssuedSession("tok-secret-1", "sid", 1, "csrf-secret-2")
    assert "secret" not in repr(issued) and "sid" in repr(issued)
    app = AppSessionResponse(
        user_id="u",
        session_kind="cookie",
        expires_at=1,
        session_token="tok-secret-1",
        csrf_token="csrf-secret-2",
    )
    assert "secret" not in repr(app) and "secret" not in str(app)
    assert app.model_dump(by_alias=True)["sessionToken"] == "tok-secret-1"
    assert app.model_dump(by_alias=True)["csrfToken"] == "csrf-secret-2"
    session = SessionResponse(
        session_id="s",
        scheme_id="x",
        relayer_key_id="k",
        participant_ids=[1, 2],
        expires_at=1,
        max_uses=1,
        remaining_uses=1,
        session_kind="jwt",
        session_token="tok-secret-1",
        csrf_token="csrf-secret-2",
    )
    assert "secret" not in repr(session) and "secret" not in str(session)
    assert session.model_dump(by_alias=True)["sessionToken"] == "tok-secret-1"
    schema = server.client.get("/openapi.json").json()["components"]["schemas"]
    assert {"sessionToken", "csrfToken"} <= set(schema["AppSessionResponse"]["properties"])
