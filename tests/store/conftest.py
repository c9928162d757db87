"""Backends for the store contract suite.

Every contract test runs once per backend: memory, SQLite (a file in
``tmp_path``), PostgreSQL and Redis. PostgreSQL and Redis run over real
connections to the servers named by ``COSIGNER_TEST_POSTGRES_URL`` and
``COSIGNER_TEST_REDIS_URL`` and are skipped, saying so, when those are unset.
Each test gets a fresh namespace, removed afterwards, so tests never see each
other's rows; PostgreSQL tables live in a schema made for the test run and
dropped at its end. ``harness.open()`` opens another instance on the same data (a
second server); ``harness.tamper_audit`` and friends reach into the backend
directly, as an attacker with database access would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cosigner.store import Store, open_store
from cosigner.store.migrations import TABLES

POSTGRES_ENV = "COSIGNER_TEST_POSTGRES_URL"
REDIS_ENV = "COSIGNER_TEST_REDIS_URL"
BACKENDS = ("memory", "sqlite", "postgresql", "redis")


class FakeClock:
    """Milliseconds that move only when a test says so."""

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now = start_ms
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._now

    def advance(self, ms: int) -> None:
        with self._lock:
            self._now += ms


@dataclass
class Harness:
    """One backend under test, for one test."""

    name: str
    url: str
    namespace: str
    clock: FakeClock
    _tamper: Callable[[Store, int, str], None]
    _delete_entry: Callable[[Store, int], None]
    _cleanup: Callable[[str], None] = lambda ns: None
    _finish: Callable[[], None] = lambda: None
    _opened: list[Store] = field(default_factory=list)
    _namespaces: set[str] = field(default_factory=set)

    def open(self, namespace: str | None = None) -> Store:
        ns = namespace or self.namespace
        self._namespaces.add(ns)
        store = open_store(self.url, namespace=ns, clock=self.clock)
        self._opened.append(store)
        return store

    def tamper_audit(self, store: Store, seq: int, data: str) -> None:
        """Rewrite the ``data`` of audit entry ``seq`` in the backend itself."""
        self._tamper(store, seq, data)

    def delete_audit_entry(self, store: Store, seq: int) -> None:
        self._delete_entry(store, seq)

    def close(self) -> None:
        for store in self._opened:
            store.close()
        for ns in self._namespaces:
            self._cleanup(ns)
        self._finish()


def _memory(ns: str, clock: FakeClock) -> Harness:
    def tamper(store: Store, seq: int, data: str) -> None:
        log = store._state.audit  # type: ignore[attr-defined]
        log[seq - 1] = dataclasses.replace(log[seq - 1], data=data)

    def delete(store: Store, seq: int) -> None:
        del store._state.audit[seq - 1]  # type: ignore[attr-defined]

    return Harness("memory", f"memory://{ns}", ns, clock, tamper, delete)


def _sqlite(ns: str, clock: FakeClock, path: Path) -> Harness:
    def run(sql: str, *params: Any) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(sql, params)

    def tamper(store: Store, seq: int, data: str) -> None:
        run("UPDATE cosigner_audit_log SET data = ? WHERE namespace = ? AND seq = ?", data, ns, seq)

    def delete(store: Store, seq: int) -> None:
        run("DELETE FROM cosigner_audit_log WHERE namespace = ? AND seq = ?", ns, seq)

    return Harness("sqlite", f"sqlite:///{path}", ns, clock, tamper, delete)


def _postgres(ns: str, clock: FakeClock, url: str) -> Harness:
    import psycopg

    def run(sql: str, *params: Any) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.encode(), params)

    def tamper(store: Store, seq: int, data: str) -> None:
        run(
            "UPDATE cosigner_audit_log SET data = %s WHERE namespace = %s AND seq = %s",
            data,
            ns,
            seq,
        )

    def delete(store: Store, seq: int) -> None:
        run("DELETE FROM cosigner_audit_log WHERE namespace = %s AND seq = %s", ns, seq)

    def cleanup(namespace: str) -> None:
        for table in TABLES:
            run(f"DELETE FROM {table} WHERE namespace = %s", namespace)

    return Harness("postgresql", url, ns, clock, tamper, delete, cleanup)


def _redis(ns: str, clock: FakeClock, url: str) -> Harness:
    import redis

    client = redis.Redis.from_url(url)
    entries = f"cosigner:{{{ns}}}:audit:entries"

    def tamper(store: Store, seq: int, data: str) -> None:
        entry = json.loads(client.hget(entries, str(seq)))  # type: ignore[arg-type]
        entry["data"] = data
        client.hset(entries, str(seq), json.dumps(entry))

    def delete(store: Store, seq: int) -> None:
        client.hdel(entries, str(seq))

    def cleanup(namespace: str) -> None:
        keys = list(client.scan_iter(match=f"cosigner:{{{namespace}}}:*", count=1000))
        if keys:
            client.delete(*keys)

    return Harness("redis", url, ns, clock, tamper, delete, cleanup, client.close)


def server_url(env: str) -> str:
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"{env} is not set: this store test needs a real server (see .ci/run)")
    return url


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A new, empty PostgreSQL schema, dropped afterwards; yields a URL that uses it."""
    import psycopg

    schema = "cosigner_test_" + uuid.uuid4().hex[:16]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The test server, in a schema of this test run: every run migrates from scratch."""
    with postgres_schema(server_url(POSTGRES_ENV)) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    ns = "t-" + uuid.uuid4().hex[:20]
    clock = FakeClock()
    if request.param == "memory":
        h = _memory(ns, clock)
    elif request.param == "sqlite":
        h = _sqlite(ns, clock, tmp_path / "cosigner.db")
    elif request.param == "postgresql":
        h = _postgres(ns, clock, request.getfixturevalue("postgres_url"))
    else:
        h = _redis(ns, clock, server_url(REDIS_ENV))
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def store(harness: Harness) -> Store:
    return harness.open()


@pytest.fixture
def clock(harness: Harness) -> FakeClock:
    return harness.clock
