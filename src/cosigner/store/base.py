"""Store interfaces: the contract every backend (memory, SQLite, PostgreSQL, Redis) keeps.

The API is synchronous; the server calls it from a thread pool. Each
interface is an abstract class whose public methods check their arguments,
read the injected clock once, call one atomic backend primitive (an
``_underscore`` method) and turn its outcome into a record or a typed error.
So the rules (TTL caps, the stage graph, scope binding, which error for
which failure) live here once, and a backend only supplies the atomic
operations:

* create-if-absent, get, delete, and *take* (get and delete at once);
* a use-count increment that refuses expired, exhausted or out-of-scope
  sessions (:class:`AuthSessionStore`);
* a presign-session compare-and-swap on (version, expiry, scope, stage)
  (:class:`PresignSessionStore`, seed 000 "Atomic Transitions");
* reserve, consume and discard of presignatures, and the discard of those
  past an age limit (:class:`PresignaturePool`);
* an increment-or-insert of a per-user counter (:class:`SessionVersionStore`);
* an unlink that refuses a user's last identity (:class:`IdentityStore`);
* a serialized append to the audit hash chain (:class:`AuditLog`).

When an atomic primitive refuses, the base class reads the record again to
say *why* (not found, expired, out of scope, stale, wrong stage); that
second read only picks the error, the refusal itself was atomic.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from types import TracebackType
from typing import Any, Final, TypeVar

from cosigner.store.audit import GENESIS_HASH, verify_entries
from cosigner.store.errors import (
    AlreadyExistsError,
    AuditChainError,
    InvalidStageTransitionError,
    InvalidStoreArgumentError,
    LastIdentityError,
    NotFoundError,
    PoolEmptyError,
    PresignatureUnavailableError,
    ScopeMismatchError,
    SessionExhaustedError,
    SessionExpiredError,
    SignCountError,
    StageRegressionError,
    StaleSessionStateError,
    StoreConfigError,
)
from cosigner.store.records import (
    MAX_AUTH_SESSION_TTL_MS,
    MAX_AUTH_SESSION_USES,
    MAX_PRESIGN_SESSION_TTL_MS,
    RESERVATION_TTL_MS,
    STAGE_GRAPH,
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
    canonical_json,
    check_bytes,
    check_count,
    check_id,
    check_participant_ids,
    check_ttl,
    is_regression,
    stage_predecessors,
)

_T = TypeVar("_T")

MAX_CREDENTIAL_ID_BYTES: Final = 1023
UNLINK_DONE: Final = "unlinked"
UNLINK_MISSING: Final = "missing"
UNLINK_LAST: Final = "last"
AUDIT_PAGE: Final = 500
_NAMESPACE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def check_namespace(namespace: str) -> str:
    """A namespace: 1 to 64 of ``A-Z a-z 0-9 _ . -``."""
    if not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
        raise StoreConfigError("a store namespace is 1 to 64 characters of A-Z a-z 0-9 _ . -")
    return namespace


class StorePart:
    """A store interface bound to a clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def _now(self) -> int:
        now = self._clock()
        if not isinstance(now, int) or isinstance(now, bool) or now < 0:
            raise InvalidStoreArgumentError("the store clock must return integer milliseconds")
        return now


class KeyStore(StorePart, ABC):
    """Threshold keys by ``key_id`` (the relayerKeyId)."""

    def create(
        self,
        key_id: str,
        *,
        user_id: str,
        rp_id: str,
        scheme_id: str,
        public_key: bytes,
        participant_ids: Sequence[int],
        metadata: Mapping[str, Any] | None = None,
        sealed: bytes = b"",
    ) -> KeyRecord:
        """Store a new key; :class:`AlreadyExistsError` if ``key_id`` is taken."""
        ids = check_participant_ids("participant_ids", participant_ids)
        text = canonical_json(dict(metadata or {}))
        record = KeyRecord(
            key_id=check_id("key_id", key_id),
            user_id=check_id("user_id", user_id),
            rp_id=check_id("rp_id", rp_id),
            scheme_id=check_id("scheme_id", scheme_id),
            public_key=check_bytes("public_key", public_key),
            participant_ids=ids,
            created_at_ms=self._now(),
            metadata=_load_json_object(text),
            sealed=check_bytes("sealed", sealed),
        )
        if not self._insert(record, text):
            raise AlreadyExistsError(f"key {key_id!r} exists already")
        return record

    def get(self, key_id: str) -> KeyRecord:
        record = self._load(check_id("key_id", key_id))
        if record is None:
            raise NotFoundError(f"no key {key_id!r}")
        return record

    def list_for_user(self, user_id: str) -> tuple[KeyRecord, ...]:
        """The user's keys, oldest first."""
        records = self._list_for_user(check_id("user_id", user_id))
        return tuple(sorted(records, key=lambda r: (r.created_at_ms, r.key_id)))

    def delete(self, key_id: str) -> bool:
        return self._delete(check_id("key_id", key_id))

    @abstractmethod
    def _insert(self, record: KeyRecord, metadata_json: str) -> bool: ...
    @abstractmethod
    def _load(self, key_id: str) -> KeyRecord | None: ...
    @abstractmethod
    def _list_for_user(self, user_id: str) -> Iterable[KeyRecord]: ...
    @abstractmethod
    def _delete(self, key_id: str) -> bool: ...


