"""Real processes for the multisig tests: ``cosigner serve`` instances and CLI owners.

Servers listen on free 127.0.0.1 ports; owners are ``cosigner multisig``
processes, each with its own ``--home`` in a temporary directory and the
passphrase in ``COSIGNER_PASSPHRASE``. Every process a test starts is
terminated when the test ends (:class:`Processes`).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from cosigner import frost
from cosigner.multisig.e2e import Envelope, open_envelope
from cosigner.multisig.identity import IdentityKey, open_secret, sealed_metadata
from cosigner.multisig.owner import KEYS_PURPOSE

STARTUP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0
PASSPHRASE = "correct horse battery staple"
SUITE = frost.ciphersuite("ed25519")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def secret(byte: bytes) -> str:
    return base64.urlsafe_b64encode(byte * 32).rstrip(b"=").decode()


DASHBOARD_TOKEN = secret(b"d")


@dataclass
class Processes:
    """Every process a test started; :meth:`stop_all` terminates the ones still running."""

    started: list[subprocess.Popen[Any]] = field(default_factory=list)

    def add(self, process: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.terminate()
        for process in self.started:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def processes() -> Iterator[Processes]:
    found = Processes()
    try:
        yield found
    finally:
        found.stop_all()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[Any]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(procs: Processes, workdir: Path, store_url: str, name: str = "server") -> Server:
    """``cosigner serve`` on a free port; secrets shared by every instance of a test."""
    port = free_port()
    env = {
        **os.environ,
        "COSIGNER_ENV": "production",
        "COSIGNER_STORE_URL": store_url,
        "COSIGNER_SESSION_SECRET": secret(b"s"),
        "COSIGNER_ED25519_MASTER_SECRET": secret(b"m"),
        "COSIGNER_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
        "COSIGNER_RP_ID": "localhost",
        "COSIGNER_ORIGINS": f"http://localhost:{port}",
        "COSIGNER_MULTISIG_EXPIRE_INTERVAL_S": "1",
    }
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = procs.add(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cosigner.cli",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited: {server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not answer /healthz in time")
        time.sleep(0.05)


@dataclass
class CliOwner:
    """One owner: a home directory and the server it talks to."""

    name: str
    home: Path
    server: str
    procs: Processes
    key: bytes = b""

    def _argv(self, command: str, *args: str) -> list[str]:
        return [
            sys.executable,
            "-m",
            "cosigner.cli",
            "multisig",
            command,
            "--home",
            str(self.home),
            "--server",
            self.server,
            *args,
        ]

    def _env(self) -> dict[str, str]:
        return {**os.environ, "COSIGNER_PASSPHRASE": PASSPHRASE}

    def start(self, command: str, *args: str) -> subprocess.Popen[str]:
        """The command as a running process (stdout and stderr piped)."""
        return self.procs.add(
            subprocess.Popen(
                self._argv(command, *args),
                env=self._env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )

    def run(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        return finish(self.start(command, *args))

    def ok(self, command: str, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.run(command, *args)
        assert done.returncode == 0, f"{self.name} {command}: {done.stderr}\n{done.stdout}"
        return done

    def ok_json(self, command: str, *args: str) -> Any:
        return json.loads(self.ok(command, *args, "--json").stdout.strip().splitlines()[-1])

    # what the owner's files hold (the test reads them with the passphrase)

    def identity(self) -> IdentityKey:
        return IdentityKey.unseal((self.home / "identity.json").read_bytes(), PASSPHRASE)

    def key_package(self, group_id: str) -> frost.KeyPackage:
        blob = (self.home / "keys" / f"{group_id}.json").read_bytes()
        secret_bytes = open_secret(KEYS_PURPOSE, blob, PASSPHRASE)
        n = int.from_bytes(secret_bytes[:4], "big")
        return frost.KeyPackage.from_bytes(secret_bytes[4 : 4 + n])

    def sealed_public_key(self) -> bytes:
        _, public = sealed_metadata((self.home / "identity.json").read_bytes())
        return bytes.fromhex(public["public_key"])


def finish(
    process: subprocess.Popen[str], timeout: float = CLI_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"timed out: {process.args}\n{err}\n{out}") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def make_owners(procs: Processes, root: Path, servers: list[str], n: int) -> list[CliOwner]:
    """n owners (servers assigned in turn) with sealed identities, created in parallel."""
    owners = [
        CliOwner(f"owner{i}", root / f"owner{i}", servers[i % len(servers)], procs)
        for i in range(n)
    ]
    started = [o.start("init", "--kdf", "interactive", "--json") for o in owners]
    for owner, process in zip(owners, started, strict=True):
        done = finish(process)
        assert done.returncode == 0, done.stderr
        owner.key = bytes.fromhex(json.loads(done.stdout)["owner"])
        assert owner.sealed_public_key() == owner.key
    return owners


def run_parallel(
    owners: list[CliOwner], command: str, *args: str
) -> list[subprocess.CompletedProcess[str]]:
    started = [o.start(command, *args) for o in owners]
    return [finish(p) for p in started]


# -- secret values, and scanning stored bytes for them ------------------------------------------


def scalar_encodings(value: int) -> list[bytes]:
    """Every way a share could sit in a database: raw, hex, base64, decimal."""
    little = SUITE.encode_scalar(value)
    big = little[::-1]
    out: list[bytes] = []
    for raw in (little, big):
        out.append(raw)
        out.append(raw.hex().encode())
        out.append(raw.hex().upper().encode())
        out.append(base64.b64encode(raw).rstrip(b"="))
        out.append(base64.urlsafe_b64encode(raw).rstrip(b"="))
    out.append(str(value).encode())
    return out


def envelope_shares(envelopes: list[bytes], identities: dict[bytes, IdentityKey]) -> list[int]:
    """The part-two shares inside the stored envelopes, opened with their recipients' keys."""
    shares = []
    for raw in envelopes:
        envelope = Envelope.from_bytes(raw)
        plaintext = open_envelope(identities[envelope.recipient], envelope)
        shares.append(frost.Round2Package.from_bytes(plaintext).signing_share)
    return shares


def find_any(haystack: bytes, needles: list[bytes]) -> list[bytes]:
    return [n for n in needles if n in haystack]


# -- WebSocket listeners --------------------------------------------------------------------------


class EventListener:
    """A thread that collects every event a WebSocket delivers (after ``subscribed``)."""

    def __init__(self, url: str, token: str, name: str) -> None:
        from websockets.sync.client import connect

        self.name = name
        ws_url = url.replace("http://", "ws://", 1) + "/multisig/ws"
        self._socket = connect(
            ws_url, additional_headers={"Authorization": f"Bearer {token}"}, proxy=None
        ).__enter__()
        hello = json.loads(self._socket.recv(timeout=10))
        assert hello["type"] == "subscribed", hello
        self.role = hello["data"]["role"]
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            for message in self._socket:
                with self._lock:
                    self.events.append(json.loads(message))
        except ConnectionClosed:
            pass

    def ids(self) -> set[str]:
        with self._lock:
            return {e["id"] for e in self.events}

    def types(self) -> list[str]:
        with self._lock:
            return [e["type"] for e in self.events]

    def wait_for(self, ids: set[str], timeout: float = 10.0) -> set[str]:
        """Wait until every id in ``ids`` arrived; returns the missing ones."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            missing = ids - self.ids()
            if not missing:
                return set()
            time.sleep(0.05)
        return ids - self.ids()

    def close(self) -> None:
        self._socket.close()
        self._thread.join(timeout=5)
