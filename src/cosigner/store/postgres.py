"""PostgreSQL backend: psycopg 3 over a ``psycopg_pool`` connection pool.

Transactions run at READ COMMITTED; reads and single-statement writes run
in autocommit (one round trip, no BEGIN and COMMIT). A transaction of several
statements runs in libpq's pipeline mode: ``BEGIN`` goes out with the first
statement, and writes whose row count nobody reads (:meth:`Tx.defer
<cosigner.store._sql.Tx.defer>`: audit records, retiring expired
reservations, sessions put under a fresh random id) go out with the next
statement or the ``COMMIT``; every other
statement still waits for its own result, so its error surfaces where it is
made. The atomic operations of
:mod:`cosigner.store._sql` are single conditional statements (a CAS is
``UPDATE ... WHERE version = expected AND expires_at_ms > now ... RETURNING``),
row-locked reads (``SELECT ... FOR UPDATE``) or, for the presignature pool,
``FOR UPDATE SKIP LOCKED`` so concurrent reservers never wait for or share a
row. Every commit is durable before the call returns (``synchronous_commit``
as configured on the server; keep it ``on`` for the presignature guarantee).

Rows of all instances live in shared ``cosigner_*`` tables, separated by a
``namespace`` column; the schema is migrated on open under an advisory lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from cosigner.store._sql import POSTGRES, Row, SqlBackend, SqlStore, Tx
from cosigner.store.base import check_namespace
from cosigner.store.errors import StoreConfigError, StoreUnavailableError
from cosigner.store.records import Clock, system_clock

_MIGRATION_LOCK_KEY: Final = 0x636F7369676E6572  # "cosigner"
UNIT_THREADS: Final = 4
"""Threads running units of work (:meth:`Store.atomic`), at most ``max_connections``.

A unit holds the GIL for all but its round trips, so more threads mostly
queue for it: measured with ``cosigner bench server`` (two workers, 16
clients), 3 or 4 threads served 256 to 273 FROST co-signatures per second
where 10 served 223 to 236. The other connections stay for store calls made
outside units."""
_BEGIN: Final = b"BEGIN"
_NO_FLUSH: Final = b"SET LOCAL synchronous_commit TO OFF"


class _PostgresTx:
    """Statements of one transaction, pipelined when ``pipeline`` is given.

    In a pipeline, :meth:`execute` sends what is queued and waits for its own
    result (errors surface where they always did); :meth:`defer` only queues.
    """

    def __init__(
        self, cursor: psycopg.Cursor[Row], pipeline: psycopg.Pipeline | None = None
    ) -> None:
        self._cursor = cursor
        self._pipeline = pipeline

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        self._cursor.execute(sql, tuple(params))
        if self._pipeline is not None:
            self._pipeline.sync()
        return self._cursor.rowcount

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cursor.execute(sql, tuple(params))

    def one(self) -> Row | None:
        return self._cursor.fetchone()

    def all(self) -> list[Row]:
        return self._cursor.fetchall()


class PostgresBackend(SqlBackend):
    dialect = POSTGRES

    def __init__(
        self, conninfo: str, *, max_connections: int = 10, connect_timeout_s: float = 10.0
    ) -> None:
        super().__init__()
        self._pipelined = psycopg.Pipeline.is_supported()
        """Whether libpq has pipeline mode (14 and newer); without it, a round trip each."""
        self.defers_writes = self._pipelined
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True},
            open=False,
            name="cosigner-store",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except (PoolTimeout, psycopg.Error) as exc:
            self._pool.close()
            raise StoreUnavailableError(
                f"cannot connect to the PostgreSQL store: {type(exc).__name__}"
            ) from None

    @contextmanager
    def transaction(self, *, write: bool, single: bool = False, flush: bool = True) -> Iterator[Tx]:
        # Connections are in autocommit mode: a write of several statements runs in BEGIN ...
        # COMMIT; a read or a single write statement (see :mod:`cosigner.store._sql`) runs
        # alone, one round trip and one statement instead of three. A lone statement is
        # atomic, and committed (durably, with synchronous_commit on) before its result
        # returns; at READ COMMITTED it sees the same snapshot either way.
        try:
            with self._pool.connection() as conn:
                if write and not single:
                    with conn.cursor() as cursor:
                        try:
                            # In pipeline mode BEGIN (and the no-flush setting) travel with the
                            # first statement, deferred writes with the next one or the COMMIT.
                            # A transaction whose commit need not wait for the WAL flush says
                            # so (the next synchronous commit flushes it with its own).
                            pipeline = (
                                conn.pipeline() if self._pipelined else contextlib.nullcontext()
                            )
                            with pipeline as p:
                                cursor.execute(_BEGIN)
                                if not flush:
                                    cursor.execute(_NO_FLUSH)
                                yield _PostgresTx(cursor, p)
                                cursor.execute(b"COMMIT")
                        except BaseException:
                            with contextlib.suppress(psycopg.Error):
                                cursor.execute(b"ROLLBACK")
                            raise
                else:
                    with conn.cursor() as cursor:
                        yield _PostgresTx(cursor)
        except psycopg.OperationalError as exc:
            # The connection is gone (server shut down or ended it) or none came in time
            # (PoolTimeout is one). Other driver errors (IntegrityError, ...) pass as they
            # are: a clash on a deferred insert fails the unit.
            raise StoreUnavailableError(
                f"the PostgreSQL store did not answer: {type(exc).__name__}"
            ) from None

    def lock_migrations(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK_KEY,))

    def close(self) -> None:
        self._pool.close()


class PostgresStore(SqlStore):
    """The PostgreSQL store; ``url`` is a ``postgresql://`` connection URL."""

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        clock: Clock = system_clock,
        max_connections: int = 10,
    ) -> None:
        check_namespace(namespace)
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreConfigError("a PostgreSQL store URL starts with postgresql://")
        self.unit_threads = min(UNIT_THREADS, max_connections)
        super().__init__(
            PostgresBackend(url, max_connections=max_connections),
            namespace=namespace,
            clock=clock,
        )
