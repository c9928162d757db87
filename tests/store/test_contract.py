"""The store contract: one suite, run against memory, SQLite, PostgreSQL and Redis.

Expiry is driven by the injected clock (``clock.advance``), never by
sleeping; Redis additionally gets a real ``PEXPIRE`` which is checked on its
own. Concurrency tests use two store instances opened from one URL, as two
server processes would, and many threads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import itertools
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cosigner.store import (
    MAX_AUTH_SESSION_TTL_MS,
    MAX_PRESIGN_SESSION_TTL_MS,
    RESERVATION_TTL_MS,
    STAGE_GRAPH,
    AlreadyExistsError,
    AuditChainError,
    CommitAndRaise,
    InvalidStageTransitionError,
    InvalidStoreArgumentError,
    LastIdentityError,
    NotFoundError,
    PoolEmptyError,
    PresignatureStatus,
    PresignatureUnavailableError,
    PresignStage,
    Reservation,
    SchemaVersionError,
    ScopeMismatchError,
    SessionExhaustedError,
    SessionExpiredError,
    SessionScope,
    SignCountError,
    StageRegressionError,
    StaleSessionStateError,
    Store,
    StoreConfigError,
    StoreError,
    StoreUnavailableError,
    open_store,
)
from cosigner.store.audit import GENESIS_HASH

from .conftest import POSTGRES_ENV, FakeClock, Harness, postgres_schema, server_url

T = TypeVar("T")

SCOPE = SessionScope(
    user_id="alice",
    rp_id="wallet.example",
    relayer_key_id="rk-1",
    participant_ids=(1, 2),
    client_participant_id=1,
    relayer_participant_id=2,
)
OTHER_SCOPES = {
    "user": dataclasses.replace(SCOPE, user_id="mallory"),
    "rp": dataclasses.replace(SCOPE, rp_id="evil.example"),
    "key": dataclasses.replace(SCOPE, relayer_key_id="rk-2"),
    "participants": dataclasses.replace(SCOPE, participant_ids=(1, 3), relayer_participant_id=3),
    "roles": dataclasses.replace(SCOPE, client_participant_id=2, relayer_participant_id=1),
}
SECRET = b"\x13" * 48


def race(n: int, fn: Callable[[int], T]) -> list[T | StoreError]:
    """Run ``fn(0..n-1)`` on ``n`` threads released together; store errors are returned."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T | StoreError:
        barrier.wait()
        try:
            return fn(i)
        except StoreError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


# -- keys ---------------------------------------------------------------------------------


def test_keys_create_get_list_delete(store: Store, clock: FakeClock) -> None:
    k1 = store.keys.create(
        "rk-1",
        user_id="alice",
        rp_id="wallet.example",
        scheme_id="threshold-secp256k1-ecdsa-2p-v1",
        public_key=b"\x02" + b"\x11" * 32,
        participant_ids=[2, 1],
        metadata={"client_verifying_share": "02ab", "n": 2},
        sealed=b"encrypted",
    )
    clock.advance(1)
    store.keys.create(
        "rk-2",
        user_id="alice",
        rp_id="wallet.example",
        scheme_id="threshold-ed25519-frost-2p-v1",
        public_key=b"\x22" * 32,
        participant_ids=[1, 2],
    )
    store.keys.create(
        "rk-3", user_id="bob", rp_id="x", scheme_id="s", public_key=b"k", participant_ids=[1, 2]
    )
    assert k1.participant_ids == (1, 2)
    assert store.keys.get("rk-1") == k1
    assert store.keys.get("rk-1").metadata == {"client_verifying_share": "02ab", "n": 2}
    assert store.keys.get("rk-1").sealed == b"encrypted"
    assert [k.key_id for k in store.keys.list_for_user("alice")] == ["rk-1", "rk-2"]
    assert store.keys.delete("rk-1") is True
    assert store.keys.delete("rk-1") is False
    with pytest.raises(NotFoundError) as caught:
        store.keys.get("rk-1")
    assert caught.value.code == "not_found"
    assert [k.key_id for k in store.keys.list_for_user("alice")] == ["rk-2"]


def test_keys_duplicate_is_refused_and_sealed_is_not_shown(store: Store) -> None:
    args: dict[str, Any] = dict(
        user_id="u", rp_id="r", scheme_id="s", public_key=b"p", participant_ids=[1, 2]
    )
    record = store.keys.create("k", sealed=b"top-secret-material", **args)
    with pytest.raises(AlreadyExistsError) as caught:
        store.keys.create("k", **args)
    assert caught.value.code == "already_exists"
    assert "top-secret" not in repr(record)
    with pytest.raises(InvalidStoreArgumentError):
        store.keys.create("k2", metadata={"bad": {1, 2}}, **args)
    with pytest.raises(InvalidStoreArgumentError):
        store.keys.create("", **args)


# -- short-lived sessions -------------------------------------------------------------------


def test_sessions_put_get_take(store: Store, clock: FakeClock) -> None:
    put = store.sessions.put("mpc", "s-1", b"state", ttl_ms=60_000)
    assert put.expires_at_ms == clock() + 60_000
    assert store.sessions.get("mpc", "s-1") == put
    assert store.sessions.take("mpc", "s-1") == put
    with pytest.raises(NotFoundError):
        store.sessions.take("mpc", "s-1")
    with pytest.raises(NotFoundError):
        store.sessions.get("mpc", "s-1")
    assert "state" not in repr(put)


def test_sessions_kinds_are_separate_and_ids_exclusive(store: Store) -> None:
    store.sessions.put("mpc", "s-1", b"a", ttl_ms=1000)
    store.sessions.put("signing", "s-1", b"b", ttl_ms=1000)
    with pytest.raises(AlreadyExistsError):
        store.sessions.put("mpc", "s-1", b"c", ttl_ms=1000)
    assert store.sessions.take("signing", "s-1").data == b"b"
    assert store.sessions.get("mpc", "s-1").data == b"a"
    assert store.sessions.delete("mpc", "s-1") is True
    assert store.sessions.delete("mpc", "s-1") is False


def test_sessions_expire_on_the_injected_clock(store: Store, clock: FakeClock) -> None:
    store.sessions.put("mpc", "s-1", b"a", ttl_ms=1000)
    clock.advance(999)
    assert store.sessions.get("mpc", "s-1").data == b"a"
    clock.advance(1)
    with pytest.raises(SessionExpiredError) as caught:
        store.sessions.get("mpc", "s-1")
    assert caught.value.code == "session_expired"
    with pytest.raises(SessionExpiredError):
        store.sessions.take("mpc", "s-1")
    with pytest.raises(NotFoundError):  # the expired record was taken away too
        store.sessions.take("mpc", "s-1")


@pytest.mark.parametrize("ttl", [0, -5, 1.5, True])
def test_sessions_refuse_bad_ttl(store: Store, ttl: Any) -> None:
    with pytest.raises(InvalidStoreArgumentError) as caught:
        store.sessions.put("mpc", "s", b"", ttl_ms=ttl)
    assert caught.value.code == "invalid_store_argument"


