"""Two real ``cosigner serve`` processes sharing one store, PostgreSQL and then Redis.

Both instances run with the same secrets on free loopback ports, over a
store of their own for the test (a PostgreSQL schema, a Redis namespace).
One :class:`~cosigner.client.CosignerClient` is given both URLs: its
:class:`~cosigner.client.http.FailoverTransport` sends each request to the
next instance in turn, and a request whose connection fails to the other.

* register, log in, keygen (ECDSA), presign with the steps alternating
  between the instances, sign; then a second presign during which instance
  A is SIGKILLed after two steps: the client finishes it on B, from the
  stored state (one presign session, not a new one), and signs;
* A dies right after a presign step's compare-and-swap won
  (``COSIGNER_TESTING_FAULT=after_presign_cas``): the answer is lost with
  it, the client sends the same step to B, and B answers it from the stored
  step; the presign finishes without starting over;
* A dies right after ``sign/finalize`` consumed the presignature
  (``COSIGNER_TESTING_FAULT=after_consume``): the client's repeat of that
  ``sign/finalize`` on B is refused (``not_found``), as is any later try of
  the same signing session, and the presignature is never offered again
  (``pool_empty`` when named); the client signs with a fresh one, and the
  store shows both presignatures consumed and one signature.

Every process is killed at teardown, whatever happened.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from coincurve import PublicKey as CoincurvePublicKey

from cosigner.client import CosignerClient, KeyHandle
from cosigner.client.http import RETRIED, FailoverTransport, b64u, bearer
from cosigner.store import PresignatureStatus, open_store
from cosigner.testing import SoftAuthenticator

POSTGRES_ENV = "COSIGNER_TEST_POSTGRES_URL"
REDIS_ENV = "COSIGNER_TEST_REDIS_URL"
ORIGIN = "https://wallet.example"
RP_ID = "wallet.example"
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0


def _secret(byte: bytes) -> str:
    return base64.urlsafe_b64encode(byte * 32).rstrip(b"=").decode()


SECRETS = {
    "COSIGNER_SESSION_SECRET": _secret(b"s"),
    "COSIGNER_ED25519_MASTER_SECRET": _secret(b"m"),
    "COSIGNER_SECP256K1_MASTER_SECRET": _secret(b"k"),
}


def _server_url(env: str) -> str:
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"{env} is not set: two instances need a shared store server (see .ci/run)")
    return url


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def _postgres_schema(url: str) -> Iterator[str]:
    import psycopg

    schema = "cosigner_multi_" + uuid.uuid4().hex[:16]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@contextmanager
def _redis_namespace(url: str) -> Iterator[str]:
    import redis

    namespace = "multi-" + uuid.uuid4().hex[:16]
    try:
        yield f"{url}{'&' if '?' in url else '?'}namespace={namespace}"
    finally:
        with redis.Redis.from_url(url) as client:
            keys = list(client.scan_iter(match=f"cosigner:{{{namespace}}}:*", count=1000))
            if keys:
                client.delete(*keys)


@pytest.fixture(params=["postgresql", "redis"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A store of this test's own, on the shared PostgreSQL or Redis server."""
    if request.param == "postgresql":
        with _postgres_schema(_server_url(POSTGRES_ENV)) as url:
            yield url
    else:
        with _redis_namespace(_server_url(REDIS_ENV)) as url:
            yield url


@dataclass
class Instance:
    """One ``cosigner serve`` process."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no answer to anything in flight."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT_S)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def _start(name: str, store_url: str, tmp_path: Path, faults: str) -> Instance:
    port = _free_port()
    env = {
        **os.environ,
        **SECRETS,
        "COSIGNER_ENV": "production",
        "COSIGNER_STORE_URL": store_url,
        "COSIGNER_RP_ID": RP_ID,
        "COSIGNER_ORIGINS": ORIGIN,
        "COSIGNER_TESTING": "1",
        "COSIGNER_TESTING_FAULT": faults,
    }
    log_path = tmp_path / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
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
    return Instance(name, f"http://127.0.0.1:{port}", process, log_path)


def _wait_ready(instance: Instance) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if instance.process.poll() is not None:
            pytest.fail(f"instance {instance.name} exited: {instance.log()}")
        try:
            if httpx.get(f"{instance.url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"instance {instance.name} did not answer /readyz in time")
        time.sleep(0.05)


@pytest.fixture
def two_instances(
    store_url: str, tmp_path: Path
) -> Iterator[Callable[..., tuple[Instance, Instance]]]:
    """Start A and B (A with the given armed faults) on the test's store; always stopped."""
    started: list[Instance] = []

    def start(*, faults_a: str = "") -> tuple[Instance, Instance]:
        a = _start("a", store_url, tmp_path, faults_a)
        started.append(a)
        b = _start("b", store_url, tmp_path, "")
        started.append(b)
        _wait_ready(a)
        _wait_ready(b)
        return a, b

    yield start
    for instance in started:
        if instance.process.poll() is None:
            instance.process.kill()
        instance.process.wait(timeout=STOP_TIMEOUT_S)


