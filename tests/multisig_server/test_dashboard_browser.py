"""The dashboard in a real browser: headless Chromium (Debian's) driven by Playwright.

``cosigner serve`` runs on a free loopback port over a SQLite file; three
owners log in with :class:`~cosigner.multisig.client.MultisigClient`, run a
2-of-3 DKG and propose a transfer. The dashboard, opened with the dashboard
token in its URL fragment, must then show each commitment and signature
share as the owners submit them, without a reload (a marker set in the
page's window survives), and the audit trail of the proposal. A group
created before the page opens and not named in its URL is listed on first
load (``GET /multisig/groups`` with the dashboard token, page by page); a
group created while the page is open appears through its event alone. The
test saves a screenshot of the page in its ``tmp_path``. With the listing
refused, "Watch a group" still adds a group by its id.

Skipped, saying why, when ``/usr/bin/chromium`` (Debian's ``chromium``
package, which ``.ci/run`` installs) or the ``playwright`` package is missing;
no browser is ever downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cosigner.multisig import Group, IdentityKey, Owner
from cosigner.multisig.client import MultisigClient
from cosigner.multisig.owner import Confirmation

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DASHBOARD_TOKEN = "dashboard-token-" + "d" * 40
STARTUP_TIMEOUT_S = 20.0
SERVE = [sys.executable, "-m", "cosigner.cli", "serve"]
UI_TIMEOUT_MS = 10_000
HOSTILE_RECIPIENT = '<img src=x onerror="window.__pwned=1">bob'

if not Path(CHROMIUM).exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')"
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _secret(byte: bytes) -> str:
    return base64.urlsafe_b64encode(byte * 32).rstrip(b"=").decode()


class Served:
    """``cosigner serve`` (uvicorn) on a free loopback port over a SQLite file; restartable."""

    def __init__(self, tmp_path: Path) -> None:
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.log_path = tmp_path / "server.log"
        self.env = {
            **os.environ,
            "COSIGNER_ENV": "production",
            "COSIGNER_STORE_URL": f"sqlite:///{tmp_path / 'cosigner.db'}",
            "COSIGNER_SESSION_SECRET": _secret(b"s"),
            "COSIGNER_ED25519_MASTER_SECRET": _secret(b"m"),
            "COSIGNER_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
            "COSIGNER_RP_ID": "localhost",
            "COSIGNER_ORIGINS": self.url,
            "COSIGNER_PURGE_INTERVAL_S": "0",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [*SERVE, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"the server exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server did not answer /healthz in time")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    server = Served(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def base_url(served: Served) -> str:
    return served.url


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Party:
    """One owner: its secrets (:class:`Owner`) and its logged-in HTTP client."""

    owner: Owner
    client: MultisigClient

    @property
    def key(self) -> bytes:
        return self.owner.public_key


def _parties(base_url: str, n: int) -> list[Party]:
    parties = []
    for i in range(n):
        identity = IdentityKey(hashlib.sha256(f"dashboard-owner-{i}".encode()).digest())
        client = MultisigClient(base_url)
        client.login(identity)
        parties.append(Party(Owner(identity), client))
    return parties


def _dkg(parties: list[Party], group: Group) -> Group:
    """Every keygen stage for every owner in turn, as the owners' clients would run it."""
    gid = group.group_id
    for p in parties:
        group = p.client.submit_round1(gid, p.owner.keygen_round1(p.client.group(gid)))
    assert group.session is not None
    session = group.session.name
    for p in parties:
        received = p.client.round1_packages(gid, session)
        group = p.client.submit_echo(gid, p.owner.keygen_echo(p.client.group(gid), received))
    for p in parties:
        group = p.client.submit_round2(gid, session, p.owner.keygen_round2(p.client.group(gid)))
    for p in parties:
        outcome = p.owner.keygen_finish(
            p.client.group(gid), p.client.round2_envelopes(gid, session)
        )
        assert isinstance(outcome, Confirmation), outcome
        group = p.client.submit_confirmation(gid, outcome)
    assert group.status == "active", group
    for p in parties:
        assert p.owner.sync(group)
    return group


def _commit(party: Party, group: Group, proposal_id: str) -> None:
    proposal = party.client.proposal(proposal_id)
    party.client.submit_commitment(proposal_id, party.owner.commit(group, proposal))


def _share(party: Party, group: Group, proposal_id: str) -> None:
    proposal = party.client.proposal(proposal_id)
    party.client.submit_share(proposal_id, party.owner.sign(group, proposal))


