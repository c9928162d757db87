"""The fast path answers the signing routes exactly as FastAPI does.

Two apps over one store, one with the fast path (``fast``) and one without
(``slow``); every test sends the same requests to both and compares status,
body (values that are random per call masked, keys kept), headers and
metrics. A spy on :meth:`FastPathMiddleware._serve` checks the fast app
really took the fast path, and the slow app never did.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from coincurve import PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_support import (
    ORIGIN,
    RP_ID,
    FakeClock,
    Server,
    TestClient,
    ecdsa_client_share,
    error_of,
    make_settings,
)
from starlette.requests import Request

from cosigner import frost
from cosigner.client import CosignerClient, KeyHandle, commitments_json, frost_client_share
from cosigner.client.http import b64u, bearer, unb64u
from cosigner.groups import ED25519
from cosigner.server import create_app
from cosigner.server import deps as deps_module
from cosigner.server.context import ServerContext
from cosigner.server.fastpath import FAST_ROUTES, FastPathMiddleware, fast_path_routes
from cosigner.server.routes import ecdsa as ecdsa_routes
from cosigner.server.routes import ed25519 as ed25519_routes
from cosigner.server.routes.threshold_common import AuthorizeRequest
from cosigner.server.sessions import (
    CSRF_HEADER,
    THRESHOLD_COOKIES,
    THRESHOLD_ECDSA_KIND,
    THRESHOLD_ED25519_KIND,
    TokenCodec,
)
from cosigner.store.memory import MemoryStore
from cosigner.testing import ClientKey, SoftAuthenticator, SoftWallet

MESSAGE = bytes(range(32))
ED = "/threshold-ed25519"
EC = "/threshold-ecdsa"
VOLATILE = frozenset(
    {
        "mpcSessionId",
        "signingSessionId",
        "expiresAt",
        "signature",
        "relayerCommitments",
        "relayerEntropy",
        "presignatureId",
        "recoveryId",
        "remainingUses",
    }
)
"""Response fields whose values are random per call (or, for ``remainingUses``, differ because
the two apps spend one session): compared by presence only."""
_HEX_ID = re.compile(r"\b[0-9a-f]{16}\b")
COMPARED_HEADERS = ("content-type", "www-authenticate", "allow", "location")


# -- two apps over one store ----------------------------------------------------------------


@dataclass
class Pair:
    fast: Server
    slow: Server
    served: list[str]
    """Paths the fast path served, in order (the spy on ``_serve``)."""
    tokens: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def pair(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pair]:
    served: list[str] = []
    serve = FastPathMiddleware._serve

    async def spy(
        self: FastPathMiddleware, route: Any, scope: Any, receive: Any, send: Any
    ) -> None:
        served.append(scope["path"])
        await serve(self, route, scope, receive, send)

    monkeypatch.setattr(FastPathMiddleware, "_serve", spy)
    settings = make_settings()
    store = MemoryStore(clock=clock)
    servers = []
    for fast_path in (True, False):
        app = create_app(settings, store, clock=clock, fast_path=fast_path)
        client = TestClient(app, base_url=ORIGIN)
        servers.append(Server(client, store, clock, settings))
    yield Pair(servers[0], servers[1], served)
    for server in servers:
        server.client.close()


@pytest.fixture
def wallet(pair: Pair) -> SoftWallet:
    return pair.fast.wallet("alice")


@pytest.fixture
def key(wallet: SoftWallet) -> ClientKey:
    return wallet.keygen()


@pytest.fixture
def ecdsa_key(wallet: SoftWallet) -> KeyHandle:
    return wallet.client.keygen("ecdsa")


def ed_token(wallet: SoftWallet, key: ClientKey) -> str:
    return str(wallet.session(key)["sessionToken"])


def ec_token(wallet: SoftWallet, key: KeyHandle) -> str:
    return wallet.client.connect_session(key).token


def normalized(value: Any) -> Any:
    """The JSON with random values masked (their keys kept), correlation ids blanked."""
    if isinstance(value, dict):
        return {k: "<random>" if k in VOLATILE else normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str):
        return _HEX_ID.sub("<id>", value)
    return value


def assert_same(fast: httpx.Response, slow: httpx.Response) -> None:
    assert fast.status_code == slow.status_code, (fast.text, slow.text)
    if slow.headers.get("content-type") == "application/json":
        assert normalized(fast.json()) == normalized(slow.json())
        if fast.status_code != 500 and not (VOLATILE & set(slow.json())):
            assert fast.content == slow.content
            assert fast.headers["content-length"] == slow.headers["content-length"]
    else:
        assert fast.content == slow.content
    for name in COMPARED_HEADERS:
        assert fast.headers.get(name) == slow.headers.get(name), name
    assert ("x-correlation-id" in fast.headers) == ("x-correlation-id" in slow.headers)


def send_both(
    pair: Pair, method: str, path: str, *, fast_path: bool = True, **request: Any
) -> tuple[httpx.Response, httpx.Response]:
    """The same request to both apps; checks which of them took the fast path."""
    before = len(pair.served)
    fast = pair.fast.client.request(method, path, **request)
    assert pair.served[before:] == ([path] if fast_path else []), pair.served[before:]
    slow = pair.slow.client.request(method, path, **request)
    assert len(pair.served) == before + (1 if fast_path else 0)
    return fast, slow


def same(
    pair: Pair, method: str, path: str, *, fast_path: bool = True, **request: Any
) -> httpx.Response:
    fast, slow = send_both(pair, method, path, fast_path=fast_path, **request)
    assert_same(fast, slow)
    return fast


# -- the dispatch table ---------------------------------------------------------------------


def test_the_table_holds_the_six_routes(pair: Pair) -> None:
    routes = fast_path_routes(pair.fast.client.app)
    assert set(routes) == {("POST", path) for path in FAST_ROUTES}
    assert len(FAST_ROUTES) == 6
    for (_, path), route in routes.items():
        assert route.template == path
        kind = THRESHOLD_ED25519_KIND if path.startswith(ED) else THRESHOLD_ECDSA_KIND
        assert route.token_kind == kind
        assert not route.json_without_content_type
    assert routes[("POST", f"{ED}/sign/init")].body_model is ed25519_routes.SignInitRequest
    assert routes[("POST", f"{EC}/sign/finalize")].response_model is (
        ecdsa_routes.EcdsaSignFinalizeResponse
    )
    with pytest.raises(LookupError):
        fast_path_routes(pair.slow.client.app)


def _rebuild(app: Any) -> Any:
    """The app's dispatch table, built anew."""
    fast_path_routes(app)
    layer = app.middleware_stack
    while not isinstance(layer, FastPathMiddleware):
        layer = layer.app
    layer.routes = None
    return fast_path_routes(app)


