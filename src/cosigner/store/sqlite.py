"""SQLite backend (the embedded default): one file, WAL, ``BEGIN IMMEDIATE`` writes.

Several threads, store instances and processes may share one file. Each
store instance keeps one connection behind a lock; every write transaction
starts with ``BEGIN IMMEDIATE``, taking the database's single write lock
before it reads anything, so each atomic operation of :mod:`cosigner.store._sql`
runs alone. A writer that finds the lock taken waits up to ``busy_timeout_s``.

``synchronous=FULL``: a commit is on disk before it returns, so a consumed
presignature stays consumed through a power cut. A unit of work that asks
for no flush (``Store.atomic(..., flush=False)``) commits with
``synchronous=NORMAL``, made durable by the next flushed commit.

Group commit for :meth:`~cosigner.store.base.Store.atomic`: the units of work
queued during one turn of the event loop run together at the start of the
next, in one write transaction, each in its own ``SAVEPOINT`` (a unit that
fails is rolled back alone), and one ``COMMIT`` (one disk flush) makes them
all durable before any of their callers is answered. A unit's statements
take microseconds, so they run on the loop itself, in one callback; the
flush is paid once per turn instead of once per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from cosigner.store._sql import SQLITE, Row, SqlBackend, SqlStore, Tx
from cosigner.store.base import CommitAndRaise, Store, check_namespace
from cosigner.store.errors import StoreConfigError, StoreUnavailableError
from cosigner.store.records import Clock, system_clock

MIN_SQLITE_VERSION = (3, 35, 0)
"""``RETURNING`` (3.35) and upsert ``ON CONFLICT DO NOTHING`` (3.24)."""
_BUSY_FIRST_WAIT_S = 0.00005
_BUSY_MAX_WAIT_S = 0.001
_T = TypeVar("_T")


@functools.lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    """``%s`` placeholders as SQLite's ``?`` (the statements are a fixed set: kept)."""
    return sql.replace("%s", "?")


def _unusable(exc: sqlite3.Error) -> bool:
    """Whether a driver error means the store cannot be used now, not that a statement was refused.

    ``OperationalError`` (I/O error, disk full, read-only or locked file) and a bare
    ``DatabaseError`` (a file that is not a database or is corrupt) do;
    ``IntegrityError`` and the other ``DatabaseError`` subclasses are about the
    statement and pass as they are.
    """
    return isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError


def _as_store_error(exc: Exception) -> Exception:
    """``exc`` as :class:`StoreUnavailableError` when it means the store cannot be used."""
    if isinstance(exc, sqlite3.Error) and _unusable(exc):
        return StoreUnavailableError(f"the SQLite store failed: {exc}")
    return exc


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._rows: list[Row] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        cursor = self._conn.execute(_qmark(sql), tuple(params))
        # Fetch at once: a RETURNING statement completes only once its rows are read.
        self._rows = [tuple(r) for r in cursor.fetchall()]
        return cursor.rowcount

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.execute(sql, params)

    def one(self) -> Row | None:
        return self._rows[0] if self._rows else None

    def all(self) -> list[Row]:
        return list(self._rows)


