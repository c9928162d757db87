"""A backend that goes away after open: ``StoreUnavailableError``, never a driver error.

PostgreSQL and Redis run against the real servers (skipped when
``COSIGNER_TEST_POSTGRES_URL`` / ``COSIGNER_TEST_REDIS_URL`` are unset); the
connection is ended from the server side (``pg_terminate_backend``) or pointed
at a closed port. SQLite loses its tables under it, or gets driver errors
from a stand-in connection.
"""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cosigner.store import NotFoundError, StoreUnavailableError, open_store
from cosigner.store.sqlite import SqliteBackend

from .conftest import REDIS_ENV, server_url

# -- PostgreSQL ---------------------------------------------------------------------------------


def test_postgres_ended_connection_is_store_unavailable(postgres_url: str) -> None:
    import psycopg

    store = open_store(postgres_url, namespace="t-" + uuid.uuid4().hex[:20])
    try:
        store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        # Only this store's connections: the pids its pool holds (none is checked out now),
        # as pg_stat_activity lists them among this database's client backends.
        owned = {conn.info.backend_pid for conn in list(store._db._pool._pool)}  # type: ignore[attr-defined]
        assert owned, "the store holds no connection"
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            listed = {
                row[0]
                for row in admin.execute(
                    b"SELECT pid FROM pg_stat_activity"
                    b" WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            }
            assert owned <= listed
            for pid in owned:
                admin.execute(b"SELECT pg_terminate_backend(%s)", (pid,))
        calls: list[Callable[[], Any]] = [
            lambda: store.sessions.get("mpc", "s"),  # a read
            lambda: store.sessions.put("mpc", "t", b"x", ttl_ms=60_000),  # a write
            lambda: store.audit.append("keygen", "alice"),  # a write transaction
        ]
        outcomes: list[object] = []
        for call in calls:
            try:
                outcomes.append(call())
            except StoreUnavailableError as exc:
                assert exc.code == "store_unavailable"
                assert postgres_url not in str(exc) and "127.0.0.1" not in str(exc)
                outcomes.append(exc)
        # Each call either succeeded (the pool reconnected) or said the store is
        # unavailable; a raw psycopg error escapes from none of them (pytest would fail).
        assert not any(isinstance(o, psycopg.Error) for o in outcomes)
        # The pool drops the dead connections: the store works again afterwards.
        store.sessions.put("mpc", "after", b"x", ttl_ms=60_000)
        assert store.sessions.get("mpc", "after").session_id == "after"
    finally:
        store.close()


def test_postgres_other_driver_errors_pass_as_they_are(postgres_url: str) -> None:
    import psycopg

    store = open_store(postgres_url, namespace="t-" + uuid.uuid4().hex[:20])
    try:
        with (
            pytest.raises(psycopg.errors.UndefinedTable),
            store._db.transaction(  # type: ignore[attr-defined]
                write=True, single=True
            ) as tx,
        ):
            tx.execute("SELECT * FROM cosigner_no_such_table")
        store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
    finally:
        store.close()


# -- Redis --------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_lost_connection_is_store_unavailable() -> None:
    import redis

    url, ns = server_url(REDIS_ENV), "t-" + uuid.uuid4().hex[:20]
    store = open_store(url, namespace=ns)
    try:
        store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        pool = store._client._raw.connection_pool  # type: ignore[attr-defined]
        pool.connection_kwargs.update(host="127.0.0.1", port=_closed_port(), socket_timeout=1)
        pool.reset()  # connections made from here on go to the closed port
        calls: list[Callable[[], Any]] = [
            lambda: store.sessions.get("mpc", "s"),  # HGETALL
            lambda: store.sessions.take("mpc", "s"),  # a script
            lambda: store.audit.head(),  # HMGET
            lambda: store.presignatures.available("rk-1"),  # LLEN
        ]
        for call in calls:
            with pytest.raises(StoreUnavailableError) as caught:
                call()
            assert caught.value.code == "store_unavailable"
            assert str(pool.connection_kwargs["port"]) not in str(caught.value)
            assert not isinstance(caught.value.__cause__, redis.RedisError)
    finally:
        store.close()
        with redis.Redis.from_url(url) as client:
            for key in client.scan_iter(match=f"cosigner:{{{ns}}}:*"):
                client.delete(key)


# -- SQLite -------------------------------------------------------------------------------------


def test_sqlite_lost_tables_are_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "gone.db"
    store = open_store(f"sqlite:///{path}")
    try:
        store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE cosigner_sessions")
        with pytest.raises(StoreUnavailableError):
            store.sessions.get("mpc", "s")
        with pytest.raises(StoreUnavailableError):
            store.sessions.put("mpc", "t", b"x", ttl_ms=60_000)

        def put() -> None:
            store.sessions.put("mpc", "u", b"x", ttl_ms=60_000)

        with pytest.raises(StoreUnavailableError):
            asyncio.run(store.atomic(put))
        # The other tables still answer: the connection was not left in a transaction.
        store.audit.append("keygen", "alice")
        assert store.audit.head()[0] == 1
    finally:
        store.close()


class _Conn:
    """A stand-in for the backend's connection: ``fail(sql)`` may raise instead of running it."""

    def __init__(self, conn: sqlite3.Connection, fail: Callable[[str], None]) -> None:
        self._conn = conn
        self._fail = fail

    def execute(self, sql: str, *args: Any) -> Any:
        self._fail(sql)
        return self._conn.execute(sql, *args)

    def close(self) -> None:
        self._conn.close()


def _error(cls: type[sqlite3.Error], message: str, code: int) -> sqlite3.Error:
    exc = cls(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


def test_sqlite_commit_failure_is_store_unavailable_and_integrity_errors_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'io.db'}")
    backend = store._db  # type: ignore[attr-defined]
    assert isinstance(backend, SqliteBackend)
    raised: list[sqlite3.Error] = []

    def fail(sql: str) -> None:
        if sql == "COMMIT" and raised:
            raise raised.pop()

    monkeypatch.setattr(backend, "_conn", _Conn(backend._conn, fail))
    try:
        raised.append(_error(sqlite3.OperationalError, "disk I/O error", 10))
        with pytest.raises(StoreUnavailableError) as caught:
            store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        assert "disk I/O error" in str(caught.value)
        raised.append(_error(sqlite3.DatabaseError, "database disk image is malformed", 11))
        with pytest.raises(StoreUnavailableError):
            store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        raised.append(_error(sqlite3.IntegrityError, "UNIQUE constraint failed", 2067))
        with pytest.raises(sqlite3.IntegrityError):
            store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)
        assert store.sessions.get("mpc", "s").session_id == "s"
    finally:
        monkeypatch.undo()
        store.close()


@pytest.mark.parametrize("code", [5, 261, 517])  # SQLITE_BUSY, _BUSY_RECOVERY, _BUSY_SNAPSHOT
def test_sqlite_every_busy_code_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'busy.db'}")
    backend = store._db  # type: ignore[attr-defined]
    assert isinstance(backend, SqliteBackend)
    busy = [2]

    def fail(sql: str) -> None:
        if sql == "BEGIN IMMEDIATE" and busy[0]:
            busy[0] -= 1
            raise _error(sqlite3.OperationalError, "database is locked", code)

    monkeypatch.setattr(backend, "_conn", _Conn(backend._conn, fail))
    try:
        store.sessions.put("mpc", "s", b"x", ttl_ms=60_000)  # waited out, not raised
        assert busy == [0]
        with pytest.raises(NotFoundError):
            store.sessions.get("mpc", "nothing")
    finally:
        monkeypatch.undo()
        store.close()


# -- open -----------------------------------------------------------------------------------------


def test_sql_store_closes_its_backend_when_the_audit_head_insert_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[SqliteBackend] = []
    transaction, close = SqliteBackend.transaction, SqliteBackend.close

    def failing(
        self: SqliteBackend, *, write: bool, single: bool = False, flush: bool = True
    ) -> Any:
        if write and single:  # the audit head row, written after the migrations
            raise StoreUnavailableError("the SQLite store failed: disk I/O error")
        return transaction(self, write=write, single=single, flush=flush)

    def recording(self: SqliteBackend) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(SqliteBackend, "transaction", failing)
    monkeypatch.setattr(SqliteBackend, "close", recording)
    with pytest.raises(StoreUnavailableError):
        open_store(f"sqlite:///{tmp_path / 'head.db'}")
    assert len(closed) == 1 and closed[0]._closed
