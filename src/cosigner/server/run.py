"""``cosigner serve``: settings from the environment, the store, uvicorn.

With ``workers`` above 1, that many worker processes serve one port. Each
opens its own listening socket with ``SO_REUSEPORT``, so the kernel spreads
new connections evenly over them (a shared socket lets whichever worker
wakes first accept a whole burst of keep-alive connections), and each
builds its own app and store from the same environment (:func:`worker_app`).
Settings are read and the store opened once here first, so a development
secrets file exists and migrations have run before any worker starts, and a
bad setting stops the server before it forks. The parent waits; when it is
told to stop, or a worker dies, it stops every worker. Several workers need
a store they can share: SQLite (one file), PostgreSQL or Redis.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import signal
import socket
import sys
import time
from types import FrameType
from typing import Final

import uvicorn
from fastapi import FastAPI

from cosigner.errors import CosignerError
from cosigner.server.app import create_app
from cosigner.server.settings import Settings, warn_about_dev_secrets
from cosigner.store import open_store

STOP_TIMEOUT_S: Final = 10.0


def serve(host: str, port: int, *, log_level: str = "info", workers: int = 1) -> int:
    """Run the server until interrupted; returns the exit status."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        settings = Settings.from_env()
        warn_about_dev_secrets(settings)
        if workers > 1 and settings.store_url.lower().startswith("memory:"):
            print("cosigner serve: --workers needs a shared store, not memory://", file=sys.stderr)
            return 2
        store = open_store(settings.store_url)
    except CosignerError as exc:
        print(f"cosigner serve: {exc.message}", file=sys.stderr)
        return 2
    if workers > 1:
        store.close()
        return _serve_workers(host, port, workers, log_level)
    try:
        app = create_app(settings, store)
        uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
    finally:
        store.close()
    return 0


def worker_app() -> FastAPI:
    """The app of one worker process: settings and store from the environment."""
    settings = Settings.from_env()
    store = open_store(settings.store_url)
    atexit.register(store.close)
    return create_app(settings, store)


def _reuse_port_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _run_worker(host: str, port: int, log_level: str) -> None:
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sock = _reuse_port_socket(host, port)
    config = uvicorn.Config(
        "cosigner.server.run:worker_app",
        factory=True,
        log_level=log_level,
        server_header=False,
    )
    uvicorn.Server(config).run(sockets=[sock])


def _serve_workers(host: str, port: int, workers: int, log_level: str) -> int:
    if not hasattr(socket, "SO_REUSEPORT"):
        print("cosigner serve: --workers needs SO_REUSEPORT (Linux, BSD)", file=sys.stderr)
        return 2
    # A trial socket, opened as each worker opens its own and closed at once: a port already
    # in use is refused here, before any worker starts. It does not hold the port meanwhile.
    try:
        guard = _reuse_port_socket(host, port)
    except OSError as exc:
        print(f"cosigner serve: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    guard.close()
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_run_worker, args=(host, port, log_level), daemon=False)
        for _ in range(workers)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for process in processes:
            process.start()
        while not stopping and all(p.is_alive() for p in processes):
            time.sleep(0.2)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for process in processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in processes:
            process.join(max(deadline - time.monotonic(), 0.1))
            if process.is_alive():
                process.kill()
                process.join()
    return 0 if stopping else 1