class SessionStore(StorePart, ABC):
    """Short-lived records by (``kind``, ``session_id``); ``take`` makes an id single-use."""

    def put(
        self, kind: str, session_id: str, data: bytes, *, ttl_ms: int, fresh_id: bool = False
    ) -> SessionRecord:
        """Create-if-absent; :class:`AlreadyExistsError` if the id is in use (even expired).

        ``fresh_id``: the caller drew ``session_id`` at random (128 bits or
        more), so it is in use by no one. A record is still never overwritten,
        but a backend may then skip the answer to "was it new?": inside a unit
        of work, PostgreSQL sends the insert with the unit's next statement or
        its ``COMMIT`` (:meth:`Tx.defer <cosigner.store._sql.Tx.defer>`), and a
        clash, if one ever happened, fails the whole unit instead of raising
        :class:`AlreadyExistsError` here.
        """
        check_ttl("ttl_ms", ttl_ms, None)
        now = self._now()
        record = SessionRecord(
            kind=check_id("kind", kind),
            session_id=check_id("session_id", session_id),
            created_at_ms=now,
            expires_at_ms=now + ttl_ms,
            data=check_bytes("data", data),
        )
        if fresh_id and self._insert_fresh(record):
            return record
        if not self._insert(record, now):
            raise AlreadyExistsError(f"{kind} session {session_id!r} exists already")
        return record

    def _insert_fresh(self, record: SessionRecord) -> bool:
        """Insert without asking whether the id was new; False: not here, use :meth:`_insert`."""
        return False

    def get(self, kind: str, session_id: str) -> SessionRecord:
        """Read without consuming."""
        now = self._now()
        record = self._load(check_id("kind", kind), check_id("session_id", session_id))
        return _live(record, now, f"{kind} session {session_id!r}")

    def take(self, kind: str, session_id: str) -> SessionRecord:
        """Get and delete in one atomic step: of concurrent takes, exactly one succeeds."""
        now = self._now()
        record = self._take(check_id("kind", kind), check_id("session_id", session_id))
        return _live(record, now, f"{kind} session {session_id!r}")

    def take_checked(
        self, kind: str, session_id: str, check: Callable[[SessionRecord], object]
    ) -> SessionRecord:
        """:meth:`take` the record if ``check(record)`` passes; if it raises, the record stays.

        Here a read, the check, then the take. A backend whose calls in a
        unit of work (:meth:`Store.atomic`) share one transaction may take
        first and check after, the check's exception undoing the take with
        the unit: so let that exception leave the unit.
        """
        check(self.get(kind, session_id))
        return self.take(kind, session_id)

    def delete(self, kind: str, session_id: str) -> bool:
        return self._delete(check_id("kind", kind), check_id("session_id", session_id))

    @abstractmethod
    def _insert(self, record: SessionRecord, now: int) -> bool: ...
    @abstractmethod
    def _load(self, kind: str, session_id: str) -> SessionRecord | None: ...
    @abstractmethod
    def _take(self, kind: str, session_id: str) -> SessionRecord | None: ...
    @abstractmethod
    def _delete(self, kind: str, session_id: str) -> bool: ...


class SessionVersionStore(StorePart, ABC):
    """A version number per user, for revoking all of a user's app sessions at once.

    A user nobody bumped is at version 0. :meth:`bump` is one atomic
    increment-or-insert, so of N concurrent bumps each gets its own new
    version and the last one written is the highest.
    """

    def current(self, user_id: str) -> int:
        """The user's version: 0 until the first :meth:`bump`."""
        return self._load(check_id("user_id", user_id))

    def bump(self, user_id: str) -> int:
        """Increment the user's version (from 0 if absent) and return the new version."""
        return self._increment(check_id("user_id", user_id), self._now())

    @abstractmethod
    def _load(self, user_id: str) -> int: ...
    @abstractmethod
    def _increment(self, user_id: str, now: int) -> int: ...


