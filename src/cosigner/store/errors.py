"""The errors a store raises, each with a stable ``code``.

Every backend raises the same error for the same situation, so the server
maps them to HTTP once. Messages name records by id only; they never carry a
stored value (protocol state, presignatures, sealed key material).
"""

from __future__ import annotations

from cosigner.errors import CosignerError


class StoreError(CosignerError):
    """Base class of store errors."""

    code = "store_error"


class StoreConfigError(StoreError, ValueError):
    """A store URL or option that cannot be used (unknown scheme, bad namespace, ...)."""

    code = "invalid_store_config"


class StoreUnavailableError(StoreError):
    """The backend could not be reached or refused the connection."""

    code = "store_unavailable"


class SchemaVersionError(StoreError):
    """The backend holds a schema newer than this version of cosigner knows."""

    code = "store_schema_too_new"


class InvalidStoreArgumentError(StoreError, ValueError):
    """An argument outside what the store accepts (a TTL over its cap, an empty id, ...)."""

    code = "invalid_store_argument"


class NotFoundError(StoreError, LookupError):
    """No record with this id (never created, deleted, taken, or expired and purged)."""

    code = "not_found"


class SessionExpiredError(NotFoundError):
    """The record exists but its expiry has passed; start a new session."""

    code = "session_expired"


class AlreadyExistsError(StoreError):
    """A record with this id exists already (create-if-absent refused)."""

    code = "already_exists"


class StaleSessionStateError(StoreError):
    """A compare-and-swap lost: the session moved on since it was read; reload and retry."""

    code = "stale_session_state"

    def __init__(self, message: str, *, expected_version: int, current_version: int) -> None:
        super().__init__(message)
        self.expected_version = expected_version
        self.current_version = current_version


class ScopeMismatchError(StoreError):
    """A session used with another user, relying party, key or participant set than its own."""

    code = "scope_mismatch"


class InvalidStageTransitionError(StoreError):
    """A presign-session stage change that the stage graph does not allow."""

    code = "invalid_stage_transition"


class StageRegressionError(InvalidStageTransitionError):
    """A presign-session stage change that goes backwards."""

    code = "stage_regression"


class SessionExhaustedError(StoreError):
    """A threshold session that has used all of its uses; mint a new one."""

    code = "session_exhausted"


class PoolEmptyError(StoreError):
    """No available presignature for this key; run presign to refill the pool and retry."""

    code = "pool_empty"


class PresignatureUnavailableError(StoreError):
    """A presignature that is not reserved, or whose reservation expired, or that was used.

    A presignature whose reservation expired is discarded, never offered again:
    the client may already have used its half, and a second signature with the
    same presignature would reveal the key.
    """

    code = "presignature_unavailable"


class LastIdentityError(StoreError):
    """Unlinking the user's only identity, which would lock the user out; link another first."""

    code = "last_identity"


class SignCountError(StoreError):
    """A WebAuthn signature counter that did not increase: the authenticator may be cloned."""

    code = "sign_count_regression"


class AuditChainError(StoreError):
    """The audit log's hash chain is broken; ``seq`` names the first entry at fault."""

    code = "audit_chain_broken"

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(f"audit entry {seq}: {message}")
        self.seq = seq