def test_the_table_follows_fastapi_or_refuses_to_build(pair: Pair) -> None:
    app: Any = pair.fast.client.app

    @app.post(f"{ED}/authorize/extra")  # type: ignore[untyped-decorator]
    async def unrelated() -> dict[str, str]:
        return {}

    assert len(_rebuild(app)) == 6  # another route changes nothing
    # Overridden dependencies: FastAPI's path, which the fast path leaves alone.
    app.dependency_overrides[deps_module.get_ctx] = lambda: None
    try:
        assert error_of(pair.fast.client.post(f"{ED}/authorize", json={})) == (
            401,
            "unauthorized",
        )
        assert not pair.served
    finally:
        app.dependency_overrides.clear()
    # Another middleware: the fast path would skip it, so it refuses to run.
    app.user_middleware.append(app.user_middleware[-1])
    try:
        with pytest.raises(RuntimeError, match="middleware"):
            _rebuild(app)
    finally:
        app.user_middleware.pop()

    # A route FastAPI would pick first, shaped otherwise.
    def shadow() -> dict[str, str]:
        return {}

    app.router.routes.insert(0, APIRoute(f"{EC}/sign/init", shadow, methods=["POST"]))
    try:
        with pytest.raises(RuntimeError, match="async def"):
            _rebuild(app)
    finally:
        del app.router.routes[0]
    assert len(_rebuild(app)) == 6


def test_other_methods_and_routes_go_through_fastapi(pair: Pair) -> None:
    response = same(pair, "GET", f"{ED}/authorize", fast_path=False)
    assert error_of(response) == (405, "method_not_allowed")
    assert "POST" in response.headers["allow"]
    same(pair, "PUT", f"{EC}/sign/init", fast_path=False, json={})
    assert same(pair, "GET", "/healthz", fast_path=False).json()["ok"] is True
    same(pair, "POST", f"{ED}/authorize/", fast_path=False, json={}, follow_redirects=False)
    same(pair, "POST", f"{ED}/keygen", fast_path=False, json={})
    same(pair, "POST", "/threshold-ed25519/nowhere", fast_path=False, json={})
    assert pair.fast.client.get("/openapi.json").json() == (
        pair.slow.client.get("/openapi.json").json()
    )


# -- full signatures ------------------------------------------------------------------------


