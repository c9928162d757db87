"""Store records, the limits every backend enforces, and the presign stage graph.

Records are frozen dataclasses. Fields that hold secrets (sealed key
material, protocol state, presignature shares, session payloads) are opaque
bytes the caller encrypted before handing them over; they are left out of
``repr`` so a record can be logged without leaking them.

Times are integer milliseconds from the store's injected clock. A record is
live while ``now < expires_at_ms`` (the seed's ``expires_at_ms > now``).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from cosigner.store.errors import InvalidStoreArgumentError

Clock = Callable[[], int]
"""Returns the current time in integer milliseconds since the Unix epoch."""


def system_clock() -> int:
    """Wall-clock time in milliseconds."""
    return time.time_ns() // 1_000_000


MAX_PRESIGN_SESSION_TTL_MS: Final = 5 * 60 * 1000
MAX_AUTH_SESSION_TTL_MS: Final = 10 * 60 * 1000
MAX_AUTH_SESSION_USES: Final = 20
RESERVATION_TTL_MS: Final = 120 * 1000
MAX_ID_LENGTH: Final = 256


class PresignStage(StrEnum):
    """Stages of a distributed presign session (seed 000, "Atomic Transitions")."""

    TRIPLES = "triples"
    TRIPLES_DONE = "triples_done"
    PRESIGN = "presign"
    DONE = "done"


STAGE_GRAPH: Final[Mapping[PresignStage, frozenset[PresignStage]]] = {
    PresignStage.TRIPLES: frozenset({PresignStage.TRIPLES, PresignStage.TRIPLES_DONE}),
    PresignStage.TRIPLES_DONE: frozenset({PresignStage.TRIPLES_DONE, PresignStage.PRESIGN}),
    PresignStage.PRESIGN: frozenset({PresignStage.PRESIGN, PresignStage.DONE}),
    PresignStage.DONE: frozenset(),
}
"""Allowed moves: ``stage -> STAGE_GRAPH[stage]``. ``done`` is terminal."""

_STAGE_ORDER: Final = {stage: i for i, stage in enumerate(PresignStage)}


def stage_predecessors(stage: PresignStage) -> frozenset[PresignStage]:
    """The stages a session may be in for a move to ``stage`` to be allowed."""
    return frozenset(src for src, targets in STAGE_GRAPH.items() if stage in targets)


def is_regression(current: PresignStage, target: PresignStage) -> bool:
    """True when ``target`` comes before ``current`` in the stage order."""
    return _STAGE_ORDER[target] < _STAGE_ORDER[current]


class PresignatureStatus(StrEnum):
    """Life of a presignature: available -> reserved -> consumed, or discarded on the way."""

    AVAILABLE = "available"
    RESERVED = "reserved"
    CONSUMED = "consumed"
    DISCARDED = "discarded"


# -- argument checks shared by every backend ---------------------------------------------


def check_id(what: str, value: object) -> str:
    """A record id: a printable string of 1 to 256 characters."""
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise InvalidStoreArgumentError(f"{what} must be a string of 1 to {MAX_ID_LENGTH} chars")
    if not value.isprintable():
        raise InvalidStoreArgumentError(f"{what} must not contain control characters")
    return value


def check_bytes(what: str, value: object) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise InvalidStoreArgumentError(f"{what} must be bytes")
    return bytes(value)


def check_ttl(what: str, ttl_ms: object, cap_ms: int | None) -> int:
    """A positive integer TTL, at most ``cap_ms`` when there is a cap."""
    if not isinstance(ttl_ms, int) or isinstance(ttl_ms, bool) or ttl_ms <= 0:
        raise InvalidStoreArgumentError(f"{what} must be a positive integer of milliseconds")
    if cap_ms is not None and ttl_ms > cap_ms:
        raise InvalidStoreArgumentError(f"{what} of {ttl_ms} ms is over the cap of {cap_ms} ms")
    return ttl_ms


def check_count(what: str, value: object, *, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InvalidStoreArgumentError(f"{what} must be an integer of at least {low}")
    if high is not None and value > high:
        raise InvalidStoreArgumentError(f"{what} must be at most {high}")
    return value


def check_participant_ids(what: str, ids: Sequence[int]) -> tuple[int, ...]:
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence):
        raise InvalidStoreArgumentError(f"{what} must be a sequence of participant ids")
    out = tuple(sorted(check_count(f"{what} entry", i, low=1) for i in ids))
    if not out or len(set(out)) != len(out):
        raise InvalidStoreArgumentError(f"{what} must be non-empty and without repeats")
    return out


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: one text per value, so it can be compared and hashed."""
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InvalidStoreArgumentError(f"value is not plain JSON: {exc}") from None


