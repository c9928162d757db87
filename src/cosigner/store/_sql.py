"""The SQL store, written once for SQLite and PostgreSQL.

Every atomic operation is one conditional statement, or a short write
transaction, whose ``WHERE`` clause carries the whole precondition:

* presign CAS: ``UPDATE ... SET version = version + 1 ... WHERE version =
  expected AND expires_at_ms > now AND scope = ... AND stage IN (...)
  RETURNING ...`` (seed 000, section 3);
* threshold-session use: ``UPDATE ... SET uses = uses + 1 WHERE uses <
  max_uses AND expires_at_ms > now RETURNING ...``;
* take: ``DELETE ... RETURNING ...``;
* session-version bump: ``INSERT ... ON CONFLICT DO UPDATE SET version =
  version + 1 RETURNING version``;
* unlink unless last: the user's identity rows are locked (``FOR UPDATE``,
  in one order) and counted before the row is deleted;
* pool reserve: ``UPDATE ... WHERE presignature_id = (SELECT ... LIMIT 1
  FOR UPDATE SKIP LOCKED) RETURNING ...`` so concurrent reservers on
  PostgreSQL skip each other's rows instead of queueing on them;
* audit append: the per-namespace head row is locked (``FOR UPDATE``) while
  the next entry is chained and written.

On SQLite every write transaction is ``BEGIN IMMEDIATE``, which takes the
database's write lock up front, so the same statements are atomic there too
(the row-lock clauses are simply left out). Placeholders are written ``%s``
and turned into ``?`` for SQLite.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from cosigner.store.audit import GENESIS_HASH, chain_entry
from cosigner.store.base import (
    UNLINK_DONE,
    UNLINK_LAST,
    UNLINK_MISSING,
    AuditLog,
    AuthSessionStore,
    CredentialStore,
    IdentityStore,
    KeyStore,
    PresignaturePool,
    PresignSessionStore,
    SessionStore,
    SessionVersionStore,
    Store,
    StorePart,
)
from cosigner.store.errors import SchemaVersionError, StoreUnavailableError
from cosigner.store.migrations import (
    CREATE_MIGRATIONS_TABLE,
    LATEST_VERSION,
    MIGRATIONS,
    MIGRATIONS_TABLE,
)
from cosigner.store.records import (
    AuditEntry,
    AuthSession,
    Clock,
    Identity,
    KeyRecord,
    PooledPresignature,
    Presignature,
    PresignatureStatus,
    PresignSession,
    PresignStage,
    Reservation,
    SessionRecord,
    SessionScope,
    WebAuthnCredential,
)

Row = tuple[Any, ...]
_T = TypeVar("_T")


class Tx(Protocol):
    """One open transaction: run statements, read their rows."""

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run ``sql`` (``%s`` placeholders); returns the affected row count."""

    def defer(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a write whose row count nobody reads; a backend may send it later.

        PostgreSQL queues it in the transaction's pipeline and sends it with the
        next statement or the COMMIT, saving a round trip. Its error, if any,
        then surfaces at that later statement or at the commit, and fails the
        transaction all the same.
        """

    def one(self) -> Row | None: ...

    def all(self) -> list[Row]: ...


@dataclass(frozen=True, slots=True)
class Dialect:
    name: str
    blob: str
    order_column: str
    presignature_order: str
    for_update: str
    skip_locked: str


SQLITE: Final = Dialect(
    name="sqlite",
    blob="BLOB",
    order_column="",
    presignature_order="rowid",
    for_update="",
    skip_locked="",
)
POSTGRES: Final = Dialect(
    name="postgresql",
    blob="BYTEA",
    order_column=",\n        put_seq BIGSERIAL",
    presignature_order="put_seq",
    for_update=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
)


class SqlBackend(ABC):
    """A connection source: transactions that commit on success and roll back on error.

    :meth:`group` opens one write transaction that every store call of the
    same thread joins until it ends (see :meth:`cosigner.store.base.Store.group`).
    """

    dialect: Dialect
    defers_writes: bool = False
    """Whether :meth:`Tx.defer` really holds a write back to travel with a later statement
    (PostgreSQL in pipeline mode) rather than running it at once (SQLite, or PostgreSQL
    without pipeline mode): only then is a write without its row count worth choosing."""

    def __init__(self) -> None:
        self._grouped = threading.local()

    def scoped(self, *, write: bool, single: bool = False) -> AbstractContextManager[Tx]:
        """The thread's group transaction if one is open, else a transaction of its own."""
        current: Tx | None = getattr(self._grouped, "tx", None)
        if current is not None:
            return nullcontext(current)
        return self.transaction(write=write, single=single)

    def in_group(self) -> bool:
        """Whether this thread's store calls run in an open group transaction."""
        return getattr(self._grouped, "tx", None) is not None

    @contextmanager
    def group(self, *, flush: bool = True) -> Iterator[None]:
        if getattr(self._grouped, "tx", None) is not None:
            yield  # already in one: join it
            return
        with self.transaction(write=True, flush=flush) as tx:
            self._grouped.tx = tx
            try:
                yield
            finally:
                self._grouped.tx = None

    @abstractmethod
    def transaction(
        self, *, write: bool, single: bool = False, flush: bool = True
    ) -> AbstractContextManager[Tx]:
        """A transaction; ``write`` ones hold the write lock from the start on SQLite.

        ``single``: the caller runs exactly one statement, which a backend may
        run in autocommit (it is atomic, and durable once it returns, on its own).
        ``flush=False``: the commit need not reach the disk before it returns
        (see :meth:`cosigner.store.base.Store.atomic`).
        """

    async def atomic(self, store: Store, unit: Callable[[], _T], *, flush: bool = True) -> _T:
        """:meth:`Store.atomic`: the unit in one transaction, on a unit thread."""
        return await store.in_unit_thread(unit, flush=flush)

    @abstractmethod
    def lock_migrations(self, tx: Tx) -> None:
        """Serialize migration runs across instances (the SQLite write lock already does)."""

    @abstractmethod
    def close(self) -> None: ...


def run_migrations(backend: SqlBackend, now_ms: int) -> int:
    """Apply the migrations not yet recorded; returns the schema version."""
    with backend.transaction(write=True) as tx:
        backend.lock_migrations(tx)
        tx.execute(CREATE_MIGRATIONS_TABLE)
        tx.execute(f"SELECT version FROM {MIGRATIONS_TABLE}")
        applied = {int(row[0]) for row in tx.all()}
        if applied and max(applied) > LATEST_VERSION:
            raise SchemaVersionError(
                f"the database is at schema version {max(applied)}; this cosigner knows up to "
                f"{LATEST_VERSION}: upgrade cosigner"
            )
        d = backend.dialect
        for migration in MIGRATIONS:
            if migration.version in applied:
                continue
            for statement in migration.statements:
                tx.execute(statement.format(blob=d.blob, order_column=d.order_column))
            tx.execute(
                f"INSERT INTO {MIGRATIONS_TABLE} (version, name, applied_at_ms)"
                " VALUES (%s, %s, %s)",
                (migration.version, migration.name, now_ms),
            )
    return LATEST_VERSION


class _SqlPart(StorePart):
    def __init__(self, backend: SqlBackend, namespace: str, clock: Clock) -> None:
        super().__init__(clock)
        self._db = backend
        self._ns = namespace

    def _write(self) -> AbstractContextManager[Tx]:
        return self._db.scoped(write=True)

    def _write_one(self) -> AbstractContextManager[Tx]:
        """For one write statement: atomic on its own, so PostgreSQL runs it without BEGIN."""
        return self._db.scoped(write=True, single=True)

    def _read(self) -> AbstractContextManager[Tx]:
        """For one statement only: PostgreSQL runs reads in autocommit, without BEGIN."""
        return self._db.scoped(write=False)


# -- keys ---------------------------------------------------------------------------------

_KEY_COLUMNS: Final = (
    "key_id, user_id, rp_id, scheme_id, public_key, participant_ids, metadata, sealed,"
    " created_at_ms"
)


def _key(row: Row) -> KeyRecord:
    return KeyRecord(
        key_id=row[0],
        user_id=row[1],
        rp_id=row[2],
        scheme_id=row[3],
        public_key=bytes(row[4]),
        participant_ids=tuple(json.loads(row[5])),
        metadata=json.loads(row[6]),
        sealed=bytes(row[7]),
        created_at_ms=int(row[8]),
    )


class SqlKeyStore(_SqlPart, KeyStore):
    def _insert(self, record: KeyRecord, metadata_json: str) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    f"INSERT INTO cosigner_keys (namespace, {_KEY_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (
                        self._ns,
                        record.key_id,
                        record.user_id,
                        record.rp_id,
                        record.scheme_id,
                        record.public_key,
                        json.dumps(list(record.participant_ids)),
                        metadata_json,
                        record.sealed,
                        record.created_at_ms,
                    ),
                )
                == 1
            )

    def _load(self, key_id: str) -> KeyRecord | None:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_KEY_COLUMNS} FROM cosigner_keys WHERE namespace = %s AND key_id = %s",
                (self._ns, key_id),
            )
            row = tx.one()
        return None if row is None else _key(row)

    def _list_for_user(self, user_id: str) -> Iterable[KeyRecord]:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_KEY_COLUMNS} FROM cosigner_keys WHERE namespace = %s AND user_id = %s",
                (self._ns, user_id),
            )
            rows = tx.all()
        return [_key(row) for row in rows]

    def _delete(self, key_id: str) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "DELETE FROM cosigner_keys WHERE namespace = %s AND key_id = %s",
                    (self._ns, key_id),
                )
                > 0
            )