def frost_sign(server: Server, key: ClientKey, token: str) -> list[httpx.Response]:
    """authorize, sign/init, sign/finalize by hand; checks the Ed25519 signature."""
    headers = bearer(token)
    authorized = server.client.post(
        f"{ED}/authorize",
        json={"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(MESSAGE)},
        headers=headers,
    )
    assert authorized.status_code == 200, authorized.text
    nonces, commitments = frost.commit(key.package)
    init = server.client.post(
        f"{ED}/sign/init",
        json={
            "mpcSessionId": authorized.json()["mpcSessionId"],
            "relayerKeyId": key.relayer_key_id,
            "signingDigest": b64u(MESSAGE),
            "clientCommitments": commitments_json(commitments),
        },
        headers=headers,
    )
    assert init.status_code == 200, init.text
    relayer = init.json()["relayerCommitments"]
    share = frost_client_share(key.package, nonces, commitments, relayer, MESSAGE)
    final = server.client.post(
        f"{ED}/sign/finalize",
        json={
            "signingSessionId": init.json()["signingSessionId"],
            "relayerKeyId": key.relayer_key_id,
            "clientSignatureShare": b64u(share),
        },
        headers=headers,
    )
    assert final.status_code == 200, final.text
    signature = unb64u(final.json()["signature"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)
    return [authorized, init, final]


def test_a_frost_signature_through_the_fast_path(
    pair: Pair, wallet: SoftWallet, key: ClientKey
) -> None:
    fast = frost_sign(pair.fast, key, ed_token(wallet, key))
    assert pair.served == [f"{ED}/authorize", f"{ED}/sign/init", f"{ED}/sign/finalize"]
    slow = frost_sign(pair.slow, key, ed_token(wallet, key))
    assert len(pair.served) == 3
    for f, s in zip(fast, slow, strict=True):
        assert_same(f, s)
    # The same answer FastAPI gives, field for field: its keys, in its order.
    assert (
        list(fast[2].json())
        == list(slow[2].json())
        == [
            "signature",
            "publicKey",
            "relayerKeyId",
            "signingDigest",
        ]
    )
    assert list(fast[0].json()) == list(slow[0].json())
    assert fast[0].json()["intentDigest"] is None and "uiModel" in fast[0].json()


def frost_sign_opened(server: Server, key: ClientKey, token: str) -> list[httpx.Response]:
    """authorize with signInit, then sign/finalize, by hand; checks the Ed25519 signature."""
    headers = bearer(token)
    nonces, commitments = frost.commit(key.package)
    authorized = server.client.post(
        f"{ED}/authorize",
        json={
            "relayerKeyId": key.relayer_key_id,
            "signingDigest": b64u(MESSAGE),
            "signInit": {"clientCommitments": commitments_json(commitments)},
        },
        headers=headers,
    )
    assert authorized.status_code == 200, authorized.text
    init = authorized.json()["signInit"]
    relayer = init["relayerCommitments"]
    share = frost_client_share(key.package, nonces, commitments, relayer, MESSAGE)
    final = server.client.post(
        f"{ED}/sign/finalize",
        json={
            "signingSessionId": init["signingSessionId"],
            "relayerKeyId": key.relayer_key_id,
            "clientSignatureShare": b64u(share),
        },
        headers=headers,
    )
    assert final.status_code == 200, final.text
    signature = unb64u(final.json()["signature"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)
    return [authorized, final]


def test_a_frost_signature_opened_in_authorize_through_the_fast_path(
    pair: Pair, wallet: SoftWallet, key: ClientKey
) -> None:
    fast = frost_sign_opened(pair.fast, key, ed_token(wallet, key))
    assert pair.served == [f"{ED}/authorize", f"{ED}/sign/finalize"]
    slow = frost_sign_opened(pair.slow, key, ed_token(wallet, key))
    assert len(pair.served) == 2
    for f, s in zip(fast, slow, strict=True):
        assert_same(f, s)
    # The same answer FastAPI gives, field for field, signInit's too.
    granted = fast[0].json()
    assert list(granted) == list(slow[0].json())
    assert list(granted["signInit"]) == list(slow[0].json()["signInit"])
    assert granted["mpcSessionId"] is None and slow[0].json()["mpcSessionId"] is None
    assert granted["remainingUses"] == slow[0].json()["remainingUses"] == 19


def test_an_ecdsa_signature_opened_in_authorize_by_hand(
    pair: Pair, wallet: SoftWallet, ecdsa_key: KeyHandle
) -> None:
    client = wallet.client
    assert client.refill_presignatures(ecdsa_key, 2) == 2
    digest = hashlib.sha256(b"pay carol 2 coins").digest()
    answers = []
    for server in (pair.fast, pair.slow):
        token = ec_token(wallet, ecdsa_key)
        entropy = os.urandom(32)
        body = {
            "relayerKeyId": ecdsa_key.relayer_key_id,
            "signingDigest": b64u(digest),
            "signInit": {"clientEntropy": b64u(entropy)},
        }
        authorized = server.client.post(f"{EC}/authorize", json=body, headers=bearer(token))
        assert authorized.status_code == 200, authorized.text
        init = authorized.json()["signInit"]
        share = ecdsa_client_share(client, ecdsa_key, init, digest, entropy)
        final = server.client.post(
            f"{EC}/sign/finalize",
            json={
                "signingSessionId": init["signingSessionId"],
                "relayerKeyId": ecdsa_key.relayer_key_id,
                "clientSignatureShare": b64u(share),
            },
            headers=bearer(token),
        )
        assert final.status_code == 200, final.text
        signature = unb64u(final.json()["signature"])
        recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
        assert recovered.format() == ecdsa_key.public_key
        answers.append([authorized, final])
    assert pair.served == [f"{EC}/authorize", f"{EC}/sign/finalize"]
    fast, slow = answers
    for f, s in zip(fast, slow, strict=True):
        assert_same(f, s)
    assert list(fast[0].json()["signInit"]) == list(slow[0].json()["signInit"])


def test_sign_init_refusals_in_authorize(
    pair: Pair, wallet: SoftWallet, key: ClientKey, ecdsa_key: KeyHandle
) -> None:
    """Refused authorize bodies with signInit answer alike, and spend nothing on either app."""
    ed, ec = bearer(ed_token(wallet, key)), bearer(ec_token(wallet, ecdsa_key))
    point = b64u(ED25519.base_mul(3).to_bytes())
    identity = b64u(b"\x01" + bytes(31))
    ed_body = {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(MESSAGE)}
    ec_body = {"relayerKeyId": ecdsa_key.relayer_key_id, "signingDigest": b64u(MESSAGE)}
    entropy = b64u(bytes(range(32)))
    cases: list[tuple[str, dict[str, Any], dict[str, str], tuple[int, str]]] = [
        (
            ED,
            {**ed_body, "signInit": {"clientCommitments": {"hiding": identity, "binding": point}}},
            ed,
            (400, "identity_element"),
        ),
        (
            ED,
            {
                **ed_body,
                "signInit": {"clientCommitments": {"hiding": point, "binding": point, "x": 1}},
            },
            ed,
            (400, "invalid_body"),
        ),
        (ED, {**ed_body, "signInit": {"clientEntropy": entropy}}, ed, (400, "invalid_body")),
        (EC, {**ec_body, "signInit": {"clientEntropy": entropy}}, ec, (503, "pool_empty")),
        (
            EC,
            {**ec_body, "signInit": {"clientEntropy": entropy, "presignatureId": "ab" * 32}},
            ec,
            (503, "pool_empty"),
        ),
        (EC, {**ec_body, "signInit": {"clientEntropy": entropy[:-2]}}, ec, (400, "invalid_body")),
        (
            EC,
            {**ec_body, "signInit": {"clientEntropy": entropy, "unknown": True}},
            ec,
            (400, "invalid_body"),
        ),
        (
            EC,
            {
                "relayerKeyId": ecdsa_key.relayer_key_id,
                "intent": {"chain": "evm", "kind": "personal_sign", "payload": {"message": "hi"}},
                "intentDigest": b64u(bytes(32)),
                "signInit": {"clientEntropy": entropy},
            },
            ec,
            (400, "intent_digest_mismatch"),
        ),
        (EC, {**ec_body, "signInit": {"clientEntropy": entropy}}, ed, (401, "unauthorized")),
    ]
    for prefix, body, headers, expected in cases:
        response = same(pair, "POST", f"{prefix}/authorize", json=body, headers=headers)
        assert error_of(response) == expected, body
    # Nothing above spent a use (each case went to both apps): 19 left after the next one.
    for prefix, body, headers in ((ED, ed_body, ed), (EC, ec_body, ec)):
        granted = pair.fast.client.post(f"{prefix}/authorize", json=body, headers=headers)
        assert granted.json()["remainingUses"] == 19, granted.text
    # An exhausted session refuses signInit alike.
    spent = bearer(str(wallet.session(key, maxUses=1)["sessionToken"]))
    granted = pair.fast.client.post(f"{ED}/authorize", json=ed_body, headers=spent)
    assert granted.json()["remainingUses"] == 0, granted.text
    opened = {**ed_body, "signInit": {"clientCommitments": {"hiding": point, "binding": point}}}
    response = same(pair, "POST", f"{ED}/authorize", json=opened, headers=spent)
    assert error_of(response) == (401, "session_exhausted")


class Recorder:
    """The fast routes' answers an HTTP client saw, in order."""

    def __init__(self, client: httpx.Client) -> None:
        self.responses: list[httpx.Response] = []
        client.event_hooks["response"].append(self)

    def __call__(self, response: httpx.Response) -> None:
        if response.request.url.path in FAST_ROUTES:
            response.read()
            self.responses.append(response)


def test_an_ecdsa_signature_through_the_fast_path(
    pair: Pair, wallet: SoftWallet, ecdsa_key: KeyHandle
) -> None:
    digest = hashlib.sha256(b"pay bob 1 coin").digest()
    answers = []
    for server in (pair.fast, pair.slow):
        client = CosignerClient(server.client, wallet.authenticator, rp_id=RP_ID)
        client.login()
        key = client.keygen("ecdsa")
        assert key == ecdsa_key
        recorder = Recorder(server.client)
        signature = client.sign_digest(key, digest)
        recovered = PublicKey.from_signature_and_message(signature, digest, hasher=None)
        assert recovered.format() == key.public_key
        answers.append(recorder.responses)
    fast, slow = answers
    # The SDK opens the signing session in authorize (signInit): two requests.
    paths = [f"{EC}/authorize", f"{EC}/sign/finalize"]
    assert [r.request.url.path for r in fast] == paths
    assert pair.served == [r.request.url.path for r in fast]
    for f, s in zip(fast, slow, strict=True):
        assert_same(f, s)


# -- tokens ---------------------------------------------------------------------------------


def authorize_body(key_id: str) -> dict[str, Any]:
    return {"relayerKeyId": key_id, "signingDigest": b64u(MESSAGE)}


@pytest.mark.parametrize("path", sorted(FAST_ROUTES))
def test_tokens(
    pair: Pair, wallet: SoftWallet, key: ClientKey, ecdsa_key: KeyHandle, path: str
) -> None:
    ed, ec = ed_token(wallet, key), ec_token(wallet, ecdsa_key)
    own, other = (ed, ec) if path.startswith(ED) else (ec, ed)
    app_token = wallet.app_token or ""
    cases: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer " + own[:-4] + "AAAA"},
        {"Authorization": f"Bearer {other}"},
        {"Authorization": f"Bearer {app_token}"},
        {"Authorization": f"Basic {own}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer    "},
        {"Authorization": ""},
        {"Authorization": f"bEaReR  {own}  "},
        {"Authorization": f"Bearer {own}", "Cookie": "junk"},
        {"Authorization": "Bearer x", "Cookie": f"{THRESHOLD_COOKIES[THRESHOLD_ED25519_KIND]}=y"},
    ]
    for headers in cases:
        # A body that never validates: the token decides 401 against 400.
        response = same(pair, "POST", path, json={"unknownField": 1}, headers=headers)
        assert response.status_code in (400, 401)
    response = same(pair, "POST", path, json={}, headers={"Authorization": f"Bearer {app_token}"})
    assert error_of(response) == (401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"


def test_an_expired_token(pair: Pair, wallet: SoftWallet, key: ClientKey) -> None:
    token = str(wallet.session(key, ttlSeconds=30)["sessionToken"])
    pair.fast.clock.advance(31)
    response = same(pair, "POST", f"{ED}/authorize", json={}, headers=bearer(token))
    assert error_of(response) == (401, "session_expired")


def test_cookie_mode_and_csrf(pair: Pair, wallet: SoftWallet, key: ClientKey) -> None:
    cookie = THRESHOLD_COOKIES[THRESHOLD_ED25519_KIND]
    minted = wallet.session(key, sessionKind="cookie")
    token = pair.fast.client.cookies[cookie]
    pair.fast.client.cookies.clear()
    csrf = str(minted["csrfToken"])
    body = authorize_body(key.relayer_key_id)
    jar = {"Cookie": f"{cookie}={token}"}
    for headers in (
        jar,
        {**jar, CSRF_HEADER: "wrong"},
        {**jar, CSRF_HEADER: ""},
        {"Cookie": f"other=1; {cookie}={token}", CSRF_HEADER: csrf + "x"},
        {"Cookie": f'{cookie}="{token}"'},
        {"Cookie": f"{THRESHOLD_COOKIES[THRESHOLD_ECDSA_KIND]}={token}", CSRF_HEADER: csrf},
    ):
        response = same(pair, "POST", f"{ED}/authorize", json=body, headers=headers)
        assert response.status_code in (401, 403)
    assert error_of(same(pair, "POST", f"{ED}/authorize", json=body, headers=jar)) == (
        403,
        "csrf_failed",
    )
    granted = same(pair, "POST", f"{ED}/authorize", json=body, headers={**jar, CSRF_HEADER: csrf})
    assert granted.status_code == 200 and granted.json()["remainingUses"] == 19
    # Two cookie headers merge, as Starlette merges them.
    split = {"Cookie": "a=1", CSRF_HEADER: csrf}
    fast = pair.fast.client.post(
        f"{ED}/authorize",
        json=body,
        headers=httpx.Headers([*split.items(), ("Cookie", f"{cookie}={token}")]),
    )
    slow = pair.slow.client.post(
        f"{ED}/authorize",
        json=body,
        headers=httpx.Headers([*split.items(), ("Cookie", f"{cookie}={token}")]),
    )
    assert_same(fast, slow)
    assert (fast.json()["remainingUses"], slow.json()["remainingUses"]) == (17, 16)


# -- bodies ---------------------------------------------------------------------------------


BAD_BODIES: list[tuple[bytes, dict[str, str]]] = [
    (b'{"relayerKeyId": "k", "signingDigest": "AAAA", "extra": 1}', {}),
    (b'{"relayerKeyId": 7, "mpcSessionId": true, "signingSessionId": 1.5}', {}),
    (b'{"relayerKeyId": "k", "signingDigest": "A+A=", "clientSignatureShare": "@@"}', {}),
    (b'{"clientEntropy": "AAAA", "clientCommitments": {"hiding": 1}}', {}),
    (b'{"relayerKeyId": "k", "intent": {"chain": "x"}, "intentDigest": "AAAA"}', {}),
    (b'{"relayerKeyId": "k", "signingDigest": "AAAA", "signRequestIndex": 99}', {}),
    (b"{not json", {}),
    (b'{"a": 1,}', {}),
    (b"", {}),
    (b"   ", {}),
    (b"[]", {}),
    (b"null", {}),
    (b'"text"', {}),
    (b"12", {}),
    (b"\xff\xfe{}", {}),
    (b'{"relayerKeyId": "\xff"}', {}),
    (b'{"relayerKeyId": "\\ud800"}', {}),
    (b'{"relayerKeyId": "k"}\x00', {}),
    (b'\xef\xbb\xbf{"relayerKeyId": "k"}', {}),
    ('{"relayerKeyId": "k"}'.encode("utf-16"), {}),
    (b'{"relayerKeyId": "k", "relayerKeyId": 1}', {}),
    (b'{"relayerKeyId": "' + b"k" * 200 + b'"}', {}),
    (b'{"relayerKeyId": "k", "signingDigest": NaN}', {}),
    (b'{"relayerKeyId": "k", "signRequestIndex": ' + b"9" * 5000 + b"}", {}),
    (b"[" * 3000 + b"]" * 3000, {}),
    (b'{"relayerKeyId": "k"}', {"content-type": "text/plain"}),
    (b'{"relayerKeyId": "k"}', {"content-type": ""}),
    (b'{"relayerKeyId": "k"}', {"content-type": "application/vnd.cosigner+json"}),
    (b'{"relayerKeyId": "k"}', {"content-type": "Application/JSON; charset=utf-8"}),
    (b'{"relayerKeyId": "k"}', {"content-type": "application/x-www-form-urlencoded"}),
    (b'{"relayerKeyId": "k"}', {"content-type": "multipart/form-data; boundary=x"}),
    (b"", {"content-type": "text/plain"}),
]


@pytest.mark.parametrize("path", sorted(FAST_ROUTES))
def test_bad_bodies(
    pair: Pair, wallet: SoftWallet, key: ClientKey, ecdsa_key: KeyHandle, path: str
) -> None:
    token = ed_token(wallet, key) if path.startswith(ED) else ec_token(wallet, ecdsa_key)
    for content, headers in BAD_BODIES:
        for auth in ({}, bearer(token)):
            request_headers = {"content-type": "application/json", **headers, **auth}
            response = same(pair, "POST", path, content=content, headers=request_headers)
            assert response.status_code in (400, 401), (content, response.text)


def test_bad_values_name_the_field(pair: Pair, wallet: SoftWallet, key: ClientKey) -> None:
    token = ed_token(wallet, key)
    body = {
        "mpcSessionId": "m",
        "relayerKeyId": key.relayer_key_id,
        "signingDigest": "not+base64url",
        "clientCommitments": {"hiding": b64u(bytes(31)), "binding": 5, "extra": 1},
    }
    response = same(pair, "POST", f"{ED}/sign/init", json=body, headers=bearer(token))
    status, code = error_of(response)
    assert (status, code) == (400, "invalid_body")
    message = response.json()["message"]
    for fragment in ("signingDigest", "clientCommitments.hiding", "clientCommitments.binding"):
        assert fragment in message
    assert "body" not in message.split(":")[0]


def test_body_limits(pair: Pair, wallet: SoftWallet, key: ClientKey) -> None:
    token = ed_token(wallet, key)
    limit = pair.fast.settings.max_body_bytes
    big = {"relayerKeyId": "k" * (limit + 1)}
    path = f"{ED}/authorize"
    assert error_of(same(pair, "POST", path, json=big, headers=bearer(token))) == (
        413,
        "body_too_large",
    )

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    fast = pair.fast.client.post(path, content=chunks(), headers=bearer(token))
    slow = pair.slow.client.post(path, content=chunks(), headers=bearer(token))
    assert_same(fast, slow)
    assert error_of(fast) == (413, "body_too_large")
    for length in (str(limit + 1), "99999999999999999999", "abc", "-1", "1.5", " 12", "0x10"):
        headers = {**bearer(token), "content-type": "application/json", "content-length": length}
        response = same(pair, "POST", path, content=b"{}", headers=headers)
        assert response.status_code in (400, 413)
    just = json.dumps(authorize_body(key.relayer_key_id)).encode()
    just += b" " * (limit - len(just))
    headers = {**bearer(token), "content-type": "application/json"}
    assert same(pair, "POST", path, content=just, headers=headers).status_code == 200


# -- errors ---------------------------------------------------------------------------------


def test_cosigner_errors(
    pair: Pair, wallet: SoftWallet, key: ClientKey, ecdsa_key: KeyHandle
) -> None:
    ed, ec = bearer(ed_token(wallet, key)), bearer(ec_token(wallet, ecdsa_key))
    commitments = {
        "hiding": b64u(ED25519.base_mul(3).to_bytes()),
        "binding": b64u(ED25519.base_mul(5).to_bytes()),
    }
    init = {
        "mpcSessionId": "unknown-id",
        "relayerKeyId": key.relayer_key_id,
        "signingDigest": b64u(MESSAGE),
        "clientCommitments": commitments,
    }
    response = same(pair, "POST", f"{ED}/sign/init", json=init, headers=ed)
    assert error_of(response) == (404, "not_found")
    finalize = {
        "signingSessionId": "unknown",
        "relayerKeyId": key.relayer_key_id,
        "clientSignatureShare": b64u(bytes(32)),
    }
    assert error_of(same(pair, "POST", f"{ED}/sign/finalize", json=finalize, headers=ed)) == (
        404,
        "not_found",
    )
    other_key = {**finalize, "relayerKeyId": "another-key"}
    assert same(pair, "POST", f"{ED}/sign/finalize", json=other_key, headers=ed).status_code == 403
    ec_init = {
        "mpcSessionId": "unknown-id",
        "relayerKeyId": ecdsa_key.relayer_key_id,
        "signingDigest": b64u(MESSAGE),
        "clientEntropy": b64u(bytes(32)),
    }
    assert error_of(same(pair, "POST", f"{EC}/sign/init", json=ec_init, headers=ec))[0] >= 400
    ec_finalize = {
        **finalize,
        "relayerKeyId": ecdsa_key.relayer_key_id,
        "clientSignatureShare": b64u((7).to_bytes(32, "big")),
    }
    assert error_of(same(pair, "POST", f"{EC}/sign/finalize", json=ec_finalize, headers=ec)) == (
        404,
        "not_found",
    )
    short = {"relayerKeyId": ecdsa_key.relayer_key_id, "signingDigest": b64u(b"short")}
    assert error_of(same(pair, "POST", f"{EC}/authorize", json=short, headers=ec)) == (
        400,
        "invalid_body",
    )


def _raise(*args: object, **kwargs: object) -> Any:
    raise RuntimeError("secret-material-0123456789")


@pytest.mark.parametrize("target", ["endpoint", "token check"])
def test_unexpected_errors(
    pair: Pair,
    wallet: SoftWallet,
    key: ClientKey,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    target: str,
) -> None:
    token = ed_token(wallet, key)
    if target == "endpoint":
        monkeypatch.setattr(ServerContext, "scheme", _raise)
    else:
        monkeypatch.setattr(TokenCodec, "verify", _raise)
    with caplog.at_level(logging.ERROR, logger="cosigner.server"):
        response = same(
            pair,
            "POST",
            f"{ED}/authorize",
            json=authorize_body(key.relayer_key_id),
            headers=bearer(token),
        )
    assert error_of(response) == (500, "internal_error")
    assert "secret-material" not in response.text
    correlation = response.headers["x-correlation-id"]
    assert correlation in response.json()["message"]
    assert any(correlation in r.getMessage() for r in caplog.records)
    assert 'errors_total{code="internal_error"} 1.0' in pair.fast.client.get("/metrics").text


# -- metrics --------------------------------------------------------------------------------


def _counters(server: Server) -> dict[str, float]:
    """The request and error counters (not ``/metrics``'s own), by labels."""
    counters = {}
    for line in server.client.get("/metrics").text.splitlines():
        if line.startswith(("cosigner_http_requests_total{", "cosigner_errors_total{")):
            labels, value = line.rsplit(" ", 1)
            if 'route="/metrics"' not in labels:
                counters[labels] = float(value)
    return counters


def test_metrics_count_fast_path_requests(pair: Pair, wallet: SoftWallet, key: ClientKey) -> None:
    token = ed_token(wallet, key)
    counted = []
    for server in (pair.fast, pair.slow):
        before = _counters(server)
        frost_sign(server, key, token)
        server.client.post(f"{ED}/authorize", json={})
        server.client.post(f"{ED}/authorize", json={}, headers=bearer(token))
        server.client.post(
            f"{EC}/sign/init", content=b"{", headers={"content-type": "application/json"}
        )
        server.client.post(f"{ED}/sign/finalize", content=b"x" * 70_000)
        server.client.get(f"{ED}/authorize")
        after = _counters(server)
        counted.append({k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k)})
    fast, slow = counted
    assert fast == slow
    requests = 'cosigner_http_requests_total{method="%s",route="%s",status="%s"}'
    assert fast == {
        requests % ("POST", f"{ED}/authorize", 200): 1.0,
        requests % ("POST", f"{ED}/sign/init", 200): 1.0,
        requests % ("POST", f"{ED}/sign/finalize", 200): 1.0,
        requests % ("POST", f"{ED}/authorize", 401): 1.0,
        requests % ("POST", f"{ED}/authorize", 400): 1.0,
        requests % ("POST", f"{EC}/sign/init", 400): 1.0,
        requests % ("POST", f"{ED}/sign/finalize", 413): 1.0,
        requests % ("GET", f"{ED}/authorize", 405): 1.0,
        'cosigner_errors_total{code="unauthorized"}': 1.0,
        'cosigner_errors_total{code="invalid_body"}': 2.0,
        'cosigner_errors_total{code="method_not_allowed"}': 1.0,
    }
    text = pair.fast.client.get("/metrics").text
    assert (
        'cosigner_http_request_duration_seconds_count{method="POST",'
        'route="/threshold-ed25519/sign/init"} 1.0'
    ) in text


# -- properties -----------------------------------------------------------------------------

_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
_FIELDS = st.sampled_from(
    [
        "mpcSessionId",
        "signingSessionId",
        "relayerKeyId",
        "signingDigest",
        "clientSignatureShare",
        "clientCommitments",
        "clientEntropy",
        "presignatureId",
        "intent",
        "intentDigest",
        "signRequestIndex",
        "signInit",
        "hiding",
        "binding",
        "payload",
        "x",
    ]
)
_B64 = st.binary(min_size=0, max_size=40).map(b64u)
JSONISH = st.recursive(
    _SCALARS | _B64 | st.sampled_from(["k", "a" * 129, "A+A=", "AAAA", "-_-_"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(_FIELDS | st.text(), inner, max_size=5)
    ),
    max_leaves=12,
)


def _encode(value: Any, style: int) -> bytes:
    text = json.dumps(value, allow_nan=True)
    return [text.encode(), text.encode("utf-16"), b" " + text.encode() + b"\n"][style]


@given(
    body=JSONISH | st.dictionaries(_FIELDS, JSONISH, max_size=6),
    style=st.integers(0, 2),
    raw=st.none() | st.binary(max_size=30),
    route=st.sampled_from(
        [
            f"{ED}/authorize",
            f"{ED}/sign/init",
            f"{ED}/sign/finalize",
            f"{EC}/authorize",
            f"{EC}/sign/init",
            f"{EC}/sign/finalize",
        ]
    ),
)
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_arbitrary_bodies_answer_alike(
    pair: Pair,
    wallet: SoftWallet,
    key: ClientKey,
    body: Any,
    style: int,
    raw: bytes | None,
    route: str,
) -> None:
    if not pair.tokens:
        pair.tokens[ED] = ed_token(wallet, key)
        pair.tokens[EC] = ec_token(wallet, wallet.client.keygen("ecdsa"))
    content = raw if raw is not None else _encode(body, style)
    token = pair.tokens[ED if route.startswith(ED) else EC]
    headers = {"content-type": "application/json", **bearer(token)}
    fast, slow = send_both(pair, "POST", route, content=content, headers=headers)
    assert fast.status_code == slow.status_code
    assert fast.json() == slow.json()


@given(body=st.dictionaries(_FIELDS, JSONISH, max_size=6))
@settings(max_examples=300, deadline=None)
def test_the_json_parser_agrees_with_json_loads(body: dict[str, Any]) -> None:
    """Whatever pydantic's JSON parser accepts validates to the same model from json.loads."""
    raw = json.dumps(body, allow_nan=True).encode()
    for model in (
        AuthorizeRequest,
        ed25519_routes.Ed25519AuthorizeRequest,
        ecdsa_routes.EcdsaAuthorizeRequest,
        ed25519_routes.SignInitRequest,
        ecdsa_routes.EcdsaSignInitRequest,
        ecdsa_routes.EcdsaSignFinalizeRequest,
    ):
        try:
            parsed = model.model_validate_json(raw)
        except ValueError:
            continue
        assert model.model_validate(json.loads(raw), from_attributes=True) == parsed


@given(value=st.text(alphabet=st.sampled_from("Bearer bearer \t\xa0\x85xyz.-"), max_size=24))
@settings(max_examples=300, deadline=None)
def test_bearer_credentials_reads_the_header_as_http_bearer(value: str) -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"authorization", value.encode("latin-1"))],
    }
    credentials = asyncio.run(deps_module.bearer(Request(scope)))
    expected = credentials.credentials if credentials is not None else None
    assert deps_module.bearer_credentials(value) == expected