def _open(browser: Any, url: str, console: list[str] | None = None) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(UI_TIMEOUT_MS)
    if console is not None:
        page.on("console", lambda message: console.append(message.text))
        page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.goto(url)
    return page


def test_a_share_appears_live_on_the_open_dashboard(
    base_url: str, browser: Any, tmp_path: Path
) -> None:
    parties = _parties(base_url, 3)
    alice, bob, carol = parties
    group = alice.client.create_group([p.key for p in parties], 2)
    group = _dkg(parties, group)
    gid = group.group_id
    proposal = bob.client.propose_transfer(gid, "alice.near", 1234)
    pid = proposal.proposal_id
    hostile = carol.client.propose_transfer(gid, HOSTILE_RECIPIENT, 1)
    # Made before the page opens and not in its URL: only the listing can show it.
    earlier = carol.client.create_group([alice.key, carol.key], 2)
    expect = sync_api.expect

    console: list[str] = []
    page = _open(browser, f"{base_url}/#token={DASHBOARD_TOKEN}&group={gid}", console)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    # The token left the address bar as soon as the page read it.
    assert DASHBOARD_TOKEN not in page.url

    card = page.locator(f'article.group[data-group-id="{gid}"]')
    expect(card.locator('[data-role="threshold"]')).to_have_text("2 of 3")
    expect(card.locator(".owners li")).to_have_count(3)
    expect(card.locator(".badge").first).to_have_text("active")
    item = card.locator(f'article.proposal[data-proposal-id="{pid}"]')
    expect(item.locator(".summary")).to_have_text("nonce 0: transfer 1234 to alice.near")
    expect(item.locator('[data-role="operation"]')).to_contain_text("alice.near")
    expect(item.locator('[data-role="operation"]')).to_contain_text("1234")
    expect(item.locator('[data-role="commitments"]')).to_have_text("0 of 2")
    expect(item.locator('[data-role="shares"]')).to_have_text("0 of 2")
    listed = page.locator(f'article.group[data-group-id="{earlier.group_id}"]')
    expect(listed.locator('[data-role="threshold"]')).to_have_text("2 of 2")
    expect(listed.locator(".owners li")).to_have_count(2)
    expect(listed.locator(".badge").first).to_have_text("dkg")
    expect(listed.locator('[data-role="keygen"]')).to_contain_text("round1")
    page.evaluate("window.__loadedOnce = true")

    # Server strings are text: a recipient that looks like HTML stays text.
    odd = card.locator(f'article.proposal[data-proposal-id="{hostile.proposal_id}"]')
    expect(odd.locator('[data-role="operation"]')).to_contain_text(HOSTILE_RECIPIENT)
    expect(odd.locator("img")).to_have_count(0)
    assert page.evaluate("window.__pwned") is None

    _commit(alice, group, pid)
    expect(item.locator('[data-role="commitments"]')).to_have_text("1 of 2")
    _commit(bob, group, pid)
    expect(item.locator('[data-role="commitments"]')).to_have_text("2 of 2")
    expect(item).to_have_attribute("data-status", "signing")

    _share(alice, group, pid)
    expect(item.locator('[data-role="shares"]')).to_have_text("1 of 2")
    expect(item.locator(f'tr[data-owner="{alice.key.hex()}"]')).to_have_attribute(
        "data-signed", "yes"
    )
    expect(item.locator(f'tr[data-owner="{bob.key.hex()}"]')).to_have_attribute("data-signed", "no")
    expect(item.locator('[data-role="signed-by"]')).to_contain_text(alice.key.hex()[:8])
    assert page.evaluate("window.__loadedOnce") is True, "the page was reloaded"

    _share(bob, group, pid)
    expect(item.locator('[data-role="shares"]')).to_have_text("2 of 2")
    expect(item).to_have_attribute("data-status", "ready")
    expect(item.locator(".signature")).to_be_visible()

    item.locator("details.audit summary").click()
    expect(item.locator("details.audit li").first).to_contain_text("proposal_created")
    expect(item.locator('details.audit li[data-type="commitment_added"]')).to_have_count(2)
    expect(item.locator('details.audit li[data-type="share_added"]')).to_have_count(2)
    expect(item.locator('details.audit li[data-type="proposal_ready"]')).to_have_count(1)

    # A group created while the page is open is found through its event alone.
    second = carol.client.create_group([p.key for p in parties], 3)
    other = page.locator(f'article.group[data-group-id="{second.group_id}"]')
    expect(other.locator('[data-role="threshold"]')).to_have_text("3 of 3")
    expect(other.locator('[data-role="keygen"]')).to_contain_text("round1")
    assert page.evaluate("window.__loadedOnce") is True, "the page was reloaded"

    screenshot = tmp_path / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 10_000
    for p in parties:
        p.client.close()

    assert not any(DASHBOARD_TOKEN in line for line in console), "the token reached the console"
    problems = [line for line in console if "Content Security Policy" in line or "rror" in line]
    assert not problems, problems