@dataclass(slots=True)
class _Batch:
    """The units of work queued during one event-loop turn, waiting for their commit."""

    loop: asyncio.AbstractEventLoop
    units: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = field(default_factory=list)
    flush: bool = False
    """Whether the commit must reach the disk: any unit asked for it (see Store.atomic)."""
    wait_s: float = _BUSY_FIRST_WAIT_S
    deadline: float = 0.0


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
        self._flushing = True
        self._lock = threading.Lock()
        self._closed = False
        self._busy_timeout_s = busy_timeout_s
        self._batch: _Batch | None = None

    def _try_begin_immediate(self) -> bool:
        """One ``BEGIN IMMEDIATE`` attempt that never waits: False if the write lock is taken.

        The busy handler is off (``busy_timeout = 0``) for this attempt only
        and restored afterwards; errors other than ``SQLITE_BUSY`` propagate.
        """
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            # The primary code: SQLITE_BUSY_RECOVERY, _SNAPSHOT, ... are busy too.
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return False
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
        return True

    def _begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE``, retried briefly while another connection holds the write lock.

        SQLite's own busy handler (``busy_timeout``) sleeps 1, 2, 5, 10, ... ms
        between tries; a write transaction here lasts a fraction of a
        millisecond, so waiting that long makes several processes on one file
        (``cosigner serve --workers``) slower than one. The write lock is
        asked for without the busy handler and retried after 50 us, doubling
        up to 1 ms, for up to the same ``busy_timeout_s`` in all.
        """
        wait, deadline = _BUSY_FIRST_WAIT_S, time.monotonic() + self._busy_timeout_s
        while not self._try_begin_immediate():
            if time.monotonic() >= deadline:
                raise StoreUnavailableError("the SQLite store stayed locked by another connection")
            time.sleep(wait)
            wait = min(2 * wait, _BUSY_MAX_WAIT_S)

    async def atomic(self, store: Store, unit: Callable[[], _T], *, flush: bool = True) -> _T:
        """Queue ``unit`` for this loop turn's batch; its outcome once the batch is committed."""
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is not None and batch.loop is not loop:
            # Another event loop's batch is pending: run in the pool, behind the lock.
            return await super().atomic(store, unit, flush=flush)
        if batch is None:
            batch = self._batch = _Batch(loop)
            loop.call_soon(self._run_batch, batch)
        future: asyncio.Future[_T] = loop.create_future()
        batch.units.append((unit, future))
        batch.flush = batch.flush or flush
        return await future

    def _run_batch(self, batch: _Batch) -> None:
        """Run the queued units in one write transaction, commit once, answer each unit.

        Runs inside one loop callback, so the write lock is never held across an
        ``await``: a store on the same file used elsewhere on this loop cannot
        wait on it. While another connection holds the lock the batch is retried
        a little later (50 us doubling to 1 ms, up to ``busy_timeout_s``), never
        waited for on the loop.
        """
        if batch.deadline == 0.0:
            batch.deadline = time.monotonic() + self._busy_timeout_s
        if not self._lock.acquire(blocking=False):
            self._retry_batch(batch)
            return
        try:
            if self._closed:
                raise StoreUnavailableError("the store is closed")
            self._synchronous(batch.flush)
            if not self._try_begin_immediate():
                self._lock.release()
                self._retry_batch(batch)
                return
        except BaseException as exc:
            self._lock.release()
            self._batch = None if self._batch is batch else self._batch
            self._fail(batch, exc)
            return
        # Units queued from here on go to the next batch.
        if self._batch is batch:
            self._batch = None
        error: BaseException | None = None
        try:
            outcomes = self._run_units(batch)
            self._conn.execute("COMMIT")
        except BaseException as exc:
            # A savepoint or the commit failed (disk full, I/O error): the whole batch goes,
            # and every unit of it is told, none left waiting.
            error = exc
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        finally:
            self._lock.release()
        if error is not None:
            self._fail(batch, error)
            if not isinstance(error, Exception):
                raise error  # KeyboardInterrupt and the like: told, then passed on
            return
        for (_, future), (ok, value) in zip(batch.units, outcomes, strict=True):
            if future.done():
                continue  # its caller went away; what it did is committed all the same
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _run_units(self, batch: _Batch) -> list[tuple[bool, Any]]:
        """Each unit in its own savepoint, inside the batch's open transaction."""
        conn, tx = self._conn, _SqliteTx(self._conn)
        outcomes: list[tuple[bool, Any]] = []
        for unit, _ in batch.units:
            conn.execute("SAVEPOINT cosigner_unit")
            self._grouped.tx = tx
            try:
                outcomes.append((True, unit()))
            except CommitAndRaise as deferred:
                outcomes.append((False, deferred.error))
            except Exception as exc:
                outcomes.append((False, _as_store_error(exc)))
                conn.execute("ROLLBACK TO cosigner_unit")
            finally:
                self._grouped.tx = None
            conn.execute("RELEASE cosigner_unit")
        return outcomes

    def _retry_batch(self, batch: _Batch) -> None:
        if time.monotonic() >= batch.deadline:
            if self._batch is batch:
                self._batch = None
            self._fail(batch, StoreUnavailableError("the SQLite store stayed locked"))
            return
        batch.loop.call_later(batch.wait_s, self._run_batch, batch)
        batch.wait_s = min(2 * batch.wait_s, _BUSY_MAX_WAIT_S)

    @staticmethod
    def _fail(batch: _Batch, error: BaseException) -> None:
        for _, future in batch.units:
            if not future.done():
                future.set_exception(
                    error
                    if isinstance(error, StoreUnavailableError)
                    else StoreUnavailableError(f"the SQLite store could not commit: {error}")
                )

    def _synchronous(self, flush: bool) -> None:
        """``synchronous=FULL`` (the commit is on disk when it returns) or ``NORMAL``.

        Set between transactions only (SQLite refuses it inside one). In WAL
        mode a NORMAL commit is in the OS's hands when it returns, and the
        next FULL commit's sync of the log makes it durable along with its own.
        """
        if flush != self._flushing:
            self._conn.execute(f"PRAGMA synchronous={'FULL' if flush else 'NORMAL'}")
            self._flushing = flush

    @contextmanager
    def transaction(
        self, *, write: bool, single: bool = False, flush: bool = True
    ) -> Iterator[_SqliteTx]:
        with self._lock:
            if self._closed:
                raise StoreUnavailableError("the store is closed")
            try:
                if write:
                    self._synchronous(flush)
                    self._begin_immediate()
                else:
                    self._conn.execute("BEGIN")
                try:
                    yield _SqliteTx(self._conn)
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                try:
                    self._conn.execute("COMMIT")
                except sqlite3.Error:
                    # A failed commit (I/O error, disk full) may leave the transaction open.
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                error = _as_store_error(exc)
                if error is exc:
                    raise
                raise error from None

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
