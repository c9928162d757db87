"""``cosigner bench server``: co-signatures per second and latency through a real server.

A ``cosigner serve`` process (``--workers`` worker processes; by default one
over SQLite and two over PostgreSQL, see :data:`DEFAULT_WORKERS`) listens on a
free loopback port with a SQLite store in a temporary directory, then again
with a PostgreSQL store when ``COSIGNER_TEST_POSTGRES_URL`` is set (a schema
made for the run and dropped afterwards), or with ``--store-url``. This
process plays ``--clients`` users (default 16), each with its own passkey,
key and keep-alive HTTP/1.1 connection, all on one asyncio event loop (a
minimal HTTP/1.1 client: the clients share the machine's two cores with the
server, so they must cost little). A full co-signature is what the SDK does:

* FROST(Ed25519), two-party: ``authorize`` carrying the client's
  commitments in ``signInit`` (so it opens the signing session, as
  ``sign/init`` would), the client's signature share, ``sign/finalize``, and
  the client's check of the signature;
* threshold ECDSA, two-party, from a pre-filled pool: ``authorize`` whose
  ``signInit`` names a presignature whose client half the user holds, the
  client's signature share, ``sign/finalize``, and the client's recovery
  check. The pool is filled through the server's presign routes before
  anything is timed (that time is printed, not scored).

A threshold session allows 20 authorizations; a new one is minted between
co-signatures when one runs out, outside the timed co-signature.

Two phases per scheme and store, after one warm-up co-signature per client:

* saturated: every client signs back to back (closed loop); signatures per
  second is completed co-signatures over the wall time. With C clients in a
  closed loop, Little's law makes the latency C / throughput, so this
  phase's latencies are printed but not scored;
* paced: the same clients start co-signatures on a fixed schedule whose
  total rate is ``--rate`` (default 200/s, the throughput target); latency is
  measured from each co-signature's scheduled start (a late start counts, so
  a server that falls behind is not hidden), and p50 and p99 are scored.

The crypto-only cost of one co-signature is measured in this process on one
thread: both parties' arithmetic (commitments, shares, aggregation or
combination, the server's and the client's signature checks), no I/O. For
FROST it is the median of 200 rounds after 50 discarded ones; for ECDSA the
median of 48 rounds after 16 discarded ones, each round with its own
presignature made beforehand (untimed). Each scheme is measured twice at the
start and once more right after that scheme's run on each store, the fastest
so far setting the bound (the machine's speed drifts, and a slow figure would
flatter the ratio). Its inverse is the crypto bound; served throughput over
that bound shows what the server costs beyond the cryptography. The load
generator freezes its start-up objects out of the garbage collector before
timing, so its own collector pauses do not count as server latency.

During the saturated phase the bench also reads the CPU time its server
processes (the ``cosigner serve`` process and its workers) and its own
process used (on Linux, from ``/proc``), and prints both per co-signature
with the ceiling they set: the server's processes cannot use more cores
than they have workers, and with the clients on the same machine the two
together cannot use more than its cores, so no served throughput beats
``min(min(workers, cores) / server, cores / (server + clients))``. A
database server's own CPU (PostgreSQL's backends) is not counted, so on
PostgreSQL the real ceiling is lower. The line is not scored; it shows how
far the server's own cost per co-signature, not its waiting, limits the
ratio to the crypto bound.

Targets (from the issue), with 16 clients on this 2-core machine: FROST p50
at most 5 ms and p99 at most 25 ms; at least 200 co-signatures per second
per scheme; served throughput at least 40% of the crypto bound. Each scored
line ends with PASS or MISS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import secrets
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from coincurve import PublicKey as CoincurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner import __version__, ecdsa, frost
from cosigner.bench import machine_description, multisig
from cosigner.bench.multisig import BenchError, ServerProcess, percentile
from cosigner.client import ClientError, commitments_json, frost_client_share
from cosigner.client.http import b64u, unb64u

DESCRIPTION: Final = (
    "Two-party co-signatures (FROST(Ed25519), threshold ECDSA from a pre-filled pool) "
    "through a real server over loopback with concurrent clients, on SQLite and on "
    "PostgreSQL when COSIGNER_TEST_POSTGRES_URL is set: signatures per second, p50/p99 "
    "latency, and the crypto-only cost of one co-signature; PASS/MISS against FROST p50 "
    "<= 5 ms and p99 <= 25 ms, >= 200 co-signatures/s per scheme, >= 40% of the crypto bound."
)
DEFAULT_CLIENTS: Final = 16
DEFAULT_SIGNATURES: Final = 320
DEFAULT_RATE: Final = 200.0
DEFAULT_WORKERS: Final = {"sqlite": 1}
"""Server workers per store when ``--workers`` is not given; 2 for any other store.