# -- short-lived sessions -----------------------------------------------------------------

_SESSION_COLUMNS: Final = "kind, session_id, created_at_ms, expires_at_ms, data"


def _session(row: Row) -> SessionRecord:
    return SessionRecord(row[0], row[1], int(row[2]), int(row[3]), bytes(row[4]))


class SqlSessionStore(_SqlPart, SessionStore):
    def _insert(self, record: SessionRecord, now: int) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    f"INSERT INTO cosigner_sessions (namespace, {_SESSION_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    self._row(record),
                )
                == 1
            )

    def _insert_fresh(self, record: SessionRecord) -> bool:
        # Only a unit whose deferred writes really wait (PostgreSQL's pipeline) gains anything.
        if not self._db.defers_writes or not self._db.in_group():
            return False
        with self._write_one() as tx:
            # No ON CONFLICT: a clash (which a fresh random id never meets) fails the unit.
            tx.defer(
                f"INSERT INTO cosigner_sessions (namespace, {_SESSION_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                self._row(record),
            )
        return True

    def _row(self, record: SessionRecord) -> tuple[Any, ...]:
        return (
            self._ns,
            record.kind,
            record.session_id,
            record.created_at_ms,
            record.expires_at_ms,
            record.data,
        )

    def _load(self, kind: str, session_id: str) -> SessionRecord | None:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_SESSION_COLUMNS} FROM cosigner_sessions"
                " WHERE namespace = %s AND kind = %s AND session_id = %s",
                (self._ns, kind, session_id),
            )
            row = tx.one()
        return None if row is None else _session(row)

    def _take(self, kind: str, session_id: str) -> SessionRecord | None:
        with self._write_one() as tx:
            tx.execute(
                "DELETE FROM cosigner_sessions"
                " WHERE namespace = %s AND kind = %s AND session_id = %s"
                f" RETURNING {_SESSION_COLUMNS}",
                (self._ns, kind, session_id),
            )
            row = tx.one()
        return None if row is None else _session(row)

    def _delete(self, kind: str, session_id: str) -> bool:
        return self._take(kind, session_id) is not None

    def take_checked(
        self, kind: str, session_id: str, check: Callable[[SessionRecord], object]
    ) -> SessionRecord:
        if not self._db.in_group():
            return super().take_checked(kind, session_id, check)
        # In a transaction: one statement instead of two; a refusing check rolls it back.
        record = self.take(kind, session_id)
        check(record)
        return record


