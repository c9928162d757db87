"""The co-signing server: ``create_app(settings, store)`` and ``cosigner serve``.

* :mod:`.app` - the FastAPI app factory;
* :mod:`.settings` - ``COSIGNER_*`` configuration and secrets;
* :mod:`.errors` - ``{"code", "message"}`` errors and their statuses;
* :mod:`.sessions` - app and threshold session tokens;
* :mod:`.auth` - passkeys, Google, identities;
* :mod:`.threshold` - what every two-party scheme shares (sessions, authorize);
* :mod:`.routes` - health, ``/session/*``, ``/threshold-ed25519/*``, ``/threshold-ecdsa/*``
  (shared parts in :mod:`.routes.threshold_common`);
* :mod:`.crypto` - state encryption at rest and key export;
* :mod:`.metrics` - Prometheus metrics.
"""

from __future__ import annotations

from cosigner.server.app import create_app
from cosigner.server.settings import Secret, Settings, SettingsError

__all__ = ["Secret", "Settings", "SettingsError", "create_app"]