class AuthSessionStore(StorePart, ABC):
    """Threshold sessions: at most 10 minutes, at most 20 uses, one use per ``authorize``."""

    def create(
        self,
        session_id: str,
        *,
        scheme_id: str,
        scope: SessionScope,
        max_uses: int,
        ttl_ms: int,
    ) -> AuthSession:
        check_ttl("ttl_ms", ttl_ms, MAX_AUTH_SESSION_TTL_MS)
        check_count("max_uses", max_uses, low=1, high=MAX_AUTH_SESSION_USES)
        now = self._now()
        record = AuthSession(
            session_id=check_id("session_id", session_id),
            scheme_id=check_id("scheme_id", scheme_id),
            scope=_check_scope(scope),
            max_uses=max_uses,
            uses=0,
            created_at_ms=now,
            expires_at_ms=now + ttl_ms,
        )
        if not self._insert(record, now):
            raise AlreadyExistsError(f"threshold session {session_id!r} exists already")
        return record

    def get(self, session_id: str) -> AuthSession:
        now = self._now()
        record = self._load(check_id("session_id", session_id))
        return _live(record, now, f"threshold session {session_id!r}")

    def consume_use(self, session_id: str, *, scope: SessionScope | None = None) -> AuthSession:
        """Use one authorization, atomically; returns the session after the use.

        With ``scope``, a session bound to another scope is refused without
        spending a use. Of N concurrent calls on a session with k uses left,
        exactly k succeed.
        """
        check_id("session_id", session_id)
        scope_key = _check_scope(scope).canonical() if scope is not None else None
        now = self._now()
        updated = self._increment_use(session_id, now, scope_key)
        if updated is not None:
            return updated
        what = f"threshold session {session_id!r}"
        current = _live(self._load(session_id), now, what)
        if scope is not None and current.scope != scope:
            raise ScopeMismatchError(f"{what} is bound to another scope")
        raise SessionExhaustedError(f"{what} has used all {current.max_uses} of its uses")

    def revoke(self, session_id: str) -> bool:
        return self._delete(check_id("session_id", session_id))

    @abstractmethod
    def _insert(self, record: AuthSession, now: int) -> bool: ...
    @abstractmethod
    def _load(self, session_id: str) -> AuthSession | None: ...
    @abstractmethod
    def _increment_use(
        self, session_id: str, now: int, scope_key: str | None
    ) -> AuthSession | None: ...
    @abstractmethod
    def _delete(self, session_id: str) -> bool: ...


class PresignSessionStore(StorePart, ABC):
    """Distributed presign sessions (seed 000: ``ThresholdEcdsaPresignSessionStore``).

    A session starts at stage ``triples``, version 1. Every write is a
    compare-and-swap on the version that also requires the session to be
    live, in the caller's scope, and in a stage from which the stage graph
    allows the move; it bumps the version by one.
    """

    def create_session(
        self, session_id: str, *, scope: SessionScope, state: bytes, ttl_ms: int
    ) -> PresignSession:
        """Insert-if-absent at stage ``triples``, version 1; TTL at most 5 minutes."""
        check_ttl("ttl_ms", ttl_ms, MAX_PRESIGN_SESSION_TTL_MS)
        now = self._now()
        record = PresignSession(
            session_id=check_id("session_id", session_id),
            scope=_check_scope(scope),
            stage=PresignStage.TRIPLES,
            version=1,
            created_at_ms=now,
            updated_at_ms=now,
            expires_at_ms=now + ttl_ms,
            state=check_bytes("state", state),
        )
        if not self._insert(record, now):
            raise AlreadyExistsError(f"presign session {session_id!r} exists already")
        return record

    def get_session(self, session_id: str, *, scope: SessionScope | None = None) -> PresignSession:
        """Read without consuming; with ``scope``, refuse a session bound to another one."""
        now = self._now()
        what = f"presign session {session_id!r}"
        record = _live(self._load(check_id("session_id", session_id)), now, what)
        if scope is not None and record.scope != _check_scope(scope):
            raise ScopeMismatchError(f"{what} is bound to another scope")
        return record

    def advance_session_cas(
        self,
        session_id: str,
        expected_version: int,
        *,
        scope: SessionScope,
        stage: PresignStage | str,
        state: bytes,
        ttl_ms: int | None = None,
    ) -> PresignSession:
        """Replace stage and state if the stored version is ``expected_version``.

        Returns the new record (version ``expected_version + 1``). With
        ``ttl_ms`` the expiry moves to now + ``ttl_ms`` (at most 5 minutes),
        otherwise it stays. Raises :class:`StaleSessionStateError` when another
        writer got there first, and the not-found, expired, scope or stage
        errors when those are why the swap was refused.
        """
        check_id("session_id", session_id)
        check_count("expected_version", expected_version, low=1)
        target = _check_stage(stage)
        scope = _check_scope(scope)
        state = check_bytes("state", state)
        if ttl_ms is not None:
            check_ttl("ttl_ms", ttl_ms, MAX_PRESIGN_SESSION_TTL_MS)
        now = self._now()
        expires = now + ttl_ms if ttl_ms is not None else None
        sources = frozenset(str(s) for s in stage_predecessors(target))
        updated = self._advance(
            session_id, expected_version, scope.canonical(), sources, target, state, now, expires
        )
        if updated is not None:
            return updated
        what = f"presign session {session_id!r}"
        current = _live(self._load(session_id), now, what)
        if current.scope != scope:
            raise ScopeMismatchError(f"{what} is bound to another scope")
        if current.version != expected_version:
            raise StaleSessionStateError(
                f"{what} is at version {current.version}, not {expected_version}: reload and retry",
                expected_version=expected_version,
                current_version=current.version,
            )
        if target not in STAGE_GRAPH[current.stage]:
            if is_regression(current.stage, target):
                raise StageRegressionError(
                    f"{what} cannot go back from {current.stage} to {target}"
                )
            raise InvalidStageTransitionError(
                f"{what} cannot move from {current.stage} to {target}"
            )
        # Versions only grow, so a refused swap that now looks allowed lost a race.
        raise StaleSessionStateError(
            f"{what} changed while it was being updated: reload and retry",
            expected_version=expected_version,
            current_version=current.version,
        )

    def delete_session(self, session_id: str) -> bool:
        """Best-effort terminal cleanup; False if there was nothing to delete."""
        return self._delete(check_id("session_id", session_id))

    @abstractmethod
    def _insert(self, record: PresignSession, now: int) -> bool: ...
    @abstractmethod
    def _load(self, session_id: str) -> PresignSession | None: ...
    @abstractmethod
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
    ) -> PresignSession | None: ...
    @abstractmethod
    def _delete(self, session_id: str) -> bool: ...