# -- session versions ---------------------------------------------------------------------


class SqlSessionVersionStore(_SqlPart, SessionVersionStore):
    def _load(self, user_id: str) -> int:
        with self._read() as tx:
            tx.execute(
                "SELECT version FROM cosigner_session_versions"
                " WHERE namespace = %s AND user_id = %s",
                (self._ns, user_id),
            )
            row = tx.one()
        return 0 if row is None else int(row[0])

    def _increment(self, user_id: str, now: int) -> int:
        with self._write_one() as tx:
            tx.execute(
                "INSERT INTO cosigner_session_versions (namespace, user_id, version, updated_at_ms)"
                " VALUES (%s, %s, 1, %s) ON CONFLICT (namespace, user_id) DO UPDATE"
                " SET version = cosigner_session_versions.version + 1,"
                " updated_at_ms = excluded.updated_at_ms RETURNING version",
                (self._ns, user_id, now),
            )
            row = tx.one()
        assert row is not None, "an upsert returns its row"
        return int(row[0])


# -- threshold sessions -------------------------------------------------------------------

_AUTH_COLUMNS: Final = "session_id, scheme_id, scope, max_uses, uses, created_at_ms, expires_at_ms"


def _auth(row: Row) -> AuthSession:
    return AuthSession(
        session_id=row[0],
        scheme_id=row[1],
        scope=SessionScope.from_canonical(row[2]),
        max_uses=int(row[3]),
        uses=int(row[4]),
        created_at_ms=int(row[5]),
        expires_at_ms=int(row[6]),
    )


class SqlAuthSessionStore(_SqlPart, AuthSessionStore):
    def _insert(self, record: AuthSession, now: int) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    f"INSERT INTO cosigner_auth_sessions (namespace, {_AUTH_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (
                        self._ns,
                        record.session_id,
                        record.scheme_id,
                        record.scope.canonical(),
                        record.max_uses,
                        record.uses,
                        record.created_at_ms,
                        record.expires_at_ms,
                    ),
                )
                == 1
            )

    def _load(self, session_id: str) -> AuthSession | None:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_AUTH_COLUMNS} FROM cosigner_auth_sessions"
                " WHERE namespace = %s AND session_id = %s",
                (self._ns, session_id),
            )
            row = tx.one()
        return None if row is None else _auth(row)

    def _increment_use(
        self, session_id: str, now: int, scope_key: str | None
    ) -> AuthSession | None:
        scope_clause, params = "", [self._ns, session_id, now]
        if scope_key is not None:
            scope_clause = " AND scope = %s"
            params.append(scope_key)
        with self._write_one() as tx:
            tx.execute(
                "UPDATE cosigner_auth_sessions SET uses = uses + 1"
                " WHERE namespace = %s AND session_id = %s"
                " AND expires_at_ms > %s AND uses < max_uses"
                f"{scope_clause} RETURNING {_AUTH_COLUMNS}",
                params,
            )
            row = tx.one()
        return None if row is None else _auth(row)

    def _delete(self, session_id: str) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "DELETE FROM cosigner_auth_sessions WHERE namespace = %s AND session_id = %s",
                    (self._ns, session_id),
                )
                > 0
            )


