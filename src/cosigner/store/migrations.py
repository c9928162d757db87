"""Versioned schema of the SQL backends (SQLite and PostgreSQL).

Migrations run in order when a store opens, inside one write transaction
(PostgreSQL additionally takes an advisory lock, so instances starting
together apply each migration once). Applied versions are recorded in
``cosigner_schema_migrations``; running them again is a no-op, and a
database that records a version newer than :data:`LATEST_VERSION` is
refused rather than used with a schema this code does not know.

A migration is never edited once released; a change is a new migration.
Statements are written once for both dialects: ``{blob}`` is the binary
type and ``{order_column}`` the extra insertion-order column PostgreSQL needs
for presignatures (SQLite orders them by ``rowid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MIGRATIONS_TABLE: Final = "cosigner_schema_migrations"

CREATE_MIGRATIONS_TABLE: Final = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at_ms BIGINT NOT NULL
)"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_INITIAL: Final = (
    """CREATE TABLE cosigner_keys (
        namespace TEXT NOT NULL,
        key_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        rp_id TEXT NOT NULL,
        scheme_id TEXT NOT NULL,
        public_key {blob} NOT NULL,
        participant_ids TEXT NOT NULL,
        metadata TEXT NOT NULL,
        sealed {blob} NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (namespace, key_id)
    )""",
    "CREATE INDEX cosigner_keys_user ON cosigner_keys (namespace, user_id)",
    """CREATE TABLE cosigner_sessions (
        namespace TEXT NOT NULL,
        kind TEXT NOT NULL,
        session_id TEXT NOT NULL,
        data {blob} NOT NULL,
        created_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT NOT NULL,
        PRIMARY KEY (namespace, kind, session_id)
    )""",
    "CREATE INDEX cosigner_sessions_expiry ON cosigner_sessions (namespace, expires_at_ms)",
    """CREATE TABLE cosigner_auth_sessions (
        namespace TEXT NOT NULL,
        session_id TEXT NOT NULL,
        scheme_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        max_uses INTEGER NOT NULL,
        uses INTEGER NOT NULL,
        created_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT NOT NULL,
        PRIMARY KEY (namespace, session_id),
        CHECK (uses >= 0 AND uses <= max_uses)
    )""",
    "CREATE INDEX cosigner_auth_sessions_expiry"
    " ON cosigner_auth_sessions (namespace, expires_at_ms)",
    """CREATE TABLE cosigner_presign_sessions (
        namespace TEXT NOT NULL,
        session_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        stage TEXT NOT NULL,
        state {blob} NOT NULL,
        version BIGINT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL,
        expires_at_ms BIGINT NOT NULL,
        PRIMARY KEY (namespace, session_id)
    )""",
    "CREATE INDEX cosigner_presign_sessions_expiry"
    " ON cosigner_presign_sessions (namespace, expires_at_ms)",
    """CREATE TABLE cosigner_presignatures (
        namespace TEXT NOT NULL,
        key_id TEXT NOT NULL,
        presignature_id TEXT NOT NULL,
        status TEXT NOT NULL,
        public {blob},
        secret {blob},
        created_at_ms BIGINT NOT NULL,
        reserved_at_ms BIGINT,
        reservation_expires_at_ms BIGINT,
        finished_at_ms BIGINT{order_column},
        PRIMARY KEY (namespace, key_id, presignature_id),
        CHECK (status IN ('available', 'reserved', 'consumed', 'discarded'))
    )""",
    "CREATE INDEX cosigner_presignatures_status"
    " ON cosigner_presignatures (namespace, key_id, status)",
    """CREATE TABLE cosigner_identities (
        namespace TEXT NOT NULL,
        provider TEXT NOT NULL,
        subject TEXT NOT NULL,
        user_id TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        PRIMARY KEY (namespace, provider, subject)
    )""",
    "CREATE INDEX cosigner_identities_user ON cosigner_identities (namespace, user_id)",
    """CREATE TABLE cosigner_webauthn_credentials (
        namespace TEXT NOT NULL,
        credential_id {blob} NOT NULL,
        user_id TEXT NOT NULL,
        rp_id TEXT NOT NULL,
        public_key {blob} NOT NULL,
        sign_count BIGINT NOT NULL,
        transports TEXT NOT NULL,
        created_at_ms BIGINT NOT NULL,
        last_used_at_ms BIGINT,
        PRIMARY KEY (namespace, credential_id)
    )""",
    "CREATE INDEX cosigner_webauthn_credentials_user"
    " ON cosigner_webauthn_credentials (namespace, user_id)",
    """CREATE TABLE cosigner_audit_log (
        namespace TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash {blob} NOT NULL,
        hash {blob} NOT NULL,
        PRIMARY KEY (namespace, seq)
    )""",
    """CREATE TABLE cosigner_audit_head (
        namespace TEXT PRIMARY KEY,
        seq BIGINT NOT NULL,
        hash {blob} NOT NULL
    )""",
)

_SESSION_VERSIONS_AND_POOL_SCHEMES: Final = (
    """CREATE TABLE cosigner_session_versions (
        namespace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        version BIGINT NOT NULL,
        updated_at_ms BIGINT NOT NULL,
        PRIMARY KEY (namespace, user_id),
        CHECK (version > 0)
    )""",
    "ALTER TABLE cosigner_presignatures ADD COLUMN scheme TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX cosigner_presignatures_scheme"
    " ON cosigner_presignatures (namespace, scheme, status)",
)

_PRESIGNATURE_AGE: Final = (
    "CREATE INDEX cosigner_presignatures_age"
    " ON cosigner_presignatures (namespace, status, created_at_ms)",
)

_AUDIT_PENDING: Final = (
    """CREATE TABLE cosigner_audit_pending (
        namespace TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        data TEXT NOT NULL{order_column}
    )""",
    "CREATE INDEX cosigner_audit_pending_namespace ON cosigner_audit_pending (namespace)",
)

MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(1, "initial schema", _INITIAL),
    Migration(2, "session versions and presignature schemes", _SESSION_VERSIONS_AND_POOL_SCHEMES),
    Migration(3, "presignature age index", _PRESIGNATURE_AGE),
    Migration(4, "audit entries waiting to be chained", _AUDIT_PENDING),
)
LATEST_VERSION: Final = MIGRATIONS[-1].version

TABLES: Final = (
    "cosigner_keys",
    "cosigner_sessions",
    "cosigner_session_versions",
    "cosigner_auth_sessions",
    "cosigner_presign_sessions",
    "cosigner_presignatures",
    "cosigner_identities",
    "cosigner_webauthn_credentials",
    "cosigner_audit_log",
    "cosigner_audit_head",
    "cosigner_audit_pending",
)
"""Every table that holds namespaced rows."""