SQLite has one write lock per file and the signing routes run on the event
loop over it, so a second worker mostly waits for the lock (measured: one
worker is faster). Over PostgreSQL a worker's thread pool waits for the
network, and two workers use both cores."""
SCHEMES: Final = ("ed25519", "ecdsa")
SCHEME_LABELS: Final = {"ed25519": "FROST(Ed25519)", "ecdsa": "ECDSA (pool)"}
TARGET_P50_MS: Final = 5.0
TARGET_P99_MS: Final = 25.0
TARGET_RATE: Final = 200.0
TARGET_BOUND_SHARE: Final = 0.40
POSTGRES_ENV: Final = "COSIGNER_TEST_POSTGRES_URL"
REQUEST_TIMEOUT_S: Final = 30.0
SESSION_USES: Final = 20
CONNECT_SPACING_S: Final = 0.02
CRYPTO_REPEAT: Final = 200
CRYPTO_WARMUP: Final = 50
"""Untimed rounds before the timed ones (see :func:`run`, which also measures twice)."""
ECDSA_CRYPTO_PRESIGNATURES: Final = 64
ECDSA_CRYPTO_WARMUP: Final = 16
_SUITE = frost.ciphersuite("ed25519")


# -- the server ---------------------------------------------------------------------------------


def start_server(workdir: Path, store_url: str, *, workers: int) -> ServerProcess:
    """``cosigner serve`` with both schemes enabled on a free loopback port; waits for /readyz."""
    return multisig.start_server(
        workdir,
        store_url,
        workers=workers,
        extra_env={"COSIGNER_SECP256K1_MASTER_SECRET": multisig.random_secret()},
        dashboard=False,
        ready_path="/readyz",
    )


@contextlib.contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one run, dropped afterwards; yields a URL that uses it."""
    import psycopg

    schema = "cosigner_bench_" + uuid.uuid4().hex[:16]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


# -- a minimal HTTP/1.1 client ------------------------------------------------------------------


class Http1:
    """One keep-alive HTTP/1.1 connection that POSTs JSON and reads JSON answers.

    Enough for this server (every answer has a ``Content-Length``) and far
    cheaper per request than a general client, so the clients' own CPU use
    stays small beside the server's.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def post(self, path: str, body: dict[str, Any], token: str | None) -> dict[str, Any]:
        reader, writer = self._reader, self._writer
        if reader is None or writer is None:
            raise BenchError("the connection is not open")
        payload = json.dumps(body, separators=(",", ":")).encode()
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n{auth}\r\n"
        )
        writer.write(head.encode() + payload)
        status_line = await asyncio.wait_for(reader.readline(), REQUEST_TIMEOUT_S)
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            raise BenchError(f"{path}: not an HTTP answer: {status_line[:80]!r}")
        status = int(parts[1])
        length = -1
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if length < 0:
            raise BenchError(f"{path}: an answer without Content-Length")
        data = json.loads(await reader.readexactly(length)) if length else {}
        if not 200 <= status < 300:
            raise BenchError(f"{path}: {status} {data.get('code')}: {data.get('message')}")
        if not isinstance(data, dict):
            raise BenchError(f"{path}: the answer is not a JSON object")
        return data


# -- users --------------------------------------------------------------------------------------


@dataclass
class User:
    """One simulated user: the SDK client used for setup, its key and its session."""

    client: Any
    key: Any
    conn: Http1
    app_token: str
    route: str
    token: str = ""
    uses: int = 0

    async def ensure_session(self) -> None:
        if self.uses > 0:
            return
        minted = await self.conn.post(
            f"{self.route}/session",
            {"relayerKeyId": self.key.relayer_key_id, "maxUses": SESSION_USES},
            self.app_token,
        )
        self.token = str(minted["sessionToken"])
        self.uses = int(minted["remainingUses"])

    async def authorize(self, digest: bytes, sign_init: dict[str, Any]) -> dict[str, Any]:
        """``authorize`` with ``signInit``, as the SDK sends it: the signing session opened."""
        self.uses -= 1
        granted = await self.conn.post(
            f"{self.route}/authorize",
            {
                "relayerKeyId": self.key.relayer_key_id,
                "signingDigest": b64u(digest),
                "signInit": sign_init,
            },
            self.token,
        )
        return dict(granted["signInit"])


def make_users(url: str, scheme: str, count: int) -> list[User]:
    from cosigner.client import CosignerClient
    from cosigner.client.client import ROUTES
    from cosigner.testing import SoftAuthenticator

    origin = url.replace("127.0.0.1", "localhost")
    host, port = url.removeprefix("http://").split(":")
    users = []
    for i in range(count):
        client = CosignerClient(url, SoftAuthenticator(origin=origin))
        client.register(f"bench-{scheme}-{i}")
        client.login()
        key = client.keygen("ecdsa" if scheme == "ecdsa" else "ed25519")
        users.append(
            User(client, key, Http1(host, int(port)), str(client.app_token), ROUTES[key.scheme])
        )
    return users


def fill_pools(users: Sequence[User], per_user: int) -> float:
    """Presign ``per_user`` presignatures for every ECDSA user, concurrently; seconds taken."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        made = list(pool.map(lambda u: u.client.refill_presignatures(u.key, per_user), users))
    if any(m != per_user for m in made):
        raise BenchError("a presign session failed while filling the pools")
    return time.perf_counter() - start