# -- presign sessions ---------------------------------------------------------------------

_PRESIGN_COLUMNS: Final = (
    "session_id, scope, stage, version, created_at_ms, updated_at_ms, expires_at_ms, state"
)


def _presign(row: Row) -> PresignSession:
    return PresignSession(
        session_id=row[0],
        scope=SessionScope.from_canonical(row[1]),
        stage=PresignStage(row[2]),
        version=int(row[3]),
        created_at_ms=int(row[4]),
        updated_at_ms=int(row[5]),
        expires_at_ms=int(row[6]),
        state=bytes(row[7]),
    )


class SqlPresignSessionStore(_SqlPart, PresignSessionStore):
    def _insert(self, record: PresignSession, now: int) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    f"INSERT INTO cosigner_presign_sessions (namespace, {_PRESIGN_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (
                        self._ns,
                        record.session_id,
                        record.scope.canonical(),
                        str(record.stage),
                        record.version,
                        record.created_at_ms,
                        record.updated_at_ms,
                        record.expires_at_ms,
                        record.state,
                    ),
                )
                == 1
            )

    def _load(self, session_id: str) -> PresignSession | None:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_PRESIGN_COLUMNS} FROM cosigner_presign_sessions"
                " WHERE namespace = %s AND session_id = %s",
                (self._ns, session_id),
            )
            row = tx.one()
        return None if row is None else _presign(row)

    def _advance(
        self,
        session_id: str,
        expected_version: int,
        scope_key: str,
        from_stages: frozenset[str],
        stage: PresignStage,
        state: bytes,
        now: int,
        expires_at_ms: int | None,
    ) -> PresignSession | None:
        sources = sorted(from_stages)
        stage_list = ", ".join(["%s"] * len(sources))
        expiry = "expires_at_ms" if expires_at_ms is None else "%s"
        params: list[Any] = [str(stage), state, now]
        if expires_at_ms is not None:
            params.append(expires_at_ms)
        params += [self._ns, session_id, expected_version, now, scope_key, *sources]
        with self._write_one() as tx:
            tx.execute(
                "UPDATE cosigner_presign_sessions SET stage = %s, state = %s,"
                f" version = version + 1, updated_at_ms = %s, expires_at_ms = {expiry}"
                " WHERE namespace = %s AND session_id = %s AND version = %s"
                " AND expires_at_ms > %s AND scope = %s"
                f" AND stage IN ({stage_list}) RETURNING {_PRESIGN_COLUMNS}",
                params,
            )
            row = tx.one()
        return None if row is None else _presign(row)

    def _delete(self, session_id: str) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "DELETE FROM cosigner_presign_sessions"
                    " WHERE namespace = %s AND session_id = %s",
                    (self._ns, session_id),
                )
                > 0
            )


# -- presignature pool --------------------------------------------------------------------

_RETIRE: Final = "status = %s, public = NULL, secret = NULL, finished_at_ms = %s"