class PresignaturePool(StorePart, ABC):
    """Presignatures per key: ``put``, ``reserve``, ``consume``, ``discard`` (and ``release``).

    Safety rules, which every backend keeps atomically:

    * ``reserve`` moves one presignature out of the available set; no two
      reservations ever get the same one.
    * ``consume`` marks a reserved presignature consumed and wipes its secret
      in the same durable write that hands the secret out, so the caller has
      it only after the store has recorded its use: a retry or a crash after
      that point finds it consumed and cannot sign with it again.
    * A reservation lasts at most 120 s. A presignature whose reservation
      expired is *discarded*, never offered again: its client half may have
      been used already, and two signatures on one presignature reveal the key.
    * Ids are never reused: a consumed or discarded id stays as a tombstone,
      so ``put`` of an old id (a replayed presign result) is refused.

    A presignature may be put under a ``scheme`` (a scheme id), so that
    :meth:`available_total` can count a scheme's whole pool across keys.

    Orphans: a presignature whose client half is gone (the client lost its
    memory, or the answer that completed its half never arrived) is never
    reserved by that client again and would sit in the pool for good.
    :meth:`list_available` shows a key's available ones (ids and ages, no
    secrets) so a client can :meth:`discard` those it holds no half of, and
    :meth:`discard_stale` retires, across all keys, those older than an age
    limit (the server's periodic purge). Discarding is always safe: a
    discarded presignature is never used, and a client that did hold its half
    gets ``pool_empty`` for it and presigns anew. Putting one back is never
    done: once a presignature may have left the available set, its client
    half may have been used, and a second signature with it reveals the key.
    """

    def put(
        self,
        key_id: str,
        presignature_id: str,
        *,
        secret: bytes,
        public: bytes = b"",
        scheme: str | None = None,
    ) -> None:
        check_id("key_id", key_id)
        check_id("presignature_id", presignature_id)
        scheme_name = "" if scheme is None else check_id("scheme", scheme)
        secret = check_bytes("secret", secret)
        if not secret:
            raise InvalidStoreArgumentError("a presignature secret must not be empty")
        public = check_bytes("public", public)
        if not self._insert(key_id, presignature_id, public, secret, self._now(), scheme_name):
            raise AlreadyExistsError(
                f"presignature {presignature_id!r} of key {key_id!r} exists or was used already"
            )

    def reserve(
        self,
        key_id: str,
        *,
        ttl_ms: int = RESERVATION_TTL_MS,
        presignature_id: str | None = None,
    ) -> Reservation:
        """Take the oldest available presignature of ``key_id``; :class:`PoolEmptyError` if none.

        With ``presignature_id``, take exactly that one, if it is available
        (a client that holds only some halves names one it holds);
        :class:`PoolEmptyError` otherwise. Expired reservations of the key
        are discarded first either way.
        """
        check_id("key_id", key_id)
        check_ttl("ttl_ms", ttl_ms, RESERVATION_TTL_MS)
        if presignature_id is not None:
            check_id("presignature_id", presignature_id)
        now = self._now()
        reservation = self._reserve(key_id, now, now + ttl_ms, presignature_id)
        if reservation is None:
            if presignature_id is not None:
                raise PoolEmptyError(
                    f"presignature {presignature_id!r} of key {key_id!r} is not available: "
                    "run presign"
                )
            raise PoolEmptyError(f"no presignature available for key {key_id!r}: run presign")
        return reservation

    def consume(self, key_id: str, presignature_id: str) -> Presignature:
        """Mark a reserved presignature consumed and return its secret, once."""
        check_id("key_id", key_id)
        check_id("presignature_id", presignature_id)
        now = self._now()
        consumed = self._consume(key_id, presignature_id, now)
        if consumed is not None:
            return consumed
        what = f"presignature {presignature_id!r} of key {key_id!r}"
        found = self._status(key_id, presignature_id)
        if found is None:
            raise NotFoundError(f"no {what}")
        status, reservation_expiry = found
        if status is PresignatureStatus.DISCARDED and (
            reservation_expiry is not None and reservation_expiry <= now
        ):
            raise PresignatureUnavailableError(
                f"the reservation of {what} expired; it was discarded and is never reused"
            )
        if status is PresignatureStatus.AVAILABLE:
            raise PresignatureUnavailableError(f"{what} is not reserved: reserve it first")
        raise PresignatureUnavailableError(f"{what} was {status} already")

    def release(self, key_id: str, presignature_id: str) -> bool:
        """Put back a live reservation that never left the server; returns whether it was.

        For the request that reserved it and then failed for another reason
        (an exhausted threshold session, say) before anything made with the
        reservation was sent: the presignature is available again, in its old
        place (oldest first). A reservation that expired, or was consumed or
        discarded meanwhile, is left as it is. Never for a reservation that a
        client was told about: that one is consumed or discarded, never reused.
        """
        check_id("key_id", key_id)
        check_id("presignature_id", presignature_id)
        return self._release(key_id, presignature_id, self._now())

    def discard(self, key_id: str, presignature_id: str) -> None:
        """Retire an available or reserved presignature for good (idempotent)."""
        check_id("key_id", key_id)
        check_id("presignature_id", presignature_id)
        if not self._discard(key_id, presignature_id, self._now()):
            raise NotFoundError(f"no presignature {presignature_id!r} of key {key_id!r}")

    def available(self, key_id: str) -> int:
        """How many presignatures of ``key_id`` are available (not reserved or used)."""
        return self._count_available(check_id("key_id", key_id))

    def list_available(self, key_id: str) -> tuple[PooledPresignature, ...]:
        """The available presignatures of ``key_id`` (ids and ages, never secrets), oldest first."""
        found = self._list_available(check_id("key_id", key_id))
        return tuple(sorted(found, key=lambda p: (p.created_at_ms, p.presignature_id)))

    def discard_stale(self, max_age_ms: int) -> int:
        """Discard every available presignature, of any key, put ``max_age_ms`` ago or earlier.

        Returns how many were discarded. Each one is retired atomically, as by
        :meth:`discard`, so a concurrent :meth:`reserve` either got it first
        or never gets it.
        """
        check_count("max_age_ms", max_age_ms, low=1)
        now = self._now()
        return self._discard_older(now - max_age_ms, now)

    def available_total(self, scheme: str) -> int:
        """How many presignatures put under ``scheme`` are available, over all keys."""
        return self._count_available_total(check_id("scheme", scheme))

    def status(self, key_id: str, presignature_id: str) -> PresignatureStatus:
        found = self._status(
            check_id("key_id", key_id), check_id("presignature_id", presignature_id)
        )
        if found is None:
            raise NotFoundError(f"no presignature {presignature_id!r} of key {key_id!r}")
        return found[0]

    @abstractmethod
    def _insert(
        self,
        key_id: str,
        presignature_id: str,
        public: bytes,
        secret: bytes,
        now: int,
        scheme: str,
    ) -> bool: ...
    @abstractmethod
    def _reserve(
        self, key_id: str, now: int, expires_at_ms: int, presignature_id: str | None
    ) -> Reservation | None:
        """Discard the key's expired reservations, then reserve the oldest available one.

        With ``presignature_id``: reserve that one if it is available, else None.
        """

    @abstractmethod
    def _consume(self, key_id: str, presignature_id: str, now: int) -> Presignature | None:
        """Reserved and live: mark consumed, wipe, return. Reserved and expired: discard."""

    @abstractmethod
    def _release(self, key_id: str, presignature_id: str, now: int) -> bool:
        """Reserved and live: available again, reservation times cleared. Else: nothing."""

    @abstractmethod
    def _discard(self, key_id: str, presignature_id: str, now: int) -> bool: ...
    @abstractmethod
    def _count_available(self, key_id: str) -> int: ...
    @abstractmethod
    def _count_available_total(self, scheme: str) -> int: ...
    @abstractmethod
    def _list_available(self, key_id: str) -> Iterable[PooledPresignature]: ...
    @abstractmethod
    def _discard_older(self, cutoff_ms: int, now: int) -> int:
        """Retire (discarded) every available presignature with ``created_at_ms <= cutoff_ms``."""

    @abstractmethod
    def _status(
        self, key_id: str, presignature_id: str
    ) -> tuple[PresignatureStatus, int | None] | None:
        """(status, reservation expiry) or None when the id was never put."""


