"""Stores of the co-signing server, behind one contract and four backends.

>>> store = open_store("memory://")
>>> store.sessions.put("mpc", "s1", b"...", ttl_ms=60_000).session_id
's1'

:func:`open_store` picks the backend from the URL:

=====================================  ==========================================
``memory://`` or ``memory://NAME``     in-process, for tests (NAME shares state)
``sqlite:///relative.db``              SQLite file (``sqlite:////abs/path.db``)
``postgresql://user@host:5432/db``     PostgreSQL (psycopg 3)
``redis://host:6379/0``                Redis (redis-py); also ``rediss://``
=====================================  ==========================================

Query options, removed before the URL reaches the driver: ``namespace``
(every backend; separates tenants or test runs sharing one database),
``max_connections`` (PostgreSQL pool size) and ``key_prefix`` (Redis).
The interfaces are in :mod:`cosigner.store.base`, the records in
:mod:`cosigner.store.records`, the errors in :mod:`cosigner.store.errors`.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from cosigner.store.base import (
    AuditLog,
    AuthSessionStore,
    CommitAndRaise,
    CredentialStore,
    IdentityStore,
    KeyStore,
    PresignaturePool,
    PresignSessionStore,
    SessionStore,
    SessionVersionStore,
    Store,
)
from cosigner.store.errors import (
    AlreadyExistsError,
    AuditChainError,
    InvalidStageTransitionError,
    InvalidStoreArgumentError,
    LastIdentityError,
    NotFoundError,
    PoolEmptyError,
    PresignatureUnavailableError,
    SchemaVersionError,
    ScopeMismatchError,
    SessionExhaustedError,
    SessionExpiredError,
    SignCountError,
    StageRegressionError,
    StaleSessionStateError,
    StoreConfigError,
    StoreError,
    StoreUnavailableError,
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
    system_clock,
)

_OPTIONS = frozenset({"namespace", "max_connections", "key_prefix"})


def open_store(url: str, *, namespace: str | None = None, clock: Clock = system_clock) -> Store:
    """Open the store a URL names; runs schema migrations on SQL backends.

    ``namespace`` overrides the URL's ``namespace`` option (default ``default``).
    Raises :class:`StoreConfigError` for a URL it cannot use and
    :class:`StoreUnavailableError` when the backend cannot be reached.
    """
    if not isinstance(url, str) or "://" not in url:
        raise StoreConfigError("a store URL looks like sqlite:///cosigner.db or redis://host")
    scheme = url.split("://", 1)[0].lower()
    driver_url, options = _split_options(url)
    ns = namespace if namespace is not None else options.get("namespace", "default")
    if scheme == "memory":
        from cosigner.store.memory import MemoryStore

        return MemoryStore(driver_url[len("memory://") :], namespace=ns, clock=clock)
    if scheme == "sqlite":
        from cosigner.store.sqlite import SqliteStore

        path = driver_url[len("sqlite:///") :] if driver_url.startswith("sqlite:///") else ""
        if not path or "?" in path:
            raise StoreConfigError(
                "a SQLite store URL is sqlite:///relative.db or sqlite:////abs.db"
            )
        return SqliteStore(path, namespace=ns, clock=clock)
    if scheme in ("postgresql", "postgres"):
        from cosigner.store.postgres import PostgresStore

        return PostgresStore(
            driver_url,
            namespace=ns,
            clock=clock,
            max_connections=_positive(options.get("max_connections", "10"), "max_connections"),
        )
    if scheme in ("redis", "rediss"):
        from cosigner.store.redis import RedisStore

        return RedisStore(
            driver_url, namespace=ns, clock=clock, key_prefix=options.get("key_prefix", "cosigner")
        )
    raise StoreConfigError(
        f"unknown store scheme {scheme!r}: use memory, sqlite, postgresql or redis"
    )


def _split_options(url: str) -> tuple[str, dict[str, str]]:
    """The URL without cosigner's own query options, and those options."""
    base, _, query = url.partition("?")
    ours: dict[str, str] = {}
    theirs: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in _OPTIONS:
            ours[name] = value
        else:
            theirs.append((name, value))
    return (f"{base}?{urlencode(theirs)}" if theirs else base), ours


def _positive(value: str, name: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise StoreConfigError(f"store option {name} must be a positive integer")
    return int(value)


__all__ = [
    "CommitAndRaise",
    "MAX_AUTH_SESSION_TTL_MS",
    "MAX_AUTH_SESSION_USES",
    "MAX_PRESIGN_SESSION_TTL_MS",
    "RESERVATION_TTL_MS",
    "STAGE_GRAPH",
    "AlreadyExistsError",
    "AuditChainError",
    "AuditEntry",
    "AuditLog",
    "AuthSession",
    "AuthSessionStore",
    "Clock",
    "CredentialStore",
    "Identity",
    "IdentityStore",
    "InvalidStageTransitionError",
    "InvalidStoreArgumentError",
    "KeyRecord",
    "KeyStore",
    "LastIdentityError",
    "NotFoundError",
    "PoolEmptyError",
    "PooledPresignature",
    "PresignSession",
    "PresignSessionStore",
    "PresignStage",
    "Presignature",
    "PresignaturePool",
    "PresignatureStatus",
    "PresignatureUnavailableError",
    "Reservation",
    "SchemaVersionError",
    "ScopeMismatchError",
    "SessionExhaustedError",
    "SessionExpiredError",
    "SessionRecord",
    "SessionScope",
    "SessionStore",
    "SessionVersionStore",
    "SignCountError",
    "StageRegressionError",
    "StaleSessionStateError",
    "Store",
    "StoreConfigError",
    "StoreError",
    "StoreUnavailableError",
    "WebAuthnCredential",
    "open_store",
    "system_clock",
]