class SqlPresignaturePool(_SqlPart, PresignaturePool):
    def _insert(
        self,
        key_id: str,
        presignature_id: str,
        public: bytes,
        secret: bytes,
        now: int,
        scheme: str,
    ) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "INSERT INTO cosigner_presignatures (namespace, key_id, presignature_id,"
                    " status, public, secret, created_at_ms, scheme)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (self._ns, key_id, presignature_id, "available", public, secret, now, scheme),
                )
                == 1
            )

    def _reserve(
        self, key_id: str, now: int, expires_at_ms: int, presignature_id: str | None
    ) -> Reservation | None:
        d = self._db.dialect
        if presignature_id is None:
            pick = (
                " AND presignature_id = (SELECT presignature_id FROM cosigner_presignatures"
                "  WHERE namespace = %s AND key_id = %s AND status = 'available'"
                f"  ORDER BY {d.presignature_order} LIMIT 1{d.skip_locked})"
            )
            pick_params: tuple[Any, ...] = (self._ns, key_id)
        else:
            pick, pick_params = " AND presignature_id = %s", (presignature_id,)
        with self._write() as tx:
            # Expired reservations are retired for good, never put back (see PresignaturePool).
            # Deferred: on PostgreSQL it travels with the reservation below.
            tx.defer(
                f"UPDATE cosigner_presignatures SET {_RETIRE}"
                " WHERE namespace = %s AND key_id = %s AND status = 'reserved'"
                " AND presignature_id IN (SELECT presignature_id FROM cosigner_presignatures"
                "  WHERE namespace = %s AND key_id = %s AND status = 'reserved'"
                f"  AND reservation_expires_at_ms <= %s{d.skip_locked})",
                ("discarded", now, self._ns, key_id, self._ns, key_id, now),
            )
            tx.execute(
                "UPDATE cosigner_presignatures SET status = 'reserved',"
                " reserved_at_ms = %s, reservation_expires_at_ms = %s"
                " WHERE namespace = %s AND key_id = %s AND status = 'available'"
                f"{pick} RETURNING presignature_id, public",
                (now, expires_at_ms, self._ns, key_id, *pick_params),
            )
            row = tx.one()
        if row is None:
            return None
        return Reservation(key_id, row[0], now, expires_at_ms, bytes(row[1]))

    def _consume(self, key_id: str, presignature_id: str, now: int) -> Presignature | None:
        if self._db.dialect is POSTGRES:
            return self._consume_one_statement(key_id, presignature_id, now)
        where = " WHERE namespace = %s AND key_id = %s AND presignature_id = %s"
        ident = (self._ns, key_id, presignature_id)
        with self._write() as tx:
            tx.execute(
                f"SELECT public, secret, reservation_expires_at_ms FROM cosigner_presignatures"
                f"{where} AND status = 'reserved'{self._db.dialect.for_update}",
                ident,
            )
            row = tx.one()
            if row is None:
                return None
            if int(row[2]) <= now:
                tx.execute(
                    f"UPDATE cosigner_presignatures SET {_RETIRE}{where}",
                    ("discarded", now, *ident),
                )
                return None
            # The secret leaves only with the transaction that marks it consumed.
            tx.execute(
                f"UPDATE cosigner_presignatures SET {_RETIRE}{where}", ("consumed", now, *ident)
            )
            consumed = Presignature(key_id, presignature_id, bytes(row[0]), bytes(row[1]))
        return consumed

    def _consume_one_statement(
        self, key_id: str, presignature_id: str, now: int
    ) -> Presignature | None:
        """PostgreSQL: lock the reserved row, retire it and return its old secret, in one statement.

        Retired as consumed, or as discarded when its reservation has run out
        (then nothing is returned): the same outcomes as the two-step version.
        """
        with self._write_one() as tx:
            tx.execute(
                "WITH old AS (SELECT public, secret, reservation_expires_at_ms"
                " FROM cosigner_presignatures WHERE namespace = %s AND key_id = %s"
                " AND presignature_id = %s AND status = 'reserved' FOR UPDATE)"
                " UPDATE cosigner_presignatures AS p SET status = CASE"
                " WHEN old.reservation_expires_at_ms <= %s THEN 'discarded' ELSE 'consumed' END,"
                " public = NULL, secret = NULL, finished_at_ms = %s FROM old"
                " WHERE p.namespace = %s AND p.key_id = %s AND p.presignature_id = %s"
                " RETURNING old.public, old.secret, old.reservation_expires_at_ms",
                (self._ns, key_id, presignature_id, now, now, self._ns, key_id, presignature_id),
            )
            row = tx.one()
        if row is None or int(row[2]) <= now:
            return None
        return Presignature(key_id, presignature_id, bytes(row[0]), bytes(row[1]))

    def _release(self, key_id: str, presignature_id: str, now: int) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "UPDATE cosigner_presignatures SET status = 'available',"
                    " reserved_at_ms = NULL, reservation_expires_at_ms = NULL"
                    " WHERE namespace = %s AND key_id = %s AND presignature_id = %s"
                    " AND status = 'reserved' AND reservation_expires_at_ms > %s",
                    (self._ns, key_id, presignature_id, now),
                )
                == 1
            )

    def _discard(self, key_id: str, presignature_id: str, now: int) -> bool:
        where = " WHERE namespace = %s AND key_id = %s AND presignature_id = %s"
        ident = (self._ns, key_id, presignature_id)
        with self._write() as tx:
            tx.execute(
                f"UPDATE cosigner_presignatures SET {_RETIRE}{where}"
                " AND status IN ('available', 'reserved')",
                ("discarded", now, *ident),
            )
            tx.execute(f"SELECT 1 FROM cosigner_presignatures{where}", ident)
            return tx.one() is not None

    def _count_available(self, key_id: str) -> int:
        with self._read() as tx:
            tx.execute(
                "SELECT COUNT(*) FROM cosigner_presignatures"
                " WHERE namespace = %s AND key_id = %s AND status = 'available'",
                (self._ns, key_id),
            )
            row = tx.one()
        return 0 if row is None else int(row[0])

    def _count_available_total(self, scheme: str) -> int:
        with self._read() as tx:
            tx.execute(
                "SELECT COUNT(*) FROM cosigner_presignatures"
                " WHERE namespace = %s AND scheme = %s AND status = 'available'",
                (self._ns, scheme),
            )
            row = tx.one()
        return 0 if row is None else int(row[0])

    def _status(
        self, key_id: str, presignature_id: str
    ) -> tuple[PresignatureStatus, int | None] | None:
        with self._read() as tx:
            tx.execute(
                "SELECT status, reservation_expires_at_ms FROM cosigner_presignatures"
                " WHERE namespace = %s AND key_id = %s AND presignature_id = %s",
                (self._ns, key_id, presignature_id),
            )
            row = tx.one()
        if row is None:
            return None
        return PresignatureStatus(row[0]), None if row[1] is None else int(row[1])

    def _list_available(self, key_id: str) -> Iterable[PooledPresignature]:
        with self._read() as tx:
            tx.execute(
                "SELECT presignature_id, created_at_ms FROM cosigner_presignatures"
                " WHERE namespace = %s AND key_id = %s AND status = 'available'"
                f" ORDER BY {self._db.dialect.presignature_order}",
                (self._ns, key_id),
            )
            rows = tx.all()
        return [PooledPresignature(key_id, row[0], int(row[1])) for row in rows]

    def _discard_older(self, cutoff_ms: int, now: int) -> int:
        # One statement: on PostgreSQL a row a concurrent reserve holds is re-checked after its
        # lock (status is no longer 'available') and left alone.
        with self._write_one() as tx:
            return tx.execute(
                f"UPDATE cosigner_presignatures SET {_RETIRE}"
                " WHERE namespace = %s AND status = 'available' AND created_at_ms <= %s",
                ("discarded", now, self._ns, cutoff_ms),
            )


