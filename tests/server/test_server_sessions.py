"""App sessions (``/session/*``), token kinds, cookie mode and CSRF."""

from __future__ import annotations

import jwt
from server_support import Server, ServerFactory, error_of

from cosigner.groups import ED25519
from cosigner.server import Secret
from cosigner.server.sessions import APP_COOKIE, CSRF_HEADER, THRESHOLD_COOKIES
from cosigner.testing import ClientKey, SoftWallet
from cosigner.testing.wallet import b64u, bearer


def auth(server: Server, token: str | None) -> tuple[int, str]:
    response = server.client.get("/session/auth", headers=bearer(token or ""))
    if response.status_code == 200:
        return 200, response.json()["userId"]
    return error_of(response)


def test_session_auth_refresh_logout(server: Server, wallet: SoftWallet) -> None:
    token = wallet.app_token
    assert auth(server, token) == (200, wallet.user_id)
    refreshed = server.client.post("/session/refresh", headers=bearer(token or ""))
    assert refreshed.status_code == 200
    new = refreshed.json()["sessionToken"]
    # A refresh ends the old session: it cannot be refreshed or used again.
    assert auth(server, token) == (401, "unauthorized")
    again = server.client.post("/session/refresh", headers=bearer(token or ""))
    assert error_of(again) == (401, "unauthorized")
    assert auth(server, new) == (200, wallet.user_id)
    assert server.client.post("/session/logout", headers=bearer(new)).json() == {"ok": True}
    assert auth(server, new) == (401, "unauthorized")


def test_app_session_expiry(server: Server, wallet: SoftWallet) -> None:
    server.clock.advance(server.settings.app_session_ttl_s + 1)
    assert auth(server, wallet.app_token) == (401, "session_expired")


def test_tampered_and_foreign_tokens(server: Server, wallet: SoftWallet) -> None:
    token = wallet.app_token or ""
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["sub"] = "usr_someone_else"
    forged = jwt.encode(claims, "x" * 32, algorithm="HS256")
    assert auth(server, forged) == (401, "unauthorized")
    none_alg = jwt.encode(claims, None, algorithm="none")
    assert auth(server, none_alg) == (401, "unauthorized")
    assert auth(server, token[:-2] + "AA") == (401, "unauthorized")
    assert auth(server, None) == (401, "unauthorized")


def test_other_servers_tokens_are_refused(make_server: ServerFactory, wallet: SoftWallet) -> None:
    other = make_server(session_secret=Secret(b"o" * 32))
    assert auth(other, wallet.app_token) == (401, "unauthorized")


def test_cookie_mode_sets_a_strict_cookie_and_needs_csrf(
    server: Server, wallet: SoftWallet
) -> None:
    login = server.client.post("/auth/passkey/options", json={"mode": "login"}).json()
    assertion = wallet.authenticator.get(login["publicKey"])
    response = server.client.post(
        "/auth/passkey/verify",
        json={
            "challengeId": login["challengeId"],
            "credential": assertion.response,
            "sessionKind": "cookie",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["sessionToken"] is None and body["csrfToken"]
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{APP_COOKIE}=")
    for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
        assert attribute.lower() in cookie.lower()
    # The cookie authenticates reads without CSRF ...
    assert server.client.get("/session/auth").json()["sessionKind"] == "cookie"
    # ... but every state-changing request needs the CSRF token.
    assert error_of(server.client.post("/session/refresh")) == (403, "csrf_failed")
    wrong = {CSRF_HEADER: "wrong"}
    assert error_of(server.client.post("/session/refresh", headers=wrong)) == (403, "csrf_failed")
    share = b64u(ED25519.base_mul(3).to_bytes())
    keygen = server.client.post("/threshold-ed25519/keygen", json={"clientVerifyingShare": share})
    assert error_of(keygen) == (403, "csrf_failed")
    ok = server.client.post(
        "/threshold-ed25519/keygen",
        json={"clientVerifyingShare": share},
        headers={CSRF_HEADER: body["csrfToken"]},
    )
    assert ok.status_code == 200
    # Logout clears the cookie.
    out = server.client.post("/session/logout", headers={CSRF_HEADER: body["csrfToken"]})
    assert out.status_code == 200 and "Max-Age=0" in out.headers["set-cookie"]
    assert error_of(server.client.get("/session/auth")) == (401, "unauthorized")


def test_threshold_session_in_cookie_mode(server: Server, wallet: SoftWallet) -> None:
    key: ClientKey = wallet.keygen()
    minted = wallet.session(key, sessionKind="cookie")
    assert minted["sessionToken"] is None and minted["csrfToken"]
    assert THRESHOLD_COOKIES["threshold_ed25519_session_v1"] in server.client.cookies
    body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(bytes(32))}
    response = server.client.post("/threshold-ed25519/authorize", json=body)
    assert error_of(response) == (403, "csrf_failed")
    response = server.client.post(
        "/threshold-ed25519/authorize", json=body, headers={CSRF_HEADER: minted["csrfToken"]}
    )
    assert response.status_code == 200, response.text
    # An app session's CSRF token does not stand in for the threshold session's.
    assert response.json()["remainingUses"] == 19


def test_a_remembered_token_is_still_checked_for_expiry_and_kind() -> None:
    import pytest
    from server_support import FakeClock

    from cosigner.server.errors import SessionExpired, Unauthorized
    from cosigner.server.sessions import TokenCodec

    clock = FakeClock()
    codec = TokenCodec(b"s" * 32, clock)
    token = codec.issue("kind_a", {"sub": "alice"}, expires_at_ms=clock() + 10_000)
    first = codec.verify(token, "kind_a")  # checked once, remembered
    first["sub"] = "mallory"  # the caller's copy, not the remembered claims
    assert codec.verify(token, "kind_a")["sub"] == "alice"
    with pytest.raises(Unauthorized):
        codec.verify(token, "kind_b")
    with pytest.raises(Unauthorized):
        codec.verify(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "kind_a")
    clock.advance(10)
    with pytest.raises(SessionExpired):
        codec.verify(token, "kind_a")
