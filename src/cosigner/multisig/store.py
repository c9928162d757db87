"""Storage for the multisig coordinator: one small protocol, a memory and a SQLite backend.

:class:`MultisigStore` is what :class:`~cosigner.multisig.coordinator.Coordinator`
needs and nothing more:

* ``transaction()``: a re-entrant context in which every read and write is
  atomic and isolated from other writers (SQLite ``BEGIN IMMEDIATE``; the
  memory store holds a lock and restores a snapshot on error). The
  coordinator runs each request in one transaction, so a refused request
  leaves no partial write;
* groups and proposals as versioned records: ``insert_*`` starts at version
  1, ``update_*`` is a compare-and-swap on the version it was read at and
  raises :class:`~cosigner.multisig.errors.StaleState` if another writer got
  there first (which also makes the store safe under PostgreSQL's READ
  COMMITTED, where a transaction alone would not be);
* ``list_groups(limit, after)``: every group, a page at a time, ordered by
  ``group_id`` in code point order, the same on every backend (SQLite's
  ``BINARY`` collation, PostgreSQL's ``"C"``, a Redis sorted set's
  lexicographic order). A page holds at most ``limit`` (at least 1) groups
  whose id is above ``after`` (exclusive; None starts at the first): pass
  the last id of a page to get the next, until a page comes back short. The
  cursor is the id alone, so a page is one index range read, and groups
  created during a walk never shift it (none is repeated or skipped; a new
  one is seen if its id sorts after the cursor, and the coordinator's
  events tell of it anyway). Ids are random: this is no time order, and
  callers sort for display;
* DKG messages, insert-if-absent on (group, session, kind, sender,
  recipient): one message per owner per round;
* ``claim_commitment``: insert-if-absent of a round-one commitment's digest
  (across all groups: a nonce pair is for one signature, whatever the key),
  the durable guard against a commitment used twice;
* login challenges with an atomic ``take`` (read and delete): single use.

Only public values are stored (see :mod:`cosigner.multisig.records`); the
coordinator never has a secret share to store.

The SQL is portable to PostgreSQL: ``TEXT``, ``BIGINT``, ``BLOB`` (``BYTEA``
there), ``INSERT ... ON CONFLICT DO NOTHING``, ``DELETE ... RETURNING``,
no SQLite-only types or functions; only the parameter style (``?`` here,
``%s`` for psycopg) differs. JSON lives in ``TEXT`` columns, written by
:meth:`Group.to_json` / :meth:`Proposal.to_json`; the columns beside it
(status, expiry, owners) exist to be indexed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from typing import Protocol, runtime_checkable

from cosigner.multisig.errors import StaleState
from cosigner.multisig.identity import LoginChallenge
from cosigner.multisig.records import Group, KeygenMessage, MessageKind, Proposal

MessageKey = tuple[str, str, str, bytes, bytes]


@runtime_checkable
class MultisigStore(Protocol):
    """The coordinator's storage contract (see the module docstring)."""

    def transaction(self) -> AbstractContextManager[None]: ...

    def insert_group(self, group: Group) -> Group: ...

    def get_group(self, group_id: str) -> Group | None: ...

    def update_group(self, group: Group) -> Group: ...

    def groups_for_owner(self, owner: bytes) -> list[Group]: ...

    def list_groups(self, limit: int, after: str | None = None) -> list[Group]: ...

    def add_keygen_message(self, message: KeygenMessage) -> bool: ...

    def keygen_messages(
        self, group_id: str, session: str, kind: MessageKind
    ) -> list[KeygenMessage]: ...

    def insert_proposal(self, proposal: Proposal) -> Proposal: ...

    def get_proposal(self, proposal_id: str) -> Proposal | None: ...

    def update_proposal(self, proposal: Proposal) -> Proposal: ...

    def list_proposals(
        self, group_id: str, statuses: Sequence[str] | None = None
    ) -> list[Proposal]: ...

    def expiring_proposals(self, now: int) -> list[Proposal]: ...

    def claim_commitment(self, group_id: str, digest: bytes, proposal_id: str) -> bool: ...

    def put_challenge(self, challenge: LoginChallenge) -> None: ...

    def take_challenge(self, challenge_id: str) -> LoginChallenge | None: ...

    def purge_challenges(self, now: int) -> int: ...

    def close(self) -> None: ...