# -- identities and credentials -----------------------------------------------------------


def _identity(row: Row) -> Identity:
    return Identity(row[0], row[1], row[2], int(row[3]))


class SqlIdentityStore(_SqlPart, IdentityStore):
    _COLUMNS: Final = "provider, subject, user_id, created_at_ms"

    def _insert(self, identity: Identity) -> Identity:
        with self._write() as tx:
            tx.execute(
                f"INSERT INTO cosigner_identities (namespace, {self._COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    self._ns,
                    identity.provider,
                    identity.subject,
                    identity.user_id,
                    identity.created_at_ms,
                ),
            )
            tx.execute(
                f"SELECT {self._COLUMNS} FROM cosigner_identities"
                " WHERE namespace = %s AND provider = %s AND subject = %s",
                (self._ns, identity.provider, identity.subject),
            )
            row = tx.one()
        assert row is not None, "the identity row was just written"
        return _identity(row)

    def _load(self, provider: str, subject: str) -> Identity | None:
        with self._read() as tx:
            tx.execute(
                f"SELECT {self._COLUMNS} FROM cosigner_identities"
                " WHERE namespace = %s AND provider = %s AND subject = %s",
                (self._ns, provider, subject),
            )
            row = tx.one()
        return None if row is None else _identity(row)

    def _list_for_user(self, user_id: str) -> Iterable[Identity]:
        with self._read() as tx:
            tx.execute(
                f"SELECT {self._COLUMNS} FROM cosigner_identities"
                " WHERE namespace = %s AND user_id = %s",
                (self._ns, user_id),
            )
            rows = tx.all()
        return [_identity(row) for row in rows]

    def _delete(self, provider: str, subject: str, user_id: str) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "DELETE FROM cosigner_identities WHERE namespace = %s"
                    " AND provider = %s AND subject = %s AND user_id = %s",
                    (self._ns, provider, subject, user_id),
                )
                > 0
            )

    def _delete_unless_last(self, provider: str, subject: str, user_id: str) -> str:
        with self._write() as tx:
            # Lock every identity of the user, in one order: a concurrent unlink of another
            # of them waits here, then sees this one gone.
            tx.execute(
                "SELECT provider, subject FROM cosigner_identities"
                " WHERE namespace = %s AND user_id = %s ORDER BY provider, subject"
                f"{self._db.dialect.for_update}",
                (self._ns, user_id),
            )
            linked = {(row[0], row[1]) for row in tx.all()}
            if (provider, subject) not in linked:
                return UNLINK_MISSING
            if len(linked) <= 1:
                return UNLINK_LAST
            tx.execute(
                "DELETE FROM cosigner_identities WHERE namespace = %s"
                " AND provider = %s AND subject = %s AND user_id = %s",
                (self._ns, provider, subject, user_id),
            )
        return UNLINK_DONE


_CREDENTIAL_COLUMNS: Final = (
    "credential_id, user_id, rp_id, public_key, sign_count, transports, created_at_ms,"
    " last_used_at_ms"
)


def _credential(row: Row) -> WebAuthnCredential:
    return WebAuthnCredential(
        credential_id=bytes(row[0]),
        user_id=row[1],
        rp_id=row[2],
        public_key=bytes(row[3]),
        sign_count=int(row[4]),
        transports=tuple(json.loads(row[5])),
        created_at_ms=int(row[6]),
        last_used_at_ms=None if row[7] is None else int(row[7]),
    )


