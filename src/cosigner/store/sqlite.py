"""SQLite backend (the embedded default): one file, WAL, ``BEGIN IMMEDIATE`` writes.

Several threads, store instances and processes may share one file. Each
store instance keeps one connection behind a lock; every write transaction
starts with ``BEGIN IMMEDIATE``, taking the database's single write lock
before it reads anything, so each atomic operation of :mod:`cosigner.store._sql`
runs alone. A writer that finds the lock taken waits up to ``busy_timeout_s``.

``synchronous=FULL``: a commit is on disk before it returns, so a consumed
presignature stays consumed through a power cut.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cosigner.store._sql import SQLITE, Row, SqlBackend, SqlStore, Tx
from cosigner.store.base import check_namespace
from cosigner.store.errors import StoreConfigError, StoreUnavailableError
from cosigner.store.records import Clock, system_clock

MIN_SQLITE_VERSION = (3, 35, 0)
"""``RETURNING`` (3.35) and upsert ``ON CONFLICT DO NOTHING`` (3.24)."""
_BUSY_FIRST_WAIT_S = 0.00005
_BUSY_MAX_WAIT_S = 0.001


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._rows: list[Row] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = self._conn.execute(sql.replace("%s", "?"), tuple(params))
        # Fetch at once: a RETURNING statement completes only once its rows are read.
        self._rows = [tuple(r) for r in cursor.fetchall()]
        return cursor.rowcount

    def one(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Row]:
        return list(self._rows)


class SqliteBackend(SqlBackend):
    dialect = SQLITE

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        super().__init__()
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StoreConfigError(
                f"SQLite {sqlite3.sqlite_version} is too old; the store needs 3.35 or newer"
            )
        try:
            self._conn = sqlite3.connect(
                str(path),
                timeout=busy_timeout_s,
                isolation_level=None,
                check_same_thread=False,
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"cannot open the SQLite store: {exc}") from None
        self._lock = threading.Lock()
        self._closed = False
        self._busy_timeout_s = busy_timeout_s

    def _begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, retried briefly while another connection holds the write lock.

        SQLite's own busy handler (``busy_timeout``) sleeps 1, 2, 5, 10, ... ms
        between tries; a write transaction here lasts a fraction of a
        millisecond, so waiting that long makes several processes on one file
        (``cosigner serve --workers``) slower than one. The write lock is
        asked for without the busy handler and retried after 50 us, doubling
        up to 1 ms, for up to the same ``busy_timeout_s`` in all.
        """
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            wait, deadline = _BUSY_FIRST_WAIT_S, time.monotonic() + self._busy_timeout_s
            while True:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreUnavailableError(
                            "the SQLite store stayed locked by another connection"
                        ) from None
                time.sleep(wait)
                wait = min(2 * wait, _BUSY_MAX_WAIT_S)
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")

    @contextmanager
    def transaction(self, *, write: bool, single: bool = False) -> Iterator[_SqliteTx]:
        with self._lock:
            if self._closed:
                raise StoreUnavailableError("the store is closed")
            if write:
                self._begin_immediate()
            else:
                self._conn.execute("BEGIN")
            try:
                yield _SqliteTx(self._conn)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def lock_migrations(self, tx: Tx) -> None:
        """Nothing to do: the migration transaction holds the database write lock."""

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._conn.close()


class SqliteStore(SqlStore):
    """The SQLite store; ``path`` is a file (created if missing)."""

    backend = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        namespace: str = "default",
        clock: Clock = system_clock,
        busy_timeout_s: float = 30.0,
    ) -> None:
        check_namespace(namespace)
        super().__init__(
            SqliteBackend(path, busy_timeout_s=busy_timeout_s), namespace=namespace, clock=clock
        )
