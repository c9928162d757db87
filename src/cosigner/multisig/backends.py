"""Open the multisig store a store URL names (the server's ``COSIGNER_STORE_URL``).

=====================================  ==========================================
``memory://`` or ``memory://NAME``     the memory store (NAME: one store shared
                                       by every opener in the process)
``sqlite:///relative.db``              the SQLite store, in the same file as the
                                       server's own tables
``postgresql://user@host:5432/db``     :mod:`cosigner.multisig.store_postgres`
``redis://host:6379/0``                :mod:`cosigner.multisig.store_redis`
=====================================  ==========================================

The URL's query options are those of :func:`cosigner.store.open_store`:
``namespace`` (separates tenants or test runs sharing one database),
``max_connections`` (PostgreSQL pool size) and ``key_prefix`` (Redis); the
others go to the driver.
"""

from __future__ import annotations

import threading
from typing import Final
from urllib.parse import parse_qsl, urlencode

from cosigner.multisig.store import MemoryMultisigStore, MultisigStore, SQLiteMultisigStore
from cosigner.store.errors import StoreConfigError

_OPTIONS: Final = frozenset({"namespace", "max_connections", "key_prefix"})
_named_memory: dict[str, MemoryMultisigStore] = {}
_named_lock = threading.Lock()


def split_store_url(url: str) -> tuple[str, dict[str, str]]:
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


def store_scheme(url: str) -> str:
    """``memory``, ``sqlite``, ``postgresql`` or ``redis``; StoreConfigError otherwise."""
    if not isinstance(url, str) or "://" not in url:
        raise StoreConfigError("a store URL looks like sqlite:///cosigner.db or redis://host")
    scheme = url.split("://", 1)[0].lower()
    aliases = {"postgres": "postgresql", "rediss": "redis"}
    scheme = aliases.get(scheme, scheme)
    if scheme not in ("memory", "sqlite", "postgresql", "redis"):
        raise StoreConfigError(
            f"unknown store scheme {scheme!r}: use memory, sqlite, postgresql or redis"
        )
    return scheme


def store_namespace(url: str, namespace: str | None = None) -> str:
    """The namespace a store URL selects (``default`` unless the URL or caller says)."""
    if namespace is not None:
        return namespace
    return split_store_url(url)[1].get("namespace", "default")


def open_multisig_store(url: str, *, namespace: str | None = None) -> MultisigStore:
    """The multisig store for ``url`` (see the module docstring); schemas are created on open."""
    scheme = store_scheme(url)
    driver_url, options = split_store_url(url)
    ns = store_namespace(url, namespace)
    if scheme == "memory":
        name = driver_url.split("://", 1)[1]
        if not name:
            return MemoryMultisigStore()
        with _named_lock:
            return _named_memory.setdefault(f"{name}/{ns}", MemoryMultisigStore())
    if scheme == "sqlite":
        path = driver_url[len("sqlite:///") :] if driver_url.startswith("sqlite:///") else ""
        if not path or "?" in path:
            raise StoreConfigError(
                "a SQLite store URL is sqlite:///relative.db or sqlite:////abs.db"
            )
        return SQLiteMultisigStore(path)
    if scheme == "postgresql":
        from cosigner.multisig.store_postgres import PostgresMultisigStore

        size = options.get("max_connections", "10")
        if not size.isdigit() or int(size) < 1:
            raise StoreConfigError("store option max_connections must be a positive integer")
        return PostgresMultisigStore(driver_url, namespace=ns, max_connections=int(size))
    from cosigner.multisig.store_redis import RedisMultisigStore

    return RedisMultisigStore(
        driver_url, namespace=ns, key_prefix=options.get("key_prefix", "cosigner")
    )


__all__ = ["open_multisig_store", "split_store_url", "store_namespace", "store_scheme"]