def test_groups_are_listed_page_by_page_or_watched_by_id(base_url: str, browser: Any) -> None:
    expect = sync_api.expect
    alice, bob = _parties(base_url, 2)
    made = [alice.client.create_group([alice.key, bob.key], 2) for _ in range(3)]
    listing = re.compile(r"/multisig/groups\?")

    # Pages of one group (the page asks for 500): the page follows ``next`` to the end.
    asked: list[str] = []

    def one_per_page(route: Any) -> None:
        url = route.request.url.replace("limit=500", "limit=1")
        asked.append(url)
        route.continue_(url=url)

    page = browser.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.route(listing, one_per_page)
    page.goto(f"{base_url}/#token={DASHBOARD_TOKEN}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("article.group")).to_have_count(3)
    for group in made:
        expect(page.locator(f'article.group[data-group-id="{group.group_id}"]')).to_be_visible()
    # Each resync (on load, on each connection) walks from the start and stops at the last page.
    ids = sorted(g.group_id for g in made)
    pages = {
        f"{base_url}/multisig/groups?limit=1{a}" for a in ("", *(f"&after={i}" for i in ids[:2]))
    }
    assert set(asked) == pages, asked

    # A server that refuses the listing: groups come from "Watch a group" (and events).
    page = browser.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.route(
        listing,
        lambda route: route.fulfill(
            status=403, json={"code": "forbidden", "message": "no listing here"}
        ),
    )
    page.goto(f"{base_url}/#token={DASHBOARD_TOKEN}")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#no-groups")).to_be_visible()
    page.fill("#watch-input", made[1].group_id)
    page.click("#watch-form button")
    card = page.locator(f'article.group[data-group-id="{made[1].group_id}"]')
    expect(card.locator('[data-role="threshold"]')).to_have_text("2 of 2")
    expect(page.locator("article.group")).to_have_count(1)
    expect(page.locator("#no-groups")).to_be_hidden()
    page.fill("#watch-input", "g_missing")
    page.click("#watch-form button")
    expect(page.locator("#notice")).to_have_text("There is no group g_missing.")
    assert "g_missing" not in page.evaluate("localStorage.getItem('cosigner.dashboard.groups')")
    alice.client.close()
    bob.client.close()


def test_the_page_reconnects_after_the_server_restarts(served: Served, browser: Any) -> None:
    expect = sync_api.expect
    page = _open(browser, f"{served.url}/#token={DASHBOARD_TOKEN}")
    connection = page.locator("#connection")
    expect(connection).to_have_attribute("data-state", "live")
    page.evaluate("window.__loadedOnce = true")

    served.stop()
    expect(connection).to_have_attribute("data-state", "reconnecting")
    expect(connection).to_contain_text("retrying in")
    served.start()
    expect(connection).to_have_attribute("data-state", "live", timeout=20_000)

    # The new connection carries events: a group created now shows up.
    (alice, bob) = _parties(served.url, 2)
    group = alice.client.create_group([alice.key, bob.key], 2)
    card = page.locator(f'article.group[data-group-id="{group.group_id}"]')
    expect(card.locator('[data-role="threshold"]')).to_have_text("2 of 2")
    assert page.evaluate("window.__loadedOnce") is True, "the page was reloaded"
    alice.client.close()
    bob.client.close()


def test_a_wrong_token_asks_for_another(base_url: str, browser: Any) -> None:
    expect = sync_api.expect
    page = _open(browser, f"{base_url}/#token=not-the-token")
    expect(page.locator("#token-panel")).to_be_visible()
    expect(page.locator("#token-error")).to_contain_text("refused")
    expect(page.locator("#connection")).to_have_attribute("data-state", "unauthorized")
    assert page.evaluate("sessionStorage.length") == 0
    page.fill("#token-input", DASHBOARD_TOKEN)
    page.click("#token-form button")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    expect(page.locator("#main")).to_be_visible()
    page.click("#forget-token")
    expect(page.locator("#token-panel")).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0
