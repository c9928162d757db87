"""Schemathesis against ``/openapi.json``: no 5xx, and every response fits the schema.

Bounded: a few examples per operation. Requests carry real tokens (an app
session, and a threshold session for the routes that need one), so the
generated bodies reach the handlers rather than stopping at a 401.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_support import ORIGIN, RP_ID, TestClient, make_settings

from cosigner.server import create_app
from cosigner.store.memory import MemoryStore
from cosigner.testing import SoftAuthenticator, SoftWallet

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    # Google is on (its JWKS served here), so no route answers a 503 for being disabled.
    _jwks = httpx.MockTransport(lambda request: httpx.Response(200, json={"keys": []}))
    APP = create_app(
        make_settings(google_client_ids=("fuzz.apps.example",)),
        MemoryStore(),
        google_http=httpx.Client(transport=_jwks),
    )
    _client = TestClient(APP, base_url=ORIGIN)
    _wallet = SoftWallet(_client, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)
    _wallet.register("fuzz")
    _wallet.login()
    _key = _wallet.keygen()
    APP_TOKEN = _wallet.app_token or ""
    THRESHOLD_TOKEN = _wallet.session(_key)["sessionToken"]
    _ecdsa_key = _wallet.client.keygen("ecdsa")
    ECDSA_TOKEN = _wallet.client.connect_session(_ecdsa_key).token

schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.phases.coverage.enabled = False
schema.config.phases.stateful.enabled = False

THRESHOLD_ROUTES = ("/threshold-ed25519/authorize", "/threshold-ed25519/sign/")
ECDSA_ROUTES = (
    "/threshold-ecdsa/authorize",
    "/threshold-ecdsa/sign/",
    "/threshold-ecdsa/presign/",
    "/threshold-ecdsa/presignatures",
)
CHECKS: list[Any] = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms(case: Any) -> None:
    token = THRESHOLD_TOKEN if case.path.startswith(THRESHOLD_ROUTES) else APP_TOKEN
    if case.path.startswith(ECDSA_ROUTES):
        token = ECDSA_TOKEN
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
    case.call_and_validate(checks=CHECKS)