def test_concurrent_takes_have_one_winner(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    a.sessions.put("mpc", "once", b"x", ttl_ms=60_000)
    outcomes = race(20, lambda i: (a if i % 2 else b).sessions.take("mpc", "once"))
    assert sum(not isinstance(o, StoreError) for o in outcomes) == 1
    assert all(isinstance(o, NotFoundError) for o in outcomes if isinstance(o, StoreError))


# -- session versions -----------------------------------------------------------------------


def test_session_versions_start_at_zero_and_bump(store: Store) -> None:
    versions = store.session_versions
    assert versions.current("alice") == 0
    assert [versions.bump("alice") for _ in range(3)] == [1, 2, 3]
    assert versions.current("alice") == 3
    assert versions.current("bob") == 0
    assert versions.bump("user:with:colons") == 1
    with pytest.raises(InvalidStoreArgumentError):
        versions.bump("")


def test_concurrent_bumps_each_get_their_own_version(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    outcomes = race(20, lambda i: (a if i % 2 else b).session_versions.bump("alice"))
    assert sorted(o for o in outcomes if isinstance(o, int)) == list(range(1, 21))
    assert b.session_versions.current("alice") == 20


# -- threshold sessions ---------------------------------------------------------------------


def _auth(store: Store, session_id: str = "ts-1", *, uses: int = 3, ttl_ms: int = 60_000) -> Any:
    return store.auth_sessions.create(
        session_id,
        scheme_id="threshold-secp256k1-ecdsa-2p-v1",
        scope=SCOPE,
        max_uses=uses,
        ttl_ms=ttl_ms,
    )


def test_auth_session_counts_uses(store: Store) -> None:
    created = _auth(store, uses=3)
    assert (created.uses, created.remaining_uses) == (0, 3)
    assert store.auth_sessions.get("ts-1") == created
    assert [store.auth_sessions.consume_use("ts-1").uses for _ in range(3)] == [1, 2, 3]
    with pytest.raises(SessionExhaustedError) as caught:
        store.auth_sessions.consume_use("ts-1", scope=SCOPE)
    assert caught.value.code == "session_exhausted"
    assert store.auth_sessions.get("ts-1").uses == 3


def test_auth_session_limits(store: Store) -> None:
    with pytest.raises(InvalidStoreArgumentError):
        _auth(store, ttl_ms=MAX_AUTH_SESSION_TTL_MS + 1)
    with pytest.raises(InvalidStoreArgumentError):
        _auth(store, uses=21)
    with pytest.raises(InvalidStoreArgumentError):
        _auth(store, uses=0)
    assert _auth(store, uses=20, ttl_ms=MAX_AUTH_SESSION_TTL_MS).max_uses == 20
    with pytest.raises(AlreadyExistsError):
        _auth(store)


def test_auth_session_expiry(store: Store, clock: FakeClock) -> None:
    _auth(store, ttl_ms=10_000)
    store.auth_sessions.consume_use("ts-1")
    clock.advance(10_000)
    with pytest.raises(SessionExpiredError):
        store.auth_sessions.consume_use("ts-1")
    with pytest.raises(SessionExpiredError):
        store.auth_sessions.get("ts-1")
    with pytest.raises(NotFoundError):
        store.auth_sessions.consume_use("nope")


@pytest.mark.parametrize("other", OTHER_SCOPES)
def test_auth_session_refuses_other_scope_without_spending(store: Store, other: str) -> None:
    _auth(store, uses=1)
    with pytest.raises(ScopeMismatchError) as caught:
        store.auth_sessions.consume_use("ts-1", scope=OTHER_SCOPES[other])
    assert caught.value.code == "scope_mismatch"
    assert store.auth_sessions.consume_use("ts-1", scope=SCOPE).uses == 1


def test_auth_session_revoke(store: Store) -> None:
    _auth(store)
    assert store.auth_sessions.revoke("ts-1") is True
    assert store.auth_sessions.revoke("ts-1") is False
    with pytest.raises(NotFoundError):
        store.auth_sessions.consume_use("ts-1")


def test_concurrent_uses_admit_exactly_the_budget(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    _auth(a, uses=3)
    outcomes = race(20, lambda i: (a if i % 2 else b).auth_sessions.consume_use("ts-1"))
    wins = [o for o in outcomes if not isinstance(o, StoreError)]
    assert len(wins) == 3
    assert sorted(w.uses for w in wins) == [1, 2, 3]
    assert all(isinstance(o, SessionExhaustedError) for o in outcomes if o not in wins)
    assert a.auth_sessions.get("ts-1").uses == 3


# -- presign sessions -----------------------------------------------------------------------

T_, TD, PS, DONE = (
    PresignStage.TRIPLES,
    PresignStage.TRIPLES_DONE,
    PresignStage.PRESIGN,
    PresignStage.DONE,
)
PATH_TO = {T_: [], TD: [TD], PS: [TD, PS], DONE: [TD, PS, DONE]}


def _presign(store: Store, session_id: str = "ps-1", ttl_ms: int = 60_000) -> Any:
    return store.presign_sessions.create_session(
        session_id, scope=SCOPE, state=b"round-0", ttl_ms=ttl_ms
    )


def test_presign_session_create_get_delete(store: Store, clock: FakeClock) -> None:
    created = _presign(store)
    assert (created.stage, created.version, created.state) == (T_, 1, b"round-0")
    assert created.expires_at_ms == clock() + 60_000
    assert store.presign_sessions.get_session("ps-1") == created
    assert store.presign_sessions.get_session("ps-1", scope=SCOPE) == created
    assert "round-0" not in repr(created)
    with pytest.raises(AlreadyExistsError):
        _presign(store)
    assert store.presign_sessions.delete_session("ps-1") is True
    assert store.presign_sessions.delete_session("ps-1") is False
    with pytest.raises(NotFoundError):
        store.presign_sessions.get_session("ps-1")


def test_presign_session_walks_the_stage_graph(store: Store, clock: FakeClock) -> None:
    _presign(store)
    walk = [T_, T_, TD, TD, PS, PS, DONE]
    for version, stage in enumerate(walk, start=1):
        clock.advance(10)
        moved = store.presign_sessions.advance_session_cas(
            "ps-1", version, scope=SCOPE, stage=stage, state=f"s{version}".encode()
        )
        assert (moved.stage, moved.version, moved.state) == (
            stage,
            version + 1,
            f"s{version}".encode(),
        )
        assert moved.updated_at_ms == clock()
    assert store.presign_sessions.get_session("ps-1").version == len(walk) + 1


@pytest.mark.parametrize("source", list(PresignStage))
@pytest.mark.parametrize("target", list(PresignStage))
def test_presign_stage_graph(store: Store, source: PresignStage, target: PresignStage) -> None:
    _presign(store)
    version = 1
    for stage in PATH_TO[source]:
        store.presign_sessions.advance_session_cas(
            "ps-1", version, scope=SCOPE, stage=stage, state=b"s"
        )
        version += 1
    advance = lambda: store.presign_sessions.advance_session_cas(  # noqa: E731
        "ps-1", version, scope=SCOPE, stage=target, state=b"next"
    )
    if target in STAGE_GRAPH[source]:
        assert advance().stage == target
        return
    order = list(PresignStage)
    expected = (
        StageRegressionError
        if order.index(target) < order.index(source)
        else InvalidStageTransitionError
    )
    with pytest.raises(expected) as caught:
        advance()
    assert type(caught.value) is expected
    assert store.presign_sessions.get_session("ps-1").version == version  # nothing written


def test_presign_stage_graph_is_the_seed_graph() -> None:
    seed_graph = {T_: {T_, TD}, TD: {TD, PS}, PS: {PS, DONE}, DONE: set()}
    assert seed_graph == STAGE_GRAPH


def test_presign_stale_version(store: Store) -> None:
    _presign(store)
    store.presign_sessions.advance_session_cas("ps-1", 1, scope=SCOPE, stage=T_, state=b"a")
    with pytest.raises(StaleSessionStateError) as caught:
        store.presign_sessions.advance_session_cas("ps-1", 1, scope=SCOPE, stage=TD, state=b"b")
    assert caught.value.code == "stale_session_state"
    assert (caught.value.expected_version, caught.value.current_version) == (1, 2)
    with pytest.raises(StaleSessionStateError):  # a future version is as stale
        store.presign_sessions.advance_session_cas("ps-1", 7, scope=SCOPE, stage=TD, state=b"b")
    assert store.presign_sessions.get_session("ps-1").state == b"a"


@pytest.mark.parametrize("other", OTHER_SCOPES)
def test_presign_refuses_cross_scope_reuse(store: Store, other: str) -> None:
    _presign(store)
    with pytest.raises(ScopeMismatchError):
        store.presign_sessions.get_session("ps-1", scope=OTHER_SCOPES[other])
    with pytest.raises(ScopeMismatchError):
        store.presign_sessions.advance_session_cas(
            "ps-1", 1, scope=OTHER_SCOPES[other], stage=TD, state=b"x"
        )
    assert store.presign_sessions.get_session("ps-1").version == 1


def test_presign_expiry_and_ttl(store: Store, clock: FakeClock) -> None:
    with pytest.raises(InvalidStoreArgumentError):
        _presign(store, ttl_ms=MAX_PRESIGN_SESSION_TTL_MS + 1)
    _presign(store, ttl_ms=MAX_PRESIGN_SESSION_TTL_MS)
    with pytest.raises(InvalidStoreArgumentError):
        store.presign_sessions.advance_session_cas(
            "ps-1", 1, scope=SCOPE, stage=T_, state=b"", ttl_ms=MAX_PRESIGN_SESSION_TTL_MS + 1
        )
    clock.advance(60_000)
    kept = store.presign_sessions.advance_session_cas("ps-1", 1, scope=SCOPE, stage=T_, state=b"")
    assert kept.expires_at_ms == kept.created_at_ms + MAX_PRESIGN_SESSION_TTL_MS
    moved = store.presign_sessions.advance_session_cas(
        "ps-1", 2, scope=SCOPE, stage=TD, state=b"", ttl_ms=1000
    )
    assert moved.expires_at_ms == clock() + 1000
    clock.advance(1000)
    with pytest.raises(SessionExpiredError):
        store.presign_sessions.advance_session_cas("ps-1", 3, scope=SCOPE, stage=PS, state=b"")
    with pytest.raises(SessionExpiredError):
        store.presign_sessions.get_session("ps-1")
    with pytest.raises(NotFoundError):
        store.presign_sessions.advance_session_cas("nope", 1, scope=SCOPE, stage=T_, state=b"")


def test_presign_refuses_unknown_stage(store: Store) -> None:
    _presign(store)
    with pytest.raises(InvalidStoreArgumentError):
        store.presign_sessions.advance_session_cas("ps-1", 1, scope=SCOPE, stage="bogus", state=b"")
    assert (
        store.presign_sessions.advance_session_cas(
            "ps-1", 1, scope=SCOPE, stage="triples_done", state=b""
        ).stage
        is TD
    )


def test_concurrent_cas_has_one_winner(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    _presign(a)

    def advance(i: int) -> Any:
        store = a if i % 2 else b
        stage = T_ if i % 3 else TD
        return store.presign_sessions.advance_session_cas(
            "ps-1", 1, scope=SCOPE, stage=stage, state=f"writer-{i}".encode()
        )

    outcomes = race(50, advance)
    wins = [o for o in outcomes if not isinstance(o, StoreError)]
    assert len(wins) == 1
    assert all(isinstance(o, StaleSessionStateError) for o in outcomes if o is not wins[0])
    final = b.presign_sessions.get_session("ps-1")
    assert (final.version, final.state, final.stage) == (2, wins[0].state, wins[0].stage)


# -- presignature pool ----------------------------------------------------------------------


def test_pool_put_reserve_consume(store: Store, clock: FakeClock) -> None:
    pool = store.presignatures
    for i in range(3):
        pool.put("rk-1", f"p{i}", secret=SECRET + bytes([i]), public=b"R" + bytes([i]))
        clock.advance(1)
    assert pool.available("rk-1") == 3
    first = pool.reserve("rk-1")
    assert (first.presignature_id, first.public) == ("p0", b"R\x00")  # oldest first
    assert first.expires_at_ms == clock() + RESERVATION_TTL_MS
    assert pool.available("rk-1") == 2
    assert pool.status("rk-1", "p0") is PresignatureStatus.RESERVED
    used = pool.consume("rk-1", "p0")
    assert (used.secret, used.public) == (SECRET + b"\x00", b"R\x00")
    assert SECRET.hex() not in repr(used) and repr(SECRET) not in repr(used)
    assert pool.status("rk-1", "p0") is PresignatureStatus.CONSUMED
    with pytest.raises(PresignatureUnavailableError) as caught:
        pool.consume("rk-1", "p0")
    assert caught.value.code == "presignature_unavailable"
    assert pool.reserve("rk-1").presignature_id == "p1"


def test_pool_empty_and_keys_separate(store: Store) -> None:
    pool = store.presignatures
    with pytest.raises(PoolEmptyError) as caught:
        pool.reserve("rk-1")
    assert caught.value.code == "pool_empty"
    pool.put("rk-2", "p", secret=SECRET)
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-1")
    assert pool.available("rk-1") == 0
    assert pool.reserve("rk-2").presignature_id == "p"
    pool.put("rk-1", "p", secret=SECRET)  # ids are per key
    assert pool.reserve("rk-1").presignature_id == "p"


def test_pool_consume_needs_a_reservation(store: Store) -> None:
    pool = store.presignatures
    pool.put("rk-1", "p", secret=SECRET)
    with pytest.raises(PresignatureUnavailableError):
        pool.consume("rk-1", "p")
    with pytest.raises(NotFoundError):
        pool.consume("rk-1", "never-put")
    assert pool.status("rk-1", "p") is PresignatureStatus.AVAILABLE


def test_pool_expired_reservation_is_discarded_never_reoffered(
    store: Store, clock: FakeClock
) -> None:
    pool = store.presignatures
    pool.put("rk-1", "p0", secret=SECRET)
    pool.put("rk-1", "p1", secret=SECRET)
    assert pool.reserve("rk-1").presignature_id == "p0"
    clock.advance(RESERVATION_TTL_MS)
    assert pool.reserve("rk-1").presignature_id == "p1"  # not p0 again
    assert pool.status("rk-1", "p0") is PresignatureStatus.DISCARDED
    with pytest.raises(PresignatureUnavailableError, match="expired"):
        pool.consume("rk-1", "p0")
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-1")


def test_pool_consume_after_expiry_is_refused(store: Store, clock: FakeClock) -> None:
    pool = store.presignatures
    pool.put("rk-1", "p0", secret=SECRET)
    pool.reserve("rk-1", ttl_ms=5_000)
    clock.advance(5_000)
    with pytest.raises(PresignatureUnavailableError, match="expired"):
        pool.consume("rk-1", "p0")
    assert pool.status("rk-1", "p0") is PresignatureStatus.DISCARDED
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-1")
    with pytest.raises(InvalidStoreArgumentError):
        pool.reserve("rk-1", ttl_ms=RESERVATION_TTL_MS + 1)


def test_pool_discard(store: Store) -> None:
    pool = store.presignatures
    pool.put("rk-1", "avail", secret=SECRET)
    pool.put("rk-1", "held", secret=SECRET)
    pool.discard("rk-1", "avail")
    held = pool.reserve("rk-1")
    assert held.presignature_id == "held"
    pool.discard("rk-1", "held")
    pool.discard("rk-1", "held")  # idempotent
    with pytest.raises(PresignatureUnavailableError):
        pool.consume("rk-1", "held")
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-1")
    with pytest.raises(NotFoundError):
        pool.discard("rk-1", "never-put")
    assert pool.status("rk-1", "avail") is PresignatureStatus.DISCARDED


def test_pool_ids_are_never_reused(store: Store) -> None:
    pool = store.presignatures
    pool.put("rk-1", "p", secret=SECRET)
    with pytest.raises(AlreadyExistsError):
        pool.put("rk-1", "p", secret=SECRET)
    pool.reserve("rk-1")
    pool.consume("rk-1", "p")
    with pytest.raises(AlreadyExistsError):  # a replayed presign result cannot come back
        pool.put("rk-1", "p", secret=SECRET)
    with pytest.raises(InvalidStoreArgumentError):
        pool.put("rk-1", "empty", secret=b"")


def test_pool_reserve_a_named_presignature(store: Store, clock: FakeClock) -> None:
    pool = store.presignatures
    for i in range(3):
        pool.put("rk-1", f"p{i}", secret=SECRET, public=bytes([i]))
    named = pool.reserve("rk-1", presignature_id="p1")
    assert (named.presignature_id, named.public) == ("p1", b"\x01")
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-1", presignature_id="p1")
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-1", presignature_id="never-put")
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk-2", presignature_id="p0")  # ids are per key
    assert pool.reserve("rk-1").presignature_id == "p0"
    assert pool.available("rk-1") == 1
    clock.advance(RESERVATION_TTL_MS)
    assert pool.reserve("rk-1", presignature_id="p2").presignature_id == "p2"
    assert pool.status("rk-1", "p1") is PresignatureStatus.DISCARDED  # swept on the way
    assert pool.consume("rk-1", "p2").secret == SECRET


def test_pool_available_total_by_scheme(store: Store, clock: FakeClock) -> None:
    pool = store.presignatures
    for key in ("rk-1", "rk-2"):
        for i in range(3):
            pool.put(key, f"p{i}", secret=SECRET, scheme="ecdsa-2p")
    pool.put("rk-1", "other", secret=SECRET, scheme="other-scheme")
    pool.put("rk-1", "bare", secret=SECRET)
    assert pool.available_total("ecdsa-2p") == 6
    assert pool.available_total("other-scheme") == 1
    assert pool.available_total("never") == 0
    pool.reserve("rk-1")
    pool.reserve("rk-2", presignature_id="p2")
    assert pool.available_total("ecdsa-2p") == 4
    pool.discard("rk-2", "p0")  # available -> discarded
    pool.discard("rk-2", "p2")  # reserved -> discarded: was not counted as available
    pool.discard("rk-2", "p2")
    assert pool.available_total("ecdsa-2p") == 3
    pool.consume("rk-1", "p0")
    clock.advance(RESERVATION_TTL_MS)
    pool.reserve("rk-2")
    assert pool.available_total("ecdsa-2p") == 2
    assert pool.available_total("other-scheme") == 1
    with pytest.raises(InvalidStoreArgumentError):
        pool.put("rk-1", "bad", secret=SECRET, scheme="")
    with pytest.raises(InvalidStoreArgumentError):
        pool.available_total("")


def test_pool_lists_available_presignatures_without_secrets(store: Store, clock: FakeClock) -> None:
    pool = store.presignatures
    for i in range(4):
        pool.put("rk-1", f"p{i}", secret=SECRET, public=b"R", scheme="s")
        clock.advance(10)
    pool.put("rk-2", "other", secret=SECRET)
    start = clock() - 40
    listed = pool.list_available("rk-1")
    assert [p.presignature_id for p in listed] == ["p0", "p1", "p2", "p3"]  # oldest first
    assert [p.created_at_ms - start for p in listed] == [0, 10, 20, 30]
    assert {p.key_id for p in listed} == {"rk-1"}
    assert SECRET.hex() not in repr(listed) and repr(SECRET) not in repr(listed)
    pool.reserve("rk-1")
    pool.discard("rk-1", "p2")
    assert [p.presignature_id for p in pool.list_available("rk-1")] == ["p1", "p3"]
    assert pool.list_available("rk-none") == ()


def test_pool_discard_stale_retires_old_available_ones_only(
    harness: Harness, clock: FakeClock
) -> None:
    a, b = harness.open(), harness.open()
    other = harness.open(harness.namespace + "-other")
    pool = a.presignatures
    pool.put("rk-1", "old-reserved", secret=SECRET, scheme="s")
    pool.put("rk-1", "old-a", secret=SECRET, scheme="s")
    pool.put("rk:2", "old-b", secret=SECRET, scheme="s")  # ids may hold ':'
    other.presignatures.put("rk-1", "old-elsewhere", secret=SECRET, scheme="s")
    held = pool.reserve("rk-1")
    assert held.presignature_id == "old-reserved"
    clock.advance(60_000)
    pool.put("rk-1", "young", secret=SECRET, scheme="s")
    clock.advance(1_000)
    assert b.presignatures.discard_stale(61_001) == 0  # none is that old
    assert b.presignatures.discard_stale(60_000) == 2
    assert b.presignatures.discard_stale(60_000) == 0  # idempotent
    for key, pid in (("rk-1", "old-a"), ("rk:2", "old-b")):
        assert pool.status(key, pid) is PresignatureStatus.DISCARDED
    assert pool.status("rk-1", "young") is PresignatureStatus.AVAILABLE
    assert pool.status("rk-1", "old-reserved") is PresignatureStatus.RESERVED  # in use
    assert pool.consume("rk-1", "old-reserved").secret == SECRET
    assert pool.available_total("s") == 1
    assert pool.reserve("rk-1").presignature_id == "young"
    with pytest.raises(PoolEmptyError):
        pool.reserve("rk:2")
    with pytest.raises(AlreadyExistsError):  # a discarded id never comes back
        pool.put("rk-1", "old-a", secret=SECRET)
    # Another namespace is another pool.
    assert other.presignatures.list_available("rk-1")[0].presignature_id == "old-elsewhere"
    with pytest.raises(InvalidStoreArgumentError):
        pool.discard_stale(0)


def test_concurrent_discard_stale_and_reserves_never_share(
    harness: Harness, clock: FakeClock
) -> None:
    a, b = harness.open(), harness.open()
    for i in range(20):
        a.presignatures.put("rk-1", f"p{i:02}", secret=SECRET)
    clock.advance(1_000)

    def act(i: int) -> object:
        if i == 0:
            return a.presignatures.discard_stale(1_000)
        return (a if i % 2 else b).presignatures.reserve("rk-1")

    outcomes = race(30, act)
    swept = outcomes[0]
    reserved = [o for o in outcomes[1:] if not isinstance(o, StoreError)]
    assert isinstance(swept, int)
    assert swept + len(reserved) == 20
    for r in reserved:
        assert isinstance(r, Reservation)
        assert a.presignatures.status("rk-1", r.presignature_id) is PresignatureStatus.RESERVED
    assert a.presignatures.available("rk-1") == 0


def test_concurrent_named_reserves_have_one_winner(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    for i in range(3):
        a.presignatures.put("rk-1", f"p{i}", secret=SECRET, scheme="s")
    outcomes = race(
        20, lambda i: (a if i % 2 else b).presignatures.reserve("rk-1", presignature_id="p1")
    )
    wins = [o for o in outcomes if not isinstance(o, StoreError)]
    assert len(wins) == 1
    assert all(isinstance(o, PoolEmptyError) for o in outcomes if isinstance(o, StoreError))
    assert a.presignatures.available_total("s") == 2


def test_concurrent_reserves_never_share(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    for i in range(10):
        a.presignatures.put("rk-1", f"p{i:02}", secret=SECRET)
    outcomes = race(50, lambda i: (a if i % 2 else b).presignatures.reserve("rk-1"))
    wins = [o for o in outcomes if not isinstance(o, StoreError)]
    assert len(wins) == 10
    assert {w.presignature_id for w in wins} == {f"p{i:02}" for i in range(10)}
    assert all(isinstance(o, PoolEmptyError) for o in outcomes if isinstance(o, StoreError))


def test_concurrent_consumes_have_one_winner(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    a.presignatures.put("rk-1", "p", secret=SECRET)
    a.presignatures.reserve("rk-1")
    outcomes = race(20, lambda i: (a if i % 2 else b).presignatures.consume("rk-1", "p"))
    wins = [o for o in outcomes if not isinstance(o, StoreError)]
    assert len(wins) == 1
    assert all(
        isinstance(o, PresignatureUnavailableError) for o in outcomes if isinstance(o, StoreError)
    )


# -- identities -----------------------------------------------------------------------------


def test_identities(store: Store, clock: FakeClock) -> None:
    ids = store.identities
    linked = ids.link("google-oidc", "sub-1", "alice")
    clock.advance(1)
    assert ids.link("google-oidc", "sub-1", "alice") == linked  # idempotent
    ids.link("passkey", "cred:1", "alice")
    ids.link("passkey", "cred:2", "bob")
    with pytest.raises(AlreadyExistsError):
        ids.link("google-oidc", "sub-1", "bob")
    assert ids.get("google-oidc", "sub-1").user_id == "alice"
    assert [(i.provider, i.subject) for i in ids.list_for_user("alice")] == [
        ("google-oidc", "sub-1"),
        ("passkey", "cred:1"),
    ]
    with pytest.raises(NotFoundError):
        ids.unlink("google-oidc", "sub-1", user_id="bob")
    ids.unlink("google-oidc", "sub-1", user_id="alice")
    with pytest.raises(NotFoundError):
        ids.get("google-oidc", "sub-1")
    assert [i.subject for i in ids.list_for_user("alice")] == ["cred:1"]
    assert ids.link("google-oidc", "sub-1", "bob").user_id == "bob"


def test_unlink_unless_last(store: Store) -> None:
    ids = store.identities
    ids.link("google-oidc", "sub-1", "alice")
    ids.link("passkey", "cred:1", "alice")
    ids.link("passkey", "cred:2", "bob")
    with pytest.raises(NotFoundError):
        ids.unlink_unless_last("passkey", "cred:2", user_id="alice")
    with pytest.raises(NotFoundError):
        ids.unlink_unless_last("passkey", "never", user_id="alice")
    with pytest.raises(LastIdentityError) as caught:
        ids.unlink_unless_last("passkey", "cred:2", user_id="bob")
    assert caught.value.code == "last_identity"
    ids.unlink_unless_last("google-oidc", "sub-1", user_id="alice")
    with pytest.raises(LastIdentityError):
        ids.unlink_unless_last("passkey", "cred:1", user_id="alice")
    assert [i.subject for i in ids.list_for_user("alice")] == ["cred:1"]
    assert [i.subject for i in ids.list_for_user("bob")] == ["cred:2"]


@pytest.mark.parametrize("count", [2, 5])
def test_concurrent_unlinks_always_leave_one_identity(harness: Harness, count: int) -> None:
    a, b = harness.open(), harness.open()
    for i in range(count):
        a.identities.link("passkey", f"cred:{i}", "alice")
    outcomes = race(
        count,
        lambda i: (a if i % 2 else b).identities.unlink_unless_last(
            "passkey", f"cred:{i}", user_id="alice"
        ),
    )
    refused = [o for o in outcomes if isinstance(o, StoreError)]
    assert len(refused) == 1 and isinstance(refused[0], LastIdentityError)
    assert len(a.identities.list_for_user("alice")) == 1


# -- WebAuthn credentials ---------------------------------------------------------------------


def test_credentials(store: Store, clock: FakeClock) -> None:
    creds = store.credentials
    c1 = creds.add(
        b"\x01" * 16,
        user_id="alice",
        rp_id="a.example",
        public_key=b"cose",
        transports=["internal", "hybrid"],
    )
    clock.advance(1)
    creds.add(b"\x02" * 16, user_id="alice", rp_id="b.example", public_key=b"cose2", sign_count=5)
    creds.add(b"\x03", user_id="bob", rp_id="a.example", public_key=b"cose3")
    assert creds.get(b"\x01" * 16) == c1
    assert c1.transports == ("internal", "hybrid") and c1.last_used_at_ms is None
    assert [c.credential_id for c in creds.list_for_user("alice")] == [b"\x01" * 16, b"\x02" * 16]
    assert [c.rp_id for c in creds.list_for_user("alice", rp_id="b.example")] == ["b.example"]
    with pytest.raises(AlreadyExistsError):
        creds.add(b"\x01" * 16, user_id="mallory", rp_id="a.example", public_key=b"x")
    assert creds.delete(b"\x03") is True
    assert creds.delete(b"\x03") is False
    with pytest.raises(NotFoundError):
        creds.get(b"\x03")
    with pytest.raises(InvalidStoreArgumentError):
        creds.get(b"")


def test_credential_sign_count(store: Store, clock: FakeClock) -> None:
    creds = store.credentials
    creds.add(b"zero", user_id="u", rp_id="r", public_key=b"k")
    assert creds.record_use(b"zero", 0).last_used_at_ms == clock()  # counterless authenticator
    creds.add(b"counted", user_id="u", rp_id="r", public_key=b"k", sign_count=5)
    assert creds.record_use(b"counted", 6).sign_count == 6
    for stale in (6, 3, 0):
        with pytest.raises(SignCountError) as caught:
            creds.record_use(b"counted", stale)
        assert caught.value.code == "sign_count_regression"
    assert creds.get(b"counted").sign_count == 6
    with pytest.raises(NotFoundError):
        creds.record_use(b"missing", 1)


# -- audit log ------------------------------------------------------------------------------


def test_audit_chain(store: Store, clock: FakeClock) -> None:
    log = store.audit
    assert log.head() == (0, GENESIS_HASH)
    assert log.verify_chain() == 0
    kinds = ["keygen", "session", "authorize", "signature", "export"]
    entries = []
    for kind in kinds:
        clock.advance(5)
        entries.append(log.append(kind, "alice", {"z": 1, "a": [kind], "key": "rk-1"}))
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    assert entries[2].data == '{"a":["authorize"],"key":"rk-1","z":1}'
    assert entries[2].data_json() == {"a": ["authorize"], "key": "rk-1", "z": 1}
    assert log.entries() == entries
    assert log.entries(after_seq=2, limit=2) == entries[2:4]
    assert log.head() == (5, entries[-1].hash)
    assert log.verify_chain() == 5
    with pytest.raises(InvalidStoreArgumentError):
        log.append("keygen", "alice", {"not-json": object()})


@pytest.mark.parametrize("seq", [1, 3, 5])
def test_audit_tampering_names_the_entry(harness: Harness, seq: int) -> None:
    store = harness.open()
    for i in range(5):
        store.audit.append("signature", "alice", {"n": i})
    harness.tamper_audit(store, seq, '{"n":999}')
    with pytest.raises(AuditChainError) as caught:
        store.audit.verify_chain()
    assert caught.value.seq == seq
    assert caught.value.code == "audit_chain_broken"
    assert f"audit entry {seq}" in str(caught.value)


@pytest.mark.parametrize("seq", [2, 4])
def test_audit_removed_entry_is_named(harness: Harness, seq: int) -> None:
    store = harness.open()
    for i in range(4):
        store.audit.append("signature", "alice", {"n": i})
    harness.delete_audit_entry(store, seq)
    with pytest.raises(AuditChainError) as caught:
        store.audit.verify_chain()
    assert caught.value.seq == seq


def test_concurrent_appends_form_one_chain(harness: Harness) -> None:
    a, b = harness.open(), harness.open()
    outcomes = race(30, lambda i: (a if i % 2 else b).audit.append("authorize", f"u{i}", {"i": i}))
    assert not [o for o in outcomes if isinstance(o, StoreError)]
    assert sorted(e.seq for e in outcomes if not isinstance(e, StoreError)) == list(range(1, 31))
    assert a.audit.verify_chain() == 30


# -- scopes, namespaces, purge --------------------------------------------------------------


def test_scope_is_validated_and_normalized() -> None:
    assert dataclasses.replace(SCOPE, participant_ids=(2, 1)) == SCOPE
    with pytest.raises(InvalidStoreArgumentError):
        dataclasses.replace(SCOPE, relayer_participant_id=1)
    with pytest.raises(InvalidStoreArgumentError):
        dataclasses.replace(SCOPE, client_participant_id=7)
    with pytest.raises(InvalidStoreArgumentError):
        dataclasses.replace(SCOPE, participant_ids=(1, 2, 2))
    with pytest.raises(InvalidStoreArgumentError):
        dataclasses.replace(SCOPE, user_id="")
    assert SessionScope.from_canonical(SCOPE.canonical()) == SCOPE


def test_namespaces_are_isolated(harness: Harness) -> None:
    a = harness.open()
    other = harness.open(namespace=harness.namespace + "-b")
    a.sessions.put("mpc", "s", b"a", ttl_ms=1000)
    a.presignatures.put("rk-1", "p", secret=SECRET)
    a.audit.append("keygen", "alice")
    with pytest.raises(NotFoundError):
        other.sessions.get("mpc", "s")
    with pytest.raises(PoolEmptyError):
        other.presignatures.reserve("rk-1")
    assert other.audit.head() == (0, GENESIS_HASH)


def test_purge_expired(store: Store, clock: FakeClock) -> None:
    store.sessions.put("mpc", "s", b"", ttl_ms=1000)
    _auth(store, ttl_ms=1000)
    _presign(store, ttl_ms=1000)
    _presign(store, "ps-live", ttl_ms=5000)
    clock.advance(1000)
    purged = store.purge_expired()
    assert purged == (0 if store.backend == "redis" else 3)  # Redis relies on PEXPIRE
    for get in (
        lambda: store.sessions.get("mpc", "s"),
        lambda: store.auth_sessions.get("ts-1"),
        lambda: store.presign_sessions.get_session("ps-1"),
    ):
        with pytest.raises(NotFoundError):
            get()
    assert store.presign_sessions.get_session("ps-live").version == 1


def test_reopen_is_idempotent(harness: Harness) -> None:
    first = harness.open()
    first.sessions.put("mpc", "s", b"kept", ttl_ms=60_000)
    again = harness.open()
    assert again.sessions.get("mpc", "s").data == b"kept"
    assert harness.namespace in repr(again)


def test_group_is_one_transaction_on_sql_backends(harness: Harness) -> None:
    store, other = harness.open(), harness.open()
    grouped = harness.name in ("sqlite", "postgresql")
    with pytest.raises(RuntimeError), store.group():
        store.sessions.put("mpc", "a", b"1", ttl_ms=60_000)
        store.audit.append("authorize", "alice")
        assert store.sessions.get("mpc", "a").data == b"1"  # the group sees its own writes
        raise RuntimeError("the request failed half way")
    # All or nothing on SQL backends; each call on its own (as outside a group) elsewhere.
    assert _exists(other, "a") is not grouped
    assert other.audit.head()[0] == (0 if grouped else 1)
    with store.group():
        store.sessions.put("mpc", "b", b"2", ttl_ms=60_000)
        with store.group():  # a nested group joins the open one
            store.sessions.take("mpc", "b")
            store.sessions.put("mpc", "c", b"3", ttl_ms=60_000)
    assert not _exists(other, "b") and other.sessions.get("mpc", "c").data == b"3"
    with pytest.raises(SessionExhaustedError), store.group():
        _auth(store, uses=1)
        store.auth_sessions.consume_use("ts-1")
        store.auth_sessions.consume_use("ts-1")  # refused, and the whole group with it
    if grouped:
        with pytest.raises(NotFoundError):
            other.auth_sessions.get("ts-1")
    else:
        assert other.auth_sessions.get("ts-1").uses == 1


def test_a_deferred_write_travels_with_its_transaction(harness: Harness) -> None:
    """``Tx.defer`` (pipelined on PostgreSQL): committed with the group, or undone with it."""
    if harness.name not in ("sqlite", "postgresql"):
        pytest.skip("deferred statements are a SQL-backend feature")
    store, other = harness.open(), harness.open()
    backend = store._db  # type: ignore[attr-defined]
    # A recorded audit entry is deferred: a group that fails after it takes it along.
    with pytest.raises(RuntimeError), store.group():
        store.audit.record("authorize", "alice")
        store.sessions.put("mpc", "with-record", b"x", ttl_ms=60_000)
        raise RuntimeError("the request failed after the record")
    assert not _exists(other, "with-record")
    assert other.audit.entries() == []
    # A deferred write that fails fails the whole group, wherever its error surfaces.
    with pytest.raises(Exception, match="cosigner_no_such_table"), store.group():
        store.sessions.put("mpc", "before", b"x", ttl_ms=60_000)
        with backend.scoped(write=True) as tx:
            tx.defer("INSERT INTO cosigner_no_such_table (x) VALUES (%s)", (1,))
        store.sessions.put("mpc", "after", b"x", ttl_ms=60_000)
    assert not _exists(other, "before") and not _exists(other, "after")
    # And one that succeeds commits with the group; the connection is fine afterwards.
    with store.group():
        store.audit.record("authorize", "bob")
        store.sessions.put("mpc", "kept", b"x", ttl_ms=60_000)
    assert _exists(other, "kept")
    assert [e.subject for e in other.audit.entries()] == ["bob"]


def test_release_puts_back_a_live_reservation_only(harness: Harness) -> None:
    store, other = harness.open(), harness.open()
    for i in range(3):
        store.presignatures.put("key-1", f"p{i}", secret=SECRET, scheme="s")
    first = store.presignatures.reserve("key-1")
    assert first.presignature_id == "p0"
    assert other.presignatures.available("key-1") == 2
    # Put back, it is available again and, being the oldest, reserved first again.
    assert store.presignatures.release("key-1", "p0") is True
    assert other.presignatures.available("key-1") == 3
    assert other.presignatures.release("key-1", "p0") is False  # not reserved any more
    with pytest.raises(PresignatureUnavailableError):
        store.presignatures.consume("key-1", "p0")
    assert other.presignatures.reserve("key-1").presignature_id == "p0"
    assert store.presignatures.consume("key-1", "p0").secret == SECRET
    # Consumed, discarded, unknown or expired: left as it is.
    assert store.presignatures.release("key-1", "p0") is False
    store.presignatures.reserve("key-1", presignature_id="p1")
    store.presignatures.discard("key-1", "p1")
    assert store.presignatures.release("key-1", "p1") is False
    assert store.presignatures.release("key-1", "never") is False
    store.presignatures.reserve("key-1", presignature_id="p2", ttl_ms=1_000)
    harness.clock.advance(1_000)
    assert store.presignatures.release("key-1", "p2") is False
    assert other.presignatures.available("key-1") == 0


def test_release_puts_a_presignature_back_in_its_place(harness: Harness) -> None:
    """Released out of order, presignatures are still reserved oldest (first put) first."""
    store = harness.open()
    for i in range(4):
        store.presignatures.put("key-1", f"p{i}", secret=SECRET, scheme="s")
    for wanted in ("p2", "p1", "p3"):
        store.presignatures.reserve("key-1", presignature_id=wanted)
    for released in ("p3", "p1", "p2"):
        assert store.presignatures.release("key-1", released) is True
    order = [store.presignatures.reserve("key-1").presignature_id for _ in range(4)]
    assert order == ["p0", "p1", "p2", "p3"]


def test_put_with_a_fresh_id_never_overwrites(harness: Harness) -> None:
    """``fresh_id``: PostgreSQL may defer the insert in a unit; a clash still never overwrites."""
    store, other = harness.open(), harness.open()
    with store.group():
        record = store.sessions.put("sign", "fresh-1", b"x", ttl_ms=60_000, fresh_id=True)
    assert record.session_id == "fresh-1"
    assert other.sessions.get("sign", "fresh-1").data == b"x"
    # Outside a unit it answers as put always does.
    with pytest.raises(AlreadyExistsError):
        store.sessions.put("sign", "fresh-1", b"y", ttl_ms=60_000, fresh_id=True)
    # Inside one, a clash fails there or, deferred, fails the whole unit at its commit.
    with pytest.raises(Exception) as caught, store.group():
        store.sessions.put("mpc", "in-the-unit", b"z", ttl_ms=60_000)
        store.sessions.put("sign", "fresh-1", b"y", ttl_ms=60_000, fresh_id=True)
    assert isinstance(caught.value, AlreadyExistsError) or "duplicate key" in str(caught.value)
    assert other.sessions.get("sign", "fresh-1").data == b"x"
    grouped = harness.name in ("sqlite", "postgresql")
    assert _exists(other, "in-the-unit") is not grouped


def test_audit_chain_holds_for_any_data_text(harness: Harness) -> None:
    # PostgreSQL finishes the entry hash in SQL; every byte must match the Python encoding.
    store = harness.open()
    texts = ['quote " and \\ backslash', "ümlaut and 漢字", "\u0000 nul \n newline", "😀"]
    for i, text in enumerate(texts):
        store.audit.append("note", f"user-{i}", {"text": text, "n": i, "nested": [text]})
    assert store.audit.verify_chain() == len(texts)
    assert [e.kind for e in harness.open().audit.entries()] == ["note"] * len(texts)


def test_recorded_audit_entries_are_chained_before_anyone_reads(harness: Harness) -> None:
    store, other = harness.open(), harness.open()
    store.audit.append("keygen", "alice")
    for i in range(5):
        (store if i % 2 else other).audit.record("authorize", f"user-{i}", {"n": i})
    store.audit.append("export", "alice")
    # Readers seal first: every recorded entry is in the chain, each once, in a chain
    # that verifies, whichever instance recorded it.
    entries = other.audit.entries()
    assert sorted(e.subject for e in entries if e.kind == "authorize") == [
        f"user-{i}" for i in range(5)
    ]
    assert [e.seq for e in entries] == list(range(1, 8))
    assert store.audit.verify_chain() == 7
    assert store.audit.seal_pending() == 0
    assert store.audit.head()[0] == 7


def test_audit_records_from_many_threads_make_one_chain(harness: Harness) -> None:
    stores = [harness.open(), harness.open()]

    def record(i: int) -> None:
        stores[i % 2].audit.record("signature", f"user-{i}", {"i": i})
        if i % 10 == 0:
            stores[i % 2].audit.seal_pending()

    race(40, record)
    assert stores[0].audit.verify_chain() == 40
    assert len({e.subject for e in stores[1].audit.entries(limit=100)}) == 40


def test_atomic_units_commit_before_they_answer(harness: Harness) -> None:
    store, other = harness.open(), harness.open()
    grouped = harness.name in ("sqlite", "postgresql")
    _auth(store, uses=3)

    def spend(i: int) -> int:
        store.sessions.put("mpc", f"u{i}", b"x", ttl_ms=60_000)
        return store.auth_sessions.consume_use("ts-1").uses

    async def main() -> list[int | BaseException]:
        results = await asyncio.gather(
            *(store.atomic(functools.partial(spend, i)) for i in range(6)), return_exceptions=True
        )
        # Every answer came after its commit: another instance sees exactly what was granted.
        assert other.auth_sessions.get("ts-1").uses == 3
        return results

    results = asyncio.run(main())
    granted = sorted(r for r in results if isinstance(r, int))
    refused = [r for r in results if not isinstance(r, int)]
    assert granted == [1, 2, 3]
    assert len(refused) == 3 and all(isinstance(r, SessionExhaustedError) for r in refused)
    # A refused unit is undone on SQL backends (its put with it); elsewhere each call stood.
    stored = [i for i in range(6) if _exists(other, f"u{i}")]
    assert len(stored) == (3 if grouped else 6)


def test_atomic_commit_and_raise_keeps_the_writes(harness: Harness) -> None:
    store, other = harness.open(), harness.open()
    store.sessions.put("mpc", "burn", b"x", ttl_ms=60_000)

    def burn_then_refuse() -> None:
        store.sessions.take("mpc", "burn")
        store.audit.append("refused", "alice")
        raise CommitAndRaise(ScopeMismatchError("refused after spending"))

    def fail() -> None:
        store.sessions.put("mpc", "never", b"x", ttl_ms=60_000)
        raise RuntimeError("a bug half way")

    async def main() -> None:
        with pytest.raises(ScopeMismatchError, match="after spending"):
            await store.atomic(burn_then_refuse)
        with pytest.raises(RuntimeError):
            await store.atomic(fail)
        assert await store.atomic(lambda: store.sessions.get("mpc", "kept").data) == b"k"

    store.sessions.put("mpc", "kept", b"k", ttl_ms=60_000)
    asyncio.run(main())
    assert not _exists(other, "burn")
    assert other.audit.head()[0] == 1
    assert _exists(other, "never") is (harness.name not in ("sqlite", "postgresql"))


def test_atomic_without_flush_commits_all_the_same(harness: Harness) -> None:
    store, other = harness.open(), harness.open()

    def put(name: str) -> str:
        return store.sessions.put("mpc", name, b"x", ttl_ms=60_000).session_id

    async def main() -> None:
        assert await store.atomic(functools.partial(put, "quick"), flush=False) == "quick"
        assert await store.atomic(functools.partial(put, "flushed")) == "flushed"

    asyncio.run(main())
    assert _exists(other, "quick") and _exists(other, "flushed")


def test_sqlite_flushes_a_batch_when_one_unit_asks(tmp_path: Path) -> None:
    from cosigner.store.sqlite import SqliteBackend

    store = open_store(f"sqlite:///{tmp_path / 'flush.db'}")
    backend = store._db  # type: ignore[attr-defined]
    assert isinstance(backend, SqliteBackend)
    modes: list[int] = []

    def put(name: str) -> None:
        store.sessions.put("mpc", name, b"x", ttl_ms=60_000)
        modes.append(backend._conn.execute("PRAGMA synchronous").fetchone()[0])

    async def main() -> None:
        await asyncio.gather(
            *(store.atomic(functools.partial(put, f"n{i}"), flush=False) for i in range(3))
        )
        await asyncio.gather(
            store.atomic(functools.partial(put, "a"), flush=False),
            store.atomic(functools.partial(put, "b")),
        )

    try:
        asyncio.run(main())
        # NORMAL (1) for a batch of no-flush units; FULL (2) once any unit of a batch asks.
        assert modes == [1, 1, 1, 2, 2]
    finally:
        store.close()


def test_sqlite_a_failed_batch_fails_every_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from cosigner.store.sqlite import SqliteBackend

    store = open_store(f"sqlite:///{tmp_path / 'fail.db'}")
    backend = store._db  # type: ignore[attr-defined]
    assert isinstance(backend, SqliteBackend)

    def broken(batch: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    def put(name: str) -> None:
        store.sessions.put("mpc", name, b"x", ttl_ms=60_000)

    async def main() -> list[Any]:
        monkeypatch.setattr(backend, "_run_units", broken)
        failed = await asyncio.gather(
            *(store.atomic(functools.partial(put, f"f{i}")) for i in range(3)),
            return_exceptions=True,
        )
        monkeypatch.undo()
        await store.atomic(functools.partial(put, "after"))  # the store goes on working
        return failed

    try:
        failed = asyncio.run(main())
        assert all(isinstance(f, StoreUnavailableError) for f in failed)
        assert not any(_exists(store, f"f{i}") for i in range(3))
        assert _exists(store, "after")
    finally:
        store.close()


def test_sqlite_batch_waits_for_a_locked_file_without_blocking_the_loop(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "locked.db"
    store = open_store(f"sqlite:///{path}")
    held, released_at = threading.Event(), [0.0]
    hold_s = 0.3

    def hold_write_lock() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            time.sleep(hold_s)
            released_at[0] = time.monotonic()
            conn.execute("COMMIT")
        finally:
            conn.close()

    def put() -> str:
        return store.sessions.put("mpc", "locked", b"x", ttl_ms=60_000).session_id

    async def main() -> tuple[list[float], float]:
        ticks: list[float] = []
        done = False

        async def ticker() -> None:
            while not done:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        assert await store.atomic(put) == "locked"
        finished = time.monotonic()
        done = True
        await task
        return ticks, finished

    holder = threading.Thread(target=hold_write_lock)
    holder.start()
    try:
        assert held.wait(5)
        ticks, finished = asyncio.run(main())
        holder.join()
        # The loop went on running while the other connection held the write lock...
        gaps = [b - a for a, b in itertools.pairwise([*ticks, finished])]
        assert sum(gaps) >= hold_s / 2 and max(gaps) < hold_s / 2
        # ...and the unit ran once the lock was released.
        assert finished >= released_at[0] > 0
        assert _exists(store, "locked")
    finally:
        holder.join()
        store.close()


def test_sqlite_units_of_one_loop_turn_share_one_commit(tmp_path: Path) -> None:
    from cosigner.store.sqlite import SqliteBackend

    store = open_store(f"sqlite:///{tmp_path / 'batch.db'}")
    other = open_store(f"sqlite:///{tmp_path / 'batch.db'}")
    batches: list[int] = []
    backend = store._db  # type: ignore[attr-defined]
    assert isinstance(backend, SqliteBackend)
    original = backend._run_batch

    def counting(batch: Any) -> None:
        batches.append(len(batch.units))
        original(batch)

    backend._run_batch = counting  # type: ignore[method-assign]

    def put(on: Store, i: int) -> str:
        return on.sessions.put("mpc", f"b{i}", b"x", ttl_ms=60_000).session_id

    async def main() -> None:
        ids = await asyncio.gather(
            *(store.atomic(functools.partial(put, store, i)) for i in range(20))
        )
        assert sorted(ids) == sorted(f"b{i}" for i in range(20))
        # Two stores on one file, one loop (two server instances in one process): each
        # batch holds the write lock only inside its own callback, so neither waits on the
        # other; a plain call on the loop between them is not held up either.
        mixed = [
            (store if i % 2 else other).atomic(functools.partial(put, store if i % 2 else other, i))
            for i in range(100, 140)
        ]
        pending = asyncio.gather(*mixed)
        assert other.sessions.put("mpc", "plain", b"x", ttl_ms=60_000).session_id == "plain"
        assert len(await pending) == 40

    try:
        asyncio.run(main())
        assert batches[0] == 20  # one commit for the twenty units of one turn
        assert all(_exists(other, f"b{i}") for i in (*range(20), *range(100, 140)))
    finally:
        store.close()
        other.close()


def _exists(store: Store, session_id: str) -> bool:
    try:
        store.sessions.get("mpc", session_id)
    except NotFoundError:
        return False
    return True


# -- backend specifics ------------------------------------------------------------------------


def test_sql_migrations_are_recorded_once(harness: Harness) -> None:
    if harness.name not in ("sqlite", "postgresql"):
        pytest.skip("schema migrations are a SQL-backend feature")
    harness.open()
    harness.open()
    rows = _sql_rows(
        harness.url, "SELECT version, name FROM cosigner_schema_migrations ORDER BY version"
    )
    assert rows == [
        (1, "initial schema"),
        (2, "session versions and presignature schemes"),
        (3, "presignature age index"),
        (4, "audit entries waiting to be chained"),
    ]


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'wal.db'}") as store:
        store.audit.append("keygen", "alice")
    assert _sql_rows(f"sqlite:///{tmp_path / 'wal.db'}", "PRAGMA journal_mode") == [("wal",)]


def test_newer_schema_is_refused(harness: Harness) -> None:
    future = "INSERT INTO cosigner_schema_migrations VALUES (99, 'from the future', 0)"
    if harness.name == "sqlite":
        harness.open()
        _sql_rows(harness.url, future)
    elif harness.name == "redis":
        import redis

        with redis.Redis.from_url(harness.url) as client:
            client.hset(f"cosigner:{{{harness.namespace}}}:meta", "schema_version", 99)
    elif harness.name == "postgresql":
        with postgres_schema(server_url(POSTGRES_ENV)) as url:
            open_store(url).close()
            _sql_rows(url, future)
            with pytest.raises(SchemaVersionError):
                open_store(url)
        return
    else:
        pytest.skip("the memory store has no schema")
    with pytest.raises(SchemaVersionError) as caught:
        harness.open()
    assert caught.value.code == "store_schema_too_new"


def test_redis_schema_1_is_upgraded_on_open(harness: Harness) -> None:
    if harness.name != "redis":
        pytest.skip("the Redis schema version lives in the namespace's meta hash")
    import redis

    meta = f"cosigner:{{{harness.namespace}}}:meta"
    with redis.Redis.from_url(harness.url) as client:
        client.hset(meta, "schema_version", 1)
        store = harness.open()
        assert int(client.hget(meta, "schema_version")) == 2  # type: ignore[arg-type]
    store.presignatures.put("rk-1", "p", secret=SECRET, scheme="s")
    assert store.presignatures.available_total("s") == 1


def test_redis_ttls_are_set_with_pexpire(harness: Harness) -> None:
    if harness.name != "redis":
        pytest.skip("PEXPIRE is Redis-only")
    import redis

    store = harness.open()
    store.sessions.put("mpc", "s", b"", ttl_ms=30_000)
    _auth(store, ttl_ms=60_000)
    _presign(store, ttl_ms=90_000)
    base = f"cosigner:{{{harness.namespace}}}:"
    with redis.Redis.from_url(harness.url) as client:
        assert 0 < int(client.pttl(base + "session:mpc:s")) <= 30_000
        assert 30_000 < int(client.pttl(base + "auth:ts-1")) <= 60_000
        assert 60_000 < int(client.pttl(base + "presign:ps-1")) <= 90_000
        store.presign_sessions.advance_session_cas(
            "ps-1", 1, scope=SCOPE, stage=TD, state=b"", ttl_ms=10_000
        )
        assert 0 < int(client.pttl(base + "presign:ps-1")) <= 10_000


def _sql_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Run one statement on the database behind a sqlite:/// or postgresql:// URL."""
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            return [tuple(r) for r in conn.execute(sql).fetchall()]
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(sql.encode())
        return [tuple(r) for r in cursor.fetchall()] if cursor.description else []


# -- open_store -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["", "nothing", "mysql://host/db", "sqlite://", "sqlite:///", "memory://x?namespace=bad/ns"],
)
def test_open_store_refuses_bad_urls(url: str) -> None:
    with pytest.raises(StoreConfigError) as caught:
        open_store(url)
    assert caught.value.code == "invalid_store_config"


def test_open_store_memory_names_share_state() -> None:
    a = open_store("memory://shared-test?namespace=n1")
    b = open_store("memory://shared-test", namespace="n1")
    private = open_store("memory://")
    a.sessions.put("mpc", "s", b"", ttl_ms=60_000)
    assert b.sessions.get("mpc", "s").session_id == "s"
    with pytest.raises(NotFoundError):
        private.sessions.get("mpc", "s")
    assert a.namespace == "n1"


def test_open_store_unreachable_backends() -> None:
    from cosigner.store import StoreUnavailableError

    with pytest.raises(StoreUnavailableError):
        open_store("redis://127.0.0.1:1/0")


_RESERVER = """
import pathlib, sys, time
from cosigner.store import PoolEmptyError, open_store

url, ready, go = sys.argv[1], pathlib.Path(sys.argv[2]), pathlib.Path(sys.argv[3])
store = open_store(url)
ready.touch()
while not go.exists():
    time.sleep(0.005)
for _ in range(8):
    try:
        print(store.presignatures.reserve("rk-1").presignature_id)
    except PoolEmptyError:
        print("-")
store.close()
"""


def test_sqlite_reserves_across_processes(tmp_path: Path) -> None:
    """Several processes on one SQLite file: each presignature is reserved exactly once."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    with open_store(url) as store:
        for i in range(10):
            store.presignatures.put("rk-1", f"p{i}", secret=SECRET)
    go = tmp_path / "go"
    ready = [tmp_path / f"ready-{i}" for i in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _RESERVER, url, str(r), str(go)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for r in ready
    ]
    deadline = time.monotonic() + 60
    while not all(r.exists() for r in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    outputs = [p.communicate(timeout=60)[0].split() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    reserved = [line for out in outputs for line in out if line != "-"]
    assert sorted(reserved) == [f"p{i}" for i in range(10)]
