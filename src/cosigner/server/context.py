"""What every route needs, built once per app by :func:`cosigner.server.app.create_app`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from cosigner.server.crypto import StateCipher
from cosigner.server.errors import ThresholdDisabled
from cosigner.server.google import GoogleVerifier
from cosigner.server.metrics import Metrics
from cosigner.server.sessions import AppSessions, TokenCodec
from cosigner.server.settings import Secret, Settings
from cosigner.store import Clock, KeyRecord, Store

log = logging.getLogger("cosigner.server")


@dataclass(frozen=True, slots=True)
class ThresholdScheme:
    """One two-party scheme the server co-signs for, and its secrets (when enabled).

    ``name`` is the short name used in routes (``/threshold-{route}``), store
    record kinds and metric labels; ``algorithm`` is the chain adapters'
    sign-request algorithm this scheme signs.
    """

    name: str
    route: str
    scheme_id: str
    token_kind: str
    algorithm: str
    master_secret: Secret | None = field(default=None, repr=False)
    cipher: StateCipher | None = field(default=None, repr=False)

    @property
    def enabled(self) -> bool:
        return self.master_secret is not None and self.cipher is not None

    def secrets(self) -> tuple[bytes, StateCipher]:
        """The master secret and state cipher, or ``threshold_disabled``."""
        if self.master_secret is None or self.cipher is None:
            raise ThresholdDisabled(
                f"{self.scheme_id} is disabled on this server: its master secret is not configured"
            )
        return self.master_secret.reveal(), self.cipher

    @classmethod
    def build(
        cls,
        *,
        name: str,
        route: str,
        scheme_id: str,
        token_kind: str,
        algorithm: str,
        master_secret: Secret | None,
    ) -> ThresholdScheme:
        cipher = StateCipher(master_secret.reveal(), scheme_id) if master_secret else None
        return cls(name, route, scheme_id, token_kind, algorithm, master_secret, cipher)


@dataclass(slots=True)
class ServerContext:
    settings: Settings
    store: Store
    clock: Clock
    codec: TokenCodec
    app_sessions: AppSessions
    metrics: Metrics
    google: GoogleVerifier | None
    schemes: Mapping[str, ThresholdScheme]
    key_cache: dict[str, tuple[KeyRecord, int]] = field(default_factory=dict)
    """Key records read lately, and when (ms); see ``threshold.load_user_key``."""
    key_cache_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """Held to change :attr:`key_cache` (unit threads and the thread pool share it)."""

    def audit(self, kind: str, subject: str, data: Mapping[str, Any] | None = None) -> None:
        """Record in the audit log (with the caller's unit of work); ``data`` is public JSON.

        Never a secret in ``data``. The entry is durable with the unit; on a
        store that chains later (:meth:`cosigner.store.AuditLog.record`) the
        app's sealer chains it within :data:`cosigner.server.app.AUDIT_SEAL_INTERVAL_S`.
        """
        self.store.audit.record(kind, subject, data)

    def scheme(self, name: str) -> ThresholdScheme:
        return self.schemes[name]


async def get_ctx(request: Request) -> ServerContext:
    """The app's context; ``async`` so FastAPI runs it inline, not in its thread pool."""
    ctx = request.app.state.ctx
    assert isinstance(ctx, ServerContext)
    return ctx