class IdentityStore(StorePart, ABC):
    """The identity map: (provider, subject) -> user, e.g. ("google-oidc", sub)."""

    def link(self, provider: str, subject: str, user_id: str) -> Identity:
        """Link an identity to a user; idempotent for the same user.

        :class:`AlreadyExistsError` if it is linked to another user.
        """
        identity = Identity(
            provider=check_id("provider", provider),
            subject=check_id("subject", subject),
            user_id=check_id("user_id", user_id),
            created_at_ms=self._now(),
        )
        stored = self._insert(identity)
        if stored.user_id != user_id:
            raise AlreadyExistsError(f"{provider} identity is linked to another user already")
        return stored

    def get(self, provider: str, subject: str) -> Identity:
        found = self._load(check_id("provider", provider), check_id("subject", subject))
        if found is None:
            raise NotFoundError(f"no {provider} identity with this subject")
        return found

    def list_for_user(self, user_id: str) -> tuple[Identity, ...]:
        found = self._list_for_user(check_id("user_id", user_id))
        return tuple(sorted(found, key=lambda i: (i.created_at_ms, i.provider, i.subject)))

    def unlink(self, provider: str, subject: str, *, user_id: str) -> None:
        """Remove the link; :class:`NotFoundError` unless it links to ``user_id``."""
        if not self._delete(
            check_id("provider", provider),
            check_id("subject", subject),
            check_id("user_id", user_id),
        ):
            raise NotFoundError(f"no {provider} identity with this subject for this user")

    def unlink_unless_last(self, provider: str, subject: str, *, user_id: str) -> None:
        """Remove the link unless it is the user's only identity, in one atomic step.

        :class:`NotFoundError` unless it links to ``user_id``;
        :class:`LastIdentityError` when it is the user's last identity. Of
        concurrent unlinks of a user's identities, at least one is always left.
        """
        outcome = self._delete_unless_last(
            check_id("provider", provider),
            check_id("subject", subject),
            check_id("user_id", user_id),
        )
        if outcome == UNLINK_MISSING:
            raise NotFoundError(f"no {provider} identity with this subject for this user")
        if outcome == UNLINK_LAST:
            raise LastIdentityError(
                "this is the user's last identity; link another one before unlinking it"
            )

    @abstractmethod
    def _insert(self, identity: Identity) -> Identity:
        """Insert-if-absent; returns the stored identity (the new one or the one already there)."""

    @abstractmethod
    def _load(self, provider: str, subject: str) -> Identity | None: ...
    @abstractmethod
    def _list_for_user(self, user_id: str) -> Iterable[Identity]: ...
    @abstractmethod
    def _delete(self, provider: str, subject: str, user_id: str) -> bool: ...
    @abstractmethod
    def _delete_unless_last(self, provider: str, subject: str, user_id: str) -> str:
        """Atomically: UNLINK_MISSING, UNLINK_LAST, or delete and UNLINK_DONE."""


