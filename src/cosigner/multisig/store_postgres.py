"""The multisig store on PostgreSQL (psycopg 3 and a ``psycopg_pool`` pool).

The same contract as :class:`~cosigner.multisig.store.SQLiteMultisigStore`
(see :mod:`cosigner.multisig.store`), for several server instances sharing
one database:

* ``transaction()`` takes a pooled connection for the calling thread and
  runs one READ COMMITTED transaction on it; nested calls join it, and every
  store method called inside uses it. Isolation between writers comes from
  the compare-and-swap on ``version`` (``UPDATE ... WHERE version = %s``):
  of two requests that read the same record, the second to write finds the
  version moved, raises :class:`~cosigner.multisig.errors.StaleState` and
  rolls back everything it did. A serialization failure or deadlock reported
  by PostgreSQL is a :class:`StaleState` too (the caller retries);
* insert-if-absent is ``INSERT ... ON CONFLICT DO NOTHING`` (a concurrent
  insert of the same key waits for the first to commit, then does nothing);
* the single-use challenge take is ``DELETE ... RETURNING``.

Rows of every instance live in shared ``cosigner_multisig_*`` tables,
separated by a ``namespace`` column (the store URL's ``namespace`` option);
the tables are created on open under an advisory lock. Only public values
are stored, exactly as in SQLite: JSON records in ``TEXT``, DKG messages
(packages, ciphertexts, signatures) in ``BYTEA``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Any, Final

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from cosigner.multisig.errors import StaleState
from cosigner.multisig.identity import LoginChallenge
from cosigner.multisig.records import Group, KeygenMessage, MessageKind, Proposal
from cosigner.multisig.store import check_page
from cosigner.store.errors import StoreConfigError, StoreUnavailableError

Row = tuple[Any, ...]

_SCHEMA_LOCK_KEY: Final = 0x6D756C7469736967  # "multisig"
_LIVE: Final = ("collecting", "signing")

SCHEMA: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_groups (
        namespace TEXT NOT NULL,
        group_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (namespace, group_id)
    )""",
    # list_groups' order: ids in code point order (the "C" collation), whatever the
    # database's default collation is, as on the other backends.
    "CREATE INDEX IF NOT EXISTS cosigner_multisig_groups_by_id "
    'ON cosigner_multisig_groups (namespace, group_id COLLATE "C")',
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_group_owners (
        namespace TEXT NOT NULL,
        group_id TEXT NOT NULL,
        owner_key TEXT NOT NULL,
        PRIMARY KEY (namespace, group_id, owner_key)
    )""",
    "CREATE INDEX IF NOT EXISTS cosigner_multisig_group_owners_by_owner "
    "ON cosigner_multisig_group_owners (namespace, owner_key)",
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_keygen_messages (
        namespace TEXT NOT NULL,
        group_id TEXT NOT NULL,
        session TEXT NOT NULL,
        kind TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        body BYTEA NOT NULL,
        signature BYTEA NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (namespace, group_id, session, kind, sender, recipient)
    )""",
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_proposals (
        namespace TEXT NOT NULL,
        proposal_id TEXT NOT NULL,
        group_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (namespace, proposal_id)
    )""",
    "CREATE INDEX IF NOT EXISTS cosigner_multisig_proposals_by_group "
    "ON cosigner_multisig_proposals (namespace, group_id, created_at)",
    "CREATE INDEX IF NOT EXISTS cosigner_multisig_proposals_by_expiry "
    "ON cosigner_multisig_proposals (namespace, status, expires_at)",
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_commitments (
        namespace TEXT NOT NULL,
        digest TEXT NOT NULL,
        group_id TEXT NOT NULL,
        proposal_id TEXT NOT NULL,
        PRIMARY KEY (namespace, digest)
    )""",
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_login_challenges (
        namespace TEXT NOT NULL,
        challenge_id TEXT NOT NULL,
        expires_at BIGINT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (namespace, challenge_id)
    )""",
)

TABLES: Final[tuple[str, ...]] = (
    "cosigner_multisig_groups",
    "cosigner_multisig_group_owners",
    "cosigner_multisig_keygen_messages",
    "cosigner_multisig_proposals",
    "cosigner_multisig_commitments",
    "cosigner_multisig_login_challenges",
)


class _Local(threading.local):
    conn: psycopg.Connection[Row] | None = None
    depth: int = 0


class PostgresMultisigStore:
    """The multisig store contract over PostgreSQL; safe to share between threads."""

    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        max_connections: int = 10,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise StoreConfigError("a PostgreSQL store URL starts with postgresql://")
        if not namespace or len(namespace) > 64:
            raise StoreConfigError("the namespace is 1 to 64 characters")
        self.namespace = namespace
        self._local = _Local()
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            url, min_size=1, max_size=max_connections, open=False, name="cosigner-multisig"
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout_s)
        except (PoolTimeout, psycopg.Error) as exc:
            self._pool.close()
            raise StoreUnavailableError(
                f"cannot connect to the PostgreSQL multisig store: {type(exc).__name__}"
            ) from None
        with self._transaction() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK_KEY,))
            for ddl in SCHEMA:
                conn.execute(ddl.encode())

    # -- connections and transactions ---------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Connection[Row]]:
        local = self._local
        if local.conn is not None:
            local.depth += 1
            try:
                yield local.conn
            finally:
                local.depth -= 1
            return
        try:
            with self._pool.connection() as conn:
                local.conn, local.depth = conn, 1
                try:
                    with conn.transaction():
                        yield conn
                finally:
                    local.conn, local.depth = None, 0
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected):
            raise StaleState("a concurrent request changed the same records; retry") from None
        except PoolTimeout:
            raise StoreUnavailableError("no PostgreSQL connection was free in time") from None
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(
                f"the PostgreSQL multisig store did not answer: {type(exc).__name__}"
            ) from None

    def transaction(self) -> AbstractContextManager[None]:
        @contextmanager
        def joined() -> Iterator[None]:
            with self._transaction():
                yield

        return joined()

    def _execute(self, sql: str, params: Sequence[object]) -> int:
        with self._transaction() as conn:
            return conn.execute(sql.encode(), tuple(params)).rowcount

    def _one(self, sql: str, params: Sequence[object]) -> Row | None:
        with self._transaction() as conn:
            return conn.execute(sql.encode(), tuple(params)).fetchone()

    def _all(self, sql: str, params: Sequence[object]) -> list[Row]:
        with self._transaction() as conn:
            return conn.execute(sql.encode(), tuple(params)).fetchall()

    # -- groups ---------------------------------------------------------------------------------

    def insert_group(self, group: Group) -> Group:
        stored = replace(group, version=1)
        with self._transaction():
            n = self._execute(
                "INSERT INTO cosigner_multisig_groups "
                "(namespace, group_id, version, status, created_at, data) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    self.namespace,
                    group.group_id,
                    1,
                    group.status,
                    group.created_at,
                    stored.to_json(),
                ),
            )
            if n != 1:
                raise StaleState(f"group {group.group_id} already exists")
            for key in group.owner_keys:
                self._execute(
                    "INSERT INTO cosigner_multisig_group_owners (namespace, group_id, owner_key) "
                    "VALUES (%s, %s, %s)",
                    (self.namespace, group.group_id, key.hex()),
                )
        return stored

    def get_group(self, group_id: str) -> Group | None:
        row = self._one(
            "SELECT data FROM cosigner_multisig_groups WHERE namespace = %s AND group_id = %s",
            (self.namespace, group_id),
        )
        return None if row is None else Group.from_json(str(row[0]))

    def update_group(self, group: Group) -> Group:
        stored = replace(group, version=group.version + 1)
        n = self._execute(
            "UPDATE cosigner_multisig_groups SET version = %s, status = %s, data = %s "
            "WHERE namespace = %s AND group_id = %s AND version = %s",
            (
                stored.version,
                stored.status,
                stored.to_json(),
                self.namespace,
                group.group_id,
                group.version,
            ),
        )
        if n != 1:
            raise StaleState(f"group {group.group_id} changed since it was read; retry")
        return stored

    def groups_for_owner(self, owner: bytes) -> list[Group]:
        rows = self._all(
            "SELECT g.data FROM cosigner_multisig_groups g "
            "JOIN cosigner_multisig_group_owners o "
            "ON o.namespace = g.namespace AND o.group_id = g.group_id "
            "WHERE o.namespace = %s AND o.owner_key = %s ORDER BY g.created_at, g.group_id",
            (self.namespace, owner.hex()),
        )
        return [Group.from_json(str(r[0])) for r in rows]

    def list_groups(self, limit: int, after: str | None = None) -> list[Group]:
        check_page(limit, after)
        sql = "SELECT data FROM cosigner_multisig_groups WHERE namespace = %s"
        params: list[object] = [self.namespace]
        if after is not None:
            sql += ' AND group_id COLLATE "C" > %s'
            params.append(after)
        rows = self._all(sql + ' ORDER BY group_id COLLATE "C" LIMIT %s', [*params, limit])
        return [Group.from_json(str(r[0])) for r in rows]

    # -- keygen messages ------------------------------------------------------------------------

    def add_keygen_message(self, message: KeygenMessage) -> bool:
        n = self._execute(
            "INSERT INTO cosigner_multisig_keygen_messages (namespace, group_id, session, kind, "
            "sender, recipient, body, signature, created_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (
                self.namespace,
                message.group_id,
                message.session,
                message.kind,
                message.sender.hex(),
                message.recipient.hex(),
                message.body,
                message.signature,
                message.created_at,
            ),
        )
        return n == 1

    def keygen_messages(
        self, group_id: str, session: str, kind: MessageKind
    ) -> list[KeygenMessage]:
        rows = self._all(
            "SELECT sender, recipient, body, signature, created_at "
            "FROM cosigner_multisig_keygen_messages "
            "WHERE namespace = %s AND group_id = %s AND session = %s AND kind = %s "
            "ORDER BY created_at, sender, recipient",
            (self.namespace, group_id, session, kind),
        )
        return [
            KeygenMessage(
                group_id,
                session,
                kind,
                bytes.fromhex(str(sender)),
                bytes.fromhex(str(recipient)),
                bytes(body),
                bytes(signature),
                int(created_at),
            )
            for sender, recipient, body, signature, created_at in rows
        ]

    # -- proposals ------------------------------------------------------------------------------

    def insert_proposal(self, proposal: Proposal) -> Proposal:
        stored = replace(proposal, version=1)
        n = self._execute(
            "INSERT INTO cosigner_multisig_proposals (namespace, proposal_id, group_id, version, "
            "status, created_at, expires_at, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (
                self.namespace,
                proposal.proposal_id,
                proposal.group_id,
                1,
                proposal.status,
                proposal.created_at,
                proposal.expires_at,
                stored.to_json(),
            ),
        )
        if n != 1:
            raise StaleState(f"proposal {proposal.proposal_id} already exists")
        return stored

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        row = self._one(
            "SELECT data FROM cosigner_multisig_proposals "
            "WHERE namespace = %s AND proposal_id = %s",
            (self.namespace, proposal_id),
        )
        return None if row is None else Proposal.from_json(str(row[0]))

    def update_proposal(self, proposal: Proposal) -> Proposal:
        stored = replace(proposal, version=proposal.version + 1)
        n = self._execute(
            "UPDATE cosigner_multisig_proposals SET version = %s, status = %s, expires_at = %s, "
            "data = %s WHERE namespace = %s AND proposal_id = %s AND version = %s",
            (
                stored.version,
                stored.status,
                stored.expires_at,
                stored.to_json(),
                self.namespace,
                proposal.proposal_id,
                proposal.version,
            ),
        )
        if n != 1:
            raise StaleState(f"proposal {proposal.proposal_id} changed since it was read; retry")
        return stored

    def list_proposals(
        self, group_id: str, statuses: Sequence[str] | None = None
    ) -> list[Proposal]:
        sql = "SELECT data FROM cosigner_multisig_proposals WHERE namespace = %s AND group_id = %s"
        params: list[object] = [self.namespace, group_id]
        if statuses is not None:
            if not statuses:
                return []
            sql += " AND status = ANY(%s)"
            params.append(list(statuses))
        sql += " ORDER BY created_at, proposal_id"
        return [Proposal.from_json(str(r[0])) for r in self._all(sql, params)]

    def expiring_proposals(self, now: int) -> list[Proposal]:
        rows = self._all(
            "SELECT data FROM cosigner_multisig_proposals "
            "WHERE namespace = %s AND status = ANY(%s) AND expires_at <= %s "
            "ORDER BY expires_at, proposal_id",
            (self.namespace, list(_LIVE), now),
        )
        return [Proposal.from_json(str(r[0])) for r in rows]

    # -- commitments and challenges -------------------------------------------------------------

    def claim_commitment(self, group_id: str, digest: bytes, proposal_id: str) -> bool:
        n = self._execute(
            "INSERT INTO cosigner_multisig_commitments (namespace, digest, group_id, proposal_id) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (self.namespace, digest.hex(), group_id, proposal_id),
        )
        return n == 1

    def put_challenge(self, challenge: LoginChallenge) -> None:
        n = self._execute(
            "INSERT INTO cosigner_multisig_login_challenges "
            "(namespace, challenge_id, expires_at, data) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (
                self.namespace,
                challenge.challenge_id,
                challenge.expires_at,
                json.dumps(challenge.to_dict()),
            ),
        )
        if n != 1:
            raise StaleState("a challenge with this id already exists")

    def take_challenge(self, challenge_id: str) -> LoginChallenge | None:
        row = self._one(
            "DELETE FROM cosigner_multisig_login_challenges "
            "WHERE namespace = %s AND challenge_id = %s RETURNING data",
            (self.namespace, challenge_id),
        )
        return None if row is None else LoginChallenge.from_dict(json.loads(str(row[0])))

    def purge_challenges(self, now: int) -> int:
        return self._execute(
            "DELETE FROM cosigner_multisig_login_challenges "
            "WHERE namespace = %s AND expires_at <= %s",
            (self.namespace, now),
        )

    def close(self) -> None:
        self._pool.close()

    def __repr__(self) -> str:
        return f"PostgresMultisigStore(namespace={self.namespace!r})"


__all__ = ["SCHEMA", "TABLES", "PostgresMultisigStore"]
