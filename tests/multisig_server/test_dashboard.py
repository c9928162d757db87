"""The dashboard's page and assets, in process: what ``/`` serves and with which headers.

The browser test (``test_dashboard_browser.py``) checks the page works; this
one checks, without a browser, that the page loads only its own script and
stylesheet, that every response carries the Content-Security-Policy, and that
the script never hands server data to the HTML parser.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette asks for httpx2; the TestClient works as is
    from fastapi.testclient import TestClient

from cosigner.server import Secret, Settings, create_app
from cosigner.server.routes.dashboard import ASSETS, CONTENT_SECURITY_POLICY, asset
from cosigner.store.memory import MemoryStore


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(
        session_secret=Secret(b"s" * 32),
        ed25519_master_secret=Secret(b"m" * 32),
        store_url="memory://dashboard-test",
        purge_interval_s=0,
    )
    with TestClient(create_app(settings, MemoryStore())) as test_client:
        yield test_client


def _csp(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_the_page_is_served_at_the_root_with_a_strict_policy(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    policy = _csp(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.content == asset("index.html")


def test_the_page_loads_only_its_own_assets(client: TestClient) -> None:
    html = client.get("/").text
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts == [(' src="/dashboard/dashboard.js" defer', "")]
    assert re.findall(r'<link rel="stylesheet" href="([^"]+)">', html) == [
        "/dashboard/dashboard.css"
    ]
    assert "style=" not in html and " on" not in html.replace(" one", "")
    for path, media_type in (
        ("/dashboard/dashboard.js", "text/javascript; charset=utf-8"),
        ("/dashboard/dashboard.css", "text/css; charset=utf-8"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == media_type
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert response.content == asset(path.rsplit("/", 1)[1])


def test_only_the_listed_assets_exist(client: TestClient) -> None:
    assert set(ASSETS) == {"index.html", "dashboard.css", "dashboard.js"}
    for path in ("/dashboard/index.html", "/dashboard/../app.py", "/dashboard/", "/static/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "not_found"
    with pytest.raises(KeyError):
        asset("../routes/dashboard.py")
    assert "/" not in client.get("/openapi.json").json()["paths"]


def test_the_script_writes_text_never_html() -> None:
    script = asset("dashboard.js").decode()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
    assert "console." not in script  # nothing is logged, the token least of all