def test_a_client_that_leaves_gets_no_answer(pair: Pair) -> None:
    app = pair.fast.client.app
    fast_path_routes(app)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": f"{ED}/authorize",
        "raw_path": f"{ED}/authorize".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("testserver", 443),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    assert sent == [] and pair.served == [f"{ED}/authorize"]


def test_a_wallet_signs_against_the_fast_app(pair: Pair) -> None:
    """The default app (``create_app`` without ``fast_path``) serves the ordinary client."""
    wallet = SoftWallet(pair.fast.client, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    wallet.register("carol")
    wallet.login()
    key = wallet.keygen()
    token = ed_token(wallet, key)
    granted = wallet.authorize(token, key, MESSAGE)
    signature = wallet.sign(token, key, MESSAGE, granted["mpcSessionId"])
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)
    assert pair.served[-3:] == [f"{ED}/authorize", f"{ED}/sign/init", f"{ED}/sign/finalize"]
    # The client's own signing opens the signing session in authorize: two requests.
    signature = wallet.client.sign_digest(key.handle(), MESSAGE)
    Ed25519PublicKey.from_public_bytes(key.public_key).verify(signature, MESSAGE)
    assert pair.served[-2:] == [f"{ED}/authorize", f"{ED}/sign/finalize"]
    assert len(pair.served) == 5