class CredentialStore(StorePart, ABC):
    """WebAuthn credential records, by credential id (WebAuthn Level 3, section 7)."""

    def add(
        self,
        credential_id: bytes,
        *,
        user_id: str,
        rp_id: str,
        public_key: bytes,
        sign_count: int = 0,
        transports: Sequence[str] = (),
    ) -> WebAuthnCredential:
        credential = WebAuthnCredential(
            credential_id=_check_credential_id(credential_id),
            user_id=check_id("user_id", user_id),
            rp_id=check_id("rp_id", rp_id),
            public_key=check_bytes("public_key", public_key),
            sign_count=check_count("sign_count", sign_count, low=0, high=2**32 - 1),
            transports=tuple(check_id("transport", t) for t in transports),
            created_at_ms=self._now(),
            last_used_at_ms=None,
        )
        if not self._insert(credential):
            raise AlreadyExistsError("a credential with this id is registered already")
        return credential

    def get(self, credential_id: bytes) -> WebAuthnCredential:
        found = self._load(_check_credential_id(credential_id))
        if found is None:
            raise NotFoundError("no credential with this id")
        return found

    def list_for_user(
        self, user_id: str, *, rp_id: str | None = None
    ) -> tuple[WebAuthnCredential, ...]:
        found = self._list_for_user(check_id("user_id", user_id))
        if rp_id is not None:
            found = [c for c in found if c.rp_id == rp_id]
        return tuple(sorted(found, key=lambda c: (c.created_at_ms, c.credential_id)))

    def record_use(self, credential_id: bytes, sign_count: int) -> WebAuthnCredential:
        """Store an assertion's signature counter, atomically (WebAuthn L3 7.2 step 22).

        The counter must grow unless both it and the stored one are zero (an
        authenticator without a counter); otherwise :class:`SignCountError`,
        a sign the authenticator may have been cloned.
        """
        cid = _check_credential_id(credential_id)
        check_count("sign_count", sign_count, low=0, high=2**32 - 1)
        updated = self._update_sign_count(cid, sign_count, self._now())
        if updated is not None:
            return updated
        current = self.get(cid)
        raise SignCountError(
            f"signature counter {sign_count} does not exceed the stored {current.sign_count}"
        )

    def delete(self, credential_id: bytes) -> bool:
        return self._delete(_check_credential_id(credential_id))

    @abstractmethod
    def _insert(self, credential: WebAuthnCredential) -> bool: ...
    @abstractmethod
    def _load(self, credential_id: bytes) -> WebAuthnCredential | None: ...
    @abstractmethod
    def _list_for_user(self, user_id: str) -> list[WebAuthnCredential]: ...
    @abstractmethod
    def _update_sign_count(
        self, credential_id: bytes, sign_count: int, now: int
    ) -> WebAuthnCredential | None:
        """Set the counter if ``sign_count > stored or sign_count == stored == 0``."""

    @abstractmethod
    def _delete(self, credential_id: bytes) -> bool: ...