class SqlCredentialStore(_SqlPart, CredentialStore):
    def _insert(self, credential: WebAuthnCredential) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    f"INSERT INTO cosigner_webauthn_credentials (namespace, {_CREDENTIAL_COLUMNS})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (
                        self._ns,
                        credential.credential_id,
                        credential.user_id,
                        credential.rp_id,
                        credential.public_key,
                        credential.sign_count,
                        json.dumps(list(credential.transports)),
                        credential.created_at_ms,
                        credential.last_used_at_ms,
                    ),
                )
                == 1
            )

    def _load(self, credential_id: bytes) -> WebAuthnCredential | None:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_CREDENTIAL_COLUMNS} FROM cosigner_webauthn_credentials"
                " WHERE namespace = %s AND credential_id = %s",
                (self._ns, credential_id),
            )
            row = tx.one()
        return None if row is None else _credential(row)

    def _list_for_user(self, user_id: str) -> list[WebAuthnCredential]:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_CREDENTIAL_COLUMNS} FROM cosigner_webauthn_credentials"
                " WHERE namespace = %s AND user_id = %s",
                (self._ns, user_id),
            )
            rows = tx.all()
        return [_credential(row) for row in rows]

    def _update_sign_count(
        self, credential_id: bytes, sign_count: int, now: int
    ) -> WebAuthnCredential | None:
        with self._write_one() as tx:
            tx.execute(
                "UPDATE cosigner_webauthn_credentials SET sign_count = %s, last_used_at_ms = %s"
                " WHERE namespace = %s AND credential_id = %s"
                " AND (sign_count < %s OR (sign_count = 0 AND %s = 0))"
                f" RETURNING {_CREDENTIAL_COLUMNS}",
                (sign_count, now, self._ns, credential_id, sign_count, sign_count),
            )
            row = tx.one()
        return None if row is None else _credential(row)

    def _delete(self, credential_id: bytes) -> bool:
        with self._write_one() as tx:
            return (
                tx.execute(
                    "DELETE FROM cosigner_webauthn_credentials"
                    " WHERE namespace = %s AND credential_id = %s",
                    (self._ns, credential_id),
                )
                > 0
            )


# -- audit log ----------------------------------------------------------------------------

_AUDIT_COLUMNS: Final = "seq, at_ms, kind, subject, data, prev_hash, hash"


def _audit(row: Row) -> AuditEntry:
    return AuditEntry(
        int(row[0]), int(row[1]), row[2], row[3], row[4], bytes(row[5]), bytes(row[6])
    )


AUDIT_SEAL_BATCH: Final = 500
"""Waiting entries chained per transaction by :meth:`SqlAuditLog.seal_pending`."""