_LIVE = ("collecting", "signing")


def check_page(limit: int, after: str | None) -> None:
    """Refuse a ``list_groups`` page unless ``limit >= 1`` and ``after`` is a string or None."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError("limit is a positive integer")
    if after is not None and not isinstance(after, str):
        raise ValueError("after is a group id or None")


# -- memory ------------------------------------------------------------------------------------


class MemoryMultisigStore:
    """In-process storage with the same contract (records kept as JSON, like the SQL one)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._groups: dict[str, str] = {}
        self._proposals: dict[str, str] = {}
        self._messages: dict[MessageKey, KeygenMessage] = {}
        self._commitments: dict[bytes, tuple[str, str]] = {}
        self._challenges: dict[str, LoginChallenge] = {}

    def _snapshot(
        self,
    ) -> tuple[
        dict[str, str],
        dict[str, str],
        dict[MessageKey, KeygenMessage],
        dict[bytes, tuple[str, str]],
        dict[str, LoginChallenge],
    ]:
        return (
            dict(self._groups),
            dict(self._proposals),
            dict(self._messages),
            dict(self._commitments),
            dict(self._challenges),
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            snapshot = self._snapshot() if self._depth == 0 else None
            self._depth += 1
            try:
                yield
            except BaseException:
                if snapshot is not None:
                    (
                        self._groups,
                        self._proposals,
                        self._messages,
                        self._commitments,
                        self._challenges,
                    ) = snapshot
                raise
            finally:
                self._depth -= 1

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    def insert_group(self, group: Group) -> Group:
        with self._transaction():
            if group.group_id in self._groups:
                raise StaleState(f"group {group.group_id} already exists")
            stored = replace(group, version=1)
            self._groups[group.group_id] = stored.to_json()
            return stored

    def get_group(self, group_id: str) -> Group | None:
        with self._lock:
            text = self._groups.get(group_id)
        return None if text is None else Group.from_json(text)

    def update_group(self, group: Group) -> Group:
        with self._transaction():
            current = self.get_group(group.group_id)
            if current is None or current.version != group.version:
                raise StaleState(f"group {group.group_id} changed since it was read; retry")
            stored = replace(group, version=group.version + 1)
            self._groups[group.group_id] = stored.to_json()
            return stored

    def groups_for_owner(self, owner: bytes) -> list[Group]:
        with self._lock:
            groups = [Group.from_json(t) for t in self._groups.values()]
        return sorted(
            (g for g in groups if owner in g.owner_keys), key=lambda g: (g.created_at, g.group_id)
        )

    def list_groups(self, limit: int, after: str | None = None) -> list[Group]:
        check_page(limit, after)
        with self._lock:
            ids = sorted(i for i in self._groups if after is None or i > after)[:limit]
            texts = [self._groups[i] for i in ids]
        return [Group.from_json(t) for t in texts]

    def add_keygen_message(self, message: KeygenMessage) -> bool:
        key = (message.group_id, message.session, message.kind, message.sender, message.recipient)
        with self._transaction():
            if key in self._messages:
                return False
            self._messages[key] = message
            return True

    def keygen_messages(
        self, group_id: str, session: str, kind: MessageKind
    ) -> list[KeygenMessage]:
        with self._lock:
            found = [
                m
                for (g, s, k, _, _), m in self._messages.items()
                if g == group_id and s == session and k == kind
            ]
        return sorted(found, key=lambda m: (m.created_at, m.sender, m.recipient))

    def insert_proposal(self, proposal: Proposal) -> Proposal:
        with self._transaction():
            if proposal.proposal_id in self._proposals:
                raise StaleState(f"proposal {proposal.proposal_id} already exists")
            stored = replace(proposal, version=1)
            self._proposals[proposal.proposal_id] = stored.to_json()
            return stored

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        with self._lock:
            text = self._proposals.get(proposal_id)
        return None if text is None else Proposal.from_json(text)

    def update_proposal(self, proposal: Proposal) -> Proposal:
        with self._transaction():
            current = self.get_proposal(proposal.proposal_id)
            if current is None or current.version != proposal.version:
                raise StaleState(
                    f"proposal {proposal.proposal_id} changed since it was read; retry"
                )
            stored = replace(proposal, version=proposal.version + 1)
            self._proposals[proposal.proposal_id] = stored.to_json()
            return stored

    def list_proposals(
        self, group_id: str, statuses: Sequence[str] | None = None
    ) -> list[Proposal]:
        with self._lock:
            found = [Proposal.from_json(t) for t in self._proposals.values()]
        return sorted(
            (
                p
                for p in found
                if p.group_id == group_id and (statuses is None or p.status in statuses)
            ),
            key=lambda p: (p.created_at, p.proposal_id),
        )

    def expiring_proposals(self, now: int) -> list[Proposal]:
        with self._lock:
            found = [Proposal.from_json(t) for t in self._proposals.values()]
        return sorted(
            (p for p in found if p.status in _LIVE and p.expires_at <= now),
            key=lambda p: (p.expires_at, p.proposal_id),
        )

    def claim_commitment(self, group_id: str, digest: bytes, proposal_id: str) -> bool:
        with self._transaction():
            if digest in self._commitments:
                return False
            self._commitments[digest] = (group_id, proposal_id)
            return True

    def put_challenge(self, challenge: LoginChallenge) -> None:
        with self._transaction():
            if challenge.challenge_id in self._challenges:
                raise StaleState("a challenge with this id already exists")
            self._challenges[challenge.challenge_id] = challenge

    def take_challenge(self, challenge_id: str) -> LoginChallenge | None:
        with self._transaction():
            return self._challenges.pop(challenge_id, None)

    def purge_challenges(self, now: int) -> int:
        with self._transaction():
            dead = [k for k, c in self._challenges.items() if c.expires_at <= now]
            for k in dead:
                del self._challenges[k]
            return len(dead)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"MemoryMultisigStore(groups={len(self._groups)}, proposals={len(self._proposals)})"


# -- SQLite --------------------------------------------------------------------------------------

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE IF NOT EXISTS multisig_groups (
        group_id TEXT PRIMARY KEY,
        version BIGINT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        data TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS multisig_group_owners (
        group_id TEXT NOT NULL,
        owner_key TEXT NOT NULL,
        PRIMARY KEY (group_id, owner_key)
    )""",
    "CREATE INDEX IF NOT EXISTS multisig_group_owners_by_owner "
    "ON multisig_group_owners (owner_key)",
    """CREATE TABLE IF NOT EXISTS multisig_keygen_messages (
        group_id TEXT NOT NULL,
        session TEXT NOT NULL,
        kind TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        body BLOB NOT NULL,
        signature BLOB NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (group_id, session, kind, sender, recipient)
    )""",
    """CREATE TABLE IF NOT EXISTS multisig_proposals (
        proposal_id TEXT PRIMARY KEY,
        group_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        data TEXT NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS multisig_proposals_by_group "
    "ON multisig_proposals (group_id, created_at)",
    "CREATE INDEX IF NOT EXISTS multisig_proposals_by_expiry "
    "ON multisig_proposals (status, expires_at)",
    """CREATE TABLE IF NOT EXISTS multisig_commitments (
        digest TEXT PRIMARY KEY,
        group_id TEXT NOT NULL,
        proposal_id TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS multisig_login_challenges (
        challenge_id TEXT PRIMARY KEY,
        expires_at BIGINT NOT NULL,
        data TEXT NOT NULL
    )""",
)


class SQLiteMultisigStore:
    """The contract on one SQLite file (stdlib ``sqlite3``); safe to share between threads."""

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 10.0) -> None:
        self._conn = sqlite3.connect(
            os.fspath(path), timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._lock = threading.RLock()
        self._depth = 0
        with self._transaction():
            for ddl in SCHEMA:
                self._conn.execute(ddl)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._conn.execute("COMMIT")

    def transaction(self) -> AbstractContextManager[None]:
        return self._transaction()

    def _one(self, sql: str, params: Sequence[object]) -> tuple[object, ...] | None:
        with self._lock:
            row = self._conn.execute(sql, tuple(params)).fetchone()
        return None if row is None else tuple(row)

    def _all(self, sql: str, params: Sequence[object]) -> list[tuple[object, ...]]:
        with self._lock:
            return [tuple(r) for r in self._conn.execute(sql, tuple(params)).fetchall()]

    # groups

    def insert_group(self, group: Group) -> Group:
        stored = replace(group, version=1)
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO multisig_groups (group_id, version, status, created_at, data) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (group.group_id, 1, group.status, group.created_at, stored.to_json()),
            )
            if cur.rowcount != 1:
                raise StaleState(f"group {group.group_id} already exists")
            for key in group.owner_keys:
                self._conn.execute(
                    "INSERT INTO multisig_group_owners (group_id, owner_key) VALUES (?, ?)",
                    (group.group_id, key.hex()),
                )
        return stored

    def get_group(self, group_id: str) -> Group | None:
        row = self._one("SELECT data FROM multisig_groups WHERE group_id = ?", (group_id,))
        return None if row is None else Group.from_json(str(row[0]))

    def update_group(self, group: Group) -> Group:
        stored = replace(group, version=group.version + 1)
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE multisig_groups SET version = ?, status = ?, data = ? "
                "WHERE group_id = ? AND version = ?",
                (stored.version, stored.status, stored.to_json(), group.group_id, group.version),
            )
            if cur.rowcount != 1:
                raise StaleState(f"group {group.group_id} changed since it was read; retry")
        return stored

    def groups_for_owner(self, owner: bytes) -> list[Group]:
        rows = self._all(
            "SELECT g.data FROM multisig_groups g JOIN multisig_group_owners o "
            "ON o.group_id = g.group_id WHERE o.owner_key = ? ORDER BY g.created_at, g.group_id",
            (owner.hex(),),
        )
        return [Group.from_json(str(r[0])) for r in rows]

    def list_groups(self, limit: int, after: str | None = None) -> list[Group]:
        check_page(limit, after)
        sql = "SELECT data FROM multisig_groups"
        params: list[object] = []
        if after is not None:
            sql += " WHERE group_id > ?"
            params.append(after)
        rows = self._all(sql + " ORDER BY group_id LIMIT ?", [*params, limit])
        return [Group.from_json(str(r[0])) for r in rows]

    # keygen messages

    def add_keygen_message(self, message: KeygenMessage) -> bool:
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO multisig_keygen_messages (group_id, session, kind, sender, "
                "recipient, body, signature, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (
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
            return cur.rowcount == 1

    def keygen_messages(
        self, group_id: str, session: str, kind: MessageKind
    ) -> list[KeygenMessage]:
        rows = self._all(
            "SELECT sender, recipient, body, signature, created_at FROM multisig_keygen_messages "
            "WHERE group_id = ? AND session = ? AND kind = ? "
            "ORDER BY created_at, sender, recipient",
            (group_id, session, kind),
        )
        return [
            KeygenMessage(
                group_id,
                session,
                kind,
                bytes.fromhex(str(sender)),
                bytes.fromhex(str(recipient)),
                bytes(body),  # type: ignore[call-overload]
                bytes(signature),  # type: ignore[call-overload]
                int(created_at),  # type: ignore[call-overload]
            )
            for sender, recipient, body, signature, created_at in rows
        ]

    # proposals

    def insert_proposal(self, proposal: Proposal) -> Proposal:
        stored = replace(proposal, version=1)
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO multisig_proposals (proposal_id, group_id, version, status, "
                "created_at, expires_at, data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    proposal.proposal_id,
                    proposal.group_id,
                    1,
                    proposal.status,
                    proposal.created_at,
                    proposal.expires_at,
                    stored.to_json(),
                ),
            )
            if cur.rowcount != 1:
                raise StaleState(f"proposal {proposal.proposal_id} already exists")
        return stored

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        row = self._one("SELECT data FROM multisig_proposals WHERE proposal_id = ?", (proposal_id,))
        return None if row is None else Proposal.from_json(str(row[0]))

    def update_proposal(self, proposal: Proposal) -> Proposal:
        stored = replace(proposal, version=proposal.version + 1)
        with self._transaction():
            cur = self._conn.execute(
                "UPDATE multisig_proposals SET version = ?, status = ?, expires_at = ?, data = ? "
                "WHERE proposal_id = ? AND version = ?",
                (
                    stored.version,
                    stored.status,
                    stored.expires_at,
                    stored.to_json(),
                    proposal.proposal_id,
                    proposal.version,
                ),
            )
            if cur.rowcount != 1:
                raise StaleState(
                    f"proposal {proposal.proposal_id} changed since it was read; retry"
                )
        return stored

    def list_proposals(
        self, group_id: str, statuses: Sequence[str] | None = None
    ) -> list[Proposal]:
        sql = "SELECT data FROM multisig_proposals WHERE group_id = ?"
        params: list[object] = [group_id]
        if statuses is not None:
            if not statuses:
                return []
            sql += f" AND status IN ({', '.join('?' for _ in statuses)})"
            params.extend(statuses)
        sql += " ORDER BY created_at, proposal_id"
        return [Proposal.from_json(str(r[0])) for r in self._all(sql, params)]

    def expiring_proposals(self, now: int) -> list[Proposal]:
        rows = self._all(
            "SELECT data FROM multisig_proposals WHERE status IN (?, ?) AND expires_at <= ? "
            "ORDER BY expires_at, proposal_id",
            (*_LIVE, now),
        )
        return [Proposal.from_json(str(r[0])) for r in rows]

    # commitments and challenges

    def claim_commitment(self, group_id: str, digest: bytes, proposal_id: str) -> bool:
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO multisig_commitments (digest, group_id, proposal_id) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (digest.hex(), group_id, proposal_id),
            )
            return cur.rowcount == 1

    def put_challenge(self, challenge: LoginChallenge) -> None:
        with self._transaction():
            cur = self._conn.execute(
                "INSERT INTO multisig_login_challenges (challenge_id, expires_at, data) "
                "VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                (challenge.challenge_id, challenge.expires_at, json.dumps(challenge.to_dict())),
            )
            if cur.rowcount != 1:
                raise StaleState("a challenge with this id already exists")

    def take_challenge(self, challenge_id: str) -> LoginChallenge | None:
        with self._transaction():
            row = self._conn.execute(
                "DELETE FROM multisig_login_challenges WHERE challenge_id = ? RETURNING data",
                (challenge_id,),
            ).fetchone()
        return None if row is None else LoginChallenge.from_dict(json.loads(row[0]))

    def purge_challenges(self, now: int) -> int:
        with self._transaction():
            cur = self._conn.execute(
                "DELETE FROM multisig_login_challenges WHERE expires_at <= ?", (now,)
            )
            return int(cur.rowcount)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __repr__(self) -> str:
        return "SQLiteMultisigStore()"


__all__ = ["MemoryMultisigStore", "MultisigStore", "SQLiteMultisigStore", "check_page"]