class AuditLog(StorePart, ABC):
    """Append-only log of keygens, sessions, authorizations, signatures and exports.

    Entries form a SHA-256 hash chain (:mod:`cosigner.store.audit`). Appends
    are serialized per log, so concurrent appends from any number of store
    instances produce one gapless chain. ``verify_chain`` detects a changed,
    removed or reordered entry; an operator who wants to detect a rewrite of
    the whole chain records ``head()`` elsewhere from time to time.
    """

    defers_chaining: bool = False
    """Whether :meth:`record` leaves entries to :meth:`seal_pending` (PostgreSQL)."""

    def append(self, kind: str, subject: str, data: Mapping[str, Any] | None = None) -> AuditEntry:
        """Append one entry; ``data`` is plain JSON and must hold no secrets."""
        return self._append(*self._checked(kind, subject, data))

    def record(self, kind: str, subject: str, data: Mapping[str, Any] | None = None) -> None:
        """Write one entry durably now (with the caller's unit of work); chain it soon.

        Here the entry is chained at once (:meth:`append`). A backend where
        chaining means one lock for every writer (PostgreSQL's head row, held
        to the commit) writes the entry without it, and :meth:`seal_pending`
        chains the waiting entries in batches, under one lock each. Readers
        (:meth:`entries`, :meth:`head`, :meth:`verify_chain`) seal first, so
        they always see every recorded entry chained.
        """
        self._record(*self._checked(kind, subject, data))

    def seal_pending(self) -> int:
        """Chain the entries :meth:`record` left waiting; returns how many (none here)."""
        return 0

    def entries(self, *, after_seq: int = 0, limit: int = AUDIT_PAGE) -> list[AuditEntry]:
        """Up to ``limit`` entries with ``seq > after_seq``, in order."""
        check_count("after_seq", after_seq, low=0)
        check_count("limit", limit, low=1, high=10_000)
        self.seal_pending()
        return self._entries(after_seq, limit)

    def head(self) -> tuple[int, bytes]:
        """(seq, hash) of the last entry; (0, 32 zero bytes) when the log is empty."""
        self.seal_pending()
        return self._head()

    def verify_chain(self) -> int:
        """Check every entry up to the current head; returns the number checked.

        Raises :class:`AuditChainError` naming the first entry at fault.
        """
        self.seal_pending()
        head_seq, head_hash = self._head()
        seq, prev = 0, GENESIS_HASH
        while seq < head_seq:
            page = [e for e in self._entries(seq, AUDIT_PAGE) if e.seq <= head_seq]
            if not page:
                break
            seq, prev = verify_entries(page, start_seq=seq + 1, start_hash=prev)
        if seq != head_seq:
            raise AuditChainError("entry is missing", seq=seq + 1)
        if head_seq and prev != head_hash:
            raise AuditChainError("hash does not match the log head", seq=head_seq)
        return seq

    def _checked(
        self, kind: str, subject: str, data: Mapping[str, Any] | None
    ) -> tuple[str, str, str, int]:
        """An entry's checked fields for :meth:`_append` and :meth:`_record`."""
        text = canonical_json(dict(data or {}))
        return check_id("kind", kind), check_id("subject", subject), text, self._now()

    def _record(self, kind: str, subject: str, data: str, at_ms: int) -> None:
        """:meth:`record` with checked fields: chained at once (:meth:`_append`) here."""
        self._append(kind, subject, data, at_ms)

    @abstractmethod
    def _append(self, kind: str, subject: str, data: str, at_ms: int) -> AuditEntry:
        """Under the log's lock: read the head, chain the entry, write it and the new head."""

    @abstractmethod
    def _entries(self, after_seq: int, limit: int) -> list[AuditEntry]: ...
    @abstractmethod
    def _head(self) -> tuple[int, bytes]: ...


