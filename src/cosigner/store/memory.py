"""In-process store for tests: dictionaries behind one lock.

``memory://`` opens a private store; ``memory://NAME`` opens the store of
that name in this process, so two instances opened from one URL share state
(as two servers would share a database). Nothing survives the process, so
never use it where a consumed presignature must stay consumed.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

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
    check_namespace,
    run_unit,
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
    WebAuthnCredential,
    system_clock,
)

_T = TypeVar("_T")


@dataclass
class _PresignatureRow:
    order: int
    status: PresignatureStatus
    public: bytes
    secret: bytes = field(repr=False)
    scheme: str = ""
    reserved_at_ms: int | None = None
    expires_at_ms: int | None = None
    created_at_ms: int = 0


@dataclass
class _MemoryState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    keys: dict[str, KeyRecord] = field(default_factory=dict)
    sessions: dict[tuple[str, str], SessionRecord] = field(default_factory=dict)
    session_versions: dict[str, int] = field(default_factory=dict)
    auth_sessions: dict[str, AuthSession] = field(default_factory=dict)
    presign_sessions: dict[str, PresignSession] = field(default_factory=dict)
    presignatures: dict[tuple[str, str], _PresignatureRow] = field(default_factory=dict)
    presignature_order: int = 0
    identities: dict[tuple[str, str], Identity] = field(default_factory=dict)
    credentials: dict[bytes, WebAuthnCredential] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    audit_head: tuple[int, bytes] = (0, GENESIS_HASH)


_NAMED: dict[tuple[str, str], _MemoryState] = {}
_NAMED_LOCK = threading.Lock()


class _MemoryPart(StorePart):
    def __init__(self, state: _MemoryState, clock: Clock) -> None:
        super().__init__(clock)
        self._s = state


class MemoryKeyStore(_MemoryPart, KeyStore):
    def _insert(self, record: KeyRecord, metadata_json: str) -> bool:
        with self._s.lock:
            if record.key_id in self._s.keys:
                return False
            self._s.keys[record.key_id] = record
            return True

    def _load(self, key_id: str) -> KeyRecord | None:
        with self._s.lock:
            return self._s.keys.get(key_id)

    def _list_for_user(self, user_id: str) -> Iterable[KeyRecord]:
        with self._s.lock:
            return [r for r in self._s.keys.values() if r.user_id == user_id]

    def _delete(self, key_id: str) -> bool:
        with self._s.lock:
            return self._s.keys.pop(key_id, None) is not None


class MemorySessionStore(_MemoryPart, SessionStore):
    def _insert(self, record: SessionRecord, now: int) -> bool:
        with self._s.lock:
            return self._s.sessions.setdefault((record.kind, record.session_id), record) is record

    def _load(self, kind: str, session_id: str) -> SessionRecord | None:
        with self._s.lock:
            return self._s.sessions.get((kind, session_id))

    def _take(self, kind: str, session_id: str) -> SessionRecord | None:
        with self._s.lock:
            return self._s.sessions.pop((kind, session_id), None)

    def _delete(self, kind: str, session_id: str) -> bool:
        return self._take(kind, session_id) is not None


class MemorySessionVersionStore(_MemoryPart, SessionVersionStore):
    def _load(self, user_id: str) -> int:
        with self._s.lock:
            return self._s.session_versions.get(user_id, 0)

    def _increment(self, user_id: str, now: int) -> int:
        with self._s.lock:
            version = self._s.session_versions.get(user_id, 0) + 1
            self._s.session_versions[user_id] = version
            return version


class MemoryAuthSessionStore(_MemoryPart, AuthSessionStore):
    def _insert(self, record: AuthSession, now: int) -> bool:
        with self._s.lock:
            return self._s.auth_sessions.setdefault(record.session_id, record) is record

    def _load(self, session_id: str) -> AuthSession | None:
        with self._s.lock:
            return self._s.auth_sessions.get(session_id)

    def _increment_use(
        self, session_id: str, now: int, scope_key: str | None
    ) -> AuthSession | None:
        with self._s.lock:
            current = self._s.auth_sessions.get(session_id)
            if (
                current is None
                or current.expires_at_ms <= now
                or (scope_key is not None and current.scope.canonical() != scope_key)
                or current.uses >= current.max_uses
            ):
                return None
            updated = dataclasses.replace(current, uses=current.uses + 1)
            self._s.auth_sessions[session_id] = updated
            return updated

    def _delete(self, session_id: str) -> bool:
        with self._s.lock:
            return self._s.auth_sessions.pop(session_id, None) is not None


class MemoryPresignSessionStore(_MemoryPart, PresignSessionStore):
    def _insert(self, record: PresignSession, now: int) -> bool:
        with self._s.lock:
            return self._s.presign_sessions.setdefault(record.session_id, record) is record

    def _load(self, session_id: str) -> PresignSession | None:
        with self._s.lock:
            return self._s.presign_sessions.get(session_id)

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
        with self._s.lock:
            current = self._s.presign_sessions.get(session_id)
            if (
                current is None
                or current.version != expected_version
                or current.expires_at_ms <= now
                or current.scope.canonical() != scope_key
                or current.stage not in from_stages
            ):
                return None
            updated = dataclasses.replace(
                current,
                stage=stage,
                state=state,
                version=current.version + 1,
                updated_at_ms=now,
                expires_at_ms=current.expires_at_ms if expires_at_ms is None else expires_at_ms,
            )
            self._s.presign_sessions[session_id] = updated
            return updated

    def _delete(self, session_id: str) -> bool:
        with self._s.lock:
            return self._s.presign_sessions.pop(session_id, None) is not None


class MemoryPresignaturePool(_MemoryPart, PresignaturePool):
    def _insert(
        self,
        key_id: str,
        presignature_id: str,
        public: bytes,
        secret: bytes,
        now: int,
        scheme: str,
    ) -> bool:
        with self._s.lock:
            if (key_id, presignature_id) in self._s.presignatures:
                return False
            self._s.presignature_order += 1
            self._s.presignatures[key_id, presignature_id] = _PresignatureRow(
                self._s.presignature_order,
                PresignatureStatus.AVAILABLE,
                public,
                secret,
                scheme,
                created_at_ms=now,
            )
            return True

    def _reserve(
        self, key_id: str, now: int, expires_at_ms: int, presignature_id: str | None
    ) -> Reservation | None:
        with self._s.lock:
            oldest: tuple[str, _PresignatureRow] | None = None
            for (kid, pid), row in self._s.presignatures.items():
                if kid != key_id:
                    continue
                if row.status is PresignatureStatus.RESERVED and _expired(row, now):
                    _retire(row, PresignatureStatus.DISCARDED)
                elif (
                    row.status is PresignatureStatus.AVAILABLE
                    and (presignature_id is None or pid == presignature_id)
                    and (oldest is None or row.order < oldest[1].order)
                ):
                    oldest = (pid, row)
            if oldest is None:
                return None
            pid, row = oldest
            row.status = PresignatureStatus.RESERVED
            row.reserved_at_ms, row.expires_at_ms = now, expires_at_ms
            return Reservation(key_id, pid, now, expires_at_ms, row.public)

    def _consume(self, key_id: str, presignature_id: str, now: int) -> Presignature | None:
        with self._s.lock:
            row = self._s.presignatures.get((key_id, presignature_id))
            if row is None or row.status is not PresignatureStatus.RESERVED:
                return None
            if _expired(row, now):
                _retire(row, PresignatureStatus.DISCARDED)
                return None
            out = Presignature(key_id, presignature_id, row.public, row.secret)
            _retire(row, PresignatureStatus.CONSUMED)
            return out

    def _release(self, key_id: str, presignature_id: str, now: int) -> bool:
        with self._s.lock:
            row = self._s.presignatures.get((key_id, presignature_id))
            if row is None or row.status is not PresignatureStatus.RESERVED or _expired(row, now):
                return False
            row.status = PresignatureStatus.AVAILABLE
            row.reserved_at_ms = row.expires_at_ms = None
            return True

    def _discard(self, key_id: str, presignature_id: str, now: int) -> bool:
        with self._s.lock:
            row = self._s.presignatures.get((key_id, presignature_id))
            if row is None:
                return False
            if row.status in (PresignatureStatus.AVAILABLE, PresignatureStatus.RESERVED):
                _retire(row, PresignatureStatus.DISCARDED)
            return True

    def _count_available(self, key_id: str) -> int:
        with self._s.lock:
            return sum(
                1
                for (kid, _), row in self._s.presignatures.items()
                if kid == key_id and row.status is PresignatureStatus.AVAILABLE
            )

    def _count_available_total(self, scheme: str) -> int:
        with self._s.lock:
            return sum(
                1
                for row in self._s.presignatures.values()
                if row.scheme == scheme and row.status is PresignatureStatus.AVAILABLE
            )

    def _status(
        self, key_id: str, presignature_id: str
    ) -> tuple[PresignatureStatus, int | None] | None:
        with self._s.lock:
            row = self._s.presignatures.get((key_id, presignature_id))
            return None if row is None else (row.status, row.expires_at_ms)

    def _list_available(self, key_id: str) -> Iterable[PooledPresignature]:
        with self._s.lock:
            return [
                PooledPresignature(kid, pid, row.created_at_ms)
                for (kid, pid), row in self._s.presignatures.items()
                if kid == key_id and row.status is PresignatureStatus.AVAILABLE
            ]

    def _discard_older(self, cutoff_ms: int, now: int) -> int:
        with self._s.lock:
            stale = [
                row
                for row in self._s.presignatures.values()
                if row.status is PresignatureStatus.AVAILABLE and row.created_at_ms <= cutoff_ms
            ]
            for row in stale:
                _retire(row, PresignatureStatus.DISCARDED)
            return len(stale)


def _expired(row: _PresignatureRow, now: int) -> bool:
    return row.expires_at_ms is not None and row.expires_at_ms <= now


def _retire(row: _PresignatureRow, status: PresignatureStatus) -> None:
    row.status, row.public, row.secret = status, b"", b""


class MemoryIdentityStore(_MemoryPart, IdentityStore):
    def _insert(self, identity: Identity) -> Identity:
        with self._s.lock:
            return self._s.identities.setdefault((identity.provider, identity.subject), identity)

    def _load(self, provider: str, subject: str) -> Identity | None:
        with self._s.lock:
            return self._s.identities.get((provider, subject))

    def _list_for_user(self, user_id: str) -> Iterable[Identity]:
        with self._s.lock:
            return [i for i in self._s.identities.values() if i.user_id == user_id]

    def _delete(self, provider: str, subject: str, user_id: str) -> bool:
        with self._s.lock:
            found = self._s.identities.get((provider, subject))
            if found is None or found.user_id != user_id:
                return False
            del self._s.identities[provider, subject]
            return True

    def _delete_unless_last(self, provider: str, subject: str, user_id: str) -> str:
        with self._s.lock:
            found = self._s.identities.get((provider, subject))
            if found is None or found.user_id != user_id:
                return UNLINK_MISSING
            if sum(1 for i in self._s.identities.values() if i.user_id == user_id) <= 1:
                return UNLINK_LAST
            del self._s.identities[provider, subject]
            return UNLINK_DONE


class MemoryCredentialStore(_MemoryPart, CredentialStore):
    def _insert(self, credential: WebAuthnCredential) -> bool:
        with self._s.lock:
            stored = self._s.credentials.setdefault(credential.credential_id, credential)
            return stored is credential

    def _load(self, credential_id: bytes) -> WebAuthnCredential | None:
        with self._s.lock:
            return self._s.credentials.get(credential_id)

    def _list_for_user(self, user_id: str) -> list[WebAuthnCredential]:
        with self._s.lock:
            return [c for c in self._s.credentials.values() if c.user_id == user_id]

    def _update_sign_count(
        self, credential_id: bytes, sign_count: int, now: int
    ) -> WebAuthnCredential | None:
        with self._s.lock:
            current = self._s.credentials.get(credential_id)
            if current is None or not (
                sign_count > current.sign_count or sign_count == current.sign_count == 0
            ):
                return None
            updated = dataclasses.replace(current, sign_count=sign_count, last_used_at_ms=now)
            self._s.credentials[credential_id] = updated
            return updated

    def _delete(self, credential_id: bytes) -> bool:
        with self._s.lock:
            return self._s.credentials.pop(credential_id, None) is not None


class MemoryAuditLog(_MemoryPart, AuditLog):
    def _append(self, kind: str, subject: str, data: str, at_ms: int) -> AuditEntry:
        with self._s.lock:
            seq, prev = self._head()
            entry = chain_entry(seq, prev, at_ms=at_ms, kind=kind, subject=subject, data=data)
            self._s.audit.append(entry)
            self._s.audit_head = (entry.seq, entry.hash)
            return entry

    def _entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        with self._s.lock:
            return [e for e in self._s.audit if e.seq > after_seq][:limit]

    def _head(self) -> tuple[int, bytes]:
        with self._s.lock:
            return self._s.audit_head


class MemoryStore(Store):
    """All stores over one in-process :class:`_MemoryState`."""

    backend = "memory"

    def __init__(
        self, name: str = "", *, namespace: str = "default", clock: Clock = system_clock
    ) -> None:
        self.namespace = check_namespace(namespace)
        if name:
            with _NAMED_LOCK:
                state = _NAMED.setdefault((name, namespace), _MemoryState())
        else:
            state = _MemoryState()
        self._state = state
        self.keys = MemoryKeyStore(state, clock)
        self.sessions = MemorySessionStore(state, clock)
        self.session_versions = MemorySessionVersionStore(state, clock)
        self.auth_sessions = MemoryAuthSessionStore(state, clock)
        self.presign_sessions = MemoryPresignSessionStore(state, clock)
        self.presignatures = MemoryPresignaturePool(state, clock)
        self.identities = MemoryIdentityStore(state, clock)
        self.credentials = MemoryCredentialStore(state, clock)
        self.audit = MemoryAuditLog(state, clock)
        self._clock = clock

    def close(self) -> None:
        pass

    async def atomic(self, unit: Callable[[], _T], *, flush: bool = True) -> _T:
        """Inline: memory calls never block."""
        return run_unit(self, unit, flush=flush)

    def purge_expired(self) -> int:
        now = self._clock()
        s = self._state
        with s.lock:
            return (
                _purge(s.sessions, now)
                + _purge(s.auth_sessions, now)
                + _purge(s.presign_sessions, now)
            )


def _purge(table: dict[Any, Any], now: int) -> int:
    expired = [k for k, v in table.items() if v.expires_at_ms <= now]
    for k in expired:
        del table[k]
    return len(expired)