# -- one co-signature ---------------------------------------------------------------------------


async def frost_cosign(user: User) -> None:
    """Commit, authorize with the commitments, sign, finalize, verify: one FROST co-signature."""
    message = secrets.token_bytes(32)
    package = user.key.frost_package()
    nonces, commitments = frost.commit(package)
    init = await user.authorize(message, {"clientCommitments": commitments_json(commitments)})
    share = frost_client_share(package, nonces, commitments, init["relayerCommitments"], message)
    final = await user.conn.post(
        "/threshold-ed25519/sign/finalize",
        {
            "signingSessionId": init["signingSessionId"],
            "relayerKeyId": user.key.relayer_key_id,
            "clientSignatureShare": b64u(share),
        },
        user.token,
    )
    frost.verify("ed25519", user.key.public_key, message, unb64u(final["signature"]))


async def ecdsa_cosign(user: User) -> None:
    """Authorize reserving a held presignature, share, finalize, check: one ECDSA co-signature."""
    client, key = user.client, user.key
    wanted = client.oldest_presignature_id(key)
    if wanted is None:
        raise BenchError("a user ran out of presignatures")
    digest = secrets.token_bytes(32)
    client_entropy = secrets.token_bytes(32)
    init = await user.authorize(
        digest, {"clientEntropy": b64u(client_entropy), "presignatureId": wanted}
    )
    try:
        share = client.ecdsa_client_share(key, init, digest, client_entropy)
    except ClientError as exc:
        raise BenchError(str(exc)) from None
    final = await user.conn.post(
        "/threshold-ecdsa/sign/finalize",
        {
            "signingSessionId": init["signingSessionId"],
            "relayerKeyId": key.relayer_key_id,
            "clientSignatureShare": b64u(share),
        },
        user.token,
    )
    signature = unb64u(final["signature"])
    recovered = CoincurvePublicKey.from_signature_and_message(signature, digest, hasher=None)
    if recovered.format(compressed=True) != key.public_key:
        raise BenchError("an ECDSA co-signature does not recover the key")


Cosign = Callable[[User], Awaitable[None]]


# -- phases -------------------------------------------------------------------------------------


@dataclass
class Phase:
    count: int
    elapsed_s: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.elapsed_s

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


