"""Fixtures of the multisig server tests: PostgreSQL and Redis from the environment.

``COSIGNER_TEST_POSTGRES_URL`` and ``COSIGNER_TEST_REDIS_URL`` name real
servers (``.ci/run`` sets both); tests that need one are skipped, saying so,
when it is unset. PostgreSQL tests run in a schema made for the test run and
dropped at its end; Redis tests in a fresh namespace whose keys are deleted.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

POSTGRES_ENV = "COSIGNER_TEST_POSTGRES_URL"
REDIS_ENV = "COSIGNER_TEST_REDIS_URL"


def server_url(env: str) -> str:
    url = os.environ.get(env)
    if not url:
        pytest.skip(f"{env} is not set: this test needs a real server (see .ci/run)")
    return url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a new schema, dropped when the test session ends."""
    import psycopg

    url = server_url(POSTGRES_ENV)
    schema = "cosigner_msig_" + uuid.uuid4().hex[:16]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}".encode())
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE".encode())


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The test Redis with a fresh namespace (``?namespace=...``); its keys are deleted after."""
    import redis

    url = server_url(REDIS_ENV)
    namespace = "msig-" + uuid.uuid4().hex[:16]
    yield f"{url}{'&' if '?' in url else '?'}namespace={namespace}"
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"cosigner:{{{namespace}}}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