class SqlAuditLog(_SqlPart, AuditLog):
    def __init__(self, backend: SqlBackend, namespace: str, clock: Clock) -> None:
        super().__init__(backend, namespace, clock)
        # On PostgreSQL the head row's lock is held to the commit (and its disk flush), so
        # chaining in every signing request would line them all up behind one row.
        self.defers_chaining = backend.dialect is POSTGRES

    def _record(self, kind: str, subject: str, data: str, at_ms: int) -> None:
        if not self.defers_chaining:
            super()._record(kind, subject, data, at_ms)
            return
        with self._write_one() as tx:
            # Deferred: inside a unit it travels with the unit's next statement or COMMIT.
            tx.defer(
                "INSERT INTO cosigner_audit_pending (namespace, at_ms, kind, subject, data)"
                " VALUES (%s, %s, %s, %s, %s)",
                (self._ns, at_ms, kind, subject, data),
            )

    def seal_pending(self) -> int:
        """Chain the waiting entries, oldest first, :data:`AUDIT_SEAL_BATCH` per transaction."""
        if not self.defers_chaining:
            return 0
        # Nothing waiting (the usual case for readers and the sealer): no write transaction,
        # no lock on the head. An entry recorded after this look is sealed by the next call.
        with self._read() as tx:
            tx.execute(
                "SELECT 1 FROM cosigner_audit_pending WHERE namespace = %s LIMIT 1", (self._ns,)
            )
            if tx.one() is None:
                return 0
        sealed = 0
        while True:
            count = self._seal_batch()
            sealed += count
            if count < AUDIT_SEAL_BATCH:
                return sealed

    def _seal_batch(self) -> int:
        order = self._db.dialect.presignature_order
        with self._write() as tx:
            # The head first: sealers (and appends) take turns on it, and each then sees
            # what the one before it left.
            head = self._locked_head(tx)
            if head is None:
                return 0  # made when the store opens; nothing can be waiting before that
            tx.execute(
                f"SELECT {order}, at_ms, kind, subject, data FROM cosigner_audit_pending"
                f" WHERE namespace = %s ORDER BY {order} LIMIT %s",
                (self._ns, AUDIT_SEAL_BATCH),
            )
            rows = tx.all()
            if not rows:
                return 0
            self._chain_after(tx, head, [(int(at_ms), k, s, d) for _, at_ms, k, s, d in rows])
            tx.defer(
                f"DELETE FROM cosigner_audit_pending WHERE namespace = %s AND {order} = ANY(%s)",
                (self._ns, [int(row[0]) for row in rows]),
            )
        return len(rows)

    def _append(self, kind: str, subject: str, data: str, at_ms: int) -> AuditEntry:
        with self._write() as tx:
            head = self._locked_head(tx)
            if head is None:
                raise StoreUnavailableError(
                    "the audit log's head row is missing (it is made when the store opens)"
                )
            (entry,) = self._chain_after(tx, head, [(at_ms, kind, subject, data)])
        return entry

    def _locked_head(self, tx: Tx) -> tuple[int, bytes] | None:
        """The chain's (seq, hash), its row locked to the commit; None if the row is missing."""
        tx.execute(
            "SELECT seq, hash FROM cosigner_audit_head WHERE namespace = %s"
            f"{self._db.dialect.for_update}",
            (self._ns,),
        )
        row = tx.one()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def _chain_after(
        self, tx: Tx, head: tuple[int, bytes], rows: Sequence[tuple[int, str, str, str]]
    ) -> list[AuditEntry]:
        """Chain ``rows`` (at_ms, kind, subject, data) after the locked ``head``.

        Writes the entries and moves the head, both deferred: nothing reads their
        row counts, so on PostgreSQL they travel with the COMMIT.
        """
        seq, prev = head
        entries: list[AuditEntry] = []
        values: list[Any] = []
        for at_ms, kind, subject, data in rows:
            entry = chain_entry(seq, prev, at_ms=at_ms, kind=kind, subject=subject, data=data)
            entries.append(entry)
            values += [self._ns, entry.seq, entry.at_ms, entry.kind, entry.subject]
            values += [entry.data, entry.prev_hash, entry.hash]
            seq, prev = entry.seq, entry.hash
        placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
        tx.defer(
            f"INSERT INTO cosigner_audit_log (namespace, {_AUDIT_COLUMNS}) VALUES {placeholders}",
            values,
        )
        tx.defer(
            "UPDATE cosigner_audit_head SET seq = %s, hash = %s WHERE namespace = %s",
            (seq, prev, self._ns),
        )
        return entries

    def _entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        with self._read() as tx:
            tx.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM cosigner_audit_log"
                " WHERE namespace = %s AND seq > %s ORDER BY seq LIMIT %s",
                (self._ns, after_seq, limit),
            )
            rows = tx.all()
        return [_audit(row) for row in rows]

    def _head(self) -> tuple[int, bytes]:
        with self._read() as tx:
            tx.execute(
                "SELECT seq, hash FROM cosigner_audit_head WHERE namespace = %s", (self._ns,)
            )
            row = tx.one()
        return (0, GENESIS_HASH) if row is None else (int(row[0]), bytes(row[1]))


# -- the store ----------------------------------------------------------------------------


class SqlStore(Store):
    """All stores over one :class:`SqlBackend` and namespace; migrations run on open."""

    def __init__(self, backend: SqlBackend, *, namespace: str, clock: Clock) -> None:
        self._db = backend
        self._clock = clock
        self.namespace = namespace
        try:
            self.schema_version = run_migrations(backend, clock())
            with backend.transaction(write=True, single=True) as tx:
                # The chain's head row exists from the start, so an append need not make it.
                tx.execute(
                    "INSERT INTO cosigner_audit_head (namespace, seq, hash) VALUES (%s, 0, %s)"
                    " ON CONFLICT DO NOTHING",
                    (namespace, GENESIS_HASH),
                )
        except BaseException:
            backend.close()
            raise
        self.keys = SqlKeyStore(backend, namespace, clock)
        self.sessions = SqlSessionStore(backend, namespace, clock)
        self.session_versions = SqlSessionVersionStore(backend, namespace, clock)
        self.auth_sessions = SqlAuthSessionStore(backend, namespace, clock)
        self.presign_sessions = SqlPresignSessionStore(backend, namespace, clock)
        self.presignatures = SqlPresignaturePool(backend, namespace, clock)
        self.identities = SqlIdentityStore(backend, namespace, clock)
        self.credentials = SqlCredentialStore(backend, namespace, clock)
        self.audit = SqlAuditLog(backend, namespace, clock)

    def close(self) -> None:
        self._stop_unit_threads()
        self._db.close()

    def group(self, *, flush: bool = True) -> AbstractContextManager[None]:
        return self._db.group(flush=flush)

    async def atomic(self, unit: Callable[[], _T], *, flush: bool = True) -> _T:
        return await self._db.atomic(self, unit, flush=flush)

    def purge_expired(self) -> int:
        now = self._clock()
        purged = 0
        with self._db.transaction(write=True) as tx:
            for table in (
                "cosigner_sessions",
                "cosigner_auth_sessions",
                "cosigner_presign_sessions",
            ):
                purged += tx.execute(
                    f"DELETE FROM {table} WHERE namespace = %s AND expires_at_ms <= %s",
                    (self.namespace, now),
                )
        return purged
