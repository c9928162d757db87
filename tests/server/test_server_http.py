"""The HTTP surface: error bodies, statuses, body limits, the catch-all, health, metrics."""

from __future__ import annotations

import logging

import httpx
import pytest
from server_support import Server, ServerFactory, error_of

from cosigner.server.errors import STATUS_BY_CODE, status_for
from cosigner.store import StoreUnavailableError


def test_health_and_readiness(server: Server) -> None:
    assert server.client.get("/healthz").json()["ok"] is True
    ready = server.client.get("/readyz").json()
    assert ready == {
        "ok": True,
        "store": "memory",
        "schemes": {
            "threshold-ed25519-frost-2p-v1": True,
            "threshold-secp256k1-ecdsa-2p-v1": True,
        },
    }


def test_readiness_fails_when_the_store_does(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down() -> tuple[int, bytes]:
        raise StoreUnavailableError("connection refused")

    monkeypatch.setattr(server.store.audit, "head", down)
    assert error_of(server.client.get("/readyz")) == (503, "store_unavailable")


def test_openapi_is_served_and_has_no_422(server: Server) -> None:
    schema = server.client.get("/openapi.json").json()
    assert "/threshold-ed25519/sign/finalize" in schema["paths"]
    for path in schema["paths"].values():
        for operation in path.values():
            assert "422" not in operation["responses"]
            assert "default" in operation["responses"]


def test_seed_status_mapping() -> None:
    assert status_for("not_found") == 404
    assert status_for("unauthorized") == 401
    assert status_for("pool_empty") == status_for("threshold_disabled") == 503
    assert status_for("not_implemented") == 501
    for code in (
        "invalid_body",
        "stale_session_state",
        "signing_digest_mismatch",
        "intent_digest_mismatch",
        "not_verified",
        "invalid_signature_share",
    ):
        assert status_for(code) == 400
    assert all(400 <= status < 600 for status in STATUS_BY_CODE.values())


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"mode": "login", "extra": 1}, "extra"),
        ({"mode": "nonsense"}, "mode"),
        ({"mode": 1}, "mode"),
        ({}, "mode"),
        ([], "body"),
    ],
)
def test_bad_bodies_answer_invalid_body(server: Server, body: object, fragment: str) -> None:
    response = server.client.post("/auth/passkey/options", json=body)
    assert error_of(response) == (400, "invalid_body")
    assert fragment in response.json()["message"]


def test_not_json_and_not_found_and_wrong_method(server: Server) -> None:
    response = server.client.post(
        "/auth/passkey/options", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert error_of(response) == (400, "invalid_body")
    assert error_of(server.client.get("/nowhere")) == (404, "not_found")
    response = server.client.get("/threshold-ed25519/authorize")
    assert error_of(response) == (405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_body_size_limit(make_server: ServerFactory) -> None:
    server = make_server(max_body_bytes=2048)
    big = {"mode": "login", "userName": "x" * 4000}
    assert error_of(server.client.post("/auth/passkey/options", json=big)) == (
        413,
        "body_too_large",
    )

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 512

    response = server.client.post(
        "/auth/passkey/options", content=chunks(), headers={"content-type": "application/json"}
    )
    assert error_of(response) == (413, "body_too_large")
    small = server.client.post("/auth/passkey/options", json={"mode": "login"})
    assert small.status_code == 200


def test_unexpected_errors_are_500_with_a_correlation_id_and_no_leak(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server(raise_server_exceptions=False)

    @server.client.app.get("/boom")  # type: ignore[attr-defined, untyped-decorator]
    def boom() -> None:
        raise RuntimeError("secret-material-0123456789")

    with caplog.at_level(logging.ERROR, logger="cosigner.server"):
        response = server.client.get("/boom")
    assert error_of(response) == (500, "internal_error")
    assert "secret-material" not in response.text
    correlation = response.headers["x-correlation-id"]
    assert correlation in response.json()["message"]
    assert any(correlation in r.getMessage() for r in caplog.records)


def test_metrics(server: Server) -> None:
    server.client.get("/healthz")
    server.client.post("/auth/passkey/options", json={"mode": "bad"})
    server.client.get("/nowhere/at/all")
    text = server.client.get("/metrics").text
    assert 'cosigner_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in text
    assert 'cosigner_errors_total{code="invalid_body"} 1.0' in text
    assert 'route="unmatched"' in text and "/nowhere" not in text
    assert "cosigner_http_request_duration_seconds_bucket" in text
    assert "cosigner_presignature_pool_available" in text


def test_metrics_count_signatures(server: Server) -> None:
    wallet = server.wallet()
    key = wallet.keygen()
    token = wallet.session(key)["sessionToken"]
    granted = wallet.authorize(token, key, b"\x00" * 32)
    wallet.sign(token, key, b"\x00" * 32, granted["mpcSessionId"])
    text = server.client.get("/metrics").text
    assert 'cosigner_signatures_total{scheme="ed25519"} 1.0' in text
    assert 'cosigner_threshold_authorizations_total{scheme="ed25519"} 1.0' in text


def test_httpx_asgi_transport_also_works(server: Server) -> None:
    transport = httpx.ASGITransport(app=server.client.app)  # type: ignore[arg-type]

    async def run() -> int:
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            return (await c.get("/healthz")).status_code

    import asyncio

    assert asyncio.run(run()) == 200