class Store(ABC):
    """All stores of one backend and namespace; open one with :func:`cosigner.store.open_store`."""

    backend: str
    namespace: str
    keys: KeyStore
    sessions: SessionStore
    session_versions: SessionVersionStore
    auth_sessions: AuthSessionStore
    presign_sessions: PresignSessionStore
    presignatures: PresignaturePool
    identities: IdentityStore
    credentials: CredentialStore
    audit: AuditLog

    @abstractmethod
    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""

    unit_threads: int = 8
    """Threads that run :meth:`atomic` units for a network backend (at most its connections)."""
    _unit_executor: ThreadPoolExecutor | None = None

    def group(self, *, flush: bool = True) -> AbstractContextManager[None]:
        """Run the store calls this thread makes inside it in one write transaction, if any.

        On SQL backends they share one transaction: one commit (one disk
        flush) for all, and all or nothing. On Redis and memory each call stays
        its own atomic step, as outside. So group only calls whose effects are
        safe in either form: each must be safe on its own, as always (a
        request's bookkeeping, say: a use spent, the record it pays for, its
        audit entry). ``flush``: as for :meth:`atomic`.
        """
        return nullcontext()

    async def atomic(self, unit: Callable[[], _T], *, flush: bool = True) -> _T:
        """Run ``unit`` (store calls and computation) as one unit of work; its result once durable.

        On SQL backends the unit's store calls share one write transaction
        (see :meth:`group`): all of them or none. ``unit`` may raise
        :class:`CommitAndRaise` to keep what it did and still fail: its error
        is raised after the commit. Any other exception undoes the unit (on SQL
        backends; on Redis and memory each call was its own atomic step, so
        write units whose steps are each safe on their own).

        The result (or the error) is handed back only after the unit's writes
        are durable, so a caller that sends it on has already spent what the
        unit consumed. Units run on the store's unit threads here; a backend
        may batch them (SQLite commits all units of one event-loop turn
        together) or run them inline (memory).

        ``flush=False``: the commit need not reach the disk before the unit is
        answered (SQLite ``synchronous=NORMAL``, PostgreSQL
        ``synchronous_commit=off``). It survives the process, not a power cut,
        until the next flushed commit, which makes every earlier commit durable
        with it (a write-ahead log is written in order). For a unit whose loss
        in a power cut only undoes the unit itself, before anything made with
        a secret has left: authorizing, opening a signing session. A unit after
        which such a thing leaves (taking nonces, consuming a presignature)
        keeps the default.
        """
        return await self.in_unit_thread(unit, flush=flush)

    async def in_unit_thread(self, unit: Callable[[], _T], *, flush: bool = True) -> _T:
        """``unit`` through :func:`run_unit` on one of this store's unit threads.

        A plain executor rather than anyio's thread pool: a signing request
        hands one unit over and back, and anyio's cancel scopes and capacity
        limiter cost more than that hand-over itself.
        """
        executor = self._unit_executor
        if executor is None:
            executor = self._unit_executor = ThreadPoolExecutor(
                max_workers=self.unit_threads, thread_name_prefix="cosigner-store"
            )
        run = functools.partial(run_unit, self, unit, flush=flush)
        return await asyncio.get_running_loop().run_in_executor(executor, run)

    def _stop_unit_threads(self) -> None:
        """For :meth:`close`: the unit threads end once their current unit is done."""
        executor, self._unit_executor = self._unit_executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    @abstractmethod
    def purge_expired(self) -> int:
        """Delete expired sessions (threshold, presign, short-lived); returns how many.

        Expired records are refused whether or not they are purged; purging
        only frees space (Redis needs none: keys carry a ``PEXPIRE`` TTL).
        """

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} backend={self.backend!r} namespace={self.namespace!r}>"


# -- units of work ---------------------------------------------------------------------------


class CommitAndRaise(Exception):
    """Raised by a unit of :meth:`Store.atomic` to keep its writes and still fail with ``error``.

    For a refusal that must spend something on the way (a signing digest
    other than the authorized one spends the mpcSessionId; a client share
    that does not verify still consumes the nonces it was checked against).
    """

    def __init__(self, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.error = error


def run_unit(store: Store, unit: Callable[[], _T], *, flush: bool = True) -> _T:
    """``unit`` in one :meth:`Store.group`, synchronously; :class:`CommitAndRaise` commits."""
    with store.group(flush=flush):
        try:
            return unit()
        except CommitAndRaise as deferred:
            error = deferred.error
    raise error


# -- helpers ---------------------------------------------------------------------------------


_R = TypeVar("_R", SessionRecord, AuthSession, PresignSession)


def _live(record: _R | None, now: int, what: str) -> _R:
    if record is None:
        raise NotFoundError(f"no {what}")
    if record.expires_at_ms <= now:
        raise SessionExpiredError(f"{what} has expired")
    return record


def _check_scope(scope: object) -> SessionScope:
    if not isinstance(scope, SessionScope):
        raise InvalidStoreArgumentError("scope must be a SessionScope")
    return scope


def _check_stage(stage: PresignStage | str) -> PresignStage:
    try:
        return PresignStage(stage)
    except ValueError:
        raise InvalidStoreArgumentError(
            f"unknown presign stage; expected one of {', '.join(PresignStage)}"
        ) from None


def _check_credential_id(credential_id: object) -> bytes:
    cid = check_bytes("credential_id", credential_id)
    if not 1 <= len(cid) <= MAX_CREDENTIAL_ID_BYTES:
        raise InvalidStoreArgumentError(f"a credential id is 1 to {MAX_CREDENTIAL_ID_BYTES} bytes")
    return cid


def _load_json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise InvalidStoreArgumentError("metadata must be a JSON object")
    return value
