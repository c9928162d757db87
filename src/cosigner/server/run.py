"""``cosigner serve``: settings from the environment, the store, uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn

from cosigner.errors import CosignerError
from cosigner.server.app import create_app
from cosigner.server.settings import Settings, warn_about_dev_secrets
from cosigner.store import open_store


def serve(host: str, port: int, *, log_level: str = "info") -> int:
    """Run the server until interrupted; returns the exit status."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        settings = Settings.from_env()
        warn_about_dev_secrets(settings)
        store = open_store(settings.store_url)
    except CosignerError as exc:
        print(f"cosigner serve: {exc.message}", file=sys.stderr)
        return 2
    try:
        app = create_app(settings, store)
        uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
    finally:
        store.close()
    return 0