@dataclass
class Served:
    """One request as the client sent it: where it went first, whether it was repeated."""

    path: str
    first: int
    retried: bool
    status: int
    body: dict[str, object]
    token: str | None

    @property
    def instance(self) -> int:
        return 1 - self.first if self.retried else self.first


@dataclass
class Recorder:
    """Watches the requests and steers some of them; ``on_answer`` runs after each answer."""

    prefer: dict[str, int] = field(default_factory=dict)
    on_answer: Callable[[Served], None] = lambda served: None
    log: list[Served] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def served(self, path: str) -> list[Served]:
        return [s for s in self.log if s.path.endswith(path)]


class RecordingTransport(FailoverTransport):
    """Round robin over two instances, except paths the recorder pins to one first."""

    def __init__(self, base_urls: list[str], recorder: Recorder) -> None:
        super().__init__(base_urls)
        self.recorder = recorder
        self._first: dict[int, int] = {}

    def first(self, request: httpx.Request) -> int:
        index = super().first(request)
        for suffix, pinned in self.recorder.prefer.items():
            if request.url.path.endswith(suffix):
                index = pinned
        self._first[id(request)] = index
        return index

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        content = request.read()
        auth = request.headers.get("authorization", "")
        served = Served(
            path=request.url.path,
            first=self._first.pop(id(request)),
            retried=bool(response.extensions.get(RETRIED)),
            status=response.status_code,
            body=json.loads(content) if content else {},
            token=auth.removeprefix("Bearer ") or None,
        )
        with self.recorder.lock:
            self.recorder.log.append(served)
        self.recorder.on_answer(served)
        return response


def _client(a: Instance, b: Instance, recorder: Recorder) -> CosignerClient:
    transport = RecordingTransport([a.url, b.url], recorder)
    http = httpx.Client(base_url=a.url, transport=transport, timeout=30.0)
    return CosignerClient(http, SoftAuthenticator(origin=ORIGIN), rp_id=RP_ID)


def _signed_in(client: CosignerClient) -> KeyHandle:
    client.register("multi")
    client.login()
    return client.keygen("ecdsa")


def _check_signature(key: KeyHandle, digest: bytes, signature: bytes) -> None:
    recovered = CoincurvePublicKey.from_signature_and_message(signature, digest, hasher=None)
    assert recovered.format(compressed=True) == key.public_key


def test_alternating_instances_and_a_sigkill_in_the_middle_of_a_presign(
    two_instances: Callable[..., tuple[Instance, Instance]], store_url: str
) -> None:
    a, b = two_instances()
    recorder = Recorder()
    with _client(a, b, recorder) as client:
        key = _signed_in(client)
        assert {s.instance for s in recorder.log} == {0, 1}
        # Presign with the steps alternating between the instances, then sign.
        assert client.refill_presignatures(key, 1) == 1
        steps = recorder.served("/presign/step")
        assert len(steps) >= 4 and all(s.status == 200 and not s.retried for s in steps)
        assert [s.instance for s in steps[:4]] in ([0, 1, 0, 1], [1, 0, 1, 0])
        digest = os.urandom(32)
        _check_signature(key, digest, client.sign_digest(key, digest))

        # A second presign: A is killed once two of its steps were answered.
        recorder.log.clear()

        def kill_a_after_two_steps(served: Served) -> None:
            if served.path.endswith("/presign/step") and len(recorder.served("/step")) == 2:
                a.kill()

        recorder.on_answer = kill_a_after_two_steps
        assert client.refill_presignatures(key, 1) == 1
        assert a.process.returncode == -signal.SIGKILL
        assert len(recorder.served("/presign/init")) == 1  # finished, not started over
        steps = recorder.served("/presign/step")
        assert {s.instance for s in steps[:2]} == {0, 1}
        after = steps[2:]
        assert after and all(s.status == 200 and s.instance == 1 for s in after)
        assert any(s.retried for s in after)  # A refused the connection: B took the same step
        digest = os.urandom(32)
        _check_signature(key, digest, client.sign_digest(key, digest))

    with open_store(store_url) as store:
        kinds = [e.kind for e in store.audit.entries(limit=1000)]
        assert store.audit.verify_chain() == len(kinds)
    assert kinds.count("presignature") == 2 and kinds.count("signature") == 2