# -- records -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionScope:
    """What a presign or threshold session is bound to; a session is refused outside it.

    ``participant_ids`` is kept sorted, so ``(2, 1)`` and ``(1, 2)`` name the same set.
    """

    user_id: str
    rp_id: str
    relayer_key_id: str
    participant_ids: tuple[int, ...]
    client_participant_id: int
    relayer_participant_id: int

    def __post_init__(self) -> None:
        check_id("user_id", self.user_id)
        check_id("rp_id", self.rp_id)
        check_id("relayer_key_id", self.relayer_key_id)
        ids = check_participant_ids("participant_ids", self.participant_ids)
        object.__setattr__(self, "participant_ids", ids)
        client = check_count("client_participant_id", self.client_participant_id, low=1)
        relayer = check_count("relayer_participant_id", self.relayer_participant_id, low=1)
        if client == relayer or client not in ids or relayer not in ids:
            raise InvalidStoreArgumentError(
                "client and relayer participant ids must differ and be among participant_ids"
            )

    def canonical(self) -> str:
        """The canonical JSON text of the scope; equal scopes give equal texts."""
        return canonical_json(
            {
                "client": self.client_participant_id,
                "participants": list(self.participant_ids),
                "relayer": self.relayer_participant_id,
                "relayer_key_id": self.relayer_key_id,
                "rp_id": self.rp_id,
                "user_id": self.user_id,
            }
        )

    @classmethod
    def from_canonical(cls, text: str) -> SessionScope:
        """The scope of a stored canonical text (parsed once per text: scopes are immutable)."""
        return _scope_from_canonical(text)


@functools.lru_cache(maxsize=4096)
def _scope_from_canonical(text: str) -> SessionScope:
    # Every signing request reads its threshold session, and with it this text; the
    # parse and the checks of __post_init__ cost more than the read.
    data = json.loads(text)
    return SessionScope(
        user_id=data["user_id"],
        rp_id=data["rp_id"],
        relayer_key_id=data["relayer_key_id"],
        participant_ids=tuple(data["participants"]),
        client_participant_id=data["client"],
        relayer_participant_id=data["relayer"],
    )


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A threshold key the server co-signs with.

    ``metadata`` is non-secret JSON (verifying shares, derivation context, ...);
    ``sealed`` is encrypted secret material, if the scheme keeps any.
    """

    key_id: str
    user_id: str
    rp_id: str
    scheme_id: str
    public_key: bytes
    participant_ids: tuple[int, ...]
    created_at_ms: int
    metadata: Mapping[str, Any] = field(default_factory=dict, hash=False)
    sealed: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A short-lived single-purpose record (an mpcSessionId, a signing session, a challenge)."""

    kind: str
    session_id: str
    created_at_ms: int
    expires_at_ms: int
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class AuthSession:
    """A threshold session: a scope, an expiry and a budget of ``max_uses`` authorizations."""

    session_id: str
    scheme_id: str
    scope: SessionScope
    max_uses: int
    uses: int
    created_at_ms: int
    expires_at_ms: int

    @property
    def remaining_uses(self) -> int:
        return self.max_uses - self.uses


@dataclass(frozen=True, slots=True)
class PresignSession:
    """The stored state of one distributed presign session (seed 000, section 1)."""

    session_id: str
    scope: SessionScope
    stage: PresignStage
    version: int
    created_at_ms: int
    updated_at_ms: int
    expires_at_ms: int
    state: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Reservation:
    """A presignature taken out of the available set until ``expires_at_ms``."""

    key_id: str
    presignature_id: str
    reserved_at_ms: int
    expires_at_ms: int
    public: bytes


@dataclass(frozen=True, slots=True)
class PooledPresignature:
    """An available presignature as :meth:`PresignaturePool.list_available` shows it: no secret."""

    key_id: str
    presignature_id: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class Presignature:
    """A consumed presignature: the only time a store hands out its secret part."""

    key_id: str
    presignature_id: str
    public: bytes
    secret: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class Identity:
    """A login identity (``provider``, ``subject``) linked to a user."""

    provider: str
    subject: str
    user_id: str
    created_at_ms: int


@dataclass(frozen=True, slots=True)
class WebAuthnCredential:
    """A registered passkey (WebAuthn Level 3, section 7.1 "credential record")."""

    credential_id: bytes
    user_id: str
    rp_id: str
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    created_at_ms: int
    last_used_at_ms: int | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One link of the audit hash chain; ``data`` is canonical JSON text."""

    seq: int
    at_ms: int
    kind: str
    subject: str
    data: str
    prev_hash: bytes
    hash: bytes

    def data_json(self) -> Any:
        return json.loads(self.data)