def _shares(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


async def saturated(users: Sequence[User], cosign: Cosign, total: int) -> Phase:
    """Every user signs back to back; ``total`` co-signatures in all."""
    latencies: list[float] = []

    async def run(user: User, count: int) -> None:
        for _ in range(count):
            await user.ensure_session()
            start = time.perf_counter()
            await cosign(user)
            latencies.append((time.perf_counter() - start) * 1000)

    start = time.perf_counter()
    counts = _shares(total, len(users))
    await asyncio.gather(*(run(u, n) for u, n in zip(users, counts, strict=True)))
    return Phase(total, time.perf_counter() - start, latencies)


async def paced(users: Sequence[User], cosign: Cosign, total: int, rate: float) -> Phase:
    """Co-signatures started on a fixed schedule of ``rate`` per second in all.

    Co-signature i starts at ``t0 + i / rate``, by user ``i mod C``; its
    latency runs from that scheduled start, so a late start counts.
    """
    latencies: list[float] = []
    # time.perf_counter, not the loop's clock: uvloop's has millisecond steps.
    t0 = time.perf_counter() + 0.05

    async def run(index: int, user: User) -> None:
        for i in range(index, total, len(users)):
            scheduled = t0 + i / rate
            await user.ensure_session()
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await cosign(user)
            latencies.append((time.perf_counter() - scheduled) * 1000)

    await asyncio.gather(*(run(i, u) for i, u in enumerate(users)))
    return Phase(total, time.perf_counter() - t0, latencies)


async def _with_connections(users: Sequence[User], body: Callable[[], Awaitable[Any]]) -> Any:
    # One at a time, a little apart: worker processes share one listening socket, and a
    # burst of connections is accepted by whichever worker wakes first, all of them.
    for u in users:
        await u.conn.open()
        await asyncio.sleep(CONNECT_SPACING_S)
    try:
        return await body()
    finally:
        await asyncio.gather(*(u.conn.close() for u in users))


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """``uvloop.run`` when uvloop is installed (cheaper clients), else ``asyncio.run``."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    runner: Callable[[Coroutine[Any, Any, Any]], Any] = uvloop.run
    return runner


# -- crypto only --------------------------------------------------------------------------------


def frost_crypto_ms(repeat: int = CRYPTO_REPEAT) -> float:
    """Median ms of both parties' FROST(Ed25519) arithmetic for one two-party signature."""
    from cosigner.frost import dkg

    packages, public = dkg.keygen_local(_SUITE, 2, 2)
    ids = sorted(packages)
    group_key = public.verifying_key.to_bytes()
    samples = []
    for _ in range(repeat + CRYPTO_WARMUP):
        message = secrets.token_bytes(32)
        start = time.perf_counter_ns()
        rounds = {i: frost.commit(packages[i]) for i in ids}
        commitments = {int(i): c for i, (_, c) in rounds.items()}
        shares = {}
        for i, (nonces, _) in rounds.items():
            # Each party builds the signing package and signs on its own side.
            signing_package = frost.SigningPackage(_SUITE, commitments, message)
            shares[int(i)] = frost.sign(signing_package, nonces, packages[i])
        signature = frost.aggregate(signing_package, shares, public)
        Ed25519PublicKey.from_public_bytes(group_key).verify(signature, message)
        frost.verify("ed25519", group_key, message, signature)
        samples.append(time.perf_counter_ns() - start)
    return _median_ms(samples[CRYPTO_WARMUP:])


def ecdsa_crypto_ms(count: int = ECDSA_CRYPTO_PRESIGNATURES) -> float:
    """Median ms of both parties' ECDSA arithmetic for one signature from a presignature.

    Presignatures for a throwaway two-party key are made beforehand, in this
    process (untimed), one per timed signature: none is used twice.
    """
    from cosigner.client.ecdsa import signature_share
    from cosigner.ecdsa.two_party import (
        CLIENT_ID,
        PARTICIPANTS,
        RELAYER_ID,
        flow_session_id,
        sign_entropy,
        two_party_v1_shares,
    )
    from cosigner.protocol import LocalNetwork, Message

    shares = two_party_v1_shares(secrets.randbelow(2**200) + 1, secrets.randbelow(2**200) + 1)
    public_key = shares[CLIENT_ID].public_key
    sid = hashlib.sha256(b"bench server triples").digest()
    triples = LocalNetwork(
        {
            p: ecdsa.TripleGeneration(
                session_id=sid, me=p, participants=PARTICIPANTS, threshold=2, count=2 * count
            )
            for p in PARTICIPANTS
        }
    ).run()
    key_id = "bench"
    samples = []
    for n in range(count):
        presign_sid = hashlib.sha256(f"bench server presign {n}".encode()).digest()
        presignatures = LocalNetwork(
            {
                p: ecdsa.Presign(
                    session_id=presign_sid,
                    key_share=shares[p],
                    triple0=triples[p][2 * n],
                    triple1=triples[p][2 * n + 1],
                    participants=PARTICIPANTS,
                )
                for p in PARTICIPANTS
            }
        ).run()
        digest = secrets.token_bytes(32)
        signing_session = f"s{n}"
        client_entropy, relayer_entropy = secrets.token_bytes(32), secrets.token_bytes(32)
        start = time.perf_counter_ns()
        client_share = signature_share(
            presignatures[CLIENT_ID],
            key_id=key_id,
            signing_session_id=signing_session,
            digest=digest,
            client_entropy=client_entropy,
            relayer_entropy=relayer_entropy,
        )
        sign_sid = flow_session_id("sign", key_id, signing_session)
        relayer = ecdsa.Sign(
            session_id=sign_sid,
            presignature=presignatures[RELAYER_ID],
            digest=digest,
            coordinator=RELAYER_ID,
            participants=PARTICIPANTS,
            public_key=public_key,
            entropy=sign_entropy(client_entropy, relayer_entropy),
        )
        relayer.start()
        relayer.receive(Message(ecdsa.Sign.NAME, sign_sid, 0, CLIENT_ID, RELAYER_ID, client_share))
        signature = relayer.result.to_bytes()
        for _ in ("relayer", "client"):
            recovered = CoincurvePublicKey.from_signature_and_message(
                signature, digest, hasher=None
            )
            if recovered.format(compressed=True) != public_key:
                raise BenchError("the in-process ECDSA signature does not recover the key")
        samples.append(time.perf_counter_ns() - start)
    return _median_ms(samples[ECDSA_CRYPTO_WARMUP:])


CRYPTO_COST: Final[dict[str, Callable[[], float]]] = {
    "ed25519": frost_crypto_ms,
    "ecdsa": ecdsa_crypto_ms,
}


def _ticks_of(stat: str) -> tuple[int, int]:
    """(parent pid, utime + stime in clock ticks) from one ``/proc/<pid>/stat`` line."""
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def process_tree_cpu_s(pid: int) -> float | None:
    """CPU seconds used so far by ``pid`` and its live descendants, or None off Linux."""
    proc = Path("/proc")
    if not (proc / str(pid) / "stat").exists():
        return None
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent, used = _ticks_of((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not a process
        parents[int(entry.name)], ticks[int(entry.name)] = parent, used
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent and p not in tree]
        tree.update(children)
        frontier.extend(children)
    return sum(ticks.get(p, 0) for p in tree) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """CPU per co-signature in a phase: the server's processes and this (the clients') one."""

    server_ms: float
    clients_ms: float

    def ceiling(self, workers: int, cores: int) -> float:
        """Co-signatures per second no served run can beat at these costs (see the module)."""
        return min(
            min(workers, cores) * 1000 / self.server_ms,
            cores * 1000 / (self.server_ms + self.clients_ms),
        )


def _median_ms(samples_ns: Sequence[int]) -> float:
    ordered = sorted(samples_ns)
    return ordered[len(ordered) // 2] / 1e6


# -- report -------------------------------------------------------------------------------------


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)

    def verdict(self, passed: bool, target: str, what: str) -> str:
        if not passed:
            self.missed.append(what)
        return f"{'PASS' if passed else 'MISS'} ({target})"


def _line(label: str, text: str, verdict: str = "") -> str:
    return f"    {label:<22} {text:<56} {verdict}".rstrip()


def bench_store(
    store_label: str,
    store_url: str,
    *,
    schemes: Sequence[str],
    clients: int,
    signatures: int,
    rate: float,
    workers: int | None,
    bounds: dict[str, float],
    report: Report,
    out: Callable[[str], None],
) -> None:
    run_loop = _event_loop_runner()
    if workers is None:
        workers = DEFAULT_WORKERS.get(store_url.split(":", 1)[0].lower(), 2)
    with tempfile.TemporaryDirectory(prefix="cosigner-bench-server-") as tmp:
        server = start_server(Path(tmp), store_url, workers=workers)
        try:
            out(f"  {store_label} store, `cosigner serve --workers {workers}` at {server.url}")
            for scheme in schemes:
                label = SCHEME_LABELS[scheme]
                users = make_users(server.url, scheme, clients)
                try:
                    cosign: Cosign = frost_cosign if scheme == "ed25519" else ecdsa_cosign
                    if scheme == "ecdsa":
                        per_user = 1 + 2 * -(-signatures // clients)
                        fill_s = fill_pools(users, per_user)
                        out(
                            _line(
                                label,
                                f"pool filled: {per_user * clients} presignatures in "
                                f"{fill_s:.1f} s (not scored)",
                            )
                        )

                    async def measure(
                        users: Sequence[User] = users, cosign: Cosign = cosign
                    ) -> tuple[Phase, Phase, CpuUse | None]:
                        async def body() -> tuple[Phase, Phase, CpuUse | None]:
                            await saturated(users, cosign, len(users))  # warm-up
                            # The load generator's own collector pauses would count as
                            # server latency: its long-lived objects leave the GC's sight.
                            gc.collect()
                            gc.freeze()
                            server_before = process_tree_cpu_s(server.process.pid)
                            clients_before = time.process_time()
                            full = await saturated(users, cosign, signatures)
                            clients_s = time.process_time() - clients_before
                            server_after = process_tree_cpu_s(server.process.pid)
                            cpu = None
                            if server_before is not None and server_after is not None:
                                cpu = CpuUse(
                                    (server_after - server_before) * 1000 / signatures,
                                    clients_s * 1000 / signatures,
                                )
                            steady = await paced(users, cosign, signatures, rate)
                            return full, steady, cpu

                        result: tuple[Phase, Phase, CpuUse | None] = await _with_connections(
                            users, body
                        )
                        return result

                    full, steady, cpu = run_loop(measure())
                finally:
                    for u in users:
                        u.client.close()
                verdict = report.verdict(
                    full.rate >= TARGET_RATE,
                    f">= {TARGET_RATE:g}/s",
                    f"{store_label} {label} throughput",
                )
                out(
                    _line(
                        label,
                        f"saturated: {full.rate:6.0f} sig/s, p50 {full.p50:6.1f} ms, "
                        f"p99 {full.p99:6.1f} ms",
                        verdict,
                    )
                )
                scored = scheme == "ed25519"
                text = (
                    f"paced {rate:g}/s: p50 {steady.p50:5.1f} ms, p99 {steady.p99:5.1f} ms, "
                    f"{steady.rate:4.0f}/s"
                )
                if scored:
                    verdict = report.verdict(
                        steady.p50 <= TARGET_P50_MS and steady.p99 <= TARGET_P99_MS,
                        f"p50 <= {TARGET_P50_MS:g} ms, p99 <= {TARGET_P99_MS:g} ms",
                        f"{store_label} {label} latency",
                    )
                else:
                    verdict = ""
                out(_line(label, text, verdict))
                # The machine's speed drifts (shared cores): measured again now, and the
                # fastest measurement so far sets the bound, the strictest ratio.
                again = CRYPTO_COST[scheme]()
                bounds[scheme] = max(bounds[scheme], 1000 / again)
                out(
                    _line(
                        label,
                        f"crypto only, measured again: {again:.3f} ms "
                        f"(bound now {bounds[scheme]:.0f}/s)",
                    )
                )
                share = full.rate / bounds[scheme]
                verdict = report.verdict(
                    share >= TARGET_BOUND_SHARE,
                    f">= {TARGET_BOUND_SHARE:.0%}",
                    f"{store_label} {label} share of the crypto bound",
                )
                out(
                    _line(
                        label,
                        f"served / crypto bound: {full.rate:.0f} / {bounds[scheme]:.0f} = "
                        f"{share:.1%}",
                        verdict,
                    )
                )
                if cpu is not None and cpu.server_ms > 0:
                    cores = os.cpu_count() or 1
                    ceiling = cpu.ceiling(workers, cores)
                    out(
                        _line(
                            label,
                            f"CPU per co-signature: server {cpu.server_ms:.2f} ms, "
                            f"clients {cpu.clients_ms:.2f} ms",
                        )
                    )
                    out(
                        _line(
                            label,
                            f"ceiling at that CPU ({workers} worker{'s' if workers > 1 else ''}, "
                            f"{cores} cores): {ceiling:.0f} sig/s = "
                            f"{ceiling / bounds[scheme]:.1%} of the bound",
                        )
                    )
        finally:
            server.stop()


def run(
    *,
    clients: int = DEFAULT_CLIENTS,
    signatures: int = DEFAULT_SIGNATURES,
    rate: float = DEFAULT_RATE,
    workers: int | None = None,
    schemes: Sequence[str] = SCHEMES,
    store_url: str | None = None,
    out: Callable[[str], None] = print,
) -> Report:
    report = Report()
    out(f"cosigner {__version__} bench server: {machine_description()}")
    out(
        f"  {clients} concurrent clients in this process (one asyncio loop, one keep-alive "
        f"connection each); {signatures} co-signatures per scheme and phase"
    )
    # Each measured twice, the faster kept: a fresh process runs its first few hundred
    # rounds slower, and a slow crypto figure would flatter the served / bound ratio.
    costs = {s: min(CRYPTO_COST[s](), CRYPTO_COST[s]()) for s in SCHEMES if s in schemes}
    bounds = {scheme: 1000 / ms for scheme, ms in costs.items()}
    for scheme, ms in costs.items():
        out(
            _line(
                SCHEME_LABELS[scheme],
                f"crypto only, in process, one thread: {ms:.3f} ms (bound {bounds[scheme]:.0f}/s)",
            )
        )
    common = {
        "schemes": schemes,
        "clients": clients,
        "signatures": signatures,
        "rate": rate,
        "workers": workers,
        "bounds": bounds,
        "report": report,
        "out": out,
    }
    if store_url is not None:
        bench_store(store_url.split(":", 1)[0], store_url, **common)  # type: ignore[arg-type]
    else:
        with tempfile.TemporaryDirectory(prefix="cosigner-bench-sqlite-") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            bench_store("sqlite", url, **common)  # type: ignore[arg-type]
        postgres = os.environ.get(POSTGRES_ENV)
        if postgres:
            with postgres_schema(postgres) as url:
                bench_store("postgresql", url, **common)  # type: ignore[arg-type]
        else:
            out(f"  postgresql: skipped ({POSTGRES_ENV} is not set)")
    if report.missed:
        out(f"MISS: {'; '.join(report.missed)}")
    else:
        out("all targets met")
    return report


# -- command line -------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _schemes(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in SCHEMES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"schemes are {', '.join(SCHEMES)}")
    return names


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--clients",
        type=_positive_int,
        default=DEFAULT_CLIENTS,
        help="concurrent clients (default %(default)s)",
    )
    parser.add_argument(
        "--signatures",
        type=_positive_int,
        default=DEFAULT_SIGNATURES,
        help="co-signatures per scheme and phase (default %(default)s)",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=DEFAULT_RATE,
        help="total co-signatures per second of the paced phase (default %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        help="server worker processes (default: 1 over SQLite, 2 over another store)",
    )
    parser.add_argument(
        "--schemes",
        type=_schemes,
        default=",".join(SCHEMES),
        help="comma-separated schemes (default: %(default)s)",
    )
    parser.add_argument(
        "--store-url",
        help="one store to run against instead of SQLite and then PostgreSQL "
        f"(when {POSTGRES_ENV} is set)",
    )
    parser.set_defaults(handler=handle)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``server`` under ``cosigner bench``."""
    return configure(
        subparsers.add_parser(
            "server",
            help="co-signatures per second and latency through a real server, clients concurrent",
            description=DESCRIPTION,
        )
    )


def handle(args: argparse.Namespace) -> int:
    try:
        report = run(
            clients=args.clients,
            signatures=args.signatures,
            rate=args.rate,
            workers=args.workers,
            schemes=args.schemes,
            store_url=args.store_url,
        )
    except BenchError as exc:
        print(f"cosigner bench server: {exc}", file=sys.stderr)
        return 1
    return 1 if report.missed else 0


__all__ = [
    "DEFAULT_CLIENTS",
    "BenchError",
    "Http1",
    "Report",
    "add_parser",
    "configure",
    "CpuUse",
    "ecdsa_crypto_ms",
    "frost_crypto_ms",
    "handle",
    "process_tree_cpu_s",
    "run",
    "start_server",
]