def test_a_presign_step_whose_answer_died_with_its_instance_is_answered_again(
    two_instances: Callable[..., tuple[Instance, Instance]],
) -> None:
    a, b = two_instances(faults_a="after_presign_cas")
    recorder = Recorder()
    with _client(a, b, recorder) as client:
        key = _signed_in(client)
        assert client.refill_presignatures(key, 1) == 1
        assert a.process.wait(timeout=STOP_TIMEOUT_S) == -signal.SIGKILL  # died on a step
        assert len(recorder.served("/presign/init")) == 1
        # A performed one step and died before answering; B answered the same request from
        # the stored step (without the replay it would be stale, and the client would start
        # over with a second presign/init).
        steps = recorder.served("/presign/step")
        died_on = next(s for s in steps if s.first == 0)
        assert died_on.retried and died_on.status == 200
        assert all(s.status == 200 for s in steps)
        assert [s.body["expectedVersion"] for s in steps] == list(range(1, len(steps) + 1))
        digest = os.urandom(32)
        _check_signature(key, digest, client.sign_digest(key, digest))


def test_a_kill_right_after_consume_never_allows_a_second_signature(
    two_instances: Callable[..., tuple[Instance, Instance]], store_url: str
) -> None:
    a, b = two_instances(faults_a="after_consume")
    # sign/finalize goes to A first; everything else alternates.
    recorder = Recorder(prefer={"/sign/finalize": 0})
    with _client(a, b, recorder) as client:
        key = _signed_in(client)
        assert client.refill_presignatures(key, 2) == 2
        digest = os.urandom(32)
        signature = client.sign_digest(key, digest)
        _check_signature(key, digest, signature)
        assert a.process.wait(timeout=STOP_TIMEOUT_S) == -signal.SIGKILL

        # The SDK opens each signing session in authorize (signInit): no sign/init request.
        assert not recorder.served("/sign/init")
        inits = [s for s in recorder.served("/authorize") if s.status == 200]
        finals = recorder.served("/sign/finalize")
        assert len(inits) == 2 and len(finals) == 2
        assert all("signInit" in s.body for s in inits)
        # The first finalize: A consumed and died; its repeat on B was refused.
        first, second = finals
        assert (first.first, first.retried, first.status) == (0, True, 404)
        assert (second.retried, second.status) == (True, 200)  # A refused: B signed
        spent = str(inits[0].body["signInit"]["presignatureId"])  # type: ignore[index]
        fresh = str(inits[1].body["signInit"]["presignatureId"])  # type: ignore[index]
        assert spent != fresh

        # Any later try of the dead signing session is refused, on the live instance.
        again = httpx.post(
            f"{b.url}/threshold-ecdsa/sign/finalize",
            json=first.body,
            headers=bearer(str(first.token)),
            timeout=10.0,
        )
        assert (again.status_code, again.json()["code"]) == (404, "not_found")
        # The consumed presignature is never offered again, even when named.
        token = client.connect_session(key).token
        granted = client.api.post(
            "/threshold-ecdsa/authorize",
            {"relayerKeyId": key.relayer_key_id, "signingDigest": b64u(digest)},
            token,
        )
        named = httpx.post(
            f"{b.url}/threshold-ecdsa/sign/init",
            json={
                "mpcSessionId": granted["mpcSessionId"],
                "relayerKeyId": key.relayer_key_id,
                "signingDigest": b64u(digest),
                "clientEntropy": b64u(os.urandom(32)),
                "presignatureId": spent,
            },
            headers=bearer(token),
            timeout=10.0,
        )
        assert (named.status_code, named.json()["code"]) == (503, "pool_empty")

    with open_store(store_url) as store:
        pool = store.presignatures
        assert pool.status(key.relayer_key_id, spent) is PresignatureStatus.CONSUMED
        assert pool.status(key.relayer_key_id, fresh) is PresignatureStatus.CONSUMED
        assert pool.available(key.relayer_key_id) == 0
        signatures = [
            e.data_json() for e in store.audit.entries(limit=1000) if e.kind == "signature"
        ]
    # The signature made with the spent presignature never left A, but its audit entry was
    # committed with the consumption, before anything could leave: the log holds every
    # signature the relayer made, delivered or not, and each presignature once.
    assert [s["presignatureId"] for s in signatures] == [spent, fresh]


def test_fault_points_fire_only_when_testing_is_on() -> None:
    """``COSIGNER_TESTING_FAULT`` alone does nothing: a stray variable cannot crash a server."""
    from cosigner.server import faults

    # The module alone (it imports nothing of cosigner), so each process starts quickly.
    code = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('f', "
        "sys.argv[1]); module = importlib.util.module_from_spec(spec); "
        "spec.loader.exec_module(module); module.fault_point('after_consume')"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("COSIGNER_TESTING")}
    cases = [
        ({"COSIGNER_TESTING_FAULT": "after_consume"}, 0),
        ({"COSIGNER_TESTING": "1", "COSIGNER_TESTING_FAULT": "after_presign_cas"}, 0),
        ({"COSIGNER_TESTING": "1", "COSIGNER_TESTING_FAULT": "x, after_consume"}, -signal.SIGKILL),
    ]
    for extra, expected in cases:
        done = subprocess.run(
            [sys.executable, "-c", code, faults.__file__],
            env={**base, **extra},
            timeout=60,
            check=False,
        )
        assert done.returncode == expected, extra
